//! A lab built from a world: injected latency per geo x region, routing
//! that really changes what DNS and the accelerator answer.

use std::collections::{BTreeMap, HashMap};

use geolat::lab::world::{WorldLab, geo_nearest_routing};
use geolat::routing::{RoutingControl, RoutingState};
use geolat::window::{Window, codec};
use geolat::world::World;
use tokio_util::sync::CancellationToken;

fn tiny_world() -> World {
    let v = serde_json::json!({
        "format": "geolat-world/1",
        "regions": [
            {"id": "west", "lat": 50, "lon": 0, "capacity_rps": 100},
            {"id": "east", "lat": 50, "lon": 30, "capacity_rps": 100}
        ],
        "geos": [
            {"id": "near-west", "continent": "EU", "country": "FR", "lat": 49, "lon": 1, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 10}, "east": {"p50": 40}}},
            {"id": "near-east", "continent": "EU", "country": "UA", "lat": 49, "lon": 29, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 40}, "east": {"p50": 10}}}
        ]
    });
    World::from_json(&serde_json::to_vec(&v).unwrap(), "tiny").unwrap()
}

fn served(windows: &[Window], geo: &str, target: &str) -> BTreeMap<String, u64> {
    let w = windows
        .iter()
        .find(|w| w.probe.geo.id.as_deref() == Some(geo))
        .unwrap();
    let mut out = BTreeMap::new();
    for s in w
        .series
        .iter()
        .filter(|s| s.target == target && s.phase.as_str() == "ttfb")
    {
        *out.entry(s.served_by.clone().unwrap()).or_default() += s.count;
    }
    out
}

fn warm_p50_ms(windows: &[Window], geo: &str, target: &str) -> f64 {
    let w = windows
        .iter()
        .find(|w| w.probe.geo.id.as_deref() == Some(geo))
        .unwrap();
    let s = w
        .series
        .iter()
        .find(|s| s.target == target && s.phase.as_str() == "warm")
        .unwrap();
    codec::decode(&s.histogram).unwrap().value_at_quantile(0.5) as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_routing_changes_what_the_next_round_measures() {
    let world = tiny_world();
    let initial = geo_nearest_routing(&world);
    assert_eq!(
        initial.dns["near-west"],
        BTreeMap::from([("west".to_owned(), 1)])
    );
    let lab = WorldLab::start(world, &HashMap::new(), None, &initial)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let before = lab.probe_round(4, 1, &stop).await.unwrap();
    assert!(
        before.iter().all(|w| w.errors.is_empty()),
        "{:?}",
        before[0].errors
    );
    // Ground truth: direct latency is the world's, route53 and the
    // accelerator follow routing and proximity.
    let near = warm_p50_ms(&before, "near-west", "direct-west");
    let far = warm_p50_ms(&before, "near-west", "direct-east");
    assert!(
        (near - 10.0).abs() < 3.0 && (far - 40.0).abs() < 3.0,
        "{near} {far}"
    );
    assert_eq!(
        served(&before, "near-west", "route53"),
        BTreeMap::from([("west".into(), 4)])
    );
    assert_eq!(
        served(&before, "near-east", "accelerator"),
        BTreeMap::from([("east".into(), 4)])
    );

    // Send near-west half to east by DNS weights, and spill all of west's
    // accelerator traffic.
    let mut desired: RoutingState = initial.clone();
    desired.dns.insert(
        "near-west".into(),
        BTreeMap::from([("west".into(), 1), ("east".into(), 1)]),
    );
    desired.accelerator.insert("west".into(), 0.0);
    lab.routing.apply(&desired).await.unwrap();
    assert_eq!(lab.routing.read().await.unwrap(), desired);
    let after = lab.probe_round(4, 1, &stop).await.unwrap();
    assert_eq!(
        served(&after, "near-west", "route53"),
        BTreeMap::from([("east".into(), 2), ("west".into(), 2)])
    );
    assert_eq!(
        served(&after, "near-west", "accelerator"),
        BTreeMap::from([("east".into(), 4)])
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn control_plane_rejects_unknown_names_and_bad_dials() {
    let world = tiny_world();
    let initial = geo_nearest_routing(&world);
    let lab = WorldLab::start(world, &HashMap::new(), None, &initial)
        .await
        .unwrap();
    let mut bad = initial.clone();
    bad.dns
        .insert("atlantis".into(), BTreeMap::from([("west".into(), 1)]));
    assert!(
        lab.routing
            .apply(&bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("atlantis")
    );
    let mut bad = initial.clone();
    bad.accelerator.insert("west".into(), 150.0);
    assert!(
        lab.routing
            .apply(&bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("150")
    );
    let mut bad = initial.clone();
    bad.dns
        .insert("near-west".into(), BTreeMap::from([("west".into(), 0)]));
    assert!(
        lab.routing
            .apply(&bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("no traffic")
    );
    // Nothing half-applied: the state is still the initial one.
    assert_eq!(lab.routing.read().await.unwrap(), initial);
    lab.shutdown().await;
}
