//! Files the CLI writes for people and other tools.

use std::path::Path;

use anyhow::Context as _;

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file and a failed write leaves the old one.
/// `what` names the file in errors ("world file", "change plan").
pub fn write_atomically(path: &Path, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {what} {}", path.display()));
    }
    Ok(())
}
