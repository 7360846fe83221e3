//! Audit records: every apply, dry run, drain, restore and rollback, with
//! who, when, the plan, the state before and after, and the result, kept
//! in the store next to the windows (`audit/<time>_<id>.json`), written
//! create-only so a record is never overwritten.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::plan::{ChangePlan, Source};
use crate::routing::RoutingState;
use crate::store::{Store, StoreError};

pub const FORMAT: &str = "geolat-audit/1";
const PREFIX: &str = "audit/";

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Apply,
    Rollback,
    Drain,
    Restore,
    /// Records before geolat kept the command of a dry run.
    DryRun,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Apply => "apply",
            Action::Rollback => "rollback",
            Action::Drain => "drain",
            Action::Restore => "restore",
            Action::DryRun => "dry-run",
        })
    }
}

/// How it ended. Written as one string (`applied`, `dry-run`,
/// `refused: WHY`, `failed: WHY`, ...), as every audit record so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// AWS (or the lab) now routes as the plan said.
    Applied,
    /// Shown and checked, nothing changed (no --apply).
    DryRun,
    /// Nothing to change: it already routed as asked.
    NoChanges,
    /// A guardrail or a check refused it before anything changed.
    Refused(String),
    /// The operator answered no.
    NotConfirmed,
    /// Another writer held the lease: nothing changed.
    LeaseBusy(String),
    /// It failed; the text says where the control plane was left.
    Failed(String),
    /// A result this geolat does not know.
    Other(String),
}

