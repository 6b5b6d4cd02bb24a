//! Applying a layer tar onto a directory (see the module docs for the rules).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    chmodat, chownat, fchmod, fchown, fsetxattr, futimens, linkat, makedev, mkdirat, mknodat, openat, symlinkat,
    utimensat, AtFlags, FileType, Gid, Mode as FileMode, OFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use tar::EntryType;

use super::fsops::{self, Links};
use super::stream::{self, Hashing};
use super::whiteout::{self, Name, OVERLAY_OPAQUE_XATTR};
use super::{paths, Applied, Mode};
use crate::error::{Context, Error, Result};

/// Apply the layer read from `reader` (plain, gzip or zstd tar) onto `target`.
///
/// On error `target` may be partially written: apply into a temporary
/// directory and rename it into place on success.
pub fn apply<R: Read>(reader: R, target: &Path, mode: Mode) -> Result<Applied> {
    let root = fsops::open_root(target).context(|| format!("open layer target {}", target.display()))?;
    let mut raw = Hashing::new(reader);
    let (compression, diff_id, size) = {
        let (compression, tar_stream) = stream::decompress(&mut raw)?;
        let mut tar_stream = Hashing::new(tar_stream);
        let mut applier = Applier::new(root.as_fd(), mode);
        applier.run(&mut tar::Archive::new(&mut tar_stream))?;
        // The tar reader stops quietly at EOF on a header boundary; a layer that
        // ends there was cut short (writers always end with zero blocks).
        if tar_stream.hit_eof() {
            return Err(Error::InvalidLayer("truncated tar: the stream ends without an end-of-archive marker".into()));
        }
        applier.finish()?;
        // diff_id covers the whole tar, including the padding after the marker.
        let (diff_id, size) = tar_stream.drain("reading the end of the layer tar")?;
        (compression, diff_id, size)
    };
    let (digest, compressed_size) = raw.drain("reading the end of the layer blob")?;
    Ok(Applied { diff_id, digest, size, compressed_size, compression })
}

/// Ownership, permissions, times and xattrs of one entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    times: Timestamps,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Applier<'a> {
    root: BorrowedFd<'a>,
    mode: Mode,
    privileged: bool,
    /// Directory times are set last: creating entries inside a directory
    /// updates its mtime.
    dir_times: Vec<(PathBuf, Timestamps)>,
    /// What this layer wrote, with all ancestors: an opaque marker in flatten
    /// mode removes only what came from below.
    written: HashSet<PathBuf>,
    /// The parent directory of the last regular file written, and its fd.
    last_dir: Option<(PathBuf, OwnedFd)>,
}

fn invalid(rel: &Path, why: impl std::fmt::Display) -> Error {
    Error::InvalidLayer(format!("entry {:?}: {why}", rel.display().to_string()))
}

fn unsafe_entry(rel: &Path, why: impl Into<String>) -> Error {
    Error::UnsafeLayer { path: rel.display().to_string(), why: why.into() }
}

fn io_error(rel: &Path, what: &str, e: impl Into<io::Error>) -> Error {
    Error::Io { context: format!("layer entry {:?}: {what}", rel.display().to_string()), source: e.into() }
}

impl<'a> Applier<'a> {
    fn new(root: BorrowedFd<'a>, mode: Mode) -> Self {
        Applier {
            root,
            mode,
            privileged: fsops::privileged(),
            dir_times: Vec::new(),
            written: HashSet::new(),
            last_dir: None,
        }
    }

    fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<()> {
        let entries = archive.entries().map_err(|e| Error::InvalidLayer(format!("reading tar: {e}")))?;
        let mut last = String::from("(start of archive)");
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::InvalidLayer(format!("reading tar after entry {last:?}: {e}")))?;
            let raw = entry.path_bytes().into_owned();
            last = String::from_utf8_lossy(&raw).into_owned();
            let rel = paths::clean(&raw).map_err(|why| Error::UnsafeLayer { path: last.clone(), why })?;
            self.entry(&mut entry, &rel)?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>, rel: &Path) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let Some((parent, name)) = paths::split(rel) else {
            // `./` itself is skipped, as docker and containers/storage skip
            // it: the target's own owner and mode (the driver's) stay the
            // root's, so a layer cannot close the container's `/` to its
            // users (a tar made in a 0700 temp dir would) or open it up.
            return Ok(());
        };
        match whiteout::classify(name) {
            Name::Opaque => return self.opaque(parent, rel),
            Name::Whiteout(hidden) => return self.whiteout(parent, hidden, rel),
            Name::AufsMeta => return Ok(()),
            Name::Plain => {}
        }
        if matches!(kind, EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse) {
            return self.file(entry, parent, name, rel);
        }
        // Anything but a new regular file may change directories: forget the cached parent.
        self.last_dir = None;
        let dir = fsops::ensure_dir(self.root, parent, rel)?;
        let dir = dir.as_fd();
        let meta = read_meta(entry, rel)?;
        match kind {
            EntryType::Directory => {
                let existing = fsops::lstat(dir, name).map_err(|e| io_error(rel, "lstat", e))?;
                // A directory over a directory merges; over anything else replaces.
                if !existing.as_ref().is_some_and(fsops::is_dir) {
                    self.clear(dir, name, rel)?;
                    mkdirat(dir, name, FileMode::from_raw_mode(0o700)).map_err(|e| io_error(rel, "mkdir", e))?;
                }
                self.set_meta(dir, name, rel, &meta, kind)?;
                self.dir_times.push((rel.to_path_buf(), meta.times));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                unreachable!("regular files are handled by Applier::file")
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| invalid(rel, "symlink without a target"))?;
                let target = OsStr::from_bytes(&target).to_os_string();
                self.clear(dir, name, rel)?;
                symlinkat(target.as_os_str(), dir, name).map_err(|e| io_error(rel, "symlink", e))?;
                self.set_meta(dir, name, rel, &meta, kind)?;
            }
            EntryType::Link => self.hardlink(entry, dir, name, rel)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if file_type != FileType::Fifo && !self.privileged {
                    tracing::warn!(entry = %rel.display(), "skipping device node: creating devices needs root");
                    return Ok(());
                }
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                self.clear(dir, name, rel)?;
                mknodat(dir, name, file_type, FileMode::from_raw_mode(0o600), makedev(major, minor))
                    .map_err(|e| io_error(rel, "mknod", e))?;
                self.set_meta(dir, name, rel, &meta, kind)?;
            }
            other => return Err(invalid(rel, format!("unsupported tar entry type {other:?}"))),
        }
        self.mark_written(rel);
        Ok(())
    }

    /// A regular file: created exclusively (whatever was at `name` is removed
    /// first only when there is something), written, and given its metadata
    /// through its fd. Files of one directory come one after another in a
    /// tar, so the parent's fd is kept for the next entry; only creating new
    /// files happens while it is kept, which cannot change the directories.
    fn file<R: Read>(&mut self, entry: &mut tar::Entry<R>, parent: &Path, name: &OsStr, rel: &Path) -> Result<()> {
        let dir = match self.last_dir.take() {
            Some((p, fd)) if p == parent => fd,
            _ => fsops::ensure_dir(self.root, parent, rel)?,
        };
        let meta = read_meta(entry, rel)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match openat(&dir, name, flags, FileMode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear(dir.as_fd(), name, rel)?;
                openat(&dir, name, flags, FileMode::from_raw_mode(0o600)).map_err(|e| io_error(rel, "create", e))?
            }
            Err(e) => return Err(io_error(rel, "create", e)),
        };
        let mut file = File::from(fd);
        let want = entry.size();
        let got = copy_data(entry, &mut file, rel)?;
        if got != want {
            return Err(invalid(rel, format!("file data truncated ({got} of {want} bytes)")));
        }
        self.set_file_meta(&file, rel, &meta)?;
        drop(file);
        self.mark_written(rel);
        self.last_dir = Some((parent.to_path_buf(), dir));
        Ok(())
    }

    /// [`set_meta`](Self::set_meta) for a regular file we hold open.
    fn set_file_meta(&self, file: &File, rel: &Path, m: &Meta) -> Result<()> {
        match fchown(file, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid))) {
            Ok(()) => {}
            Err(Errno::PERM) if !self.privileged => {}
            Err(e) => return Err(io_error(rel, "chown", e)),
        }
        fchmod(file, FileMode::from_raw_mode(m.mode & 0o7777)).map_err(|e| io_error(rel, "chmod", e))?;
        for (key, value) in &m.xattrs {
            if let Err(e) = fsetxattr(file, key.as_os_str(), value, XattrFlags::empty()) {
                tracing::warn!(entry = %rel.display(), xattr = ?key, error = %e, "xattr not kept");
            }
        }
        futimens(file, &m.times).map_err(|e| io_error(rel, "set times", e))
    }

    /// Remove whatever is at `name` so a new entry can take its place.
    fn clear(&self, dir: BorrowedFd, name: &OsStr, rel: &Path) -> Result<()> {
        fsops::remove_all(dir, name).map_err(|e| io_error(rel, "remove existing entry", e))
    }

    fn mark_written(&mut self, rel: &Path) {
        if self.mode == Mode::Flatten {
            for a in rel.ancestors() {
                if !self.written.insert(a.to_path_buf()) {
                    break;
                }
            }
        }
    }

    fn hardlink<R: Read>(&mut self, entry: &tar::Entry<R>, dir: BorrowedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let raw = entry.link_name_bytes().ok_or_else(|| invalid(rel, "hardlink without a target"))?;
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let target =
            paths::clean(&raw).map_err(|why| unsafe_entry(rel, format!("hardlink target {shown:?}: {why}")))?;
        let Some((tparent, tname)) = paths::split(&target) else {
            return Err(unsafe_entry(rel, "hardlink to the layer root"));
        };
        if target == rel {
            return Ok(());
        }
        // A hardlink must name a file already in this tree by its real path: a
        // symlink anywhere on the way could point it at a file we must not link.
        let tdir = fsops::open_dir(self.root, tparent, Links::Refuse).map_err(|e| match Errno::from_io_error(&e) {
            Some(Errno::LOOP) => unsafe_entry(rel, format!("hardlink target {shown:?} goes through a symlink")),
            Some(Errno::NOENT | Errno::NOTDIR) => invalid(rel, format!("hardlink target {shown:?} does not exist")),
            _ => io_error(rel, "resolve hardlink target", e),
        })?;
        match fsops::lstat(tdir.as_fd(), tname).map_err(|e| io_error(rel, "lstat hardlink target", e))? {
            None => return Err(invalid(rel, format!("hardlink target {shown:?} does not exist"))),
            Some(st) if fsops::is_dir(&st) => {
                return Err(unsafe_entry(rel, format!("hardlink target {shown:?} is a directory")))
            }
            Some(_) => {}
        }
        self.clear(dir, name, rel)?;
        // No AT_SYMLINK_FOLLOW: a symlink target is linked as the symlink itself.
        linkat(tdir.as_fd(), tname, dir, name, AtFlags::empty()).map_err(|e| io_error(rel, "link", e))
    }

    fn whiteout(&mut self, parent: &Path, hidden: &OsStr, rel: &Path) -> Result<()> {
        if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.as_bytes().contains(&b'/') {
            return Err(unsafe_entry(rel, "whiteout of an invalid name"));
        }
        match self.mode {
            Mode::Flatten => {
                // Nothing below to hide when the directory does not exist.
                let Some(dir) = self.existing_dir(parent, rel)? else { return Ok(()) };
                self.clear(dir.as_fd(), hidden, rel)
            }
            Mode::Overlay => {
                if !self.privileged {
                    return Err(io_error(rel, "overlay whiteouts are char devices and need root", Errno::PERM));
                }
                let dir = fsops::ensure_dir(self.root, parent, rel)?;
                self.clear(dir.as_fd(), hidden, rel)?;
                mknodat(dir.as_fd(), hidden, FileType::CharacterDevice, FileMode::empty(), makedev(0, 0))
                    .map_err(|e| io_error(rel, "mknod whiteout", e))
            }
        }
    }

    /// `parent` (resolved within the tree), or None when it does not exist.
    fn existing_dir(&self, parent: &Path, rel: &Path) -> Result<Option<OwnedFd>> {
        match fsops::open_dir(self.root, parent, Links::Rerooted) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fsops::resolve_error(rel, e)),
        }
    }

    fn opaque(&mut self, parent: &Path, rel: &Path) -> Result<()> {
        match self.mode {
            Mode::Flatten => {
                let Some(dir) = self.existing_dir(parent, rel)? else { return Ok(()) };
                for child in fsops::list(dir.as_fd()).map_err(|e| io_error(rel, "list opaque dir", e))? {
                    if !self.written.contains(&parent.join(&child)) {
                        self.clear(dir.as_fd(), &child, rel)?;
                    }
                }
                self.mark_written(parent);
                Ok(())
            }
            Mode::Overlay => {
                let dir = fsops::ensure_dir(self.root, parent, rel)?;
                fsetxattr(dir.as_fd(), OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| io_error(rel, "set opaque xattr", e))
            }
        }
    }

    /// Owner first (chown clears setuid/setgid and file capabilities), then
    /// mode, then xattrs, then times (xattrs change ctime only).
    fn set_meta(&self, dir: BorrowedFd, name: &OsStr, rel: &Path, m: &Meta, kind: EntryType) -> Result<()> {
        match chownat(dir, name, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid)), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) => {}
            // Unprivileged: files stay ours, as with `tar` run by a normal user.
            Err(Errno::PERM) if !self.privileged => {}
            Err(e) => return Err(io_error(rel, "chown", e)),
        }
        if kind != EntryType::Symlink {
            // Follows a symlink at `name`, but `name` was created by us just now
            // as a non-symlink in a directory nothing else writes to.
            chmodat(dir, name, FileMode::from_raw_mode(m.mode & 0o7777), AtFlags::empty())
                .map_err(|e| io_error(rel, "chmod", e))?;
        }
        if !m.xattrs.is_empty() {
            let path = fsops::proc_path(dir, name);
            for (key, value) in &m.xattrs {
                if let Err(e) = xattr::set(&path, key, value) {
                    // Some filesystems or mounts refuse some namespaces; the file
                    // is still usable, so this is not fatal.
                    tracing::warn!(entry = %rel.display(), xattr = ?key, error = %e, "xattr not kept");
                }
            }
        }
        if kind != EntryType::Directory {
            utimensat(dir, name, &m.times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| io_error(rel, "set times", e))?;
        }
        Ok(())
    }

    /// Set directory times, deepest last-written first.
    fn finish(&mut self) -> Result<()> {
        for (rel, times) in self.dir_times.iter().rev() {
            let (parent, name) = paths::split(rel).unwrap_or((Path::new(""), OsStr::new(".")));
            let dir = match fsops::open_dir(self.root, parent, Links::Rerooted) {
                Ok(d) => d,
                // Removed again by a later whiteout.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fsops::resolve_error(rel, e)),
            };
            match utimensat(dir.as_fd(), name, times, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(io_error(rel, "set directory times", e)),
            }
        }
        Ok(())
    }
}

