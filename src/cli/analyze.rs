//! `geolat analyze`: windows in a store -> latency matrix, per-geo routing
//! verdicts, and optionally a world file for the advisor.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;

use super::cloudwatch::CloudWatchArgs;
use super::time::{TimeRange, TimeRangeArgs};
use crate::analyze::{self, Scope, table};
use crate::probe::record::Phase;
use crate::store::Store;
use crate::world::topology::Topology;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Store: file://DIR or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: String,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    /// Print the analysis as one JSON document (geolat-analysis/1,
    /// schemas/analysis.schema.json) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Phase that geo verdicts and --world-out use: dns, tcp, tls, ttfb,
    /// total, or warm (a request on a kept-alive connection: what users on
    /// long-lived connections wait for).
    #[arg(long, value_enum, default_value = "warm", value_name = "PHASE")]
    pub phase: Phase,
    /// Topology file (geolat-topology/1): regions and geos to build a world
    /// from the measurements. Needs --world-out.
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Write the measured world (geolat-world/1) here for `geolat advise`.
    /// Needs --topology.
    #[arg(long, value_name = "FILE")]
    pub world_out: Option<PathBuf>,
    /// With --cloudwatch: every cell's merged distribution and every
    /// target group's attempts and errors, stamped with --until.
    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,
}

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let phase = args.phase;
    let TimeRange { since, until } = args.range.resolve(now)?;
    if args.cloudwatch.cloudwatch
        && let Err(problem) = crate::publish::cloudwatch::check_timestamp(until, now)
    {
        anyhow::bail!(
            "--until {}: {problem}; analyze a more recent range or drop --cloudwatch",
            args.range.until
        );
    }
    let publisher = args.cloudwatch.publisher().await?;
    // Load the topology before the long part, so a bad file fails fast.
    let world_job = match (args.topology, args.world_out) {
        (Some(t), Some(out)) => Some((Topology::load(&t)?, out)),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!("--topology needs --world-out FILE to write the world to"),
        (None, Some(_)) => anyhow::bail!("--world-out needs --topology FILE with regions and geos"),
    };
    let store = Store::open_existing(&args.store)?;
    let scope = Scope {
        store: store.url().to_owned(),
        since,
        until,
        now,
        phase,
    };
    let analysis = analyze::analyze(&store, scope).await?;
    if let Some((topology, out)) = world_job {
        let provenance = vec![format!(
            "geolat analyze: {} windows from {} started {} .. {}; latency = direct path, phase {}, \
             merged HdrHistogram p50/p90/p99/min; routing = served_by shares on Route 53 (else accelerator)",
            analysis.windows.merged,
            analysis.store,
            since.to_rfc3339(),
            until.to_rfc3339(),
            phase
        )];
        let world = analyze::to_world(&analysis.matrix, &topology, phase, provenance)
            .with_context(|| format!("cannot build a world from {}", analysis.store))?;
        let shown = out.display().to_string();
        world.validate(&shown)?;
        let json = serde_json::to_vec_pretty(&world)?;
        super::files::write_atomically(&out, &json, "world file")?;
        tracing::info!(file = shown, geos = world.geos.len(), "world written");
    }
    {
        let mut stdout = std::io::stdout().lock();
        if args.json {
            serde_json::to_writer(&mut stdout, &analysis)?;
            writeln!(stdout)?;
        } else {
            table::render(&analysis, &mut stdout)?;
        }
    }
    if let Some(publisher) = publisher {
        publisher.publish(&analysis.matrix, until).await?;
    }
    Ok(())
}
