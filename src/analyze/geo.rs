//! Per geo: where its users are served today, the best region on the
//! direct path, what today's routing costs them, and whether that cost is
//! real or noise.
//!
//! - **Served by** comes from the routed paths: a Route 53 or Global
//!   Accelerator attempt that got an answer says which region answered
//!   (`served_by`), so each routed path's `ttfb` sample counts per region
//!   (one per answered attempt) are the fractions of users sent there.
//!   Route 53 stands for today's routing when it was probed, else the
//!   accelerator.
//! - **Penalty** is demand-independent: `sum(f_r * p50_r) - p50_best`, where
//!   `f_r` are today's fractions and every `p50` is the direct path's at the
//!   chosen phase, so both sides are measured the same way and only the
//!   choice of region differs.
//! - **Significance**: the penalty is significant when the two 95%
//!   intervals do not overlap: the lower bound of today's p50 (the
//!   fraction-weighted sum of each region's lower bound, which bounds the
//!   weighted p50 whenever every region's interval holds) is above the
//!   upper bound of the best region's p50. Non-overlap of two 95% intervals
//!   is a conservative test (roughly p < 0.01 for similar widths), chosen
//!   over a bootstrap because it needs nothing but the merged histograms and
//!   never claims more than the intervals shown next to it. Any region the
//!   comparison needs that is missing or insufficient makes the verdict
//!   `insufficient`, never a number presented as fact.

use std::collections::BTreeMap;

use serde::Serialize;

use super::decode::UNKNOWN_REGION;
use super::matrix::{Cell, Matrix};
use crate::config::PathKind;
use crate::probe::record::Phase;

/// Routed paths, in the order they stand for today's routing.
pub const ROUTED: [PathKind; 2] = [PathKind::Route53, PathKind::Accelerator];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The intervals do not overlap: today's routing costs this geo latency.
    Significant,
    /// Today's routing is the best region, or the difference is within noise.
    NotSignificant,
    /// A region the comparison needs has too few samples or none.
    Insufficient,
    /// Neither Route 53 nor the accelerator was probed from this geo.
    NoRoutedData,
}

/// Answered attempts on one routed path, by the region that answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Served {
    pub answered: u64,
    pub fractions: BTreeMap<String, f64>,
}

/// A p50 with its interval, microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct P50 {
    pub p50_us: f64,
    pub ci_low_us: f64,
    pub ci_high_us: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestRegion {
    pub region: String,
    #[serde(flatten)]
    pub p50: P50,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoSummary {
    pub geo: String,
    pub served_by: BTreeMap<PathKind, Served>,
    /// The routed path whose fractions stand for today's routing.
    pub today_path: Option<PathKind>,
    /// Today's p50: the direct p50s of today's regions, weighted.
    pub today: Option<P50>,
    pub best_direct: Option<BestRegion>,
    pub penalty_us: Option<f64>,
    pub verdict: Verdict,
    /// Why the verdict is `insufficient` or `no_routed_data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Direct regions left out of "best" for too few samples.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub insufficient_regions: Vec<String>,
}

/// A summary for every geo in the matrix, at `phase`.
pub fn summarise(matrix: &Matrix, phase: Phase) -> Vec<GeoSummary> {
    matrix
        .geos()
        .into_iter()
        .map(|g| summarise_geo(matrix, g, phase))
        .collect()
}

/// Fractions of answered attempts per region on a routed path.
pub fn served(matrix: &Matrix, geo: &str, path: PathKind) -> Option<Served> {
    let counts: Vec<(&str, u64)> = matrix
        .row(geo, path, Phase::Ttfb)
        .map(|c| (c.region.as_str(), c.samples))
        .collect();
    let answered: u64 = counts.iter().map(|c| c.1).sum();
    (answered > 0).then(|| Served {
        answered,
        fractions: counts
            .into_iter()
            .map(|(r, n)| (r.to_owned(), n as f64 / answered as f64))
            .collect(),
    })
}

fn p50(cell: &Cell) -> Option<P50> {
    let p = cell.percentiles.as_ref()?.p50;
    Some(P50 {
        p50_us: p.value_us as f64,
        ci_low_us: p.ci_low_us? as f64,
        ci_high_us: p.ci_high_us? as f64,
    })
}

fn summarise_geo(matrix: &Matrix, geo: &str, phase: Phase) -> GeoSummary {
    let served_by: BTreeMap<PathKind, Served> = ROUTED
        .iter()
        .filter_map(|&p| served(matrix, geo, p).map(|s| (p, s)))
        .collect();
    let today_path = ROUTED.iter().copied().find(|p| served_by.contains_key(p));
    let direct: Vec<&Cell> = matrix.row(geo, PathKind::Direct, phase).collect();
    let insufficient_regions = direct
        .iter()
        .filter(|c| !c.sufficient())
        .map(|c| c.region.clone())
        .collect();
    let best_direct = direct
        .iter()
        .filter(|c| c.sufficient())
        .filter_map(|c| p50(c).map(|p| (c, p)))
        .min_by(|a, b| a.1.p50_us.total_cmp(&b.1.p50_us))
        .map(|(c, p)| BestRegion {
            region: c.region.clone(),
            p50: p,
        });
    let mut s = GeoSummary {
        geo: geo.to_owned(),
        served_by,
        today_path,
        today: None,
        best_direct,
        penalty_us: None,
        verdict: Verdict::Insufficient,
        reason: None,
        insufficient_regions,
    };
    let Some(path) = today_path else {
        s.verdict = Verdict::NoRoutedData;
        s.reason = Some("no answered Route 53 or accelerator attempts".into());
        return s;
    };
    let Some(best) = &s.best_direct else {
        s.reason = Some(format!(
            "no direct region has enough {phase} samples to compare with"
        ));
        return s;
    };
    let mut today = P50 {
        p50_us: 0.0,
        ci_low_us: 0.0,
        ci_high_us: 0.0,
    };
    for (region, f) in &s.served_by[&path].fractions {
        let cell = matrix.cell(geo, PathKind::Direct, region, phase);
        let Some(p) = cell.filter(|c| c.sufficient()).and_then(p50) else {
            s.reason = Some(today_gap(region, *f, cell, phase));
            return s;
        };
        today.p50_us += f * p.p50_us;
        today.ci_low_us += f * p.ci_low_us;
        today.ci_high_us += f * p.ci_high_us;
    }
    s.penalty_us = Some(today.p50_us - best.p50.p50_us);
    s.verdict = if today.ci_low_us > best.p50.ci_high_us {
        Verdict::Significant
    } else {
        Verdict::NotSignificant
    };
    s.today = Some(today);
    s
}

fn today_gap(region: &str, fraction: f64, cell: Option<&Cell>, phase: Phase) -> String {
    let share = format!("{:.0}% of answers", fraction * 100.0);
    if region == UNKNOWN_REGION {
        return format!("{share} do not say which region answered (configure served_by)");
    }
    match cell.and_then(|c| c.insufficient.as_deref()) {
        Some(why) => format!("today's region {region} ({share}): direct {phase} has {why}"),
        None => format!("today's region {region} ({share}) has no direct {phase} measurements"),
    }
}
