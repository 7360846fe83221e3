//! The one road every change to routing takes, over any
//! [`RoutingControl`] (AWS or the lab) and a store:
//!
//! ```text
//!  plan ──► changes the control computes for `after` from the live state
//!       ──► plan::check (digest, binding, state, shown == computed, share)
//!       ──► guardrails (share by demand, health, evidence)
//!       ──► shown ──► dry run? ──► confirmed? ──► lease
//!       ──► re-read and re-check under the lease ──► apply ──► read back
//!       ──► audit (retried; kept locally if the store will not take it)
//!       ──► lease released
//! ```
//!
//! Every outcome, the refusals and the dry runs included, is an audit
//! record. Nothing is changed unless every check passed twice (before the
//! lease and under it), and what is changed is exactly the changes shown.
//! The lease outlives any apply: its TTL (15 minutes) is longer than the
//! longest wait an apply makes (Route 53's INSYNC, 5 minutes, and AWS calls
//! bounded by their timeouts), so it is never held past its expiry.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::audit::{self, Action, AuditError, AuditRecord, Outcome};
use super::guard::{self, Limits};
use super::lease::{self, LeaseError};
use super::plan::{self, ChangePlan};
use crate::routing::{RoutingControl, RoutingError, RoutingState};
use crate::store::Store;

/// How a change runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Make the changes; without it, a dry run.
    pub apply: bool,
    pub limits: Limits,
    pub lease_ttl: Duration,
    /// user@host, for the audit record and the lease.
    pub who: String,
    /// Where audit records wait when the store cannot take them.
    pub fallback: PathBuf,
}

/// What a change came to.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// Where the audit record is (a store key, or a local file).
    pub audit: String,
    pub record: AuditRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The change's outcome is known but could not be recorded anywhere.
    #[error(
        "{outcome}; its audit record could not be written ({source}); the routing is now: {state}"
    )]
    Unrecorded {
        outcome: Outcome,
        state: String,
        source: AuditError,
    },
}

/// The person (or pipeline) in front of a change: shown the plan, asked
/// to confirm it.
pub struct Operator<'a> {
    /// Asked only when the change is about to be applied.
    pub confirm: &'a mut (dyn FnMut(&ChangePlan) -> bool + Send),
    /// Gets the plan as a person reads it.
    pub out: &'a mut (dyn std::io::Write + Send),
}

/// Runs `p` as `action` against `control`, auditing in `store`.
pub async fn execute(
    control: &dyn RoutingControl,
    store: &Store,
    p: ChangePlan,
    action: Action,
    opts: &Options,
    operator: Operator<'_>,
    now: DateTime<Utc>,
) -> Result<Report, ExecuteError> {
    let Operator { confirm, out } = operator;
    match audit::upload_pending(store, &opts.fallback).await {
        Ok(keys) if !keys.is_empty() => {
            tracing::info!(
                ?keys,
                "uploaded audit records kept locally by an earlier run"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "audit records kept locally could not be uploaded yet")
        }
    }
    let mut record = AuditRecord::new(action, &opts.who, p.clone(), now);
    record.principal = control.principal().await;
    record.dry_run = !opts.apply;
    let _ = plan::render(&p, out);

    // Everything the apply checks, checked before the lease.
    if let Err(why) = checked(control, &p, opts, now).await {
        return finish(store, record, Outcome::Refused(why), None, opts).await;
    }
    if p.is_empty() {
        return finish(store, record, Outcome::NoChanges, None, opts).await;
    }
    if !opts.apply {
        return finish(store, record, Outcome::DryRun, None, opts).await;
    }
    if !confirm(&p) {
        return finish(store, record, Outcome::NotConfirmed, None, opts).await;
    }
    let held = match lease::acquire(store, &opts.who, opts.lease_ttl, Utc::now()).await {
        Ok(l) => l,
        Err(LeaseError::Held(other)) => {
            let holder = format!(
                "{} since {} (expires {})",
                other.holder,
                other.acquired_at.to_rfc3339(),
                other.expires_at.to_rfc3339()
            );
            return finish(store, record, Outcome::LeaseBusy(holder), None, opts).await;
        }
        Err(LeaseError::Store(e)) => {
            let why = format!("the routing lease could not be taken: {e}");
            return finish(store, record, Outcome::Refused(why), None, opts).await;
        }
    };
    // Again under the lease: another writer may have changed the routing
    // between the first check and the lease.
    let outcome = match checked(control, &p, opts, now).await {
        Err(why) => Outcome::Refused(format!("under the lease: {why}")),
        Ok(()) => match control.apply(&p.after).await {
            Ok(()) => Outcome::Applied,
            Err(e) => Outcome::Failed(e.to_string()),
        },
    };
    let after = if outcome.changed() {
        Some(control.read().await)
    } else {
        None
    };
    let outcome = match (outcome, &after) {
        (Outcome::Failed(why), Some(read)) => {
            Outcome::Failed(format!("{why}; {}", where_left(&p, read.as_ref().ok())))
        }
        (Outcome::Applied, Some(Ok(read))) if !routes_as(read, &p.after) => {
            Outcome::Failed(format!(
                "the control plane accepted every change but reads back otherwise; {}",
                where_left(&p, Some(read))
            ))
        }
        (o, _) => o,
    };
    let report = finish(store, record, outcome, after.and_then(Result::ok), opts).await;
    // The lease expires by itself: failing to give it back must not hide
    // what happened.
    if let Err(e) = lease::release(store, &held).await {
        tracing::warn!(error = %e, "could not release the routing lease; it expires by itself");
    }
    report
}

