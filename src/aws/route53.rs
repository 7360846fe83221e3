//! Route 53 calls: list a zone's records, apply a change batch and wait
//! until Route 53 says it is in sync on every name server.

use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::error::SdkError;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    ChangeAction, ChangeBatch, ChangeInfo, ChangeStatus, GeoLocation, ResourceRecord,
    ResourceRecordSet, RrType,
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

/// How a change batch came to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Route 53 accepted it (and said INSYNC, when it said anything).
    Applied,
    /// Its answer was lost (`error`), but the zone held every change.
    FoundApplied { error: String },
    /// Its answer was lost (`error`) and nothing of it was in the zone:
    /// sent once more, and accepted.
    Resent { error: String },
}

/// Where one change of a batch stands in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeState {
    /// The upserted record is there with the batch's values; the deleted
    /// one is gone.
    Done,
    /// The upserted record is missing or holds other values; the deleted
    /// one is there as the batch gives it.
    NotDone,
    /// Neither: the deleted record is there with other values.
    Other(String),
}

type ChangeError =
    SdkError<ChangeResourceRecordSetsError, aws_sdk_route53::config::http::HttpResponse>;

/// Whether a failed call may have been applied: its answer was lost on
/// the way (no connection, a timeout) or the service failed on its side
/// (5xx). A 4xx is a refusal, and a request never built was never sent.
fn answer_lost(e: &ChangeError) -> bool {
    match e {
        SdkError::ServiceError(s) => s.raw().status().as_u16() >= 500,
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

/// Whether Route 53 refused a batch without applying it, for now only:
/// throttled, or an earlier change to the zone still in progress.
fn not_yet(e: &ChangeError) -> bool {
    use aws_sdk_route53::error::ProvideErrorMetadata as _;
    matches!(
        e.code(),
        Some("Throttling" | "ThrottlingException" | "PriorRequestNotComplete")
    )
}

/// Attempts of a batch Route 53 refuses for now ([`not_yet`]), and the
/// wait before the second (doubling after).
const NOT_YET_ATTEMPTS: u32 = 3;
const NOT_YET_BACKOFF: Duration = Duration::from_millis(500);

/// `UPSERT api.example.com. geolat:default`.
fn shown(c: &Change) -> String {
    match c {
        Change::Upsert(r) => format!("UPSERT {} {}", r.name, r.set_id),
        Change::Delete(r) => format!("DELETE {} {}", r.name, r.set_id),
    }
}

/// Where each of `changes` stands in `zone` (every record set listed).
pub fn batch_state(zone: &[ResourceRecordSet], changes: &[Change]) -> Vec<ChangeState> {
    let found = |r: &Record| {
        zone.iter().find(|z| {
            *z.r#type() == RrType::Cname
                && z.name().eq_ignore_ascii_case(&r.name)
                && z.set_identifier() == Some(r.set_id.as_str())
        })
    };
    let same = |z: &ResourceRecordSet, r: &Record| from_sdk(z).is_ok_and(|z| z == *r);
    changes
        .iter()
        .map(|c| match c {
            Change::Upsert(r) => match found(r) {
                Some(z) if same(z, r) => ChangeState::Done,
                _ => ChangeState::NotDone,
            },
            Change::Delete(r) => match found(r) {
                None => ChangeState::Done,
                Some(z) if same(z, r) => ChangeState::NotDone,
                Some(_) => {
                    ChangeState::Other("holds other values than the batch deletes".to_owned())
                }
            },
        })
        .collect()
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
        self.apply_batch(changes, comment).await.map(|_| ())
    }

    /// [`Route53::apply`], saying how the batch got applied.
    ///
    /// `ChangeResourceRecordSets` is not idempotent, so the SDK does not
    /// retry it: a batch whose answer was lost (a dropped connection, a
    /// timeout, a 5xx) may have been applied. The zone is read back
    /// instead: a batch found applied is done; a batch of which nothing is
    /// found is sent once more; anything in between is an error naming
    /// each record's state.
    pub async fn apply_batch(
        &self,
        changes: &[Change],
        comment: &str,
    ) -> Result<BatchOutcome, RoutingError> {
        if changes.is_empty() {
            return Ok(BatchOutcome::Applied);
        }
        let what = format!(
            "changing {} records in hosted zone {}",
            changes.len(),
            self.zone
        );
        let mut refused = 0;
        let lost = loop {
            match self.send_batch(changes, comment).await? {
                Ok(info) => {
                    self.wait_for(info).await?;
                    return Ok(BatchOutcome::Applied);
                }
                // Refused unapplied for now: safe to send again.
                Err(e) if not_yet(&e) && refused + 1 < NOT_YET_ATTEMPTS => {
                    refused += 1;
                    tokio::time::sleep(NOT_YET_BACKOFF * 2u32.pow(refused - 1)).await;
                }
                Err(e) if !answer_lost(&e) => return Err(api(what, describe(&e))),
                Err(e) => break describe(&e),
            }
        };
        let zone = self.all_records().await.map_err(|read| {
            api(
                what.clone(),
                format!(
                    "{lost}; the batch may or may not have been applied, and reading the zone back failed too ({read}): check `geolat routing show` before planning again"
                ),
            )
        })?;
        let states = batch_state(&zone, changes);
        if states.iter().all(|s| *s == ChangeState::Done) {
            tracing::warn!(
                zone = %self.zone,
                error = %lost,
                "the answer to the change batch was lost, but the zone already holds every change: treated as applied (not waited for INSYNC)"
            );
            return Ok(BatchOutcome::FoundApplied { error: lost });
        }
        if states.iter().all(|s| *s == ChangeState::NotDone) {
            tracing::warn!(
                zone = %self.zone,
                error = %lost,
                "the answer to the change batch was lost and nothing of it is in the zone: sending it once more"
            );
            let info = self
                .send_batch(changes, comment)
                .await?
                .map_err(|e| api(format!("{what} (sent again after {lost})"), describe(&e)))?;
            self.wait_for(info).await?;
            return Ok(BatchOutcome::Resent { error: lost });
        }
        let list = |want: fn(&ChangeState) -> bool| {
            let names: Vec<String> = changes
                .iter()
                .zip(&states)
                .filter(|(_, s)| want(s))
                .map(|(c, s)| match s {
                    ChangeState::Other(why) => format!("{} ({why})", shown(c)),
                    _ => shown(c),
                })
                .collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        Err(api(
            what,
            format!(
                "{lost}; the zone now holds part of the batch: applied: {}; not applied: {}; changed otherwise: {}; check `geolat routing show` and plan again",
                list(|s| *s == ChangeState::Done),
                list(|s| *s == ChangeState::NotDone),
                list(|s| matches!(s, ChangeState::Other(_))),
            ),
        ))
    }

    /// One `ChangeResourceRecordSets` call, never retried by the SDK; the
    /// outer error is a batch that cannot be built.
    async fn send_batch(
        &self,
        changes: &[Change],
        comment: &str,
    ) -> Result<Result<Option<ChangeInfo>, ChangeError>, RoutingError> {
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
        Ok(self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .change_batch(batch)
            .customize()
            .config_override(
                aws_sdk_route53::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map(|sent| sent.change_info().cloned()))
    }

    async fn wait_for(&self, info: Option<ChangeInfo>) -> Result<(), RoutingError> {
        match info {
            Some(info) => self.wait_in_sync(info.id(), info.status()).await,
            None => Ok(()),
        }
    }

    async fn wait_in_sync(&self, id: &str, status: &ChangeStatus) -> Result<(), RoutingError> {
        wait_in_sync(id, status.clone(), self.wait, || async {
            let got = self
                .client
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| api(format!("polling change {id}"), describe(&e)))?;
            Ok(got.change_info().map(|info| info.status().clone()))
        })
        .await
    }
}

/// Polls change `id` through `poll` every `wait.every` until it is INSYNC,
/// or fails once `wait.timeout` has passed (the change was accepted and
/// Route 53 will finish it; the error says so). `poll` answers the
/// change's status, or `None` when Route 53 said nothing of it.
async fn wait_in_sync<F, Fut>(
    id: &str,
    mut status: ChangeStatus,
    wait: SyncWait,
    mut poll: F,
) -> Result<(), RoutingError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<ChangeStatus>, RoutingError>>,
{
    let deadline = tokio::time::Instant::now() + wait.timeout;
    while status != ChangeStatus::Insync {
        if tokio::time::Instant::now() >= deadline {
            return Err(api(
                format!("waiting for change {id}"),
                format!(
                    "still {} after {:?}: it was accepted and Route 53 will finish it; check `geolat routing show`",
                    status.as_str(),
                    wait.timeout
                ),
            ));
        }
        tokio::time::sleep(wait.every).await;
        if let Some(now) = poll().await? {
            status = now;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A change that stays PENDING for three polls is waited for exactly
    /// three intervals, on tokio's paused clock.
    #[tokio::test(start_paused = true)]
    async fn a_pending_change_is_polled_until_insync() {
        let polls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let wait = SyncWait::default();
        wait_in_sync("C1", ChangeStatus::Pending, wait, || async {
            let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Some(if n < 3 {
                ChangeStatus::Pending
            } else {
                ChangeStatus::Insync
            }))
        })
        .await
        .unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        assert_eq!(start.elapsed(), wait.every * 3);
    }

    /// A change that never syncs fails after the 5-minute bound, saying it
    /// was accepted, and the poll that failed in between is an error at once.
    #[tokio::test(start_paused = true)]
    async fn a_change_that_never_syncs_fails_after_the_timeout() {
        let polls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let wait = SyncWait::default();
        let e = wait_in_sync("C2", ChangeStatus::Pending, wait, || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("still PENDING after 300s"), "{e}");
        assert!(e.contains("Route 53 will finish it"), "{e}");
        assert_eq!(start.elapsed(), wait.timeout);
        assert_eq!(polls.load(Ordering::SeqCst), 150);
        let failing = wait_in_sync("C3", ChangeStatus::Pending, wait, || async {
            Err(api("polling change C3", "connection reset".into()))
        })
        .await
        .unwrap_err();
        assert!(
            failing.to_string().contains("connection reset"),
            "{failing}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_insync_change_is_not_polled() {
        let polls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        wait_in_sync("C4", ChangeStatus::Insync, SyncWait::default(), || async {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(Some(ChangeStatus::Insync))
        })
        .await
        .unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), 0);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    use super::*;

    fn record(set_id: &str, weight: u8, value: &str) -> Record {
        Record {
            name: "default.geolat.api.example.com.".into(),
            set_id: set_id.into(),
            rule: Rule::Weighted(weight),
            ttl: 60,
            value: value.into(),
        }
    }

    #[test]
    fn a_batch_is_found_applied_missing_or_changed_otherwise() {
        let a = record("geolat:eu-west-1", 10, "euw1.lb.example.net.");
        let b = record("geolat:us-east-1", 20, "use1.lb.example.net.");
        let batch = [Change::Upsert(a.clone()), Change::Delete(b.clone())];
        let zone = |records: &[&Record]| -> Vec<ResourceRecordSet> {
            records.iter().map(|r| to_sdk(r).unwrap()).collect()
        };
        // Before: a absent, b present as the batch deletes it.
        assert_eq!(
            batch_state(&zone(&[&b]), &batch),
            [ChangeState::NotDone, ChangeState::NotDone]
        );
        // After.
        assert_eq!(
            batch_state(&zone(&[&a]), &batch),
            [ChangeState::Done, ChangeState::Done]
        );
        // a with other values counts as not done; b with other values is
        // neither.
        let a_old = record("geolat:eu-west-1", 99, "euw1.lb.example.net.");
        let b_new = record("geolat:us-east-1", 21, "use1.lb.example.net.");
        let got = batch_state(&zone(&[&a_old, &b_new]), &batch);
        assert_eq!(got[0], ChangeState::NotDone);
        assert!(matches!(got[1], ChangeState::Other(_)), "{got:?}");
    }
}
