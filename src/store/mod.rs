//! Where windows live: a local directory (`file://DIR`, the default) or S3
//! (`s3://bucket/prefix`), both through `object_store`. Keys are laid out by
//! hour so a time range lists only the hours it covers:
//!
//! `windows/YYYY/MM/DD/HH/<start>_<probe id>_<config digest>.json`
//!
//! Writes are atomic (a reader never sees a partial window) and never
//! overwrite: writing the same window twice is reported, not duplicated.
//!
//! Small control objects (the routing lease) also change conditionally:
//! [`Store::read_versioned`] returns the version it read, and
//! [`Store::replace_if`] / [`Store::delete_if`] act only if the object is
//! still at that version (S3: If-Match on the ETag; a local directory: see
//! [`local_cas`]).

mod local_cas;
mod unsent;

pub use unsent::Unsent;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::window::{Window, WindowError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL `{url}`: {problem}")]
    BadUrl { url: String, problem: String },
    /// The backend failed on `key` (an object or a prefix). One line: the
    /// key and the cause once; `object_store` errors quote each cause they
    /// wrap, and an S3 error's XML document is cut to its code and message.
    #[error("store {url}: {key}: {}", describe(error))]
    Backend {
        url: String,
        key: String,
        error: object_store::Error,
    },
    #[error("store {url}: window {key} already exists (the same window was written before)")]
    AlreadyExists { url: String, key: String },
    #[error("cannot encode window: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("store {url}: {error}")]
    Io { url: String, error: std::io::Error },
    #[error("store {url}: {what} is not supported here")]
    Unsupported { url: String, what: &'static str },
}

/// How to reach a store beyond its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Send S3 requests here instead of where the environment says
    /// (`AWS_ENDPOINT_URL`, else AWS): an emulator, a VPC endpoint, MinIO.
    /// An `http://` endpoint is allowed without `AWS_ALLOW_HTTP`: naming
    /// it is asking for it. Ignored for a local directory.
    pub endpoint_url: Option<String>,
}

/// Which version of an object a read saw, for a later conditional write
/// ([`Store::replace_if`], [`Store::delete_if`]). On S3 the object's ETag
/// (and version id in a versioned bucket); in a local directory the
/// SHA-256 of the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.e_tag, &self.version) {
            (Some(e_tag), _) => f.write_str(e_tag.trim_matches('"')),
            (None, Some(v)) => f.write_str(v),
            (None, None) => f.write_str("unknown"),
        }
    }
}

/// A window that could not be read, with the key to find it by.
#[derive(Debug)]
pub struct Unreadable {
    pub key: String,
    pub problem: String,
}

pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory.
    local: Option<Arc<LocalFileSystem>>,
    url: String,
}

/// A stored window as the listing sees it, before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowObject {
    pub key: String,
    /// When the store says the object was written (S3 upload time, file
    /// mtime): how late and how skewed a window is are judged against it.
    pub last_modified: DateTime<Utc>,
    pub size: u64,
    /// Why the listing could not open it (a symlink loop, a directory
    /// without permission): a reader skips it and names it with this,
    /// rather than stopping at it.
    pub problem: Option<String>,
}

impl WindowObject {
    /// An entry the listing found but could not open.
    fn unopenable(key: String, problem: String) -> WindowObject {
        WindowObject {
            key,
            last_modified: DateTime::<Utc>::UNIX_EPOCH,
            size: 0,
            problem: Some(problem),
        }
    }
}

