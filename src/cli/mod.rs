//! The command line: arguments (clap derive) grouped by job, each command
//! a thin adapter over the library. Errors come back as `anyhow` reports
//! whose context names the input at fault.

mod advise;
mod analyze;
mod change;
mod cloudwatch;
pub(crate) mod dash;
mod files;
mod lab;
mod lease;
mod probe;
mod report;
mod routing;
mod store;
mod time;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Latency measurement and geo-routing advisor for multi-region services.
#[derive(Debug, Parser)]
#[command(name = "geolat", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: `human`, or `json` for Kubernetes log pipelines.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// More log detail (-v: debug, -vv: trace). `GEOLAT_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command is a one-shot probe taking one sample at a time.
    pub fn single_threaded(&self) -> bool {
        match &self.command {
            Command::Probe(p) => p.url.is_some() && p.concurrency <= 1,
            Command::Lab(lab::LabArgs {
                command: Some(lab::LabCommand::Serve(s)),
                ..
            }) => s.busy_wait,
            _ => false,
        }
    }

    /// Whether the command draws on the terminal: log lines on stderr would
    /// scribble over it, so they are off (`GEOLAT_LOG` still turns them on).
    pub fn draws(&self) -> bool {
        let view = match &self.command {
            Command::Dash(d) => &d.view,
            Command::Lab(lab::LabArgs {
                dash: true, view, ..
            }) => view,
            _ => return false,
        };
        !view.once && crate::dash::interactive()
    }

    pub fn log_level(&self) -> &'static str {
        if self.draws() {
            return "off";
        }
        match self.verbose {
            0 => "warn,geolat=info",
            1 => "info,geolat=debug",
            _ => "debug,geolat=trace",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure: probe a URL once (for a person) or run a configured window (for a CronJob).
    Probe(probe::ProbeArgs),
    /// Analyze: merge stored windows into per-geo x region latency with confidence.
    Analyze(analyze::AnalyzeArgs),
    /// Advise: the capacity-aware routing plan that minimises user latency.
    Advise(advise::AdviseArgs),
    /// Report: the advice as a policy recommendation (JSON, Markdown, HTML, charts) to decide on.
    Report(report::ReportArgs),
    /// Dashboard: the latency matrix, geo detail, regions and plan, live in a terminal.
    Dash(dash::DashArgs),
    /// Stored windows: list what a store holds for a time range.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Local lab: emulated regions with injected latency, no cloud account needed.
    Lab(lab::LabArgs),
    /// Routing on AWS: what Route 53 and Global Accelerator route today.
    #[command(subcommand)]
    Routing(routing::RoutingCommand),
    /// Plan the AWS changes an advice asks for, against the live state.
    Plan(change::PlanArgs),
    /// Apply a change plan: guardrails, dry run unless --apply, audit.
    Apply(change::ApplyArgs),
    /// List the audit records of applies, dry runs, drains and rollbacks.
    History(change::HistoryArgs),
    /// Restore the state recorded before an audited change.
    Rollback(change::RollbackArgs),
    /// Drain a region for a release: dial 0, DNS share to its backup region.
    Drain(change::DrainArgs),
    /// Undo the last drain of a region: put back the state recorded before it.
    Restore(change::RestoreArgs),
    /// The routing lease: who holds it; break one a killed run left.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Probe(args) => probe::run(args).await,
        Command::Analyze(args) => analyze::run(args).await,
        Command::Advise(args) => advise::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Dash(args) => dash::run(args).await,
        Command::Store(cmd) => store::run(cmd).await,
        Command::Lab(args) => lab::run(args).await,
        Command::Routing(cmd) => routing::run(cmd).await,
        Command::Plan(args) => change::plan_cmd(args).await,
        Command::Apply(args) => change::apply_cmd(args).await,
        Command::History(args) => change::history_cmd(args).await,
        Command::Rollback(args) => change::rollback_cmd(args).await,
        Command::Drain(args) => change::drain_cmd(args).await,
        Command::Restore(args) => change::restore_cmd(args).await,
        Command::Lease(cmd) => lease::run(cmd).await,
    }
}

/// A command line clap refused, as geolat reports it: one line, in the log
/// format the command line asked for, and an exit status.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub format: LogFormat,
    pub line: String,
    pub status: u8,
}

/// How to report what clap said of `args`: `None` when clap should print it
/// itself (help, version, and usage mistakes for a person, with clap's
/// usage and tips). A bad value (`--since yesterday`) is one line naming the
/// flag, the value and what it takes (status 1, as any other bad input);
/// under `--log-format json` every refusal is one JSON line (status 2 for
/// usage mistakes, as clap's own), so a log pipeline parses it too.
pub fn refused(e: &clap::Error, args: &[std::ffi::OsString]) -> Option<Refusal> {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let format = requested_format(args);
    if let Some(line) = value_error(e) {
        return Some(Refusal {
            format,
            line,
            status: 1,
        });
    }
    if format == LogFormat::Human {
        return None;
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    Some(Refusal {
        format,
        line: format!("{first} (see `geolat --help`)"),
        status: 2,
    })
}

/// The `--log-format` a command line clap could not parse asked for: the
/// flag is global, so it is looked for anywhere before a `--`.
fn requested_format(args: &[std::ffi::OsString]) -> LogFormat {
    let mut args = args.iter().filter_map(|a| a.to_str());
    let mut format = LogFormat::Human;
    while let Some(arg) = args.next() {
        let value = match arg {
            "--" => break,
            "--log-format" => args.next(),
            _ => arg.strip_prefix("--log-format="),
        };
        if let Some(v) = value {
            format = if v == "json" {
                LogFormat::Json
            } else {
                LogFormat::Human
            };
        }
    }
    format
}

/// A bad value for a typed argument (`--since yesterday`, `--phase rtt`)
/// as one line naming the flag, the value and what it takes; `None` for
/// every other clap outcome (help, version, missing or conflicting
/// arguments).
fn value_error(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let flag = text(ContextKind::InvalidArg)?;
    let flag = flag.split([' ', '=']).next().unwrap_or(&flag).to_owned();
    let value = text(ContextKind::InvalidValue)?;
    match e.kind() {
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e).map(|s| s.to_string())?;
            Some(format!("{flag} `{value}`: {why}"))
        }
        ErrorKind::InvalidValue => {
            let valid = text(ContextKind::ValidValue)?;
            Some(format!("{flag} `{value}` is not one of {valid}"))
        }
        _ => None,
    }
}

/// The exit status for an error: 75 when another geolat held the routing
/// lease and nothing was applied, 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<change::LeaseBusy>().is_some() {
        change::EXIT_LEASE_BUSY
    } else {
        1
    }
}

/// Fires on Ctrl-C or SIGTERM (what Kubernetes sends a CronJob pod), so a
/// run can stop starting work and still save what it measured. A second
/// signal exits at once (status 130).
pub fn stop_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::warn!(
            "stopping: finishing attempts in flight and saving what was measured (a second signal exits at once)"
        );
        t.cancel();
        signal().await;
        eprintln!("error: stopped by a second signal; nothing more was saved");
        std::process::exit(130);
    });
    token
}

/// The next Ctrl-C or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
