//! `geolat report`: a policy recommendation a person can decide on and keep
//! as a record.
//!
//! ```text
//!  world (file, or store windows analyzed + topology) --advise--> Plan
//!        |                                                         |
//!        +------------------- build (pure) <-----------------------+
//!                                |  (+ Analysis: samples, intervals)
//!                                v
//!                        Report (geolat-report/1, the source of truth)
//!                          |            |             |
//!                     report.json   report.md     geos.csv
//!                                  (markdown)     (csv)
//!                                \     |     /
//!                       write: a temporary folder, renamed into place
//! ```
//!
//! Decisions a reader must know:
//!
//! * The verdict is `hold` when the advisor keeps today's routing, `not
//!   enough data` when a changed geo's proposed region was measured too
//!   thinly (or not at all) to take as fact, `apply` otherwise.
//! * Latency is the plan's share-weighted figure; the measured cell (p50
//!   with its order-statistic interval and sample count) is shown beside
//!   it for the main region today and proposed, never averaged.
//! * The physical floor is light in fibre over the great circle
//!   ([`floor`]); the slack is the proposed p50 above it.
//! * Nothing in the model reads the clock, so the same input gives the same
//!   JSON, Markdown and CSV byte for byte.

pub mod charts;
pub mod csv;
pub mod floor;
pub mod html;
pub mod markdown;
pub mod model;
pub mod png;
pub mod stability;
pub mod write;

use std::collections::BTreeMap;

use crate::advise::Plan;
use crate::advise::stability::Action;
use crate::analyze::{Analysis, Slice};
use crate::config::PathKind;
use crate::probe::record::Phase;
use crate::world::World;

pub use model::Report;
use model::{
    BeforeAfter, Cdf, DataWindow, GeoRow, Grade, Headline, Levels, Measured, MechanismNote,
    RegionRow, Risk, Role, RunnerUp, Source, TimeSlice, Verdict,
};

/// Changed geos whose distributions are drawn, largest traffic first, and
/// points kept per distribution.
const CDF_GEOS: usize = 6;
pub const CDF_POINTS: usize = 64;

/// Share of a region's usable capacity left free with the plan under which
/// a geo moving there is a high risk (the region is as good as full), and
/// under which it is a medium one.
const TIGHT_HEADROOM: f64 = 0.02;
const SNUG_HEADROOM: f64 = 0.15;

/// What a report is made of.
pub struct Input<'a> {
    pub world: &'a World,
    pub plan: &'a Plan,
    /// The world file or the store, as the user gave it.
    pub source: &'a str,
    /// The measurements behind the world, when advised from a store.
    pub analysis: Option<&'a Analysis>,
    /// The commands that plan, apply and undo this advice.
    pub commands: Vec<String>,
    /// The analysed range in slices (store input), for percentiles over time.
    pub slices: &'a [Slice],
}

/// The report, from the advice and what it was given.
pub fn build(input: &Input) -> Report {
    let Input {
        world,
        plan,
        analysis,
        ..
    } = *input;
    let demand: f64 = plan.geos.values().map(|g| g.demand_rps).sum();
    let regions = regions(plan);
    let mut geos: Vec<GeoRow> = world
        .geos
        .iter()
        .filter_map(|g| geo_row(input, g, demand, &regions))
        .collect();
    geos.sort_by(|a, b| b.demand_rps.total_cmp(&a.demand_rps).then(a.id.cmp(&b.id)));
    let headline = headline(plan, &geos, &regions, demand);
    Report {
        format: model::FORMAT.to_owned(),
        world: plan.world.clone(),
        source: Source {
            input: input.source.to_owned(),
            window: analysis.map(|a| DataWindow {
                since: a.since,
                until: a.until,
                phase: a.phase.to_string(),
                windows: a.windows.merged,
                thin_cells: plan.evidence.as_ref().map_or(0, |e| e.thin_cells),
            }),
            percentile: plan.objective.percentile,
        },
        headline,
        cdfs: analysis.map_or_else(Vec::new, |a| cdfs(a, &geos)),
        over_time: analysis.map_or_else(Vec::new, |a| over_time(input.slices, &geos, a.phase)),
        stability: None,
        data_quality: data_quality(world, analysis, &geos),
        geos,
        regions,
        mechanisms: mechanisms(plan),
        commands: input.commands.clone(),
    }
}

