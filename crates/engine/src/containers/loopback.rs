//! A container's loopback interface, up before its process runs.
//!
//! The runtime gives every container a network namespace of its own, and a
//! new network namespace has only `lo`, down: 127.0.0.1 reaches nothing, so
//! a server and its client in one container cannot talk. podman's
//! containers have it up (with `--network none` too), so ours do. berth's
//! own runtime brings it up in the container's init
//! (`CreateOptions::loopback_up`); with an external runtime (`--runtime`)
//! the monitor calls [`bring_up`] between the runtime's create, which made
//! the namespace, and start.

use std::io;
use std::os::fd::{AsFd as _, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::thread::LinkNameSpaceType;

use crate::error::{Context as _, Error, Result};

/// Bring up `lo` in the network namespace of the container whose init is
/// `pid` (our child, waiting to be started: the pid cannot be reused).
pub(super) fn bring_up(pid: i32) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = net_namespace(pid)?;
    // The host's own namespace (a container sharing it) is not ours to change.
    let ours = rustix::fs::stat("/proc/thread-self/ns/net").ctx(|| "reading our network namespace".into())?;
    let theirs = rustix::fs::fstat(&ns).ctx(|| format!("reading {path}"))?;
    if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
        return Ok(());
    }
    // setns() into a network namespace is allowed in a multi-threaded
    // process and moves only the calling thread: a thread of its own goes
    // there and ends there, so nothing else of berth ever runs inside the
    // container's namespace and nothing has to be moved back. (The
    // container's init is forked already: a thread now is safe.)
    let worker = std::thread::Builder::new()
        .name("loopback".into())
        .spawn(move || up_inside(&ns))
        .ctx(|| "starting a thread".into())?;
    match worker.join() {
        Ok(done) => done.ctx(|| "bringing up the container's loopback interface".into()),
        Err(_) => Err(Error::new("bringing up the container's loopback interface: the thread panicked")),
    }
}

/// The network namespace of our child `pid` (a container's init), as an fd.
pub(super) fn net_namespace(pid: i32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/net");
    rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ctx(|| format!("opening {path}"))
}

/// On a thread that may move: enter `ns`, then raise `lo`'s flag through a
/// socket made there (an interface ioctl acts on its socket's namespace).
fn up_inside(ns: &OwnedFd) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
    let socket = rustix::net::socket_with(AddressFamily::INET, SocketType::DGRAM, SocketFlags::CLOEXEC, None)?;
    sys::net::set_link_up(socket.as_fd(), "lo")
}
