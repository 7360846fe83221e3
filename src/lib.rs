//! geolat: measure what users in every geo wait for when reaching a
//! multi-region service, and advise how to route them.
//!
//! Data flows through the modules in this order:
//! `probe` (measure) -> `window` (HDR histograms per series) -> `store`
//! (object storage) -> `analyze` (latency matrix) -> `world` -> `advise`
//! (the plan) -> `apply` (change plans, guardrails, lease, audit) ->
//! `routing` (the control-plane interface), implemented by `lab` and by
//! `aws` (Route 53, Global Accelerator). `publish` sends what was measured
//! on to CloudWatch, after `analyze`; `observe` is the probe as a
//! long-running Prometheus exporter (`probe --serve`), after `store`. The views come last and read
//! everything before them: `report` (a recommendation to decide on, as
//! files) and `dash` (the same live in a terminal). `lab`
//! emulates regional endpoints, DNS and an accelerator on loopback for
//! tests, benchmarks and demos; `cli` is the command line over all of it.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod advise;
pub mod analyze;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod dash;
pub mod lab;
pub mod observe;
pub mod probe;
pub mod publish;
pub mod report;
pub mod routing;
pub mod store;
pub mod telemetry;
pub mod window;
pub mod world;
