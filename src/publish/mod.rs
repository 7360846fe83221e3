//! Publishing what geolat measured where teams already look: a stage after
//! analysis (probe windows and analysis matrices in, metrics out) that
//! reads only the analysis' public types (`crate::analyze::{Matrix, Cell,
//! Outcome, SparseHistogram}`), never its internals.
//!
//! - [`cloudwatch`]: latency distributions as CloudWatch metrics.

pub mod cloudwatch;
