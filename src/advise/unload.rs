//! Measured latency includes the queueing delay of the load each region
//! carried while it was measured. Planning on it as if it were the base
//! latency counts that delay twice (once measured, once modelled) and makes
//! plans chase their own shadow: a region looks slow because it is busy,
//! loses traffic, looks fast, wins it back. So before planning with a
//! utilisation cost on measured data, the modelled queueing delay at
//! today's load is taken out, leaving the base latency the model adds to.

use super::QueueModel;
use crate::world::{Latency, World};

/// Today's load per region (rps), in `world.regions` order.
pub fn loads_today(world: &World) -> Vec<f64> {
    let routing = world.current_routing();
    world
        .regions
        .iter()
        .map(|r| {
            world
                .geos
                .iter()
                .map(|g| {
                    g.demand_rps
                        * routing
                            .get(&g.id)
                            .and_then(|s| s.get(&r.id))
                            .copied()
                            .unwrap_or(0.0)
                })
                .sum()
        })
        .collect()
}

/// The world with each region's modelled queueing delay at today's load
/// subtracted from every latency to it (never below zero).
pub fn unload(world: &World, queue: &QueueModel) -> World {
    let loads = loads_today(world);
    let mut out = world.clone();
    for (r, load) in world.regions.iter().zip(loads) {
        let wait = queue.delay_ms(load, r.capacity_rps);
        for g in &mut out.geos {
            if let Some(l) = g.latency_ms.get_mut(&r.id) {
                *l = minus(*l, wait);
            }
        }
    }
    out
}

fn minus(l: Latency, ms: f64) -> Latency {
    let sub = |v: f64| (v - ms).max(0.0);
    Latency {
        p50: sub(l.p50),
        p90: l.p90.map(sub),
        p99: l.p99.map(sub),
        min: l.min.map(sub),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_todays_queueing_per_region() {
        let v = serde_json::json!({
            "format": "geolat-world/1",
            "regions": [
                {"id": "a", "lat": 0, "lon": 0, "capacity_rps": 10},
                {"id": "b", "lat": 0, "lon": 1, "capacity_rps": 10}
            ],
            "geos": [{"id": "g", "continent": "EU", "lat": 0, "lon": 0, "demand_rps": 9,
                      "latency_ms": {"a": {"p50": 100, "p90": 120}, "b": {"p50": 50}}}],
            "routing": {"g": {"a": 1.0}}
        });
        let w = World::from_json(&serde_json::to_vec(&v).unwrap(), "w").unwrap();
        let q = QueueModel { service_ms: 10.0 };
        let u = unload(&w, &q);
        // a carries 9 of 10: 10 * 0.9 / 0.1 = 90 ms of queueing; b carries nothing.
        let a = u.geos[0].latency_ms["a"];
        assert!((a.p50 - 10.0).abs() < 1e-9 && (a.p90.unwrap() - 30.0).abs() < 1e-9);
        assert_eq!(u.geos[0].latency_ms["b"].p50, 50.0);
    }
}
