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
use std::future::Future;
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
    let flows = CloudWatchFlows {
        client,
        accelerator_id,
        region,
    };
    let outcome = wait_for(&flows, below, wait, poll).await?;
    Ok(DrainReport {
        region: region.to_owned(),
        accelerator_id: accelerator_id.to_owned(),
        below,
        wait,
        outcome,
    })
}

/// Where a drain wait reads a region's new flows: CloudWatch, or in the
/// tests a script run on tokio's paused clock.
trait FlowSource {
    /// The most recent minute's new flows, `None` when there is no
    /// datapoint (see [`new_flows`]).
    fn recent(&self) -> impl Future<Output = Result<Option<f64>, RoutingError>> + Send;
    /// Whether the series had any datapoint in the day before `until`.
    fn had(&self, until: SystemTime) -> impl Future<Output = Result<bool, RoutingError>> + Send;
}

struct CloudWatchFlows<'a> {
    client: &'a Client,
    accelerator_id: &'a str,
    region: &'a str,
}

impl FlowSource for CloudWatchFlows<'_> {
    fn recent(&self) -> impl Future<Output = Result<Option<f64>, RoutingError>> + Send {
        new_flows(self.client, self.accelerator_id, self.region)
    }
    fn had(&self, until: SystemTime) -> impl Future<Output = Result<bool, RoutingError>> + Send {
        had_flows(self.client, self.accelerator_id, self.region, until)
    }
}

/// The wait itself: read, and while flows are above `below`, sleep `poll`
/// and read again, until `wait` has passed.
async fn wait_for(
    flows: &impl FlowSource,
    below: f64,
    wait: Duration,
    poll: Duration,
) -> Result<DrainOutcome, RoutingError> {
    let started = SystemTime::now();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        return Ok(match flows.recent().await? {
            Some(flows) if flows <= below => DrainOutcome::Below { flows },
            None if flows.had(started).await? => DrainOutcome::NoFlows,
            None => DrainOutcome::Unverified,
            Some(flows) if tokio::time::Instant::now() >= deadline => {
                DrainOutcome::StillFlowing { flows }
            }
            Some(_) => {
                tokio::time::sleep(poll).await;
                continue;
            }
        });
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers `readings` one per read (the last one from then on), and
    /// whether the series existed; notes when each read happened.
    struct Script {
        readings: Mutex<Vec<Option<f64>>>,
        existed: bool,
        start: tokio::time::Instant,
        reads: Mutex<Vec<Duration>>,
    }

    impl Script {
        fn new(readings: &[Option<f64>], existed: bool) -> Self {
            Script {
                readings: Mutex::new(readings.iter().rev().copied().collect()),
                existed,
                start: tokio::time::Instant::now(),
                reads: Mutex::new(Vec::new()),
            }
        }
        fn reads(&self) -> Vec<u64> {
            self.reads
                .lock()
                .unwrap()
                .iter()
                .map(Duration::as_secs)
                .collect()
        }
    }

    impl FlowSource for Script {
        fn recent(&self) -> impl Future<Output = Result<Option<f64>, RoutingError>> + Send {
            self.reads.lock().unwrap().push(self.start.elapsed());
            let mut readings = self.readings.lock().unwrap();
            let next = if readings.len() > 1 {
                readings.pop().unwrap()
            } else {
                readings[0]
            };
            std::future::ready(Ok(next))
        }
        fn had(&self, _: SystemTime) -> impl Future<Output = Result<bool, RoutingError>> + Send {
            std::future::ready(Ok(self.existed))
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    /// Flows fall 120 -> 40 -> 3 per minute: the wait reads every minute
    /// and ends at the third read, 2 minutes in, on tokio's paused clock.
    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_when_flows_fall_below() {
        let flows = Script::new(&[Some(120.0), Some(40.0), Some(3.0)], true);
        let got = wait_for(&flows, 5.0, 10 * MINUTE, MINUTE).await.unwrap();
        assert_eq!(got, DrainOutcome::Below { flows: 3.0 });
        assert_eq!(flows.reads(), [0, 60, 120]);
    }

    /// Flows that never fall are reported after the whole wait, still
    /// flowing, with the last figure read.
    #[tokio::test(start_paused = true)]
    async fn flows_that_never_fall_are_reported_after_the_wait() {
        let flows = Script::new(&[Some(90.0)], true);
        let got = wait_for(&flows, 5.0, 10 * MINUTE, MINUTE).await.unwrap();
        assert_eq!(got, DrainOutcome::StillFlowing { flows: 90.0 });
        assert_eq!(flows.reads(), (0..=10).map(|m| m * 60).collect::<Vec<_>>());
    }

    /// No datapoint: no flows when the series exists, unverified when it
    /// never did (a wrong accelerator, region or metrics region).
    #[tokio::test(start_paused = true)]
    async fn no_datapoint_is_no_flows_only_where_the_series_exists() {
        let flows = Script::new(&[Some(50.0), None], true);
        let got = wait_for(&flows, 5.0, 10 * MINUTE, MINUTE).await.unwrap();
        assert_eq!(got, DrainOutcome::NoFlows);
        let missing = Script::new(&[None], false);
        let got = wait_for(&missing, 5.0, 10 * MINUTE, MINUTE).await.unwrap();
        assert_eq!(got, DrainOutcome::Unverified);
        assert_eq!(missing.reads(), [0]);
    }
}
