//! Reading `docker save` archives: manifest.json + config JSON + layer tars.
//!
//! Layers are verified against the config's diff_ids (the only digests the
//! format carries), decompressing first when a tool wrote them gzip'd or
//! zstd'd. We synthesise an OCI manifest for each image, as podman does on
//! load.

use std::io::{self, Read};

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use super::plan::Plan;
use super::source::Source;
use crate::digest::{Digest, DigestReader};
use crate::error::{Error, Result};
use crate::layer::stream;
use crate::manifest::{diff_ids, parse_config, Compression};
use crate::reference::Reference;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Entry {
    pub(crate) config: String,
    #[serde(default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    pub(crate) layers: Vec<String>,
}

pub(crate) fn read(src: &Source, plan: &mut Plan) -> Result<()> {
    let entries: Vec<Entry> = serde_json::from_slice(&src.read_small("manifest.json")?)
        .map_err(|e| Error::InvalidArchive(format!("manifest.json: {e}")))?;
    if entries.is_empty() {
        return Err(Error::InvalidArchive("manifest.json lists no images".into()));
    }
    for entry in &entries {
        read_image(src, plan, entry)?;
    }
    Ok(())
}

fn read_image(src: &Source, plan: &mut Plan, entry: &Entry) -> Result<()> {
    let config = src.read_small(&entry.config)?;
    let config_digest = Digest::of_bytes(&config);
    // Config file names embed the digest (`<hex>.json`, `blobs/sha256/<hex>`); check it.
    if let Some(named) = digest_in_name(&entry.config) {
        config_digest.verify(&named, &format!("config {}", entry.config))?;
    }
    let parsed = parse_config(&config)?;
    let diff_ids = diff_ids(&parsed)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::InvalidArchive(format!(
            "{} lists {} layers but its config has {} diff_ids",
            entry.config,
            entry.layers.len(),
            diff_ids.len()
        )));
    }
    plan.add_verified_file(src.resolve(&entry.config)?, config_digest.clone());
    let mut layers = Vec::new();
    for (rel, diff_id) in entry.layers.iter().zip(&diff_ids) {
        layers.push(read_layer(src, plan, rel, diff_id)?);
    }
    let config_desc = Descriptor::new(MediaType::ImageConfig, config.len() as u64, &config_digest);
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layers)
        .build()
        .map_err(|e| Error::Other(format!("building manifest: {e}")))?;
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Other(format!("encoding manifest: {e}")))?;
    let (manifest_digest, _) = plan.add_generated(bytes);
    let tags = entry.repo_tags.as_deref().unwrap_or_default();
    if tags.is_empty() {
        plan.add_image(None, manifest_digest.clone());
    }
    for t in tags {
        plan.add_image(Some(Reference::parse(t)?), manifest_digest.clone());
    }
    Ok(())
}

/// Verify one layer file against its diff_id; describe it as stored (as is).
fn read_layer(src: &Source, plan: &mut Plan, rel: &str, diff_id: &Digest) -> Result<Descriptor> {
    let what = format!("layer {rel}");
    let io_err = |e: io::Error| Error::InvalidArchive(format!("reading {what}: {e}"));
    let mut magic = Vec::with_capacity(6);
    src.open(rel)?.take(6).read_to_end(&mut magic).map_err(io_err)?;
    let compression =
        stream::sniff(&magic).map_err(|name| Error::UnsupportedMediaType(format!("{name}-compressed {what}")))?;
    let path = src.resolve(rel)?;
    if compression == Compression::None {
        if let Some((actual, size)) = plan.known(&path).cloned() {
            // Hashed while the archive was extracted.
            actual.verify(diff_id, &what)?;
            plan.add_verified_file(path, actual.clone());
            return Ok(Descriptor::new(MediaType::ImageLayer, size, &actual));
        }
    }
    let mut raw = DigestReader::new(src.open(rel)?);
    if compression != Compression::None {
        // Hash both sides: the diff_id is over the tar, the blob digest over
        // the compressed file (its tail is hashed below, after the decoder stops).
        let decoder = stream::decoder(compression, &mut raw).map_err(io_err)?;
        let mut unpacked = DigestReader::new(decoder);
        io::copy(&mut unpacked, &mut io::sink()).map_err(io_err)?;
        let (_, actual, _) = unpacked.into_parts();
        actual.verify(diff_id, &what)?;
    }
    io::copy(&mut raw, &mut io::sink()).map_err(io_err)?;
    let (blob_digest, size) = raw.finish();
    if compression == Compression::None {
        blob_digest.verify(diff_id, &what)?;
    }
    plan.add_verified_file(path, blob_digest.clone());
    Ok(Descriptor::new(compression.oci_layer_media_type(), size, &blob_digest))
}

/// `abc.json`, `abc/layer.tar`, `blobs/sha256/abc` -> the digest when the name carries one.
fn digest_in_name(rel: &str) -> Option<Digest> {
    let last = rel.rsplit('/').next()?;
    let stem = last.strip_suffix(".json").unwrap_or(last);
    Digest::from_hex(stem).ok()
}
