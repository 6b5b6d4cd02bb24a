//! The changes between two whole root filesystems (`diff A B`): what `new`
//! adds, changes or deletes against `old`, by containers/storage's rules
//! (`ChangesDirs`): an entry changed if its type, mode, owner or device
//! differ, or, for anything but a directory, its size or mtime, or its
//! file capabilities; a deleted directory is one entry (not its content);
//! a directory with a change inside it is itself changed (but `/`).
//! podman lists them in Go map order, which changes from run to run; berth
//! sorts them by path.
//!
//! Both trees are walked by fds opened beneath their roots without
//! following symlinks: a running container may change its tree meanwhile.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, Stat};

use crate::error::{Context, Result};
use crate::listing::{Change, ChangeKind};

/// `new`'s changes against `old`, sorted by path; paths `ignore` names
/// (absolute, as in the container) are left out, after directories were
/// marked changed for what is inside them (as podman leaves out the mount
/// points the runtime makes).
pub fn between(new: &Path, old: &Path, ignore: &dyn Fn(&str) -> bool) -> Result<Vec<Change>> {
    let open = |p: &Path| {
        rustix::fs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .context(|| format!("open {}", p.display()))
    };
    let (new_root, old_root) = (open(new)?, open(old)?);
    let mut out = Vec::new();
    walk(new_root.as_fd(), Some(old_root.as_fd()), "", &mut out)?;
    // A directory with a change inside it, unless it is itself added or
    // changed (or `/`), is changed.
    let listed: BTreeSet<String> = out.iter().map(|c| c.path.clone()).collect();
    let mut parents = BTreeSet::new();
    for c in &out {
        for dir in Path::new(&c.path).ancestors().skip(1).take_while(|d| *d != Path::new("/")) {
            let dir = dir.to_string_lossy().into_owned();
            if !listed.contains(&dir) {
                parents.insert(dir);
            }
        }
    }
    out.extend(parents.into_iter().map(|path| Change { path, kind: ChangeKind::Changed }));
    out.retain(|c| !ignore(&c.path));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Compare directory `rel` of the new tree (`new`) with the old one's
/// (`old`, `None` when the old tree has no directory there).
fn walk(new: BorrowedFd, old: Option<BorrowedFd>, rel: &str, out: &mut Vec<Change>) -> Result<()> {
    let new_names = names(new, rel)?;
    let mut old_names = match old {
        Some(fd) => names(fd, rel)?,
        None => BTreeSet::new(),
    };
    for name in &new_names {
        let path = format!("{rel}/{}", name.to_string_lossy());
        let n = stat(new, name, &path)?;
        let o = match old.filter(|_| old_names.remove(name)) {
            Some(fd) => Some((fd, stat(fd, name, &path)?)),
            None => None,
        };
        match &o {
            None => out.push(Change { path: path.clone(), kind: ChangeKind::Added }),
            Some((fd, o)) if differs(&n, o) || capability(new, name, &n)? != capability(*fd, name, o)? => {
                out.push(Change { path: path.clone(), kind: ChangeKind::Changed })
            }
            Some(_) => {}
        }
        if FileType::from_raw_mode(n.st_mode) == FileType::Directory {
            let new_child = open_dir(new, name, &path)?;
            let old_child = match &o {
                Some((fd, o)) if FileType::from_raw_mode(o.st_mode) == FileType::Directory => {
                    Some(open_dir(*fd, name, &path)?)
                }
                _ => None,
            };
            walk(new_child.as_fd(), old_child.as_ref().map(|f| f.as_fd()), &path, out)?;
        }
    }
    for name in old_names {
        out.push(Change { path: format!("{rel}/{}", name.to_string_lossy()), kind: ChangeKind::Deleted });
    }
    Ok(())
}

/// containers/storage's `statDifferent`.
fn differs(n: &Stat, o: &Stat) -> bool {
    if n.st_mode != o.st_mode || n.st_uid != o.st_uid || n.st_gid != o.st_gid || n.st_rdev != o.st_rdev {
        return true;
    }
    FileType::from_raw_mode(n.st_mode) != FileType::Directory
        && (n.st_size != o.st_size || !same_time((n.st_mtime, n.st_mtime_nsec), (o.st_mtime, o.st_mtime_nsec)))
}

/// containers/storage's `sameFsTimeSpec`: a zero nanosecond part matches any
/// (a layer tar keeps whole seconds only, so a committed file has none).
fn same_time<S: PartialEq, N: PartialEq + Default>(a: (S, N), b: (S, N)) -> bool {
    a.0 == b.0 && (a.1 == b.1 || a.1 == N::default() || b.1 == N::default())
}

/// A regular file's `security.capability` (empty for anything else).
fn capability(dir: BorrowedFd, name: &OsStr, st: &Stat) -> Result<Vec<u8>> {
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(Vec::new());
    }
    let fd = openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
        .context(|| format!("open {}", name.to_string_lossy()))?;
    let mut buf = vec![0u8; 1024];
    match rustix::fs::fgetxattr(&fd, "security.capability", &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(_) => Ok(Vec::new()),
    }
}

fn names(dir: BorrowedFd, rel: &str) -> Result<BTreeSet<OsString>> {
    let mut out = BTreeSet::new();
    let list = Dir::read_from(dir).context(|| format!("list {}/", rel))?;
    for entry in list {
        let entry = entry.context(|| format!("list {}/", rel))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.insert(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(out)
}

fn stat(dir: BorrowedFd, name: &OsStr, path: &str) -> Result<Stat> {
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).context(|| format!("stat {path}"))
}

fn open_dir(dir: BorrowedFd, name: &OsStr, path: &str) -> Result<OwnedFd> {
    openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .context(|| format!("open {path}"))
}
