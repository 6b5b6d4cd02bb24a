//! Removing what a killed process left behind in the store.
//!
//! Writers create temp files (`blobs/sha256/.tmp-*`, the index's temp file)
//! and archive staging directories (`tmp/archive-*`) and rename or delete
//! them when done; a process killed in between (a ctrl-c'd pull) leaves them.
//! Another berth process may be writing its own at the same moment, so a
//! leftover is told from live work by a lock, never by its age:
//!
//! - every writer of a `.tmp-*` blob file or an `archive-*` staging dir holds
//!   an exclusive flock on it from its creation until it is renamed or
//!   removed. flock dies with its process, so an entry nobody holds has no
//!   live writer, and one somebody holds is live.
//! - the moment between creating an entry and locking it is closed by
//!   *creating under a lock*: writers create and lock their entry while
//!   holding `<root>/temp.lock` shared ([`create_locked`]), and the sweep
//!   decides which entries are dead while holding it exclusively. No entry
//!   can then be between creation and its lock, so every entry the sweep can
//!   lock is dead. (O_TMPFILE + linkat would avoid visible temp files
//!   altogether, but not every filesystem has it and staging *directories*
//!   cannot be made that way: one mechanism for both is simpler.) Writers
//!   hold the creation lock for two syscalls, so the sweep never waits long,
//!   and creators never wait for anything while holding it.
//! - the sweep keeps each dead entry's lock while it removes it, on the path
//!   it locked (same device and inode), after releasing the creation lock.
//! - the index's temp files (`sys::fs::write_atomic`'s) are written only
//!   under the store's exclusive `store.lock`: when we can take that lock
//!   without waiting, any of them is a leftover. When we cannot, they stay
//!   for next time.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation, Mode, OFlags};
use sys::fs::{FileLock, LockMode};

use super::{Store, INDEX, STAGING_PREFIX, TMP_PREFIX};
use crate::error::{Context as _, Result};

/// The lock file serialising "create and lock a temp entry" against sweeps.
pub(crate) fn creation_lock(root: &Path) -> PathBuf {
    root.join("temp.lock")
}

/// Create a temp entry with `create` and lock it (exclusively, for as long
/// as the returned handle's `file` stays open), both while holding the
/// creation lock shared, so no sweep can find the entry unlocked.
/// `file` says which open file holds the entry's lock.
pub(crate) fn create_locked<T>(
    root: &Path,
    create: impl FnOnce() -> io::Result<T>,
    file: impl FnOnce(&T) -> io::Result<&File>,
) -> io::Result<T> {
    let _creating = FileLock::shared(&creation_lock(root))?;
    let entry = create()?;
    // Cannot block: nobody else knows the new entry yet.
    flock(file(&entry)?, FlockOperation::LockExclusive)?;
    Ok(entry)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    File,
    Dir,
}

/// Remove dead temp files and staging dirs of `store` (see the module docs);
/// returns what was removed. Entries that cannot be examined are skipped.
pub(crate) fn sweep(store: &Store) -> Result<Vec<PathBuf>> {
    let mut dead = Vec::new();
    {
        let lock = creation_lock(&store.root);
        let _no_creators = FileLock::exclusive(&lock).context(|| format!("locking {}", lock.display()))?;
        for path in entries(&store.blobs, prefixed(TMP_PREFIX.into()))? {
            dead.extend(claim_logged(path, Kind::File));
        }
        for path in entries(&store.tmp_dir(), prefixed(STAGING_PREFIX.into()))? {
            dead.extend(claim_logged(path, Kind::Dir));
        }
    }
    let mut removed = Vec::new();
    for (path, kind, held) in dead {
        if still_names(&path, &held) && remove(&path, kind) {
            removed.push(path);
        }
        // `held` closes here: the lock goes once the entry is gone.
    }
    let index_temps = entries(&store.root, prefixed(sys::fs::atomic::temp_prefix(INDEX.as_ref())))?;
    if !index_temps.is_empty() {
        let lock = store.root.join("store.lock");
        let held =
            FileLock::try_acquire(&lock, LockMode::Exclusive).context(|| format!("locking {}", lock.display()))?;
        if held.is_some() {
            for path in index_temps {
                if is(&path, Kind::File) && remove(&path, Kind::File) {
                    removed.push(path);
                }
            }
        }
    }
    Ok(removed)
}

/// Paths in `dir` whose name is `wanted`.
fn entries(dir: &Path, wanted: impl Fn(&OsStr) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context(|| format!("listing {}", dir.display()))?;
        if wanted(&entry.file_name()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn prefixed(prefix: OsString) -> impl Fn(&OsStr) -> bool {
    move |name| name.as_encoded_bytes().starts_with(prefix.as_encoded_bytes())
}

/// Whether `path` is (not a symlink to) a file or directory.
fn is(path: &Path, kind: Kind) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| match kind {
        Kind::File => m.file_type().is_file(),
        Kind::Dir => m.file_type().is_dir(),
    })
}

fn claim_logged(path: PathBuf, kind: Kind) -> Option<(PathBuf, Kind, File)> {
    match claim(&path, kind) {
        Ok(Some(f)) => Some((path, kind, f)),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "not sweeping");
            None
        }
    }
}

/// Lock the entry at `path` if no live writer holds it; `None` if one does
/// (or it is not a `kind` at all: a symlink named like a temp file is
/// neither followed nor removed).
fn claim(path: &Path, kind: Kind) -> io::Result<Option<File>> {
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if kind == Kind::Dir {
        flags |= OFlags::DIRECTORY;
    }
    let f = File::from(rustix::fs::open(path, flags, Mode::empty())?);
    let right_kind = match kind {
        Kind::File => f.metadata()?.file_type().is_file(),
        Kind::Dir => f.metadata()?.file_type().is_dir(),
    };
    if !right_kind {
        return Ok(None);
    }
    match flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        // A live writer holds it.
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` still names the entry `held` is open on (its writer may
/// have renamed it into place just before dying).
fn still_names(path: &Path, held: &File) -> bool {
    match (held.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn remove(path: &Path, kind: Kind) -> bool {
    let r = match kind {
        Kind::File => fs::remove_file(path),
        Kind::Dir => fs::remove_dir_all(path),
    };
    match r {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a temp entry left by an interrupted berth");
            true
        }
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "not sweeping");
            false
        }
    }
}
