//! Read access to an archive's files, whether it is a directory or a tar.
//!
//! Tars (possibly gzip'd or zstd'd) are extracted into a private staging
//! directory on the store's filesystem: archive members come in any order
//! (docker puts manifest.json last) and a compressed stream cannot seek.
//! Extraction is defensive: only regular files and directories are written,
//! paths may not escape, and symlinks / hardlinks (docker's legacy format
//! links duplicate layers) are recorded and resolved lexically inside the
//! archive instead of created.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::layer::stream;
use crate::manifest::Compression;
use crate::store::{sweep, Store, STAGING_PREFIX};

use super::MemberHook;

/// Largest JSON document we read into memory from an archive.
pub(crate) const MAX_JSON: u64 = 16 << 20;
/// Symlink chains longer than this are treated as loops.
const MAX_LINK_HOPS: usize = 16;

pub(crate) struct Source {
    root: PathBuf,
    links: HashMap<String, String>,
    /// sha256 and size of each file extracted from a tar, computed on the
    /// way in so verification needs no second read.
    digests: HashMap<PathBuf, (Digest, u64)>,
    /// Keeps the staging directory alive (and deletes it on drop).
    _staging: Option<tempfile::TempDir>,
    /// The staging directory, flocked: a sweep of the store leaves it alone
    /// while we live. Dropped after `_staging`, so held until it is removed.
    _staging_lock: Option<File>,
}

impl Source {
    /// An on-disk directory (an OCI layout).
    pub(crate) fn dir(path: &Path) -> Self {
        Source {
            root: path.to_path_buf(),
            links: HashMap::new(),
            digests: HashMap::new(),
            _staging: None,
            _staging_lock: None,
        }
    }

    /// Extract a tar stream (gzip / zstd detected by magic) into a staging
    /// dir in `store`'s `tmp/`.
    #[cfg(test)]
    pub(crate) fn tar(reader: impl Read, store: &Store) -> Result<Self> {
        Self::tar_with(reader, store, &mut |_, _| {})
    }

    /// [`tar`](Self::tar), calling `hook` with each regular file's path and
    /// sha256 as soon as it is fully extracted (later members still to come).
    pub(crate) fn tar_with(reader: impl Read, store: &Store, hook: MemberHook<'_>) -> Result<Self> {
        let (staging, lock) = staging_dir(store.root(), &store.tmp_dir())?;
        let mut buffered = BufReader::new(reader);
        let magic = buffered.fill_buf().map_err(|e| corrupt(&e))?;
        let (links, digests) = match stream::sniff(magic) {
            // Single member: what `gzip` and podman write (kept as it was).
            Ok(Compression::Gzip) => extract(GzDecoder::new(buffered), staging.path(), hook)?,
            Ok(Compression::Zstd) => {
                let decoder = stream::decoder(Compression::Zstd, buffered).map_err(|e| corrupt(&e))?;
                extract(decoder, staging.path(), hook)?
            }
            Ok(Compression::None) => extract(buffered, staging.path(), hook)?,
            Err(name) => return Err(invalid(&format!("{name}-compressed archives are not supported"))),
        };
        Ok(Source {
            root: staging.path().to_path_buf(),
            links,
            digests,
            _staging: Some(staging),
            _staging_lock: Some(lock),
        })
    }

    /// Whether the files are our private extracted copies, which the store
    /// may take over by renaming instead of copying.
    pub(crate) fn is_staged(&self) -> bool {
        self._staging.is_some()
    }

    /// Digest and size of an extracted file (by its resolved path), when known.
    pub(crate) fn digests(&self) -> &HashMap<PathBuf, (Digest, u64)> {
        &self.digests
    }

    /// The real path of an archive member, following recorded links.
    pub(crate) fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let mut cur = normalize(Path::new(rel)).ok_or_else(|| invalid(&format!("path {rel:?} escapes the archive")))?;
        for _ in 0..MAX_LINK_HOPS {
            match self.links.get(&cur) {
                Some(target) => cur = target.clone(),
                None => return Ok(self.root.join(&cur)),
            }
        }
        Err(invalid(&format!("symlink loop at {rel:?}")))
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.resolve(rel).is_ok_and(|p| p.is_file())
    }

    pub(crate) fn open(&self, rel: &str) -> Result<File> {
        let path = self.resolve(rel)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => invalid(&format!("missing {rel}")),
            _ => Error::Io { context: format!("opening archive member {rel}"), source: e },
        })
    }

    /// Read a small (JSON) member fully.
    pub(crate) fn read_small(&self, rel: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open(rel)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Io { context: format!("reading {rel}"), source: e })?;
        if buf.len() as u64 > MAX_JSON {
            return Err(invalid(&format!("{rel} is larger than {MAX_JSON} bytes")));
        }
        Ok(buf)
    }
}

