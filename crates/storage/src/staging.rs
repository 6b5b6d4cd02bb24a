//! Staging directories: layers are unpacked here and renamed into place, so a
//! crash mid-unpack leaves nothing visible in `layers/`.
//!
//! A staging dir is flocked by its owner for as long as it is in use; on open
//! the store removes every staging dir nobody holds (left by a crash). The
//! store lock is held while a staging dir is created and locked, so the
//! cleaner never sees one in the unlocked gap.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sys::fs::{FileLock, LockMode};

use crate::error::{Context, Result};

pub(crate) struct Staging {
    path: PathBuf,
    _lock: FileLock,
    keep: bool,
}

impl Staging {
    /// Create and lock a fresh staging dir in `dir`. The caller holds the store lock.
    pub(crate) fn new(dir: &Path, prefix: &str) -> Result<Staging> {
        // Renamed into place as a layer's or container's own dir: private
        // from the start (tempfile's default is 0777 less the umask).
        let path = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(crate::store::PRIVATE))
            .tempdir_in(dir)
            .context(|| format!("create staging dir in {}", dir.display()))?
            .keep();
        let dir = File::open(&path).context(|| format!("open {}", path.display()))?;
        // Nobody else knows the fresh name yet: the lock is free.
        let lock = lock_free(dir, &path)?;
        Ok(Staging { path, _lock: lock, keep: false })
    }

    /// Make the existing directory `path` a staging dir in `dir`: locked,
    /// then renamed there under a fresh name (`None` if it does not
    /// exist). A directory less to make, and later delete, than moving it
    /// into a new one. The caller holds the store lock.
    pub(crate) fn adopt(path: &Path, dir: &Path, prefix: &str) -> Result<Option<Staging>> {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOFOLLOW).bits() as i32)
            .open(path);
        let f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(|| format!("open {}", path.display())),
        };
        // Nobody else locks a store's own directories.
        let lock = lock_free(f, path)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut tries = 0;
        loop {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let to = dir.join(format!("{prefix}{name}.{}", nanos.as_nanos()));
            match std::fs::rename(path, &to) {
                Ok(()) => return Ok(Some(Staging { path: to, _lock: lock, keep: false })),
                // A leftover of the same name: another one.
                Err(e)
                    if tries < 3
                        && matches!(
                            rustix::io::Errno::from_io_error(&e),
                            Some(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY)
                        ) =>
                {
                    tries += 1
                }
                Err(e) => return Err(e).context(|| format!("move {} to {}", path.display(), to.display())),
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory was renamed away: do not remove anything on drop.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

/// The exclusive lock on `dir` (opened at `path`), which nobody else may
/// hold: held elsewhere is an error.
fn lock_free(dir: File, path: &Path) -> Result<FileLock> {
    FileLock::try_on(dir, LockMode::Exclusive).context(|| format!("lock {}", path.display()))?.ok_or_else(|| {
        crate::Error::Io {
            context: format!("lock {}", path.display()),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        }
    })
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "removing staging dir");
            }
        }
    }
}

/// Remove staging entries no live owner holds, after `before_removal` of
/// each directory (which fails to keep it). The caller holds the store lock.
pub(crate) fn clean_stale(dir: &Path, before_removal: impl Fn(&Path) -> Result<()>) -> Result<()> {
    for entry in std::fs::read_dir(dir).context(|| format!("list {}", dir.display()))? {
        let entry = entry.context(|| format!("list {}", dir.display()))?;
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            let Ok(f) = File::open(&path) else { continue };
            let Ok(Some(_held)) = FileLock::try_on(f, LockMode::Exclusive) else {
                continue; // in use by a live put_layer
            };
            tracing::info!(path = %path.display(), "removing stale staging dir");
            if let Err(e) = before_removal(&path) {
                tracing::warn!(path = %path.display(), error = %e, "keeping stale staging dir");
                continue;
            }
            // Its owner may have just finished and removed it itself.
            sys::fs::ignore_missing(std::fs::remove_dir_all(&path))
                .context(|| format!("remove stale {}", path.display()))?;
        } else {
            sys::fs::ignore_missing(std::fs::remove_file(&path))
                .context(|| format!("remove stale {}", path.display()))?;
        }
    }
    Ok(())
}
