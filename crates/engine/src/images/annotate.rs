//! Annotations on an image's manifest (`build --annotation`): the same
//! image (its ID is its config's digest) under a new OCI manifest that
//! carries them.

use serde_json::{json, Value};

use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

impl Engine {
    /// The annotations of `image`'s manifest (none when it cannot be read).
    pub fn image_annotations(&self, image: &Image) -> serde_json::Map<String, Value> {
        let manifest = self.blobs.get(&image.manifest).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        manifest.and_then(|m| m["annotations"].as_object().cloned()).unwrap_or_default()
    }

    /// `image` under a manifest with `annotations` added (a key given
    /// twice: the last value). Docker's manifests have no annotations: an
    /// error says so.
    pub fn annotate_image(&self, image: &Image, annotations: &[(String, String)]) -> Result<Image> {
        if annotations.is_empty() {
            return Ok(image.clone());
        }
        let bytes = self.blobs.get(&image.manifest)?;
        let mut manifest: Value =
            serde_json::from_slice(&bytes).ctx(|| format!("reading the manifest of {}", image.id))?;
        if manifest["mediaType"].as_str() == Some(image::manifest::media_types::DOCKER_MANIFEST) {
            return Err(Error::new("annotations need an OCI image: a docker format manifest has none"));
        }
        if !manifest["annotations"].is_object() {
            manifest["annotations"] = json!({});
        }
        for (k, v) in annotations {
            manifest["annotations"][k] = json!(v);
        }
        let encoded = serde_json::to_vec(&manifest).ctx(|| "encoding the manifest".into())?;
        let (digest, _) = self.blobs.put_bytes(&encoded, None)?;
        self.add(&digest)
    }
}
