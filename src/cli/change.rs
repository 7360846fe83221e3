//! Changing routing on AWS: `plan`, `apply`, `history`, `rollback`,
//! `drain` and `restore`. Every change goes the same way: read the live
//! state, plan against it, pass the guardrails, show the plan, dry run
//! unless `--apply`, confirm unless `--yes`, take the lease, apply (rolled
//! back if a step fails), read back, and write an audit record.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::{Context as _, bail};
use chrono::{Duration, Utc};
use clap::Args;

use super::routing::AwsArgs;
use crate::apply::audit::{self, AuditRecord};
use crate::apply::guard::{self, Health, Limits};
use crate::apply::plan::{self, ChangePlan, Context, Evidence};
use crate::apply::{desired, drain, lease};
use crate::aws::control::AwsControl;
use crate::aws::flows;
use crate::routing::{RoutingControl as _, RoutingState};
use crate::store::Store;
use crate::world::topology::Topology;

/// How long a lease is held at most: longer than any apply (Route 53's
/// INSYNC wait is bounded at 5 minutes).
const LEASE_TTL_MINUTES: i64 = 15;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The advice to plan (`geolat advise --json` output).
    #[arg(long, value_name = "FILE")]
    pub advice: PathBuf,
    /// Where to write the change plan (JSON, geolat-change-plan/1).
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

/// Guardrail limits and the confirmation flow, shared by every change.
#[derive(Debug, Clone, Args)]
pub struct ApplyFlags {
    /// Store for the audit records and the lease: file://DIR or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: String,
    /// Make the changes. Without it, a dry run: shown and audited, nothing changed.
    #[arg(long)]
    pub apply: bool,
    /// Do not ask for confirmation (for CronJobs).
    #[arg(long)]
    pub yes: bool,
    /// Most traffic one apply may move, 0..1.
    #[arg(long, default_value = "0.25", value_name = "SHARE")]
    pub max_share: f64,
    /// Oldest measurement a plan may rest on (e.g. 2h).
    #[arg(long, default_value = "2h", value_name = "DURATION")]
    pub max_age: String,
    /// Thin (too few samples) measurements tolerated behind a plan.
    #[arg(long, default_value = "0", value_name = "N")]
    pub max_thin_cells: u64,
    /// Apply a plan whose advice came from a world file, not measurements.
    #[arg(long)]
    pub allow_unmeasured: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The change plan (`geolat plan --out`).
    pub plan: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub flags: ApplyFlags,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Store holding the audit records.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: String,
    /// The records as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Audit record id (`geolat history`): restore the state before it.
    pub id: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub flags: ApplyFlags,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Region to drain.
    pub region: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub flags: ApplyFlags,
    /// Topology (geolat-topology/1): backup regions, capacities, demand.
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// After draining, wait until the region's new flows per minute
    /// (Global Accelerator's NewFlowCount in CloudWatch) fall to this.
    #[arg(long, default_value = "10", value_name = "N")]
    pub flows_below: f64,
    /// Longest wait for flows to fall (0: do not wait).
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub wait: String,
    /// How often to look at the flow metric while waiting.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub poll: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Region whose last drain to undo.
    pub region: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub flags: ApplyFlags,
}

fn duration(flag: &str, s: &str) -> anyhow::Result<StdDuration> {
    crate::config::parse_duration(s).map_err(|e| anyhow::anyhow!("{flag} {s}: {e}"))
}

fn who() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

pub async fn plan_cmd(args: PlanArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.advice)
        .with_context(|| format!("cannot read advice {}", args.advice.display()))?;
    let advice: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("advice {} is not JSON", args.advice.display()))?;
    let after =
        desired::desired(&advice).with_context(|| format!("advice {}", args.advice.display()))?;
    let evidence = match advice.get("evidence") {
        Some(e) => Some(
            serde_json::from_value::<Evidence>(e.clone())
                .with_context(|| format!("advice {}: bad `evidence`", args.advice.display()))?,
        ),
        None => None,
    };
    let control = args.aws.control().await?;
    if let Some(why) = control.conflict_refusal().await? {
        bail!(why);
    }
    let before = control.read().await.context("cannot read the routing")?;
    let p = plan::plan(
        &before,
        &after,
        Context {
            created_by: who(),
            source: format!("advice {}", args.advice.display()),
            layout: control.route53.as_ref().map(|r| &r.layout),
            traffic_policy: policy_mode(&control),
            evidence,
            now: Utc::now(),
        },
    )?;
    let json = serde_json::to_vec_pretty(&p)?;
    super::files::write_atomically(&args.out, &json, "change plan")?;
    let mut out = std::io::stdout();
    plan::render(&p, &mut out)?;
    writeln!(
        out,
        "written to {}; apply with `geolat apply {}`",
        args.out.display(),
        args.out.display()
    )?;
    Ok(())
}

