//! The heuristic for one region per location, for problems too large for
//! the MILP (and as its starting incumbent): two starts, each repaired and
//! improved by local search, the better kept.

use super::{cost, location_loads, queue_cost, violation};
use crate::advise::evaluate::{loads, tolerance};
use crate::advise::locations::Location;
use crate::advise::model::Problem;

/// Most locations for which the heuristic tries pairwise swaps (quadratic).
const SWAP_LIMIT: usize = 500;

struct Search<'a> {
    p: &'a Problem,
    locs: &'a [Location],
    cand: &'a [Vec<usize>],
    cost: Vec<Vec<f64>>,
    demand: Vec<f64>,
    today: Vec<f64>,
    region: Vec<usize>,
    load: Vec<f64>,
}

impl Search<'_> {
    /// (cost change, violation after) of moving location `l` to `to`,
    /// together with location `m` to `l`'s region for a swap.
    fn delta(&self, moves: &[(usize, usize)]) -> (f64, f64) {
        let mut load = self.load.clone();
        let mut d = 0.0;
        let mut touched = Vec::new();
        for &(l, to) in moves {
            let from = self.region[l];
            d += self.cost[l][to] - self.cost[l][from];
            load[from] -= self.demand[l];
            load[to] += self.demand[l];
            touched.extend([from, to]);
        }
        touched.sort_unstable();
        touched.dedup();
        for r in touched {
            d += queue_cost(self.p, r, load[r]) - queue_cost(self.p, r, self.load[r]);
        }
        (d, violation(self.p, &load, &self.today))
    }

    fn apply(&mut self, moves: &[(usize, usize)]) {
        let old: Vec<usize> = moves.iter().map(|&(l, _)| self.region[l]).collect();
        for (&(l, to), from) in moves.iter().zip(old) {
            self.load[from] -= self.demand[l];
            self.load[to] += self.demand[l];
            self.region[l] = to;
        }
    }

    /// The objective (rps x ms): cost of each location's region plus queueing.
    fn total_cost(&self) -> f64 {
        let placed: f64 = (0..self.locs.len())
            .map(|l| self.cost[l][self.region[l]])
            .sum();
        let queue: f64 = (0..self.p.region_count())
            .map(|r| queue_cost(self.p, r, self.load[r]))
            .sum();
        placed + queue
    }

    fn active(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.locs.len()).filter(|&l| self.demand[l] > 0.0)
    }

    /// Moves locations off regions in violation, cheapest per rps relieved
    /// first; a swap when no single move helps (one location out of a full
    /// region, a smaller one in).
    fn repair(&mut self) {
        let tol = tolerance(self.p);
        let swaps = self.locs.len() <= SWAP_LIMIT;
        for _ in 0..self.locs.len() * self.p.region_count() {
            let v = violation(self.p, &self.load, &self.today);
            if v <= tol {
                return;
            }
            let mut best: Option<(f64, Vec<(usize, usize)>)> = None;
            let consider =
                |moves: Vec<(usize, usize)>, best: &mut Option<(f64, Vec<(usize, usize)>)>| {
                    let (d, after) = self.delta(&moves);
                    if after < v - 1e-9 {
                        let score = d / (v - after);
                        if best.as_ref().is_none_or(|(b, _)| score < *b) {
                            *best = Some((score, moves));
                        }
                    }
                };
            let active: Vec<usize> = self.active().collect();
            for &l in &active {
                for &to in &self.cand[l] {
                    if to != self.region[l] {
                        consider(vec![(l, to)], &mut best);
                    }
                }
            }
            if best.is_none() && swaps {
                for (i, &a) in active.iter().enumerate() {
                    for &b in &active[i + 1..] {
                        let (ra, rb) = (self.region[a], self.region[b]);
                        if ra != rb && self.cand[a].contains(&rb) && self.cand[b].contains(&ra) {
                            consider(vec![(a, rb), (b, ra)], &mut best);
                        }
                    }
                }
            }
            let Some((_, moves)) = best else { return };
            self.apply(&moves);
        }
    }

    /// Single moves and swaps that lower the cost without adding violation.
    fn improve(&mut self) {
        let swaps = self.locs.len() <= SWAP_LIMIT;
        for _ in 0..100 {
            let v = violation(self.p, &self.load, &self.today);
            let mut best: Option<(f64, Vec<(usize, usize)>)> = None;
            let mut consider = |moves: Vec<(usize, usize)>, s: &Self| {
                let (d, after) = s.delta(&moves);
                if d < -1e-9 && after <= v + 1e-9 && best.as_ref().is_none_or(|(b, _)| d < *b) {
                    best = Some((d, moves));
                }
            };
            let active: Vec<usize> = self.active().collect();
            for &l in &active {
                for &to in &self.cand[l] {
                    if to != self.region[l] {
                        consider(vec![(l, to)], self);
                    }
                }
            }
            if swaps {
                for (i, &a) in active.iter().enumerate() {
                    for &b in &active[i + 1..] {
                        let (ra, rb) = (self.region[a], self.region[b]);
                        if ra != rb && self.cand[a].contains(&rb) && self.cand[b].contains(&ra) {
                            consider(vec![(a, rb), (b, ra)], self);
                        }
                    }
                }
            }
            match best {
                Some((_, moves)) => self.apply(&moves),
                None => return,
            }
        }
    }
}

