//! The content-addressed blob store and image index under a root directory.
//!
//! ```text
//! <root>/blobs/sha256/<hex>   verified blobs, immutable once visible
//! <root>/images.json          normalised reference -> manifest digest
//! <root>/store.lock           flock: shared for index reads, exclusive for writes
//! <root>/tmp/                 staging space on the same filesystem (archive loads)
//! ```
//!
//! Blobs are written to a temp file in the blob directory, fsynced, verified and
//! only then renamed into place, so readers never see partial content and a
//! failed write leaves nothing visible. Two writers of the same blob both
//! succeed: the content is identical, and rename replaces atomically.
//!
//! A process killed mid-write leaves its temp file (or archive staging dir)
//! behind; opening the store removes every one no live process holds locked,
//! whatever its age (see [`sweep`] for the rule).

mod index;
pub(crate) mod sweep;

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub use index::ImageIndex;
use sys::fs::{FileLock, LockMode};

use crate::digest::{Digest, DigestReader};
use crate::error::{Context as _, Error, Result};
use crate::reference::Reference;

/// Buffer for copying a blob into the store.
const COPY_BUF: usize = 256 << 10;

/// Prefix of in-flight blob temp files; `list` skips them.
const TMP_PREFIX: &str = ".tmp-";
/// The image index's file name in the root.
pub(crate) const INDEX: &str = "images.json";
/// Prefix of archive staging directories under `tmp/`.
pub(crate) const STAGING_PREFIX: &str = "archive-";

/// A store rooted at a directory. Cheap to clone; holds no open files.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    blobs: PathBuf,
}

