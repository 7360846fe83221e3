//! Integration tests: one binary, modules by capability, shared helpers in
//! `util`. Every server here is a real one on loopback.

mod analyze;
mod aws;
mod cli;
mod config;
mod dash;
mod dashboards;
mod deploy;
mod errors;
mod flux;
mod hdr_reference;
mod lab;
mod lab_change;
mod lab_loop;
mod lease;
mod metrics;
mod paths;
mod regression;
mod report;
mod store;
mod util;
mod world_lab;
