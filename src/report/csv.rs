//! The per-geo table as CSV (the `csv` crate, RFC 4180 quoting), one row
//! per geo in the report's order, for a spreadsheet.

use std::io::{self, Write};

use serde::Serialize;

use super::model::Report;

#[derive(Serialize)]
struct Row<'a> {
    geo: &'a str,
    name: &'a str,
    continent: &'a str,
    demand_rps: f64,
    traffic_share: f64,
    serving_today: &'a str,
    serving_proposed: &'a str,
    changed: bool,
    p50_today_ms: f64,
    p50_proposed_ms: f64,
    p99_today_ms: f64,
    p99_proposed_ms: f64,
    floor_ms: f64,
    slack_ms: f64,
    runner_up: Option<&'a str>,
    runner_up_cost_ms: Option<f64>,
    risk: Option<&'static str>,
}

/// Three decimals: enough for microseconds, stable across runs.
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for g in &r.geos {
        w.serialize(Row {
            geo: &g.id,
            name: &g.name,
            continent: &g.continent,
            demand_rps: round(g.demand_rps),
            traffic_share: (g.traffic_share * 1e6).round() / 1e6,
            serving_today: &g.serving_today,
            serving_proposed: &g.serving_proposed,
            changed: g.changed,
            p50_today_ms: round(g.p50.before_ms),
            p50_proposed_ms: round(g.p50.after_ms),
            p99_today_ms: round(g.p99.before_ms),
            p99_proposed_ms: round(g.p99.after_ms),
            floor_ms: round(g.floor_ms),
            slack_ms: round(g.slack_ms),
            runner_up: g.runner_up.as_ref().map(|u| u.region.as_str()),
            runner_up_cost_ms: g.runner_up.as_ref().map(|u| round(u.cost_ms)),
            risk: g.risk.as_ref().map(|k| k.grade.as_str()),
        })
        .map_err(io::Error::other)?;
    }
    w.flush()
}
