//! The window: what one probe run produced, as a versioned JSON envelope
//! (`geolat-window/1`, documented in docs/window-format.md and held to
//! `schemas/window.schema.json`). Windows are merged across regions and
//! time by analysis, so every latency is an HdrHistogram, never a summary.

pub mod builder;
pub mod codec;
pub mod measure;
pub mod summary;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{PathKind, ProbeIdentity};
use crate::probe::record::{ErrorClass, Phase};

/// The format tag this version writes and reads.
pub const FORMAT: &str = "geolat-window/1";
/// How every `histogram` field is encoded.
pub const HISTOGRAM_ENCODING: &str = "hdrhistogram-v2-deflate-base64";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub format: String,
    pub geolat_version: String,
    pub probe: ProbeIdentity,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `sha256:<hex>` of the probe configuration (`oneshot` for a one-shot run).
    pub config_digest: String,
    pub histogram_encoding: String,
    /// Unit of every histogram value.
    pub unit: String,
    pub targets: Vec<TargetInfo>,
    pub series: Vec<Series>,
    pub errors: Vec<ErrorCount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_audit: Vec<AuditEntry>,
    /// The run was stopped (SIGTERM, Ctrl-C) before every sample was taken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// What a target id in this window stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub id: String,
    pub url: String,
    pub path: PathKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Attempts started against this target in the window.
    pub attempts: u64,
    /// How often DNS answered each answer set (addresses sorted, comma-joined).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dns_answers: std::collections::BTreeMap<String, u64>,
    /// What the first TLS handshake with this target negotiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::probe::record::TlsInfo>,
}

/// Latencies of one phase for one (target, path, region, served_by).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    pub target: String,
    pub path: PathKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    pub phase: Phase,
    pub count: u64,
    pub histogram: String,
}

/// Failed attempts of one class, counted by where they failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    pub target: String,
    pub path: PathKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    pub phase: Phase,
    pub class: ErrorClass,
    pub count: u64,
}

/// What an authoritative name server answered for one client subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub name: String,
    pub nameserver: String,
    pub subnet: String,
    pub rcode: String,
    pub answers: Vec<String>,
    /// The region the answer maps to (via `served_by.addresses`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub count: u64,
    /// Query latency of the answered queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub errors: std::collections::BTreeMap<ErrorClass, u64>,
}

/// Why bytes are not a window this version can use.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown window format `{0}` (this geolat reads {FORMAT}; upgrade geolat)")]
    UnknownFormat(String),
    #[error("unknown histogram encoding `{0}`")]
    UnknownEncoding(String),
    #[error("series {index}: {source}")]
    Histogram {
        index: usize,
        source: codec::CodecError,
    },
}

impl Window {
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses and checks a window, including that every histogram decodes,
    /// so a reader never acts on half of a damaged window.
    pub fn from_json(bytes: &[u8]) -> Result<Window, WindowError> {
        #[derive(Deserialize)]
        struct Tag {
            format: Option<String>,
        }
        let tag: Tag = serde_json::from_slice(bytes)?;
        match tag.format.as_deref() {
            Some(FORMAT) => {}
            other => {
                return Err(WindowError::UnknownFormat(
                    other.unwrap_or("<missing>").to_owned(),
                ));
            }
        }
        let w: Window = serde_json::from_slice(bytes)?;
        if w.histogram_encoding != HISTOGRAM_ENCODING {
            return Err(WindowError::UnknownEncoding(w.histogram_encoding));
        }
        for (index, s) in w.series.iter().enumerate() {
            codec::decode(&s.histogram)
                .map_err(|source| WindowError::Histogram { index, source })?;
        }
        Ok(w)
    }
}
