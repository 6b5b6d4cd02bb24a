//! The image crate's errors: each renders as one line saying what failed and why.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference {0:?}: {1}")]
    InvalidReference(String, String),
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("no image for platform {0}")]
    NoMatchingPlatform(String),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("unsafe layer entry {path:?}: {why}")]
    UnsafeLayer { path: String, why: String },
    /// A layer tarball that cannot be read to its end: truncated tar or
    /// compressed stream, short file data, an entry type we cannot apply.
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    #[error("blob {0} not found")]
    BlobNotFound(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("invalid image config: {0}")]
    InvalidConfig(String),
    #[error("registries.conf: {0}")]
    RegistriesConf(String),
    #[error("registry {0} is blocked by registries.conf")]
    BlockedRegistry(String),
    #[error("image {0} not known")]
    ImageNotKnown(String),
    #[error("{0}")]
    Other(String),
}

/// Attach context to io errors.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}
