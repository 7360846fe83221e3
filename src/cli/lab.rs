//! `geolat lab`: the local lab. With no subcommand, a demo that starts six
//! emulated regions and probes them as a client in London would see them;
//! `lab serve` keeps a lab running for other tools (benchmarks, curl).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};

use crate::config::{
    self, DnsSettings, PathKind, ProbeIdentity, ProbeSettings, ServedBy, Target, TlsSettings,
    WindowSpec,
};
use crate::lab::endpoint::Delays;
use crate::lab::{Lab, LabSpec, RegionSpec, region_ip};
use crate::probe::{Prober, runner};
use crate::window::builder::WindowBuilder;
use crate::window::summary::{fmt_us, summarize};

/// The six serving regions of the built-in lab, with the round-trip
/// latency (ms) from London to each: p50 of the GB-London row of the
/// shared world `aws-edges.json` (cloudping.co measurements).
const DEMO_REGIONS: [(&str, f64); 6] = [
    ("us-east-1", 77.41),
    ("us-west-2", 128.754),
    ("eu-central-1", 17.894),
    ("ap-northeast-1", 211.407),
    ("ap-southeast-1", 172.169),
    ("sa-east-1", 186.559),
];

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    /// Demo: samples per target.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub samples: u32,
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
    /// Stop after this long instead of waiting for Ctrl-C.
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<String>,
}

pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        Some(LabCommand::Serve(s)) => serve(s).await,
        None => demo(args.samples).await,
    }
}