pub async fn apply_cmd(args: ApplyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read change plan {}", args.plan.display()))?;
    let p: ChangePlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a change plan (make one with `geolat plan`)",
            args.plan.display()
        )
    })?;
    if p.format != plan::FORMAT {
        bail!(
            "{}: unknown format `{}` (this geolat applies {})",
            args.plan.display(),
            p.format,
            plan::FORMAT
        );
    }
    let control = args.aws.control().await?;
    let live = control.read().await.context("cannot read the routing")?;
    if plan::digest(&live) != p.state_digest {
        let why = format!(
            "the live routing changed since {} was made (state {} now, plan made against {}): make a new plan",
            args.plan.display(),
            plan::digest(&live),
            p.state_digest
        );
        let mut record = AuditRecord::new("apply", &who(), p, Utc::now());
        record.result = format!("refused: {why}");
        audit::write(&Store::open(&args.flags.store)?, &record).await?;
        bail!(why);
    }
    run_change(&control, p, "apply", &args.flags).await
}

pub async fn history_cmd(args: HistoryArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.store)?;
    let (records, unreadable) = audit::list(&store).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &records)?;
        writeln!(out)?;
    } else {
        audit::render(&records, &mut out)?;
    }
    out.flush()?;
    for key in unreadable {
        tracing::warn!(key, "audit record could not be read; skipped");
    }
    Ok(())
}

pub async fn rollback_cmd(args: RollbackArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.flags.store)?;
    let record = audit::find(&store, &args.id).await?;
    let control = args.aws.control().await?;
    let live = control.read().await.context("cannot read the routing")?;
    let p = plan_against(
        &control,
        &live,
        &record.plan.before,
        format!("rollback {}", args.id),
    )?;
    run_change(&control, p, "rollback", &args.flags).await
}

pub async fn drain_cmd(args: DrainArgs) -> anyhow::Result<()> {
    let topology_file = args
        .topology
        .as_ref()
        .context("drain needs --topology FILE naming the region's backup and capacities")?;
    let topology = Topology::load(topology_file)?;
    // Flags are checked before anything changes.
    let wait = match args.wait.as_str() {
        "0" => StdDuration::ZERO,
        s => duration("--wait", s)?,
    };
    let poll = duration("--poll", &args.poll)?;
    let control = args.aws.control().await?;
    let live = control.read().await.context("cannot read the routing")?;
    let after = drain::plan_drain(&live, &topology, &args.region)?;
    let p = plan_against(&control, &live, &after, format!("drain {}", args.region))?;
    // A drain moves what it must: the share limit is for advice.
    let flags = ApplyFlags {
        max_share: 1.0,
        ..args.flags.clone()
    };
    run_change(&control, p, "drain", &flags).await?;
    if let Some(acc) = &control.accelerator
        && args.flags.apply
        && !wait.is_zero()
    {
        let sdk = crate::aws::sdk_config(args.aws.endpoint_url.as_deref()).await;
        let report = flows::wait_below(
            &crate::aws::cloudwatch_client(&sdk),
            acc.accelerator_id(),
            &args.region,
            args.flows_below,
            wait,
            poll,
        )
        .await?;
        println!("{report}");
    }
    Ok(())
}

pub async fn restore_cmd(args: RestoreArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.flags.store)?;
    let (records, _) = audit::list(&store).await?;
    let drained = format!("drain {}", args.region);
    let last = records
        .iter()
        .rev()
        .find(|r| {
            r.result == "applied"
                && (r.plan.source == drained || r.plan.source == format!("restore {}", args.region))
        })
        .filter(|r| r.plan.source == drained)
        .with_context(|| {
            format!(
                "no applied drain of {} to restore in {} (see `geolat history`)",
                args.region, args.flags.store
            )
        })?;
    let target = last.plan.before.clone();
    let control = args.aws.control().await?;
    let live = control.read().await.context("cannot read the routing")?;
    let p = plan_against(&control, &live, &target, format!("restore {}", args.region))?;
    let flags = ApplyFlags {
        max_share: 1.0,
        ..args.flags.clone()
    };
    run_change(&control, p, "restore", &flags).await
}

