//! A container's changes as a list (`diff`): what its diff tar holds,
//! each entry named added, changed or deleted against the image below it,
//! as containers/storage's `Changes` names them.
//!
//! The tar is what `commit` would store (an overlay upper, or vfs's
//! comparison with the top layer), read through a pipe so nothing is
//! buffered. An entry is looked up in the image's layers top to bottom
//! (overlay whiteouts and opaque directories honoured; vfs's top layer is
//! the whole image) by fds opened without following any symlink: the
//! layers hold whatever the image and the container made.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{openat, statat, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{Context, Error, Result};
use crate::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Changed,
    Added,
    Deleted,
}

/// One changed path (absolute, as the container sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

impl Store {
    /// Container `id`'s changes against its image, sorted by path.
    pub fn container_changes(&self, id: &str) -> Result<Vec<Change>> {
        let lowers = self.image_dirs(id)?;
        changes(self.lowers(&lowers)?, |w| self.container_diff(id, w))
    }

    /// What layer `chain` changes on top of its parent, sorted by path
    /// (`diff IMAGE`: an image's top layer).
    pub fn layer_changes(&self, chain: &crate::ChainId) -> Result<Vec<Change>> {
        let info = self.layer(chain)?.ok_or_else(|| crate::Error::LayerNotKnown(chain.to_string()))?;
        let mut below = Vec::new();
        let mut next = info.parent.clone();
        while let Some(c) = next {
            below.push(self.layer_path(&c));
            next = self.layer(&c)?.and_then(|l| l.parent);
        }
        below.reverse();
        let diff = self.layer_path(chain);
        if self.driver_name() == "vfs" {
            // A vfs layer is the whole tree: compared with the one below.
            let empty;
            let lower = match below.last() {
                Some(p) => p.clone(),
                None => {
                    empty = tempfile::tempdir().context(|| "temp dir".into())?;
                    empty.path().to_path_buf()
                }
            };
            return changes(self.lowers(&below)?, |w| crate::changes::write(&lower, &diff, w));
        }
        changes(self.lowers(&below)?, |w| {
            image::layer::create(&diff, image::layer::Source::OverlayUpper, w)?;
            Ok(())
        })
    }

    /// The fds to look entries up in, top layer first (vfs: the top only,
    /// each of its layers being the whole image so far).
    fn lowers(&self, dirs: &[PathBuf]) -> Result<Vec<OwnedFd>> {
        if self.driver_name() == "vfs" {
            dirs.last().into_iter().map(|d| open_layer(d)).collect()
        } else {
            dirs.iter().rev().map(|d| open_layer(d)).collect()
        }
    }
}

/// Read the diff tar `produce` writes (through a pipe, on another thread)
/// and name each entry against `lowers`.
fn changes(lowers: Vec<OwnedFd>, produce: impl FnOnce(&mut std::fs::File) -> Result<()> + Send) -> Result<Vec<Change>> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context(|| "pipe".into())?;
    let (reader, mut writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
    let mut out = Vec::new();
    std::thread::scope(|scope| -> Result<()> {
        let producer = scope.spawn(move || produce(&mut writer));
        let read = (|| -> Result<()> {
            let mut tar = tar::Archive::new(reader);
            for entry in tar.entries().context(|| "reading the diff".into())? {
                let entry = entry.context(|| "reading the diff".into())?;
                let path = PathBuf::from(OsStr::from_bytes(&entry.path_bytes()));
                if let Some(c) = classify(&lowers, &path, entry.header()) {
                    out.push(c);
                }
            }
            Ok(())
        })();
        let produced = producer.join().unwrap_or_else(|_| {
            Err(Error::Io { context: "diff".into(), source: std::io::Error::other("the diff thread panicked") })
        });
        read.and(produced)
    })?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup();
    Ok(out)
}

fn open_layer(dir: &Path) -> Result<OwnedFd> {
    rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .context(|| format!("open {}", dir.display()))
}

fn classify(lowers: &[OwnedFd], path: &Path, h: &tar::Header) -> Option<Change> {
    let name = path.file_name()?.as_bytes();
    if name == image::layer::OPAQUE_MARKER.as_bytes() {
        return None;
    }
    let abs = |p: &Path| format!("/{}", p.to_string_lossy().trim_end_matches('/'));
    if let Some(hidden) = name.strip_prefix(image::layer::WHITEOUT_PREFIX.as_bytes()) {
        let p = path.with_file_name(OsStr::from_bytes(hidden));
        return Some(Change { path: abs(&p), kind: ChangeKind::Deleted });
    }
    let kind = match lookup(lowers, path) {
        None => ChangeKind::Added,
        Some(st) if differs(&st, h) => ChangeKind::Changed,
        Some(_) => return None,
    };
    Some(Change { path: abs(path), kind })
}

/// Whether the tar's entry is not what the image has (docker's
/// `statDifferent`, plus the mtime of directories, whose entries changed).
fn differs(st: &Stat, h: &tar::Header) -> bool {
    let ft = FileType::from_raw_mode(st.st_mode);
    let same_type = match h.entry_type() {
        tar::EntryType::Directory => ft == FileType::Directory,
        tar::EntryType::Symlink => ft == FileType::Symlink,
        tar::EntryType::Char => ft == FileType::CharacterDevice,
        tar::EntryType::Block => ft == FileType::BlockDevice,
        tar::EntryType::Fifo => ft == FileType::Fifo,
        _ => ft == FileType::RegularFile,
    };
    let mtime = u64::try_from(st.st_mtime).unwrap_or(0);
    !same_type
        || h.mode().ok() != Some(st.st_mode & 0o7777)
        || h.uid().ok() != Some(u64::from(st.st_uid))
        || h.gid().ok() != Some(u64::from(st.st_gid))
        || h.mtime().ok() != Some(mtime)
        || (ft == FileType::RegularFile && h.size().ok() != u64::try_from(st.st_size).ok())
}

/// `path` in the image: the first layer (top down) that has it, unless a
/// whiteout, an opaque directory or a non-directory on the way hides it.
fn lookup(lowers: &[OwnedFd], path: &Path) -> Option<Stat> {
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    'layers: for layer in lowers {
        let mut cur: Option<OwnedFd> = None;
        let mut opaque = false;
        for (i, comp) in comps.iter().enumerate() {
            let dir: BorrowedFd = cur.as_ref().map_or(layer.as_fd(), |c| c.as_fd());
            let st = match statat(dir, *comp, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) if opaque => return None,
                Err(_) => continue 'layers,
            };
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft == FileType::CharacterDevice && st.st_rdev == 0 {
                return None; // a whiteout
            }
            if i + 1 == comps.len() {
                return Some(st);
            }
            if ft != FileType::Directory {
                return None;
            }
            let next = openat(
                dir,
                *comp,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            let marker = xattr::get(sys::fs::fd_path(&next), image::layer::OVERLAY_OPAQUE_XATTR).ok().flatten();
            opaque |= marker.is_some_and(|v| v == b"y");
            cur = Some(next);
        }
        if opaque {
            return None;
        }
    }
    None
}
