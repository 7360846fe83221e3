//! The optimisation problem as dense indexed data: geos x regions with
//! demand, latency, capacity and, per pair, the most of a geo's traffic the
//! constraints let that region take. Built once from a [`World`] and the
//! [`Options`]; everything downstream works on indices, and ids come back
//! only when a plan is written.

use crate::world::{Percentile, Routing, World};

use super::error::AdviseError;

/// `[geo][region]` fractions of each geo's traffic.
pub type Shares = Vec<Vec<f64>>;

/// What `--drain REGION` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DrainMode {
    /// No new traffic: each geo's share of a draining region may only go
    /// down (`x <= current`), so the region empties as fast as the change
    /// budget and the rest of the world allow, never faster.
    NoNew,
    /// Empty now: a draining region takes nothing (`x = 0`).
    Empty,
}

/// Latency that grows with a region's utilisation: an M/M/1 queue adds
/// `service_ms * u / (1 - u)` to every request in a region at utilisation
/// `u` of its full capacity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QueueModel {
    pub service_ms: f64,
}

impl QueueModel {
    /// Highest utilisation the exact cost is evaluated at; beyond it the
    /// queue is treated as this full, so an overloaded plan reports a large
    /// but finite cost instead of infinity.
    pub const MAX_UTILISATION: f64 = 0.999;

    /// Waiting time (ms) at `load` of `capacity`.
    pub fn delay_ms(&self, load: f64, capacity: f64) -> f64 {
        if capacity <= 0.0 {
            return 0.0;
        }
        let u = (load / capacity).clamp(0.0, Self::MAX_UTILISATION);
        self.service_ms * u / (1.0 - u)
    }
}

/// Everything the advisor is told besides the world.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The percentile whose demand-weighted mean is minimised.
    pub percentile: Percentile,
    /// Fraction of each region's capacity kept free (0.1: use at most 90%).
    pub headroom: f64,
    pub drain: Vec<String>,
    pub drain_mode: DrainMode,
    /// Most of total demand one plan may move (0.25 = 25%); `None`: no limit.
    pub max_change: Option<f64>,
    /// A plan replaces today's routing only if it improves demand-weighted
    /// latency by at least this much (unless today's routing breaks a constraint).
    pub min_improvement_ms: f64,
    /// Cost per unit of moved traffic in the LP: a geo moves only if that
    /// gains at least this much, so noise in the data does not shuffle it.
    pub min_move_ms: f64,
    pub queue: Option<QueueModel>,
    /// Share of a primary's load its backup must be able to absorb on top of
    /// its own (N+1): 1 = all of it, 0 = ignore backups.
    pub failover_share: f64,
    /// Largest one-region-per-geo problem (binary variables) solved exactly.
    pub milp_max_binaries: usize,
    pub milp_time_limit_s: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            percentile: Percentile::P50,
            headroom: 0.1,
            drain: Vec::new(),
            drain_mode: DrainMode::NoNew,
            max_change: None,
            min_improvement_ms: 1.0,
            min_move_ms: 1.0,
            queue: None,
            failover_share: 0.0,
            milp_max_binaries: 400,
            milp_time_limit_s: 10.0,
        }
    }
}

impl Options {
    fn check(&self) -> Result<(), AdviseError> {
        let bad = |flag, problem: String| Err(AdviseError::Option { flag, problem });
        if !(0.0..1.0).contains(&self.headroom) {
            return bad("--headroom", format!("{} is not in 0..1", self.headroom));
        }
        if let Some(m) = self.max_change
            && !(m > 0.0 && m <= 1.0)
        {
            return bad("--max-change", format!("{m} is not in (0, 1]"));
        }
        for (flag, v) in [
            ("--min-improvement-ms", self.min_improvement_ms),
            ("--min-move-ms", self.min_move_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(flag, format!("{v} must be a non-negative number"));
            }
        }
        if !(0.0..=1.0).contains(&self.failover_share) {
            return bad(
                "--failover-share",
                format!("{} is not in 0..1", self.failover_share),
            );
        }
        if let Some(q) = self.queue
            && !(q.service_ms.is_finite() && q.service_ms > 0.0)
        {
            return bad("--service-ms", format!("{} must be positive", q.service_ms));
        }
        Ok(())
    }
}