pub fn search(
    p: &Problem,
    locs: &[Location],
    splits: &[Vec<f64>],
    cand: &[Vec<usize>],
    switching_ms: f64,
) -> Vec<usize> {
    let cost: Vec<Vec<f64>> = locs
        .iter()
        .map(|l| {
            (0..p.region_count())
                .map(|r| cost(p, l, r, switching_ms))
                .collect()
        })
        .collect();
    let demand: Vec<f64> = locs.iter().map(|l| l.demand(p)).collect();
    let today = loads(p, &p.current);
    let largest_share: Vec<usize> = (0..locs.len())
        .map(|l| {
            let key = |r: usize| (splits[l][r], -cost[l][r]);
            cand[l]
                .iter()
                .copied()
                .max_by(|&a, &b| {
                    key(a)
                        .partial_cmp(&key(b))
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .unwrap_or(0)
        })
        .collect();
    let regret = regret_start(p, cand, &cost, &demand, &today, &largest_share);
    let tol = tolerance(p);
    let mut best: Option<(bool, f64, Vec<usize>)> = None;
    for start in [largest_share, regret] {
        let mut s = Search {
            p,
            locs,
            cand,
            cost: cost.clone(),
            demand: demand.clone(),
            today: today.clone(),
            load: location_loads(p, locs, &start),
            region: start,
        };
        s.repair();
        s.improve();
        let broken = violation(p, &s.load, &today) > tol;
        let total = s.total_cost();
        if best
            .as_ref()
            .is_none_or(|(b, t, _)| (broken, total) < (*b, *t))
        {
            best = Some((broken, total, s.region));
        }
    }
    best.map(|(_, _, r)| r).unwrap_or_default()
}

/// Regret greedy for the generalised assignment problem (after Martello
/// and Toth): repeatedly place the location that would lose most by not
/// getting its best region that still has room, largest demand first on
/// ties. Locations no region has room for keep their `fallback`.
fn regret_start(
    p: &Problem,
    cand: &[Vec<usize>],
    cost: &[Vec<f64>],
    demand: &[f64],
    today: &[f64],
    fallback: &[usize],
) -> Vec<usize> {
    let tol = tolerance(p);
    let mut region = fallback.to_vec();
    let mut load = vec![0.0; p.region_count()];
    let mut open: Vec<usize> = (0..demand.len()).filter(|&l| demand[l] > 0.0).collect();
    while !open.is_empty() {
        // (regret, demand, position in open, region)
        let mut pick: Option<(f64, f64, usize, usize)> = None;
        for (i, &l) in open.iter().enumerate() {
            let mut fits: Vec<(f64, usize)> = cand[l]
                .iter()
                .filter(|&&r| {
                    let mut trial = load.clone();
                    trial[r] += demand[l];
                    violation(p, &trial, today) <= tol
                })
                .map(|&r| (cost[l][r], r))
                .collect();
            fits.sort_by(|a, b| a.0.total_cmp(&b.0));
            let Some(&(c1, r1)) = fits.first() else {
                continue;
            };
            let regret = fits.get(1).map_or(f64::INFINITY, |(c2, _)| c2 - c1);
            if pick.is_none_or(|(g, d, ..)| (regret, demand[l]) > (g, d)) {
                pick = Some((regret, demand[l], i, r1));
            }
        }
        let Some((_, _, i, r)) = pick else {
            break;
        };
        let l = open.swap_remove(i);
        region[l] = r;
        load[r] += demand[l];
    }
    region
}
