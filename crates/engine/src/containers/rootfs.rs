//! A container's filesystem as `cp` and friends reach it from the host: a
//! directory fd every path is resolved under (re-rooted, never leaving it).
//!
//! - Running: `/proc/<init>/root`, the container's own `/` in its mount
//!   namespace: walking from that fd crosses the mounts the container has
//!   (volumes, binds, tmpfs, /etc/hosts), exactly what the container sees,
//!   as podman sees it by joining the namespace.
//! - Not running: its storage mounted (reference counted, unmounted when
//!   the guard goes), and, as podman's `resolvePath` does, a path under a
//!   bind or local volume's destination resolved in that mount's source.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::mounts::Mount;
use super::Container;
use crate::error::{Context as _, Error, Result};
use crate::Engine;

const DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// A container's root, open; a stopped container's storage stays mounted
/// while this lives.
pub struct ContainerRoot<'e> {
    /// First: fields drop in order, and an fd open on the mount would make
    /// its unmount fail (EBUSY).
    fd: OwnedFd,
    /// Stopped: our reference to its mounted storage.
    _mounted: Option<MountRef<'e>>,
    /// Stopped: (destination in the container, source on the host) of its
    /// bind mounts and volumes, longest destination first.
    binds: Vec<(PathBuf, PathBuf)>,
    pub running: bool,
}

impl ContainerRoot<'_> {
    /// The container's `/`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Where `path` (in the container) lives: the root fd to resolve under
    /// and the path relative to it. Only a stopped container's binds and
    /// volumes are looked up here; a running one's are in its namespace.
    pub fn locate(&self, path: &Path) -> Result<(OwnedFd, PathBuf)> {
        let clean = sys::fs::lexical(path);
        for (dest, source) in &self.binds {
            if let Ok(rest) = clean.strip_prefix(dest) {
                let fd = rustix::fs::open(source, DIR, Mode::empty())
                    .ctx(|| format!("opening the mount source {}", source.display()))?;
                return Ok((fd, rest.to_path_buf()));
            }
        }
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 3).ctx(|| "duplicating the root fd".into())?;
        Ok((fd, clean))
    }
}

/// One mount reference to a container's storage, dropped with this.
struct MountRef<'e> {
    engine: &'e Engine,
    id: String,
}

impl Drop for MountRef<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.engine.layers().and_then(|l| l.unmount(&self.id).map_err(Error::from)) {
            tracing::warn!("unmounting the storage of {}: {e}", self.id);
        }
    }
}

impl Engine {
    /// Open container `c`'s root filesystem for `cp` (see the module docs).
    pub fn container_root(&self, c: &Container) -> Result<ContainerRoot<'_>> {
        if c.state.is_live() {
            if let Some(pid) = c.pid {
                let proc_root = format!("/proc/{pid}/root");
                let opened = rustix::fs::open(proc_root.as_str(), DIR, Mode::empty());
                // Opened first, checked after: a pid reused between the two
                // would fail the check (the container is no longer running).
                if let (Ok(fd), true) = (opened, self.init_alive(&c.id)) {
                    if self.init_pid(&c.id) == Some(pid) {
                        return Ok(ContainerRoot { fd, _mounted: None, binds: Vec::new(), running: true });
                    }
                }
            }
        }
        let path = self.layers()?.mount(&c.id)?;
        // Held from here: unmounted on any error below too.
        let mounted = MountRef { engine: self, id: c.id.clone() };
        let mut root =
            ContainerRoot { fd: open_dir(&path)?, _mounted: Some(mounted), binds: Vec::new(), running: false };
        for m in &c.mounts {
            if let Some(source) = self.bind_source(m) {
                root.binds.push((sys::fs::lexical(Path::new(m.destination())), source));
            }
        }
        root.binds.sort_by_key(|(d, _)| std::cmp::Reverse(d.as_os_str().len()));
        Ok(root)
    }

    /// The host directory a bind or local volume mount shows, if it is one.
    fn bind_source(&self, m: &Mount) -> Option<PathBuf> {
        match m {
            Mount::Bind { source, .. } => Some(PathBuf::from(source)),
            Mount::Volume { .. } => {
                let oci = self.oci_mounts(std::slice::from_ref(m)).ok()?;
                let one = oci.first()?;
                (one["type"] == "bind").then(|| PathBuf::from(one["source"].as_str().unwrap_or_default()))
            }
            Mount::Tmpfs { .. } => None,
        }
    }

    /// The pid of container `id`'s init as the runtime knows it.
    fn init_pid(&self, id: &str) -> Option<i32> {
        runtime::container::load(&self.runtime_root(), id).ok().map(|(_, _, st, _)| st.pid)
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(path, DIR, Mode::empty()).ctx(|| format!("opening {}", path.display()))
}

/// The last component of `path` as `cp` names its copy (`/` has none).
pub(crate) fn base_name(path: &Path) -> Option<&OsStr> {
    path.components().rev().find_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    })
}
