//! Docker's default seccomp profile as the OCI `linux.seccomp` object of a
//! container's config.json.
//!
//! The rules are moby's (`profiles/seccomp`, which containers/common's
//! seccomp.json also derives from): everything not listed fails with EPERM;
//! a large set of ordinary syscalls is allowed; a few are allowed only with
//! certain arguments (`personality`, `socket`, `clone`); and the syscalls
//! that only make sense with a capability are allowed only when the
//! container has that capability, resolved here when the config is
//! generated, as moby's `setupSeccomp` does with its `includes`/`excludes`.
//!
//! Why Rust data and not moby's default.json: that file is not an OCI
//! object but a template with conditions (capabilities, architectures,
//! kernel version) that only the daemon understands. Shipping it would mean
//! a second schema to parse and validate on every `run`, a file to install
//! and find, and typos (an unknown operator, a misspelt capability) found
//! by users at run time. Here the conditions are a small table the compiler
//! checks, resolving them is a filter over it, the syscalls are grouped by
//! what they do so a reader can see why each one is allowed, and the tests
//! below check the result against the OCI types and a real libseccomp
//! filter. Syncing with moby is a diff of names.
//!
//! Syscalls unknown to the libseccomp berth is linked with (newer than it)
//! are skipped by the runtime, as runc does, so they get the default EPERM.

use rustix::io::Errno;
use serde::ser::{SerializeMap as _, SerializeSeq as _, Serializer};
use serde::Serialize;

/// What a container gets when no rule matches: EPERM.
const DEFAULT_ERRNO: u32 = Errno::PERM.raw_os_error().unsigned_abs();

// ---------------------------------------------------------------------------
// Allowed for every container.
// ---------------------------------------------------------------------------

/// Paths: open, stat, create, rename, remove, permissions and times.
const FILES: &[&str] = &[
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "creat",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2", // kernel 6.6, libseccomp 2.5.5
    "fchown",
    "fchown32",
    "fchownat",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "lchown",
    "lchown32",
    "link",
    "linkat",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod", // device nodes still need CAP_MKNOD and the device cgroup
    "mknodat",
    "name_to_handle_at", // its counterpart open_by_handle_at is gated below
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "readlink",
    "readlinkat",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
];

/// Extended attributes.
const XATTRS: &[&str] = &[
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "fsetxattr",
    "getxattr",
    "getxattrat", // kernel 6.13, libseccomp 2.6.0
    "lgetxattr",
    "listxattr",
    "listxattrat", // kernel 6.13, libseccomp 2.6.0
    "llistxattr",
    "lremovexattr",
    "lsetxattr",
    "removexattr",
    "removexattrat", // kernel 6.13, libseccomp 2.6.0
    "setxattr",
    "setxattrat", // kernel 6.13, libseccomp 2.6.0
];

/// Reading the mount table (changing it needs CAP_SYS_ADMIN, below).
const MOUNT_INFO: &[&str] = &[
    "listmount", // kernel 6.8, libseccomp 2.6.0
    "statmount", // kernel 6.8, libseccomp 2.6.0
];

/// File descriptors and plain I/O on them.
const FD_IO: &[&str] = &[
    "cachestat", // kernel 6.5, libseccomp 2.5.5
    "close",
    "close_range",
    "copy_file_range",
    "dup",
    "dup2",
    "dup3",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "flock",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "ioctl",
    "_llseek",
    "lseek",
    "pipe",
    "pipe2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readv",
    "sendfile",
    "sendfile64",
    "splice",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "vmsplice",
    "write",
    "writev",
];

/// Waiting for events: poll/select/epoll and the fds that feed them.
/// io_uring is not here: moby removed it (its operations bypass seccomp).
const EVENTS: &[&str] = &[
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "fanotify_mark", // fanotify_init is gated by CAP_SYS_ADMIN
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "_newselect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
];

/// The process's own memory.
const MEMORY: &[&str] = &[
    "brk",
    "madvise",
    "map_shadow_stack", // kernel 6.6, libseccomp 2.5.5
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock", // locking beyond RLIMIT_MEMLOCK needs CAP_IPC_LOCK
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "mseal", // kernel 6.9, libseccomp 2.6.0
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
];

