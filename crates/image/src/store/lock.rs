//! Cross-process lock on `<root>/store.lock` (flock: shared for readers,
//! exclusive for writers).
//!
//! flock locks belong to the open file description, so every acquisition opens
//! the file afresh: two handles in one process exclude each other exactly like
//! two processes do, and the lock dies with the process if it crashes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Context as _, Error, Result};

/// Held lock; released on drop.
pub struct StoreLock {
    _flock: Flock<File>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Take the lock at `path` in `mode` if nobody holds it in a conflicting
/// mode; `None` instead of waiting.
pub fn try_acquire(path: &Path, mode: Mode) -> Result<Option<StoreLock>> {
    let file = open(path)?;
    let arg = match mode {
        Mode::Shared => FlockArg::LockSharedNonblock,
        Mode::Exclusive => FlockArg::LockExclusiveNonblock,
    };
    match Flock::lock(file, arg) {
        Ok(flock) => Ok(Some(StoreLock { _flock: flock })),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(Error::Io {
            context: format!("locking {}", path.display()),
            source: std::io::Error::from_raw_os_error(errno as i32),
        }),
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .context(|| format!("opening lock {}", path.display()))
}

/// Block until the lock at `path` is held in `mode`.
pub fn acquire(path: &Path, mode: Mode) -> Result<StoreLock> {
    let mut file = open(path)?;
    let arg = match mode {
        Mode::Shared => FlockArg::LockShared,
        Mode::Exclusive => FlockArg::LockExclusive,
    };
    loop {
        match Flock::lock(file, arg) {
            Ok(flock) => return Ok(StoreLock { _flock: flock }),
            // A signal interrupted the wait; try again with the same file.
            Err((f, Errno::EINTR)) => file = f,
            Err((_, errno)) => {
                return Err(Error::Io {
                    context: format!("locking {}", path.display()),
                    source: std::io::Error::from_raw_os_error(errno as i32),
                })
            }
        }
    }
}
