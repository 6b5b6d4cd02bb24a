//! `berth-init`: the container's PID 1 under `--init` (podman runs
//! catatonit there). It starts the command it is given (after `--`),
//! forwards every signal it gets to it, reaps every process that ends up
//! its child (orphans in the container are reparented to PID 1), and exits
//! as the command did: its exit code, or 128 + the signal that killed it.
//!
//! A binary of its own, and small: it stays resident for the container's
//! whole life (berth itself would map and relocate far more).

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use rustix::process::{Pid, Signal, WaitOptions};
use sys::signal::SignalSet;

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: no command given (usage: berth-init -- COMMAND [ARG...])");
        std::process::exit(125);
    }
    std::process::exit(run(&args));
}

fn run(args: &[std::ffi::OsString]) -> i32 {
    // Every signal waits for us, from before the command exists (one sent
    // meanwhile is forwarded once it does).
    let all = SignalSet::all();
    if let Err(e) = sys::signal::catch_all().and_then(|()| all.block()) {
        eprintln!("berth-init: setting up signals: {e}");
        return 125;
    }
    let tty = rustix::termios::isatty(rustix::stdio::stdin());
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    if tty {
        // Its own process group, given the terminal: ^C reaches it (and
        // what it runs) from the terminal, not us.
        cmd.process_group(0);
    }
    // Not our blocked signals and no-op handlers: its own defaults.
    sys::signal::reset_in_child(&mut cmd);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-init: exec {}: {e}", args[0].to_string_lossy());
            return match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            };
        }
    };
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else { return 125 };
    if tty {
        // We block SIGTTOU, so a background process group may do this.
        let _ = rustix::termios::tcsetpgrp(rustix::stdio::stdin(), pid);
    }
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        match sig {
            Some(Signal::CHILD) => {
                if let Some(code) = reap(pid) {
                    return code;
                }
            }
            Some(s) => {
                let _ = rustix::process::kill_process(pid, s);
            }
            None => {}
        }
    }
}

/// Reap every child that ended; the command's exit code once it is one of
/// them.
fn reap(command: Pid) -> Option<i32> {
    let mut code = None;
    // `wait`, not `waitpid(None)`: that is only our own process group.
    while let Ok(Some((pid, st))) = rustix::process::wait(WaitOptions::NOHANG) {
        if pid == command {
            code = st.exit_status().or_else(|| st.terminating_signal().map(|s| 128 + s));
        }
    }
    code
}
