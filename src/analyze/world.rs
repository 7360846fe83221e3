//! Measurements + topology -> the [`World`] the advisor reads, so advice
//! works the same on measured data as on a world file.
//!
//! Latency between a geo and a region is the direct path's cell at the
//! chosen phase (milliseconds: p50, and p90/p99 only where their interval
//! is bounded; `min`); today's routing is the served-by fractions of the
//! Route 53 path, else the accelerator's. Nothing is invented: a topology
//! geo or region without a sufficient measurement is an error that names
//! every missing pair, and a percentile the samples cannot bound is left
//! out (the advisor then falls back to the next lower one, which
//! under-states the tail rather than making one up).

use std::collections::BTreeMap;

use super::geo::{ROUTED, served};
use super::matrix::{Cell, Matrix};
use crate::config::PathKind;
use crate::probe::record::Phase;
use crate::world::topology::Topology;
use crate::world::{Latency, Routing, World};

/// Pairs named in one error message before "and N more".
const NAMED_MAX: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum ToWorldError {
    #[error(
        "no sufficient direct {phase} measurements for {count} geo x region pair(s) of the topology: {pairs}"
    )]
    Missing {
        phase: Phase,
        count: usize,
        pairs: String,
    },
    #[error(
        "geo `{geo}`: today's routing sends {share:.0}% of answers to `{region}`, which is not a topology region"
    )]
    UnknownServedRegion {
        geo: String,
        region: String,
        share: f64,
    },
    #[error(
        "routing is measured for some geos but not for {count}: {geos} (probe Route 53 or the accelerator from them too)"
    )]
    PartialRouting { count: usize, geos: String },
}

/// How well a cell must be measured to enter the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Only sufficient cells (enough samples, a narrow p50 interval).
    Strict,
    /// Also cells with enough samples whose interval is too wide to state
    /// as fact: for a result on a machine too busy to measure well, with
    /// every such cell named.
    Indicative,
}

/// Builds a world from `topology` and the matrix's direct cells at `phase`.
pub fn to_world(
    matrix: &Matrix,
    topology: &Topology,
    phase: Phase,
    provenance: Vec<String>,
) -> Result<World, ToWorldError> {
    to_world_as(matrix, topology, phase, provenance, Strictness::Strict).map(|(w, _)| w)
}

/// [`to_world`] at a chosen strictness; also the cells taken though
/// their interval is too wide (`geo -> region (why)`), only ever with
/// [`Strictness::Indicative`].
pub fn to_world_as(
    matrix: &Matrix,
    topology: &Topology,
    phase: Phase,
    provenance: Vec<String>,
    strictness: Strictness,
) -> Result<(World, Vec<String>), ToWorldError> {
    let mut latency: BTreeMap<String, BTreeMap<String, Latency>> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut wide = Vec::new();
    for g in &topology.geos {
        for r in &topology.regions {
            match matrix.cell(&g.id, PathKind::Direct, &r.id, phase) {
                Some(c)
                    if c.sufficient()
                        || (strictness == Strictness::Indicative
                            && c.percentiles.is_some()
                            && c.samples >= super::estimate::MIN_SAMPLES) =>
                {
                    if let Some(why) = &c.insufficient {
                        wide.push(format!("{} -> {} ({why})", g.id, r.id));
                    }
                    if let Some(l) = latency_ms(c) {
                        latency
                            .entry(g.id.clone())
                            .or_default()
                            .insert(r.id.clone(), l);
                    }
                }
                Some(c) => missing.push(format!(
                    "{} -> {} ({})",
                    g.id,
                    r.id,
                    c.insufficient.as_deref().unwrap_or("no percentiles")
                )),
                None => missing.push(format!("{} -> {} (no samples)", g.id, r.id)),
            }
        }
    }
    if !missing.is_empty() {
        return Err(ToWorldError::Missing {
            phase,
            count: missing.len(),
            pairs: named(&missing),
        });
    }
    let routing = routing(matrix, topology)?;
    Ok((
        topology.clone().into_world(latency, routing, provenance),
        wide,
    ))
}

fn latency_ms(c: &Cell) -> Option<Latency> {
    let p = c.percentiles.as_ref()?;
    let ms = |us: u64| us as f64 / 1000.0;
    let p90 = p.p90.bounded().then(|| ms(p.p90.value_us));
    Some(Latency {
        p50: ms(p.p50.value_us),
        p90,
        // Keep the ladder min <= p50 <= p90 <= p99 without gaps.
        p99: p90.and(p.p99.bounded().then(|| ms(p.p99.value_us))),
        min: c.min_us.map(ms),
    })
}

/// Today's routing per geo, or `None` when no geo probed a routed path.
fn routing(matrix: &Matrix, topology: &Topology) -> Result<Option<Routing>, ToWorldError> {
    let mut routing = Routing::new();
    let mut unrouted = Vec::new();
    for g in &topology.geos {
        let Some(s) = ROUTED.iter().find_map(|&p| served(matrix, &g.id, p)) else {
            unrouted.push(g.id.clone());
            continue;
        };
        if let Some((region, share)) = s
            .fractions
            .iter()
            .find(|(r, _)| !topology.regions.iter().any(|t| &t.id == *r))
        {
            return Err(ToWorldError::UnknownServedRegion {
                geo: g.id.clone(),
                region: region.clone(),
                share: share * 100.0,
            });
        }
        routing.insert(g.id.clone(), s.fractions);
    }
    if routing.is_empty() {
        return Ok(None);
    }
    if !unrouted.is_empty() {
        return Err(ToWorldError::PartialRouting {
            count: unrouted.len(),
            geos: named(&unrouted),
        });
    }
    Ok(Some(routing))
}

fn named(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(NAMED_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(NAMED_MAX) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
