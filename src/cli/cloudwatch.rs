//! `--cloudwatch` on `probe` and `analyze`: publish what was measured or
//! merged to CloudWatch, with everything that can be wrong about where
//! checked before the measuring or reading starts.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::analyze::matrix::Matrix;
use crate::aws;
use crate::publish::cloudwatch;
use crate::window::Window;

#[derive(Debug, Args)]
pub struct CloudWatchArgs {
    /// Publish latency distributions (metric Latency: Values/Counts per
    /// Geo, Region, Path, Phase, so CloudWatch computes p50/p99) and
    /// Attempts/Errors to CloudWatch in the SDK's region. Publish from
    /// probes or from analyze into a namespace, not both: both would count
    /// every sample twice.
    #[arg(long)]
    pub cloudwatch: bool,
    /// Namespace of the published metrics (dashboards/cloudwatch-latency.json reads Geolat).
    #[arg(long, value_name = "NS", default_value = cloudwatch::DEFAULT_NAMESPACE)]
    pub cloudwatch_namespace: String,
    /// Send CloudWatch calls here instead of AWS (an emulator, a VPC endpoint).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Where `--cloudwatch` publishes.
pub struct Publisher {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
}

impl CloudWatchArgs {
    /// The publisher `--cloudwatch` asks for, `None` without it: a bad
    /// namespace or a missing region fails here, before a window is
    /// measured or a store read.
    pub async fn publisher(&self) -> anyhow::Result<Option<Publisher>> {
        if !self.cloudwatch {
            return Ok(None);
        }
        let namespace = &self.cloudwatch_namespace;
        if let Err(problem) = cloudwatch::check_namespace(namespace) {
            bail!("--cloudwatch-namespace `{namespace}`: {problem}");
        }
        let sdk = aws::sdk_config(self.endpoint_url.as_deref()).await;
        if sdk.region().is_none() {
            bail!(
                "--cloudwatch: no AWS region configured; set AWS_REGION (or a profile's region) to the region to publish metrics in"
            );
        }
        Ok(Some(Publisher {
            client: aws::cloudwatch_client(&sdk),
            namespace: namespace.clone(),
        }))
    }
}

impl Publisher {
    /// Publishes a probe's window, keyed as an analysis of it would be and
    /// stamped with its end.
    pub async fn publish_window(&self, window: &Window) -> anyhow::Result<()> {
        let matrix =
            Matrix::of_window(window).context("cannot summarise the window for CloudWatch")?;
        self.publish(&matrix, window.end).await
    }

    /// Publishes every cell's distribution and every target group's
    /// attempts and errors, stamped `at`.
    pub async fn publish(&self, matrix: &Matrix, at: DateTime<Utc>) -> anyhow::Result<()> {
        let data = cloudwatch::metric_data(matrix, at);
        let sent = cloudwatch::publish(&self.client, &self.namespace, data).await?;
        tracing::info!(
            namespace = self.namespace,
            requests = sent.requests,
            data = sent.data,
            "published to CloudWatch"
        );
        Ok(())
    }
}
