//! The on-disk image index `<root>/images.json`: normalised reference -> manifest digest.
//!
//! The file is replaced atomically (temp file + fsync + rename), so a reader
//! never sees a half-written index even without the lock; the lock is what
//! makes read-modify-write updates from several processes not lose each other.

use std::collections::BTreeMap;
use std::path::Path;

use sys::fs::Durability;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Context as _, Error, Result};
use crate::reference::Reference;

const SCHEMA_VERSION: u32 = 1;

/// Names -> manifest digests. Keys are full normalised references.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    schema_version: u32,
    images: BTreeMap<Reference, Digest>,
    /// When each name was given, as a sequence number: an image lists its
    /// names in that order, as podman does. (Absent in indexes written
    /// before it: those names count as given first, in name order.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    added: BTreeMap<Reference, u64>,
}

impl ImageIndex {
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ImageIndex { schema_version: SCHEMA_VERSION, ..ImageIndex::default() })
            }
            Err(e) => return Err(Error::Io { context: format!("reading {}", path.display()), source: e }),
        };
        let idx: ImageIndex = serde_json::from_slice(&data)
            .map_err(|e| Error::Other(format!("corrupt image index {}: {e}", path.display())))?;
        if idx.schema_version != SCHEMA_VERSION {
            return Err(Error::Other(format!(
                "image index {} has unsupported schemaVersion {}",
                path.display(),
                idx.schema_version
            )));
        }
        Ok(idx)
    }

    /// Atomically and durably replace `path` with this index. Only under the
    /// store's exclusive lock: the sweep takes any temp file it finds while
    /// holding that lock for a leftover.
    pub(crate) fn write(&self, path: &Path) -> Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(format!("encoding image index: {e}")))?;
        sys::fs::write_atomic(path, &data, 0o600, Durability::Durable)
            .context(|| format!("replacing {}", path.display()))
    }

    /// Point `name` at `digest`; returns what it pointed at before.
    pub fn tag(&mut self, name: &Reference, digest: &Digest) -> Result<Option<Digest>> {
        if name.digest().is_some() {
            return Err(Error::InvalidReference(name.to_string(), "cannot tag with a digest reference".into()));
        }
        let before = self.images.insert(name.clone(), digest.clone());
        if before.as_ref() != Some(digest) {
            let next = self.added.values().max().map_or(1, |m| m + 1);
            self.added.insert(name.clone(), next);
        }
        Ok(before)
    }

    /// Remove `name`; returns the digest it pointed at.
    pub fn untag(&mut self, name: &Reference) -> Result<Digest> {
        self.added.remove(name);
        self.images.remove(name).ok_or_else(|| Error::ImageNotKnown(name.to_string()))
    }

    /// When `name` was given relative to the others (0: before this was
    /// recorded).
    pub fn added(&self, name: &Reference) -> u64 {
        self.added.get(name).copied().unwrap_or(0)
    }

    /// The digest a tag points at.
    pub fn get(&self, name: &Reference) -> Option<&Digest> {
        self.images.get(name)
    }

    /// All (name, digest) pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Reference, &Digest)> {
        self.images.iter()
    }

    /// Names pointing at `digest`.
    pub fn names_for(&self, digest: &Digest) -> Vec<Reference> {
        self.images.iter().filter(|(_, d)| *d == digest).map(|(r, _)| r.clone()).collect()
    }

    /// Drop every name pointing at `digest`; returns the removed names.
    pub fn remove_digest(&mut self, digest: &Digest) -> Vec<Reference> {
        let names = self.names_for(digest);
        for n in &names {
            self.images.remove(n);
            self.added.remove(n);
        }
        names
    }
}
