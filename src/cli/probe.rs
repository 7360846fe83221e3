//! `geolat probe`: the one-shot mode for a person (`probe URL`) and the
//! configured window for a CronJob (`probe --config FILE --store URL`).

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::cloudwatch::CloudWatchArgs;
use crate::config::{
    self, DnsProtocol, DnsSettings, ProbeConfig, ProbeIdentity, ProbeSettings, ServedBy, Target,
    Timeouts, TlsSettings, WindowSpec,
};
use crate::probe::Prober;
use crate::probe::record::Phase;
use crate::store::Store;
use crate::window::measure::{Measured, Run, configured as configured_window, measure};
use crate::window::summary::{self, render_table};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// URL to probe once, e.g. https://api.example.com/healthz (one-shot mode).
    #[arg(conflicts_with = "config", required_unless_present = "config")]
    pub url: Option<String>,
    /// Probe configuration (probes/*.yaml): run one window of every target in it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store to write the window to: file://DIR or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "URL", env = "GEOLAT_STORE")]
    pub store: Option<String>,
    /// With --config: print the window JSON instead of storing it.
    #[arg(long, requires = "config", conflicts_with_all = ["store", "serve"])]
    pub print: bool,
    /// With --config: run windows continuously and serve Prometheus metrics
    /// on http://ADDR/metrics (plus /healthz, /readyz), e.g. 0.0.0.0:9464.
    /// Series and labels: docs/metrics.md. --store is then optional.
    #[arg(long, value_name = "ADDR", requires = "config")]
    pub serve: Option<std::net::SocketAddr>,
    /// With --serve: start a window this often (one that runs longer
    /// starts the next at once).
    #[arg(
        long,
        default_value = "60s",
        value_name = "DURATION",
        requires = "serve"
    )]
    pub every: String,
    /// With --serve: the phases to export, e.g. total,ttfb (the warm
    /// request is `warm`); fewer phases, fewer series.
    #[arg(
        long,
        default_value = "dns,tcp,tls,ttfb,total,warm",
        value_name = "LIST",
        requires = "serve"
    )]
    pub metrics_phases: String,
    /// One-shot: number of samples (each on a fresh connection).
    #[arg(short = 'n', long, default_value_t = 10, conflicts_with = "config")]
    pub samples: u32,
    /// One-shot: warm requests per sample on the kept-alive connection (0..=1000).
    #[arg(long, default_value_t = 1, conflicts_with = "config",
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub warm: u32,
    /// One-shot: trust this CA bundle (PEM) instead of the system roots.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub ca: Option<PathBuf>,
    /// One-shot: do not verify the server certificate (explicit opt-in only).
    #[arg(long, conflicts_with_all = ["ca", "config"])]
    pub insecure: bool,
    /// One-shot: name servers (IP:port) to resolve with instead of the system resolver.
    #[arg(long = "resolver", value_name = "IP:PORT", conflicts_with = "config")]
    pub resolvers: Vec<String>,
    /// One-shot: ask the name servers over TCP instead of UDP.
    #[arg(long, conflicts_with = "config")]
    pub resolver_tcp: bool,
    /// One-shot: response header naming the region that answered.
    #[arg(
        long,
        default_value = "x-region",
        value_name = "NAME",
        conflicts_with = "config"
    )]
    pub region_header: String,
    /// One-shot: timeout for each phase (dns, tcp, tls, ttfb, body).
    #[arg(
        long,
        default_value = "5s",
        value_name = "DURATION",
        conflicts_with = "config"
    )]
    pub timeout: String,
    /// One-shot: largest response body a request reads (e.g. 16MiB, 512kB).
    /// Bodies are counted and discarded, never kept; a larger one fails the
    /// sample as http_other in its body's phase.
    #[arg(
        long,
        default_value = "16MiB",
        value_name = "SIZE",
        conflicts_with = "config"
    )]
    pub max_body: String,
    /// One-shot: local address to send from.
    #[arg(long, value_name = "IP", conflicts_with = "config")]
    pub source: Option<IpAddr>,
    /// One-shot: samples in flight at once (1 measures without self-interference).
    #[arg(long, default_value_t = 1, conflicts_with = "config",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// After SIGTERM or Ctrl-C, how long attempts in flight may finish
    /// before the window is saved without them (a second signal exits at once).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub shutdown_grace: String,
    /// One-shot: print the result as JSON (schemas/probe-oneshot.schema.json).
    /// Either way the exit status is 1 when every sample failed.
    #[arg(long, conflicts_with = "config")]
    pub json: bool,
    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,
}

pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    match (&args.url, &args.config) {
        (Some(url), None) => oneshot(&args, url).await,
        (None, Some(file)) => configured(&args, file).await,
        _ => bail!("give either a URL or --config FILE"),
    }
}

fn oneshot_settings(args: &ProbeArgs) -> anyhow::Result<ProbeSettings> {
    let timeout =
        config::parse_duration(&args.timeout).map_err(|p| anyhow::anyhow!("--timeout: {p}"))?;
    let max_body =
        config::parse_size(&args.max_body).map_err(|p| anyhow::anyhow!("--max-body: {p}"))?;
    if let Some(ca) = &args.ca
        && !ca.is_file()
    {
        bail!(
            "--ca {}: no such file; give the PEM file of the CA that signed the server's certificate",
            ca.display()
        );
    }
    let nameservers = args
        .resolvers
        .iter()
        .map(|r| config::parse_nameserver(r).map_err(|p| anyhow::anyhow!("--resolver: {p}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.samples == 0 {
        bail!("-n 0: take at least one sample");
    }
    Ok(ProbeSettings {
        timeouts: Timeouts {
            dns: timeout,
            tcp: timeout,
            tls: timeout,
            ttfb: timeout,
            body: timeout,
        },
        dns: DnsSettings {
            nameservers,
            protocol: if args.resolver_tcp {
                DnsProtocol::Tcp
            } else {
                DnsProtocol::Udp
            },
        },
        tls: TlsSettings {
            ca_file: args.ca.clone(),
            ca_pem: None,
            insecure: args.insecure,
        },
        served_by: ServedBy {
            header: Some(args.region_header.to_ascii_lowercase()),
            ..ServedBy::default()
        },
        warm_requests: args.warm,
        source_address: args.source,
        max_body,
        ..ProbeSettings::default()
    })
}

/// Identity of a person's one-shot run: an edge probe of unknown geo.
fn oneshot_identity() -> ProbeIdentity {
    ProbeIdentity::edge("oneshot", config::Geo::of("ZZ", "ZZ"))
}

struct Bar(ProgressBar);

impl crate::probe::runner::Progress for Bar {
    fn attempt_done(&self, _: &Target, _: &crate::probe::record::Attempt) {
        self.0.inc(1);
    }
}

/// A progress bar that appears only if the run is still going after a
/// second, and only on a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {pos}/{len} samples [{elapsed}] {wide_bar} eta {eta}",
    ) {
        bar.set_style(style);
    }
    let shown = bar.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !shown.is_finished() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
        }
    });
    bar
}

async fn oneshot(args: &ProbeArgs, url: &str) -> anyhow::Result<()> {
    let url = config::parse_url(url).map_err(|p| anyhow::anyhow!("{p}"))?;
    let settings = oneshot_settings(args)?;
    let store = args.store.as_deref().map(Store::open).transpose()?;
    let publisher = args.cloudwatch.publisher().await?;
    let prober = Prober::new(settings).context("cannot set up the probe")?;
    let target = Target::from_url(url.clone());
    let targets = [target];
    let spec = WindowSpec {
        samples: args.samples,
        duration: None,
        concurrency: args.concurrency.max(1) as usize,
    };
    let stop = super::stop_on_signal();
    let bar = progress_bar(u64::from(args.samples));
    let Measured {
        window,
        tls,
        causes,
    } = measure(Run {
        prober: &prober,
        targets: &targets,
        spec,
        identity: oneshot_identity(),
        config_digest: "oneshot".into(),
        progress: &Bar(bar.clone()),
        stop: &stop,
        grace: grace(args)?,
    })
    .await
    .context("cannot encode the window")?;
    bar.finish_and_clear();
    let causes = causes
        .iter()
        .map(|(class, detail)| (class.as_str().to_owned(), detail.clone()))
        .collect();
    let mut summary =
        summary::summarize(&window, url.as_str(), tls).context("cannot summarise the window")?;
    summary.causes = causes;
    // Buffered: stdout is line-buffered, and pretty JSON is many lines.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        render_table(&summary, &mut out)?;
    }
    out.flush()?;
    if let Some(store) = store {
        let key = store.put_window_or_keep(&window).await?;
        tracing::info!(store = store.url(), key, "window stored");
    }
    if let Some(publisher) = publisher {
        publisher.publish_window(&window).await?;
    }
    if summary.samples > 0 && !summary.phases.contains_key(&Phase::Total) {
        bail!("every sample to {url} failed ({})", summary.error_line());
    }
    Ok(())
}

