//! Advisor benchmarks that print figures: solve time on synthetic worlds,
//! the quality of every mechanism on the shared world with binding
//! capacities, and stability over repeated noisy rounds.
//!
//! `cargo bench --bench advise`

use std::time::{Duration, Instant};

use geolat::advise::evaluate::{self, Evaluation, evaluate};
use geolat::advise::model::Problem;
use geolat::advise::plan::{self, geolocation_shares};
use geolat::advise::{self as adv, Endpoints, Options, accelerator, lp, weighted};
use geolat::world::World;

/// SplitMix64, so every run builds the same worlds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

/// Random geos and regions on the globe; latency from great-circle distance
/// (5 ms plus 1 ms per 100 km, +-20%); capacity 25% above total demand in
/// all, each region sized independently of the demand near it, so the
/// regions nearest the most demand cannot take it all.
fn synthetic(geos: usize, regions: usize, seed: u64) -> World {
    let mut rng = Rng(seed);
    let spot = |rng: &mut Rng| (rng.range(-60.0, 70.0), rng.range(-180.0, 180.0));
    let regions_at: Vec<(f64, f64)> = (0..regions).map(|_| spot(&mut rng)).collect();
    let mut demand_total = 0.0;
    let geos_json: Vec<serde_json::Value> = (0..geos)
        .map(|i| {
            let (lat, lon) = spot(&mut rng);
            let demand = rng.range(10.0, 1000.0);
            demand_total += demand;
            let latency: serde_json::Map<String, serde_json::Value> = regions_at
                .iter()
                .enumerate()
                .map(|(r, (rl, ro))| {
                    let p50 = (5.0 + distance_km(lat, lon, *rl, *ro) / 100.0) * rng.range(0.8, 1.2);
                    (
                        format!("r{r}"),
                        serde_json::json!({"p50": p50, "p99": p50 * 1.3}),
                    )
                })
                .collect();
            let country = format!(
                "{}{}",
                (b'A' + (i / 26 % 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            );
            serde_json::json!({"id": format!("g{i}"), "continent": "EU", "country": country,
                "lat": lat, "lon": lon, "demand_rps": demand, "latency_ms": latency})
        })
        .collect();
    let weights: Vec<f64> = (0..regions).map(|_| rng.range(0.5, 1.5)).collect();
    let wsum: f64 = weights.iter().sum();
    let regions_json: Vec<serde_json::Value> = regions_at
        .iter()
        .enumerate()
        .map(|(r, (lat, lon))| {
            // Usable capacity (10% headroom) totals 1.25 x demand.
            let cap = 1.25 * demand_total * weights[r] / wsum / 0.9;
            serde_json::json!({"id": format!("r{r}"), "lat": lat, "lon": lon, "capacity_rps": cap})
        })
        .collect();
    let v = serde_json::json!({"format": "geolat-world/1", "name": format!("synthetic {geos}x{regions}"),
        "regions": regions_json, "geos": geos_json});
    World::from_json(&serde_json::to_vec(&v).expect("json"), "synthetic").expect("valid world")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn solve_times() {
    println!("## Solve time (microlp, pure Rust; one run each, 2 shared cores)\n");
    println!(
        "| world | LP variables | LP optimum | whole advice (2 LPs, weights, geolocation, dials) | goal |"
    );
    println!("|---|---|---|---|---|");
    for (g, r, goal) in [(200, 6, "< 1 s"), (2000, 20, "< 30 s")] {
        let w = synthetic(g, r, 17);
        let o = Options::default();
        let p = Problem::build(&w, &o).expect("problem");
        let t = Instant::now();
        let req = lp::Request {
            problem: &p,
            switching_ms: lp::TIE_BREAK_MS,
            pin: None,
        };
        let s = lp::solve(&req).expect("feasible");
        let lp_time = t.elapsed();
        let t = Instant::now();
        let a = adv::advise(&w, &o, &Endpoints::default()).expect("advice");
        let all = t.elapsed();
        let e = evaluate(&p, &s);
        println!(
            "| {g} geos x {r} regions | {} | {} | {} (geolocation: {:?}) | {goal} |",
            g * r,
            ms(lp_time),
            ms(all),
            a.geolocation.method
        );
        assert!(e.is_feasible(&p), "{e:?}");
    }
    println!();
}

fn row(name: &str, e: &Evaluation, best: f64) {
    println!(
        "| {name} | {:.3} | {:+.3}% | {:.1} | {:.1} | {:.1} |",
        e.latency_ms,
        evaluate::gap_pct(e.latency_ms, best),
        e.overload_rps,
        e.failover_shortfall_rps,
        e.slo_violation_rps
    );
}

fn quality() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/world/aws-edges.json");
    let w = World::load(std::path::Path::new(path)).expect("shared world");
    println!(
        "## Quality on the shared world (aws-edges.json, capacities bind, headroom 10%, p50)\n"
    );
    for (label, o) in [
        (
            "no thresholds (--min-move-ms 0 --min-improvement-ms 0)",
            Options {
                min_move_ms: 0.0,
                min_improvement_ms: 0.0,
                ..Options::default()
            },
        ),
        ("defaults (1 ms thresholds)", Options::default()),
    ] {
        let a = adv::advise(&w, &o, &Endpoints::default()).expect("advice");
        let heur = adv::advise(
            &w,
            &Options {
                milp_max_binaries: 0,
                ..o.clone()
            },
            &Endpoints::default(),
        )
        .expect("advice");
        let p = &a.problem;
        let best = evaluate(p, &a.optimum).latency_ms;
        println!("### {label}\n");
        println!(
            "| routing | demand-weighted p50 ms | gap to fractional optimum | overload rps | N+1 short rps | beyond SLO rps |"
        );
        println!("|---|---|---|---|---|---|");
        row(
            "(b) fractional optimum (LP)",
            &evaluate(p, &a.optimum),
            best,
        );
        row(
            "plan (fractional, after hysteresis)",
            &evaluate(p, &a.plan),
            best,
        );
        row(
            "(a) Route 53 weighted / traffic policy",
            &evaluate(p, &weighted::realised(p, &a.locations, &a.weights)),
            best,
        );
        row(
            &format!("(a) Route 53 geolocation ({:?})", a.geolocation.method),
            &evaluate(p, &geolocation_shares(&a)),
            best,
        );
        row(
            "(a) Route 53 geolocation (heuristic only)",
            &evaluate(p, &geolocation_shares(&heur)),
            best,
        );
        let order = accelerator::proximity(p);
        row(
            "(a) Global Accelerator dials",
            &evaluate(p, &accelerator::realised(p, &order, &a.dials.traffic_dial)),
            best,
        );
        row(
            "(c) static geo-nearest",
            &evaluate(p, &evaluate::geo_nearest(p)),
            best,
        );
        row(
            "(d) latency-based, capacity ignored",
            &evaluate(p, &evaluate::latency_nearest(p)),
            best,
        );
        let m = evaluate(p, &geolocation_shares(&a)).latency_ms;
        let h = evaluate(p, &geolocation_shares(&heur)).latency_ms;
        println!(
            "\nheuristic vs MILP geolocation: {:+.3}%; dials {:?}\n",
            evaluate::gap_pct(h, m),
            a.dials.traffic_dial
        );
    }
}

fn stability() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/world/aws-edges.json");
    let base = World::load(std::path::Path::new(path)).expect("shared world");
    let o = Options::default();
    let mut rng = Rng(42);
    let mut routing = None;
    let mut changed = 0;
    let mut first_changes = 0;
    let noisy = |w: &World, rng: &mut Rng, factor: &dyn Fn(&str) -> f64| {
        let mut out = w.clone();
        for g in &mut out.geos {
            for (r, l) in g.latency_ms.iter_mut() {
                let f = rng.range(0.995, 1.005) * factor(r);
                l.p50 *= f;
                l.p90 = l.p90.map(|v| v * f);
                l.p99 = l.p99.map(|v| v * f);
                l.min = l.min.map(|v| v * f);
            }
        }
        out
    };
    let t = Instant::now();
    for round in 0..100 {
        let mut w = noisy(&base, &mut rng, &|_| 1.0);
        w.routing = routing.take();
        let p = plan::build(
            &adv::advise(&w, &o, &Endpoints::default()).expect("advice"),
            "r",
        );
        if round == 0 {
            first_changes = p.changes.len();
        } else if !p.changes.is_empty() {
            changed += 1;
        }
        routing = Some(p.assignment);
    }
    let elapsed = t.elapsed();
    let mut rounds_to_move = None;
    for round in 1..=5 {
        let mut w = noisy(&base, &mut rng, &|r| {
            if r == "us-east-1" { 3.0 } else { 1.0 }
        });
        w.slo = None;
        w.routing = routing.take();
        let p = plan::build(
            &adv::advise(&w, &o, &Endpoints::default()).expect("advice"),
            "r",
        );
        let moved = !p.changes.is_empty();
        routing = Some(p.assignment);
        if moved {
            rounds_to_move = Some((
                round,
                p.changes.len(),
                p.capacity["us-east-1"].load_before_rps,
                p.capacity["us-east-1"].load_after_rps,
            ));
            break;
        }
    }
    println!("## Stability (shared world, +-0.5% latency noise per round, default thresholds)\n");
    println!("| test | result | goal |");
    println!("|---|---|---|");
    println!("| round 1 (from latency-nearest routing) | {first_changes} geos change | - |");
    println!("| rounds 2-100 with changes | {changed} | 0 |");
    match rounds_to_move {
        Some((r, n, before, after)) => println!(
            "| us-east-1 3x slower (SLO off): plan moves in round | {r} ({n} geos; us-east-1 load {before:.0} -> {after:.0} rps) | <= 2 |"
        ),
        None => println!("| us-east-1 3x slower: plan moves in round | not within 5 | <= 2 |"),
    }
    println!(
        "\n100 rounds took {} ({} per advice)\n",
        ms(elapsed),
        ms(elapsed / 100)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and then only the quick shared-world part runs, as a smoke test.
    if !std::env::args().any(|a| a == "--bench") {
        quality();
        return;
    }
    solve_times();
    quality();
    stability();
}
