//! The latency matrix: decoded windows folded, one at a time, into one
//! merged histogram per geo x region x path x phase, then summarised into
//! cells with percentiles, confidence intervals and error rates.
//!
//! Folding keeps only the accumulators (a sparse histogram per cell and two
//! counters per target group), so memory follows the number of cells, never
//! the number of windows or samples, and folding in any order gives the same
//! matrix (merging adds counts).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::decode::{DecodeError, DecodedWindow, WindowDecoder};
use super::estimate::{Percentiles, insufficient};
use super::hist::{Accumulator, SparseHistogram};
use crate::config::PathKind;
use crate::probe::record::{ErrorClass, Phase};
use crate::window::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CellKey {
    geo: u32,
    path: PathKind,
    region: u32,
    phase: Phase,
}

/// Direct targets per region; routed targets per path (`region: None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GroupKey {
    geo: u32,
    path: PathKind,
    region: Option<u32>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// Paths x phases: the cells one geo has towards one region.
const SLOTS: usize = 3 * Phase::ALL.len();

/// Accumulates windows into the matrix.
#[derive(Debug, Default)]
pub struct MatrixBuilder {
    geos: Interner,
    regions: Interner,
    cells: Vec<(CellKey, Accumulator)>,
    /// `slots[geo][region][path * 6 + phase]`: 1 + the cell's index in
    /// `cells`, 0 for none. Direct indexing instead of hashing a key for
    /// each of the fifty-odd series of every window.
    slots: Vec<Vec<[u32; SLOTS]>>,
    groups: HashMap<GroupKey, Tally>,
}

impl MatrixBuilder {
    /// Folds one window in.
    pub fn add(&mut self, w: &DecodedWindow) {
        let geo = self.geos.id(&w.geo);
        let regions: Vec<u32> = w.regions.iter().map(|r| self.regions.id(r)).collect();
        for part in &w.parts {
            let key = CellKey {
                geo,
                path: part.path,
                region: regions[part.region],
                phase: part.phase,
            };
            let cell = self.cell(key);
            self.cells[cell].1.add(&w.buckets[part.buckets.clone()]);
        }
        for o in &w.outcomes {
            let key = GroupKey {
                geo,
                path: o.path,
                region: o.region.map(|r| regions[r]),
            };
            let g = self.groups.entry(key).or_default();
            g.add(o.attempts, o.errors, o.classes.iter().copied());
        }
    }

    /// Folds in a builder that folded other windows (of other probes, or
    /// other times): the result is what one builder folding both would hold.
    pub fn merge(&mut self, other: MatrixBuilder) {
        let geos: Vec<u32> = other.geos.names.iter().map(|g| self.geos.id(g)).collect();
        let regions: Vec<u32> = other
            .regions
            .names
            .iter()
            .map(|r| self.regions.id(r))
            .collect();
        for (key, acc) in other.cells {
            let cell = self.cell(CellKey {
                geo: geos[key.geo as usize],
                region: regions[key.region as usize],
                ..key
            });
            self.cells[cell].1.absorb(acc);
        }
        for (key, t) in other.groups {
            let key = GroupKey {
                geo: geos[key.geo as usize],
                region: key.region.map(|r| regions[r as usize]),
                ..key
            };
            let g = self.groups.entry(key).or_default();
            g.add(t.attempts, t.errors, t.classes);
        }
    }

    /// The index of `key`'s cell in `cells`, created if new.
    fn cell(&mut self, key: CellKey) -> usize {
        let (geo, region) = (key.geo as usize, key.region as usize);
        if self.slots.len() <= geo {
            self.slots.resize_with(geo + 1, Vec::new);
        }
        let row = &mut self.slots[geo];
        if row.len() <= region {
            row.resize(region + 1, [0; SLOTS]);
        }
        let path = match key.path {
            PathKind::Direct => 0,
            PathKind::Route53 => 1,
            PathKind::Accelerator => 2,
        };
        let slot = &mut row[region][path * Phase::ALL.len() + key.phase as usize];
        if *slot == 0 {
            self.cells.push((key, Accumulator::default()));
            *slot = u32::try_from(self.cells.len()).unwrap_or(u32::MAX);
        }
        *slot as usize - 1
    }

    /// Cells holding at least one value, and the bucket entries they hold
    /// (merged and pending): what the matrix costs in memory.
    pub fn size(&self) -> (usize, usize) {
        (
            self.cells.len(),
            self.cells.iter().map(|c| c.1.size()).sum(),
        )
    }

