//! Probe configuration: YAML on disk (`raw`) becomes a validated model here,
//! and nothing downstream sees a raw string. Every rejection names the file,
//! the field and what to change.

pub mod parse;
mod raw;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use raw::{RawConfig, RawTarget};

/// A configuration the user must fix, with where and what.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: field `{field}`: {problem}")]
    Field {
        file: PathBuf,
        field: String,
        problem: String,
    },
}

/// How a target is reached: the three ways users reach the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A regional endpoint, bypassing global routing.
    Direct,
    /// The service name as DNS (Route 53) answers it to this probe.
    Route53,
    /// Global Accelerator's static addresses or DNS name.
    Accelerator,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Route53 => "route53",
            PathKind::Accelerator => "accelerator",
        }
    }
}

/// Where the probe runs: inside a serving region or at an edge location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeIdentity {
    pub id: String,
    /// `region` or `edge`.
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub geo: Geo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Geo {
    /// The geo this probe stands for in a world/topology file (e.g.
    /// `GB-London`); analysis keys its matrix by it. Defaults to the probe id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Route 53 continent code.
    pub continent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

impl Geo {
    /// Users in `country` on `continent` (no geo id, no city).
    pub fn of(country: &str, continent: &str) -> Geo {
        Geo {
            id: None,
            country: country.to_owned(),
            continent: continent.to_owned(),
            city: None,
        }
    }

    /// The same, standing for the world/topology geo `id`.
    pub fn with_id(self, id: &str) -> Geo {
        Geo {
            id: Some(id.to_owned()),
            ..self
        }
    }
}

impl ProbeIdentity {
    /// An edge probe `id` standing for `geo`, without a region or
    /// coordinates: what one-shot runs, the lab and test windows are.
    pub fn edge(id: &str, geo: Geo) -> ProbeIdentity {
        ProbeIdentity {
            id: id.to_owned(),
            location: "edge".into(),
            region: None,
            geo,
            lat: None,
            lon: None,
        }
    }
}

/// Per-phase timeouts: a stalled server costs at most the sum, never hangs a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub dns: Duration,
    pub tcp: Duration,
    pub tls: Duration,
    pub ttfb: Duration,
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dns: Duration::from_secs(2),
            tcp: Duration::from_secs(3),
            tls: Duration::from_secs(3),
            ttfb: Duration::from_secs(5),
            body: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsProtocol {
    #[default]
    Udp,
    Tcp,
}

/// Which resolver answers the `dns` phase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsSettings {
    /// Empty: the system resolver (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    pub protocol: DnsProtocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Trust only this CA bundle (PEM) instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Trust only these PEM certificates (the lab's own CA, held in memory).
    pub ca_pem: Option<String>,
    /// Skip certificate verification. Only ever set by an explicit flag.
    pub insecure: bool,
}

/// How to tell which region answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServedBy {
    pub header: Option<String>,
    pub addresses: BTreeMap<IpAddr, String>,
}

/// The default cap on a response body: far above any health check or API
/// answer a latency probe should fetch, far below what hurts a pod.
pub const DEFAULT_MAX_BODY: u64 = 16 << 20;

/// Everything an attempt needs besides its target; shared by the one-shot
/// mode (built from flags) and the configured mode (built from YAML).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    pub timeouts: Timeouts,
    pub dns: DnsSettings,
    pub tls: TlsSettings,
    pub method: HttpMethod,
    pub headers: Vec<(String, String)>,
    pub served_by: ServedBy,
    pub warm_requests: u32,
    pub source_address: Option<IpAddr>,
    /// Bytes of response body a request may read before it fails. Bodies
    /// are counted and discarded as they arrive, never kept, so this bounds
    /// the time and bandwidth a misbehaving target costs, not memory.
    pub max_body: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            timeouts: Timeouts::default(),
            dns: DnsSettings::default(),
            tls: TlsSettings::default(),
            method: HttpMethod::default(),
            headers: Vec::new(),
            served_by: ServedBy::default(),
            warm_requests: 0,
            source_address: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
}

/// One thing to probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    pub path: PathKind,
    pub region: Option<String>,
    pub url: Url,
    /// Connect to these instead of resolving the URL host.
    pub addresses: Vec<IpAddr>,
}

impl Target {
    /// A target for the one-shot mode: the URL itself is the identity.
    pub fn from_url(url: Url) -> Self {
        Target {
            id: url.to_string(),
            path: PathKind::Direct,
            region: None,
            url,
            addresses: Vec::new(),
        }
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// How many samples per target a window takes, and how fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSpec {
    pub samples: u32,
    /// Spread samples evenly over this span; `None`: as fast as concurrency allows.
    pub duration: Option<Duration>,
    pub concurrency: usize,
}

/// An authoritative-DNS audit: ask these name servers directly, once per
/// client subnet (EDNS Client Subnet), which addresses they hand out.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsAudit {
    pub name: String,
    pub nameservers: Vec<SocketAddr>,
    pub protocol: DnsProtocol,
    pub subnets: Vec<IpNet>,
    pub samples: u32,
}

