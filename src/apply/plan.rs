//! The change plan: the exact changes `geolat apply` will make, against
//! the state they were computed from, where that state lives, how much
//! traffic they move and the evidence behind them.
//!
//! One source: the control plane computes the changes from the live state
//! and the desired `after` ([`crate::routing::RoutingControl::changes`]);
//! the plan records them and everything an apply needs to re-check them.
//! At apply, [`check`] refuses a plan whose parts disagree:
//!
//! ```text
//!   plan file ──► plan_digest == sha256(the plan's own content)?   (an edit)
//!             ──► binding == where the config points?              (zone, name, accelerator, instance)
//!             ──► state_digest == live's, before == live's state?  (AWS moved)
//!             ──► route53/traffic_policy/accelerator == what the control
//!                 computes for `after` from the live state now?    (what is shown is what runs)
//!             ──► moved_share == recomputed by demand?
//! ```
//!
//! The digest over the plan's content catches edits and corruption; it is
//! not a signature (anyone who edits a plan can recompute it), which is
//! why every shown part is also recomputed from `after` and the live state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::routing::{Binding, Changes, Live, RoutingState};
pub use crate::routing::{DialChange, RecordChange};

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

/// Why a plan was made. Written as one string (`advice FILE`,
/// `drain REGION`, `restore REGION`, `rollback ID`), as in every plan and
/// audit record so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Advice(String),
    Drain(String),
    Restore(String),
    Rollback(String),
    /// A source this geolat does not know (a newer one wrote it).
    Other(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Advice(file) => write!(f, "advice {file}"),
            Source::Drain(region) => write!(f, "drain {region}"),
            Source::Restore(region) => write!(f, "restore {region}"),
            Source::Rollback(id) => write!(f, "rollback {id}"),
            Source::Other(text) => f.write_str(text),
        }
    }
}

