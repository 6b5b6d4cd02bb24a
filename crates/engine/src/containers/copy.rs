//! The two halves of `cp`, both working on fds under a root so that nothing
//! a container put in its filesystem can lead them out of it:
//!
//! - [`archive`]: a tree (or one file) as a tar stream. The source path is
//!   resolved re-rooted (its final symlink followed inside the root, as the
//!   container would); below it, every entry is opened relative to its
//!   parent's fd with O_NOFOLLOW, so a symlink in the tree is archived as a
//!   symlink and never read through.
//! - [`extract`]: a tar stream into a directory. Each entry's parent is
//!   resolved re-rooted at the root (a symlink `/x -> /etc` in a container
//!   means the container's /etc), the entry is made by one `*at` call
//!   relative to that parent with O_NOFOLLOW, and its owner, mode and times
//!   are set through an fd of what was made, never through a path a
//!   running container could swap for a symlink meanwhile.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{
    fstat, linkat, makedev, mkdirat, mknodat, openat, readlinkat, statat, symlinkat, unlinkat, AtFlags, Dir, FileType,
    Mode, OFlags, Stat, Timespec, Timestamps,
};
use rustix::io::Errno;
use tar::{EntryType, Header};

use crate::error::{Error, Result};

/// The buffer between a tar writer or reader and a pipe or file: tar
/// moves 512-byte blocks, a syscall each unbuffered.
pub(super) const PIPE_BUFFER: usize = 1 << 20;

/// `r` read through a [`PIPE_BUFFER`] buffer.
pub(super) fn buffered<R: Read>(r: R) -> io::BufReader<R> {
    io::BufReader::with_capacity(PIPE_BUFFER, r)
}

/// `produce` writes into a pipe on a thread of its own while `consume`
/// reads it on this one: a tar stream from an archiver to an extractor or
/// the blob store, never held whole. The read end is closed once
/// `consume` returns, so a producer still writing to a consumer that gave
/// up ends too. Both results come back: the caller knows whose error says
/// more.
pub(super) fn through_pipe<T>(
    produce: impl FnOnce(File) -> Result<()> + Send,
    consume: impl FnOnce(File) -> Result<T>,
) -> Result<(Result<()>, Result<T>)> {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| io_err("making a pipe", e))?;
    let (reader, writer) = (File::from(reader), File::from(writer));
    Ok(std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(writer));
        let consumed = consume(reader);
        let produced = producer.join().unwrap_or_else(|_| Err(Error::new("the thread writing a stream panicked")));
        (produced, consumed)
    }))
}

/// Owner given to every entry instead of its own (`cp -a`'s chown).
pub type Owner = Option<(u32, u32)>;

fn io_err(what: impl std::fmt::Display, e: impl Into<io::Error>) -> Error {
    Error::caused(what, e.into())
}

/// Top-level names a copy of a container's whole `/` leaves out, as
/// podman does: the kernel's filesystems, not the container's.
const ROOT_EXCLUDES: &[&str] = &["dev", "proc", "sys"];

/// Write `path` (resolved re-rooted under `root`) as a tar to `out`. The
/// entry for `path` itself is named `top` and the tree's entries below it;
/// with `top` `None` only what is in the directory is written (`dir/.`).
pub fn archive<W: Write>(root: BorrowedFd, path: &Path, top: Option<&OsStr>, owner: Owner, out: W) -> Result<W> {
    archive_filtered(root, path, top, owner, None, true, out)
}

/// What [`archive_filtered`] leaves out of a tree, asked with each entry's
/// path below the archived directory (`a/b` for its `a/b`).
pub struct Filter<'f> {
    /// Leave this entry out (a directory with all it holds, unless
    /// `may_reinclude_under` says something below comes back).
    pub excluded: &'f (dyn Fn(&Path) -> bool + Sync),
    /// An excluded directory may hold entries that are not excluded: it is
    /// walked (and written, as their parent).
    pub may_reinclude_under: &'f (dyn Fn(&Path) -> bool + Sync),
}

