//! What is deleted of a container after its monitor told its exit, or
//! after its monitor was killed before it could: markers in
//! `<runroot>/teardown`, one per container, named by its id.
//!
//! A `--rm` container's monitor tells the exit first and deletes its
//! runtime state (a cgroup directory per hierarchy, its state directory)
//! after ([`Remains`]). A monitor started ahead of a new container (`run`)
//! makes the container's cgroup while berth makes the container
//! ([`Ahead`]). Either holds the container's marker, flocked for as long
//! as the monitor lives ([`TeardownMark`]); every monitor first finishes
//! what killed ones left ([`Engine::finish_teardowns`]): for each marker no
//! live monitor holds, the runtime state of a container that is gone, and
//! a cgroup made ahead for one that never started.

use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use runtime::cgroups::Manager;
use sys::fs::{FileLock, LockMode};

use super::db::Db;
use super::{naming, spec};
use crate::error::{Context as _, Error, Result};
use crate::Engine;

/// A container's teardown marker, held by the live monitor that made it.
pub(super) struct TeardownMark {
    id: String,
    path: PathBuf,
    _lock: FileLock,
}

impl TeardownMark {
    /// Nothing is left to do: the marker goes (its lock with it).
    pub(super) fn remove(self) {
        if let Err(e) = sys::fs::ignore_missing(fs::remove_file(&self.path)) {
            tracing::warn!("removing {}: {e}", self.path.display());
        }
    }
}

impl Engine {
    fn teardown_dir(&self) -> PathBuf {
        self.runroot.join("teardown")
    }

    /// Mark container `id` (a full id) for teardown, held by us.
    pub(super) fn mark_teardown(&self, id: &str) -> Result<TeardownMark> {
        let dir = self.teardown_dir();
        sys::fs::create_private_dir(&dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
        // Locked before it has its name: no other monitor sees it unheld.
        let pending = dir.join(format!(".{id}"));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&pending)
            .ctx(|| format!("creating {}", pending.display()))?;
        let lock = FileLock::try_on(file, LockMode::Exclusive)
            .ctx(|| format!("locking {}", pending.display()))?
            .ok_or_else(|| Error::new(format!("{} is locked", pending.display())))?;
        let path = dir.join(id);
        if let Err(e) = fs::rename(&pending, &path) {
            let _ = fs::remove_file(&pending);
            return Err(Error::caused(format_args!("creating {}", path.display()), e));
        }
        Ok(TeardownMark { id: id.to_string(), path, _lock: lock })
    }

    /// Finish what killed monitors left (each monitor does this first):
    /// the markers no live monitor holds.
    pub(super) fn finish_teardowns(&self, db: &Db) {
        let dir = self.teardown_dir();
        let Ok(entries) = fs::read_dir(&dir) else { return };
        for name in entries.flatten().filter_map(|e| e.file_name().into_string().ok()) {
            // One still being made (`mark_teardown`) when its monitor died.
            let (id, made) = match name.strip_prefix('.') {
                Some(id) => (id, false),
                None => (name.as_str(), true),
            };
            if !naming::is_full_id(id) {
                continue;
            }
            let path = dir.join(&name);
            let Ok(Some(lock)) = File::open(&path).and_then(|f| FileLock::try_on(f, LockMode::Exclusive)) else {
                continue;
            };
            if made {
                self.teardown(db, id);
            }
            TeardownMark { id: id.to_string(), path, _lock: lock }.remove();
        }
    }

