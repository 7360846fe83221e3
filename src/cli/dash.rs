//! `geolat dash`: the live dashboard over a store (see `crate::dash`), or
//! over a lab it runs itself (`--lab`, and `geolat lab --dash`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;

use super::advise::{AdviceArgs, endpoints, options, strictness};
use super::time::{TimeArg, TimeRange};
use crate::dash::snapshot::Source;
use crate::dash::text::Format;
use crate::dash::theme::{Theme, ThemeName};
use crate::dash::{self, Options};
use crate::lab::closed_loop::{self, LoopOptions};
use crate::routing::RoutingControl;
use crate::store::Store;
use crate::world::World;
use crate::world::topology::Topology;

#[derive(Debug, Args)]
pub struct DashArgs {
    /// The store (`--store`), the range each refresh reads back from now
    /// (`--since`), the topology that adds the plan, and the advisor's options.
    #[command(flatten)]
    pub advice: AdviceArgs,
    /// Run the local lab (the built-in world, as `geolat lab` does) into a
    /// temporary store and watch it fill.
    #[arg(long, conflicts_with_all = ["store", "topology", "world"])]
    pub lab: bool,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// How the dashboard looks and refreshes (`dash`, `lab --dash`).
#[derive(Debug, Args, Clone)]
pub struct ViewArgs {
    /// How often the store is read again.
    #[arg(long, default_value = "15s", value_parser = refresh_interval, value_name = "DURATION")]
    pub refresh: Duration,
    /// Colours for a dark or light background, or the terminal's own 16.
    #[arg(long, value_enum, default_value = "dark")]
    pub theme: ThemeName,
    /// No colour (also when NO_COLOR is set): numbers and glyphs only.
    #[arg(long)]
    pub no_color: bool,
    /// ASCII glyphs for terminals without Unicode symbols.
    #[arg(long)]
    pub ascii: bool,
    /// Colour buckets at fixed edges (20, 50, 100, 200 ms) instead of fitted to the data.
    #[arg(long)]
    pub fixed_scale: bool,
    /// Print the views once and exit (what happens anyway when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// The format printed by --once (and into a pipe).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

fn refresh_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("`{s}` is not a duration (e.g. 15s, 1m)"))?;
    if d < Duration::from_secs(1) {
        return Err(format!(
            "`{s}` is under 1s; the store is read at most once a second"
        ));
    }
    Ok(d)
}

impl ViewArgs {
    fn options(&self) -> Options {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Options {
            refresh: self.refresh,
            theme: Theme {
                name: self.theme,
                colour: !(self.no_color || no_color_env),
                ascii: self.ascii,
            },
            fixed_scale: self.fixed_scale,
        }
    }
}

pub async fn run(args: DashArgs) -> anyhow::Result<()> {
    if args.lab {
        return with_lab(World::builtin(), LoopOptions::default(), &args.view).await;
    }
    let source = source(&args.advice).await?;
    show(source, &args.view, std::future::pending()).await
}

/// The views, live on a terminal, or printed once.
async fn show(
    source: Source,
    view: &ViewArgs,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let options = view.options();
    if view.once || !dash::interactive() {
        return dash::once(&source, &options, view.format, &mut std::io::stdout()).await;
    }
    let stop = async {
        tokio::select! {
            () = stop => {}
            () = super::signal() => {}
        }
    };
    dash::live(source, &options, stop).await
}

/// What to read, from the command line.
async fn source(args: &AdviceArgs) -> anyhow::Result<Source> {
    if let Some(w) = &args.world {
        anyhow::bail!(
            "--world {}: the dashboard reads measured windows; give --store URL (and --topology FILE for the plan), or --lab",
            w.display()
        );
    }
    let Some(url) = &args.store else {
        anyhow::bail!(
            "give --store URL (file://DIR or s3://BUCKET/PREFIX, or GEOLAT_STORE), or --lab to watch the local lab"
        );
    };
    let store = Store::open_existing(url)?;
    let topology = args.topology.as_deref().map(Topology::load).transpose()?;
    let now = Utc::now();
    let TimeRange { since, .. } = TimeRange::new(args.since, TimeArg::Now, now)?;
    let routing: Option<Arc<dyn RoutingControl>> = match &args.aws {
        None => None,
        Some(config) => {
            let aws = super::routing::AwsArgs {
                config: config.clone(),
                endpoint_url: args.endpoint_url.clone(),
            };
            Some(Arc::new(aws.control().await?))
        }
    };
    Ok(Source {
        store,
        url: url.clone(),
        range: now - since,
        phase: args.phase,
        topology,
        options: options(args),
        endpoints: endpoints(args),
        strictness: strictness(args),
        routing,
    })
}

/// Runs the lab's closed loop into a temporary store and the dashboard
/// over it, until the user quits (the lab's windows stay on screen after
/// its loop ends). A lab on a busy machine measures wide intervals: its
/// cells are taken (as `--accept-wide` does) and named thin.
pub async fn with_lab(world: World, opts: LoopOptions, view: &ViewArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary store directory")?;
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url)?;
    let after = Store::open(&format!("{url}/after-plan"))?;
    let topology = closed_loop::topology_of(&world);
    let (phase, advise) = (opts.phase, opts.advise.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let lab_stop = stop.clone();
    let lab = tokio::spawn(async move {
        let outcome = closed_loop::run(world, &opts, &store, &after, &lab_stop).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "the lab's loop stopped");
        }
    });
    let source = Source {
        store: Store::open(&url)?,
        url: url.clone(),
        range: chrono::TimeDelta::hours(1),
        phase,
        topology: Some(topology),
        options: advise,
        endpoints: Default::default(),
        strictness: crate::analyze::Strictness::Indicative,
        routing: None,
    };
    if view.once || !dash::interactive() {
        // Printed once: when the lab has measured, advised and applied.
        let _ = lab.await;
        return dash::once(
            &source,
            &view.options(),
            view.format,
            &mut std::io::stdout(),
        )
        .await;
    }
    // The lab writes a round every few seconds: read it as often.
    let view = ViewArgs {
        refresh: view.refresh.min(Duration::from_secs(3)),
        ..view.clone()
    };
    let shown = show(source, &view, std::future::pending()).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), lab).await;
    shown
}