fn policy_mode(control: &AwsControl) -> bool {
    control
        .route53
        .as_ref()
        .is_some_and(|r| r.mode == crate::aws::Route53Mode::TrafficPolicy)
}

fn plan_against(
    control: &AwsControl,
    live: &RoutingState,
    target: &RoutingState,
    source: String,
) -> anyhow::Result<ChangePlan> {
    Ok(plan::plan(
        live,
        target,
        Context {
            created_by: who(),
            source,
            layout: control.route53.as_ref().map(|r| &r.layout),
            traffic_policy: policy_mode(control),
            evidence: None,
            now: Utc::now(),
        },
    )?)
}

/// Guardrails, dry run or confirmation, lease, apply, audit.
async fn run_change(
    control: &AwsControl,
    p: ChangePlan,
    action: &str,
    flags: &ApplyFlags,
) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&flags.max_share) {
        bail!("--max-share {}: must be between 0 and 1", flags.max_share);
    }
    let max_age = Duration::from_std(duration("--max-age", &flags.max_age)?)
        .context("--max-age is too long")?;
    let store = Store::open(&flags.store)?;
    let mut out = std::io::stdout();
    plan::render(&p, &mut out)?;
    let health: Health = control.health().await?;
    let limits = Limits {
        max_share: flags.max_share,
        max_age,
        max_thin_cells: flags.max_thin_cells,
        allow_unmeasured: flags.allow_unmeasured || action != "apply",
    };
    let now = Utc::now();
    let mut record = AuditRecord::new(action, &who(), p.clone(), now);
    let refusals = guard::check(&p, &limits, &health, now);
    if !refusals.is_empty() {
        record.result = format!("refused: {}", refusals.join("; "));
        audit::write(&store, &record).await?;
        bail!(
            "refused ({} guardrail(s)): {}",
            refusals.len(),
            refusals.join("; ")
        );
    }
    if p.route53.is_empty() && p.traffic_policy.is_none() && p.accelerator.is_empty() {
        return Ok(());
    }
    if !flags.apply {
        record.result = "dry-run".into();
        record.action = "dry-run".into();
        let key = audit::write(&store, &record).await?;
        writeln!(
            out,
            "dry run: nothing changed (audit {key}); add --apply to make these changes"
        )?;
        return Ok(());
    }
    if !flags.yes && !confirm()? {
        bail!("not confirmed: nothing changed (use --yes to skip the question)");
    }
    let held = match lease::acquire(&store, &who(), Duration::minutes(LEASE_TTL_MINUTES), now).await
    {
        Ok(l) => l,
        Err(lease::LeaseError::Held(other)) => {
            // Another run is applying: say who, change nothing, exit cleanly.
            eprintln!("{}", lease::LeaseError::Held(other));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // Checked again under the lease: another writer may have changed the
    // routing between this run's read and its lease.
    let live = control.read().await;
    if live.as_ref().map(plan::digest).ok().as_deref() != Some(p.state_digest.as_str()) {
        lease::release(&store, &held).await?;
        let why = "the live routing changed while this apply waited (another writer applied first): make a new plan";
        record.result = format!("refused: {why}");
        audit::write(&store, &record).await?;
        bail!(why);
    }
    let applied = control.apply(&p.after).await;
    record.after = control.read().await.ok();
    record.result = match &applied {
        Ok(()) => "applied".into(),
        Err(e) => format!("failed: {e}"),
    };
    let written = audit::write(&store, &record).await;
    // The lease expires by itself: failing to give it back must not hide
    // what happened to AWS.
    if let Err(e) = lease::release(&store, &held).await {
        tracing::warn!(error = %e, "could not release the routing lease; it expires by itself");
    }
    let key = match written {
        Ok(key) => key,
        Err(e) => {
            let what = match &applied {
                Ok(()) => "was applied".to_owned(),
                Err(failed) => format!("failed ({failed})"),
            };
            bail!(
                "{action} {what}, but its audit record could not be written ({e}); the state is now: {}",
                serde_json::to_string(&record.after).unwrap_or_default()
            );
        }
    };
    applied.with_context(|| format!("{action} failed (audit {key})"))?;
    writeln!(out, "applied (audit {key}, id {})", record.id)?;
    Ok(())
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("apply these changes? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
