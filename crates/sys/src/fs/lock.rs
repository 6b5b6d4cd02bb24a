//! Cross-process locks with flock(2).
//!
//! flock locks belong to the open file description, so every acquisition
//! opens the file anew: two handles in one process exclude each other exactly
//! like two processes do, and the lock dies with its process, so a crash
//! never leaves a lock held.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{flock, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl FileLock {
    /// Wait for an exclusive lock on `path` (created 0600 if missing).
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        Self::acquire(path, LockMode::Exclusive)
    }

    /// Wait for a shared lock on `path` (created 0600 if missing).
    pub fn shared(path: &Path) -> io::Result<FileLock> {
        Self::acquire(path, LockMode::Shared)
    }

    /// Wait for the lock on `path` in `mode`.
    pub fn acquire(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        Self::on(open(path)?, mode)
    }

    /// The lock on `path` in `mode` if nobody holds it in a conflicting mode.
    pub fn try_acquire(path: &Path, mode: LockMode) -> io::Result<Option<FileLock>> {
        Self::try_on(open(path)?, mode)
    }

    /// Wait for the lock on an already open file (or directory).
    pub fn on(file: File, mode: LockMode) -> io::Result<FileLock> {
        let op = match mode {
            LockMode::Shared => FlockOperation::LockShared,
            LockMode::Exclusive => FlockOperation::LockExclusive,
        };
        loop {
            match flock(&file, op) {
                Ok(()) => return Ok(FileLock { file }),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The lock on an already open file, or `None` if it is held elsewhere.
    pub fn try_on(file: File, mode: LockMode) -> io::Result<Option<FileLock>> {
        let op = match mode {
            LockMode::Shared => FlockOperation::NonBlockingLockShared,
            LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
        };
        match flock(&file, op) {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The locked file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl AsFd for FileLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Open (creating, mode 0600) a lock file without following a symlink at its name.
fn open(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_releases() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("l");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_acquire(&p, LockMode::Shared).unwrap().is_none());
        drop(held);
        let a = FileLock::try_acquire(&p, LockMode::Shared).unwrap().unwrap();
        let b = FileLock::try_acquire(&p, LockMode::Shared).unwrap();
        assert!(b.is_some(), "shared locks coexist");
        assert!(FileLock::try_acquire(&p, LockMode::Exclusive).unwrap().is_none());
        drop(a);
    }

    #[test]
    fn a_directory_can_be_locked() {
        let t = tempfile::tempdir().unwrap();
        let _l = FileLock::on(File::open(t.path()).unwrap(), LockMode::Exclusive).unwrap();
        assert!(FileLock::try_on(File::open(t.path()).unwrap(), LockMode::Exclusive).unwrap().is_none());
    }
}
