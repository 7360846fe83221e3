//! Guardrails a plan must pass before it touches production routing. Pure:
//! each returns every reason to refuse, so an operator fixes them at once.
//! (Two more are enforced where the state is built: a Route 53 routing
//! always keeps its `default` location, and no location or accelerator is
//! left with no traffic; see [`crate::aws::layout`] and
//! [`crate::aws::accelerator`].)

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::plan::{ChangePlan, Source};

/// Limits, from the command line.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most traffic one apply may move (0..=1).
    pub max_share: f64,
    /// Oldest measurement a plan may rest on.
    pub max_age: Duration,
    /// Thin cells tolerated behind a plan.
    pub max_thin_cells: u64,
    /// Apply a plan that came from no measurements (a world file).
    pub allow_unmeasured: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_share: 0.25,
            max_age: Duration::hours(2),
            max_thin_cells: 0,
            allow_unmeasured: false,
        }
    }
}

/// Whether each region has at least one healthy endpoint, as the control
/// plane reports it (regions it does not report are not judged).
pub type Health = BTreeMap<String, bool>;

/// Every reason `p` must not be applied now.
pub fn check(p: &ChangePlan, limits: &Limits, health: &Health, now: DateTime<Utc>) -> Vec<String> {
    let mut why = Vec::new();
    // Computed from the plan's content, never read from its `moved_share`.
    let share = super::plan::moved_share(&p.before, &p.after, &p.demand);
    if share > limits.max_share + 1e-9 {
        why.push(format!(
            "it moves {:.1}% of traffic, more than the {:.1}% one apply may (--max-share)",
            share * 100.0,
            limits.max_share * 100.0
        ));
    }
    for region in receiving(p) {
        if health.get(region) == Some(&false) {
            why.push(format!(
                "it sends traffic to {region}, which has no healthy endpoint"
            ));
        }
    }
    match &p.evidence {
        Some(e) => {
            let age = now - e.measured_until;
            if age > limits.max_age {
                why.push(format!(
                    "its measurements end {} ago, older than {} (--max-age): advise again on fresh data",
                    human(age),
                    human(limits.max_age)
                ));
            }
            if e.thin_cells > limits.max_thin_cells {
                why.push(format!(
                    "{} of the measurements behind it have too few samples to be significant (--max-thin-cells {})",
                    e.thin_cells, limits.max_thin_cells
                ));
            }
            if e.windows == 0 {
                why.push("no measured window is behind it".into());
            }
        }
        None if matches!(p.source, Source::Advice(_)) && !limits.allow_unmeasured => why.push(
            "its advice came from a world file, not measurements (--allow-unmeasured to apply it anyway)"
                .into(),
        ),
        None => {}
    }
    why
}

/// Regions the plan's result sends traffic to.
fn receiving(p: &ChangePlan) -> Vec<&String> {
    let mut regions: Vec<&String> = p
        .after
        .dns
        .values()
        .flat_map(|w| w.iter().filter(|(_, w)| **w > 0).map(|(r, _)| r))
        .chain(
            p.after
                .accelerator
                .iter()
                .filter(|(_, d)| **d > 0.0)
                .map(|(r, _)| r),
        )
        .collect();
    regions.sort();
    regions.dedup();
    regions
}

fn human(d: Duration) -> String {
    let m = d.num_minutes();
    if m >= 120 {
        format!("{}h", m / 60)
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::plan::{Evidence, FORMAT};
    use crate::routing::RoutingState;

    fn plan(moved: f64, evidence: Option<Evidence>) -> ChangePlan {
        let before = RoutingState {
            dns: [("default".to_string(), [("r1".to_string(), 1u8)].into())].into(),
            accelerator: [("r2".to_string(), 100.0)].into(),
        };
        let mut after = before.clone();
        after
            .accelerator
            .insert("r2".to_string(), 100.0 - moved * 100.0);
        ChangePlan {
            format: FORMAT.into(),
            created_at: Utc::now(),
            created_by: "t".into(),
            source: Source::Advice("a.json".into()),
            binding: Default::default(),
            state_digest: String::new(),
            before,
            after,
            route53: vec![],
            traffic_policy: None,
            accelerator: vec![],
            // What the file says is never what the guard reads.
            moved_share: 0.0,
            demand: Default::default(),
            left_out: vec![],
            evidence,
            plan_digest: String::new(),
        }
    }

    fn fresh(now: DateTime<Utc>) -> Option<Evidence> {
        Some(Evidence {
            measured_until: now - Duration::minutes(5),
            windows: 100,
            thin_cells: 0,
        })
    }

    #[test]
    fn each_guardrail_refuses_by_name() {
        let now = Utc::now();
        let l = Limits::default();
        assert!(check(&plan(0.1, fresh(now)), &l, &Health::new(), now).is_empty());
        let why = check(&plan(0.3, fresh(now)), &l, &Health::new(), now);
        assert!(why[0].contains("moves 30.0% of traffic"), "{why:?}");
        let sick: Health = [("r2".to_string(), false)].into();
        let why = check(&plan(0.1, fresh(now)), &l, &sick, now);
        assert!(
            why[0].contains("r2, which has no healthy endpoint"),
            "{why:?}"
        );
        let stale = Some(Evidence {
            measured_until: now - Duration::hours(5),
            windows: 10,
            thin_cells: 3,
        });
        let why = check(&plan(0.1, stale), &l, &Health::new(), now);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("5h ago"), "{why:?}");
        assert!(why[1].contains("3 of the measurements"), "{why:?}");
        let why = check(&plan(0.1, None), &l, &Health::new(), now);
        assert!(why[0].contains("--allow-unmeasured"), "{why:?}");
        let open = Limits {
            allow_unmeasured: true,
            ..Limits::default()
        };
        assert!(check(&plan(0.1, None), &open, &Health::new(), now).is_empty());
    }
}
