//! The Prometheus series of a probe process (names, labels and budget in
//! `docs/metrics.md`, the contract dashboards and alerts are written
//! against). Every attempt is observed as it finishes, beside the window
//! that keeps it: the window is the exact record, these series are the
//! live view.

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::config::{ProbeIdentity, Target};
use crate::probe::record::{Attempt, Phase};
use crate::probe::runner::Progress;

/// Upper bounds of the phase histograms, seconds: 1-2-5 steps from 1 ms to
/// 10 s (13 buckets). Loopback handshakes fall in the first, a timed-out
/// phase in `+Inf`; p50/p90/p99 from `histogram_quantile` are within one
/// step, the window's HDR histogram keeps the exact figures.
pub const BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The content type of [`ProbeMetrics::encode`]: OpenMetrics text, which
/// Prometheus asks for first.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`ProbeMetrics::encode_classic`]: the classic text
/// format, for every other client (curl, promtool, older scrapers).
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    geo: String,
    region: String,
    path: String,
    phase: String,
    connection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    geo: String,
    region: String,
    path: String,
    result: String,
    error_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    geo: String,
    path: String,
    region: String,
    served_by: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    geo: String,
    region: String,
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    geo: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GeoLabels {
    geo: String,
    continent: String,
    country: String,
    city: String,
    lat: String,
    lon: String,
    geohash: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type Histograms = Family<PhaseLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// What became of a finished window, counted by `geolat_probe_windows_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowResult {
    Stored,
    StoreFailed,
    /// No `--store`: the window was measured for the metrics only.
    NotStored,
}

impl WindowResult {
    fn as_str(self) -> &'static str {
        match self {
            WindowResult::Stored => "stored",
            WindowResult::StoreFailed => "store_failed",
            WindowResult::NotStored => "not_stored",
        }
    }
}

/// The phases `--metrics-phases` keeps (all by default): the knob that
/// trims the histogram's series, the bulk of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases([bool; 6]);

impl Default for Phases {
    fn default() -> Self {
        Phases([true; 6])
    }
}

impl Phases {
    /// `dns,tcp,tls,ttfb,total,warm`, any subset, at least one.
    pub fn parse(list: &str) -> Result<Phases, String> {
        let mut keep = [false; 6];
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(i) = Phase::ALL.iter().position(|p| p.as_str() == name) else {
                return Err(format!(
                    "unknown phase `{name}`; choose from dns, tcp, tls, ttfb, total, warm"
                ));
            };
            keep[i] = true;
        }
        if !keep.contains(&true) {
            return Err("name at least one phase (dns, tcp, tls, ttfb, total, warm)".into());
        }
        Ok(Phases(keep))
    }

    fn keeps(&self, phase: Phase) -> bool {
        Phase::ALL
            .iter()
            .position(|p| *p == phase)
            .is_some_and(|i| self.0[i])
    }
}

/// The series of one probe process (one geo), ready to encode.
pub struct ProbeMetrics {
    registry: Registry,
    geo: String,
    phases: Phases,
    durations: Histograms,
    requests: Family<RequestLabels, Counter>,
    served_by: Family<ServedLabels, Counter>,
    last_success: Family<PathLabels, Gauge<f64, AtomicU64>>,
    windows: Family<WindowLabels, Counter>,
}

impl ProbeMetrics {
    pub fn new(identity: &ProbeIdentity, phases: Phases) -> ProbeMetrics {
        let geo = identity
            .geo
            .id
            .clone()
            .unwrap_or_else(|| identity.id.clone());
        let mut registry = Registry::default();
        let durations = Histograms::new_with_constructor(histogram);
        registry.register_with_unit(
            "geolat_probe_phase_duration",
            "Duration of each completed phase of a probe attempt (connection: cold for a fresh connection, warm for a request on a kept-alive one)",
            Unit::Seconds,
            durations.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "geolat_probe_requests",
            "Probe attempts by result and error class",
            requests.clone(),
        );
        let served_by = Family::<ServedLabels, Counter>::default();
        registry.register(
            "geolat_probe_served_by",
            "Successful attempts by the region that answered (region: the target's, any for route53 and accelerator)",
            served_by.clone(),
        );
        let last_success = Family::<PathLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "geolat_probe_last_success_timestamp_seconds",
            "Unix time of the last successful attempt",
            last_success.clone(),
        );
        let windows = Family::<WindowLabels, Counter>::default();
        registry.register(
            "geolat_probe_windows",
            "Probe windows finished, by what became of them",
            windows.clone(),
        );
        let geo_info = Family::<GeoLabels, Gauge>::default();
        let coordinate = |c: Option<f64>| c.map(|c| format!("{c}")).unwrap_or_default();
        geo_info
            .get_or_create(&GeoLabels {
                geo: geo.clone(),
                continent: identity.geo.continent.clone(),
                country: identity.geo.country.clone(),
                city: identity.geo.city.clone().unwrap_or_default(),
                lat: coordinate(identity.lat),
                lon: coordinate(identity.lon),
                geohash: match (identity.lat, identity.lon) {
                    (Some(lat), Some(lon)) => geohash(lat, lon, 6),
                    _ => String::new(),
                },
            })
            .set(1);
        registry.register(
            "geolat_geo_info",
            "The probe's geo (always 1): join on geo for coordinates and continent",
            geo_info,
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register(
            "geolat_build_info",
            "The running geolat (always 1)",
            build_info,
        );
        // Each window counter starts at 0, so an alert on
        // increase(...{result="store_failed"}) sees its first failure.
        for result in [
            WindowResult::Stored,
            WindowResult::StoreFailed,
            WindowResult::NotStored,
        ] {
            windows
                .get_or_create(&WindowLabels {
                    geo: geo.clone(),
                    result: result.as_str().to_owned(),
                })
                .inc_by(0);
        }
        ProbeMetrics {
            registry,
            geo,
            phases,
            durations,
            requests,
            served_by,
            last_success,
            windows,
        }
    }

