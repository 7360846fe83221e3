//! One writer at a time: a lease object in the store, so two analyzers
//! started at once (overlapping CronJob runs, two regions) never both
//! apply. A lease expires, so a crashed holder does not block routing
//! forever.
//!
//! Every write is conditional, so of any number of contenders exactly one
//! wins:
//! - a free store is taken with a create-only write (S3: If-None-Match; a
//!   second writer gets 412);
//! - a lease that is expired, given back or unreadable is taken over by
//!   replacing it only if it is still the version that was read (S3:
//!   If-Match on its ETag; a local directory: see `store::local_cas`). A
//!   contender that read the same old lease finds it moved and reports the
//!   winner;
//! - giving a lease back, or breaking one, removes it only at the version
//!   its remover read. `object_store` cannot delete conditionally on S3, so
//!   there the lease is replaced, conditionally, by a tombstone: the same
//!   lease marked `released_at`, which every contender treats as free. A
//!   local directory deletes the file under the same check.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, Version};

const KEY: &str = "locks/routing.lease";

/// Tries before giving up when the lease keeps changing under us (it was
/// taken and given back between our reads).
const ROUNDS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    /// Tells this holder's lease from another's by the same holder name.
    pub token: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set on a tombstone: the lease was given back (or broken) then, and
    /// is free. Absent in older lease files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    /// Who gave it back: its holder, or who broke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
}

impl Lease {
    fn new(holder: &str, ttl: Duration, now: DateTime<Utc>) -> Lease {
        Lease {
            holder: holder.to_owned(),
            token: unique_token(now),
            acquired_at: now,
            expires_at: now + ttl,
            released_at: None,
            released_by: None,
        }
    }

    /// Whether another writer may take it over at `now`.
    pub fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.released_at.is_some() || self.expires_at <= now
    }
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

/// The lease object as one read saw it, and the version a conditional
/// write made from this sight compares against.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The lease, or why the object is not one (it is then treated as free).
    pub lease: Result<Lease, String>,
    version: Version,
}

/// What a [`Seen`] lease means at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Someone holds it and it has not expired.
    Held,
    /// Its holder stopped renewing it (crashed, or still running late).
    Expired,
    /// Given back or broken: a tombstone, free.
    Released,
    /// Not a lease geolat can read; free to take over.
    Unreadable,
}

impl Seen {
    /// The version of the object this sight read.
    pub fn version(&self) -> &Version {
        &self.version
    }

    pub fn state(&self, now: DateTime<Utc>) -> LeaseState {
        match &self.lease {
            Err(_) => LeaseState::Unreadable,
            Ok(l) if l.released_at.is_some() => LeaseState::Released,
            Ok(l) if l.expires_at <= now => LeaseState::Expired,
            Ok(_) => LeaseState::Held,
        }
    }

    /// The lease, if someone holds it at `now`.
    fn holder(&self, now: DateTime<Utc>) -> Option<&Lease> {
        self.lease.as_ref().ok().filter(|l| !l.is_free(now))
    }
}

/// Where the lease lives: the store's URL and the lease's key.
pub fn location(store: &Store) -> String {
    format!("{}/{KEY}", store.url().trim_end_matches('/'))
}

/// The lease object as it is now (held, expired, released or unreadable);
/// `None` if there is none. Also the read step of [`acquire`].
pub async fn show(store: &Store) -> Result<Option<Seen>, StoreError> {
    Ok(store
        .read_versioned(KEY)
        .await?
        .map(|(bytes, version)| Seen {
            lease: serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            version,
        }))
}

/// Takes the lease for `ttl`, or says who holds it.
pub async fn acquire(
    store: &Store,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    acquire_as(store, Lease::new(holder, ttl, now), now).await
}

/// The swap step of [`acquire`]: takes over the lease `seen` showed if it
/// is free at `now` and still the version `seen` read; if it moved since,
/// says who holds it now (or, if it is free again, acquires afresh).
pub async fn take_over(
    store: &Store,
    seen: &Seen,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    let mine = Lease::new(holder, ttl, now);
    match swap(store, seen, &mine, now).await? {
        Swap::Taken => Ok(mine),
        Swap::Held(other) => Err(LeaseError::Held(other)),
        Swap::Moved => acquire_as(store, mine, now).await,
    }
}

