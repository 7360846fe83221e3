//! `geolat report`: the advice written as a report folder (see
//! `crate::report`), or nothing when it would not change anything material.

use std::path::PathBuf;

use clap::Args;

use super::advise::{AdviceArgs, Advised, advised, endpoints, options};
use crate::advise;
use crate::advise::unload::unload;
use crate::analyze::screen::WindowsReport;
use crate::analyze::{self, Analysis, Scope, Slice, Strictness};
use crate::report::stability::{SliceInput, stability};
use crate::report::{self, Input, write};
use crate::world::topology::Topology;

/// Slices the range is cut into to check the recommendation holds.
const SLICES: u32 = 4;
/// Slices of the percentiles-over-time chart.
const OVER_TIME: u32 = 12;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub advice: AdviceArgs,
    /// The folder to write (report.json, report.md, geos.csv, report.html); a previous
    /// report there is replaced whole.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Markdown with the headline only (for a chat message or a PR title comment).
    #[arg(long)]
    pub summary_only: bool,
    /// Write nothing (exit 0, and say so) unless the plan gains at least this
    /// much demand-weighted latency: a scheduled report stays quiet.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = non_negative_ms)]
    pub min_gain: Option<f64>,
}

fn non_negative_ms(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a number of milliseconds (0 or more)"))
}

/// The commands that take this advice to AWS and back, with the user's
/// inputs where they gave them.
fn commands(args: &AdviceArgs) -> Vec<String> {
    let input = match (&args.world, &args.store, &args.topology) {
        (Some(w), _, _) => format!("--world {}", w.display()),
        (None, Some(s), Some(t)) => format!(
            "--store {s} --topology {} --since {}",
            t.display(),
            args.since
        ),
        _ => String::new(),
    };
    let aws = args
        .aws
        .as_ref()
        .map_or("aws-routing.yaml".to_owned(), |a| a.display().to_string());
    let store = args.store.as_deref().unwrap_or("s3://BUCKET/PREFIX");
    vec![
        format!("geolat advise {input} --aws {aws} --json > advice.json"),
        format!("geolat plan --aws {aws} --advice advice.json --out change-plan.json"),
        format!("geolat apply --aws {aws} --store {store} change-plan.json            # dry run"),
        format!("geolat apply --aws {aws} --store {store} change-plan.json --apply"),
        format!("geolat history --store {store}"),
        format!(
            "geolat rollback --aws {aws} --store {store} ID --apply              # undo: ID from history"
        ),
    ]
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let Advised {
        world,
        source,
        analysis,
        plan,
        mut cuts,
        ..
    } = advised(&args.advice, &[OVER_TIME, SLICES]).await?;
    let quarters = cuts.pop().unwrap_or_default();
    let parts = cuts.pop().unwrap_or_default();
    if let Some(min) = args.min_gain {
        let gain = plan.objective.current_ms - plan.objective.plan_ms;
        if gain < min {
            println!(
                "nothing material would change: demand-weighted {} gains {gain:.2} ms (under --min-gain {min} ms); no report written",
                plan.objective.percentile.as_str()
            );
            return Ok(());
        }
    }
    let mut report = report::build(&Input {
        world: &world,
        plan: &plan,
        source: &source,
        analysis: analysis.as_ref(),
        commands: commands(&args.advice),
        slices: &parts,
    });
    if let Some(a) = &analysis {
        let slices = slices(&args.advice, a, quarters)?;
        report.stability = Some(stability(&report, &slices));
    }
    let files = write::files(&report, &world, args.summary_only)?;
    write::folder(&args.out, &files)?;
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    println!(
        "report written to {}: {} (verdict: {})",
        args.out.display(),
        names.join(", "),
        report.headline.verdict.as_str()
    );
    Ok(())
}

/// The analysed range cut into [`SLICES`] equal slices (folded in the same
/// read as the whole range), each measured and advised alone (cells too
/// wide to state as fact are taken: a slice has a quarter of the samples;
/// the slice's plan is only compared).
fn slices(
    args: &AdviceArgs,
    whole: &Analysis,
    quarters: Vec<Slice>,
) -> anyhow::Result<Vec<SliceInput>> {
    let Some(topology) = &args.topology else {
        return Ok(Vec::new());
    };
    let topology = Topology::load(topology)?;
    let options = options(args);
    let endpoints = endpoints(args);
    let mut out = Vec::new();
    for s in quarters {
        let (since, until, windows) = (s.since, s.until, s.windows);
        let scope = Scope {
            store: whole.store.clone(),
            since,
            until,
            now: whole.generated_at,
            phase: whole.phase,
        };
        let counted = WindowsReport {
            read: windows,
            merged: windows,
            ..WindowsReport::default()
        };
        let analysis = Analysis::new(scope, counted, s.matrix);
        let plan = match analyze::measured_from(analysis, &topology, Strictness::Indicative) {
            Err(e) => Err(e.to_string()),
            Ok(m) => {
                let world = match &options.queue {
                    Some(q) => unload(&m.world, q),
                    None => m.world,
                };
                advise::advise(&world, &options, &endpoints)
                    .map(|a| advise::plan::build(&a, &world.name))
                    .map_err(|e| e.to_string())
            }
        };
        out.push(SliceInput {
            since,
            until,
            windows,
            plan,
        });
    }
    Ok(out)
}
