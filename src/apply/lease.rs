//! One writer at a time: a lease object in the store, taken with a
//! create-only write (on S3, If-None-Match: a second writer gets 412), so
//! two analyzers started at once (overlapping CronJob runs, two regions)
//! never both apply. A lease expires, so a crashed holder does not block
//! routing forever; an expired lease is removed and taken again with the
//! same create-only write, so still only one contender wins.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

const KEY: &str = "locks/routing.lease";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    /// Tells this holder's lease from another's by the same holder name.
    pub token: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why the lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another geolat holds the routing lease: {} since {} (expires {}); not applying",
        .0.holder, .0.acquired_at.to_rfc3339(), .0.expires_at.to_rfc3339()
    )]
    Held(Lease),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes the lease for `ttl`, or says who holds it.
pub async fn acquire(
    store: &Store,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    let lease = Lease {
        holder: holder.to_owned(),
        token: format!(
            "{}-{}",
            std::process::id(),
            now.timestamp_nanos_opt().unwrap_or_default()
        ),
        acquired_at: now,
        expires_at: now + ttl,
    };
    let bytes = serde_json::to_vec(&lease).unwrap_or_default();
    for _ in 0..2 {
        if store.create(KEY, bytes.clone()).await? {
            return Ok(lease);
        }
        match current(store).await? {
            Some(other) if other.expires_at > now => return Err(LeaseError::Held(other)),
            // Expired (or unreadable, or gone): clear it and try once more.
            _ => store.delete(KEY).await?,
        }
    }
    match current(store).await? {
        Some(other) => Err(LeaseError::Held(other)),
        None => Err(LeaseError::Held(Lease {
            holder: "an unknown writer".into(),
            token: String::new(),
            acquired_at: now,
            expires_at: now,
        })),
    }
}

/// Gives the lease back, if it is still ours.
pub async fn release(store: &Store, lease: &Lease) -> Result<(), StoreError> {
    if current(store)
        .await?
        .is_some_and(|l| l.token == lease.token)
    {
        store.delete(KEY).await?;
    }
    Ok(())
}

async fn current(store: &Store) -> Result<Option<Lease>, StoreError> {
    Ok(store
        .read_bytes(KEY)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}
