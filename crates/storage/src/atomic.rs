//! Small JSON metadata files, written so a crash never leaves a torn file:
//! write a temp file, fsync, rename over, fsync the directory. Callers hold the
//! store lock, so one temp name per file is enough.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Context, Error, Result};

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Corrupt { path: path.display().to_string(), why: e.to_string() })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut f = File::create(tmp).context(|| format!("create {}", tmp.display()))?;
    f.write_all(&data).context(|| format!("write {}", tmp.display()))?;
    f.sync_all().context(|| format!("fsync {}", tmp.display()))?;
    fs::rename(tmp, path).context(|| format!("rename {} into place", path.display()))?;
    sync_parent(path)
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
