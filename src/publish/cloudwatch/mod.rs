//! Latency in CloudWatch: the merged HDR histograms of a probe window or of
//! an analysis, published with PutMetricData as Values/Counts arrays, so
//! CloudWatch computes percentiles (p50, p99, any pNN) server-side and
//! merges them over time and probes, as it cannot from averages.
//!
//! What is published is a contract: `dashboards/cloudwatch-latency.json`
//! and its test refer to exactly [`PUBLISHED`].
//!
//! - [`LATENCY`] (Milliseconds), dimensions Geo, Region, Path, Phase: one
//!   value per HdrHistogram bucket in use, counted as often as the bucket
//!   was. A bucket stands for its highest equivalent value, the value
//!   HdrHistogram (and `geolat analyze`) reports a percentile as, so a
//!   nearest-rank percentile of these values is the one analysis states;
//!   the mean is then high by under 0.1% (one bucket's width at 3
//!   significant digits). Milliseconds because dashboards and alarms read
//!   latency in them, and CloudWatch never converts units; the decimals
//!   keep every microsecond.
//! - [`ATTEMPTS`] and [`ERRORS`] (Count), dimensions Geo, Region, Path: the
//!   target group's attempts and failures, `Errors / Attempts` being the
//!   error rate. Routed paths count per path, as analysis does, with
//!   Region [`ANY_REGION`].
//!
//! Limits honoured: at most [`MAX_VALUES_PER_DATUM`] values per datum (a
//! histogram with more buckets becomes several data of the same metric),
//! at most [`MAX_DATA_PER_REQUEST`] data and [`MAX_REQUEST_BYTES`] of body
//! per request (estimated from above), dimension values CloudWatch takes.
//!
//! [`metric_data`] (here) and [`batches`] (in `batch`, with the request
//! size estimate) are pure; [`publish`] sends.

use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Duration, Utc};

use crate::analyze::{Matrix, Outcome, SparseHistogram, value_range};
use crate::config::PathKind;
use crate::probe::record::Phase;

mod batch;

pub use batch::{MAX_DATA_PER_REQUEST, MAX_REQUEST_BYTES, batches, request_size};

pub const DEFAULT_NAMESPACE: &str = "Geolat";

pub const LATENCY: &str = "Latency";
pub const ATTEMPTS: &str = "Attempts";
pub const ERRORS: &str = "Errors";

pub const GEO: &str = "Geo";
pub const REGION: &str = "Region";
pub const PATH: &str = "Path";
pub const PHASE: &str = "Phase";

pub const LATENCY_DIMENSIONS: [&str; 4] = [GEO, REGION, PATH, PHASE];
pub const OUTCOME_DIMENSIONS: [&str; 3] = [GEO, REGION, PATH];

/// Every metric geolat publishes, with its dimension names: all a
/// dashboard over geolat's metrics may refer to.
pub const PUBLISHED: [(&str, &[&str]); 3] = [
    (LATENCY, &LATENCY_DIMENSIONS),
    (ATTEMPTS, &OUTCOME_DIMENSIONS),
    (ERRORS, &OUTCOME_DIMENSIONS),
];

/// The Region of a routed path's attempts and errors: a failed routed
/// attempt seldom learns which region it was headed for, so they are
/// counted per path.
pub const ANY_REGION: &str = "any";

/// A dimension value CloudWatch cannot take is published as this.
const UNKNOWN_VALUE: &str = "unknown";

/// CloudWatch's limit on distinct values in one datum's Values array.
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// CloudWatch's limit on a dimension value's length.
const MAX_DIMENSION_VALUE: usize = 1024;

/// What one latency distribution is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyKey<'a> {
    pub geo: &'a str,
    pub region: &'a str,
    pub path: PathKind,
    pub phase: Phase,
}

/// Every cell's distribution and every target group's attempts and
/// errors, as data stamped `at`.
pub fn metric_data(matrix: &Matrix, at: DateTime<Utc>) -> Vec<MetricDatum> {
    let mut data = Vec::new();
    for c in &matrix.cells {
        let key = LatencyKey {
            geo: &c.geo,
            region: &c.region,
            path: c.path,
            phase: c.phase,
        };
        data.extend(latency_data(&key, &c.histogram, at));
    }
    for o in &matrix.outcomes {
        data.extend(outcome_data(o, at));
    }
    data
}

