//! Mounting through fds only (the new mount API, end to end).
//!
//! A mount is first made *detached* — a clone of a source tree
//! (`open_tree(OPEN_TREE_CLONE)`) or a new filesystem (`fsopen` → `fsconfig`
//! → `fsmount`) — then given its flags and propagation with `mount_setattr`
//! while nothing can see it, and finally attached with `move_mount` onto the
//! O_PATH fd of its destination, resolved inside the root beforehand. The
//! fd of the mount keeps naming it after the attach, so later changes
//! (a tmpfs made read-only once filled) need no lookup either. No path is
//! ever resolved twice, so a renamer racing in a shared volume cannot steer
//! any step elsewhere (the CVE-2021-30465 class).
//!
//! The one fallback: kernels before 5.12 have no `mount_setattr`. There (and
//! only on ENOSYS) the mount is attached first and its flags and propagation
//! are changed with mount(2) through `/proc/self/fd/N` of the mount's own fd,
//! which names exactly that mount: still no second lookup (a recursive
//! flag change then reaches the top mount only, as mount(2) does). After
//! pivot_root /proc is the container's, so changes to the root mount there
//! name it "/" instead ([`set_root_attr`]). `open_tree`,
//! `move_mount` and `fsopen` (Linux 5.2) need no fallback: berth needs
//! openat2 (5.6) anyway.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstatvfs, Mode, OFlags, StatVfsMountFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_reconfigure, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, fspick,
    mount_change, mount_remount, move_mount, open_tree, FsMountFlags, FsOpenFlags, FsPickFlags, MountAttrFlags,
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags,
};
use sys::fs::fd_path;
use sys::mount::{fs_context_error, mount_setattr, MountAttr};

/// A mount held by an fd: detached until [`Mount::attach`], then the root of
/// the attached mount.
#[derive(Debug)]
pub struct Mount {
    fd: OwnedFd,
}

/// What a mount gets before it is attached.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Per-mount flags to set and clear.
    pub attr: MountAttr,
    /// Apply `attr` to every mount of a cloned tree (else to its top only).
    pub recursive: bool,
    /// Propagation changes in order; `REC` in one applies it to the whole tree.
    pub propagation: Vec<MountPropagationFlags>,
}

impl Mount {
    /// A detached copy of the mount tree at `src` (a host path from the
    /// config; its own symlinks are followed, as for any bind source).
    pub fn clone_path(src: &Path, recursive: bool) -> io::Result<Mount> {
        let fd = open_tree(CWD, src, clone_flags(recursive))?;
        Ok(Mount { fd })
    }

    /// A detached copy of the mount tree at an already resolved fd.
    pub fn clone_fd(at: BorrowedFd, recursive: bool) -> io::Result<Mount> {
        let fd = open_tree(at, "", clone_flags(recursive) | OpenTreeFlags::AT_EMPTY_PATH)?;
        Ok(Mount { fd })
    }

    /// A new, detached filesystem of type `fstype`. `params` are its
    /// parameters ("mode"="755", "newinstance", ...), `sb_flags` superblock
    /// flags ("ro", "sync"), `attr` the new mount's flags (nosuid, ...).
    pub fn new_fs(
        fstype: &str,
        source: &str,
        params: &[(String, Option<String>)],
        sb_flags: &[&str],
        attr: MountAttrFlags,
    ) -> io::Result<Mount> {
        let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
        let configure = || -> rustix::io::Result<OwnedFd> {
            fsconfig_set_string(&fs, "source", source)?;
            for (key, value) in params {
                match value {
                    Some(v) => fsconfig_set_string(&fs, key.as_str(), v.as_str())?,
                    None => fsconfig_set_flag(&fs, key.as_str())?,
                }
            }
            for flag in sb_flags {
                fsconfig_set_flag(&fs, *flag)?;
            }
            fsconfig_create(&fs)?;
            fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attr)
        };
        match configure() {
            Ok(fd) => Ok(Mount { fd }),
            Err(e) => Err(fs_context_error(&fs, e)),
        }
    }

    /// A detached mount made earlier (an idmapped bind: `idmap::prepare`).
    pub fn adopt(fd: OwnedFd) -> Mount {
        Mount { fd }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Apply `change` and attach the mount onto `dest` (an O_PATH fd).
    pub fn attach(self, dest: BorrowedFd, change: &Change) -> io::Result<Mount> {
        match self.prepare(change) {
            Ok(()) => self.move_to(dest)?,
            Err(e) if is_enosys(&e) => {
                // No mount_setattr: attach, then mount(2) through our own fd.
                self.move_to(dest)?;
                legacy_setattr(self.fd(), &change.attr)?;
                for p in &change.propagation {
                    mount_change(fd_path(self.fd()), *p)?;
                }
            }
            Err(e) => return Err(e),
        }
        Ok(self)
    }

    /// `change` on the detached mount.
    fn prepare(&self, change: &Change) -> io::Result<()> {
        if change.attr != MountAttr::default() {
            setattr(self.fd(), &change.attr, change.recursive)?;
        }
        for p in &change.propagation {
            setattr(self.fd(), &propagation_attr(*p), p.contains(MountPropagationFlags::REC))?;
        }
        Ok(())
    }

    fn move_to(&self, dest: BorrowedFd) -> io::Result<()> {
        move_mount(
            self.fd(),
            "",
            dest,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )?;
        Ok(())
    }
}

