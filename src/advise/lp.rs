//! The fractional routing problem as a linear program (good_lp + microlp,
//! pure Rust):
//!
//! ```text
//! minimise   sum_g,r d_g L_gr x_gr / D                      demand-weighted latency
//!          + sum_r q_r / D                                   queueing (optional)
//!          + lambda sum_g d_g (1 - sum_r w_gr) / D           switching cost
//! subject to sum_r x_gr = 1                                  every geo is served
//!            0 <= x_gr <= upper_gr                           SLO, drain
//!            l_r = sum_g d_g x_gr <= usable_r                capacity with headroom
//!            l_b + phi l_r <= usable_b   (b backs up r)      N+1
//!            0 <= w_gr <= min(x_gr, current_gr)              traffic that stays
//!            sum_g d_g (1 - sum_r w_gr) <= M D               change budget
//!            q_r >= a_k + b_k l_r                            queueing, piecewise linear
//! ```
//!
//! `w` is what stays where it is today, so `1 - sum w` is the share of a geo
//! that moves (half the L1 distance). Only pairs with traffic today get a
//! `w`, so moves cost one variable per geo rather than one per pair. The
//! queueing cost `l * delay(l)` is convex, so the maximum of its secants
//! between breakpoints is its piecewise-linear interpolation: exact at the
//! breakpoints, slightly above between them.
//!
//! `solve_relaxed` adds a priced slack to every constraint so an infeasible
//! problem still solves, and the slacks that end up non-zero say which
//! constraints cannot be met (relax-and-report). Policy gives way before
//! physics: the change budget is the cheapest to break, then N+1, then
//! capacity, and leaving demand unserved is dearest.

use good_lp::{
    Constraint, Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable,
    microlp, variable,
};

use super::model::{Problem, QueueModel, Shares};

/// Switching cost used only to break ties: when two routings are equally
/// good the LP keeps today's, so identical input never flaps.
pub const TIE_BREAK_MS: f64 = 1e-4;

/// Price of one unit of slack (ms per share of total demand): far above
/// any latency, so slack is used only where nothing else works.
const SLACK_MS: f64 = 1e5;

/// Utilisation breakpoints of the queueing curve: every 2.5% up to 90%,
/// then denser where it bends. Between breakpoints the interpolation is
/// above the curve by at most `step^2 / 8` times its curvature (about 0.01
/// ms per request at 50% utilisation with a 10 ms service time).
fn breakpoints() -> Vec<f64> {
    let mut u: Vec<f64> = (0..=36).map(|k| f64::from(k) * 0.025).collect();
    u.extend([0.925, 0.95, 0.96, 0.97, 0.98, 0.99]);
    u
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub problem: &'a Problem,
    /// Cost (ms) per unit of demand moved from today's routing.
    pub switching_ms: f64,
    /// Send all of geo `.0` to region `.1` (explain's what-if).
    pub pin: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Infeasible,
    Solver(String),
}

/// The relaxed problem's answer: shares plus how far each constraint had to give.
#[derive(Debug, Clone, PartialEq)]
pub struct Relaxed {
    pub shares: Shares,
    /// Per geo: share of its traffic left unserved.
    pub unserved: Vec<f64>,
    /// Per region: rps above usable capacity.
    pub capacity_short: Vec<f64>,
    /// Per primary region: rps its backup is short (N+1).
    pub failover_short: Vec<f64>,
    /// Share of total demand moved beyond the change budget.
    pub budget_short: f64,
}

struct Slacks {
    unserved: Vec<Option<Variable>>,
    capacity: Vec<Variable>,
    failover: Vec<Option<Variable>>,
    budget: Option<Variable>,
}

struct Model {
    vars: ProblemVariables,
    x: Vec<Vec<Option<Variable>>>,
    objective: Expression,
    constraints: Vec<Constraint>,
    slacks: Option<Slacks>,
}

/// The optimal fractional routing.
pub fn solve(req: &Request) -> Result<Shares, Failure> {
    let m = build(req, false);
    let x = m.x;
    let solution = m
        .vars
        .minimise(m.objective)
        .using(microlp)
        .with_all(m.constraints)
        .solve()
        .map_err(failure)?;
    Ok(read_shares(req, &x, &solution))
}

/// The routing that breaks the constraints least, and by how much.
pub fn solve_relaxed(req: &Request) -> Result<Relaxed, Failure> {
    let m = build(req, true);
    let (x, slacks) = (m.x, m.slacks);
    let solution = m
        .vars
        .minimise(m.objective)
        .using(microlp)
        .with_all(m.constraints)
        .solve()
        .map_err(failure)?;
    let Some(s) = slacks else {
        return Err(Failure::Solver("relaxed model without slacks".into()));
    };
    let value = |v: &Option<Variable>| v.map_or(0.0, |v| solution.value(v).max(0.0));
    Ok(Relaxed {
        shares: read_shares(req, &x, &solution),
        unserved: s.unserved.iter().map(value).collect(),
        capacity_short: s
            .capacity
            .iter()
            .map(|v| solution.value(*v).max(0.0))
            .collect(),
        failover_short: s.failover.iter().map(value).collect(),
        budget_short: value(&s.budget),
    })
}

