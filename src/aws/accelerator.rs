//! Global Accelerator calls: read a listener's endpoint groups (traffic
//! dial, endpoint weights and health per region) and change them one group
//! at a time in an order that never leaves users without a region.

use std::collections::BTreeMap;

use aws_sdk_globalaccelerator::Client;
use aws_sdk_globalaccelerator::types::{EndpointConfiguration, HealthState};

use super::describe;
use crate::routing::RoutingError;

/// One region's endpoint group as geolat reads and sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub arn: String,
    pub region: String,
    /// 0..=100: the share of the traffic arriving for this region it keeps.
    pub dial: f64,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    /// 0..=255; 0 sends the endpoint no traffic.
    pub weight: u8,
    pub healthy: bool,
}

/// A dial as geolat compares and records it: the API carries a 32-bit
/// float (71.1 comes back as 71.0999984...), so dials are kept to
/// hundredths of a percent; finer never matters for traffic.
pub fn dial(api: f32) -> f64 {
    (f64::from(api) * 100.0).round() / 100.0
}

/// One `UpdateEndpointGroup` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub region: String,
    pub dial: f64,
    pub weights: BTreeMap<String, u8>,
}

/// Orders the updates that take `current` to the desired dials and
/// weights: groups whose dial rises first, then those that fall, so
/// traffic leaving a region always has somewhere to go while the steps run.
/// Refuses a result where no group takes traffic, or a region not in
/// `current`.
pub fn plan_updates(
    current: &[Group],
    dials: &BTreeMap<String, f64>,
    weights: &BTreeMap<String, BTreeMap<String, u8>>,
) -> Result<Vec<Update>, RoutingError> {
    for region in dials.keys().chain(weights.keys()) {
        if !current.iter().any(|g| &g.region == region) {
            return Err(RoutingError::UnknownRegion(region.clone()));
        }
    }
    let mut updates = Vec::new();
    let mut any_open = false;
    for g in current {
        let dial = dials
            .get(&g.region)
            .map_or(g.dial, |d| (d * 100.0).round() / 100.0);
        if !(0.0..=100.0).contains(&dial) {
            return Err(RoutingError::BadDial {
                region: g.region.clone(),
                dial,
            });
        }
        let now: BTreeMap<String, u8> = g
            .endpoints
            .iter()
            .map(|e| (e.id.clone(), e.weight))
            .collect();
        let mut want = now.clone();
        if let Some(w) = weights.get(&g.region) {
            for (id, weight) in w {
                if !now.contains_key(id) {
                    return Err(RoutingError::Unexpected {
                        record: format!("endpoint group {} ({})", g.arn, g.region),
                        problem: format!("has no endpoint `{id}`"),
                    });
                }
                want.insert(id.clone(), *weight);
            }
        }
        any_open |= dial > 0.0 && want.values().any(|w| *w > 0);
        if (dial - g.dial).abs() >= 0.005 || want != now {
            updates.push((
                dial - g.dial,
                Update {
                    region: g.region.clone(),
                    dial,
                    weights: want,
                },
            ));
        }
    }
    if !current.is_empty() && !any_open {
        return Err(RoutingError::NoTraffic("the accelerator".into()));
    }
    // Rises (and weight-only changes) before falls; biggest rise first.
    updates.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(updates.into_iter().map(|(_, u)| u).collect())
}

pub struct Accelerator {
    client: Client,
    listener_arn: String,
}

fn api(action: impl Into<String>, message: String) -> RoutingError {
    RoutingError::Api {
        action: action.into(),
        message,
    }
}

impl Accelerator {
    pub fn new(client: Client, listener_arn: &str) -> Accelerator {
        Accelerator {
            client,
            listener_arn: listener_arn.to_owned(),
        }
    }

    pub fn listener_arn(&self) -> &str {
        &self.listener_arn
    }

    /// The accelerator's id, from the listener ARN
    /// (`arn:aws:globalaccelerator::ACCOUNT:accelerator/ID/listener/L`):
    /// CloudWatch names the accelerator by it.
    pub fn accelerator_id(&self) -> &str {
        self.listener_arn
            .split('/')
            .nth(1)
            .unwrap_or(&self.listener_arn)
    }

