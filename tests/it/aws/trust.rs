//! Issue 9's regressions through the CLI against the emulator: what is
//! applied is what was shown, to the zone it was planned for, with the dry
//! run checking what the apply checks, out-of-band edits left alone, Route
//! 53 without an accelerator, every outcome audited with the principal,
//! rollback and restore undoing only what they should, and the share guard
//! weighing demand. Each test reads the state back after every step.

use serde_json::{Value, json};

use super::change::{Ops, WORLD, ops, topology, world_regions};
use super::hosted_zone;

/// An advice routing `default` and each `(country, region)`, with demand
/// per location (the rest of 100 rps on `default`), measured just now.
fn advice(default: &str, countries: &[(&str, &str, f64)]) -> Value {
    let mut locations = vec![json!({"EndpointReference": default, "IsDefault": true})];
    let mut demand = Vec::new();
    for (country, region, rps) in countries {
        locations.push(json!({"EndpointReference": region, "Country": country}));
        demand.push(json!({"kind": "country", "code": country, "geos": [country], "demand_rps": rps, "merged": false}));
    }
    json!({
        "traffic_policy": {"StartRule": "geo", "Rules": {"geo": {"RuleType": "geo", "Locations": locations}}},
        "accelerator": {},
        "locations": demand,
        "geos": {"all": {"demand_rps": 100.0}},
        "evidence": {"measured_until": chrono::Utc::now().to_rfc3339(), "windows": 10, "thin_cells": 0}
    })
}

impl Ops {
    fn cfg(&self) -> String {
        self.config.display().to_string()
    }

    /// `geolat plan` of `advice`; the plan file.
    fn plan(&self, name: &str, advice: &Value) -> String {
        let a = self.write(&format!("{name}.advice.json"), advice);
        let p = self.path(&format!("{name}.plan.json"));
        self.ok(&["plan", "--aws", &self.cfg(), "--advice", &a, "--out", &p]);
        p
    }

