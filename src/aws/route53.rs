//! Route 53 calls: list a zone's records, apply a change batch and wait
//! until Route 53 says it is in sync on every name server.

use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    ChangeAction, ChangeBatch, ChangeStatus, GeoLocation, ResourceRecord, ResourceRecordSet, RrType,
};

use super::describe;
use super::layout::{Change, Layout, Location, Record, Rule};
use crate::routing::RoutingError;

/// How often a pending change is polled, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct SyncWait {
    pub every: Duration,
    pub timeout: Duration,
}

impl Default for SyncWait {
    fn default() -> Self {
        SyncWait {
            every: Duration::from_secs(2),
            timeout: Duration::from_secs(300),
        }
    }
}

pub struct Route53 {
    client: Client,
    zone: String,
    pub layout: Layout,
    pub mode: super::Route53Mode,
    /// Per region, the health check of its endpoint.
    pub health_checks: std::collections::BTreeMap<String, String>,
    wait: SyncWait,
}

fn api(action: impl Into<String>, message: String) -> RoutingError {
    RoutingError::Api {
        action: action.into(),
        message,
    }
}

impl Route53 {
    pub fn new(client: Client, zone: &str, layout: Layout, wait: SyncWait) -> Route53 {
        Route53 {
            client,
            zone: zone.trim_start_matches("/hostedzone/").to_owned(),
            layout,
            mode: super::Route53Mode::Records,
            health_checks: std::collections::BTreeMap::new(),
            wait,
        }
    }

    /// The same, routing the name by a traffic policy instance.
    pub fn with_mode(self, mode: super::Route53Mode) -> Route53 {
        Route53 { mode, ..self }
    }

    /// The same, judging regions' health by these Route 53 health checks.
    pub fn with_health_checks(
        self,
        health_checks: std::collections::BTreeMap<String, String>,
    ) -> Route53 {
        Route53 {
            health_checks,
            ..self
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Every record set in the zone, page by page.
    pub async fn all_records(&self) -> Result<Vec<ResourceRecordSet>, RoutingError> {
        let mut out = Vec::new();
        let mut next: Option<(String, RrType, Option<String>)> = None;
        loop {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone);
            if let Some((name, kind, id)) = next.take() {
                req = req
                    .start_record_name(name)
                    .start_record_type(kind)
                    .set_start_record_identifier(id);
            }
            let page = req.send().await.map_err(|e| {
                api(
                    format!("listing the records of hosted zone {}", self.zone),
                    describe(&e),
                )
            })?;
            out.extend(page.resource_record_sets().iter().cloned());
            match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(name), Some(kind)) => {
                    next = Some((
                        name.to_owned(),
                        kind.clone(),
                        page.next_record_identifier().map(str::to_owned),
                    ));
                }
                _ => return Ok(out),
            }
        }
    }

    /// geolat's records among the zone's `all`.
    pub fn owned(&self, all: &[ResourceRecordSet]) -> Result<Vec<Record>, RoutingError> {
        let mut out = all
            .iter()
            .filter(|r| self.layout.owns(r.name(), r.set_identifier()))
            .map(from_sdk)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort();
        Ok(out)
    }

    /// Applies `changes` as one atomic batch and waits for INSYNC.
    pub async fn apply(&self, changes: &[Change], comment: &str) -> Result<(), RoutingError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut batch = ChangeBatch::builder().comment(comment);
        for c in changes {
            let (action, record) = match c {
                Change::Upsert(r) => (ChangeAction::Upsert, r),
                Change::Delete(r) => (ChangeAction::Delete, r),
            };
            let change = aws_sdk_route53::types::Change::builder()
                .action(action)
                .resource_record_set(to_sdk(record)?)
                .build()
                .map_err(|e| api("building a change", e.to_string()))?;
            batch = batch.changes(change);
        }
        let batch = batch
            .build()
            .map_err(|e| api("building a change batch", e.to_string()))?;
        let what = format!(
            "changing {} records in hosted zone {}",
            changes.len(),
            self.zone
        );
        let sent = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| api(what.clone(), describe(&e)))?;
        let Some(info) = sent.change_info() else {
            return Ok(());
        };
        self.wait_in_sync(info.id(), info.status()).await
    }

    async fn wait_in_sync(&self, id: &str, status: &ChangeStatus) -> Result<(), RoutingError> {
        let deadline = tokio::time::Instant::now() + self.wait.timeout;
        let mut status = status.clone();
        while status != ChangeStatus::Insync {
            if tokio::time::Instant::now() >= deadline {
                return Err(api(
                    format!("waiting for change {id}"),
                    format!(
                        "still {} after {:?}: it was accepted and Route 53 will finish it; check `geolat routing show`",
                        status.as_str(),
                        self.wait.timeout
                    ),
                ));
            }
            tokio::time::sleep(self.wait.every).await;
            let got = self
                .client
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| api(format!("polling change {id}"), describe(&e)))?;
            if let Some(info) = got.change_info() {
                status = info.status().clone();
            }
        }
        Ok(())
    }
}