/// Copy an entry's data; read errors (truncated or corrupt compressed
/// stream) are layer errors, write errors are I/O errors.
fn copy_data<R: Read>(entry: &mut tar::Entry<R>, out: &mut File, rel: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(invalid(rel, format!("reading file data: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(|e| io_error(rel, "write", e))?;
        total += n as u64;
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<R>, rel: &Path) -> Result<Meta> {
    let h = entry.header();
    let bad = |what: &str, e: io::Error| invalid(rel, format!("bad {what} in header: {e}"));
    // Some writers leave uid/gid fields empty; Go's reader takes that as 0.
    let uid = if blank(&h.as_old().uid) { 0 } else { h.uid().map_err(|e| bad("uid", e))? };
    let gid = if blank(&h.as_old().gid) { 0 } else { h.gid().map_err(|e| bad("gid", e))? };
    let mode = h.mode().map_err(|e| bad("mode", e))?;
    let mtime = h.mtime().map_err(|e| bad("mtime", e))?;
    let uid = u32::try_from(uid).map_err(|_| invalid(rel, format!("uid {uid} out of range")))?;
    let gid = u32::try_from(gid).map_err(|_| invalid(rel, format!("gid {gid} out of range")))?;
    let mut mtime = Timespec { tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX), tv_nsec: 0 };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(|e| invalid(rel, format!("bad PAX header: {e}")))? {
        for ext in exts {
            let ext = ext.map_err(|e| invalid(rel, format!("bad PAX record: {e}")))?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if whiteout::xattr_allowed(name) {
                    xattrs.push((OsStr::from_bytes(name).to_os_string(), ext.value_bytes().to_vec()));
                }
            } else if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes()).unwrap_or(mtime);
            } else if key == b"atime" {
                atime = parse_pax_time(ext.value_bytes());
            }
        }
    }
    let times = Timestamps { last_access: atime.unwrap_or(mtime), last_modification: mtime };
    Ok(Meta { uid, gid, mode, times, xattrs })
}

fn blank(field: &[u8]) -> bool {
    field.iter().all(|&b| b == 0 || b == b' ')
}

/// PAX times are decimal seconds with an optional fraction ("1700000000.5").
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    // The fraction is always positive: "-1.5" is -2 s + 0.5 s.
    Some(if tv_sec < 0 && tv_nsec > 0 {
        Timespec { tv_sec: tv_sec - 1, tv_nsec: 1_000_000_000 - tv_nsec }
    } else {
        Timespec { tv_sec, tv_nsec }
    })
}
