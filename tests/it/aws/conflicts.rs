//! Issue 9, point 15: `geolat plan` on a service name that already holds
//! records geolat does not own, and Route 53 would not let stand beside
//! geolat's CNAMEs, fails naming them and the way out. (It used to plan
//! the takeover as a harmless change, and the apply would have failed.)

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::json;

use super::{Gateway, hosted_zone};

#[tokio::test]
async fn plan_refuses_a_name_with_a_simple_record_geolat_does_not_own() {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let zone = hosted_zone(&sdk, "example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.yaml");
    std::fs::write(
        &config,
        format!(
            "route53:\n  hosted_zone_id: {zone}\n  name: api.example.com\n  targets:\n    us-east-1: us-east-1.lb.example.net\n    us-west-2: us-west-2.lb.example.net\n"
        ),
    )
    .unwrap();
    let advice = dir.path().join("advice.json");
    std::fs::write(
        &advice,
        json!({
            "traffic_policy": {"StartRule": "geo", "Rules": {"geo": {"RuleType": "geo", "Locations": [
                {"EndpointReference": "us-east-1", "IsDefault": true},
                {"EndpointReference": "us-west-2", "Country": "CA"}
            ]}}},
            "accelerator": {},
            "evidence": {"measured_until": chrono::Utc::now().to_rfc3339(), "windows": 10, "thin_cells": 0}
        })
        .to_string(),
    )
    .unwrap();
    let plan_out = dir.path().join("plan.json");
    let (cfg, advice, plan_out) = (
        config.display().to_string(),
        advice.display().to_string(),
        plan_out.display().to_string(),
    );
    let plan = || async {
        let mut c = crate::util::geolat_command(&[
            "plan", "--aws", &cfg, "--advice", &advice, "--out", &plan_out,
        ]);
        c.env("AWS_ENDPOINT_URL", &gw.url)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_REGION", "eu-west-1")
            .env_remove("AWS_PROFILE");
        c.output().await.unwrap()
    };
    // The name is free: the plan is made.
    let out = plan().await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Someone's simple A record at the service name.
    geolat::aws::route53_client(&sdk)
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name("api.example.com")
                                .r#type(RrType::A)
                                .ttl(300)
                                .resource_records(
                                    ResourceRecord::builder()
                                        .value("192.0.2.10")
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    std::fs::remove_file(&plan_out).unwrap();
    let out = plan().await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "planned anyway: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("route53.name api.example.com has 1 record(s) geolat does not own"),
        "{err}"
    );
    assert!(err.contains("api.example.com. A simple"), "{err}");
    assert!(
        err.contains("migration: move it under another name first, e.g. legacy.api.example.com"),
        "{err}"
    );
    assert!(!std::path::Path::new(&plan_out).exists(), "no plan written");
}
