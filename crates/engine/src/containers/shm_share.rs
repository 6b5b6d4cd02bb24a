//! `--ipc container:X` shares X's /dev/shm, not only its IPC namespace
//! (POSIX shared memory lives in files there).
//!
//! X's /dev/shm is a tmpfs mounted in X's own mount namespace, which no
//! bind mount can name from outside (the kernel refuses to copy a mount of
//! another namespace). So, just before the joining container is created: a
//! thread of ours gets its own fs struct, enters X's mount namespace,
//! clones its /dev/shm as a detached mount (open_tree), comes back to our
//! namespace and attaches the copy on `<container-data>/<id>/shm`, which
//! config.json binds on /dev/shm. Once the runtime has made its own copy
//! inside the new container, ours is detached again ([`SharedShm`]'s drop):
//! nothing stays mounted on the host.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, CWD};
use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};
use rustix::thread::LinkNameSpaceType;

use crate::error::{Context as _, Error, Result};

/// Where the joined /dev/shm is attached on the host, in the container's data dir.
pub(super) fn mount_point(bundle: &Path) -> PathBuf {
    bundle.join("shm")
}

/// A copy of another container's /dev/shm attached on the host until dropped.
pub(super) struct SharedShm(PathBuf);

impl Drop for SharedShm {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.0, UnmountFlags::DETACH) {
            tracing::warn!("detaching {}: {e}", self.0.display());
        }
    }
}

/// Attach the /dev/shm of the container whose init is `pid` on `dst`.
pub(super) fn attach(pid: i32, dst: &Path) -> Result<SharedShm> {
    sys::fs::create_private_dir(dst, 0o700).ctx(|| format!("creating {}", dst.display()))?;
    // Left over by a monitor killed in between: gone first.
    let _ = rustix::mount::unmount(dst, UnmountFlags::DETACH);
    let open_ns = |path: String| -> Result<OwnedFd> {
        rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ctx(|| format!("opening {path}"))
    };
    let theirs = open_ns(format!("/proc/{pid}/ns/mnt"))?;
    let ours = open_ns("/proc/thread-self/ns/mnt".to_string())?;
    let target = dst.to_path_buf();
    // A thread of its own, ended there: the rest of the process never
    // changes namespace.
    let worker = std::thread::Builder::new()
        .name("shm".into())
        .spawn(move || -> std::io::Result<()> {
            sys::process::unshare_fs()?;
            rustix::thread::move_into_link_name_space(theirs.as_fd(), Some(LinkNameSpaceType::Mount))?;
            let tree = rustix::mount::open_tree(
                CWD,
                "/dev/shm",
                OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
            );
            rustix::thread::move_into_link_name_space(ours.as_fd(), Some(LinkNameSpaceType::Mount))?;
            let tree = tree?;
            rustix::mount::move_mount(tree.as_fd(), "", CWD, &target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?;
            Ok(())
        })
        .ctx(|| "starting a thread".into())?;
    match worker.join() {
        Ok(done) => done.ctx(|| format!("sharing the /dev/shm of process {pid}"))?,
        Err(_) => return Err(Error::new("sharing /dev/shm: the thread panicked")),
    }
    Ok(SharedShm(dst.to_path_buf()))
}
