//! Confidence intervals for percentiles that assume nothing about the
//! latency distribution: the order-statistic (binomial) interval.
//!
//! For `n` independent samples `X(1) <= ... <= X(n)` and the true quantile
//! `xi_q`, the number of samples at or below `xi_q` is `B ~ Binomial(n, q)`,
//! so `P(X(l) <= xi_q < X(u)) = P(l <= B < u)` whatever the distribution
//! (Hahn & Meeker, *Statistical Intervals*, 2nd ed., section 5.2). We pick the
//! tightest ranks with at most `(1 - LEVEL) / 2` probability in each tail:
//! exactly from the binomial distribution while `n q (1 - q) < 100`, from the
//! normal approximation `n q -/+ 1.96 sqrt(n q (1 - q))` (widened by one
//! rank on each side for the continuity correction) above that, where it is
//! accurate to well under one rank. When a tail bound would need a rank
//! outside `1..=n` the sample cannot bound the quantile on that side (for
//! example p99 needs at least 368 samples to have an upper bound); the
//! interval is then open on that side and said to be so.

/// Two-sided confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// Standard normal quantile for [`LEVEL`].
const Z: f64 = 1.959_963_984_540_054;
/// Below this binomial variance the exact distribution is summed.
const EXACT_BELOW_VARIANCE: f64 = 100.0;
/// Binomial terms smaller than this fraction of the mode's are negligible.
const NEGLIGIBLE: f64 = 1e-18;

/// How a rank interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    ExactBinomial,
    NormalApproximation,
}

/// 1-based ranks of the order statistics bounding a quantile; `None` where
/// the sample is too small to bound it on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankInterval {
    pub lower: Option<u64>,
    pub upper: Option<u64>,
    pub method: Method,
}

/// The [`LEVEL`] interval for quantile `q` (0 < q < 1) of `n` samples.
pub fn rank_interval(n: u64, q: f64) -> RankInterval {
    let tail = (1.0 - LEVEL) / 2.0;
    let nf = n as f64;
    let variance = nf * q * (1.0 - q);
    if n == 0 || !(q > 0.0 && q < 1.0) {
        return RankInterval {
            lower: None,
            upper: None,
            method: Method::ExactBinomial,
        };
    }
    if variance >= EXACT_BELOW_VARIANCE {
        let sd = variance.sqrt();
        // floor/ceil of finite, positive values well inside u64.
        let l = (nf * q - Z * sd).floor() as u64;
        let u = (nf * q + Z * sd).ceil() as u64 + 1;
        return RankInterval {
            lower: (l >= 1).then_some(l),
            upper: (u <= n).then_some(u),
            method: Method::NormalApproximation,
        };
    }
    let (first, weights) = binomial_weights(n, q);
    let sum: f64 = weights.iter().sum();
    // Largest l with P(B < l) <= tail.
    let mut below = 0.0;
    let mut l = first;
    for w in &weights {
        if below + w / sum > tail {
            break;
        }
        below += w / sum;
        l += 1;
    }
    // Smallest u with P(B >= u) <= tail.
    let mut above = 0.0;
    let mut u = first + weights.len() as u64; // one past the last term
    for w in weights.iter().rev() {
        if above + w / sum > tail {
            break;
        }
        above += w / sum;
        u -= 1;
    }
    RankInterval {
        lower: (l >= 1).then_some(l),
        upper: (u <= n).then_some(u),
        method: Method::ExactBinomial,
    }
}

/// Binomial(n, q) probabilities up to a common factor, for the ranks
/// `first..first + len` outside which they are negligible. Computed by the
/// ratio `P(k+1)/P(k) = (n-k)/(k+1) * q/(1-q)` walking out from the mode,
/// so nothing under- or overflows and no factorial is formed.
fn binomial_weights(n: u64, q: f64) -> (u64, Vec<f64>) {
    let odds = q / (1.0 - q);
    let mode = (((n + 1) as f64 * q).floor() as u64).min(n);
    let mut down = Vec::new();
    let mut w = 1.0;
    let mut k = mode;
    while k > 0 {
        // P(k-1) = P(k) * k / (n-k+1) / odds
        w *= k as f64 / (n - k + 1) as f64 / odds;
        if w < NEGLIGIBLE {
            break;
        }
        down.push(w);
        k -= 1;
    }
    let first = mode - down.len() as u64;
    let mut weights: Vec<f64> = down.into_iter().rev().collect();
    weights.push(1.0);
    let mut w = 1.0;
    let mut k = mode;
    while k < n {
        w *= (n - k) as f64 / (k + 1) as f64 * odds;
        if w < NEGLIGIBLE {
            break;
        }
        weights.push(w);
        k += 1;
    }
    (first, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_median_intervals() {
        // Conover, Practical Nonparametric Statistics, table A3: the 95%
        // interval for the median of 20 samples is (X(6), X(15)).
        assert_eq!(
            rank_interval(20, 0.5),
            RankInterval {
                lower: Some(6),
                upper: Some(15),
                method: Method::ExactBinomial
            }
        );
        // Five samples cannot bound a median at 95% (0.5^5 > 0.025).
        let five = rank_interval(5, 0.5);
        assert_eq!((five.lower, five.upper), (None, None));
        // Six can: P(B = 0) = 1/64 <= 0.025.
        let six = rank_interval(6, 0.5);
        assert_eq!((six.lower, six.upper), (Some(1), Some(6)));
    }

    #[test]
    fn tails_need_enough_samples() {
        // 0.99^367 = 0.02501 > 0.025: one sample short of an upper bound.
        assert_eq!(rank_interval(367, 0.99).upper, None);
        assert!(rank_interval(368, 0.99).upper.is_some());
        assert_eq!(rank_interval(100, 0.999).upper, None);
    }

    #[test]
    fn exact_and_normal_agree_where_they_meet() {
        // n q (1-q) = 100 at n = 400, q = 0.5: compare both methods.
        let normal = rank_interval(400, 0.5);
        assert_eq!(normal.method, Method::NormalApproximation);
        let (first, w) = binomial_weights(400, 0.5);
        let sum: f64 = w.iter().sum();
        let p_below = |r: u64| -> f64 {
            w.iter()
                .enumerate()
                .filter(|(i, _)| first + (*i as u64) < r)
                .map(|(_, x)| x / sum)
                .sum()
        };
        let (l, u) = (normal.lower.unwrap(), normal.upper.unwrap());
        let coverage = p_below(u) - p_below(l);
        assert!(
            (LEVEL..LEVEL + 0.02).contains(&coverage),
            "{coverage} ({l}, {u})"
        );
    }

    #[test]
    fn exact_coverage_is_at_least_the_level() {
        for n in [6u64, 7, 19, 20, 57, 200, 1_000] {
            for q in [0.5, 0.9, 0.99] {
                let r = rank_interval(n, q);
                if r.method != Method::ExactBinomial {
                    continue;
                }
                let (first, w) = binomial_weights(n, q);
                let sum: f64 = w.iter().sum();
                let lo = r.lower.unwrap_or(0);
                let hi = r.upper.unwrap_or(n + 1);
                let coverage: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (first + i as u64, x / sum))
                    .filter(|(k, _)| *k >= lo && *k < hi)
                    .map(|(_, p)| p)
                    .sum();
                assert!(coverage >= LEVEL - 1e-9, "n={n} q={q}: {coverage}");
            }
        }
    }
}