    fn apply_args(&self, plan: &str) -> Vec<String> {
        let cfg = self.cfg();
        [
            "apply",
            plan,
            "--aws",
            &cfg,
            "--store",
            &self.store,
            "--apply",
            "--yes",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn apply(&self, plan: &str) -> String {
        let args = self.apply_args(plan);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `apply --apply --yes` of `plan`, which must fail; its one line.
    fn apply_fails(&self, plan: &str) -> String {
        let args = self.apply_args(plan);
        self.fails(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn apply_output(&self, plan: &str) -> std::process::Output {
        let args = self.apply_args(plan);
        self.geolat(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn history(&self) -> Vec<Value> {
        let h: Value =
            serde_json::from_str(&self.ok(&["history", "--store", &self.store, "--json"])).unwrap();
        h.as_array().unwrap().clone()
    }

    fn zone(&self) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("hosted_zone_id: "))
            .unwrap()
            .trim_start_matches("/hostedzone/")
            .to_owned()
    }
}

/// Point 1: a plan edited by hand (weights in `after` changed, digest
/// untouched) applies nothing, and says why.
#[tokio::test]
async fn regression_edited_plan_applies_nothing() {
    let o = ops().await;
    let r = world_regions();
    let first = o.plan("first", &advice(&r[0], &[("US", &r[0], 55.0)]));
    o.apply(&first);
    let before = o.routing();
    let plan = o.plan("next", &advice(&r[0], &[("US", &r[1], 10.0)]));
    let mut p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    p["after"]["dns"]["country:US"] = json!({ r[0].as_str(): 1, r[1].as_str(): 254 });
    p["after"]["dns"]["country:JP"] = json!({ "sa-east-1": 255 });
    std::fs::write(&plan, serde_json::to_vec(&p).unwrap()).unwrap();
    let err = o.apply_fails(&plan);
    assert!(err.contains("does not match its plan_digest"), "{err}");
    assert!(err.contains("not what its `after` takes"), "{err}");
    assert_eq!(o.routing()["dns"], before["dns"], "nothing applied");
}

/// Point 2: a plan made for one hosted zone is refused with a config for
/// another, even when both are empty; and for another service name.
#[tokio::test]
async fn regression_plan_is_bound_to_its_zone_and_name() {
    let o = ops().await;
    let r = world_regions();
    let plan = o.plan("a", &advice(&r[0], &[]));
    let sdk = o.gw.sdk().await;
    let other = hosted_zone(&sdk, "example.org").await;
    let zone_a = o.zone();
    let text = std::fs::read_to_string(&o.config).unwrap();
    let elsewhere = o.path("zone-b.yaml");
    let other = other.trim_start_matches("/hostedzone/");
    std::fs::write(&elsewhere, text.replace(&zone_a, other)).unwrap();
    let err = o.fails(&[
        "apply", &plan, "--aws", &elsewhere, "--store", &o.store, "--apply", "--yes",
    ]);
    assert!(err.contains(&format!("hosted zone {zone_a}")), "{err}");
    let r53 = geolat::aws::route53_client(&sdk);
    let listed = r53
        .list_resource_record_sets()
        .hosted_zone_id(other)
        .send()
        .await
        .unwrap();
    assert!(
        listed
            .resource_record_sets()
            .iter()
            .all(|r| r.set_identifier().is_none()),
        "nothing created in the other zone"
    );
    let renamed = o.path("name-b.yaml");
    std::fs::write(
        &renamed,
        text.replace("name: api.example.com", "name: pay.example.com"),
    )
    .unwrap();
    let err = o.fails(&[
        "apply", &plan, "--aws", &renamed, "--store", &o.store, "--apply", "--yes",
    ]);
    assert!(err.contains("service name"), "{err}");
}

/// Point 3: the dry run refuses what the apply would (a region the config
/// no longer names), and takes no lease to do it.
#[tokio::test]
async fn regression_dry_run_checks_what_apply_checks() {
    let o = ops().await;
    let r = world_regions();
    let plan = o.plan("a", &advice(&r[0], &[("DE", &r[1], 10.0)]));
    let text = std::fs::read_to_string(&o.config).unwrap();
    let without = text
        .lines()
        .filter(|l| !l.trim_start().starts_with(&format!("{}:", r[1])))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = o.path("fewer.yaml");
    std::fs::write(&cfg, without).unwrap();
    let err = o.fails(&["apply", &plan, "--aws", &cfg, "--store", &o.store]);
    assert!(err.contains(&r[1]), "{err}");
    assert!(err.starts_with("error: refused"), "{err}");
    assert!(
        !o.dir.path().join("store/locks/routing.lease").exists(),
        "no lease taken"
    );
    // An advice naming a region the config does not have is refused when
    // planned, not when applied.
    let a = o.write("bad.advice.json", &advice("atlantis-1", &[]));
    let err = o.fails(&[
        "plan",
        "--aws",
        &o.cfg(),
        "--advice",
        &a,
        "--out",
        &o.path("bad.plan.json"),
    ]);
    assert!(err.contains("atlantis-1"), "{err}");
}

/// Point 4: a TTL changed out of band is not silently reverted: the plan
/// made before it is refused, and the TTL stays.
#[tokio::test]
async fn regression_out_of_band_ttl_is_not_reverted() {
    let o = ops().await;
    let r = world_regions();
    o.apply(&o.plan("first", &advice(&r[0], &[("DE", &r[1], 10.0)])));
    let plan = o.plan("next", &advice(&r[0], &[("DE", &r[2], 10.0)]));
    let sdk = o.gw.sdk().await;
    let r53 = geolat::aws::route53_client(&sdk);
    let zone = o.zone();
    let listed = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap();
    let mut record = listed
        .resource_record_sets()
        .iter()
        .find(|r| r.name().starts_with("default.") && r.set_identifier().is_some())
        .unwrap()
        .clone();
    record.ttl = Some(300);
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Upsert)
                        .resource_record_set(record.clone())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = o.apply_fails(&plan);
    assert!(err.contains("live routing changed since"), "{err}");
    let listed = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap();
    let now = listed
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == record.name() && r.set_identifier() == record.set_identifier())
        .unwrap();
    assert_eq!(now.ttl(), Some(300), "the hand-set TTL stays");
}

/// Point 5: Route 53 without Global Accelerator: the plan leaves the dials
/// out and says so, and applies.
#[tokio::test]
async fn regression_route53_without_accelerator() {
    let o = ops().await;
    let text = std::fs::read_to_string(&o.config).unwrap();
    let dns_only = text.split("accelerator:").next().unwrap().to_owned();
    std::fs::write(&o.config, dns_only).unwrap();
    let a = o.path("advice.json");
    std::fs::write(&a, o.ok(&["advise", "--world", WORLD, "--json"])).unwrap();
    let plan = o.path("plan.json");
    let shown = o.ok(&["plan", "--aws", &o.cfg(), "--advice", &a, "--out", &plan]);
    assert!(
        shown.contains("left out: Global Accelerator dials"),
        "{shown}"
    );
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    crate::util::assert_schema("change-plan.schema.json", &p);
    assert_eq!(p["after"]["accelerator"], json!({}));
    assert_eq!(p["accelerator"], json!([]));
    o.ok(&[
        "apply",
        &plan,
        "--aws",
        &o.cfg(),
        "--store",
        &o.store,
        "--apply",
        "--yes",
        "--allow-unmeasured",
        "--max-share",
        "1",
    ]);
    assert_eq!(o.routing()["dns"], p["after"]["dns"]);
}

/// Point 10: every outcome is on record (dry run, refusal, not confirmed,
/// no changes, applied) with the AWS principal; `--json` says the outcome.
#[tokio::test]
async fn regression_every_outcome_is_audited_with_the_principal() {
    let o = ops().await;
    let r = world_regions();
    let plan = o.plan("a", &advice(&r[0], &[]));
    let cfg = o.cfg();
    let base = ["apply", &plan, "--aws", &cfg, "--store", &o.store];
    o.ok(&base);
    o.fails(&[&base[..], &["--max-age", "nonsense-flag-value"]].concat());
    let out = o
        .command(&[&base[..], &["--apply"]].concat())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let shown: Value =
        serde_json::from_str(&o.ok(&[&base[..], &["--apply", "--yes", "--json"]].concat()))
            .unwrap();
    crate::util::assert_schema("change-result.schema.json", &shown);
    crate::util::assert_schema("change-plan.schema.json", &shown["plan"]);
    assert_eq!(shown["outcome"], "applied");
    let same = o.plan("same", &advice(&r[0], &[]));
    o.apply(&same);
    let results: Vec<String> = o
        .history()
        .iter()
        .map(|r| r["result"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        results,
        ["dry-run", "not-confirmed", "applied", "no-changes"],
        "a bad flag is refused before anything is read"
    );
    for record in o.history() {
        assert!(
            record["principal"]
                .as_str()
                .is_some_and(|p| p.starts_with("arn:aws:")),
            "{record}"
        );
    }
}

/// Point 11: rolling back a dry run is refused; a rollback shows what it
/// will change.
#[tokio::test]
async fn regression_rollback_refuses_records_that_changed_nothing() {
    let o = ops().await;
    let r = world_regions();
    let plan = o.plan("a", &advice(&r[0], &[]));
    let cfg = o.cfg();
    o.ok(&["apply", &plan, "--aws", &cfg, "--store", &o.store]);
    let dry = o.history()[0]["id"].as_str().unwrap().to_owned();
    let err = o.fails(&[
        "rollback", &dry, "--aws", &cfg, "--store", &o.store, "--apply", "--yes",
    ]);
    assert!(err.contains("changed nothing"), "{err}");
    o.apply(&plan);
    o.apply(&o.plan("b", &advice(&r[0], &[("DE", &r[1], 10.0)])));
    let applied = o.history()[2]["id"].as_str().unwrap().to_owned();
    let shown = o.ok(&[
        "rollback",
        &applied,
        "--aws",
        &cfg,
        "--store",
        &o.store,
        "--max-share",
        "1",
    ]);
    assert!(shown.contains("DELETE"), "{shown}");
    assert!(shown.contains("dry run: nothing changed"), "{shown}");
}

/// Point 12: with two regions drained, `restore` of one leaves the other
/// drained.
#[tokio::test]
async fn regression_restore_undoes_only_that_regions_drain() {
    let o = ops().await;
    let cfg = o.cfg();
    let spread = advice(
        "us-east-1",
        &[("BR", "sa-east-1", 5.0), ("CA", "us-west-2", 5.0)],
    );
    o.apply(&o.plan("spread", &spread));
    let start = o.routing();
    let topo = topology(o.dir.path(), 10.0);
    let drain = |region: &str| {
        o.ok(&[
            "drain",
            region,
            "--aws",
            &cfg,
            "--store",
            &o.store,
            "--topology",
            &topo,
            "--apply",
            "--yes",
            "--wait",
            "0",
        ])
    };
    drain("sa-east-1");
    drain("us-west-2");
    o.ok(&[
        "restore",
        "sa-east-1",
        "--aws",
        &cfg,
        "--store",
        &o.store,
        "--apply",
        "--yes",
        "--max-share",
        "1",
    ]);
    let now = o.routing();
    assert_eq!(
        now["accelerator"]["us-west-2"], 0.0,
        "us-west-2 stays drained"
    );
    assert_eq!(
        now["accelerator"]["sa-east-1"],
        start["accelerator"]["sa-east-1"]
    );
    assert_eq!(now["dns"]["country:BR"], start["dns"]["country:BR"]);
    assert!(now["dns"]["country:CA"].get("us-west-2").is_none(), "{now}");
}

/// Point 13: `--max-share` is a share of demand: a plan moving the one
/// location with 57% of demand (one of four locations) is refused.
#[tokio::test]
async fn regression_share_guard_weighs_demand() {
    let o = ops().await;
    let r = world_regions();
    let locations = |us: &str| {
        advice(
            &r[0],
            &[("US", us, 57.0), ("DE", &r[0], 13.0), ("JP", &r[0], 20.0)],
        )
    };
    o.apply(&o.plan("start", &locations(&r[0])));
    let plan = o.plan("move-us", &locations(&r[1]));
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert!(
        (p["moved_share"].as_f64().unwrap() - 0.57).abs() < 1e-9,
        "{p}"
    );
    let err = o.apply_fails(&plan);
    assert!(err.contains("moves 57.0% of traffic"), "{err}");
}

/// Point 7: a change that fails after Route 53 accepted its batch (the
/// accelerator refuses every step) is rolled back, read back, audited with
/// where AWS was left, and the lease is given back: the next apply is not
/// told another geolat holds it.
#[tokio::test]
async fn regression_failed_apply_is_audited_and_releases_the_lease() {
    let o = ops().await;
    let r = world_regions();
    let mut a = advice(&r[0], &[("DE", &r[1], 10.0)]);
    a["accelerator"] = json!({ r[1].as_str(): {"traffic_dial": 50.0} });
    let plan = o.plan("a", &a);
    o.gw.control(
        "POST",
        "/_emulator/faults",
        &json!({"match": "UpdateEndpointGroup", "error": "InternalFailure", "count": 10}),
    );
    let out = o.apply_output(&plan);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apply failed (audit"), "{err}");
    assert!(err.contains("the routing is as it was before"), "{err}");
    assert_eq!(o.routing()["dns"], json!({}), "Route 53 rolled back");
    let last = o.history().last().unwrap().clone();
    let result = last["result"].as_str().unwrap();
    assert!(result.starts_with("failed: "), "{result}");
    assert!(
        !o.dir.path().join("store/locks/routing.lease").exists(),
        "the lease is given back"
    );
    let again = o.apply_output(&plan);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!said.contains("holds the routing lease"), "{said}");
}
