//! What Route 53 and Global Accelerator can express, realised and scored.

use std::collections::BTreeMap;

use geolat::advise::accelerator::{proximity, realised};
use geolat::advise::evaluate::evaluate;
use geolat::advise::geolocation::Method;
use geolat::advise::locations::merged_split;
use geolat::advise::plan::{self, geolocation_shares};
use geolat::advise::policy_check::validate;
use geolat::advise::weighted::split_of;
use geolat::advise::{Options, weighted};

use crate::support::{advise, shared_world, world};

#[test]
fn weights_carry_the_plan_within_rounding_and_without_overload() {
    let a = advise(&shared_world(), &Options::default());
    let p = &a.problem;
    for (l, loc) in a.locations.iter().enumerate() {
        let want = merged_split(p, loc, &a.plan);
        let got = split_of(&a.weights[l]);
        for r in 0..p.region_count() {
            assert!(
                (want[r] - got[r]).abs() <= 2.0 / 255.0,
                "{} {}: {} vs {}",
                loc.code,
                p.regions[r].id,
                want[r],
                got[r]
            );
        }
    }
    let e = evaluate(p, &weighted::realised(p, &a.locations, &a.weights));
    let best = evaluate(p, &a.optimum).latency_ms;
    assert_eq!(e.violation_rps(), 0.0, "{e:?}");
    assert!(
        (e.latency_ms - best) / best < 0.001,
        "{} vs {best}",
        e.latency_ms
    );
}

#[test]
fn traffic_policy_has_the_documented_structure_and_validates() {
    let a = advise(&shared_world(), &Options::default());
    let doc = &a.traffic_policy;
    validate(doc).unwrap();
    assert_eq!(doc["AWSPolicyFormatVersion"], "2015-10-01");
    assert_eq!(doc["RecordType"], "CNAME");
    assert_eq!(doc["StartRule"], "geo");
    let geo = &doc["Rules"]["geo"];
    assert_eq!(geo["RuleType"], "geo");
    let entries = geo["Locations"].as_array().unwrap();
    assert_eq!(entries.len(), a.locations.len() + 1);
    assert_eq!(entries.iter().filter(|e| e["IsDefault"] == true).count(), 1);
    for (loc, entry) in a.locations.iter().zip(entries) {
        assert_eq!(entry["Country"], loc.code.as_str(), "{entry}");
        let l = a.locations.iter().position(|x| x == loc).unwrap();
        let on: BTreeMap<String, u64> = a.weights[l]
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .map(|(r, w)| (a.problem.regions[r].id.clone(), u64::from(*w)))
            .collect();
        if let Some(rule) = entry["RuleReference"].as_str() {
            let items = doc["Rules"][rule]["Items"].as_array().unwrap();
            assert_eq!(doc["Rules"][rule]["RuleType"], "weighted");
            let got: BTreeMap<String, u64> = items
                .iter()
                .map(|i| {
                    (
                        i["EndpointReference"].as_str().unwrap().to_owned(),
                        i["Weight"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, on);
        } else {
            assert_eq!(on.len(), 1);
            assert!(on.contains_key(entry["EndpointReference"].as_str().unwrap()));
        }
    }
    // The four US geos are one answer, and the plan says so.
    let us = a.locations.iter().find(|l| l.code == "US").unwrap();
    assert_eq!(us.geos.len(), 4);
    for (id, e) in doc["Endpoints"].as_object().unwrap() {
        assert_eq!(e["Type"], "value");
        assert_eq!(e["Value"], format!("{id}.endpoints.example.com"));
    }
}

#[test]
fn geolocation_keeps_capacity_and_answers_a_country_once() {
    let a = advise(&shared_world(), &Options::default());
    assert_eq!(a.geolocation.method, Method::Milp);
    let e = evaluate(&a.problem, &geolocation_shares(&a));
    assert_eq!(e.violation_rps(), 0.0, "{e:?}");
    let plan = plan::build(&a, "shared");
    for loc in &plan.locations {
        let regions: Vec<&String> = loc.geos.iter().map(|g| &plan.geolocation[g]).collect();
        assert!(
            regions.windows(2).all(|w| w[0] == w[1]),
            "{}: {regions:?}",
            loc.code
        );
    }
}

#[test]
fn geolocation_heuristic_is_within_one_percent_of_the_milp() {
    let w = shared_world();
    let milp = advise(&w, &Options::default());
    let heuristic = advise(
        &w,
        &Options {
            milp_max_binaries: 0,
            ..Options::default()
        },
    );
    assert_eq!(heuristic.geolocation.method, Method::Heuristic);
    let m = evaluate(&milp.problem, &geolocation_shares(&milp));
    let h = evaluate(&heuristic.problem, &geolocation_shares(&heuristic));
    assert_eq!(h.violation_rps(), 0.0, "{h:?}");
    assert!(
        (h.latency_ms - m.latency_ms) / m.latency_ms < 0.01,
        "{} vs {}",
        h.latency_ms,
        m.latency_ms
    );
}

#[test]
fn accelerator_dials_are_percentages_and_spill_nearest_first() {
    let a = advise(&shared_world(), &Options::default());
    let p = &a.problem;
    assert!(
        a.dials
            .traffic_dial
            .iter()
            .all(|d| (0.0..=100.0).contains(d))
    );
    let order = proximity(p);
    let shares = realised(p, &order, &a.dials.traffic_dial);
    for (g, row) in shares.iter().enumerate() {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // By hand: the nearest group keeps its dial's share of the geo.
        let nearest = order[g][0];
        let keep = a.dials.traffic_dial[nearest] / 100.0;
        assert!(row[nearest] >= keep - 1e-12, "{}", p.geos[g].id);
    }
    let plan = plan::build(&a, "shared");
    let reported = plan.mechanisms["accelerator"].evaluation;
    assert_eq!(reported, evaluate(p, &shares));
    // Dials are global, so GA cannot beat the fractional optimum.
    assert!(plan.mechanisms["accelerator"].gap_pct >= -1e-9);
}

#[test]
fn a_two_region_world_is_expressed_exactly_by_dials() {
    // One geo, 100 rps, nearest region holds 60: a 60% dial is exact.
    let w = world(&[(100.0, &[10.0, 20.0])], &[60.0, 200.0]);
    let o = Options {
        headroom: 0.0,
        ..Options::default()
    };
    let a = advise(&w, &o);
    assert_eq!(a.dials.traffic_dial, vec![60.0, 100.0]);
    assert_eq!(a.dials.endpoint_weight, vec![128, 128]);
}
