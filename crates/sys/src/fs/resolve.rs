//! Opening paths that come from images, configs or users under a root
//! directory, without ever leaving it. Two semantics, named as such:
//!
//! - **re-rooted** ([`open_rerooted`], [`ensure_rerooted`]): openat2 with
//!   `RESOLVE_IN_ROOT`. Absolute symlinks and `..` are interpreted as if the
//!   root were `/`, exactly as the path would resolve inside the container
//!   (what docker and runc do for mount destinations, and what an image's own
//!   `/etc/passwd` lookup means).
//! - **beneath** ([`open_beneath`], [`open_beneath_no_symlinks`]): openat2 with
//!   `RESOLVE_BENEATH`. Anything that would step out of the root (an absolute
//!   symlink, too many `..`) is an error (EXDEV) instead of being re-rooted.
//!
//! Magic links (`/proc/self/fd/N` and friends) are never followed. Missing
//! components are created one at a time relative to an already-resolved
//! directory fd, with O_NOFOLLOW, so a symlink swapped in concurrently is
//! refused rather than followed.
//!
//! openat2 needs Linux 5.6; every kernel berth supports has it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{mkdirat, openat, openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Open `path` under `root`, re-rooting absolute symlinks and `..` at `root`.
/// `path` may be absolute; it means the same as relative to `root`. O_CLOEXEC
/// is always added.
pub fn open_rerooted(root: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    open(root, path, flags, ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS)
}

/// Open `path` under `root` (re-rooted `..`) following no symlink at all
/// (ELOOP): for a place whose every component must be a real directory of
/// the root, checked and opened in one lookup, so nothing can be swapped in
/// between a check and the use (where procfs and sysfs are mounted).
pub fn open_rerooted_no_symlinks(root: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    open(root, path, flags, ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS)
}

/// Open `path` under `dir`, refusing (EXDEV) anything that would leave it.
pub fn open_beneath(dir: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    open(dir, path, flags, ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS)
}

/// Open `path` beneath `dir` following no symlink at all and crossing no
/// mount point: for procfs and cgroupfs files whose identity matters
/// (a config that over-mounts or symlinks part of /proc cannot redirect it).
pub fn open_beneath_no_symlinks(dir: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    open(
        dir,
        path,
        flags,
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    )
}

fn open(dir: BorrowedFd, path: &Path, flags: OFlags, resolve: ResolveFlags) -> io::Result<OwnedFd> {
    let rel = relative(path);
    let mode = if flags.contains(OFlags::CREATE) { Mode::from_raw_mode(0o644) } else { Mode::empty() };
    // A rename anywhere on the system during a `..` step makes the kernel
    // ask for a retry (EAGAIN). Bounded, as libpathrs bounds it: renames
    // kept up without pause (any container can make them) must end in an
    // error, not in a create that never returns.
    let mut last = Errno::AGAIN;
    for _ in 0..256 {
        match openat2(dir, &rel, flags | OFlags::CLOEXEC, mode, resolve) {
            Err(e @ (Errno::AGAIN | Errno::INTR)) => last = e,
            r => return r.map_err(io::Error::from),
        }
    }
    Err(last.into())
}

/// `path` with its root and any `.` stripped, for use relative to a root fd
/// (`.` for the root itself: openat2 refuses an empty path).
pub fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)).collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// `path` made absolute with `.` and `..` resolved by name, `..` stopping
/// at `/` (no link is read: for matching a mount's destination as podman
/// does, or naming a build's COPY destination).
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// What [`ensure_rerooted`] creates at the end of the path when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolve `path` under `root` (re-rooted), creating what is missing:
/// directories (mode 0755) along the way and the last component as `kind`
/// (files mode 0644, empty). Returns an O_PATH fd to the result.
///
/// A component that exists but does not resolve (a dangling symlink) is an
/// error: creating through it would create at a place the image chose.
pub fn ensure_rerooted(root: BorrowedFd, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
    let rel = relative(path);
    if let Ok(fd) = open_rerooted(root, &rel, OFlags::PATH) {
        return Ok(fd);
    }
    let comps: Vec<Component> = rel.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    let mut parent = open_rerooted(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?;
    let mut prefix = PathBuf::new();
    for (i, comp) in comps.iter().enumerate() {
        prefix.push(comp);
        match open_rerooted(root, &prefix, OFlags::PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let name = comp.as_os_str();
        let last = i + 1 == comps.len();
        let made = if last && kind == Kind::File {
            openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::WRONLY,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        } else {
            mkdirat(&parent, name, Mode::from_raw_mode(0o755))
        };
        match made {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a dangling symlink in the root", prefix.display()),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        parent = openat(&parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    }
    Ok(parent)
}

/// The `/proc/self/fd/N` path of an fd: mount(2) and friends then act on the
/// exact inode the fd holds, never on a path that could be swapped.
pub fn fd_path(fd: impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn rerooted_symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        symlink("../../../../", root.join("up")).unwrap();
        let rfd = std::fs::File::open(&root).unwrap();
        ensure_rerooted(rfd.as_fd(), Path::new("/abs/etc/x"), Kind::Dir).unwrap();
        assert!(root.join("etc/x").is_dir(), "created inside the root");
        ensure_rerooted(rfd.as_fd(), Path::new("/up/tmp/y"), Kind::File).unwrap();
        assert!(root.join("tmp/y").is_file());
        assert!(!t.path().join("tmp").exists());
        // The same symlinks beneath: refused.
        let e = open_beneath(rfd.as_fd(), Path::new("abs/etc"), OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
        let e = open_beneath(rfd.as_fd(), Path::new("up/tmp"), OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
        open_beneath(rfd.as_fd(), Path::new("real"), OFlags::PATH).unwrap();
        let e = open_beneath_no_symlinks(rfd.as_fd(), Path::new("abs"), OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        // No symlink at all, re-rooted: `..` stays at the root, links are refused.
        let e = open_rerooted_no_symlinks(rfd.as_fd(), Path::new("/abs/etc"), OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        open_rerooted_no_symlinks(rfd.as_fd(), Path::new("/../../real"), OFlags::PATH).unwrap();
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let t = tempfile::tempdir().unwrap();
        symlink("/nonexistent-xyz", t.path().join("d")).unwrap();
        let rfd = std::fs::File::open(t.path()).unwrap();
        let e = ensure_rerooted(rfd.as_fd(), Path::new("/d/sub"), Kind::Dir).unwrap_err();
        assert!(e.to_string().contains("dangling symlink"), "{e}");
    }

    #[test]
    fn relative_strips_root_and_dots() {
        assert_eq!(relative(Path::new("/a/./b/../c")), PathBuf::from("a/b/../c"));
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
    }
}
