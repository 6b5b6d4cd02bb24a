//! fd-relative filesystem operations used to apply and read layers.
//!
//! Nothing here takes a full path from the tar: a directory is reached with
//! openat2 relative to the layer root's fd, re-rooted (`RESOLVE_IN_ROOT`: an
//! absolute symlink or `..` resolves as if the layer root were `/`, as docker
//! applies layers in a chroot, so nothing can lead out of it), and the entry
//! itself is named by a single file name relative to that directory fd with
//! `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, statat, unlinkat, AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::Error;

/// Open a directory the caller names (the layer root) for fd-relative work.
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// How symlinks met while resolving a directory are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Follow symlinks re-rooted at the layer root (entry parents), as
    /// docker does: `lib64 -> /usr/lib` means the layer's own `usr/lib`.
    Rerooted,
    /// Refuse every symlink (hardlink targets: a link must name a real file).
    Refuse,
}

const DIR: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// Open directory `rel` under `root` (the empty path is the root itself).
pub(crate) fn open_dir(root: BorrowedFd, rel: &Path, links: Links) -> io::Result<OwnedFd> {
    let path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    match links {
        Links::Rerooted => sys::fs::open_rerooted(root, path, DIR),
        // Paths here are clean (no `..`): re-rooted or beneath is the same walk.
        // Not `open_beneath_no_symlinks`: its NO_XDEV is for procfs, and a
        // tree read for a commit may hold mount points.
        Links::Refuse => sys::fs::open_rerooted_no_symlinks(root, path, DIR),
    }
}

/// The error for a failed resolution of `entry`'s parent: the escape attempts
/// openat2 detects are reported as unsafe, the rest as plain I/O errors.
pub(crate) fn resolve_error(entry: &Path, e: io::Error) -> Error {
    let path = entry.display().to_string();
    let why = match Errno::from_io_error(&e) {
        Some(Errno::XDEV) => "its path leaves the layer root through a symlink",
        Some(Errno::LOOP) => "its path goes through a symlink",
        Some(Errno::NOTDIR) => "a parent in its path is not a directory",
        _ => return Error::Io { context: format!("layer entry {path:?}"), source: e },
    };
    Error::UnsafeLayer { path, why: why.into() }
}

/// Open directory `rel` under `root` (re-rooted), creating missing
/// components (0755, owned by the caller) one at a time relative to the
/// already-resolved parent (`sys::fs::ensure_rerooted`). A dangling symlink
/// on the way is refused: creating its target would write where the layer
/// points rather than where the tar names.
pub(crate) fn ensure_dir(root: BorrowedFd, rel: &Path, entry: &Path) -> Result<OwnedFd, Error> {
    match open_dir(root, rel, Links::Rerooted) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(resolve_error(entry, e)),
    }
    match sys::fs::ensure_rerooted(root, rel, sys::fs::Kind::Dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            return Err(Error::UnsafeLayer { path: entry.display().to_string(), why: e.to_string() })
        }
        Err(e) => return Err(resolve_error(entry, e)),
    }
    // ensure_rerooted hands back an O_PATH fd; entries need a real one.
    open_dir(root, rel, Links::Rerooted).map_err(|e| resolve_error(entry, e))
}

/// lstat of `name` in `dir`; `None` when it does not exist.
pub(crate) fn lstat(dir: BorrowedFd, name: &OsStr) -> io::Result<Option<Stat>> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Open child directory `name` of `dir` without following a symlink.
pub(crate) fn open_child_dir(dir: BorrowedFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

/// The names in a directory (without `.` and `..`), sorted bytewise so that
/// everything built from a listing is deterministic.
pub(crate) fn list(dir: BorrowedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// `rm -rf` of `name` in `dir`, never following symlinks. Missing is fine.
pub(crate) fn remove_all(dir: BorrowedFd, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let child = open_child_dir(dir, name)?;
    for n in list(child.as_fd())? {
        remove_all(child.as_fd(), &n)?;
    }
    match unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A path naming `name` in `dir` through procfs, for calls that only take
/// paths (the l*xattr family): the directory is pinned by the fd, and the last
/// component is not followed by the l* calls.
pub(crate) fn proc_path(dir: BorrowedFd, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

/// Whether we may create device nodes and give files away (euid 0).
pub(crate) fn privileged() -> bool {
    rustix::process::geteuid().is_root()
}
