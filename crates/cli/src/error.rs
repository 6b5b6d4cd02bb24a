//! The command line's one error type: a single line for the user and the
//! exit code podman would use for the same failure.

use std::fmt;

/// Exit code for engine errors (podman/docker convention).
pub const ENGINE: i32 = 125;

#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub msg: String,
    /// A mistake in the command line (a missing argument, say): the
    /// message is followed by "See 'berth COMMAND --help'".
    pub usage: bool,
    /// What the command wrote before it failed, for stdout (a Go template
    /// prints up to the action that fails).
    pub output: String,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An engine failure: `<what>: <why>`, exit 125.
    pub fn new(msg: impl Into<String>) -> Self {
        CliError::with_code(ENGINE, msg)
    }

    /// A failure with its own exit code (podman's 1 for "no such ...", 2
    /// for "in use").
    pub fn with_code(code: i32, msg: impl Into<String>) -> Self {
        CliError { code, msg: msg.into(), usage: false, output: String::new() }
    }

    /// A usage error the command finds itself (podman checks these in the
    /// command, not in its argument rules): exit 125 and the See line.
    pub fn usage(msg: impl Into<String>) -> Self {
        CliError { usage: true, ..CliError::new(msg) }
    }

    /// This error, with what was printed before it.
    pub fn with_output(self, output: String) -> Self {
        CliError { output, ..self }
    }

    /// podman exits 1 (not 125) when `rmi` names an image it does not have.
    pub fn not_known(name: &str) -> Self {
        CliError::with_code(1, format!("{name}: image not known"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Prefix any library error with what we were doing.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::new(format!("{}: {e}", what())))
    }
}

impl From<image::Error> for CliError {
    fn from(e: image::Error) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<engine::Error> for CliError {
    /// podman's codes: 126/127 when the container's command cannot run or
    /// does not exist, 125 for the engine's own failures.
    fn from(e: engine::Error) -> Self {
        let code = match e.kind {
            engine::ErrorKind::CommandNotFound => 127,
            engine::ErrorKind::CommandCannotRun => 126,
            _ => ENGINE,
        };
        CliError::with_code(code, e.msg)
    }
}
