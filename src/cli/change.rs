//! Changing routing on AWS: `plan`, `apply`, `history`, `rollback`,
//! `drain` and `restore`: arguments, files and printing. The workflow
//! itself (checks, guardrails, dry run, confirmation, lease, apply, read
//! back, audit) is [`crate::apply::execute`].

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::{Context as _, bail};
use chrono::{Duration, Utc};
use clap::Args;
use serde::Serialize;

use super::routing::AwsArgs;
use crate::apply::audit::{self, Action, Outcome};
use crate::apply::execute::{self, Options, Report};
use crate::apply::guard::Limits;
use crate::apply::plan::{self, ChangePlan, Context, Evidence, Source};
use crate::apply::{desired, drain};
use crate::aws::flows;
use crate::routing::RoutingControl as _;
use crate::store::Store;
use crate::world::topology::Topology;

/// Exit status when another writer held the lease and nothing was applied
/// (EX_TEMPFAIL: try again later), unless `--lease-busy-ok`.
pub const EXIT_LEASE_BUSY: u8 = 75;

/// Another geolat held the routing lease: nothing was applied.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LeaseBusy(pub String);

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
    /// Print the plan as JSON (schemas/change-plan.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
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
    /// Exit 0 when another geolat holds the routing lease (default: exit 75).
    #[arg(long)]
    pub lease_busy_ok: bool,
    /// Print the outcome as JSON (schemas/change-result.schema.json).
    #[arg(long)]
    pub json: bool,
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

/// user@host of this process, for audit records and leases.
pub(super) fn who() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

fn context(source: Source) -> Context {
    Context {
        created_by: who(),
        source,
        evidence: None,
        demand: Default::default(),
        left_out: Vec::new(),
        now: Utc::now(),
    }
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
    let ctx = Context {
        evidence,
        demand: desired::demand(&advice, &after),
        ..context(Source::Advice(args.advice.display().to_string()))
    };
    let p = execute::propose(&control, &after, ctx)
        .await
        .with_context(|| format!("cannot plan advice {}", args.advice.display()))?;
    let json = serde_json::to_vec_pretty(&p)?;
    super::files::write_atomically(&args.out, &json, "change plan")?;
    let mut out = std::io::stdout();
    if args.json {
        out.write_all(&json)?;
        writeln!(out)?;
        return Ok(());
    }
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
    run_change(&control, &args.aws, p, Action::Apply, &args.flags).await
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
    let store = Store::open_existing_with(&args.flags.store, &args.aws.store_options())?;
    let record = audit::find(&store, &args.id).await?;
    if !record.changed_routing() {
        bail!(
            "audit record {} changed nothing ({} {}, {}): there is nothing to roll back",
            args.id,
            record.action,
            if record.dry_run { "dry run" } else { "run" },
            record.result
        );
    }
    let control = args.aws.control().await?;
    let live = control.live().await.context("cannot read the routing")?;
    if let Some(m) = record.plan.binding.mismatch(&live.binding) {
        bail!("audit record {} is bound elsewhere: {m}", args.id);
    }
    let ctx = Context {
        demand: record.plan.demand.clone(),
        ..context(Source::Rollback(args.id.clone()))
    };
    let p = execute::propose(&control, &record.plan.before, ctx)
        .await
        .with_context(|| format!("cannot plan the rollback of {}", args.id))?;
    run_change(&control, &args.aws, p, Action::Rollback, &args.flags).await
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
    let ctx = Context {
        demand: drain::demand(&live, &topology),
        ..context(Source::Drain(args.region.clone()))
    };
    let p = execute::propose(&control, &after, ctx)
        .await
        .with_context(|| format!("cannot plan the drain of {}", args.region))?;
    // A drain moves what it must: the share limit is for advice.
    let flags = ApplyFlags {
        max_share: 1.0,
        ..args.flags.clone()
    };
    run_change(&control, &args.aws, p, Action::Drain, &flags).await?;
    if let Some(acc) = &control.accelerator
        && args.flags.apply
        && !wait.is_zero()
    {
        let sdk = crate::aws::try_sdk_config(args.aws.endpoint_url.as_deref()).await?;
        let report = flows::wait_drained(
            &crate::aws::accelerator_cloudwatch_client(&sdk),
            acc.accelerator_id(),
            &args.region,
            args.flows_below,
            wait,
            poll,
        )
        .await?;
        if !report.verified() {
            bail!("{report}");
        }
        writeln!(std::io::stdout(), "{report}")?;
    }
    Ok(())
}

