//! Running one CNI plugin: finding its binary, giving it the CNI
//! environment and its configuration, and reading what it answers.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::config::is_plugin_name;
use crate::error::Context as _;
use crate::{Error, Result};

/// What the plugin is asked to do (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Add,
    Check,
    Del,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Check => "CHECK",
            Verb::Del => "DEL",
        }
    }
}

/// Plugin `kind`'s binary: the first executable file of that name in
/// `dirs`. `kind` was checked on loading to be a plain file name; it is
/// checked again here, as a network's fields are public.
pub(super) fn find_plugin(dirs: &[PathBuf], kind: &str) -> Result<PathBuf> {
    if !is_plugin_name(kind) {
        return Err(Error::Invalid(format!("CNI plugin type {kind:?} is not a plain file name")));
    }
    let executable = |path: &Path| path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    dirs.iter()
        .map(|dir| dir.join(kind))
        .find(|path| executable(path))
        .ok_or_else(|| Error::Invalid(format!("CNI plugin {kind} not found in {}", join_paths(dirs).to_string_lossy())))
}

/// `dirs` as `CNI_PATH` lists them.
pub(super) fn join_paths(dirs: &[PathBuf]) -> OsString {
    let mut joined = OsString::new();
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            joined.push(":");
        }
        joined.push(dir);
    }
    joined
}

/// Run plugin `kind` (binary `binary`) for `verb` with the CNI variables
/// `env` and `stdin` as its configuration. Its environment is those
/// variables and PATH alone (plugins run iptables and the like): nothing
/// of berth's own leaks to it. Returns what it printed, as JSON, when it
/// printed anything.
pub(super) fn run(
    binary: &Path,
    kind: &str,
    verb: Verb,
    env: &[(&str, OsString)],
    stdin: &Value,
) -> Result<Option<Value>> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", path)
        .env("CNI_COMMAND", verb.as_str())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("running CNI plugin {}", binary.display()))?;
    let config = serde_json::to_vec(stdin).unwrap_or_default();
    if let Some(mut pipe) = child.stdin.take() {
        // A plugin that exits without reading its stdin closes the pipe:
        // its exit status, not the write's error, says what went wrong.
        if let Err(e) = pipe.write_all(&config) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e).context(|| format!("writing CNI plugin {kind}'s configuration"));
            }
        }
    }
    let out = child.wait_with_output().context(|| format!("waiting for CNI plugin {kind}"))?;
    let fail = |code, message| Error::Plugin { plugin: kind.to_string(), command: verb.as_str(), code, message };
    if !out.status.success() {
        return Err(match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(answer) if answer.get("msg").is_some() || answer.get("code").is_some() => {
                fail(answer["code"].as_u64(), error_message(&answer))
            }
            _ => fail(None, unstructured(&out.stderr, &out.stdout, out.status)),
        });
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let answer = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(None, format!("printed a result that is not JSON ({e})")))?;
    Ok(Some(answer))
}

/// A plugin's error (`{"code", "msg", "details"}`) as one line: its message
/// and, when it gave any, its details.
fn error_message(answer: &Value) -> String {
    let msg = answer["msg"].as_str().unwrap_or("");
    let msg = if msg.is_empty() { format!("error code {}", answer["code"]) } else { msg.to_string() };
    match answer["details"].as_str() {
        Some(details) if !details.trim().is_empty() => one_line(&format!("{msg}: {details}")),
        _ => one_line(&msg),
    }
}

/// What a plugin that failed without a CNI error printed: its stderr, else
/// its stdout, else its exit status.
fn unstructured(stderr: &[u8], stdout: &[u8], status: std::process::ExitStatus) -> String {
    [stderr, stdout]
        .iter()
        .map(|text| one_line(&String::from_utf8_lossy(text)))
        .find(|text| !text.is_empty())
        .unwrap_or_else(|| status.to_string())
}

/// `text`'s non-blank lines, trimmed and joined with "; ": errors are one
/// line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plugin_errors_are_one_line() {
        assert_eq!(error_message(&json!({"code": 7, "msg": "no IP", "details": ""})), "no IP");
        assert_eq!(error_message(&json!({"code": 7, "msg": "no IP", "details": "range\nfull"})), "no IP: range; full");
        assert_eq!(error_message(&json!({"code": 11})), "error code 11");
        assert_eq!(one_line("  a\n\n b  \n"), "a; b");
    }

    #[test]
    fn plugins_are_only_looked_up_by_name() {
        let dirs = [PathBuf::from("/nonexistent-a"), PathBuf::from("/bin")];
        let err = find_plugin(&dirs, "../bin/sh").unwrap_err().to_string();
        assert_eq!(err, "CNI plugin type \"../bin/sh\" is not a plain file name");
        let err = find_plugin(&dirs, "no-such-plugin").unwrap_err().to_string();
        assert_eq!(err, "CNI plugin no-such-plugin not found in /nonexistent-a:/bin");
        assert_eq!(find_plugin(&dirs, "sh").unwrap(), Path::new("/bin/sh"));
    }
}
