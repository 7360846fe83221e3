//! Reading and applying routing on Route 53 and Global Accelerator through
//! the SDK, against the emulator gateway.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use geolat::aws::accelerator::Accelerator;
use geolat::aws::control::AwsControl;
use geolat::aws::layout::Layout;
use geolat::aws::route53::{Route53, SyncWait};
use geolat::routing::{RoutingControl as _, RoutingState};

use super::{Gateway, accelerator, hosted_zone};

const REGIONS: [&str; 3] = ["eu-central-1", "eu-west-1", "us-east-1"];

fn targets() -> BTreeMap<String, String> {
    REGIONS
        .iter()
        .map(|r| (r.to_string(), format!("{r}.lb.example.net")))
        .collect()
}

struct Setup {
    gw: Gateway,
    zone: String,
    listener: String,
    control: AwsControl,
}

async fn setup() -> Setup {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let zone = hosted_zone(&sdk, "example.com").await;
    let listener = accelerator(&sdk, &REGIONS).await;
    let control = AwsControl {
        route53: Some(Route53::new(
            geolat::aws::route53_client(&sdk),
            &zone,
            Layout::new("api.example.com", 60, targets()),
            SyncWait {
                every: Duration::from_millis(50),
                timeout: Duration::from_secs(10),
            },
        )),
        accelerator: Some(Accelerator::new(
            geolat::aws::accelerator_client(&sdk),
            &listener,
        )),
        sts: None,
    };
    Setup {
        gw,
        zone,
        listener,
        control,
    }
}

fn desired() -> RoutingState {
    let weights = |ws: &[(&str, u8)]| -> BTreeMap<String, u8> {
        ws.iter().map(|(r, w)| (r.to_string(), *w)).collect()
    };
    RoutingState {
        dns: [
            ("default".to_string(), weights(&[("us-east-1", 255)])),
            (
                "country:DE".to_string(),
                weights(&[("eu-central-1", 200), ("eu-west-1", 55)]),
            ),
        ]
        .into(),
        accelerator: [
            ("eu-central-1".to_string(), 100.0),
            ("eu-west-1".to_string(), 30.0),
            ("us-east-1".to_string(), 100.0),
        ]
        .into(),
    }
}

