//! Route 53 weighted records: per location, integer weights 0..=255 whose
//! ratios carry the fractional plan. A record's share is its weight over
//! the sum of the weights, so the sum need not be 255: for each location
//! the total `T` in 1..=255 whose largest-remainder rounding (Hamilton's
//! method) is closest to the split in L1 wins, the smallest on ties (1:2
//! rather than 85:170). Rounding can push a full region a few rps over its
//! usable capacity; a repair pass then moves single weight units off the
//! regions in violation, each time the unit that costs least latency,
//! until every constraint holds again.

use super::evaluate::{load_violations, loads, tolerance};
use super::locations::{Location, admits, expand};
use super::model::{Problem, Shares};

/// Per location (same order as the locations), per region.
pub type Weights = Vec<Vec<u8>>;

/// Weights for every location from the plan's merged splits, repaired so
/// they break no constraint the plan keeps.
pub fn round(p: &Problem, locs: &[Location], splits: &[Vec<f64>]) -> Weights {
    let mut weights: Weights = splits.iter().map(|s| best_weights(s)).collect();
    repair(p, locs, &mut weights);
    weights
}

/// The shares the weights produce, per geo.
pub fn realised(p: &Problem, locs: &[Location], weights: &Weights) -> Shares {
    let splits: Vec<Vec<f64>> = weights.iter().map(|w| split_of(w)).collect();
    expand(p, locs, &splits)
}

pub fn split_of(weights: &[u8]) -> Vec<f64> {
    let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    weights
        .iter()
        .map(|w| {
            if total > 0.0 {
                f64::from(*w) / total
            } else {
                0.0
            }
        })
        .collect()
}

/// Integer weights whose ratios are closest to `split`.
pub fn best_weights(split: &[f64]) -> Vec<u8> {
    let mut best: Option<(f64, Vec<u32>)> = None;
    for total in 1..=255u32 {
        let w = largest_remainder(split, total);
        let err: f64 = w
            .iter()
            .zip(split)
            .map(|(w, f)| (f64::from(*w) / f64::from(total) - f).abs())
            .sum();
        if best.as_ref().is_none_or(|(e, _)| err < e - 1e-12) {
            let exact = err < 1e-9;
            best = Some((err, w));
            if exact {
                break;
            }
        }
    }
    best.map_or_else(
        || vec![0; split.len()],
        |(_, w)| w.into_iter().map(|v| v.min(255) as u8).collect(),
    )
}

/// Hamilton's method: floors, then the remaining units to the largest
/// remainders (ties to the lower index, so the result is deterministic).
pub fn largest_remainder(split: &[f64], total: u32) -> Vec<u32> {
    let t = f64::from(total);
    let mut w: Vec<u32> = split
        .iter()
        .map(|f| (f * t).floor().max(0.0) as u32)
        .collect();
    let given: u32 = w.iter().sum();
    let mut order: Vec<usize> = (0..split.len()).collect();
    let rem = |i: usize| split[i] * t - f64::from(w[i]);
    order.sort_by(|&a, &b| rem(b).total_cmp(&rem(a)).then(a.cmp(&b)));
    for &i in order.iter().take(total.saturating_sub(given) as usize) {
        w[i] += 1;
    }
    w
}

fn violation(p: &Problem, load: &[f64], today: &[f64]) -> f64 {
    let (a, b, c) = load_violations(p, load, today);
    a + b + c
}

/// Regions whose load takes part in a violation.
fn hot(p: &Problem, load: &[f64], tol: f64) -> Vec<bool> {
    let mut hot = vec![false; p.region_count()];
    for (r, region) in p.regions.iter().enumerate() {
        if load[r] > region.usable + tol || region.draining {
            hot[r] = true;
        }
        if let Some(b) = region.backup {
            let need = load[b] + p.options.failover_share * load[r];
            if p.options.failover_share > 0.0 && need > p.regions[b].usable + tol {
                hot[r] = true;
                hot[b] = true;
            }
        }
    }
    hot
}

