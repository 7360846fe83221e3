//! Measurements + topology -> the advisor's world.

use geolat::analyze::to_world;
use geolat::config::PathKind;
use geolat::probe::record::Phase;
use geolat::world::topology::Topology;

use super::{FAR, NEAR, topology, two_geo_store};

#[tokio::test]
async fn measurements_and_topology_make_a_valid_world() {
    let s = two_geo_store().await;
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    let world = to_world(
        &a.matrix,
        &topology(&["GB-London", "DE-Berlin"]),
        Phase::Warm,
        vec!["test".into()],
    )
    .unwrap();
    world.validate("measured").unwrap();
    let london = &world.geos[world.geo_index("GB-London").unwrap()];
    let cell = a
        .matrix
        .cell("GB-London", PathKind::Direct, NEAR, Phase::Warm)
        .unwrap();
    let l = london.latency_ms[NEAR];
    assert_eq!(
        l.p50,
        cell.percentiles.unwrap().p50.value_us as f64 / 1000.0
    );
    assert!(l.p90.is_some(), "40 samples bound p90");
    assert_eq!(
        l.p99, None,
        "40 samples cannot bound p99: left out, not invented"
    );
    assert!((10.0..10.1).contains(&l.min.unwrap()));
    let routing = world.routing.as_ref().unwrap();
    assert_eq!(routing["GB-London"][FAR], 0.75);
    assert_eq!(routing["GB-London"][NEAR], 0.25);

    let err = to_world(
        &a.matrix,
        &topology(&["GB-London", "FR-Paris"]),
        Phase::Warm,
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("FR-Paris -> eu-west-2 (no samples)"), "{err}");
    assert!(err.contains("FR-Paris -> us-east-1"), "{err}");
}

#[tokio::test]
async fn routing_to_a_region_outside_the_topology_is_an_error() {
    let s = two_geo_store().await;
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    let mut v = serde_json::to_value(topology(&["GB-London"])).unwrap();
    v["regions"] =
        serde_json::json!([{"id": NEAR, "lat": 51.5, "lon": -0.1, "capacity_rps": 1000}]);
    let only_near = Topology::from_json(&serde_json::to_vec(&v).unwrap(), "t.json").unwrap();
    let err = to_world(&a.matrix, &only_near, Phase::Warm, vec![])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GB-London") && err.contains("75% of answers to `us-east-1`"),
        "{err}"
    );
}

/// Issue 10, item 13: on a machine too busy to measure well, a cell with
/// enough samples but an interval too wide to state as fact keeps a strict
/// world from being built; an indicative one takes it and names it.
#[tokio::test]
async fn regression_a_busy_machine_still_gets_an_indicative_world() {
    use geolat::analyze::{Strictness, to_world_as};
    let s = super::TestStore::new();
    let mut attempts = Vec::new();
    for i in 0..40u64 {
        attempts.push((super::DIRECT_NEAR, super::ok(10_000 + i * 20, NEAR)));
        // Scheduling noise: 2 ms to 80 ms for the same path.
        attempts.push((super::DIRECT_FAR, super::ok(2_000 + i * i * 50, FAR)));
        attempts.push((super::ROUTE53, super::ok(75_000, FAR)));
    }
    s.put(&super::window(
        "GB-London",
        super::t("2026-11-29T21:00:00Z"),
        &attempts,
    ))
    .await;
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    let t = topology(&["GB-London"]);
    let err = to_world(&a.matrix, &t, Phase::Warm, vec![])
        .unwrap_err()
        .to_string();
    assert!(err.contains("p50 interval"), "{err}");
    let (world, wide) =
        to_world_as(&a.matrix, &t, Phase::Warm, vec![], Strictness::Indicative).unwrap();
    world.validate("indicative").unwrap();
    assert_eq!(wide.len(), 1, "{wide:?}");
    assert!(
        wide[0].starts_with(&format!("GB-London -> {FAR} (p50 interval")),
        "{wide:?}"
    );
}
