//! Building the container's root filesystem inside its mount namespace:
//! propagation, the rootfs bind, config mounts, devices, sysctls, masked and
//! read-only paths, then pivot_root.
//!
//! Every destination is resolved inside the rootfs (`sys::fs`, re-rooted)
//! to an O_PATH fd, and every mount is built detached and attached onto that
//! fd (see `attach`): no path from the image or config is ever followed
//! outside the rootfs, and none is looked up twice.

pub mod attach;
pub mod devices;
pub mod idmap;
pub mod label;
pub mod options;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};
use rustix::fs::{fstat, major, minor, open, statat, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{
    mount_bind_recursive, mount_change, mount_move, mount_remount, unmount, MountAttrFlags, MountPropagationFlags,
    UnmountFlags,
};
use sys::fs::{ensure_rerooted, fd_path, open_rerooted, Kind};
use sys::mount::MountAttr;

use crate::error::{Context, Error, Result};
use crate::procfs::Proc;
use attach::Change;

/// What the mount code needs to know besides the spec.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// The container has its own user namespace (no mknod; bind devices instead).
    pub userns: bool,
    /// cgroup mounts to provide for a "cgroup" mount entry.
    pub cgroup: Option<&'a crate::cgroups::Manager>,
    pub new_cgroupns: bool,
    /// Each idmapped bind, made ready by the runtime (`idmap::prepare`), by
    /// index in config.json.
    pub idmapped: &'a [Option<OwnedFd>],
}

/// Make the mount namespace ours and mount everything config.json asks for.
/// Returns an O_PATH fd to the (bind-mounted) rootfs.
pub fn prepare(s: &Setup) -> Result<OwnedFd> {
    let label = label::mount_label(s.spec)?;
    let linux = s.spec.linux().as_ref();
    // Stop our mounts from propagating to the host (and the host's, if asked, to us).
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) if !p.is_empty() => {
            options::propagation(p).ok_or_else(|| Error::InvalidConfig(format!("unknown rootfsPropagation {p:?}")))?
        }
        _ => MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    };
    // Start from a recursive slave (or private) /, so nothing we do below leaks out.
    // "shared"/"rshared" (as runc): / keeps that propagation, so binds of the host's
    // shared mounts stay its peers and mounts made under an "rshared" bind reach the
    // host (kubernetes' Bidirectional propagation). Setting MS_SHARED on the rootfs
    // mount instead, as before, made pivot_root fail with EINVAL (shared put_old).
    // These paths are the host's and the bundle's, not the container's: plain
    // path calls are fine here.
    let shared = prop.contains(MountPropagationFlags::SHARED);
    let base = if prop.contains(MountPropagationFlags::PRIVATE) || shared {
        prop
    } else {
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC
    };
    mount_change("/", base).map_err(io::Error::from).context(|| "make / a slave mount".into())?;
    if shared {
        // The rootfs bind must neither propagate to the host nor sit under a
        // shared parent (pivot_root refuses one): make its parent mount private.
        let parent = mount_point_of(s.rootfs)?;
        mount_change(&parent, MountPropagationFlags::PRIVATE)
            .map_err(io::Error::from)
            .context(|| format!("make {} private", parent.display()))?;
    }
    mount_bind_recursive(s.rootfs, s.rootfs)
        .map_err(io::Error::from)
        .context(|| format!("bind rootfs {}", s.rootfs.display()))?;
    if prop.contains(MountPropagationFlags::UNBINDABLE) {
        mount_change(s.rootfs, prop).map_err(io::Error::from).context(|| "set rootfs propagation".into())?;
    }
    let root = open(s.rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io::Error::from)
        .context(|| format!("open rootfs {}", s.rootfs.display()))?;

    let mounts: &[Mount] = s.spec.mounts().as_deref().unwrap_or(&[]);
    let dev_is_bound = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && options::parse(m.options().as_deref().unwrap_or(&[])).bind);
    if mounts.iter().any(|m| m.destination().starts_with("/dev")) || !dev_is_bound {
        refuse_dev_symlink(&root)?;
    }
    for (i, m) in mounts.iter().enumerate() {
        let idmapped = s.idmapped.get(i).and_then(Option::as_ref);
        mount_entry(s, &root, m, label, idmapped)?;
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
    match statat(root, "dev", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            Err(Error::InvalidConfig("the rootfs's /dev is a symlink: refusing to set up devices through it".into()))
        }
        _ => Ok(()),
    }
}

