//! The engine's one error type: a single line for the user, and what kind of
//! failure it was, so a front end can pick its exit code (podman exits 1 for
//! some "no such ..." cases and 125 otherwise).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named image or container does not exist.
    NotFound,
    /// Something else still uses it (an image a container was made from, a
    /// running container).
    InUse,
    /// The container's command does not exist (podman and docker exit 127).
    CommandNotFound,
    /// The container's command exists but cannot be run (exit 126).
    CommandCannotRun,
    /// Anything else.
    Other,
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Other, msg: msg.into() }
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::NotFound, msg: msg.into() }
    }

    pub fn in_use(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::InUse, msg: msg.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Prefix any library error with what we were doing.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", what())))
    }
}

impl From<image::Error> for Error {
    fn from(e: image::Error) -> Self {
        Error::new(e.to_string())
    }
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Self {
        Error::new(e.to_string())
    }
}

impl From<runtime::Error> for Error {
    fn from(e: runtime::Error) -> Self {
        let msg = e.to_string();
        let kind = match &e {
            runtime::Error::Init(i) => match i.kind {
                runtime::error::InitErrorKind::ExecutableNotFound => ErrorKind::CommandNotFound,
                runtime::error::InitErrorKind::ExecutableNotRunnable => ErrorKind::CommandCannotRun,
                _ => ErrorKind::Other,
            },
            _ => ErrorKind::Other,
        };
        Error { kind, msg }
    }
}
