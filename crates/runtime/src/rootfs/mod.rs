//! Building the container's root filesystem inside its mount namespace:
//! propagation, the rootfs bind, config mounts, devices, sysctls, masked and
//! read-only paths, then pivot_root.
//!
//! Every destination is resolved inside the rootfs (see `safe_path`) and
//! mounted through `/proc/self/fd/N` of the resolved fd, so no path from the
//! image or config is ever followed outside the rootfs.

pub mod devices;
pub mod options;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, major, minor, SFlag};
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Context, Error, Result};
use crate::procfs::Proc;
use crate::safe_path::{self, ensure_in_root, fd_path, open_in_root, Kind};

/// What the mount code needs to know besides the spec.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// The container has its own user namespace (no mknod; bind devices instead).
    pub userns: bool,
    /// cgroup mounts to provide for a "cgroup" mount entry.
    pub cgroup: Option<&'a crate::cgroups::Manager>,
    pub new_cgroupns: bool,
}

/// Make the mount namespace ours and mount everything config.json asks for.
/// Returns an O_PATH fd to the (bind-mounted) rootfs.
pub fn prepare(s: &Setup) -> Result<OwnedFd> {
    let linux = s.spec.linux().as_ref();
    // Stop our mounts from propagating to the host (and the host's, if asked, to us).
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) if !p.is_empty() => {
            options::propagation(p).ok_or_else(|| Error::InvalidConfig(format!("unknown rootfsPropagation {p:?}")))?
        }
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    // Start from a recursive slave (or private) /, so nothing we do below leaks out.
    // "shared"/"rshared" (as runc): / keeps that propagation, so binds of the host's
    // shared mounts stay its peers and mounts made under an "rshared" bind reach the
    // host (kubernetes' Bidirectional propagation). Setting MS_SHARED on the rootfs
    // mount instead, as before, made pivot_root fail with EINVAL (shared put_old).
    let shared = prop.contains(MsFlags::MS_SHARED);
    let base = if prop.contains(MsFlags::MS_PRIVATE) || shared { prop } else { MsFlags::MS_SLAVE | MsFlags::MS_REC };
    mount(None::<&str>, "/", None::<&str>, base, None::<&str>).context(|| "make / a slave mount".into())?;
    if shared {
        // The rootfs bind must neither propagate to the host nor sit under a
        // shared parent (pivot_root refuses one): make its parent mount private.
        let parent = mount_point_of(s.rootfs)?;
        mount(None::<&str>, &parent, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>)
            .context(|| format!("make {} private", parent.display()))?;
    }
    mount(Some(s.rootfs), s.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .context(|| format!("bind rootfs {}", s.rootfs.display()))?;
    if prop.contains(MsFlags::MS_UNBINDABLE) {
        mount(None::<&str>, s.rootfs, None::<&str>, prop, None::<&str>).context(|| "set rootfs propagation".into())?;
    }
    let root = nix::fcntl::open(
        s.rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context(|| format!("open rootfs {}", s.rootfs.display()))?;

    let mounts: &[Mount] = s.spec.mounts().as_deref().unwrap_or(&[]);
    let dev_is_bound = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && options::parse(m.options().as_deref().unwrap_or(&[])).bind);
    if mounts.iter().any(|m| m.destination().starts_with("/dev")) || !dev_is_bound {
        refuse_dev_symlink(&root)?;
    }
    for m in mounts {
        mount_entry(s, &root, m)?;
    }
    if !dev_is_bound {
        devices::create(&root, s.spec, s.userns)?;
        devices::symlinks(&root, mounts)?;
    }
    Ok(root)
}

/// A rootfs whose /dev is a symlink could steer device nodes and /dev mounts
/// anywhere it likes (CVE-2026-41579); no real image has one, so refuse it.
fn refuse_dev_symlink(root: &OwnedFd) -> Result<()> {
    match nix::sys::stat::fstatat(root, "dev", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
            Err(Error::InvalidConfig("the rootfs's /dev is a symlink: refusing to set up devices through it".into()))
        }
        _ => Ok(()),
    }
}