/// Each slice's demand-weighted percentiles from every geo to its main
/// region today and with the plan, from the slice's own cells (never an
/// average of the whole range's).
fn over_time(slices: &[Slice], geos: &[GeoRow], phase: Phase) -> Vec<TimeSlice> {
    let total: f64 = geos.iter().map(|g| g.demand_rps).sum();
    let levels = |s: &Slice, region: fn(&GeoRow) -> &str| {
        let (mut w, mut p50, mut p90, mut p99) = (0.0, 0.0, 0.0, 0.0);
        for g in geos {
            let Some(p) = s
                .matrix
                .cell(&g.id, PathKind::Direct, region(g), phase)
                .and_then(|c| c.percentiles.as_ref())
            else {
                continue;
            };
            w += g.demand_rps;
            p50 += g.demand_rps * p.p50.value_us as f64 / 1000.0;
            p90 += g.demand_rps * p.p90.value_us as f64 / 1000.0;
            p99 += g.demand_rps * p.p99.value_us as f64 / 1000.0;
        }
        (w > 0.0).then(|| Levels {
            p50_ms: p50 / w,
            p90_ms: p90 / w,
            p99_ms: p99 / w,
            demand_share: if total > 0.0 { w / total } else { 0.0 },
        })
    };
    slices
        .iter()
        .map(|s| TimeSlice {
            since: s.since,
            until: s.until,
            windows: s.windows,
            today: levels(s, |g| &g.serving_today),
            proposed: levels(s, |g| &g.serving_proposed),
        })
        .collect()
}

/// Today's and the proposed main region's distributions for the largest
/// changed geos, from the merged histograms (never from percentiles).
fn cdfs(a: &Analysis, geos: &[GeoRow]) -> Vec<Cdf> {
    let mut out = Vec::new();
    for g in geos.iter().filter(|g| g.changed).take(CDF_GEOS) {
        for (role, region) in [
            (Role::Today, &g.serving_today),
            (Role::Proposed, &g.serving_proposed),
        ] {
            let Some(cell) = direct_cell(a, &g.id, region) else {
                continue;
            };
            let h = &cell.histogram;
            let n = h.len();
            if n == 0 {
                continue;
            }
            let mut points = Vec::new();
            let mut seen = 0u64;
            for &(index, count) in h.pairs() {
                seen += count;
                let upper_ms = crate::analyze::value_range(index).1 as f64 / 1000.0;
                points.push((upper_ms, seen as f64 / n as f64));
            }
            // Thin evenly by rank, always keeping the last point.
            if points.len() > CDF_POINTS {
                let step = points.len() as f64 / CDF_POINTS as f64;
                let last = *points.last().unwrap_or(&(0.0, 1.0));
                points = (0..CDF_POINTS - 1)
                    .map(|i| points[(i as f64 * step) as usize])
                    .chain([last])
                    .collect();
            }
            out.push(Cdf {
                geo: g.id.clone(),
                region: region.clone(),
                role,
                samples: n,
                points,
            });
        }
    }
    out
}

/// The region with the largest share (ties by name).
pub fn main_region(shares: &BTreeMap<String, f64>) -> String {
    shares
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(r, _)| r.clone())
        .unwrap_or_default()
}

/// Half the L1 distance between two splits: the share that moves.
fn moved_share(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
    let regions: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    regions
        .into_iter()
        .map(|r| (a.get(r).copied().unwrap_or(0.0) - b.get(r).copied().unwrap_or(0.0)).abs())
        .sum::<f64>()
        / 2.0
}

/// The geo x region cell the advice planned on: direct path, planned phase.
fn direct_cell<'a>(a: &'a Analysis, geo: &str, region: &str) -> Option<&'a crate::analyze::Cell> {
    a.matrix.cells.iter().find(|c| {
        c.geo == geo && c.region == region && c.path == PathKind::Direct && c.phase == a.phase
    })
}