/// A listed record set as a layout record. Only called for geolat's own
/// records: anything else about them is a hand edit, reported.
fn from_sdk(r: &ResourceRecordSet) -> Result<Record, RoutingError> {
    let set_id = r.set_identifier().unwrap_or_default().to_owned();
    let unexpected = |problem: &str| RoutingError::Unexpected {
        record: format!("{} {}", r.name(), set_id),
        problem: problem.to_owned(),
    };
    if *r.r#type() != RrType::Cname {
        return Err(unexpected("is not a CNAME"));
    }
    let rule = match (r.geo_location(), r.weight()) {
        (Some(g), None) => {
            Rule::Geo(location(g).ok_or_else(|| unexpected("has an unusual geolocation"))?)
        }
        (None, Some(w)) => Rule::Weighted(
            u8::try_from(w)
                .ok()
                .filter(|w| *w > 0)
                .ok_or_else(|| unexpected("has a weight outside 1..=255"))?,
        ),
        _ => return Err(unexpected("is neither a geolocation nor a weighted record")),
    };
    let value = match r.resource_records() {
        [one] => one.value().to_owned(),
        _ => return Err(unexpected("does not hold exactly one value")),
    };
    Ok(Record {
        name: r.name().to_ascii_lowercase(),
        set_id,
        rule,
        ttl: r.ttl().unwrap_or_default(),
        value: value.to_ascii_lowercase(),
    })
}

fn location(g: &GeoLocation) -> Option<Location> {
    match (g.continent_code(), g.country_code(), g.subdivision_code()) {
        (None, Some("*"), None) => Some(Location::Default),
        (Some(c), None, None) => Some(Location::Continent(c.to_owned())),
        (None, Some(c), None) => Some(Location::Country(c.to_owned())),
        (None, Some(country), Some(code)) => Some(Location::Subdivision {
            country: country.to_owned(),
            code: code.to_owned(),
        }),
        _ => None,
    }
}

fn to_sdk(r: &Record) -> Result<ResourceRecordSet, RoutingError> {
    let mut b = ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::Cname)
        .set_identifier(&r.set_id)
        .ttl(r.ttl)
        .resource_records(
            ResourceRecord::builder()
                .value(&r.value)
                .build()
                .map_err(|e| api("building a record", e.to_string()))?,
        );
    b = match &r.rule {
        Rule::Weighted(w) => b.weight(i64::from(*w)),
        Rule::Geo(l) => {
            let g = GeoLocation::builder();
            b.geo_location(
                match l {
                    Location::Default => g.country_code("*"),
                    Location::Continent(c) => g.continent_code(c),
                    Location::Country(c) => g.country_code(c),
                    Location::Subdivision { country, code } => {
                        g.country_code(country).subdivision_code(code)
                    }
                }
                .build(),
            )
        }
    };
    b.build()
        .map_err(|e| api("building a record set", e.to_string()))
}
