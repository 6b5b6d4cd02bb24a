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
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{
    fcntl_add_seals, fcntl_get_seals, fstat, fstatvfs, MemfdFlags, Mode, OFlags, SealFlags, StatVfsMountFlags,
};
use rustix::io::Errno;
use rustix::mount::{open_tree, MountAttrFlags, OpenTreeFlags};

use crate::error::{Context, Error, Result};

/// Re-exec the current process (same argv and environment, same pid) from a
/// non-writable copy of its binary, unless it already runs from one.
/// Replaces the process: call it before anything with side effects.
pub fn ensure_protected_exe() -> Result<()> {
    let exe = open_self()?;
    if is_protected(&exe) {
        return Ok(());
    }
    // The mount (if the copy is on one) goes with the exec.
    let target = protected_copy(&exe, &self_path()?)?.file;
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
    let e = sys::process::fexecve(target.as_fd(), &args, &env);
    Err(Error::Other(format!("re-exec the runtime from a read-only copy: {e}")))
}

/// A copy of a binary that cannot be written, to execute.
#[derive(Debug)]
pub struct Protected {
    pub file: OwnedFd,
    /// The detached read-only mount `file` is on, if it is on one made for
    /// it. Closing this fd dissolves the mount, and that waits for an RCU
    /// grace period (~0.1 ms): whoever executes `file` can hand it to the
    /// program it starts, to close when it costs nobody (berth's monitor,
    /// after its container's exit is told).
    pub mount: Option<OwnedFd>,
}

/// This process's binary, as a copy that cannot be written: to execute a
/// helper that forks container processes (berth's monitor) from it.
pub fn protected_exe() -> Result<Protected> {
    let exe = open_self()?;
    if is_protected(&exe) {
        return Ok(Protected { file: exe, mount: None });
    }
    protected_copy(&exe, &self_path()?)
}

/// The binary at `path`, as a copy that cannot be written: to execute a
/// helper of this binary's that forks container processes (berth's
/// monitor, `berth-monitor`).
pub fn protected_binary(path: &Path) -> Result<Protected> {
    // The file itself: the read-only clone opens its name in its directory
    // without following a link (an installed symlink would otherwise cost
    // a memfd copy of the whole binary at every start).
    let path = std::fs::canonicalize(path).context(|| format!("resolving {}", path.display()))?;
    let exe = open_ro(&path).context(|| format!("open {}", path.display()))?;
    if is_protected(&exe) {
        return Ok(Protected { file: exe, mount: None });
    }
    protected_copy(&exe, &path)
}

fn open_self() -> Result<OwnedFd> {
    open_ro(Path::new("/proc/self/exe")).context(|| "open /proc/self/exe".into())
}

fn self_path() -> Result<std::path::PathBuf> {
    std::fs::read_link("/proc/self/exe").context(|| "readlink /proc/self/exe".into())
}

/// A copy of `exe`, opened at `path`, that cannot be written.
fn protected_copy(exe: &OwnedFd, path: &Path) -> Result<Protected> {
    let target = match ro_bind_clone(exe, path) {
        Ok((file, mount)) => Protected { file, mount: Some(mount) },
        Err(e) => {
            tracing::debug!("read-only clone of the runtime binary: {e}; using a sealed memfd");
            Protected { file: sealed_memfd(exe)?, mount: None }
        }
    };
    // Never loop: only exec something the check above will accept next time.
    if !is_protected(&target.file) {
        return Err(Error::Other("could not make a read-only copy of the runtime binary".into()));
    }
    Ok(target)
}

/// Whether this process already runs from a copy of its binary that
/// cannot be written (so [`ensure_protected_exe`] would not re-exec it).
pub fn is_running_protected() -> bool {
    open_ro(Path::new("/proc/self/exe")).is_ok_and(|exe| is_protected(&exe))
}

fn open_ro(p: &Path) -> std::io::Result<OwnedFd> {
    Ok(std::fs::File::open(p)?.into())
}

/// On a read-only mount, or a memfd sealed against writes.
fn is_protected(fd: &OwnedFd) -> bool {
    let ro = fstatvfs(fd).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY));
    // Fails (EINVAL) on anything but a memfd.
    ro || fcntl_get_seals(fd).is_ok_and(|seals| seals.contains(SealFlags::WRITE))
}

/// The binary `exe`, at `path`, through a private, read-only bind mount of
/// its directory that is never attached anywhere (open_tree +
/// mount_setattr, Linux >= 5.12), and that mount (see [`Protected::mount`]).
fn ro_bind_clone(exe: &OwnedFd, path: &Path) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(Errno::NOENT.into()),
    };
    let tree = open_tree(rustix::fs::CWD, dir, OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)?;
    let attr = sys::mount::MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() };
    sys::mount::mount_setattr(&tree, Path::new(""), false, &attr)?;
    let fd = rustix::fs::openat(&tree, name, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())?;
    // The path may have been replaced since `exe` was opened: it must be that binary.
    let (a, b) = (fstat(exe)?, fstat(&fd)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(Errno::STALE.into());
    }
    Ok((fd, tree))
}

/// A copy of the binary in a memfd sealed against any change.
fn sealed_memfd(exe: &OwnedFd) -> Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC: Linux >= 6.3 with vm.memfd_noexec; older kernels refuse the flag.
    let fd = rustix::fs::memfd_create("berth-runtime", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("berth-runtime", flags))
        .context(|| "memfd_create".into())?;
    let mut mem = std::fs::File::from(fd);
    let mut src = std::fs::File::from(exe.try_clone().context(|| "dup /proc/self/exe".into())?);
    std::io::copy(&mut src, &mut mem).context(|| "copy the runtime binary".into())?;
    fcntl_add_seals(&mem, SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE)
        .context(|| "seal the runtime binary copy".into())?;
    Ok(mem.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reopening the fd for writing (what the exploit does through
    /// /proc/self/fd/N) must fail for both kinds of copy.
    fn assert_unwritable(fd: &OwnedFd) {
        assert!(is_protected(fd));
        let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
        let e = std::fs::OpenOptions::new().write(true).truncate(true).open(&p);
        let e2 = std::fs::OpenOptions::new().append(true).open(&p).map(|mut f| std::io::Write::write_all(&mut f, b"x"));
        assert!(e.is_err() && !matches!(e2, Ok(Ok(()))), "{e:?} {e2:?}");
    }

    #[test]
    fn copies_are_unwritable() {
        let exe = open_ro(Path::new("/proc/self/exe")).unwrap();
        assert_unwritable(&sealed_memfd(&exe).unwrap());
        if rustix::process::geteuid().is_root() {
            let (ro, _mount) = ro_bind_clone(&exe, &self_path().unwrap()).unwrap();
            assert_unwritable(&ro);
            let (a, b) = (fstat(&exe).unwrap(), fstat(&ro).unwrap());
            assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino), "not the same binary");
            // Named through a symlink: still the read-only clone of the
            // file (on a read-only mount), not a memfd copy.
            let dir = tempfile::tempdir().unwrap();
            let link = dir.path().join("helper");
            std::os::unix::fs::symlink(self_path().unwrap(), &link).unwrap();
            let via_link = protected_binary(&link).unwrap().file;
            assert_unwritable(&via_link);
            assert!(fcntl_get_seals(&via_link).is_err(), "a memfd copy, not the clone");
            let c = fstat(&via_link).unwrap();
            assert_eq!((a.st_dev, a.st_ino), (c.st_dev, c.st_ino), "not the same binary");
        }
    }
}
