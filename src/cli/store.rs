//! `geolat store`: what a store holds.

use std::io::Write as _;

use chrono::Utc;
use clap::{Args, Subcommand};

use super::time::{TimeRange, TimeRangeArgs};
use futures::TryStreamExt as _;

use crate::analyze::source::read_one;
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
    #[command(flatten)]
    pub range: TimeRangeArgs,
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
    let TimeRange { since, until } = args.range.resolve(now)?;
    let store = Store::open_existing(&args.store)?;
    let mut objects = std::pin::pin!(store.window_objects(since, until));
    let mut out = std::io::stdout();
    let (mut listed, mut unreadable) = (0usize, 0usize);
    while let Some(obj) = objects.try_next().await? {
        match read_one(&store, &obj).await? {
            Ok(w) => {
                listed += 1;
                let samples = w
                    .outcomes
                    .iter()
                    .fold(0u64, |n, o| n.saturating_add(o.attempts));
                let errors = w
                    .outcomes
                    .iter()
                    .fold(0u64, |n, o| n.saturating_add(o.errors));
                let key = &obj.key;
                if args.json {
                    let line = serde_json::json!({
                        "key": key, "probe": w.probe_id, "start": w.start, "end": w.end,
                        "targets": w.targets, "series": w.parts.len(),
                        "samples": samples, "errors": errors,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{key}  probe={} targets={} series={} samples={samples} errors={errors}",
                        w.probe_id,
                        w.targets,
                        w.parts.len()
                    )?;
                }
            }
            Err(problem) => {
                unreadable += 1;
                tracing::warn!(key = obj.key, problem, "skipping unreadable window");
            }
        }
    }
    if !args.json {
        writeln!(out, "{listed} windows, {unreadable} unreadable (skipped)")?;
    }
    Ok(())
}
