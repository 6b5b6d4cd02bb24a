//! The "cgroup" mount inside a container: what /sys/fs/cgroup shows there.
//!
//! With a cgroup namespace, fresh cgroup filesystems are mounted (the kernel
//! roots them at the container's cgroup). Without one, the container's own
//! cgroup directories are bind-mounted, as runc does, so the container never
//! sees its siblings. On v1 and hybrid hosts a tmpfs holds one directory per
//! hierarchy (plus "unified" for the hybrid cgroup2 mount).

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::{Manager, Mode};
use crate::error::{Context, Error, Result};
use crate::rootfs::options::Options;
use crate::safe_path::{ensure_in_root, fd_path, Kind};

pub fn mount_in_container(
    root: &OwnedFd,
    dest: &Path,
    opts: &Options,
    cg: Option<&Manager>,
    cgroupns: bool,
) -> Result<()> {
    let cg = cg.ok_or_else(|| Error::Cgroup("a cgroup mount needs the container's cgroup".into()))?;
    let flags = (opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME))
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    if cg.mode == Mode::V2 {
        let u = cg.unified.as_ref().ok_or_else(|| Error::Cgroup("no cgroup2 hierarchy".into()))?;
        return one(root, dest, "cgroup2", None, &u.dir, cgroupns, flags, ro);
    }
    let target = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
    mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), flags, Some("mode=755"))
        .context(|| format!("mount tmpfs on {}", dest.display()))?;
    // Group controllers by hierarchy: "cpu" and "cpuacct" may share one mount.
    let mut by_mount: BTreeMap<PathBuf, (Vec<String>, PathBuf)> = BTreeMap::new();
    for (ctrl, h) in &cg.v1 {
        by_mount.entry(h.mount.clone()).or_insert_with(|| (Vec::new(), h.dir.clone())).0.push(ctrl.clone());
    }
    for (mnt, (ctrls, dir)) in &by_mount {
        let name = mnt.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ctrls.join(","));
        let sub = dest.join(&name);
        one(root, &sub, "cgroup", Some(&ctrls.join(",")), dir, cgroupns, flags, ro)?;
        if name.contains(',') {
            let dir_fd = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
            for part in name.split(',') {
                match nix::unistd::symlinkat(name.as_str(), &dir_fd, part) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e).context(|| format!("symlink {}/{part}", dest.display())),
                }
            }
        }
    }
    if let Some(u) = &cg.unified {
        one(root, &dest.join("unified"), "cgroup2", None, &u.dir, cgroupns, flags, ro)?;
    }
    if ro {
        let t = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
        mount(
            None::<&str>,
            &fd_path(&t),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )
        .context(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn one(
    root: &OwnedFd,
    dest: &Path,
    fstype: &str,
    data: Option<&str>,
    host_dir: &Path,
    cgroupns: bool,
    flags: MsFlags,
    ro: bool,
) -> Result<()> {
    let target = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
    let ro_flag = if ro { MsFlags::MS_RDONLY } else { MsFlags::empty() };
    if cgroupns {
        mount(Some(fstype), &fd_path(&target), Some(fstype), flags | ro_flag, data)
            .context(|| format!("mount {fstype} on {}", dest.display()))?;
    } else {
        mount(Some(host_dir), &fd_path(&target), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .context(|| format!("bind {} on {}", host_dir.display(), dest.display()))?;
        let t = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
        mount(
            None::<&str>,
            &fd_path(&t),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | ro_flag,
            None::<&str>,
        )
        .context(|| format!("remount {}", dest.display()))?;
    }
    Ok(())
}