impl Store {
    /// Open (creating directories as needed) the store at `root`, removing
    /// temp files and staging dirs that interrupted processes left behind
    /// ([`sweep_temp_files`](Self::sweep_temp_files); a failure there is
    /// logged, not fatal).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let store = Store::existing(root);
        // Closed to other host users (image content carries setuid binaries
        // and device nodes from strangers); stores made by older versions,
        // with 0755 directories, are fixed here. Blob files may stay 0644
        // inside.
        for dir in [&store.root, &store.root.join("blobs"), &store.blobs, &store.tmp_dir()] {
            sys::fs::create_private_dir(dir, 0o700).context(|| format!("creating {}", dir.display()))?;
        }
        if let Err(e) = store.sweep_temp_files() {
            tracing::warn!(root = %store.root.display(), error = %e, "could not sweep stale temp files");
        }
        Ok(store)
    }

    /// The store at `root`, as [`open`](Self::open) made it, without its
    /// side effects (no directory made, nothing swept): for a process that
    /// reads no image and runs beside one that opened it (berth's monitor).
    pub fn existing(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        let blobs = root.join("blobs").join("sha256");
        Store { root, blobs }
    }

    /// Remove the temp files and archive staging dirs of writers that are
    /// gone: no live process holds them locked. Returns what was removed.
    /// Safe while other processes use the store.
    pub fn sweep_temp_files(&self) -> Result<Vec<PathBuf>> {
        sweep::sweep(self)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scratch directory on the store's filesystem for staging large content.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Store the content of `reader`, verifying it against `expected` when given.
    ///
    /// If `expected` is already present the reader is not consumed: blobs are
    /// verified when written, so the existing copy is as good as a new one.
    pub fn put(&self, reader: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            if let Ok(meta) = fs::metadata(self.blob_path(d)) {
                return Ok((d.clone(), meta.len()));
            }
        }
        let mut tmp = self.new_temp()?;
        // Large reads and writes: io::copy's 8 KiB buffer means thousands of
        // syscalls per layer blob.
        let mut src = io::BufReader::with_capacity(COPY_BUF, DigestReader::new(reader));
        io::copy(&mut src, tmp.as_file_mut()).context(|| "writing blob".into())?;
        let src = src.into_inner();
        let (actual, size) = src.finish();
        if let Some(want) = expected {
            // On mismatch `tmp` is dropped and deleted: nothing becomes visible.
            actual.verify(want, "blob")?;
        }
        let file = tmp.as_file();
        // Blobs are world-readable like the rest of an image store; tempfile makes 0600.
        file.set_permissions(fs::Permissions::from_mode(0o644)).context(|| "setting blob permissions".into())?;
        file.sync_all().context(|| "syncing blob".into())?;
        let dest = self.blob_path(&actual);
        tmp.persist(&dest)
            .map_err(|e| Error::Io { context: format!("renaming blob to {}", dest.display()), source: e.error })?;
        sync_dir(&self.blobs)?;
        Ok((actual, size))
    }

    /// A temp file in the blob directory, flocked while it lives so that a
    /// sweep (in any process) knows a live writer owns it. (A named temp file
    /// rather than O_TMPFILE: see [`sweep`].)
    fn new_temp(&self) -> Result<tempfile::NamedTempFile> {
        sweep::create_locked(
            &self.root,
            || tempfile::Builder::new().prefix(TMP_PREFIX).tempfile_in(&self.blobs),
            |t| Ok(t.as_file()),
        )
        .context(|| format!("creating temp file in {}", self.blobs.display()))
    }

    /// Take over `path`, a file the caller has verified to hold `digest` and
    /// that nothing else can change (e.g. extracted into this store's
    /// `tmp_dir`): it is renamed into place instead of copied. Falls back to
    /// a verified copy when it is on another filesystem.
    pub fn put_verified_file(&self, path: &Path, digest: &Digest) -> Result<()> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        let file = File::open(path).context(|| format!("opening {}", path.display()))?;
        file.set_permissions(fs::Permissions::from_mode(0o644)).context(|| "setting blob permissions".into())?;
        file.sync_all().context(|| "syncing blob".into())?;
        match fs::rename(path, &dest) {
            Ok(()) => sync_dir(&self.blobs),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
                self.put(file, Some(digest)).map(|_| ())
            }
            Err(e) => Err(Error::Io { context: format!("renaming blob to {}", dest.display()), source: e }),
        }
    }

    /// Store a byte slice (manifests, configs).
    pub fn put_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.put(data, expected)
    }

    /// Open a blob for streaming. Content was verified on write; wrap in a
    /// `DigestReader` to re-verify against bit rot.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.blob_path(digest)).map_err(|e| not_found_or(e, digest))
    }

    /// Read a whole blob, verifying it (meant for small JSON blobs).
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let data = fs::read(self.blob_path(digest)).map_err(|e| not_found_or(e, digest))?;
        Digest::of_bytes(&data).verify(digest, &format!("stored blob {digest}"))?;
        Ok(data)
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn size(&self, digest: &Digest) -> Result<u64> {
        fs::metadata(self.blob_path(digest)).map(|m| m.len()).map_err(|e| not_found_or(e, digest))
    }

    /// Remove a blob; returns whether it existed. Callers own the decision
    /// that nothing references it (see `images`).
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        match fs::remove_file(self.blob_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io { context: format!("deleting blob {digest}"), source: e }),
        }
    }

    /// Every stored blob (temp files and stray names are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blobs).context(|| format!("listing {}", self.blobs.display()))? {
            let entry = entry.context(|| format!("listing {}", self.blobs.display()))?;
            if let Some(d) = entry.file_name().to_str().and_then(|n| Digest::from_hex(n).ok()) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    // ---- image index ----

    fn index_path(&self) -> PathBuf {
        self.root.join(INDEX)
    }

    /// `<root>/store.lock`: shared for index reads, exclusive for writes.
    fn lock(&self, mode: LockMode) -> Result<FileLock> {
        let path = self.root.join("store.lock");
        FileLock::acquire(&path, mode).context(|| format!("locking {}", path.display()))
    }

    /// A consistent snapshot of the index (under the shared lock).
    pub fn index(&self) -> Result<ImageIndex> {
        let _l = self.lock(LockMode::Shared)?;
        ImageIndex::read(&self.index_path())
    }

    /// Read-modify-write the index under the exclusive lock; the new index is
    /// written only if `f` succeeds.
    pub fn update_index<T>(&self, f: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _l = self.lock(LockMode::Exclusive)?;
        let path = self.index_path();
        let mut idx = ImageIndex::read(&path)?;
        let before = idx.clone();
        let out = f(&mut idx)?;
        if idx != before {
            idx.write(&path)?;
        }
        Ok(out)
    }

    /// Point `name` at a manifest; returns the previous digest. The manifest must be stored.
    pub fn tag(&self, name: &Reference, manifest: &Digest) -> Result<Option<Digest>> {
        if !self.exists(manifest) {
            return Err(Error::BlobNotFound(manifest.to_string()));
        }
        self.update_index(|idx| idx.tag(name, manifest))
    }

    /// Remove a name; returns the digest it pointed at.
    pub fn untag(&self, name: &Reference) -> Result<Digest> {
        self.update_index(|idx| idx.untag(name))
    }

    /// The manifest digest a reference means here: a digest reference resolves
    /// to itself when that manifest is stored; a tag through the index.
    pub fn resolve(&self, name: &Reference) -> Result<Option<Digest>> {
        if let Some(d) = name.digest() {
            return Ok(self.exists(d).then(|| d.clone()));
        }
        Ok(self.index()?.get(name).cloned())
    }

    /// Every (name, manifest digest).
    pub fn images(&self) -> Result<Vec<(Reference, Digest)>> {
        Ok(self.index()?.iter().map(|(r, d)| (r.clone(), d.clone())).collect())
    }

    /// Names pointing at a manifest digest.
    pub fn names_for(&self, manifest: &Digest) -> Result<Vec<Reference>> {
        Ok(self.index()?.names_for(manifest))
    }
}

