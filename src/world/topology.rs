//! Topology files (`geolat-topology/1`): a world without latency. They say
//! where the service runs (regions with capacity and backups) and where
//! users are (geos with demand); measurements supply the latency between
//! them (`geolat analyze --topology T --world-out W`), and the result is
//! the same [`World`] a world file loads into.
//!
//! A topology is valid exactly when the world it becomes is, so validation
//! runs [`World::validate`] on the topology with every latency still a
//! placeholder: the two formats can never disagree about what a valid
//! region or geo is, and errors name the same fields (`regions[2].backup`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Geo, Latency, Region, Routing, Slo, World, WorldError};

pub const FORMAT: &str = "geolat-topology/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub format: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub regions: Vec<Region>,
    pub geos: Vec<TopologyGeo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
}

/// A geo as a world file has it, without `latency_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyGeo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub continent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub demand_rps: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a topology file: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: `{field}`: {problem}")]
    Invalid {
        file: String,
        field: String,
        problem: String,
    },
}

impl Topology {
    pub fn load(file: &Path) -> Result<Topology, TopologyError> {
        let shown = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|source| TopologyError::Read {
            file: shown.clone(),
            source,
        })?;
        Topology::from_json(&bytes, &shown)
    }

    /// Parses and validates; `name` is how errors refer to the input.
    pub fn from_json(bytes: &[u8], name: &str) -> Result<Topology, TopologyError> {
        let t: Topology =
            crate::config::parse::json(bytes).map_err(|message| TopologyError::Parse {
                file: name.to_owned(),
                message,
            })?;
        t.validate(name)?;
        Ok(t)
    }

    pub fn validate(&self, name: &str) -> Result<(), TopologyError> {
        if self.format != FORMAT {
            return Err(TopologyError::Invalid {
                file: name.to_owned(),
                field: "format".into(),
                problem: format!("`{}` is not {FORMAT}", self.format),
            });
        }
        let placeholder = Latency {
            p50: 0.0,
            p90: None,
            p99: None,
            min: None,
        };
        let latency = self
            .geos
            .iter()
            .map(|g| {
                let row = self
                    .regions
                    .iter()
                    .map(|r| (r.id.clone(), placeholder))
                    .collect();
                (g.id.clone(), row)
            })
            .collect();
        self.clone()
            .into_world(latency, None, Vec::new())
            .validate(name)
            .map_err(|e| match e {
                WorldError::Invalid {
                    file,
                    field,
                    problem,
                } => TopologyError::Invalid {
                    file,
                    field,
                    problem,
                },
                other => TopologyError::Parse {
                    file: name.to_owned(),
                    message: other.to_string(),
                },
            })
    }

    /// The world with `latency[geo][region]` filled in (geos missing from
    /// `latency` get none, which [`World::validate`] rejects).
    pub fn into_world(
        self,
        mut latency: BTreeMap<String, BTreeMap<String, Latency>>,
        routing: Option<Routing>,
        provenance: Vec<String>,
    ) -> World {
        World {
            format: super::FORMAT.to_owned(),
            name: self.name,
            description: self.description,
            provenance,
            regions: self.regions,
            geos: self
                .geos
                .into_iter()
                .map(|g| Geo {
                    latency_ms: latency.remove(&g.id).unwrap_or_default(),
                    id: g.id,
                    name: g.name,
                    continent: g.continent,
                    country: g.country,
                    lat: g.lat,
                    lon: g.lon,
                    demand_rps: g.demand_rps,
                })
                .collect(),
            routing,
            slo: self.slo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> serde_json::Value {
        serde_json::json!({
            "format": "geolat-topology/1",
            "regions": [
                {"id": "a", "lat": 0, "lon": 0, "capacity_rps": 10, "backup": "b"},
                {"id": "b", "lat": 0, "lon": 10, "capacity_rps": 10}
            ],
            "geos": [
                {"id": "g", "continent": "EU", "lat": 0, "lon": 1, "demand_rps": 5}
            ],
            "slo": {"percentile": "p90", "max_ms": 100}
        })
    }

    fn load(v: &serde_json::Value) -> Result<Topology, TopologyError> {
        Topology::from_json(&serde_json::to_vec(v).unwrap(), "t.json")
    }

    #[test]
    fn tiny_topology_loads() {
        let t = load(&tiny()).unwrap();
        assert_eq!(t.regions.len(), 2);
        assert_eq!(t.geos[0].id, "g");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            ("/format", serde_json::json!("geolat-world/1"), "`format`"),
            (
                "/regions/0/backup",
                serde_json::json!("zz"),
                "regions[0].backup",
            ),
            ("/regions/1/id", serde_json::json!("a"), "duplicate region"),
            (
                "/geos/0/continent",
                serde_json::json!("XX"),
                "geos[0].continent",
            ),
            (
                "/geos/0/demand_rps",
                serde_json::json!(-1),
                "geos[0].demand_rps",
            ),
            ("/regions/0/lat", serde_json::json!(91), "regions[0]"),
            ("/slo/max_ms", serde_json::json!(0), "slo.max_ms"),
        ];
        for (pointer, value, needle) in cases {
            let mut v = tiny();
            *v.pointer_mut(pointer).unwrap() = value;
            let err = load(&v).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.starts_with("t.json"),
                "{needle}: {err}"
            );
        }
        let mut v = tiny();
        v["geos"][0]["latency_ms"] = serde_json::json!({});
        let err = load(&v).unwrap_err().to_string();
        assert!(err.contains("unknown field `latency_ms`"), "{err}");
    }
}
