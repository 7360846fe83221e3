//! AWS as a routing control plane: Route 53 records and Global Accelerator
//! endpoint groups, read and changed through the official AWS SDK for Rust;
//! and CloudWatch as a place to watch the latency geolat measures.
//!
//! Credentials and region come from the SDK's standard chain (environment,
//! profile, IRSA web identity in EKS). `--endpoint-url` (or the SDK's
//! `AWS_ENDPOINT_URL` variables) sends every call to another endpoint:
//! tests point it at an emulator on 127.0.0.1. Every call has connect,
//! read and overall timeouts and a bounded number of attempts
//! ([`AwsOptions`], from `GEOLAT_AWS_*` variables): an endpoint that never
//! answers fails the command instead of hanging it.
//!
//! - [`layout`]: the records geolat manages and the diff between two
//!   routings (pure);
//! - [`route53`], [`traffic_policy`] and [`accelerator`]: the API calls
//!   that read and change routing; [`inventory`]: everything else Route 53
//!   holds about the name; [`policy_doc`]: weights as a traffic policy
//!   document and back (pure);
//! - [`control`]: all of it behind [`crate::routing::RoutingControl`];
//!   [`conflicts`]: records at geolat's names that it does not own and
//!   Route 53 would not let stand beside its own (pure);
//! - [`flows`]: Global Accelerator's new flows, for drains; [`identity`]:
//!   the principal acting, for audit records. (Publishing latency to
//!   CloudWatch is a stage of its own: [`crate::publish::cloudwatch`].)

pub mod accelerator;
pub mod conflicts;
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
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
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
            crate::config::parse::yaml(&text).map_err(|message| ConfigError::Syntax {
                file: file.to_owned(),
                message,
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

/// How long geolat waits for AWS, and how often it tries: without these
/// the SDK waits forever on an endpoint that accepts a connection and
/// never answers. Each can be set from the environment
/// ([`AwsOptions::from_env`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsOptions {
    /// Establishing a connection (`GEOLAT_AWS_CONNECT_TIMEOUT`).
    pub connect_timeout: Duration,
    /// The first byte of a response, and every read after it
    /// (`GEOLAT_AWS_READ_TIMEOUT`).
    pub read_timeout: Duration,
    /// One attempt of a call (`GEOLAT_AWS_ATTEMPT_TIMEOUT`).
    pub attempt_timeout: Duration,
    /// A call, all its attempts included (`GEOLAT_AWS_OPERATION_TIMEOUT`).
    pub operation_timeout: Duration,
    /// Attempts per call, the first included, with the SDK's standard
    /// backoff between them (`GEOLAT_AWS_MAX_ATTEMPTS`; 1: no retry).
    pub max_attempts: u32,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(20),
            attempt_timeout: Duration::from_secs(20),
            operation_timeout: Duration::from_secs(60),
            max_attempts: 3,
        }
    }
}

/// An environment variable geolat cannot use, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {var}={value:?}: {problem}; set it to e.g. {example}, or unset it for the default"
)]
pub struct AwsOptionsError {
    pub var: &'static str,
    pub value: String,
    pub problem: String,
    pub example: &'static str,
}

/// Most attempts a call may take: more only multiplies a stuck call's wait.
const MAX_ATTEMPTS_LIMIT: u32 = 10;

impl AwsOptions {
    /// The defaults, with what `GEOLAT_AWS_*` variables say instead.
    pub fn from_env() -> Result<AwsOptions, AwsOptionsError> {
        AwsOptions::from_vars(|var| std::env::var(var).ok())
    }