async fn acquire_as(store: &Store, mine: Lease, now: DateTime<Utc>) -> Result<Lease, LeaseError> {
    let bytes = serde_json::to_vec(&mine).map_err(StoreError::from)?;
    for _ in 0..ROUNDS {
        if store.create(KEY, bytes.clone()).await? {
            return Ok(mine);
        }
        // Gone again since the create failed: create again.
        let Some(seen) = show(store).await? else {
            continue;
        };
        match swap(store, &seen, &mine, now).await? {
            Swap::Taken => return Ok(mine),
            Swap::Held(other) => return Err(LeaseError::Held(other)),
            Swap::Moved => continue,
        }
    }
    let holder = show(store).await?.and_then(|s| s.lease.ok());
    Err(LeaseError::Held(holder.unwrap_or_else(|| Lease {
        holder: "an unknown writer".into(),
        token: String::new(),
        acquired_at: now,
        expires_at: now,
        released_at: None,
        released_by: None,
    })))
}

/// What a conditional take-over came to.
#[derive(Debug)]
enum Swap {
    Taken,
    /// Someone holds it (it was not free, or another contender won).
    Held(Lease),
    /// It changed and is free again, or gone: start over.
    Moved,
}

async fn swap(
    store: &Store,
    seen: &Seen,
    mine: &Lease,
    now: DateTime<Utc>,
) -> Result<Swap, StoreError> {
    if let Some(other) = seen.holder(now) {
        return Ok(Swap::Held(other.clone()));
    }
    let bytes = serde_json::to_vec(mine)?;
    if store.replace_if(KEY, bytes, &seen.version).await? {
        return Ok(Swap::Taken);
    }
    Ok(match show(store).await? {
        Some(now_seen) => match now_seen.holder(now) {
            Some(other) => Swap::Held(other.clone()),
            None => Swap::Moved,
        },
        None => Swap::Moved,
    })
}