/// Processes and threads: create (clone is conditional, below), exec, wait,
/// exit, futexes, limits, and restricting oneself further.
const PROCESSES: &[&str] = &[
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue", // kernel 6.7, libseccomp 2.5.5
    "futex_time64",
    "futex_wait", // kernel 6.7, libseccomp 2.5.5
    "futex_waitv",
    "futex_wake", // kernel 6.7, libseccomp 2.5.5
    "get_robust_list",
    "get_thread_area",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "restart_syscall",
    "rseq",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setpgid",
    "setrlimit",
    "setsid",
    "times",
    "ugetrlimit",
    "uretprobe", // kernel 6.11, libseccomp 2.6.0
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
];

/// Moby allows these on kernels >= 4.8, where ptrace can no longer be used
/// to bypass seccomp; berth needs a newer kernel anyway (openat2 is 5.6).
/// Tracing another process still needs CAP_SYS_PTRACE or being its parent.
const TRACING: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// Signals.
const SIGNALS: &[&str] = &[
    "alarm",
    "kill",
    "pause",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
];

/// Clocks, sleeps and timers (setting the clock is gated by CAP_SYS_TIME;
/// adjtimex and clock_adjtime only read it without that capability).
const TIME: &[&str] = &[
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
];

/// User and group IDs (changing them still needs CAP_SETUID/CAP_SETGID).
const IDENTITY: &[&str] = &[
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getuid",
    "getuid32",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setuid",
    "setuid32",
];

/// Scheduling and I/O priorities, CPU affinity (raising priorities still
/// needs CAP_SYS_NICE).
const SCHEDULING: &[&str] = &[
    "getcpu",
    "getpriority",
    "ioprio_get",
    "ioprio_set",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "setpriority",
];

/// System V and POSIX IPC (namespaced by the container's IPC namespace).
const IPC: &[&str] = &[
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
];

/// Sockets once created (`socket` itself depends on the family, below).
/// socketcall, the multiplexer 32-bit x86 programs may use instead, hides
/// its arguments from seccomp, so the family check does not apply to it;
/// moby allows it all the same (and blocks AF_ALG there with AppArmor or
/// SELinux, which berth does not set up).
const NETWORK: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
];

/// About the system.
const SYSTEM_INFO: &[&str] = &[
    "getrandom",
    "riscv_hwprobe", // kernel 6.12, libseccomp 2.6.0
    "sysinfo",
    "uname",
];

/// Every group allowed unconditionally.
const ALLOWED: &[&[&str]] = &[
    FILES,
    XATTRS,
    MOUNT_INFO,
    FD_IO,
    EVENTS,
    MEMORY,
    PROCESSES,
    TRACING,
    SIGNALS,
    TIME,
    IDENTITY,
    SCHEDULING,
    IPC,
    NETWORK,
    SYSTEM_INFO,
];

/// Socket families (`socket`'s first argument) a container may create:
/// every family the kernel implements except AF_ALG (38, the kernel crypto
/// API, CVE-2026-31431) and AF_VSOCK (40, host/guest sockets that are not
/// namespaced). Families the kernel dropped are left out as well, as moby's
/// current profile does: DECnet 12, ECONET 19, ATMSVC 20, IRDA 23,
/// WANPIPE 25, ISDN 34, CAIF 37.
const SOCKET_FAMILIES: &[u64] = &[
    1,  // AF_UNIX
    2,  // AF_INET
    3,  // AF_AX25
    4,  // AF_IPX
    5,  // AF_APPLETALK
    6,  // AF_NETROM
    7,  // AF_BRIDGE
    8,  // AF_ATMPVC
    9,  // AF_X25
    10, // AF_INET6
    11, // AF_ROSE
    13, // AF_NETBEUI
    14, // AF_SECURITY
    15, // AF_KEY
    16, // AF_NETLINK
    17, // AF_PACKET (raw sockets still need CAP_NET_RAW)
    18, // AF_ASH
    21, // AF_RDS
    22, // AF_SNA
    24, // AF_PPPOX
    26, // AF_LLC
    27, // AF_IB
    28, // AF_MPLS
    29, // AF_CAN
    30, // AF_TIPC
    31, // AF_BLUETOOTH
    32, // AF_IUCV
    33, // AF_RXRPC
    35, // AF_PHONET
    36, // AF_IEEE802154
    39, // AF_NFC
    41, // AF_KCM
    42, // AF_QIPCRTR
    43, // AF_SMC
    44, // AF_XDP
    45, // AF_MCTP
];

