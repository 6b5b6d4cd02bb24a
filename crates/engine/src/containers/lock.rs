//! The per-container lock every state transition holds (create, start,
//! recording the exit, refreshing a dead "running" record, remove), across
//! berth processes.
//!
//! An flock on `<runroot>/locks/<id>`. The runroot, not the root: a lock
//! never outlives the processes holding it, let alone a boot, so the files
//! are runtime state like the runtime's own per-container state beside them
//! (which every process sharing a root must already share), and a runroot
//! on tmpfs starts each boot empty instead of keeping one file per container
//! ever made. `remove` unlinks the file while holding it; whoever was
//! waiting then holds a lock on a file nobody else can open, so every holder
//! reloads the record after locking and finds the container gone.

use std::path::PathBuf;

use sys::fs::FileLock;

use crate::error::{Context as _, Result};
use crate::Engine;

pub struct ContainerLock {
    _lock: FileLock,
    path: PathBuf,
}

impl ContainerLock {
    /// The lock's fd, for the runtime's init to close (see
    /// `runtime::container::CreateOptions::close_in_init`).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        self._lock.as_fd().as_raw_fd()
    }

    pub(super) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd as _;
        self._lock.as_fd()
    }

    /// The container is gone: remove its lock file (still held, see above).
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!("removing {}: {e}", self.path.display());
        }
    }
}

impl Engine {
    /// Wait for the lock of container `id`.
    pub(super) fn lock_container(&self, id: &str) -> Result<ContainerLock> {
        // `Engine::open` made the directory: not made again here, so a
        // monitor outliving its runroot (removed under it) fails rather
        // than bringing the runroot back.
        let path = self.runroot.join("locks").join(id);
        let lock = FileLock::exclusive(&path).ctx(|| format!("locking container {id}"))?;
        Ok(ContainerLock { _lock: lock, path })
    }

    /// Container `id`'s lock, as another process holding it passed it over
    /// (`fd`: the same open file, so the same flock, taken again at once).
    pub(super) fn adopt_container_lock(&self, id: &str, fd: std::os::fd::OwnedFd) -> Result<ContainerLock> {
        // From our own process, but it makes a path.
        if !super::naming::is_full_id(id) {
            return Err(crate::Error::new(format!("internal error: bad container id {id:?}")));
        }
        let path = self.runroot.join("locks").join(id);
        let lock = FileLock::try_on(std::fs::File::from(fd), sys::fs::LockMode::Exclusive)
            .ctx(|| format!("locking container {id}"))?
            .ok_or_else(|| crate::Error::new(format!("container {id}: its lock was not handed over held")))?;
        Ok(ContainerLock { _lock: lock, path })
    }
}
