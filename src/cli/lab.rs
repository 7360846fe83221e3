//! `geolat lab`: the local lab. With no subcommand, the whole loop on one
//! machine (probe every geo, analyze, advise, apply, probe again) on a
//! world file; `lab serve` keeps a lab running for other tools (benchmarks,
//! curl, `geolat probe --config probes/lab-london.yaml`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config;
use crate::lab::closed_loop::{self, LoopOptions, LoopReport};
use crate::lab::endpoint::Delays;
use crate::lab::{Lab, LabSpec, RegionSpec};
use crate::store::Store;
use crate::world::World;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    /// World file (geolat-world/1); default: the built-in aws-edges world.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Make a region slower by a factor, e.g. --degrade eu-central-1=3.
    #[arg(long = "degrade", value_name = "REGION=FACTOR")]
    pub degrade: Vec<String>,
    /// Fresh-connection samples per geo and target in each probe round.
    #[arg(short = 'n', long, default_value_t = 4)]
    pub samples: u32,
    /// Keep the rounds' windows in this store (default: a temporary directory).
    #[arg(long, value_name = "URL", conflicts_with = "dash")]
    pub store: Option<String>,
    /// Watch the loop on the dashboard (`geolat dash --lab` on this world)
    /// instead of reading its table at the end.
    #[arg(long)]
    pub dash: bool,
    #[command(flatten)]
    pub view: super::dash::ViewArgs,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Run the lab's endpoints and DNS until Ctrl-C (or --for), for other tools to probe.
    ///
    /// Regions listen on 127.0.1.1, 127.0.1.2, ... (one port for all), not on
    /// 127.0.0.1; DNS listens on 127.0.0.1. Prints one JSON line with the
    /// port, DNS address, CA file and region addresses once ready.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTPS port shared by every region (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// DNS port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub dns_port: u16,
    /// Write the lab CA certificate (PEM) here, for --ca / ca_file.
    #[arg(long, value_name = "FILE")]
    pub ca_out: PathBuf,
    /// Injected delay for every client of a region, e.g. --delay eu-central-1=20ms.
    #[arg(long = "delay", value_name = "REGION=DURATION")]
    pub delays: Vec<String>,
    /// Spend injected delays busy instead of asleep, on one thread: exact to
    /// tens of microseconds on virtual machines, for measuring a few
    /// clients at a time (the lab then keeps one core busy).
    #[arg(long)]
    pub busy_wait: bool,
    /// Stop after this long instead of waiting for Ctrl-C.
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<String>,
}

pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        Some(LabCommand::Serve(s)) => serve(s).await,
        None => run_loop(&args).await,
    }
}