/// One histogram as [`LATENCY`] data of at most [`MAX_VALUES_PER_DATUM`]
/// values each, in bucket order; none for an empty histogram.
pub fn latency_data(
    key: &LatencyKey<'_>,
    histogram: &SparseHistogram,
    at: DateTime<Utc>,
) -> Vec<MetricDatum> {
    let dimensions = dimensions(
        &LATENCY_DIMENSIONS,
        [key.geo, key.region, key.path.as_str(), key.phase.as_str()],
    );
    histogram
        .pairs()
        .chunks(MAX_VALUES_PER_DATUM)
        .map(|chunk| {
            MetricDatum::builder()
                .metric_name(LATENCY)
                .set_dimensions(Some(dimensions.clone()))
                .timestamp(timestamp(at))
                .set_values(Some(chunk.iter().map(|&(i, _)| milliseconds(i)).collect()))
                // Counts are far below 2^53, where f64 is exact.
                .set_counts(Some(chunk.iter().map(|&(_, n)| n as f64).collect()))
                .unit(StandardUnit::Milliseconds)
                .build()
        })
        .collect()
}

/// The value bucket `index` is published as: its highest equivalent
/// value, in milliseconds.
fn milliseconds(index: u32) -> f64 {
    value_range(index).1 as f64 / 1000.0
}

/// A target group's [`ATTEMPTS`] and [`ERRORS`], zero errors included,
/// so the error rate is a series without gaps.
fn outcome_data(o: &Outcome, at: DateTime<Utc>) -> [MetricDatum; 2] {
    let dimensions = dimensions(
        &OUTCOME_DIMENSIONS,
        [
            &o.geo,
            o.region.as_deref().unwrap_or(ANY_REGION),
            o.path.as_str(),
        ],
    );
    [(ATTEMPTS, o.attempts), (ERRORS, o.errors)].map(|(name, n)| {
        MetricDatum::builder()
            .metric_name(name)
            .set_dimensions(Some(dimensions.clone()))
            .timestamp(timestamp(at))
            .value(n as f64)
            .unit(StandardUnit::Count)
            .build()
    })
}

fn dimensions<const N: usize>(names: &[&str; N], values: [&str; N]) -> Vec<Dimension> {
    names
        .iter()
        .zip(values)
        .map(|(name, value)| {
            Dimension::builder()
                .name(*name)
                .value(dimension_value(value))
                .build()
        })
        .collect()
}

/// `value` as CloudWatch takes a dimension value: 1 to 1024 printable
/// ASCII characters, not all spaces. A region can come from a response
/// header, which is whatever the server sent; rather than let one odd
/// value fail a whole request, other characters become `?`, longer
/// values are cut and an empty one is published as `unknown`.
fn dimension_value(value: &str) -> String {
    let v: String = value
        .chars()
        .take(MAX_DIMENSION_VALUE)
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if v.trim().is_empty() {
        UNKNOWN_VALUE.to_owned()
    } else {
        v
    }
}

fn timestamp(at: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_millis(at.timestamp_millis())
}

/// Why CloudWatch would refuse `namespace`, if it would.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.is_empty() || namespace.len() > 255 {
        Err("a namespace is 1 to 255 characters".into())
    } else if namespace.starts_with("AWS/") {
        Err(format!(
            "namespaces starting with AWS/ are AWS's own: choose another, e.g. {DEFAULT_NAMESPACE}"
        ))
    } else if namespace.starts_with(':') {
        Err("a namespace cannot start with `:`".into())
    } else if let Some(c) = namespace.chars().find(|&c| !allowed(c)) {
        Err(format!(
            "`{c}` is not allowed in a namespace: use letters, digits, space and . - _ / # :"
        ))
    } else if namespace.trim().is_empty() {
        Err("a namespace needs a character other than space".into())
    } else {
        Ok(())
    }
}

/// How far back CloudWatch takes data points.
pub const MAX_AGE: Duration = Duration::days(14);
/// How far ahead CloudWatch takes data points.
pub const MAX_AHEAD: Duration = Duration::hours(2);

/// Why CloudWatch would refuse data points stamped `at`, if it would.
pub fn check_timestamp(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if at < now - MAX_AGE {
        Err(format!(
            "{} is more than two weeks ago, and CloudWatch takes data points from the last two weeks only",
            at.to_rfc3339()
        ))
    } else if at > now + MAX_AHEAD {
        Err(format!(
            "{} is more than two hours ahead, and CloudWatch takes data points up to two hours ahead only",
            at.to_rfc3339()
        ))
    } else {
        Ok(())
    }
}

