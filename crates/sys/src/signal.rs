//! Signals: names (as `kill` takes them) and waiting for signals
//! synchronously (sigprocmask + sigwait), which rustix leaves to its unsafe
//! `runtime` feature.

use std::io;

pub use rustix::process::Signal;

/// The signals with a name, as runc's `kill` accepts them (without "SIG").
const NAMES: &[(&str, Signal)] = &[
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("ILL", Signal::ILL),
    ("TRAP", Signal::TRAP),
    ("ABRT", Signal::ABORT),
    ("IOT", Signal::ABORT),
    ("BUS", Signal::BUS),
    ("FPE", Signal::FPE),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("SEGV", Signal::SEGV),
    ("USR2", Signal::USR2),
    ("PIPE", Signal::PIPE),
    ("ALRM", Signal::ALARM),
    ("TERM", Signal::TERM),
    ("STKFLT", Signal::STKFLT),
    ("CHLD", Signal::CHILD),
    ("CONT", Signal::CONT),
    ("STOP", Signal::STOP),
    ("TSTP", Signal::TSTP),
    ("TTIN", Signal::TTIN),
    ("TTOU", Signal::TTOU),
    ("URG", Signal::URG),
    ("XCPU", Signal::XCPU),
    ("XFSZ", Signal::XFSZ),
    ("VTALRM", Signal::VTALARM),
    ("PROF", Signal::PROF),
    ("WINCH", Signal::WINCH),
    ("IO", Signal::IO),
    ("POLL", Signal::IO),
    ("PWR", Signal::POWER),
    ("SYS", Signal::SYS),
];

/// The signal named `name` ("KILL", "SIGKILL", "kill"...), or numbered
/// `name` ("9"). Real-time signals have no name here.
pub fn parse(name: &str) -> Option<Signal> {
    if let Ok(n) = name.parse::<i32>() {
        return Signal::from_named_raw(n);
    }
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    NAMES.iter().find(|(n, _)| *n == bare).map(|(_, s)| *s)
}

/// A set of signals, to block and to wait for.
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// Every signal.
    pub fn all() -> SignalSet {
        // SAFETY: sigset_t is plain data; sigfillset initialises all of it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to our own sigset_t.
        unsafe { libc::sigfillset(&mut set) };
        SignalSet(set)
    }

    /// This set without `sigs`.
    pub fn without(mut self, sigs: &[Signal]) -> SignalSet {
        for s in sigs {
            // SAFETY: a valid pointer to our own sigset_t and a valid signal number.
            unsafe { libc::sigdelset(&mut self.0, s.as_raw()) };
        }
        self
    }

    /// Block these signals for the calling thread (they stay pending until
    /// [`SignalSet::wait`] takes them).
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: valid pointer to our set; the old mask is not asked for.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }

    /// Wait for one of these signals (which must be blocked) and take it.
    /// `None` for a signal without a name (a real-time one).
    pub fn wait(&self) -> io::Result<Option<Signal>> {
        let mut sig: libc::c_int = 0;
        // SAFETY: valid pointers to our set and to an int for the result.
        let rc = unsafe { libc::sigwait(&self.0, &mut sig) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Signal::from_named_raw(sig))
    }
}

