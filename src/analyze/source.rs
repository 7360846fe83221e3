//! The I/O edge of analysis: list a store's windows for a range, fetch and
//! decode them concurrently, and fold each into the matrix as it arrives.
//!
//! Streaming keeps memory flat: the listing is produced an hour at a time,
//! a bounded number of windows is in flight, and a decoded window is
//! dropped as soon as it is folded in. Decoding (JSON, base64, inflate) is
//! CPU work and runs on tokio's blocking pool so every core takes part,
//! while folding stays in this task, in key order: duplicates then resolve
//! the same way on every run (the first key wins).
//!
//! A local store is read in batches of [`LOCAL_BATCH`] files per blocking
//! task (read and decode back to back, buffers reused): a day is some
//! 300,000 files of 11 KiB, and one thread hand-off per file (let alone
//! `object_store`'s two) costs more than reading one. A remote store is
//! fetched window by window, [`REMOTE_CONCURRENCY`] at once, to hide round
//! trips.

use std::cell::RefCell;
use std::io::Read as _;
use std::path::PathBuf;

use futures::TryStreamExt as _;

use super::decode::{DecodedWindow, WindowDecoder};
use super::matrix::MatrixBuilder;
use super::report::{Analysis, Scope};
use super::screen::{Screen, Verdict};
use crate::store::{Store, StoreError, WindowObject};

/// Windows fetched at once from a remote store.
pub const REMOTE_CONCURRENCY: usize = 16;
/// Files read and decoded per blocking task from a local store.
pub const LOCAL_BATCH: usize = 32;
/// Local batches in flight: enough to keep two cores busy, and at most
/// 128 decoded windows (about a megabyte) waiting to be folded.
const LOCAL_BATCHES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("decoding windows failed unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A window's content, or why there is none to merge.
type Fetched = Result<DecodedWindow, String>;

/// One decoder and read buffer per blocking-pool thread.
#[derive(Default)]
struct Reader {
    decoder: WindowDecoder,
    buf: Vec<u8>,
}

impl Reader {
    fn read(&mut self, path: Option<PathBuf>) -> Fetched {
        let path = path.ok_or("not a file in this store")?;
        self.buf.clear();
        let read = std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut self.buf));
        match read {
            Ok(_) => self.decoder.decode(&self.buf).map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err("deleted while being read".into())
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

thread_local! {
    static READER: RefCell<Reader> = RefCell::new(Reader::default());
}

/// Screens each window and folds the ones to merge.
struct Fold {
    screen: Screen,
    matrix: MatrixBuilder,
}

impl Fold {
    fn take(&mut self, obj: &WindowObject, fetched: Fetched) {
        match fetched {
            Err(problem) => self.screen.unreadable(&obj.key, problem),
            Ok(w) => {
                if self.screen.check(&obj.key, obj.last_modified, &w) == Verdict::Merge {
                    self.matrix.add(&w);
                }
            }
        }
    }
}

/// Analyses every window in the store that started in the scope's range.
pub async fn analyze(store: &Store, scope: Scope) -> Result<Analysis, AnalyzeError> {
    let mut fold = Fold {
        screen: Screen::new(scope.since, scope.until, scope.now),
        matrix: MatrixBuilder::default(),
    };
    let objects = store
        .window_objects(scope.since, scope.until)
        .map_err(AnalyzeError::from);
    if store.is_local() {
        let batches = objects
            .try_chunks(LOCAL_BATCH)
            .map_err(|e| e.1)
            .map_ok(|batch| read_local(store, batch))
            .try_buffered(LOCAL_BATCHES);
        let mut batches = std::pin::pin!(batches);
        while let Some(batch) = batches.try_next().await? {
            for (obj, fetched) in batch {
                fold.take(&obj, fetched);
            }
        }
    } else {
        let windows = objects
            .map_ok(|obj| fetch_remote(store, obj))
            .try_buffered(REMOTE_CONCURRENCY);
        let mut windows = std::pin::pin!(windows);
        while let Some((obj, fetched)) = windows.try_next().await? {
            fold.take(&obj, fetched);
        }
    }
    let (cells, buckets) = fold.matrix.size();
    tracing::debug!(cells, buckets, "matrix folded");
    Ok(Analysis::new(
        scope,
        fold.screen.finish(),
        fold.matrix.finish(),
    ))
}

async fn read_local(
    store: &Store,
    batch: Vec<WindowObject>,
) -> Result<Vec<(WindowObject, Fetched)>, AnalyzeError> {
    let paths: Vec<Option<PathBuf>> = batch.iter().map(|o| store.local_path(&o.key)).collect();
    let read = tokio::task::spawn_blocking(move || {
        READER.with_borrow_mut(|r| {
            batch
                .into_iter()
                .zip(paths)
                .map(|(obj, path)| {
                    let fetched = r.read(path);
                    (obj, fetched)
                })
                .collect()
        })
    });
    Ok(read.await?)
}

async fn fetch_remote(
    store: &Store,
    obj: WindowObject,
) -> Result<(WindowObject, Fetched), AnalyzeError> {
    let Some(bytes) = store.read_bytes(&obj.key).await? else {
        return Ok((obj, Err("deleted while being read".into())));
    };
    let decoded = tokio::task::spawn_blocking(move || {
        READER.with_borrow_mut(|r| r.decoder.decode(&bytes).map_err(|e| e.to_string()))
    });
    Ok((obj, decoded.await?))
}
