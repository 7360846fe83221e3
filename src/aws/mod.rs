//! AWS as a routing control plane: Route 53 records and Global Accelerator
//! endpoint groups, read and changed through the official AWS SDK for Rust;
//! and CloudWatch as a place to watch the latency geolat measures.
//!
//! Credentials and region come from the SDK's standard chain (environment,
//! profile, IRSA web identity in EKS). `--endpoint-url` (or the SDK's
//! `AWS_ENDPOINT_URL` variables) sends every call to another endpoint:
//! tests point it at an emulator on 127.0.0.1.
//!
//! - [`layout`]: the records geolat manages and the diff between two
//!   routings (pure);
//! - [`route53`], [`traffic_policy`] and [`accelerator`]: the API calls
//!   that read and change routing; [`inventory`]: everything else Route 53
//!   holds about the name; [`policy_doc`]: weights as a traffic policy
//!   document and back (pure);
//! - [`control`]: all of it behind [`crate::routing::RoutingControl`];
//! - [`cloudwatch`]: latency distributions published as metrics; [`flows`]:
//!   Global Accelerator's new flows, for drains; [`identity`]: the principal
//!   acting, for audit records.

pub mod accelerator;
pub mod cloudwatch;
pub mod control;
pub mod flows;
pub mod identity;
pub mod inventory;
pub mod layout;
pub mod policy_doc;
pub mod route53;
pub mod traffic_policy;

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Deserialize;

use crate::config::ConfigError;

/// Route 53 is a global service signed in us-east-1, whatever the
/// configured region: with an endpoint override the SDK would otherwise
/// sign with the configured region and the real service would refuse.
const ROUTE53_REGION: &str = "us-east-1";
/// Global Accelerator's API lives in us-west-2 only.
const ACCELERATOR_REGION: &str = "us-west-2";

/// What geolat controls in an AWS account (`--aws FILE`, YAML).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRouting {
    pub route53: Option<Route53Config>,
    pub accelerator: Option<AcceleratorConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    pub hosted_zone_id: String,
    /// The service name users resolve, e.g. `api.example.com`.
    pub name: String,
    #[serde(default = "default_ttl")]
    pub ttl: i64,
    /// Per region, the name its records point at (its load balancer).
    pub targets: BTreeMap<String, String>,
    /// How the name is routed: geolat's own records, or a traffic policy
    /// instance (a new policy version per change).
    #[serde(default)]
    pub mode: Route53Mode,
    /// Per region, the Route 53 health check of its endpoint: a region
    /// whose check fails gets no new traffic from an apply.
    #[serde(default)]
    pub health_checks: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route53Mode {
    #[default]
    Records,
    TrafficPolicy,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorConfig {
    pub listener_arn: String,
}

fn default_ttl() -> i64 {
    60
}

impl AwsRouting {
    pub fn load(file: &Path) -> Result<AwsRouting, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        let routing: AwsRouting =
            serde_saphyr::from_str(&text).map_err(|e| ConfigError::Syntax {
                file: file.to_owned(),
                message: crate::config::one_line(&e.to_string()),
            })?;
        let field = |field: &str, problem: &str| ConfigError::Field {
            file: file.to_owned(),
            field: field.to_owned(),
            problem: problem.to_owned(),
        };
        if routing.route53.is_none() && routing.accelerator.is_none() {
            return Err(field(
                "route53",
                "neither route53 nor accelerator is configured: name at least one",
            ));
        }
        if let Some(r) = &routing.route53 {
            if r.hosted_zone_id.trim().is_empty() {
                return Err(field("route53.hosted_zone_id", "is empty"));
            }
            if r.name.trim().is_empty() || r.name.contains(char::is_whitespace) {
                return Err(field("route53.name", "must be a DNS name"));
            }
            if !(0..=2_147_483_647).contains(&r.ttl) {
                return Err(field("route53.ttl", "must be 0..=2147483647 seconds"));
            }
            if r.targets.is_empty() {
                return Err(field(
                    "route53.targets",
                    "is empty: name each region's target",
                ));
            }
        }
        if let Some(a) = &routing.accelerator
            && !a.listener_arn.starts_with("arn:")
        {
            return Err(field("accelerator.listener_arn", "is not an ARN"));
        }
        Ok(routing)
    }
}

/// The SDK configuration: the standard chain, optionally another endpoint.
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

pub fn route53_client(sdk: &SdkConfig) -> aws_sdk_route53::Client {
    let conf = aws_sdk_route53::config::Builder::from(sdk)
        .region(Region::new(ROUTE53_REGION))
        .build();
    aws_sdk_route53::Client::from_conf(conf)
}

pub fn accelerator_client(sdk: &SdkConfig) -> aws_sdk_globalaccelerator::Client {
    let conf = aws_sdk_globalaccelerator::config::Builder::from(sdk)
        .region(Region::new(ACCELERATOR_REGION))
        .build();
    aws_sdk_globalaccelerator::Client::from_conf(conf)
}

/// CloudWatch in the configured region: metrics live in one region, the
/// one dashboards over them look in.
pub fn cloudwatch_client(sdk: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(sdk)
}

/// An SDK error as one line: the service's code and message when it sent
/// one, else what went wrong on the way (no connection, timeout).
pub fn describe<E, R>(e: &aws_sdk_route53::error::SdkError<E, R>) -> String
where
    E: aws_sdk_route53::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_route53::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_owned(),
                _ => err.to_string(),
            }
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}
