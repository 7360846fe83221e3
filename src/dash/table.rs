//! The matrix as the user asked to see it: one row per geo (filtered by
//! continent and search, sorted on any column) and one column per region
//! at the chosen percentile and phase, with the colour scale's edges. A
//! pure function of the snapshot and the state, so the draw code and the
//! key handling see the same rows.

use std::collections::{BTreeMap, BTreeSet};

use super::snapshot::Snapshot;
use super::state::{SortColumn, State};
use crate::analyze::estimate::Estimate;
use crate::analyze::geo::GeoSummary;
use crate::config::PathKind;
use crate::report::main_region;
use crate::world::Percentile;

/// Colour bucket edges (ms) that never move: `--fixed-scale` or `x`.
pub const FIXED_EDGES: [f64; 4] = [20.0, 50.0, 100.0, 200.0];

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub regions: Vec<String>,
    pub rows: Vec<Row>,
    /// Upper edges (ms) of the first four of five colour buckets.
    pub edges: [f64; 4],
    /// Continents present, for the filter to cycle through.
    pub continents: Vec<String>,
    /// Geos before the filter and search.
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub geo: String,
    pub name: String,
    pub continent: String,
    /// Share of all demand, with a topology.
    pub share: Option<f64>,
    /// The region answering most of this geo's routed attempts today.
    pub served: Option<String>,
    /// The proposed main region, with a plan.
    pub proposed: Option<String>,
    /// The region with the lowest value in this row.
    pub best: Option<String>,
    /// One per region of [`Table::regions`].
    pub cells: Vec<CellView>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellView {
    NoData,
    Value {
        ms: f64,
        /// Too few samples or too wide an interval to take as fact.
        thin: bool,
    },
}

impl CellView {
    pub fn ms(self) -> Option<f64> {
        match self {
            CellView::Value { ms, .. } => Some(ms),
            CellView::NoData => None,
        }
    }
}

/// The percentile's estimate of a cell.
pub fn estimate(p: &crate::analyze::estimate::Percentiles, at: Percentile) -> &Estimate {
    match at {
        Percentile::P50 => &p.p50,
        Percentile::P90 => &p.p90,
        Percentile::P99 => &p.p99,
    }
}

/// The main region of today's routing: the routed path standing for it,
/// its largest share.
pub fn served_today(summary: &GeoSummary) -> Option<String> {
    let served = summary.served_by.get(&summary.today_path?)?;
    Some(main_region(&served.fractions)).filter(|r| !r.is_empty())
}

