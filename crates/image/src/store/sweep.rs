//! Removing what a killed process left behind in the store.
//!
//! Writers create temp files (`blobs/sha256/.tmp-*`, `.images.json-*`) and
//! archive staging directories (`tmp/archive-*`) and rename or delete them
//! when done; a process killed in between leaves them. Another berth process
//! may be writing its own at the same moment, so a leftover is told from live
//! work by a lock, not by its name:
//!
//! - every writer of a `.tmp-*` blob file or an `archive-*` staging dir holds
//!   an exclusive flock on it from right after creating it until it is
//!   renamed or removed (`lock_fresh`). flock dies with its process, so an
//!   entry nobody can lock belongs to a live writer and is kept; one we can
//!   lock has no live writer.
//! - as well, only entries untouched for [`STALE_AFTER`] are considered
//!   (the mtime of a file, the newest mtime inside a directory). This
//!   covers the moment between creating an entry and locking it, and berth
//!   binaries from before the lock existed, which may still run next to a
//!   new one during an upgrade: what they are writing has a recent mtime.
//! - the removal happens while we hold the lock, on the path we locked
//!   (same device and inode), so a writer that was blocked creating its
//!   entry finds it unlinked when it gets the lock and starts again.
//! - `.images.json-*` are written only under the store's exclusive
//!   `store.lock`: when we can take that lock without waiting, any of them is
//!   a leftover, whatever its age. When we cannot, they stay for next time.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{flock, FlockOperation};

use super::lock::{self, Mode};
use super::{Store, INDEX_TMP_PREFIX, STAGING_PREFIX, TMP_PREFIX};
use crate::error::{Context as _, Result};

/// Leftovers must also be this old (by mtime) to be removed.
pub const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// Lock a temp file or directory the caller has just created at `path` and
/// opened as `f`, for as long as `f` stays open. `false` means a sweep removed
/// it before we got the lock (possible only if we stalled for [`STALE_AFTER`]
/// in between): make a new one.
pub(crate) fn lock_fresh(f: &File, path: &Path) -> io::Result<bool> {
    // Blocking: only a sweep can hold it, and only while it removes it.
    flock(f, FlockOperation::LockExclusive)?;
    let locked = f.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok((now.dev(), now.ino()) == (locked.dev(), locked.ino())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Remove stale temp files and staging dirs of `store` (see the module docs);
/// returns what was removed. Entries that cannot be examined are skipped.
pub(crate) fn sweep(store: &Store) -> Result<Vec<PathBuf>> {
    let cutoff = SystemTime::now().checked_sub(STALE_AFTER).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = Vec::new();
    for path in entries(&store.blobs, TMP_PREFIX)? {
        if remove_if_stale(&path, Kind::File, cutoff) {
            removed.push(path);
        }
    }
    for path in entries(&store.tmp_dir(), STAGING_PREFIX)? {
        if remove_if_stale(&path, Kind::Dir, cutoff) {
            removed.push(path);
        }
    }
    let index_temps = entries(&store.root, INDEX_TMP_PREFIX)?;
    if !index_temps.is_empty() {
        if let Some(_held) = lock::try_acquire(&store.root.join("store.lock"), Mode::Exclusive)? {
            for path in index_temps {
                if is(&path, Kind::File) && remove(&path, Kind::File) {
                    removed.push(path);
                }
            }
        }
    }
    Ok(removed)
}

/// Paths in `dir` whose name starts with `prefix`.
fn entries(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context(|| format!("listing {}", dir.display()))?;
        if entry.file_name().as_encoded_bytes().starts_with(prefix.as_bytes()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Whether `path` is (not a symlink to) a file or directory.
fn is(path: &Path, kind: Kind) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| match kind {
        Kind::File => m.file_type().is_file(),
        Kind::Dir => m.file_type().is_dir(),
    })
}

fn remove_if_stale(path: &Path, kind: Kind, cutoff: SystemTime) -> bool {
    match try_remove(path, kind, cutoff) {
        Ok(removed) => removed,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "not sweeping");
            false
        }
    }
}

fn try_remove(path: &Path, kind: Kind, cutoff: SystemTime) -> io::Result<bool> {
    let before = fs::symlink_metadata(path)?;
    let right_kind = match kind {
        Kind::File => before.file_type().is_file(),
        Kind::Dir => before.file_type().is_dir(),
    };
    if !right_kind || last_change(path, &before)? > cutoff {
        return Ok(false);
    }
    let mut flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    if kind == Kind::Dir {
        flags |= libc::O_DIRECTORY;
    }
    let f = OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    match flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        // A live writer holds it.
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    // The path still names the entry we locked, and it is still old.
    let locked = f.metadata()?;
    let now = fs::symlink_metadata(path)?;
    if (locked.dev(), locked.ino()) != (now.dev(), now.ino()) || last_change(path, &now)? > cutoff {
        return Ok(false);
    }
    Ok(remove(path, kind))
    // `f` closes here: the lock is released once the entry is gone.
}

/// When anything in `path` was last written: its own mtime, and for a
/// directory the newest of everything in it (a large file being extracted
/// deep inside a staging dir does not change the dir's own mtime).
fn last_change(path: &Path, meta: &fs::Metadata) -> io::Result<SystemTime> {
    let mut newest = meta.modified()?;
    if meta.file_type().is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let m = entry.metadata()?; // not following symlinks
            newest = newest.max(last_change(&entry.path(), &m)?);
        }
    }
    Ok(newest)
}

fn remove(path: &Path, kind: Kind) -> bool {
    let r = match kind {
        Kind::File => fs::remove_file(path),
        Kind::Dir => fs::remove_dir_all(path),
    };
    match r {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a stale temp entry left by an interrupted berth");
            true
        }
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "not sweeping");
            false
        }
    }
}
