//! The storage crate's errors: each renders as one line saying what failed and why.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("layer {0} not known")]
    LayerNotKnown(String),
    #[error("container {0} not known")]
    ContainerNotKnown(String),
    #[error("container {0} already exists")]
    ContainerExists(String),
    #[error("layer {layer} is in use by {by}")]
    LayerInUse { layer: String, by: String },
    #[error("invalid {what} {value:?}: {why}")]
    Invalid { what: &'static str, value: String, why: String },
    #[error("storage driver {0:?} is not known (want overlay or vfs)")]
    UnknownDriver(String),
    #[error("storage driver {wanted:?} does not match {existing:?}, the driver this store was made with: use --storage-driver {existing} or another --root")]
    DriverMismatch { wanted: String, existing: String },
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("corrupt storage metadata {path}: {why}")]
    Corrupt { path: String, why: String },
}

/// Attach context to io errors.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io { context: what(), source: e.into() })
    }
}