    /// The listener's endpoint groups, sorted by region.
    pub async fn groups(&self) -> Result<Vec<Group>, RoutingError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_endpoint_groups()
                .listener_arn(&self.listener_arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    api(
                        format!("listing the endpoint groups of {}", self.listener_arn),
                        describe(&e),
                    )
                })?;
            for g in page.endpoint_groups() {
                out.push(Group {
                    arn: g.endpoint_group_arn().unwrap_or_default().to_owned(),
                    region: g.endpoint_group_region().unwrap_or_default().to_owned(),
                    dial: dial(g.traffic_dial_percentage().unwrap_or(100.0)),
                    endpoints: g
                        .endpoint_descriptions()
                        .iter()
                        .map(|e| Endpoint {
                            id: e.endpoint_id().unwrap_or_default().to_owned(),
                            weight: e.weight().map_or(128, |w| w.clamp(0, 255) as u8),
                            healthy: e.health_state() == Some(&HealthState::Healthy),
                        })
                        .collect(),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(out)
    }

    /// Runs `updates` in order, one group at a time. On a failure, the
    /// error names the step; the caller knows which steps ran before it.
    pub async fn apply(&self, current: &[Group], updates: &[Update]) -> Result<(), RoutingError> {
        for u in updates {
            let Some(group) = current.iter().find(|g| g.region == u.region) else {
                return Err(RoutingError::UnknownRegion(u.region.clone()));
            };
            let configs = group
                .endpoints
                .iter()
                .map(|e| {
                    EndpointConfiguration::builder()
                        .endpoint_id(&e.id)
                        .weight(i32::from(u.weights.get(&e.id).copied().unwrap_or(e.weight)))
                        .build()
                })
                .collect();
            self.client
                .update_endpoint_group()
                .endpoint_group_arn(&group.arn)
                .traffic_dial_percentage(u.dial as f32)
                .set_endpoint_configurations(Some(configs))
                .send()
                .await
                .map_err(|e| {
                    api(
                        format!("setting {} ({}) to dial {}", u.region, group.arn, u.dial),
                        describe(&e),
                    )
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(region: &str, dial: f64, weights: &[(&str, u8)]) -> Group {
        Group {
            arn: format!(
                "arn:aws:globalaccelerator::1:accelerator/a/listener/l/endpoint-group/{region}"
            ),
            region: region.into(),
            dial,
            endpoints: weights
                .iter()
                .map(|(id, w)| Endpoint {
                    id: (*id).into(),
                    weight: *w,
                    healthy: true,
                })
                .collect(),
        }
    }

    fn dials(spec: &[(&str, f64)]) -> BTreeMap<String, f64> {
        spec.iter().map(|(r, d)| (r.to_string(), *d)).collect()
    }

    #[test]
    fn raises_go_before_falls_and_unchanged_groups_are_left_alone() {
        let current = [
            group("eu-west-1", 100.0, &[("alb-eu", 128)]),
            group("us-east-1", 40.0, &[("alb-us", 128)]),
            group("ap-south-1", 50.0, &[("alb-ap", 128)]),
        ];
        let want = dials(&[
            ("eu-west-1", 20.0),
            ("us-east-1", 100.0),
            ("ap-south-1", 50.0),
        ]);
        let updates = plan_updates(&current, &want, &BTreeMap::new()).unwrap();
        let order: Vec<(&str, f64)> = updates
            .iter()
            .map(|u| (u.region.as_str(), u.dial))
            .collect();
        assert_eq!(order, [("us-east-1", 100.0), ("eu-west-1", 20.0)]);
    }

    #[test]
    fn weights_change_with_the_dial_they_belong_to() {
        let current = [group("eu-west-1", 100.0, &[("a", 128), ("b", 128)])];
        let mut weights = BTreeMap::new();
        weights.insert("eu-west-1".to_string(), [("b".to_string(), 0u8)].into());
        let updates = plan_updates(&current, &BTreeMap::new(), &weights).unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(
            updates[0].weights,
            [("a".into(), 128), ("b".into(), 0)].into()
        );
        weights.insert("eu-west-1".to_string(), [("c".to_string(), 1u8)].into());
        assert!(plan_updates(&current, &BTreeMap::new(), &weights).is_err());
    }

    #[test]
    fn never_every_group_closed_nor_a_dial_out_of_range() {
        let current = [
            group("eu-west-1", 100.0, &[("a", 1)]),
            group("us-east-1", 0.0, &[("b", 1)]),
        ];
        let err = plan_updates(&current, &dials(&[("eu-west-1", 0.0)]), &BTreeMap::new());
        assert!(matches!(err, Err(RoutingError::NoTraffic(_))), "{err:?}");
        let err = plan_updates(&current, &dials(&[("eu-west-1", 101.0)]), &BTreeMap::new());
        assert!(matches!(err, Err(RoutingError::BadDial { .. })), "{err:?}");
        let err = plan_updates(&current, &dials(&[("mars-1", 1.0)]), &BTreeMap::new());
        assert!(
            matches!(err, Err(RoutingError::UnknownRegion(_))),
            "{err:?}"
        );
    }
}
