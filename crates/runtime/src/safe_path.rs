//! Resolving paths inside a container's root filesystem without ever leaving it.
//!
//! Every path that comes from config.json or from the image is resolved with
//! openat2(RESOLVE_IN_ROOT): symlinks (absolute or `..`) are interpreted as if
//! the rootfs were `/`, so a hostile image cannot redirect a mount, a device
//! node or a masked path onto the host (CVE-2021-30465 and relatives). Missing
//! components are created one at a time relative to an already-resolved
//! directory fd, with O_NOFOLLOW, so a symlink swapped in concurrently is
//! refused rather than followed.
//!
//! The openat2 call is made directly (libc's struct + syscall number) because
//! nix does not wrap it and the few lines here are clearer than pulling in a
//! second syscall crate.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Open `path` (relative to `root`, absolute paths meaning the same) inside `root`.
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    openat2(root, &relative(path), flags | libc::O_CLOEXEC, libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS)
}

/// Open `name` beneath `dir` without following any symlink and without
/// crossing a mount point: used for procfs files whose identity matters.
pub fn open_beneath_no_xdev(dir: BorrowedFd, name: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        flags | libc::O_CLOEXEC,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV,
    )
}

fn openat2(dir: BorrowedFd, path: &Path, flags: i32, resolve: u64) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is a plain C struct; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = resolve;
    if flags & libc::O_CREAT != 0 {
        how.mode = 0o644;
    }
    loop {
        // SAFETY: valid fd, NUL-terminated path and a properly sized open_how.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a fresh fd that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let err = std::io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

/// `path` with its root and any `.` stripped, for use relative to a root fd.
pub fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)).collect();
    // openat2 refuses an empty path; "." names the root itself.
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// What to create at the end of the path when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolve `path` inside `root`, creating missing components (directories,
/// and the last one as `kind`), and return an O_PATH fd to the result.
pub fn ensure_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    let rel = relative(path);
    if let Ok(fd) = open_in_root(root, &rel, libc::O_PATH) {
        return Ok(fd);
    }
    let comps: Vec<_> = rel.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    // Walk from the root: resolve each prefix in-root; create what is missing
    // relative to the fd of the (already safely resolved) parent.
    let mut parent =
        open_in_root(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY).map_err(|e| io_err(path, e))?;
    let mut prefix = PathBuf::new();
    for (i, comp) in comps.iter().enumerate() {
        prefix.push(comp);
        let last = i + 1 == comps.len();
        match open_in_root(root, &prefix, libc::O_PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io_err(path, e)),
        }
        let name = CString::new(comp.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidConfig(format!("path {path:?} contains NUL")))?;
        if last && kind == Kind::File {
            // SAFETY: valid dir fd and NUL-terminated name.
            let fd = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY,
                    0o644,
                )
            };
            if fd < 0 {
                return Err(io_err(path, std::io::Error::last_os_error()));
            }
            // SAFETY: fresh fd from openat; closing it right away.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        } else {
            // SAFETY: valid dir fd and NUL-terminated name.
            let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EEXIST) {
                    // It exists but did not resolve: a dangling symlink. Following it
                    // could mean creating things at an attacker-chosen place.
                    return Err(Error::InvalidConfig(format!(
                        "cannot create {}: {} is a dangling symlink in the rootfs",
                        path.display(),
                        prefix.display()
                    )));
                }
                return Err(io_err(path, e));
            }
        }
        // SAFETY: valid dir fd and NUL-terminated name.
        let fd = unsafe {
            libc::openat(parent.as_raw_fd(), name.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        };
        if fd < 0 {
            return Err(io_err(path, std::io::Error::last_os_error()));
        }
        // SAFETY: fresh fd from openat.
        parent = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok(parent)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io { context: format!("resolve {} in rootfs", path.display()), source }
}

/// The `/proc/self/fd/N` path for an fd: mount(2) and friends act on the
/// exact inode the fd holds, never on a path that could be swapped.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn symlinks_resolve_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../", root.join("up")).unwrap();
        let rfd = std::fs::File::open(&root).unwrap();
        let made = ensure_in_root(rfd.as_fd(), Path::new("/abs/etc/x"), Kind::Dir).unwrap();
        drop(made);
        assert!(root.join("etc/x").is_dir(), "created inside the root");
        ensure_in_root(rfd.as_fd(), Path::new("/up/tmp/y"), Kind::File).unwrap();
        assert!(root.join("tmp/y").is_file());
        assert!(!t.path().join("tmp").exists());
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/nonexistent-xyz", t.path().join("d")).unwrap();
        let rfd = std::fs::File::open(t.path()).unwrap();
        let e = ensure_in_root(rfd.as_fd(), Path::new("/d/sub"), Kind::Dir).unwrap_err();
        assert!(e.to_string().contains("dangling symlink"), "{e}");
    }
}
