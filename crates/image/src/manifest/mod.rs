//! Manifests, indexes and image configs in both OCI and Docker schema2 form.
//!
//! Docker schema2 documents are structurally identical to their OCI
//! counterparts (only media type strings differ), so both parse into the
//! `oci_spec` types; `ManifestKind` remembers which flavour the bytes were,
//! because the bytes — and hence the digest — must be kept as they are.

mod config;
pub mod media_types;
mod platform;

pub use config::{diff_ids, parse_config};
pub use platform::{select, PlatformSpec};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use media_types as mt;

/// Which kind of manifest document a blob is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerManifestList,
}

impl ManifestKind {
    /// Classify a manifest media type; anything else is unsupported.
    pub fn from_media_type(media_type: &str) -> Result<Self> {
        match media_type {
            mt::OCI_MANIFEST => Ok(Self::OciManifest),
            mt::OCI_INDEX => Ok(Self::OciIndex),
            mt::DOCKER_MANIFEST => Ok(Self::DockerManifest),
            mt::DOCKER_MANIFEST_LIST => Ok(Self::DockerManifestList),
            other => Err(Error::UnsupportedMediaType(other.to_string())),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::OciManifest => mt::OCI_MANIFEST,
            Self::OciIndex => mt::OCI_INDEX,
            Self::DockerManifest => mt::DOCKER_MANIFEST,
            Self::DockerManifestList => mt::DOCKER_MANIFEST_LIST,
        }
    }

    /// Index / manifest list (points at other manifests) vs single image.
    pub fn is_index(self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerManifestList)
    }
}

/// A parsed manifest document.
#[derive(Clone, Debug, PartialEq)]
pub enum Manifest {
    // Boxed: an ImageManifest is large and manifests are moved around a lot.
    Image(ManifestKind, Box<ImageManifest>),
    Index(ManifestKind, Box<ImageIndex>),
}

/// Just enough of a manifest to classify it before the real parse.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
}

impl Manifest {
    /// Parse manifest bytes. The document's own `mediaType` wins; otherwise
    /// `hint` (a descriptor's or HTTP Content-Type's media type); otherwise the
    /// shape decides, as OCI allows `mediaType` to be omitted.
    pub fn parse(bytes: &[u8], hint: Option<&str>) -> Result<Self> {
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::InvalidManifest(e.to_string()))?;
        if probe.schema_version == Some(1) {
            return Err(Error::UnsupportedMediaType(format!("{} (Docker schema 1)", mt::DOCKER_MANIFEST_V1)));
        }
        let media_type = match (probe.media_type.as_deref(), hint) {
            (Some(m), _) => m.to_string(),
            (None, Some(h)) if !h.is_empty() => h.to_string(),
            _ if probe.manifests.is_some() => mt::OCI_INDEX.to_string(),
            _ if probe.layers.is_some() => mt::OCI_MANIFEST.to_string(),
            _ => return Err(Error::InvalidManifest("no mediaType and neither manifests nor layers".into())),
        };
        let kind = ManifestKind::from_media_type(&media_type)?;
        if probe.schema_version != Some(2) {
            return Err(Error::InvalidManifest(format!("schemaVersion {:?}, want 2", probe.schema_version)));
        }
        let bad = |e: serde_json::Error| Error::InvalidManifest(format!("{media_type}: {e}"));
        Ok(if kind.is_index() {
            Manifest::Index(kind, Box::new(serde_json::from_slice(bytes).map_err(bad)?))
        } else {
            Manifest::Image(kind, Box::new(serde_json::from_slice(bytes).map_err(bad)?))
        })
    }

    pub fn kind(&self) -> ManifestKind {
        match self {
            Manifest::Image(k, _) | Manifest::Index(k, _) => *k,
        }
    }

    /// The media type to put in a descriptor pointing at this document.
    pub fn media_type(&self) -> &'static str {
        self.kind().media_type()
    }

    /// Every blob this document references directly: config + layers for an
    /// image, child manifests for an index.
    pub fn references(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Image(_, m) => std::iter::once(m.config()).chain(m.layers()).collect(),
            Manifest::Index(_, i) => i.manifests().iter().collect(),
        }
    }
}

/// A descriptor's digest in our sha256-only type (others are rejected).
pub fn descriptor_digest(d: &Descriptor) -> Result<Digest> {
    Digest::try_from(d.digest())
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer blob compressed this way (the inverse
    /// of [`layer_compression`] for distributable layers).
    pub fn oci_layer_media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }
}

/// Layer compression from its media type (OCI or Docker).
pub fn layer_compression(media_type: &MediaType) -> Result<Compression> {
    match to_oci_media_type(media_type) {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Ok(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Ok(Compression::Gzip),
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => Ok(Compression::Zstd),
        other => Err(Error::UnsupportedMediaType(format!("{other} (not a layer)"))),
    }
}

/// Map Docker schema2 media types to their OCI equivalents; OCI ones pass through.
pub fn to_oci_media_type(media_type: &MediaType) -> MediaType {
    match media_type.as_ref() {
        mt::DOCKER_MANIFEST => MediaType::ImageManifest,
        mt::DOCKER_MANIFEST_LIST => MediaType::ImageIndex,
        mt::DOCKER_CONFIG => MediaType::ImageConfig,
        mt::DOCKER_LAYER_GZIP => MediaType::ImageLayerGzip,
        mt::DOCKER_LAYER => MediaType::ImageLayer,
        mt::DOCKER_FOREIGN_LAYER_GZIP => MediaType::ImageLayerNonDistributableGzip,
        // oci-spec parses known OCI strings into variants already; re-parse to
        // normalise values built by hand as `Other`.
        other => MediaType::from(other),
    }
}

/// Whether a descriptor media type denotes an image config (OCI or Docker).
pub fn is_config_media_type(media_type: &MediaType) -> bool {
    to_oci_media_type(media_type) == MediaType::ImageConfig
}

#[cfg(test)]
mod tests;