impl Store {
    /// Opens `file://DIR` (created if missing), a bare directory path, or
    /// `s3://bucket[/prefix]` (credentials and endpoint from the standard
    /// AWS environment variables).
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default())
    }

    /// [`Store::open`] with `options` over what the environment says.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let bad = |problem: String| StoreError::BadUrl {
            url: url.to_owned(),
            problem,
        };
        let mut local = None;
        let inner: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name; write s3://BUCKET/PREFIX".into()));
            }
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &options.endpoint_url {
                builder = builder.with_endpoint(endpoint);
                if endpoint.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
            }
            let s3 = builder.build().map_err(|e| bad(e.to_string()))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            }
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            if dir.is_empty() {
                return Err(bad("no directory; write file://DIR".into()));
            }
            if url.contains("://") && !url.starts_with("file://") {
                return Err(bad(
                    "unsupported scheme; use file://DIR or s3://BUCKET/PREFIX".into(),
                ));
            }
            let dir = std::path::Path::new(dir);
            if dir.exists() && !dir.is_dir() {
                return Err(bad(format!(
                    "{} exists and is not a directory",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
            let fs =
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(e.to_string()))?);
            local = Some(Arc::clone(&fs));
            fs
        };
        Ok(Store {
            inner,
            local,
            url: url.to_owned(),
        })
    }

    /// Like [`Store::open`], for readers: a local directory that does not
    /// exist is an error (a misspelt path), not an empty store.
    pub fn open_existing(url: &str) -> Result<Store, StoreError> {
        Store::open_existing_with(url, &StoreOptions::default())
    }

    /// [`Store::open_existing`] with `options`, as [`Store::open_with`].
    pub fn open_existing_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if !url.contains("://") || url.starts_with("file://") {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            let path = std::path::Path::new(dir);
            if !dir.is_empty() && !path.is_dir() {
                let problem = if path.exists() {
                    format!("{dir} exists and is not a directory")
                } else {
                    format!(
                        "{dir} is not an existing directory; give the store that probes write to"
                    )
                };
                return Err(StoreError::BadUrl {
                    url: url.to_owned(),
                    problem,
                });
            }
        }
        Store::open_with(url, options)
    }

    /// A store over an `object_store` backend built elsewhere (a test's S3
    /// client with its own credentials), named `url` in messages. It is
    /// treated as remote: conditional writes go through the backend.
    pub fn from_backend(url: &str, backend: Arc<dyn ObjectStore>) -> Store {
        Store {
            inner: backend,
            local: None,
            url: url.to_owned(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend failing on `key` (an object or a prefix).
    fn backend_at(&self, key: &str, error: object_store::Error) -> StoreError {
        StoreError::Backend {
            url: self.url.clone(),
            key: key.to_owned(),
            error,
        }
    }

    /// Writes a window under its key; returns the key.
    pub async fn put_window(&self, w: &Window) -> Result<String, StoreError> {
        let key = window_key(w);
        let bytes = w.to_json()?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&Path::from(key.as_str()), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(key),
            Err(object_store::Error::AlreadyExists { .. }) => Err(StoreError::AlreadyExists {
                url: self.url.clone(),
                key,
            }),
            Err(e) => Err(self.backend_at(&key, e)),
        }
    }

    /// Keys of windows that started in `[since, until)`, in key order.
    pub async fn list_windows(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.window_objects(since, until)
            .map_ok(|o| o.key)
            .try_collect()
            .await
    }

    /// The hour prefixes (`windows/YYYY/MM/DD/HH/`) that exist and can hold
    /// a window started in `[since, until)`, in order. Listed a level at a
    /// time (years, months, days, hours) and pruned to the range at each,
    /// so a century-long range over a store of a few days costs a few
    /// listings, not one per hour of the century.
    ///
    /// A local directory that cannot be listed (no permission, a symlink
    /// loop) is returned in the second list with why, to be named and
    /// skipped; on S3 a failed listing is the store failing, an error.
    pub async fn hour_prefixes_present(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<WindowObject>), StoreError> {
        let mut level = vec![(String::from("windows/"), Vec::<u32>::new())];
        let mut unopenable = Vec::new();
        for depth in 0..4 {
            let mut next = Vec::new();
            for (prefix, parts) in level {
                let listed = match self
                    .inner
                    .list_with_delimiter(Some(&Path::from(prefix.as_str())))
                    .await
                {
                    Ok(listed) => listed,
                    Err(e) if self.local.is_some() && depth > 0 => {
                        unopenable.push(WindowObject::unopenable(
                            prefix,
                            format!("cannot list: {}", describe(&e)),
                        ));
                        continue;
                    }
                    Err(e) => return Err(self.backend_at(&prefix, e)),
                };
                let mut children: Vec<(String, Vec<u32>)> = listed
                    .common_prefixes
                    .iter()
                    .filter_map(|p| {
                        let name = p.filename()?;
                        let width = if depth == 0 { 4 } else { 2 };
                        if name.len() != width || !name.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        let mut parts = parts.clone();
                        parts.push(name.parse().ok()?);
                        let (start, end) = span(&parts)?;
                        (start < until && end > since).then(|| (format!("{prefix}{name}/"), parts))
                    })
                    .collect();
                children.sort();
                next.extend(children);
            }
            level = next;
        }
        Ok((level.into_iter().map(|(p, _)| p).collect(), unopenable))
    }

    /// Window objects that started in `[since, until)`, in key order,
    /// listed one hour prefix at a time as the stream is polled, so a long
    /// range is never held in memory at once (only one hour's listing).
    pub fn window_objects(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Stream<Item = Result<WindowObject, StoreError>> + '_ {
        futures::stream::once(self.hour_prefixes_present(since, until))
            .map_ok(|(prefixes, unopenable)| {
                let unopenable = futures::stream::iter(unopenable.into_iter().map(Hour::Named));
                futures::stream::iter(prefixes.into_iter().map(Hour::Prefix))
                    .chain(unopenable)
                    .map(Ok)
            })
            .try_flatten()
            .and_then(move |hour| async move {
                let wanted =
                    move |key: &str| key.ends_with(".json") && key_in_range(key, since, until);
                let mut hour = match hour {
                    Hour::Named(obj) => vec![obj],
                    Hour::Prefix(prefix) if self.local.is_some() => {
                        self.list_local_hour(&prefix, wanted).await?
                    }
                    Hour::Prefix(prefix) => {
                        self.inner
                            .list(Some(&Path::from(prefix.as_str())))
                            .map_err(|e| self.backend_at(&prefix, e))
                            .try_filter_map(|m| async move {
                                let key = m.location.to_string();
                                Ok(wanted(&key).then_some(WindowObject {
                                    key,
                                    last_modified: m.last_modified,
                                    size: m.size,
                                    problem: None,
                                }))
                            })
                            .try_collect()
                            .await?
                    }
                };
                hour.sort_by(|a, b| a.key.cmp(&b.key));
                Ok::<_, StoreError>(futures::stream::iter(hour.into_iter().map(Ok)))
            })
            .try_flatten()
    }

    /// One hour of a local store, straight from its directory: `read_dir`,
    /// then a `stat` relative to it for the files `wanted` keeps.
    /// `object_store`'s listing stats every file by its full path and builds
    /// its path twice; a day is 300,000 files, so that was a tenth of a
    /// day's analysis.
    async fn list_local_hour(
        &self,
        prefix: &str,
        wanted: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<Vec<WindowObject>, StoreError> {
        let Some(dir) = self.local_path(prefix.trim_end_matches('/')) else {
            return Ok(Vec::new());
        };
        let prefix = prefix.to_owned();
        let io = |error: std::io::Error| StoreError::Io {
            url: self.url.clone(),
            error,
        };
        let listed = tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => {
                    return Ok(vec![WindowObject::unopenable(
                        prefix,
                        format!("cannot list: {e}"),
                    )]);
                }
            };
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let key = format!("{prefix}{name}");
                if !wanted(&key) {
                    continue;
                }
                // Through a symlink to what it names: a window may be a
                // link, and a link that leads nowhere is named, not skipped.
                let meta = match entry.file_type() {
                    Ok(t) if t.is_symlink() => std::fs::metadata(entry.path()),
                    _ => entry.metadata(),
                };
                let meta = match meta.and_then(|m| Ok((m.is_file(), m.modified()?, m.len()))) {
                    Ok((true, modified, len)) => (modified, len),
                    // Not a file (a directory named like a window).
                    Ok((false, ..)) => continue,
                    // Deleted since the directory was read.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && !entry.path().is_symlink() =>
                    {
                        continue;
                    }
                    Err(e) => {
                        out.push(WindowObject::unopenable(key, format!("cannot open: {e}")));
                        continue;
                    }
                };
                out.push(WindowObject {
                    key,
                    last_modified: meta.0.into(),
                    size: meta.1,
                    problem: None,
                });
            }
            Ok(out)
        });
        listed
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)
    }

    /// The bytes stored under `key`; `Ok(None)` if it is gone (deleted
    /// since it was listed).
    pub async fn read_bytes(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let got = match self.inner.get(&Path::from(key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.backend_at(key, e)),
        };
        got.bytes()
            .await
            .map(Some)
            .map_err(|e| self.backend_at(key, e))
    }

    /// Writes `bytes` under `key` only if nothing is there yet (S3: a
    /// conditional write with If-None-Match). `Ok(false)`: something is.
    /// What leases and audit records are built on: two writers never both
    /// succeed.
    pub async fn create(&self, key: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&Path::from(key), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.backend_at(key, e)),
        }
    }

    /// The bytes under `key` and the version they are, for a later
    /// [`Store::replace_if`] or [`Store::delete_if`]; `Ok(None)` if there
    /// is nothing.
    pub async fn read_versioned(&self, key: &str) -> Result<Option<(Bytes, Version)>, StoreError> {
        let got = match self.inner.get(&Path::from(key)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.backend_at(key, e)),
        };
        let meta = got.meta.clone();
        let bytes = got.bytes().await.map_err(|e| self.backend_at(key, e))?;
        let version = if self.local.is_some() {
            Version {
                e_tag: Some(local_cas::digest(&bytes)),
                version: None,
            }
        } else {
            Version {
                e_tag: meta.e_tag,
                version: meta.version,
            }
        };
        Ok(Some((bytes, version)))
    }

    /// Writes `bytes` under `key` only if it is still at `expected` (S3:
    /// If-Match on the ETag). `Ok(false)`: it changed or is gone since it
    /// was read, and nothing was written.
    pub async fn replace_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        expected: &Version,
    ) -> Result<bool, StoreError> {
        if let Some(path) = self.local_path(key) {
            let digest = expected.e_tag.clone().unwrap_or_default();
            return self
                .blocking(move || local_cas::replace_if(&path, &bytes, &digest))
                .await;
        }
        let opts = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag: expected.e_tag.clone(),
                version: expected.version.clone(),
            }),
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&Path::from(key), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Ok(false),
            Err(e) => Err(self.backend_at(key, e)),
        }
    }

    /// Whether [`Store::delete_if`] works here. `object_store` 0.14 sends
    /// no If-Match with an S3 DELETE, so only a local directory deletes
    /// conditionally; on S3, replace the object with one that says it is
    /// gone ([`Store::replace_if`]), which is atomic.
    pub fn deletes_conditionally(&self) -> bool {
        self.local.is_some()
    }

    /// Removes `key` only if it is still at `expected`. `Ok(false)`: it
    /// changed or is gone, and nothing was removed. A local directory only
    /// (see [`Store::deletes_conditionally`]); elsewhere an error, never an
    /// unconditional delete.
    pub async fn delete_if(&self, key: &str, expected: &Version) -> Result<bool, StoreError> {
        let Some(path) = self.local_path(key) else {
            return Err(StoreError::Unsupported {
                url: self.url.clone(),
                what: "a conditional delete (object_store sends no If-Match with an S3 DELETE)",
            });
        };
        let digest = expected.e_tag.clone().unwrap_or_default();
        self.blocking(move || local_cas::delete_if(&path, &digest))
            .await
    }

    /// Runs file work on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let io = |error: std::io::Error| StoreError::Io {
            url: self.url.clone(),
            error,
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)
    }

    /// Removes `key`; gone already is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend_at(key, e)),
        }
    }

    /// Keys under `prefix`, sorted.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.backend_at(prefix, e))?;
        keys.sort();
        Ok(keys)
    }

    /// Whether this store is a local directory.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Where `key` is on disk, for a local store. A reader that is already
    /// on a blocking thread reads the file itself instead of through
    /// `object_store`, which spends two thread hand-offs on every get
    /// (open, then read): for thousands of small windows those hand-offs
    /// cost more than reading.
    pub fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.local
            .as_ref()?
            .path_to_filesystem(&Path::from(key))
            .ok()
    }

    /// Reads one window. A damaged or unknown-version window is an
    /// [`Unreadable`] naming its key; only the store failing is a hard error.
    pub async fn read_window(&self, key: &str) -> Result<Result<Window, Unreadable>, StoreError> {
        let got = self
            .inner
            .get(&Path::from(key))
            .await
            .map_err(|e| self.backend_at(key, e))?;
        let bytes = got.bytes().await.map_err(|e| self.backend_at(key, e))?;
        Ok(
            Window::from_json(&bytes).map_err(|e: WindowError| Unreadable {
                key: key.to_owned(),
                problem: e.to_string(),
            }),
        )
    }
}

