//! Reading an OCI image layout (directory or extracted oci-archive).

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex};

use super::plan::Plan;
use super::source::Source;
use super::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{descriptor_digest, Manifest};
use crate::reference::Reference;

/// Blob path inside a layout.
pub(crate) fn blob_rel(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

pub(crate) fn read(src: &Source, plan: &mut Plan) -> Result<()> {
    let layout: serde_json::Value = serde_json::from_slice(&src.read_small("oci-layout")?)
        .map_err(|e| Error::InvalidArchive(format!("oci-layout: {e}")))?;
    let version = layout.get("imageLayoutVersion").and_then(|v| v.as_str()).unwrap_or("");
    if !version.starts_with("1.") {
        return Err(Error::InvalidArchive(format!("unsupported imageLayoutVersion {version:?}")));
    }
    let index: ImageIndex = serde_json::from_slice(&src.read_small("index.json")?)
        .map_err(|e| Error::InvalidArchive(format!("index.json: {e}")))?;
    if index.manifests().is_empty() {
        return Err(Error::InvalidArchive("index.json lists no images".into()));
    }
    for desc in index.manifests() {
        let digest = descriptor_digest(desc)?;
        walk(src, plan, desc, &digest)?;
        let name = desc.annotations().as_ref().and_then(image_name).transpose()?;
        plan.add_image(name, digest);
    }
    Ok(())
}

/// The image name recorded in index.json annotations. containerd's full name
/// wins; `ref.name` counts only when it looks like a reference rather than a
/// bare tag (docker writes just "latest" there, skopeo whatever it was given).
fn image_name(ann: &HashMap<String, String>) -> Option<Result<Reference>> {
    if let Some(n) = ann.get(ANNOTATION_CONTAINERD_NAME) {
        return Some(Reference::parse(n));
    }
    let r = ann.get(ANNOTATION_REF_NAME)?;
    (r.contains('/') || r.contains(':')).then(|| Reference::parse(r))
}

/// Verify a manifest and everything below it.
fn walk(src: &Source, plan: &mut Plan, desc: &Descriptor, digest: &Digest) -> Result<()> {
    let path = src.resolve(&blob_rel(digest))?;
    if !plan.add_file(path.clone(), digest, Some(desc.size()), &format!("manifest {digest}"))? {
        return Ok(());
    }
    let bytes = src.read_small(&blob_rel(digest))?;
    let manifest = Manifest::parse(&bytes, Some(desc.media_type().as_ref()))?;
    match &manifest {
        Manifest::Index(_, idx) => {
            for child in idx.manifests() {
                walk(src, plan, child, &descriptor_digest(child)?)?;
            }
        }
        Manifest::Image(_, m) => {
            for (i, d) in std::iter::once(m.config()).chain(m.layers()).enumerate() {
                let bd = descriptor_digest(d)?;
                let what = if i == 0 { format!("config {bd}") } else { format!("layer {bd}") };
                plan.add_file(src.resolve(&blob_rel(&bd))?, &bd, Some(d.size()), &what)?;
            }
        }
    }
    Ok(())
}
