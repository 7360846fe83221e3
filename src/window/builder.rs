//! Folds attempts into a window. Memory grows with the number of series
//! (target x served_by x phase), never with the number of samples.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;

use super::codec::{self, CodecError, MAX_VALUE_US};
use super::{ErrorCount, FORMAT, HISTOGRAM_ENCODING, Series, TargetInfo, Window};
use crate::config::{ProbeIdentity, Target};
use crate::probe::record::{Attempt, ErrorClass, Phase, TlsInfo, micros};

/// Values a series keeps as a plain list before it switches to a histogram.
///
/// An HdrHistogram with 3 significant digits costs 16 KiB or more even for a
/// handful of values; a window of 10,000 targets x 6 phases with ten samples
/// each would spend gigabytes on mostly-empty buckets. So a series starts as
/// a small list (the "sparse then dense" idea of HyperLogLog++) and becomes a
/// histogram only once it has more values than the list is worth. Either
/// way its size is bounded, so memory depends on series, not samples.
const SPARSE_LIMIT: usize = 256;

enum Values {
    Sparse(Vec<u32>),
    Dense(Box<Histogram<u64>>),
}

impl Values {
    fn record(&mut self, us: u64) {
        let us = us.min(MAX_VALUE_US);
        match self {
            Values::Sparse(v) if v.len() < SPARSE_LIMIT => {
                // MAX_VALUE_US fits in u32.
                v.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Values::Sparse(v) => {
                let mut h = codec::new_histogram();
                for x in v.iter() {
                    codec::record(&mut h, u64::from(*x));
                }
                codec::record(&mut h, us);
                *self = Values::Dense(Box::new(h));
            }
            Values::Dense(h) => codec::record(h, us),
        }
    }

    fn histogram(&self) -> Histogram<u64> {
        match self {
            Values::Sparse(v) => {
                let mut h = codec::new_histogram();
                for x in v {
                    codec::record(&mut h, u64::from(*x));
                }
                h
            }
            Values::Dense(h) => (**h).clone(),
        }
    }
}

#[derive(Hash, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
struct SeriesKey {
    target: u32,
    served_by: Option<u32>,
    phase: Phase,
}

#[derive(Hash, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
struct ErrorKey {
    series: SeriesKey,
    class: ErrorClass,
}

/// Collects attempts for a fixed list of targets.
pub struct WindowBuilder {
    probe: ProbeIdentity,
    config_digest: String,
    start: DateTime<Utc>,
    targets: Vec<TargetInfo>,
    /// served_by names interned, so keys stay small and copyable.
    regions: Vec<String>,
    series: HashMap<SeriesKey, Values>,
    errors: HashMap<ErrorKey, u64>,
    /// The detail of the first failure of each class: what a person reads
    /// to act on the counts. One string per class, so bounded; not part of
    /// the window (details are free text, classes are the contract).
    first_causes: BTreeMap<ErrorClass, String>,
}

impl WindowBuilder {
    pub fn new(
        probe: ProbeIdentity,
        config_digest: String,
        targets: &[Target],
        start: DateTime<Utc>,
    ) -> Self {
        WindowBuilder {
            probe,
            config_digest,
            start,
            targets: targets
                .iter()
                .map(|t| TargetInfo {
                    id: t.id.clone(),
                    url: t.url.to_string(),
                    path: t.path,
                    region: t.region.clone(),
                    attempts: 0,
                    dns_answers: Default::default(),
                    tls: None,
                })
                .collect(),
            regions: Vec::new(),
            series: HashMap::new(),
            errors: HashMap::new(),
            first_causes: BTreeMap::new(),
        }
    }

    /// What the first TLS handshake of the first target negotiated.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.targets.iter().find_map(|t| t.tls.as_ref())
    }

    /// The detail of the first failure recorded in each error class.
    pub fn first_causes(&self) -> &BTreeMap<ErrorClass, String> {
        &self.first_causes
    }

    fn intern(&mut self, region: Option<&str>) -> Option<u32> {
        let region = region?;
        if let Some(i) = self.regions.iter().position(|r| r == region) {
            return u32::try_from(i).ok();
        }
        self.regions.push(region.to_owned());
        u32::try_from(self.regions.len() - 1).ok()
    }

    /// Records one attempt against `targets[target]`.
    pub fn record(&mut self, target: usize, attempt: &Attempt) {
        let Some(info) = self.targets.get_mut(target) else {
            return;
        };
        info.attempts += 1;
        if info.tls.is_none() {
            info.tls.clone_from(&attempt.tls_info);
        }
        if !attempt.dns_answers.is_empty() {
            let mut answers = attempt.dns_answers.clone();
            answers.sort();
            let key: Vec<String> = answers.iter().map(ToString::to_string).collect();
            *info.dns_answers.entry(key.join(",")).or_default() += 1;
        }
        let target = u32::try_from(target).unwrap_or(u32::MAX);
        let served_by = self.intern(attempt.served_by.as_deref());
        for (phase, d) in attempt.latencies() {
            let key = SeriesKey {
                target,
                served_by,
                phase,
            };
            match self.series.entry(key) {
                Entry::Occupied(mut e) => e.get_mut().record(micros(d)),
                Entry::Vacant(e) => {
                    let mut v = Values::Sparse(Vec::with_capacity(4));
                    v.record(micros(d));
                    e.insert(v);
                }
            }
        }
        if let Some(f) = &attempt.failure {
            let key = ErrorKey {
                series: SeriesKey {
                    target,
                    served_by,
                    phase: f.phase,
                },
                class: f.class,
            };
            *self.errors.entry(key).or_default() += 1;
            self.first_causes
                .entry(f.class)
                .or_insert_with(|| f.detail.clone());
        }
    }