fn repair(p: &Problem, locs: &[Location], weights: &mut Weights) {
    let today = loads(p, &p.current);
    let tol = tolerance(p);
    let demand: Vec<f64> = locs.iter().map(|l| l.demand(p)).collect();
    let mut load = loads(p, &realised(p, locs, weights));
    for _ in 0..100_000 {
        let v = violation(p, &load, &today);
        if v <= tol {
            return;
        }
        let hot = hot(p, &load, tol);
        // (latency cost, violation after, location, from, to)
        let mut best: Option<(f64, f64, usize, usize, usize)> = None;
        for (l, loc) in locs.iter().enumerate() {
            if demand[l] <= 0.0 {
                continue;
            }
            let total: u32 = weights[l].iter().map(|w| u32::from(*w)).sum();
            let unit = demand[l] / f64::from(fine_total(total));
            for from in (0..p.region_count()).filter(|&r| hot[r] && weights[l][r] > 0) {
                for to in (0..p.region_count()).filter(|&r| r != from && admits(p, loc, r)) {
                    let mut trial = load.clone();
                    trial[from] -= unit;
                    trial[to] += unit;
                    let after = violation(p, &trial, &today);
                    if after >= v - 1e-9 {
                        continue;
                    }
                    let cost: f64 = loc
                        .geos
                        .iter()
                        .map(|&g| p.geos[g].demand * (p.latency[g][to] - p.latency[g][from]))
                        .sum::<f64>()
                        / f64::from(fine_total(total));
                    let better = best.as_ref().is_none_or(|(c, a, ..)| {
                        cost < c - 1e-12 || (cost <= c + 1e-12 && after < *a)
                    });
                    if better {
                        best = Some((cost, after, l, from, to));
                    }
                }
            }
        }
        let Some((_, _, l, from, to)) = best else {
            return;
        };
        refine(&mut weights[l]);
        let total: u32 = weights[l].iter().map(|w| u32::from(*w)).sum();
        let unit = demand[l] / f64::from(total);
        weights[l][from] -= 1;
        weights[l][to] = weights[l][to].saturating_add(1);
        load[from] -= unit;
        load[to] += unit;
    }
}

/// The total after `refine`: the largest multiple of `total` within 255.
fn fine_total(total: u32) -> u32 {
    total * (255 / total.max(1)).max(1)
}

/// Scales weights up to the finest resolution 255 allows, ratios unchanged,
/// so a repair step moves as little traffic as possible.
fn refine(weights: &mut [u8]) {
    let total: u32 = weights.iter().map(|w| u32::from(*w)).sum();
    let k = (255 / total.max(1)).max(1);
    if k > 1 {
        for w in weights.iter_mut() {
            *w = (u32::from(*w) * k).min(255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::locations::group;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn simple_ratios_get_small_weights() {
        assert_eq!(best_weights(&[1.0, 0.0]), vec![1, 0]);
        assert_eq!(best_weights(&[0.5, 0.5]), vec![1, 1]);
        assert_eq!(best_weights(&[1.0 / 3.0, 2.0 / 3.0]), vec![1, 2]);
        let w = best_weights(&[0.123, 0.877]);
        let err = (split_of(&w)[0] - 0.123).abs();
        assert!(err < 1.0 / 255.0, "{w:?} {err}");
    }

    #[test]
    fn largest_remainder_hits_the_total() {
        assert_eq!(largest_remainder(&[0.5, 0.3, 0.2], 7), vec![4, 2, 1]);
        assert_eq!(largest_remainder(&[1.0 / 3.0; 3], 4), vec![2, 1, 1]);
    }

    #[test]
    fn repair_moves_rounding_overload_off_a_full_region() {
        // r0 takes exactly its usable 100 rps of 301 rps at 100/301: any
        // rounding up overloads it.
        let w = world(&[(301.0, &[10.0, 20.0])], &[100.0, 1000.0]);
        let o = Options {
            headroom: 0.0,
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        let locs = group(&p);
        let weights = round(&p, &locs, &[vec![100.0 / 301.0, 201.0 / 301.0]]);
        let load = loads(&p, &realised(&p, &locs, &weights));
        assert!(load[0] <= 100.0 + 1e-9, "{weights:?} {load:?}");
        assert!(load[0] > 98.0, "{weights:?} {load:?}");
    }
}
