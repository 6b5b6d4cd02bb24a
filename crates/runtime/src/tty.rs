//! Terminals for container processes.
//!
//! The pty is opened inside the container (its own devpts instance) and the
//! peer is obtained with TIOCGPTPEER rather than by opening /dev/pts/N by
//! name, and both ends are checked to be real pty device inodes: a hostile
//! container cannot hand us some other file as its console
//! (CVE-2025-52565). The master goes to the caller over the console socket
//! (SCM_RIGHTS, as runc does) or to our own foreground proxy.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::{fstat, major, minor, SFlag};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};

use crate::error::{Context, Error, Result};

const PTMX_MAJOR: u64 = 5;
const PTMX_MINOR: u64 = 2;
/// UNIX98_PTY_SLAVE_MAJOR .. +7 (linux/major.h).
const PTS_MAJORS: std::ops::RangeInclusive<u64> = 136..=143;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Open a new pty through `ptmx` (a path in the current mount namespace).
pub fn open(ptmx: &Path) -> Result<Pty> {
    let master = nix::fcntl::open(
        ptmx,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context(|| format!("open {}", ptmx.display()))?;
    let st = fstat(&master).context(|| "fstat ptmx".into())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || major(st.st_rdev) != PTMX_MAJOR || minor(st.st_rdev) != PTMX_MINOR {
        return Err(Error::Other(format!("{} is not the pty multiplexer", ptmx.display())));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int; fd is a ptmx master.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "unlock pty".into());
    }
    // SAFETY: TIOCGPTPEER returns a new fd for the peer of this master.
    let peer =
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if peer < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "open pty peer".into());
    }
    // SAFETY: fresh fd from the kernel.
    let slave = unsafe { OwnedFd::from_raw_fd(peer) };
    check_pts(slave.as_fd())?;
    Ok(Pty { master, slave })
}

/// Is `fd` a pty slave on a devpts filesystem?
pub fn check_pts(fd: BorrowedFd) -> Result<()> {
    let st = fstat(fd).context(|| "fstat pty".into())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    let fs = fstatfs(fd).context(|| "statfs pty".into())?;
    if !is_chr || !PTS_MAJORS.contains(&major(st.st_rdev)) || fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(Error::Other("console is not a real devpts pty".into()));
    }
    Ok(())
}

pub fn set_size(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize struct.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "set console size".into());
    }
    Ok(())
}

/// Make `slave` the controlling terminal and stdio of the calling process.
pub fn become_console(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().context(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY with arg 0 on a terminal fd.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context(|| "set controlling terminal".into());
    }
    for target in 0..3 {
        // SAFETY: dup2 onto stdio numbers.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error()).context(|| "dup console".into());
        }
    }
    Ok(())
}

/// Send the master to the caller's console socket, as runc does: SCM_RIGHTS
/// with the terminal's name as the data.
pub fn send_to_socket(socket: &Path, master: RawFd) -> Result<()> {
    send_on(&connect_socket(socket)?, master)
}

/// Connect to the console socket; a host path, so callers do this before
/// entering the container's mount namespace or root.
pub fn connect_socket(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).context(|| format!("connect to console socket {}", socket.display()))
}

/// Send the master over an already connected console socket.
pub fn send_on(s: &UnixStream, master: RawFd) -> Result<()> {
    send_fd(s.as_raw_fd(), master, b"/dev/ptmx")
}

pub fn send_fd(sock: RawFd, fd: RawFd, name: &[u8]) -> Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(name)];
    sendmsg::<()>(sock, &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .context(|| "send console fd".into())?;
    Ok(())
}

/// Copy stdin -> master and master -> stdout until the master hangs up.
/// Runs in the foreground `run`/`exec` process; raw mode on our own terminal
/// lets keys like ^C reach the container's terminal.
pub fn proxy(master: &OwnedFd) {
    let raw = RawMode::enter(0);
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let mut fds = vec![libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if stdin_open {
            fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: fds is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if write_all(1, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if stdin_open && fds.len() > 1 && fds[1].revents != 0 {
            // SAFETY: fd 0 is our stdin for the life of the process.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if write_all(master.as_raw_fd(), &buf[..n]).is_err() {
                        stdin_open = false;
                    }
                }
            }
        }
    }
    drop(raw);
}

fn write_all(fd: RawFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: writing from a valid buffer to an fd we hold.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores it when dropped.
struct RawMode {
    fd: RawFd,
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter(fd: RawFd) -> RawMode {
        // SAFETY: fd 0 stays open for the life of the process.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = nix::sys::termios::tcgetattr(b).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(b, nix::sys::termios::SetArg::TCSANOW, &raw);
        }
        RawMode { fd, saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: see enter().
            let b = unsafe { BorrowedFd::borrow_raw(self.fd) };
            let _ = nix::sys::termios::tcsetattr(b, nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}
