//! A build's COPY and ADD: files of a build context (or of another image's
//! root) written into a build container's root, both sides worked on
//! through fds under their roots (`copy`'s `archive` and `extract`): a
//! symlink in the context never leads out of it, one in the image never
//! leads the write out of the container's root.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use image::digest::{Digest, Hasher};
use image::layer::Compression;
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
    /// The source is a tar archive, compressed so ([`add_archive`] says),
    /// unpacked into `dest` (ADD's rule for local archives).
    pub unpack: Option<Packed>,
}

/// How a tar archive ADD unpacks (or a build context given as an archive)
/// is compressed: a layer's compressions, and xz and bzip2, which docker
/// unpacks too. Told by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    Layer(Compression),
    Xz,
    Bzip2,
}

impl Packed {
    fn sniff(head: &[u8]) -> Packed {
        match image::layer::sniff(head) {
            Ok(c) => Packed::Layer(c),
            Err("xz") => Packed::Xz,
            Err(_) => Packed::Bzip2,
        }
    }

    /// The uncompressed bytes of `raw`.
    fn reader<'a, R: std::io::Read + 'a>(self, raw: R) -> std::io::Result<Box<dyn std::io::Read + 'a>> {
        Ok(match self {
            Packed::Layer(c) => image::layer::decoder(c, raw)?,
            Packed::Xz => {
                // An archive from a stranger: xz's dictionary may ask for
                // up to 1.5 GiB; 256 MiB covers `xz -9` (64 MiB).
                let stream = liblzma::stream::Stream::new_stream_decoder(256 << 20, liblzma::stream::CONCATENATED)
                    .map_err(std::io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(raw, stream))
            }
            Packed::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        })
    }
}

/// What ADD makes of a local file: a tar archive it unpacks (with its
/// compression), or a file it copies (`None`). By content, as docker
/// decides.
pub fn add_archive(from: BorrowedFd, source: &Path) -> Result<Option<Packed>> {
    use std::io::Read as _;
    let shown = || format!("reading {}", source.display());
    let open = || sys::fs::open_rerooted(from, source, OFlags::RDONLY).map(std::fs::File::from).ctx(shown);
    let mut head = Vec::with_capacity(512);
    open()?.take(512).read_to_end(&mut head).ctx(shown)?;
    let packed = Packed::sniff(&head);
    // The tar header's magic, in what the file's start decompresses to (a
    // bzip2 block is decompressed whole: the file is read from its start).
    let mut plain = Vec::with_capacity(512);
    if let Ok(d) = packed.reader(open()?) {
        let _ = d.take(512).read_to_end(&mut plain);
    }
    let is_tar = plain.len() >= 262 && &plain[257..262] == b"ustar";
    Ok(is_tar.then_some(packed))
}

/// Unpack a build context given as a tar archive (plain, gzip, zstd, xz or
/// bzip2, told by its content) read from `input` into directory `into` (a
/// private one of the caller's), re-rooted there as a COPY writes.
pub fn unpack_context(mut input: impl std::io::Read, into: &Path) -> Result<()> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(512);
    (&mut input).take(512).read_to_end(&mut head).ctx(|| "reading the build context".into())?;
    let packed = Packed::sniff(&head);
    let raw = std::io::Cursor::new(head).chain(input);
    let plain = packed.reader(raw).ctx(|| "reading the build context".into())?;
    let root = rustix::fs::open(into, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", into.display()))?;
    let extract = Extract { owner: None, overwrite: true, rename: None, mode: None };
    copy::extract(root.as_fd(), Path::new("/"), copy::buffered(plain), &extract)
        .ctx(|| "unpacking the build context".into())
}

/// How a COPY writes what it copies.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `--chown`: `user[:group]`, names resolved in the container's
    /// /etc/passwd and /etc/group.
    pub chown: Option<String>,
    /// `--chmod`: the mode of everything copied.
    pub chmod: Option<u32>,
}

/// What a COPY leaves out of the directories it copies (the build's
/// ignore file), asked with paths relative to the source root.
pub type Ignore<'f> = Filter<'f>;

impl Engine {
    /// Copy `items` from under directory `from` into container `c`'s root
    /// (mounted for it), parents made as needed (0755, root's), leaving
    /// out what `ignore` excludes.
    pub fn copy_into_container(
        &self,
        c: &Container,
        from: BorrowedFd,
        items: &[CopyItem],
        opts: &CopyOptions,
        ignore: Option<&Ignore<'_>>,
    ) -> Result<()> {
        let layers = self.layers()?;
        let root_path = layers.mount(&c.id)?;
        let copied = self.copy_into_root(&root_path, from, items, opts, ignore);
        if let Err(e) = layers.unmount(&c.id) {
            tracing::warn!("unmounting the storage of {}: {e}", c.id);
        }
        copied
    }

    /// Copy `items` from under directory `from` into directory `dir` (a
    /// private one of the caller's), as [`Engine::copy_into_container`]
    /// writes into a container's root.
    pub fn copy_into_dir(
        &self,
        dir: &Path,
        from: BorrowedFd,
        items: &[CopyItem],
        ignore: Option<&Ignore<'_>>,
    ) -> Result<()> {
        self.copy_into_root(dir, from, items, &CopyOptions::default(), ignore)
    }