fn failure(e: ResolutionError) -> Failure {
    match e {
        ResolutionError::Infeasible => Failure::Infeasible,
        other => Failure::Solver(other.to_string()),
    }
}

/// Whether a geo is routed by the LP: geos without demand cost nothing
/// anywhere, so they are placed afterwards (see `idle_row`).
fn in_lp(p: &Problem, req: &Request, g: usize) -> bool {
    p.geos[g].demand > 0.0 || req.pin.is_some_and(|(pg, _)| pg == g)
}

fn build(req: &Request, relax: bool) -> Model {
    let p = req.problem;
    let total = p.total_demand.max(f64::MIN_POSITIVE);
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::default();
    let mut constraints = Vec::new();
    let x: Vec<Vec<Option<Variable>>> = (0..p.geo_count())
        .map(|g| {
            (0..p.region_count())
                .map(|r| {
                    let upper = p.upper[g][r];
                    if !in_lp(p, req, g) || upper <= 0.0 {
                        return None;
                    }
                    let lower = if req.pin == Some((g, r)) { upper } else { 0.0 };
                    let v = vars.add(variable().min(lower).max(upper));
                    objective.add_mul(p.geos[g].demand * p.latency[g][r] / total, v);
                    Some(v)
                })
                .collect()
        })
        .collect();
    let mut unserved = vec![None; p.geo_count()];
    for g in (0..p.geo_count()).filter(|&g| in_lp(p, req, g)) {
        let mut row: Expression = x[g].iter().flatten().copied().sum();
        if relax {
            let u = vars.add(variable().min(0.0).max(1.0));
            // Twice the capacity slack's price: drop demand only when no
            // region can take it even over capacity.
            objective.add_mul(2.0 * SLACK_MS * p.geos[g].demand.max(1.0) / total, u);
            row += u;
            unserved[g] = Some(u);
        }
        constraints.push(row.eq(1.0));
    }
    // One variable per region load keeps the capacity, N+1 and queueing
    // rows short instead of repeating every geo's term in each.
    let load: Vec<Variable> = (0..p.region_count())
        .map(|r| {
            let l = vars.add(variable().min(0.0));
            let mut e = Expression::default();
            for (g, row) in x.iter().enumerate() {
                if let Some(v) = row[r] {
                    e.add_mul(p.geos[g].demand, v);
                }
            }
            constraints.push((e - l).eq(0.0));
            l
        })
        .collect();
    let slack = |vars: &mut ProblemVariables, objective: &mut Expression, per: f64| {
        let s = vars.add(variable().min(0.0));
        objective.add_mul(SLACK_MS * per, s);
        s
    };
    let mut capacity = Vec::with_capacity(p.region_count());
    for (r, region) in p.regions.iter().enumerate() {
        let mut e = Expression::from(load[r]);
        if relax {
            let s = slack(&mut vars, &mut objective, 1.0 / total);
            e -= s;
            capacity.push(s);
        }
        constraints.push(e.leq(region.usable));
    }
    let mut failover = vec![None; p.region_count()];
    let share = p.options.failover_share;
    for (r, region) in p.regions.iter().enumerate() {
        let Some(b) = region.backup.filter(|_| share > 0.0) else {
            continue;
        };
        let mut e = Expression::from(load[b]);
        e.add_mul(share, load[r]);
        if relax {
            let s = slack(&mut vars, &mut objective, 0.5 / total);
            e -= s;
            failover[r] = Some(s);
        }
        constraints.push(e.leq(p.regions[b].usable));
    }
    if let Some(q) = p.options.queue {
        for (r, region) in p.regions.iter().enumerate() {
            let t = vars.add(variable().min(0.0));
            objective.add_mul(1.0 / total, t);
            for (a, b) in queue_segments(q, region.capacity, region.usable) {
                constraints.push((b * load[r] - t).leq(-a));
            }
        }
    }
    let mut budget = None;
    let budget_share = p.options.max_change;
    if req.switching_ms > 0.0 || budget_share.is_some() {
        let mut kept = Expression::default();
        let mut routed = 0.0;
        for g in (0..p.geo_count()).filter(|&g| in_lp(p, req, g)) {
            let d = p.geos[g].demand;
            routed += d;
            for (xv, &cur) in x[g].iter().zip(&p.current[g]) {
                let Some(xv) = *xv else { continue };
                if cur <= 0.0 {
                    continue;
                }
                let w = vars.add(variable().min(0.0).max(cur));
                constraints.push((w - xv).leq(0.0));
                objective.add_mul(-req.switching_ms * d / total, w);
                kept.add_mul(d, w);
            }
        }
        if let Some(m) = budget_share {
            if relax {
                let s = slack(&mut vars, &mut objective, 0.1);
                kept.add_mul(total, s);
                budget = Some(s);
            }
            constraints.push(kept.geq(routed - m * total));
        }
    }
    Model {
        vars,
        x,
        objective,
        constraints,
        slacks: relax.then_some(Slacks {
            unserved,
            capacity,
            failover,
            budget,
        }),
    }
}

