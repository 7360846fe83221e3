//! Applying routing safely: what to change ([`desired`], [`drain`]), the
//! change plan with the digest of the state it was made against
//! ([`plan`]), the guardrails it must pass ([`guard`]), one writer at a
//! time ([`lease`]) and a record of everything done ([`audit`]), run in
//! that order by [`execute`] over any routing control (AWS or the lab).
//! The pure parts are tested without a control plane; `cli::change` only
//! parses, reads files and prints.

pub mod audit;
pub mod desired;
pub mod drain;
pub mod execute;
pub mod guard;
pub mod lease;
pub mod plan;
