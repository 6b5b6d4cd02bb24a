//! How a new process (a container's init, an exec'd process) gets into the
//! container's cgroup cheaply.
//!
//! Writing a pid to cgroup.procs takes the kernel's global threadgroup lock
//! for writing (`cgroup_threadgroup_rwsem`), and taking it waits for an RCU
//! grace period: 5-20 ms on these machines, more than the rest of a
//! container's start. Two ways around it, both used here:
//! - cgroup v2: the process is born in its cgroup (clone3's
//!   `CLONE_INTO_CGROUP`, with the directory fd [`Entry::unified_dir`]).
//! - cgroup v1: the process moves itself, a single thread at a time, by
//!   writing "0" to each hierarchy's `tasks` file; since Linux 6.2 a thread
//!   moving itself skips the global lock (kernel commit "cgroup: Optimize
//!   single thread migration"). Older kernels take it, as before.
//!
//! The fds are opened by the runtime before the fork: the kernel checks a
//! cgroup write against the credentials of whoever opened the file, so the
//! new process may already be in a new user namespace when it writes.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode as FileMode, OFlags};

use super::{Manager, Mode};
use crate::error::{Error, Result};

/// Open handles on the container's cgroup, made by [`Manager::entry`].
pub struct Entry {
    /// Each distinct v1 hierarchy's `tasks` file, open for writing.
    v1_tasks: Vec<OwnedFd>,
    /// The cgroup2 directory (opened for reading: clone3 refuses O_PATH),
    /// and its cgroup.procs, open for writing, for kernels where clone3
    /// cannot put the process there.
    unified: Option<(OwnedFd, OwnedFd)>,
}

fn open(path: &Path, flags: OFlags) -> std::io::Result<OwnedFd> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, FileMode::empty()).map_err(std::io::Error::from)
}

impl Manager {
    /// Handles for new processes to enter the cgroup (made by `create`).
    pub fn entry(&self) -> Result<Entry> {
        let mut v1_tasks = Vec::new();
        for (ctrl, h) in self.v1_hierarchies() {
            let path = h.dir.join("tasks");
            match open(&path, OFlags::WRONLY) {
                Ok(fd) => v1_tasks.push(fd),
                // name=systemd may be missing (see `create`).
                Err(e) if ctrl.starts_with("name=") && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { context: format!("open {}", path.display()), source: e }),
            }
        }
        let unified = match &self.unified {
            Some(u) => match open(&u.dir, OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(dir) => {
                    let procs =
                        rustix::fs::openat(&dir, "cgroup.procs", OFlags::WRONLY | OFlags::CLOEXEC, FileMode::empty())
                            .map_err(|e| Error::Io {
                            context: format!("open {}", u.dir.join("cgroup.procs").display()),
                            source: e.into(),
                        })?;
                    Some((dir, procs))
                }
                // On hybrid the unified dir may be missing (see `create`).
                Err(e) if self.mode == Mode::Hybrid && e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::Io { context: format!("open {}", u.dir.display()), source: e }),
            },
            None => None,
        };
        Ok(Entry { v1_tasks, unified })
    }
}

impl Entry {
    /// The cgroup2 directory to be born in (`CLONE_INTO_CGROUP`), if any.
    pub fn unified_dir(&self) -> Option<BorrowedFd<'_>> {
        self.unified.as_ref().map(|(dir, _)| dir.as_fd())
    }

    /// Called by the new process itself, while it has a single thread: move
    /// into every v1 hierarchy, and into the cgroup2 one unless it was born
    /// there (`born_in_unified`).
    pub fn join_self(&self, born_in_unified: bool) -> Result<()> {
        for fd in &self.v1_tasks {
            write_zero(fd.as_fd())
                .map_err(|e| Error::Io { context: "join the container's cgroup".into(), source: e })?;
        }
        if let (Some((_, procs)), false) = (&self.unified, born_in_unified) {
            write_zero(procs.as_fd())
                .map_err(|e| Error::Io { context: "join the container's cgroup2 cgroup".into(), source: e })?;
        }
        Ok(())
    }
}

/// "0" names the writer itself, as one write(2).
fn write_zero(fd: BorrowedFd) -> std::io::Result<()> {
    match rustix::io::write(fd, b"0") {
        Ok(1) => Ok(()),
        Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
        Err(e) => Err(e.into()),
    }
}