/// [`archive`], leaving out of a directory's tree what `filter` excludes
/// (a build's ignore file); without `times`, every entry's mtime is 0 (a
/// digest of the content, which touching a file does not change).
pub fn archive_filtered<W: Write>(
    root: BorrowedFd,
    path: &Path,
    top: Option<&OsStr>,
    owner: Owner,
    filter: Option<&Filter<'_>>,
    times: bool,
    out: W,
) -> Result<W> {
    let mut w = Writer {
        tar: tar::Builder::new(out),
        owner,
        links: HashMap::new(),
        filter,
        base: name_base(top),
        times,
        fingerprint: false,
        newest: 0,
    };
    w.walk_from(root, path, top)?;
    w.tar.into_inner().map_err(|e| io_err("finishing the tar", e))
}

/// What [`archive_filtered`] (without times, owners as they are) would
/// write for `path`, told without reading any file: each entry's name,
/// type, and the identity and metadata a change of content changes (device
/// and inode, size, mode, owner, link count, device numbers, link target,
/// mtime and ctime to the nanosecond: a write to a file sets its ctime,
/// which no one can set back), in the archive's order, the same filter
/// applied. Written to `out`, which gets nothing else; also returns the
/// newest mtime or ctime seen (ns since the epoch), for the caller to
/// tell whether a change could still hide in the same clock tick.
pub fn fingerprint<W: Write>(
    root: BorrowedFd,
    path: &Path,
    top: Option<&OsStr>,
    filter: Option<&Filter<'_>>,
    out: W,
) -> Result<(W, i128)> {
    let mut w = Writer {
        tar: tar::Builder::new(out),
        owner: None,
        links: HashMap::new(),
        filter,
        base: name_base(top),
        times: false,
        fingerprint: true,
        newest: 0,
    };
    w.walk_from(root, path, top)?;
    let newest = w.newest;
    // What the tar builder adds at its end is the same every time.
    let out = w.tar.into_inner().map_err(|e| io_err("finishing the fingerprint", e))?;
    Ok((out, newest))
}

impl<W: Write> Writer<'_, W> {
    /// `path` (resolved re-rooted under `root`) and what is below it.
    fn walk_from(&mut self, root: BorrowedFd, path: &Path, top: Option<&OsStr>) -> Result<()> {
        let shown = path.display().to_string();
        let fd =
            sys::fs::open_rerooted(root, path, OFlags::PATH).map_err(|e| io_err(format_args!("opening {shown}"), e))?;
        let st = fstat(&fd).map_err(|e| io_err(format_args!("stat {shown}"), e))?;
        self.walk(root, fd, &st, path, top)
    }

    /// `path` (its O_PATH fd `fd`, stat `st`) and what is below it.
    fn walk(&mut self, root: BorrowedFd, fd: OwnedFd, st: &Stat, path: &Path, top: Option<&OsStr>) -> Result<()> {
        let shown = path.display().to_string();
        let is_root = fstat(root).is_ok_and(|r| (r.st_dev, r.st_ino) == (st.st_dev, st.st_ino));
        let name = top.map(PathBuf::from).unwrap_or_default();
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let dir = reopen_dir(&fd).map_err(|e| io_err(format_args!("opening {shown}"), e))?;
            if top.is_some() {
                self.header(&name, st, None, None)?;
            }
            self.tree(dir.as_fd(), &name, is_root)
        } else {
            let data = match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile if !self.fingerprint => {
                    Some(open_regular(&fd, st).map_err(|e| io_err(format_args!("opening {shown}"), e))?)
                }
                _ => None,
            };
            let name = if name.as_os_str().is_empty() { PathBuf::from(".") } else { name };
            self.header(&name, st, data, None)
        }
    }
}

/// An O_PATH directory fd made readable (listing needs it).
fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(openat(fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// The regular file an O_PATH fd holds, opened for reading through the fd
/// (the exact inode, never a path), checked to still be that file.
fn open_regular(fd: &OwnedFd, st: &Stat) -> io::Result<File> {
    let f = File::open(sys::fs::fd_path(fd))?;
    let now = fstat(&f)?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other("changed while being opened"));
    }
    Ok(f)
}

struct Writer<'f, W: Write> {
    tar: tar::Builder<W>,
    owner: Owner,
    /// First name of each multiply-linked file: later ones are hard links.
    links: HashMap<(u64, u64), PathBuf>,
    filter: Option<&'f Filter<'f>>,
    /// The tar name of the archived directory (`top`): entries' names
    /// below it are what `filter` is asked about.
    base: PathBuf,
    /// Entries keep their mtimes (else 0).
    times: bool,
    /// Each entry's metadata instead of a tar ([`fingerprint`]).
    fingerprint: bool,
    /// The newest mtime or ctime written, in ns ([`fingerprint`]).
    newest: i128,
}

