//! What an archive load will import, gathered and fully verified before the
//! store is touched, so a bad archive leaves the store as it was.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestReader};
use crate::error::{Context as _, Error, Result};
use crate::reference::Reference;
use crate::store::Store;

use super::source::Source;
use super::ArchiveImage;

#[derive(Default)]
pub(crate) struct Plan {
    /// Archive files to import, each already verified against its digest.
    files: Vec<(PathBuf, Digest)>,
    /// Documents we generated (manifests for docker-archive images).
    generated: Vec<(Vec<u8>, Digest)>,
    seen: HashSet<Digest>,
    pub(crate) images: Vec<ArchiveImage>,
    /// Digests of the source's files computed while extracting them.
    known: HashMap<PathBuf, (Digest, u64)>,
    /// The files are private staged copies: move them into the store.
    movable: bool,
}

impl Plan {
    /// A plan for a source: files it extracted (and hashed) are verified
    /// against those digests, and moved rather than copied on import.
    pub(crate) fn for_source(src: &Source) -> Self {
        Plan { known: src.digests().clone(), movable: src.is_staged(), ..Plan::default() }
    }

    /// Digest and size of `path` as computed on extraction, if it was.
    pub(crate) fn known(&self, path: &Path) -> Option<&(Digest, u64)> {
        self.known.get(path)
    }

    /// Hash `path` now and remember it for import; returns false if already planned.
    pub(crate) fn add_file(&mut self, path: PathBuf, digest: &Digest, size: Option<u64>, what: &str) -> Result<bool> {
        if self.seen.contains(digest) {
            return Ok(false);
        }
        if let Some((actual, n)) = self.known.get(&path) {
            actual.verify(digest, what)?;
            if let Some(want) = size.filter(|w| w != n) {
                return Err(Error::InvalidArchive(format!("{what}: size {n}, expected {want}")));
            }
            self.seen.insert(digest.clone());
            self.files.push((path, digest.clone()));
            return Ok(true);
        }
        let f = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidArchive(format!("missing blob {digest} ({what})")),
            _ => Error::Io { context: format!("opening {}", path.display()), source: e },
        })?;
        DigestReader::new(f).verify(digest, size, what)?;
        self.seen.insert(digest.clone());
        self.files.push((path, digest.clone()));
        Ok(true)
    }

    /// Remember a file whose digest was just computed by the caller (so it
    /// needs no second hash here).
    pub(crate) fn add_verified_file(&mut self, path: PathBuf, digest: Digest) {
        if self.seen.insert(digest.clone()) {
            self.files.push((path, digest));
        }
    }

    /// A generated document; returns its digest and size.
    pub(crate) fn add_generated(&mut self, data: Vec<u8>) -> (Digest, u64) {
        let d = Digest::of_bytes(&data);
        let n = data.len() as u64;
        if self.seen.insert(d.clone()) {
            self.generated.push((data, d.clone()));
        }
        (d, n)
    }

    pub(crate) fn add_image(&mut self, reference: Option<Reference>, manifest: Digest) {
        self.images.push(ArchiveImage { reference, manifest });
    }

    /// Copy everything into the store (each put re-verifies), then tag.
    pub(crate) fn import(self, store: &Store) -> Result<Vec<ArchiveImage>> {
        for (path, digest) in &self.files {
            if self.movable {
                // Verified above, and private to us since: no second copy.
                store.put_verified_file(path, digest)?;
                continue;
            }
            let f = std::fs::File::open(path).context(|| format!("opening {}", path.display()))?;
            store.put(f, Some(digest))?;
        }
        for (data, digest) in &self.generated {
            store.put_bytes(data, Some(digest))?;
        }
        let images = self.images;
        store.update_index(|idx| {
            for img in &images {
                if let Some(r) = &img.reference {
                    idx.tag(r, &img.manifest)?;
                }
            }
            Ok(())
        })?;
        Ok(images)
    }
}
