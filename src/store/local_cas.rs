//! Compare-and-swap on a file in a local store, which `object_store`'s
//! `LocalFileSystem` does not offer (`PutMode::Update` is not implemented
//! there). A file's version is the SHA-256 of its bytes; a conditional
//! write takes an exclusive `flock` on the file, checks that the path still
//! names the locked file and that its bytes are the expected version, then
//! renames a new file over it (or unlinks it) before letting go.
//!
//! Why `flock` on the object itself: the kernel drops the lock when its
//! holder exits, so a run killed mid-swap blocks no one, where a
//! `create_new` lock file left behind by a crash would block every writer
//! until someone removed it by hand. Locking the object's own inode rather
//! than a side file keeps the store free of lock files: a writer that
//! waited on a file that was meanwhile replaced or removed sees that the
//! path names another inode (or none) and starts over. Creation needs no
//! lock (`object_store` creates with a hard link, which fails if the name
//! is taken), and every change to an existing file goes through the lock,
//! so a check made under it holds until the swap.
//!
//! A directory shared over NFS needs working `flock` (Linux maps it to
//! NFS byte-range locks); a local disk always has it.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

/// The version of a local file: `sha256:` and the hex digest of its bytes.
pub(super) fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Replaces the file at `path` with `bytes` if its bytes hash to
/// `expected`. `Ok(false)`: they do not, or there is no file.
pub(super) fn replace_if(path: &Path, bytes: &[u8], expected: &str) -> io::Result<bool> {
    let swapped = with_locked(path, |current| {
        if digest(current) != expected {
            return Ok(false);
        }
        let staged = staging_path(path);
        let written = (|| {
            let mut f = File::create_new(&staged)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&staged, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        Ok(true)
    })?;
    Ok(swapped.unwrap_or(false))
}

/// Removes the file at `path` if its bytes hash to `expected`.
/// `Ok(false)`: they do not, or there is no file.
pub(super) fn delete_if(path: &Path, expected: &str) -> io::Result<bool> {
    let removed = with_locked(path, |current| {
        if digest(current) != expected {
            return Ok(false);
        }
        std::fs::remove_file(path)?;
        Ok(true)
    })?;
    Ok(removed.unwrap_or(false))
}

/// Runs `change` with the current bytes of the file at `path` while
/// holding its lock; `Ok(None)` if there is no file.
fn with_locked<T>(
    path: &Path,
    change: impl FnOnce(&[u8]) -> io::Result<T>,
) -> io::Result<Option<T>> {
    loop {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        lock_exclusive(&file)?;
        // While this writer waited, another may have renamed a new file
        // over the path or removed it: the lock only guards the file the
        // path names now.
        let locked = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(named) if same_file(&locked, &named) => {}
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut current = Vec::new();
        file.read_to_end(&mut current)?;
        // The lock goes with `file`, after `change` has run.
        return change(&current).map(Some);
    }
}

/// A name next to `path` for the new file: `object_store`'s own staging
/// form (`NAME#digits`), which its listings skip.
fn staging_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut staged = path.as_os_str().to_owned();
    staged.push(format!("#{}{n:06}", std::process::id()));
    staged.into()
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    loop {
        // SAFETY: flock on a descriptor `file` owns for the whole call;
        // no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_: &File) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "conditional writes to a local store need flock (Unix)",
    ))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_only_the_version_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        assert!(!replace_if(&path, b"x", &digest(b"")).unwrap(), "no file");
        std::fs::write(&path, b"one").unwrap();
        let one = digest(b"one");
        assert!(replace_if(&path, b"two", &one).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!replace_if(&path, b"three", &one).unwrap(), "moved on");
        assert!(!delete_if(&path, &one).unwrap(), "moved on");
        assert!(delete_if(&path, &digest(b"two")).unwrap());
        assert!(!path.exists());
        assert!(!delete_if(&path, &digest(b"two")).unwrap(), "gone");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "no staging files left: {left:?}");
    }

    #[test]
    fn of_many_swaps_from_one_version_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        std::fs::write(&path, b"start").unwrap();
        let start = digest(b"start");
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (path, start) = (&path, &start);
                    s.spawn(move || {
                        replace_if(path, format!("writer {i}").as_bytes(), start).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
    }
}
