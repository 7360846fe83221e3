//! A measured world: the windows a store holds for a range, analyzed and
//! joined with a topology, as `advise` and `report` plan on it.

use chrono::{DateTime, Utc};

use super::world::{Strictness, ToWorldError, to_world_as};
use super::{Analysis, AnalyzeError, Scope, analyze};
use crate::config::PathKind;
use crate::store::Store;
use crate::world::World;
use crate::world::topology::Topology;

/// What a range of a store measured, as a world.
pub struct MeasuredWorld {
    pub world: World,
    pub analysis: Analysis,
    /// Cells taken though their interval is too wide (`geo -> region (why)`),
    /// only with [`Strictness::Indicative`].
    pub wide: Vec<String>,
    /// Direct-path cells of the planned phase between the topology's geos
    /// and regions that had too few samples to be significant.
    pub thin_cells: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasuredError {
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error("{store} holds no windows since {since} ({read} read)")]
    NoWindows {
        store: String,
        since: String,
        read: u64,
    },
    #[error(transparent)]
    ToWorld(#[from] ToWorldError),
}

/// Analyzes `store`'s windows in `scope` and builds the world `topology`
/// describes from their direct cells at `scope.phase`.
pub async fn measured_world(
    store: &Store,
    scope: Scope,
    topology: &Topology,
    strictness: Strictness,
) -> Result<MeasuredWorld, MeasuredError> {
    let analysis = analyze(store, scope).await?;
    measured_from(analysis, topology, strictness)
}

/// The world `topology` describes from an analysis's direct cells at its
/// phase (an analysis already read, sliced or not).
pub fn measured_from(
    analysis: Analysis,
    topology: &Topology,
    strictness: Strictness,
) -> Result<MeasuredWorld, MeasuredError> {
    let Measured {
        world,
        wide,
        thin_cells,
    } = world_of(&analysis, topology, strictness)?;
    Ok(MeasuredWorld {
        world,
        analysis,
        wide,
        thin_cells,
    })
}

/// [`MeasuredWorld`] without the analysis it came from.
pub struct Measured {
    pub world: World,
    pub wide: Vec<String>,
    pub thin_cells: u64,
}

/// [`measured_from`] for a caller that keeps its analysis (the dashboard,
/// every refresh): nothing is cloned.
pub fn world_of(
    analysis: &Analysis,
    topology: &Topology,
    strictness: Strictness,
) -> Result<Measured, MeasuredError> {
    let (url, since, phase) = (&analysis.store, analysis.since, analysis.phase);
    if analysis.windows.merged == 0 {
        return Err(MeasuredError::NoWindows {
            store: url.clone(),
            since: rfc3339(since),
            read: analysis.windows.read,
        });
    }
    let provenance = vec![format!(
        "measured: {} windows in {url} since {}, phase {phase}",
        analysis.windows.merged,
        since.to_rfc3339()
    )];
    let (world, wide) = to_world_as(&analysis.matrix, topology, phase, provenance, strictness)?;
    let thin_cells = analysis
        .matrix
        .cells
        .iter()
        .filter(|c| {
            c.phase == phase
                && c.path == PathKind::Direct
                && c.insufficient.is_some()
                && world.geos.iter().any(|g| g.id == c.geo)
                && world.regions.iter().any(|r| r.id == c.region)
        })
        .count() as u64;
    Ok(Measured {
        world,
        wide,
        thin_cells,
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
