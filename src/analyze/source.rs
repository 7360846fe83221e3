//! The I/O edge of analysis: list a store's windows for a range, fetch and
//! decode them concurrently, screen each and fold it into the matrix.
//!
//! Streaming keeps memory flat: the listing is produced an hour at a time,
//! a bounded number of windows is in flight, and a decoded window is
//! dropped as soon as it is folded in.
//!
//! A local store is read by one worker per core, each on the blocking
//! pool with its own decoder, screen and matrix, merged at the end (folding
//! adds counts, so the order of merging does not matter). Windows are
//! partitioned by the probe named in their key, so each worker sees a
//! probe's windows in key order and a duplicate resolves the same way on
//! every run (the first key wins). A day is some 300,000 files of 11 KiB:
//! one thread hand-off per file (let alone `object_store`'s two) costs more
//! than reading one, and folding on a single thread left half of a
//! two-core machine idle, so files travel to workers in batches of
//! [`LOCAL_BATCH`] and each worker reads, decodes and folds on its own. A
//! remote store is fetched window by window, [`REMOTE_CONCURRENCY`] at
//! once, to hide round trips, and folded as windows arrive.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read as _;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt as _;
use tokio::sync::mpsc;

use super::decode::{DecodedWindow, WindowDecoder};
use super::matrix::{Matrix, MatrixBuilder};
use super::report::{Analysis, Scope};
use super::screen::{Screen, Seen, Verdict};
use crate::store::{Store, StoreError, WindowObject};

/// Windows fetched at once from a remote store.
pub const REMOTE_CONCURRENCY: usize = 16;
/// Files handed to a local worker at once.
pub const LOCAL_BATCH: usize = 32;
/// Batches queued per local worker: enough that a worker never waits for
/// the listing, few enough that memory stays flat.
const QUEUED_BATCHES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("decoding windows failed unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A window's content, or why there is none to merge.
pub type Fetched = Result<DecodedWindow, String>;

/// One decoder and read buffer per thread.
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
    /// With [`analyze_cuts`]: the same windows folded again, once per cut
    /// of the range, by the slice their start falls in.
    cuts: Vec<Cut>,
    since: DateTime<Utc>,
}

/// The range cut in equal slices: each slice's builder and window count.
#[derive(Default)]
struct Cut {
    step: TimeDelta,
    slices: Vec<(MatrixBuilder, u64)>,
}

impl Fold {
    fn new(scope: &Scope, seen: Seen, cuts: &[u32]) -> Fold {
        Fold {
            screen: Screen::new(scope.since, scope.until, scope.now, seen),
            matrix: MatrixBuilder::default(),
            cuts: cuts
                .iter()
                .map(|&n| Cut {
                    step: (scope.until - scope.since) / n.max(1) as i32,
                    slices: (0..n).map(|_| Default::default()).collect(),
                })
                .collect(),
            since: scope.since,
        }
    }

    fn take(&mut self, obj: &WindowObject, fetched: Fetched) {
        match fetched {
            Err(problem) => self.screen.unreadable(&obj.key, problem),
            Ok(w) => {
                if self.screen.check(&obj.key, obj.last_modified, &w) == Verdict::Merge {
                    self.matrix.add(&w);
                    for cut in &mut self.cuts {
                        if let Some(i) = slice_of(w.start, self.since, cut.step, cut.slices.len()) {
                            cut.slices[i].0.add(&w);
                            cut.slices[i].1 += 1;
                        }
                    }
                }
            }
        }
    }

    fn merge(&mut self, other: Fold) {
        self.screen.merge(other.screen);
        self.matrix.merge(other.matrix);
        for (mine, theirs) in self.cuts.iter_mut().zip(other.cuts) {
            for (m, (t, n)) in mine.slices.iter_mut().zip(theirs.slices) {
                m.0.merge(t);
                m.1 += n;
            }
        }
    }
}