impl From<&str> for Source {
    fn from(text: &str) -> Source {
        match text.split_once(' ') {
            Some(("advice", file)) => Source::Advice(file.to_owned()),
            Some(("drain", region)) => Source::Drain(region.to_owned()),
            Some(("restore", region)) => Source::Restore(region.to_owned()),
            Some(("rollback", id)) => Source::Rollback(id.to_owned()),
            _ => Source::Other(text.to_owned()),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        Ok(Source::from(String::deserialize(d)?.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePlan {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Why: the advice file, `drain REGION`, `rollback ID`.
    pub source: Source,
    /// Where the plan applies: zone, name, accelerator, policy instance.
    #[serde(default)]
    pub binding: Binding,
    /// sha256 of the live state (`before`, where it lives, and the details
    /// an apply rewrites): apply refuses if the live state's differs.
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
    /// Share of traffic (by demand) the plan sends to another region
    /// (0..=1); recomputed and compared at apply.
    pub moved_share: f64,
    /// Demand (rps) behind each DNS location, from the advice: what
    /// `moved_share` weighs locations by. Empty: locations weigh equally.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub demand: BTreeMap<String, f64>,
    /// Parts of the advice left out because the config does not have the
    /// mechanism (e.g. dials without an accelerator section).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// sha256 of this plan's own content (with this field empty).
    #[serde(default)]
    pub plan_digest: String,
}

impl ChangePlan {
    pub fn changes(&self) -> Changes {
        Changes {
            route53: self.route53.clone(),
            traffic_policy: self.traffic_policy.clone(),
            accelerator: self.accelerator.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes().is_empty()
    }
}

/// The digest of a live routing: its state, where it lives and the details
/// an apply rewrites (maps are sorted, so equal states have equal digests).
pub fn state_digest(live: &Live) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&live.state).unwrap_or_default());
    h.update(b"\n");
    h.update(serde_json::to_vec(&live.binding).unwrap_or_default());
    h.update(b"\n");
    h.update(live.detail.as_bytes());
    format!("sha256:{:x}", h.finalize())
}

/// sha256 of a plan's content, `plan_digest` left out.
pub fn content_digest(p: &ChangePlan) -> String {
    let bare = ChangePlan {
        plan_digest: String::new(),
        ..p.clone()
    };
    let json = serde_json::to_vec(&bare).unwrap_or_default();
    format!("sha256:{:x}", Sha256::digest(&json))
}

/// Everything a plan needs but the live state and its changes.
pub struct Context {
    pub created_by: String,
    pub source: Source,
    pub evidence: Option<Evidence>,
    pub demand: BTreeMap<String, f64>,
    pub left_out: Vec<String>,
    pub now: DateTime<Utc>,
}

/// The plan taking `live` to `after` by `changes` (which the control plane
/// computed from the two). Pure.
pub fn make(live: &Live, after: &RoutingState, changes: Changes, ctx: Context) -> ChangePlan {
    let mut p = ChangePlan {
        format: FORMAT.into(),
        created_at: ctx.now,
        created_by: ctx.created_by,
        source: ctx.source,
        binding: live.binding.clone(),
        state_digest: state_digest(live),
        before: live.state.clone(),
        after: after.clone(),
        route53: changes.route53,
        traffic_policy: changes.traffic_policy,
        accelerator: changes.accelerator,
        moved_share: moved_share(&live.state, after, &ctx.demand),
        demand: ctx.demand,
        left_out: ctx.left_out,
        evidence: ctx.evidence,
        plan_digest: String::new(),
    };
    p.plan_digest = content_digest(&p);
    p
}

/// Every reason `p` must not be applied to `live`, whose changes for
/// `p.after` the control plane computed as `now`. Empty: the plan is
/// exactly what will run.
pub fn check(p: &ChangePlan, live: &Live, now: &Changes) -> Vec<String> {
    let mut why = Vec::new();
    if p.format != FORMAT {
        why.push(format!(
            "unknown format `{}` (this geolat applies {FORMAT})",
            p.format
        ));
        return why;
    }
    if p.plan_digest.is_empty() {
        why.push("it has no plan_digest (made by an older geolat): make a new plan".into());
    } else if content_digest(p) != p.plan_digest {
        why.push(
            "its content does not match its plan_digest: it was edited or damaged after `geolat plan` wrote it; make a new plan"
                .into(),
        );
    }
    if let Some(m) = p.binding.mismatch(&live.binding) {
        why.push(format!("it is bound elsewhere: {m}"));
        return why;
    }
    if state_digest(live) != p.state_digest || live.state != p.before {
        why.push(format!(
            "the live routing changed since it was made (state {} now, plan made against {}; a weight, dial, TTL, target or policy version moved): make a new plan",
            state_digest(live),
            p.state_digest
        ));
        return why;
    }
    let shown = p.changes();
    if &shown != now {
        why.push(format!(
            "its changes are not what its `after` takes: it shows {}, applying `after` would make {}; make a new plan",
            summary(&shown),
            summary(now)
        ));
    }
    let share = moved_share(&live.state, &p.after, &p.demand);
    if (share - p.moved_share).abs() > 1e-6 {
        why.push(format!(
            "it says it moves {:.1}% of traffic, its content moves {:.1}%",
            p.moved_share * 100.0,
            share * 100.0
        ));
    }
    why
}

fn summary(c: &Changes) -> String {
    let mut parts = Vec::new();
    if !c.route53.is_empty() {
        let first = &c.route53[0];
        parts.push(format!(
            "{} Route 53 change(s) (first: {} {} [{}] {})",
            c.route53.len(),
            first.action,
            first.name,
            first.set_identifier,
            first.rule
        ));
    }
    if c.traffic_policy.is_some() {
        parts.push("a traffic policy version".into());
    }
    if !c.accelerator.is_empty() {
        let d: Vec<String> = c
            .accelerator
            .iter()
            .map(|d| format!("{} {}->{}", d.region, d.before, d.after))
            .collect();
        parts.push(format!("dials {}", d.join(", ")));
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join(" and ")
    }
}

/// The share of traffic that changes region: per DNS location, half the
/// L1 distance between its before and after fractions (a location moved
/// wholly counts 1), weighted by the location's demand (equally when no
/// demand is known); per accelerator region, the dial's change over 100
/// times the region's share of demand (all of it when demand is unknown).
/// The larger of the two.
pub fn moved_share(
    before: &RoutingState,
    after: &RoutingState,
    demand: &BTreeMap<String, f64>,
) -> f64 {
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
    let weight = |l: &str| {
        if demand.is_empty() {
            1.0
        } else {
            demand.get(l).copied().unwrap_or(0.0).max(0.0)
        }
    };
    let total: f64 = locations.iter().map(|l| weight(l)).sum();
    let dns = if total <= 0.0 || before.dns.is_empty() || after.dns.is_empty() {
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
                    weight(l) * l1 / 2.0
                }
            })
            .sum();
        moved / total
    };
    // A dial keeps its share of the traffic the accelerator brings to its
    // region: estimated by the region's share of demand under DNS (the
    // larger of before and after; the accelerator and DNS both send users
    // to nearby regions), or all of it when demand or DNS is unknown.
    let region_share = |r: &str| -> f64 {
        let total: f64 = demand.values().sum();
        if demand.is_empty() || total <= 0.0 || (before.dns.is_empty() && after.dns.is_empty()) {
            return 1.0;
        }
        let of = |s: &RoutingState| -> f64 {
            s.dns
                .iter()
                .map(|(l, w)| {
                    fractions(Some(w)).get(r).copied().unwrap_or(0.0)
                        * demand.get(l).copied().unwrap_or(0.0)
                })
                .sum::<f64>()
                / total
        };
        of(before).max(of(after))
    };
    let dials = after
        .accelerator
        .iter()
        .map(|(r, to)| {
            (to - before.accelerator.get(r).copied().unwrap_or(100.0)).abs() / 100.0
                * region_share(r)
        })
        .fold(0.0, f64::max);
    dns.max(dials).min(1.0)
}