/// Why a geo may not use a region (or may, up to a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Open,
    /// Excluded by the world's latency SLO.
    Slo,
    /// Draining: closed (`Empty`) or capped at today's share (`NoNew`).
    Drain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeoInfo {
    pub id: String,
    pub demand: f64,
    pub continent: String,
    pub country: Option<String>,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    pub id: String,
    pub capacity: f64,
    pub usable: f64,
    pub backup: Option<usize>,
    pub draining: bool,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub geos: Vec<GeoInfo>,
    pub regions: Vec<RegionInfo>,
    /// Latency at the objective percentile, `[geo][region]` ms.
    pub latency: Vec<Vec<f64>>,
    pub p50: Vec<Vec<f64>>,
    pub p99: Vec<Vec<f64>>,
    pub admission: Vec<Vec<Admission>>,
    /// Most of each geo's traffic each region may take (0 = excluded).
    pub upper: Shares,
    pub current: Shares,
    pub total_demand: f64,
    pub options: Options,
    pub slo: Option<SloBound>,
}

/// The world's SLO with each pair's latency at its percentile, kept for
/// explanations ("p50 300 ms > SLO 250 ms").
#[derive(Debug, Clone, PartialEq)]
pub struct SloBound {
    pub percentile: Percentile,
    pub max_ms: f64,
    pub latency: Vec<Vec<f64>>,
}

impl Problem {
    pub fn build(world: &World, options: &Options) -> Result<Problem, AdviseError> {
        options.check()?;
        for d in &options.drain {
            if world.region_index(d).is_none() {
                return Err(AdviseError::UnknownRegion(d.clone()));
            }
        }
        let regions: Vec<RegionInfo> = world
            .regions
            .iter()
            .map(|r| RegionInfo {
                id: r.id.clone(),
                capacity: r.capacity_rps,
                usable: r.capacity_rps * (1.0 - options.headroom),
                backup: r.backup.as_deref().and_then(|b| world.region_index(b)),
                draining: options.drain.contains(&r.id),
                lat: r.lat,
                lon: r.lon,
            })
            .collect();
        let at = |p: Percentile| -> Vec<Vec<f64>> {
            world
                .geos
                .iter()
                .map(|g| {
                    world
                        .regions
                        .iter()
                        .map(|r| g.latency_ms.get(&r.id).map_or(f64::INFINITY, |l| l.at(p)))
                        .collect()
                })
                .collect()
        };
        let slo = world.slo.as_ref().map(|s| SloBound {
            percentile: s.percentile,
            max_ms: s.max_ms,
            latency: at(s.percentile),
        });
        let current = current_shares(world);
        let mut admission = Vec::with_capacity(world.geos.len());
        let mut upper = Vec::with_capacity(world.geos.len());
        for (g, today) in current.iter().enumerate() {
            let mut adm = Vec::with_capacity(regions.len());
            let mut up = Vec::with_capacity(regions.len());
            for (r, region) in regions.iter().enumerate() {
                let slo_ok = slo.as_ref().is_none_or(|s| s.latency[g][r] <= s.max_ms);
                let (a, u) = if !slo_ok {
                    (Admission::Slo, 0.0)
                } else if region.draining {
                    let cap = match options.drain_mode {
                        DrainMode::NoNew => today[r],
                        DrainMode::Empty => 0.0,
                    };
                    (Admission::Drain, cap)
                } else {
                    (Admission::Open, 1.0)
                };
                adm.push(a);
                up.push(u);
            }
            admission.push(adm);
            upper.push(up);
        }
        let geos: Vec<GeoInfo> = world
            .geos
            .iter()
            .map(|g| GeoInfo {
                id: g.id.clone(),
                demand: g.demand_rps,
                continent: g.continent.clone(),
                country: g.country.clone(),
                lat: g.lat,
                lon: g.lon,
            })
            .collect();
        Ok(Problem {
            total_demand: geos.iter().map(|g| g.demand).sum(),
            geos,
            regions,
            latency: at(options.percentile),
            p50: at(Percentile::P50),
            p99: at(Percentile::P99),
            admission,
            upper,
            current,
            options: options.clone(),
            slo,
        })
    }

    pub fn geo_count(&self) -> usize {
        self.geos.len()
    }

    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    /// Regions this geo may send anything to.
    pub fn admissible(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.region_count()).filter(move |&r| self.upper[g][r] > 0.0)
    }

    /// `shares` as a `Routing`, fractions rounded to 1e-6 and still summing
    /// to 1 per geo, so a plan fed back as today's routing validates.
    pub fn to_routing(&self, shares: &Shares) -> Routing {
        self.geos
            .iter()
            .zip(shares)
            .map(|(g, row)| {
                let mut split: Vec<(usize, f64)> = row
                    .iter()
                    .enumerate()
                    .map(|(r, f)| (r, (f * 1e6).round() / 1e6))
                    .filter(|(_, f)| *f > 0.0)
                    .collect();
                let sum: f64 = split.iter().map(|(_, f)| f).sum();
                if let Some(big) = split.iter_mut().max_by(|a, b| a.1.total_cmp(&b.1)) {
                    big.1 = ((big.1 + 1.0 - sum) * 1e6).round() / 1e6;
                }
                let split = split
                    .into_iter()
                    .map(|(r, f)| (self.regions[r].id.clone(), f))
                    .collect();
                (g.id.clone(), split)
            })
            .collect()
    }
}

