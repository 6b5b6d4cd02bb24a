//! The client side of attaching to a container's monitor (`run` without
//! `-d`, `start -a`, `attach`): its output to our stdout and stderr, our
//! stdin to it with `-i` (raw, with `-t`, so keys like ^C reach its
//! terminal), our terminal's size with `-t`, the signals we get to it, and
//! the detach keys (ctrl-p ctrl-q) to leave it running.

use std::io::IsTerminal as _;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use runtime::container::foreground;
use sys::signal::Signal;

use super::attach::{self, Frame};
use super::logfile::Stream;

/// podman's default detach keys: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// What an attached client does.
pub struct AttachOptions {
    /// Our stdin goes to the container (`-i`).
    pub stdin: bool,
    /// The container has a terminal (`-t`): ours goes raw, its size follows ours.
    pub tty: bool,
    /// Signals we receive go to the container (`--sig-proxy`).
    pub sig_proxy: bool,
    /// Typed on our stdin, these leave the container running (empty: none).
    pub detach_keys: Vec<u8>,
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The container exited with this code (recorded already).
    Exited(i32),
    /// The user typed the detach keys.
    Detached,
    /// The monitor went away without saying (killed).
    Lost,
}

/// Relay between us and the monitor on `conn` until one of the above.
/// `kill` sends a signal to the container (for `sig_proxy`).
pub fn relay(conn: OwnedFd, opts: &AttachOptions, kill: impl Fn(Signal) + Send + 'static) -> Attached {
    // Before any thread starts, so that every thread has them blocked and
    // the signal thread alone takes them.
    foreground::block_forwarded_signals();
    let conn = Arc::new(conn);
    let detached = Arc::new(AtomicBool::new(false));
    let stdin = rustix::stdio::stdin();
    // Held here, not in the stdin thread: restored when we return, even
    // while that thread still waits in read().
    let _raw = (opts.tty && opts.stdin && std::io::stdin().is_terminal()).then(|| runtime::tty::RawMode::enter(stdin));
    if opts.tty {
        send_size(&conn);
    }
    {
        let conn = Arc::clone(&conn);
        let tty = opts.tty;
        let proxy = opts.sig_proxy;
        std::thread::spawn(move || {
            let set = foreground::forwarded_signals();
            while let Ok(sig) = set.wait() {
                match sig {
                    Some(Signal::WINCH) if tty => send_size(&conn),
                    Some(Signal::CHILD | Signal::WINCH | Signal::PIPE | Signal::URG) | None => {}
                    Some(sig) if proxy => kill(sig),
                    Some(_) => {}
                }
            }
        });
    }
    if opts.stdin {
        let conn = Arc::clone(&conn);
        let detached = Arc::clone(&detached);
        let keys = opts.detach_keys.clone();
        std::thread::spawn(move || feed_stdin(&conn, &keys, &detached));
    }
    loop {
        match attach::recv(conn.as_fd()) {
            Ok(Some(Frame::Output(stream, data))) => {
                let fd = match stream {
                    Stream::Stdout => rustix::stdio::stdout(),
                    Stream::Stderr => rustix::stdio::stderr(),
                };
                // Our reader went away (`| head`): the container runs on.
                let _ = write_all(fd, &data);
            }
            Ok(Some(Frame::Exit(code))) => return Attached::Exited(code),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                return if detached.load(Ordering::SeqCst) { Attached::Detached } else { Attached::Lost };
            }
        }
    }
}

/// Our stdin to the container until it ends (then its stdin ends too) or
/// the detach keys are typed (then the connection is shut down).
fn feed_stdin(conn: &OwnedFd, keys: &[u8], detached: &AtomicBool) {
    let mut buf = vec![0u8; 32 * 1024];
    // How much of `keys` the input has matched so far.
    let mut matched = 0;
    loop {
        let n = match rustix::io::read(rustix::stdio::stdin(), &mut buf) {
            Ok(0) | Err(_) => {
                let _ = attach::send(conn.as_fd(), &Frame::StdinEnd);
                return;
            }
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if !keys.is_empty() && b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    detached.store(true, Ordering::SeqCst);
                    let _ = rustix::net::shutdown(conn, rustix::net::Shutdown::Both);
                    return;
                }
                continue;
            }
            // Not the sequence after all: what was held back goes through.
            out.extend_from_slice(&keys[..matched]);
            matched = 0;
            out.push(b);
        }
        if !out.is_empty() && attach::send(conn.as_fd(), &Frame::Stdin(out)).is_err() {
            return;
        }
    }
}

fn send_size(conn: &OwnedFd) {
    if let Some((rows, cols)) = runtime::tty::size_of(rustix::stdio::stdin()) {
        let _ = attach::send(conn.as_fd(), &Frame::Resize(rows, cols));
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `--detach-keys` as podman reads it: comma-separated keys, each one
/// character or `ctrl-` and one of a-z @ [ \ ] ^ _; empty turns detaching
/// off. The error is podman's.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|k| {
            let bad = || format!("invalid detach keys: Unknown character: '{k}'");
            match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                    c @ b'a'..=b'z' => Ok(c - b'a' + 1),
                    b'@' => Ok(0),
                    b'[' => Ok(27),
                    b'\\' => Ok(28),
                    b']' => Ok(29),
                    b'^' => Ok(30),
                    b'_' => Ok(31),
                    _ => Err(bad()),
                },
                None if k.len() == 1 => Ok(k.as_bytes()[0]),
                _ => Err(bad()),
            }
        })
        .collect()
}

impl crate::Engine {
    /// Start container `c` under its monitor and stay attached to it (`run`
    /// without `-d`, `start -a`). The front end must call
    /// [`super::monitor_main`] first thing in its `main`.
    pub fn run_attached(&self, c: &mut super::Container, opts: &AttachOptions) -> crate::Result<Attached> {
        let conn = self.start_attached(c)?;
        Ok(relay(conn, opts, self.signaller(&c.id)))
    }

    /// [`Engine::run_attached`] by a monitor started ahead, with `attach`
    /// ([`Engine::launch_monitor`]).
    pub fn run_attached_by(
        &self,
        m: super::PendingMonitor,
        c: &mut super::Container,
        opts: &AttachOptions,
    ) -> crate::Result<Attached> {
        let conn = self.start_attached_by(m, c)?;
        Ok(relay(conn, opts, self.signaller(&c.id)))
    }

    /// Attach to running container `c`'s monitor (`attach`).
    pub fn attach(&self, c: &super::Container, opts: &AttachOptions) -> crate::Result<Attached> {
        use crate::error::Context as _;
        if c.state != super::State::Running {
            return Err(crate::Error::new("you can only attach to running containers"));
        }
        let conn = attach::connect(&self.attach_dir(), &c.id).ctx(|| format!("attaching to container {}", c.id))?;
        crate::events::container(self.runroot(), crate::events::Status::Attach, c);
        Ok(relay(conn, opts, self.signaller(&c.id)))
    }

    /// A function that sends a signal to container `id`'s init.
    fn signaller(&self, id: &str) -> impl Fn(Signal) + Send + 'static {
        let (root, ext, id) = (self.runtime_root(), self.ext_dir(), id.to_string());
        move |sig| {
            if let Err(e) = super::external::signal(&root, &ext, &id, sig, false) {
                tracing::debug!("forwarding {sig:?} to {id}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_podman() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_DETACH_KEYS);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("").unwrap(), Vec::<u8>::new());
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert_eq!(parse_detach_keys("bogus").unwrap_err(), "invalid detach keys: Unknown character: 'bogus'");
    }
}