/// The slice of the range a window starting at `start` is folded into.
fn slice_of(
    start: DateTime<Utc>,
    since: DateTime<Utc>,
    step: TimeDelta,
    slices: usize,
) -> Option<usize> {
    let step = step.num_milliseconds();
    if slices == 0 || step <= 0 {
        return None;
    }
    let i = (start - since).num_milliseconds().max(0) / step;
    Some((i as usize).min(slices - 1))
}

/// One part of an analysed range, folded alone.
#[derive(Debug, Clone)]
pub struct Slice {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Windows folded into it.
    pub windows: u64,
    pub matrix: Matrix,
}

/// Analyses every window in the store that started in the scope's range.
pub async fn analyze(store: &Store, scope: Scope) -> Result<Analysis, AnalyzeError> {
    Ok(analyze_sliced(store, scope, 0).await?.0)
}

/// [`analyze`], and the range cut into `slices` equal parts each folded
/// alone (percentiles over time, a recommendation's stability) in the same
/// single read of the store. Each slice holds a matrix as large as the
/// whole range's at most.
pub async fn analyze_sliced(
    store: &Store,
    scope: Scope,
    slices: u32,
) -> Result<(Analysis, Vec<Slice>), AnalyzeError> {
    let (analysis, mut cuts) = analyze_cuts(store, scope, &[slices]).await?;
    Ok((analysis, cuts.pop().unwrap_or_default()))
}

/// [`analyze_sliced`] with several cuts of the range at once (say 12
/// slices for a chart and 4 to advise on alone), still in one read; one
/// list of slices per cut, in the order asked.
pub async fn analyze_cuts(
    store: &Store,
    scope: Scope,
    cuts: &[u32],
) -> Result<(Analysis, Vec<Vec<Slice>>), AnalyzeError> {
    let seen = Seen::default();
    let objects = store
        .window_objects(scope.since, scope.until)
        .map_err(AnalyzeError::from);
    let fold = if store.is_local() {
        fold_local(store, &scope, cuts, &seen, objects).await?
    } else {
        let mut fold = Fold::new(&scope, seen, cuts);
        let windows = objects
            .map_ok(|obj| fetch_remote(store, obj))
            .try_buffered(REMOTE_CONCURRENCY);
        let mut windows = std::pin::pin!(windows);
        while let Some((obj, fetched)) = windows.try_next().await? {
            fold.take(&obj, fetched);
        }
        fold
    };
    let (cells, buckets) = fold.matrix.size();
    tracing::debug!(cells, buckets, "matrix folded");
    let parts = fold
        .cuts
        .into_iter()
        .map(|cut| {
            let step = cut.step;
            cut.slices
                .into_iter()
                .enumerate()
                .map(|(i, (builder, windows))| Slice {
                    since: scope.since + step * i as i32,
                    until: scope.since + step * (i as i32 + 1),
                    windows,
                    matrix: builder.finish(),
                })
                .collect()
        })
        .collect();
    let analysis = Analysis::new(scope, fold.screen.finish(), fold.matrix.finish());
    Ok((analysis, parts))
}

/// A batch of windows for a local worker, with their files.
type Batch = Vec<(WindowObject, Option<PathBuf>)>;

