//! One window's bytes -> the parts analysis merges: who measured (the geo),
//! when, and per series the matrix region, path, phase and bucket counts.
//! Pure: bytes in, data out.
//!
//! The JSON is read into a borrowing view that names only the fields
//! analysis uses (histograms stay `&str` slices of the input, unknown fields
//! are skipped), and every histogram is decoded before anything is returned,
//! so a damaged window is rejected whole, never half-merged.

use std::borrow::Cow;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::v2::{V2Error, V2Reader};
use crate::config::PathKind;
use crate::probe::record::{ErrorClass, Phase};
use crate::window::{FORMAT, HISTOGRAM_ENCODING};

/// More attempts than one window can hold: a trillion is some 16 million
/// a second for a minute-long window, far beyond any probe. Merging a
/// count this large (2^64-1 from a wrapped counter) would swamp or wrap
/// every sum it joins.
pub const MAX_ATTEMPTS: u64 = 1_000_000_000_000;

/// The region of a routed series whose window does not say who answered.
pub const UNKNOWN_REGION: &str = "unknown";

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a window: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown window format `{0}` (this geolat reads {FORMAT}; upgrade geolat)")]
    UnknownFormat(String),
    #[error("unknown histogram encoding `{0}`")]
    UnknownEncoding(String),
    #[error("unit `{0}` is not us")]
    UnknownUnit(String),
    #[error("series {index}: {source}")]
    Histogram { index: usize, source: V2Error },
    #[error("series {index}: histogram holds {held} values but count says {count}")]
    CountMismatch { index: usize, held: u64, count: u64 },
    #[error("implausible counts: {0}")]
    Implausible(String),
}

/// What one window contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedWindow {
    pub probe_id: String,
    /// `probe.geo.id`, or the probe id when the probe names no geo.
    pub geo: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub config_digest: String,
    /// Region names, indexed by [`Part::region`] and [`Outcome::region`].
    pub regions: Vec<String>,
    pub parts: Vec<Part>,
    /// Every part's `(bucket index, count)` pairs, back to back.
    pub buckets: Vec<(u32, u64)>,
    pub outcomes: Vec<Outcome>,
    /// How many targets the window names (outcomes merge routed ones).
    pub targets: usize,
}

/// One series, keyed as the matrix keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Direct path: the target's region. Route 53 and Global Accelerator:
    /// `served_by`, the region users of this geo are really routed to.
    pub region: usize,
    pub path: PathKind,
    pub phase: Phase,
    pub count: u64,
    pub buckets: Range<usize>,
}

/// Attempts and failures of one target. Direct targets are per region;
/// routed ones per path (`region: None`), because a failed routed attempt
/// (DNS, connect) usually never learns which region it was headed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub path: PathKind,
    pub region: Option<usize>,
    pub attempts: u64,
    pub errors: u64,
    /// `errors` by class (each class once, in the order first seen).
    pub classes: Vec<(ErrorClass, u64)>,
}

#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    probe: ProbeView<'a>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(borrow)]
    config_digest: Cow<'a, str>,
    #[serde(borrow)]
    histogram_encoding: Cow<'a, str>,
    #[serde(borrow)]
    unit: Cow<'a, str>,
    #[serde(borrow)]
    targets: Vec<TargetView<'a>>,
    #[serde(borrow)]
    series: Vec<SeriesView<'a>>,
    #[serde(borrow)]
    errors: Vec<ErrorView<'a>>,
}

#[derive(Deserialize)]
struct ProbeView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    geo: GeoView<'a>,
}

#[derive(Deserialize)]
struct GeoView<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TargetView<'a> {
    path: PathKind,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    attempts: u64,
}

#[derive(Deserialize)]
struct SeriesView<'a> {
    path: PathKind,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    served_by: Option<Cow<'a, str>>,
    phase: Phase,
    count: u64,
    #[serde(borrow)]
    histogram: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ErrorView<'a> {
    path: PathKind,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    class: ErrorClass,
    count: u64,
}