/// A new staging directory in the store's `tmp/`, locked against sweeps (see
/// [`crate::store::sweep`]).
fn staging_dir(store_root: &Path, parent: &Path) -> Result<(tempfile::TempDir, File)> {
    let err = |e| Error::Io { context: format!("creating staging dir in {}", parent.display()), source: e };
    sweep::create_locked(
        store_root,
        || {
            let dir = tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(parent)?;
            let lock = File::open(dir.path())?;
            Ok((dir, lock))
        },
        |(_, lock)| Ok(lock),
    )
    .map_err(err)
}

fn invalid(why: &str) -> Error {
    Error::InvalidArchive(why.to_string())
}

fn corrupt(e: &io::Error) -> Error {
    invalid(&format!("truncated or corrupt archive: {e}"))
}

/// Lexically normalise an archive path; `None` if it leaves the archive root.
fn normalize(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

type Extracted = (HashMap<String, String>, HashMap<PathBuf, (Digest, u64)>);

/// Extract regular files and directories; return the link table and each
/// file's digest.
fn extract(reader: impl Read, dest: &Path, hook: MemberHook<'_>) -> Result<Extracted> {
    let mut archive = tar::Archive::new(reader);
    let mut links = HashMap::new();
    let mut digests = HashMap::new();
    let mut entries = archive.entries().map_err(|e| corrupt(&e))?;
    let mut seen_any = false;
    for entry in &mut entries {
        let mut entry = entry.map_err(|e| corrupt(&e))?;
        seen_any = true;
        let raw = entry.path().map_err(|e| corrupt(&e))?.into_owned();
        let Some(rel) = normalize(&raw).filter(|r| !r.is_empty() || entry.header().entry_type().is_dir()) else {
            return Err(invalid(&format!("member {} escapes the archive", raw.display())));
        };
        let kind = entry.header().entry_type();
        let out = dest.join(&rel);
        if kind.is_dir() {
            fs::create_dir_all(&out).map_err(|e| Error::Io { context: format!("extracting {rel}"), source: e })?;
        } else if kind.is_file() {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error::Io { context: format!("extracting {rel}"), source: e })?;
            }
            let want = entry.size();
            let f = File::create(&out).map_err(|e| Error::Io { context: format!("extracting {rel}"), source: e })?;
            let mut w = DigestWriter::new(f);
            let got = copy(&mut entry, &mut w, &rel)?;
            // The tar reader stops quietly at end of input: a short member means truncation.
            if got != want {
                return Err(invalid(&format!("truncated archive: {rel} has {got} of {want} bytes")));
            }
            let (_, digest, n) =
                w.finish().map_err(|e| Error::Io { context: format!("extracting {rel}"), source: e })?;
            hook(&out, &digest);
            // A member given twice: the last copy is what is on disk.
            digests.insert(out, (digest, n));
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().map_err(|e| corrupt(&e))?.ok_or_else(|| invalid("link without target"))?;
            // Symlinks are relative to their directory; hardlinks to the archive root.
            let joined = if kind.is_symlink() && target.is_relative() {
                Path::new(&rel).parent().unwrap_or(Path::new("")).join(&target)
            } else {
                target.into_owned()
            };
            let resolved = normalize(&joined).ok_or_else(|| invalid(&format!("link {rel} escapes the archive")))?;
            links.insert(rel, resolved);
        }
        // Devices, fifos and the like have no business in an image archive; skip them.
    }
    if !seen_any {
        return Err(invalid("empty or not a tar archive"));
    }
    Ok((links, digests))
}

/// Copy with a large buffer: read errors are archive errors, write errors I/O errors.
fn copy(r: &mut impl Read, w: &mut impl io::Write, rel: &str) -> Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(&e)),
        };
        w.write_all(&buf[..n]).map_err(|e| Error::Io { context: format!("extracting {rel}"), source: e })?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("./a/b/../c")).as_deref(), Some("a/c"));
        assert_eq!(normalize(Path::new("/abs/x")).as_deref(), Some("abs/x"));
        assert_eq!(normalize(Path::new("../x")), None);
    }

    #[test]
    fn resolves_links_and_rejects_escapes() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "a/layer.tar", &b"abc"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "b/layer.tar", "../a/layer.tar").unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "evil", "../../etc/passwd").unwrap();
        let data = b.into_inner().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        // The escaping link fails the whole extraction.
        assert!(Source::tar(&data[..], &store).is_err());

        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut h, "a/layer.tar", &b"abc"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "b/layer.tar", "../a/layer.tar").unwrap();
        let src = Source::tar(&b.into_inner().unwrap()[..], &store).unwrap();
        assert_eq!(src.read_small("b/layer.tar").unwrap(), b"abc");
        assert!(src.exists("./a/layer.tar"));
        assert!(matches!(src.open("missing"), Err(Error::InvalidArchive(_))));
        assert!(src.resolve("../x").is_err());
    }
}
