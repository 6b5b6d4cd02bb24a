//! The network crate's errors: each renders as one line saying what failed
//! and why.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from a user (a subnet, a gateway, an option): the front
    /// end reports it as a usage error.
    #[error("{0}")]
    Invalid(String),
    /// No address (or subnet) left to give.
    #[error("{0}")]
    Exhausted(String),
    /// A CNI plugin's error: the one it reported (`code`, when it gave
    /// one, is the CNI spec's error code), or what it printed on failing.
    #[error("CNI plugin {plugin} failed ({command}): {message}")]
    Plugin { plugin: String, command: &'static str, code: Option<u64>, message: String },
    /// What the kernel (or a tool it runs) refused.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
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