/// Gives the lease back, if it is still ours.
pub async fn release(store: &Store, lease: &Lease) -> Result<(), StoreError> {
    let Some(seen) = show(store).await? else {
        return Ok(());
    };
    match &seen.lease {
        Ok(l) if l.token == lease.token && l.released_at.is_none() => {
            // `false`: it expired and another writer took it meanwhile;
            // theirs is not ours to remove.
            remove(store, &seen, &lease.holder, Utc::now()).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Removes the lease `seen` showed, whoever holds it, only if it is still
/// that version: a lease taken after the look is never broken. `by` says
/// who broke it (kept on S3's tombstone). `Ok(false)`: it moved, nothing
/// was done.
pub async fn break_lease(
    store: &Store,
    seen: &Seen,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    remove(store, seen, by, now).await
}

/// Deletes the lease at `seen`'s version where the store can (a local
/// directory); elsewhere replaces it at that version with a tombstone.
async fn remove(
    store: &Store,
    seen: &Seen,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if store.deletes_conditionally() {
        return store.delete_if(KEY, &seen.version).await;
    }
    let mut tombstone = seen.lease.clone().unwrap_or_else(|problem| Lease {
        holder: format!("an unreadable lease ({problem})"),
        token: String::new(),
        acquired_at: now,
        expires_at: now,
        released_at: None,
        released_by: None,
    });
    tombstone.released_at = Some(now);
    tombstone.released_by = Some(by.to_owned());
    store
        .replace_if(KEY, serde_json::to_vec(&tombstone)?, &seen.version)
        .await
}

/// A token no other lease has: the process, the time, and 128 bits from
/// the standard library's per-process random hash keys (two contenders in
/// one process at one `now`, or two pods both running as pid 1, still
/// differ).
fn unique_token(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let random = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
        h.finish()
    };
    format!("{}-{:016x}{:016x}", std::process::id(), random(), random())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        (dir, store)
    }

    const TTL: Duration = Duration::minutes(10);

    #[tokio::test]
    async fn a_held_lease_is_refused_and_a_released_one_taken() {
        let (_dir, store) = local();
        let now = t("2026-12-01T10:00:00Z");
        let a = acquire(&store, "a", TTL, now).await.unwrap();
        match acquire(&store, "b", TTL, now).await {
            Err(LeaseError::Held(h)) => assert_eq!(h, a),
            other => panic!("expected Held(a), got {other:?}"),
        }
        release(&store, &a).await.unwrap();
        assert!(show(&store).await.unwrap().is_none(), "deleted locally");
        let b = acquire(&store, "b", TTL, now).await.unwrap();
        // A release of a lease that is no longer ours leaves the holder's.
        release(&store, &a).await.unwrap();
        assert_eq!(show(&store).await.unwrap().unwrap().lease.unwrap(), b);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over() {
        let (_dir, store) = local();
        let old = acquire(&store, "crashed", TTL, t("2026-12-01T09:00:00Z"))
            .await
            .unwrap();
        let now = t("2026-12-01T10:00:00Z");
        let seen = show(&store).await.unwrap().unwrap();
        assert_eq!(seen.state(now), LeaseState::Expired);
        let new = acquire(&store, "b", TTL, now).await.unwrap();
        assert_ne!(new.token, old.token);
        assert_eq!(show(&store).await.unwrap().unwrap().lease.unwrap(), new);
    }

    /// Issue 9, point 6: A reads the expired lease, B takes it over, then
    /// A's swap must fail and A must name B, not delete B's fresh lease.
    #[tokio::test]
    async fn a_contender_that_read_an_expired_lease_loses_to_the_one_that_took_it() {
        let (_dir, store) = local();
        acquire(&store, "crashed", TTL, t("2026-12-01T09:00:00Z"))
            .await
            .unwrap();
        let now = t("2026-12-01T10:00:00Z");
        let seen_by_a = show(&store).await.unwrap().unwrap();
        assert_eq!(seen_by_a.state(now), LeaseState::Expired);
        let b = acquire(&store, "b", TTL, now).await.unwrap();
        match take_over(&store, &seen_by_a, "a", TTL, now).await {
            Err(LeaseError::Held(h)) => assert_eq!(h, b),
            other => panic!("expected Held(b), got {other:?}"),
        }
        assert_eq!(show(&store).await.unwrap().unwrap().lease.unwrap(), b);
    }

    #[tokio::test]
    async fn a_held_lease_is_not_taken_over_from_a_stale_sight() {
        let (_dir, store) = local();
        let now = t("2026-12-01T10:00:00Z");
        let a = acquire(&store, "a", TTL, now).await.unwrap();
        let seen = show(&store).await.unwrap().unwrap();
        match take_over(&store, &seen, "b", TTL, now).await {
            Err(LeaseError::Held(h)) => assert_eq!(h, a),
            other => panic!("expected Held(a), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_tombstone_and_an_unreadable_lease_are_free() {
        let (dir, store) = local();
        let now = t("2026-12-01T10:00:00Z");
        let path = dir.path().join(KEY);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut tomb = Lease::new("gone", TTL, now);
        tomb.released_at = Some(now);
        std::fs::write(&path, serde_json::to_vec(&tomb).unwrap()).unwrap();
        assert_eq!(
            show(&store).await.unwrap().unwrap().state(now),
            LeaseState::Released
        );
        let a = acquire(&store, "a", TTL, now).await.unwrap();
        release(&store, &a).await.unwrap();
        std::fs::write(&path, b"not json").unwrap();
        assert_eq!(
            show(&store).await.unwrap().unwrap().state(now),
            LeaseState::Unreadable
        );
        acquire(&store, "b", TTL, now).await.unwrap();
    }

    #[tokio::test]
    async fn an_old_lease_file_still_reads() {
        let (dir, store) = local();
        let path = dir.path().join(KEY);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"holder":"h","token":"t","acquired_at":"2026-12-01T10:00:00Z","expires_at":"2026-12-01T10:10:00Z"}"#,
        )
        .unwrap();
        let seen = show(&store).await.unwrap().unwrap();
        assert_eq!(seen.state(t("2026-12-01T10:05:00Z")), LeaseState::Held);
        assert_eq!(seen.lease.unwrap().released_at, None);
    }

    #[tokio::test]
    async fn breaking_removes_only_the_lease_it_saw() {
        let (_dir, store) = local();
        let a = acquire(&store, "a", TTL, t("2026-12-01T09:00:00Z"))
            .await
            .unwrap();
        let now = t("2026-12-01T10:00:00Z");
        let seen = show(&store).await.unwrap().unwrap();
        assert_eq!(seen.lease.as_ref().unwrap(), &a);
        let b = acquire(&store, "b", TTL, now).await.unwrap();
        assert!(!break_lease(&store, &seen, "ops", now).await.unwrap());
        let seen = show(&store).await.unwrap().unwrap();
        assert_eq!(seen.lease.as_ref().unwrap(), &b);
        assert!(break_lease(&store, &seen, "ops", now).await.unwrap());
        assert!(show(&store).await.unwrap().is_none());
    }

    /// Two acquires at once on a fresh store, and on an expired lease:
    /// exactly one holder each time, and the other names it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_acquires_at_once_yield_one_holder() {
        let now = t("2026-12-01T10:00:00Z");
        for round in 0..50 {
            let (_dir, store) = local();
            if round % 2 == 1 {
                acquire(&store, "crashed", TTL, now - Duration::hours(1))
                    .await
                    .unwrap();
            }
            let (a, b) = tokio::join!(
                acquire(&store, "a", TTL, now),
                acquire(&store, "b", TTL, now)
            );
            let stored = show(&store).await.unwrap().unwrap().lease.unwrap();
            match (a, b) {
                (Ok(won), Err(LeaseError::Held(named)))
                | (Err(LeaseError::Held(named)), Ok(won)) => {
                    assert_eq!(won, named, "round {round}");
                    assert_eq!(won, stored, "round {round}");
                }
                other => panic!("round {round}: expected one holder, got {other:?}"),
            }
        }
    }
}
