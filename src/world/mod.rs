//! The world model: where users are (geos with demand), where the service
//! runs (regions with capacity and backups), the latency between them, and
//! today's routing. Loaded from a world file (`geolat-world/1`, see
//! `../shared/world/README.md`), or built from measured windows plus a
//! topology file, so the advisor works identically on both.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub mod topology;
pub const FORMAT: &str = "geolat-world/1";

/// Latency percentiles: any one of them can be the advisor's objective.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Percentile {
    P50,
    P90,
    P99,
}

impl Percentile {
    pub fn as_str(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P99 => "p99",
        }
    }
}

/// Round-trip latency of one geo to one region, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub p50: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

impl Latency {
    /// The value at `p`; a missing upper percentile falls back to the next
    /// lower one that is known (p99 -> p90 -> p50), which under-states the
    /// tail rather than inventing one.
    pub fn at(&self, p: Percentile) -> f64 {
        match p {
            Percentile::P50 => self.p50,
            Percentile::P90 => self.p90.unwrap_or(self.p50),
            Percentile::P99 => self.p99.or(self.p90).unwrap_or(self.p50),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub capacity_rps: f64,
    /// Takes over this region's stateful components when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Route 53 continent code.
    pub continent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub demand_rps: f64,
    /// For every region id.
    pub latency_ms: BTreeMap<String, Latency>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub percentile: Percentile,
    pub max_ms: f64,
}

/// `{geo: {region: fraction}}`, fractions of a geo summing to 1.
pub type Routing = BTreeMap<String, BTreeMap<String, f64>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    pub format: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub provenance: Vec<String>,
    pub regions: Vec<Region>,
    pub geos: Vec<Geo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("cannot read world file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a world file: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: `{field}`: {problem}")]
    Invalid {
        file: String,
        field: String,
        problem: String,
    },
}

const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

