//! Staying in the foreground with a container process (`run`, `exec`
//! without -d): forward signals to it, proxy its terminal, and return its
//! exit code the way a shell reports it (128 + signal when killed).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};
use sys::signal::SignalSet;

use crate::tty;

/// Wait for `pid` (our child) to exit. Signals sent to us go to it.
pub fn wait(pid: i32, terminal: Option<OwnedFd>) -> i32 {
    wait_relaying(pid, terminal, Vec::new())
}

/// Copies what a container writes to a pipe (`from`, the read end) to one
/// of our own streams (`to`), until every writer has closed the pipe.
pub struct Relay {
    pub from: OwnedFd,
    pub to: OwnedFd,
}

/// [`wait`], also copying each relay's pipe to its destination meanwhile;
/// returns once the process exited and the relays drained what it wrote.
pub fn wait_relaying(pid: i32, terminal: Option<OwnedFd>, relays: Vec<Relay>) -> i32 {
    // Before any thread starts: threads inherit the mask, and a signal that a
    // relay thread did not block would take its default action (killing us)
    // instead of reaching the container.
    block_forwarded_signals();
    let copies: Vec<_> = relays
        .into_iter()
        .map(|r| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut from = std::fs::File::from(r.from);
                let mut to = std::fs::File::from(r.to);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = tx.send(());
            });
            rx
        })
        .collect();
    let code = match Pid::from_raw(pid) {
        Some(pid) => wait_inner(pid, terminal),
        None => 127,
    };
    // The pipes reach EOF once the container's last process is gone (its pid
    // namespace dies with its init); a process that escaped into another
    // namespace could keep one open, so do not wait forever.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for done in copies {
        let _ = done.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
    }
    code
}

/// The signals [`wait`] forwards: all but those that cannot be caught or
/// that report our own faults.
pub fn forwarded_signals() -> SignalSet {
    SignalSet::all().without(&[
        Signal::KILL,
        Signal::STOP,
        Signal::SEGV,
        Signal::BUS,
        Signal::ILL,
        Signal::FPE,
        Signal::TTIN,
        Signal::TTOU,
    ])
}

/// Block the signals [`wait`] forwards in the calling thread, and so in every
/// thread it starts afterwards. A caller that starts threads of its own
/// before waiting (feeding the container's stdin) calls this first.
pub fn block_forwarded_signals() {
    let _ = forwarded_signals().block();
}

fn wait_inner(pid: Pid, terminal: Option<OwnedFd>) -> i32 {
    let set = forwarded_signals();
    let _ = set.block();
    let proxy = terminal.map(|master| {
        let master = Arc::new(master);
        if let Some((rows, cols)) = our_size() {
            let _ = tty::set_size(master.as_fd(), rows, cols);
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let proxied = Arc::clone(&master);
        std::thread::spawn(move || {
            tty::proxy(&proxied);
            let _ = done_tx.send(());
        });
        (master, done_rx)
    });
    // The process may have exited before SIGCHLD was blocked: that SIGCHLD
    // was discarded (default disposition), so look once before waiting.
    let early = reap(pid);
    let code = loop {
        if let Some(code) = early {
            break code;
        }
        match set.wait() {
            Ok(Some(Signal::CHILD)) => {
                if let Some(code) = reap(pid) {
                    break code;
                }
            }
            Ok(Some(Signal::WINCH)) => {
                if let (Some((master, _)), Some((rows, cols))) = (&proxy, our_size()) {
                    let _ = tty::set_size(master.as_fd(), rows, cols);
                }
            }
            Ok(Some(sig)) => {
                let _ = rustix::process::kill_process(pid, sig);
            }
            Ok(None) | Err(_) => {}
        }
    };
    if let Some((_, done)) = proxy {
        // Let the proxy drain what the process wrote last; other processes may
        // still hold the terminal, so do not wait for them.
        let _ = done.recv_timeout(Duration::from_millis(300));
    }
    code
}

/// Reap exited children; the exit code once `pid` is among them.
fn reap(pid: Pid) -> Option<i32> {
    loop {
        // Any child (`waitpid(None)` would mean our process group only, and the
        // container process has a session of its own).
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((p, st))) if p == pid => {
                if let Some(code) = st.exit_status() {
                    return Some(code);
                }
                if let Some(sig) = st.terminating_signal() {
                    return Some(128 + sig);
                }
            }
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

fn our_size() -> Option<(u16, u16)> {
    tty::size_of(rustix::stdio::stdin())
}
