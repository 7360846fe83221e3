//! Route 53 geolocation records: one region per location. Choosing them is
//! a generalised assignment problem (NP-hard), so it is solved exactly as a
//! MILP (binary `y[location][region]`, the LP's constraints over whole
//! locations) when it has at most `milp_max_binaries` binaries, with a time
//! limit and the heuristic's answer as the starting incumbent. Larger
//! problems, or a MILP that finds nothing in time, use the heuristic alone.
//! It starts twice, from each location's largest share in the fractional
//! plan and from a regret greedy; from each, locations are moved off
//! regions in violation by least cost per rps relieved, then single moves
//! and pairwise swaps are made while they lower the cost without breaking
//! anything; the better result wins.

mod heuristic;
mod milp;

use serde::Serialize;

use super::evaluate::{load_violations, loads, tolerance};
use super::locations::{Location, admits};
use super::model::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Proven optimal (within a relative gap of 1e-6).
    Milp,
    /// The MILP's best answer when its time limit ran out.
    MilpTimeLimit,
    Heuristic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Geolocation {
    /// Region per location (same order as the locations).
    pub region: Vec<usize>,
    pub method: Method,
}

/// The regions a location may be answered with: those open to all its
/// geos with demand; if the SLO leaves none in common, any region open to
/// one of them (the realised plan then reports the SLO violation).
fn candidates(p: &Problem, loc: &Location) -> Vec<usize> {
    let all: Vec<usize> = (0..p.region_count())
        .filter(|&r| admits(p, loc, r))
        .collect();
    if !all.is_empty() {
        return all;
    }
    let any: Vec<usize> = (0..p.region_count())
        .filter(|&r| loc.geos.iter().any(|&g| p.upper[g][r] > 0.0))
        .collect();
    if any.is_empty() {
        (0..p.region_count()).collect()
    } else {
        any
    }
}

/// Cost (rps x ms) of answering `loc` with `r`: latency plus the switching
/// cost of whatever moves.
fn cost(p: &Problem, loc: &Location, r: usize, switching_ms: f64) -> f64 {
    loc.geos
        .iter()
        .map(|&g| {
            let d = p.geos[g].demand;
            d * p.latency[g][r] + switching_ms * d * (1.0 - p.current[g][r])
        })
        .sum()
}

pub fn assign(
    p: &Problem,
    locs: &[Location],
    splits: &[Vec<f64>],
    switching_ms: f64,
) -> Geolocation {
    let cand: Vec<Vec<usize>> = locs.iter().map(|l| candidates(p, l)).collect();
    let start = heuristic::search(p, locs, splits, &cand, switching_ms);
    let binaries: usize = locs
        .iter()
        .zip(&cand)
        .filter(|(l, _)| l.demand(p) > 0.0)
        .map(|(_, c)| c.len())
        .sum();
    if binaries <= p.options.milp_max_binaries
        && let Some((region, method)) = milp::solve(p, locs, &cand, &start, switching_ms)
    {
        return Geolocation { region, method };
    }
    Geolocation {
        region: start,
        method: Method::Heuristic,
    }
}

fn location_loads(p: &Problem, locs: &[Location], region: &[usize]) -> Vec<f64> {
    let mut load = vec![0.0; p.region_count()];
    for (loc, &r) in locs.iter().zip(region) {
        load[r] += loc.demand(p);
    }
    load
}

fn violation(p: &Problem, load: &[f64], today: &[f64]) -> f64 {
    let (a, b, c) = load_violations(p, load, today);
    a + b + c
}

fn is_feasible(p: &Problem, locs: &[Location], region: &[usize]) -> bool {
    let today = loads(p, &p.current);
    violation(p, &location_loads(p, locs, region), &today) <= tolerance(p)
}

/// Queueing cost (rps x ms) of a region at `load`.
fn queue_cost(p: &Problem, r: usize, load: f64) -> f64 {
    let region = &p.regions[r];
    p.options
        .queue
        .map_or(0.0, |q| load * q.delay_ms(load, region.capacity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::locations::group;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn milp_and_heuristic_respect_capacity() {
        // g0 and g1 both prefer r0, which fits only one of them.
        let w = world(
            &[(60.0, &[10.0, 50.0]), (50.0, &[10.0, 20.0])],
            &[70.0, 100.0],
        );
        let o = Options {
            headroom: 0.0,
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        let locs = group(&p);
        assert_eq!(locs.len(), 1, "both geos are continent EU");
        let p = {
            let mut w = w.clone();
            w.geos[0].country = Some("AA".into());
            w.geos[1].country = Some("BB".into());
            Problem::build(&w, &o).unwrap()
        };
        let locs = group(&p);
        let splits = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let g = assign(&p, &locs, &splits, 0.0);
        assert_eq!((g.region.clone(), g.method), (vec![0, 1], Method::Milp));
        let cand: Vec<Vec<usize>> = locs.iter().map(|l| candidates(&p, l)).collect();
        assert_eq!(
            heuristic::search(&p, &locs, &splits, &cand, 0.0),
            vec![0, 1]
        );
    }
}
