//! The channel between the runtime and the container's init while it is set
//! up: a SOCK_SEQPACKET socketpair carrying small JSON messages (one per
//! packet) and, when needed, a file descriptor (the terminal master).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
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
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
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

    pub fn send_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        Self::send_on(self.fd.as_fd(), msg, fd)
    }

    /// Send on a channel's fd without holding the `Channel` (a panic hook
    /// only has the fd number).
    pub fn send_on(chan: BorrowedFd, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Other(e.to_string()))?;
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsgs: Vec<ControlMessage> = match fd {
            Some(f) => {
                fds = [f];
                vec![ControlMessage::ScmRights(&fds)]
            }
            None => vec![],
        };
        sendmsg::<()>(chan.as_raw_fd(), &iov, &cmsgs, MsgFlags::MSG_NOSIGNAL, None)
            .context(|| "send to sync socket".into())?;
        Ok(())
    }

    /// Receive one message; `None` when the other end closed the channel.
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(m) => {
                    let mut fd = None;
                    for c in m.cmsgs().context(|| "sync socket control message".into())? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: the kernel just installed these fds for us.
                            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
                        }
                    }
                    break (m.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context(|| "receive from sync socket".into()),
            }
        };
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
