//! Percentiles of a merged histogram with their confidence intervals, and
//! the rule for when a cell has too few samples to be stated as fact.

use serde::Serialize;

use super::confidence::{Method, rank_interval};
use super::hist::{SparseHistogram, quantile_rank};

/// Fewer samples than this and a cell is `insufficient`: with 20 samples
/// the median's 95% interval already spans the 30th to 75th percentile.
pub const MIN_SAMPLES: u64 = 20;
/// A cell whose p50 interval is wider than this fraction of the p50 is
/// `insufficient` too: it cannot tell regions apart.
pub const MAX_RELATIVE_CI_WIDTH: f64 = 0.5;
/// ... unless the interval is narrower than this in absolute terms: for a
/// sub-millisecond cell (loopback, the lab) a 50% interval is a few hundred
/// microseconds, finer than any difference between regions, and a busy
/// machine's scheduling noise alone makes it wider than half the p50.
pub const CI_WIDTH_FLOOR_US: u64 = 1_000;

/// One percentile: the value HdrHistogram reports, and the interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value_us: u64,
    /// Lowest value of the bucket holding the lower-bound order statistic;
    /// `null` when the sample is too small to bound it from below.
    pub ci_low_us: Option<u64>,
    /// Highest value of the bucket holding the upper-bound order
    /// statistic; `null` when the sample is too small to bound it from above.
    pub ci_high_us: Option<u64>,
    pub ci_method: Method,
}

impl Estimate {
    /// Both sides of the interval exist.
    pub fn bounded(&self) -> bool {
        self.ci_low_us.is_some() && self.ci_high_us.is_some()
    }
}

/// p50, p90, p99 and p99.9 of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: Estimate,
    pub p90: Estimate,
    pub p99: Estimate,
    #[serde(rename = "p99.9")]
    pub p99_9: Estimate,
}

impl Percentiles {
    pub fn of(h: &SparseHistogram) -> Option<Percentiles> {
        Some(Percentiles {
            p50: estimate(h, 0.5)?,
            p90: estimate(h, 0.9)?,
            p99: estimate(h, 0.99)?,
            p99_9: estimate(h, 0.999)?,
        })
    }
}

/// Quantile `q` of `h` with its order-statistic interval; `None` if empty.
pub fn estimate(h: &SparseHistogram, q: f64) -> Option<Estimate> {
    let n = h.len();
    let value_us = h.value_at_quantile(q)?;
    let ranks = rank_interval(n, q);
    let point = quantile_rank(n, q);
    // The point estimate always lies inside its interval, even where HDR's
    // rank rounding and the interval's ranks disagree by one.
    let low = ranks.lower.map(|r| r.min(point));
    let high = ranks.upper.map(|r| r.max(point));
    Some(Estimate {
        value_us,
        ci_low_us: low.and_then(|r| h.at_rank(r)).map(|b| b.0),
        ci_high_us: high.and_then(|r| h.at_rank(r)).map(|b| b.1),
        ci_method: ranks.method,
    })
}

/// Why a cell may not be presented as fact, or `None` if it may.
pub fn insufficient(samples: u64, p50: Option<&Estimate>) -> Option<String> {
    if samples < MIN_SAMPLES {
        return Some(format!("{samples} samples (fewer than {MIN_SAMPLES})"));
    }
    let p50 = p50?;
    let (Some(lo), Some(hi)) = (p50.ci_low_us, p50.ci_high_us) else {
        return Some("p50 interval is open".into());
    };
    let width = (hi - lo) as f64 / (p50.value_us.max(1)) as f64;
    (width > MAX_RELATIVE_CI_WIDTH && hi - lo > CI_WIDTH_FLOOR_US).then(|| {
        format!(
            "p50 interval {:.0}% of p50 (wider than {:.0}%)",
            width * 100.0,
            MAX_RELATIVE_CI_WIDTH * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cells_are_insufficient() {
        let mut h = SparseHistogram::default();
        for v in 1..=5u64 {
            h.record_n(10_000 + v, 1);
        }
        let p = Percentiles::of(&h).unwrap();
        assert!(!p.p50.bounded());
        assert!(insufficient(5, Some(&p.p50)).unwrap().contains("5 samples"));
        for v in 6..=40u64 {
            h.record_n(10_000 + v * 10, 1);
        }
        let p = Percentiles::of(&h).unwrap();
        assert!(p.p50.bounded());
        assert!(!p.p99.bounded(), "40 samples cannot bound p99");
        assert_eq!(insufficient(40, Some(&p.p50)), None);
    }

    #[test]
    fn wide_intervals_are_insufficient() {
        let mut h = SparseHistogram::default();
        for v in 0..30u64 {
            h.record_n(1_000 * (1 + v * v), 1);
        }
        let p = Percentiles::of(&h).unwrap();
        let why = insufficient(30, Some(&p.p50)).unwrap();
        assert!(why.contains("p50 interval"), "{why}");
    }

    /// Regression (issue 10, item 13): a sub-millisecond cell whose
    /// interval is relatively wide but under a millisecond is sufficient.
    #[test]
    fn regression_sub_millisecond_cells_have_an_absolute_floor() {
        let mut h = SparseHistogram::default();
        for v in 0..40u64 {
            h.record_n(50 + 25 * v, 1);
        }
        let p = Percentiles::of(&h).unwrap();
        let (lo, hi) = (p.p50.ci_low_us.unwrap(), p.p50.ci_high_us.unwrap());
        assert!(
            (hi - lo) as f64 > MAX_RELATIVE_CI_WIDTH * p.p50.value_us as f64,
            "{lo}..{hi} around {}",
            p.p50.value_us
        );
        assert!(hi - lo < CI_WIDTH_FLOOR_US);
        assert_eq!(insufficient(40, Some(&p.p50)), None);
    }
}