/// `personality` values allowed: PER_LINUX, UNAME26, PER_LINUX32,
/// UNAME26|PER_LINUX32, and 0xffffffff (query the current persona).
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN
/// (Docker's `CLONE_NAMESPACE_FLAGS`): every namespace clone(2) can create.
const CLONE_NAMESPACE_FLAGS: u64 = sys::process::CLONE_NAMESPACES.bits() as u64;

// ---------------------------------------------------------------------------
// Conditional rules.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Action {
    Allow,
    Errno(u32),
}

/// An argument condition: argument `index` has none of the bits in `mask`
/// set (libseccomp's masked compare, `(arg & mask) == 0`).
#[derive(Clone, Copy)]
struct NoneOf {
    index: u32,
    mask: u64,
}

/// One rule of the table and when it applies: moby's `includes` (every
/// capability in `caps`, the host architecture in `arches`) and `excludes`
/// (any capability in `not_caps`, the host architecture in `not_arches`).
/// Architectures use Go's names, as moby's profile does.
#[derive(Clone, Copy)]
struct Rule {
    names: &'static [&'static str],
    action: Action,
    args: &'static [NoneOf],
    caps: &'static [&'static str],
    not_caps: &'static [&'static str],
    arches: &'static [&'static str],
    not_arches: &'static [&'static str],
}

impl Rule {
    const fn allow(names: &'static [&'static str]) -> Rule {
        Rule { names, action: Action::Allow, args: &[], caps: &[], not_caps: &[], arches: &[], not_arches: &[] }
    }
    const fn fail(names: &'static [&'static str], errno: Errno) -> Rule {
        Rule { action: Action::Errno(errno.raw_os_error().unsigned_abs()), ..Rule::allow(names) }
    }
    const fn args(self, args: &'static [NoneOf]) -> Rule {
        Rule { args, ..self }
    }
    /// Only for a container with all of `caps`.
    const fn with(self, caps: &'static [&'static str]) -> Rule {
        Rule { caps, ..self }
    }
    /// Only for a container with none of `caps`.
    const fn without(self, caps: &'static [&'static str]) -> Rule {
        Rule { not_caps: caps, ..self }
    }
    /// Only on these architectures.
    const fn on(self, arches: &'static [&'static str]) -> Rule {
        Rule { arches, ..self }
    }
    /// Not on these architectures.
    const fn not_on(self, arches: &'static [&'static str]) -> Rule {
        Rule { not_arches: arches, ..self }
    }

    fn applies(&self, caps: &[&str], arch: &str) -> bool {
        let has = |c: &&str| caps.contains(c);
        self.caps.iter().all(has)
            && !self.not_caps.iter().any(has)
            && (self.arches.is_empty() || self.arches.contains(&arch))
            && !self.not_arches.contains(&arch)
    }
}

const SYS_ADMIN: &[&str] = &["CAP_SYS_ADMIN"];

/// `clone` without namespace flags; with CAP_SYS_ADMIN it is allowed outright.
const CLONE_NO_NAMESPACES: &[NoneOf] = &[NoneOf { index: 0, mask: CLONE_NAMESPACE_FLAGS }];
/// s390 passes clone's flags as the second argument.
const CLONE_NO_NAMESPACES_S390: &[NoneOf] = &[NoneOf { index: 1, mask: CLONE_NAMESPACE_FLAGS }];

