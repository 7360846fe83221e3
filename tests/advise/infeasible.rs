//! Input no routing can serve: clear errors that name the geos and regions.

use geolat::advise::{Options, Violation};
use geolat::world::{Percentile, Slo, World};

use crate::support::{advise_err, exact, shared_world, world};

#[test]
fn slo_excluding_every_region_names_the_geo_and_each_region() {
    let mut w = world(
        &[(10.0, &[10.0, 20.0]), (5.0, &[300.0, 400.0])],
        &[100.0, 100.0],
    );
    w.slo = Some(Slo {
        percentile: Percentile::P50,
        max_ms: 250.0,
    });
    let e = advise_err(&w, &exact());
    assert!(e.contains("geo `g1`"), "{e}");
    assert!(e.contains("r0: p50 300.0 ms > SLO 250 ms"), "{e}");
    assert!(e.contains("r1: p50 400.0 ms > SLO 250 ms"), "{e}");
}

#[test]
fn draining_every_open_region_leaves_a_geo_nowhere_to_go() {
    let w = world(&[(10.0, &[10.0, 20.0])], &[100.0, 100.0]);
    let o = Options {
        drain: vec!["r0".into(), "r1".into()],
        drain_mode: geolat::advise::DrainMode::Empty,
        ..exact()
    };
    let e = advise_err(&w, &o);
    assert!(
        e.contains("`g0`") && e.contains("r0: draining; r1: draining"),
        "{e}"
    );
}

#[test]
fn capacity_below_demand_names_the_regions() {
    let w = world(
        &[(150.0, &[10.0, 20.0]), (100.0, &[10.0, 20.0])],
        &[100.0, 120.0],
    );
    let e = advise_err(&w, &exact());
    assert!(e.contains("total demand 250.0 rps"), "{e}");
    assert!(
        e.contains("usable capacity 220.0 rps") && e.contains("r0 100.0, r1 120.0"),
        "{e}"
    );
    // Headroom counts: 20% off leaves 176 rps usable.
    let o = Options {
        headroom: 0.2,
        ..exact()
    };
    let w = world(&[(200.0, &[10.0, 20.0])], &[100.0, 120.0]);
    assert!(advise_err(&w, &o).contains("usable capacity 176.0 rps"));
}

#[test]
fn slo_and_capacity_together_are_explained_by_relaxing() {
    // Enough capacity in total, but the SLO confines g0 to r0, which is
    // too small for it: only relax-and-report can say so.
    let mut w = world(
        &[(150.0, &[10.0, 300.0]), (10.0, &[10.0, 20.0])],
        &[100.0, 500.0],
    );
    w.slo = Some(Slo {
        percentile: Percentile::P50,
        max_ms: 250.0,
    });
    let e = advise_err(&w, &exact());
    assert!(e.starts_with("no routing meets every constraint"), "{e}");
    assert!(e.contains("region `r0` is 50.0 rps short"), "{e}");
}

#[test]
fn n_plus_one_on_the_shared_world_names_each_short_backup() {
    let o = Options {
        failover_share: 1.0,
        ..Options::default()
    };
    let e = match geolat::advise::advise(&shared_world(), &o, &Default::default()) {
        Err(geolat::advise::AdviseError::Infeasible(v)) => v,
        other => panic!("expected infeasible, got {other:?}"),
    };
    let pairs: Vec<(&str, &str)> = e
        .iter()
        .filter_map(|v| match v {
            Violation::Failover {
                primary, backup, ..
            } => Some((primary.as_str(), backup.as_str())),
            _ => None,
        })
        .collect();
    assert!(pairs.contains(&("us-east-1", "us-west-2")), "{e:?}");
    assert!(
        pairs.contains(&("ap-northeast-1", "ap-southeast-1")),
        "{e:?}"
    );
}

#[test]
fn a_change_budget_too_small_to_fix_overload_is_reported() {
    let o = Options {
        max_change: Some(0.05),
        ..Options::default()
    };
    let e = advise_err(&shared_world(), &o);
    assert!(e.contains("is needed but --max-change allows 5.0%"), "{e}");
}

#[test]
fn unknown_regions_are_refused() {
    let o = Options {
        drain: vec!["mars-1".into()],
        ..exact()
    };
    let e = advise_err(&world(&[(1.0, &[1.0])], &[10.0]), &o);
    assert_eq!(e, "--drain mars-1: no such region in the world");
    // An unknown region in today's routing never reaches the advisor.
    let mut v = serde_json::to_value(world(&[(1.0, &[1.0])], &[10.0])).unwrap();
    v["routing"] = serde_json::json!({"g0": {"mars-1": 1.0}});
    let e = World::from_json(&serde_json::to_vec(&v).unwrap(), "w.json").unwrap_err();
    assert!(e.to_string().contains("`mars-1` is not a region"), "{e}");
}
