//! The change plan: the exact changes `geolat apply` will make, against
//! the state they were computed from (and its digest, so an apply refuses
//! when the live state moved since), with how much traffic they move and
//! the evidence behind them. Pure: states in, plan out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::aws::layout::{Change, Layout, Rule};
use crate::routing::RoutingState;

pub const FORMAT: &str = "geolat-change-plan/1";

/// What the plan was made from, when it came from measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// End of the measured range the advice used.
    pub measured_until: DateTime<Utc>,
    /// Windows merged into the analysis behind the advice.
    pub windows: u64,
    /// Cells (geo x region) the advice relied on that had too few samples.
    pub thin_cells: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePlan {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Why: the advice file, `drain REGION`, `rollback ID`.
    pub source: String,
    /// sha256 of `before`: apply refuses if the live state differs.
    pub state_digest: String,
    pub before: RoutingState,
    pub after: RoutingState,
    /// Route 53 changes, one atomic batch.
    pub route53: Vec<RecordChange>,
    /// In traffic policy mode: the document of the policy version the
    /// instance will point at (instead of record changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<serde_json::Value>,
    /// Accelerator steps, in the order they run.
    pub accelerator: Vec<DialChange>,
    /// Share of traffic the plan sends to another region (0..=1).
    pub moved_share: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialChange {
    pub region: String,
    pub before: f64,
    pub after: f64,
}

/// The digest of a routing state: sha256 of its JSON (maps are sorted, so
/// equal states have equal digests).
pub fn digest(state: &RoutingState) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    format!("sha256:{:x}", Sha256::digest(&json))
}

/// Everything a plan needs but the states.
pub struct Context<'a> {
    pub created_by: String,
    pub source: String,
    pub layout: Option<&'a Layout>,
    /// The name is routed by a traffic policy instance, not records.
    pub traffic_policy: bool,
    pub evidence: Option<Evidence>,
    pub now: DateTime<Utc>,
}

/// Plans `before` -> `after`. Route 53 changes come from the layout's
/// records of both states; accelerator steps in the order
/// [`crate::aws::accelerator::plan_updates`] runs them (rises first).
pub fn plan(
    before: &RoutingState,
    after: &RoutingState,
    ctx: Context<'_>,
) -> Result<ChangePlan, crate::routing::RoutingError> {
    let after = &after.normalized();
    if ctx.layout.is_some() && after.dns.is_empty() && !before.dns.is_empty() {
        // Deleting every record geolat owns would leave users to whatever
        // else the zone answers: never done by a plan.
        return Err(crate::routing::RoutingError::NoDefault);
    }
    let (route53, traffic_policy) = match ctx.layout {
        Some(l) if !after.dns.is_empty() && after.dns != before.dns => {
            let want = l.records(&after.dns)?;
            if ctx.traffic_policy {
                let doc =
                    crate::aws::policy_doc::document(&after.dns, l.targets()).map_err(|e| {
                        crate::routing::RoutingError::Api {
                            action: "writing the traffic policy document".into(),
                            message: e.to_string(),
                        }
                    })?;
                (Vec::new(), Some(doc))
            } else {
                let now = l.records(&before.dns).unwrap_or_default();
                (
                    Layout::diff(&now, &want)
                        .iter()
                        .map(record_change)
                        .collect(),
                    None,
                )
            }
        }
        _ => (Vec::new(), None),
    };
    let mut accelerator: Vec<DialChange> = after
        .accelerator
        .iter()
        .filter_map(|(region, &to)| {
            let from = before.accelerator.get(region).copied().unwrap_or(100.0);
            ((to - from).abs() > 1e-9).then(|| DialChange {
                region: region.clone(),
                before: from,
                after: to,
            })
        })
        .collect();
    accelerator.sort_by(|a, b| (b.after - b.before).total_cmp(&(a.after - a.before)));
    Ok(ChangePlan {
        format: FORMAT.into(),
        created_at: ctx.now,
        created_by: ctx.created_by,
        source: ctx.source,
        state_digest: digest(before),
        before: before.clone(),
        after: after.clone(),
        route53,
        traffic_policy,
        accelerator,
        moved_share: moved_share(before, after),
        evidence: ctx.evidence,
    })
}