    /// Summarises every cell.
    pub fn finish(self) -> Matrix {
        let mut keys: Vec<(CellKey, SparseHistogram)> = self
            .cells
            .into_iter()
            .map(|(k, a)| (k, a.finish()))
            .collect();
        keys.sort_by(|a, b| {
            let name = |k: &CellKey| {
                (
                    self.geos.name(k.geo),
                    k.path,
                    self.regions.name(k.region),
                    k.phase,
                )
            };
            name(&a.0).cmp(&name(&b.0))
        });
        let group = |geo: u32, path: PathKind, region: u32| {
            let region = (path == PathKind::Direct).then_some(region);
            self.groups
                .get(&GroupKey { geo, path, region })
                .map_or((0, 0), |t| (t.attempts, t.errors))
        };
        let cells = keys
            .into_iter()
            .map(|(k, h)| {
                let percentiles = Percentiles::of(&h);
                let (attempts, errors) = group(k.geo, k.path, k.region);
                Cell {
                    geo: self.geos.name(k.geo).to_owned(),
                    path: k.path,
                    region: self.regions.name(k.region).to_owned(),
                    phase: k.phase,
                    samples: h.len(),
                    insufficient: insufficient(h.len(), percentiles.as_ref().map(|p| &p.p50)),
                    min_us: h.min(),
                    max_us: h.max(),
                    percentiles,
                    attempts,
                    errors,
                    error_rate: rate(errors, attempts),
                    error_scope: if k.path == PathKind::Direct {
                        ErrorScope::Region
                    } else {
                        ErrorScope::Path
                    },
                    histogram: h,
                }
            })
            .collect();
        let mut outcomes: Vec<Outcome> = self
            .groups
            .iter()
            .map(|(k, t)| Outcome {
                geo: self.geos.name(k.geo).to_owned(),
                path: k.path,
                region: k.region.map(|r| self.regions.name(r).to_owned()),
                attempts: t.attempts,
                errors: t.errors,
                error_rate: rate(t.errors, t.attempts),
                errors_by_class: t.classes.clone(),
            })
            .collect();
        outcomes.sort_by(|a, b| (&a.geo, a.path, &a.region).cmp(&(&b.geo, b.path, &b.region)));
        Matrix { cells, outcomes }
    }
}

/// Attempts and failures of one target group, failures by class.
#[derive(Debug, Default)]
struct Tally {
    attempts: u64,
    errors: u64,
    classes: BTreeMap<ErrorClass, u64>,
}

impl Tally {
    /// Saturating: each window's counts were checked on decoding, but a
    /// long range may still sum past 2^64-1.
    fn add(
        &mut self,
        attempts: u64,
        errors: u64,
        classes: impl IntoIterator<Item = (ErrorClass, u64)>,
    ) {
        self.attempts = self.attempts.saturating_add(attempts);
        self.errors = self.errors.saturating_add(errors);
        for (class, n) in classes.into_iter().filter(|(_, n)| *n > 0) {
            let c = self.classes.entry(class).or_default();
            *c = c.saturating_add(n);
        }
    }
}

fn rate(errors: u64, attempts: u64) -> Option<f64> {
    (attempts > 0).then(|| errors as f64 / attempts as f64)
}

/// Which attempts an error rate is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorScope {
    /// The direct target of this region from this geo.
    Region,
    /// Every attempt on this routed path from this geo, whichever region
    /// it reached or would have reached.
    Path,
}

/// One geo x region x path x phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub geo: String,
    pub path: PathKind,
    pub region: String,
    pub phase: Phase,
    /// Values in the merged histogram.
    pub samples: u64,
    /// Why this cell is not to be taken as fact; absent when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insufficient: Option<String>,
    pub min_us: Option<u64>,
    pub max_us: Option<u64>,
    pub percentiles: Option<Percentiles>,
    /// Attempts and failures of the target group (see `error_scope`).
    pub attempts: u64,
    pub errors: u64,
    /// errors / attempts, where attempts = errors + successes.
    pub error_rate: Option<f64>,
    pub error_scope: ErrorScope,
    /// The merged histogram itself, for what needs more than the summary
    /// (publishing the distribution to CloudWatch). Not in the document:
    /// readers get percentiles with their confidence, not raw buckets.
    #[serde(skip)]
    pub histogram: SparseHistogram,
}

