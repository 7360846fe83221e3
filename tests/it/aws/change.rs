//! `geolat plan`, `apply`, `history`, `rollback`, `drain` and `restore`
//! as an operator runs them, against the emulator gateway: advice from the
//! built-in world, a change plan, guardrails, dry run, apply, the digest
//! check, the lease, audit records, rollback and a drain/restore round
//! trip.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::{Gateway, accelerator, hosted_zone};

pub(super) const WORLD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/world/aws-edges.json");

pub(super) struct Ops {
    pub gw: Gateway,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: String,
}

impl Ops {
    /// geolat as an operator runs it: credentials and the endpoint from the
    /// environment (S3 over plain HTTP to the emulator).
    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_geolat"));
        c.args(args)
            .env("AWS_ENDPOINT_URL", &self.gw.url)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_REGION", "eu-west-1")
            .env_remove("AWS_PROFILE")
            .env_remove("GEOLAT_STORE");
        c
    }

    pub(super) fn geolat(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a geolat command that must succeed; its stdout.
    pub(super) fn ok(&self, args: &[&str]) -> String {
        let out = self.geolat(args);
        assert!(
            out.status.success(),
            "geolat {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a geolat command that must fail; its one-line error.
    pub(super) fn fails(&self, args: &[&str]) -> String {
        let out = self.geolat(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "geolat {args:?} succeeded");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        err
    }

    pub(super) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub(super) fn routing(&self) -> Value {
        let c = self.config.display().to_string();
        serde_json::from_str(&self.ok(&["routing", "show", "--json", "--aws", &c])).unwrap()
    }

    pub(super) fn write(&self, name: &str, v: &Value) -> String {
        let p = self.path(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        p
    }
}

pub(super) fn world_regions() -> Vec<String> {
    let w: Value = serde_json::from_str(&std::fs::read_to_string(WORLD).unwrap()).unwrap();
    w["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The built-in world as a topology: the same regions and geos, without
/// the measured latency, capacities multiplied by `room`.
pub(super) fn topology(dir: &Path, room: f64) -> String {
    let mut w: Value = serde_json::from_str(&std::fs::read_to_string(WORLD).unwrap()).unwrap();
    w["format"] = "geolat-topology/1".into();
    let o = w.as_object_mut().unwrap();
    o.remove("provenance");
    o.remove("routing");
    for g in o["geos"].as_array_mut().unwrap() {
        g.as_object_mut().unwrap().remove("latency_ms");
    }
    for r in o["regions"].as_array_mut().unwrap() {
        r["capacity_rps"] = (r["capacity_rps"].as_f64().unwrap() * room).into();
    }
    let p = dir.join(format!("topology-{room}.json"));
    std::fs::write(&p, serde_json::to_vec(&w).unwrap()).unwrap();
    p.display().to_string()
}

pub(super) async fn ops() -> Ops {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let regions = world_regions();
    let names: Vec<&str> = regions.iter().map(String::as_str).collect();
    let zone = hosted_zone(&sdk, "example.com").await;
    let listener = accelerator(&sdk, &names).await;
    let dir = tempfile::tempdir().unwrap();
    let targets: String = regions
        .iter()
        .map(|r| format!("    {r}: {r}.lb.example.net\n"))
        .collect();
    let config = dir.path().join("aws.yaml");
    std::fs::write(
        &config,
        format!(
            "route53:\n  hosted_zone_id: {zone}\n  name: api.example.com\n  targets:\n{targets}accelerator:\n  listener_arn: {listener}\n"
        ),
    )
    .unwrap();
    let store = format!("file://{}", dir.path().join("store").display());
    Ops {
        gw,
        dir,
        config,
        store,
    }
}

#[tokio::test]
async fn advice_is_planned_guarded_dry_run_applied_audited_and_rolled_back() {
    let o = ops().await;
    let cfg = o.config.display().to_string();
    let advice = o.ok(&["advise", "--world", WORLD, "--json"]);
    let advice_file = o.path("advice.json");
    std::fs::write(&advice_file, &advice).unwrap();
    let plan = o.path("plan.json");
    let shown = o.ok(&[
        "plan",
        "--aws",
        &cfg,
        "--advice",
        &advice_file,
        "--out",
        &plan,
    ]);
    assert!(
        shown.contains("Route 53, one atomic change batch"),
        "{shown}"
    );
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    crate::util::assert_schema("change-plan.schema.json", &p);
    assert!(p["route53"].as_array().unwrap().len() > 2);

    // Advice from a world file, not measurements: refused, and said.
    let err = o.fails(&["apply", &plan, "--aws", &cfg, "--store", &o.store]);
    assert!(err.contains("--allow-unmeasured"), "{err}");
    // The dials move traffic (each dial's change times its region's share
    // of demand): more than a tight limit allows.
    let err = o.fails(&[
        "apply",
        &plan,
        "--aws",
        &cfg,
        "--store",
        &o.store,
        "--allow-unmeasured",
        "--max-share",
        "0.01",
    ]);
    assert!(
        err.contains("more than the 1.0% one apply may (--max-share)"),
        "{err}"
    );
    // Dry run: shown and audited, nothing changed.
    let flags = [
        "--aws",
        &cfg,
        "--store",
        &o.store,
        "--allow-unmeasured",
        "--max-share",
        "1",
    ];
    let dry = o.ok(&[&["apply", &plan][..], &flags].concat());
    assert!(dry.contains("dry run: nothing changed"), "{dry}");
    assert_eq!(o.routing()["dns"], json!({}));

    // Applied.
    let applied = o.ok(&[&["apply", &plan, "--apply", "--yes"][..], &flags].concat());
    assert!(applied.contains("applied (audit"), "{applied}");
    let after = o.routing();
    assert_eq!(after["dns"], p["after"]["dns"]);
    assert_eq!(after["accelerator"], p["after"]["accelerator"]);

    // Advice on today's routing as AWS holds it: every geo's current
    // routing is its Route 53 location's split.
    let again: Value =
        serde_json::from_str(&o.ok(&["advise", "--world", WORLD, "--aws", &cfg, "--json"]))
            .unwrap();
    let world: Value = serde_json::from_str(&std::fs::read_to_string(WORLD).unwrap()).unwrap();
    let de = world["geos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["country"] == "DE")
        .unwrap();
    let weights = after["dns"]["country:DE"].as_object().unwrap();
    let total: f64 = weights.values().map(|w| w.as_f64().unwrap()).sum();
    let current = &again["geos"][de["id"].as_str().unwrap()]["current"];
    for (region, w) in weights {
        let want = w.as_f64().unwrap() / total;
        assert!(
            (current[region].as_f64().unwrap() - want).abs() < 1e-9,
            "{region}: {current}"
        );
    }

    // The same plan again: the live state is no longer what it was made against.
    let err = o.fails(&[&["apply", &plan, "--apply", "--yes"][..], &flags].concat());
    assert!(err.contains("live routing changed since"), "{err}");

    // The built-in world's capacities bind: a drain into a backup that
    // cannot carry the load is refused. With room for N+1, sa-east-1
    // drains into us-east-1, then is restored.
    let tight = topology(o.dir.path(), 1.0);
    let topo = topology(o.dir.path(), 3.0);
    let drain_flags = [
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
    ];
    let tight_flags = drain_flags.map(|f| if f == topo { tight.as_str() } else { f });
    let err = o.fails(&[&["drain", "eu-central-1"][..], &tight_flags].concat());
    assert!(
        err.contains("backup region us-east-1 cannot take eu-central-1's load"),
        "{err}"
    );
    let region = "sa-east-1";
    o.ok(&[&["drain", region][..], &drain_flags].concat());
    let drained = o.routing();
    assert_eq!(drained["accelerator"][region], 0.0);
    for (location, weights) in drained["dns"].as_object().unwrap() {
        assert!(
            weights.get(region).is_none(),
            "{location} still sends to {region}"
        );
    }
    o.ok(&[
        "restore", region, "--aws", &cfg, "--store", &o.store, "--apply", "--yes",
    ]);
    assert_eq!(o.routing()["dns"], after["dns"]);
    assert_eq!(o.routing()["accelerator"], after["accelerator"]);

    // History: every action, and rollback of the apply's predecessor state.
    let history: Value =
        serde_json::from_str(&o.ok(&["history", "--store", &o.store, "--json"])).unwrap();
    let actions: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(actions.len(), 7, "{actions:?}");
    assert!(actions[0].1.contains("--allow-unmeasured"), "{actions:?}");
    assert!(actions[1].1.contains("--max-share"), "{actions:?}");
    assert_eq!(actions[2], ("apply", "dry-run"));
    assert_eq!(actions[3], ("apply", "applied"));
    assert!(actions[4].1.contains("live routing changed"), "{actions:?}");
    assert_eq!(actions[5], ("drain", "applied"));
    assert_eq!(actions[6], ("restore", "applied"));
    assert!(
        history[3]["after"]["dns"].is_object(),
        "the state after is recorded"
    );
    // Roll the restore back: the region is drained again.
    let restore_id = history[6]["id"].as_str().unwrap();
    o.ok(&[
        "rollback",
        restore_id,
        "--aws",
        &cfg,
        "--store",
        &o.store,
        "--apply",
        "--yes",
        "--max-share",
        "1",
    ]);
    assert_eq!(o.routing()["accelerator"][region], 0.0);
    assert_eq!(o.routing()["dns"], drained["dns"]);
    let table = o.ok(&["history", "--store", &o.store]);
    assert!(
        table.contains("drain") && table.contains("restore"),
        "{table}"
    );
}

#[tokio::test]
async fn guardrails_and_the_lease_refuse_by_name() {
    let o = ops().await;
    let cfg = o.config.display().to_string();
    let regions = world_regions();
    let advice = |measured_until: String, thin: u64| {
        json!({
            "traffic_policy": {"StartRule": "geo", "Rules": {"geo": {"RuleType": "geo", "Locations": [
                {"EndpointReference": regions[0], "IsDefault": true},
                {"EndpointReference": regions[1], "Country": "DE"}
            ]}}},
            "accelerator": {},
            "evidence": {"measured_until": measured_until, "windows": 500, "thin_cells": thin}
        })
    };
    let fresh = chrono::Utc::now().to_rfc3339();
    let stale = (chrono::Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
    let plan_of = |name: &str, advice: Value| {
        let a = o.write(&format!("{name}.advice.json"), &advice);
        let p = o.path(&format!("{name}.plan.json"));
        o.ok(&["plan", "--aws", &cfg, "--advice", &a, "--out", &p]);
        p
    };
    let flags = ["--aws", &cfg, "--store", &o.store, "--apply", "--yes"];
    let err = o.fails(&[&["apply", &plan_of("stale", advice(stale, 0))][..], &flags].concat());
    assert!(err.contains("measurements end 5h ago"), "{err}");
    let err = o.fails(
        &[
            &["apply", &plan_of("thin", advice(fresh.clone(), 4))][..],
            &flags,
        ]
        .concat(),
    );
    assert!(
        err.contains("4 of the measurements behind it have too few samples"),
        "{err}"
    );

    // An unhealthy region receiving traffic.
    let good = plan_of("good", advice(fresh.clone(), 0));
    let sick = format!("alb-{}", regions[1]);
    let endpoint_health = |state: &str| {
        o.gw.control(
            "POST",
            "/_emulator/ga/health",
            &json!({"endpoint_id": sick, "state": state}),
        )
    };
    let refused_for = |region: &str| {
        let err = o.fails(&[&["apply", &good][..], &flags].concat());
        assert!(
            err.contains(&format!("{region}, which has no healthy endpoint")),
            "{err}"
        );
    };
    endpoint_health("UNHEALTHY");
    refused_for(&regions[1]);
    endpoint_health("HEALTHY");

    // A failing Route 53 health check on the region's endpoint.
    let r53 = geolat::aws::route53_client(&o.gw.sdk().await);
    let check = r53
        .create_health_check()
        .caller_reference("hc-default")
        .health_check_config(
            aws_sdk_route53::types::HealthCheckConfig::builder()
                .r#type(aws_sdk_route53::types::HealthCheckType::Https)
                .fully_qualified_domain_name(format!("{}.lb.example.net", regions[0]))
                .port(443)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let check = check.health_check().unwrap().id().to_owned();
    let mut text = std::fs::read_to_string(&o.config).unwrap();
    text = text.replacen(
        "\naccelerator:",
        &format!(
            "\n  health_checks:\n    {}: {check}\naccelerator:",
            regions[0]
        ),
        1,
    );
    std::fs::write(&o.config, text).unwrap();
    let check_status = |status: &str| {
        o.gw.control(
            "POST",
            "/_emulator/route53/health",
            &json!({"health_check_id": check, "status": status}),
        )
    };
    check_status("Failure: HTTP Status Code 503");
    refused_for(&regions[0]);
    check_status("Success: HTTP Status Code 200");

    // Another writer holds the lease: said, nothing changed, clean exit.
    let lease_dir = o.dir.path().join("store/locks");
    std::fs::create_dir_all(&lease_dir).unwrap();
    let until = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    std::fs::write(
        lease_dir.join("routing.lease"),
        json!({"holder": "cronjob@eu-west-1", "token": "t", "acquired_at": fresh, "expires_at": until}).to_string(),
    )
    .unwrap();
    // Regression (issue 9, point 7): "lease held, nothing applied" is its
    // own exit status, 0 only with --lease-busy-ok.
    let out = o.geolat(&[&["apply", &good][..], &flags].concat());
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another geolat holds the routing lease: cronjob@eu-west-1"),
        "{err}"
    );
    let out = o.geolat(&[&["apply", &good, "--lease-busy-ok"][..], &flags].concat());
    assert!(out.status.success());
    assert_eq!(o.routing()["dns"], json!({}));
    // Once it is released, the apply goes through.
    std::fs::remove_file(lease_dir.join("routing.lease")).unwrap();
    o.ok(&[&["apply", &good][..], &flags].concat());
    assert_eq!(o.routing()["dns"]["country:DE"][&regions[1]], 255);
    assert!(
        !lease_dir.join("routing.lease").exists(),
        "the lease is given back"
    );
}

/// Two applies of one plan started at once, audit and lease in S3 (moto,
/// conditional writes): exactly one applies; the other says who holds the
/// lease, or finds the routing already changed.
#[tokio::test]
async fn two_applies_at_once_apply_once_with_an_s3_lease() {
    let o = ops().await;
    let cfg = o.config.display().to_string();
    let regions = world_regions();
    // A bucket, created with a plain path-style S3 request.
    let addr = o.gw.url.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "PUT /geolat-ops HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
        "{reply}"
    );

    let advice = json!({
        "traffic_policy": {"StartRule": "geo", "Rules": {"geo": {"RuleType": "geo", "Locations": [
            {"EndpointReference": regions[0], "IsDefault": true}
        ]}}},
        "accelerator": {},
        "evidence": {"measured_until": chrono::Utc::now().to_rfc3339(), "windows": 10, "thin_cells": 0}
    });
    let a = o.write("advice.json", &advice);
    let plan = o.path("plan.json");
    o.ok(&["plan", "--aws", &cfg, "--advice", &a, "--out", &plan]);
    let store = "s3://geolat-ops/prod";
    let spawn = || {
        o.command(&[
            "apply", &plan, "--aws", &cfg, "--store", store, "--apply", "--yes",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let applied = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("applied (audit"))
        .count();
    let report: Vec<String> = outs
        .iter()
        .map(|o| format!("{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr)))
        .collect();
    assert_eq!(applied, 1, "{report:#?}");
    let other = outs
        .iter()
        .find(|o| !String::from_utf8_lossy(&o.stdout).contains("applied (audit"))
        .unwrap();
    let said = String::from_utf8_lossy(&other.stderr);
    assert!(
        said.contains("another geolat holds the routing lease")
            || said.contains("live routing changed"),
        "{said}"
    );
    assert_eq!(o.routing()["dns"]["default"][&regions[0]], 255);
    let out = o.geolat(&["history", "--store", store, "--json"]);
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| **r == "applied").count(),
        1,
        "{results:?}"
    );
}

/// A drain waits for Global Accelerator's new flows into the region (from
/// CloudWatch) to fall, and says when they do not.
#[tokio::test]
async fn a_drain_waits_for_new_flows_to_fall() {
    let o = ops().await;
    let cfg = o.config.display().to_string();
    let advice = json!({
        "traffic_policy": {"StartRule": "geo", "Rules": {"geo": {"RuleType": "geo", "Locations": [
            {"EndpointReference": "us-east-1", "IsDefault": true},
            {"EndpointReference": "us-west-2", "Country": "CA"}
        ]}}},
        "accelerator": {},
        "evidence": {"measured_until": chrono::Utc::now().to_rfc3339(), "windows": 10, "thin_cells": 0}
    });
    let a = o.write("advice.json", &advice);
    let plan = o.path("plan.json");
    o.ok(&["plan", "--aws", &cfg, "--advice", &a, "--out", &plan]);
    o.ok(&[
        "apply", &plan, "--aws", &cfg, "--store", &o.store, "--apply", "--yes",
    ]);
    let shown = o.routing();
    let arn = shown["endpoint_groups"][0]["arn"].as_str().unwrap();
    // arn:aws:globalaccelerator::ACCOUNT:accelerator/ID/listener/L/endpoint-group/G
    let accelerator = arn.split('/').nth(1).unwrap();
    let flows = |ago: i64, value: f64| {
        let at = (chrono::Utc::now() - chrono::Duration::seconds(ago)).timestamp();
        o.gw.control(
            "POST",
            "/_emulator/cloudwatch/metrics",
            &json!({"Namespace": "AWS/GlobalAccelerator", "MetricData": [{
                "MetricName": "NewFlowCount", "Timestamp": at, "Value": value,
                "Dimensions": [{"Name": "Accelerator", "Value": accelerator},
                               {"Name": "EndpointGroup", "Value": "us-west-2"}]}]}),
        );
    };
    flows(200, 50.0);
    // All the world's default traffic is on us-east-1 here: room enough.
    let topo = topology(o.dir.path(), 10.0);
    let drain = |wait: &str| {
        o.ok(&[
            "drain",
            "us-west-2",
            "--aws",
            &cfg,
            "--store",
            &o.store,
            "--topology",
            &topo,
            "--apply",
            "--yes",
            "--wait",
            wait,
            "--poll",
            "1s",
            "--flows-below",
            "10",
        ])
    };
    let out = drain("2s");
    assert!(
        out.contains("us-west-2 still receives 50 new flows per minute"),
        "{out}"
    );
    assert_eq!(o.routing()["accelerator"]["us-west-2"], 0.0);
    // Clients have moved: the latest minute shows 3 new flows.
    flows(5, 3.0);
    let out = drain("2s");
    assert!(out.contains("us-west-2 drained: 3 new flows"), "{out}");
}
