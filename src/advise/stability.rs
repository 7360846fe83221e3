//! Hysteresis: the advisor must not flap. Two mechanisms work together.
//!
//! * Per geo, inside the LP: every unit of moved demand costs
//!   `--min-move-ms`, so a geo moves only when that gains it (or, through
//!   freed capacity, others) more than the threshold. Because that cost is a
//!   distance from today's routing, a plan fed back as today's routing is
//!   again optimal (triangle inequality), so re-advising on the same data
//!   proposes nothing.
//! * For the whole plan, here: a plan replaces today's routing only if it
//!   improves demand-weighted latency by at least `--min-improvement-ms`,
//!   unless today's routing breaks a constraint (overload, SLO, drain, N+1),
//!   in which case the change is forced whatever the gain.
//!
//! Measurement noise changes latencies a little each round; both gates
//! turn such changes into "keep". When measurements carry confidence
//! intervals, the threshold is where a significance test belongs (an
//! improvement counts only if it exceeds its interval).

use serde::Serialize;

use super::evaluate::{Evaluation, tolerance};
use super::model::{Problem, Shares};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Change,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// Today's routing breaks a constraint, so it must change.
    pub forced: bool,
    /// Demand-weighted latency gained by the proposal over today (ms).
    pub improvement_ms: f64,
    pub reason: String,
}

/// Rows that differ from today's only by solver round-off become today's
/// exactly, so "no change" is recognisable as such.
pub fn snap(p: &Problem, plan: &mut Shares) {
    for (row, today) in plan.iter_mut().zip(&p.current) {
        let l1: f64 = row.iter().zip(today).map(|(a, b)| (a - b).abs()).sum();
        if l1 < 1e-6 {
            row.clone_from(today);
        }
    }
}

pub fn decide(p: &Problem, today: &Evaluation, proposed: &Evaluation, plan: &Shares) -> Decision {
    let improvement_ms = today.latency_ms - proposed.latency_ms;
    let same = plan == &p.current;
    if !today.is_feasible(p) {
        let tol = tolerance(p);
        let broken: Vec<String> = [
            ("overload", today.overload_rps),
            ("N+1 shortfall", today.failover_shortfall_rps),
            ("beyond the SLO", today.slo_violation_rps),
            ("on draining regions", today.drain_violation_rps),
        ]
        .iter()
        .filter(|(_, v)| *v > tol)
        .map(|(what, v)| format!("{v:.1} rps {what}"))
        .collect();
        return Decision {
            action: if same { Action::Keep } else { Action::Change },
            forced: true,
            improvement_ms,
            reason: format!("today's routing breaks constraints: {}", broken.join(", ")),
        };
    }
    if same {
        return Decision {
            action: Action::Keep,
            forced: false,
            improvement_ms: 0.0,
            reason: "today's routing is already the best within the move threshold".into(),
        };
    }
    let threshold = p.options.min_improvement_ms;
    if improvement_ms < threshold {
        return Decision {
            action: Action::Keep,
            forced: false,
            improvement_ms,
            reason: format!(
                "the best plan gains {improvement_ms:.3} ms, under --min-improvement-ms {threshold}"
            ),
        };
    }
    Decision {
        action: Action::Change,
        forced: false,
        improvement_ms,
        reason: format!("gains {improvement_ms:.2} ms demand-weighted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::evaluate::evaluate;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn small_gain_keeps_today_and_overload_forces_change() {
        let w = world(&[(10.0, &[10.0, 10.5])], &[100.0, 100.0]);
        let mut p = Problem::build(&w, &Options::default()).unwrap();
        p.current = vec![vec![0.0, 1.0]];
        let plan = vec![vec![1.0, 0.0]];
        let d = decide(&p, &evaluate(&p, &p.current), &evaluate(&p, &plan), &plan);
        assert_eq!(d.action, Action::Keep, "{d:?}");
        p.regions[1].usable = 5.0;
        let d = decide(&p, &evaluate(&p, &p.current), &evaluate(&p, &plan), &plan);
        assert_eq!((d.action, d.forced), (Action::Change, true), "{d:?}");
        assert!(d.reason.contains("5.0 rps overload"), "{}", d.reason);
    }

    #[test]
    fn snap_removes_round_off() {
        let w = world(&[(10.0, &[10.0, 10.5])], &[100.0, 100.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        let mut plan = vec![vec![1.0 - 1e-9, 1e-9]];
        snap(&p, &mut plan);
        assert_eq!(plan, p.current);
    }
}