fn name_base(top: Option<&OsStr>) -> PathBuf {
    top.map(PathBuf::from).unwrap_or_default()
}

impl<W: Write> Writer<'_, W> {
    fn tree(&mut self, dir: BorrowedFd, rel: &Path, is_root: bool) -> Result<()> {
        let mut names: Vec<OsString> = Vec::new();
        let list = Dir::read_from(dir).map_err(|e| io_err(format_args!("listing {}", shown(rel)), e))?;
        for entry in list {
            let entry = entry.map_err(|e| io_err(format_args!("listing {}", shown(rel)), e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if is_root && ROOT_EXCLUDES.iter().any(|x| x.as_bytes() == name) {
                continue;
            }
            names.push(OsString::from_vec(name.to_vec()));
        }
        names.sort();
        for name in names {
            let child = rel.join(&name);
            let st = match statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue, // removed while we read
                Err(e) => return Err(io_err(format_args!("stat {}", shown(&child)), e)),
            };
            if let Some(f) = self.filter {
                let below = child.strip_prefix(&self.base).unwrap_or(&child);
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if (f.excluded)(below) && !(is_dir && (f.may_reinclude_under)(below)) {
                    continue;
                }
            }
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    let fd = openat(
                        dir,
                        &name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| io_err(format_args!("opening {}", shown(&child)), e))?;
                    self.header(&child, &st, None, None)?;
                    self.tree(fd.as_fd(), &child, false)?;
                }
                FileType::RegularFile if self.fingerprint => self.header(&child, &st, None, None)?,
                FileType::RegularFile => {
                    // O_NONBLOCK: a FIFO swapped in meanwhile cannot hang us
                    // (and is refused by the identity check).
                    let f = openat(
                        dir,
                        &name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| io_err(format_args!("opening {}", shown(&child)), e))?;
                    let now = fstat(&f).map_err(|e| io_err(format_args!("stat {}", shown(&child)), e))?;
                    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                        return Err(Error::new(format!("{} changed while being copied", shown(&child))));
                    }
                    self.header(&child, &st, Some(File::from(f)), None)?;
                }
                FileType::Symlink => {
                    let target = readlinkat(dir, &name, Vec::new())
                        .map_err(|e| io_err(format_args!("reading link {}", shown(&child)), e))?;
                    let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                    self.header(&child, &st, None, Some(&target))?;
                }
                FileType::Socket => {}
                _ => self.header(&child, &st, None, None)?,
            }
        }
        Ok(())
    }

    fn header(&mut self, rel: &Path, st: &Stat, data: Option<File>, link: Option<&Path>) -> Result<()> {
        if self.fingerprint {
            return self.record(rel, st, link);
        }
        let fmt = FileType::from_raw_mode(st.st_mode);
        let mut h = Header::new_gnu();
        let (uid, gid) = self.owner.unwrap_or((st.st_uid, st.st_gid));
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mode(st.st_mode & 0o7777);
        h.set_mtime(if self.times { u64::try_from(st.st_mtime).unwrap_or(0) } else { 0 });
        h.set_size(0);
        let fail = |e: io::Error| io_err(format_args!("archiving {}", shown(rel)), e);
        if fmt == FileType::RegularFile && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(EntryType::Link);
                return self.tar.append_link(&mut h, rel, &first).map_err(fail);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        match fmt {
            FileType::Directory => {
                h.set_entry_type(EntryType::Directory);
                self.tar.append_data(&mut h, rel, io::empty()).map_err(fail)
            }
            FileType::RegularFile => {
                let size = u64::try_from(st.st_size).unwrap_or(0);
                h.set_entry_type(EntryType::Regular);
                h.set_size(size);
                let f = data.ok_or_else(|| Error::new(format!("{}: not opened", shown(rel))))?;
                self.tar.append_data(&mut h, rel, image::layer::Exact::new(f, size)).map_err(fail)
            }
            FileType::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                self.tar.append_link(&mut h, rel, link.unwrap_or(Path::new(""))).map_err(fail)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match fmt {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                if fmt != FileType::Fifo {
                    h.set_device_major(rustix::fs::major(st.st_rdev)).map_err(fail)?;
                    h.set_device_minor(rustix::fs::minor(st.st_rdev)).map_err(fail)?;
                }
                self.tar.append_data(&mut h, rel, io::empty()).map_err(fail)
            }
            _ => Ok(()),
        }
    }
}

