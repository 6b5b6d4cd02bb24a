//! Writing `docker save` archives.
//!
//! The format knows only uncompressed layers identified by diff_id, so
//! compressed layers are decompressed (to a temp file, as tar needs sizes
//! up front) and checked against the config's diff_ids on the way out.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Seek};

use serde::Serialize;

use super::sink::Sink;
use super::ArchiveImage;
use crate::digest::{Digest, DigestWriter};
use crate::error::{Context as _, Error, Result};
use crate::layer::stream;
use crate::manifest::{
    descriptor_digest, diff_ids, layer_compression, parse_config, select, Compression, Manifest, PlatformSpec,
};
use crate::store::Store;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

pub(crate) fn write(store: &Store, images: &[ArchiveImage], sink: &mut dyn Sink) -> Result<()> {
    // One manifest.json entry per image; several names share it, as docker does.
    let mut order: Vec<Digest> = Vec::new();
    let mut tags: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for img in images {
        let manifest = image_manifest(store, &img.manifest)?;
        if !tags.contains_key(&manifest) {
            order.push(manifest.clone());
        }
        let list = tags.entry(manifest).or_default();
        // Digest-only references have no place in RepoTags.
        if let Some((r, tag)) = img.reference.as_ref().and_then(|r| r.tag().map(|t| (r, t))) {
            let name = format!("{}:{tag}", r.name().familiar());
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
    let mut written = HashSet::new();
    let mut entries = Vec::new();
    for m in &order {
        let repo_tags = tags.remove(m).unwrap_or_default();
        entries.push(write_image(store, m, repo_tags, sink, &mut written)?);
    }
    let json = serde_json::to_vec(&entries).map_err(|e| Error::Other(format!("encoding manifest.json: {e}")))?;
    sink.add_bytes("manifest.json", &json)
}

/// An index resolves to the host platform's image (the format holds one platform).
fn image_manifest(store: &Store, digest: &Digest) -> Result<Digest> {
    match Manifest::parse(&store.get(digest)?, None)? {
        Manifest::Image(..) => Ok(digest.clone()),
        Manifest::Index(_, idx) => {
            let d = descriptor_digest(select(&idx, &PlatformSpec::host())?)?;
            image_manifest(store, &d)
        }
    }
}

fn write_image(
    store: &Store,
    digest: &Digest,
    repo_tags: Vec<String>,
    sink: &mut dyn Sink,
    written: &mut HashSet<String>,
) -> Result<Entry> {
    let Manifest::Image(_, manifest) = Manifest::parse(&store.get(digest)?, None)? else {
        return Err(Error::InvalidManifest(format!("{digest} is not an image manifest")));
    };
    let config_digest = descriptor_digest(manifest.config())?;
    let config = store.get(&config_digest)?;
    let diff_ids = diff_ids(&parse_config(&config)?)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::InvalidManifest(format!(
            "{digest}: {} layers but config has {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(&diff_ids) {
        let name = format!("{}.tar", diff_id.hex());
        if written.insert(name.clone()) {
            let blob = descriptor_digest(desc)?;
            match layer_compression(desc.media_type())? {
                Compression::None => {
                    blob.verify(diff_id, &format!("uncompressed layer {blob}"))?;
                    let size = store.size(&blob)?;
                    sink.add_file(&name, &mut store.open_blob(&blob)?, size)?;
                }
                compression @ (Compression::Gzip | Compression::Zstd) => {
                    let (mut tmp, size) = decompress(store, &blob, compression, diff_id)?;
                    sink.add_file(&name, &mut tmp, size)?;
                }
            }
        }
        layers.push(name);
    }
    let config_name = format!("{}.json", config_digest.hex());
    if written.insert(config_name.clone()) {
        sink.add_bytes(&config_name, &config)?;
    }
    Ok(Entry { config: config_name, repo_tags, layers })
}

/// Decompress a stored layer into an anonymous temp file, checking its diff_id.
fn decompress(store: &Store, blob: &Digest, compression: Compression, diff_id: &Digest) -> Result<(File, u64)> {
    let tmp = tempfile::tempfile_in(store.tmp_dir()).context(|| "creating temp file".into())?;
    let mut w = DigestWriter::new(tmp);
    let bad = |e: io::Error| Error::InvalidArchive(format!("decompressing layer {blob}: {e}"));
    io::copy(&mut stream::decoder(compression, store.open_blob(blob)?).map_err(bad)?, &mut w).map_err(bad)?;
    let (mut tmp, n) = w.verify(diff_id, &format!("decompressed layer {blob}"))?;
    tmp.rewind().context(|| "rewinding temp file".into())?;
    Ok((tmp, n))
}
