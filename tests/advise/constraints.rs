//! Each constraint, made to bind on a world small enough to reason about.

use geolat::advise::evaluate::evaluate;
use geolat::advise::{DrainMode, Options, QueueModel};
use geolat::world::{Percentile, Slo};

use crate::support::{advise, exact, plan_loads, world};

#[test]
fn capacity_forces_a_geo_to_its_second_best_region() {
    // Both prefer r0 (room for 100); g1 loses least by moving (10 ms vs 40).
    let w = world(
        &[(80.0, &[10.0, 50.0]), (60.0, &[10.0, 20.0])],
        &[100.0, 200.0],
    );
    let a = advise(&w, &exact());
    assert_eq!(a.plan[0], vec![1.0, 0.0]);
    assert!((a.plan[1][0] - 20.0 / 60.0).abs() < 1e-6, "{:?}", a.plan);
    assert!((plan_loads(&a)[0] - 100.0).abs() < 1e-6);
}

#[test]
fn headroom_keeps_a_share_of_capacity_free() {
    let w = world(&[(100.0, &[10.0, 20.0])], &[100.0, 200.0]);
    let o = Options {
        headroom: 0.25,
        ..exact()
    };
    let a = advise(&w, &o);
    assert!((plan_loads(&a)[0] - 75.0).abs() < 1e-6, "{:?}", a.plan);
}

#[test]
fn slo_excludes_a_region_even_when_it_has_room() {
    // g0's fastest region with room is r1 at 300 ms; the SLO forbids it,
    // so g0 takes r0 and g1 is pushed out instead.
    let mut w = world(
        &[(50.0, &[10.0, 300.0]), (50.0, &[10.0, 20.0])],
        &[60.0, 200.0],
    );
    w.slo = Some(Slo {
        percentile: Percentile::P50,
        max_ms: 250.0,
    });
    let a = advise(&w, &exact());
    assert_eq!(a.plan[0], vec![1.0, 0.0]);
    assert!((a.plan[1][1] - 0.8).abs() < 1e-6, "{:?}", a.plan);
}

#[test]
fn slo_applies_at_its_own_percentile() {
    // g0 prefers r1 at p50, but r1's tail is long: a p99 SLO excludes it.
    let mut w = world(&[(50.0, &[30.0, 10.0])], &[200.0, 200.0]);
    w.geos[0].latency_ms.get_mut("r1").unwrap().p99 = Some(100.0);
    w.slo = Some(Slo {
        percentile: Percentile::P50,
        max_ms: 80.0,
    });
    assert_eq!(advise(&w, &exact()).plan[0], vec![0.0, 1.0]);
    w.slo = Some(Slo {
        percentile: Percentile::P99,
        max_ms: 80.0,
    });
    assert_eq!(advise(&w, &exact()).plan[0], vec![1.0, 0.0]);
}

#[test]
fn drain_no_new_only_lets_shares_shrink() {
    let mut w = world(
        &[(10.0, &[10.0, 20.0]), (10.0, &[20.0, 10.0])],
        &[100.0, 100.0],
    );
    // Today g0 is split; g1 is all on r1.
    w.routing = Some(
        serde_json::from_value(serde_json::json!({
            "g0": {"r0": 0.5, "r1": 0.5}, "g1": {"r1": 1.0}
        }))
        .unwrap(),
    );
    let o = Options {
        drain: vec!["r0".into()],
        ..exact()
    };
    let a = advise(&w, &o);
    // g0 would rather be all on r0, but may not grow its share there.
    assert!(a.plan[0][0] <= 0.5 + 1e-9, "{:?}", a.plan);
    assert_eq!(a.plan[1][0], 0.0);
    let o = Options {
        drain_mode: DrainMode::Empty,
        ..o
    };
    let a = advise(&w, &o);
    assert_eq!(plan_loads(&a)[0], 0.0, "{:?}", a.plan);
}

#[test]
fn backup_must_be_able_to_absorb_its_primary() {
    // r1 backs up r0. Without N+1, g0 fills r0; with it, r0's load plus
    // r1's own must fit r1 (100), so r0 may carry at most 100 - load(r1).
    let mut w = world(
        &[(70.0, &[10.0, 30.0, 40.0]), (40.0, &[30.0, 10.0, 40.0])],
        &[100.0, 100.0, 200.0],
    );
    w.regions[0].backup = Some("r1".into());
    let free = advise(&w, &exact());
    assert_eq!(plan_loads(&free)[..2], [70.0, 40.0]);
    let o = Options {
        failover_share: 1.0,
        ..exact()
    };
    let a = advise(&w, &o);
    let l = plan_loads(&a);
    assert!(l[0] + l[1] <= 100.0 + 1e-6, "{l:?}");
    assert!(l[2] > 0.0, "the overflow goes to r2: {l:?}");
    assert!(evaluate(&a.problem, &a.plan).failover_shortfall_rps == 0.0);
}

#[test]
fn max_change_limits_how_much_moves_in_one_step() {
    // Today everything is on slow r1; r0 is 10 ms faster for all.
    let mut w = world(
        &[(50.0, &[10.0, 20.0]), (50.0, &[10.0, 20.0])],
        &[200.0, 200.0],
    );
    w.routing = Some(
        serde_json::from_value(serde_json::json!({"g0": {"r1": 1.0}, "g1": {"r1": 1.0}})).unwrap(),
    );
    let o = Options {
        max_change: Some(0.25),
        ..exact()
    };
    let a = advise(&w, &o);
    let moved = evaluate(&a.problem, &a.plan).moved_share;
    assert!((moved - 0.25).abs() < 1e-6, "{moved} {:?}", a.plan);
    assert!((plan_loads(&a)[0] - 25.0).abs() < 1e-6);
}

#[test]
fn utilisation_cost_spreads_load_before_capacity_binds() {
    // Two equal regions 5 ms apart: latency alone fills r0 to its
    // capacity; queueing makes a nearly full r0 slower than r1.
    let w = world(&[(90.0, &[10.0, 15.0])], &[100.0, 100.0]);
    let plain = advise(&w, &exact());
    assert!((plan_loads(&plain)[0] - 90.0).abs() < 1e-6);
    let o = Options {
        queue: Some(QueueModel { service_ms: 10.0 }),
        ..exact()
    };
    let a = advise(&w, &o);
    let l = plan_loads(&a);
    assert!(l[0] < 80.0 && l[1] > 10.0, "{l:?}");
    // The piecewise-linear LP lands near the exact convex optimum: within
    // 0.2% of the best split on a fine scan.
    let best = (0..=1000)
        .map(|k| {
            let f = k as f64 / 1000.0;
            evaluate(&a.problem, &vec![vec![f, 1.0 - f]]).latency_ms
        })
        .fold(f64::INFINITY, f64::min);
    let got = evaluate(&a.problem, &a.plan).latency_ms;
    assert!(got <= best * 1.002, "{got} vs {best}");
}