/// Resolve `dest` inside the root (re-rooted), creating what is missing.
fn resolve_creating(root: &OwnedFd, dest: &Path, kind: Kind) -> Result<OwnedFd> {
    ensure_rerooted(root.as_fd(), dest, kind).context(|| format!("resolve {} in rootfs", dest.display()))
}

fn mount_entry(s: &Setup, root: &OwnedFd, m: &Mount, label: Option<&str>, idmapped: Option<&OwnedFd>) -> Result<()> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        return crate::cgroups::mount::mount_in_container(root, dest, &opts, s.cgroup, s.new_cgroupns, label);
    }
    if opts.bind || typ == "bind" {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig(format!("bind mount to {} has no source", dest.display())))?;
        // The source is looked up once, by the clone; what the clone holds
        // decides whether the destination is made a directory or a file.
        let tree = match idmapped {
            Some(made) => {
                attach::Mount::adopt(made.try_clone().context(|| format!("dup the bind of {}", src.display()))?)
            }
            None => attach::Mount::clone_path(src, opts.recursive_bind)
                .map_err(|e| Error::InvalidConfig(format!("mount source {}: {e}", src.display())))?,
        };
        let src_is_dir = fstat(tree.fd())
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            .map_err(io::Error::from)
            .context(|| format!("stat mount source {}", src.display()))?;
        let target = resolve_creating(root, dest, if src_is_dir { Kind::Dir } else { Kind::File })?;
        // Flags and propagation go on the detached copy; the attach is the
        // only step that touches the destination, through its fd.
        let change = Change { attr: opts.attr(), recursive: false, propagation: opts.propagation.clone() };
        tree.attach(target.as_fd(), &change).context(|| format!("bind {} to {}", src.display(), dest.display()))?;
        return Ok(());
    }
    let data = label::with_context(&opts.data, typ, label);
    if opts.remount {
        // "remount" changes the mount already at the destination: one mount(2)
        // on the fd it resolves to (the top mount's root).
        let target = open_rerooted(root.as_fd(), dest, OFlags::PATH).context(|| format!("open {}", dest.display()))?;
        return mount_remount(fd_path(&target), opts.flags, data.join(","))
            .map_err(io::Error::from)
            .context(|| format!("remount {}", dest.display()));
    }
    let target = if typ == "proc" || typ == "sysfs" {
        real_directory(root, dest)?
    } else {
        resolve_creating(root, dest, Kind::Dir)?
    };
    let source = m.source().as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| typ.into());
    let change = Change { propagation: opts.propagation.clone(), ..Default::default() };
    let made = attach::Mount::new_fs(typ, &source, &options::fs_params(&data), &opts.sb_flags(), opts.attr().set)
        .and_then(|fs| fs.attach(target.as_fd(), &change));
    match made {
        Ok(fs) => label::label_root(fs.fd(), typ, label),
        // sysfs in a user namespace without its own net namespace cannot be
        // mounted; runc falls back to a recursive bind of the host's /sys.
        Err(e) if e.raw_os_error() == Some(Errno::PERM.raw_os_error()) && typ == "sysfs" && s.userns => {
            let change = Change { attr: opts.attr(), recursive: false, propagation: opts.propagation.clone() };
            attach::Mount::clone_path(Path::new("/sys"), true)
                .and_then(|tree| tree.attach(target.as_fd(), &change))
                .map(drop)
                .context(|| format!("bind /sys to {}", dest.display()))
        }
        Err(e) => Err(e).context(|| format!("mount {typ} on {}", dest.display())),
    }
}

/// Where proc and sysfs go: a real directory of the rootfs, reached through
/// no symlink (a /proc that leads elsewhere would leave the real one
/// unmasked). One lookup that follows no symlink both checks the path and
/// gives the fd the mount is attached to, so a rename racing in between
/// cannot redirect it; missing components are made, then looked up so again.
fn real_directory(root: &OwnedFd, dest: &Path) -> Result<OwnedFd> {
    let open = || sys::fs::open_rerooted_no_symlinks(root.as_fd(), dest, OFlags::PATH | OFlags::DIRECTORY);
    let found = match open() {
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
            drop(resolve_creating(root, dest, Kind::Dir)?);
            open()
        }
        r => r,
    };
    found.map_err(|e| {
        if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
            Error::InvalidConfig(format!("mount destination {} goes through symlinks in the rootfs", dest.display()))
        } else {
            Error::Io { context: format!("open mount destination {}", dest.display()), source: e }
        }
    })
}

