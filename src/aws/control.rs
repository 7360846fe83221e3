//! Route 53 and Global Accelerator behind [`RoutingControl`], the interface
//! the lab implements too: `read` builds today's routing from AWS, `apply`
//! makes AWS match a desired routing, and undoes what it did if a step
//! fails halfway.

use std::collections::BTreeMap;

use super::accelerator::{Accelerator, Group, Update, plan_updates};
use super::layout::Layout;
use super::route53::Route53;
use crate::routing::{RoutingControl, RoutingError, RoutingState};

pub struct AwsControl {
    pub route53: Option<Route53>,
    pub accelerator: Option<Accelerator>,
}

/// What reading AWS found: the routing and the raw groups it came from.
struct Current {
    records: Vec<super::layout::Record>,
    groups: Vec<Group>,
}

impl AwsControl {
    async fn current(&self) -> Result<Current, RoutingError> {
        let records = match &self.route53 {
            Some(r) => r.owned_records().await?,
            None => Vec::new(),
        };
        let groups = match &self.accelerator {
            Some(a) => a.groups().await?,
            None => Vec::new(),
        };
        Ok(Current { records, groups })
    }

    /// The accelerator's endpoint groups (with health) as read now.
    pub async fn groups(&self) -> Result<Vec<Group>, RoutingError> {
        match &self.accelerator {
            Some(a) => a.groups().await,
            None => Ok(Vec::new()),
        }
    }
}

fn state_of(layout: Option<&Layout>, c: &Current) -> Result<RoutingState, RoutingError> {
    Ok(RoutingState {
        dns: match layout {
            Some(l) => l.weights(&c.records)?,
            None => BTreeMap::new(),
        },
        accelerator: c
            .groups
            .iter()
            .map(|g| (g.region.clone(), g.dial))
            .collect(),
    })
}

/// The update that puts a group back as it was.
fn undo(g: &Group) -> Update {
    Update {
        region: g.region.clone(),
        dial: g.dial,
        weights: g
            .endpoints
            .iter()
            .map(|e| (e.id.clone(), e.weight))
            .collect(),
    }
}

#[async_trait::async_trait]
impl RoutingControl for AwsControl {
    async fn read(&self) -> Result<RoutingState, RoutingError> {
        let c = self.current().await?;
        state_of(self.route53.as_ref().map(|r| &r.layout), &c)
    }

    async fn apply(&self, desired: &RoutingState) -> Result<(), RoutingError> {
        let before = self.current().await?;
        // Everything is planned (and refused) before anything is changed.
        let dns = match (&self.route53, desired.dns.is_empty()) {
            (Some(r), false) => {
                let want = r.layout.records(&desired.dns)?;
                Some((r, super::layout::Layout::diff(&before.records, &want), want))
            }
            (None, false) => {
                return Err(RoutingError::Api {
                    action: "applying DNS weights".into(),
                    message: "no route53 section in the AWS routing config".into(),
                });
            }
            _ => None,
        };
        let updates = match (&self.accelerator, desired.accelerator.is_empty()) {
            (Some(_), false) => {
                plan_updates(&before.groups, &desired.accelerator, &BTreeMap::new())?
            }
            (None, false) => {
                return Err(RoutingError::Api {
                    action: "applying traffic dials".into(),
                    message: "no accelerator section in the AWS routing config".into(),
                });
            }
            _ => Vec::new(),
        };
        if let Some((r, changes, _)) = &dns {
            r.apply(changes, "geolat apply").await?;
        }
        let Some(accelerator) = &self.accelerator else {
            return Ok(());
        };
        for (done, u) in updates.iter().enumerate() {
            if let Err(failed) = accelerator
                .apply(&before.groups, std::slice::from_ref(u))
                .await
            {
                return Err(self
                    .roll_back(
                        accelerator,
                        &before,
                        &updates[..done],
                        dns.as_ref().map(|d| (d.0, &d.2)),
                        failed,
                    )
                    .await);
            }
        }
        Ok(())
    }
}

impl AwsControl {
    /// Undoes the accelerator steps already taken (newest first) and the
    /// Route 53 batch, and says exactly where AWS is left.
    async fn roll_back(
        &self,
        accelerator: &Accelerator,
        before: &Current,
        done: &[Update],
        dns: Option<(&Route53, &Vec<super::layout::Record>)>,
        failed: RoutingError,
    ) -> RoutingError {
        let mut undone = Vec::new();
        for u in done.iter().rev() {
            let Some(g) = before.groups.iter().find(|g| g.region == u.region) else {
                continue;
            };
            if let Err(e) = accelerator.apply(&before.groups, &[undo(g)]).await {
                return RoutingError::Api {
                    action: "apply, then its rollback".into(),
                    message: format!(
                        "{failed}; rolling back {} also failed ({e}): AWS is left with {} at dial {} and {} restored; Route 53 has the new records",
                        u.region,
                        u.region,
                        u.dial,
                        if undone.is_empty() {
                            "no group".to_string()
                        } else {
                            undone.join(", ")
                        }
                    ),
                };
            }
            undone.push(u.region.clone());
        }
        if let Some((r, applied)) = dns {
            let back = Layout::diff(applied, &before.records);
            if let Err(e) = r.apply(&back, "geolat rollback").await {
                return RoutingError::Api {
                    action: "apply, then its rollback".into(),
                    message: format!(
                        "{failed}; accelerator groups restored, but restoring the Route 53 records failed ({e}): Route 53 has the new records"
                    ),
                };
            }
        }
        RoutingError::Api {
            action: "apply".into(),
            message: format!(
                "{failed}; rolled back {} accelerator step(s) and the Route 53 changes: AWS is as it was before",
                undone.len()
            ),
        }
    }
}
