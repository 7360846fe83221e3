//! Issue 9, point 14: a drain's wait reads Global Accelerator's
//! `NewFlowCount` where the service publishes it (CloudWatch in us-west-2,
//! whatever the SDK's region), and reads "no datapoints" as "no new flows"
//! only for a series that exists; otherwise it says it could not verify.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::json;

use geolat::aws::flows::{self, DrainOutcome};

use super::Gateway;

const ACCELERATOR: &str = "1234abcd-abcd-1234-abcd-1234abcdef01";

/// The SDK as an operator in Ireland has it: region eu-west-1.
async fn sdk_in(gw: &Gateway, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_route53::config::Credentials::new(
            "AKIDTEST",
            "secret",
            None,
            None,
            "geolat-tests",
        ))
        .endpoint_url(&gw.url)
        .load()
        .await
}

/// One `NewFlowCount` datapoint for `group`, `ago` seconds ago.
fn flows(gw: &Gateway, group: &str, ago: i64, value: f64) {
    let at = (chrono::Utc::now() - chrono::Duration::seconds(ago)).timestamp();
    gw.control(
        "POST",
        "/_emulator/cloudwatch/metrics",
        &json!({"Namespace": "AWS/GlobalAccelerator", "MetricData": [{
            "MetricName": "NewFlowCount", "Timestamp": at, "Value": value,
            "Dimensions": [{"Name": "Accelerator", "Value": ACCELERATOR},
                           {"Name": "EndpointGroup", "Value": group}]}]}),
    );
}

/// The regions CloudWatch calls were signed for.
fn cloudwatch_regions(gw: &Gateway) -> Vec<String> {
    gw.call_log()
        .iter()
        .filter(|c| c["service"] == "cloudwatch")
        .map(|c| c["region"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn wait(client: &aws_sdk_cloudwatch::Client, group: &str) -> flows::DrainReport {
    flows::wait_drained(
        client,
        ACCELERATOR,
        group,
        10.0,
        Duration::from_secs(2),
        Duration::from_millis(200),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn flows_are_read_in_us_west_2_whatever_the_sdk_region() {
    let gw = Gateway::start();
    let sdk = sdk_in(&gw, "eu-west-1").await;
    flows(&gw, "eu-central-1", 30, 3.0);
    // The client the drain command has always handed in (configured
    // region) and the one made for the purpose both ask us-west-2.
    for client in [
        geolat::aws::cloudwatch_client(&sdk),
        geolat::aws::accelerator_cloudwatch_client(&sdk),
    ] {
        gw.control("DELETE", "/_emulator/calls", &json!({}));
        let report = wait(&client, "eu-central-1").await;
        assert_eq!(report.outcome, DrainOutcome::Below { flows: 3.0 });
        assert!(report.verified() && report.drained());
        let regions = cloudwatch_regions(&gw);
        assert!(!regions.is_empty());
        assert!(regions.iter().all(|r| r == "us-west-2"), "{regions:?}");
    }
    // The string form the drain command prints is unchanged.
    let line = flows::wait_below(
        &geolat::aws::cloudwatch_client(&sdk),
        ACCELERATOR,
        "eu-central-1",
        10.0,
        Duration::from_secs(2),
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    assert!(line.contains("eu-central-1 drained: 3 new flows"), "{line}");
}

#[tokio::test]
async fn a_series_without_datapoints_is_not_verified_as_drained() {
    let gw = Gateway::start();
    let sdk = sdk_in(&gw, "eu-west-1").await;
    let client = geolat::aws::cloudwatch_client(&sdk);
    // Another group's flows say nothing about this one.
    flows(&gw, "eu-central-1", 30, 3.0);
    let report = wait(&client, "ap-south-1").await;
    assert_eq!(report.outcome, DrainOutcome::Unverified);
    assert!(!report.verified() && !report.drained());
    let line = report.to_string();
    assert!(line.contains("could not be verified"), "{line}");
    assert!(
        line.contains(ACCELERATOR) && line.contains("us-west-2"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[tokio::test]
async fn a_series_silent_since_the_drain_is_drained() {
    let gw = Gateway::start();
    let sdk = sdk_in(&gw, "eu-west-1").await;
    let client = geolat::aws::cloudwatch_client(&sdk);
    // Flows two hours ago, none in the last five minutes: Global
    // Accelerator publishes nothing for a minute without flows.
    flows(&gw, "ap-south-1", 2 * 3600, 40.0);
    let report = wait(&client, "ap-south-1").await;
    assert_eq!(report.outcome, DrainOutcome::NoFlows);
    assert!(report.verified() && report.drained());
    assert!(
        report
            .to_string()
            .contains("ap-south-1 drained: no new flows reported in the last 5 minutes"),
        "{report}"
    );
}