fn measured(analysis: Option<&Analysis>, geo: &str, region: &str) -> Option<Measured> {
    let a = analysis?;
    let ms = |us: u64| us as f64 / 1000.0;
    let cell = direct_cell(a, geo, region);
    Some(match cell {
        Some(c) => {
            let p50 = c.percentiles.as_ref().map(|p| &p.p50);
            Measured {
                region: region.to_owned(),
                samples: c.samples,
                p50_ms: p50.map(|e| ms(e.value_us)),
                ci_low_ms: p50.and_then(|e| e.ci_low_us).map(ms),
                ci_high_ms: p50.and_then(|e| e.ci_high_us).map(ms),
                thin: c.insufficient.clone(),
            }
        }
        None => Measured {
            region: region.to_owned(),
            samples: 0,
            p50_ms: None,
            ci_low_ms: None,
            ci_high_ms: None,
            thin: Some("not measured".into()),
        },
    })
}

fn geo_row(
    input: &Input,
    g: &crate::world::Geo,
    demand: f64,
    regions: &[RegionRow],
) -> Option<GeoRow> {
    let plan = input.plan;
    let report = plan.geos.get(&g.id)?;
    let percentile = plan.objective.percentile;
    let (today, proposed) = (main_region(&report.current), main_region(&report.proposed));
    let changed = plan.changes.contains_key(&g.id);
    let latency = |r: &str| g.latency_ms.get(r).map(|l| l.at(percentile));
    let runner_up = g
        .latency_ms
        .iter()
        .filter(|(r, _)| **r != proposed)
        .map(|(r, l)| (r, l.at(percentile)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)))
        .map(|(r, ms)| RunnerUp {
            region: r.clone(),
            latency_ms: ms,
            cost_ms: latency(&proposed).map_or(0.0, |p| ms - p),
        });
    let floor_ms = input
        .world
        .regions
        .iter()
        .find(|r| r.id == proposed)
        .map_or(0.0, |r| floor::round_trip_ms(g.lat, g.lon, r.lat, r.lon));
    let measured_today = measured(input.analysis, &g.id, &today);
    let measured_proposed = measured(input.analysis, &g.id, &proposed);
    let risk = changed.then(|| {
        risk(
            regions.iter().find(|r| r.id == proposed),
            measured_today.as_ref(),
            measured_proposed.as_ref(),
        )
    });
    Some(GeoRow {
        id: g.id.clone(),
        name: g.name.clone(),
        continent: g.continent.clone(),
        demand_rps: report.demand_rps,
        traffic_share: if demand > 0.0 {
            report.demand_rps / demand
        } else {
            0.0
        },
        today: report.current.clone(),
        proposed: report.proposed.clone(),
        changed,
        serving_today: today,
        serving_proposed: proposed,
        p50: BeforeAfter::new(report.p50_before_ms, report.p50_after_ms),
        p99: BeforeAfter::new(report.p99_before_ms, report.p99_after_ms),
        measured_today,
        measured_proposed,
        runner_up,
        floor_ms,
        slack_ms: report.p50_after_ms - floor_ms,
        risk,
    })
}

/// A changed geo's risk: little headroom left where it goes, a gain the
/// intervals cannot tell from noise, or thin data on either side.
fn risk(region: Option<&RegionRow>, today: Option<&Measured>, proposed: Option<&Measured>) -> Risk {
    let mut grade = Grade::Low;
    let mut reasons = Vec::new();
    let headroom_after = region.map_or(1.0, |r| {
        if r.usable_rps > 0.0 {
            1.0 - r.load_after_rps / r.usable_rps
        } else {
            0.0
        }
    });
    if let Some(r) = region {
        let g = if headroom_after < TIGHT_HEADROOM {
            Grade::High
        } else if headroom_after < SNUG_HEADROOM {
            Grade::Medium
        } else {
            Grade::Low
        };
        if g > Grade::Low {
            reasons.push(format!(
                "{} would have {:.0}% of its usable capacity free ({:.0} of {:.0} rps used)",
                r.id,
                headroom_after.max(0.0) * 100.0,
                r.load_after_rps,
                r.usable_rps
            ));
            grade = grade.max(g);
        }
    }
    for m in [today, proposed].into_iter().flatten() {
        if let Some(thin) = &m.thin {
            reasons.push(format!("{} measured thinly: {thin}", m.region));
            grade = Grade::High;
        }
    }
    if let (Some(t), Some(p)) = (today, proposed)
        && let (Some(t_low), Some(p_high)) = (t.ci_low_ms, p.ci_high_ms)
        && t.region != p.region
        && t_low <= p_high
    {
        reasons.push(format!(
            "the p50 intervals of {} and {} overlap: the gain may be noise",
            t.region, p.region
        ));
        grade = grade.max(Grade::Medium);
    }
    Risk {
        grade,
        headroom_after,
        reasons,
    }
}

