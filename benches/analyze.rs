//! Analysis at scale: a day of one-minute windows from 200 geo probes, each
//! probing 6 regions directly plus Route 53 and Global Accelerator (6
//! phases each), analysed by the release `geolat analyze` binary. Prints
//! wall time, windows/s, CPU and peak RSS for one hour and for the whole
//! day (memory must not grow with windows), and where the time goes.
//!
//!   cargo bench --bench analyze
//!   env: BENCH_GEOS (200), BENCH_MINUTES (1440), BENCH_DIR (target/bench-analyze),
//!        BENCH_STAGES_ONLY (set: only the in-process stage breakdown)
//!
//! The store is generated once (in parallel, real attempts folded by
//! `WindowBuilder`) and cached under BENCH_DIR; reruns only analyse.
//! Files are written with the store's key layout and an mtime just after
//! each window's end, as a probe writing on time leaves them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use geolat::analyze::decode::WindowDecoder;
use geolat::analyze::matrix::MatrixBuilder;
use geolat::analyze::v2::V2Reader;
use geolat::config::{Geo, PathKind, ProbeIdentity, Target};
use geolat::probe::record::{Attempt, ErrorClass, Failure, Phase};
use geolat::store::{hour_prefixes, window_key};
use geolat::window::Window;
use geolat::window::builder::WindowBuilder;

const REGIONS: [&str; 6] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
    "ap-southeast-2",
];
/// Attempts per target per one-minute window (one every 10 s).
const SAMPLES: u64 = 6;
const DAY_START: &str = "2026-11-01T00:00:00Z";

fn main() {
    let geos: u64 = env_num("BENCH_GEOS", 200);
    let minutes: u64 = env_num("BENCH_MINUTES", 1440);
    let base = std::env::var("BENCH_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-analyze"),
        PathBuf::from,
    );
    let dir = base.join(format!("store-g{geos}-m{minutes}-s{SAMPLES}"));
    let start: DateTime<Utc> = DAY_START.parse().expect("valid start");
    ensure_store(&dir, geos, minutes, start);
    profile_stages(&dir, start);
    if std::env::var_os("BENCH_STAGES_ONLY").is_some() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_geolat");
    println!(
        "\nanalyze: {} geos x {} regions, direct + route53 + accelerator, 6 phases, {} samples per target per window; {} cores, load before: {}",
        geos,
        REGIONS.len(),
        SAMPLES,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "{:>10} {:>4} {:>9} {:>8} {:>10} {:>7} {:>11} {:>13} {:>7} {:>8}",
        "range",
        "run",
        "windows",
        "wall_s",
        "windows/s",
        "cpu_s",
        "cpu_us/win",
        "peak_rss_MiB",
        "cells",
        "out_MiB"
    );
    // Twice each: the first run of a range may read from disk if other
    // work evicted the store from the page cache; the second shows CPU.
    for (label, mins) in [("1 hour", 60.min(minutes)), ("whole run", minutes)] {
        let until = start + chrono::Duration::minutes(mins as i64);
        for run in 1..=2 {
            run_analyze(bin, &dir, (label, run), start, until);
        }
    }
    println!("load after: {}", loadavg());
    println!(
        "cpu_s = user + system of the geolat process; windows/s = windows / wall; peak RSS from /usr/bin/time -v"
    );
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A small deterministic generator (SplitMix64): no dependency, same store every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Round trip from geo `g` to region `r` in microseconds: 5-250 ms.
fn rtt_us(g: u64, r: usize) -> f64 {
    let mut rng = Rng(g * 31 + r as u64 * 7919);
    5_000.0 + 245_000.0 * rng.unit().powi(2)
}

/// One attempt's phases: the round trip, jitter (a 1% tail at 3x).
fn attempt(rng: &mut Rng, rtt: f64, served_by: Option<&str>) -> Attempt {
    let fails = rng.unit() < 0.002;
    let mut jitter = |base: f64| {
        let spike = if rng.unit() < 0.01 { 3.0 } else { 1.0 };
        Duration::from_micros((base * spike * (1.0 + 0.1 * rng.unit())) as u64)
    };
    if fails {
        return Attempt {
            dns: Some(jitter(3_000.0)),
            failure: Some(Failure::new(Phase::Tcp, ErrorClass::ConnectTimeout, "")),
            ..Attempt::default()
        };
    }
    Attempt {
        dns: Some(jitter(3_000.0)),
        tcp: Some(jitter(rtt)),
        tls: Some(jitter(rtt + 2_000.0)),
        ttfb: Some(jitter(rtt + 3_000.0)),
        total: Some(jitter(rtt + 3_500.0)),
        warm: vec![jitter(rtt + 3_000.0)],
        served_by: served_by.map(str::to_owned),
        ..Attempt::default()
    }
}

