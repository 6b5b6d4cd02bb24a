//! Process calls rustix does not wrap: ending a forked child without running
//! anything of its parent's.

/// `_exit(code)`: end the process now, running no atexit handler, no
/// destructor and no stdio flush. What a forked child of a process with
/// state to protect (locks, cleanup guards, buffered output) must use.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}
