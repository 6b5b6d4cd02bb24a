//! The one mount call rustix does not wrap yet: mount_setattr(2) (Linux 5.12;
//! rustix#975), for flags and propagation, and for idmapping ([`set_idmap`]).
//! With `open_tree` → `mount_setattr` → `move_mount`, a bind mount gets its
//! flags (read-only, nosuid, ...) and propagation while it is
//! still detached, and is attached in one step through an fd: no path is
//! looked up twice, so nothing can be swapped in between (CVE-2021-30465).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use rustix::mount::{MountAttrFlags, MountPropagationFlags};

/// What mount_setattr changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    /// Attributes to set.
    pub set: MountAttrFlags,
    /// Attributes to clear (for the atime mode, include `MOUNT_ATTR__ATIME`).
    pub clear: MountAttrFlags,
    /// `SHARED`, `PRIVATE`, `DOWNSTREAM` (slave) or `UNBINDABLE`, or empty to leave it.
    pub propagation: MountPropagationFlags,
}

impl Default for MountAttr {
    fn default() -> Self {
        MountAttr {
            set: MountAttrFlags::empty(),
            clear: MountAttrFlags::empty(),
            propagation: MountPropagationFlags::empty(),
        }
    }
}

/// `struct mount_attr` of <linux/mount.h>, version 0 (32 bytes).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(dirfd, path, flags, attr)`: change the mount at `path`
/// relative to `dirfd` (an empty path with `AT_EMPTY_PATH` in `flags` means
/// `dirfd` itself, e.g. a detached tree from `open_tree`). `recursive` applies
/// it to every mount below as well (`AT_RECURSIVE`).
pub fn mount_setattr(dirfd: impl AsFd, path: &Path, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let raw = RawMountAttr {
        attr_set: u64::from(attr.set.bits()),
        attr_clr: u64::from(attr.clear.bits()),
        propagation: u64::from(attr.propagation.bits()),
        userns_fd: 0,
    };
    setattr(dirfd.as_fd(), path, recursive, &raw)
}

/// Make the detached mount `fd` (from `open_tree(OPEN_TREE_CLONE)`, not
/// attached yet: the kernel refuses it on an attached one) idmapped through
/// user namespace `userns` (`MOUNT_ATTR_IDMAP`, Linux 5.12): a file whose
/// owner is id N on disk shows as what `userns`'s map makes of N, and a file
/// made through the mount gets the reverse. `recursive`: every mount of the
/// tree (each filesystem must support idmapping).
pub fn set_idmap(fd: impl AsFd, userns: impl AsFd, recursive: bool) -> io::Result<()> {
    let userns_fd =
        u64::try_from(userns.as_fd().as_raw_fd()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let raw = RawMountAttr {
        attr_set: u64::from(MountAttrFlags::MOUNT_ATTR_IDMAP.bits()),
        attr_clr: 0,
        propagation: 0,
        userns_fd,
    };
    setattr(fd.as_fd(), Path::new(""), recursive, &raw)
}

fn setattr(dirfd: BorrowedFd, path: &Path, recursive: bool, raw: &RawMountAttr) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a valid fd, a NUL-terminated path, and a pointer to a live,
    // correctly sized mount_attr (version 0) for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            c.as_ptr(),
            flags,
            raw as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The error of a step on a filesystem context (`fsconfig`, `fsmount`,
/// ...) with what the filesystem said about it: the kernel explains such
/// failures in messages read from the context's fd ("e tmpfs: Bad value for
/// 'mode'"), which the errno alone would lose. Reading them empties the log.
pub fn fs_context_error(fs: impl AsFd, e: rustix::io::Errno) -> io::Error {
    let mut said = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs.as_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        // One message per read: "<e|w|i> <text>".
        let line = String::from_utf8_lossy(&buf[..n]);
        let line = line.trim();
        let text = line.split_once(' ').filter(|(level, _)| level.len() == 1).map_or(line, |(_, text)| text);
        said.push(text.to_string());
    }
    let e = io::Error::from(e);
    if said.is_empty() {
        e
    } else {
        io::Error::new(e.kind(), format!("{e} ({})", said.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// A bad parameter's error carries the filesystem's own explanation.
    #[test]
    fn fs_context_errors_say_what_the_filesystem_said() {
        use rustix::mount::{fsconfig_set_string, fsopen, FsOpenFlags};
        assert!(is_root(), "this test needs root: run it as scripts/test.sh does");
        let fs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).unwrap();
        let errno = fsconfig_set_string(&fs, "mode", "not-a-mode").unwrap_err();
        let e = fs_context_error(&fs, errno);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().ends_with("(tmpfs: Bad value for 'mode')"), "{e}");
        // The log is read once: a second error of the same context says only the errno.
        assert_eq!(fs_context_error(&fs, errno).to_string(), io::Error::from(errno).to_string());
    }

    /// A detached bind made read-only, then attached: writes through it fail,
    /// the source stays writable.
    #[test]
    fn detached_bind_made_readonly_then_attached() {
        assert!(is_root(), "this test needs root: run it as scripts/test.sh does");
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        std::fs::create_dir(&src).unwrap();
        std::fs::create_dir(&dst).unwrap();
        let tree = open_tree(
            rustix::fs::CWD,
            &src,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_RECURSIVE,
        )
        .unwrap();
        let attr = MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() };
        mount_setattr(&tree, Path::new(""), true, &attr).unwrap();
        move_mount(tree.as_fd(), "", rustix::fs::CWD, &dst, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH).unwrap();
        let e = std::fs::write(dst.join("f"), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        std::fs::write(src.join("f"), b"x").unwrap();
        rustix::mount::unmount(&dst, rustix::mount::UnmountFlags::DETACH).unwrap();
    }
}