fn regions(plan: &Plan) -> Vec<RegionRow> {
    plan.capacity
        .iter()
        .map(|(id, c)| RegionRow {
            id: id.clone(),
            capacity_rps: c.capacity_rps,
            usable_rps: c.usable_rps,
            load_before_rps: c.load_before_rps,
            load_after_rps: c.load_after_rps,
            utilisation_before: c.utilisation_before,
            utilisation_after: c.utilisation_after,
            at_risk: c.full || c.load_after_rps > c.usable_rps + 1e-6,
            draining: c.draining,
            backup: c.backup.clone(),
        })
        .collect()
}

fn headline(plan: &Plan, geos: &[GeoRow], regions: &[RegionRow], demand: f64) -> Headline {
    let weighted = |f: fn(&GeoRow) -> f64| {
        if demand > 0.0 {
            geos.iter().map(|g| g.demand_rps * f(g)).sum::<f64>() / demand
        } else {
            0.0
        }
    };
    let moved: f64 = geos
        .iter()
        .map(|g| g.demand_rps * moved_share(&g.today, &g.proposed))
        .sum();
    let thin_change = geos.iter().find(|g| {
        g.changed
            && g.measured_proposed
                .as_ref()
                .is_some_and(|m| m.thin.is_some())
    });
    let (verdict, reason) = match (plan.decision.action, thin_change) {
        (Action::Keep, _) => (Verdict::Hold, plan.decision.reason.clone()),
        (Action::Change, Some(g)) => (
            Verdict::NotEnoughData,
            format!(
                "{} would move to {}, measured too thinly to act on: {}",
                g.id,
                g.serving_proposed,
                g.measured_proposed
                    .as_ref()
                    .and_then(|m| m.thin.clone())
                    .unwrap_or_default()
            ),
        ),
        (Action::Change, None) => (Verdict::Apply, plan.decision.reason.clone()),
    };
    Headline {
        verdict,
        reason,
        geos_changed: geos.iter().filter(|g| g.changed).count(),
        geos_total: geos.len(),
        traffic_moved_rps: moved,
        traffic_moved_share: if demand > 0.0 { moved / demand } else { 0.0 },
        demand_rps: demand,
        p50: BeforeAfter::new(weighted(|g| g.p50.before_ms), weighted(|g| g.p50.after_ms)),
        p99: BeforeAfter::new(weighted(|g| g.p99.before_ms), weighted(|g| g.p99.after_ms)),
        regions_at_risk: regions
            .iter()
            .filter(|r| r.at_risk)
            .map(|r| r.id.clone())
            .collect(),
    }
}

/// What each mechanism can and cannot express, in a fixed order.
fn mechanisms(plan: &Plan) -> Vec<MechanismNote> {
    const NOTES: [(&str, &str); 5] = [
        (
            "fractional",
            "the plan as solved: any split of each geo, before rounding to what a mechanism can express",
        ),
        (
            "weighted",
            "Route 53 weighted records per location: splits in 1/255 steps; geos in one country share one split; resolvers keep an answer for the TTL",
        ),
        (
            "geolocation",
            "Route 53 geolocation: one region per country, continent or US state; a geo the plan splits goes wholly to one region",
        ),
        (
            "accelerator",
            "Global Accelerator: traffic dials per region for every user, not per geo; users reach the nearest healthy group first and spill by proximity",
        ),
        ("current", "today's routing"),
    ];
    NOTES
        .iter()
        .filter_map(|(key, note)| {
            plan.mechanisms.get(key).map(|m| MechanismNote {
                mechanism: (*key).to_owned(),
                latency_ms: m.evaluation.latency_ms,
                gap_pct: m.gap_pct,
                note: (*note).to_owned(),
            })
        })
        .collect()
}