fn record_change(c: &Change) -> RecordChange {
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

/// The share of traffic that changes region: per DNS location, half the
/// L1 distance between its before and after fractions (a location moved
/// wholly counts 1), averaged over locations; per accelerator region, the
/// dial's change over 100. The larger of the two. Locations are weighted
/// equally: the control plane does not know their demand, and the advice's
/// guardrail on change per step already bounds it by demand.
pub fn moved_share(before: &RoutingState, after: &RoutingState) -> f64 {
    let fractions = |w: Option<&BTreeMap<String, u8>>| -> BTreeMap<String, f64> {
        let Some(w) = w else {
            return BTreeMap::new();
        };
        let total: f64 = w.values().map(|v| f64::from(*v)).sum();
        w.iter()
            .filter(|(_, v)| total > 0.0 && **v > 0)
            .map(|(r, v)| (r.clone(), f64::from(*v) / total))
            .collect()
    };
    let locations: BTreeSet<&String> = before.dns.keys().chain(after.dns.keys()).collect();
    let dns = if locations.is_empty() || before.dns.is_empty() || after.dns.is_empty() {
        0.0
    } else {
        let moved: f64 = locations
            .iter()
            .map(|l| {
                let (a, b) = (fractions(before.dns.get(*l)), fractions(after.dns.get(*l)));
                let regions: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                let l1: f64 = regions
                    .iter()
                    .map(|r| (a.get(*r).unwrap_or(&0.0) - b.get(*r).unwrap_or(&0.0)).abs())
                    .sum();
                // A location new on either side moves nothing it knew of.
                if a.is_empty() || b.is_empty() {
                    0.0
                } else {
                    l1 / 2.0
                }
            })
            .sum();
        moved / locations.len() as f64
    };
    let dials = after
        .accelerator
        .iter()
        .map(|(r, to)| (to - before.accelerator.get(r).copied().unwrap_or(100.0)).abs() / 100.0)
        .fold(0.0, f64::max);
    dns.max(dials)
}

/// The plan as a person reads it before confirming.
pub fn render(p: &ChangePlan, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "plan from {} by {} at {} (state {})",
        p.source,
        p.created_by,
        p.created_at.to_rfc3339(),
        &p.state_digest
    )?;
    if p.route53.is_empty() && p.traffic_policy.is_none() && p.accelerator.is_empty() {
        return writeln!(out, "no changes: AWS already routes as asked");
    }
    if let Some(doc) = &p.traffic_policy {
        writeln!(
            out,
            "Route 53 traffic policy: a new version, the instance pointed at it:"
        )?;
        for (location, weights) in &p.after.dns {
            let w: Vec<String> = weights.iter().map(|(r, w)| format!("{r} {w}")).collect();
            writeln!(out, "  {location:<24} {}", w.join(", "))?;
        }
        let rules = doc
            .get("Rules")
            .and_then(|r| r.as_object())
            .map_or(0, |r| r.len());
        writeln!(out, "  ({rules} rules in the document)")?;
    }
    if !p.route53.is_empty() {
        writeln!(out, "Route 53, one atomic change batch:")?;
        for c in &p.route53 {
            writeln!(
                out,
                "  {:<6} {} [{}] {} -> {}",
                c.action, c.name, c.set_identifier, c.rule, c.value
            )?;
        }
    }
    if !p.accelerator.is_empty() {
        writeln!(out, "Global Accelerator, in this order:")?;
        for d in &p.accelerator {
            writeln!(
                out,
                "  {:<16} dial {:>5.1}% -> {:>5.1}%",
                d.region, d.before, d.after
            )?;
        }
    }
    writeln!(out, "moves {:.1}% of traffic", p.moved_share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dns: &[(&str, &[(&str, u8)])], dials: &[(&str, f64)]) -> RoutingState {
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

    #[test]
    fn moved_share_counts_traffic_that_changes_region() {
        let a = state(
            &[("default", &[("r1", 1)]), ("country:DE", &[("r1", 1)])],
            &[("r1", 100.0)],
        );
        // DE wholly to r2: one of two locations moves.
        let b = state(
            &[("default", &[("r1", 1)]), ("country:DE", &[("r2", 9)])],
            &[("r1", 100.0)],
        );
        assert!((moved_share(&a, &b) - 0.5).abs() < 1e-9);
        // Half of DE, and a dial from 100 to 70: the larger, 0.3.
        let c = state(
            &[
                ("default", &[("r1", 1)]),
                ("country:DE", &[("r1", 1), ("r2", 1)]),
            ],
            &[("r1", 70.0)],
        );
        assert!((moved_share(&a, &c) - 0.3).abs() < 1e-9);
        assert_eq!(moved_share(&a, &a), 0.0);
    }

    #[test]
    fn digests_change_with_the_state_only() {
        let a = state(&[("default", &[("r1", 1)])], &[]);
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(
            digest(&a),
            digest(&state(&[("default", &[("r1", 2)])], &[]))
        );
    }

    #[test]
    fn dial_steps_rise_first() {
        let a = state(&[], &[("r1", 100.0), ("r2", 0.0)]);
        let b = state(&[], &[("r1", 0.0), ("r2", 100.0)]);
        let p = plan(
            &a,
            &b,
            Context {
                created_by: "t".into(),
                source: "test".into(),
                layout: None,
                traffic_policy: false,
                evidence: None,
                now: Utc::now(),
            },
        )
        .unwrap();
        let order: Vec<&str> = p.accelerator.iter().map(|d| d.region.as_str()).collect();
        assert_eq!(order, ["r2", "r1"]);
        assert_eq!(p.state_digest, digest(&a));
    }
}
