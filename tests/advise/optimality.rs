//! The solvers against brute force on inputs small enough to enumerate.

use geolat::advise::evaluate::evaluate;
use geolat::advise::geolocation::Method;
use geolat::advise::lp::{self, Request};
use geolat::advise::model::Problem;
use geolat::advise::plan::geolocation_shares;
use geolat::world::{Percentile, Slo, World};

use crate::support::{Rng, advise, exact, world};

/// A random world of `geos` x `regions` whose total capacity is 10-60%
/// above demand, with an SLO of 150 ms when `slo` is set.
fn random_world(rng: &mut Rng, geos: usize, regions: usize, slo: bool) -> World {
    let rows: Vec<(f64, Vec<f64>)> = (0..geos)
        .map(|_| {
            let d = rng.range(10.0, 100.0);
            (d, (0..regions).map(|_| rng.range(5.0, 200.0)).collect())
        })
        .collect();
    let demand: f64 = rows.iter().map(|r| r.0).sum();
    let mut caps: Vec<f64> = (0..regions).map(|_| rng.range(0.1, 0.9) * demand).collect();
    let total: f64 = caps.iter().sum();
    let want = demand * rng.range(1.1, 1.6);
    if total < want {
        caps.iter_mut().for_each(|c| *c *= want / total);
    }
    let rows: Vec<(f64, &[f64])> = rows.iter().map(|(d, l)| (*d, l.as_slice())).collect();
    let mut w = world(&rows, &caps);
    if slo {
        w.slo = Some(Slo {
            percentile: Percentile::P50,
            max_ms: 150.0,
        });
    }
    w
}

fn lp_latency(p: &Problem) -> Option<f64> {
    let req = Request {
        problem: p,
        switching_ms: 0.0,
        pin: None,
    };
    lp::solve(&req).ok().map(|s| evaluate(p, &s).latency_ms)
}

/// Every way to split one geo over `regions` in steps of `1/steps`.
fn simplex(regions: usize, steps: usize) -> Vec<Vec<f64>> {
    if regions == 1 {
        return vec![vec![1.0]];
    }
    let mut out = Vec::new();
    for k in 0..=steps {
        for mut rest in simplex(regions - 1, steps - k) {
            let scale = (steps - k) as f64 / steps as f64;
            rest.iter_mut().for_each(|f| *f *= scale);
            rest.insert(0, k as f64 / steps as f64);
            out.push(rest);
        }
    }
    out
}

/// The best grid point: (latency, feasible point found).
fn grid_best(p: &Problem, steps: usize) -> Option<f64> {
    let points = simplex(p.region_count(), steps);
    let (g, r) = (p.geo_count(), p.region_count());
    let mut best: Option<f64> = None;
    let mut idx = vec![0usize; g];
    loop {
        let mut load = vec![0.0; r];
        let mut lat = 0.0;
        let mut ok = true;
        for (geo, &i) in idx.iter().enumerate() {
            for (reg, f) in points[i].iter().enumerate() {
                if *f > 0.0 && p.upper[geo][reg] <= 0.0 {
                    ok = false;
                }
                load[reg] += p.geos[geo].demand * f;
                lat += p.geos[geo].demand * f * p.latency[geo][reg];
            }
        }
        ok &= (0..r).all(|reg| load[reg] <= p.regions[reg].usable + 1e-9);
        if ok {
            let v = lat / p.total_demand;
            best = Some(best.map_or(v, |b: f64| b.min(v)));
        }
        // Next combination, odometer style.
        let mut k = 0;
        loop {
            if k == g {
                return best;
            }
            idx[k] += 1;
            if idx[k] < points.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

fn check_against_grid(w: &World, steps: usize) {
    let p = Problem::build(w, &exact()).unwrap();
    let spread = p.latency.iter().flatten().fold(0.0f64, |m, l| m.max(*l));
    match (lp_latency(&p), grid_best(&p, steps)) {
        (Some(lp), Some(grid)) => {
            assert!(lp <= grid + 1e-7, "LP {lp} worse than grid point {grid}");
            let tol = 2.0 * spread / steps as f64;
            assert!(
                grid - lp <= tol,
                "LP {lp} far below grid {grid} (tol {tol})"
            );
        }
        (None, None) => {}
        (lp, grid) => panic!("LP {lp:?} vs grid {grid:?} disagree on feasibility"),
    }
}

#[test]
fn lp_matches_a_fine_grid_on_three_geos_two_regions() {
    let mut rng = Rng::new(7);
    for _ in 0..10 {
        check_against_grid(&random_world(&mut rng, 3, 2, false), 100);
    }
}

#[test]
fn lp_matches_a_grid_on_two_geos_three_regions_with_an_slo() {
    let mut rng = Rng::new(11);
    for _ in 0..10 {
        check_against_grid(&random_world(&mut rng, 2, 3, true), 40);
    }
}

/// The cheapest feasible one-region-per-geo assignment, by enumeration.
fn brute_force_geolocation(p: &Problem) -> Option<f64> {
    let (g, r) = (p.geo_count(), p.region_count());
    let mut best: Option<f64> = None;
    for code in 0..r.pow(g as u32) {
        let mut c = code;
        let mut load = vec![0.0; r];
        let mut lat = 0.0;
        let mut ok = true;
        for geo in 0..g {
            let reg = c % r;
            c /= r;
            ok &= p.upper[geo][reg] > 0.0;
            load[reg] += p.geos[geo].demand;
            lat += p.geos[geo].demand * p.latency[geo][reg];
        }
        ok &= (0..r).all(|reg| load[reg] <= p.regions[reg].usable + 1e-9);
        if ok {
            let v = lat / p.total_demand;
            best = Some(best.map_or(v, |b: f64| b.min(v)));
        }
    }
    best
}

#[test]
fn geolocation_milp_matches_brute_force() {
    let mut rng = Rng::new(3);
    let mut compared = 0;
    for _ in 0..12 {
        let w = random_world(&mut rng, 5, 3, false);
        let a = advise(&w, &exact());
        let Some(best) = brute_force_geolocation(&a.problem) else {
            continue;
        };
        compared += 1;
        let e = evaluate(&a.problem, &geolocation_shares(&a));
        assert_eq!(a.geolocation.method, Method::Milp);
        assert!(e.overload_rps == 0.0, "{e:?}");
        assert!(
            (e.latency_ms - best).abs() < 1e-3,
            "MILP {} vs brute force {best}",
            e.latency_ms
        );
    }
    assert!(
        compared >= 6,
        "only {compared} instances had a one-region answer"
    );
}

#[test]
fn geolocation_heuristic_is_close_to_brute_force() {
    let mut rng = Rng::new(5);
    let o = geolat::advise::Options {
        milp_max_binaries: 0,
        ..exact()
    };
    let mut gaps = Vec::new();
    for _ in 0..12 {
        let w = random_world(&mut rng, 5, 3, false);
        let a = advise(&w, &o);
        let Some(best) = brute_force_geolocation(&a.problem) else {
            continue;
        };
        assert_eq!(a.geolocation.method, Method::Heuristic);
        let e = evaluate(&a.problem, &geolocation_shares(&a));
        assert_eq!(e.overload_rps, 0.0, "{e:?}");
        gaps.push((e.latency_ms - best) / best);
    }
    let worst = gaps.iter().fold(0.0f64, |m, g| m.max(*g));
    assert!(worst < 0.05, "heuristic gaps {gaps:?}");
}