async fn fold_local(
    store: &Store,
    scope: &Scope,
    cuts: &[u32],
    seen: &Seen,
    objects: impl futures::Stream<Item = Result<WindowObject, AnalyzeError>>,
) -> Result<Fold, AnalyzeError> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = mpsc::channel::<Batch>(QUEUED_BATCHES);
        let fold = Fold::new(scope, seen.clone(), cuts);
        senders.push(tx);
        handles.push(tokio::task::spawn_blocking(move || work(rx, fold)));
    }
    let mut pending: Vec<Batch> = (0..workers)
        .map(|_| Vec::with_capacity(LOCAL_BATCH))
        .collect();
    let mut objects = std::pin::pin!(objects);
    let listed = async {
        while let Some(obj) = objects.try_next().await? {
            let w = partition(&obj.key, workers);
            let path = store.local_path(&obj.key);
            pending[w].push((obj, path));
            if pending[w].len() == LOCAL_BATCH {
                let batch = std::mem::replace(&mut pending[w], Vec::with_capacity(LOCAL_BATCH));
                // A worker only stops early by panicking; its join says so.
                if senders[w].send(batch).await.is_err() {
                    break;
                }
            }
        }
        for (tx, batch) in senders.iter().zip(pending) {
            if !batch.is_empty() {
                let _ = tx.send(batch).await;
            }
        }
        Ok::<_, AnalyzeError>(())
    }
    .await;
    drop(senders);
    let mut folds = Vec::with_capacity(workers);
    for h in handles {
        folds.push(h.await?);
    }
    listed?;
    let mut folds = folds.into_iter();
    let mut fold = folds
        .next()
        .unwrap_or_else(|| Fold::new(scope, seen.clone(), cuts));
    for other in folds {
        fold.merge(other);
    }
    Ok(fold)
}

/// A local worker: read, decode, screen and fold every batch it is sent.
fn work(mut rx: mpsc::Receiver<Batch>, mut fold: Fold) -> Fold {
    READER.with_borrow_mut(|reader| {
        while let Some(batch) = rx.blocking_recv() {
            for (obj, path) in batch {
                let fetched = match &obj.problem {
                    Some(problem) => Err(problem.clone()),
                    None => reader.read(path),
                };
                fold.take(&obj, fetched);
            }
        }
    });
    fold
}

/// The worker for a key: by the probe it names (`<start>_<probe>_...`), so
/// all windows of one probe, copies included, go to one worker in order.
fn partition(key: &str, workers: usize) -> usize {
    let name = key.rsplit('/').next().unwrap_or(key);
    let probe = name.split('_').nth(1).unwrap_or(name);
    let mut h = DefaultHasher::new();
    probe.hash(&mut h);
    (h.finish() % workers as u64) as usize
}

/// Reads and decodes one listed window with the bounded decoder analysis
/// uses (a histogram's claimed size never decides what is allocated):
/// its content, or why it cannot be merged. Only the store failing is an
/// error. For `store list`, which reads one window at a time.
pub async fn read_one(store: &Store, obj: &WindowObject) -> Result<Fetched, AnalyzeError> {
    if let Some(problem) = &obj.problem {
        return Ok(Err(problem.clone()));
    }
    if store.is_local() {
        let path = store.local_path(&obj.key);
        let read = tokio::task::spawn_blocking(move || READER.with_borrow_mut(|r| r.read(path)));
        return Ok(read.await?);
    }
    Ok(fetch_remote(store, obj.clone()).await?.1)
}

async fn fetch_remote(
    store: &Store,
    obj: WindowObject,
) -> Result<(WindowObject, Fetched), AnalyzeError> {
    if let Some(problem) = &obj.problem {
        let problem = problem.clone();
        return Ok((obj, Err(problem)));
    }
    let Some(bytes) = store.read_bytes(&obj.key).await? else {
        return Ok((obj, Err("deleted while being read".into())));
    };
    let decoded = tokio::task::spawn_blocking(move || {
        READER.with_borrow_mut(|r| r.decoder.decode(&bytes).map_err(|e| e.to_string()))
    });
    Ok((obj, decoded.await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_falls_in_the_slice_its_start_is_in() {
        let since: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let step = TimeDelta::minutes(15);
        let at = |m: i64| since + TimeDelta::minutes(m);
        assert_eq!(slice_of(at(0), since, step, 4), Some(0));
        assert_eq!(slice_of(at(14), since, step, 4), Some(0));
        assert_eq!(slice_of(at(15), since, step, 4), Some(1));
        assert_eq!(slice_of(at(59), since, step, 4), Some(3));
        // A late window past the range still lands in the last slice.
        assert_eq!(slice_of(at(75), since, step, 4), Some(3));
        assert_eq!(slice_of(at(5), since, step, 0), None);
        assert_eq!(slice_of(at(5), since, TimeDelta::zero(), 4), None);
    }
}
