//! The store's small JSON metadata files (layer.json, container.json,
//! refs.json), replaced atomically with `sys::fs::write_atomic`
//! so a crash never leaves a torn file.

use std::fs::{self, File};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sys::fs::Durability;

use crate::error::{Context, Error, Result};

/// Write `value` to `path` (mode 0600). `Durable` for what lives under
/// `--root`; `ReplaceOnly` for the runroot's state, which dies with its mounts.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T, durability: Durability) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Corrupt { path: path.display().to_string(), why: e.to_string() })?;
    sys::fs::write_atomic(path, &data, 0o600, durability).context(|| format!("write {}", path.display()))
}

/// The JSON at `path`, or `None` when the file does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| Error::Corrupt { path: path.display().to_string(), why: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io { context: format!("read {}", path.display()), source: e }),
    }
}

/// fsync the directory holding `path`, making a rename in it durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).context(|| format!("fsync {}", dir.display()))?;
    }
    Ok(())
}