fn mount_entry(s: &Setup, root: &OwnedFd, m: &Mount) -> Result<()> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        return crate::cgroups::mount::mount_in_container(root, dest, &opts, s.cgroup, s.new_cgroupns);
    }
    if opts.bind || typ == "bind" {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig(format!("bind mount to {} has no source", dest.display())))?;
        let src_is_dir = std::fs::metadata(src)
            .map_err(|e| Error::InvalidConfig(format!("mount source {}: {e}", src.display())))?
            .is_dir();
        let target = ensure_in_root(root.as_fd(), dest, if src_is_dir { Kind::Dir } else { Kind::File })?;
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive_bind {
            flags |= MsFlags::MS_REC;
        }
        mount(Some(src.as_path()), &fd_path(&target), None::<&str>, flags, None::<&str>)
            .context(|| format!("bind {} to {}", src.display(), dest.display()))?;
        let extra = opts.flags - MsFlags::MS_REMOUNT;
        if !extra.is_empty() {
            remount_bind(root, dest, extra, opts.cleared)?;
        }
    } else {
        if typ == "proc" || typ == "sysfs" {
            // These must land on a real directory of the rootfs, not through a symlink.
            refuse_symlink_components(root, dest)?;
        }
        let target = ensure_in_root(root.as_fd(), dest, Kind::Dir)?;
        let data = opts.data.join(",");
        let source = m.source().as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| typ.into());
        let res = mount(
            Some(source.as_str()),
            &fd_path(&target),
            Some(typ),
            opts.flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        match res {
            // sysfs in a user namespace without its own net namespace cannot be
            // mounted; runc falls back to a recursive bind of the host's /sys.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" && s.userns => {
                mount(Some("/sys"), &fd_path(&target), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                    .context(|| format!("bind /sys to {}", dest.display()))?;
            }
            // mqueue needs its own ipc namespace when it is not the host's; bind the host's.
            Err(e) => return Err(e).context(|| format!("mount {typ} on {}", dest.display())),
            Ok(()) => {}
        }
    }
    for p in &opts.propagation {
        let t = open_in_root(root.as_fd(), dest, libc::O_PATH).context(|| format!("open {}", dest.display()))?;
        mount(None::<&str>, &fd_path(&t), None::<&str>, *p, None::<&str>)
            .context(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}

fn refuse_symlink_components(root: &OwnedFd, dest: &Path) -> Result<()> {
    let rel = safe_path::relative(dest);
    let mut prefix = PathBuf::new();
    for c in rel.components() {
        prefix.push(c);
        if let Ok(st) = nix::sys::stat::fstatat(root, &prefix, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
                return Err(Error::InvalidConfig(format!(
                    "mount destination {} goes through symlink {} in the rootfs",
                    dest.display(),
                    prefix.display()
                )));
            }
        }
    }
    Ok(())
}

/// Apply flags to an existing bind mount, keeping the flags the kernel
/// locks (nosuid/nodev/noexec/atime inherited from the source) unless cleared.
fn remount_bind(root: &OwnedFd, dest: &Path, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    // Re-resolve: the fd from before the mount points below the new mount.
    let t = open_in_root(root.as_fd(), dest, libc::O_PATH).context(|| format!("open {}", dest.display()))?;
    let locked = locked_flags(&t)? - cleared;
    mount(
        None::<&str>,
        &fd_path(&t),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked,
        None::<&str>,
    )
    .context(|| format!("remount {}", dest.display()))
}

fn locked_flags(fd: &OwnedFd) -> Result<MsFlags> {
    let st = nix::sys::statvfs::fstatvfs(fd).context(|| "statvfs".into())?;
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (a, b) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(a) {
            out |= b;
        }
    }
    Ok(out)
}

/// Apply linux.sysctl through the container's own (verified) procfs.
pub fn apply_sysctl(root: &OwnedFd, spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if sysctl.is_empty() {
        return Ok(());
    }
    let procdir = open_in_root(root.as_fd(), Path::new("/proc"), libc::O_PATH | libc::O_DIRECTORY)
        .context(|| "sysctl needs /proc mounted in the container".into())?;
    let proc = Proc::open(&fd_path(&procdir))?;
    let mut keys: Vec<_> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let rel = format!("sys/{}", key.replace('.', "/"));
        proc.write(&rel, sysctl[key].as_bytes())
            .map_err(|e| Error::Other(format!("sysctl {key}={}: {e}", sysctl[key])))?;
    }
    Ok(())
}

