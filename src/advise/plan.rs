//! The plan document (`geolat-plan/1`, schema `schemas/plan.schema.json`):
//! what to deploy through each mechanism, how each mechanism's realised
//! routing scores against the fractional optimum, capacity per region, and
//! every change with its reason. Maps are keyed by id (sorted), so the
//! document is byte-identical for identical input.

use std::collections::BTreeMap;

use serde::Serialize;

use super::evaluate::{self, Evaluation, evaluate, gap_pct, loads, tolerance};
use super::locations::{self, Kind};
use super::model::{Problem, QueueModel, Shares};
use super::stability::Decision;
use super::{Advice, accelerator, geolocation::Method, weighted};
use crate::world::{Percentile, Routing};

pub const FORMAT: &str = "geolat-plan/1";

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub format: &'static str,
    pub world: String,
    pub objective: Objective,
    pub decision: Decision,
    /// Per geo, per region: the fraction of the geo's traffic (the
    /// fractional plan; Route 53 weights carry it).
    pub assignment: Routing,
    /// Per geo: its one region under Route 53 geolocation records.
    pub geolocation: BTreeMap<String, String>,
    pub geolocation_method: Method,
    /// Per geo: Route 53 weights per region (0 omitted).
    pub weighted: BTreeMap<String, BTreeMap<String, u8>>,
    /// What Route 53 can tell apart, and which geos it merges.
    pub locations: Vec<LocationReport>,
    pub traffic_policy: serde_json::Value,
    pub accelerator: BTreeMap<String, AcceleratorSetting>,
    pub mechanisms: BTreeMap<&'static str, MechanismReport>,
    pub capacity: BTreeMap<String, CapacityReport>,
    pub geos: BTreeMap<String, GeoReport>,
    /// Geos whose routing the plan changes (empty when it keeps today's).
    pub changes: BTreeMap<String, Change>,
    /// What measurements the advice rests on (advice from a store only):
    /// `geolat apply` refuses advice that is stale or thin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::apply::plan::Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Objective {
    pub percentile: Percentile,
    pub utilisation_cost: Option<QueueModel>,
    /// Demand-weighted latency of the fractional optimum (ms).
    pub optimum_ms: f64,
    pub plan_ms: f64,
    pub current_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationReport {
    pub kind: Kind,
    pub code: String,
    pub geos: Vec<String>,
    pub demand_rps: f64,
    pub merged: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceleratorSetting {
    /// Percent of the traffic arriving at the group that it keeps (tenths).
    pub traffic_dial: f64,
    pub endpoint_weight: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct MechanismReport {
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// Latency above the fractional optimum, percent.
    pub gap_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub capacity_rps: f64,
    pub usable_rps: f64,
    pub load_before_rps: f64,
    pub load_after_rps: f64,
    pub utilisation_before: f64,
    pub utilisation_after: f64,
    /// The plan fills the region to its usable capacity.
    pub full: bool,
    pub draining: bool,
    pub backup: Option<String>,
    /// Load the region must carry if the primary it backs up fails (N+1).
    pub failover_peak_rps: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeoReport {
    pub demand_rps: f64,
    pub current: BTreeMap<String, f64>,
    pub proposed: BTreeMap<String, f64>,
    /// Share-weighted latency before and after, ms.
    pub p50_before_ms: f64,
    pub p50_after_ms: f64,
    pub p99_before_ms: f64,
    pub p99_after_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    #[serde(flatten)]
    pub geo: GeoReport,
    pub reason: String,
}

pub fn build(a: &Advice, world_name: &str) -> Plan {
    let p = &a.problem;
    let optimum = evaluate(p, &a.optimum);
    let report = |shares: &Shares| MechanismReport {
        evaluation: evaluate(p, shares),
        gap_pct: gap_pct(evaluate(p, shares).latency_ms, optimum.latency_ms),
    };
    let geo_shares = geolocation_shares(a);
    let order = accelerator::proximity(p);
    let mechanisms = BTreeMap::from([
        ("optimum", report(&a.optimum)),
        ("fractional", report(&a.plan)),
        (
            "weighted",
            report(&weighted::realised(p, &a.locations, &a.weights)),
        ),
        ("geolocation", report(&geo_shares)),
        (
            "accelerator",
            report(&accelerator::realised(p, &order, &a.dials.traffic_dial)),
        ),
        ("current", report(&p.current)),
        ("latency_nearest", report(&evaluate::latency_nearest(p))),
        ("geo_nearest", report(&evaluate::geo_nearest(p))),
    ]);
    let region_id = |r: usize| p.regions[r].id.clone();
    let loc_of = |g: usize| {
        a.locations
            .iter()
            .position(|l| l.geos.contains(&g))
            .unwrap_or(0)
    };
    let assignment = p.to_routing(&a.plan);
    let weights_of = |g: usize| -> BTreeMap<String, u8> {
        a.weights[loc_of(g)]
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .map(|(r, w)| (region_id(r), *w))
            .collect()
    };
    let geos = geo_reports(p, &a.plan);
    let (today, now) = (loads(p, &p.current), loads(p, &a.plan));
    let changes = geos
        .iter()
        .enumerate()
        .filter(|(g, _)| differs(&p.current[*g], &a.plan[*g]))
        .map(|(g, (id, report))| {
            let change = Change {
                geo: report.clone(),
                reason: reason(p, g, &a.plan, &today, &now),
            };
            (id.clone(), change)
        })
        .collect();
    Plan {
        format: FORMAT,
        world: world_name.to_owned(),
        objective: Objective {
            percentile: p.options.percentile,
            utilisation_cost: p.options.queue,
            optimum_ms: optimum.latency_ms,
            plan_ms: mechanisms["fractional"].evaluation.latency_ms,
            current_ms: mechanisms["current"].evaluation.latency_ms,
        },
        decision: a.decision.clone(),
        assignment,
        geolocation: p
            .geos
            .iter()
            .enumerate()
            .map(|(g, geo)| (geo.id.clone(), region_id(a.geolocation.region[loc_of(g)])))
            .collect(),
        geolocation_method: a.geolocation.method,
        weighted: p
            .geos
            .iter()
            .enumerate()
            .map(|(g, geo)| (geo.id.clone(), weights_of(g)))
            .collect(),
        locations: a
            .locations
            .iter()
            .map(|l| LocationReport {
                kind: l.kind,
                code: l.code.clone(),
                geos: l.geos.iter().map(|&g| p.geos[g].id.clone()).collect(),
                demand_rps: l.demand(p),
                merged: l.merged(),
            })
            .collect(),
        traffic_policy: a.traffic_policy.clone(),
        accelerator: (0..p.region_count())
            .map(|r| {
                let s = AcceleratorSetting {
                    traffic_dial: a.dials.traffic_dial[r],
                    endpoint_weight: a.dials.endpoint_weight[r],
                };
                (region_id(r), s)
            })
            .collect(),
        mechanisms,
        capacity: capacity(p, &a.plan),
        geos: geos.into_iter().collect(),
        changes,
        evidence: None,
    }
}

/// Geo-level shares of the one-region-per-location answer.
pub fn geolocation_shares(a: &Advice) -> Shares {
    let p = &a.problem;
    let splits: Vec<Vec<f64>> = a
        .geolocation
        .region
        .iter()
        .map(|&r| {
            let mut s = vec![0.0; p.region_count()];
            s[r] = 1.0;
            s
        })
        .collect();
    locations::expand(p, &a.locations, &splits)
}

fn differs(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() > 1e-6
}

fn geo_reports(p: &Problem, plan: &Shares) -> Vec<(String, GeoReport)> {
    let split = |row: &[f64]| -> BTreeMap<String, f64> {
        row.iter()
            .enumerate()
            .filter(|(_, f)| **f > 1e-9)
            .map(|(r, f)| (p.regions[r].id.clone(), (f * 1e6).round() / 1e6))
            .collect()
    };
    let mean = |m: &[Vec<f64>], g: usize, row: &[f64]| -> f64 {
        row.iter().enumerate().map(|(r, f)| f * m[g][r]).sum()
    };
    p.geos
        .iter()
        .enumerate()
        .map(|(g, geo)| {
            let (before, after) = (&p.current[g], &plan[g]);
            let report = GeoReport {
                demand_rps: geo.demand,
                current: split(before),
                proposed: split(after),
                p50_before_ms: mean(&p.p50, g, before),
                p50_after_ms: mean(&p.p50, g, after),
                p99_before_ms: mean(&p.p99, g, before),
                p99_after_ms: mean(&p.p99, g, after),
            };
            (geo.id.clone(), report)
        })
        .collect()
}

fn capacity(p: &Problem, plan: &Shares) -> BTreeMap<String, CapacityReport> {
    let before = loads(p, &p.current);
    let after = loads(p, plan);
    let tol = tolerance(p);
    let share = p.options.failover_share;
    p.regions
        .iter()
        .enumerate()
        .map(|(r, region)| {
            let primaries = p
                .regions
                .iter()
                .enumerate()
                .filter(|(_, x)| x.backup == Some(r));
            let peak = primaries
                .map(|(i, _)| after[r] + share * after[i])
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let util = |l: f64| {
                if region.capacity > 0.0 {
                    l / region.capacity
                } else {
                    0.0
                }
            };
            let report = CapacityReport {
                capacity_rps: region.capacity,
                usable_rps: region.usable,
                load_before_rps: before[r],
                load_after_rps: after[r],
                utilisation_before: util(before[r]),
                utilisation_after: util(after[r]),
                full: after[r] >= region.usable - tol,
                draining: region.draining,
                backup: region.backup.map(|b| p.regions[b].id.clone()),
                failover_peak_rps: peak.filter(|_| share > 0.0),
            };
            (region.id.clone(), report)
        })
        .collect()
}

/// Why geo `g` moves, from what it leaves and what it gains.
fn reason(p: &Problem, g: usize, plan: &Shares, today: &[f64], now: &[f64]) -> String {
    use super::model::Admission;
    let (before, after) = (&p.current[g], &plan[g]);
    let left: Vec<usize> = (0..p.region_count())
        .filter(|&r| after[r] < before[r] - 1e-9)
        .collect();
    let lat = |row: &[f64]| -> f64 {
        row.iter()
            .enumerate()
            .map(|(r, f)| f * p.latency[g][r])
            .sum()
    };
    let gain = lat(before) - lat(after);
    let pct = p.options.percentile.as_str();
    let tol = tolerance(p);
    let id = |r: usize| p.regions[r].id.as_str();
    if let Some(&r) = left.iter().find(|&&r| p.regions[r].draining) {
        return format!("{} is draining", id(r));
    }
    if let (Some(&r), Some(slo)) = (
        left.iter().find(|&&r| p.admission[g][r] == Admission::Slo),
        &p.slo,
    ) {
        return format!(
            "{} breaks the SLO for this geo ({} {:.1} ms > {} ms)",
            id(r),
            slo.percentile.as_str(),
            slo.latency[g][r],
            slo.max_ms
        );
    }
    let effect = if gain >= 0.0 {
        format!("this geo gains {gain:.1} ms at {pct}")
    } else {
        format!(
            "this geo gives up {:.1} ms at {pct} so geos that gain more keep the room",
            -gain
        )
    };
    if let Some(&r) = left.iter().find(|&&r| today[r] > p.regions[r].usable + tol) {
        return format!(
            "{} is over its usable capacity today ({:.0} of {:.0} rps); {effect}",
            id(r),
            today[r],
            p.regions[r].usable
        );
    }
    if gain > 0.0 {
        return format!("faster: {pct} {:.1} -> {:.1} ms", lat(before), lat(after));
    }
    match left.iter().find(|&&r| now[r] >= p.regions[r].usable - tol) {
        Some(&r) => format!("makes room in {} (full in the plan); {effect}", id(r)),
        None if p.options.queue.is_some() => {
            format!("spreads load to cut queueing delay; {effect}")
        }
        None if p.options.failover_share > 0.0 => {
            format!("keeps backups able to absorb their primaries (N+1); {effect}")
        }
        None => format!("rebalances load; {effect}"),
    }
}