/// Decodes windows; keeps its buffers, so use one per thread.
#[derive(Default)]
pub struct WindowDecoder {
    v2: V2Reader,
}

impl WindowDecoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Result<DecodedWindow, DecodeError> {
        let view: View = serde_json::from_slice(bytes).map_err(|e| format_error(bytes, e))?;
        if view.format != FORMAT {
            return Err(DecodeError::UnknownFormat(view.format.into_owned()));
        }
        if view.histogram_encoding != HISTOGRAM_ENCODING {
            return Err(DecodeError::UnknownEncoding(
                view.histogram_encoding.into_owned(),
            ));
        }
        if view.unit != "us" {
            return Err(DecodeError::UnknownUnit(view.unit.into_owned()));
        }
        let mut regions: Vec<String> = Vec::new();
        let mut parts = Vec::with_capacity(view.series.len());
        let mut buckets = Vec::with_capacity(view.series.len() * 8);
        for (index, s) in view.series.iter().enumerate() {
            let from = buckets.len();
            let held = self
                .v2
                .read_into(&s.histogram, &mut buckets)
                .map_err(|source| DecodeError::Histogram { index, source })?;
            if held != s.count {
                return Err(DecodeError::CountMismatch {
                    index,
                    held,
                    count: s.count,
                });
            }
            let region = match s.path {
                PathKind::Direct => s.region.as_deref(),
                PathKind::Route53 | PathKind::Accelerator => s.served_by.as_deref(),
            };
            parts.push(Part {
                region: intern(&mut regions, region.unwrap_or(UNKNOWN_REGION)),
                path: s.path,
                phase: s.phase,
                count: s.count,
                buckets: from..buckets.len(),
            });
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut outcome = |path: PathKind, region: Option<&str>| -> usize {
            let region = (path == PathKind::Direct)
                .then(|| intern(&mut regions, region.unwrap_or(UNKNOWN_REGION)));
            match outcomes
                .iter()
                .position(|o| o.path == path && o.region == region)
            {
                Some(i) => i,
                None => {
                    outcomes.push(Outcome {
                        path,
                        region,
                        attempts: 0,
                        errors: 0,
                        classes: Vec::new(),
                    });
                    outcomes.len() - 1
                }
            }
        };
        let mut tally = Vec::with_capacity(view.targets.len() + view.errors.len());
        for t in &view.targets {
            tally.push((outcome(t.path, t.region.as_deref()), t.attempts, 0, None));
        }
        for e in &view.errors {
            let i = outcome(e.path, e.region.as_deref());
            tally.push((i, 0, e.count, Some(e.class)));
        }
        for (i, attempts, errors, class) in tally {
            let o = &mut outcomes[i];
            let (Some(a), Some(e)) = (
                o.attempts.checked_add(attempts),
                o.errors.checked_add(errors),
            ) else {
                return Err(DecodeError::Implausible(format!(
                    "{} attempts or errors add up to more than 2^64-1",
                    o.path.as_str()
                )));
            };
            (o.attempts, o.errors) = (a, e);
            if let Some(class) = class {
                match o.classes.iter_mut().find(|(c, _)| *c == class) {
                    // Bounded by `errors`, checked just above.
                    Some((_, n)) => *n += errors,
                    None => o.classes.push((class, errors)),
                }
            }
        }
        // Every error is a failed attempt, so no target fails more often
        // than it was tried; and no probe makes MAX_ATTEMPTS attempts in
        // one window (a wrapped or forged count is far beyond it).
        for o in &outcomes {
            if o.attempts > MAX_ATTEMPTS {
                return Err(DecodeError::Implausible(format!(
                    "{} attempts to {} (at most {MAX_ATTEMPTS} in one window)",
                    o.attempts,
                    o.path.as_str()
                )));
            }
            if o.errors > o.attempts {
                let target = match o.region {
                    Some(r) => format!("{} {}", o.path.as_str(), regions[r]),
                    None => o.path.as_str().to_owned(),
                };
                return Err(DecodeError::Implausible(format!(
                    "{target} has {} errors in {} attempts",
                    o.errors, o.attempts
                )));
            }
        }
        let geo = view
            .probe
            .geo
            .id
            .as_deref()
            .unwrap_or(&view.probe.id)
            .to_owned();
        Ok(DecodedWindow {
            probe_id: view.probe.id.into_owned(),
            geo,
            start: view.start,
            end: view.end,
            config_digest: view.config_digest.into_owned(),
            regions,
            parts,
            buckets,
            outcomes,
            targets: view.targets.len(),
        })
    }
}

