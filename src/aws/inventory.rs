//! Everything Route 53 holds about the service name, whoever wrote it:
//! its records of every routing type (simple, geolocation, latency,
//! weighted, failover, geoproximity with bias, multivalue, IP-based), the
//! health checks they use and their last status. `geolat routing show`
//! prints it next to the routing geolat reads, so an operator sees what a
//! plan would sit beside.

use aws_sdk_route53::Client;
use aws_sdk_route53::types::ResourceRecordSet;
use serde::Serialize;

use super::describe;
use crate::routing::RoutingError;

/// One record set, as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    pub name: String,
    pub r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// `simple`, `geolocation country:DE`, `latency eu-west-1`,
    /// `weighted 10`, `failover PRIMARY`, `geoproximity eu-west-1 bias 20`,
    /// `multivalue`, `cidr COLLECTION/LOCATION`.
    pub routing: String,
    /// Values, or `alias NAME`.
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub id: String,
    /// `HTTPS api-euw1.example.net:443/healthz` and the like.
    pub target: String,
    /// Checkers reporting success, of those reporting; None when Route 53
    /// gave no status.
    pub healthy_checkers: Option<(usize, usize)>,
}

/// How a record routes.
pub fn routing(r: &ResourceRecordSet) -> String {
    if let Some(g) = r.geo_location() {
        let place = match (g.continent_code(), g.country_code(), g.subdivision_code()) {
            (_, Some("*"), _) => "default".to_owned(),
            (Some(c), _, _) => format!("continent:{c}"),
            (None, Some(c), Some(s)) => format!("subdivision:{c}-{s}"),
            (None, Some(c), None) => format!("country:{c}"),
            _ => "?".to_owned(),
        };
        return format!("geolocation {place}");
    }
    if let Some(p) = r.geo_proximity_location() {
        let at = p
            .aws_region()
            .or(p.local_zone_group())
            .map(str::to_owned)
            .or_else(|| {
                p.coordinates()
                    .map(|c| format!("{},{}", c.latitude(), c.longitude()))
            })
            .unwrap_or_else(|| "?".into());
        return format!("geoproximity {at} bias {}", p.bias().unwrap_or(0));
    }
    if let Some(region) = r.region() {
        return format!("latency {}", region.as_str());
    }
    if let Some(w) = r.weight() {
        return format!("weighted {w}");
    }
    if let Some(f) = r.failover() {
        return format!("failover {}", f.as_str());
    }
    if r.multi_value_answer() == Some(true) {
        return "multivalue".into();
    }
    if let Some(c) = r.cidr_routing_config() {
        return format!("cidr {}/{}", c.collection_id(), c.location_name());
    }
    "simple".into()
}

fn shown(r: &ResourceRecordSet) -> Shown {
    let values = match r.alias_target() {
        Some(a) => vec![format!("alias {}", a.dns_name())],
        None => r
            .resource_records()
            .iter()
            .map(|v| v.value().to_owned())
            .collect(),
    };
    Shown {
        name: r.name().to_owned(),
        r#type: r.r#type().as_str().to_owned(),
        set_identifier: r.set_identifier().map(str::to_owned),
        routing: routing(r),
        values,
        health_check_id: r.health_check_id().map(str::to_owned),
    }
}

/// The records of `name` and of every name under it, in Route 53's order.
pub fn records_of(all: &[ResourceRecordSet], name: &str) -> Vec<Shown> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    all.iter()
        .filter(|r| {
            let n = r.name().trim_end_matches('.').to_ascii_lowercase();
            n == name || n.ends_with(&format!(".{name}"))
        })
        .map(shown)
        .collect()
}

/// The health checks `records` use, with their status.
pub async fn health_checks(
    client: &Client,
    records: &[Shown],
) -> Result<Vec<HealthCheck>, RoutingError> {
    let mut ids: Vec<&str> = records
        .iter()
        .filter_map(|r| r.health_check_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let got = client
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| RoutingError::Api {
                action: format!("reading health check {id}"),
                message: describe(&e),
            })?;
        let target = got
            .health_check()
            .and_then(|h| h.health_check_config())
            .map(|c| {
                let host = c
                    .fully_qualified_domain_name()
                    .or(c.ip_address())
                    .unwrap_or("?");
                let port = c.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!(
                    "{} {host}{port}{}",
                    c.r#type().as_str(),
                    c.resource_path().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let healthy_checkers = status(client, id).await;
        out.push(HealthCheck {
            id: id.to_owned(),
            target,
            healthy_checkers,
        });
    }
    Ok(out)
}

/// Checkers reporting success, of those reporting, for health check `id`;
/// None when Route 53 gives no status (shown as unknown rather than
/// failing a whole view).
pub async fn status(client: &Client, id: &str) -> Option<(usize, usize)> {
    let s = client
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .ok()?;
    let obs = s.health_check_observations();
    let ok = obs
        .iter()
        .filter(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count();
    Some((ok, obs.len()))
}