/// Today's routing as dense shares; a geo the routing leaves out goes to
/// its lowest-p50 region, as when the world has no routing at all.
fn current_shares(world: &World) -> Shares {
    let routing = world.current_routing();
    world
        .geos
        .iter()
        .map(|g| {
            let mut row = vec![0.0; world.regions.len()];
            match routing.get(&g.id) {
                Some(split) => {
                    for (region, f) in split {
                        if let Some(r) = world.region_index(region) {
                            row[r] += f;
                        }
                    }
                }
                None => {
                    let best = (0..world.regions.len()).min_by(|&a, &b| {
                        let l = |r: usize| g.latency_ms[&world.regions[r].id].p50;
                        l(a).total_cmp(&l(b))
                    });
                    if let Some(b) = best {
                        row[b] = 1.0;
                    }
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A world from `(demand, [latency per region])` rows and capacities;
    /// regions are `r0..`, geos `g0..`, all in one continent, no country.
    pub fn world(geos: &[(f64, &[f64])], capacity: &[f64]) -> World {
        let regions: Vec<serde_json::Value> = capacity
            .iter()
            .enumerate()
            .map(|(i, c)| serde_json::json!({"id": format!("r{i}"), "lat": 0, "lon": i, "capacity_rps": c}))
            .collect();
        let geos: Vec<serde_json::Value> = geos
            .iter()
            .enumerate()
            .map(|(i, (d, lat))| {
                let l: serde_json::Map<String, serde_json::Value> = lat
                    .iter()
                    .enumerate()
                    .map(|(r, ms)| {
                        (
                            format!("r{r}"),
                            serde_json::json!({"p50": ms, "p99": ms * 2.0}),
                        )
                    })
                    .collect();
                serde_json::json!({"id": format!("g{i}"), "continent": "EU", "lat": 1, "lon": i,
                    "demand_rps": d, "latency_ms": l})
            })
            .collect();
        let v = serde_json::json!({"format": "geolat-world/1", "regions": regions, "geos": geos});
        World::from_json(&serde_json::to_vec(&v).unwrap(), "test").unwrap()
    }

    #[test]
    fn slo_and_drain_set_upper_bounds() {
        let mut w = world(&[(10.0, &[10.0, 300.0])], &[100.0, 100.0]);
        w.slo = Some(crate::world::Slo {
            percentile: Percentile::P50,
            max_ms: 100.0,
        });
        let o = Options {
            drain: vec!["r0".into()],
            ..Options::default()
        };
        let p = Problem::build(&w, &o).unwrap();
        assert_eq!(p.admission[0], vec![Admission::Drain, Admission::Slo]);
        // No-new drain keeps today's share as the cap.
        assert_eq!(p.upper[0], vec![1.0, 0.0]);
        let o = Options {
            drain_mode: DrainMode::Empty,
            ..o
        };
        assert_eq!(Problem::build(&w, &o).unwrap().upper[0], vec![0.0, 0.0]);
    }

    #[test]
    fn bad_options_name_their_flag() {
        let w = world(&[(10.0, &[10.0])], &[100.0]);
        let cases = [
            (
                Options {
                    headroom: 1.0,
                    ..Options::default()
                },
                "--headroom",
            ),
            (
                Options {
                    max_change: Some(0.0),
                    ..Options::default()
                },
                "--max-change",
            ),
            (
                Options {
                    drain: vec!["nope".into()],
                    ..Options::default()
                },
                "--drain nope",
            ),
        ];
        for (o, needle) in cases {
            let e = Problem::build(&w, &o).unwrap_err().to_string();
            assert!(e.starts_with(needle), "{e}");
        }
    }

    #[test]
    fn routing_rounds_but_still_sums_to_one() {
        let w = world(&[(1.0, &[1.0, 2.0, 3.0])], &[10.0, 10.0, 10.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        let r = p.to_routing(&vec![vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]]);
        let sum: f64 = r["g0"].values().sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    }
}