fn targets() -> Vec<Target> {
    let mut t: Vec<Target> = REGIONS
        .iter()
        .map(|r| {
            let mut t = Target::from_url(format!("https://{r}.api.example.com/").parse().unwrap());
            t.id = format!("direct-{r}");
            t.region = Some((*r).to_owned());
            t
        })
        .collect();
    for (id, path) in [
        ("route53", PathKind::Route53),
        ("accelerator", PathKind::Accelerator),
    ] {
        let mut target = Target::from_url("https://api.example.com/".parse().unwrap());
        target.id = id.into();
        target.path = path;
        t.push(target);
    }
    t
}

fn window(g: u64, minute: u64, start: DateTime<Utc>, targets: &[Target]) -> Window {
    let identity = ProbeIdentity {
        id: format!("geo-{g:03}"),
        location: "edge".into(),
        region: None,
        geo: Geo {
            id: None,
            country: "DE".into(),
            continent: "EU".into(),
            city: None,
        },
        lat: None,
        lon: None,
    };
    let begin = start + chrono::Duration::seconds((minute * 60 + g % 30) as i64);
    let mut b = WindowBuilder::new(identity, "sha256:0badc0ffee0ddf00d".into(), targets, begin);
    let mut rng = Rng(g << 32 | minute);
    let nearest = (0..REGIONS.len())
        .min_by(|a, b| rtt_us(g, *a).total_cmp(&rtt_us(g, *b)))
        .unwrap_or(0);
    // Route 53 sends a third of the geos somewhere else, some of them split.
    let dns_choice = |rng: &mut Rng| match g % 6 {
        0 => (nearest + 1) % REGIONS.len(),
        1 if rng.unit() < 0.2 => (nearest + 2) % REGIONS.len(),
        _ => nearest,
    };
    for _ in 0..SAMPLES {
        for (i, r) in REGIONS.iter().enumerate() {
            b.record(i, &attempt(&mut rng, rtt_us(g, i), Some(r)));
        }
        let via_dns = dns_choice(&mut rng);
        let a = attempt(&mut rng, rtt_us(g, via_dns), Some(REGIONS[via_dns]));
        b.record(REGIONS.len(), &a);
        let a = attempt(&mut rng, rtt_us(g, nearest), Some(REGIONS[nearest]));
        b.record(REGIONS.len() + 1, &a);
    }
    b.finish(begin + chrono::Duration::seconds(55))
        .expect("encodes")
}

fn ensure_store(dir: &Path, geos: u64, minutes: u64, start: DateTime<Utc>) {
    let done = dir.join(".complete");
    if let Ok(note) = fs::read_to_string(&done) {
        println!("store: {} (cached; {})", dir.display(), note.trim());
        return;
    }
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("create store dir");
    let began = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bytes: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let targets = targets();
                    let mut bytes = 0u64;
                    for minute in 0..minutes {
                        for g in (t..geos).step_by(threads as usize) {
                            let w = window(g, minute, start, &targets);
                            bytes += write(dir, &w);
                        }
                    }
                    bytes
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let n = geos * minutes;
    let note = format!(
        "generated {n} windows, {:.0} MiB, in {:.1} s on {threads} threads",
        bytes as f64 / 1048576.0,
        began.elapsed().as_secs_f64()
    );
    fs::write(&done, &note).expect("write marker");
    println!("store: {} ({note})", dir.display());
}

fn write(dir: &Path, w: &Window) -> u64 {
    let path = dir.join(window_key(w));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("hour dir");
    }
    let json = w.to_json().expect("window encodes");
    fs::write(&path, &json).expect("write window");
    let written = SystemTime::from(w.end) + Duration::from_millis(1_500);
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(written))
        .expect("set mtime");
    json.len() as u64
}

