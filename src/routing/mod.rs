//! Routing control: reading today's routing from a control plane and
//! applying a plan to it, behind one interface that the lab implements now
//! and AWS (Route 53, Global Accelerator) implements later, so advice and
//! apply work the same against both.

pub mod lab;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Routing as the mechanisms express it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingState {
    /// Per geo: DNS weights per region (0..=255, 0 = no traffic), the
    /// weighted records under a geolocation rule. A one-region geolocation
    /// record is a single non-zero weight.
    pub dns: BTreeMap<String, BTreeMap<String, u8>>,
    /// Per region: the accelerator endpoint group's traffic dial (0..=100).
    pub accelerator: BTreeMap<String, f64>,
}

impl RoutingState {
    /// The same routing in one canonical form, so states read back from
    /// different mechanisms compare equal: zero DNS weights dropped (a
    /// zero-weight region gets nothing either way) and a location served by
    /// one region at weight 255 (any weight is all of it). Weights of split
    /// locations are kept exactly.
    pub fn normalized(&self) -> RoutingState {
        let dns = self
            .dns
            .iter()
            .map(|(location, weights)| {
                let mut w: BTreeMap<String, u8> = weights
                    .iter()
                    .filter(|(_, w)| **w > 0)
                    .map(|(r, w)| (r.clone(), *w))
                    .collect();
                if w.len() == 1 {
                    w.values_mut().for_each(|v| *v = 255);
                }
                (location.clone(), w)
            })
            .collect();
        RoutingState {
            dns,
            accelerator: self.accelerator.clone(),
        }
    }

    /// The DNS location (of an AWS state: `country:CC`, `continent:CC`,
    /// `default`) that answers users of a geo in `country` on `continent`:
    /// the most specific one present, as Route 53 geolocation chooses.
    pub fn location_for(&self, country: Option<&str>, continent: &str) -> Option<&str> {
        let country = country.map(|c| format!("country:{c}"));
        let continent = format!("continent:{continent}");
        [
            country.as_deref(),
            Some(continent.as_str()),
            Some("default"),
        ]
        .into_iter()
        .flatten()
        .find_map(|k| self.dns.get_key_value(k).map(|(k, _)| k.as_str()))
    }

    /// Per geo of `world`, the fractions of its traffic each region gets
    /// from the DNS location that answers it: today's routing on AWS in the
    /// advisor's terms.
    pub fn geo_fractions(&self, world: &crate::world::World) -> crate::world::Routing {
        world
            .geos
            .iter()
            .filter_map(|g| {
                let location = self.location_for(g.country.as_deref(), &g.continent)?;
                Some((g.id.clone(), fractions(&self.dns[location])?))
            })
            .collect()
    }

    /// The DNS weights as fractions per geo (the advisor's `Routing`).
    pub fn dns_fractions(&self) -> crate::world::Routing {
        self.dns
            .iter()
            .filter_map(|(geo, weights)| Some((geo.clone(), fractions(weights)?)))
            .collect()
    }
}

/// Weights as the fraction of traffic each region gets; None when they
/// send no traffic at all.
fn fractions(weights: &BTreeMap<String, u8>) -> Option<BTreeMap<String, f64>> {
    let total: f64 = weights.values().map(|w| f64::from(*w)).sum();
    (total > 0.0).then(|| {
        weights
            .iter()
            .filter(|(_, w)| **w > 0)
            .map(|(r, w)| (r.clone(), f64::from(*w) / total))
            .collect()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown geo `{0}`: the control plane has no record for it")]
    UnknownGeo(String),
    #[error("unknown region `{0}`: the control plane has no endpoint for it")]
    UnknownRegion(String),
    #[error("traffic dial {dial} for `{region}` is outside 0..100")]
    BadDial { region: String, dial: f64 },
    #[error("geo `{0}` would get no traffic anywhere (all weights 0)")]
    NoTraffic(String),
    #[error("location `{0}` is not one of default, continent:CC, country:CC, subdivision:CC-SUB")]
    BadLocation(String),
    #[error(
        "the routing has no `default` location: Route 53 would answer nothing to users no other location matches"
    )]
    NoDefault,
    #[error("record {record} {problem}; fix or remove it by hand, then plan again")]
    Unexpected { record: String, problem: String },
    #[error("{action} failed: {message}")]
    Api { action: String, message: String },
}

/// A control plane geolat can read and change.
#[async_trait::async_trait]
pub trait RoutingControl: Send + Sync {
    async fn read(&self) -> Result<RoutingState, RoutingError>;
    /// Makes the control plane match `desired` (a full state, not a diff).
    async fn apply(&self, desired: &RoutingState) -> Result<(), RoutingError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_states_compare_by_what_they_route() {
        let state = |w: &[(&str, u8)]| RoutingState {
            dns: [(
                "default".to_string(),
                w.iter().map(|(r, w)| (r.to_string(), *w)).collect(),
            )]
            .into(),
            accelerator: BTreeMap::new(),
        };
        assert_eq!(
            state(&[("a", 1), ("b", 0)]).normalized(),
            state(&[("a", 255)]).normalized()
        );
        assert_ne!(
            state(&[("a", 1), ("b", 2)]).normalized(),
            state(&[("a", 2), ("b", 4)]).normalized(),
            "split weights are kept exactly"
        );
    }
}