const RULES: &[Rule] = &[
    // Architecture-specific syscalls.
    Rule::allow(&["sync_file_range2", "swapcontext"]).on(&["ppc64le"]),
    Rule::allow(&[
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ])
    .on(&["arm", "arm64"]),
    Rule::allow(&["arch_prctl"]).on(&["amd64", "x32"]),
    Rule::allow(&["modify_ldt"]).on(&["amd64", "x32", "x86"]),
    Rule::allow(&["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]).on(&["s390", "s390x"]),
    Rule::allow(&["riscv_flush_icache"]).on(&["riscv64"]),
    // Capability-gated syscalls.
    Rule::allow(&["open_by_handle_at"]).with(&["CAP_DAC_READ_SEARCH"]),
    Rule::allow(&[
        "bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "lsm_get_self_attr", // kernel 6.8, libseccomp 2.6.0
        "lsm_list_modules",  // kernel 6.8, libseccomp 2.6.0
        "lsm_set_self_attr", // kernel 6.8, libseccomp 2.6.0
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    ])
    .with(SYS_ADMIN),
    Rule::allow(&["clone"]).args(CLONE_NO_NAMESPACES).without(SYS_ADMIN).not_on(&["s390", "s390x"]),
    Rule::allow(&["clone"]).args(CLONE_NO_NAMESPACES_S390).without(SYS_ADMIN).on(&["s390", "s390x"]),
    // clone3's flags are behind a pointer seccomp cannot read: refuse it with
    // ENOSYS so libcs fall back to clone, whose flags are checked above.
    Rule::fail(&["clone3"], Errno::NOSYS).without(SYS_ADMIN),
    Rule::allow(&["reboot"]).with(&["CAP_SYS_BOOT"]),
    Rule::allow(&["chroot"]).with(&["CAP_SYS_CHROOT"]),
    Rule::allow(&["delete_module", "init_module", "finit_module"]).with(&["CAP_SYS_MODULE"]),
    Rule::allow(&["acct"]).with(&["CAP_SYS_PACCT"]),
    Rule::allow(&["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"])
        .with(&["CAP_SYS_PTRACE"]),
    Rule::allow(&["iopl", "ioperm"]).with(&["CAP_SYS_RAWIO"]),
    Rule::allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"]).with(&["CAP_SYS_TIME"]),
    Rule::allow(&["vhangup"]).with(&["CAP_SYS_TTY_CONFIG"]),
    Rule::allow(&[
        "get_mempolicy",
        "mbind",
        "set_mempolicy",
        "set_mempolicy_home_node", // kernel 5.17, libseccomp 2.5.4
    ])
    .with(&["CAP_SYS_NICE"]),
    Rule::allow(&["syslog"]).with(&["CAP_SYSLOG"]),
    Rule::allow(&["bpf"]).with(&["CAP_BPF"]),
    Rule::allow(&["perf_event_open"]).with(&["CAP_PERFMON"]),
];

/// The host architecture in Go's spelling (what moby's rules name) and the
/// seccomp architectures a filter covers there (moby's `archMap`: the
/// native one plus the compat ABIs its kernel can run).
fn host_arch() -> (&'static str, &'static [&'static str]) {
    if cfg!(target_arch = "x86_64") {
        ("amd64", &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    } else if cfg!(target_arch = "aarch64") {
        ("arm64", &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    } else if cfg!(target_arch = "s390x") {
        ("s390x", &["SCMP_ARCH_S390X", "SCMP_ARCH_S390"])
    } else if cfg!(target_arch = "riscv64") {
        ("riscv64", &["SCMP_ARCH_RISCV64"])
    } else if cfg!(target_arch = "loongarch64") {
        ("loong64", &["SCMP_ARCH_LOONGARCH64"])
    } else if cfg!(all(target_arch = "mips64", target_endian = "big")) {
        ("mips64", &["SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"])
    } else if cfg!(all(target_arch = "mips64", target_endian = "little")) {
        ("mips64le", &["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"])
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        // No archMap entry in moby: the native architecture only.
        ("ppc64le", &[])
    } else if cfg!(target_arch = "arm") {
        ("arm", &[])
    } else {
        ("", &[])
    }
}

/// The `linux.seccomp` object for a container whose capability set (the
/// bounding set, as moby checks) is `caps`, e.g. `["CAP_CHOWN", ...]`.
pub fn default_profile(caps: &[&str]) -> Profile {
    let (arch, architectures) = host_arch();
    Profile { architectures, rules: RULES.iter().filter(|r| r.applies(caps, arch)).collect() }
}

/// Docker's default profile, resolved for one container, as data that
/// serializes straight into config.json. Typed rather than a `Value` tree:
/// building the ~400 names as JSON values and freeing them again cost
/// about 0.2 ms of every `run`.
pub struct Profile {
    architectures: &'static [&'static str],
    /// The conditional rules that apply.
    rules: Vec<&'static Rule>,
}

impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("defaultAction", "SCMP_ACT_ERRNO")?;
        m.serialize_entry("defaultErrnoRet", &DEFAULT_ERRNO)?;
        m.serialize_entry("architectures", self.architectures)?;
        m.serialize_entry("syscalls", &Syscalls(self))?;
        m.end()
    }
}

/// The `syscalls` list: every always-allowed name in one entry, then the
/// argument-checked `socket` and `personality` rules, then the
/// conditional ones that apply.
struct Syscalls<'a>(&'a Profile);

impl Serialize for Syscalls<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&Entry { names: AllNames, action: Action::Allow, args: Vec::new() })?;
        for arg in socket_args() {
            seq.serialize_element(&Entry { names: ["socket"], action: Action::Allow, args: vec![arg] })?;
        }
        for &p in PERSONALITIES {
            seq.serialize_element(&Entry { names: ["personality"], action: Action::Allow, args: vec![arg_eq(0, p)] })?;
        }
        for r in &self.0.rules {
            let args = r.args.iter().map(|a| Arg::masked_none(a.index, a.mask)).collect();
            seq.serialize_element(&Entry { names: r.names, action: r.action, args })?;
        }
        seq.end()
    }
}