impl World {
    pub fn load(file: &Path) -> Result<World, WorldError> {
        let shown = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|source| WorldError::Read {
            file: shown.clone(),
            source,
        })?;
        World::from_json(&bytes, &shown)
    }

    /// Parses and validates; `name` is how errors refer to the input.
    pub fn from_json(bytes: &[u8], name: &str) -> Result<World, WorldError> {
        let world: World =
            crate::config::parse::json(bytes).map_err(|message| WorldError::Parse {
                file: name.to_owned(),
                message,
            })?;
        world.validate(name)?;
        Ok(world)
    }

    /// Checks every rule of the format; the first violation is returned
    /// with the field path that holds it.
    pub fn validate(&self, name: &str) -> Result<(), WorldError> {
        let bad = |field: String, problem: String| WorldError::Invalid {
            file: name.to_owned(),
            field,
            problem,
        };
        if self.format != FORMAT {
            return Err(bad(
                "format".into(),
                format!("`{}` is not {FORMAT}", self.format),
            ));
        }
        if self.regions.is_empty() {
            return Err(bad("regions".into(), "no regions".into()));
        }
        if self.geos.is_empty() {
            return Err(bad("geos".into(), "no geos".into()));
        }
        let mut region_ids: HashMap<&str, usize> = HashMap::new();
        for (i, r) in self.regions.iter().enumerate() {
            if r.id.is_empty() {
                return Err(bad(format!("regions[{i}].id"), "empty".into()));
            }
            if region_ids.insert(&r.id, i).is_some() {
                return Err(bad(
                    format!("regions[{i}].id"),
                    format!("duplicate region `{}`", r.id),
                ));
            }
            finite_non_negative(r.capacity_rps)
                .map_err(|p| bad(format!("regions[{i}].capacity_rps"), p))?;
            coordinates(r.lat, r.lon).map_err(|p| bad(format!("regions[{i}]"), p))?;
        }
        for (i, r) in self.regions.iter().enumerate() {
            if let Some(b) = &r.backup {
                if b == &r.id {
                    return Err(bad(
                        format!("regions[{i}].backup"),
                        "a region cannot back itself up".into(),
                    ));
                }
                if !region_ids.contains_key(b.as_str()) {
                    return Err(bad(
                        format!("regions[{i}].backup"),
                        format!("`{b}` is not a region"),
                    ));
                }
            }
        }
        let mut geo_ids = HashMap::new();
        for (i, g) in self.geos.iter().enumerate() {
            if g.id.is_empty() {
                return Err(bad(format!("geos[{i}].id"), "empty".into()));
            }
            if geo_ids.insert(g.id.as_str(), i).is_some() {
                return Err(bad(
                    format!("geos[{i}].id"),
                    format!("duplicate geo `{}`", g.id),
                ));
            }
            if !CONTINENTS.contains(&g.continent.as_str()) {
                return Err(bad(
                    format!("geos[{i}].continent"),
                    format!("`{}` must be one of {}", g.continent, CONTINENTS.join(" ")),
                ));
            }
            finite_non_negative(g.demand_rps)
                .map_err(|p| bad(format!("geos[{i}].demand_rps"), p))?;
            coordinates(g.lat, g.lon).map_err(|p| bad(format!("geos[{i}]"), p))?;
            for r in &self.regions {
                let Some(l) = g.latency_ms.get(&r.id) else {
                    return Err(bad(
                        format!("geos[{i}].latency_ms"),
                        format!("no latency to region `{}`", r.id),
                    ));
                };
                let field = format!("geos[{i}].latency_ms.{}", r.id);
                let ordered = [l.min, Some(l.p50), l.p90, l.p99];
                for v in ordered.iter().flatten() {
                    finite_non_negative(*v).map_err(|p| bad(field.clone(), p))?;
                }
                let present: Vec<f64> = ordered.iter().flatten().copied().collect();
                if present.windows(2).any(|w| w[0] > w[1]) {
                    return Err(bad(field, "must satisfy min <= p50 <= p90 <= p99".into()));
                }
            }
            if let Some(extra) = g
                .latency_ms
                .keys()
                .find(|k| !region_ids.contains_key(k.as_str()))
            {
                return Err(bad(
                    format!("geos[{i}].latency_ms.{extra}"),
                    format!("`{extra}` is not a region"),
                ));
            }
        }
        if let Some(routing) = &self.routing {
            for (geo, split) in routing {
                if !geo_ids.contains_key(geo.as_str()) {
                    return Err(bad(
                        format!("routing.{geo}"),
                        format!("`{geo}` is not a geo"),
                    ));
                }
                let mut sum = 0.0;
                for (region, f) in split {
                    if !region_ids.contains_key(region.as_str()) {
                        return Err(bad(
                            format!("routing.{geo}.{region}"),
                            format!("`{region}` is not a region"),
                        ));
                    }
                    if !(f.is_finite() && (0.0..=1.0).contains(f)) {
                        return Err(bad(
                            format!("routing.{geo}.{region}"),
                            format!("{f} is not a fraction in 0..1"),
                        ));
                    }
                    sum += f;
                }
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(bad(
                        format!("routing.{geo}"),
                        format!("fractions sum to {sum}, not 1"),
                    ));
                }
            }
        }
        if let Some(slo) = &self.slo
            && !(slo.max_ms.is_finite() && slo.max_ms > 0.0)
        {
            return Err(bad(
                "slo.max_ms".into(),
                format!("{} must be a positive number", slo.max_ms),
            ));
        }
        Ok(())
    }

    /// The built-in world (`aws-edges`, see the README for provenance):
    /// the lab's default when no `--world` is given.
    pub fn builtin() -> World {
        const AWS_EDGES: &str = include_str!("aws-edges.json");
        // Checked by the `builtin_world_is_valid` test; a broken copy
        // fails every test run, so it cannot ship.
        World::from_json(AWS_EDGES.as_bytes(), "built-in aws-edges.json")
            .expect("built-in world is valid")
    }

    pub fn region_index(&self, id: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.id == id)
    }

    pub fn geo_index(&self, id: &str) -> Option<usize> {
        self.geos.iter().position(|g| g.id == id)
    }

    /// Today's routing: the file's, or each geo to its lowest-p50 region.
    pub fn current_routing(&self) -> Routing {
        if let Some(r) = &self.routing {
            return r.clone();
        }
        self.geos
            .iter()
            .map(|g| {
                let best = self
                    .regions
                    .iter()
                    .min_by(|a, b| g.latency_ms[&a.id].p50.total_cmp(&g.latency_ms[&b.id].p50))
                    .map(|r| r.id.clone())
                    .unwrap_or_default();
                (g.id.clone(), BTreeMap::from([(best, 1.0)]))
            })
            .collect()
    }
}

