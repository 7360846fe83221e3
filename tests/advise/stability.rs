//! Hysteresis: no flapping on identical or noisy data, prompt moves on a
//! real change.

use geolat::advise::plan::{self, Plan};
use geolat::advise::{Options, stability::Action};
use geolat::world::World;

use crate::support::{Rng, advise, shared_world};

fn plan_of(w: &World, o: &Options) -> Plan {
    plan::build(&advise(w, o), "round")
}

/// `w` with today's routing set to the plan's assignment.
fn deployed(w: &World, p: &Plan) -> World {
    let mut next = w.clone();
    next.routing = Some(p.assignment.clone());
    next
}

/// Every latency of `w` times its own factor in `1 +- noise`.
fn noisy(w: &World, rng: &mut Rng, noise: f64) -> World {
    let mut out = w.clone();
    for g in &mut out.geos {
        for l in g.latency_ms.values_mut() {
            let f = rng.range(1.0 - noise, 1.0 + noise);
            l.p50 *= f;
            l.p90 = l.p90.map(|v| v * f);
            l.p99 = l.p99.map(|v| v * f);
            l.min = l.min.map(|v| v * f);
        }
    }
    out
}

#[test]
fn identical_data_twice_proposes_no_changes() {
    let w = shared_world();
    let o = Options::default();
    let first = plan_of(&w, &o);
    assert_eq!(first.decision.action, Action::Change);
    assert!(!first.changes.is_empty());
    let again = plan_of(&deployed(&w, &first), &o);
    assert_eq!(again.decision.action, Action::Keep, "{:?}", again.decision);
    assert!(again.changes.is_empty(), "{:?}", again.changes.keys());
    assert_eq!(again.assignment, first.assignment);
    // Even without thresholds, the tie-break keeps today's routing.
    let exact = Options {
        min_improvement_ms: 0.0,
        min_move_ms: 0.0,
        ..Options::default()
    };
    let first = plan_of(&w, &exact);
    let again = plan_of(&deployed(&w, &first), &exact);
    assert!(again.changes.is_empty(), "{:?}", again.changes.keys());
}

#[test]
fn a_hundred_noisy_rounds_change_nothing_after_the_first_plan() {
    let base = shared_world();
    let o = Options::default();
    let mut rng = Rng::new(42);
    let mut routing = None;
    let mut changed_rounds = Vec::new();
    for round in 0..100 {
        // Fresh noise on the base latencies each round, today's routing
        // from the previous round's plan.
        let mut w = noisy(&base, &mut rng, 0.005);
        w.routing = routing.take();
        let p = plan_of(&w, &o);
        if round > 0 && !p.changes.is_empty() {
            changed_rounds.push((round, p.changes.keys().cloned().collect::<Vec<_>>()));
        }
        routing = Some(p.assignment);
    }
    assert!(changed_rounds.is_empty(), "{changed_rounds:?}");
}

#[test]
fn a_region_three_times_slower_loses_traffic_within_two_rounds() {
    let mut base = shared_world();
    base.slo = None;
    let o = Options::default();
    let first = plan_of(&base, &o);
    let today = deployed(&base, &first);
    let steady = plan_of(&today, &o);
    assert!(steady.changes.is_empty());
    let mut slow = today.clone();
    for g in &mut slow.geos {
        let l = g.latency_ms.get_mut("us-east-1").unwrap();
        l.p50 *= 3.0;
        l.p90 = l.p90.map(|v| v * 3.0);
        l.p99 = l.p99.map(|v| v * 3.0);
        l.min = l.min.map(|v| v * 3.0);
    }
    let before = first.capacity["us-east-1"].load_after_rps;
    let mut moved_in = None;
    let mut w = slow;
    for round in 1..=2 {
        let p = plan_of(&w, &o);
        if p.capacity["us-east-1"].load_after_rps < before - 1.0 {
            moved_in = Some(round);
            break;
        }
        w = deployed(&w, &p);
    }
    assert_eq!(
        moved_in,
        Some(1),
        "traffic did not leave us-east-1 within two rounds"
    );
}
