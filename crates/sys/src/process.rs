//! Process calls rustix does not wrap: starting a child (fork, clone into
//! new namespaces), replacing the program (execve, fexecve), and the odd
//! per-process settings a container's init needs (close-on-exec for every
//! fd, personality, session keyring). rustix leaves process creation and
//! execve to its `runtime` feature, whose functions are unsafe and bypass
//! libc's bookkeeping; these go through libc or are plain syscalls, each
//! behind a small function with the conditions spelled out.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::process::Pid;
use rustix::thread::UnshareFlags;

/// Which side of a fork-like call we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The caller, with the new process's pid.
    Parent(Pid),
}

fn forked(rc: i64) -> io::Result<Forked> {
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Pid::from_raw(pid as i32).map(Forked::Parent).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData)),
    }
}

/// `fork()`.
///
/// # Safety
///
/// The child is a copy of the calling thread only. If the caller has other
/// threads, any lock they held (the allocator's, stdio's) stays held forever
/// in the child: until it execs or ends (with [`exit_immediately`]), the
/// child must not take such locks. Callers fork from a single-threaded
/// process or keep the child to what is safe after fork.
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory preconditions; what the child may do
    // afterwards is this function's own contract, stated above.
    forked(i64::from(unsafe { libc::fork() }))
}

/// The namespaces clone(2) can create: every `CLONE_NEW*` flag but
/// `CLONE_NEWTIME`, whose bit (0x80) lies in clone's exit-signal byte
/// (`CSIGNAL`), so clone would read it as part of the signal (time
/// namespaces come from unshare or clone3 only). What [`clone_into_namespaces`]
/// accepts, and what seccomp profiles refuse `clone` without CAP_SYS_ADMIN
/// (Docker's `CLONE_NAMESPACE_FLAGS`, 0x7e020000).
pub const CLONE_NAMESPACES: UnshareFlags = UnshareFlags::NEWNS
    .union(UnshareFlags::NEWCGROUP)
    .union(UnshareFlags::NEWUTS)
    .union(UnshareFlags::NEWIPC)
    .union(UnshareFlags::NEWUSER)
    .union(UnshareFlags::NEWPID)
    .union(UnshareFlags::NEWNET);

/// The namespaces unshare(2) can create ([`unshare_namespaces`]): creating
/// namespaces shares or duplicates nothing of the process's memory or file
/// table.
pub const NAMESPACES: UnshareFlags = CLONE_NAMESPACES.union(UnshareFlags::NEWTIME);

fn only(allowed: UnshareFlags, flags: UnshareFlags) -> io::Result<u64> {
    if !allowed.contains(flags) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("only namespace flags {allowed:?} are accepted here, not {:?}", flags - allowed),
        ));
    }
    Ok(u64::from(flags.bits()))
}

/// clone(2) as a fork (no shared memory, SIGCHLD on exit) whose child starts
/// in new namespaces `namespaces` ([`CLONE_NAMESPACES`] only). Unlike
/// `unshare` + `fork`, one call makes the child init of a new pid
/// namespace and the owner of a new user namespace at once.
///
/// # Safety
///
/// As for [`fork`]. In addition the child is made by the raw syscall, not
/// by libc's `fork`: libc's atfork handlers do not run and the thread's
/// cached identity in libc is the parent's, so the child must not rely on
/// `pthread_self`-based state (locks owned by "this thread", thread ids).
pub unsafe fn clone_into_namespaces(namespaces: UnshareFlags) -> io::Result<Forked> {
    let flags = only(CLONE_NAMESPACES, namespaces)? | libc::SIGCHLD as u64;
    // SAFETY: clone without CLONE_VM and with a null stack behaves like fork:
    // the child runs on a copy of our address space; its restrictions are
    // this function's contract. The trailing arguments (parent/child tid
    // pointers, tls) are unused without the flags that read them.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    forked(rc)
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2):
/// declared here rather than taken from libc, which has it for some
/// architectures only.
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`clone_into_namespaces`] whose child is born in the cgroup v2
/// directory `cgroup` (clone3's `CLONE_INTO_CGROUP`, Linux 5.7). Moving a
/// process in by writing cgroup.procs takes the kernel's global threadgroup
/// lock for writing, which waits for an RCU grace period (5-20 ms); a
/// process born in its cgroup costs nothing. Fails with ENOSYS, E2BIG or
/// EINVAL on kernels without clone3 or without the flag: the caller falls
/// back to [`clone_into_namespaces`] and cgroup.procs.
///
/// # Safety
///
/// As for [`clone_into_namespaces`].
pub unsafe fn clone_into_cgroup(namespaces: UnshareFlags, cgroup: BorrowedFd) -> io::Result<Forked> {
    let flags = only(CLONE_NAMESPACES, namespaces)?;
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: `args` is a valid clone_args of the size passed, alive for the
    // call. Without CLONE_VM and with no stack this is a fork: the child runs
    // on a copy of our address space; its restrictions are this function's
    // contract.
    let rc = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    forked(rc)
}