#[tokio::test]
async fn routing_is_read_applied_and_read_back_leaving_other_records_alone() {
    let s = setup().await;
    let sdk = s.gw.sdk().await;
    // A record someone else owns, on the same name.
    let r53 = geolat::aws::route53_client(&sdk);
    let foreign = ResourceRecordSet::builder()
        .name("www.example.com")
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("elsewhere.example.net")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    r53.change_resource_record_sets()
        .hosted_zone_id(&s.zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(foreign)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let before = s.control.read().await.unwrap();
    assert!(before.dns.is_empty(), "{before:?}");
    assert_eq!(
        before.accelerator.values().copied().collect::<Vec<_>>(),
        [100.0; 3]
    );

    s.control.apply(&desired()).await.unwrap();
    assert_eq!(s.control.read().await.unwrap(), desired());
    // Applying the same routing again changes nothing.
    let calls = s.gw.calls().len();
    s.control.apply(&desired()).await.unwrap();
    let again = s.gw.calls();
    assert!(
        again[calls..]
            .iter()
            .all(|(op, _, _)| op != "ChangeResourceRecordSets" && op != "UpdateEndpointGroup"),
        "{:?}",
        &again[calls..]
    );
    let www = r53
        .list_resource_record_sets()
        .hosted_zone_id(&s.zone)
        .send()
        .await
        .unwrap();
    assert!(
        www.resource_record_sets()
            .iter()
            .any(|r| r.name().starts_with("www.example.com")),
        "the foreign record is still there"
    );
}

#[tokio::test]
async fn dials_rise_before_they_fall() {
    let s = setup().await;
    let mut first = desired();
    first.dns.clear();
    first.accelerator.insert("us-east-1".into(), 20.0);
    s.control.apply(&first).await.unwrap();
    let mark = s.gw.calls().len();
    // us-east-1 20 -> 100 (rise), eu-west-1 30 -> 0 (fall).
    let mut second = first.clone();
    second.accelerator.insert("us-east-1".into(), 100.0);
    second.accelerator.insert("eu-west-1".into(), 0.0);
    s.control.apply(&second).await.unwrap();
    let updates: Vec<String> = s.gw.calls()[mark..]
        .iter()
        .filter(|(op, status, _)| op == "UpdateEndpointGroup" && *status == 200)
        .map(|(_, _, resource)| resource.clone())
        .collect();
    let groups = s.control.groups().await.unwrap();
    let arn = |region: &str| {
        groups
            .iter()
            .find(|g| g.region == region)
            .unwrap()
            .arn
            .clone()
    };
    assert_eq!(updates, [arn("us-east-1"), arn("eu-west-1")]);
    assert_eq!(
        s.control.read().await.unwrap().accelerator,
        second.accelerator
    );
}

#[tokio::test]
async fn throttling_is_retried() {
    let s = setup().await;
    s.gw.control(
        "POST",
        "/_emulator/faults",
        &serde_json::json!({"match": "UpdateEndpointGroup", "error": "ThrottlingException", "count": 1}),
    );
    s.gw.control(
        "POST",
        "/_emulator/faults",
        &serde_json::json!({"match": "ChangeResourceRecordSets", "error": "ThrottlingException", "count": 1}),
    );
    s.control.apply(&desired()).await.unwrap();
    assert_eq!(s.control.read().await.unwrap(), desired());
    let throttled = s.gw.calls().iter().filter(|c| c.1 == 400).count();
    assert_eq!(throttled, 2, "{:?}", s.gw.calls());
}

#[tokio::test]
async fn a_step_failing_halfway_is_rolled_back_and_said() {
    let s = setup().await;
    let before = s.control.read().await.unwrap();
    // The first accelerator step succeeds, every attempt at the second fails.
    let mut want = desired();
    want.accelerator.insert("us-east-1".into(), 60.0);
    let groups = s.control.groups().await.unwrap();
    let eu_west = groups.iter().find(|g| g.region == "eu-west-1").unwrap();
    s.gw.control(
        "POST",
        "/_emulator/faults",
        &serde_json::json!({"match": "UpdateEndpointGroup", "error": "InternalFailure",
                            "status": 500, "count": 3, "resource": eu_west.arn}),
    );
    let err = s.control.apply(&want).await.unwrap_err().to_string();
    assert!(err.contains("AWS is as it was before"), "{err}");
    assert!(err.contains("InternalFailure"), "{err}");
    assert_eq!(s.control.read().await.unwrap(), before);
}

#[tokio::test]
async fn constraints_the_emulator_holds_reach_the_sdk_as_errors() {
    let s = setup().await;
    let sdk = s.gw.sdk().await;
    let ga = geolat::aws::accelerator_client(&sdk);
    let groups = s.control.groups().await.unwrap();
    let err = ga
        .update_endpoint_group()
        .endpoint_group_arn(&groups[0].arn)
        .traffic_dial_percentage(101.0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_globalaccelerator::error::ProvideErrorMetadata::code(&err),
        Some("InvalidArgumentException")
    );
    // A routing that cannot be expressed is refused before any change.
    let mut want = desired();
    want.dns.remove("default");
    let mark = s.gw.calls().len();
    let err = s.control.apply(&want).await.unwrap_err().to_string();
    assert!(err.contains("no `default` location"), "{err}");
    let calls = s.gw.calls();
    assert!(
        calls[mark..]
            .iter()
            .all(|(op, _, _)| op.starts_with("List")),
        "only reads: {:?}",
        &calls[mark..]
    );
}

/// `geolat routing show`, as an operator runs it: credentials from the
/// environment, the endpoint from `AWS_ENDPOINT_URL`.
fn show(gw: &Gateway, config: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_geolat"))
        .args(["routing", "show", "--json", "--aws"])
        .arg(config)
        .env("AWS_ENDPOINT_URL", &gw.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[tokio::test]
async fn routing_show_prints_what_aws_holds() {
    let s = setup().await;
    s.control.apply(&desired()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.yaml");
    let targets: String = targets()
        .iter()
        .map(|(r, t)| format!("    {r}: {t}\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "route53:\n  hosted_zone_id: {}\n  name: api.example.com\n  targets:\n{targets}accelerator:\n  listener_arn: {}\n",
            s.zone, s.listener
        ),
    )
    .unwrap();
    let out = show(&s.gw, &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["dns"]["country:DE"]["eu-central-1"], 200);
    assert_eq!(shown["accelerator"]["eu-west-1"], 30.0);
    let groups = shown["endpoint_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0]["endpoints"][0]["healthy"], true);

    // A config naming no hosted zone: one line naming the file and field.
    std::fs::write(
        &config,
        "route53:\n  hosted_zone_id: ''\n  name: api.example.com\n  targets: {a: b}\n",
    )
    .unwrap();
    let out = show(&s.gw, &config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("aws.yaml: field `route53.hosted_zone_id`: is empty"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The same routing through a traffic policy instance: each change is a new
/// policy version the instance points at, and a failed apply points it
/// back.
#[tokio::test]
async fn traffic_policy_mode_round_trips_and_rolls_back_to_the_previous_version() {
    let mut s = setup().await;
    let sdk = s.gw.sdk().await;
    s.control.route53 = s
        .control
        .route53
        .take()
        .map(|r| r.with_mode(geolat::aws::Route53Mode::TrafficPolicy));
    s.control.apply(&desired()).await.unwrap();
    assert_eq!(s.control.read().await.unwrap(), desired());
    let first = s.control.policy().await.unwrap().unwrap();
    assert_eq!(first.version, 1);

    let mut second = desired();
    second
        .dns
        .get_mut("country:DE")
        .unwrap()
        .insert("eu-west-1".into(), 155);
    s.control.apply(&second).await.unwrap();
    assert_eq!(s.control.read().await.unwrap(), second);
    let now = s.control.policy().await.unwrap().unwrap();
    assert_eq!((now.id.as_str(), now.version), (first.id.as_str(), 2));

    // A third change whose accelerator step fails: the instance goes back
    // to version 2.
    let mut third = second.clone();
    third.dns.get_mut("country:DE").unwrap().remove("eu-west-1");
    third.accelerator.insert("us-east-1".into(), 50.0);
    s.gw.control(
        "POST",
        "/_emulator/faults",
        &serde_json::json!({"match": "UpdateEndpointGroup", "error": "InternalFailure", "count": 5}),
    );
    let err = s.control.apply(&third).await.unwrap_err().to_string();
    assert!(err.contains("AWS is as it was before"), "{err}");
    assert_eq!(s.control.read().await.unwrap(), second);
    assert_eq!(s.control.policy().await.unwrap().unwrap().version, 2);
    let versions = geolat::aws::route53_client(&sdk)
        .list_traffic_policy_versions()
        .id(&first.policy_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.traffic_policies().len(),
        3,
        "versions stay for rollback"
    );
}

/// `routing show` lists every record type on the service name (written by
/// others: geolat leaves them alone), with the health check they use.
#[tokio::test]
async fn routing_show_lists_each_record_type_and_health_checks() {
    use aws_sdk_route53::types::{
        GeoLocation, GeoProximityLocation, HealthCheckConfig, HealthCheckType,
        ResourceRecordSetFailover, ResourceRecordSetRegion,
    };
    let s = setup().await;
    let sdk = s.gw.sdk().await;
    let r53 = geolat::aws::route53_client(&sdk);
    let check = r53
        .create_health_check()
        .caller_reference("hc-1")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name("eu-west-1.lb.example.net")
                .port(443)
                .resource_path("/healthz")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let check_id = check.health_check().unwrap().id().to_owned();
    let record = |name: &str, set: &str| {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(60)
            .set_identifier(set)
            .resource_records(
                ResourceRecord::builder()
                    .value("eu-west-1.lb.example.net")
                    .build()
                    .unwrap(),
            )
    };
    let sets = [
        record("geo.api.example.com", "geo")
            .geo_location(GeoLocation::builder().continent_code("EU").build()),
        record("latency.api.example.com", "lat").region(ResourceRecordSetRegion::EuWest1),
        record("weighted.api.example.com", "w").weight(10),
        record("failover.api.example.com", "primary")
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id(&check_id),
        record("proximity.api.example.com", "prox").geo_proximity_location(
            GeoProximityLocation::builder()
                .aws_region("eu-west-1")
                .bias(20)
                .build(),
        ),
        record("multi.api.example.com", "m").multi_value_answer(true),
    ];
    let mut batch = ChangeBatch::builder();
    for set in sets {
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(set.build().unwrap())
                .build()
                .unwrap(),
        );
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(&s.zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.yaml");
    std::fs::write(
        &config,
        format!(
            "route53:\n  hosted_zone_id: {}\n  name: api.example.com\n  targets: {{eu-west-1: eu-west-1.lb.example.net}}\n",
            s.zone
        ),
    )
    .unwrap();
    let out = show(&s.gw, &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routing: Vec<(&str, &str)> = shown["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["routing"].as_str().unwrap()))
        .collect();
    for expected in [
        ("geo.api.example.com.", "geolocation continent:EU"),
        ("latency.api.example.com.", "latency eu-west-1"),
        ("weighted.api.example.com.", "weighted 10"),
        ("failover.api.example.com.", "failover PRIMARY"),
        (
            "proximity.api.example.com.",
            "geoproximity eu-west-1 bias 20",
        ),
        ("multi.api.example.com.", "multivalue"),
    ] {
        assert!(routing.contains(&expected), "{expected:?} in {routing:?}");
    }
    let checks = shown["health_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["id"], check_id.as_str());
    assert_eq!(
        checks[0]["target"],
        "HTTPS eu-west-1.lb.example.net:443/healthz"
    );
}

/// A broken AWS routing config: one line naming the file, line and problem.
#[test]
fn a_broken_config_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws.yaml");
    std::fs::write(&config, "route53:\n  name: a: b\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_geolat"))
        .args(["routing", "show", "--aws"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("aws.yaml: line 2"), "{err}");
}