    /// What a killed monitor left of container `id`.
    fn teardown(&self, db: &Db, id: &str) {
        // Nothing starts or removes it meanwhile.
        let lock = match self.lock_container(id) {
            Ok(l) => l,
            Err(e) => return tracing::warn!("finishing the teardown of {id}: {e}"),
        };
        match db.get(id) {
            // Removed (`--rm`): its runtime state is left.
            Ok(None) => {
                if let Err(e) = self.delete_runtime_state(id) {
                    tracing::warn!("deleting the runtime state of removed container {id}: {e}");
                }
                lock.remove();
            }
            Ok(Some(_)) => drop(lock),
            Err(e) => return tracing::warn!("finishing the teardown of {id}: {e}"),
        }
        // Never created in the runtime: the cgroup made ahead for it (empty).
        if !self.runtime_root().join(id).exists() {
            if let Err(e) = Manager::new(Some(&spec::cgroups_path(id)), id).and_then(|m| m.destroy()) {
                tracing::warn!("deleting the cgroup made for container {id}: {e}");
            }
        }
    }
}

/// What is left of a removed `--rm` container once its exit is told
/// ([`Engine::discard_exited`]): its files and, unless deleted with it,
/// its runtime state (then marked). Deleted on drop; a crash before leaves
/// the files to the store's next open and the runtime state to the next
/// monitor's [`Engine::finish_teardowns`].
pub(super) struct Remains<'a> {
    engine: &'a Engine,
    files: Option<storage::Discarded>,
    runtime: Option<TeardownMark>,
}

impl<'a> Remains<'a> {
    pub(super) fn new(engine: &'a Engine, files: Option<storage::Discarded>, runtime: Option<TeardownMark>) -> Self {
        Remains { engine, files, runtime }
    }
}

impl Drop for Remains<'_> {
    fn drop(&mut self) {
        // For the test of `finish_teardowns`: dies as if killed once it
        // told the exit, before deleting what is left.
        if super::test_hook("BERTH_TEST_DIE_BEFORE_TEARDOWN") {
            sys::process::exit_immediately(137);
        }
        if let Some(mark) = self.runtime.take() {
            if let Err(e) = self.engine.delete_runtime_state(&mark.id) {
                tracing::warn!("deleting the runtime state of removed container {}: {e}", mark.id);
            }
            mark.remove();
        }
        drop(self.files.take());
    }
}

/// What a monitor started ahead of a new container makes for it while
/// berth makes the container ([`Engine::make_ahead`]): its cgroup (a
/// directory per hierarchy: most of the runtime's work before it forks),
/// marked for as long as the container did not start. Dropped, the marker
/// goes, and the cgroup unless the runtime took it.
pub(super) struct Ahead {
    pub(super) id: String,
    mark: Option<TeardownMark>,
    /// With the `cgroupsPath` it was made for.
    cgroup: Option<(String, Manager)>,
}

impl Engine {
    /// [`Ahead`] for container `id`; `None` if even its marker could not
    /// be made (the runtime then makes the cgroup, as for any start).
    pub(super) fn make_ahead(&self, id: &str) -> Option<Ahead> {
        let mark = match self.mark_teardown(id) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("making container {id}'s cgroup ahead: {e}");
                return None;
            }
        };
        let path = spec::cgroups_path(id);
        let cgroup = match Manager::made_for(&path, id) {
            Ok(m) => Some((path, m)),
            // The runtime's create tries again, and says why.
            Err(e) => {
                tracing::debug!("making container {id}'s cgroup ahead: {e}");
                None
            }
        };
        Some(Ahead { id: id.to_string(), mark: Some(mark), cgroup })
    }
}

impl Ahead {
    /// For the runtime's create (`CreateOptions::made_cgroup`).
    pub(super) fn cgroup(&self) -> Option<(String, Manager)> {
        self.cgroup.clone()
    }

    /// The container started, and the runtime took the cgroup: its
    /// runtime state now (its `delete` removes it).
    pub(super) fn cgroup_taken(&mut self) {
        self.cgroup = None;
    }

    /// Deleted now: an external runtime makes the container's cgroup
    /// itself, as it likes it.
    pub(super) fn discard_cgroup(&mut self) {
        if let Some((_, m)) = self.cgroup.take() {
            if let Err(e) = m.destroy() {
                tracing::warn!("deleting the cgroup made for container {}: {e}", self.id);
            }
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.discard_cgroup();
        if let Some(mark) = self.mark.take() {
            mark.remove();
        }
    }
}