/// `--shutdown-grace`, at most 25 s: Kubernetes kills a pod 30 s after
/// SIGTERM by default, and the window must be stored before that.
fn grace(args: &ProbeArgs) -> anyhow::Result<std::time::Duration> {
    let g = config::parse_duration(&args.shutdown_grace)
        .map_err(|p| anyhow::anyhow!("--shutdown-grace: {p}"))?;
    if g > MAX_GRACE {
        bail!(
            "--shutdown-grace {}: at most {}s (Kubernetes stops a pod 30 s after SIGTERM)",
            args.shutdown_grace,
            MAX_GRACE.as_secs()
        );
    }
    Ok(g)
}

const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

async fn configured(args: &ProbeArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let cfg = ProbeConfig::load(file)?;
    let grace = grace(args)?;
    if let Some(addr) = args.serve {
        return serve(args, file, &cfg, addr, grace).await;
    }
    let store = match (&args.store, args.print || args.cloudwatch.cloudwatch) {
        (Some(url), _) => Some(Store::open(url)?),
        (None, true) => None,
        (None, false) => bail!(
            "probe --config {}: a window must go somewhere: pass --store URL (file://DIR or s3://BUCKET/PREFIX), --print or --cloudwatch",
            file.display()
        ),
    };
    let publisher = args.cloudwatch.publisher().await?;
    let prober = Prober::new(cfg.settings.clone())
        .with_context(|| format!("cannot set up the probe from {}", file.display()))?;
    let stop = super::stop_on_signal();
    tracing::info!(config = %file.display(), targets = cfg.targets.len(), samples = cfg.window.samples, "window started");
    let window = configured_window(&cfg, &prober, &(), &stop, grace)
        .await
        .context("cannot encode the window")?;
    match store {
        Some(store) => {
            let key = store.put_window_or_keep(&window).await?;
            let errors: u64 = window.errors.iter().map(|e| e.count).sum();
            tracing::info!(
                store = store.url(),
                key,
                series = window.series.len(),
                errors,
                "window stored"
            );
        }
        None if args.print => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            serde_json::to_writer_pretty(&mut out, &window)?;
            writeln!(out)?;
            out.flush()?;
        }
        None => {}
    }
    if let Some(publisher) = publisher {
        publisher.publish_window(&window).await?;
    }
    Ok(())
}

/// `--serve`: windows every `--every`, metrics on ADDR, until SIGTERM.
async fn serve(
    args: &ProbeArgs,
    file: &std::path::Path,
    cfg: &ProbeConfig,
    addr: std::net::SocketAddr,
    grace: Duration,
) -> anyhow::Result<()> {
    let every = config::parse_duration(&args.every).map_err(|p| anyhow::anyhow!("--every: {p}"))?;
    if every < Duration::from_secs(1) {
        bail!("--every {}: at least 1s", args.every);
    }
    let phases = crate::observe::Phases::parse(&args.metrics_phases)
        .map_err(|p| anyhow::anyhow!("--metrics-phases {}: {p}", args.metrics_phases))?;
    if args.cloudwatch.cloudwatch {
        bail!(
            "--serve and --cloudwatch: choose one way to publish (Prometheus metrics or CloudWatch)"
        );
    }
    let store = args.store.as_deref().map(Store::open).transpose()?;
    let prober = Prober::new(cfg.settings.clone())
        .with_context(|| format!("cannot set up the probe from {}", file.display()))?;
    let stop = super::stop_on_signal();
    let settings = crate::observe::ServeSettings {
        every,
        grace,
        phases,
    };
    // Its errors name themselves (`--serve ADDR: cannot listen...`, a window
    // that cannot be encoded): no context that would mislabel them.
    let windows =
        crate::observe::serve(addr, cfg, &prober, store.as_ref(), settings, &stop).await?;
    tracing::info!(windows, "stopped");
    Ok(())
}
