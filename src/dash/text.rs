//! The dashboard printed once, for a pipe, a file or a chat message
//! (`--once --format text|markdown|json`, and whenever stdout is not a
//! terminal): the matrix at the chosen percentile and phase, and the
//! plan's decision. The JSON is `geolat-dash/1` (schemas/dash.schema.json).

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::draw::ms_text;
use super::snapshot::Snapshot;
use super::state::State;
use super::table::{CellView, Table};
use super::theme::Theme;
use crate::probe::record::Phase;
use crate::report::model::Headline;
use crate::world::Percentile;

pub const FORMAT: &str = "geolat-dash/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Serialize)]
pub struct Once<'a> {
    pub format: &'static str,
    pub loaded_at: DateTime<Utc>,
    pub store: &'a str,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub windows: u64,
    pub percentile: Percentile,
    pub phase: Phase,
    pub regions: &'a [String],
    /// Upper edges (ms) of the first four of five colour buckets.
    pub edges_ms: [f64; 4],
    pub geos: Vec<OnceGeo<'a>>,
    /// The plan's decision, with a topology.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a Headline>,
    /// Why there is no plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_plan: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct OnceGeo<'a> {
    pub geo: &'a str,
    pub continent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_today: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best: Option<&'a str>,
    /// By region: the percentile in ms, or null with no data.
    pub ms: BTreeMap<&'a str, Option<f64>>,
    /// Regions whose cell is too thin to take as fact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thin: Vec<&'a str>,
}

fn once<'a>(s: &'a Snapshot, state: &State, table: &'a Table) -> Once<'a> {
    let a = &s.analysis;
    Once {
        format: FORMAT,
        loaded_at: s.loaded_at,
        store: &a.store,
        since: a.since,
        until: a.until,
        windows: a.windows.merged,
        percentile: state.percentile,
        phase: state.phase,
        regions: &table.regions,
        edges_ms: table.edges,
        geos: table
            .rows
            .iter()
            .map(|r| OnceGeo {
                geo: &r.geo,
                continent: &r.continent,
                traffic_share: r.share,
                served_today: r.served.as_deref(),
                proposed: r.proposed.as_deref(),
                best: r.best.as_deref(),
                ms: table
                    .regions
                    .iter()
                    .zip(&r.cells)
                    .map(|(reg, c)| (reg.as_str(), c.ms()))
                    .collect(),
                thin: table
                    .regions
                    .iter()
                    .zip(&r.cells)
                    .filter(|(_, c)| matches!(c, CellView::Value { thin: true, .. }))
                    .map(|(reg, _)| reg.as_str())
                    .collect(),
            })
            .collect(),
        plan: s.advice.as_ref().ok().map(|r| &r.headline),
        no_plan: s.advice.as_ref().err().map(String::as_str),
    }
}

/// Prints the views once.
pub fn print(
    s: &Snapshot,
    state: &State,
    table: &Table,
    theme: &Theme,
    format: Format,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &once(s, state, table))?;
            writeln!(out)
        }
        Format::Text => text(s, state, table, theme, out),
        Format::Markdown => markdown(s, state, table, theme, out),
    }
}

fn cell_text(table: &Table, r: &super::table::Row, i: usize, theme: &Theme) -> String {
    let g = theme.glyphs();
    let region = &table.regions[i];
    let served = if r.served.as_ref() == Some(region) {
        g.served.to_string()
    } else {
        String::new()
    };
    match r.cells[i] {
        CellView::NoData => format!("{}{served}", g.no_data),
        CellView::Value { ms, thin } => {
            let mark = if thin {
                g.thin.to_string()
            } else if r.best.as_ref() == Some(region) {
                g.best.to_string()
            } else {
                String::new()
            };
            format!("{}{served}{mark}", ms_text(ms))
        }
    }
}

fn heading(s: &Snapshot, state: &State) -> String {
    let a = &s.analysis;
    format!(
        "{} ms at {} from {}: {} windows {} to {}",
        state.percentile.as_str(),
        state.phase,
        a.store,
        a.windows.merged,
        a.since.format("%Y-%m-%d %H:%M"),
        a.until.format("%H:%M UTC")
    )
}

fn decision(s: &Snapshot) -> String {
    match &s.advice {
        Err(why) => why.clone(),
        Ok(r) => {
            let h = &r.headline;
            format!(
                "plan: {} ({}); demand-weighted p50 {:.1} -> {:.1} ms, {} of {} geos change region",
                h.verdict.as_str(),
                h.reason,
                h.p50.before_ms,
                h.p50.after_ms,
                h.geos_changed,
                h.geos_total
            )
        }
    }
}

fn legend(theme: &Theme) -> String {
    let g = theme.glyphs();
    format!(
        "{} served today, {} best region, {} thin data, {} no data",
        g.served, g.best, g.thin, g.no_data
    )
}

fn text(
    s: &Snapshot,
    state: &State,
    table: &Table,
    theme: &Theme,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "{}", heading(s, state))?;
    let geo_w = table
        .rows
        .iter()
        .map(|r| r.geo.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let col_w = table
        .regions
        .iter()
        .map(|r| r.len())
        .max()
        .unwrap_or(0)
        .max(8);
    write!(out, "{:<geo_w$}", "geo")?;
    for r in &table.regions {
        write!(out, "  {r:>col_w$}")?;
    }
    writeln!(out, "  served today")?;
    for r in &table.rows {
        write!(out, "{:<geo_w$}", r.geo)?;
        for i in 0..table.regions.len() {
            let cell = cell_text(table, r, i, theme);
            let pad = col_w.saturating_sub(cell.chars().count());
            write!(out, "  {}{cell}", " ".repeat(pad))?;
        }
        writeln!(out, "  {}", r.served.as_deref().unwrap_or("-"))?;
    }
    writeln!(out, "{}", legend(theme))?;
    writeln!(out, "{}", decision(s))
}

fn markdown(
    s: &Snapshot,
    state: &State,
    table: &Table,
    theme: &Theme,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "**{}**\n", decision(s))?;
    writeln!(out, "{}\n", heading(s, state))?;
    write!(out, "| geo |")?;
    for r in &table.regions {
        write!(out, " {r} |")?;
    }
    writeln!(out, " served today |")?;
    write!(out, "|---|")?;
    for _ in &table.regions {
        write!(out, "---:|")?;
    }
    writeln!(out, "---|")?;
    for r in &table.rows {
        write!(out, "| {} |", r.geo)?;
        for i in 0..table.regions.len() {
            write!(out, " {} |", cell_text(table, r, i, theme))?;
        }
        writeln!(out, " {} |", r.served.as_deref().unwrap_or("-"))?;
    }
    writeln!(out, "\n{}", legend(theme))
}
