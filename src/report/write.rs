//! Writing a report folder whole or not at all: every file goes into a
//! temporary folder beside the destination, which is renamed into place
//! only when all of them are written. A folder that exists is replaced
//! only if it holds a report (its `report.json`); anything else is refused.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Report;
use super::{csv, html, markdown, png};
use crate::world::World;

/// Why a report folder could not be written; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("--out {0}: is a file, not a folder: give a folder path for the report")]
    NotAFolder(PathBuf),
    #[error(
        "--out {0}: the folder holds other files (no report.json): give a new or empty folder, or a previous report's"
    )]
    NotAReport(PathBuf),
    #[error("--out {path}: cannot write the report: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The files of a report folder.
pub fn files(
    report: &Report,
    world: &World,
    summary_only: bool,
) -> io::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    let mut md = Vec::new();
    markdown::render(report, summary_only, &mut md)?;
    let mut table = Vec::new();
    csv::render(report, &mut table)?;
    let mut page = Vec::new();
    html::render(report, world, &mut page)?;
    let mut files = vec![
        ("report.json", json),
        ("report.md", md),
        ("geos.csv", table),
        ("report.html", page),
    ];
    files.extend(png::all(report, world).map_err(io::Error::other)?);
    Ok(files)
}

/// Writes `files` as the folder `out`, replacing a previous report there.
pub fn folder(out: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), WriteError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError::Io { path, source }
    };
    if out.is_file() {
        return Err(WriteError::NotAFolder(out.to_owned()));
    }
    let replacing = out.is_dir();
    if replacing
        && !out.join("report.json").is_file()
        && fs::read_dir(out).map_err(io_err(out))?.next().is_some()
    {
        return Err(WriteError::NotAReport(out.to_owned()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    for (file, bytes) in files {
        let path = staging.path().join(file);
        let mut f = fs::File::create(&path).map_err(io_err(&path))?;
        f.write_all(bytes).map_err(io_err(&path))?;
        f.sync_all().map_err(io_err(&path))?;
    }
    let staged = staging.keep();
    let result = if replacing {
        // Out of the way first: a rename cannot replace a non-empty folder.
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out, &old)
            .and_then(|()| fs::rename(&staged, out))
            .and_then(|()| fs::remove_dir_all(&old))
    } else {
        fs::rename(&staged, out)
    };
    result.map_err(|source| {
        let _ = fs::remove_dir_all(&staged);
        WriteError::Io {
            path: out.to_owned(),
            source,
        }
    })
}