/// The world's regions, each with a uniform delay.
fn region_specs(world: &World, delays: &BTreeMap<String, Duration>) -> Vec<RegionSpec> {
    world
        .regions
        .iter()
        .map(|r| RegionSpec {
            id: r.id.clone(),
            delays: Delays::uniform(delays.get(&r.id).copied().unwrap_or_default()),
        })
        .collect()
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let world = World::builtin();
    let mut delays = BTreeMap::new();
    for d in &args.delays {
        let (region, dur) = d.split_once('=').with_context(|| {
            format!("--delay `{d}`: write REGION=DURATION, e.g. eu-central-1=20ms")
        })?;
        if world.region_index(region).is_none() {
            let known: Vec<&str> = world.regions.iter().map(|r| r.id.as_str()).collect();
            anyhow::bail!(
                "--delay `{d}`: unknown region `{region}`; the lab has {}",
                known.join(", ")
            );
        }
        let dur = humantime::parse_duration(dur)
            .map_err(|e| anyhow::anyhow!("--delay `{d}`: `{dur}` is not a duration ({e})"))?;
        let most = crate::lab::timer::MAX_DELAY;
        if dur > most {
            anyhow::bail!(
                "--delay `{d}`: at most {} of delay; give a shorter duration, e.g. {region}=200ms",
                humantime::format_duration(most)
            );
        }
        delays.insert(region.to_owned(), dur);
    }
    let run_for = args
        .run_for
        .as_deref()
        .map(|s| config::parse_duration(s).map_err(|p| anyhow::anyhow!("--for: {p}")))
        .transpose()?;
    let spec = LabSpec {
        regions: region_specs(&world, &delays),
        port: args.port,
        dns_port: args.dns_port,
        busy_wait: args.busy_wait,
    };
    let lab = Lab::start(&spec).await?;
    std::fs::write(&args.ca_out, &lab.ca_pem).with_context(|| {
        format!(
            "--ca-out {}: cannot write the lab CA",
            args.ca_out.display()
        )
    })?;
    let regions: BTreeMap<String, String> = lab
        .endpoints
        .iter()
        .map(|e| (e.region().to_owned(), e.addr().ip().to_string()))
        .collect();
    let ready = serde_json::json!({
        "port": lab.port,
        "dns": lab.dns.addr().to_string(),
        "ca": args.ca_out.display().to_string(),
        "service_url": lab.service_url(),
        "regions": regions,
    });
    let mut out = std::io::stdout();
    writeln!(out, "{ready}")?;
    out.flush()?;
    let stop = super::stop_on_signal();
    match run_for {
        Some(d) => {
            tokio::select! { _ = tokio::time::sleep(d) => {}, _ = stop.cancelled() => {} }
        }
        None => stop.cancelled().await,
    }
    lab.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// `--degrade REGION=FACTOR` flags, checked against the world's regions.
fn degradations(flags: &[String], world: &World) -> anyhow::Result<HashMap<String, f64>> {
    let mut out = HashMap::new();
    for d in flags {
        let (region, factor) = d.split_once('=').with_context(|| {
            format!("--degrade `{d}`: write REGION=FACTOR, e.g. eu-central-1=3")
        })?;
        if world.region_index(region).is_none() {
            let known: Vec<&str> = world.regions.iter().map(|r| r.id.as_str()).collect();
            anyhow::bail!(
                "--degrade `{d}`: unknown region `{region}`; the world has {}",
                known.join(", ")
            );
        }
        let factor: f64 = factor
            .parse()
            .ok()
            .filter(|f: &f64| f.is_finite() && *f >= 1.0)
            .with_context(|| {
                format!("--degrade `{d}`: `{factor}` must be a factor of 1 or more, e.g. 3")
            })?;
        out.insert(region.to_owned(), factor);
    }
    Ok(out)
}

async fn run_loop(args: &LabArgs) -> anyhow::Result<()> {
    if args.samples == 0 {
        anyhow::bail!("-n 0: take at least one sample");
    }
    let world = match &args.world {
        Some(f) => World::load(f)?,
        None => World::builtin(),
    };
    let opts = LoopOptions {
        samples: args.samples,
        degrade: degradations(&args.degrade, &world)?,
        ..LoopOptions::default()
    };
    if args.dash {
        return super::dash::with_lab(world, opts, &args.view).await;
    }
    // Windows go to the given store, or to a directory removed afterwards.
    let (url, _scratch) = match &args.store {
        Some(url) => (url.clone(), None),
        None => {
            let dir = tempfile::tempdir().context("cannot create a temporary store directory")?;
            (format!("file://{}", dir.path().display()), Some(dir))
        }
    };
    let store = Store::open(&url)?;
    // The round after the plan goes to its own store: the main one then
    // holds only windows measured under one routing, which
    // `advise --store URL --topology T` takes as they are.
    let after_url = format!("{}/{AFTER_PLAN}", url.trim_end_matches('/'));
    let after_store = Store::open(&after_url)?;
    writeln!(
        std::io::stdout(),
        "geolat lab: world `{}` ({} geos, {} regions), {} samples per geo and target per round{}",
        world.name,
        world.geos.len(),
        world.regions.len(),
        args.samples,
        if opts.degrade.is_empty() {
            String::new()
        } else {
            format!(", degraded: {:?}", opts.degrade)
        }
    )?;
    writeln!(
        std::io::stdout(),
        "round 1: every geo probes every region directly, through DNS (routed geo-nearest on the map) and through the accelerator..."
    )?;
    let stop = super::stop_on_signal();
    let report = closed_loop::run(world, &opts, &store, &after_store, &stop).await?;
    render(&report, &mut std::io::stdout())?;
    if args.store.is_some() {
        writeln!(
            std::io::stdout(),
            "windows before the plan: {url} (advise on them: geolat advise --store {url} --since 1h --topology {BUILTIN_TOPOLOGY}{}); after it: {after_url}",
            if report.busy.is_some() {
                " --accept-wide"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// Where, under the lab's store, the round after the plan is kept.
const AFTER_PLAN: &str = "after-plan";
/// The built-in world's topology, shipped beside it.
const BUILTIN_TOPOLOGY: &str = "src/world/aws-edges.topology.json";

fn regions_text(split: &BTreeMap<String, f64>) -> String {
    if split.is_empty() {
        return "-".into();
    }
    split
        .iter()
        .filter(|(_, f)| **f >= 0.005)
        .map(|(r, f)| {
            if *f > 0.995 {
                r.clone()
            } else {
                format!("{r} {:.0}%", f * 100.0)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(r: &LoopReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into());
    if let Some(busy) = &r.busy {
        writeln!(
            out,
            "note: this machine was too busy for these figures to mean much ({busy}); run again when it is quieter"
        )?;
    }
    writeln!(
        out,
        "analyzed {} windows, advised, applied the plan to the lab's DNS and accelerator, probed again.",
        r.before.windows.merged + r.after.windows.merged
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:>8}  {:<34} {:>9}  {:<34} {:>9}",
        "geo", "rps", "routed before", "p50 ms", "routed after", "p50 ms"
    )?;
    for g in &r.geos {
        writeln!(
            out,
            "{:<16} {:>8.1}  {:<34} {:>9}  {:<34} {:>9}",
            g.geo,
            g.demand_rps,
            regions_text(&g.before_regions),
            ms(g.before_ms),
            regions_text(&g.after_regions),
            ms(g.after_ms)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>8} {:>8}",
        "region", "capacity", "usable", "before", "after"
    )?;
    for (region, c) in &r.plan.capacity {
        writeln!(
            out,
            "{:<16} {:>10.0} {:>10.0} {:>7.0}% {:>7.0}%",
            region,
            c.capacity_rps,
            c.usable_rps,
            c.utilisation_before * 100.0,
            c.utilisation_after * 100.0
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "demand-weighted p50 (measured, routed path): before {:.1} ms, after {:.1} ms ({:+.1}%); {:.1} s in all",
        r.before_ms,
        r.after_ms,
        (r.after_ms / r.before_ms - 1.0) * 100.0,
        r.seconds
    )
}