fn not_found_or(e: io::Error, digest: &Digest) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::BlobNotFound(digest.to_string())
    } else {
        Error::Io { context: format!("reading blob {digest}"), source: e }
    }
}

/// fsync a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).context(|| format!("syncing {}", dir.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("root")).unwrap();
        (dir, s)
    }

    fn visible_files(s: &Store) -> Vec<String> {
        fs::read_dir(&s.blobs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn store_dirs_are_private_also_for_older_stores() {
        use std::os::unix::fs::MetadataExt as _;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let dirs = [root.clone(), root.join("blobs"), root.join("blobs/sha256"), root.join("tmp")];
        // As an older berth left them.
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Store::open(&root).unwrap();
        for d in &dirs {
            assert_eq!(fs::metadata(d).unwrap().mode() & 0o7777, 0o700, "{}", d.display());
        }
        let fresh = t.path().join("fresh");
        Store::open(&fresh).unwrap();
        for d in [fresh.clone(), fresh.join("blobs"), fresh.join("blobs/sha256"), fresh.join("tmp")] {
            assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn put_get_list_delete() {
        let (_d, s) = store();
        let (d, n) = s.put(&b"hello"[..], None).unwrap();
        assert_eq!((d.clone(), n), (Digest::of_bytes(b"hello"), 5));
        assert!(s.exists(&d));
        assert_eq!(s.get(&d).unwrap(), b"hello");
        assert_eq!(s.size(&d).unwrap(), 5);
        let mut buf = String::new();
        s.open_blob(&d).unwrap().read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "hello");
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        let mode = fs::metadata(s.blob_path(&d)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert!(s.delete(&d).unwrap());
        assert!(!s.delete(&d).unwrap());
        assert!(matches!(s.get(&d), Err(Error::BlobNotFound(_))));
        assert!(matches!(s.open_blob(&d), Err(Error::BlobNotFound(_))));
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let (_d, s) = store();
        let want = Digest::of_bytes(b"expected");
        let e = s.put(&b"something else"[..], Some(&want)).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(visible_files(&s).is_empty(), "{:?}", visible_files(&s));
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn failed_read_leaves_nothing() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let (_d, s) = store();
        let e = s.put(Failing(100), None).unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
        assert!(visible_files(&s).is_empty());
    }

    #[test]
    fn corrupted_blob_is_detected_on_get() {
        let (_d, s) = store();
        let (d, _) = s.put_bytes(b"{}", None).unwrap();
        fs::write(s.blob_path(&d), b"{ }").unwrap();
        assert!(matches!(s.get(&d), Err(Error::DigestMismatch { .. })));
    }

    #[test]
    fn existing_blob_short_circuits() {
        let (_d, s) = store();
        let (d, _) = s.put_bytes(b"abc", None).unwrap();
        // The reader would fail if read: an existing verified blob is reused.
        let r = io::repeat(0).take(0);
        assert_eq!(s.put(r, Some(&d)).unwrap(), (d, 3));
    }

    #[test]
    fn concurrent_writers_of_same_blob_all_succeed() {
        let (_d, s) = store();
        let data: Arc<Vec<u8>> = Arc::new((0..200_000u32).map(|i| (i % 251) as u8).collect());
        let want = Digest::of_bytes(&data);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, data) = (s.clone(), data.clone());
                std::thread::spawn(move || s.put(&data[..], None).unwrap())
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().0, want);
        }
        assert_eq!(s.get(&want).unwrap().len(), data.len());
        assert_eq!(visible_files(&s), vec![want.hex().to_string()]);
    }

    #[test]
    fn index_tag_resolve_untag() {
        let (_d, s) = store();
        let (m, _) = s.put_bytes(b"manifest", None).unwrap();
        let bb = Reference::parse("busybox").unwrap();
        let alias = Reference::parse("localhost/mine:1").unwrap();
        assert_eq!(s.tag(&bb, &m).unwrap(), None);
        assert_eq!(s.tag(&alias, &m).unwrap(), None);
        assert_eq!(s.resolve(&Reference::parse("docker.io/library/busybox:latest").unwrap()).unwrap(), Some(m.clone()));
        assert_eq!(s.resolve(&bb.with_digest(m.clone())).unwrap(), Some(m.clone()));
        assert_eq!(s.names_for(&m).unwrap(), vec![bb.clone(), alias.clone()]);
        assert_eq!(s.images().unwrap().len(), 2);
        assert_eq!(s.untag(&bb).unwrap(), m);
        assert!(matches!(s.untag(&bb), Err(Error::ImageNotKnown(_))));
        assert_eq!(s.resolve(&bb).unwrap(), None);
        // Survives reopening, and the file holds full normalised names.
        let s2 = Store::open(s.root()).unwrap();
        assert_eq!(s2.images().unwrap(), vec![(alias, m.clone())]);
        let text = fs::read_to_string(s.root().join("images.json")).unwrap();
        assert!(text.contains("localhost/mine:1"), "{text}");
        // Unknown manifests and digest references cannot be tagged.
        let missing = Digest::of_bytes(b"nope");
        assert!(matches!(s.tag(&bb, &missing), Err(Error::BlobNotFound(_))));
        assert!(s.tag(&bb.with_digest(m.clone()), &m).is_err());
    }

    #[test]
    fn failed_update_writes_nothing() {
        let (_d, s) = store();
        let (m, _) = s.put_bytes(b"m", None).unwrap();
        let r = Reference::parse("a").unwrap();
        let res: Result<()> = s.update_index(|idx| {
            idx.tag(&r, &m)?;
            Err(Error::Other("abort".into()))
        });
        assert!(res.is_err());
        assert!(s.images().unwrap().is_empty());
    }

    #[test]
    fn concurrent_taggers_lose_no_updates() {
        // flock is per open file description, so threads with separate opens
        // contend exactly like processes.
        let (_d, s) = store();
        let (m, _) = s.put_bytes(b"m", None).unwrap();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (s, m) = (s.clone(), m.clone());
                std::thread::spawn(move || {
                    for i in 0..15 {
                        s.tag(&Reference::parse(&format!("img{t}:v{i}")).unwrap(), &m).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.images().unwrap().len(), 90);
    }

    #[test]
    fn corrupt_index_is_a_clear_error() {
        let (_d, s) = store();
        fs::write(s.root().join("images.json"), b"{not json").unwrap();
        let e = s.images().unwrap_err().to_string();
        assert!(e.contains("corrupt image index"), "{e}");
    }

    fn temp_files(s: &Store) -> Vec<String> {
        let mut v: Vec<String> = visible_files(s).into_iter().filter(|n| n.starts_with(TMP_PREFIX)).collect();
        v.sort();
        v
    }

    #[test]
    fn dead_temp_files_are_swept_when_the_store_opens_whatever_their_age() {
        use rustix::fs::{flock, FlockOperation};
        let (d, s) = store();
        let at = |name: &str| s.blobs.join(name);
        // Left by a killed writer a moment ago: nobody holds its lock.
        fs::write(at(".tmp-dead"), b"half a blob").unwrap();
        // Locked: a live writer holds it (flock is per open file
        // description, so this fd is as good as another process).
        fs::write(at(".tmp-locked"), b"y").unwrap();
        let held = File::open(at(".tmp-locked")).unwrap();
        flock(&held, FlockOperation::LockExclusive).unwrap();
        // Not temp files: a blob, and a symlink named like a temp file
        // (neither it nor its target is touched).
        let (blob, _) = s.put_bytes(b"blob", None).unwrap();
        let outside = d.path().join("outside");
        fs::write(&outside, b"precious").unwrap();
        std::os::unix::fs::symlink(&outside, at(".tmp-link")).unwrap();

        let reopened = Store::open(s.root()).unwrap();
        assert_eq!(temp_files(&s), [".tmp-link", ".tmp-locked"]);
        assert_eq!(s.get(&blob).unwrap(), b"blob");
        assert_eq!(fs::read(&outside).unwrap(), b"precious");

        // Once its writer is gone, the locked one goes too.
        drop(held);
        assert_eq!(reopened.sweep_temp_files().unwrap(), [at(".tmp-locked")]);
        assert_eq!(temp_files(&s), [".tmp-link"]);
        assert_eq!(s.list().unwrap(), [blob]);
    }

    /// A writer between creating its temp file and locking it holds the
    /// creation lock: a sweep waits for it rather than taking the file.
    #[test]
    fn a_temp_file_being_created_is_not_swept() {
        use std::sync::mpsc;
        let (_d, s) = store();
        let (created_tx, created) = mpsc::channel();
        let (go_tx, go) = mpsc::channel::<()>();
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                sweep::create_locked(
                    &s.root,
                    || {
                        let t = tempfile::Builder::new().prefix(TMP_PREFIX).tempfile_in(&s.blobs)?;
                        created_tx.send(()).unwrap();
                        go.recv().unwrap(); // stalls before its lock
                        Ok(t)
                    },
                    |t| Ok(t.as_file()),
                )
                .unwrap()
            })
        };
        created.recv().unwrap();
        assert_eq!(temp_files(&s).len(), 1);
        let sweeper = {
            let s = s.clone();
            std::thread::spawn(move || s.sweep_temp_files().unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!sweeper.is_finished(), "the sweep waits for the creator");
        go_tx.send(()).unwrap();
        let tmp = writer.join().unwrap();
        assert!(sweeper.join().unwrap().is_empty(), "the new temp file is locked by then");
        assert!(tmp.path().exists());
    }

    #[test]
    fn a_put_in_progress_is_never_swept() {
        use std::sync::mpsc;
        /// Gives some bytes, then waits for the test before ending.
        struct Paused {
            sent: bool,
            started: mpsc::Sender<()>,
            go: mpsc::Receiver<()>,
        }
        impl Read for Paused {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if !self.sent {
                    self.sent = true;
                    buf[..5].copy_from_slice(b"slow ");
                    return Ok(5);
                }
                self.started.send(()).unwrap();
                self.go.recv().unwrap();
                Ok(0)
            }
        }
        let (_d, s) = store();
        let (started, started_rx) = mpsc::channel();
        let (go_tx, go) = mpsc::channel();
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || s.put(Paused { sent: false, started, go }, None))
        };
        started_rx.recv().unwrap();
        let tmp = temp_files(&s);
        assert_eq!(tmp.len(), 1, "{tmp:?}");
        assert!(Store::open(s.root()).unwrap().sweep_temp_files().unwrap().is_empty());
        assert_eq!(temp_files(&s), tmp, "the live writer's temp file stays");
        go_tx.send(()).unwrap();
        let (d, n) = writer.join().unwrap().unwrap();
        assert_eq!((s.get(&d).unwrap(), n), (b"slow ".to_vec(), 5));
        assert!(temp_files(&s).is_empty());
    }

    #[test]
    fn index_temp_files_go_only_when_the_store_lock_is_free() {
        let (_d, s) = store();
        let (m, _) = s.put_bytes(b"m", None).unwrap();
        s.tag(&Reference::parse("kept").unwrap(), &m).unwrap();
        let mut name = sys::fs::atomic::temp_prefix(INDEX.as_ref());
        name.push("abc123");
        let leftover = s.root().join(name);
        fs::write(&leftover, b"{\"half\":").unwrap();
        {
            // A writer holds the lock: its temp file may be live. Opening
            // does not wait for the lock, and leaves the file.
            let _l = s.lock(LockMode::Exclusive).unwrap();
            Store::open(s.root()).unwrap();
            assert!(leftover.exists());
        }
        Store::open(s.root()).unwrap();
        assert!(!leftover.exists(), "index temp files are removed under the lock, whatever their age");
        assert_eq!(s.images().unwrap().len(), 1);
    }
}
