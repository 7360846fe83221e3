//! Timing ground truth: measurements held to tight tolerances (200 us).
//! A binary of its own, because cargo runs test binaries one at a time, so
//! these never share the two cores with the other integration tests; and
//! within it, one test at a time (`serial`).

mod phases;
// The helpers are shared with the main integration binary, which uses
// more of them.
#[allow(dead_code, unused_imports)]
#[path = "../it/util.rs"]
mod util;

/// Held for the whole of each test here, so they run one at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
