//! The changes between two full trees as a layer tar (vfs commit): what is new
//! or different in `upper` is written, what is gone gets a whiteout.
//!
//! A changed entry's parent directories are written before it even when they
//! did not change, so applying the diff on its own recreates them with their
//! real owner and mode instead of defaults.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use image::layer::LayerWriter;

use crate::error::{Context, Result};

pub(crate) fn write(lower: &Path, upper: &Path, out: &mut dyn Write) -> Result<()> {
    let root = File::open(upper).context(|| format!("open {}", upper.display()))?;
    let mut w = Walk { lower, upper, root, writer: LayerWriter::new(out), pending: Vec::new() };
    w.dir(Path::new(""), true)?;
    w.writer.finish()?;
    Ok(())
}

struct Walk<'a, W: Write> {
    lower: &'a Path,
    upper: &'a Path,
    root: File,
    writer: LayerWriter<W>,
    /// Unchanged ancestors of the current dir, written only if a change below
    /// them is.
    pending: Vec<PathBuf>,
}

fn names(dir: &Path) -> Result<BTreeSet<OsString>> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            rd.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>().context(|| format!("list {}", dir.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory => {
            Ok(BTreeSet::new())
        }
        Err(e) => Err(crate::Error::Io { context: format!("list {}", dir.display()), source: e }),
    }
}

impl<W: Write> Walk<'_, W> {
    /// Compare directory `rel`; `in_lower` says whether it exists as a
    /// directory below (if not, everything in it is new).
    fn dir(&mut self, rel: &Path, in_lower: bool) -> Result<()> {
        let up = names(&self.upper.join(rel))?;
        let low = if in_lower { names(&self.lower.join(rel))? } else { BTreeSet::new() };
        for name in up.union(&low) {
            let child = rel.join(name);
            let u = fs::symlink_metadata(self.upper.join(&child)).ok();
            let l = if in_lower { fs::symlink_metadata(self.lower.join(&child)).ok() } else { None };
            match (u, l) {
                (None, None) => {}
                (None, Some(_)) => {
                    self.flush()?;
                    self.writer.append_whiteout(&child)?;
                }
                (Some(u), l) => {
                    let same = l.as_ref().is_some_and(|l| self.same(&child, &u, l));
                    if !same {
                        self.flush()?;
                        self.writer.append(self.root.as_fd(), &child)?;
                    }
                    if u.is_dir() {
                        let lower_dir = l.as_ref().is_some_and(|l| l.is_dir());
                        if same {
                            self.pending.push(child.clone());
                        }
                        self.dir(&child, lower_dir)?;
                        if same {
                            self.pending.pop();
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Write the unchanged ancestors of an entry about to be written.
    fn flush(&mut self) -> Result<()> {
        for p in std::mem::take(&mut self.pending) {
            self.writer.append(self.root.as_fd(), &p)?;
        }
        Ok(())
    }

    fn same(&self, rel: &Path, u: &Metadata, l: &Metadata) -> bool {
        if u.file_type() != l.file_type() || u.mode() != l.mode() || u.uid() != l.uid() || u.gid() != l.gid() {
            return false;
        }
        if xattrs(&self.upper.join(rel)) != xattrs(&self.lower.join(rel)) {
            return false;
        }
        // A directory's mtime changes whenever an entry in it does; that
        // change is carried by the entries themselves.
        if u.is_dir() {
            return true;
        }
        if u.size() != l.size() || u.mtime() != l.mtime() || u.mtime_nsec() != l.mtime_nsec() {
            return false;
        }
        if u.file_type().is_char_device() || u.file_type().is_block_device() {
            return u.rdev() == l.rdev();
        }
        if u.file_type().is_symlink() {
            return fs::read_link(self.upper.join(rel)).ok() == fs::read_link(self.lower.join(rel)).ok();
        }
        true
    }
}

fn xattrs(p: &Path) -> Vec<(OsString, Option<Vec<u8>>)> {
    let Ok(keys) = xattr::list(p) else { return Vec::new() };
    let mut v: Vec<_> = keys.map(|k| (k.clone(), xattr::get(p, &k).ok().flatten())).collect();
    v.sort();
    v
}
