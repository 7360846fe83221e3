//! Scoring any assignment the same way: the LP optimum, each mechanism's
//! realised routing, today's routing and the baselines are all judged by
//! the exact objective (network latency plus, when modelled, the exact
//! queueing delay rather than the LP's piecewise-linear stand-in) and by how
//! much they break each constraint.

use serde::Serialize;

use super::model::{Admission, DrainMode, Problem, Shares};

/// How one assignment fares. Violations are in requests per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// Demand-weighted mean latency at the objective percentile, including
    /// queueing delay when it is modelled.
    pub latency_ms: f64,
    /// The queueing part of `latency_ms`.
    pub queueing_ms: f64,
    /// Load above usable capacity, summed over regions.
    pub overload_rps: f64,
    /// How far backups fall short of absorbing their primary (N+1), summed.
    pub failover_shortfall_rps: f64,
    /// Demand sent to regions beyond the SLO.
    pub slo_violation_rps: f64,
    /// Load on draining regions beyond what the drain mode allows.
    pub drain_violation_rps: f64,
    /// Share of total demand that moved relative to today's routing.
    pub moved_share: f64,
}

impl Evaluation {
    pub fn violation_rps(&self) -> f64 {
        self.overload_rps
            + self.failover_shortfall_rps
            + self.slo_violation_rps
            + self.drain_violation_rps
    }

    /// Whether every constraint holds, allowing for rounding (1e-6 of demand).
    pub fn is_feasible(&self, p: &Problem) -> bool {
        self.violation_rps() <= tolerance(p)
    }
}

/// Rounding allowance in rps: fractions are written with six decimals.
pub fn tolerance(p: &Problem) -> f64 {
    1e-6 * p.total_demand.max(1.0)
}

/// Per-region load in rps.
pub fn loads(p: &Problem, shares: &Shares) -> Vec<f64> {
    let mut load = vec![0.0; p.region_count()];
    for (g, row) in shares.iter().enumerate() {
        for (r, f) in row.iter().enumerate() {
            load[r] += p.geos[g].demand * f;
        }
    }
    load
}

/// Load above usable capacity for each constraint family, from loads alone.
pub fn load_violations(p: &Problem, load: &[f64], today: &[f64]) -> (f64, f64, f64) {
    let mut overload = 0.0;
    let mut failover = 0.0;
    let mut drain = 0.0;
    for (r, region) in p.regions.iter().enumerate() {
        overload += (load[r] - region.usable).max(0.0);
        if let Some(b) = region.backup.filter(|_| p.options.failover_share > 0.0) {
            let need = load[b] + p.options.failover_share * load[r];
            failover += (need - p.regions[b].usable).max(0.0);
        }
        if region.draining {
            let allowed = match p.options.drain_mode {
                DrainMode::NoNew => today[r],
                DrainMode::Empty => 0.0,
            };
            drain += (load[r] - allowed).max(0.0);
        }
    }
    (overload, failover, drain)
}

/// Demand-weighted share moved between two assignments (half the L1 distance).
pub fn moved_share(p: &Problem, a: &Shares, b: &Shares) -> f64 {
    if p.total_demand <= 0.0 {
        return 0.0;
    }
    let moved: f64 = a
        .iter()
        .zip(b)
        .enumerate()
        .map(|(g, (ra, rb))| {
            let l1: f64 = ra.iter().zip(rb).map(|(x, y)| (x - y).abs()).sum();
            p.geos[g].demand * l1 / 2.0
        })
        .sum();
    moved / p.total_demand
}

pub fn evaluate(p: &Problem, shares: &Shares) -> Evaluation {
    let load = loads(p, shares);
    let today = loads(p, &p.current);
    let (overload_rps, failover_shortfall_rps, drain_violation_rps) =
        load_violations(p, &load, &today);
    let delay: Vec<f64> = p
        .regions
        .iter()
        .enumerate()
        .map(|(r, region)| {
            p.options
                .queue
                .map_or(0.0, |q| q.delay_ms(load[r], region.capacity))
        })
        .collect();
    let mut network = 0.0;
    let mut queueing = 0.0;
    let mut slo_violation_rps = 0.0;
    for (g, row) in shares.iter().enumerate() {
        let d = p.geos[g].demand;
        for (r, f) in row.iter().enumerate() {
            if *f <= 0.0 {
                continue;
            }
            network += d * f * p.latency[g][r];
            queueing += d * f * delay[r];
            if p.admission[g][r] == Admission::Slo {
                slo_violation_rps += d * f;
            }
        }
    }
    let total = p.total_demand.max(f64::MIN_POSITIVE);
    Evaluation {
        latency_ms: (network + queueing) / total,
        queueing_ms: queueing / total,
        overload_rps,
        failover_shortfall_rps,
        slo_violation_rps,
        drain_violation_rps,
        moved_share: moved_share(p, shares, &p.current),
    }
}

/// `(value - best) / best` in percent; 0 when `best` is 0.
pub fn gap_pct(value: f64, best: f64) -> f64 {
    if best.abs() < f64::EPSILON {
        0.0
    } else {
        (value - best) / best * 100.0
    }
}

/// Each geo to its lowest-latency region (Route 53 latency records),
/// ignoring capacity and SLO.
pub fn latency_nearest(p: &Problem) -> Shares {
    one_hot(p, |g, r| p.latency[g][r])
}

/// Each geo to the region nearest on the map (static geolocation done by
/// hand), ignoring the network, capacity and SLO.
pub fn geo_nearest(p: &Problem) -> Shares {
    one_hot(p, |g, r| {
        let (a, b) = (&p.geos[g], &p.regions[r]);
        distance_km(a.lat, a.lon, b.lat, b.lon)
    })
}

fn one_hot(p: &Problem, cost: impl Fn(usize, usize) -> f64) -> Shares {
    (0..p.geo_count())
        .map(|g| {
            let mut row = vec![0.0; p.region_count()];
            if let Some(best) =
                (0..p.region_count()).min_by(|&a, &b| cost(g, a).total_cmp(&cost(g, b)))
            {
                row[best] = 1.0;
            }
            row
        })
        .collect()
}

/// Great-circle distance (haversine), km.
fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn counts_overload_and_latency() {
        let w = world(&[(100.0, &[10.0, 20.0])], &[50.0, 200.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        let e = evaluate(&p, &vec![vec![1.0, 0.0]]);
        assert_eq!(e.latency_ms, 10.0);
        assert!((e.overload_rps - 55.0).abs() < 1e-9, "{e:?}");
        let e = evaluate(&p, &vec![vec![0.25, 0.75]]);
        assert_eq!(e.latency_ms, 17.5);
        assert_eq!(e.overload_rps, 0.0);
        assert!((e.moved_share - 0.75).abs() < 1e-12);
    }

    #[test]
    fn distance_is_haversine() {
        // London to Paris is about 344 km.
        let d = distance_km(51.5074, -0.1278, 48.8566, 2.3522);
        assert!((d - 344.0).abs() < 2.0, "{d}");
    }
}
