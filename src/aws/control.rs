//! Route 53 and Global Accelerator behind [`RoutingControl`], the interface
//! the lab implements too: `read` builds today's routing from AWS, `apply`
//! makes AWS match a desired routing, and undoes what it did if a step
//! fails halfway.

use std::collections::BTreeMap;

use super::Route53Mode;
use super::accelerator::{Accelerator, Group, Update, plan_updates};
use super::conflicts::{self, Conflict};
use aws_sdk_route53::types::ResourceRecordSet;

use super::layout::{Layout, Record};
use super::policy_doc;
use super::route53::Route53;
use super::traffic_policy::{self, Done, Instance};
use crate::routing::{
    Binding, Changes, DialChange, Live, Mechanisms, RecordChange, RoutingControl, RoutingError,
    RoutingState,
};

pub struct AwsControl {
    pub route53: Option<Route53>,
    pub accelerator: Option<Accelerator>,
    /// Names the principal in audit records; None: not asked.
    pub sts: Option<aws_sdk_sts::Client>,
}

/// What reading AWS found: the routing and the raw parts it came from.
struct Current {
    /// Every record set in the zone (records mode; empty otherwise).
    zone: Vec<ResourceRecordSet>,
    records: Vec<Record>,
    policy: Option<Instance>,
    groups: Vec<Group>,
}

/// Everything `geolat routing show` prints, from one read.
pub struct Inspection {
    pub state: RoutingState,
    pub groups: Vec<Group>,
    pub policy: Option<Instance>,
    /// Every record set in the zone.
    pub zone: Vec<ResourceRecordSet>,
}

/// What the DNS step of an apply did, for its undo.
enum DnsDone {
    Records { applied: Vec<Record> },
    Policy(Done),
}

impl AwsControl {
    async fn current(&self) -> Result<Current, RoutingError> {
        let (zone, records) = match &self.route53 {
            Some(r) if r.mode == Route53Mode::Records => {
                let zone = r.all_records().await?;
                let records = r.owned(&zone)?;
                (zone, records)
            }
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Current {
            zone,
            records,
            policy: self.policy().await?,
            groups: self.groups().await?,
        })
    }

    /// The routing and everything it was read from, each listed once.
    pub async fn inspect(&self) -> Result<Inspection, RoutingError> {
        let mut c = self.current().await?;
        let state = state_of(self.route53.as_ref(), &c)?.normalized();
        if let Some(r) = &self.route53
            && r.mode == Route53Mode::TrafficPolicy
        {
            c.zone = r.all_records().await?;
        }
        Ok(Inspection {
            state,
            groups: c.groups,
            policy: c.policy,
            zone: c.zone,
        })
    }

    /// The accelerator's endpoint groups (with health) as read now.
    pub async fn groups(&self) -> Result<Vec<Group>, RoutingError> {
        match &self.accelerator {
            Some(a) => a.groups().await,
            None => Ok(Vec::new()),
        }
    }

    /// Whether each region can take traffic: at least one of its
    /// accelerator endpoints healthy with a non-zero weight, and its
    /// Route 53 health check (when configured) passing on most checkers.
    /// Regions neither reports on are left out.
    pub async fn health(&self) -> Result<BTreeMap<String, bool>, RoutingError> {
        let mut health: BTreeMap<String, bool> = self
            .groups()
            .await?
            .iter()
            .map(|g| {
                let up = g.endpoints.iter().any(|e| e.healthy && e.weight > 0);
                (g.region.clone(), up)
            })
            .collect();
        if let Some(r) = &self.route53 {
            for (region, id) in &r.health_checks {
                let passing = match super::inventory::status(r.client(), id).await {
                    Some((ok, all)) => all > 0 && ok * 2 > all,
                    None => {
                        return Err(RoutingError::Api {
                            action: format!("reading health check {id} of {region}"),
                            message: "Route 53 gave no status".into(),
                        });
                    }
                };
                let up = health.entry(region.clone()).or_insert(true);
                *up &= passing;
            }
        }
        Ok(health)
    }

    /// Records at the names geolat writes that it does not own and
    /// Route 53 would not let stand beside its own
    /// ([`conflicts::name_conflicts`]); in traffic policy mode, every
    /// record at the service name that is not the instance's. Empty
    /// without a route53 section.
    pub async fn conflicts(&self) -> Result<Vec<Conflict>, RoutingError> {
        let Some(r) = &self.route53 else {
            return Ok(Vec::new());
        };
        let zone = r.all_records().await?;
        Ok(match r.mode {
            Route53Mode::Records => conflicts::name_conflicts(&zone, &r.layout),
            Route53Mode::TrafficPolicy => {
                let instance = self.policy().await?;
                conflicts::policy_name_conflicts(
                    &zone,
                    r.layout.name(),
                    instance.as_ref().map(|i| i.id.as_str()),
                )
            }
        })
    }

