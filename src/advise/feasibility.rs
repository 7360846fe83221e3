//! Refusing bad input with a reason a person can act on. The obvious cases
//! are checked before any LP so the message can name the geo and every
//! region's reason; anything subtler (N+1 chains, the change budget) is
//! found by re-solving with slack on every constraint and reporting the
//! slacks that had to be used.

use super::error::{AdviseError, Violation};
use super::lp;
use super::model::{Admission, DrainMode, Problem};

/// Fails on the first geo with demand and nowhere to go, then on total
/// demand above the usable capacity of the regions that may take it.
pub fn precheck(p: &Problem) -> Result<(), AdviseError> {
    for (g, geo) in p.geos.iter().enumerate() {
        if geo.demand > 0.0 && p.admissible(g).next().is_none() {
            return Err(AdviseError::NoAdmissibleRegion {
                geo: geo.id.clone(),
                reasons: exclusion_reasons(p, g),
            });
        }
    }
    // A draining region can keep at most today's load (no-new) or nothing.
    let today = super::evaluate::loads(p, &p.current);
    let mut usable = 0.0;
    let mut regions = Vec::new();
    for (r, region) in p.regions.iter().enumerate() {
        let cap = if region.draining {
            match p.options.drain_mode {
                DrainMode::NoNew => today[r].min(region.usable),
                DrainMode::Empty => 0.0,
            }
        } else {
            region.usable
        };
        if cap > 0.0 {
            regions.push(format!("{} {cap:.1}", region.id));
        }
        usable += cap;
    }
    if p.total_demand > usable * (1.0 + 1e-9) {
        return Err(AdviseError::InsufficientCapacity {
            demand_rps: p.total_demand,
            usable_rps: usable,
            regions: if regions.is_empty() {
                "none".into()
            } else {
                regions.join(", ")
            },
        });
    }
    Ok(())
}

/// Why region `r` is closed to geo `g` ("p50 300.0 ms > SLO 250 ms",
/// "draining"), or `None` when it is open.
pub fn exclusion(p: &Problem, g: usize, r: usize) -> Option<String> {
    if p.upper[g][r] > 0.0 {
        return None;
    }
    Some(match (p.admission[g][r], &p.slo) {
        (Admission::Slo, Some(s)) => format!(
            "{} {:.1} ms > SLO {} ms",
            s.percentile.as_str(),
            s.latency[g][r],
            s.max_ms
        ),
        (Admission::Drain, _) => "draining".into(),
        _ => "closed".into(),
    })
}

/// Why each closed region is closed to geo `g`, e.g.
/// "r1: p50 300.0 ms > SLO 250 ms; r2: draining".
pub fn exclusion_reasons(p: &Problem, g: usize) -> String {
    (0..p.region_count())
        .filter_map(|r| exclusion(p, g, r).map(|why| format!("{}: {why}", p.regions[r].id)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which constraints cannot be met together, from the relaxed LP.
pub fn diagnose(req: &lp::Request) -> Result<Vec<Violation>, AdviseError> {
    let p = req.problem;
    let relaxed = lp::solve_relaxed(req).map_err(|e| match e {
        lp::Failure::Infeasible => AdviseError::Solver("the relaxed problem is infeasible".into()),
        lp::Failure::Solver(s) => AdviseError::Solver(s),
    })?;
    let eps = 1e-6 * p.total_demand.max(1.0);
    let mut out = Vec::new();
    for (g, u) in relaxed.unserved.iter().enumerate() {
        if u * p.geos[g].demand > eps {
            out.push(Violation::Unserved {
                geo: p.geos[g].id.clone(),
                demand_rps: u * p.geos[g].demand,
                why: exclusion_reasons(p, g),
            });
        }
    }
    for (r, s) in relaxed.capacity_short.iter().enumerate() {
        if *s > eps {
            out.push(Violation::Capacity {
                region: p.regions[r].id.clone(),
                short_rps: *s,
                usable_rps: p.regions[r].usable,
            });
        }
    }
    for (r, s) in relaxed.failover_short.iter().enumerate() {
        if let (true, Some(b)) = (*s > eps, p.regions[r].backup) {
            out.push(Violation::Failover {
                primary: p.regions[r].id.clone(),
                backup: p.regions[b].id.clone(),
                short_rps: *s,
            });
        }
    }
    if let Some(m) = p.options.max_change
        && relaxed.budget_short > 1e-6
    {
        out.push(Violation::ChangeBudget {
            needed_share: m + relaxed.budget_short,
            budget: m,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::model::{Options, tests::world};
    use crate::world::{Percentile, Slo};

    #[test]
    fn slo_that_excludes_everything_names_geo_and_regions() {
        let mut w = world(&[(10.0, &[300.0, 400.0])], &[100.0, 100.0]);
        w.slo = Some(Slo {
            percentile: Percentile::P50,
            max_ms: 250.0,
        });
        let p = Problem::build(&w, &Options::default()).unwrap();
        let e = precheck(&p).unwrap_err().to_string();
        assert!(e.contains("`g0`"), "{e}");
        assert!(e.contains("r0: p50 300.0 ms > SLO 250 ms"), "{e}");
        assert!(e.contains("r1: p50 400.0 ms"), "{e}");
    }

    #[test]
    fn total_capacity_short_is_reported_with_regions() {
        let w = world(&[(150.0, &[10.0, 20.0])], &[50.0, 50.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        let e = precheck(&p).unwrap_err().to_string();
        assert!(
            e.contains("150.0 rps") && e.contains("r0 45.0, r1 45.0"),
            "{e}"
        );
    }

    #[test]
    fn change_budget_shortfall_is_found_by_relaxing() {
        // r0 is overloaded today; fixing it needs 40% of demand to move.
        let w = world(&[(100.0, &[10.0, 20.0])], &[60.0, 200.0]);
        let o = Options {
            headroom: 0.0,
            max_change: Some(0.1),
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        let req = lp::Request {
            problem: &p,
            switching_ms: 0.0,
            pin: None,
        };
        assert_eq!(lp::solve(&req), Err(lp::Failure::Infeasible));
        let v = diagnose(&req).unwrap();
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::ChangeBudget { .. })),
            "{v:?}"
        );
    }
}