/// A validated probe configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    pub identity: ProbeIdentity,
    pub window: WindowSpec,
    pub settings: ProbeSettings,
    pub targets: Vec<Target>,
    pub ecs_audit: Option<EcsAudit>,
    /// `sha256:<hex>` of the file's bytes, stamped on every window it produces.
    pub digest: String,
}

impl ProbeConfig {
    pub fn load(file: &Path) -> Result<ProbeConfig, ConfigError> {
        let bytes = std::fs::read(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| ConfigError::Syntax {
            file: file.to_owned(),
            message: "not UTF-8 text".into(),
        })?;
        let raw: RawConfig = parse::yaml(&text).map_err(|message| ConfigError::Syntax {
            file: file.to_owned(),
            message,
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut v = Validator { file, base };
        let mut cfg = v.config(raw)?;
        cfg.digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        Ok(cfg)
    }
}

/// The YAML parser's errors come with an annotated snippet over several
/// lines; the first line already says where and what.
pub fn one_line(s: &str) -> String {
    let first = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(s);
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

struct Validator<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl Validator<'_> {
    fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Field {
            file: self.file.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn config(&mut self, raw: RawConfig) -> Result<ProbeConfig, ConfigError> {
        let identity = self.identity(&raw.probe)?;
        let source_address = raw
            .probe
            .source_address
            .as_deref()
            .map(|s| {
                s.parse::<IpAddr>().map_err(|_| {
                    self.err(
                        "probe.source_address",
                        format!("`{s}` is not an IP address"),
                    )
                })
            })
            .transpose()?;
        let window = WindowSpec {
            samples: self.positive_u32("window.samples", raw.window.samples, 10)?,
            duration: raw
                .window
                .duration
                .as_deref()
                .map(|d| {
                    let d = self.duration("window.duration", d)?;
                    if d > MAX_WINDOW {
                        return Err(self.err(
                            "window.duration",
                            format!(
                                "{} is longer than a window may be ({}): run shorter windows more often",
                                humantime::format_duration(d),
                                humantime::format_duration(MAX_WINDOW)
                            ),
                        ));
                    }
                    Ok(d)
                })
                .transpose()?,
            concurrency: self.positive_u32("window.concurrency", raw.window.concurrency, 32)?
                as usize,
        };
        let warm_requests = match raw.window.warm_requests {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| self.err("window.warm_requests", "must be between 0 and 1000"))?,
        };
        let defaults = Timeouts::default();
        let t = &raw.timeouts;
        let timeouts = Timeouts {
            dns: self.opt_duration("timeouts.dns", t.dns.as_deref(), defaults.dns)?,
            tcp: self.opt_duration("timeouts.tcp", t.tcp.as_deref(), defaults.tcp)?,
            tls: self.opt_duration("timeouts.tls", t.tls.as_deref(), defaults.tls)?,
            ttfb: self.opt_duration("timeouts.ttfb", t.ttfb.as_deref(), defaults.ttfb)?,
            body: self.opt_duration("timeouts.body", t.body.as_deref(), defaults.body)?,
        };
        let dns = DnsSettings {
            nameservers: self.nameservers("dns.nameservers", &raw.dns.nameservers)?,
            protocol: self.protocol("dns.protocol", raw.dns.protocol.as_deref())?,
        };
        let tls = TlsSettings {
            ca_file: raw.tls.ca_file.as_deref().map(|f| self.base.join(f)),
            ca_pem: None,
            insecure: raw.tls.insecure,
        };
        if let Some(ca) = &tls.ca_file
            && !ca.is_file()
        {
            return Err(self.err(
                "tls.ca_file",
                format!("{} does not exist or is not a file", ca.display()),
            ));
        }
        let method = match raw
            .http
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("GET") => HttpMethod::Get,
            Some("HEAD") => HttpMethod::Head,
            Some(other) => {
                return Err(self.err(
                    "http.method",
                    format!("`{other}` is not supported; use GET or HEAD"),
                ));
            }
        };
        let max_body = match raw.http.max_body.as_deref() {
            None => DEFAULT_MAX_BODY,
            Some(s) => parse_size(s).map_err(|p| self.err("http.max_body", p))?,
        };
        let mut headers = Vec::new();
        for (name, value) in &raw.http.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                return Err(self.err(format!("http.headers.{name}"), "not a valid HTTP header"));
            }
            headers.push((name.clone(), value.clone()));
        }
        let mut by_address = BTreeMap::new();
        for (addr, region) in &raw.served_by.addresses {
            let ip = addr.parse::<IpAddr>().map_err(|_| {
                self.err(
                    format!("served_by.addresses.{addr}"),
                    "key is not an IP address",
                )
            })?;
            by_address.insert(ip, region.clone());
        }
        if let Some(h) = &raw.served_by.header
            && http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(self.err(
                "served_by.header",
                format!("`{h}` is not a valid header name"),
            ));
        }
        let served_by = ServedBy {
            header: raw
                .served_by
                .header
                .as_ref()
                .map(|h| h.to_ascii_lowercase()),
            addresses: by_address,
        };
        if raw.targets.is_empty() && raw.ecs_audit.is_none() {
            return Err(self.err("targets", "no targets and no ecs_audit: nothing to probe"));
        }
        let mut seen = HashSet::new();
        let mut targets = Vec::with_capacity(raw.targets.len());
        for (i, t) in raw.targets.iter().enumerate() {
            let target = self.target(i, t)?;
            if !seen.insert(target.id.clone()) {
                return Err(self.err(
                    format!("targets[{i}].id"),
                    format!("duplicate id `{}`", target.id),
                ));
            }
            targets.push(target);
        }
        let ecs_audit = raw
            .ecs_audit
            .as_ref()
            .map(|a| self.ecs_audit(a))
            .transpose()?;
        Ok(ProbeConfig {
            identity,
            window,
            settings: ProbeSettings {
                timeouts,
                dns,
                tls,
                method,
                headers,
                served_by,
                warm_requests,
                source_address,
                max_body,
            },
            targets,
            ecs_audit,
            digest: String::new(),
        })
    }

    fn identity(&self, p: &raw::RawIdentity) -> Result<ProbeIdentity, ConfigError> {
        if p.id.is_empty()
            || !p
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(self.err("probe.id", format!("`{}` must be non-empty and use only A-Z a-z 0-9 . _ - (it is part of object keys)", p.id)));
        }
        match (p.location.as_str(), &p.region) {
            ("region", None) => {
                return Err(self.err("probe.region", "required when location is `region`"));
            }
            ("region", Some(_)) | ("edge", _) => {}
            (other, _) => {
                return Err(self.err(
                    "probe.location",
                    format!("`{other}` must be `region` or `edge`"),
                ));
            }
        }
        let country = &p.geo.country;
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(self.err(
                "probe.geo.country",
                format!(
                    "`{country}` is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. DE)"
                ),
            ));
        }
        const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
        if !CONTINENTS.contains(&p.geo.continent.as_str()) {
            return Err(self.err(
                "probe.geo.continent",
                format!(
                    "`{}` must be one of {}",
                    p.geo.continent,
                    CONTINENTS.join(" ")
                ),
            ));
        }
        let (lat, lon) = match &p.coordinates {
            None => (None, None),
            Some(c) => {
                if !(-90.0..=90.0).contains(&c.lat) {
                    return Err(self.err(
                        "probe.coordinates.lat",
                        format!("{} is outside -90..90", c.lat),
                    ));
                }
                if !(-180.0..=180.0).contains(&c.lon) {
                    return Err(self.err(
                        "probe.coordinates.lon",
                        format!("{} is outside -180..180", c.lon),
                    ));
                }
                (Some(c.lat), Some(c.lon))
            }
        };
        Ok(ProbeIdentity {
            id: p.id.clone(),
            location: p.location.clone(),
            region: p.region.clone(),
            geo: Geo {
                id: p.geo.id.clone(),
                country: country.clone(),
                continent: p.geo.continent.clone(),
                city: p.geo.city.clone(),
            },
            lat,
            lon,
        })
    }

    fn target(&self, i: usize, t: &RawTarget) -> Result<Target, ConfigError> {
        let field = |f: &str| format!("targets[{i}].{f}");
        if t.id.is_empty() {
            return Err(self.err(field("id"), "must not be empty"));
        }
        let path = match t.path.as_str() {
            "direct" => PathKind::Direct,
            "route53" => PathKind::Route53,
            "accelerator" => PathKind::Accelerator,
            other => {
                return Err(self.err(
                    field("path"),
                    format!("`{other}` must be direct, route53 or accelerator"),
                ));
            }
        };
        if path == PathKind::Direct && t.region.is_none() {
            return Err(self.err(
                field("region"),
                "a direct target must name the region it belongs to",
            ));
        }
        let url = parse_url(&t.url).map_err(|p| self.err(field("url"), p))?;
        let mut addresses = Vec::new();
        for (j, a) in t.addresses.iter().enumerate() {
            addresses.push(a.parse::<IpAddr>().map_err(|_| {
                self.err(
                    format!("targets[{i}].addresses[{j}]"),
                    format!("`{a}` is not an IP address"),
                )
            })?);
        }
        Ok(Target {
            id: t.id.clone(),
            path,
            region: t.region.clone(),
            url,
            addresses,
        })
    }

    fn ecs_audit(&self, a: &raw::RawEcsAudit) -> Result<EcsAudit, ConfigError> {
        if a.nameservers.is_empty() {
            return Err(self.err(
                "ecs_audit.nameservers",
                "list the authoritative name servers to ask (IP:port)",
            ));
        }
        if a.subnets.is_empty() {
            return Err(self.err(
                "ecs_audit.subnets",
                "list at least one client subnet, e.g. 81.2.69.0/24",
            ));
        }
        let mut subnets = Vec::new();
        for (j, s) in a.subnets.iter().enumerate() {
            subnets.push(s.parse::<IpNet>().map_err(|_| {
                self.err(
                    format!("ecs_audit.subnets[{j}]"),
                    format!("`{s}` is not a CIDR subnet"),
                )
            })?);
        }
        hickory_proto::rr::Name::from_ascii(&a.name).map_err(|e| {
            self.err(
                "ecs_audit.name",
                format!("`{}` is not a DNS name: {e}", a.name),
            )
        })?;
        Ok(EcsAudit {
            name: a.name.clone(),
            nameservers: self.nameservers("ecs_audit.nameservers", &a.nameservers)?,
            protocol: self.protocol("ecs_audit.protocol", a.protocol.as_deref())?,
            subnets,
            samples: self.positive_u32("ecs_audit.samples", a.samples, 3)?,
        })
    }

    fn nameservers(&self, field: &str, list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(j, s)| parse_nameserver(s).map_err(|p| self.err(format!("{field}[{j}]"), p)))
            .collect()
    }

    fn protocol(&self, field: &str, p: Option<&str>) -> Result<DnsProtocol, ConfigError> {
        match p {
            None | Some("udp") => Ok(DnsProtocol::Udp),
            Some("tcp") => Ok(DnsProtocol::Tcp),
            Some(other) => Err(self.err(field, format!("`{other}` must be udp or tcp"))),
        }
    }

    fn positive_u32(&self, field: &str, v: Option<u64>, default: u32) -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(0) => Err(self.err(field, "must be at least 1")),
            Some(n) => u32::try_from(n).map_err(|_| self.err(field, format!("{n} is too large"))),
        }
    }

    fn duration(&self, field: &str, s: &str) -> Result<Duration, ConfigError> {
        parse_duration(s).map_err(|p| self.err(field, p))
    }

    fn opt_duration(
        &self,
        field: &str,
        s: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        s.map(|s| self.duration(field, s)).unwrap_or(Ok(default))
    }
}