impl<W: Write> Writer<'_, W> {
    /// [`fingerprint`]'s record of one entry: every field fixed-size or
    /// length-prefixed, so that no two entries' records read the same.
    fn record(&mut self, rel: &Path, st: &Stat, link: Option<&Path>) -> Result<()> {
        let ns = |s: i64, n: u64| i128::from(s) * 1_000_000_000 + i128::from(n);
        let (mtime, ctime) = (ns(st.st_mtime, st.st_mtime_nsec), ns(st.st_ctime, st.st_ctime_nsec));
        self.newest = self.newest.max(mtime).max(ctime);
        let name = rel.as_os_str().as_bytes();
        let target = link.map_or(&b""[..], |l| l.as_os_str().as_bytes());
        let mut rec = Vec::with_capacity(160 + name.len() + target.len());
        for field in [
            name.len() as u64,
            st.st_dev,
            st.st_ino,
            u64::from(st.st_mode),
            u64::from(st.st_uid),
            u64::from(st.st_gid),
            st.st_nlink,
            st.st_rdev,
            st.st_size as u64,
            target.len() as u64,
        ] {
            rec.extend_from_slice(&field.to_le_bytes());
        }
        rec.extend_from_slice(&mtime.to_le_bytes());
        rec.extend_from_slice(&ctime.to_le_bytes());
        rec.extend_from_slice(name);
        rec.extend_from_slice(target);
        self.tar.get_mut().write_all(&rec).map_err(|e| io_err("writing a fingerprint", e))
    }
}

fn shown(rel: &Path) -> String {
    format!("{:?}", rel.display().to_string())
}

/// How [`extract`] writes.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    /// Every entry gets this owner instead of the tar's.
    pub owner: Owner,
    /// A directory may replace a non-directory and the other way round.
    pub overwrite: bool,
    /// The tar's first path component `.0` is written as `.1`.
    pub rename: Option<(OsString, OsString)>,
    /// Every file and directory gets this mode instead of the tar's (a
    /// build's `COPY --chmod`; symlinks have none).
    pub mode: Option<u32>,
}

/// Unpack the tar read from `input` into directory `dest` (a path under
/// `root`, re-rooted). See the module docs for how entries are made.
pub fn extract(root: BorrowedFd, dest: &Path, input: impl Read, opts: &Extract) -> Result<()> {
    let mut tar = tar::Archive::new(input);
    let entries = tar.entries().map_err(|e| io_err("reading the tar", e))?;
    // Directory times are set last: what is made in a directory changes its mtime.
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| io_err("reading the tar", e))?;
        let raw = entry.path_bytes().into_owned();
        let Some(rel) = clean(&raw, opts)? else { continue };
        let kind = entry.header().entry_type();
        let link = match kind {
            EntryType::Link | EntryType::Symlink => {
                Some(entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default())
            }
            _ => None,
        };
        let h = entry.header();
        let meta = Meta {
            uid: opts.owner.map_or_else(|| h.uid().unwrap_or(0) as u32, |o| o.0),
            gid: opts.owner.map_or_else(|| h.gid().unwrap_or(0) as u32, |o| o.1),
            mode: opts.mode.unwrap_or_else(|| h.mode().unwrap_or(0o644)) & 0o7777,
            mtime: h.mtime().unwrap_or(0),
            dev: (h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0)),
            size: None,
        };
        put(root, dest, &rel, kind, link.as_deref(), &meta, &mut entry, opts)
            .map_err(|e| Error::new(format!("copying {:?}: {}", rel.display().to_string(), e.msg)))?;
        if kind == EntryType::Directory {
            dir_times.push((dest.join(&rel), meta.mtime));
        }
    }
    for (dir, mtime) in dir_times.iter().rev() {
        // Resolved again inside the root; a directory swapped for a link
        // meanwhile is left alone.
        let Ok(fd) = sys::fs::open_rerooted(root, dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW) else {
            continue;
        };
        set_times(&fd, *mtime)?;
    }
    Ok(())
}

struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: u64,
    dev: (u32, u32),
    /// A regular file's size, checked against what was copied (a tar
    /// entry's reader gives exactly its size).
    size: Option<u64>,
}

