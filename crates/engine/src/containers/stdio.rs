//! How a foreground container's stdio meets ours, as podman connects it:
//!
//! | flags  | container's 0 / 1 / 2                    | what berth does                         |
//! |--------|------------------------------------------|-----------------------------------------|
//! | (none) | /dev/null / pipe / pipe                  | relays the pipes to our stdout, stderr  |
//! | `-i`   | pipe / pipe / pipe                       | also feeds our stdin into its pipe      |
//! | `-t`   | its own pty (the runtime makes it)       | proxies the pty's output, not our input |
//! | `-it`  | its own pty                              | proxies both ways                       |
//!
//! The container never holds one of the caller's own fds: given the
//! caller's terminal it could change its modes (`stty -echo` in the user's
//! shell) or read what was piped to berth without `-i`. With `-i` stdin is a
//! pipe even when ours is a file or a pipe, as podman does (it keeps the
//! container from seeking, writing to or keeping our file).

use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::sync::Arc;

use runtime::container::foreground::{self, Relay};
use runtime::container::Stdio;
use rustix::fs::{Mode, OFlags};
use rustix::pipe::{pipe_with, PipeFlags};

use crate::error::{Context as _, Result};

/// The fds prepared for one foreground run. [`Wiring::for_container`] goes
/// into the runtime's create; [`Wiring::attach`] once the container exists.
pub struct Wiring {
    container: Arc<Stdio>,
    /// Our side of its stdout and stderr pipes, and where they go.
    relays: Vec<Relay>,
    /// Our stdin and the write end of the container's stdin pipe (`-i`
    /// without `-t`).
    feed: Option<Relay>,
    /// `-t` without `-i`: the runtime's terminal proxy reads our fd 0, so it
    /// must find nothing there.
    mute_stdin: bool,
}

impl Wiring {
    pub fn new(terminal: bool, interactive: bool) -> Result<Wiring> {
        let null = || dev_null().ctx(|| "opening /dev/null".into());
        if terminal {
            // The runtime puts the pty on 0-2 before the process runs; until
            // then the init holds nothing of ours either.
            let container = Stdio { stdin: null()?, stdout: null()?, stderr: null()? };
            return Ok(Wiring {
                container: Arc::new(container),
                relays: Vec::new(),
                feed: None,
                mute_stdin: !interactive,
            });
        }
        let (out_r, out_w) = pipe().ctx(|| "creating the container's stdout pipe".into())?;
        let (err_r, err_w) = pipe().ctx(|| "creating the container's stderr pipe".into())?;
        let relays = vec![
            Relay { from: out_r, to: ours(io::stdout().as_fd()).ctx(|| "duplicating stdout".into())? },
            Relay { from: err_r, to: ours(io::stderr().as_fd()).ctx(|| "duplicating stderr".into())? },
        ];
        let (stdin, feed) = if interactive {
            let (in_r, in_w) = pipe().ctx(|| "creating the container's stdin pipe".into())?;
            (in_r, Some(Relay { from: ours(io::stdin().as_fd()).ctx(|| "duplicating stdin".into())?, to: in_w }))
        } else {
            (null()?, None)
        };
        let container = Stdio { stdin, stdout: out_w, stderr: err_w };
        Ok(Wiring { container: Arc::new(container), relays, feed, mute_stdin: false })
    }

    /// What the runtime gives the container as fds 0-2.
    pub fn for_container(&self) -> Arc<Stdio> {
        Arc::clone(&self.container)
    }

    /// Once the container is created (the runtime no longer holds its
    /// [`Wiring::for_container`]): close our copies of its ends, so its
    /// pipes end when it does, and start feeding its stdin. Returns the
    /// relays for [`foreground::wait_relaying`].
    pub fn attach(self) -> Result<Vec<Relay>> {
        drop(self.container);
        if self.mute_stdin {
            rustix::stdio::dup2_stdin(dev_null().ctx(|| "opening /dev/null".into())?)
                .ctx(|| "pointing stdin at /dev/null".into())?;
        }
        if let Some(feed) = self.feed {
            // The feeder must not take signals meant for the container.
            foreground::block_forwarded_signals();
            // Not waited for: when the container exits we do too, even if
            // the user never ends their input.
            std::thread::spawn(move || {
                let mut from = std::fs::File::from(feed.from);
                let mut to = std::fs::File::from(feed.to);
                let _ = io::copy(&mut from, &mut to);
            });
        }
        Ok(self.relays)
    }
}

fn dev_null() -> io::Result<OwnedFd> {
    Ok(rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?)
}

/// A pipe, (read end, write end), both close-on-exec (the runtime's init
/// dup2s the container's ends onto 0-2, which clears the flag there).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(pipe_with(PipeFlags::CLOEXEC)?)
}

/// A close-on-exec copy of one of our standard streams.
fn ours(fd: std::os::fd::BorrowedFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 3)?)
}
