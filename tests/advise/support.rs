//! Worlds for advisor tests and the helpers every module uses.

use std::path::{Path, PathBuf};

use geolat::advise::{self, Advice, Endpoints, Options};
use geolat::world::World;

/// A world from `(demand, [p50 per region])` rows and capacities. Regions
/// are `r0..`, geos `g0..` each in its own country (`AA`, `AB`, ...), so
/// Route 53 can tell every geo apart; p99 is twice p50.
pub fn world(geos: &[(f64, &[f64])], capacity: &[f64]) -> World {
    let regions: Vec<serde_json::Value> = capacity
        .iter()
        .enumerate()
        .map(|(i, c)| serde_json::json!({"id": format!("r{i}"), "lat": 0, "lon": i, "capacity_rps": c}))
        .collect();
    let geos: Vec<serde_json::Value> = geos
        .iter()
        .enumerate()
        .map(|(i, (d, lat))| {
            let l: serde_json::Map<String, serde_json::Value> = lat
                .iter()
                .enumerate()
                .map(|(r, ms)| {
                    (
                        format!("r{r}"),
                        serde_json::json!({"p50": ms, "p99": ms * 2.0}),
                    )
                })
                .collect();
            let country = format!("A{}", (b'A' + i as u8) as char);
            serde_json::json!({"id": format!("g{i}"), "continent": "EU", "country": country,
                "lat": 1, "lon": i, "demand_rps": d, "latency_ms": l})
        })
        .collect();
    let v = serde_json::json!({"format": "geolat-world/1", "name": "test", "regions": regions, "geos": geos});
    World::from_json(&serde_json::to_vec(&v).unwrap(), "test").unwrap()
}

pub fn shared_world_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/world/aws-edges.json")
}

pub fn shared_world() -> World {
    World::load(&shared_world_path()).unwrap()
}

/// Options with no headroom and no thresholds, so small worlds are exact.
pub fn exact() -> Options {
    Options {
        headroom: 0.0,
        min_improvement_ms: 0.0,
        min_move_ms: 0.0,
        ..Options::default()
    }
}

pub fn advise(w: &World, o: &Options) -> Advice {
    advise::advise(w, o, &Endpoints::default()).unwrap()
}

pub fn advise_err(w: &World, o: &Options) -> String {
    advise::advise(w, o, &Endpoints::default())
        .unwrap_err()
        .to_string()
}

/// Region loads of an advice's plan, rps.
pub fn plan_loads(a: &Advice) -> Vec<f64> {
    advise::evaluate::loads(&a.problem, &a.plan)
}

/// SplitMix64: a small deterministic generator, so noisy tests repeat exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[path = "../shared/schema.rs"]
mod schema;
pub use schema::assert_schema;
