//! How berth processes talk to a container's monitor: frames over a unix
//! SOCK_SEQPACKET socket (one frame per message, so no framing code), on
//! `<runroot>/attach/<id>` or on a socketpair berth made before forking the
//! monitor (an attached `run` is connected before the container starts, so
//! none of its output is missed).
//!
//! | from    | frame                    | meaning                                      |
//! |---------|--------------------------|----------------------------------------------|
//! | monitor | `1` bytes / `2` bytes    | the container wrote this to stdout / stderr  |
//! | monitor | `3` i32 (little endian)  | it exited with this code (recorded already)  |
//! | client  | `0` bytes                | feed this to its stdin                       |
//! | client  | `4`                      | end of our input: close its stdin            |
//! | client  | `5` rows u16, cols u16   | our terminal's size changed                  |

use std::io;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use super::logfile::Stream;

/// The largest frame: a tag and one read's worth of output.
pub const MAX_FRAME: usize = 1 + 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Output(Stream, Vec<u8>),
    Exit(i32),
    Stdin(Vec<u8>),
    StdinEnd,
    Resize(u16, u16),
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Output(Stream::Stdout, data) => [&[1u8][..], data].concat(),
            Frame::Output(Stream::Stderr, data) => [&[2u8][..], data].concat(),
            Frame::Exit(code) => [&[3u8][..], &code.to_le_bytes()].concat(),
            Frame::Stdin(data) => [&[0u8][..], data].concat(),
            Frame::StdinEnd => vec![4],
            Frame::Resize(rows, cols) => [&[5u8][..], &rows.to_le_bytes(), &cols.to_le_bytes()].concat(),
        }
    }

    /// `None` for a frame this version does not know (ignored).
    pub fn decode(b: &[u8]) -> Option<Frame> {
        let (tag, rest) = b.split_first()?;
        Some(match tag {
            1 => Frame::Output(Stream::Stdout, rest.to_vec()),
            2 => Frame::Output(Stream::Stderr, rest.to_vec()),
            3 => Frame::Exit(i32::from_le_bytes(rest.get(..4)?.try_into().ok()?)),
            0 => Frame::Stdin(rest.to_vec()),
            4 => Frame::StdinEnd,
            5 => Frame::Resize(
                u16::from_le_bytes(rest.get(..2)?.try_into().ok()?),
                u16::from_le_bytes(rest.get(2..4)?.try_into().ok()?),
            ),
            _ => return None,
        })
    }
}

/// Send one frame (whole, or not at all).
pub fn send(fd: BorrowedFd, frame: &Frame) -> io::Result<()> {
    let bytes = frame.encode();
    loop {
        match rustix::net::send(fd, &bytes, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive one frame; `Ok(None)` once the other side is gone.
pub fn recv(fd: BorrowedFd) -> io::Result<Option<Frame>> {
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        match rustix::net::recv(fd, &mut buf[..], RecvFlags::empty()) {
            Ok((0, _)) => return Ok(None),
            Ok((n, _)) => match Frame::decode(&buf[..n]) {
                Some(f) => return Ok(Some(f)),
                None => continue,
            },
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A connected pair (close-on-exec): one end for the monitor, one for us.
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

/// The monitor's socket for container `id` under `dir` (`<runroot>/attach`).
pub fn socket_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(id)
}

/// Listen on `<dir>/<id>`. A socket's path is limited to 108 bytes, which a
/// deep runroot and a 64-character ID can pass: it is bound through the
/// directory's fd (`/proc/self/fd/N/<id>`), as conmon does.
pub fn listen(dir: &Path, id: &str) -> io::Result<OwnedFd> {
    let dirfd = open_dir(dir)?;
    let _ = rustix::fs::unlinkat(&dirfd, id, rustix::fs::AtFlags::empty());
    let sock = socket()?;
    rustix::net::bind(&sock, &via_fd(&dirfd, id)?)?;
    rustix::net::listen(&sock, 16)?;
    Ok(sock)
}

/// Connect to the monitor of container `id`.
pub fn connect(dir: &Path, id: &str) -> io::Result<OwnedFd> {
    let dirfd = open_dir(dir)?;
    let sock = socket()?;
    rustix::net::connect(&sock, &via_fd(&dirfd, id)?)?;
    Ok(sock)
}

fn socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    Ok(rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())?)
}

fn via_fd(dirfd: &impl AsFd, name: &str) -> io::Result<SocketAddrUnix> {
    Ok(SocketAddrUnix::new(format!("/proc/self/fd/{}/{name}", dirfd.as_fd().as_raw_fd()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for f in [
            Frame::Output(Stream::Stdout, b"out".to_vec()),
            Frame::Output(Stream::Stderr, Vec::new()),
            Frame::Exit(-1),
            Frame::Exit(137),
            Frame::Stdin(b"in\n".to_vec()),
            Frame::StdinEnd,
            Frame::Resize(24, 80),
        ] {
            assert_eq!(Frame::decode(&f.encode()), Some(f));
        }
        assert_eq!(Frame::decode(&[]), None);
        assert_eq!(Frame::decode(&[3, 1]), None);
        assert_eq!(Frame::decode(&[9]), None);
    }

    #[test]
    fn a_long_socket_path_works_and_frames_keep_their_bounds() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("x".repeat(60));
        std::fs::create_dir(&dir).unwrap();
        let id = "a".repeat(64);
        assert!(socket_path(&dir, &id).as_os_str().len() > 108);
        let l = listen(&dir, &id).unwrap();
        let c = connect(&dir, &id).unwrap();
        let s = rustix::net::accept_with(&l, SocketFlags::CLOEXEC).unwrap();
        send(c.as_fd(), &Frame::Stdin(b"one".to_vec())).unwrap();
        send(c.as_fd(), &Frame::StdinEnd).unwrap();
        assert_eq!(recv(s.as_fd()).unwrap(), Some(Frame::Stdin(b"one".to_vec())));
        assert_eq!(recv(s.as_fd()).unwrap(), Some(Frame::StdinEnd));
        drop(c);
        assert_eq!(recv(s.as_fd()).unwrap(), None);
    }
}