fn region_specs(delays: &BTreeMap<String, Duration>) -> Vec<RegionSpec> {
    DEMO_REGIONS
        .iter()
        .map(|(id, _)| RegionSpec {
            id: (*id).to_owned(),
            delays: Delays::uniform(delays.get(*id).copied().unwrap_or_default()),
        })
        .collect()
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut delays = BTreeMap::new();
    for d in &args.delays {
        let (region, dur) = d.split_once('=').with_context(|| {
            format!("--delay `{d}`: write REGION=DURATION, e.g. eu-central-1=20ms")
        })?;
        if !DEMO_REGIONS.iter().any(|(id, _)| *id == region) {
            let known: Vec<&str> = DEMO_REGIONS.iter().map(|(id, _)| *id).collect();
            anyhow::bail!(
                "--delay `{d}`: unknown region `{region}`; the lab has {}",
                known.join(", ")
            );
        }
        let dur = humantime::parse_duration(dur)
            .map_err(|e| anyhow::anyhow!("--delay `{d}`: `{dur}` is not a duration ({e})"))?;
        delays.insert(region.to_owned(), dur);
    }
    let run_for = args
        .run_for
        .as_deref()
        .map(|s| config::parse_duration(s).map_err(|p| anyhow::anyhow!("--for: {p}")))
        .transpose()?;
    let spec = LabSpec {
        regions: region_specs(&delays),
        port: args.port,
        dns_port: args.dns_port,
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

async fn demo(samples: u32) -> anyhow::Result<()> {
    if samples == 0 {
        anyhow::bail!("-n 0: take at least one sample");
    }
    let delays: BTreeMap<String, Duration> = DEMO_REGIONS
        .iter()
        .map(|(id, ms)| ((*id).to_owned(), Duration::from_secs_f64(ms / 1000.0)))
        .collect();
    let spec = LabSpec {
        regions: region_specs(&delays),
        port: 0,
        dns_port: 0,
    };
    let lab = Lab::start(&spec).await.context("cannot start the lab")?;
    let settings = ProbeSettings {
        dns: DnsSettings {
            nameservers: vec![lab.dns.addr()],
            ..DnsSettings::default()
        },
        tls: TlsSettings {
            ca_pem: Some(lab.ca_pem.clone()),
            ..TlsSettings::default()
        },
        served_by: ServedBy {
            header: Some("x-region".into()),
            addresses: (0..spec.regions.len())
                .map(|i| (region_ip(i), spec.regions[i].id.clone()))
                .collect(),
        },
        warm_requests: 1,
        ..ProbeSettings::default()
    };
    let prober = Prober::new(settings).context("cannot set up the probe")?;
    let mut targets = vec![Target {
        id: "route53".into(),
        path: PathKind::Route53,
        region: None,
        url: config::parse_url(&lab.service_url()).map_err(|p| anyhow::anyhow!(p))?,
        addresses: Vec::new(),
    }];
    for (region, url) in lab.region_urls() {
        targets.push(Target {
            id: region.clone(),
            path: PathKind::Direct,
            region: Some(region),
            url: config::parse_url(&url).map_err(|p| anyhow::anyhow!(p))?,
            addresses: Vec::new(),
        });
    }
    println!(
        "geolat lab: {} regions on 127.0.1.x:{}, DNS on {}, client in London; {samples} samples per target",
        spec.regions.len(),
        lab.port,
        lab.dns.addr()
    );
    let stop = super::stop_on_signal();
    let identity = ProbeIdentity {
        id: "lab-demo".into(),
        location: "edge".into(),
        region: None,
        geo: config::Geo {
            id: None,
            country: "GB".into(),
            continent: "EU".into(),
            city: Some("London".into()),
        },
        lat: Some(51.5),
        lon: Some(-0.13),
    };
    let mut builders = Vec::new();
    // All targets at once; each target's samples one after another.
    let runs = targets.iter().map(|t| {
        let mut b = WindowBuilder::new(
            identity.clone(),
            "lab-demo".into(),
            std::slice::from_ref(t),
            Utc::now(),
        );
        let (prober, stop) = (&prober, &stop);
        async move {
            let spec = WindowSpec {
                samples,
                duration: None,
                concurrency: 1,
            };
            runner::run(prober, std::slice::from_ref(t), spec, &mut b, &(), stop).await;
            b
        }
    });
    builders.extend(futures::future::join_all(runs).await);
    println!(
        "{:<30} {:<8} {:<15} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "target", "path", "served_by", "dns p50", "tcp p50", "tls p50", "ttfb p50", "warm p50"
    );
    let mut best: Option<(u64, String)> = None;
    let mut routed: Option<(u64, String)> = None;
    for (t, b) in targets.iter().zip(builders) {
        let w = b.finish(Utc::now())?;
        let s = summarize(&w, &t.id, None)?;
        let p = |phase| {
            s.phases
                .get(&phase)
                .map(|x: &crate::window::summary::PhaseStats| fmt_us(x.p50_us))
                .unwrap_or_else(|| "-".into())
        };
        use crate::probe::record::Phase;
        let served: Vec<&str> = s.served_by.keys().map(String::as_str).collect();
        println!(
            "{:<30} {:<8} {:<15} {:>9} {:>9} {:>9} {:>9} {:>9}",
            t.host(),
            t.path.as_str(),
            served.join(","),
            p(Phase::Dns),
            p(Phase::Tcp),
            p(Phase::Tls),
            p(Phase::Ttfb),
            p(Phase::Warm)
        );
        if let Some(warm) = s.phases.get(&Phase::Warm) {
            let entry = (warm.p50_us, served.join(","));
            if t.path == PathKind::Direct && best.as_ref().is_none_or(|b| warm.p50_us < b.0) {
                best = Some(entry);
            } else if t.path == PathKind::Route53 {
                routed = Some(entry);
            }
        }
        if !s.errors.is_empty() {
            println!("  errors: {:?}", s.errors);
        }
    }
    if let (Some((r_us, r_region)), Some((b_us, b_region))) = (routed, best) {
        println!(
            "DNS routes London to {r_region} (warm p50 {}); the best region is {b_region} ({}), {} faster.",
            fmt_us(r_us),
            fmt_us(b_us),
            fmt_us(r_us.saturating_sub(b_us))
        );
    }
    lab.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
