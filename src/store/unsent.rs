//! A window the store refused is kept on local disk, never dropped: the
//! probe's CronJob and its `--serve` loop both save through here.

use std::path::PathBuf;

use super::{Store, StoreError, window_key};
use crate::window::Window;

/// A window the store did not take, and where it went instead.
#[derive(Debug, thiserror::Error)]
pub enum Unsent {
    #[error("{cause}; the window was kept in {}", kept.display())]
    Kept { cause: StoreError, kept: PathBuf },
    #[error("{cause}; the window could not be kept locally either")]
    Lost { cause: StoreError },
}

impl Store {
    /// Stores the window and returns its key; if the store fails, writes it
    /// to `$TMPDIR/geolat-unsent-<key>` (an `emptyDir` in the chart) and
    /// says where, so a store outage never loses a measured window.
    pub async fn put_window_or_keep(&self, window: &Window) -> Result<String, Unsent> {
        match self.put_window(window).await {
            Ok(key) => Ok(key),
            Err(cause) => {
                let name = window_key(window).replace('/', "_");
                let kept = std::env::temp_dir().join(format!("geolat-unsent-{name}"));
                let written = window
                    .to_json()
                    .ok()
                    .and_then(|bytes| std::fs::write(&kept, bytes).ok())
                    .is_some();
                if written {
                    Err(Unsent::Kept { cause, kept })
                } else {
                    Err(Unsent::Lost { cause })
                }
            }
        }
    }
}