/// Apply linux.sysctl through the container's own (verified) procfs.
pub fn apply_sysctl(root: &OwnedFd, spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if sysctl.is_empty() {
        return Ok(());
    }
    let procdir = open_rerooted(root.as_fd(), Path::new("/proc"), OFlags::PATH | OFlags::DIRECTORY)
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

/// Open a config path (readonly/masked) inside the root; None when it does
/// not exist (the runtime spec says to skip those).
fn open_existing(root: &OwnedFd, p: &str, flags: OFlags, what: &str) -> Result<Option<OwnedFd>> {
    match open_rerooted(root.as_fd(), Path::new(p), flags) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => Ok(None),
        Err(e) => Err(e).context(|| format!("{what} {p}")),
    }
}

/// linux.readonlyPaths: a read-only copy of each path's mount tree, made
/// read-only while detached and attached onto the very fd it was cloned from.
pub fn readonly_paths(root: &OwnedFd, spec: &Spec) -> Result<()> {
    let ro = Change {
        attr: MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() },
        recursive: true,
        propagation: Vec::new(),
    };
    for p in spec.linux().as_ref().and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        let Some(t) = open_existing(root, p, OFlags::PATH, "readonly path")? else { continue };
        attach::Mount::clone_fd(t.as_fd(), true)
            .and_then(|tree| tree.attach(t.as_fd(), &ro))
            .context(|| format!("make {p} read-only"))?;
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
    let label = label::mount_label(spec)?;
    let null = verified_dev_null(root)?;
    let tmpfs_params = options::fs_params(&label::with_context(&["size=0k".into(), "mode=555".into()], "tmpfs", label));
    for p in paths {
        let Some(t) = open_existing(root, p, OFlags::PATH, "masked path")? else { continue };
        let st = fstat(&t).map_err(io::Error::from).context(|| format!("stat masked path {p}"))?;
        let mask = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            attach::Mount::new_fs("tmpfs", "tmpfs", &tmpfs_params, &["ro"], MountAttrFlags::MOUNT_ATTR_RDONLY)
        } else {
            attach::Mount::clone_fd(null.as_fd(), false)
        };
        mask.and_then(|m| m.attach(t.as_fd(), &Change::default())).context(|| format!("mask {p}"))?;
    }
    Ok(())
}

/// The container's /dev/null, checked to be the real null device: a rootfs
/// that replaced it with a symlink or file would otherwise turn masking into
/// a bind of something writable (CVE-2025-31133).
fn verified_dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let fd = open_rerooted(root.as_fd(), Path::new("/dev/null"), OFlags::PATH | OFlags::NOFOLLOW)
        .context(|| "open /dev/null in the container".into())?;
    let st = fstat(&fd).map_err(io::Error::from).context(|| "stat /dev/null".into())?;
    let is_chr = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
    if !is_chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(Error::Other(
            "the container's /dev/null is not the null device: refusing to use it for maskedPaths".into(),
        ));
    }
    Ok(fd)
}

/// Switch the process's root to the rootfs.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    use rustix::process::{chdir, chroot, fchdir, pivot_root};
    let sys_err = |what: &'static str| move |e: Errno| Error::Io { context: what.into(), source: e.into() };
    chdir(rootfs).map_err(io::Error::from).context(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        mount_move(rootfs, "/").map_err(sys_err("move rootfs to /"))?;
        chroot(".").map_err(sys_err("chroot"))?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // unmounting "." then removes the old root without needing a directory for it.
        // "." after pivot_root is still the new root: without moving to the old
        // root first, the recursive MS_SLAVE below also hit every container
        // mount and turned "rshared" binds into plain slaves (runc fchdirs too).
        let old_root = open("/", OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(sys_err("open old root"))?;
        pivot_root(".", ".").map_err(sys_err("pivot_root"))?;
        fchdir(&old_root).map_err(sys_err("fchdir old root"))?;
        mount_change(".", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
            .map_err(sys_err("make old root a slave"))?;
        unmount(".", UnmountFlags::DETACH).map_err(sys_err("unmount old root"))?;
    }
    chdir("/").map_err(sys_err("chdir /"))
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
        Some(f) if f.contains(MountPropagationFlags::SHARED) => {
            attach::set_root_propagation(MountPropagationFlags::SHARED).context(|| "make / shared".into())
        }
        _ => Ok(()),
    }
}

/// root.readonly: make / read-only (after pivot_root). Only the read-only
/// flag changes; the flags it has (nosuid, ...) stay.
pub fn make_root_readonly() -> Result<()> {
    let ro = MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() };
    attach::set_root_attr(&ro).context(|| "remount / read-only".into())
}