/// The longest window: a probe stores nothing until its window ends, so a
/// longer one only risks more measurements to a lost pod.
pub const MAX_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// A positive duration such as `250ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 500ms, 2s, 1m"))?;
    if d.is_zero() {
        return Err(format!(
            "`{s}` is zero; a zero timeout or window would never measure anything"
        ));
    }
    Ok(d)
}

/// A positive byte count: a plain number of bytes, or one with a unit,
/// `KiB`/`MiB`/`GiB` (powers of 1024) or `kB`/`MB`/`GB` (powers of 1000),
/// e.g. `16MiB`, `512kB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{s}` is not a size; write e.g. 16MiB, 512kB or a number of bytes"
            ));
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{s}` is not a size; write e.g. 16MiB, 512kB or a number of bytes")
    })?;
    match n.checked_mul(unit_bytes) {
        Some(0) => Err(format!("`{s}` is zero; no response would ever fit")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{s}` is too large")),
    }
}

/// An http(s) URL with a host.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("`{s}` is not a URL ({e}); write e.g. https://api.example.com/healthz")
    })?;
    match url.scheme() {
        "https" | "http" => {}
        other => {
            return Err(format!(
                "`{s}`: scheme `{other}` is not supported; use https:// or http://"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    Ok(url)
}

/// `IP` or `IP:port` (port 53 by default); IPv6 with a port as `[::1]:53`.
pub fn parse_nameserver(s: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{s}` is not an IP:port name server address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_reject_zero_and_garbage() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(
            parse_duration("fast")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("512kB").unwrap(), 512_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2 gib").unwrap(), 2 << 30);
        assert!(parse_size("0MiB").unwrap_err().contains("zero"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("1.5MiB").unwrap_err().contains("not a size"));
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn urls_need_http_scheme_and_host() {
        assert!(parse_url("https://a.example/x").is_ok());
        assert!(
            parse_url("ftp://a.example/")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(parse_url("not a url").unwrap_err().contains("not a URL"));
    }

    #[test]
    fn nameserver_defaults_port_53() {
        assert_eq!(
            parse_nameserver("10.0.0.2").unwrap(),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert!(parse_nameserver("dns.example").is_err());
    }
}
