//! The advisor, end to end through the library: the LP against brute force,
//! every constraint binding, infeasible input, hysteresis, the mechanism
//! translations, the plan document against its schema, and the command line.

#[path = "advise/support.rs"]
mod support;

#[path = "advise/cli.rs"]
mod cli;
#[path = "advise/constraints.rs"]
mod constraints;
#[path = "advise/infeasible.rs"]
mod infeasible;
#[path = "advise/mechanisms.rs"]
mod mechanisms;
#[path = "advise/optimality.rs"]
mod optimality;
#[path = "advise/output.rs"]
mod output;
#[path = "advise/policy_check.rs"]
mod policy_check;
#[path = "advise/stability.rs"]
mod stability;
