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
    Init(InitError),
    /// The process's executable does not exist (args[0] not found in PATH,
    /// or no such file): podman and docker exit 127.
    #[error("exec: \"{0}\": {1}")]
    ExecNotFound(String, &'static str),
    /// The executable exists but cannot be run: podman and docker exit 126.
    #[error("exec: \"{0}\": permission denied")]
    ExecPermission(String),
    #[error("{0}")]
    Other(String),
}

/// What kind of failure the init reported: callers decide on this, never on
/// the message's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InitErrorKind {
    /// The process's executable does not exist ([`Error::ExecNotFound`]).
    ExecutableNotFound,
    /// The executable exists but cannot be run ([`Error::ExecPermission`]).
    ExecutableNotRunnable,
    /// The init went away without saying why.
    Died,
    /// The runtime's own code panicked in the child (a bug, not bad input).
    Panicked,
    Other,
}

/// An error of the container's init, as it travels over the sync socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InitError {
    pub kind: InitErrorKind,
    pub message: String,
}

impl InitError {
    /// The init exited (or closed the channel) before reporting anything.
    pub fn died(message: impl Into<String>) -> Self {
        InitError { kind: InitErrorKind::Died, message: message.into() }
    }
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&Error> for InitError {
    fn from(e: &Error) -> Self {
        let kind = match e {
            Error::ExecNotFound(..) => InitErrorKind::ExecutableNotFound,
            Error::ExecPermission(_) => InitErrorKind::ExecutableNotRunnable,
            Error::Init(inner) => inner.kind,
            _ => InitErrorKind::Other,
        };
        InitError { kind, message: e.to_string() }
    }
}

/// Attach context to io/rustix errors without
/// boilerplate at every call site.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, rustix::io::Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io { context: what(), source: e.into() })
    }
}
