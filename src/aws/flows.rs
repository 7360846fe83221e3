//! Watching a drained region empty: Global Accelerator publishes the new
//! flows each endpoint group receives (`NewFlowCount`, namespace
//! `AWS/GlobalAccelerator`, per minute); after its dial goes to 0 they
//! fall as clients reconnect elsewhere. The seed's long-lived connections
//! are closed by the service itself on release; this waits until new ones
//! stop arriving, or says it gave up.
//!
//! Two facts of the metric shape the wait. Global Accelerator publishes
//! it in us-west-2 only, whatever region the SDK is configured for, so
//! every query goes there. And it publishes a datapoint only for a minute
//! with flows: no datapoint is "no flows" only for a series that exists.
//! Read in the wrong place (another region, a wrong accelerator id) the
//! metric is absent too, so an absence counts as drained only when the
//! series had datapoints in the day before the wait; otherwise the report
//! says the drain could not be verified.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::routing::RoutingError;

const NAMESPACE: &str = "AWS/GlobalAccelerator";
const METRIC: &str = "NewFlowCount";
/// How far back "the latest minute" may be.
const RECENT: Duration = Duration::from_secs(300);
/// How far before the wait a series must have datapoints for its absence
/// to mean "no flows".
const HISTORY: Duration = Duration::from_secs(24 * 3600);

/// `client` as it is, but asking CloudWatch in us-west-2, where Global
/// Accelerator publishes its metrics.
pub fn in_metrics_region(client: &Client) -> Client {
    let conf = client
        .config()
        .to_builder()
        .region(Region::new(super::ACCELERATOR_REGION))
        .build();
    Client::from_conf(conf)
}

fn metric(accelerator_id: &str, region: &str) -> Metric {
    Metric::builder()
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
        .build()
}

/// The series' sums per `period` seconds in `[from, to)`, as (epoch
/// seconds, value).
async fn sums(
    client: &Client,
    accelerator_id: &str,
    region: &str,
    from: SystemTime,
    to: SystemTime,
    period: i32,
) -> Result<Vec<(i64, f64)>, RoutingError> {
    let query = MetricDataQuery::builder()
        .id("flows")
        .metric_stat(
            MetricStat::builder()
                .metric(metric(accelerator_id, region))
                .period(period)
                .stat("Sum")
                .build(),
        )
        .build();
    let got = in_metrics_region(client)
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(from))
        .end_time(DateTime::from(to))
        .send()
        .await
        .map_err(|e| RoutingError::Api {
            action: format!("reading {METRIC} for {region}"),
            message: super::describe(&e),
        })?;
    Ok(got
        .metric_data_results()
        .iter()
        .flat_map(|r| {
            r.timestamps()
                .iter()
                .map(|t| t.secs())
                .zip(r.values().iter().copied())
        })
        .collect())
}

/// The most recent minute's new flows into `region`'s endpoint group, or
/// None when CloudWatch (in us-west-2) has no datapoint in the last five
/// minutes: no flows, if the series exists at all ([`had_flows`]).
pub async fn new_flows(
    client: &Client,
    accelerator_id: &str,
    region: &str,
) -> Result<Option<f64>, RoutingError> {
    let now = SystemTime::now();
    let points = sums(client, accelerator_id, region, now - RECENT, now, 60).await?;
    Ok(points.into_iter().max_by_key(|(t, _)| *t).map(|(_, v)| v))
}

/// Whether `region`'s endpoint group has any `NewFlowCount` datapoint in
/// the day before `until`: whether the series is where it is looked for.
pub async fn had_flows(
    client: &Client,
    accelerator_id: &str,
    region: &str,
    until: SystemTime,
) -> Result<bool, RoutingError> {
    let points = sums(client, accelerator_id, region, until - HISTORY, until, 3600).await?;
    Ok(!points.is_empty())
}

/// How a wait for a drained region's flows ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DrainOutcome {
    /// The latest minute had at most the threshold's new flows.
    Below { flows: f64 },
    /// No datapoint in the last five minutes, from a series that had
    /// datapoints in the day before the wait: no new flows.
    NoFlows,
    /// Still above the threshold when the wait ended.
    StillFlowing { flows: f64 },
    /// No datapoint now nor in the day before the wait: nothing shows the
    /// metric is read where Global Accelerator writes it, so its absence
    /// proves nothing.
    Unverified,
}

/// What [`wait_drained`] saw; its `Display` is the line to print.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainReport {
    pub region: String,
    pub accelerator_id: String,
    /// The threshold: new flows per minute.
    pub below: f64,
    /// The longest wait allowed.
    pub wait: Duration,
    pub outcome: DrainOutcome,
}

impl DrainReport {
    /// Whether the metric showed the region drained.
    pub fn drained(&self) -> bool {
        matches!(
            self.outcome,
            DrainOutcome::Below { .. } | DrainOutcome::NoFlows
        )
    }

    /// Whether the metric could say anything at all: false for
    /// [`DrainOutcome::Unverified`], which a caller should treat as a
    /// failure (a non-zero exit).
    pub fn verified(&self) -> bool {
        self.outcome != DrainOutcome::Unverified
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (region, below) = (&self.region, self.below);
        match &self.outcome {
            DrainOutcome::Below { flows } => write!(
                f,
                "{region} drained: {flows} new flows in the last minute (at most {below})"
            ),
            DrainOutcome::NoFlows => write!(
                f,
                "{region} drained: no new flows reported in the last 5 minutes (flows were reported in the day before)"
            ),
            DrainOutcome::StillFlowing { flows } => write!(
                f,
                "{region} still receives {flows} new flows per minute after {:?} (waiting for at most {below}); its dial is 0, check who still connects",
                self.wait
            ),
            DrainOutcome::Unverified => write!(
                f,
                "{region}: the drain could not be verified: CloudWatch in {} has no {NAMESPACE} {METRIC} for accelerator {} endpoint group {region}, now or in the day before; it is published only while flows arrive, so check the accelerator and the region, or the endpoints' own connections",
                super::ACCELERATOR_REGION,
                self.accelerator_id
            ),
        }
    }
}

/// Polls until the region's new flows are at most `below`, or `wait`
/// passes; the report says which, or that the metric could not tell.
pub async fn wait_drained(
    client: &Client,
    accelerator_id: &str,
    region: &str,
    below: f64,
    wait: Duration,
    poll: Duration,
) -> Result<DrainReport, RoutingError> {
    let started = SystemTime::now();
    let deadline = tokio::time::Instant::now() + wait;
    let report = |outcome| DrainReport {
        region: region.to_owned(),
        accelerator_id: accelerator_id.to_owned(),
        below,
        wait,
        outcome,
    };
    loop {
        let outcome = match new_flows(client, accelerator_id, region).await? {
            Some(flows) if flows <= below => DrainOutcome::Below { flows },
            None if had_flows(client, accelerator_id, region, started).await? => {
                DrainOutcome::NoFlows
            }
            None => DrainOutcome::Unverified,
            Some(flows) if tokio::time::Instant::now() >= deadline => {
                DrainOutcome::StillFlowing { flows }
            }
            Some(_) => {
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        return Ok(report(outcome));
    }
}

/// [`wait_drained`]'s report as its line. An unverified drain is a line
/// like the others here: callers that must fail on it use
/// [`wait_drained`] and [`DrainReport::verified`].
pub async fn wait_below(
    client: &Client,
    accelerator_id: &str,
    region: &str,
    below: f64,
    wait: Duration,
    poll: Duration,
) -> Result<String, RoutingError> {
    let report = wait_drained(client, accelerator_id, region, below, wait, poll).await?;
    Ok(report.to_string())
}
