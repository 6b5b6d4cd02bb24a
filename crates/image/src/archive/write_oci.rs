//! Writing OCI image layouts (directory or oci-archive tar).

use std::collections::{HashMap, HashSet};

use oci_spec::image::{Descriptor, ImageIndexBuilder, MediaType};

use super::read_oci::blob_rel;
use super::sink::Sink;
use super::{ArchiveImage, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{descriptor_digest, Manifest};
use crate::store::Store;

pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub(crate) fn write(store: &Store, images: &[ArchiveImage], sink: &mut dyn Sink) -> Result<()> {
    // Gather the closure and index entries first so a missing blob fails before any output.
    let mut blobs: Vec<Digest> = Vec::new();
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for img in images {
        let bytes = store.get(&img.manifest)?;
        let manifest = Manifest::parse(&bytes, None)?;
        collect(store, &img.manifest, &manifest, &mut blobs, &mut seen)?;
        let mut desc = Descriptor::new(MediaType::from(manifest.media_type()), bytes.len() as u64, &img.manifest);
        if let Some(r) = &img.reference {
            let name = r.to_string();
            desc.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_string(), name.clone()),
                (ANNOTATION_CONTAINERD_NAME.to_string(), name),
            ])));
        }
        entries.push(desc);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(entries)
        .build()
        .map_err(|e| Error::Other(format!("building index.json: {e}")))?;
    let index = serde_json::to_vec(&index).map_err(|e| Error::Other(format!("encoding index.json: {e}")))?;

    sink.add_bytes("oci-layout", OCI_LAYOUT)?;
    for d in &blobs {
        let size = store.size(d)?;
        sink.add_file(&blob_rel(d), &mut store.open_blob(d)?, size)?;
    }
    // index.json last: a reader of a partially written directory sees no images.
    sink.add_bytes("index.json", &index)
}

/// Depth-first: children before the document pointing at them.
fn collect(
    store: &Store,
    digest: &Digest,
    manifest: &Manifest,
    blobs: &mut Vec<Digest>,
    seen: &mut HashSet<Digest>,
) -> Result<()> {
    if !seen.insert(digest.clone()) {
        return Ok(());
    }
    for child in manifest.references() {
        let cd = descriptor_digest(child)?;
        if !store.exists(&cd) {
            return Err(Error::BlobNotFound(cd.to_string()));
        }
        if let Manifest::Index(..) = manifest {
            let bytes = store.get(&cd)?;
            let m = Manifest::parse(&bytes, Some(child.media_type().as_ref()))?;
            collect(store, &cd, &m, blobs, seen)?;
        } else if seen.insert(cd.clone()) {
            blobs.push(cd);
        }
    }
    blobs.push(digest.clone());
    Ok(())
}
