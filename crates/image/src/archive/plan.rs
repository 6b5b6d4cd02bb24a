//! What an archive load will import, gathered and fully verified before the
//! store is touched, so a bad archive leaves the store as it was.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::digest::{Digest, DigestReader};
use crate::error::{Context as _, Error, Result};
use crate::reference::Reference;
use crate::store::Store;

use super::ArchiveImage;

#[derive(Default)]
pub(crate) struct Plan {
    /// Archive files to import, each already verified against its digest.
    files: Vec<(PathBuf, Digest)>,
    /// Documents we generated (manifests for docker-archive images).
    generated: Vec<(Vec<u8>, Digest)>,
    seen: HashSet<Digest>,
    pub(crate) images: Vec<ArchiveImage>,
}

impl Plan {
    /// Hash `path` now and remember it for import; returns false if already planned.
    pub(crate) fn add_file(&mut self, path: PathBuf, digest: &Digest, size: Option<u64>, what: &str) -> Result<bool> {
        if self.seen.contains(digest) {
            return Ok(false);
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
