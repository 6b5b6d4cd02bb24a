//! CVE-2019-5736: the runtime binary must not be writable from a container.
//!
//! The container's init and `exec`'s child are copies of this process until
//! they execve the container's program. If that program is a script whose
//! interpreter is `/proc/self/exe`, the kernel runs *this binary* inside the
//! container; a container process can then open /proc/<pid>/exe of it and,
//! once it exited, reopen that fd for writing and overwrite the runtime on
//! the host. So before `create` or `exec` fork anything, we re-execute
//! ourselves from a copy of the binary that cannot be written: the same file
//! through a detached read-only bind mount (cheap; runc >= 1.2 does the
//! same with an overlay), or failing that a sealed memfd copy (runc 1.0/1.1).

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::error::{Context, Error, Result};

/// Re-exec the current process (same argv and environment, same pid) from a
/// non-writable copy of its binary, unless it already runs from one.
/// Replaces the process: call it before anything with side effects.
pub fn ensure_protected_exe() -> Result<()> {
    let exe = open_ro(Path::new("/proc/self/exe")).context(|| "open /proc/self/exe".into())?;
    if is_protected(&exe) {
        return Ok(());
    }
    let target = match ro_bind_clone(&exe) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!("read-only clone of the runtime binary: {e}; using a sealed memfd");
            sealed_memfd(&exe)?
        }
    };
    // Never loop: only exec something the check above will accept next time.
    if !is_protected(&target) {
        return Err(Error::Other("could not make a read-only copy of the runtime binary".into()));
    }
    let cstrs = |v: Vec<OsString>| -> Result<Vec<CString>> {
        v.into_iter()
            .map(|s| CString::new(s.into_vec()).map_err(|_| Error::Other("NUL in argv or environment".into())))
            .collect()
    };
    let args = cstrs(std::env::args_os().collect())?;
    let env = cstrs(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    )?;
    let e = nix::unistd::fexecve(&target, &args, &env).unwrap_err();
    Err(Error::Other(format!("re-exec the runtime from a read-only copy: {e}")))
}

fn open_ro(p: &Path) -> std::io::Result<OwnedFd> {
    Ok(std::fs::File::open(p)?.into())
}

/// On a read-only mount, or a memfd sealed against writes.
fn is_protected(fd: &OwnedFd) -> bool {
    let ro = nix::sys::statvfs::fstatvfs(fd).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    // SAFETY: F_GET_SEALS on a valid fd; fails with EINVAL on non-memfd files.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    ro || (seals >= 0 && seals & libc::F_SEAL_WRITE != 0)
}

/// The binary through a private, read-only bind mount of its directory that
/// is never attached anywhere (open_tree + mount_setattr, Linux >= 5.12).
fn ro_bind_clone(exe: &OwnedFd) -> std::io::Result<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe")?;
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
    };
    let cdir = CString::new(dir.as_os_str().as_bytes())?;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    // SAFETY: open_tree with a NUL-terminated path; returns a new fd or -1.
    let tree = unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cdir.as_ptr(), OPEN_TREE_CLONE | libc::O_CLOEXEC as u32)
    };
    if tree < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd from the kernel.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 1;
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: mount_setattr on our detached tree with a correctly sized struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd: OwnedFd = nix::fcntl::openat(
        &tree,
        name,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )?;
    // The path may have been replaced since we started: it must be our binary.
    let (a, b) = (nix::sys::stat::fstat(exe)?, nix::sys::stat::fstat(&fd)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(std::io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(fd)
}

/// A copy of the binary in a memfd sealed against any change.
fn sealed_memfd(exe: &OwnedFd) -> Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10; // Linux >= 6.3 with vm.memfd_noexec
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a NUL-terminated name.
    let mut fd = unsafe { libc::memfd_create(c"berth-runtime".as_ptr(), flags | MFD_EXEC) };
    if fd < 0 {
        // SAFETY: as above, for kernels that do not know MFD_EXEC.
        fd = unsafe { libc::memfd_create(c"berth-runtime".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "memfd_create".into());
    }
    // SAFETY: a fresh fd from the kernel.
    let mut mem = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut src = std::fs::File::from(exe.try_clone().context(|| "dup /proc/self/exe".into())?);
    std::io::copy(&mut src, &mut mem).context(|| "copy the runtime binary".into())?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on our memfd.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "seal the runtime binary copy".into());
    }
    Ok(mem.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reopening the fd for writing (what the exploit does through
    /// /proc/self/fd/N) must fail for both kinds of copy.
    fn assert_unwritable(fd: &OwnedFd) {
        assert!(is_protected(fd));
        let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let e = std::fs::OpenOptions::new().write(true).truncate(true).open(&p);
        let e2 = std::fs::OpenOptions::new().append(true).open(&p).map(|mut f| std::io::Write::write_all(&mut f, b"x"));
        assert!(e.is_err() && !matches!(e2, Ok(Ok(()))), "{e:?} {e2:?}");
    }

    #[test]
    fn copies_are_unwritable() {
        let exe = open_ro(Path::new("/proc/self/exe")).unwrap();
        assert_unwritable(&sealed_memfd(&exe).unwrap());
        if nix::unistd::geteuid().is_root() {
            let ro = ro_bind_clone(&exe).unwrap();
            assert_unwritable(&ro);
            let (a, b) = (nix::sys::stat::fstat(&exe).unwrap(), nix::sys::stat::fstat(&ro).unwrap());
            assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino), "not the same binary");
        }
    }
}