/// linux.readonlyPaths: bind each onto itself read-only.
pub fn readonly_paths(root: &OwnedFd, spec: &Spec) -> Result<()> {
    for p in spec.linux().as_ref().and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        let t = match open_in_root(root.as_fd(), Path::new(p), libc::O_PATH) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).context(|| format!("readonly path {p}")),
        };
        mount(Some(&fd_path(&t)), &fd_path(&t), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .context(|| format!("bind readonly path {p}"))?;
        remount_bind(root, Path::new(p), MsFlags::MS_RDONLY | MsFlags::MS_REC, MsFlags::empty())?;
    }
    Ok(())
}

/// linux.maskedPaths: /dev/null over files, an empty read-only tmpfs over directories.
pub fn masked_paths(root: &OwnedFd, spec: &Spec) -> Result<()> {
    let paths: Vec<&String> =
        spec.linux().as_ref().and_then(|l| l.masked_paths().as_ref()).into_iter().flatten().collect();
    if paths.is_empty() {
        return Ok(());
    }
    let null = verified_dev_null(root)?;
    for p in paths {
        let t = match open_in_root(root.as_fd(), Path::new(p), libc::O_PATH) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).context(|| format!("masked path {p}")),
        };
        let st = fstat(&t).context(|| format!("stat masked path {p}"))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            mount(Some("tmpfs"), &fd_path(&t), Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0k,mode=555"))
                .context(|| format!("mask {p}"))?;
        } else {
            mount(Some(&fd_path(&null)), &fd_path(&t), None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .context(|| format!("mask {p}"))?;
        }
    }
    Ok(())
}

/// The container's /dev/null, checked to be the real null device: a rootfs
/// that replaced it with a symlink or file would otherwise turn masking into
/// a bind of something writable (CVE-2025-31133).
fn verified_dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let fd = open_in_root(root.as_fd(), Path::new("/dev/null"), libc::O_PATH | libc::O_NOFOLLOW)
        .context(|| "open /dev/null in the container".into())?;
    let st = fstat(&fd).context(|| "stat /dev/null".into())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(Error::Other(
            "the container's /dev/null is not the null device: refusing to use it for maskedPaths".into(),
        ));
    }
    Ok(fd)
}

/// Switch the process's root to the rootfs.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).context(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        mount(Some(rootfs), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).context(|| "move rootfs to /".into())?;
        nix::unistd::chroot(".").context(|| "chroot".into())?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // unmounting "." then removes the old root without needing a directory for it.
        // "." after pivot_root is still the new root: without moving to the old
        // root first, the recursive MS_SLAVE below also hit every container
        // mount and turned "rshared" binds into plain slaves (runc fchdirs too).
        let old_root = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context(|| "open old root".into())?;
        nix::unistd::pivot_root(".", ".").context(|| "pivot_root".into())?;
        nix::unistd::fchdir(&old_root).context(|| "fchdir old root".into())?;
        mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
            .context(|| "make old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).context(|| "unmount old root".into())?;
    }
    nix::unistd::chdir("/").context(|| "chdir /".into())
}

/// The mount point (from /proc/self/mountinfo) of the mount holding `path`.
fn mount_point_of(path: &Path) -> Result<PathBuf> {
    let path = std::fs::canonicalize(path).context(|| format!("resolve {}", path.display()))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").context(|| "read /proc/self/mountinfo".into())?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| {
            PathBuf::from(m.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\"))
        })
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .ok_or_else(|| Error::Other(format!("no mount holds {}", path.display())))
}

/// rootfsPropagation "shared"/"rshared": after pivot_root the new / (a private
/// copy until now) gets it, as runc does; the host does not see it (own peer group).
pub fn root_propagation_after_pivot(spec: &Spec) -> Result<()> {
    let p = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()).unwrap_or("");
    match options::propagation(p) {
        Some(f) if f.contains(MsFlags::MS_SHARED) => {
            mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SHARED, None::<&str>).context(|| "make / shared".into())
        }
        _ => Ok(()),
    }
}

/// root.readonly: remount / read-only (after pivot_root).
pub fn make_root_readonly() -> Result<()> {
    let fd =
        nix::fcntl::open("/", nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .context(|| "open /".into())?;
    let locked = locked_flags(&fd)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
        None::<&str>,
    )
    .context(|| "remount / read-only".into())
}