/// Where the time goes, in process, on one thread, over the first hour's files.
fn profile_stages(dir: &Path, start: DateTime<Utc>) {
    let hour = hour_prefixes(start, start + chrono::Duration::hours(1));
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join(&hour[0]))
        .expect("first hour of the store")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files.truncate(3_000);
    let t = Instant::now();
    let blobs: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).expect("read")).collect();
    let read = t.elapsed();
    let mut decoder = WindowDecoder::default();
    let t = Instant::now();
    let decoded: Vec<_> = blobs
        .iter()
        .map(|b| decoder.decode(b).expect("decodes"))
        .collect();
    let decode = t.elapsed();
    let windows: Vec<Window> = blobs
        .iter()
        .map(|b| serde_json::from_slice(b).expect("parses"))
        .collect();
    let hists: Vec<&str> = windows
        .iter()
        .flat_map(|w| w.series.iter().map(|s| s.histogram.as_str()))
        .collect();
    let mut reader = V2Reader::default();
    let mut pairs = Vec::new();
    let t = Instant::now();
    for h in &hists {
        pairs.clear();
        reader.read_into(h, &mut pairs).expect("histogram");
    }
    let histograms = t.elapsed();
    let t = Instant::now();
    let mut raw = Vec::new();
    for h in &hists {
        raw.clear();
        base64::Engine::decode_vec(&base64::engine::general_purpose::STANDARD, h, &mut raw)
            .expect("base64");
    }
    let b64 = t.elapsed();
    let mut m = MatrixBuilder::default();
    let t = Instant::now();
    for w in &decoded {
        m.add(w);
    }
    let fold = t.elapsed();
    let n = blobs.len() as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let size: usize = blobs.iter().map(Vec::len).sum();
    println!(
        "\nper window, one thread, {} windows ({:.1} KiB, {:.1} series each):",
        blobs.len(),
        size as f64 / n / 1024.0,
        hists.len() as f64 / n
    );
    println!("  read file            {:>7.1} us", us(read));
    println!("  decode total         {:>7.1} us", us(decode));
    println!(
        "    JSON (the rest)    {:>7.1} us",
        us(decode.saturating_sub(histograms))
    );
    println!("    histograms         {:>7.1} us", us(histograms));
    println!("      of which base64  {:>7.1} us", us(b64));
    println!("  fold into matrix     {:>7.1} us", us(fold));
}

fn run_analyze(
    bin: &str,
    dir: &Path,
    (label, run): (&str, u32),
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let out_file = dir.with_extension(format!("{}.json", label.replace(' ', "-")));
    let time_file = dir.with_extension("time.txt");
    let out = fs::File::create(&out_file).expect("output file");
    let status = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("-o")
        .arg(&time_file)
        .arg(bin)
        .args(["analyze", "--json", "--store"])
        .arg(format!("file://{}", dir.display()))
        .args([
            "--since",
            &since.to_rfc3339(),
            "--until",
            &until.to_rfc3339(),
        ])
        .stdout(out)
        .status()
        .expect("run /usr/bin/time (apt-get install time)");
    assert!(status.success(), "geolat analyze failed");
    let time = fs::read_to_string(&time_file).expect("time output");
    let field = |name: &str| -> String {
        time.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let wall: f64 = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
        .split(':')
        .fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0));
    let cpu: f64 = field("User time (seconds):").parse().unwrap_or(0.0)
        + field("System time (seconds):").parse().unwrap_or(0.0);
    let rss_kib: f64 = field("Maximum resident set size (kbytes):")
        .parse()
        .unwrap_or(0.0);
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(&out_file).expect("read output")).expect("JSON output");
    let merged = doc["windows"]["merged"].as_u64().unwrap_or(0);
    let cells = doc["matrix"]["cells"].as_array().map_or(0, Vec::len);
    let out_mib = fs::metadata(&out_file).map_or(0, |m| m.len()) as f64 / 1048576.0;
    println!(
        "{label:>10} {run:>4} {merged:>9} {wall:>8.2} {:>10.0} {cpu:>7.2} {:>11.1} {:>13.1} {cells:>7} {out_mib:>8.1}",
        merged as f64 / wall,
        cpu * 1e6 / merged.max(1) as f64,
        rss_kib / 1024.0
    );
}
