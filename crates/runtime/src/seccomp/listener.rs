//! Handing the seccomp user-notification fd to the agent at `listenerPath`.

use crate::error::{Context, Error, Result};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connect to the agent's unix socket at `listener_path` and send it `fd`
/// (SCM_RIGHTS) with the container process state as data, per the runtime
/// spec: `{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}`.
///
/// `state_json` is the container's state (what `state` prints); `ociVersion`
/// and `pid` are taken from it. `metadata` is `linux.seccomp.listenerMetadata`,
/// left out of the message when unset or empty (as runc does).
pub fn send_listener(listener_path: &Path, fd: BorrowedFd, state_json: &[u8], metadata: Option<&str>) -> Result<()> {
    let message = process_state(state_json, metadata)?;
    let what = || format!("seccomp listener {}", listener_path.display());
    let mut sock = UnixStream::connect(listener_path).context(what)?;
    send_on(&mut sock, fd, &message, &what)
}

/// Send the listener fd and `message` on an already connected socket: init
/// connects before pivot_root (the agent's socket is a host path) and sends
/// after the filter is loaded.
pub fn send_listener_on(
    sock: &mut UnixStream,
    fd: BorrowedFd,
    state_json: &[u8],
    metadata: Option<&str>,
) -> Result<()> {
    let message = process_state(state_json, metadata)?;
    send_on(sock, fd, &message, &|| "seccomp listener".to_string())
}

fn send_on(sock: &mut UnixStream, fd: BorrowedFd, message: &[u8], what: &dyn Fn() -> String) -> Result<()> {
    // A vanished agent gives EPIPE, not SIGPIPE.
    let sent =
        sys::fdpass::send(sock.as_fd(), message, Some(fd)).context(|| format!("sending the fd to {}", what()))?;
    // A stream socket may take the message in pieces; the fd went with the
    // first byte, the rest is plain data.
    sock.write_all(&message[sent..]).context(what)?;
    Ok(())
}

/// The runtime spec's "container process state" for `state_json`.
fn process_state(state_json: &[u8], metadata: Option<&str>) -> Result<Vec<u8>> {
    let state: serde_json::Value = serde_json::from_slice(state_json)
        .map_err(|e| Error::Seccomp(format!("container state is not valid JSON: {e}")))?;
    let field =
        |key: &str| state.get(key).cloned().ok_or_else(|| Error::Seccomp(format!("container state has no {key:?}")));
    let mut message = serde_json::json!({
        "ociVersion": field("ociVersion")?,
        "fds": ["seccompFd"],
        "pid": field("pid")?,
        "state": state,
    });
    if let Some(metadata) = metadata.filter(|m| !m.is_empty()) {
        message["metadata"] = metadata.into();
    }
    serde_json::to_vec(&message).map_err(|e| Error::Seccomp(format!("encoding process state: {e}")))
}
