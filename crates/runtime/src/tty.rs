//! Terminals for container processes.
//!
//! The pty is opened inside the container (its own devpts instance) and the
//! peer is obtained with TIOCGPTPEER rather than by opening /dev/pts/N by
//! name, and both ends are checked to be real pty device inodes: a hostile
//! container cannot hand us some other file as its console
//! (CVE-2025-52565). The master goes to the caller over the console socket
//! (SCM_RIGHTS, as runc does) or to our own foreground proxy.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{fstat, fstatfs, major, minor, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::pty::OpenptFlags;
use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize, OptionalActions, Termios, Winsize};

use crate::error::{Context, Error, Result};

const PTMX_MAJOR: u32 = 5;
const PTMX_MINOR: u32 = 2;
/// UNIX98_PTY_SLAVE_MAJOR .. +7 (linux/major.h).
const PTS_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;
/// DEVPTS_SUPER_MAGIC (linux/magic.h; rustix does not name it).
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Open a new pty through `ptmx` (a path in the current mount namespace).
pub fn open(ptmx: &Path) -> Result<Pty> {
    let master = rustix::fs::open(ptmx, OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
        .context(|| format!("open {}", ptmx.display()))?;
    let st = fstat(&master).context(|| "fstat ptmx".into())?;
    let is_chr = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
    if !is_chr || major(st.st_rdev) != PTMX_MAJOR || minor(st.st_rdev) != PTMX_MINOR {
        return Err(Error::Other(format!("{} is not the pty multiplexer", ptmx.display())));
    }
    rustix::pty::unlockpt(&master).context(|| "unlock pty".into())?;
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .context(|| "open pty peer".into())?;
    check_pts(slave.as_fd())?;
    Ok(Pty { master, slave })
}

/// Is `fd` a pty slave on a devpts filesystem?
pub fn check_pts(fd: BorrowedFd) -> Result<()> {
    let st = fstat(fd).context(|| "fstat pty".into())?;
    let is_chr = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
    let fs = fstatfs(fd).context(|| "statfs pty".into())?;
    if !is_chr || !PTS_MAJORS.contains(&major(st.st_rdev)) || fs.f_type as i64 != DEVPTS_SUPER_MAGIC {
        return Err(Error::Other("console is not a real devpts pty".into()));
    }
    Ok(())
}

pub fn set_size(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    tcsetwinsize(fd, ws).context(|| "set console size".into())
}

/// The size of the terminal on `fd`, if it is one.
pub fn size_of(fd: BorrowedFd) -> Option<(u16, u16)> {
    tcgetwinsize(fd).ok().map(|ws| (ws.ws_row, ws.ws_col))
}

/// Make `slave` the controlling terminal and stdio of the calling process.
pub fn become_console(slave: &OwnedFd) -> Result<()> {
    rustix::process::setsid().context(|| "setsid".into())?;
    rustix::process::ioctl_tiocsctty(slave).context(|| "set controlling terminal".into())?;
    rustix::stdio::dup2_stdin(slave)
        .and_then(|()| rustix::stdio::dup2_stdout(slave))
        .and_then(|()| rustix::stdio::dup2_stderr(slave))
        .context(|| "dup console".into())
}

/// Connect to the console socket; a host path, so callers do this before
/// entering the container's mount namespace or root.
pub fn connect_socket(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).context(|| format!("connect to console socket {}", socket.display()))
}

/// Send the master over an already connected console socket, as runc does:
/// SCM_RIGHTS with the terminal's name as the data.
pub fn send_on(s: &UnixStream, master: BorrowedFd) -> Result<()> {
    send_fd(s.as_fd(), master, b"/dev/ptmx")
}

pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd, name: &[u8]) -> Result<()> {
    sys::fdpass::send(sock, name, Some(fd)).map(|_| ()).context(|| "send console fd".into())
}

/// Copy stdin -> master and master -> stdout until the master hangs up.
/// Runs in the foreground `run`/`exec` process; raw mode on our own terminal
/// lets keys like ^C reach the container's terminal.
pub fn proxy(master: &OwnedFd) {
    let (stdin, stdout) = (rustix::stdio::stdin(), rustix::stdio::stdout());
    let raw = RawMode::enter(stdin);
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let (master_ready, stdin_ready) = {
            let mut fds = vec![PollFd::new(master, PollFlags::IN)];
            if stdin_open {
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(_) => break,
            }
            let ready = |f: &PollFd| !f.revents().is_empty();
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if master_ready {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if write_all(stdout, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if stdin_open && stdin_ready {
            match rustix::io::read(stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if write_all(master.as_fd(), &buf[..n]).is_err() {
                        stdin_open = false;
                    }
                }
            }
        }
    }
    drop(raw);
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores it when dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Option<Termios>,
}

impl<'a> RawMode<'a> {
    /// Raw mode on `fd` if it is a terminal (nothing happens otherwise).
    pub fn enter(fd: BorrowedFd<'a>) -> RawMode<'a> {
        let saved = tcgetattr(fd).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = tcsetattr(fd, OptionalActions::Now, &raw);
        }
        RawMode { fd, saved }
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(self.fd, OptionalActions::Now, t);
        }
    }
}
