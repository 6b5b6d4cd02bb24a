//! Starting the container's init and exec'd processes: a fork into new
//! namespaces, born in the container's cgroup2 cgroup where the kernel can
//! (see `cgroups::Entry` for why that matters).

use std::os::fd::BorrowedFd;

use rustix::io::Errno;
use rustix::thread::UnshareFlags;
use sys::process::Forked;

use crate::error::{Context, Error, Result};

/// fork-like clone into the new namespaces `flags` (none: a plain fork),
/// into the cgroup2 directory `cgroup` where the kernel can. Returns which
/// side we are on and whether the child was born in `cgroup`; if not, it
/// must write cgroup.procs itself ([`crate::cgroups::Entry::join_self`]).
/// `what` names the child in errors.
///
/// The caller must be single-threaded, and the child must end in execve or
/// `_exit` relying on no libc thread state (see `sys::process`).
pub fn clone(flags: UnshareFlags, cgroup: Option<BorrowedFd>, what: &str) -> Result<(Forked, bool)> {
    let born = match cgroup.filter(|_| !test_without_clone3()) {
        // SAFETY: the runtime is single-threaded when it starts a process
        // (see lib.rs), so the child holds no lock another thread would have
        // held; the child's restrictions are this function's contract.
        Some(fd) => match unsafe { sys::process::clone_into_cgroup(flags, fd) } {
            Ok(forked) => Some(forked),
            // Kernels before 5.7 (no clone3, or no CLONE_INTO_CGROUP).
            Err(e) if matches!(Errno::from_io_error(&e), Some(Errno::NOSYS | Errno::TOOBIG | Errno::INVAL)) => None,
            Err(e) => return Err(Error::Io { context: what.into(), source: e }),
        },
        None => None,
    };
    let in_cgroup = born.is_some();
    let forked = match born {
        Some(forked) => forked,
        // SAFETY: as above.
        None => unsafe { sys::process::clone_into_namespaces(flags) }.context(|| what.into())?,
    };
    Ok((forked, in_cgroup))
}

/// In debug builds only, `BERTH_RUNTIME_TEST_NO_CLONE_INTO_CGROUP=1` takes
/// the path of kernels before 5.7, so tests cover it here too.
fn test_without_clone3() -> bool {
    cfg!(debug_assertions) && std::env::var_os("BERTH_RUNTIME_TEST_NO_CLONE_INTO_CGROUP").is_some_and(|v| v == "1")
}
