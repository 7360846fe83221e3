//! A store for the dashboard's tests: an hour of windows from every geo of
//! the built-in world, with the world's latencies (drifting a little over
//! the hour), today's routing geo-nearest on the map, and the cases the
//! glyphs exist for: a thin cell, a cell with no data, a geo with errors.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::snapshot::{self, Snapshot, Source};
use crate::analyze::Strictness;
use crate::config::{Geo, PathKind, ProbeIdentity, Target};
use crate::lab::closed_loop::topology_of;
use crate::lab::world::geo_nearest_routing;
use crate::probe::record::{Attempt, ErrorClass, Failure, Phase};
use crate::store::Store;
use crate::window::builder::WindowBuilder;
use crate::world::World;

/// A probe outside the topology (so the plan still covers every geo it
/// has) with one thin cell and one without data.
pub const EXTRA: &str = "AQ-McMurdo";
pub const THIN: (&str, &str) = (EXTRA, "sa-east-1");
pub const MISSING: (&str, &str) = (EXTRA, "ap-northeast-1");
pub const FAILING: &str = "DE-Frankfurt";

pub fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().expect("a valid instant")
}

/// Writes the hour before [`now`] into `store`.
pub async fn fill(store: &Store) {
    let mut world = World::builtin();
    let routing = geo_nearest_routing(&world);
    let mut extra = world
        .geos
        .iter()
        .find(|g| g.id == "ZA-CapeTown")
        .expect("the built-in world has Cape Town")
        .clone();
    extra.id = EXTRA.into();
    extra.lat = -77.8;
    extra.lon = 166.7;
    for l in extra.latency_ms.values_mut() {
        l.p50 += 60.0;
    }
    world.geos.push(extra);
    for slice in 0..12i64 {
        let start = now() - TimeDelta::minutes(60) + TimeDelta::minutes(5 * slice);
        for g in &world.geos {
            let identity = ProbeIdentity {
                id: format!("probe-{}", g.id),
                location: "edge".into(),
                region: None,
                geo: Geo {
                    id: Some(g.id.clone()),
                    country: g.country.clone().unwrap_or_default(),
                    continent: g.continent.clone(),
                    city: None,
                },
                lat: Some(g.lat),
                lon: Some(g.lon),
            };
            let mut targets: Vec<Target> = world
                .regions
                .iter()
                .map(|r| {
                    let mut t = Target::from_url(
                        format!("https://{}.example.com/", r.id)
                            .parse()
                            .expect("url"),
                    );
                    t.id = format!("direct-{}", r.id);
                    t.region = Some(r.id.clone());
                    t
                })
                .collect();
            let mut routed = Target::from_url("https://api.example.com/".parse().expect("url"));
            routed.id = "route53".into();
            routed.path = PathKind::Route53;
            targets.push(routed);
            let served = match routing.dns.get(&g.id) {
                Some(d) => d.keys().next().cloned(),
                None => Some("sa-east-1".to_owned()),
            };
            let mut b = WindowBuilder::new(identity, "sha256:fixture".into(), &targets, start);
            for (i, r) in world.regions.iter().enumerate() {
                if (g.id.as_str(), r.id.as_str()) == MISSING {
                    continue;
                }
                let samples = if (g.id.as_str(), r.id.as_str()) == THIN {
                    1
                } else {
                    12
                };
                // A slow drift over the hour, so percentiles over time move.
                let base = g.latency_ms[&r.id].p50 * (1.0 + 0.04 * (slice as f64 / 2.0).sin());
                for k in 0..samples {
                    b.record(i, &attempt(base, k, None));
                }
            }
            let routed_base = served.as_ref().map_or(100.0, |s| g.latency_ms[s].p50 + 2.0);
            for k in 0..12 {
                b.record(targets.len() - 1, &attempt(routed_base, k, served.clone()));
            }
            if g.id == FAILING {
                for class in [ErrorClass::ConnectTimeout, ErrorClass::Reset] {
                    b.record(
                        0,
                        &Attempt {
                            failure: Some(Failure::new(Phase::Tcp, class, "fixture")),
                            ..Attempt::default()
                        },
                    );
                }
            }
            let w = b
                .finish(start + TimeDelta::minutes(5))
                .expect("a fixture window encodes");
            store
                .put_window(&w)
                .await
                .expect("the fixture store takes it");
        }
    }
}

fn attempt(base_ms: f64, k: u64, served_by: Option<String>) -> Attempt {
    let ms = base_ms * (1.0 + 0.002 * k as f64);
    let d = Duration::from_micros((ms * 1000.0) as u64);
    Attempt {
        dns: Some(Duration::from_micros(900)),
        tcp: Some(d),
        tls: Some(d),
        ttfb: Some(d),
        total: Some(d),
        warm: vec![d],
        served_by,
        ..Attempt::default()
    }
}

/// A source over `store` with the built-in world's topology.
pub fn source(store: Store, url: &str) -> Source {
    let world = World::builtin();
    Source {
        store,
        url: url.to_owned(),
        range: TimeDelta::hours(1),
        phase: Phase::Warm,
        topology: Some(topology_of(&world)),
        options: crate::advise::Options::default(),
        endpoints: Default::default(),
        strictness: Strictness::Indicative,
        routing: None,
    }
}

/// The fixture store, read as the dashboard reads it at [`now`].
pub async fn snapshot() -> (Arc<Snapshot>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url).expect("a local store");
    fill(&store).await;
    let s = snapshot::load(&source(store, "file:///fixture"), now())
        .await
        .expect("the fixture store reads");
    (s, dir)
}
