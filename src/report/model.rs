//! The report's JSON model (`geolat-report/1`, schemas/report.schema.json):
//! the source of truth every rendering (Markdown, CSV) is drawn from.
//! Deterministic for the same input: maps are ordered, rows are sorted,
//! and nothing in it reads the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::world::Percentile;

pub const FORMAT: &str = "geolat-report/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub world: String,
    pub source: Source,
    pub headline: Headline,
    /// By traffic, largest first (ties by id).
    pub geos: Vec<GeoRow>,
    pub regions: Vec<RegionRow>,
    pub mechanisms: Vec<MechanismNote>,
    /// Latency distributions of the largest changed geos, today's main
    /// region against the proposed one, from the merged HDR histograms
    /// (store input only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cdfs: Vec<Cdf>,
    /// Store input only: demand-weighted percentiles to today's and the
    /// proposed main regions in each slice of the range, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub over_time: Vec<TimeSlice>,
    /// Store input only: whether each slice of the range, advised alone,
    /// proposes the same (see [`super::stability`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<super::stability::Stability>,
    /// What a reader should doubt: thin cells, stale data, missing paths.
    pub data_quality: Vec<String>,
    /// The exact commands that plan, apply and undo this advice.
    pub commands: Vec<String>,
}

/// Where the numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The world file or the store.
    pub input: String,
    /// The measurements, when advised from a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DataWindow>,
    /// The percentile the advice minimised (`p50`, `p90`, `p99`).
    pub percentile: Percentile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub phase: String,
    /// Windows merged into the measurements.
    pub windows: u64,
    /// Geo x region cells of the planned phase too thin to take as fact.
    pub thin_cells: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The advice changes routing and the data behind the changes holds.
    Apply,
    /// Today's routing is kept (the reason says why).
    Hold,
    /// A change rests on cells too thin to take as fact.
    NotEnoughData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Apply => "apply",
            Verdict::Hold => "hold",
            Verdict::NotEnoughData => "not enough data",
        }
    }
}

/// The decision and its size, in at most ten lines of Markdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub verdict: Verdict,
    pub reason: String,
    pub geos_changed: usize,
    pub geos_total: usize,
    /// Demand whose region changes, rps, and its share of all demand.
    pub traffic_moved_rps: f64,
    pub traffic_moved_share: f64,
    pub demand_rps: f64,
    /// Demand-weighted latency today and with the plan, ms.
    pub p50: BeforeAfter,
    pub p99: BeforeAfter,
    /// Regions full or over their usable capacity with the plan.
    pub regions_at_risk: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub before_ms: f64,
    pub after_ms: f64,
    pub change_ms: f64,
    /// Relative change, percent (negative is faster).
    pub change_pct: f64,
}

impl BeforeAfter {
    pub fn new(before_ms: f64, after_ms: f64) -> BeforeAfter {
        let change_ms = after_ms - before_ms;
        BeforeAfter {
            before_ms,
            after_ms,
            change_ms,
            change_pct: if before_ms > 0.0 {
                100.0 * change_ms / before_ms
            } else {
                0.0
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoRow {
    pub id: String,
    pub name: String,
    pub continent: String,
    pub demand_rps: f64,
    pub traffic_share: f64,
    /// Region shares today and proposed (0..1).
    pub today: BTreeMap<String, f64>,
    pub proposed: BTreeMap<String, f64>,
    pub changed: bool,
    /// The region with the largest share today, and proposed.
    pub serving_today: String,
    pub serving_proposed: String,
    /// Share-weighted latency, ms.
    pub p50: BeforeAfter,
    pub p99: BeforeAfter,
    /// What was measured from this geo to today's and the proposed main
    /// region (planned phase, direct path), when advised from a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_today: Option<Measured>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_proposed: Option<Measured>,
    /// The best region other than the proposed one, by the planned
    /// percentile, and what it would cost over the proposed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_up: Option<RunnerUp>,
    /// Round trip of light in fibre to the proposed main region, and the
    /// measured p50 above it.
    pub floor_ms: f64,
    pub slack_ms: f64,
    /// For a changed geo: how much could go wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
}

/// One geo x region cell's p50 with its confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub region: String,
    pub samples: u64,
    pub p50_ms: Option<f64>,
    pub ci_low_ms: Option<f64>,
    pub ci_high_ms: Option<f64>,
    /// Why the cell is not to be taken as fact; absent when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerUp {
    pub region: String,
    pub latency_ms: f64,
    pub cost_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Low,
    Medium,
    High,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Low => "low",
            Grade::Medium => "medium",
            Grade::High => "high",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub grade: Grade,
    /// Share of the proposed main region's usable capacity left free with
    /// the plan (negative when over).
    pub headroom_after: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionRow {
    pub id: String,
    pub capacity_rps: f64,
    pub usable_rps: f64,
    pub load_before_rps: f64,
    pub load_after_rps: f64,
    pub utilisation_before: f64,
    pub utilisation_after: f64,
    pub at_risk: bool,
    pub draining: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// What one mechanism can express, and the latency it leaves on the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismNote {
    pub mechanism: String,
    pub latency_ms: f64,
    /// Above the fractional optimum, percent.
    pub gap_pct: f64,
    pub note: String,
}

/// Which of a changed geo's main regions a distribution is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Today,
    Proposed,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Today => "today",
            Role::Proposed => "proposed",
        }
    }
}

/// One geo x region distribution: `points` are (ms, cumulative fraction),
/// at most [`super::CDF_POINTS`] of them, the last at 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cdf {
    pub geo: String,
    pub region: String,
    pub role: Role,
    pub samples: u64,
    pub points: Vec<(f64, f64)>,
}

/// One slice of the range: what its windows measured from every geo to its
/// main region today and with the plan (direct path, planned phase), each
/// percentile weighted by the geos' demand. `None` when no geo was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSlice {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub windows: u64,
    pub today: Option<Levels>,
    pub proposed: Option<Levels>,
}

/// Demand-weighted percentiles, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Share of all demand whose geos were measured in the slice.
    pub demand_share: f64,
}

impl Levels {
    pub fn at(&self, p: Percentile) -> f64 {
        match p {
            Percentile::P50 => self.p50_ms,
            Percentile::P90 => self.p90_ms,
            Percentile::P99 => self.p99_ms,
        }
    }
}
