//! Global Accelerator: per region, the endpoint group's traffic dial
//! (0..=100, the percentage of traffic arriving at the group that it keeps;
//! GA takes a float, the advisor sets tenths) and its endpoint's weight
//! (0..=255).
//!
//! Model (the same the lab accelerator implements): a client's traffic
//! arrives at its nearest group by p50 latency (GA's proximity; ties by
//! region id); each group keeps `dial`% of what reaches it and spills the
//! rest to the client's next-nearest group, and whatever every group
//! spilled is delivered to the last group in line. Dials are global, not
//! per geo, so GA can express far less than DNS: the dials are chosen by
//! coordinate descent (each region's dial in turn, in steps of 5, then 1,
//! then 0.1 percentage points, until no dial improves) on the realised routing's latency plus a heavy price
//! on every rps that breaks a constraint, starting from dials that would
//! deliver the plan's loads if nothing spilled in.
//!
//! Each group holds one endpoint here, so its weight only switches it on:
//! 128 (GA's default) for every region, 0 for one being emptied.

use super::evaluate::{Evaluation, evaluate, loads};
use super::model::{DrainMode, Problem, Shares};

/// Price (ms) of each unit share of demand that breaks a constraint.
const VIOLATION_MS: f64 = 1e6;
const DEFAULT_ENDPOINT_WEIGHT: u8 = 128;

#[derive(Debug, Clone, PartialEq)]
pub struct Dials {
    /// Percent, in tenths.
    pub traffic_dial: Vec<f64>,
    pub endpoint_weight: Vec<u8>,
}

/// Each geo's regions from nearest to farthest by p50.
pub fn proximity(p: &Problem) -> Vec<Vec<usize>> {
    (0..p.geo_count())
        .map(|g| {
            let mut order: Vec<usize> = (0..p.region_count()).collect();
            order.sort_by(|&a, &b| {
                p.p50[g][a]
                    .total_cmp(&p.p50[g][b])
                    .then_with(|| p.regions[a].id.cmp(&p.regions[b].id))
            });
            order
        })
        .collect()
}

/// Where traffic lands under these dials.
pub fn realised(p: &Problem, order: &[Vec<usize>], dials: &[f64]) -> Shares {
    order
        .iter()
        .map(|line| {
            let mut row = vec![0.0; p.region_count()];
            let mut left = 1.0;
            for &r in line {
                let keep = left * dials[r].clamp(0.0, 100.0) / 100.0;
                row[r] += keep;
                left -= keep;
            }
            if let Some(&last) = line.last() {
                row[last] += left;
            }
            row
        })
        .collect()
}

fn score(p: &Problem, e: &Evaluation) -> f64 {
    let total = p.total_demand.max(f64::MIN_POSITIVE);
    e.latency_ms + VIOLATION_MS * e.violation_rps() / total
}

/// Dials whose realised routing comes closest to the best it can be.
pub fn choose(p: &Problem, target: &Shares) -> Dials {
    let order = proximity(p);
    let closed: Vec<bool> = p
        .regions
        .iter()
        .map(|r| r.draining && p.options.drain_mode == DrainMode::Empty)
        .collect();
    // Dials in tenths of a percent, so the search is over integers.
    let mut tenths = initial(p, &order, target, &closed);
    let as_dials = |t: &[u16]| -> Vec<f64> { t.iter().map(|v| f64::from(*v) / 10.0).collect() };
    let eval = |t: &[u16]| score(p, &evaluate(p, &realised(p, &order, &as_dials(t))));
    let mut best = eval(&tenths);
    for _ in 0..50 {
        let mut improved = false;
        for r in (0..p.region_count()).filter(|&r| !closed[r]) {
            let before = tenths[r];
            let try_dial = |v: u16, tenths: &mut Vec<u16>, best: &mut f64| {
                let old = tenths[r];
                tenths[r] = v;
                let s = eval(tenths);
                if s < *best - 1e-9 {
                    *best = s;
                } else {
                    tenths[r] = old;
                }
            };
            for v in (0..=1000u16).step_by(50) {
                try_dial(v, &mut tenths, &mut best);
            }
            for step in [10u16, 1] {
                let centre = tenths[r];
                let lo = centre.saturating_sub(4 * step);
                let hi = (centre + 4 * step).min(1000);
                for v in (lo..=hi).step_by(usize::from(step)) {
                    try_dial(v, &mut tenths, &mut best);
                }
            }
            improved |= tenths[r] != before;
        }
        if !improved {
            break;
        }
    }
    let dials = as_dials(&tenths);
    Dials {
        endpoint_weight: closed
            .iter()
            .map(|c| if *c { 0 } else { DEFAULT_ENDPOINT_WEIGHT })
            .collect(),
        traffic_dial: dials,
    }
}

/// Dials (tenths) that would give each region the plan's load if it
/// received only its natural arrivals: `dial = target load / natural load`.
fn initial(p: &Problem, order: &[Vec<usize>], target: &Shares, closed: &[bool]) -> Vec<u16> {
    let natural = loads(p, &realised(p, order, &vec![100.0; p.region_count()]));
    let want = loads(p, target);
    (0..p.region_count())
        .map(|r| {
            if closed[r] {
                0
            } else if natural[r] <= 0.0 {
                1000
            } else {
                (want[r] / natural[r] * 1000.0).round().clamp(0.0, 1000.0) as u16
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn dials_keep_their_share_and_spill_in_proximity_order() {
        let w = world(&[(100.0, &[10.0, 20.0, 30.0])], &[100.0, 100.0, 100.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        let order = proximity(&p);
        assert_eq!(order[0], vec![0, 1, 2]);
        let s = realised(&p, &order, &[25.0, 50.0, 100.0]);
        assert_eq!(s[0], vec![0.25, 0.375, 0.375]);
        // Everything spilled lands on the last group in line.
        assert_eq!(realised(&p, &order, &[0.0; 3])[0], vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn chosen_dials_relieve_an_overloaded_region() {
        let w = world(&[(100.0, &[10.0, 20.0])], &[50.0, 200.0]);
        let o = Options {
            headroom: 0.0,
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        let d = choose(&p, &vec![vec![0.5, 0.5]]);
        assert_eq!(d.traffic_dial[0], 50.0, "{d:?}");
        let e = evaluate(&p, &realised(&p, &proximity(&p), &d.traffic_dial));
        assert_eq!(e.overload_rps, 0.0);
    }
}
