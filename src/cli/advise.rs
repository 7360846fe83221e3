//! `geolat advise`: a world file, or measured windows plus a topology ->
//! routing plan (human summary, `--json` plan document, or `--explain GEO`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use chrono::Utc;

use super::time::{TimeArg, TimeRange};
use crate::advise::unload::unload;
use crate::advise::{self, DrainMode, Endpoints, Options, QueueModel};
use crate::analyze::{self, Analysis, MeasuredError, Scope, Slice, Strictness, ToWorldError};
use crate::apply::plan::Evidence;
use crate::probe::record::Phase;
use crate::store::Store;
use crate::world::topology::Topology;
use crate::world::{Percentile, World};

#[derive(Debug, Args)]
pub struct AdviseArgs {
    #[command(flatten)]
    pub advice: AdviceArgs,
    /// Print the plan document (schemas/plan.schema.json) instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Explain why this geo goes where it goes.
    #[arg(long, value_name = "GEO")]
    pub explain: Option<String>,
    /// Write what would be printed to FILE instead (whole or not at all),
    /// e.g. `--json --out advice.json` for `geolat plan --advice` in an
    /// image with no shell to redirect into.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What advice is given on and how: the inputs and options `advise` and
/// `report` share.
#[derive(Debug, Args)]
pub struct AdviceArgs {
    /// World file (`geolat-world/1`): geos, regions, latency, capacity, routing.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["store", "topology"])]
    pub world: Option<PathBuf>,
    /// Measured input: the store holding the probes' windows...
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: Option<String>,
    /// ...and the topology (geolat-topology/1: regions, capacities, demand).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// With --store: windows since (a duration ago, or RFC 3339).
    #[arg(long, default_value = "1h", value_parser = TimeArg::parse, value_name = "TIME")]
    pub since: TimeArg,
    /// With --store: also plan on cells with enough samples whose p50
    /// interval is too wide to state as fact (a busy machine's lab data);
    /// each is named, and a report's verdict on a change resting on one is
    /// "not enough data".
    #[arg(long)]
    pub accept_wide: bool,
    /// With --store: the phase whose latency is planned on.
    #[arg(long, value_enum, default_value = "warm", value_name = "PHASE")]
    pub phase: Phase,
    /// Percentile whose demand-weighted mean is minimised.
    #[arg(long, value_enum, default_value = "p50")]
    pub percentile: Percentile,
    /// Share of each region's capacity kept free (0.1 = use at most 90%).
    #[arg(long, default_value = "0.1", allow_negative_numbers = true, value_parser = fraction_below_one)]
    pub headroom: f64,
    /// Region taking no new traffic (repeatable); see --drain-mode.
    #[arg(long, value_name = "REGION")]
    pub drain: Vec<String>,
    /// no-new: each geo's share of a draining region may only shrink;
    /// empty: a draining region takes nothing.
    #[arg(long, value_enum, default_value = "no-new")]
    pub drain_mode: DrainMode,
    /// Most of total demand one plan may move (0.25 = 25%).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true, value_parser = positive_fraction)]
    pub max_change: Option<f64>,
    /// Replace today's routing only if demand-weighted latency improves by this much.
    #[arg(long, default_value = "1.0", allow_negative_numbers = true, value_parser = non_negative)]
    pub min_improvement_ms: f64,
    /// A geo moves only if that gains at least this much per unit of moved traffic.
    #[arg(long, default_value = "1.0", allow_negative_numbers = true, value_parser = non_negative)]
    pub min_move_ms: f64,
    /// Add M/M/1 queueing delay, growing with each region's utilisation, to the objective.
    #[arg(long)]
    pub utilisation_cost: bool,
    /// Service time of one request (ms) for --utilisation-cost.
    #[arg(long, default_value = "10", allow_negative_numbers = true, value_parser = positive)]
    pub service_ms: f64,
    /// Share of a primary's load its backup must absorb on top of its own (N+1); 0 = off.
    #[arg(long, default_value = "0", allow_negative_numbers = true, value_parser = fraction)]
    pub failover_share: f64,
    /// Endpoint value per region in the traffic policy; `{region}` is replaced.
    #[arg(long, default_value = "{region}.endpoints.example.com")]
    pub endpoint_template: String,
    /// Take today's routing from AWS (Route 53 and Global Accelerator, as
    /// `geolat routing show` reads it) instead of the world's `routing`.
    #[arg(long = "aws", value_name = "FILE")]
    pub aws: Option<PathBuf>,
    /// With --aws: send AWS calls here (an emulator, a VPC endpoint).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

fn number(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number"))
}

fn fraction_below_one(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    (0.0..1.0)
        .contains(&v)
        .then_some(v)
        .ok_or_else(|| format!("{v} is not in 0..1 (0.1 keeps 10% free)"))
}

fn fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    (0.0..=1.0)
        .contains(&v)
        .then_some(v)
        .ok_or_else(|| format!("{v} is not in 0..1"))
}

fn positive_fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    (v > 0.0 && v <= 1.0)
        .then_some(v)
        .ok_or_else(|| format!("{v} is not in (0, 1]: 0.25 moves at most 25% of demand"))
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    (v >= 0.0)
        .then_some(v)
        .ok_or_else(|| format!("{v} must not be negative"))
}

fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    (v > 0.0)
        .then_some(v)
        .ok_or_else(|| format!("{v} must be positive"))
}

/// The world to advise on: a world file, or windows in a store analyzed
/// and joined with a topology (today's modelled queueing taken out of the
/// measured latency when planning with a utilisation cost).
async fn input_world(
    args: &AdviceArgs,
    options: &Options,
    cuts: &[u32],
) -> anyhow::Result<(World, String, Option<(Evidence, Analysis, Vec<Vec<Slice>>)>)> {
    match (&args.world, &args.store, &args.topology) {
        (Some(file), None, None) => Ok((World::load(file)?, file.display().to_string(), None)),
        (None, Some(url), Some(topology)) => {
            let topology = Topology::load(topology)?;
            let phase = args.phase;
            let now = Utc::now();
            let TimeRange { since, .. } = TimeRange::new(args.since, TimeArg::Now, now)?;
            let store = Store::open_existing(url)?;
            let scope = Scope {
                store: url.clone(),
                since,
                until: now,
                now,
                phase,
            };
            let measured = async {
                let (analysis, parts) = analyze::analyze_cuts(&store, scope, cuts).await?;
                let measured = analyze::measured_from(analysis, &topology, strictness(args))?;
                Ok::<_, MeasuredError>((measured, parts))
            }
            .await
            .map_err(|e| {
                    let hint = match e {
                        MeasuredError::NoWindows { .. } => format!(
                            ": widen --since, or probe into it first (`geolat probe --config FILE --store {url}`, or `geolat lab --store {url}`)"
                        ),
                        MeasuredError::ToWorld(ToWorldError::Missing { .. }) if !args.accept_wide => {
                            " (cells with enough samples but a wide interval, as a busy machine measures, are taken with --accept-wide)".to_owned()
                        }
                        _ => String::new(),
                    };
                    match e {
                        MeasuredError::ToWorld(e) => anyhow::anyhow!(
                            "measurements in {url} since {}: {e}{hint}",
                            args.since
                        ),
                        e => anyhow::anyhow!("{e}{hint}"),
                    }
                })?;
            let (measured, parts) = measured;
            for cell in &measured.wide {
                tracing::warn!(cell = %cell, "planning on a cell whose p50 interval is too wide to state as fact (--accept-wide)");
            }
            let world = match &options.queue {
                Some(q) => unload(&measured.world, q),
                None => measured.world,
            };
            let analysis = measured.analysis;
            let evidence = Evidence {
                measured_until: now,
                windows: analysis.windows.merged,
                thin_cells: measured.thin_cells,
            };
            Ok((world, url.clone(), Some((evidence, analysis, parts))))
        }
        (None, Some(_), None) => {
            anyhow::bail!("--store needs --topology FILE with the regions, capacities and demand")
        }
        (None, None, Some(_)) => {
            anyhow::bail!("--topology needs --store URL with the measured windows")
        }
        _ => anyhow::bail!("give --world FILE, or --store URL with --topology FILE"),
    }
}

