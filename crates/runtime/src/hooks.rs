//! OCI lifecycle hooks: each runs with the container state on stdin, its own
//! args and env, and an optional timeout after which it is killed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Run `hooks` in order; the first failure stops and is returned.
pub fn run(hooks: &[Hook], state: &[u8]) -> Result<()> {
    hooks.iter().try_for_each(|h| run_one(h, state))
}

/// Run `hooks`, logging failures instead of returning them (poststart,
/// poststop: the spec says a failure there must not stop the lifecycle).
pub fn run_warn(hooks: &[Hook], state: &[u8]) {
    for h in hooks {
        if let Err(e) = run_one(h, state) {
            tracing::warn!("{e}");
        }
    }
}

fn run_one(h: &Hook, state: &[u8]) -> Result<()> {
    let fail = |why: String| Error::Hook { path: h.path().clone(), why };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin gets EPIPE here; that is its right.
        let _ = stdin.write_all(state);
    }
    let Some(deadline) = h.timeout().filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64)) else {
        let status = child.wait().map_err(|e| fail(e.to_string()))?;
        return if status.success() { Ok(()) } else { Err(fail(format!("exited with {status}"))) };
    };
    let deadline = Some(deadline);
    let status = loop {
        match child.try_wait().map_err(|e| fail(e.to_string()))? {
            Some(s) => break s,
            None => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!("timed out after {}s", h.timeout().unwrap_or(0))));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    Ok(())
}
