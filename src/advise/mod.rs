//! Advice: the routing that minimises demand-weighted user latency within
//! capacity, failover and change limits, and its translation into what
//! Route 53 and Global Accelerator can express.
//!
//! The pipeline, all pure (no I/O):
//!
//! 1. [`model`]: the world and options become a dense problem; an SLO or a
//!    drain becomes an upper bound per geo x region pair.
//! 2. [`feasibility`]: obvious impossibilities are refused with the geos and
//!    regions at fault; [`lp`] solves the fractional problem exactly and,
//!    when it is infeasible, again with priced slack to say which
//!    constraints cannot be met.
//! 3. [`stability`]: the LP is solved once with a tie-break (the optimum) and
//!    once with a per-move cost (the proposal); the proposal replaces today's
//!    routing only if it gains enough or today's routing breaks a constraint.
//! 4. Mechanisms, from the plan: [`weighted`] Route 53 weights and the
//!    [`policy`] document (checked by [`policy_check`]), [`geolocation`] one
//!    region per location, [`accelerator`] Global Accelerator dials. Geos
//!    Route 53 cannot tell apart are merged first ([`locations`]).
//! 5. [`plan`] scores everything with [`mod@evaluate`] into the versioned plan
//!    document; [`summary`] and [`explain`] render it for people.
//!
//! Decisions a reader must know:
//!
//! * Drain (`--drain REGION`, [`DrainMode`]): by default *no new traffic*,
//!   `x[g][r] <= current[g][r]`: a draining region's share of each geo may
//!   only shrink, as fast as the change budget allows. `--drain-mode empty`
//!   closes it at once (`x = 0`).
//! * N+1 (`failover_share`): a backup must carry its own load plus that
//!   share of its primary's within usable capacity. It is off by default
//!   because the shared world cannot meet it even at 25% (the report names
//!   each short backup); turn it on per deployment.
//! * Route 53 granularity: geolocation tells apart countries, continents and
//!   US states; geos sharing a country get one answer, their demand-weighted
//!   merged split (region loads are unchanged by the merge; the latency it
//!   costs shows as part of each Route 53 mechanism's gap).
//! * One region per location is solved exactly (MILP) up to
//!   `milp_max_binaries` (400) binaries under a time limit (10 s), by the
//!   heuristic above that; the plan says which (`geolocation_method`).
//! * Global Accelerator dials are global, not per geo: the model sends a
//!   geo to its nearest group by p50 and spills in proximity order; the
//!   realised routing can break constraints the plan keeps, and the plan
//!   reports by how much.

pub mod accelerator;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod feasibility;
pub mod geolocation;
pub mod locations;
pub mod lp;
pub mod model;
pub mod plan;
pub mod policy;
pub mod policy_check;
pub mod stability;
pub mod summary;
pub mod unload;
pub mod weighted;

pub use error::{AdviseError, Violation};
pub use model::{DrainMode, Options, QueueModel};
pub use plan::Plan;
pub use policy::Endpoints;

use crate::world::World;

use evaluate::evaluate;
use model::{Problem, Shares};
use stability::{Action, Decision};

/// Everything the advisor worked out, for the plan document and for
/// explanations (which re-solve variants of the same problem).
#[derive(Debug, Clone)]
pub struct Advice {
    pub problem: Problem,
    pub locations: Vec<locations::Location>,
    /// The fractional optimum: the LP with only a tie-break on change.
    pub optimum: Shares,
    /// The routing to deploy: the proposal, or today's if it is kept.
    pub plan: Shares,
    pub decision: Decision,
    pub weights: weighted::Weights,
    pub default_weights: Vec<u8>,
    pub geolocation: geolocation::Geolocation,
    pub dials: accelerator::Dials,
    pub traffic_policy: serde_json::Value,
}

pub fn advise(
    world: &World,
    options: &Options,
    endpoints: &Endpoints,
) -> Result<Advice, AdviseError> {
    let problem = Problem::build(world, options)?;
    feasibility::precheck(&problem)?;
    let p = &problem;
    let solve = |switching_ms: f64| -> Result<Shares, AdviseError> {
        let req = lp::Request {
            problem: p,
            switching_ms,
            pin: None,
        };
        match lp::solve(&req) {
            Ok(mut s) => {
                stability::snap(p, &mut s);
                Ok(s)
            }
            Err(lp::Failure::Infeasible) => {
                Err(AdviseError::Infeasible(feasibility::diagnose(&req)?))
            }
            Err(lp::Failure::Solver(e)) => Err(AdviseError::Solver(e)),
        }
    };
    let optimum = solve(lp::TIE_BREAK_MS)?;
    let switching_ms = options.min_move_ms.max(lp::TIE_BREAK_MS);
    let proposal = if switching_ms > lp::TIE_BREAK_MS {
        solve(switching_ms)?
    } else {
        optimum.clone()
    };
    let decision = stability::decide(
        p,
        &evaluate(p, &p.current),
        &evaluate(p, &proposal),
        &proposal,
    );
    let plan = match decision.action {
        Action::Change => proposal,
        Action::Keep => p.current.clone(),
    };
    let locs = locations::group(p);
    let splits: Vec<Vec<f64>> = locs
        .iter()
        .map(|l| locations::merged_split(p, l, &plan))
        .collect();
    let weights = weighted::round(p, &locs, &splits);
    let default_weights = policy::default_weights(p, &plan);
    let traffic_policy = policy::document(p, &locs, &weights, &default_weights, endpoints);
    if let Err(problems) = policy_check::validate(&traffic_policy) {
        let first = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(AdviseError::Internal(format!(
            "generated traffic policy is invalid: {first}"
        )));
    }
    let geolocation = geolocation::assign(p, &locs, &splits, switching_ms);
    let dials = accelerator::choose(p, &plan);
    Ok(Advice {
        problem,
        locations: locs,
        optimum,
        plan,
        decision,
        weights,
        default_weights,
        geolocation,
        dials,
        traffic_policy,
    })
}
