//! Analysis: windows from a store merged into a latency matrix per
//! geo x region x path x phase, with honest confidence.
//!
//! Data flows through the modules in this order, and only `source` does
//! I/O; everything else is a plain function over data:
//!
//! ```text
//! store ──► source ──► decode ──► screen ──► matrix ──► report ──► table / JSON
//!  (list,    (fetch,    (JSON,     (skewed,   (fold     (geo       (geolat-analysis/1)
//!   hourly)   bounded)   v2 hist)   dups,      into       summaries,
//!                                   late)      cells)     method)  ──► world (to_world)
//! ```
//!
//! - `v2`, `inflate` and `hist`: HdrHistogram V2 payloads read straight
//!   into sparse bucket counts, merged without building full histograms.
//! - `confidence` and `estimate`: percentiles with distribution-free
//!   order-statistic intervals, and when a cell is too thin to state.
//! - `geo`: where each geo is served today, the best direct region, the
//!   penalty of today's routing and whether it is significant.
//! - `world`: measured matrix + topology file -> the advisor's `World`.

pub mod confidence;
pub mod decode;
pub mod estimate;
pub mod geo;
pub mod hist;
pub mod inflate;
pub mod matrix;
pub mod measured;
pub mod report;
pub mod screen;
pub mod source;
pub mod table;
pub mod v2;
pub mod world;

pub use hist::{SparseHistogram, index_of, value_range};
pub use matrix::{Cell, ErrorScope, Matrix, Outcome};
pub use measured::{
    Measured, MeasuredError, MeasuredWorld, measured_from, measured_world, world_of,
};
pub use report::{Analysis, FORMAT, Scope};
pub use source::{AnalyzeError, Slice, analyze, analyze_cuts, analyze_sliced};
pub use world::{Strictness, ToWorldError, to_world, to_world_as};