    /// Encodes every series; the window's end is `end`.
    pub fn finish(self, end: DateTime<Utc>) -> Result<Window, CodecError> {
        let region = |i: Option<u32>| i.and_then(|i| self.regions.get(i as usize).cloned());
        let mut keys: Vec<&SeriesKey> = self.series.keys().collect();
        keys.sort();
        let mut series = Vec::with_capacity(keys.len());
        for k in keys {
            let t = &self.targets[k.target as usize];
            let h = self.series[k].histogram();
            series.push(Series {
                target: t.id.clone(),
                path: t.path,
                region: t.region.clone(),
                served_by: region(k.served_by),
                phase: k.phase,
                count: h.len(),
                histogram: codec::encode(&h)?,
            });
        }
        let mut error_keys: Vec<(&ErrorKey, &u64)> = self.errors.iter().collect();
        error_keys.sort();
        let errors = error_keys
            .into_iter()
            .map(|(k, n)| {
                let t = &self.targets[k.series.target as usize];
                ErrorCount {
                    target: t.id.clone(),
                    path: t.path,
                    region: t.region.clone(),
                    served_by: region(k.series.served_by),
                    phase: k.series.phase,
                    class: k.class,
                    count: *n,
                }
            })
            .collect();
        Ok(Window {
            format: FORMAT.to_owned(),
            geolat_version: env!("CARGO_PKG_VERSION").to_owned(),
            probe: self.probe,
            start: self.start,
            end,
            config_digest: self.config_digest,
            histogram_encoding: HISTOGRAM_ENCODING.to_owned(),
            unit: "us".to_owned(),
            targets: self.targets,
            series,
            errors,
            dns_audit: Vec::new(),
            interrupted: false,
        })
    }
}

impl crate::probe::runner::Sink for WindowBuilder {
    fn attempt(&mut self, target: usize, attempt: &Attempt) {
        self.record(target, attempt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Geo;
    use crate::probe::record::Failure;
    use std::time::Duration;

    fn identity() -> ProbeIdentity {
        ProbeIdentity::edge("t", Geo::of("DE", "EU"))
    }

    #[test]
    fn sparse_and_dense_series_give_the_same_histogram() {
        let mut sparse = Values::Sparse(Vec::new());
        let mut dense = Values::Dense(Box::new(codec::new_histogram()));
        for i in 0..(SPARSE_LIMIT as u64 * 3) {
            sparse.record(100 + i * 7);
            dense.record(100 + i * 7);
        }
        assert!(matches!(sparse, Values::Dense(_)));
        let (a, b) = (sparse.histogram(), dense.histogram());
        assert_eq!(a.len(), b.len());
        assert_eq!(a.value_at_quantile(0.99), b.value_at_quantile(0.99));
    }

    #[test]
    fn failures_are_counted_and_never_recorded_as_latency() {
        let target = Target::from_url("https://a.example/".parse().unwrap());
        let mut b = WindowBuilder::new(identity(), "d".into(), &[target], Utc::now());
        let ok = Attempt {
            tcp: Some(Duration::from_micros(100)),
            ttfb: Some(Duration::from_micros(900)),
            served_by: Some("eu-west-1".into()),
            ..Attempt::default()
        };
        let failed = Attempt {
            tcp: Some(Duration::from_micros(120)),
            failure: Some(Failure::new(Phase::Tls, ErrorClass::TlsCert, "bad cert")),
            ..Attempt::default()
        };
        b.record(0, &ok);
        b.record(0, &failed);
        let w = b.finish(Utc::now()).unwrap();
        let tls_cert: u64 = w
            .errors
            .iter()
            .filter(|e| e.class == ErrorClass::TlsCert)
            .map(|e| e.count)
            .sum();
        assert_eq!(tls_cert, 1);
        assert!(w.series.iter().all(|s| s.phase != Phase::Tls));
        let tcp: u64 = w
            .series
            .iter()
            .filter(|s| s.phase == Phase::Tcp)
            .map(|s| s.count)
            .sum();
        assert_eq!(tcp, 2);
        assert_eq!(w.targets[0].attempts, 2);
        assert_eq!(w.errors.len(), 1);
        assert_eq!(w.errors[0].phase, Phase::Tls);
        let ttfb = w.series.iter().find(|s| s.phase == Phase::Ttfb).unwrap();
        assert_eq!(ttfb.served_by.as_deref(), Some("eu-west-1"));
        assert_eq!(ttfb.count, 1);
    }

    #[test]
    fn the_first_cause_of_each_class_is_kept() {
        let target = Target::from_url("https://a.example/".parse().unwrap());
        let mut b = WindowBuilder::new(identity(), "d".into(), &[target], Utc::now());
        for detail in ["certificate expired", "unknown issuer"] {
            let a = Attempt {
                failure: Some(Failure::new(Phase::Tls, ErrorClass::TlsCert, detail)),
                ..Attempt::default()
            };
            b.record(0, &a);
        }
        let reset = Attempt {
            failure: Some(Failure::new(Phase::Tls, ErrorClass::Reset, "reset by peer")),
            ..Attempt::default()
        };
        b.record(0, &reset);
        let causes: Vec<(ErrorClass, &str)> = b
            .first_causes()
            .iter()
            .map(|(c, d)| (*c, d.as_str()))
            .collect();
        assert_eq!(
            causes,
            vec![
                (ErrorClass::Reset, "reset by peer"),
                (ErrorClass::TlsCert, "certificate expired"),
            ]
        );
    }
}
