//! The analysis document (`geolat-analysis/1`): what `--json` prints and
//! `schemas/analysis.schema.json` holds it to. Every number says how it was
//! computed in `method`, so a reader never has to guess what an interval or
//! a "significant" means.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::confidence::LEVEL;
use super::estimate::{MAX_RELATIVE_CI_WIDTH, MIN_SAMPLES};
use super::geo::{GeoSummary, summarise};
use super::matrix::Matrix;
use super::screen::{LATE_TOLERANCE, LISTED_MAX, SKEW_TOLERANCE, WindowsReport};
use crate::probe::record::Phase;

pub const FORMAT: &str = "geolat-analysis/1";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub format: &'static str,
    pub geolat_version: &'static str,
    pub generated_at: DateTime<Utc>,
    pub store: String,
    /// Windows that started in `[since, until)`.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The phase the per-geo comparison (and a world built from this) uses.
    pub phase: Phase,
    pub method: Method,
    pub windows: WindowsReport,
    pub matrix: Matrix,
    pub geos: Vec<GeoSummary>,
}

/// How the numbers were computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Method {
    pub percentiles: &'static str,
    pub confidence_level: f64,
    pub confidence_interval: &'static str,
    pub significance: &'static str,
    pub min_samples: u64,
    pub max_relative_ci_width: f64,
    pub skew_tolerance_s: i64,
    pub late_tolerance_s: i64,
    pub listed_max: usize,
}

impl Method {
    pub fn current() -> Method {
        Method {
            percentiles: "merged HdrHistogram (1 us, 3 significant digits); a percentile is the \
                highest value equivalent to the bucket holding rank ceil(q n)",
            confidence_level: LEVEL,
            confidence_interval: "distribution-free order-statistic (binomial) interval: ranks l, u \
                with P(l <= Binomial(n, q) < u) >= level, exact binomial while n q (1-q) < 100, \
                normal approximation above; bounds are the outer edges of the buckets holding \
                those ranks; null where n is too small to bound that side",
            significance: "penalty is significant when today's p50 interval (fraction-weighted \
                bounds of today's regions) lies entirely above the best region's p50 interval",
            min_samples: MIN_SAMPLES,
            max_relative_ci_width: MAX_RELATIVE_CI_WIDTH,
            skew_tolerance_s: SKEW_TOLERANCE.num_seconds(),
            late_tolerance_s: LATE_TOLERANCE.num_seconds(),
            listed_max: LISTED_MAX,
        }
    }
}

/// Where and when an analysis ran over what.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub store: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub phase: Phase,
}

impl Analysis {
    /// Assembles the document and derives the per-geo summaries.
    pub fn new(scope: Scope, windows: WindowsReport, matrix: Matrix) -> Analysis {
        Analysis {
            format: FORMAT,
            geolat_version: env!("CARGO_PKG_VERSION"),
            generated_at: scope.now,
            store: scope.store,
            since: scope.since,
            until: scope.until,
            phase: scope.phase,
            method: Method::current(),
            windows,
            geos: summarise(&matrix, scope.phase),
            matrix,
        }
    }
}
