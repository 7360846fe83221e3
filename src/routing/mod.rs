//! Routing control: reading today's routing from a control plane and
//! applying a plan to it, behind one interface that the lab
//! ([`crate::lab::routing`]) and AWS ([`crate::aws::control`]) implement,
//! so advice and apply work the same against both. This module keeps the
//! interface and its vocabulary (states, bindings, changes) only.

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

#[cfg(test)]
impl RoutingState {
    /// A state from `(location, [(region, weight)])` and `(region, dial)`
    /// pairs: how unit tests write one.
    pub(crate) fn of(dns: &[(&str, &[(&str, u8)])], dials: &[(&str, f64)]) -> RoutingState {
        RoutingState {
            dns: dns
                .iter()
                .map(|(l, ws)| {
                    (
                        l.to_string(),
                        ws.iter().map(|(r, w)| (r.to_string(), *w)).collect(),
                    )
                })
                .collect(),
            accelerator: dials.iter().map(|(r, d)| (r.to_string(), *d)).collect(),
        }
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

/// Where a routing lives. A change plan, its audit record and a rollback
/// are bound to it: a plan made for one zone, name, accelerator or traffic
/// policy instance is refused anywhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `aws` or `lab`.
    pub control: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// The name users resolve (Route 53), or the lab's service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The accelerator listener whose endpoint groups are dialled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<String>,
    /// The traffic policy instance routing the name (traffic policy mode;
    /// none before the first apply creates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy_instance: Option<String>,
}

impl Binding {
    /// Why a plan bound to `self` must not be applied to `live`, if so. A
    /// plan made before its traffic policy instance existed binds to none:
    /// its state digest already says whether the instance is still absent.
    pub fn mismatch(&self, live: &Binding) -> Option<String> {
        let differ = |what: &str, plan: &Option<String>, live: &Option<String>| {
            (plan != live).then(|| {
                format!(
                    "it was made for {what} {}, this config controls {}",
                    plan.as_deref().unwrap_or("(none)"),
                    live.as_deref().unwrap_or("(none)")
                )
            })
        };
        if self.control != live.control {
            return Some(format!(
                "it was made for the {} control plane, this is {}",
                self.control, live.control
            ));
        }
        differ("hosted zone", &self.hosted_zone_id, &live.hosted_zone_id)
            .or_else(|| differ("service name", &self.service_name, &live.service_name))
            .or_else(|| differ("accelerator listener", &self.accelerator, &live.accelerator))
            .or_else(|| {
                self.traffic_policy_instance.as_ref().and_then(|_| {
                    differ(
                        "traffic policy instance",
                        &self.traffic_policy_instance,
                        &live.traffic_policy_instance,
                    )
                })
            })
    }
}

/// The routing as read now, with where it lives and a digest of
/// everything else an apply would rewrite (record TTLs and targets, the
/// policy instance, endpoint weights): a plan is applied only to the exact
/// state it was made against.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub state: RoutingState,
    pub binding: Binding,
    /// Empty when the state says everything (the lab).
    pub detail: String,
}

/// Which mechanisms a control plane has: a plan carries only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mechanisms {
    pub dns: bool,
    pub accelerator: bool,
}

/// One Route 53 record change (or, in the lab, one geo's DNS weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordChange {
    /// UPSERT or DELETE.
    pub action: String,
    pub name: String,
    pub set_identifier: String,
    /// `geolocation country:DE` or `weight 200`.
    pub rule: String,
    pub value: String,
}

/// One accelerator endpoint group's dial change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialChange {
    pub region: String,
    pub before: f64,
    pub after: f64,
}

/// Exactly what an apply of a desired routing does to the live one: what a
/// plan shows, and what an apply re-computes under the lease and refuses
/// to run unless it is the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// Route 53 changes, one atomic batch.
    pub route53: Vec<RecordChange>,
    /// Traffic policy mode: the document of the new policy version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<serde_json::Value>,
    /// Accelerator steps in the order they run.
    pub accelerator: Vec<DialChange>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.route53.is_empty() && self.traffic_policy.is_none() && self.accelerator.is_empty()
    }
}

/// A control plane geolat can read and change.
#[async_trait::async_trait]
pub trait RoutingControl: Send + Sync {
    async fn read(&self) -> Result<RoutingState, RoutingError>;
    /// The routing, where it lives and the digest of its other details.
    async fn live(&self) -> Result<Live, RoutingError>;
    /// The mechanisms this control plane has.
    fn mechanisms(&self) -> Mechanisms;
    /// Reads the live routing and computes exactly what applying `desired`
    /// would change, refusing (without changing anything) what `apply`
    /// would refuse: unknown regions, no default location, a mechanism the
    /// control plane does not have.
    async fn changes(&self, desired: &RoutingState) -> Result<(Live, Changes), RoutingError>;
    /// Whether each region has a healthy endpoint (regions not reported
    /// on are not judged).
    async fn health(&self) -> Result<BTreeMap<String, bool>, RoutingError> {
        Ok(BTreeMap::new())
    }
    /// Who the control plane says is acting (the AWS principal), if it says.
    async fn principal(&self) -> Option<String> {
        None
    }
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