/// Lines `q >= a + b * load` whose maximum interpolates `load * delay(load)`
/// between utilisation breakpoints up to the usable capacity.
pub fn queue_segments(q: QueueModel, capacity: f64, usable: f64) -> Vec<(f64, f64)> {
    if capacity <= 0.0 {
        return Vec::new();
    }
    let top = (usable / capacity).min(QueueModel::MAX_UTILISATION);
    let mut points: Vec<f64> = breakpoints().into_iter().filter(|u| *u < top).collect();
    points.push(top);
    let cost = |u: f64| u * capacity * q.delay_ms(u * capacity, capacity);
    points
        .windows(2)
        .map(|w| {
            let (l0, l1) = (w[0] * capacity, w[1] * capacity);
            let slope = (cost(w[1]) - cost(w[0])) / (l1 - l0);
            (cost(w[0]) - slope * l0, slope)
        })
        .collect()
}

fn read_shares(req: &Request, x: &[Vec<Option<Variable>>], s: &impl Solution) -> Shares {
    let p = req.problem;
    (0..p.geo_count())
        .map(|g| {
            if !in_lp(p, req, g) {
                return idle_row(p, g, req.switching_ms);
            }
            let mut row: Vec<f64> = x[g]
                .iter()
                .map(|v| v.map_or(0.0, |v| s.value(v)))
                .map(|f| if f < 1e-9 { 0.0 } else { f })
                .collect();
            let sum: f64 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|f| *f /= sum);
            }
            row
        })
        .collect()
}

/// A geo without demand: today's routing if it is admissible and within
/// the switching cost of the best admissible region, else that region (or,
/// with nothing admissible, the lowest-latency one: no demand, no harm).
fn idle_row(p: &Problem, g: usize, switching_ms: f64) -> Vec<f64> {
    let lat = |r: usize| p.latency[g][r];
    let best = p
        .admissible(g)
        .min_by(|&a, &b| lat(a).total_cmp(&lat(b)))
        .or_else(|| (0..p.region_count()).min_by(|&a, &b| lat(a).total_cmp(&lat(b))));
    let current = &p.current[g];
    let keeps = (0..p.region_count()).all(|r| current[r] <= p.upper[g][r]);
    let today: f64 = (0..p.region_count()).map(|r| current[r] * lat(r)).sum();
    match best {
        Some(b) if !(keeps && today <= lat(b) + switching_ms) => {
            let mut row = vec![0.0; p.region_count()];
            row[b] = 1.0;
            row
        }
        _ => current.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::model::{Options, tests::world};

    fn request(p: &Problem) -> Request<'_> {
        Request {
            problem: p,
            switching_ms: TIE_BREAK_MS,
            pin: None,
        }
    }

    #[test]
    fn capacity_pushes_the_overflow_to_the_next_best_region() {
        let w = world(&[(100.0, &[10.0, 20.0])], &[60.0, 200.0]);
        let o = Options {
            headroom: 0.0,
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        let s = solve(&request(&p)).unwrap();
        assert!((s[0][0] - 0.6).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn relaxed_reports_the_short_region() {
        let w = world(&[(100.0, &[10.0])], &[60.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        assert_eq!(solve(&request(&p)), Err(Failure::Infeasible));
        let r = solve_relaxed(&request(&p)).unwrap();
        assert!((r.capacity_short[0] - 46.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.unserved[0], 0.0);
    }

    #[test]
    fn queue_segments_interpolate_the_convex_cost() {
        let q = QueueModel { service_ms: 10.0 };
        let segs = queue_segments(q, 100.0, 90.0);
        let at = |l: f64| segs.iter().map(|(a, b)| a + b * l).fold(0.0, f64::max);
        for u in [0.5, 0.8, 0.9] {
            let exact = u * 100.0 * q.delay_ms(u * 100.0, 100.0);
            assert!((at(u * 100.0) - exact).abs() < 1e-6, "{u}");
        }
        // Between breakpoints the interpolation is above the curve.
        assert!(at(60.0) >= 60.0 * q.delay_ms(60.0, 100.0));
    }
}
