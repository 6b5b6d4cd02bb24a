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