    /// The defaults, with what `var` gives for each `GEOLAT_AWS_*` name
    /// instead (an empty value counts as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<AwsOptions, AwsOptionsError> {
        let mut o = AwsOptions::default();
        let durations: [(&'static str, &mut Duration); 4] = [
            ("GEOLAT_AWS_CONNECT_TIMEOUT", &mut o.connect_timeout),
            ("GEOLAT_AWS_READ_TIMEOUT", &mut o.read_timeout),
            ("GEOLAT_AWS_ATTEMPT_TIMEOUT", &mut o.attempt_timeout),
            ("GEOLAT_AWS_OPERATION_TIMEOUT", &mut o.operation_timeout),
        ];
        for (name, slot) in durations {
            if let Some(value) = var(name).filter(|v| !v.trim().is_empty()) {
                *slot = crate::config::parse_duration(value.trim()).map_err(|problem| {
                    AwsOptionsError {
                        var: name,
                        value: value.clone(),
                        problem,
                        example: "20s",
                    }
                })?;
            }
        }
        const ATTEMPTS: &str = "GEOLAT_AWS_MAX_ATTEMPTS";
        if let Some(value) = var(ATTEMPTS).filter(|v| !v.trim().is_empty()) {
            o.max_attempts = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_ATTEMPTS_LIMIT).contains(n))
                .ok_or_else(|| AwsOptionsError {
                    var: ATTEMPTS,
                    value: value.clone(),
                    problem: format!(
                        "must be a whole number from 1 (no retry) to {MAX_ATTEMPTS_LIMIT}"
                    ),
                    example: "3",
                })?;
        }
        Ok(o)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }
}

/// The SDK configuration: the standard chain, optionally another endpoint,
/// with timeouts and retries from the environment. A bad `GEOLAT_AWS_*`
/// value is warned about and the defaults used: callers that can report
/// an error use [`try_sdk_config`].
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let options = AwsOptions::from_env().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "using the default AWS timeouts and retries");
        AwsOptions::default()
    });
    sdk_config_with(endpoint_url, &options).await
}

/// [`sdk_config`], refusing a bad `GEOLAT_AWS_*` value.
pub async fn try_sdk_config(endpoint_url: Option<&str>) -> Result<SdkConfig, AwsOptionsError> {
    let options = AwsOptions::from_env()?;
    Ok(sdk_config_with(endpoint_url, &options).await)
}

/// The SDK configuration with these timeouts and retries.
pub async fn sdk_config_with(endpoint_url: Option<&str>, options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(options.timeout_config())
        .retry_config(options.retry_config());
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

/// CloudWatch where Global Accelerator publishes its metrics: us-west-2,
/// whatever the configured region (the `AWS/GlobalAccelerator` namespace
/// exists nowhere else).
pub fn accelerator_cloudwatch_client(sdk: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    let conf = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .region(Region::new(ACCELERATOR_REGION))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn aws_options_default_and_come_from_the_environment() {
        assert_eq!(
            AwsOptions::from_vars(vars(&[])).unwrap(),
            AwsOptions::default()
        );
        let o = AwsOptions::from_vars(vars(&[
            ("GEOLAT_AWS_OPERATION_TIMEOUT", "2s"),
            ("GEOLAT_AWS_CONNECT_TIMEOUT", "500ms"),
            ("GEOLAT_AWS_MAX_ATTEMPTS", "1"),
            ("GEOLAT_AWS_READ_TIMEOUT", ""),
        ]))
        .unwrap();
        assert_eq!(o.operation_timeout, Duration::from_secs(2));
        assert_eq!(o.connect_timeout, Duration::from_millis(500));
        assert_eq!(o.read_timeout, AwsOptions::default().read_timeout);
        assert_eq!(o.max_attempts, 1);
        let t = o.timeout_config();
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(20)));
        assert_eq!(o.retry_config().max_attempts(), 1);
    }

    #[test]
    fn a_bad_aws_option_names_its_variable_and_the_fix() {
        let e = AwsOptions::from_vars(vars(&[("GEOLAT_AWS_OPERATION_TIMEOUT", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("GEOLAT_AWS_OPERATION_TIMEOUT=\"soon\""), "{e}");
        assert!(e.contains("e.g. 20s"), "{e}");
        for bad in ["0", "11", "three"] {
            let e = AwsOptions::from_vars(vars(&[("GEOLAT_AWS_MAX_ATTEMPTS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("GEOLAT_AWS_MAX_ATTEMPTS") && e.contains("1 (no retry) to 10"),
                "{e}"
            );
        }
    }
}
