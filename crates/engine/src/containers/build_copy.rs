//! A build's COPY and ADD: files of a build context (or of another image's
//! root) written into a build container's root, both sides worked on
//! through fds under their roots (`copy`'s `archive` and `extract`): a
//! symlink in the context never leads out of it, one in the image never
//! leads the write out of the container's root.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
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
        // Not synced: unmounting a synced overlay syncs the whole host
        // filesystem its upper dir is on (~30 ms after a 50 MB COPY). The
        // container's changes become a layer whose blob is durable, as a
        // pulled layer's unpacked files are not synced either.
        let root_path = layers.mount_unsynced(&c.id)?;
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
            // One regular file: copied by the kernel, file to file (a
            // 50 MB COPY took ~80 ms through the tar pipe).
            if let Some(name) = top.as_deref() {
                let copied = copy::copy_file(from, &item.source, root.as_fd(), &into, name, &extract)
                    .ctx(|| format!("copying {}", item.source.display()))?;
                if copied {
                    continue;
                }
            }
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
    ///
    /// Remembered under `<root>/build-copy-digests/`, keyed by a
    /// [`copy::fingerprint`] of the items' trees (what they are, their
    /// inodes, sizes, owners, modes, mtimes and ctimes): an unchanged
    /// context is not read again (BuildKit keeps such metadata too). Any
    /// write to a file changes its ctime; a tree whose newest time is too
    /// recent for that to show (the same clock tick, whole seconds on
    /// filesystems without nanoseconds) is hashed and not remembered.
    pub fn copy_digest(&self, from: BorrowedFd, items: &[CopyItem], ignore: Option<&Ignore<'_>>) -> Result<Digest> {
        let started = std::time::SystemTime::now();
        let mut fp = HashWriter(Hasher::new());
        let mut newest = 0i128;
        for item in items {
            let filter = item_filter(item, ignore);
            let filter = Filter { excluded: &filter.0, may_reinclude_under: &filter.1 };
            let top = (!item.contents).then(|| item.source.file_name().map(|n| n.to_owned())).flatten();
            // What the item is, each part length-prefixed.
            for part in [item.source.as_os_str(), top.as_deref().unwrap_or_default()] {
                fp.0.update(&(part.len() as u64).to_le_bytes());
                fp.0.update(part.as_bytes());
            }
            let (out, n) = copy::fingerprint(from, &item.source, top.as_deref(), Some(&filter), fp)
                .ctx(|| format!("reading {}", item.source.display()))?;
            fp = out;
            newest = newest.max(n);
        }
        let key = fp.0.finish().0;
        let cache = self.root().join(DIGESTS_DIR).join(key.hex());
        if let Some(known) = read_known_digest(&cache, &key) {
            return Ok(known);
        }
        let digest = self.copy_digest_read(from, items, ignore)?;
        // Only a tree that a later write would show in: its newest time
        // two seconds before the first stat at least.
        let started = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        if newest + 2_000_000_000 <= started {
            // A lost or torn entry is a miss: not fsynced.
            let dir = self.root().join(DIGESTS_DIR);
            let text = known_digest_text(&key, &digest);
            let written = sys::fs::create_private_dir(&dir, 0o700)
                .and_then(|()| sys::fs::write_atomic(&cache, text.as_bytes(), 0o600, sys::fs::Durability::ReplaceOnly));
            if let Err(e) = written {
                tracing::debug!("remembering a COPY's digest in {}: {e}", cache.display());
            }
        }
        Ok(digest)
    }

    /// [`Engine::copy_digest`], read and hashed.
    fn copy_digest_read(&self, from: BorrowedFd, items: &[CopyItem], ignore: Option<&Ignore<'_>>) -> Result<Digest> {
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

/// Where [`Engine::copy_digest`] remembers digests, under the root.
pub(crate) const DIGESTS_DIR: &str = "build-copy-digests";

/// What a remembered digest's file holds: a version, the key it is
/// filed under (a file moved or copied to another name is no hit), the
/// digest, and a checksum of those (a torn or damaged file is no hit).
fn known_digest_text(key: &Digest, digest: &Digest) -> String {
    let body = format!("berth copy digest 1\n{key}\n{digest}\n");
    let sum = Digest::of_bytes(body.as_bytes());
    format!("{body}{sum}\n")
}

/// The digest remembered in `path` for `key`, if the file says exactly
/// what [`known_digest_text`] writes; anything else is a miss.
fn read_known_digest(path: &Path, key: &Digest) -> Option<Digest> {
    let bytes = sys::fs::read_regular(path, 1024).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let digest: Digest = text.lines().nth(2)?.parse().ok()?;
    (known_digest_text(key, &digest) == text).then_some(digest)
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn engine() -> (tempfile::TempDir, Engine) {
        let t = tempfile::tempdir().unwrap();
        let engine = Engine::open(&t.path().join("root"), &t.path().join("run"), Some("vfs")).unwrap();
        (t, engine)
    }

    fn dir_fd(path: &Path) -> rustix::fd::OwnedFd {
        rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    fn item(source: &str, dest: &str, contents: bool) -> CopyItem {
        CopyItem { source: source.into(), dest: dest.into(), contents, unpack: None }
    }

    /// Sets `path`'s mtime (and atime) to `secs`; its ctime becomes now.
    fn set_mtime(path: &Path, secs: i64) {
        let t = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
        let times = rustix::fs::Timestamps { last_access: t, last_modification: t };
        rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }

    /// The remembered digests: used when nothing changed, never when a
    /// file's content did (same size, same mtime: its ctime tells), and
    /// ignored when damaged; a tree too new is not remembered.
    #[test]
    fn copy_digests_are_remembered_by_metadata() {
        let (t, engine) = engine();
        let ctx = t.path().join("ctx");
        fs::create_dir_all(ctx.join("files/sub")).unwrap();
        fs::write(ctx.join("files/a"), "aaaa").unwrap();
        fs::write(ctx.join("files/sub/b"), "bbbb").unwrap();
        fs::write(ctx.join("big"), vec![7u8; 100_000]).unwrap();
        let from = dir_fd(&ctx);
        let items = [item("files", "/files", true), item("big", "/big", false)];
        let cache = t.path().join("root/build-copy-digests");

        // Just made: hashed, not remembered (a write in the same tick
        // would not show).
        let fresh = engine.copy_digest(from.as_fd(), &items, None).unwrap();
        assert_eq!(fresh, engine.copy_digest_read(from.as_fd(), &items, None).unwrap());
        assert!(fs::read_dir(&cache).map_or(true, |d| d.count() == 0), "a tree this new is not remembered");

        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(engine.copy_digest(from.as_fd(), &items, None).unwrap(), fresh);
        let files: Vec<_> = fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "remembered once the tree is old enough");
        let entry = &files[0];
        assert_eq!(fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(entry).unwrap().permissions().mode() & 0o777, 0o600);

        // It is what answers: an entry naming another digest (checksum
        // and all) is believed...
        let key: Digest = format!("sha256:{}", entry.file_name().unwrap().to_str().unwrap()).parse().unwrap();
        let other = Digest::of_bytes(b"other");
        fs::write(entry, known_digest_text(&key, &other)).unwrap();
        assert_eq!(engine.copy_digest(from.as_fd(), &items, None).unwrap(), other);
        // ...a damaged one is not (and is written again).
        for damaged in [
            known_digest_text(&key, &other).replace("sha256:", "sha256:0"),
            known_digest_text(&key, &other)[..80].to_string(),
            known_digest_text(&other, &other),
            String::new(),
            "garbage\n".into(),
        ] {
            fs::write(entry, damaged).unwrap();
            assert_eq!(engine.copy_digest(from.as_fd(), &items, None).unwrap(), fresh);
            assert_eq!(fs::read_to_string(entry).unwrap(), known_digest_text(&key, &fresh));
        }

        // New content, same size, the same mtime put back: the ctime
        // changed, so does the key.
        let mtime = fs::metadata(ctx.join("files/sub/b")).unwrap().mtime();
        fs::write(ctx.join("files/sub/b"), "BBBB").unwrap();
        set_mtime(&ctx.join("files/sub/b"), mtime);
        let changed = engine.copy_digest(from.as_fd(), &items, None).unwrap();
        assert_ne!(changed, fresh);
        assert_eq!(changed, engine.copy_digest_read(from.as_fd(), &items, None).unwrap());

        // A touched file is the same content: the same digest (hashed
        // again, the key being new).
        fs::write(ctx.join("files/sub/b"), "bbbb").unwrap();
        set_mtime(&ctx.join("files/a"), 1_000_000);
        assert_eq!(engine.copy_digest(from.as_fd(), &items, None).unwrap(), fresh);

        // What the ignore file leaves out is in neither.
        let excluded = |p: &Path| p == Path::new("files/sub");
        let never = |_: &Path| false;
        let ignore = Ignore { excluded: &excluded, may_reinclude_under: &never };
        let without = engine.copy_digest(from.as_fd(), &items, Some(&ignore)).unwrap();
        assert_ne!(without, fresh);
        assert_eq!(without, engine.copy_digest_read(from.as_fd(), &items, Some(&ignore)).unwrap());
    }

    /// What the old way wrote: the tar of the source through the pipe.
    fn copy_through_tar(from: BorrowedFd, root: &Path, source: &str, into: &str, name: &str, chmod: Option<u32>) {
        let root = dir_fd(root);
        let owner = Some((0, 0));
        let extract = Extract { owner, overwrite: true, rename: None, mode: chmod };
        let top = std::ffi::OsString::from(name);
        let (produced, extracted) = copy::through_pipe(
            |w| copy::archive_filtered(from, Path::new(source), Some(&top), owner, None, true, w).map(drop),
            |r| copy::extract(root.as_fd(), Path::new(into), r, &extract),
        )
        .unwrap();
        produced.unwrap();
        extracted.unwrap();
    }

    fn describe(path: &Path) -> String {
        let m = fs::symlink_metadata(path).unwrap();
        let content = if m.is_file() { fs::read(path).unwrap() } else { Vec::new() };
        format!(
            "{:o} {}:{} mtime {} type {:?} {}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.mtime(),
            m.file_type(),
            Digest::of_bytes(&content)
        )
    }

    /// One file copied file to file is what its tar wrote: mode (or
    /// --chmod's), owner, mtime, content; what was at the destination (a
    /// directory with files, a symlink leading out) is replaced, never
    /// written through; a symlink source resolves inside the context.
    #[test]
    fn one_file_copied_by_the_kernel_is_what_the_tar_wrote() {
        let (t, engine) = engine();
        let ctx = t.path().join("ctx");
        fs::create_dir_all(&ctx).unwrap();
        fs::write(ctx.join("big"), vec![3u8; 3 << 20]).unwrap();
        fs::set_permissions(ctx.join("big"), fs::Permissions::from_mode(0o751)).unwrap();
        set_mtime(&ctx.join("big"), 1_500_000_000);
        std::os::unix::fs::symlink("/big", ctx.join("link")).unwrap();
        let outside = t.path().join("outside");
        fs::write(&outside, "keep").unwrap();
        let from = dir_fd(&ctx);

        for chmod in [None, Some(0o600)] {
            let (kernel, tar) = (t.path().join("kernel"), t.path().join("tar"));
            for root in [&kernel, &tar] {
                let _ = fs::remove_dir_all(root);
                fs::create_dir_all(root.join("was-dir/sub")).unwrap();
                fs::write(root.join("was-dir/sub/x"), "x").unwrap();
                std::os::unix::fs::symlink(&outside, root.join("was-link")).unwrap();
            }
            let opts = CopyOptions { chown: None, chmod };
            let items = [item("big", "/big", false), item("big", "/was-dir", false), item("link", "/was-link", false)];
            // copy_into_root is what copy_into_container runs, mounted.
            engine.copy_into_root(&kernel, from.as_fd(), &items, &opts, None).unwrap();
            copy_through_tar(from.as_fd(), &tar, "big", "/", "big", chmod);
            // A file onto a directory goes into it (docker's rule).
            copy_through_tar(from.as_fd(), &tar, "big", "/was-dir", "big", chmod);
            copy_through_tar(from.as_fd(), &tar, "link", "/", "was-link", chmod);
            for name in ["big", "was-dir/big", "was-dir/sub/x", "was-link"] {
                assert_eq!(describe(&kernel.join(name)), describe(&tar.join(name)), "{name}, --chmod {chmod:?}");
            }
            assert!(fs::symlink_metadata(kernel.join("was-link")).unwrap().is_file());
            assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
        }
    }
}