    fn copy_into_root(
        &self,
        root_path: &Path,
        from: BorrowedFd,
        items: &[CopyItem],
        opts: &CopyOptions,
        ignore: Option<&Ignore<'_>>,
    ) -> Result<()> {
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
        for item in items {
            if let Some(compression) = item.unpack {
                // The archive's owners are kept, as docker keeps them,
                // unless --chown says otherwise.
                let entries_owner = if opts.chown.is_some() { owner } else { None };
                self.unpack_into_root(root.as_fd(), from, item, compression, owner, entries_owner)?;
                continue;
            }
            // A file copied to a path the image has as a directory goes
            // into it (docker's rule, trailing `/` or not).
            let existing_dir = !item.contents
                && sys::fs::open_rerooted(root.as_fd(), &item.dest, OFlags::RDONLY | OFlags::DIRECTORY).is_ok();
            let (into, top) = if item.contents {
                (item.dest.clone(), None)
            } else if existing_dir {
                let name = item.source.file_name().map(std::ffi::OsStr::to_owned);
                (item.dest.clone(), name)
            } else {
                let name = item
                    .dest
                    .file_name()
                    .ok_or_else(|| Error::new(format!("copying to {}: not a file name", item.dest.display())))?;
                (item.dest.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf), Some(name.to_owned()))
            };
            make_dirs(root.as_fd(), &into, owner).ctx(|| format!("making {}", into.display()))?;
            let extract = Extract { owner, overwrite: true, rename: None, mode: opts.chmod };
            // The ignore file speaks of paths from the source root: an
            // entry `x` of this item is `<source>/x` there.
            let filter = item_filter(item, ignore);
            let filter = Filter { excluded: &filter.0, may_reinclude_under: &filter.1 };
            let (produced, extracted) = copy::through_pipe(
                |writer| {
                    let out = std::io::BufWriter::with_capacity(copy::PIPE_BUFFER, writer);
                    let out =
                        copy::archive_filtered(from, &item.source, top.as_deref(), owner, Some(&filter), true, out)?;
                    out.into_inner().map(drop).map_err(|e| Error::caused("writing the copy", e.into_error()))
                },
                |reader| copy::extract(root.as_fd(), &into, copy::buffered(reader), &extract),
            )?;
            let done = produced.and(extracted);
            done.ctx(|| format!("copying {}", item.source.display()))?;
        }
        Ok(())
    }

    /// ADD's unpacking of archive `item` into `item.dest` (made if
    /// missing), entries re-rooted there as `extract` makes every entry.
    fn unpack_into_root(
        &self,
        root: BorrowedFd,
        from: BorrowedFd,
        item: &CopyItem,
        packed: Packed,
        owner: copy::Owner,
        entries_owner: copy::Owner,
    ) -> Result<()> {
        let shown = || format!("unpacking {}", item.source.display());
        make_dirs(root, &item.dest, owner).ctx(|| format!("making {}", item.dest.display()))?;
        let fd = sys::fs::open_rerooted(from, &item.source, OFlags::RDONLY).ctx(shown)?;
        let file = copy::buffered(std::fs::File::from(fd));
        let extract = Extract { owner: entries_owner, overwrite: true, rename: None, mode: None };
        let plain = packed.reader(file).ctx(shown)?;
        copy::extract(root, &item.dest, plain, &extract).ctx(shown)
    }

    /// The digest of what copying `items` from under `from` would write
    /// (their tar streams, owners as they are, in order, `ignore`
    /// applied): what a COPY step's history names and its cache keys on,
    /// known before anything is copied.
    pub fn copy_digest(&self, from: BorrowedFd, items: &[CopyItem], ignore: Option<&Ignore<'_>>) -> Result<Digest> {
        let mut hasher = HashWriter(Hasher::new());
        for item in items {
            let filter = item_filter(item, ignore);
            let filter = Filter { excluded: &filter.0, may_reinclude_under: &filter.1 };
            let top = (!item.contents).then(|| item.source.file_name().map(|n| n.to_owned())).flatten();
            // Content only: a file touched but not changed is the same.
            hasher = copy::archive_filtered(from, &item.source, top.as_deref(), None, Some(&filter), false, hasher)
                .ctx(|| format!("reading {}", item.source.display()))?;
        }
        Ok(hasher.0.finish().0)
    }
}

/// `ignore` for `item`'s tree: it speaks of paths from the source root,
/// and an entry `x` of the item is `<source>/x` there.
#[allow(clippy::type_complexity)]
fn item_filter<'a>(
    item: &'a CopyItem,
    ignore: Option<&'a Ignore<'a>>,
) -> (impl Fn(&Path) -> bool + Sync + 'a, impl Fn(&Path) -> bool + Sync + 'a) {
    (
        move |p: &Path| ignore.is_some_and(|i| (i.excluded)(&item.source.join(p))),
        move |p: &Path| ignore.is_some_and(|i| (i.may_reinclude_under)(&item.source.join(p))),
    )
}

/// Directory `path` under `root` (re-rooted), made with its missing
/// parents; those it makes get `owner` (a COPY --chown's, as docker and
/// buildah give them; root's without).
fn make_dirs(root: BorrowedFd, path: &Path, owner: copy::Owner) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut prefix = PathBuf::new();
    for c in path.components().filter(|c| matches!(c, std::path::Component::Normal(_))) {
        prefix.push(c);
        if !missing.is_empty() || sys::fs::open_rerooted(root, &prefix, OFlags::PATH).is_err() {
            missing.push(prefix.clone());
        }
    }
    sys::fs::ensure_rerooted(root, path, sys::fs::Kind::Dir)?;
    let Some((uid, gid)) = owner else { return Ok(()) };
    for dir in missing {
        let fd = sys::fs::open_rerooted(root, &dir, OFlags::PATH | OFlags::NOFOLLOW)?;
        rustix::fs::chownat(
            &fd,
            "",
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            rustix::fs::AtFlags::EMPTY_PATH,
        )?;
    }
    Ok(())
}

/// A writer that only hashes.
struct HashWriter(Hasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