fn intern(regions: &mut Vec<String>, name: &str) -> usize {
    match regions.iter().position(|r| r == name) {
        Some(i) => i,
        None => {
            regions.push(name.to_owned());
            regions.len() - 1
        }
    }
}

/// A window of another format usually fails to parse as this one; say
/// that it is another format rather than which field is missing.
fn format_error(bytes: &[u8], e: serde_json::Error) -> DecodeError {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(borrow, default)]
        format: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Tag>(bytes) {
        Ok(Tag { format: Some(f) }) if f != FORMAT => DecodeError::UnknownFormat(f.into_owned()),
        Ok(Tag { format: None }) => DecodeError::UnknownFormat("<missing>".into()),
        _ => DecodeError::Json(e),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Geo, ProbeIdentity, Target};
    use crate::probe::record::Attempt;
    use crate::window::builder::WindowBuilder;

    fn window() -> crate::window::Window {
        let identity = ProbeIdentity::edge("p1", Geo::default());
        let mut direct = Target::from_url("https://a.example/".parse().unwrap());
        direct.region = Some("eu-west-1".into());
        let mut routed = Target::from_url("https://b.example/".parse().unwrap());
        routed.path = PathKind::Route53;
        let start = "2026-11-29T21:00:00Z".parse().unwrap();
        let mut b = WindowBuilder::new(identity, "sha256:ab".into(), &[direct, routed], start);
        let ok = |served: Option<&str>| Attempt {
            ttfb: Some(Duration::from_micros(900)),
            served_by: served.map(str::to_owned),
            ..Attempt::default()
        };
        b.record(0, &ok(Some("eu-west-1")));
        b.record(1, &ok(Some("us-east-1")));
        b.record(1, &ok(None));
        b.finish(start).unwrap()
    }

    #[test]
    fn regions_come_from_the_target_or_who_answered() {
        let w = WindowDecoder::default()
            .decode(&window().to_json().unwrap())
            .unwrap();
        assert_eq!(w.geo, "p1", "no geo id: the probe id");
        let regions: Vec<(&str, PathKind)> = w
            .parts
            .iter()
            .map(|p| (w.regions[p.region].as_str(), p.path))
            .collect();
        assert!(regions.contains(&("eu-west-1", PathKind::Direct)));
        assert!(regions.contains(&("us-east-1", PathKind::Route53)));
        assert!(regions.contains(&(UNKNOWN_REGION, PathKind::Route53)));
        let routed = w.outcomes.iter().find(|o| o.path == PathKind::Route53);
        assert_eq!(routed.map(|o| (o.region, o.attempts)), Some((None, 2)));
    }

    #[test]
    fn damaged_windows_are_rejected_whole() {
        let mut d = WindowDecoder::default();
        let mut v = serde_json::to_value(window()).unwrap();
        v["format"] = "geolat-window/9".into();
        let err = d.decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownFormat(f) if f == "geolat-window/9"));
        let mut v = serde_json::to_value(window()).unwrap();
        v["series"][1]["count"] = 7.into();
        let err = d.decode(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("series 1: histogram holds 1 values but count says 7")
        );
        let err = d.decode(br#"{"hello": 1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown window format `<missing>` (this geolat reads geolat-window/1; upgrade geolat)"
        );
        let err = d.decode(b"[1, 2").unwrap_err();
        assert!(err.to_string().starts_with("not a window: "), "{err}");
    }
}