pub async fn restore_cmd(args: RestoreArgs) -> anyhow::Result<()> {
    let store = Store::open_existing_with(&args.flags.store, &args.aws.store_options())?;
    let (records, _) = audit::list(&store).await?;
    let last = audit::last_drain(&records, &args.region).with_context(|| {
        format!(
            "no applied drain of {} to restore in {} (see `geolat history`)",
            args.region, args.flags.store
        )
    })?;
    let control = args.aws.control().await?;
    let live = control.live().await.context("cannot read the routing")?;
    if let Some(m) = last.plan.binding.mismatch(&live.binding) {
        bail!(
            "the drain of {} ({}) is bound elsewhere: {m}",
            args.region,
            last.id
        );
    }
    let target = drain::restored(
        &live.state,
        &last.plan.before,
        &last.plan.after,
        &args.region,
    );
    let ctx = Context {
        demand: last.plan.demand.clone(),
        ..context(Source::Restore(args.region.clone()))
    };
    let p = execute::propose(&control, &target, ctx)
        .await
        .with_context(|| format!("cannot plan the restore of {}", args.region))?;
    run_change(&control, &args.aws, p, Action::Restore, &args.flags).await
}

/// What `--json` prints for a change.
#[derive(Serialize)]
struct Shown<'a> {
    outcome: &'a Outcome,
    action: Action,
    id: &'a str,
    audit: &'a str,
    plan: &'a ChangePlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a crate::routing::RoutingState>,
}

/// The workflow, then the outcome as a person or a pipeline reads it.
async fn run_change(
    control: &dyn crate::routing::RoutingControl,
    aws: &AwsArgs,
    p: ChangePlan,
    action: Action,
    flags: &ApplyFlags,
) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&flags.max_share) {
        bail!("--max-share {}: must be between 0 and 1", flags.max_share);
    }
    let max_age = Duration::from_std(duration("--max-age", &flags.max_age)?)
        .context("--max-age is too long")?;
    let store = Store::open_with(&flags.store, &aws.store_options())?;
    let opts = Options {
        apply: flags.apply,
        limits: Limits {
            max_share: flags.max_share,
            max_age,
            max_thin_cells: flags.max_thin_cells,
            allow_unmeasured: flags.allow_unmeasured || action != Action::Apply,
        },
        lease_ttl: Duration::minutes(LEASE_TTL_MINUTES),
        who: who(),
        fallback: audit::fallback_dir(),
    };
    let yes = flags.yes;
    let mut confirm = move |_: &ChangePlan| yes || ask().unwrap_or(false);
    let mut text: Box<dyn std::io::Write + Send> = if flags.json {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    let Report {
        outcome,
        audit,
        record,
    } = execute::execute(
        control,
        &store,
        p,
        action,
        &opts,
        execute::Operator {
            confirm: &mut confirm,
            out: &mut text,
        },
        Utc::now(),
    )
    .await?;
    drop(text);
    if flags.json {
        let shown = Shown {
            outcome: &outcome,
            action,
            id: &record.id,
            audit: &audit,
            plan: &record.plan,
            after: record.after.as_ref(),
        };
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&shown)?
        )?;
    }
    let mut out = std::io::stdout();
    match outcome {
        Outcome::Applied => {
            if !flags.json {
                writeln!(out, "applied (audit {audit}, id {})", record.id)?;
            }
            Ok(())
        }
        Outcome::DryRun => {
            if !flags.json {
                writeln!(
                    out,
                    "dry run: nothing changed (audit {audit}); add --apply to make these changes"
                )?;
            }
            Ok(())
        }
        Outcome::NoChanges => Ok(()),
        Outcome::Refused(why) => bail!("refused (audit {audit}): {why}"),
        Outcome::NotConfirmed => {
            bail!("not confirmed: nothing changed (audit {audit}; use --yes to skip the question)")
        }
        Outcome::LeaseBusy(holder) => {
            let why = format!(
                "another geolat holds the routing lease: {holder}; nothing applied (audit {audit}; `geolat lease show`)"
            );
            if flags.lease_busy_ok {
                eprintln!("{why}");
                Ok(())
            } else {
                Err(LeaseBusy(why).into())
            }
        }
        Outcome::Failed(why) => bail!("{action} failed (audit {audit}, id {}): {why}", record.id),
        Outcome::Other(text) => bail!("{action}: {text} (audit {audit})"),
    }
}

fn ask() -> anyhow::Result<bool> {
    eprint!("apply these changes? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