    /// Counts one attempt at `target`, finished at `now`.
    pub fn observe(&self, target: &Target, attempt: &Attempt, now: SystemTime) {
        let path = target.path.as_str();
        let region = attempt
            .served_by
            .clone()
            .or_else(|| target.region.clone())
            .unwrap_or_else(|| "unknown".into());
        for (phase, took) in attempt.latencies() {
            if !self.phases.keeps(phase) {
                continue;
            }
            let (phase, connection) = match phase {
                Phase::Warm => (Phase::Total, "warm"),
                p => (p, "cold"),
            };
            self.durations
                .get_or_create(&PhaseLabels {
                    geo: self.geo.clone(),
                    region: region.clone(),
                    path: path.to_owned(),
                    phase: phase.as_str().to_owned(),
                    connection: connection.to_owned(),
                })
                .observe(took.as_secs_f64());
        }
        let (result, error_class) = match &attempt.failure {
            None => ("ok", "none"),
            Some(f) => ("error", f.class.as_str()),
        };
        self.requests
            .get_or_create(&RequestLabels {
                geo: self.geo.clone(),
                region: region.clone(),
                path: path.to_owned(),
                result: result.to_owned(),
                error_class: error_class.to_owned(),
            })
            .inc();
        if attempt.failure.is_some() {
            return;
        }
        self.served_by
            .get_or_create(&ServedLabels {
                geo: self.geo.clone(),
                path: path.to_owned(),
                region: target.region.clone().unwrap_or_else(|| "any".into()),
                served_by: attempt
                    .served_by
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            })
            .inc();
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_success
            .get_or_create(&PathLabels {
                geo: self.geo.clone(),
                region,
                path: path.to_owned(),
            })
            .set(unix);
    }

    pub fn window_finished(&self, result: WindowResult) {
        self.windows
            .get_or_create(&WindowLabels {
                geo: self.geo.clone(),
                result: result.as_str().to_owned(),
            })
            .inc();
    }

    /// The exposition in the classic text format (0.0.4), as [`CLASSIC`].
    pub fn encode_classic(&self) -> String {
        classic(&self.encode())
    }

    /// The exposition, as [`OPENMETRICS`].
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the encoder's own errors are
        // for label values it cannot write, which ours never are.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        out
    }
}

impl Progress for ProbeMetrics {
    fn attempt_done(&self, target: &Target, attempt: &Attempt) {
        self.observe(target, attempt, SystemTime::now());
    }
}