/// Every signal back to its default action and none blocked, as a program
/// freshly started by init has them: for a process about to execve another
/// program. Ignored signals and the mask survive execve, and the caller's
/// are not the new program's business: a Rust program ignores SIGPIPE from
/// its first instruction, so its exec'd child would see EPIPE where it
/// expects to die of SIGPIPE (`yes | head -1` printing "Broken pipe").
/// Handlers need no reset (execve resets them). libc's own signals (the
/// two below SIGRTMIN that glibc reserves) are left to libc.
pub fn reset_for_exec() -> io::Result<()> {
    let signals = (1..32).chain(libc::SIGRTMIN()..=libc::SIGRTMAX());
    for sig in signals.filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP) {
        // SAFETY: sigaction is given a zeroed struct (SIG_DFL, no flags, an
        // empty mask) that outlives the call, and no old action is asked for.
        let rc = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &act, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: sigemptyset initialises the set; SIG_SETMASK reads it.
    let rc = unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Give every catchable signal a handler that does nothing, for a process
/// that blocks them and takes them with [`SignalSet::wait`] as the init of
/// a pid namespace: the kernel drops a signal sent to such an init whose
/// action is the default, even from outside the namespace and while it is
/// blocked, so `kill -TERM` would never reach its `sigwait`.
pub fn catch_all() -> io::Result<()> {
    extern "C" fn nothing(_: libc::c_int) {}
    for sig in (1..32).filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP) {
        // SAFETY: a zeroed struct with a handler that does nothing (async-
        // signal-safe by construction) outlives the call; no old action.
        let rc = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = nothing as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &act, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Make the process `cmd` spawns start as [`reset_for_exec`] leaves one
/// (default actions, nothing blocked), whatever this process blocks: std
/// keeps the caller's signal mask.
pub fn reset_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the hook runs between fork and exec and makes only
    // async-signal-safe calls (sigaction, sigprocmask), allocating nothing.
    unsafe { cmd.pre_exec(reset_for_exec) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9"), Some(Signal::KILL));
        assert_eq!(parse("KILL"), Some(Signal::KILL));
        assert_eq!(parse("sigterm"), Some(Signal::TERM));
        assert_eq!(parse("SIGCHLD"), Some(Signal::CHILD));
        assert_eq!(parse("WINCH").map(Signal::as_raw), Some(libc::SIGWINCH));
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("99"), None);
        for (name, sig) in NAMES {
            assert_eq!(parse(&format!("SIG{name}")), Some(*sig));
        }
    }

    /// What a forked child ignored and blocked is back to the defaults,
    /// as /proc tells it (libc's reserved signals 32 and 33 aside).
    #[test]
    fn reset_for_exec_leaves_nothing_ignored_or_blocked() {
        fn status_mask(field: &str) -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let hex = status.lines().find_map(|l| l.strip_prefix(field)).unwrap_or("").trim().to_string();
            u64::from_str_radix(&hex, 16).unwrap_or(u64::MAX)
        }
        // SAFETY: the child makes syscalls, reads /proc and exits.
        match unsafe { crate::process::fork() }.unwrap() {
            crate::process::Forked::Child => {
                // SAFETY: setting a disposition to SIG_IGN with a zeroed struct.
                let ignored = unsafe {
                    let mut act: libc::sigaction = std::mem::zeroed();
                    act.sa_sigaction = libc::SIG_IGN;
                    libc::sigaction(libc::SIGPIPE, &act, std::ptr::null_mut()) == 0
                        && libc::sigaction(libc::SIGHUP, &act, std::ptr::null_mut()) == 0
                };
                let set = SignalSet::all().without(&[Signal::KILL, Signal::STOP]);
                let before = ignored && set.block().is_ok() && status_mask("SigIgn:") & 0x1001 == 0x1001;
                let reset = reset_for_exec().is_ok();
                let libc_own = 0b11 << 31;
                let after = status_mask("SigIgn:") & !libc_own == 0 && status_mask("SigBlk:") & !libc_own == 0;
                crate::process::exit_immediately(match (before, reset, after) {
                    (true, true, true) => 0,
                    (false, _, _) => 1,
                    (_, false, _) => 2,
                    _ => 3,
                })
            }
            crate::process::Forked::Parent(pid) => {
                let (_, st) =
                    rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).unwrap().unwrap();
                assert_eq!(st.exit_status(), Some(0));
            }
        }
    }

    /// A blocked signal sent to ourselves is taken by wait. In a forked
    /// child: the test harness's threads must not see the mask.
    #[test]
    fn block_and_wait() {
        // SAFETY: the child only makes syscalls and exits.
        match unsafe { crate::process::fork() }.unwrap() {
            crate::process::Forked::Child => {
                let set = SignalSet::all().without(&[Signal::KILL, Signal::STOP]);
                let ok = set.block().is_ok()
                    && rustix::process::kill_process(rustix::process::getpid(), Signal::USR1).is_ok()
                    && matches!(set.wait(), Ok(Some(Signal::USR1)));
                crate::process::exit_immediately(if ok { 0 } else { 1 })
            }
            crate::process::Forked::Parent(pid) => {
                let (_, st) =
                    rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).unwrap().unwrap();
                assert_eq!(st.exit_status(), Some(0));
            }
        }
    }
}
