//! Why a geo goes where it goes. For each region: its latency, whether the
//! geo may use it at all (SLO, drain), whether it is full, whether an N+1
//! pair through it is tight, and what sending all of the geo there would
//! do. microlp gives no dual values, so the marginal cost is measured by
//! re-solving: the LP is solved again with the geo pinned to the region,
//! and the change in demand-weighted latency (or, when no routing can take
//! it, the constraints that break, found by relax-and-report) is the answer,
//! together with the geos that would be displaced.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::error::AdviseError;
use super::evaluate::{evaluate, loads, moved_share, tolerance};
use super::model::{Admission, Problem, Shares};
use super::summary::split as shown;
use super::{Advice, feasibility, lp};
use crate::world::Percentile;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub geo: String,
    pub demand_rps: f64,
    pub percentile: Percentile,
    pub current: BTreeMap<String, f64>,
    pub plan: BTreeMap<String, f64>,
    /// Regions from lowest to highest latency at the objective percentile.
    pub regions: Vec<RegionWhy>,
    /// Constraints that bind the whole plan.
    pub binding: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionWhy {
    pub region: String,
    pub latency_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub share: f64,
    pub status: Vec<String>,
    /// What sending all of the geo here would do.
    pub all_here: Option<WhatIf>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum WhatIf {
    /// Demand-weighted latency change (ms) and the geos pushed elsewhere.
    Feasible {
        delta_ms: f64,
        displaced: Vec<String>,
    },
    Infeasible {
        violations: Vec<String>,
    },
}

fn split(p: &Problem, row: &[f64]) -> BTreeMap<String, f64> {
    row.iter()
        .enumerate()
        .filter(|(_, f)| **f > 1e-9)
        .map(|(r, f)| (p.regions[r].id.clone(), (f * 1e6).round() / 1e6))
        .collect()
}

/// Constraints that are tight in the plan, as sentences.
fn binding(p: &Problem, plan: &Shares) -> (Vec<String>, Vec<Vec<String>>) {
    let load = loads(p, plan);
    let tol = tolerance(p).max(1e-6);
    let mut all = Vec::new();
    let mut per_region = vec![Vec::new(); p.region_count()];
    for (r, region) in p.regions.iter().enumerate() {
        if load[r] >= region.usable - tol {
            let s = format!("full: {:.1} of {:.1} usable rps", load[r], region.usable);
            all.push(format!("{} {s}", region.id));
            per_region[r].push(s);
        }
        let share = p.options.failover_share;
        if let Some(b) = region.backup.filter(|_| share > 0.0)
            && load[b] + share * load[r] >= p.regions[b].usable - tol
        {
            let s = format!("N+1 tight: {} must absorb {}", p.regions[b].id, region.id);
            all.push(s.clone());
            per_region[r].push(s.clone());
            per_region[b].push(s);
        }
    }
    if let Some(m) = p.options.max_change
        && moved_share(p, plan, &p.current) >= m - 1e-6
    {
        all.push(format!(
            "change budget used up: {:.1}% of demand moves",
            m * 100.0
        ));
    }
    (all, per_region)
}

/// The geos that move most when `pinned` replaces `plan`, largest first.
fn displaced(p: &Problem, g: usize, plan: &Shares, pinned: &Shares) -> Vec<String> {
    let mut moves: Vec<(f64, String)> = (0..p.geo_count())
        .filter(|&h| h != g)
        .filter_map(|h| {
            let l1: f64 = plan[h]
                .iter()
                .zip(&pinned[h])
                .map(|(a, b)| (a - b).abs())
                .sum();
            let rps = p.geos[h].demand * l1 / 2.0;
            (rps > 0.05).then(|| {
                let text = format!(
                    "{} ({rps:.0} rps): {} -> {}",
                    p.geos[h].id,
                    shown(&split(p, &plan[h])),
                    shown(&split(p, &pinned[h]))
                );
                (rps, text)
            })
        })
        .collect();
    moves.sort_by(|a, b| b.0.total_cmp(&a.0));
    moves.into_iter().take(3).map(|(_, t)| t).collect()
}

pub fn explain(a: &Advice, geo: &str) -> Result<Explanation, AdviseError> {
    let p = &a.problem;
    let g = p
        .geos
        .iter()
        .position(|x| x.id == geo)
        .ok_or_else(|| AdviseError::UnknownGeo(geo.to_owned()))?;
    let (all_binding, per_region) = binding(p, &a.plan);
    let plan_ms = evaluate(p, &a.plan).latency_ms;
    let switching_ms = p.options.min_move_ms.max(lp::TIE_BREAK_MS);
    let mut order: Vec<usize> = (0..p.region_count()).collect();
    order.sort_by(|&x, &y| p.latency[g][x].total_cmp(&p.latency[g][y]));
    let mut regions = Vec::with_capacity(order.len());
    for &r in &order {
        let mut status = per_region[r].clone();
        if let Some(why) = feasibility::exclusion(p, g, r) {
            status.insert(0, format!("excluded: {why}"));
        } else if p.admission[g][r] == Admission::Drain {
            status.insert(
                0,
                format!(
                    "draining: at most today's {:.0}% of this geo",
                    p.upper[g][r] * 100.0
                ),
            );
        }
        let share = a.plan[g][r];
        let all_here = (p.upper[g][r] >= 1.0 && share < 1.0 - 1e-9 && p.geos[g].demand > 0.0)
            .then(|| what_if(p, g, r, switching_ms, plan_ms, &a.plan))
            .transpose()?;
        regions.push(RegionWhy {
            region: p.regions[r].id.clone(),
            latency_ms: p.latency[g][r],
            p50_ms: p.p50[g][r],
            p99_ms: p.p99[g][r],
            share,
            status,
            all_here,
        });
    }
    let summary = summarise(p, g, &a.plan, &regions);
    Ok(Explanation {
        geo: geo.to_owned(),
        demand_rps: p.geos[g].demand,
        percentile: p.options.percentile,
        current: split(p, &p.current[g]),
        plan: split(p, &a.plan[g]),
        regions,
        binding: all_binding,
        summary,
    })
}

fn what_if(
    p: &Problem,
    g: usize,
    r: usize,
    switching_ms: f64,
    plan_ms: f64,
    plan: &Shares,
) -> Result<WhatIf, AdviseError> {
    let req = lp::Request {
        problem: p,
        switching_ms,
        pin: Some((g, r)),
    };
    match lp::solve(&req) {
        Ok(pinned) => Ok(WhatIf::Feasible {
            delta_ms: evaluate(p, &pinned).latency_ms - plan_ms,
            displaced: displaced(p, g, plan, &pinned),
        }),
        Err(lp::Failure::Infeasible) => Ok(WhatIf::Infeasible {
            violations: feasibility::diagnose(&req)?
                .iter()
                .map(ToString::to_string)
                .collect(),
        }),
        Err(lp::Failure::Solver(e)) => Err(AdviseError::Solver(e)),
    }
}

fn summarise(p: &Problem, g: usize, plan: &Shares, regions: &[RegionWhy]) -> String {
    let Some(best) = regions
        .iter()
        .find(|w| !w.status.iter().any(|s| s.starts_with("excluded")))
    else {
        return "no region is admissible; the geo has no demand, so it goes to its lowest-latency region".into();
    };
    if best.share >= 1.0 - 1e-9 {
        return format!(
            "all of it goes to {}, its fastest admissible region",
            best.region
        );
    }
    let mut why: Vec<String> = best.status.clone();
    match &best.all_here {
        Some(WhatIf::Feasible { delta_ms, .. }) if *delta_ms > 0.0 => why.push(format!(
            "sending all of it there would cost {delta_ms:.2} ms demand-weighted overall"
        )),
        Some(WhatIf::Feasible { delta_ms, .. }) => why.push(format!(
            "sending all of it there would gain only {:.2} ms, under the change thresholds",
            -delta_ms
        )),
        Some(WhatIf::Infeasible { violations }) => why.push(format!(
            "it cannot take all of it: {}",
            violations.join("; ")
        )),
        None => {}
    }
    let plan_here = shown(&split(p, &plan[g]));
    format!(
        "its fastest admissible region is {} ({:.1} ms), but it gets {}: {}",
        best.region,
        best.latency_ms,
        plan_here,
        why.join("; ")
    )
}

pub fn render(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let pct = e.percentile.as_str();
    writeln!(
        out,
        "{} ({:.1} rps), objective: demand-weighted {pct}",
        e.geo, e.demand_rps
    )?;
    writeln!(out, "  today: {}", shown(&e.current))?;
    writeln!(out, "  plan:  {}", shown(&e.plan))?;
    writeln!(out, "  {}", e.summary)?;
    // The objective's column, then p50 and p99 unless one of them is it.
    let extra: Vec<&str> = ["p50", "p99"].into_iter().filter(|c| *c != pct).collect();
    write!(out, "\n  {:<16} {pct:>8}", "region")?;
    for c in &extra {
        write!(out, " {c:>8}")?;
    }
    writeln!(out, " {:>7}  why", "share")?;
    for w in &e.regions {
        let mut notes = w.status.clone();
        match &w.all_here {
            Some(WhatIf::Feasible {
                delta_ms,
                displaced,
            }) => {
                notes.push(format!("all here: {delta_ms:+.2} ms overall"));
                if !displaced.is_empty() {
                    notes.push(format!("displaces {}", displaced.join(", ")));
                }
            }
            Some(WhatIf::Infeasible { violations }) => {
                notes.push(format!("all here is infeasible: {}", violations.join("; ")))
            }
            None => {}
        }
        write!(out, "  {:<16} {:>8.1}", w.region, w.latency_ms)?;
        for c in &extra {
            let v = if *c == "p50" { w.p50_ms } else { w.p99_ms };
            write!(out, " {v:>8.1}")?;
        }
        writeln!(out, " {:>6.1}%  {}", w.share * 100.0, notes.join("; "))?;
    }
    if !e.binding.is_empty() {
        writeln!(out, "\n  binding in the plan: {}", e.binding.join("; "))?;
    }
    Ok(())
}
