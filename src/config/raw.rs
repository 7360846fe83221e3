//! The probe configuration exactly as written in `probes/*.yaml`. Nothing
//! here is trusted: `super::validate` turns it into the model the probe uses.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub probe: RawIdentity,
    #[serde(default)]
    pub window: RawWindow,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub dns: RawDns,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub served_by: RawServedBy,
    #[serde(default)]
    pub targets: Vec<RawTarget>,
    #[serde(default)]
    pub ecs_audit: Option<RawEcsAudit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    pub id: String,
    /// `region` (runs inside a serving region) or `edge`.
    pub location: String,
    #[serde(default)]
    pub region: Option<String>,
    pub geo: RawGeo,
    #[serde(default)]
    pub coordinates: Option<RawCoordinates>,
    /// Local address to send probes from (e.g. a per-geo loopback address in the lab).
    #[serde(default)]
    pub source_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeo {
    #[serde(default)]
    pub id: Option<String>,
    pub country: String,
    pub continent: String,
    #[serde(default)]
    pub city: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoordinates {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub samples: Option<u64>,
    pub duration: Option<String>,
    pub concurrency: Option<u64>,
    pub warm_requests: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub dns: Option<String>,
    pub tcp: Option<String>,
    pub tls: Option<String>,
    pub ttfb: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    #[serde(default)]
    pub nameservers: Vec<String>,
    pub protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca_file: Option<String>,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub method: Option<String>,
    /// Largest response body a sample reads, e.g. `16MiB` (see `parse_size`).
    pub max_body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServedBy {
    pub header: Option<String>,
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub id: String,
    pub path: String,
    #[serde(default)]
    pub region: Option<String>,
    pub url: String,
    /// Static addresses to connect to instead of resolving the URL's host
    /// (Global Accelerator's anycast IPs); the host still names SNI and Host.
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEcsAudit {
    pub name: String,
    pub nameservers: Vec<String>,
    pub protocol: Option<String>,
    pub subnets: Vec<String>,
    pub samples: Option<u64>,
}
