//! Audit records: every apply, dry run, drain, restore and rollback, with
//! who, when, the plan, the state before and after, and the result, kept
//! in the store next to the windows (`audit/<time>_<id>.json`), written
//! create-only so a record is never overwritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::plan::ChangePlan;
use crate::routing::RoutingState;
use crate::store::{Store, StoreError};

pub const FORMAT: &str = "geolat-audit/1";
const PREFIX: &str = "audit/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub format: String,
    /// Short id for `geolat rollback ID`.
    pub id: String,
    pub at: DateTime<Utc>,
    pub who: String,
    /// apply, dry-run, drain, restore, rollback.
    pub action: String,
    pub plan: ChangePlan,
    /// The state read after the action (None when nothing was changed or
    /// it could not be read).
    pub after: Option<RoutingState>,
    /// applied, dry-run, refused: ..., failed: ...
    pub result: String,
}

impl AuditRecord {
    pub fn new(action: &str, who: &str, plan: ChangePlan, at: DateTime<Utc>) -> AuditRecord {
        let seed = format!(
            "{at:?}{who}{action}{}{}",
            plan.state_digest,
            std::process::id()
        );
        let id = format!("{:x}", Sha256::digest(seed.as_bytes()))[..10].to_owned();
        AuditRecord {
            format: FORMAT.into(),
            id,
            at,
            who: who.to_owned(),
            action: action.to_owned(),
            plan,
            after: None,
            result: String::new(),
        }
    }

    fn key(&self) -> String {
        format!(
            "{PREFIX}{}_{}.json",
            self.at.format("%Y%m%dT%H%M%S%.3fZ"),
            self.id
        )
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

/// `geolat history`: one line per record.
pub fn render(records: &[AuditRecord], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<24}  {:<9}  {:<16}  {:<28}  result",
        "id", "at", "action", "who", "source"
    )?;
    for r in records {
        writeln!(
            out,
            "{:<10}  {:<24}  {:<9}  {:<16}  {:<28}  {}",
            r.id,
            r.at.format("%Y-%m-%dT%H:%M:%SZ"),
            r.action,
            r.who,
            r.plan.source,
            r.result
        )?;
    }
    Ok(())
}