fn data_quality(world: &World, analysis: Option<&Analysis>, geos: &[GeoRow]) -> Vec<String> {
    let mut notes = Vec::new();
    match analysis {
        None => notes.push(
            "advised from a world file: its latency is what the file says, not measured by these probes"
                .to_owned(),
        ),
        Some(a) => {
            let mut thin = std::collections::BTreeSet::new();
            for g in geos {
                for m in [&g.measured_today, &g.measured_proposed].into_iter().flatten() {
                    if let Some(why) = &m.thin {
                        thin.insert(format!("{} -> {}: {why}", g.id, m.region));
                    }
                }
            }
            let thin: Vec<String> = thin.into_iter().collect();
            if !thin.is_empty() {
                notes.push(format!(
                    "{} serving or proposed cells ({} phase, direct path) are thin: {}",
                    thin.len(),
                    a.phase,
                    thin.join("; ")
                ));
            }
            let c = &a.windows.counts;
            let skipped = c.duplicates + c.skewed + c.unreadable;
            if skipped > 0 {
                notes.push(format!(
                    "{skipped} windows skipped ({} duplicate, {} clock-skewed, {} unreadable)",
                    c.duplicates, c.skewed, c.unreadable
                ));
            }
        }
    }
    let regions: Vec<&str> = world.regions.iter().map(|r| r.id.as_str()).collect();
    for g in &world.geos {
        let missing: Vec<&str> = regions
            .iter()
            .copied()
            .filter(|r| !g.latency_ms.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "{} has no latency to {}: it is never sent there",
                g.id,
                missing.join(", ")
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::{self, Endpoints, Options};

    /// Two regions of 100 rps; `a_demand` decides whether west overloads.
    fn world(a_demand: f64) -> World {
        let v = serde_json::json!({
            "format": "geolat-world/1",
            "name": "two-regions",
            "regions": [
                {"id": "west", "lat": 50, "lon": 0, "capacity_rps": 100},
                {"id": "east", "lat": 50, "lon": 30, "capacity_rps": 100}
            ],
            "geos": [
                {"id": "A", "continent": "EU", "lat": 49, "lon": 1, "demand_rps": a_demand,
                 "latency_ms": {"west": {"p50": 10}, "east": {"p50": 30}}},
                {"id": "B", "continent": "EU", "lat": 50, "lon": 12, "demand_rps": 60,
                 "latency_ms": {"west": {"p50": 12}, "east": {"p50": 20}}}
            ]
        });
        World::from_json(&serde_json::to_vec(&v).unwrap(), "two-regions").unwrap()
    }

    fn report_of(world: &World) -> (Plan, Report) {
        let advice = advise::advise(world, &Options::default(), &Endpoints::default()).unwrap();
        let plan = advise::plan::build(&advice, "two-regions");
        let report = build(&Input {
            world,
            plan: &plan,
            source: "two.json",
            analysis: None,
            commands: Vec::new(),
            slices: &[],
        });
        (plan, report)
    }

    #[test]
    fn routing_kept_is_hold_and_a_needed_change_is_apply() {
        let (_, kept) = report_of(&world(20.0));
        assert_eq!(kept.headline.verdict, Verdict::Hold);
        assert_eq!(kept.headline.geos_changed, 0);
        assert_eq!(kept.headline.traffic_moved_rps, 0.0);
        assert!(kept.geos.iter().all(|g| g.risk.is_none()));

        // 150 rps on west's 90 usable: B (which loses least) moves east.
        let (_, moved) = report_of(&world(90.0));
        let h = &moved.headline;
        assert_eq!(h.verdict, Verdict::Apply, "{}", h.reason);
        let b = moved.geos.iter().find(|g| g.id == "B").unwrap();
        assert!(b.changed && b.serving_proposed == "east", "{b:?}");
        assert!((h.traffic_moved_rps - 60.0).abs() < 1.0, "{h:?}");
        assert!((h.traffic_moved_share - 60.0 / 150.0).abs() < 0.01);
        // B's runner-up is west, 8 ms faster than east but full.
        let up = b.runner_up.as_ref().unwrap();
        assert_eq!((up.region.as_str(), up.cost_ms), ("west", -8.0));
        // East is ~1,283 km from B: light in fibre needs ~12.8 ms there and
        // back, so 7.2 ms of the 20 ms is slack.
        assert!((b.floor_ms - 12.83).abs() < 0.05, "{b:?}");
        assert!((b.slack_ms - 7.17).abs() < 0.05, "{b:?}");
        // Largest demand first.
        assert_eq!(moved.geos[0].id, "A");
    }

    /// A slice that proposes what the range does is stable; one where A's
    /// demand was low (nothing moves) sends B elsewhere; a slice without
    /// windows is named and does not count.
    #[test]
    fn slices_that_disagree_make_the_recommendation_unstable() {
        use chrono::TimeZone;
        use stability::{SliceInput, stability};
        let (plan, report) = report_of(&world(90.0));
        let (quiet, _) = report_of(&world(20.0));
        let t = |h| chrono::Utc.with_ymd_and_hms(2026, 12, 2, h, 0, 0).unwrap();
        let slice = |h, plan: Result<Plan, String>| SliceInput {
            since: t(h),
            until: t(h + 1),
            windows: 60,
            plan,
        };
        let same = stability(
            &report,
            &[slice(0, Ok(plan.clone())), slice(1, Ok(plan.clone()))],
        );
        assert!(same.stable && same.unstable_geos.is_empty(), "{same:?}");
        assert_eq!(same.spread_ms, Some(0.0));
        let mixed = stability(
            &report,
            &[
                slice(0, Ok(plan.clone())),
                slice(1, Ok(quiet)),
                slice(2, Err("no windows".into())),
            ],
        );
        assert!(!mixed.stable);
        assert_eq!(mixed.unstable_geos, ["B"]);
        assert_eq!(mixed.planned_slices, 2);
        assert_eq!(mixed.slices[1].differs, ["B"]);
        assert_eq!(mixed.slices[2].note.as_deref(), Some("no windows"));
        let alone = stability(&report, &[slice(0, Ok(plan)), slice(1, Err("none".into()))]);
        assert!(
            !alone.stable && alone.unstable_geos.is_empty(),
            "one slice tells nothing"
        );
    }

    #[test]
    fn a_change_onto_a_thin_cell_is_not_enough_data() {
        let w = world(90.0);
        let (plan, mut report) = report_of(&w);
        let b = report.geos.iter_mut().find(|g| g.id == "B").unwrap();
        b.measured_proposed = Some(Measured {
            region: "east".into(),
            samples: 3,
            p50_ms: Some(20.0),
            ci_low_ms: None,
            ci_high_ms: None,
            thin: Some("3 samples (fewer than 30)".into()),
        });
        let h = headline(&plan, &report.geos, &report.regions, 150.0);
        assert_eq!(h.verdict, Verdict::NotEnoughData);
        assert!(h.reason.contains("B would move to east"), "{}", h.reason);
    }

    fn region(load_after: f64) -> RegionRow {
        RegionRow {
            id: "east".into(),
            capacity_rps: 100.0,
            usable_rps: 90.0,
            load_before_rps: 0.0,
            load_after_rps: load_after,
            utilisation_before: 0.0,
            utilisation_after: load_after / 100.0,
            at_risk: false,
            draining: false,
            backup: None,
        }
    }

    fn cell(region: &str, low: f64, high: f64) -> Measured {
        Measured {
            region: region.into(),
            samples: 400,
            p50_ms: Some((low + high) / 2.0),
            ci_low_ms: Some(low),
            ci_high_ms: Some(high),
            thin: None,
        }
    }

    #[test]
    fn risk_grows_with_load_overlap_and_thin_data() {
        let (today, far) = (cell("west", 30.0, 32.0), cell("east", 20.0, 21.0));
        let low = risk(Some(&region(60.0)), Some(&today), Some(&far));
        assert_eq!((low.grade, low.reasons.len()), (Grade::Low, 0), "{low:?}");
        let snug = risk(Some(&region(80.0)), Some(&today), Some(&far));
        assert_eq!(snug.grade, Grade::Medium, "{snug:?}");
        assert!(snug.reasons[0].contains("11% of its usable capacity free"));
        let full = risk(Some(&region(90.0)), Some(&today), Some(&far));
        assert_eq!(full.grade, Grade::High, "{full:?}");
        let overlap = risk(
            Some(&region(10.0)),
            Some(&today),
            Some(&cell("east", 25.0, 31.0)),
        );
        assert_eq!(overlap.grade, Grade::Medium, "{overlap:?}");
        assert!(overlap.reasons[0].contains("overlap"), "{overlap:?}");
        let mut thin = far.clone();
        thin.thin = Some("not measured".into());
        let thin = risk(Some(&region(10.0)), Some(&today), Some(&thin));
        assert_eq!(thin.grade, Grade::High, "{thin:?}");
    }
}