/// The advisor's options as the command line set them.
pub fn options(args: &AdviceArgs) -> Options {
    Options {
        percentile: args.percentile,
        headroom: args.headroom,
        drain: args.drain.clone(),
        drain_mode: args.drain_mode,
        max_change: args.max_change,
        min_improvement_ms: args.min_improvement_ms,
        min_move_ms: args.min_move_ms,
        queue: args.utilisation_cost.then_some(QueueModel {
            service_ms: args.service_ms,
        }),
        failover_share: args.failover_share,
        ..Options::default()
    }
}

/// The traffic policy's endpoints as the command line names them.
pub fn endpoints(args: &AdviceArgs) -> Endpoints {
    Endpoints {
        template: args.endpoint_template.clone(),
        ..Endpoints::default()
    }
}

/// How well a measured cell must be measured to be planned on.
pub fn strictness(args: &AdviceArgs) -> Strictness {
    if args.accept_wide {
        Strictness::Indicative
    } else {
        Strictness::Strict
    }
}

/// Advice and everything it was given on.
pub struct Advised {
    pub world: World,
    /// The world file or the store.
    pub source: String,
    /// The measurements behind it, when advised from a store.
    pub analysis: Option<Analysis>,
    /// The analysed range in each cut asked for (none from a world file).
    pub cuts: Vec<Vec<Slice>>,
    pub advice: advise::Advice,
    pub plan: advise::Plan,
}

/// Reads the inputs (and, with `--aws`, today's routing) and advises; a
/// store's range is also cut into each of `cuts` slices folded alone, in
/// the same read.
pub async fn advised(args: &AdviceArgs, cuts: &[u32]) -> anyhow::Result<Advised> {
    let options = options(args);
    let (mut world, source, measured) = input_world(args, &options, cuts).await?;
    if let Some(config) = &args.aws {
        let aws = super::routing::AwsArgs {
            config: config.clone(),
            endpoint_url: args.endpoint_url.clone(),
        };
        let state = crate::routing::RoutingControl::read(&aws.control().await?)
            .await
            .context("cannot read today's routing from AWS")?;
        if state.dns.is_empty() {
            anyhow::bail!(
                "--aws {}: Route 53 has no geolat routing for the service name yet; advise from the world's routing and apply it first",
                config.display()
            );
        }
        world.routing = Some(state.geo_fractions(&world));
    }
    let advice = advise::advise(&world, &options, &endpoints(args))
        .with_context(|| format!("advising on {source}"))?;
    let name = if world.name.is_empty() {
        source.clone()
    } else {
        world.name.clone()
    };
    let mut plan = advise::plan::build(&advice, &name);
    let (analysis, cuts) = match measured {
        Some((evidence, analysis, cuts)) => {
            plan.evidence = Some(evidence);
            (Some(analysis), cuts)
        }
        None => (None, Vec::new()),
    };
    Ok(Advised {
        world,
        source,
        analysis,
        cuts,
        advice,
        plan,
    })
}

pub async fn run(args: AdviseArgs) -> anyhow::Result<()> {
    let Advised { advice, plan, .. } = advised(&args.advice, &[]).await?;
    let mut out = Vec::new();
    if let Some(geo) = &args.explain {
        let e = advise::explain::explain(&advice, geo)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        } else {
            advise::explain::render(&e, &mut out)?;
        }
    } else if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?;
    } else {
        advise::summary::render(&plan, &mut out)?;
    }
    match &args.out {
        None => std::io::stdout().write_all(&out)?,
        Some(file) => {
            write_whole(file, &out).map_err(|e| anyhow::anyhow!("--out {}: {e}", file.display()))?
        }
    }
    Ok(())
}

/// Writes `bytes` beside `file`, then renames over it: a reader never sees
/// half an advice.
fn write_whole(file: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}