fn finite_non_negative(v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{v} must be a finite non-negative number"))
    }
}

fn coordinates(lat: f64, lon: f64) -> Result<(), String> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("coordinates ({lat}, {lon}) are outside the globe"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> serde_json::Value {
        serde_json::json!({
            "format": "geolat-world/1",
            "regions": [
                {"id": "a", "lat": 0, "lon": 0, "capacity_rps": 10, "backup": "b"},
                {"id": "b", "lat": 0, "lon": 10, "capacity_rps": 10}
            ],
            "geos": [
                {"id": "g", "continent": "EU", "lat": 0, "lon": 1, "demand_rps": 5,
                 "latency_ms": {"a": {"p50": 10, "p90": 12}, "b": {"p50": 20}}}
            ]
        })
    }

    fn load(v: &serde_json::Value) -> Result<World, WorldError> {
        World::from_json(&serde_json::to_vec(v).unwrap(), "w.json")
    }

    #[test]
    fn tiny_world_loads_and_routes_to_nearest_by_default() {
        let w = load(&tiny()).unwrap();
        assert_eq!(
            w.current_routing()["g"],
            BTreeMap::from([("a".to_owned(), 1.0)])
        );
        assert_eq!(w.geos[0].latency_ms["b"].at(Percentile::P99), 20.0);
    }

    #[test]
    fn each_rule_names_its_field() {
        // (JSON pointer, value to put there, what the error must say)
        let cases = [
            ("/format", serde_json::json!("geolat-world/2"), "`format`"),
            (
                "/regions/0/backup",
                serde_json::json!("zz"),
                "regions[0].backup",
            ),
            ("/regions/1/id", serde_json::json!("a"), "duplicate region"),
            (
                "/geos/0/latency_ms",
                serde_json::json!({"a": {"p50": 1}}),
                "no latency to region `b`",
            ),
            (
                "/geos/0/latency_ms/a/p90",
                serde_json::json!(5),
                "min <= p50 <= p90 <= p99",
            ),
            (
                "/geos/0/demand_rps",
                serde_json::json!(-1),
                "geos[0].demand_rps",
            ),
            (
                "/geos/0/continent",
                serde_json::json!("XX"),
                "geos[0].continent",
            ),
            (
                "/routing",
                serde_json::json!({"g": {"a": 0.5}}),
                "sum to 0.5",
            ),
            (
                "/routing",
                serde_json::json!({"g": {"zz": 1.0}}),
                "`zz` is not a region",
            ),
            (
                "/slo",
                serde_json::json!({"percentile": "p50", "max_ms": 0}),
                "slo.max_ms",
            ),
        ];
        for (pointer, value, needle) in cases {
            let mut v = tiny();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut v
            } else {
                v.pointer_mut(parent).unwrap()
            };
            parent[key] = value;
            let err = load(&v).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.starts_with("w.json"),
                "{needle}: {err}"
            );
        }
    }

    #[test]
    fn builtin_world_is_valid() {
        let w = World::builtin();
        assert_eq!(w.regions.len(), 6);
        assert_eq!(w.geos.len(), 32);
    }
}
