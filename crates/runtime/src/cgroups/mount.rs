//! The "cgroup" mount inside a container: what /sys/fs/cgroup shows there.
//!
//! With a cgroup namespace, fresh cgroup filesystems are mounted (the kernel
//! roots them at the container's cgroup). Without one, the container's own
//! cgroup directories are bind-mounted, as runc does, so the container never
//! sees its siblings. On v1 and hybrid hosts a tmpfs holds one directory per
//! hierarchy (plus "unified" for the hybrid cgroup2 mount).
//!
//! Every mount is made through fds (`rootfs::attach`): the tmpfs is attached
//! onto the resolved destination, the hierarchies onto directories made in
//! that tmpfs through its own fd, and the tmpfs is made read-only through
//! the same fd once filled. Nothing is looked up by path twice.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, symlinkat, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountAttrFlags, MountFlags, MountPropagationFlags};
use sys::fs::{ensure_rerooted, Kind};
use sys::mount::MountAttr;

use super::{Manager, Mode as CgroupMode};
use crate::error::{Context, Error, Result};
use crate::rootfs::attach::{self, Change, Mount};
use crate::rootfs::label;
use crate::rootfs::options::{fs_params, Options};

pub fn mount_in_container(
    root: &OwnedFd,
    dest: &Path,
    opts: &Options,
    cg: Option<&Manager>,
    cgroupns: bool,
    mount_label: Option<&str>,
) -> Result<()> {
    let cg = cg.ok_or_else(|| Error::Cgroup("a cgroup mount needs the container's cgroup".into()))?;
    // Always nosuid, nodev, noexec (as runc); the atime option, if any, as asked.
    let mut attr =
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    attr |= opts.attr().set
        & (MountAttrFlags::MOUNT_ATTR_NOATIME
            | MountAttrFlags::MOUNT_ATTR_STRICTATIME
            | MountAttrFlags::MOUNT_ATTR_NODIRATIME);
    let ro = if opts.flags.contains(MountFlags::RDONLY) {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let target = ensure_rerooted(root.as_fd(), dest, Kind::Dir).context(|| format!("resolve {}", dest.display()))?;
    if cg.mode == CgroupMode::V2 {
        let u = cg.unified.as_ref().ok_or_else(|| Error::Cgroup("no cgroup2 hierarchy".into()))?;
        let m = one(target.as_fd(), dest, "cgroup2", None, &u.dir, cgroupns, attr | ro)?;
        return propagate(m.fd(), dest, &opts.propagation);
    }
    let tmpfs_params = fs_params(&label::with_context(&["mode=755".into()], "tmpfs", mount_label));
    let tmpfs = Mount::new_fs("tmpfs", "tmpfs", &tmpfs_params, &[], attr)
        .and_then(|m| m.attach(target.as_fd(), &Change::default()))
        .context(|| format!("mount tmpfs on {}", dest.display()))?;
    // Group controllers by hierarchy: "cpu" and "cpuacct" may share one mount.
    let mut by_mount: BTreeMap<PathBuf, (Vec<String>, PathBuf)> = BTreeMap::new();
    for (ctrl, h) in &cg.v1 {
        by_mount.entry(h.mount.clone()).or_insert_with(|| (Vec::new(), h.dir.clone())).0.push(ctrl.clone());
    }
    for (mnt, (ctrls, dir)) in &by_mount {
        let name = mnt.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ctrls.join(","));
        let sub = dest.join(&name);
        let sub_fd = subdir(tmpfs.fd(), &name, &sub)?;
        one(sub_fd.as_fd(), &sub, "cgroup", Some(&ctrls.join(",")), dir, cgroupns, attr | ro)?;
        if name.contains(',') {
            for part in name.split(',') {
                match symlinkat(name.as_str(), tmpfs.fd(), part) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io::Error::from(e)).context(|| format!("symlink {}/{part}", dest.display())),
                }
            }
        }
    }
    if let Some(u) = &cg.unified {
        let sub = dest.join("unified");
        let sub_fd = subdir(tmpfs.fd(), "unified", &sub)?;
        one(sub_fd.as_fd(), &sub, "cgroup2", None, &u.dir, cgroupns, attr | ro)?;
    }
    if !ro.is_empty() {
        let attr = MountAttr { set: ro, ..Default::default() };
        // Both the mount and its filesystem, as a plain remount makes them.
        attach::set_attr(tmpfs.fd(), &attr, false)
            .and_then(|()| attach::set_fs_readonly(tmpfs.fd()))
            .context(|| format!("make {} read-only", dest.display()))?;
    }
    // Last, so that a recursive change reaches the hierarchies too.
    propagate(tmpfs.fd(), dest, &opts.propagation)
}

/// A directory `name` in the fresh tmpfs (only we write there), as an O_PATH fd.
fn subdir(tmpfs: BorrowedFd, name: &str, shown: &Path) -> Result<OwnedFd> {
    match mkdirat(tmpfs, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(io::Error::from(e)).context(|| format!("mkdir {}", shown.display())),
    }
    openat(tmpfs, name, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(io::Error::from)
        .context(|| format!("open {}", shown.display()))
}

/// One hierarchy at `target`: a fresh cgroup filesystem in a cgroup
/// namespace, else a bind of the container's own cgroup directory.
fn one(
    target: BorrowedFd,
    dest: &Path,
    fstype: &str,
    data: Option<&str>,
    host_dir: &Path,
    cgroupns: bool,
    attr: MountAttrFlags,
) -> Result<Mount> {
    if cgroupns {
        let params = fs_params(&data.map(|d| vec![d.to_string()]).unwrap_or_default());
        Mount::new_fs(fstype, fstype, &params, &[], attr)
            .and_then(|m| m.attach(target, &Change::default()))
            .context(|| format!("mount {fstype} on {}", dest.display()))
    } else {
        let change = Change { attr: MountAttr { set: attr, ..Default::default() }, ..Default::default() };
        Mount::clone_path(host_dir, true)
            .and_then(|m| m.attach(target, &change))
            .context(|| format!("bind {} on {}", host_dir.display(), dest.display()))
    }
}

fn propagate(fd: BorrowedFd, dest: &Path, propagation: &[MountPropagationFlags]) -> Result<()> {
    for p in propagation {
        attach::set_propagation(fd, *p).context(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}
