//! The runtime's error type. Every variant renders as one line that says what
//! failed and why; the CLI prints it as-is.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config.json: {0}")]
    InvalidConfig(String),
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container with id \"{0}\" already exists")]
    AlreadyExists(String),
    #[error("invalid container id {0:?}: must match [A-Za-z0-9][A-Za-z0-9_.-]*")]
    InvalidId(String),
    #[error("container \"{id}\" is {status}: {what}")]
    WrongState { id: String, status: String, what: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("hook {path}: {why}")]
    Hook { path: PathBuf, why: String },
    #[error("{0}")]
    Unsupported(String),
    /// An error reported by the container's init process before it exec'd.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Other(String),
}

/// Attach context to io/nix errors without boilerplate at every call site.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys { context: what(), source })
    }
}
