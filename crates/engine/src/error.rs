//! The engine's one error type: a single line for the user, what kind of
//! failure it was (so a front end can pick its exit code: podman exits 1 for
//! some "no such ..." cases, 2 for "in use", 126/127 for a command that
//! cannot run, 125 otherwise), and the error it came from.
//!
//! Display is the whole line, cause included (`creating /x: Permission
//! denied`), because that is what front ends print. [`std::error::Error::source`]
//! returns the underlying error itself, for code that needs to look at it
//! (an `io::Error`'s kind, a `runtime::Error` variant) rather than at words.

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

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    /// The line the user sees (what Display prints).
    pub msg: String,
    source: Option<Source>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Other, msg: msg.into(), source: None }
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::NotFound, msg: msg.into(), source: None }
    }

    pub fn in_use(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::InUse, msg: msg.into(), source: None }
    }

    /// `what` failed because of `source`: reads `what: source` on one line.
    pub fn caused(what: impl fmt::Display, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::wrap(ErrorKind::Other, format!("{what}: {}", one_line(&source)), source)
    }

    fn wrap(kind: ErrorKind, msg: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error { kind, msg, source: Some(Box::new(source)) }
    }
}

/// An OS error as Go prints it (what podman's messages carry): strerror in
/// lower case, no "(os error N)".
pub(crate) fn go_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An error's text with any line breaks folded, so ours stays one line.
fn one_line(e: &dyn fmt::Display) -> String {
    let text = e.to_string();
    if text.contains('\n') {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        text
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Prefix any library error with what we were doing, keeping it as the source.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::caused(what(), e))
    }
}

impl From<image::Error> for Error {
    fn from(e: image::Error) -> Self {
        Error::wrap(ErrorKind::Other, one_line(&e), e)
    }
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Self {
        Error::wrap(ErrorKind::Other, one_line(&e), e)
    }
}

impl From<runtime::Error> for Error {
    /// Classified by what the runtime says happened (its init reports an
    /// [`runtime::error::InitErrorKind`]), never by the message's words.
    fn from(e: runtime::Error) -> Self {
        use runtime::error::InitErrorKind;
        let kind = match &e {
            runtime::Error::ExecNotFound(..) => ErrorKind::CommandNotFound,
            runtime::Error::ExecPermission(_) => ErrorKind::CommandCannotRun,
            runtime::Error::Init(i) => match i.kind {
                InitErrorKind::ExecutableNotFound => ErrorKind::CommandNotFound,
                InitErrorKind::ExecutableNotRunnable => ErrorKind::CommandCannotRun,
                InitErrorKind::Died | InitErrorKind::Panicked | InitErrorKind::Other => ErrorKind::Other,
            },
            _ => ErrorKind::Other,
        };
        Error::wrap(kind, one_line(&e), e)
    }
}

impl Error {
    /// A failure of the runtime to create or start a container: podman
    /// exits 126 for any such "OCI runtime error" (127 when the command is
    /// missing), 125 being for what it refused itself before.
    pub(crate) fn runtime_start(e: runtime::Error) -> Error {
        Error::from(e).refused_by_runtime()
    }

    /// This error, as the OCI runtime's refusal to create or start a
    /// container (exit 126, see [`Error::runtime_start`]): the in-process
    /// runtime's or an external one's (`--runtime`).
    pub(crate) fn refused_by_runtime(mut self) -> Error {
        if self.kind == ErrorKind::Other {
            self.kind = ErrorKind::CommandCannotRun;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::error::{InitError, InitErrorKind};
    use std::error::Error as _;

    #[test]
    fn context_keeps_the_cause_as_source_and_one_line() {
        let io = std::fs::read("/nonexistent/x").ctx(|| "reading /nonexistent/x".into()).unwrap_err();
        assert_eq!(io.to_string(), "reading /nonexistent/x: No such file or directory (os error 2)");
        assert_eq!(io.kind, ErrorKind::Other);
        let cause = io.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(cause.kind(), std::io::ErrorKind::NotFound);
        // Messages without a cause have none.
        assert!(Error::new("plain").source().is_none());
        assert!(Error::not_found("gone").source().is_none());
        // A multi-line cause does not break the line.
        #[derive(Debug)]
        struct Multi;
        impl fmt::Display for Multi {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("first\n  second")
            }
        }
        impl std::error::Error for Multi {}
        assert_eq!(Error::caused("doing", Multi).to_string(), "doing: first second");
    }

    #[test]
    fn runtime_errors_are_classified_by_kind_not_words() {
        let init = |kind, message: &str| runtime::Error::Init(InitError { kind, message: message.into() });
        let cases = [
            // The words would say otherwise: only the kind counts.
            (init(InitErrorKind::ExecutableNotFound, "permission denied"), ErrorKind::CommandNotFound),
            (init(InitErrorKind::ExecutableNotRunnable, "not found"), ErrorKind::CommandCannotRun),
            (init(InitErrorKind::Other, "executable file not found in $PATH"), ErrorKind::Other),
            (init(InitErrorKind::Died, "container init exited during setup"), ErrorKind::Other),
            (runtime::Error::ExecNotFound("x".into(), "no such executable file"), ErrorKind::CommandNotFound),
            (runtime::Error::ExecPermission("x".into()), ErrorKind::CommandCannotRun),
            (runtime::Error::NotFound("c".into()), ErrorKind::Other),
        ];
        for (rt, want) in cases {
            let text = rt.to_string();
            let e = Error::from(rt);
            assert_eq!(e.kind, want, "{text}");
            assert_eq!(e.to_string(), text);
            let source = e.source().unwrap().downcast_ref::<runtime::Error>().unwrap();
            assert_eq!(source.to_string(), text);
        }
        // The chain goes on below the runtime's error.
        let io = runtime::Error::Io { context: "open exec fifo".into(), source: std::io::Error::other("boom") };
        let e = Error::from(io);
        let below = e.source().and_then(|s| s.source()).unwrap();
        assert_eq!(below.to_string(), "boom");
    }
}