impl Cell {
    pub fn sufficient(&self) -> bool {
        self.insufficient.is_none() && self.percentiles.is_some()
    }
}

/// Attempts and failures per target group, including groups whose every
/// attempt failed (they have no latency cell).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub geo: String,
    pub path: PathKind,
    /// The direct target's region; absent for routed paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub attempts: u64,
    pub errors: u64,
    pub error_rate: Option<f64>,
    /// `errors` by class, each failed attempt once (absent with no errors).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_class: BTreeMap<ErrorClass, u64>,
}

/// Cells sorted by geo, path, region, phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Matrix {
    pub cells: Vec<Cell>,
    pub outcomes: Vec<Outcome>,
}

impl Matrix {
    /// One window summarised as if it were all an analysis had read, so
    /// what a probe publishes is keyed exactly as an analysis of its
    /// windows is: geo from the probe's geo id, region from the target or,
    /// on routed paths, from who answered.
    pub fn of_window(window: &Window) -> Result<Matrix, DecodeError> {
        let decoded = WindowDecoder::default().decode(&window.to_json()?)?;
        let mut builder = MatrixBuilder::default();
        builder.add(&decoded);
        Ok(builder.finish())
    }

    pub fn cell(&self, geo: &str, path: PathKind, region: &str, phase: Phase) -> Option<&Cell> {
        let want = (geo, path, region, phase);
        self.cells
            .binary_search_by(|c| (c.geo.as_str(), c.path, c.region.as_str(), c.phase).cmp(&want))
            .ok()
            .map(|i| &self.cells[i])
    }

    /// Every cell of one geo and path at one phase.
    pub fn row<'a>(
        &'a self,
        geo: &'a str,
        path: PathKind,
        phase: Phase,
    ) -> impl Iterator<Item = &'a Cell> + 'a {
        let start = self
            .cells
            .partition_point(|c| (c.geo.as_str(), c.path) < (geo, path));
        self.cells[start..]
            .iter()
            .take_while(move |c| c.geo == geo && c.path == path)
            .filter(move |c| c.phase == phase)
    }

    /// Geo ids in order.
    pub fn geos(&self) -> Vec<&str> {
        let mut geos: Vec<&str> = self.cells.iter().map(|c| c.geo.as_str()).collect();
        geos.extend(self.outcomes.iter().map(|o| o.geo.as_str()));
        geos.sort_unstable();
        geos.dedup();
        geos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::decode::{Outcome as Counted, Part};

    /// A window from `geo` with one direct series towards `region`.
    fn window(geo: &str, region: &str, buckets: Vec<(u32, u64)>) -> DecodedWindow {
        DecodedWindow {
            probe_id: geo.into(),
            geo: geo.into(),
            start: chrono::DateTime::UNIX_EPOCH,
            end: chrono::DateTime::UNIX_EPOCH,
            config_digest: String::new(),
            regions: vec![region.into()],
            parts: vec![Part {
                region: 0,
                path: PathKind::Direct,
                phase: Phase::Tls,
                count: buckets.iter().map(|b| b.1).sum(),
                buckets: 0..buckets.len(),
            }],
            buckets,
            outcomes: vec![Counted {
                path: PathKind::Direct,
                region: Some(0),
                attempts: 3,
                errors: 1,
                classes: vec![(ErrorClass::ConnectTimeout, 1)],
            }],
            targets: 1,
        }
    }

    #[test]
    fn merging_builders_equals_folding_into_one() {
        let windows = [
            window("de", "eu-west-1", vec![(900, 2), (1_200, 1)]),
            window("br", "us-east-1", vec![(2_000, 1)]),
            window("de", "eu-west-1", vec![(900, 1), (1_500, 4)]),
            window("de", "us-east-1", vec![(3_000, 2)]),
        ];
        let mut one = MatrixBuilder::default();
        windows.iter().for_each(|w| one.add(w));
        // Other interning orders on each side of the merge.
        let (mut a, mut b) = (MatrixBuilder::default(), MatrixBuilder::default());
        a.add(&windows[3]);
        a.add(&windows[0]);
        b.add(&windows[1]);
        b.add(&windows[2]);
        a.merge(b);
        let (one, merged) = (one.finish(), a.finish());
        assert_eq!(merged, one);
        let de = merged.cell("de", PathKind::Direct, "eu-west-1", Phase::Tls);
        assert_eq!(
            de.map(|c| (c.samples, c.attempts, c.errors)),
            Some((8, 6, 2))
        );
    }
}
