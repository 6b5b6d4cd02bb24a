//! The end of a forked child of the runtime (the container's init, `exec`'s
//! child): how it reports a failure, and how a panic ends it.
//!
//! A child is a copy of the runtime's stack: unwinding out of it would run
//! the parent's destructors in the child (`create`'s cleanup guard would kill
//! and remove what the parent still uses) and return into the caller's code
//! as if `create` or `exec` had returned. So in a child a panic never
//! unwinds: a panic hook reports it over the sync channel (when the parent
//! still listens) and `_exit`s. The hook runs before the unwinding or the
//! abort starts, so this holds in every build profile (release builds abort
//! on panic, test and debug builds unwind).

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{InitError, InitErrorKind};
use crate::sync::{Channel, Msg};

/// The sync channel's fd while the parent listens on it, else -1 (errors
/// then go to stderr, which is the container's).
static CHANNEL: AtomicI32 = AtomicI32::new(-1);

/// Called first thing in a forked child: failures and panics go to `chan`.
pub fn enter(chan: &Channel) {
    CHANNEL.store(chan.raw(), Ordering::Relaxed);
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        exit_with(&InitError {
            kind: InitErrorKind::Panicked,
            message: format!("container process setup panicked{at}: {what}"),
        })
    }));
}

/// The parent no longer listens (the init reported itself created):
/// failures from now on go to stderr.
pub fn parent_gone() {
    CHANNEL.store(-1, Ordering::Relaxed);
}

/// Report `e` and end the child with status 1, running no destructor.
pub fn exit_with(e: &InitError) -> ! {
    let fd = CHANNEL.load(Ordering::Relaxed);
    let sent = fd >= 0 && {
        // SAFETY: `fd` is the child's end of the sync channel, which stays
        // open (it is only closed by execve) for as long as CHANNEL holds it.
        let chan = unsafe { BorrowedFd::borrow_raw(fd) };
        Channel::send_on(chan, &Msg::Error(e.clone()), None).is_ok()
    };
    // Past the hand-over, stderr is where a failure can be seen. Before it,
    // a send that fails means the parent gave up on us (it reports its own
    // error and kills us): a second message on the shared stderr would only
    // garble its one line.
    if !sent && fd < 0 {
        eprintln!("berth-runtime: {e}");
    }
    sys::process::exit_immediately(1)
}

/// In debug builds only, `BERTH_RUNTIME_TEST_PANIC=<at>` makes the child
/// panic at the point named `at`, so tests can check that a panic is
/// contained. Release builds do not have the check.
pub fn test_panic_point(at: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BERTH_RUNTIME_TEST_PANIC").is_some_and(|v| v == at) {
        panic!("deliberate panic at {at} (BERTH_RUNTIME_TEST_PANIC)");
    }
    #[cfg(not(debug_assertions))]
    let _ = at;
}