fn clone_flags(recursive: bool) -> OpenTreeFlags {
    let f = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        f | OpenTreeFlags::AT_RECURSIVE
    } else {
        f
    }
}

/// Change the flags of the mount whose root `fd` is (attached or not).
/// Before pivot_root only: the fallback names the mount through the host's
/// /proc (see [`set_root_attr`] for after).
pub fn set_attr(fd: BorrowedFd, attr: &MountAttr, recursive: bool) -> io::Result<()> {
    match setattr(fd, attr, recursive) {
        Err(e) if is_enosys(&e) => legacy_setattr(fd, attr),
        r => r,
    }
}

/// Change the propagation of the mount whose root `fd` is. Before
/// pivot_root only, as [`set_attr`].
pub fn set_propagation(fd: BorrowedFd, p: MountPropagationFlags) -> io::Result<()> {
    match setattr(fd, &propagation_attr(p), p.contains(MountPropagationFlags::REC)) {
        Err(e) if is_enosys(&e) => Ok(mount_change(fd_path(fd), p)?),
        r => r,
    }
}

/// [`set_attr`] on the process's root mount, after pivot_root. The
/// fallback names it "/" rather than `/proc/self/fd/N`: /proc is now the
/// container's, which may have none (ENOENT) or one the image laid out, so
/// that `self/fd/N` leads wherever it likes and the remount would miss `/`.
/// "/" is the root mount itself and nothing can be swapped in for it.
pub fn set_root_attr(attr: &MountAttr) -> io::Result<()> {
    let root = open_root()?;
    match setattr(root.as_fd(), attr, false) {
        Err(e) if is_enosys(&e) => legacy_setattr_at(Path::new("/"), root.as_fd(), attr),
        r => r,
    }
}

/// [`set_propagation`] on the process's root mount, after pivot_root (the
/// fallback names it "/", see [`set_root_attr`]).
pub fn set_root_propagation(p: MountPropagationFlags) -> io::Result<()> {
    let root = open_root()?;
    match setattr(root.as_fd(), &propagation_attr(p), p.contains(MountPropagationFlags::REC)) {
        Err(e) if is_enosys(&e) => Ok(mount_change("/", p)?),
        r => r,
    }
}

