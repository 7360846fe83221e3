//! What can stop the advisor from producing a plan. Every variant names the
//! geos, regions or option at fault, because "infeasible" alone leaves an
//! operator nothing to act on.

use std::fmt;

/// One constraint the routing cannot meet, found by the pre-checks or by
/// re-solving with slack on every constraint (relax-and-report).
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// No admissible region is left for this geo's demand.
    Unserved {
        geo: String,
        demand_rps: f64,
        why: String,
    },
    /// The region would need more than its usable capacity.
    Capacity {
        region: String,
        short_rps: f64,
        usable_rps: f64,
    },
    /// The backup cannot absorb its primary's share (N+1).
    Failover {
        primary: String,
        backup: String,
        short_rps: f64,
    },
    /// Meeting the other constraints needs more movement than one step allows.
    ChangeBudget { needed_share: f64, budget: f64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unserved {
                geo,
                demand_rps,
                why,
            } => write!(
                f,
                "geo `{geo}` ({demand_rps:.1} rps) cannot be served: {why}"
            ),
            Violation::Capacity {
                region,
                short_rps,
                usable_rps,
            } => write!(
                f,
                "region `{region}` is {short_rps:.1} rps short (usable {usable_rps:.1} rps)"
            ),
            Violation::Failover {
                primary,
                backup,
                short_rps,
            } => write!(
                f,
                "backup `{backup}` is {short_rps:.1} rps short of absorbing `{primary}` (N+1)"
            ),
            Violation::ChangeBudget {
                needed_share,
                budget,
            } => write!(
                f,
                "moving {:.1}% of demand is needed but --max-change allows {:.1}%",
                needed_share * 100.0,
                budget * 100.0
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error("{flag}: {problem}")]
    Option { flag: &'static str, problem: String },
    #[error("--drain {0}: no such region in the world")]
    UnknownRegion(String),
    #[error("--explain {0}: no such geo in the world")]
    UnknownGeo(String),
    #[error("geo `{geo}` has demand but no admissible region: {reasons}")]
    NoAdmissibleRegion { geo: String, reasons: String },
    #[error(
        "total demand {demand_rps:.1} rps exceeds the usable capacity {usable_rps:.1} rps of the regions that may take it ({regions})"
    )]
    InsufficientCapacity {
        demand_rps: f64,
        usable_rps: f64,
        regions: String,
    },
    #[error("no routing meets every constraint: {}", list(.0))]
    Infeasible(Vec<Violation>),
    #[error("the LP solver failed: {0}")]
    Solver(String),
    /// A bug: the advisor produced something it should not have.
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
