//! A file descriptor passed over a unix socket (SCM_RIGHTS) with a few
//! bytes of data: the one way every crate does it (the runtime's channel
//! to its init, a terminal sent to a console socket, the seccomp listener
//! sent to its agent, a container's lock handed to its monitor).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};

/// Send `data` on `sock`, with `fd` if given (it goes with the first byte).
/// Interrupted calls are retried; a closed peer gives EPIPE, never SIGPIPE.
/// Returns how many bytes went: a stream socket may take fewer.
pub fn send(sock: BorrowedFd, data: &[u8], fd: Option<BorrowedFd>) -> io::Result<usize> {
    let fds: Vec<BorrowedFd> = fd.into_iter().collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !cmsg.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the fd"));
    }
    loop {
        match sendmsg(sock, &[io::IoSlice::new(data)], &mut cmsg, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// Receive one message into `buf` on `sock`, with the fd sent with it if
/// any (close-on-exec). Zero bytes and no fd: the peer closed.
/// Interrupted calls are retried.
pub fn recv(sock: BorrowedFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let n = loop {
        match recvmsg(sock, &mut [io::IoSliceMut::new(buf)], &mut cmsg, RecvFlags::CMSG_CLOEXEC) {
            Err(Errno::INTR) => continue,
            r => break r?.bytes,
        }
    };
    let mut fd = None;
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            fd = fd.or(fds.next());
        }
    }
    Ok((n, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    #[test]
    fn an_fd_and_its_data_arrive_together() {
        let (a, b) = socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(send(a.as_fd(), b"hello", Some(file.as_fd())).unwrap(), 5);
        let mut buf = [0u8; 16];
        let (n, fd) = recv(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let (ours, theirs) = (rustix::fs::fstat(&file).unwrap(), rustix::fs::fstat(fd.unwrap()).unwrap());
        assert_eq!((ours.st_dev, ours.st_ino), (theirs.st_dev, theirs.st_ino));
        drop(a);
        let (n, fd) = recv(b.as_fd(), &mut buf).unwrap();
        assert_eq!((n, fd.is_none()), (0, true));
    }
}