/// The plan taking the live routing to `after`, with only the mechanisms
/// `control` has (what it leaves out is said in the plan).
pub async fn propose(
    control: &dyn RoutingControl,
    after: &RoutingState,
    mut ctx: plan::Context,
) -> Result<ChangePlan, RoutingError> {
    let mut after = after.normalized();
    let m = control.mechanisms();
    if !m.accelerator && !after.accelerator.is_empty() {
        after.accelerator.clear();
        ctx.left_out
            .push("Global Accelerator dials: the AWS config has no accelerator section".into());
    }
    if !m.dns && !after.dns.is_empty() {
        after.dns.clear();
        ctx.left_out
            .push("Route 53 weights: the AWS config has no route53 section".into());
    }
    let (live, changes) = control.changes(&after).await?;
    Ok(plan::make(&live, &after, changes, ctx))
}

/// The plan against the live state (every part agrees, the control plane
/// would make exactly the changes shown), then the guardrails.
async fn checked(
    control: &dyn RoutingControl,
    p: &ChangePlan,
    opts: &Options,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let (live, changes) = control.changes(&p.after).await.map_err(|e| e.to_string())?;
    let problems = plan::check(p, &live, &changes);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let health = control.health().await.map_err(|e| e.to_string())?;
    let refusals = guard::check(p, &opts.limits, &health, now);
    if !refusals.is_empty() {
        return Err(format!(
            "{} guardrail(s): {}",
            refusals.len(),
            refusals.join("; ")
        ));
    }
    Ok(())
}

/// Where a failed change left the control plane, from a read after it.
pub fn where_left(p: &ChangePlan, read: Option<&RoutingState>) -> String {
    let Some(read) = read.map(RoutingState::normalized) else {
        return "the routing could not be read back: check `geolat routing show` before anything else".into();
    };
    if routes_as(&read, &p.before) {
        return "the routing is as it was before".into();
    }
    if routes_as(&read, &p.after) {
        return "the routing is as planned".into();
    }
    let mut differ: Vec<String> = Vec::new();
    let after = p.after.normalized();
    let before = p.before.normalized();
    for (l, w) in &read.dns {
        let state = if after.dns.get(l) == Some(w) {
            continue;
        } else if before.dns.get(l) == Some(w) {
            "as before"
        } else {
            "neither"
        };
        differ.push(format!("{l} {state}"));
    }
    for (r, d) in &read.accelerator {
        if after
            .accelerator
            .get(r)
            .is_some_and(|a| (a - d).abs() > DIAL_EPSILON)
        {
            differ.push(format!("{r} dial {d}"));
        }
    }
    format!(
        "the routing is partly changed (not as planned: {}); see `geolat routing show`",
        differ.join(", ")
    )
}

/// Dials travel as 32-bit floats and are kept to hundredths.
const DIAL_EPSILON: f64 = 0.006;

/// Whether `read` routes as `want` says: the same DNS weights, and every
/// dial `want` names (other groups are not its business).
fn routes_as(read: &RoutingState, want: &RoutingState) -> bool {
    let (read, want) = (read.normalized(), want.normalized());
    read.dns == want.dns
        && want.accelerator.iter().all(|(r, d)| {
            read.accelerator
                .get(r)
                .is_some_and(|got| (got - d).abs() <= DIAL_EPSILON)
        })
}

async fn finish(
    store: &Store,
    mut record: AuditRecord,
    outcome: Outcome,
    after: Option<RoutingState>,
    opts: &Options,
) -> Result<Report, ExecuteError> {
    record.result = outcome.clone();
    record.after = after;
    match audit::write_or_keep(store, &record, &opts.fallback).await {
        Ok(audit) => Ok(Report {
            outcome,
            audit,
            record,
        }),
        Err(source) => Err(ExecuteError::Unrecorded {
            outcome,
            state: record
                .after
                .as_ref()
                .and_then(|a| serde_json::to_string(a).ok())
                .unwrap_or_else(|| "unknown (see `geolat routing show`)".into()),
            source,
        }),
    }
}