/// What [`publish`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub requests: usize,
    pub data: usize,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "CloudWatch namespace {namespace}: PutMetricData request {request} of {requests} failed, \
     {published} of {data} data published before it: {problem}"
)]
pub struct PublishError {
    pub namespace: String,
    pub request: usize,
    pub requests: usize,
    pub published: usize,
    pub data: usize,
    pub problem: String,
}

/// Sends `data` to `namespace`, one request at a time, in [`batches`]. The
/// SDK retries throttling and transient failures itself; a request that
/// still fails stops the rest.
pub async fn publish(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    data: Vec<MetricDatum>,
) -> Result<Published, PublishError> {
    let total = data.len();
    let batches = batches(data, namespace);
    let requests = batches.len();
    let mut published = 0;
    for (i, batch) in batches.into_iter().enumerate() {
        let n = batch.len();
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(batch))
            .send()
            .await
            .map_err(|e| PublishError {
                namespace: namespace.to_owned(),
                request: i + 1,
                requests,
                published,
                data: total,
                problem: crate::aws::describe(&e),
            })?;
        published += n;
    }
    Ok(Published {
        requests,
        data: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Cell, ErrorScope, index_of};

    pub(super) fn at() -> DateTime<Utc> {
        "2026-11-29T21:00:00Z".parse().unwrap()
    }

    pub(super) const KEY: LatencyKey<'static> = LatencyKey {
        geo: "GB-London",
        region: "eu-west-2",
        path: PathKind::Direct,
        phase: Phase::Warm,
    };

    /// A histogram with `buckets` distinct buckets from 2 ms up, the `i`-th
    /// counted `i + 1` times.
    pub(super) fn histogram(buckets: u32) -> SparseHistogram {
        let mut h = SparseHistogram::default();
        let first = index_of(2_000);
        for i in 0..buckets {
            h.record_n(value_range(first + i).0, u64::from(i) + 1);
        }
        assert_eq!(h.buckets(), buckets as usize);
        h
    }

    #[test]
    fn a_histogram_becomes_data_of_at_most_150_values() {
        for (buckets, want) in [
            (1, vec![1]),
            (150, vec![150]),
            (151, vec![150, 1]),
            (300, vec![150, 150]),
            (301, vec![150, 150, 1]),
        ] {
            let h = histogram(buckets);
            let data = latency_data(&KEY, &h, at());
            let sizes: Vec<usize> = data.iter().map(|d| d.values().len()).collect();
            assert_eq!(sizes, want, "{buckets} buckets");
            let values: Vec<f64> = data.iter().flat_map(|d| d.values().to_vec()).collect();
            let counts: f64 = data.iter().flat_map(|d| d.counts().to_vec()).sum();
            assert!(
                values.windows(2).all(|w| w[0] < w[1]),
                "distinct, ascending"
            );
            assert_eq!(counts as u64, h.len());
            for d in &data {
                assert_eq!(d.counts().len(), d.values().len());
                assert_eq!(d.metric_name(), Some(LATENCY));
                assert_eq!(d.unit(), Some(&StandardUnit::Milliseconds));
            }
        }
        assert!(latency_data(&KEY, &SparseHistogram::default(), at()).is_empty());
    }

    #[test]
    fn buckets_are_published_as_their_highest_value_in_milliseconds() {
        let mut h = SparseHistogram::default();
        h.record_n(12_345_678, 3);
        h.record_n(7, 1);
        let d = &latency_data(&KEY, &h, at())[0];
        let top = value_range(index_of(12_345_678)).1;
        assert!((12_345_678..12_345_678 + 12_345_678 / 1000).contains(&top));
        assert_eq!(d.values(), [0.007, top as f64 / 1000.0]);
        assert_eq!(d.counts(), [1.0, 3.0]);
        // CloudWatch's nearest-rank p99 of these is analysis's p99.
        assert_eq!(h.value_at_quantile(0.99), Some(top));
        let names: Vec<(&str, &str)> = d
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                (GEO, "GB-London"),
                (REGION, "eu-west-2"),
                (PATH, "direct"),
                (PHASE, "warm")
            ]
        );
        assert_eq!(d.timestamp().map(|t| t.secs()), Some(at().timestamp()));
    }

    fn cell(geo: &str, region: &str, path: PathKind, h: SparseHistogram) -> Cell {
        Cell {
            geo: geo.into(),
            path,
            region: region.into(),
            phase: Phase::Tls,
            samples: h.len(),
            insufficient: None,
            min_us: h.min(),
            max_us: h.max(),
            percentiles: None,
            attempts: 0,
            errors: 0,
            error_rate: None,
            error_scope: ErrorScope::Region,
            histogram: h,
        }
    }

    #[test]
    fn a_matrix_publishes_only_the_metrics_dashboards_know() {
        let matrix = Matrix {
            cells: vec![
                cell("de", "eu-west-1", PathKind::Direct, histogram(151)),
                cell("de", "unknown", PathKind::Route53, histogram(3)),
                cell(
                    "de",
                    "us-east-1",
                    PathKind::Direct,
                    SparseHistogram::default(),
                ),
            ],
            outcomes: vec![
                Outcome {
                    geo: "de".into(),
                    path: PathKind::Direct,
                    region: Some("eu-west-1".into()),
                    attempts: 10,
                    errors: 2,
                    error_rate: Some(0.2),
                    errors_by_class: Default::default(),
                },
                Outcome {
                    geo: "de".into(),
                    path: PathKind::Route53,
                    region: None,
                    attempts: 5,
                    errors: 0,
                    error_rate: Some(0.0),
                    errors_by_class: Default::default(),
                },
            ],
        };
        let data = metric_data(&matrix, at());
        // 2 + 1 latency data (the empty cell has none), 2 per outcome.
        assert_eq!(data.len(), 3 + 4);
        for d in &data {
            let mut names: Vec<&str> = d.dimensions().iter().filter_map(|d| d.name()).collect();
            names.sort_unstable();
            let known = PUBLISHED.iter().any(|(metric, dims)| {
                let mut dims = dims.to_vec();
                dims.sort_unstable();
                d.metric_name() == Some(*metric) && names == dims
            });
            assert!(known, "{d:?}");
        }
        let errors: Vec<(f64, &str)> = data
            .iter()
            .filter(|d| d.metric_name() == Some(ERRORS))
            .map(|d| (d.value().unwrap(), d.dimensions()[1].value().unwrap()))
            .collect();
        assert_eq!(errors, [(2.0, "eu-west-1"), (0.0, ANY_REGION)]);
    }

    #[test]
    fn odd_dimension_values_are_made_publishable() {
        assert_eq!(dimension_value("eu-west-1"), "eu-west-1");
        assert_eq!(dimension_value(""), "unknown");
        assert_eq!(dimension_value("  "), "unknown");
        assert_eq!(dimension_value("zürich\n"), "z?rich?");
        let long = "r".repeat(5000);
        assert_eq!(dimension_value(&long).len(), MAX_DIMENSION_VALUE);
        let wide = "é".repeat(2000);
        assert_eq!(dimension_value(&wide).len(), MAX_DIMENSION_VALUE);
    }

    #[test]
    fn namespaces_cloudwatch_refuses_are_refused_here() {
        for ok in ["Geolat", "Team/Geolat prod", "a.b-c_d#e:f", "AWSish"] {
            assert_eq!(check_namespace(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("", "1 to 255"),
            (&"n".repeat(256), "1 to 255"),
            ("AWS/EC2", "AWS's own"),
            (":x", "cannot start"),
            ("geo,lat", "`,` is not allowed"),
            ("gé", "`é` is not allowed"),
            ("   ", "other than space"),
        ] {
            let err = check_namespace(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn timestamps_must_be_recent() {
        let now = at();
        assert_eq!(check_timestamp(now, now), Ok(()));
        assert_eq!(check_timestamp(now - MAX_AGE, now), Ok(()));
        assert_eq!(check_timestamp(now + MAX_AHEAD, now), Ok(()));
        let old = check_timestamp(now - MAX_AGE - Duration::seconds(1), now).unwrap_err();
        assert!(old.contains("more than two weeks ago"), "{old}");
        let ahead = check_timestamp(now + Duration::hours(3), now).unwrap_err();
        assert!(ahead.contains("two hours ahead"), "{ahead}");
    }
}