/// The regular file `path` (resolved re-rooted under `from`, as
/// [`archive`] resolves it) written as `name` in directory `into` (under
/// `root`, re-rooted) as [`extract`] would write it from [`archive`]'s tar
/// of it (owner `opts.owner` or the file's, mode `opts.mode` or the
/// file's, its mtime; what is there replaced), but its bytes copied by
/// the kernel (`std::io::copy` of one file to another is copy_file_range,
/// or sendfile across filesystems): no tar, no pipe, and no copy through
/// this process. `Ok(false)`, with nothing done, when `path` is not a
/// regular file.
pub fn copy_file(
    from: BorrowedFd,
    path: &Path,
    root: BorrowedFd,
    into: &Path,
    name: &OsStr,
    opts: &Extract,
) -> Result<bool> {
    let shown = path.display().to_string();
    let fd =
        sys::fs::open_rerooted(from, path, OFlags::PATH).map_err(|e| io_err(format_args!("opening {shown}"), e))?;
    let st = fstat(&fd).map_err(|e| io_err(format_args!("stat {shown}"), e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(false);
    }
    let src = open_regular(&fd, &st).map_err(|e| io_err(format_args!("opening {shown}"), e))?;
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let meta = Meta {
        uid: opts.owner.map_or(st.st_uid, |o| o.0),
        gid: opts.owner.map_or(st.st_gid, |o| o.1),
        mode: opts.mode.unwrap_or(st.st_mode) & 0o7777,
        // What the tar's header would carry: whole seconds.
        mtime: u64::try_from(st.st_mtime).unwrap_or(0),
        dev: (0, 0),
        size: Some(size),
    };
    // At most the size it had when it was looked at, as the tar takes it;
    // one that shrank meanwhile fails below.
    let mut data = (&src).take(size);
    let rel = Path::new(name);
    put(root, into, rel, EntryType::Regular, None, &meta, &mut data, opts)
        .map_err(|e| Error::new(format!("copying {:?}: {}", rel.display().to_string(), e.msg)))?;
    Ok(true)
}

/// An entry's name as a relative path below the destination: `/` and `.`
/// dropped, `..` refused, the first component renamed if asked. `None` for
/// the archive's root (`./`), which names the destination itself.
fn clean(raw: &[u8], opts: &Extract) -> Result<Option<PathBuf>> {
    let path = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => {
                if out.as_os_str().is_empty() {
                    if let Some((from, to)) = &opts.rename {
                        if n == from {
                            out.push(to);
                            continue;
                        }
                    }
                }
                out.push(n)
            }
            Component::ParentDir => {
                return Err(Error::new(format!("tar entry {:?} leaves the destination", path.display().to_string())))
            }
            _ => {}
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

const PATH_DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// The parent directory of `dest/rel`, resolved re-rooted under `root` and
/// made (0755) where missing, and `rel`'s last name.
fn parent_of<'a>(root: BorrowedFd, dest: &Path, rel: &'a Path) -> Result<(OwnedFd, &'a OsStr)> {
    let name = rel.file_name().ok_or_else(|| Error::new("an entry without a name"))?;
    let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
    let fd = match sys::fs::open_rerooted(root, &parent, PATH_DIR) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            sys::fs::ensure_rerooted(root, &parent, sys::fs::Kind::Dir).map_err(|e| io_err("making its parent", e))?;
            sys::fs::open_rerooted(root, &parent, PATH_DIR).map_err(|e| io_err("opening its parent", e))?
        }
        Err(e) => return Err(io_err("opening its parent", e)),
    };
    Ok((fd, name))
}