pub fn table(snapshot: &Snapshot, state: &State) -> Table {
    let a = &snapshot.analysis;
    let report = snapshot.advice.as_ref().ok();
    let mut regions: BTreeSet<String> = a
        .matrix
        .cells
        .iter()
        .filter(|c| c.path == PathKind::Direct)
        .map(|c| c.region.clone())
        .collect();
    if let Some(r) = report {
        regions.extend(r.regions.iter().map(|r| r.id.clone()));
    }
    let regions: Vec<String> = regions.into_iter().collect();
    let served: BTreeMap<&str, String> = a
        .geos
        .iter()
        .filter_map(|g| Some((g.geo.as_str(), served_today(g)?)))
        .collect();
    let planned: BTreeMap<&str, &crate::report::model::GeoRow> = report
        .map(|r| r.geos.iter().map(|g| (g.id.as_str(), g)).collect())
        .unwrap_or_default();
    let mut geos: BTreeSet<&str> = a.matrix.geos().into_iter().collect();
    geos.extend(planned.keys());
    geos.extend(snapshot.geos.keys().map(String::as_str));
    let mut rows: Vec<Row> = geos
        .into_iter()
        .map(|geo| {
            let cells: Vec<CellView> = regions
                .iter()
                .map(
                    |r| match a.matrix.cell(geo, PathKind::Direct, r, state.phase) {
                        Some(c) => match &c.percentiles {
                            Some(p) => CellView::Value {
                                ms: estimate(p, state.percentile).value_us as f64 / 1000.0,
                                thin: c.insufficient.is_some(),
                            },
                            None => CellView::NoData,
                        },
                        None => CellView::NoData,
                    },
                )
                .collect();
            let best = cells
                .iter()
                .zip(&regions)
                .filter_map(|(c, r)| match c {
                    CellView::Value { ms, thin: false } => Some((*ms, r)),
                    _ => None,
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, r)| r.clone());
            let plan = planned.get(geo);
            let info = snapshot.geos.get(geo);
            Row {
                geo: geo.to_owned(),
                name: info.map_or_else(String::new, |g| g.name.clone()),
                continent: info.map_or_else(|| "-".into(), |g| g.continent.clone()),
                share: info.map(|g| g.share),
                served: served.get(geo).cloned(),
                proposed: plan.map(|g| g.serving_proposed.clone()),
                best,
                cells,
            }
        })
        .collect();
    let total = rows.len();
    let continents: Vec<String> = rows
        .iter()
        .map(|r| r.continent.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let edges = if state.fixed_scale {
        FIXED_EDGES
    } else {
        auto_edges(
            rows.iter()
                .flat_map(|r| r.cells.iter().filter_map(|c| c.ms())),
        )
    };
    if let Some(c) = &state.continent {
        rows.retain(|r| &r.continent == c);
    }
    let needle = state.search.text.to_lowercase();
    if !needle.is_empty() {
        rows.retain(|r| {
            r.geo.to_lowercase().contains(&needle) || r.name.to_lowercase().contains(&needle)
        });
    }
    sort(&mut rows, &regions, &state.sort, state.descending);
    Table {
        regions,
        rows,
        edges,
        continents,
        total,
    }
}

fn sort(rows: &mut [Row], regions: &[String], by: &SortColumn, descending: bool) {
    use std::cmp::Ordering;
    // Missing values sort last whichever the direction.
    fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>, desc: bool) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => {
                let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if desc { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let region = match by {
        SortColumn::Region(r) => regions.iter().position(|x| x == r),
        _ => None,
    };
    rows.sort_by(|a, b| {
        let o = match by {
            SortColumn::Geo => opt(Some(&a.geo), Some(&b.geo), descending),
            SortColumn::Continent => opt(Some(&a.continent), Some(&b.continent), descending),
            SortColumn::Share => opt(a.share, b.share, descending),
            SortColumn::Served => opt(a.served.as_ref(), b.served.as_ref(), descending),
            SortColumn::Region(_) => match region {
                Some(i) => opt(a.cells[i].ms(), b.cells[i].ms(), descending),
                None => Ordering::Equal,
            },
        };
        o.then_with(|| a.geo.cmp(&b.geo))
    });
}

/// Bucket edges at the 20th, 40th, 60th and 80th percentile of what is
/// shown, rounded to two significant digits; the fixed edges when fewer
/// than five distinct values would make them collapse.
pub fn auto_edges(values: impl Iterator<Item = f64>) -> [f64; 4] {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return FIXED_EDGES;
    }
    let q = |f: f64| round2(v[((v.len() - 1) as f64 * f).round() as usize]);
    let edges = [q(0.2), q(0.4), q(0.6), q(0.8)];
    if edges.windows(2).all(|w| w[0] < w[1]) {
        edges
    } else {
        FIXED_EDGES
    }
}

fn round2(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powf(x.log10().floor() - 1.0);
    (x / magnitude).round() * magnitude
}

/// Which of the five buckets `ms` falls in.
pub fn bucket(edges: &[f64; 4], ms: f64) -> usize {
    edges.iter().position(|e| ms < *e).unwrap_or(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_edges_follow_the_values_and_fall_back_when_they_collapse() {
        let edges = auto_edges((1..=100).map(f64::from));
        assert_eq!(edges, [21.0, 41.0, 60.0, 80.0]);
        assert_eq!(auto_edges([5.0, 5.0, 5.0].into_iter()), FIXED_EDGES);
        assert_eq!(auto_edges(std::iter::empty()), FIXED_EDGES);
    }

    #[test]
    fn buckets_are_half_open_at_each_edge() {
        let e = [20.0, 50.0, 100.0, 200.0];
        assert_eq!(bucket(&e, 0.0), 0);
        assert_eq!(bucket(&e, 19.9), 0);
        assert_eq!(bucket(&e, 20.0), 1);
        assert_eq!(bucket(&e, 199.0), 3);
        assert_eq!(bucket(&e, 5000.0), 4);
    }
}
