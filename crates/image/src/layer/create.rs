//! Making layer tars from directories: a whole tree, an overlayfs upper dir,
//! or entry by entry through [`LayerWriter`].
//!
//! Output is deterministic for a given tree (names sorted bytewise, no atime,
//! ctime, user or group names), so committing the same change twice yields the
//! same diff_id.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{major, minor, openat, readlinkat, FileType, Mode as FileMode, OFlags, Stat};
use tar::{EntryType, Header};

use super::fsops::{self, Links};
use super::paths;
use super::whiteout::{self, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::error::{Context, Error, Result};

/// What kind of directory [`create`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every entry of the tree, as-is (a base layer, a vfs layer).
    Full,
    /// An overlayfs upper dir: whiteout devices (char 0:0) become `.wh.<name>`
    /// and opaque directories get a `.wh..wh..opq` entry.
    OverlayUpper,
}

/// Write the layer tar for `dir` to `out` and return `out`.
pub fn create<W: Write>(dir: &Path, source: Source, out: W) -> Result<W> {
    let mut w = LayerWriter::new(out);
    append_tree(dir, source, &mut w)?;
    w.finish()
}

/// Append every entry of `dir` to `w`, as [`create`] writes them.
pub fn append_tree<W: Write>(dir: &Path, source: Source, w: &mut LayerWriter<W>) -> Result<()> {
    let root = fsops::open_root(dir).context(|| format!("open {}", dir.display()))?;
    walk(root.as_fd(), Path::new(""), source, w)
}

fn walk<W: Write>(dir: BorrowedFd, rel: &Path, source: Source, w: &mut LayerWriter<W>) -> Result<()> {
    let names = fsops::list(dir).context(|| format!("list {:?}", rel.display().to_string()))?;
    for name in names {
        let child = rel.join(&name);
        let Some(st) = fsops::lstat(dir, &name).context(|| format!("lstat {:?}", child.display().to_string()))? else {
            continue; // removed while we were reading
        };
        if source == Source::OverlayUpper && is_overlay_whiteout(&st) {
            w.append_whiteout(&child)?;
            continue;
        }
        w.append_stat(dir, &name, &child, &st)?;
        if fsops::is_dir(&st) {
            let fd = fsops::open_child_dir(dir, &name).context(|| format!("open {:?}", child.display().to_string()))?;
            let fd = File::from(fd);
            if source == Source::OverlayUpper && is_opaque(&fd) {
                w.append_opaque(&child)?;
            }
            walk(fd.as_fd(), &child, source, w)?;
        }
    }
    Ok(())
}

fn is_overlay_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: &File) -> bool {
    xattr::FileExt::get_xattr(dir, OVERLAY_OPAQUE_XATTR).ok().flatten().is_some_and(|v| v == b"y")
}

/// Builds a layer tar one entry at a time. Hardlinked files (same inode seen
/// twice) are written once and then as links to the first path.
pub struct LayerWriter<W: Write> {
    builder: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

fn tar_error(rel: &Path, e: io::Error) -> Error {
    Error::Io { context: format!("writing layer entry {:?}", rel.display().to_string()), source: e }
}

impl<W: Write> LayerWriter<W> {
    pub fn new(out: W) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        LayerWriter { builder, links: HashMap::new() }
    }

    /// Append the entry at `rel` below the directory `root` (not recursive).
    /// The parents of `rel` must be real directories: a symlink on the way is
    /// refused so a tree being read cannot redirect us elsewhere.
    pub fn append(&mut self, root: BorrowedFd<'_>, rel: &Path) -> Result<()> {
        let shown = rel.display().to_string();
        let clean = paths::clean(rel.as_os_str().as_bytes()).map_err(|why| Error::UnsafeLayer { path: shown, why })?;
        let Some((parent, name)) = paths::split(&clean) else {
            return Ok(()); // the root itself is never an entry
        };
        let dir = fsops::open_dir(root, parent, Links::Refuse).map_err(|e| fsops::resolve_error(&clean, e))?;
        let st = fsops::lstat(dir.as_fd(), name)
            .context(|| format!("lstat {:?}", clean.display().to_string()))?
            .ok_or_else(|| Error::Other(format!("layer entry {:?} vanished", clean.display().to_string())))?;
        self.append_stat(dir.as_fd(), name, &clean, &st)
    }

    /// Append `.wh.<name>` hiding `rel` of the layers below.
    pub fn append_whiteout(&mut self, rel: &Path) -> Result<()> {
        let name = rel.file_name().ok_or_else(|| Error::Other("whiteout of the layer root".into()))?;
        let mut wh = WHITEOUT_PREFIX.as_bytes().to_vec();
        wh.extend_from_slice(name.as_bytes());
        let path = rel.with_file_name(OsStr::from_bytes(&wh));
        self.append_marker(&path)
    }