/// The plan as a person reads it before confirming.
pub fn render(p: &ChangePlan, out: &mut (impl std::io::Write + ?Sized)) -> std::io::Result<()> {
    writeln!(
        out,
        "plan from {} by {} at {} (state {})",
        p.source,
        p.created_by,
        p.created_at.to_rfc3339(),
        &p.state_digest
    )?;
    let b = &p.binding;
    let mut at = Vec::new();
    if let Some(z) = &b.hosted_zone_id {
        at.push(format!("hosted zone {z}"));
    }
    if let Some(n) = &b.service_name {
        at.push(format!("name {n}"));
    }
    if let Some(a) = &b.accelerator {
        at.push(format!("accelerator listener {a}"));
    }
    if let Some(i) = &b.traffic_policy_instance {
        at.push(format!("policy instance {i}"));
    }
    if !at.is_empty() {
        writeln!(out, "for {}", at.join(", "))?;
    }
    for l in &p.left_out {
        writeln!(out, "left out: {l}")?;
    }
    if p.is_empty() {
        return writeln!(out, "no changes: it already routes as asked");
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
        RoutingState::of(dns, dials)
    }

    fn live(state: RoutingState) -> Live {
        Live {
            state,
            binding: Binding {
                control: "aws".into(),
                hosted_zone_id: Some("Z1".into()),
                service_name: Some("api.example.com.".into()),
                ..Binding::default()
            },
            detail: "d".into(),
        }
    }

    fn ctx(demand: &[(&str, f64)]) -> Context {
        Context {
            created_by: "t".into(),
            source: Source::Advice("a.json".into()),
            evidence: None,
            demand: demand.iter().map(|(l, d)| (l.to_string(), *d)).collect(),
            left_out: vec![],
            now: Utc::now(),
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
        let equal = BTreeMap::new();
        assert!((moved_share(&a, &b, &equal) - 0.5).abs() < 1e-9);
        // Half of DE, and a dial from 100 to 70: the larger, 0.3.
        let c = state(
            &[
                ("default", &[("r1", 1)]),
                ("country:DE", &[("r1", 1), ("r2", 1)]),
            ],
            &[("r1", 70.0)],
        );
        assert!((moved_share(&a, &c, &equal) - 0.3).abs() < 1e-9);
        assert_eq!(moved_share(&a, &a, &equal), 0.0);
    }

    /// Regression (issue 9, point 13): a plan moving a location with most
    /// of the demand moves most of the traffic, however few locations it is.
    #[test]
    fn regression_max_share_is_a_share_of_demand() {
        let a = state(
            &[
                ("default", &[("r1", 1)]),
                ("country:US", &[("r1", 1)]),
                ("country:DE", &[("r1", 1)]),
            ],
            &[],
        );
        let b = state(
            &[
                ("default", &[("r1", 1)]),
                ("country:US", &[("r2", 1)]),
                ("country:DE", &[("r1", 1)]),
            ],
            &[],
        );
        let demand: BTreeMap<String, f64> = [
            ("default".to_string(), 10.0),
            ("country:US".to_string(), 57.0),
            ("country:DE".to_string(), 33.0),
        ]
        .into();
        assert!((moved_share(&a, &b, &BTreeMap::new()) - 1.0 / 3.0).abs() < 1e-9);
        assert!((moved_share(&a, &b, &demand) - 0.57).abs() < 1e-9);
    }

    #[test]
    fn digests_change_with_the_state_and_where_it_lives() {
        let a = live(state(&[("default", &[("r1", 1)])], &[]));
        assert_eq!(state_digest(&a), state_digest(&a.clone()));
        let mut other_zone = a.clone();
        other_zone.binding.hosted_zone_id = Some("Z2".into());
        assert_ne!(state_digest(&a), state_digest(&other_zone));
        let mut ttl = a.clone();
        ttl.detail = "e".into();
        assert_ne!(state_digest(&a), state_digest(&ttl));
    }

    fn changes(dials: &[(&str, f64, f64)]) -> Changes {
        Changes {
            accelerator: dials
                .iter()
                .map(|(r, b, a)| DialChange {
                    region: r.to_string(),
                    before: *b,
                    after: *a,
                })
                .collect(),
            ..Changes::default()
        }
    }

    #[test]
    fn a_plan_checks_against_the_state_and_changes_it_was_made_for() {
        let l = live(state(&[("default", &[("r1", 1)])], &[("r1", 100.0)]));
        let after = state(&[("default", &[("r1", 1)])], &[("r1", 80.0)]);
        let c = changes(&[("r1", 100.0, 80.0)]);
        let p = make(&l, &after, c.clone(), ctx(&[]));
        assert!(check(&p, &l, &c).is_empty(), "{:?}", check(&p, &l, &c));
        // Round trip through JSON keeps the digest.
        let back: ChangePlan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert!(check(&back, &l, &c).is_empty());
    }

    /// Regression (issue 9, point 1): an edited `after` with the digest
    /// untouched is refused, and so is one whose digest was recomputed but
    /// whose shown changes are not what `after` takes.
    #[test]
    fn regression_edited_plan_is_refused() {
        let l = live(state(&[("default", &[("r1", 1)])], &[("r1", 100.0)]));
        let after = state(&[("default", &[("r1", 1)])], &[("r1", 80.0)]);
        let c = changes(&[("r1", 100.0, 80.0)]);
        let p = make(&l, &after, c.clone(), ctx(&[]));
        let mut edited = p.clone();
        edited.after.accelerator.insert("r1".into(), 1.0);
        let applied = changes(&[("r1", 100.0, 1.0)]);
        let why = check(&edited, &l, &applied);
        assert!(why[0].contains("does not match its plan_digest"), "{why:?}");
        assert!(
            why.iter().any(|w| w.contains("not what its `after` takes")),
            "{why:?}"
        );
        // Digest recomputed by the editor: the parts still disagree.
        edited.plan_digest = content_digest(&edited);
        let why = check(&edited, &l, &applied);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("not what its `after` takes"), "{why:?}");
        assert!(why[1].contains("says it moves 20.0%"), "{why:?}");
    }

    /// Regression (issue 9, point 2): a plan for one zone is refused for
    /// another, even when both are empty.
    #[test]
    fn regression_plan_bound_to_its_zone() {
        let empty = live(RoutingState::default());
        let p = make(
            &empty,
            &RoutingState::default(),
            Changes::default(),
            ctx(&[]),
        );
        let mut elsewhere = empty.clone();
        elsewhere.binding.hosted_zone_id = Some("Z2".into());
        let why = check(&p, &elsewhere, &Changes::default());
        assert!(
            why[0].contains("hosted zone Z1, this config controls Z2"),
            "{why:?}"
        );
        let mut other_name = empty.clone();
        other_name.binding.service_name = Some("pay.example.com.".into());
        let why = check(&p, &other_name, &Changes::default());
        assert!(why[0].contains("service name"), "{why:?}");
    }

    #[test]
    fn sources_read_and_write_as_before() {
        for text in [
            "advice a.json",
            "drain eu-west-1",
            "restore x",
            "rollback abc",
            "odd",
        ] {
            let s = Source::from(text);
            assert_eq!(s.to_string(), text);
        }
        assert_eq!(
            Source::from("drain eu-west-1"),
            Source::Drain("eu-west-1".into())
        );
    }
}
