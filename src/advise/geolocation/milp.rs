//! The exact one-region-per-location problem as a MILP: binary
//! `y[location][region]`, each location answered once, and the fractional
//! LP's constraints (capacity with headroom, N+1, drain, change budget,
//! queueing) over whole locations. microlp's branch and bound runs under a
//! time limit, started from the heuristic's answer when that is feasible.

use good_lp::{
    Expression, ProblemVariables, Solution, SolverModel, Variable, WithMipGap, WithTimeLimit,
    microlp, variable,
};

use super::{Method, cost, is_feasible};
use crate::advise::evaluate::loads;
use crate::advise::locations::Location;
use crate::advise::lp::queue_segments;
use crate::advise::model::{DrainMode, Problem};

/// The optimal region per location and how sure that is, or `None` when
/// the MILP found nothing in time (or is infeasible).
pub fn solve(
    p: &Problem,
    locs: &[Location],
    cand: &[Vec<usize>],
    start: &[usize],
    switching_ms: f64,
) -> Option<(Vec<usize>, Method)> {
    let total = p.total_demand.max(f64::MIN_POSITIVE);
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::default();
    let mut constraints = Vec::new();
    let mut load: Vec<Expression> = vec![Expression::default(); p.region_count()];
    let mut kept = Expression::default();
    let mut routed = 0.0;
    let mut hint = Vec::new();
    let mut y: Vec<Vec<(usize, Variable)>> = Vec::with_capacity(locs.len());
    for (l, loc) in locs.iter().enumerate() {
        let demand = loc.demand(p);
        if demand <= 0.0 {
            y.push(Vec::new());
            continue;
        }
        routed += demand;
        let mut row = Expression::default();
        let mut ys = Vec::new();
        for &r in &cand[l] {
            let v = vars.add(variable().binary());
            objective.add_mul(cost(p, loc, r, switching_ms) / total, v);
            load[r].add_mul(demand, v);
            let stays: f64 = loc
                .geos
                .iter()
                .map(|&g| p.geos[g].demand * p.current[g][r])
                .sum();
            kept.add_mul(stays, v);
            row += v;
            hint.push((v, if start[l] == r { 1.0 } else { 0.0 }));
            ys.push((r, v));
        }
        constraints.push(row.eq(1.0));
        y.push(ys);
    }
    let today = loads(p, &p.current);
    let share = p.options.failover_share;
    for (r, region) in p.regions.iter().enumerate() {
        constraints.push(load[r].clone().leq(region.usable));
        if let Some(b) = region.backup.filter(|_| share > 0.0) {
            let mut e = load[b].clone();
            e.add_mul(share, load[r].clone());
            constraints.push(e.leq(p.regions[b].usable));
        }
        if region.draining && p.options.drain_mode == DrainMode::NoNew {
            constraints.push(load[r].clone().leq(today[r]));
        }
        if let Some(q) = p.options.queue {
            let t = vars.add(variable().min(0.0));
            objective.add_mul(1.0 / total, t);
            for (a, b) in queue_segments(q, region.capacity, region.usable) {
                constraints.push((b * load[r].clone() - t).leq(-a));
            }
        }
    }
    if let Some(m) = p.options.max_change {
        constraints.push(kept.geq(routed - m * total));
    }
    let start_ok = is_feasible(p, locs, start);
    let mut model = vars
        .minimise(objective)
        .using(microlp)
        .with_time_limit(p.options.milp_time_limit_s)
        .with_mip_gap(1e-6)
        .ok()?
        .with_all(constraints);
    if start_ok {
        model = good_lp::WithInitialSolution::with_initial_solution(model, hint);
    }
    let solution = model.solve().ok()?;
    let method = match solution.status() {
        good_lp::SolutionStatus::Optimal | good_lp::SolutionStatus::GapLimit => Method::Milp,
        _ => Method::MilpTimeLimit,
    };
    let region = y
        .iter()
        .enumerate()
        .map(|(l, ys)| {
            ys.iter()
                .max_by(|a, b| solution.value(a.1).total_cmp(&solution.value(b.1)))
                .map_or(start[l], |(r, _)| *r)
        })
        .collect();
    Some((region, method))
}