    /// Append `<dir>/.wh..wh..opq`: `dir` hides everything below it.
    pub fn append_opaque(&mut self, dir: &Path) -> Result<()> {
        self.append_marker(&dir.join(OPAQUE_MARKER))
    }

    /// Write the end-of-archive marker and return the output.
    pub fn finish(self) -> Result<W> {
        self.builder.into_inner().context(|| "finishing layer tar".into())
    }

    fn append_marker(&mut self, path: &Path) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        self.builder.append_data(&mut h, path, io::empty()).map_err(|e| tar_error(path, e))
    }

    fn append_stat(&mut self, dir: BorrowedFd, name: &OsStr, rel: &Path, st: &Stat) -> Result<()> {
        let fmt = FileType::from_raw_mode(st.st_mode);
        let mut h = Header::new_gnu();
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mode(st.st_mode & 0o7777);
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        if fmt == FileType::RegularFile && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(EntryType::Link);
                let first = first.clone();
                return self.builder.append_link(&mut h, rel, &first).map_err(|e| tar_error(rel, e));
            }
            self.links.insert(key, rel.to_path_buf());
        }
        if fmt == FileType::Socket {
            return Ok(()); // sockets cannot be archived and mean nothing in an image
        }
        self.append_xattrs(dir, name, rel)?;
        match fmt {
            FileType::Directory => {
                h.set_entry_type(EntryType::Directory);
                self.builder.append_data(&mut h, rel, io::empty()).map_err(|e| tar_error(rel, e))
            }
            FileType::RegularFile => {
                h.set_entry_type(EntryType::Regular);
                let size = u64::try_from(st.st_size).unwrap_or(0);
                h.set_size(size);
                let fd = openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, FileMode::empty())
                    .map_err(|e| tar_error(rel, e.into()))?;
                let data = Exact { inner: File::from(fd), remaining: size };
                self.builder.append_data(&mut h, rel, data).map_err(|e| tar_error(rel, e))
            }
            FileType::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                let target = readlinkat(dir, name, Vec::new()).map_err(|e| tar_error(rel, e.into()))?;
                let target = PathBuf::from(std::ffi::OsString::from_vec(target.into_bytes()));
                self.builder.append_link(&mut h, rel, &target).map_err(|e| tar_error(rel, e))
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match fmt {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                if fmt != FileType::Fifo {
                    h.set_device_major(major(st.st_rdev)).map_err(|e| tar_error(rel, e))?;
                    h.set_device_minor(minor(st.st_rdev)).map_err(|e| tar_error(rel, e))?;
                }
                self.builder.append_data(&mut h, rel, io::empty()).map_err(|e| tar_error(rel, e))
            }
            _ => Err(Error::Other(format!("layer entry {:?}: unknown file type", rel.display().to_string()))),
        }
    }

    /// Xattrs go in a PAX header (`SCHILY.xattr.<name>`, what GNU tar, Go and
    /// containers/storage use) right before the entry they describe.
    fn append_xattrs(&mut self, dir: BorrowedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let path = fsops::proc_path(dir, name);
        let Ok(keys) = xattr::list(&path) else {
            return Ok(()); // filesystem without xattrs
        };
        let mut keys: Vec<_> = keys.filter(|k| whiteout::xattr_allowed(k.as_bytes())).collect();
        keys.sort();
        let mut records = Vec::new();
        for key in keys {
            if let Ok(Some(value)) = xattr::get(&path, &key) {
                let mut k = b"SCHILY.xattr.".to_vec();
                k.extend_from_slice(key.as_bytes());
                pax_record(&mut records, &k, &value);
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_path("PaxHeaders/entry").map_err(|e| tar_error(rel, e))?;
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(records.len() as u64);
        h.set_cksum();
        self.builder.append(&h, records.as_slice()).map_err(|e| tar_error(rel, e))
    }
}

/// One PAX record: "<len> <key>=<value>\n", where <len> counts itself.
pub(super) fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let base = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Reads exactly `remaining` bytes: a file that shrank while being archived
/// must fail the tar rather than corrupt it (the header already has the size).
/// For every tar writer that streams a file after its header.
pub struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R> Exact<R> {
    /// `inner`, read for exactly `size` bytes.
    pub fn new(inner: R, size: u64) -> Self {
        Exact { inner, remaining: size }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being archived"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod unit {
    use super::pax_record;

    #[test]
    fn pax_length_counts_itself() {
        for vlen in [0usize, 1, 5, 90, 94, 95, 96, 995, 1000] {
            let mut out = Vec::new();
            pax_record(&mut out, b"k", &vec![b'x'; vlen]);
            let (len, _) = std::str::from_utf8(&out).unwrap().split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len(), "value length {vlen}");
        }
    }
}
