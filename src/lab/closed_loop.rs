//! The whole loop on one machine: probe every geo, store the windows,
//! analyze them, advise, apply the plan to the lab's routing, probe again,
//! and compare. The same stages and interfaces as production; only the
//! control plane and the network are emulated.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::world::{WorldLab, WorldLabError, geo_nearest_routing};
use crate::advise::{self, Endpoints, Options, Plan, QueueModel, unload::unload};
use crate::analyze::{self, Analysis, Scope, Strictness};
use crate::probe::record::Phase;
use crate::routing::RoutingState;
use crate::store::Store;
use crate::world::World;
use crate::world::topology::{Topology, TopologyGeo};

/// Queueing in the lab: 0.2 ms of service time per request, so a region
/// at 90% of capacity adds 1.8 ms and an overloaded one up to 200 ms.
pub const LAB_QUEUE: QueueModel = QueueModel { service_ms: 0.2 };

#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Fresh-connection samples per geo and target in each round.
    pub samples: u32,
    /// Regions made slower by a factor (a degraded region).
    pub degrade: HashMap<String, f64>,
    pub advise: Options,
    /// The phase latency is compared on.
    pub phase: Phase,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            samples: 4,
            degrade: HashMap::new(),
            advise: Options {
                queue: Some(LAB_QUEUE),
                ..Options::default()
            },
            phase: Phase::Warm,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Lab(#[from] WorldLabError),
    #[error("storing a window")]
    Store(#[from] crate::store::StoreError),
    #[error("analysis")]
    Analyze(#[from] analyze::AnalyzeError),
    #[error("building the measured world")]
    ToWorld(#[from] analyze::ToWorldError),
    #[error("advice")]
    Advise(#[from] advise::AdviseError),
    #[error("applying the plan")]
    Routing(#[from] crate::routing::RoutingError),
    #[error("stopped before the loop finished")]
    Stopped,
}

/// One geo before and after the plan.
#[derive(Debug, Clone)]
pub struct GeoOutcome {
    pub geo: String,
    pub demand_rps: f64,
    pub before_regions: BTreeMap<String, f64>,
    pub after_regions: BTreeMap<String, f64>,
    /// p50 (ms) of the regions the geo was served by, weighted by share.
    pub before_ms: Option<f64>,
    pub after_ms: Option<f64>,
}

#[derive(Debug)]
pub struct LoopReport {
    pub geos: Vec<GeoOutcome>,
    pub plan: Plan,
    pub before: Analysis,
    pub after: Analysis,
    /// Demand-weighted p50 (ms) over geos measured in both rounds.
    pub before_ms: f64,
    pub after_ms: f64,
    pub seconds: f64,
    /// The machine's own noise: how late a 1 ms timer fires (p90, ms),
    /// measured before probing.
    pub noise_floor_ms: f64,
    /// Probe rounds taken before advising.
    pub rounds: usize,
    /// Set when the machine was too busy for the figures to mean much:
    /// what was taken though not measured well enough.
    pub busy: Option<String>,
}

/// The topology of a world: everything but the latency.
pub fn topology_of(world: &World) -> Topology {
    Topology {
        format: crate::world::topology::FORMAT.to_owned(),
        name: world.name.clone(),
        description: world.description.clone(),
        regions: world.regions.clone(),
        geos: world
            .geos
            .iter()
            .map(|g| TopologyGeo {
                id: g.id.clone(),
                name: g.name.clone(),
                continent: g.continent.clone(),
                country: g.country.clone(),
                lat: g.lat,
                lon: g.lon,
                demand_rps: g.demand_rps,
            })
            .collect(),
        slo: world.slo.clone(),
    }
}

/// Most probe rounds taken to measure every geo x region pair well
/// enough before advising (a busy machine widens intervals); each spreads
/// its attempts over twice as long as the one before, with half as many
/// at once. After the last, the loop advises on what it has and says so.
const MAX_ROUNDS: usize = 3;

/// A 1 ms timer firing later than this (p90) means the machine is busy:
/// its scheduling noise is then of the order of the lab's differences.
const BUSY_FLOOR_MS: f64 = 2.0;

/// How late a 1 ms sleep wakes up (p90 over 50, ms): the machine's own
/// noise floor, which every lab measurement carries.
async fn noise_floor_ms() -> f64 {
    let mut late: Vec<f64> = Vec::with_capacity(50);
    for _ in 0..50 {
        let start = Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        late.push((start.elapsed().as_secs_f64() * 1000.0 - 1.0).max(0.0));
    }
    late.sort_by(f64::total_cmp);
    late[late.len() * 9 / 10]
}

/// Runs one probe round from every geo into `store` and analyzes every
/// window since `since` (earlier rounds of the same phase included).
async fn round(
    lab: &WorldLab,
    store: &Store,
    opts: &LoopOptions,
    since: chrono::DateTime<Utc>,
    slowdown: u32,
    stop: &CancellationToken,
) -> Result<Analysis, LoopError> {
    let windows = lab.probe_round(opts.samples, slowdown, stop).await?;
    if stop.is_cancelled() {
        return Err(LoopError::Stopped);
    }
    for w in &windows {
        store.put_window(w).await?;
    }
    let now = Utc::now();
    let scope = Scope {
        store: store.url().to_owned(),
        since,
        until: now + chrono::Duration::milliseconds(1),
        now,
        phase: opts.phase,
    };
    Ok(analyze::analyze(store, scope).await?)
}

/// The routing state that carries a plan: its Route 53 weights per geo and
/// its accelerator dials.
pub fn routing_of(plan: &Plan) -> RoutingState {
    RoutingState {
        dns: plan.weighted.clone(),
        accelerator: plan
            .accelerator
            .iter()
            .map(|(r, a)| (r.clone(), a.traffic_dial))
            .collect(),
    }
}

/// Runs the loop: rounds under today's routing into `store`, the round
/// after the plan into `after_store` (the same store is fine when nothing
/// will read the windows again).
pub async fn run(
    world: World,
    opts: &LoopOptions,
    store: &Store,
    after_store: &Store,
    stop: &CancellationToken,
) -> Result<LoopReport, LoopError> {
    let started = Instant::now();
    let noise_floor_ms = noise_floor_ms().await;
    let initial = geo_nearest_routing(&world);
    let topology = topology_of(&world);
    let lab = WorldLab::start(world, &opts.degrade, opts.advise.queue, &initial).await?;
    let result = async {
        // Probe until every geo x region pair is measured well enough to
        // advise on (analysis refuses to state thin cells as fact), each
        // round gentler than the last; then advise on what there is, and
        // say what was not measured well.
        let since = Utc::now();
        let mut rounds = 0;
        let (before, measured, wide) = loop {
            rounds += 1;
            let slowdown = 1 << (rounds - 1);
            let before = round(&lab, store, opts, since, slowdown, stop).await?;
            let provenance = vec![format!(
                "geolat lab, {rounds} probe round(s) to {}",
                before.generated_at.to_rfc3339()
            )];
            let strictness = if rounds < MAX_ROUNDS {
                Strictness::Strict
            } else {
                Strictness::Indicative
            };
            match analyze::to_world_as(
                &before.matrix,
                &topology,
                opts.phase,
                provenance,
                strictness,
            ) {
                Ok((w, wide)) => break (before, w, wide),
                Err(e) if rounds < MAX_ROUNDS => tracing::info!(%e, "measuring another round"),
                Err(e) => return Err(e.into()),
            }
        };
        let measured = match &opts.advise.queue {
            Some(q) => unload(&measured, q),
            None => measured,
        };
        let advice = advise::advise(&measured, &opts.advise, &Endpoints::default())?;
        let plan = advise::plan::build(&advice, "lab");
        lab.apply(&routing_of(&plan)).await?;
        // As gently as the last round before: the two compare like with like.
        let slowdown = 1 << (rounds - 1);
        let after = round(&lab, after_store, opts, Utc::now(), slowdown, stop).await?;
        Ok::<_, LoopError>((before, plan, after, rounds, wide))
    }
    .await;
    lab.shutdown().await;
    let (before, plan, after, rounds, wide) = result?;
    let busy = (!wide.is_empty() || noise_floor_ms > BUSY_FLOOR_MS).then(|| {
        let mut why = format!(
            "a 1 ms timer fired {noise_floor_ms:.1} ms late (p90) on this machine"
        );
        if !wide.is_empty() {
            why.push_str(&format!(
                "; after {rounds} rounds {} pair(s) were still too spread to state as fact and were taken anyway: {}",
                wide.len(),
                wide.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        why
    });
    let (geos, before_ms, after_ms) = compare(&topology, &before, &after);
    Ok(LoopReport {
        geos,
        plan,
        before,
        after,
        before_ms,
        after_ms,
        seconds: started.elapsed().as_secs_f64(),
        noise_floor_ms,
        rounds,
        busy,
    })
}

/// Per-geo outcomes and the demand-weighted p50 before and after, over the
/// geos both rounds could measure.
fn compare(
    topology: &Topology,
    before: &Analysis,
    after: &Analysis,
) -> (Vec<GeoOutcome>, f64, f64) {
    let summary = |a: &Analysis, geo: &str| a.geos.iter().find(|s| s.geo == geo).cloned();
    let mut outcomes = Vec::new();
    let (mut weight, mut sum_before, mut sum_after) = (0.0, 0.0, 0.0);
    for g in &topology.geos {
        let (b, a) = (summary(before, &g.id), summary(after, &g.id));
        let regions = |s: &Option<analyze::geo::GeoSummary>| {
            s.as_ref()
                .and_then(|s| s.today_path.and_then(|p| s.served_by.get(&p)))
                .map(|served| served.fractions.clone())
                .unwrap_or_default()
        };
        let ms = |s: &Option<analyze::geo::GeoSummary>| {
            s.as_ref()
                .and_then(|s| s.today.as_ref())
                .map(|t| t.p50_us / 1000.0)
        };
        let outcome = GeoOutcome {
            geo: g.id.clone(),
            demand_rps: g.demand_rps,
            before_regions: regions(&b),
            after_regions: regions(&a),
            before_ms: ms(&b),
            after_ms: ms(&a),
        };
        if let (Some(x), Some(y)) = (outcome.before_ms, outcome.after_ms) {
            weight += g.demand_rps;
            sum_before += g.demand_rps * x;
            sum_after += g.demand_rps * y;
        }
        outcomes.push(outcome);
    }
    let mean = |s: f64| if weight > 0.0 { s / weight } else { f64::NAN };
    (outcomes, mean(sum_before), mean(sum_after))
}
