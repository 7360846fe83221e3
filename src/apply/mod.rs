//! Applying routing safely: what to change ([`desired`], [`drain`]), the
//! change plan with the digest of the state it was made against
//! ([`plan`]), the guardrails it must pass ([`guard`]), one writer at a
//! time ([`lease`]) and a record of everything done ([`audit`]). The pure
//! parts are tested without a control plane; `cli::change` drives them
//! against AWS.

pub mod audit;
pub mod desired;
pub mod drain;
pub mod guard;
pub mod lease;
pub mod plan;
