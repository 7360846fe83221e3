//! Whether the recommendation holds across the range: the range is cut
//! into slices, each advised on alone; a geo whose proposed main region in
//! some slice is not the one the whole range proposes is unstable, and the
//! slices' demand-weighted latency with their plans shows the spread.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::main_region;
use super::model::Report;
use crate::advise::Plan;

/// One slice as advised: its plan, or why there is none (too few windows).
pub struct SliceInput {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub windows: u64,
    pub plan: Result<Plan, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// At least two slices advised, and every geo's proposed main region
    /// the same in each of them.
    pub stable: bool,
    /// Slices with windows enough to advise on.
    pub planned_slices: usize,
    /// Geos whose proposed main region differs in at least one slice.
    pub unstable_geos: Vec<String>,
    /// Highest minus lowest of the slices' planned latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_ms: Option<f64>,
    pub slices: Vec<SliceRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceRow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub windows: u64,
    /// The slice's demand-weighted latency with its own plan, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_ms: Option<f64>,
    /// Geos this slice would send elsewhere than the whole range does.
    pub differs: Vec<String>,
    /// Why the slice has no plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Compares each slice's plan with the whole range's report.
pub fn stability(full: &Report, slices: &[SliceInput]) -> Stability {
    let rows: Vec<SliceRow> = slices
        .iter()
        .map(|s| {
            let (plan_ms, differs, note) = match &s.plan {
                Err(why) => (None, Vec::new(), Some(why.clone())),
                Ok(plan) => {
                    let differs = full
                        .geos
                        .iter()
                        .filter(|g| {
                            plan.geos
                                .get(&g.id)
                                .is_some_and(|p| main_region(&p.proposed) != g.serving_proposed)
                        })
                        .map(|g| g.id.clone())
                        .collect();
                    (Some(plan.objective.plan_ms), differs, None)
                }
            };
            SliceRow {
                since: s.since,
                until: s.until,
                windows: s.windows,
                plan_ms,
                differs,
                note,
            }
        })
        .collect();
    let mut unstable: Vec<String> = rows.iter().flat_map(|r| r.differs.clone()).collect();
    unstable.sort();
    unstable.dedup();
    let planned: Vec<f64> = rows.iter().filter_map(|r| r.plan_ms).collect();
    let spread_ms = (!planned.is_empty()).then(|| {
        planned.iter().copied().fold(f64::MIN, f64::max)
            - planned.iter().copied().fold(f64::MAX, f64::min)
    });
    Stability {
        stable: unstable.is_empty() && planned.len() >= 2,
        planned_slices: planned.len(),
        unstable_geos: unstable,
        spread_ms,
        slices: rows,
    }
}
