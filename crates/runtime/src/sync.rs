//! The channel between the runtime and the container's init while it is set
//! up: a SOCK_SEQPACKET socketpair carrying small JSON messages (one per
//! packet) and, when needed, a file descriptor (the terminal master).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Msg {
    /// parent -> child: id maps written, cgroup joined: go on.
    Go,
    /// child -> parent: namespaces and mounts ready, before pivot_root: run
    /// prestart/createRuntime hooks now.
    RuntimeHooks,
    /// parent -> child: hooks done.
    Continue,
    /// child -> parent: ready and waiting for `start` on the exec fifo.
    Created,
    /// exec child -> parent: the pid (in our pid namespace) of the process.
    Pid(i32),
    /// child -> parent: carries the terminal master fd.
    Terminal,
    /// child -> parent: setup failed.
    Error(crate::error::InitError),
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
        .context(|| "socketpair".into())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_fd(msg, None)
    }

    pub fn send_fd(&self, msg: &Msg, fd: Option<BorrowedFd>) -> Result<()> {
        Self::send_on(self.fd.as_fd(), msg, fd)
    }

    /// Send on a channel's fd without holding the `Channel` (a panic hook
    /// only has the fd number).
    pub fn send_on(chan: BorrowedFd, msg: &Msg, fd: Option<BorrowedFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Other(e.to_string()))?;
        // One packet: SOCK_SEQPACKET takes it whole or not at all.
        sys::fdpass::send(chan, &data, fd).map(|_| ()).context(|| "send to sync socket".into())
    }

    /// Receive one message; `None` when the other end closed the channel.
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let (n, fd) = sys::fdpass::recv(self.fd.as_fd(), &mut buf).context(|| "receive from sync socket".into())?;
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n]).map_err(|e| Error::Other(format!("bad sync message: {e}")))?;
        Ok(Some((msg, fd)))
    }

    /// Wait for `want`; an Error message or a closed channel becomes an error.
    pub fn expect(&self, want: Msg) -> Result<Option<OwnedFd>> {
        match self.recv()? {
            Some((m, fd)) if m == want => Ok(fd),
            Some((Msg::Error(e), _)) => Err(Error::Init(e)),
            Some((m, _)) => Err(Error::Other(format!("expected {want:?} from init, got {m:?}"))),
            None => {
                Err(Error::Init(crate::error::InitError::died("container init exited before it finished setting up")))
            }
        }
    }
}