/// The names of `ALLOWED`, as one list.
struct AllNames;

impl Serialize for AllNames {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(ALLOWED.iter().flat_map(|g| g.iter()))
    }
}

/// One entry of `syscalls`.
struct Entry<N> {
    names: N,
    action: Action,
    args: Vec<Arg>,
}

impl<N: Serialize> Serialize for Entry<N> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("names", &self.names)?;
        match self.action {
            Action::Allow => m.serialize_entry("action", "SCMP_ACT_ALLOW")?,
            Action::Errno(e) => {
                m.serialize_entry("action", "SCMP_ACT_ERRNO")?;
                m.serialize_entry("errnoRet", &e)?;
            }
        }
        if !self.args.is_empty() {
            m.serialize_entry("args", &self.args)?;
        }
        m.end()
    }
}

/// An argument condition of an entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_two: Option<u64>,
    op: &'static str,
}

impl Arg {
    /// `(arg & mask) == 0`.
    fn masked_none(index: u32, mask: u64) -> Arg {
        Arg { index, value: mask, value_two: Some(0), op: "SCMP_CMP_MASKED_EQ" }
    }
}

/// `socket` allowed for `SOCKET_FAMILIES` only, one condition per rule.
/// Each argument may be compared once per rule (repeats become separate,
/// ORed rules in runc and in our runtime), so a bounded range cannot be one
/// rule: the run starting at AF_UNIX becomes `< end` (0, AF_UNSPEC, cannot
/// be created), every other family an equality.
fn socket_args() -> Vec<Arg> {
    let mut families = SOCKET_FAMILIES.to_vec();
    families.sort_unstable();
    let run = families.iter().enumerate().take_while(|&(i, &f)| f == families[0] + i as u64).count();
    let mut args = Vec::new();
    let rest = if families.first() == Some(&1) && run > 1 {
        args.push(Arg { index: 0, value: families[run - 1] + 1, value_two: None, op: "SCMP_CMP_LT" });
        &families[run..]
    } else {
        &families[..]
    };
    args.extend(rest.iter().map(|&f| arg_eq(0, f)));
    args
}