/// An `object_store` error in one line: each cause once (outer messages
/// quote the ones they wrap), an S3 error document cut to its code and
/// message, at most [`MAX_CAUSE`] characters.
fn describe(e: &object_store::Error) -> String {
    let mut texts = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        texts.push(squash(&c.to_string()));
        cause = c.source();
    }
    let mut out = String::new();
    for (i, text) in texts.iter().enumerate() {
        let mut own = text.as_str();
        if let Some(inner) = texts.get(i + 1).filter(|t| !t.is_empty())
            && let Some(at) = own.find(inner.as_str())
        {
            own = own[..at].trim_end_matches([' ', ':', ',']);
        }
        if own.is_empty() || out.contains(own) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(own);
    }
    if out.chars().count() > MAX_CAUSE {
        out = out.chars().take(MAX_CAUSE).collect::<String>() + "...";
    }
    out
}

/// The longest cause a store error quotes.
const MAX_CAUSE: usize = 300;

/// One line of `text`, an S3 error document in it reduced to its `Code`
/// and `Message`.
fn squash(text: &str) -> String {
    let text = match text.find("<?xml").or_else(|| text.find("<Error>")) {
        Some(at) => {
            let tag = |t: &str| {
                let open = format!("<{t}>");
                let from = text.find(&open)? + open.len();
                let to = text[from..].find(&format!("</{t}>"))? + from;
                Some(text[from..to].trim().to_owned())
            };
            let document = match (tag("Code"), tag("Message")) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => "an error document".to_owned(),
            };
            let head = text[..at].trim_end_matches([' ', ':', ',', '\n']);
            if head.is_empty() {
                document
            } else {
                format!("{head}: {document}")
            }
        }
        None => text.to_owned(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a listing walks: an hour prefix to list, or an entry above the
/// hours that could not be listed, to name.
enum Hour {
    Prefix(String),
    Named(WindowObject),
}

/// `windows/YYYY/MM/DD/HH/<start>_<probe>_<digest12>.json`. The start time
/// first keeps keys in time order within an hour; probe and digest make it
/// unique per probe and configuration.
pub fn window_key(w: &Window) -> String {
    let digest: String = w
        .config_digest
        .trim_start_matches("sha256:")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!(
        "{}{}_{}_{}.json",
        hour_prefix(w.start),
        w.start.format("%Y%m%dT%H%M%S%.3fZ"),
        w.probe.id,
        if digest.is_empty() {
            "none".into()
        } else {
            digest
        }
    )
}

fn hour_prefix(t: DateTime<Utc>) -> String {
    t.format("windows/%Y/%m/%d/%H/").to_string()
}

/// The time a prefix's `[year, month, day, hour]` (or a leading part of
/// it) covers: `[start, end)`. `None` for a name that is no date.
fn span(parts: &[u32]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    use chrono::{Months, NaiveDate};
    let year = i32::try_from(*parts.first()?).ok()?;
    let month = parts.get(1).copied();
    let day = parts.get(2).copied();
    let hour = parts.get(3).copied();
    let date = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
    let start = date.and_hms_opt(hour.unwrap_or(0), 0, 0)?.and_utc();
    let end = match (month, day, hour) {
        (None, _, _) => start.checked_add_months(Months::new(12))?,
        (Some(_), None, _) => start.checked_add_months(Months::new(1))?,
        (Some(_), Some(_), None) => start.checked_add_signed(ChronoDuration::days(1))?,
        (Some(_), Some(_), Some(_)) => start.checked_add_signed(ChronoDuration::hours(1))?,
    };
    Some((start, end))
}

/// Every hour prefix that can hold a window started in `[since, until)`
/// (every hour, whether or not it exists: for benchmarks and tests;
/// listings use [`Store::hour_prefixes_present`]).
pub fn hour_prefixes(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(mut t) = since
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
    else {
        return out;
    };
    while t < until {
        out.push(hour_prefix(t));
        t += ChronoDuration::hours(1);
    }
    out
}

/// Filters by the start time encoded in the key's file name. The key
/// keeps milliseconds, so `since` is compared at that precision too: a
/// window that started within the same millisecond as `since` is listed
/// (readers compare exact start times).
fn key_in_range(key: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    let name = key.rsplit('/').next().unwrap_or_default();
    let stamp = name.split('_').next().unwrap_or_default();
    match chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ") {
        Ok(t) => {
            let t = t.and_utc();
            let since_ms = since
                .with_nanosecond(since.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap_or(since);
            t >= since_ms && t < until
        }
        // A file we did not name: list it and let the reader say what it is.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_prefixes_cover_partial_hours() {
        let since: DateTime<Utc> = "2026-11-29T21:40:00Z".parse().unwrap();
        let until: DateTime<Utc> = "2026-11-29T23:05:00Z".parse().unwrap();
        assert_eq!(
            hour_prefixes(since, until),
            vec![
                "windows/2026/11/29/21/",
                "windows/2026/11/29/22/",
                "windows/2026/11/29/23/"
            ]
        );
        assert!(hour_prefixes(until, since).is_empty());
    }

    fn empty_window(probe: &str, start: &str) -> Window {
        let identity = crate::config::ProbeIdentity::edge(probe, crate::config::Geo::default());
        let start: DateTime<Utc> = start.parse().unwrap();
        crate::window::builder::WindowBuilder::new(identity, "sha256:ab".into(), &[], start)
            .finish(start)
            .unwrap()
    }

    #[tokio::test]
    async fn window_objects_are_listed_in_key_order_with_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert!(store.is_local());
        let mut keys = Vec::new();
        for (probe, start) in [
            ("b", "2026-11-29T22:10:00Z"),
            ("a", "2026-11-29T21:30:00Z"),
            ("a", "2026-11-29T22:00:00Z"),
            ("a", "2026-11-29T23:00:00Z"),
        ] {
            keys.push(store.put_window(&empty_window(probe, start)).await.unwrap());
        }
        let since: DateTime<Utc> = "2026-11-29T21:00:00Z".parse().unwrap();
        let until: DateTime<Utc> = "2026-11-29T23:00:00Z".parse().unwrap();
        let listed: Vec<WindowObject> = store
            .window_objects(since, until)
            .try_collect()
            .await
            .unwrap();
        let listed_keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(listed_keys, vec![&keys[1], &keys[2], &keys[0]]);
        for o in &listed {
            let path = store.local_path(&o.key).unwrap();
            assert_eq!(o.size, std::fs::metadata(&path).unwrap().len());
            assert!((Utc::now() - o.last_modified).num_seconds() < 60);
            let bytes = store.read_bytes(&o.key).await.unwrap().unwrap();
            assert_eq!(bytes.len() as u64, o.size);
        }
        assert_eq!(
            store.read_bytes("windows/missing.json").await.unwrap(),
            None
        );
    }

    #[test]
    fn open_existing_refuses_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let url = format!("file://{}", missing.display());
        let err = Store::open_existing(&url).err().unwrap().to_string();
        assert!(err.contains("is not an existing directory"), "{err}");
        assert!(!missing.exists());
        assert!(Store::open_existing(dir.path().to_str().unwrap()).is_ok());
    }

    #[test]
    fn key_range_uses_start_stamp() {
        let since: DateTime<Utc> = "2026-11-29T21:40:00Z".parse().unwrap();
        let until: DateTime<Utc> = "2026-11-29T21:50:00Z".parse().unwrap();
        let k = |s: &str| format!("windows/2026/11/29/21/{s}_p_abc.json");
        assert!(key_in_range(&k("20261129T214500.000Z"), since, until));
        assert!(!key_in_range(&k("20261129T213959.999Z"), since, until));
        assert!(!key_in_range(&k("20261129T215000.000Z"), since, until));
        // A window that started 0.4 ms after `since` has a key stamp
        // truncated to before it; it is still in range.
        let since: DateTime<Utc> = "2026-11-29T21:40:00.1232Z".parse().unwrap();
        assert!(key_in_range(&k("20261129T214000.123Z"), since, until));
    }

    mod regression {
        use super::*;

        #[derive(Debug)]
        struct Layer {
            text: String,
            inner: Option<Box<Layer>>,
        }

        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.inner.as_deref().map(|l| l as _)
            }
        }

        /// Store errors repeated their cause three or four times in
        /// 600-2,000 characters of XML; now one line with the key and
        /// the cause once.
        #[test]
        fn a_store_error_is_one_line_with_the_key_and_the_cause_once() {
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\n<Message>Access Denied</Message><RequestId>ABC</RequestId><HostId>\
                       xyz</HostId></Error>";
            let body = format!("Server returned non-2xx status code: 403 Forbidden: {xml}");
            let retry = format!("Error after 0 retries in 12ms, max_retries:10: {body}");
            let get = format!("Error performing GET http://s3/bucket/windows/k.json: {retry}");
            let chain = Layer {
                text: get.clone(),
                inner: Some(Box::new(Layer {
                    text: retry.clone(),
                    inner: Some(Box::new(Layer {
                        text: body,
                        inner: None,
                    })),
                })),
            };
            let e = StoreError::Backend {
                url: "s3://bucket".into(),
                key: "windows/k.json".into(),
                error: object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(chain),
                },
            };
            let text = anyhow::Error::from(e).to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(
                text.starts_with("store s3://bucket: windows/k.json: "),
                "{text}"
            );
            assert_eq!(
                text.matches("AccessDenied: Access Denied").count(),
                1,
                "{text}"
            );
            assert_eq!(text.matches("403 Forbidden").count(), 1, "{text}");
            assert!(
                !text.contains("<Error>") && !text.contains("RequestId"),
                "{text}"
            );
            assert!(text.len() < 400, "{} characters: {text}", text.len());
        }
    }
}