    /// [`AwsControl::conflicts`] as the one line that refuses a plan
    /// ([`conflicts::refusal`]); None when there are none.
    pub async fn conflict_refusal(&self) -> Result<Option<String>, RoutingError> {
        let found = self.conflicts().await?;
        Ok(self
            .route53
            .as_ref()
            .and_then(|r| conflicts::refusal(r.layout.name(), &found)))
    }

    /// The traffic policy instance routing the name, in traffic policy mode.
    pub async fn policy(&self) -> Result<Option<Instance>, RoutingError> {
        match &self.route53 {
            Some(r) if r.mode == Route53Mode::TrafficPolicy => {
                let l = &r.layout;
                traffic_policy::instance(r.client(), r.zone(), l.name(), l.targets()).await
            }
            _ => Ok(None),
        }
    }
}

fn state_of(route53: Option<&Route53>, c: &Current) -> Result<RoutingState, RoutingError> {
    let dns = match (route53, &c.policy) {
        (Some(r), _) if r.mode == Route53Mode::Records => r.layout.weights(&c.records)?,
        (Some(_), Some(i)) => i.weights.clone(),
        _ => BTreeMap::new(),
    };
    Ok(RoutingState {
        dns,
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

/// What applying a desired routing takes, computed once from one read:
/// shown by a plan as [`Changes`], run by `apply` as these steps.
struct Steps {
    before: Current,
    live: Live,
    /// The records (or policy document) to write, when DNS changes.
    dns: Option<DnsStep>,
    updates: Vec<Update>,
    changes: Changes,
}

enum DnsStep {
    Records {
        diff: Vec<super::layout::Change>,
        want: Vec<Record>,
    },
    Policy(serde_json::Value),
}

impl AwsControl {
    fn binding(&self, c: &Current) -> Binding {
        Binding {
            control: "aws".into(),
            hosted_zone_id: self.route53.as_ref().map(|r| r.zone().to_owned()),
            service_name: self.route53.as_ref().map(|r| r.layout.name().to_owned()),
            accelerator: self
                .accelerator
                .as_ref()
                .map(|a| a.listener_arn().to_owned()),
            traffic_policy_instance: c.policy.as_ref().map(|p| p.id.clone()),
        }
    }

    fn live_of(&self, c: &Current) -> Result<Live, RoutingError> {
        let state = state_of(self.route53.as_ref(), c)?.normalized();
        Ok(Live {
            state,
            binding: self.binding(c),
            detail: detail(c),
        })
    }

    /// Everything an apply of `desired` would do, planned (and refused)
    /// before anything is changed.
    async fn steps(&self, desired: &RoutingState) -> Result<Steps, RoutingError> {
        let desired = &desired.normalized();
        let before = self.current().await?;
        let live = self.live_of(&before)?;
        let mut changes = Changes::default();
        let dns = match (&self.route53, desired.dns.is_empty()) {
            (Some(r), false) => {
                // The records express the same rules a policy must keep
                // (a default, no location without traffic, known regions).
                let want = r.layout.records(&desired.dns)?;
                if live.state.dns == desired.dns {
                    None
                } else {
                    match r.mode {
                        Route53Mode::Records => {
                            let diff = Layout::diff(&before.records, &want);
                            changes.route53 = diff.iter().map(record_change).collect();
                            Some(DnsStep::Records { diff, want })
                        }
                        Route53Mode::TrafficPolicy => {
                            let doc = policy_doc::document(&desired.dns, r.layout.targets())
                                .map_err(|e| RoutingError::Api {
                                    action: "writing the traffic policy document".into(),
                                    message: e.to_string(),
                                })?;
                            changes.traffic_policy = Some(doc.clone());
                            Some(DnsStep::Policy(doc))
                        }
                    }
                }
            }
            (None, false) => {
                return Err(RoutingError::Api {
                    action: "applying DNS weights".into(),
                    message: "no route53 section in the AWS routing config".into(),
                });
            }
            // Deleting every record geolat owns would leave users to
            // whatever else the zone answers: never done.
            (Some(_), true) if !live.state.dns.is_empty() => return Err(RoutingError::NoDefault),
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
        changes.accelerator = updates
            .iter()
            .map(|u| DialChange {
                region: u.region.clone(),
                before: before
                    .groups
                    .iter()
                    .find(|g| g.region == u.region)
                    .map_or(100.0, |g| g.dial),
                after: u.dial,
            })
            .collect();
        Ok(Steps {
            before,
            live,
            dns,
            updates,
            changes,
        })
    }

    /// The AWS principal acting (STS GetCallerIdentity), when it answers.
    pub async fn caller(&self) -> Option<String> {
        super::identity::caller(self.sts.as_ref()?).await
    }
}

/// sha256 over what an apply rewrites that the routing state does not
/// say: geolat's records as they are (TTL, target), the policy instance
/// and version, and every endpoint's weight.
fn detail(c: &Current) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for r in &c.records {
        h.update(format!("{r:?}\n"));
    }
    if let Some(p) = &c.policy {
        h.update(format!("policy {} {} {}\n", p.id, p.policy_id, p.version));
    }
    for g in &c.groups {
        h.update(format!("group {} {}", g.region, g.arn));
        for e in &g.endpoints {
            h.update(format!(" {}={}", e.id, e.weight));
        }
        h.update("\n");
    }
    format!("sha256:{:x}", h.finalize())
}

fn record_change(c: &super::layout::Change) -> RecordChange {
    use super::layout::{Change, Rule};
    let (action, r) = match c {
        Change::Upsert(r) => ("UPSERT", r),
        Change::Delete(r) => ("DELETE", r),
    };
    RecordChange {
        action: action.into(),
        name: r.name.clone(),
        set_identifier: r.set_id.clone(),
        rule: match &r.rule {
            Rule::Geo(l) => format!("geolocation {l}"),
            Rule::Weighted(w) => format!("weight {w}"),
        },
        value: r.value.clone(),
    }
}

#[async_trait::async_trait]
impl RoutingControl for AwsControl {
    async fn read(&self) -> Result<RoutingState, RoutingError> {
        let c = self.current().await?;
        Ok(state_of(self.route53.as_ref(), &c)?.normalized())
    }

    async fn live(&self) -> Result<Live, RoutingError> {
        let c = self.current().await?;
        self.live_of(&c)
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms {
            dns: self.route53.is_some(),
            accelerator: self.accelerator.is_some(),
        }
    }

    async fn changes(&self, desired: &RoutingState) -> Result<(Live, Changes), RoutingError> {
        let s = self.steps(desired).await?;
        Ok((s.live, s.changes))
    }

    async fn health(&self) -> Result<BTreeMap<String, bool>, RoutingError> {
        AwsControl::health(self).await
    }

    async fn principal(&self) -> Option<String> {
        self.caller().await
    }

    async fn apply(&self, desired: &RoutingState) -> Result<(), RoutingError> {
        let Steps {
            before,
            dns: dns_step,
            updates,
            ..
        } = self.steps(desired).await?;
        let mut dns_done = None;
        if let (Some(r), Some(step)) = (&self.route53, dns_step) {
            dns_done = Some(match step {
                DnsStep::Records { diff, want } => {
                    r.apply(&diff, "geolat apply").await?;
                    DnsDone::Records { applied: want }
                }
                DnsStep::Policy(doc) => {
                    let l = &r.layout;
                    DnsDone::Policy(
                        traffic_policy::apply(
                            r.client(),
                            r.zone(),
                            l.name(),
                            l.ttl(),
                            before.policy.as_ref(),
                            &doc,
                        )
                        .await?,
                    )
                }
            });
        }
        let Some(accelerator) = &self.accelerator else {
            return Ok(());
        };
        for (done, u) in updates.iter().enumerate() {
            if let Err(failed) = accelerator
                .apply(&before.groups, std::slice::from_ref(u))
                .await
            {
                let dns = self.route53.as_ref().zip(dns_done.as_ref());
                return Err(self
                    .roll_back(accelerator, &before, &updates[..done], dns, failed)
                    .await);
            }
        }
        Ok(())
    }
}

impl AwsControl {
    /// Undoes the accelerator steps already taken (newest first) and the
    /// Route 53 change, and says exactly where AWS is left.
    async fn roll_back(
        &self,
        accelerator: &Accelerator,
        before: &Current,
        done: &[Update],
        dns: Option<(&Route53, &DnsDone)>,
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
                        "{failed}; rolling back {} also failed ({e}): AWS is left with {} at dial {} and {} restored; Route 53 has the new routing",
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
        if let Some((r, done)) = dns {
            let restored = match done {
                DnsDone::Records { applied } => {
                    r.apply(&Layout::diff(applied, &before.records), "geolat rollback")
                        .await
                }
                DnsDone::Policy(d) => traffic_policy::undo(r.client(), d, r.layout.ttl()).await,
            };
            if let Err(e) = restored {
                return RoutingError::Api {
                    action: "apply, then its rollback".into(),
                    message: format!(
                        "{failed}; accelerator groups restored, but restoring Route 53 failed ({e}): Route 53 has the new routing"
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