impl Outcome {
    /// Whether the action may have changed routing.
    pub fn changed(&self) -> bool {
        matches!(self, Outcome::Applied | Outcome::Failed(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied => f.write_str("applied"),
            Outcome::DryRun => f.write_str("dry-run"),
            Outcome::NoChanges => f.write_str("no-changes"),
            Outcome::Refused(why) => write!(f, "refused: {why}"),
            Outcome::NotConfirmed => f.write_str("not-confirmed"),
            Outcome::LeaseBusy(holder) => write!(f, "lease-busy: {holder}"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
            Outcome::Other(text) => f.write_str(text),
        }
    }
}

impl From<&str> for Outcome {
    fn from(text: &str) -> Outcome {
        match text.split_once(": ") {
            Some(("refused", why)) => Outcome::Refused(why.to_owned()),
            Some(("failed", why)) => Outcome::Failed(why.to_owned()),
            Some(("lease-busy", holder)) => Outcome::LeaseBusy(holder.to_owned()),
            _ => match text {
                "applied" => Outcome::Applied,
                "dry-run" => Outcome::DryRun,
                "no-changes" => Outcome::NoChanges,
                "not-confirmed" => Outcome::NotConfirmed,
                other => Outcome::Other(other.to_owned()),
            },
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Outcome, D::Error> {
        Ok(Outcome::from(String::deserialize(d)?.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub format: String,
    /// Short id for `geolat rollback ID`.
    pub id: String,
    pub at: DateTime<Utc>,
    /// user@host of the process.
    pub who: String,
    /// The AWS principal that acted (STS GetCallerIdentity), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub action: Action,
    /// Whether it ran for real (`--apply`).
    #[serde(default)]
    pub dry_run: bool,
    pub plan: ChangePlan,
    /// The state read after the action (None when nothing was changed or
    /// it could not be read).
    pub after: Option<RoutingState>,
    pub result: Outcome,
}

impl AuditRecord {
    pub fn new(action: Action, who: &str, plan: ChangePlan, at: DateTime<Utc>) -> AuditRecord {
        let seed = format!(
            "{at:?}{who}{action}{}{}{}",
            plan.state_digest,
            plan.plan_digest,
            std::process::id()
        );
        let id = format!("{:x}", Sha256::digest(seed.as_bytes()))[..10].to_owned();
        AuditRecord {
            format: FORMAT.into(),
            id,
            at,
            who: who.to_owned(),
            principal: None,
            action,
            dry_run: false,
            plan,
            after: None,
            result: Outcome::Other(String::new()),
        }
    }

    fn key(&self) -> String {
        format!(
            "{PREFIX}{}_{}.json",
            self.at.format("%Y%m%dT%H%M%S%.3fZ"),
            self.id
        )
    }

    /// Whether this record changed routing (so a rollback has something to
    /// undo): applied, or failed after AWS was left other than before.
    pub fn changed_routing(&self) -> bool {
        match &self.result {
            Outcome::Applied => !self.dry_run && self.action != Action::DryRun,
            Outcome::Failed(_) => self
                .after
                .as_ref()
                .is_none_or(|after| after.normalized() != self.plan.before.normalized()),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("audit record {0} could not be encoded: {1}")]
    Encode(String, serde_json::Error),
    #[error("audit record {key} already exists; nothing was overwritten")]
    Exists { key: String },
    #[error("no audit record with id `{0}` (see `geolat history`)")]
    Unknown(String),
    #[error("cannot keep audit record in {dir}: {source}")]
    Fallback {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The last applied drain of `region` not restored since, if any.
pub fn last_drain<'a>(records: &'a [AuditRecord], region: &str) -> Option<&'a AuditRecord> {
    records
        .iter()
        .rev()
        .find(|r| {
            r.result == Outcome::Applied
                && !r.dry_run
                && matches!(&r.plan.source, Source::Drain(x) | Source::Restore(x) if x == region)
        })
        .filter(|r| matches!(&r.plan.source, Source::Drain(_)))
}

/// Writes `record`; it never replaces another.
pub async fn write(store: &Store, record: &AuditRecord) -> Result<String, AuditError> {
    let key = record.key();
    let bytes =
        serde_json::to_vec_pretty(record).map_err(|e| AuditError::Encode(key.clone(), e))?;
    if store.create(&key, bytes).await? {
        Ok(key)
    } else {
        Err(AuditError::Exists { key })
    }
}

/// Every readable audit record, oldest first, and the keys that were not.
pub async fn list(store: &Store) -> Result<(Vec<AuditRecord>, Vec<String>), AuditError> {
    let mut records = Vec::new();
    let mut unreadable = Vec::new();
    for key in store.keys(PREFIX).await? {
        // Gone since listed: nothing to show.
        if let Some(b) = store.read_bytes(&key).await? {
            match serde_json::from_slice::<AuditRecord>(&b) {
                Ok(r) => records.push(r),
                Err(_) => unreadable.push(key),
            }
        }
    }
    // Keys order by the millisecond; records made within one are ordered
    // by their full time.
    records.sort_by_key(|r| r.at);
    Ok((records, unreadable))
}

/// The record with `id`.
pub async fn find(store: &Store, id: &str) -> Result<AuditRecord, AuditError> {
    let (records, _) = list(store).await?;
    records
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AuditError::Unknown(id.to_owned()))
}

/// Where a record is kept when the store cannot take it: a local
/// directory (`GEOLAT_AUDIT_FALLBACK`, else `$XDG_STATE_HOME/geolat/audit-pending`,
/// else `~/.local/state/geolat/audit-pending`, else the temp dir), uploaded
/// by the next run against the same store.
pub fn fallback_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GEOLAT_AUDIT_FALLBACK") {
        return PathBuf::from(d);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")));
    state
        .unwrap_or_else(std::env::temp_dir)
        .join("geolat/audit-pending")
}

/// A record waiting in the fallback directory, with the store it is for.
#[derive(Serialize, Deserialize)]
struct Pending {
    store: String,
    record: AuditRecord,
}

/// Writes `record`, retrying the store three times; if it still cannot,
/// keeps it in `fallback` for [`upload_pending`]. Returns where it is.
pub async fn write_or_keep(
    store: &Store,
    record: &AuditRecord,
    fallback: &Path,
) -> Result<String, AuditError> {
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
        }
        match write(store, record).await {
            Ok(key) => return Ok(key),
            Err(e @ (AuditError::Exists { .. } | AuditError::Encode(..))) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    let file = fallback.join(format!("{}.json", record.id));
    let pending = Pending {
        store: store.url().to_owned(),
        record: record.clone(),
    };
    let keep = || -> std::io::Result<()> {
        std::fs::create_dir_all(fallback)?;
        let bytes = serde_json::to_vec_pretty(&pending)?;
        let tmp = tempfile::NamedTempFile::new_in(fallback)?;
        std::fs::write(tmp.path(), bytes)?;
        tmp.persist(&file).map_err(|e| e.error)?;
        Ok(())
    };
    keep().map_err(|source| AuditError::Fallback {
        dir: fallback.to_owned(),
        source,
    })?;
    tracing::warn!(
        error = %last.map(|e| e.to_string()).unwrap_or_default(),
        file = %file.display(),
        "the store did not take the audit record; kept locally, the next geolat run against this store uploads it"
    );
    Ok(file.display().to_string())
}

/// Uploads the records kept in `fallback` for `store`; returns their keys.
/// A record already in the store is not written twice.
pub async fn upload_pending(store: &Store, fallback: &Path) -> Result<Vec<String>, AuditError> {
    let Ok(entries) = std::fs::read_dir(fallback) else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(p) = serde_json::from_slice::<Pending>(&bytes) else {
            continue;
        };
        if p.store != store.url() {
            continue;
        }
        match write(store, &p.record).await {
            Ok(key) => done.push(key),
            Err(AuditError::Exists { key }) => done.push(key),
            Err(e) => return Err(e),
        }
        let _ = std::fs::remove_file(&path);
    }
    Ok(done)
}

/// `geolat history`: one line per record.
pub fn render(records: &[AuditRecord], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<24}  {:<9}  {:<16}  {:<28}  result",
        "id", "at", "action", "who", "source"
    )?;
    for r in records {
        let action = if r.dry_run {
            format!("{} (dry)", r.action)
        } else {
            r.action.to_string()
        };
        writeln!(
            out,
            "{:<10}  {:<24}  {:<9}  {:<16}  {:<28}  {}",
            r.id,
            r.at.format("%Y-%m-%dT%H:%M:%SZ"),
            action,
            r.principal.as_deref().unwrap_or(&r.who),
            r.plan.source.to_string(),
            r.result
        )?;
    }
    Ok(())
}