fn arg_eq(index: u32, value: u64) -> Arg {
    Arg { index, value, value_two: None, op: "SCMP_CMP_EQ" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::spec::DEFAULT_CAPS;
    use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
    use serde_json::json;

    fn parse(p: Profile) -> LinuxSeccomp {
        serde_json::from_value(serde_json::to_value(p).unwrap()).expect("profile parses as LinuxSeccomp")
    }

    /// How the profile treats a syscall called with no argument conditions
    /// met: the unconditional rule's action, or None when it falls to the
    /// default (EPERM).
    fn unconditional(p: &LinuxSeccomp, name: &str) -> Option<(LinuxSeccompAction, Option<u32>)> {
        p.syscalls()
            .iter()
            .flatten()
            .find(|s| s.names().iter().any(|n| n == name) && s.args().as_ref().is_none_or(|a| a.is_empty()))
            .map(|s| (s.action(), s.errno_ret()))
    }

    fn allowed(p: &LinuxSeccomp, name: &str) -> bool {
        unconditional(p, name).map(|a| a.0) == Some(LinuxSeccompAction::ScmpActAllow)
    }

    fn with_caps(extra: &[&'static str]) -> LinuxSeccomp {
        let mut caps = DEFAULT_CAPS.to_vec();
        caps.extend_from_slice(extra);
        parse(default_profile(&caps))
    }

    /// The kernel JIT-compiles the filter at every container start: the
    /// default profile's is half as long as libseccomp makes it (1293
    /// instructions with libseccomp 2.5, 647 compacted), with the same
    /// verdicts (the runtime's `seccomp::compact` checks them itself, and
    /// `cli/tests/seccomp.rs` tries them in a container).
    #[test]
    fn the_default_profile_compiles_to_a_compact_program() {
        let dir = tempfile::tempdir().unwrap();
        let p = runtime::seccomp::cache::program(&parse(default_profile(DEFAULT_CAPS)), dir.path()).unwrap();
        if cfg!(target_arch = "x86_64") {
            assert!(p.instructions() < 700, "{} instructions", p.instructions());
        }
    }

    #[test]
    fn parses_as_an_oci_seccomp_object_with_docker_defaults() {
        let p = parse(default_profile(DEFAULT_CAPS));
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        if cfg!(target_arch = "x86_64") {
            let arches = serde_json::to_value(p.architectures()).unwrap();
            assert_eq!(arches, json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
            assert!(allowed(&p, "arch_prctl") && allowed(&p, "modify_ldt"));
            assert!(!allowed(&p, "s390_runtime_instr") && !allowed(&p, "cacheflush"));
        }
        for name in ["read", "write", "openat", "execve", "exit_group", "rt_sigreturn", "wait4", "fork", "vfork"] {
            assert!(allowed(&p, name), "{name}");
        }
    }

    #[test]
    fn no_syscall_is_listed_twice_among_the_allowed() {
        let mut all: Vec<&str> = ALLOWED.iter().flat_map(|g| g.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        // Gated syscalls are not also allowed outright.
        for r in RULES.iter().filter(|r| !r.caps.is_empty() || !r.not_caps.is_empty()) {
            for name in r.names.iter().filter(|n| !TRACING.contains(n)) {
                assert!(all.binary_search(name).is_err(), "{name} is both gated and always allowed");
            }
        }
    }

    #[test]
    fn dangerous_syscalls_need_their_capability() {
        let p = parse(default_profile(DEFAULT_CAPS));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "reboot",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "iopl",
            "ioperm",
            "settimeofday",
            "clock_settime",
            "acct",
            "vhangup",
            "syslog",
            "open_by_handle_at",
            "mbind",
            "sethostname",
            "swapon",
            "pivot_root",
            "io_uring_setup",
            "add_key",
            "keyctl",
            "userfaultfd",
        ] {
            assert!(unconditional(&p, name).is_none(), "{name} should fall to EPERM");
        }
        // Docker's default set includes CAP_SYS_CHROOT.
        assert!(allowed(&p, "chroot"));
        assert!(!allowed(&parse(default_profile(&["CAP_CHOWN"])), "chroot"));
    }

    #[test]
    fn capabilities_open_what_moby_opens() {
        let admin = with_caps(&["CAP_SYS_ADMIN"]);
        for name in ["mount", "umount2", "unshare", "setns", "sethostname", "bpf", "clone", "clone3", "open_tree"] {
            assert!(allowed(&admin, name), "{name} with CAP_SYS_ADMIN");
        }
        // Not everything: these need their own capability.
        for name in ["reboot", "kexec_load", "init_module", "kcmp", "settimeofday"] {
            assert!(!allowed(&admin, name), "{name} with CAP_SYS_ADMIN");
        }
        for (cap, names) in [
            ("CAP_SYS_BOOT", &["reboot"][..]),
            ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
            ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise"]),
            ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
            ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
            ("CAP_SYS_NICE", &["mbind", "set_mempolicy", "get_mempolicy"]),
            ("CAP_SYS_PACCT", &["acct"]),
            ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
            ("CAP_SYSLOG", &["syslog"]),
            ("CAP_BPF", &["bpf"]),
            ("CAP_PERFMON", &["perf_event_open"]),
            ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
        ] {
            let p = with_caps(&[cap]);
            for name in names {
                assert!(allowed(&p, name), "{name} with {cap}");
            }
        }
        // kexec is never allowed, whatever the capabilities (as in moby).
        let all = with_caps(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]);
        assert!(unconditional(&all, "kexec_load").is_none());
    }

    #[test]
    fn clone_may_not_create_namespaces_without_cap_sys_admin() {
        let p = parse(default_profile(DEFAULT_CAPS));
        assert!(!allowed(&p, "clone"));
        let clone: Vec<_> = p.syscalls().iter().flatten().filter(|s| s.names().iter().any(|n| n == "clone")).collect();
        assert_eq!(clone.len(), 1);
        let arg = clone[0].args().as_ref().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!((arg.value(), arg.value_two()), (0x7E02_0000, Some(0)));
        assert_eq!(arg.index(), if cfg!(target_arch = "s390x") { 1 } else { 0 });
        // clone3 hides its flags: ENOSYS makes libcs fall back to clone.
        assert_eq!(unconditional(&p, "clone3"), Some((LinuxSeccompAction::ScmpActErrno, Some(38))));

        // With CAP_SYS_ADMIN both are allowed outright, and nothing else says otherwise.
        let admin = with_caps(&["CAP_SYS_ADMIN"]);
        for name in ["clone", "clone3"] {
            let rules: Vec<_> =
                admin.syscalls().iter().flatten().filter(|s| s.names().iter().any(|n| n == name)).collect();
            assert_eq!(rules.len(), 1, "{name}");
            assert_eq!(rules[0].action(), LinuxSeccompAction::ScmpActAllow);
        }
    }

    /// The kernel crypto API's sockets (rustix names AF_ALG on Fuchsia only).
    const AF_ALG: rustix::net::AddressFamily = rustix::net::AddressFamily::from_raw(38);

    #[test]
    fn personality_and_socket_are_allowed_for_some_arguments() {
        let p = parse(default_profile(DEFAULT_CAPS));
        let values = |name: &str| -> Vec<(LinuxSeccompOperator, u64)> {
            let rules = p.syscalls().iter().flatten().filter(|s| s.names().iter().any(|n| n == name));
            rules
                .map(|s| {
                    let args = s.args().as_ref().expect("conditional");
                    assert_eq!((args.len(), args[0].index()), (1, 0));
                    (args[0].op(), args[0].value())
                })
                .collect()
        };
        let eq = LinuxSeccompOperator::ScmpCmpEq;
        assert_eq!(values("personality"), vec![(eq, 0), (eq, 8), (eq, 0x20000), (eq, 0x20008), (eq, 0xffff_ffff)]);
        let socket = values("socket");
        let permits = |family: u64| {
            socket.iter().any(|&(op, v)| match op {
                LinuxSeccompOperator::ScmpCmpLt => family < v,
                LinuxSeccompOperator::ScmpCmpEq => family == v,
                _ => panic!("unexpected op {op:?}"),
            })
        };
        use rustix::net::AddressFamily as Af;
        for family in [Af::UNIX, Af::INET, Af::INET6, Af::NETLINK, Af::PACKET] {
            assert!(permits(u64::from(family.as_raw())), "family {family:?}");
        }
        for family in [AF_ALG.as_raw(), Af::VSOCK.as_raw(), 12, 19, 46, 1000] {
            assert!(!permits(u64::from(family)), "family {family}");
        }
        assert_eq!(socket[0], (LinuxSeccompOperator::ScmpCmpLt, 12));
    }

    /// libseccomp accepts the profile (every rule, with and without the
    /// capabilities that add rules), and in a filtered child the calls
    /// behave as Docker's do.
    ///
    /// The child's calls go through rustix where it wraps them, and through
    /// `sys::seccomp::probe` for the raw ones the filter is about (kexec_load,
    /// clone3, personality), which nothing else wraps.
    #[test]
    fn a_real_filter_refuses_and_allows_like_docker() {
        use rustix::net::{socket, AddressFamily, SocketType};
        use sys::process::Forked;
        use sys::seccomp::probe;

        let all_caps = with_caps(&[
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_TIME",
            "CAP_SYS_NICE",
            "CAP_SYS_BOOT",
            "CAP_SYS_PACCT",
            "CAP_SYS_TTY_CONFIG",
            "CAP_SYSLOG",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_DAC_READ_SEARCH",
        ]);
        runtime::seccomp::build(&all_caps).expect("libseccomp takes the profile with every capability");
        let ctx = runtime::seccomp::build(&parse(default_profile(DEFAULT_CAPS))).expect("build");

        // SAFETY: the child only sets no_new_privs (so loading needs no
        // privilege), loads the prepared filter, makes syscalls and exits
        // at once; it allocates nothing after fork.
        let child = match unsafe { sys::process::fork() }.expect("fork") {
            Forked::Parent(pid) => pid,
            Forked::Child => {
                let refused = |r: std::io::Result<()>, want: Errno| {
                    r.err().and_then(|e| e.raw_os_error()) == Some(want.raw_os_error())
                };
                let code = (|| {
                    if rustix::thread::set_no_new_privs(true).is_err() {
                        return 10;
                    }
                    if runtime::seccomp::load(&ctx).is_err() {
                        return 11;
                    }
                    // Refused: new namespaces, mounts, reboot, kexec.
                    let user_ns = rustix::thread::UnshareFlags::NEWUSER;
                    if !refused(sys::process::unshare_namespaces(user_ns), Errno::PERM) {
                        return 12;
                    }
                    // Arguments the kernel would refuse (ENOENT, EINVAL) if the
                    // filter let them through: the test never mounts on the
                    // host or touches a loaded kexec image.
                    let mounted = rustix::mount::mount(
                        "x",
                        "/nonexistent/berth-seccomp-test",
                        "tmpfs",
                        rustix::mount::MountFlags::empty(),
                        None,
                    );
                    if !refused(mounted.map_err(Into::into), Errno::PERM) {
                        return 13;
                    }
                    if probe::kexec_load_invalid() != Errno::PERM.raw_os_error() {
                        return 14;
                    }
                    // clone3 hides its flags: ENOSYS makes libcs fall back to clone.
                    if probe::clone3_invalid() != Errno::NOSYS.raw_os_error() {
                        return 15;
                    }
                    if probe::personality(0x0040_0000) != Errno::PERM.raw_os_error() {
                        return 16;
                    }
                    let alg = socket(AF_ALG, SocketType::SEQPACKET, None).map(drop);
                    if !refused(alg.map_err(Into::into), Errno::PERM) {
                        return 17;
                    }
                    // Allowed: the current persona, ordinary calls.
                    if probe::personality(0xffff_ffff) != 0 {
                        return 20;
                    }
                    if probe::getpid() != 0 || socket(AddressFamily::UNIX, SocketType::STREAM, None).is_err() {
                        return 21;
                    }
                    0
                })();
                sys::process::exit_immediately(code)
            }
        };
        let (_, status) = rustix::process::waitpid(Some(child), rustix::process::WaitOptions::empty())
            .expect("waitpid")
            .expect("a status");
        assert_eq!(status.exit_status(), Some(0), "{status:?}");
    }
}