fn open_root() -> io::Result<OwnedFd> {
    Ok(rustix::fs::open("/", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

fn propagation_attr(p: MountPropagationFlags) -> MountAttr {
    MountAttr { propagation: p - MountPropagationFlags::REC, ..Default::default() }
}

/// Make the filesystem (superblock) of the mount whose root `fd` is
/// read-only, as a mount(2) remount without MS_BIND does: fspick on the fd,
/// no lookup. For a filesystem berth made and filled itself.
pub fn set_fs_readonly(fd: BorrowedFd) -> io::Result<()> {
    let fs = fspick(fd, "", FsPickFlags::FSPICK_EMPTY_PATH | FsPickFlags::FSPICK_CLOEXEC)?;
    fsconfig_set_flag(&fs, "ro").and_then(|()| fsconfig_reconfigure(&fs)).map_err(|e| fs_context_error(&fs, e))
}

fn setattr(fd: BorrowedFd, attr: &MountAttr, recursive: bool) -> io::Result<()> {
    mount_setattr(fd, Path::new(""), recursive, attr)
}

fn is_enosys(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::NOSYS.raw_os_error())
}

/// mount_setattr's flags as a bind remount through the mount's own fd
/// (the mount must be attached): the flags it has now, minus those cleared,
/// plus those set. Unlike mount_setattr, MS_REMOUNT clears every flag not
/// passed, so the current ones must be passed again (and the kernel refuses
/// to clear the ones it locks).
fn legacy_setattr(fd: BorrowedFd, attr: &MountAttr) -> io::Result<()> {
    legacy_setattr_at(&fd_path(fd), fd, attr)
}

/// [`legacy_setattr`] with the mount named by `target` (a path that names
/// the very mount whose root `fd` is).
fn legacy_setattr_at(target: &Path, fd: BorrowedFd, attr: &MountAttr) -> io::Result<()> {
    if attr.set.is_empty() && attr.clear.is_empty() {
        return Ok(());
    }
    let mut flags = current_flags(fd)?;
    if attr.clear.contains(MountAttrFlags::MOUNT_ATTR__ATIME) {
        flags -= MountFlags::NOATIME | MountFlags::RELATIME | MountFlags::STRICTATIME;
        // RELATIME is 0 among the MOUNT_ATTR atime values: neither of the others set.
        flags |= if attr.set.contains(MountAttrFlags::MOUNT_ATTR_STRICTATIME) {
            MountFlags::STRICTATIME
        } else if attr.set.contains(MountAttrFlags::MOUNT_ATTR_NOATIME) {
            MountFlags::NOATIME
        } else {
            MountFlags::RELATIME
        };
    }
    for (a, m) in [
        (MountAttrFlags::MOUNT_ATTR_RDONLY, MountFlags::RDONLY),
        (MountAttrFlags::MOUNT_ATTR_NOSUID, MountFlags::NOSUID),
        (MountAttrFlags::MOUNT_ATTR_NODEV, MountFlags::NODEV),
        (MountAttrFlags::MOUNT_ATTR_NOEXEC, MountFlags::NOEXEC),
        (MountAttrFlags::MOUNT_ATTR_NODIRATIME, MountFlags::NODIRATIME),
    ] {
        if attr.set.contains(a) {
            flags |= m;
        } else if attr.clear.contains(a) {
            flags -= m;
        }
    }
    mount_remount(target, MountFlags::BIND | flags, "")?;
    Ok(())
}

/// The per-mount flags the mount at `fd` has now.
fn current_flags(fd: BorrowedFd) -> io::Result<MountFlags> {
    let f = fstatvfs(fd)?.f_flag;
    let mut out = MountFlags::empty();
    for (st, ms) in [
        (StatVfsMountFlags::RDONLY, MountFlags::RDONLY),
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if f.contains(st) {
            out |= ms;
        }
    }
    // statvfs has no ST_STRICTATIME: neither noatime nor relatime means strictatime.
    if !out.intersects(MountFlags::NOATIME | MountFlags::RELATIME) {
        out |= MountFlags::STRICTATIME;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Real mounts on the host, in tempdirs (unmounted at the end): these
    //! run as root, as the whole test suite does.
    use super::*;
    use rustix::fs::{open, Mode, OFlags};
    use rustix::mount::{unmount, UnmountFlags};

    fn require_root() {
        assert!(rustix::process::geteuid().is_root(), "this test mounts: run it as root");
    }

    fn opath(p: &Path) -> OwnedFd {
        open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    fn is_readonly(p: &Path) -> bool {
        rustix::fs::statvfs(p).unwrap().f_flag.contains(StatVfsMountFlags::RDONLY)
    }

    #[test]
    fn clone_made_readonly_before_it_is_attached() {
        require_root();
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        std::fs::create_dir(&src).unwrap();
        std::fs::create_dir(&dst).unwrap();
        let change = Change {
            attr: MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() },
            ..Default::default()
        };
        let m = Mount::clone_path(&src, true).unwrap().attach(opath(&dst).as_fd(), &change).unwrap();
        assert!(is_readonly(&dst));
        assert!(!is_readonly(&src), "the source keeps its flags");
        // The mount's fd still names it after the attach: make it writable again.
        let rw = MountAttr { clear: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() };
        set_attr(m.fd(), &rw, false).unwrap();
        assert!(!is_readonly(&dst));
        unmount(&dst, UnmountFlags::DETACH).unwrap();
    }

    #[test]
    fn legacy_remount_through_the_mount_fd_keeps_unmentioned_flags() {
        require_root();
        let t = tempfile::tempdir().unwrap();
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let m = Mount::new_fs(
            "tmpfs",
            "tmpfs",
            &[],
            &[],
            MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC,
        )
        .unwrap()
        .attach(opath(&dst).as_fd(), &Change::default())
        .unwrap();
        let attr = MountAttr {
            set: MountAttrFlags::MOUNT_ATTR_RDONLY,
            clear: MountAttrFlags::MOUNT_ATTR_NOEXEC,
            ..Default::default()
        };
        legacy_setattr(m.fd(), &attr).unwrap();
        let f = current_flags(m.fd()).unwrap();
        assert!(f.contains(MountFlags::RDONLY | MountFlags::NOSUID), "{f:?}");
        assert!(!f.contains(MountFlags::NOEXEC), "{f:?}");
        unmount(&dst, UnmountFlags::DETACH).unwrap();
    }

    #[test]
    fn bad_fs_parameter_says_what_the_filesystem_said() {
        require_root();
        let params = [("mode".to_string(), Some("not-a-mode".to_string()))];
        let e = Mount::new_fs("tmpfs", "tmpfs", &params, &[], MountAttrFlags::empty()).unwrap_err();
        assert!(e.to_string().contains("mode"), "{e}");
    }
}