/// unshare(2) for new namespaces only ([`NAMESPACES`]): these do not
/// touch memory or the fd table, which is what makes rustix's general
/// `unshare` unsafe.
pub fn unshare_namespaces(namespaces: UnshareFlags) -> io::Result<()> {
    let flags = only(NAMESPACES, namespaces)?;
    // SAFETY: namespace flags only (checked above): no fd table or fs
    // struct is unshared, so every fd and path the program holds stays valid.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::from_bits_retain(flags as u32)) }.map_err(io::Error::from)
}

/// Make `cmd`'s child run in a mount namespace of its own (private
/// propagation) where `hide` is detached: the program does not see that
/// mount, and the caller's namespace is unchanged. For an OCI runtime that
/// refuses a host mount (crun 1.8 and a hybrid cgroup layout's cgroup2).
pub fn spawn_without_mount(cmd: &mut std::process::Command, hide: CString) {
    use rustix::mount::{MountPropagationFlags, UnmountFlags};
    use std::os::unix::process::CommandExt as _;
    let hook = move || -> io::Result<()> {
        unshare_namespaces(UnshareFlags::NEWNS)?;
        rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
        match rustix::mount::unmount(hide.as_c_str(), UnmountFlags::DETACH) {
            // Not a mount (any more): nothing to hide.
            Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    };
    // SAFETY: the hook runs in the forked child before exec and only makes
    // raw system calls (unshare, mount, umount2) on memory it owns, with no
    // allocation and no lock another thread of the parent could hold.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// unshare(CLONE_FS): the calling thread gets its own copy of the cwd,
/// root and umask, so that it alone may then setns(2) into a mount
/// namespace (refused while the fs struct is shared with other threads).
pub fn unshare_fs() -> io::Result<()> {
    // SAFETY: only the fs struct (cwd, root, umask) is copied; the fd table
    // and memory stay shared, so every fd of the program stays valid.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }.map_err(io::Error::from)
}

/// `_exit(code)`: end the process now, running no atexit handler, no
/// destructor and no stdio flush. What a forked child of a process with
/// state to protect (locks, cleanup guards, buffered output) must use.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// NULL-terminated array of pointers into `strings`, for execve's argv/envp.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// execve(2): run `path` with `args` and `env` in place of this program.
/// Returns only on failure, with the reason.
pub fn execve(path: &CStr, args: &[CString], env: &[CString]) -> io::Error {
    let (argv, envp) = (pointers(args), pointers(env));
    // SAFETY: `path` and every string are NUL-terminated and outlive the
    // call; argv and envp are NULL-terminated arrays of pointers to them.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// fexecve(3): execve the program open at `fd`. Returns only on failure.
pub fn fexecve(fd: BorrowedFd, args: &[CString], env: &[CString]) -> io::Error {
    let (argv, envp) = (pointers(args), pointers(env));
    // SAFETY: as for `execve`, with an fd we borrow for the call.
    unsafe { libc::fexecve(fd.as_raw_fd(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Mark every fd numbered `first` or above close-on-exec, so that nothing
/// the program holds leaks into what it execs (CVE-2024-21626). One
/// close_range(2) call (Linux 5.11); on older kernels, each fd listed in
/// /proc/self/fd.
pub fn mark_cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds;
    // it closes nothing, so no owned fd is invalidated.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc == 0 {
        return Ok(());
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC through a number read from
        // /proc/self/fd; an fd closed meanwhile gives EBADF, which is ignored.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
    Ok(())
}

/// Whether fd number `fd` is open and would survive an execve (not
/// close-on-exec): one this process inherited from its caller rather than
/// opened itself (everything berth opens is close-on-exec).
pub fn is_inheritable_fd(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the flags of whatever `fd` names; on a
    // number that is not open it fails with EBADF and touches nothing.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC == 0
}

/// The execution domains of personality(2) a container may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// `PER_LINUX`
    Linux,
    /// `PER_LINUX32`: `uname -m` says i686 on x86_64.
    Linux32,
}

/// personality(2).
pub fn set_personality(p: Persona) -> io::Result<()> {
    // linux/personality.h (libc does not export these).
    let persona: libc::c_ulong = match p {
        Persona::Linux => 0x0000,
        Persona::Linux32 => 0x0008,
    };
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(persona) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): give the process a new session
/// keyring of its own (so containers do not share the host's keys).
pub fn join_session_keyring(name: &CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a NUL-terminated name that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This process's CPU time goes to others first from now on (the lowest
/// priority, nice 19): for work nobody waits for, such as what a monitor
/// deletes after telling a container's exit, which would otherwise compete
/// with the next container's start.
pub fn yield_cpu_to_others() -> io::Result<()> {
    rustix::process::setpriority_process(None, 19).map_err(io::Error::from)
}

/// Move process `pid` (just started, still on this CPU) to the other CPUs
/// this process may use, so that it runs beside us at once rather than when
/// we block or the scheduler rebalances (a started helper otherwise waits
/// on our CPU for a millisecond or more). Returns the affinity to give it
/// back with [`restore_affinity`] before it starts anything that inherits
/// it; `None` if there is no other CPU (nothing was changed).
pub fn start_beside(pid: i32) -> Option<rustix::thread::CpuSet> {
    use rustix::thread::{sched_getaffinity, sched_getcpu, sched_setaffinity};
    let ours = sched_getaffinity(None).ok()?;
    let mut others = ours;
    others.unset(sched_getcpu());
    if others.count() == 0 {
        return None;
    }
    let pid = rustix::process::Pid::from_raw(pid)?;
    sched_setaffinity(Some(pid), &others).ok()?;
    Some(ours)
}

/// Give `pid` back the affinity [`start_beside`] took from it.
pub fn restore_affinity(pid: i32, affinity: &rustix::thread::CpuSet) -> io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::thread::sched_setaffinity(Some(pid), affinity)?)
}

#[cfg(test)]
mod tests {

    /// Its nice value becomes 19 (per thread on Linux: tried on a thread
    /// of its own).
    #[test]
    fn yielding_cpu_takes_the_lowest_priority() {
        let nice = std::thread::spawn(|| {
            yield_cpu_to_others().unwrap();
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(16).unwrap().parse::<i32>().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(nice, 19);
    }
    use super::*;
    use rustix::process::{waitpid, WaitOptions};
    use std::os::fd::AsFd;

    fn is_cloexec(fd: impl AsFd) -> io::Result<bool> {
        Ok(rustix::io::fcntl_getfd(fd)?.contains(rustix::io::FdFlags::CLOEXEC))
    }

    /// Run `child` in a forked child (exit code = its result) and return
    /// the exit code. A panic in the child is exit code 101: unwinding would
    /// run the test harness's frames in the child, and its exit status
    /// would say nothing about the assertion that failed.
    fn in_child(child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `child`, which makes syscalls and
        // small allocations in a test, then exits without unwinding.
        match unsafe { fork() }.unwrap() {
            Forked::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
                exit_immediately(code)
            }
            Forked::Parent(pid) => {
                let (_, st) = waitpid(Some(pid), WaitOptions::empty()).unwrap().unwrap();
                st.exit_status().unwrap()
            }
        }
    }

    #[test]
    fn fork_and_exit_immediately() {
        assert_eq!(in_child(|| 7), 7);
    }

    #[test]
    fn clone_into_namespaces_only_takes_namespace_flags() {
        // SAFETY: refused before anything is cloned.
        let e = unsafe { clone_into_namespaces(UnshareFlags::FILES) }.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(unshare_namespaces(UnshareFlags::FS | UnshareFlags::NEWNS).is_err());
    }

    /// CLONE_NEWTIME is 0x80, inside clone's exit-signal byte: passed to
    /// clone(2) it would not make a time namespace but change the signal
    /// the parent gets (or fail), so it is refused like any non-namespace
    /// flag. (Should it ever get through, the child exits at once and the
    /// test fails in the parent.)
    #[test]
    fn clone_refuses_the_time_namespace_flag() {
        // SAFETY: a child, if one is made, only exits.
        match unsafe { clone_into_namespaces(UnshareFlags::NEWTIME) } {
            Ok(Forked::Child) => exit_immediately(0),
            Ok(Forked::Parent(pid)) => {
                let _ = waitpid(Some(pid), WaitOptions::empty());
                panic!("clone with CLONE_NEWTIME made a child");
            }
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}"),
        }
        assert_eq!(CLONE_NAMESPACES.bits(), 0x7e02_0000, "Docker's CLONE_NAMESPACE_FLAGS");
        assert!(NAMESPACES.contains(UnshareFlags::NEWTIME));
    }

    #[test]
    fn clone_into_a_new_uts_namespace() {
        assert!(rustix::process::geteuid().is_root(), "this test needs root: run it as scripts/test.sh does");
        // SAFETY: the child makes two syscalls and exits.
        match unsafe { clone_into_namespaces(UnshareFlags::NEWUTS) }.unwrap() {
            Forked::Child => {
                let ok = rustix::system::sethostname(b"sys-test").is_ok();
                exit_immediately(if ok { 0 } else { 1 })
            }
            Forked::Parent(pid) => {
                let (_, st) = waitpid(Some(pid), WaitOptions::empty()).unwrap().unwrap();
                assert_eq!(st.exit_status(), Some(0));
                assert_ne!(rustix::system::uname().nodename().to_bytes(), b"sys-test", "the host's name changed");
            }
        }
    }

    #[test]
    fn execve_runs_the_program_with_args_and_env() {
        let code = in_child(|| {
            let args = [
                c"sh".to_owned(),
                c"-c".to_owned(),
                c"test \"$1$X\" = ab".to_owned(),
                c"sh".to_owned(),
                c"a".to_owned(),
            ];
            let env = [c"X=b".to_owned()];
            let _ = execve(c"/bin/sh", &args, &env);
            99
        });
        assert_eq!(code, 0);
        let e = execve(c"/nonexistent", &[c"x".to_owned()], &[]);
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn fexecve_runs_the_open_program() {
        let code = in_child(|| {
            let Ok(f) = std::fs::File::open("/bin/sh") else { return 98 };
            let _ = fexecve(f.as_fd(), &[c"sh".to_owned(), c"-c".to_owned(), c"exit 5".to_owned()], &[]);
            99
        });
        assert_eq!(code, 5);
    }

    #[test]
    fn every_fd_from_first_becomes_cloexec() {
        let code = in_child(|| {
            let (a, b) = rustix::pipe::pipe().unwrap();
            let keep = a.as_raw_fd().min(b.as_raw_fd());
            let mark = a.as_raw_fd().max(b.as_raw_fd());
            // pipe() gives fds without CLOEXEC.
            if is_cloexec(&a).unwrap() || is_cloexec(&b).unwrap() {
                return 2;
            }
            mark_cloexec_from(mark as u32).unwrap();
            let (k, m) = if a.as_raw_fd() == keep { (&a, &b) } else { (&b, &a) };
            if !is_cloexec(k).unwrap() && is_cloexec(m).unwrap() {
                0
            } else {
                1
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn inheritable_fds_are_open_and_not_cloexec() {
        let (a, b) = rustix::pipe::pipe().unwrap();
        let c = std::fs::File::open("/").unwrap();
        assert!(is_inheritable_fd(a.as_raw_fd()) && is_inheritable_fd(b.as_raw_fd()));
        assert!(!is_inheritable_fd(c.as_raw_fd()), "std opens close-on-exec");
        let closed = b.as_raw_fd();
        drop(b);
        assert!(!is_inheritable_fd(closed) || closed == c.as_raw_fd());
        assert!(!is_inheritable_fd(-1) && !is_inheritable_fd(1 << 30));
    }

    #[test]
    fn personality_and_keyring() {
        let code = in_child(|| {
            if set_personality(Persona::Linux32).is_err() {
                return 1;
            }
            let machine = rustix::system::uname().machine().to_bytes().to_vec();
            if set_personality(Persona::Linux).is_err() {
                return 2;
            }
            // No keyring support (ENOSYS) is fine; anything else is not.
            match join_session_keyring(c"_ses.sys-test") {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
                Err(_) => return 3,
            }
            // On x86_64, PER_LINUX32 makes uname say i686.
            if !cfg!(target_arch = "x86_64") || machine == b"i686" {
                0
            } else {
                4
            }
        });
        assert_eq!(code, 0);
    }

    /// A helper started beside us runs on our other CPUs until given its
    /// affinity back.
    #[test]
    fn helpers_start_on_other_cpus() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        let ours = rustix::thread::sched_getaffinity(None).unwrap();
        match start_beside(pid) {
            Some(back) => {
                assert_eq!(back, ours);
                let pid = rustix::process::Pid::from_raw(pid).unwrap();
                let theirs = rustix::thread::sched_getaffinity(Some(pid)).unwrap();
                assert_eq!(theirs.count(), ours.count() - 1);
                restore_affinity(pid.as_raw_nonzero().get(), &back).unwrap();
                assert_eq!(rustix::thread::sched_getaffinity(Some(pid)).unwrap(), ours);
            }
            None => assert_eq!(ours.count(), 1, "no other CPU, yet it was not moved"),
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
