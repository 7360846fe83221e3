//! The plan document against its schema, and the renderings for people.

use geolat::advise::explain::{WhatIf, explain, render};
use geolat::advise::{Options, QueueModel, plan, summary};

use crate::support::{advise, assert_schema, exact, shared_world, world};

#[test]
fn the_plan_document_matches_its_schema() {
    let w = shared_world();
    for o in [
        Options::default(),
        Options {
            percentile: geolat::world::Percentile::P99,
            queue: Some(QueueModel { service_ms: 5.0 }),
            drain: vec!["us-west-2".into()],
            max_change: Some(0.5),
            ..Options::default()
        },
    ] {
        let p = plan::build(&advise(&w, &o), "aws-edges");
        let v = serde_json::to_value(&p).unwrap();
        assert_schema("plan.schema.json", &v);
        assert_eq!(v["format"], "geolat-plan/1");
        assert!(v["assignment"]["IN-Hyderabad"].is_object());
        assert!(v["geolocation"]["IN-Hyderabad"].is_string());
    }
    // A kept plan (no changes) matches too.
    let first = plan::build(&advise(&w, &Options::default()), "aws-edges");
    let mut again = w.clone();
    again.routing = Some(first.assignment.clone());
    let kept = plan::build(&advise(&again, &Options::default()), "aws-edges");
    assert_schema("plan.schema.json", &serde_json::to_value(&kept).unwrap());
}

#[test]
fn the_summary_shows_changes_capacity_mechanisms_and_reasons() {
    let p = plan::build(&advise(&shared_world(), &Options::default()), "aws-edges");
    let mut out = Vec::new();
    summary::render(&p, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "decision: CHANGE (required)",
        "* IN-Hyderabad",
        "ap-southeast-1",
        "capacity",
        "Route 53 weighted policy",
        "Route 53 geolocation (milp)",
        "Global Accelerator dials",
        "why each change",
        "is over its usable capacity today",
        "US = US-Virginia + US-Ohio",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

#[test]
fn explain_names_the_binding_constraint_and_the_cost_of_alternatives() {
    // g1 would rather be on r0, but r0 is full of g0, which gains more
    // there; r2 is beyond the SLO.
    let mut w = world(
        &[(80.0, &[10.0, 50.0, 300.0]), (60.0, &[10.0, 20.0, 300.0])],
        &[100.0, 200.0, 200.0],
    );
    w.slo = Some(geolat::world::Slo {
        percentile: geolat::world::Percentile::P50,
        max_ms: 250.0,
    });
    let a = advise(&w, &exact());
    let e = explain(&a, "g1").unwrap();
    assert_eq!(e.regions[0].region, "r0");
    assert!(
        e.regions[0]
            .status
            .iter()
            .any(|s| s.starts_with("full: 100.0 of 100.0")),
        "{e:?}"
    );
    match &e.regions[0].all_here {
        Some(WhatIf::Feasible {
            delta_ms,
            displaced,
        }) => {
            assert!(*delta_ms > 0.0, "{delta_ms}");
            assert!(displaced[0].starts_with("g0"), "{displaced:?}");
        }
        other => panic!("{other:?}"),
    }
    let r2 = e.regions.iter().find(|r| r.region == "r2").unwrap();
    assert_eq!(r2.status, vec!["excluded: p50 300.0 ms > SLO 250 ms"]);
    assert!(
        e.summary.contains("fastest admissible region is r0"),
        "{}",
        e.summary
    );
    let mut out = Vec::new();
    render(&e, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("all here: +") && text.contains("binding in the plan: r0 full"),
        "{text}"
    );
    assert!(explain(&a, "nope").is_err());
}
