//! A build's COPY and ADD: files of a build context (or of another image's
//! root) written into a build container's root, both sides worked on
//! through fds under their roots (`copy`'s `archive` and `extract`): a
//! symlink in the context never leads out of it, one in the image never
//! leads the write out of the container's root.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use image::digest::{Digest, Hasher};
use rustix::fs::{Mode, OFlags};

pub use super::copy::Filter;
use super::copy::{self, Extract};
use super::Container;
use crate::error::{Context as _, Error, Result};
use crate::Engine;

/// One source of a COPY and where it goes.
#[derive(Debug, Clone)]
pub struct CopyItem {
    /// Under the source root (re-rooted there).
    pub source: PathBuf,
    /// An absolute path in the container: the directory the source's
    /// contents go into when `contents` (a directory source), else the
    /// path the source is written as.
    pub dest: PathBuf,
    /// The source is a directory whose contents (not itself) are copied.
    pub contents: bool,
}

/// How a COPY writes what it copies.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `--chown`: `user[:group]`, names resolved in the container's
    /// /etc/passwd and /etc/group.
    pub chown: Option<String>,
}

/// What a COPY leaves out of the directories it copies (the build's
/// ignore file), asked with paths relative to the source root.
pub type Ignore<'f> = Filter<'f>;

impl Engine {
    /// Copy `items` from under directory `from` into container `c`'s root
    /// (mounted for it), parents made as needed (0755, root's). Returns the
    /// digest of what was copied (the tar streams of the sources, in
    /// order): what the step's history names and its cache keys on.
    pub fn copy_into_container(
        &self,
        c: &Container,
        from: BorrowedFd,
        items: &[CopyItem],
        opts: &CopyOptions,
        ignore: Option<&Ignore<'_>>,
    ) -> Result<Digest> {
        let layers = self.layers()?;
        let root_path = layers.mount(&c.id)?;
        let copied = self.copy_into_root(&root_path, from, items, opts, ignore);
        if let Err(e) = layers.unmount(&c.id) {
            tracing::warn!("unmounting the storage of {}: {e}", c.id);
        }
        copied
    }

    fn copy_into_root(
        &self,
        root_path: &Path,
        from: BorrowedFd,
        items: &[CopyItem],
        opts: &CopyOptions,
        ignore: Option<&Ignore<'_>>,
    ) -> Result<Digest> {
        let root = rustix::fs::open(root_path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("opening {}", root_path.display()))?;
        let owner = match &opts.chown {
            Some(spec) => {
                let u = super::spec::resolve_user(root_path, spec)?;
                Some((u.uid, u.gid))
            }
            // Root's: the context's owners are the host's, meaningless here.
            None => Some((0, 0)),
        };
        let mut hasher = Hasher::new();
        for item in items {
            let (into, top) = if item.contents {
                (item.dest.clone(), None)
            } else {
                let name = item
                    .dest
                    .file_name()
                    .ok_or_else(|| Error::new(format!("copying to {}: not a file name", item.dest.display())))?;
                (item.dest.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf), Some(name.to_owned()))
            };
            sys::fs::ensure_rerooted(root.as_fd(), &into, sys::fs::Kind::Dir)
                .ctx(|| format!("making {}", into.display()))?;
            let (reader, writer) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(|| "making a pipe".into())?;
            let (reader, writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
            let extract = Extract { owner, overwrite: true, rename: None };
            // The ignore file speaks of paths from the source root: an
            // entry `x` of this item is `<source>/x` there.
            let excluded = |p: &Path| ignore.is_some_and(|i| (i.excluded)(&item.source.join(p)));
            let reinclude = |p: &Path| ignore.is_some_and(|i| (i.may_reinclude_under)(&item.source.join(p)));
            let filter = Filter { excluded: &excluded, may_reinclude_under: &reinclude };
            let done = std::thread::scope(|scope| {
                let producer = scope.spawn(|| {
                    copy::archive_filtered(from, &item.source, top.as_deref(), owner, Some(&filter), writer).map(drop)
                });
                let mut tee = Tee { inner: reader, hasher: &mut hasher };
                let extracted = copy::extract(root.as_fd(), &into, &mut tee, &extract);
                // What extract left unread (the tar's end padding) is hashed
                // too, and unblocks the writer.
                let _ = std::io::copy(&mut tee, &mut std::io::sink());
                let produced = producer.join().unwrap_or_else(|_| Err(Error::new("the copy thread panicked")));
                produced.and(extracted)
            });
            done.ctx(|| format!("copying {}", item.source.display()))?;
        }
        Ok(hasher.finish().0)
    }
}

/// A reader that hashes what passes.
struct Tee<'h, R> {
    inner: R,
    hasher: &'h mut Hasher,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
