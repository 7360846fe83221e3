//! What the dashboard shows, read from the store in one go: the range's
//! analysis (every geo x region x path x phase cell), the same range cut
//! into slices (percentiles over time), the advice as a report (with a
//! topology) and the recent audit history. The only I/O of the dashboard
//! besides the terminal; it runs on its own task, never in the draw loop.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::advise::policy::Endpoints;
use crate::advise::unload::unload;
use crate::advise::{self, Options};
use crate::analyze::{self, Analysis, Scope, Slice, Strictness};
use crate::apply::audit::{self, AuditRecord};
use crate::apply::plan::Evidence;
use crate::probe::record::Phase;
use crate::report::{self, Report};
use crate::routing::{RoutingControl, RoutingState};
use crate::store::Store;
use crate::world::topology::Topology;

/// Slices the range is cut into for percentiles over time.
pub const SLICES: u32 = 12;
/// Audit records kept, newest first.
pub const AUDIT_SHOWN: usize = 20;

/// One read of the store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub loaded_at: DateTime<Utc>,
    pub analysis: Analysis,
    /// The range in [`SLICES`] equal parts, oldest first.
    pub slices: Vec<Slice>,
    /// The advice as `geolat report` models it, or why there is none
    /// (no topology given, too little data to plan on).
    pub advice: Result<Report, String>,
    /// Newest first, at most [`AUDIT_SHOWN`].
    pub audit: Vec<AuditRecord>,
    /// Today's routing read from AWS (with `--aws`), or why it could not be.
    pub routing: Option<Result<RoutingState, String>>,
    /// The topology's geos, by id (empty without one).
    pub geos: BTreeMap<String, GeoInfo>,
}

/// What the topology says of a geo.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoInfo {
    pub name: String,
    pub continent: String,
    /// Its share of all the topology's demand.
    pub share: f64,
}

/// Where and how to read.
pub struct Source {
    pub store: Store,
    pub url: String,
    /// How far back from each refresh.
    pub range: TimeDelta,
    /// The phase the advice plans on.
    pub phase: Phase,
    pub topology: Option<Topology>,
    pub options: Options,
    pub endpoints: Endpoints,
    pub strictness: Strictness,
    /// Where today's routing is read (dials, weights), when given.
    pub routing: Option<Arc<dyn RoutingControl>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Analyze(#[from] analyze::AnalyzeError),
    #[error("audit history: {0}")]
    Audit(#[from] audit::AuditError),
}

/// Reads the range ending at `now`.
pub async fn load(source: &Source, now: DateTime<Utc>) -> Result<Arc<Snapshot>, LoadError> {
    let scope = Scope {
        store: source.url.clone(),
        since: now - source.range,
        until: now,
        now,
        phase: source.phase,
    };
    let (analysis, slices) = analyze::analyze_sliced(&source.store, scope, SLICES).await?;
    let (mut records, _unreadable) = audit::list(&source.store).await?;
    records.reverse();
    records.truncate(AUDIT_SHOWN);
    let routing = match &source.routing {
        None => None,
        Some(control) => Some(control.read().await.map_err(|e| e.to_string())),
    };
    Ok(Arc::new(assemble(
        source, analysis, slices, records, routing, now,
    )))
}

/// The snapshot from what was read: the advice derived, nothing read.
pub fn assemble(
    source: &Source,
    analysis: Analysis,
    slices: Vec<Slice>,
    audit: Vec<AuditRecord>,
    routing: Option<Result<RoutingState, String>>,
    now: DateTime<Utc>,
) -> Snapshot {
    let advice = match &source.topology {
        None => Err("no plan: give --topology FILE (regions, capacities, demand) to advise".into()),
        Some(t) => advice(source, t, &analysis, now),
    };
    let geos = source.topology.as_ref().map_or_else(BTreeMap::new, |t| {
        let demand: f64 = t.geos.iter().map(|g| g.demand_rps).sum();
        t.geos
            .iter()
            .map(|g| {
                let info = GeoInfo {
                    name: g.name.clone(),
                    continent: g.continent.clone(),
                    share: if demand > 0.0 {
                        g.demand_rps / demand
                    } else {
                        0.0
                    },
                };
                (g.id.clone(), info)
            })
            .collect()
    });
    Snapshot {
        loaded_at: now,
        analysis,
        slices,
        advice,
        audit,
        routing,
        geos,
    }
}

/// The range's advice as a report, or why there is none.
fn advice(
    source: &Source,
    topology: &Topology,
    analysis: &Analysis,
    now: DateTime<Utc>,
) -> Result<Report, String> {
    let measured = analyze::world_of(analysis, topology, source.strictness)
        .map_err(|e| format!("no plan: {e}"))?;
    let world = match &source.options.queue {
        Some(q) => unload(&measured.world, q),
        None => measured.world,
    };
    let advice = advise::advise(&world, &source.options, &source.endpoints)
        .map_err(|e| format!("no plan: {e}"))?;
    let mut plan = advise::plan::build(&advice, &world.name);
    plan.evidence = Some(Evidence {
        measured_until: now,
        windows: analysis.windows.merged,
        thin_cells: measured.thin_cells,
    });
    Ok(report::build(&report::Input {
        world: &world,
        plan: &plan,
        source: &source.url,
        analysis: Some(analysis),
        commands: Vec::new(),
        slices: &[],
    }))
}
