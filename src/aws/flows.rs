//! Watching a drained region empty: Global Accelerator publishes the new
//! flows each endpoint group receives (`NewFlowCount`, namespace
//! `AWS/GlobalAccelerator`, per minute); after its dial goes to 0 they
//! fall as clients reconnect elsewhere. The seed's long-lived connections
//! are closed by the service itself on release; this waits until new ones
//! stop arriving, or says it gave up.

use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::routing::RoutingError;

const NAMESPACE: &str = "AWS/GlobalAccelerator";
const METRIC: &str = "NewFlowCount";

/// The most recent minute's new flows into `region`'s endpoint group, or
/// None when CloudWatch has no datapoint in the last five minutes (no
/// flows at all: the metric is only published for traffic).
pub async fn new_flows(
    client: &Client,
    accelerator_id: &str,
    region: &str,
) -> Result<Option<f64>, RoutingError> {
    let now = std::time::SystemTime::now();
    let metric = Metric::builder()
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .dimensions(
            Dimension::builder()
                .name("Accelerator")
                .value(accelerator_id)
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("EndpointGroup")
                .value(region)
                .build(),
        )
        .build();
    let query = MetricDataQuery::builder()
        .id("flows")
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let got = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(now - Duration::from_secs(300)))
        .end_time(DateTime::from(now))
        .send()
        .await
        .map_err(|e| RoutingError::Api {
            action: format!("reading {METRIC} for {region}"),
            message: super::describe(&e),
        })?;
    let latest = got.metric_data_results().iter().find_map(|r| {
        r.timestamps()
            .iter()
            .zip(r.values())
            .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()))
            .map(|(_, v)| *v)
    });
    Ok(latest)
}

/// Polls until the region's new flows are at most `below`, or `wait`
/// passes; the report says which.
pub async fn wait_below(
    client: &Client,
    accelerator_id: &str,
    region: &str,
    below: f64,
    wait: Duration,
    poll: Duration,
) -> Result<String, RoutingError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let flows = new_flows(client, accelerator_id, region).await?;
        match flows {
            Some(n) if n <= below => {
                return Ok(format!(
                    "{region} drained: {n} new flows in the last minute (at most {below})"
                ));
            }
            None => {
                return Ok(format!(
                    "{region} drained: no new flows reported in the last 5 minutes"
                ));
            }
            Some(n) if tokio::time::Instant::now() >= deadline => {
                return Ok(format!(
                    "{region} still receives {n} new flows per minute after {wait:?} (waiting for at most {below}); its dial is 0, check who still connects"
                ));
            }
            Some(_) => tokio::time::sleep(poll).await,
        }
    }
}
