//! `exec`: run a process in a running container.
//!
//! podman's exit codes: the process's own; 126 when its command cannot be
//! run, 127 when it does not exist; 255 when the exec itself fails (the
//! container does not run, the user is unknown...), as podman's exec
//! sessions report it; 125 for the command line and a container that does
//! not exist. With `-d` every failure is 125.

use std::io::IsTerminal as _;

use engine::containers::ExecSpec;
use engine::{Engine, ErrorKind};

use super::containers::resolve_env;
use super::out;
use crate::error::{CliError, Result};

/// podman's code for an exec that failed before its process ran.
const EXEC_FAILED: i32 = 255;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Run the exec session in detached mode (backgrounded)
    #[arg(short, long)]
    detach: bool,
    /// Select the key sequence for detaching a container. Format is a single character [a-Z] or ctrl-<value> where <value> is one of: a-z, @, ^, [, , or _
    #[arg(long = "detach-keys", value_name = "STRING", default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILES", value_delimiter = ',')]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Give the process extended Linux capabilities inside the container.  The default is false
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY. The default is false
    #[arg(short, long)]
    tty: bool,
    /// Sets the username or UID used and optionally the groupname or GID for the specified command
    #[arg(short, long, value_name = "STRING")]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "STRING")]
    workdir: Option<String>,
    /// The container (unless --latest), then the command to run in it and its arguments
    // Everything after CONTAINER goes to the process, `--` and flags
    // included, as with podman.
    #[arg(trailing_var_arg = true, num_args = 0..,
          value_name = "CONTAINER [COMMAND [ARG...]]")]
    container_and_command: Vec<String>,
}

pub fn exec(engine: &Engine, a: &ExecArgs) -> Result<u8> {
    // Checked as podman checks it (an attached exec has no detach sequence yet).
    engine::containers::attached::parse_detach_keys(&a.detach_keys).map_err(CliError::new)?;
    let (target, command) = match (a.latest, a.container_and_command.split_first()) {
        (true, _) => (None, a.container_and_command.as_slice()),
        (false, Some((c, rest))) => (Some(c.as_str()), rest),
        (false, None) => {
            return Err(CliError::usage("exec requires the name or ID of a container or the --latest flag"));
        }
    };
    let mut env = Vec::new();
    for file in &a.env_file {
        env.extend(env_file(file)?);
    }
    let flags = resolve_env(&a.env).map_err(|e| CliError::new(format!("parsing environment variables: {}", e.msg)))?;
    env.extend(flags);
    if a.tty && a.interactive && !std::io::stdin().is_terminal() {
        // podman's words; it runs the process all the same.
        tracing::warn!("The input device is not a TTY. The --tty and --interactive flags might not work properly");
    }
    let c = match target {
        Some(name) => engine.container(name)?,
        None => engine.containers()?.pop().ok_or_else(|| CliError::new("no containers to act on"))?,
    };
    let spec = ExecSpec {
        command: command.to_vec(),
        env,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        terminal: a.tty,
        interactive: a.interactive,
        privileged: a.privileged,
    };
    if a.detach {
        let session = engine.exec_detached(&c, &spec).map_err(|e| CliError::new(e.msg))?;
        // podman prints its exec session's ID (inspect's ExecIDs).
        out(&format!("{session}\n"))?;
        return Ok(0);
    }
    match engine.exec_attached(&c, &spec) {
        Ok(code) => Ok(u8::try_from(code).unwrap_or(255)),
        Err(e) if matches!(e.kind, ErrorKind::CommandNotFound | ErrorKind::CommandCannotRun) => Err(e.into()),
        Err(e) => Err(CliError::with_code(EXEC_FAILED, e.msg)),
    }
}

/// podman's `--env-file`: a line each, leading blanks ignored, `#` lines
/// and empty ones skipped; `KEY=VALUE` as is (the value untrimmed), `KEY`
/// from our environment, `KEY*` every variable of ours it starts.
pub(super) fn env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("parsing env file {path:?}: open {path}: {}", crate::cmd::io_words(&e))))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.extend(
            resolve_env(&[line.to_string()])
                .map_err(|e| CliError::new(format!("parsing env file {path:?}: {}", e.msg)))?,
        );
    }
    Ok(out)
}