/// OpenMetrics text to the classic format: a counter's family is named with
/// its `_total` (as its samples are), and `# UNIT` and `# EOF` go. That is
/// all that differs for the types we expose (counters, gauges, histograms,
/// no exemplars); `prometheus-client` writes only OpenMetrics, and
/// `promtool check metrics` and curl users read the classic format.
fn classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let renamed = |l: &str| {
                if kind == "counter" {
                    l.replacen(name, &format!("{name}_total"), 1)
                } else {
                    l.to_owned()
                }
            };
            if let Some(h) = help.take() {
                out.push_str(&renamed(h));
                out.push('\n');
            }
            out.push_str(&renamed(line));
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The geohash of a point (`precision` characters), for Grafana's geomap.
///
/// Written here rather than taken from the `geohash` crate: it is the 20
/// lines below, and that crate brings `geo-types` (and through it
/// `num-traits`, `approx`) for one call per process.
pub fn geohash(lat: f64, lon: f64, precision: usize) -> String {
    const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (mut lat_range, mut lon_range) = ((-90.0, 90.0), (-180.0, 180.0));
    let mut out = String::with_capacity(precision);
    let (mut bits, mut value, mut even) = (0, 0usize, true);
    while out.len() < precision {
        let (range, x) = if even {
            (&mut lon_range, lon)
        } else {
            (&mut lat_range, lat)
        };
        let mid = (range.0 + range.1) / 2.0;
        value <<= 1;
        if x >= mid {
            value |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            out.push(char::from(BASE32[value]));
            (bits, value) = (0, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Geo, PathKind};
    use crate::probe::record::{ErrorClass, Failure};

    fn identity() -> ProbeIdentity {
        ProbeIdentity {
            lat: Some(51.51),
            lon: Some(-0.13),
            ..ProbeIdentity::edge("lab-london", Geo::of("GB", "EU").with_id("GB-London"))
        }
    }

    fn target(path: PathKind, region: Option<&str>) -> Target {
        Target {
            path,
            region: region.map(str::to_owned),
            ..Target::from_url("https://api.example.com/".parse().unwrap())
        }
    }

    #[test]
    fn geohash_matches_published_values() {
        // Wikipedia's two examples (the second is geohash.org's own).
        assert_eq!(geohash(42.605, -5.603, 5), "ezs42");
        assert_eq!(geohash(57.64911, 10.40744, 11), "u4pruydqqvj");
    }

    #[test]
    fn phases_parse_names_and_refuse_the_rest() {
        let p = Phases::parse("total, ttfb").unwrap();
        assert!(p.keeps(Phase::Total) && p.keeps(Phase::Ttfb) && !p.keeps(Phase::Dns));
        assert!(
            Phases::parse("total,latency")
                .unwrap_err()
                .contains("`latency`")
        );
        assert!(Phases::parse(" , ").is_err());
    }

    #[test]
    fn an_attempt_becomes_series_with_the_documented_labels() {
        let m = ProbeMetrics::new(&identity(), Phases::default());
        let ok = Attempt {
            tcp: Some(Duration::from_micros(1_500)),
            total: Some(Duration::from_millis(30)),
            warm: vec![Duration::from_millis(12), Duration::from_millis(11)],
            served_by: Some("eu-central-1".into()),
            ..Attempt::default()
        };
        let failed = Attempt {
            failure: Some(Failure::new(Phase::Tls, ErrorClass::TlsCert, "bad")),
            ..Attempt::default()
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        m.observe(&target(PathKind::Route53, None), &ok, at);
        m.observe(&target(PathKind::Direct, Some("us-east-1")), &failed, at);
        m.window_finished(WindowResult::Stored);
        let text = m.encode();
        for line in [
            r#"geolat_probe_phase_duration_seconds_bucket{le="0.002",geo="GB-London",region="eu-central-1",path="route53",phase="tcp",connection="cold"} 1"#,
            r#"geolat_probe_phase_duration_seconds_count{geo="GB-London",region="eu-central-1",path="route53",phase="total",connection="warm"} 2"#,
            r#"geolat_probe_requests_total{geo="GB-London",region="eu-central-1",path="route53",result="ok",error_class="none"} 1"#,
            r#"geolat_probe_requests_total{geo="GB-London",region="us-east-1",path="direct",result="error",error_class="tls_cert"} 1"#,
            r#"geolat_probe_served_by_total{geo="GB-London",path="route53",region="any",served_by="eu-central-1"} 1"#,
            r#"geolat_probe_last_success_timestamp_seconds{geo="GB-London",region="eu-central-1",path="route53"} 1700000000.0"#,
            r#"geolat_probe_windows_total{geo="GB-London",result="stored"} 1"#,
            r#"geolat_probe_windows_total{geo="GB-London",result="store_failed"} 0"#,
            r#"geolat_geo_info{geo="GB-London",continent="EU",country="GB",city="",lat="51.51",lon="-0.13",geohash="gcpvj1"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        let classic = m.encode_classic();
        assert!(classic.contains("# TYPE geolat_probe_requests_total counter\n"));
        assert!(classic.contains("# HELP geolat_probe_requests_total Probe attempts"));
        assert!(classic.contains("# TYPE geolat_probe_phase_duration_seconds histogram\n"));
        assert!(!classic.contains("# UNIT") && !classic.contains("# EOF"));
        // A failure is never a latency, nor a served_by or a success time.
        assert!(!text.contains(r#"region="us-east-1",path="direct",phase"#));
        assert!(!text.contains(r#"served_by_total{geo="GB-London",path="direct""#));
    }

    #[test]
    fn trimmed_phases_leave_only_what_was_asked() {
        let m = ProbeMetrics::new(&identity(), Phases::parse("ttfb").unwrap());
        let ok = Attempt {
            tcp: Some(Duration::from_millis(1)),
            ttfb: Some(Duration::from_millis(3)),
            warm: vec![Duration::from_millis(2)],
            ..Attempt::default()
        };
        m.observe(
            &target(PathKind::Direct, Some("sa-east-1")),
            &ok,
            SystemTime::now(),
        );
        let text = m.encode();
        assert!(text.contains(r#"phase="ttfb""#));
        assert!(!text.contains(r#"phase="tcp""#) && !text.contains(r#"connection="warm""#));
    }
}
