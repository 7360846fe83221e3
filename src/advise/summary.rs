//! The plan for a person: the decision, every geo's routing today and
//! proposed with its latency before and after, capacity per region, what
//! each mechanism can deliver against the fractional optimum, and why each
//! change is proposed. Rendered from the [`Plan`] alone, to any writer.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::plan::Plan;
use super::stability::Action;

/// `r1 61%, r2 39%`, or the region alone when it takes everything.
pub fn split(s: &BTreeMap<String, f64>) -> String {
    if s.len() == 1 {
        return s.keys().next().cloned().unwrap_or_default();
    }
    let mut parts: Vec<(&String, &f64)> = s.iter().collect();
    parts.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    parts
        .iter()
        .map(|(r, f)| format!("{r} {:.0}%", *f * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let o = &plan.objective;
    let pct = o.percentile.as_str();
    let d = &plan.decision;
    let action = match (d.action, d.forced) {
        (Action::Keep, _) => "KEEP today's routing",
        (Action::Change, true) => "CHANGE (required)",
        (Action::Change, false) => "CHANGE",
    };
    writeln!(
        out,
        "geolat advise: {}   objective: demand-weighted {pct}{}",
        plan.world,
        if o.utilisation_cost.is_some() {
            " + queueing"
        } else {
            ""
        }
    )?;
    writeln!(out, "decision: {action}: {}", d.reason)?;
    writeln!(
        out,
        "latency ({pct}, demand-weighted): today {:.2} ms -> plan {:.2} ms (fractional optimum {:.2} ms)",
        o.current_ms, o.plan_ms, o.optimum_ms
    )?;

    writeln!(out, "\ngeos (* = changed)")?;
    writeln!(
        out,
        "  {:<18} {:>9}  {:<34} {:<34} {:>17} {:>17}",
        "geo", "rps", "today", "plan", "p50 ms", "p99 ms"
    )?;
    for (id, g) in &plan.geos {
        let mark = if plan.changes.contains_key(id) {
            '*'
        } else {
            ' '
        };
        writeln!(
            out,
            "{mark} {id:<18} {:>9.1}  {:<34} {:<34} {:>7.1} -> {:>6.1} {:>7.1} -> {:>6.1}",
            g.demand_rps,
            split(&g.current),
            split(&g.proposed),
            g.p50_before_ms,
            g.p50_after_ms,
            g.p99_before_ms,
            g.p99_after_ms
        )?;
    }

    writeln!(out, "\ncapacity")?;
    writeln!(
        out,
        "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}  notes",
        "region", "capacity", "usable", "today", "plan", "today", "plan"
    )?;
    for (id, c) in &plan.capacity {
        let mut notes = Vec::new();
        if c.full {
            notes.push("full".to_owned());
        }
        if c.draining {
            notes.push("draining".to_owned());
        }
        if c.load_before_rps > c.usable_rps + 1e-6 {
            notes.push("over usable today".to_owned());
        }
        if let (Some(b), Some(peak)) = (&c.backup, c.failover_peak_rps) {
            notes.push(format!("backup {b}; failover peak {peak:.0} rps"));
        } else if let Some(b) = &c.backup {
            notes.push(format!("backup {b}"));
        }
        writeln!(
            out,
            "  {id:<16} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>5.0}% {:>5.0}%  {}",
            c.capacity_rps,
            c.usable_rps,
            c.load_before_rps,
            c.load_after_rps,
            c.utilisation_before * 100.0,
            c.utilisation_after * 100.0,
            notes.join("; ")
        )?;
    }

    writeln!(
        out,
        "\nmechanisms (realised routing vs the fractional optimum)"
    )?;
    writeln!(
        out,
        "  {:<28} {:>10} {:>8} {:>12} {:>10} {:>10}",
        "mechanism", "latency", "gap", "overload", "N+1 short", "over SLO"
    )?;
    let names = [
        ("optimum", "fractional optimum".to_owned()),
        ("fractional", "plan (fractional)".to_owned()),
        ("weighted", "Route 53 weighted policy".to_owned()),
        (
            "geolocation",
            format!(
                "Route 53 geolocation ({})",
                serde_json::to_value(plan.geolocation_method)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ),
        ("accelerator", "Global Accelerator dials".to_owned()),
        ("current", "today".to_owned()),
        ("latency_nearest", "lowest latency, no capacity".to_owned()),
        ("geo_nearest", "nearest on the map".to_owned()),
    ];
    for (key, label) in names {
        let Some(m) = plan.mechanisms.get(key) else {
            continue;
        };
        let e = &m.evaluation;
        writeln!(
            out,
            "  {label:<28} {:>7.2} ms {:>7.2}% {:>8.1} rps {:>10.1} {:>10.1}",
            e.latency_ms, m.gap_pct, e.overload_rps, e.failover_shortfall_rps, e.slo_violation_rps
        )?;
    }
    let dials: Vec<String> = plan
        .accelerator
        .iter()
        .map(|(r, s)| format!("{r} {:.1}%", s.traffic_dial))
        .collect();
    writeln!(out, "  accelerator traffic dials: {}", dials.join(", "))?;
    let merged: Vec<String> = plan
        .locations
        .iter()
        .filter(|l| l.merged)
        .map(|l| format!("{} = {}", l.code, l.geos.join(" + ")))
        .collect();
    if !merged.is_empty() {
        writeln!(
            out,
            "  Route 53 cannot tell these apart (one answer each): {}",
            merged.join("; ")
        )?;
    }

    if plan.changes.is_empty() {
        writeln!(out, "\nno changes proposed")?;
    } else {
        writeln!(out, "\nwhy each change")?;
        for (id, c) in &plan.changes {
            writeln!(out, "  {id}: {}", c.reason)?;
        }
    }
    Ok(())
}
