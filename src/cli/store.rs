//! `geolat store`: what a store holds.

use std::io::Write as _;

use chrono::Utc;
use clap::{Args, Subcommand};

use super::time::parse_instant;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// List windows that started in a time range, and any that cannot be read.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Store: file://DIR or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: String,
    /// Start of the range: a duration ago (1h) or an RFC 3339 time.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// End of the range (exclusive): `now`, a duration ago, or an RFC 3339 time.
    #[arg(long, default_value = "now")]
    pub until: String,
    /// Print one JSON object per window instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::List(args) => list(args).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let since = parse_instant("--since", &args.since, now)?;
    let until = parse_instant("--until", &args.until, now)?;
    if since >= until {
        anyhow::bail!(
            "--since {} is not before --until {}: give an earlier --since",
            args.since,
            args.until
        );
    }
    let store = Store::open(&args.store)?;
    let keys = store.list_windows(since, until).await?;
    let mut out = std::io::stdout();
    let mut unreadable = 0usize;
    for key in &keys {
        match store.read_window(key).await? {
            Ok(w) => {
                let samples: u64 = w.targets.iter().map(|t| t.attempts).sum();
                let errors: u64 = w.errors.iter().map(|e| e.count).sum();
                if args.json {
                    let line = serde_json::json!({
                        "key": key, "probe": w.probe.id, "start": w.start, "end": w.end,
                        "targets": w.targets.len(), "series": w.series.len(),
                        "samples": samples, "errors": errors,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{key}  probe={} targets={} series={} samples={samples} errors={errors}",
                        w.probe.id,
                        w.targets.len(),
                        w.series.len()
                    )?;
                }
            }
            Err(bad) => {
                unreadable += 1;
                tracing::warn!(
                    key = bad.key,
                    problem = bad.problem,
                    "skipping unreadable window"
                );
            }
        }
    }
    if !args.json {
        writeln!(
            out,
            "{} windows, {unreadable} unreadable (skipped)",
            keys.len() - unreadable
        )?;
    }
    Ok(())
}
