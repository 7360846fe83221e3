//! `geolat routing show`: today's routing as AWS holds it.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::aws::accelerator::{Accelerator, Group};
use crate::aws::control::AwsControl;
use crate::aws::layout::Layout;
use crate::aws::route53::{Route53, SyncWait};
use crate::aws::{self, AwsRouting, inventory};
use crate::routing::RoutingState;

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Read the routing from Route 53 and Global Accelerator.
    Show(ShowArgs),
}

/// Where AWS is and what geolat controls there.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// What geolat controls: hosted zone, service name, region targets,
    /// accelerator listener (YAML; see deploy/aws-routing.example.yaml).
    #[arg(long = "aws", value_name = "FILE")]
    pub config: PathBuf,
    /// Send every AWS call here instead of AWS (an emulator, a VPC endpoint).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// One JSON object: DNS weights per location, dials and endpoints per region.
    #[arg(long)]
    pub json: bool,
}

impl AwsArgs {
    /// The store reached at `--endpoint-url` too, as every AWS call is.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// The control plane this config names, with clients from the SDK chain.
    pub async fn control(&self) -> anyhow::Result<AwsControl> {
        let routing = AwsRouting::load(&self.config)?;
        let sdk = aws::try_sdk_config(self.endpoint_url.as_deref()).await?;
        Ok(AwsControl {
            route53: routing.route53.map(|r| {
                let layout = Layout::new(&r.name, r.ttl, r.targets);
                Route53::new(
                    aws::route53_client(&sdk),
                    &r.hosted_zone_id,
                    layout,
                    SyncWait::default(),
                )
                .with_mode(r.mode)
                .with_health_checks(r.health_checks)
            }),
            accelerator: routing
                .accelerator
                .map(|a| Accelerator::new(aws::accelerator_client(&sdk), &a.listener_arn)),
            sts: Some(aws_sdk_sts::Client::new(&sdk)),
        })
    }
}

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    state: &'a RoutingState,
    endpoint_groups: Vec<GroupView<'a>>,
    /// Every record of the service name and the names under it.
    records: &'a [inventory::Shown],
    health_checks: &'a [inventory::HealthCheck],
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic_policy: Option<PolicyView<'a>>,
}

#[derive(Serialize)]
struct PolicyView<'a> {
    instance: &'a str,
    policy: &'a str,
    version: i32,
    document: &'a serde_json::Value,
}

#[derive(Serialize)]
struct GroupView<'a> {
    region: &'a str,
    arn: &'a str,
    traffic_dial: f64,
    endpoints: Vec<EndpointView<'a>>,
}

#[derive(Serialize)]
struct EndpointView<'a> {
    id: &'a str,
    weight: u8,
    healthy: bool,
}

pub async fn run(cmd: RoutingCommand) -> anyhow::Result<()> {
    match cmd {
        RoutingCommand::Show(args) => show(args).await,
    }
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let control = args.aws.control().await?;
    let seen = control.inspect().await.context("cannot read the routing")?;
    let (state, groups, policy) = (seen.state, seen.groups, seen.policy);
    let (records, checks) = match &control.route53 {
        Some(r) => {
            let records = inventory::records_of(&seen.zone, r.layout.name());
            let checks = inventory::health_checks(r.client(), &records).await?;
            (records, checks)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    if args.json {
        let shown = Shown {
            state: &state,
            endpoint_groups: groups.iter().map(view).collect(),
            records: &records,
            health_checks: &checks,
            traffic_policy: policy.as_ref().map(|i| PolicyView {
                instance: &i.id,
                policy: &i.policy_id,
                version: i.version,
                document: &i.document,
            }),
        };
        serde_json::to_writer_pretty(&mut out, &shown)?;
        writeln!(out)?;
    } else {
        render(&state, &groups, &mut out)?;
        render_records(&records, &checks, &mut out)?;
        if let Some(i) = &policy {
            writeln!(
                out,
                "Traffic policy instance {}: policy {} version {}",
                i.id, i.policy_id, i.version
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn view(g: &Group) -> GroupView<'_> {
    GroupView {
        region: &g.region,
        arn: &g.arn,
        traffic_dial: g.dial,
        endpoints: g
            .endpoints
            .iter()
            .map(|e| EndpointView {
                id: &e.id,
                weight: e.weight,
                healthy: e.healthy,
            })
            .collect(),
    }
}

fn render_records(
    records: &[inventory::Shown],
    checks: &[inventory::HealthCheck],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    if !records.is_empty() {
        writeln!(out, "Records (name type [set] routing -> values)")?;
        for r in records {
            let set = r
                .set_identifier
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let check = r
                .health_check_id
                .as_deref()
                .map(|h| format!(" health check {h}"))
                .unwrap_or_default();
            writeln!(
                out,
                "  {} {}{set} {} -> {}{check}",
                r.name,
                r.r#type,
                r.routing,
                r.values.join(", ")
            )?;
        }
    }
    for c in checks {
        let status = match c.healthy_checkers {
            Some((ok, all)) => format!("{ok}/{all} checkers healthy"),
            None => "status unknown".into(),
        };
        writeln!(out, "  health check {} {}: {status}", c.id, c.target)?;
    }
    Ok(())
}

fn render(
    state: &RoutingState,
    groups: &[Group],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    if !state.dns.is_empty() {
        writeln!(out, "Route 53 (location: region share (weight) ...)")?;
        for (location, weights) in &state.dns {
            writeln!(out, "  {location:<24} {}", shares(weights))?;
        }
    }
    if !groups.is_empty() {
        writeln!(out, "Global Accelerator (region: dial, endpoints)")?;
        for g in groups {
            let e: Vec<String> = g
                .endpoints
                .iter()
                .map(|e| {
                    let health = if e.healthy { "" } else { " UNHEALTHY" };
                    format!("{} w{}{health}", e.id, e.weight)
                })
                .collect();
            writeln!(out, "  {:<24} {:>5.1}%  {}", g.region, g.dial, e.join(", "))?;
        }
    }
    Ok(())
}

/// A location's weights as the shares of its traffic they give, beside the
/// weights themselves: `ap-southeast-1 12.0% (10), eu-central-1 88.0% (73)`.
/// Weights that are all zero send nothing anywhere.
fn shares(weights: &std::collections::BTreeMap<String, u8>) -> String {
    let total: u32 = weights.values().map(|w| u32::from(*w)).sum();
    let parts: Vec<String> = weights
        .iter()
        .map(|(region, w)| {
            let share = if total == 0 {
                0.0
            } else {
                100.0 * f64::from(*w) / f64::from(total)
            };
            format!("{region} {share:.1}% ({w})")
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    mod regression {
        use super::*;

        /// `routing show` printed raw weights (`ap-southeast-1 10,
        /// eu-central-1 73`), which read like percentages but are not.
        #[test]
        fn routing_show_prints_shares_beside_weights() {
            let weights = [
                ("ap-southeast-1".to_owned(), 10u8),
                ("eu-central-1".to_owned(), 73),
            ]
            .into_iter()
            .collect();
            assert_eq!(
                shares(&weights),
                "ap-southeast-1 12.0% (10), eu-central-1 88.0% (73)"
            );
            let zero = [("eu-central-1".to_owned(), 0u8)].into_iter().collect();
            assert_eq!(shares(&zero), "eu-central-1 0.0% (0)");
        }
    }
}