#[allow(clippy::too_many_arguments)]
fn put(
    root: BorrowedFd,
    dest: &Path,
    rel: &Path,
    kind: EntryType,
    link: Option<&[u8]>,
    meta: &Meta,
    data: &mut impl Read,
    opts: &Extract,
) -> Result<()> {
    let (parent, name) = parent_of(root, dest, rel)?;
    let existing = match statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
        Err(Errno::NOENT) => None,
        Err(e) => return Err(io_err("stat", e)),
    };
    let want_dir = kind == EntryType::Directory;
    match existing {
        Some(FileType::Directory) if want_dir => {}
        Some(FileType::Directory) => {
            if !opts.overwrite {
                return Err(Error::new("cannot overwrite a directory with a non-directory"));
            }
            remove_tree(parent.as_fd(), name).map_err(|e| io_err("removing the directory there", e))?;
        }
        Some(_) if want_dir && !opts.overwrite => {
            return Err(Error::new("cannot overwrite a non-directory with a directory"));
        }
        // Replaced, never written through: it may be a symlink.
        Some(_) => unlinkat(&parent, name, AtFlags::empty()).map_err(|e| io_err("removing what was there", e))?,
        None => {}
    }
    let made: OwnedFd = match kind {
        EntryType::Directory => {
            if existing != Some(FileType::Directory) {
                mkdirat(&parent, name, Mode::from_raw_mode(0o700)).map_err(|e| io_err("mkdir", e))?;
            }
            openat(
                &parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", e))?
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let fd = openat(
                &parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| io_err("create", e))?;
            let mut f = File::from(fd);
            let copied = io::copy(data, &mut f).map_err(|e| io_err("write", e))?;
            if meta.size.is_some_and(|size| size != copied) {
                return Err(Error::new("the file shrank while being copied"));
            }
            f.into()
        }
        EntryType::Symlink => {
            let target = OsStr::from_bytes(link.unwrap_or_default());
            symlinkat(target, &parent, name).map_err(|e| io_err("symlink", e))?;
            opened(&parent, name)?
        }
        EntryType::Link => {
            // The target is another entry of this tar, below `dest` too.
            let mut target_opts = opts.clone();
            target_opts.owner = None;
            let target = clean(link.unwrap_or_default(), &target_opts)?
                .ok_or_else(|| Error::new("a hard link to the destination itself"))?;
            let (tparent, tname) = parent_of(root, dest, &target)?;
            linkat(&tparent, tname, &parent, name, AtFlags::empty()).map_err(|e| io_err("link", e))?;
            return Ok(());
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let ft = match kind {
                EntryType::Char => FileType::CharacterDevice,
                EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            mknodat(&parent, name, ft, Mode::from_raw_mode(0o600), makedev(meta.dev.0, meta.dev.1))
                .map_err(|e| io_err("mknod", e))?;
            opened(&parent, name)?
        }
        // PAX and GNU long-name headers are read by the tar crate; others
        // carry nothing a file can get.
        _ => return Ok(()),
    };
    set_meta(&made, kind == EntryType::Symlink, meta)
}

/// Remove directory `name` in `parent` and everything in it, by fds
/// (never following a symlink in it: a link is removed, not its target).
fn remove_tree(parent: BorrowedFd, name: &OsStr) -> io::Result<()> {
    let dir =
        openat(parent, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let mut names = Vec::new();
    for entry in Dir::read_from(&dir)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((OsString::from_vec(n.to_vec()), entry.file_type() == FileType::Directory));
        }
    }
    for (n, is_dir) in names {
        if is_dir {
            remove_tree(dir.as_fd(), &n)?;
        } else {
            unlinkat(&dir, &n, AtFlags::empty())?;
        }
    }
    Ok(unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// An O_PATH fd of what was just made at `parent/name` (not followed).
fn opened(parent: &OwnedFd, name: &OsStr) -> Result<OwnedFd> {
    openat(parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io_err("open", e))
}

/// Owner, then mode (a chown clears set-id bits), then times, all through
/// `fd`.
fn set_meta(fd: &OwnedFd, symlink: bool, m: &Meta) -> Result<()> {
    rustix::fs::chownat(
        fd,
        "",
        Some(rustix::fs::Uid::from_raw(m.uid)),
        Some(rustix::fs::Gid::from_raw(m.gid)),
        AtFlags::EMPTY_PATH,
    )
    .map_err(|e| io_err("chown", e))?;
    if symlink {
        return Ok(());
    }
    // Through /proc/self/fd: the exact inode, whatever fd kind it is.
    let path = sys::fs::fd_path(fd);
    rustix::fs::chmod(&path, Mode::from_raw_mode(m.mode)).map_err(|e| io_err("chmod", e))?;
    set_times(fd, m.mtime)
}

/// Access and modification times of what `fd` holds, through /proc/self/fd.
fn set_times(fd: &OwnedFd, mtime: u64) -> Result<()> {
    let t = Timespec { tv_sec: i64::try_from(mtime).unwrap_or(0), tv_nsec: 0 };
    let times = Timestamps { last_access: t, last_modification: t };
    rustix::fs::utimensat(rustix::fs::CWD, sys::fs::fd_path(fd), &times, AtFlags::empty())
        .map_err(|e| io_err("setting times", e))
}
