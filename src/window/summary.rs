//! The one-shot report: per-phase percentiles over a window, the documented
//! `geolat probe URL --json` contract (schemas/probe-oneshot.schema.json).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Window;
use super::codec::{self, CodecError};
use crate::probe::record::{Phase, TlsInfo};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    pub count: u64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl PhaseStats {
    /// Percentiles are reported as the midpoint of their HDR bucket: the
    /// bucket's top (HdrHistogram's default) would read high by up to half
    /// a bucket (8 us at 20 ms).
    pub fn from_histogram(h: &Histogram<u64>) -> PhaseStats {
        let q = |q: f64| h.median_equivalent(h.value_at_quantile(q));
        PhaseStats {
            count: h.len(),
            min_us: h.min(),
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            max_us: h.max(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// What `geolat probe URL --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub target: String,
    /// Attempts made (successful or not).
    pub samples: u64,
    /// Phases that happened at least once; keys are phase names.
    pub phases: BTreeMap<Phase, PhaseStats>,
    /// Failed attempts by error class.
    pub errors: BTreeMap<String, u64>,
    /// The detail of the first failure in each error class of `errors`
    /// (free text for a person; the class is the contract).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub causes: BTreeMap<String, String>,
    /// Answered attempts by the region that answered.
    pub served_by: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    pub start: String,
    pub end: String,
    pub geolat_version: String,
}

/// Summarises a window over all of its targets.
pub fn summarize(
    window: &Window,
    target: &str,
    tls: Option<TlsInfo>,
) -> Result<Summary, CodecError> {
    let mut merged: BTreeMap<Phase, Histogram<u64>> = BTreeMap::new();
    let mut served_by: BTreeMap<String, u64> = BTreeMap::new();
    for s in &window.series {
        let h = codec::decode(&s.histogram)?;
        if s.phase == Phase::Ttfb {
            let name = s.served_by.clone().unwrap_or_else(|| "unknown".into());
            *served_by.entry(name).or_default() += h.len();
        }
        match merged.get_mut(&s.phase) {
            // Both auto-resize, so adding cannot run out of range.
            Some(m) => {
                let _ = m.add(&h);
            }
            None => {
                merged.insert(s.phase, h);
            }
        }
    }
    let mut errors = BTreeMap::new();
    for e in &window.errors {
        *errors.entry(e.class.as_str().to_owned()).or_default() += e.count;
    }
    Ok(Summary {
        target: target.to_owned(),
        samples: window.targets.iter().map(|t| t.attempts).sum(),
        phases: merged
            .iter()
            .map(|(p, h)| (*p, PhaseStats::from_histogram(h)))
            .collect(),
        errors,
        causes: BTreeMap::new(),
        served_by,
        tls,
        start: window.start.to_rfc3339(),
        end: window.end.to_rfc3339(),
        geolat_version: window.geolat_version.clone(),
    })
}

/// The human table: one row per phase in measurement order, then errors.
pub fn render_table(s: &Summary, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}  ({} samples)", s.target, s.samples)?;
    if let Some(t) = &s.tls {
        writeln!(
            out,
            "tls: {} {} alpn={}",
            t.version,
            t.cipher,
            t.alpn.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(
        out,
        "{:<6} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "phase", "count", "p50", "p90", "p99", "max"
    )?;
    for phase in Phase::ALL {
        if let Some(p) = s.phases.get(&phase) {
            writeln!(
                out,
                "{:<6} {:>7} {:>10} {:>10} {:>10} {:>10}",
                phase.as_str(),
                p.count,
                fmt_us(p.p50_us),
                fmt_us(p.p90_us),
                fmt_us(p.p99_us),
                fmt_us(p.max_us)
            )?;
        }
    }
    if !s.served_by.is_empty() {
        let parts: Vec<String> = s
            .served_by
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        writeln!(out, "served by: {}", parts.join(" "))?;
    }
    if s.errors.is_empty() {
        writeln!(out, "errors: none")?;
    } else {
        writeln!(out, "errors: {}", s.error_line())?;
    }
    Ok(())
}

impl Summary {
    /// The errors on one line, each class with its count and first cause:
    /// `tls_cert=3: certificate expired; reset=1: connection reset`. A
    /// count alone says something failed; the cause says what to fix.
    pub fn error_line(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(c, n)| match self.causes.get(c) {
                Some(cause) => format!("{c}={n}: {}", one_line(cause)),
                None => format!("{c}={n}"),
            })
            .collect();
        parts.join("; ")
    }
}

/// A detail on one line, whatever the library that wrote it put in it.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Microseconds as a person reads them: `850us`, `12.3ms`, `1.25s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_names_the_first_cause_of_each_class() {
        let mut s = Summary {
            target: "https://a.example/".into(),
            samples: 4,
            phases: BTreeMap::new(),
            errors: BTreeMap::from([("tls_cert".into(), 3), ("reset".into(), 1)]),
            causes: BTreeMap::from([(
                "tls_cert".into(),
                "a.example: certificate\n expired".into(),
            )]),
            served_by: BTreeMap::new(),
            tls: None,
            start: String::new(),
            end: String::new(),
            geolat_version: String::new(),
        };
        assert_eq!(
            s.error_line(),
            "reset=1; tls_cert=3: a.example: certificate expired"
        );
        s.causes.clear();
        assert_eq!(s.error_line(), "reset=1; tls_cert=3");
    }

    #[test]
    fn fmt_us_picks_units() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(12_345), "12.35ms");
        assert_eq!(fmt_us(1_250_000), "1.25s");
    }
}
