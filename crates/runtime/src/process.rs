//! The last steps before the container's process runs, shared by init and
//! exec, in two phases: [`prepare`] does everything that can fail (rlimits,
//! cwd, user and groups, capabilities, a privileged seccomp filter), before
//! the init reports itself created; [`Ready::exec`] does what is left
//! (default signal dispositions, the LSM exec label, no_new_privs, the last
//! seccomp filter, closing every fd the process must not inherit) and execs.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, PosixRlimitType, Process};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::process::{Gid, Resource, Rlimit, Uid};

use crate::error::{Context, Error, Result};

/// Set process.rlimits. Done while still privileged: raising a hard limit needs
/// CAP_SYS_RESOURCE.
pub fn set_rlimits(p: &Process) -> Result<()> {
    // RLIM_INFINITY is all ones; rustix spells it `None`.
    let limit = |v: u64| (v != u64::MAX).then_some(v);
    for r in p.rlimits().iter().flatten() {
        let lim = Rlimit { current: limit(r.soft()), maximum: limit(r.hard()) };
        rustix::process::setrlimit(rlimit_resource(r.typ()), lim)
            .context(|| format!("setrlimit {} soft={} hard={}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::Cpu,
        RlimitFsize => Resource::Fsize,
        RlimitData => Resource::Data,
        RlimitStack => Resource::Stack,
        RlimitCore => Resource::Core,
        RlimitRss => Resource::Rss,
        RlimitNproc => Resource::Nproc,
        RlimitNofile => Resource::Nofile,
        RlimitMemlock => Resource::Memlock,
        RlimitAs => Resource::As,
        RlimitLocks => Resource::Locks,
        RlimitSigpending => Resource::Sigpending,
        RlimitMsgqueue => Resource::Msgqueue,
        RlimitNice => Resource::Nice,
        RlimitRtprio => Resource::Rtprio,
        RlimitRttime => Resource::Rttime,
    }
}

fn to_caps(set: Option<&HashSet<oci_spec::runtime::Capability>>, supported: &CapsHashSet) -> CapsHashSet {
    set.into_iter()
        .flatten()
        .filter_map(|c| {
            let name = serde_json::to_value(c).ok()?.as_str()?.to_string();
            name.parse::<Cap>().ok()
        })
        // Capabilities the running kernel does not know are skipped, as runc does.
        .filter(|c| supported.contains(c))
        .collect()
}

/// Every capability a process started by this runtime could be given here:
/// those the running kernel knows that are in our bounding set, by name
/// (`CAP_CHOWN`), sorted. What a privileged process gets (podman's
/// `--privileged` gives the whole bounding set).
pub fn available_capabilities() -> Result<Vec<String>> {
    let bounding = caps::read(None, CapSet::Bounding).map_err(|e| Error::Other(format!("read capabilities: {e}")))?;
    let supported = caps::runtime::thread_all_supported();
    let mut names: Vec<String> = bounding.intersection(&supported).map(|c| c.to_string()).collect();
    names.sort();
    Ok(names)
}

/// `preserve_fds` (the caller's fds 3 .. 3+n that the process keeps) must
/// name fds the caller really passed: open, and not close-on-exec (which
/// everything the runtime opens is). A number left free would otherwise be
/// taken by one of the runtime's own fds and handed to the container (the
/// CVE-2024-21626 class); runc refuses such a count too. Called before
/// anything is made.
pub fn check_preserved_fds(preserve_fds: i32) -> Result<()> {
    let n = preserve_fds.max(0);
    match (3..3 + n).find(|fd| !sys::process::is_inheritable_fd(*fd)) {
        Some(fd) => Err(Error::InvalidConfig(format!(
            "--preserve-fds {n}: fd {fd} was not passed to the runtime (not open, or close-on-exec)"
        ))),
        None => Ok(()),
    }
}

/// What the container's process is to be: the input of [`prepare`].
pub struct Launch<'a> {
    pub process: &'a Process,
    /// The verified procfs the LSM exec label is written through.
    pub proc: &'a crate::procfs::Proc,
    pub seccomp: Option<Seccomp<'a>>,
    /// fds 3..3+preserve stay open in the process.
    pub preserve_fds: i32,
    /// Where a seccomp user-notification fd goes, if the filter makes one.
    pub listener: Option<Listener>,
}

/// The process's seccomp profile and, when the runtime could compile it
/// ahead (see `seccomp::cache`), the program to load as is.
#[derive(Clone, Copy)]
pub struct Seccomp<'a> {
    pub profile: &'a LinuxSeccomp,
    pub compiled: Option<&'a crate::seccomp::cache::Program>,
}

/// A connection to the seccomp agent (linux.seccomp.listenerPath), opened
/// while its host path was still reachable.
pub struct Listener {
    pub sock: std::os::unix::net::UnixStream,
    /// The container state JSON the agent receives with the fd.
    pub state: Vec<u8>,
    pub metadata: Option<String>,
}

/// A process that has become what the config asks (user, groups,
/// capabilities, rlimits, cwd) and only has to exec: what is left cannot
/// fail for a reason the config could fix.
pub struct Ready<'a> {
    exe: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    no_new_privs: bool,
    /// The seccomp filter still to load (with no_new_privs, it goes in last).
    late_filter: Option<Filter<'a>>,
    listener: Option<Listener>,
    preserve_fds: i32,
    labels: Vec<crate::lsm::ExecLabel>,
    proc: &'a crate::procfs::Proc,
}

enum Filter<'a> {
    Compiled(&'a crate::seccomp::cache::Program),
    Built(libseccomp::ScmpFilterContext),
}

impl Filter<'_> {
    fn load(&self, listener: Option<&Listener>) -> Result<()> {
        match self {
            // Compiled programs never use user notification: no listener.
            Filter::Compiled(p) => crate::seccomp::cache::load(p),
            Filter::Built(ctx) => hand_over(crate::seccomp::load(ctx)?, listener),
        }
    }
}

/// Everything about becoming the container's process that can fail: rlimits,
/// cwd, HOME, the executable, user and groups, capabilities, and a seccomp
/// filter that needs privileges to load. The init does this before it
/// reports itself created and waits for `start`, so a config the host cannot
/// honour (a capability outside the bounding set, an rlimit above the hard
/// limit, an unmapped user) makes `create` fail, as with runc and crun.
pub fn prepare(l: Launch) -> Result<Ready> {
    let p = l.process;
    set_rlimits(p)?;
    // As root still: a missing cwd is created (as runc does).
    enter_cwd(p)?;
    let cstr = |s: &str| CString::new(s).map_err(|_| Error::InvalidConfig("NUL byte in process args or env".into()));
    let args = p.args().as_deref().unwrap_or(&[]).iter().map(|a| cstr(a)).collect::<Result<Vec<_>>>()?;
    // Read while we may still read any file (the user may not).
    let env = env_with_home(p).iter().map(|e| cstr(e)).collect::<Result<Vec<_>>>()?;
    let no_new_privs = p.no_new_privileges().unwrap_or(false);
    let filter = match l.seccomp {
        Some(Seccomp { compiled: Some(p), .. }) => Some(Filter::Compiled(p)),
        Some(Seccomp { profile, compiled: None }) => Some(Filter::Built(crate::seccomp::build(profile)?)),
        None => None,
    };
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it must go
    // in before capabilities are dropped (as runc does); with it, it goes in
    // last, right before execve, so that as few syscalls as possible run under it.
    let late_filter = match filter {
        Some(f) if !no_new_privs => {
            f.load(l.listener.as_ref())?;
            None
        }
        f => f,
    };
    set_capabilities_and_user(p)?;
    // As the user, as execvp would look it up (runc's LookPath runs here too).
    let exe = resolve_exe(p)?;
    let exe = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidConfig("NUL byte in the executable's path".into()))?;
    Ok(Ready {
        exe,
        args,
        env,
        no_new_privs,
        late_filter,
        listener: l.listener,
        preserve_fds: l.preserve_fds,
        labels: crate::lsm::exec_labels(p),
        proc: l.proc,
    })
}

impl Ready<'_> {
    /// Default signal dispositions, the LSM exec label, no_new_privs, the
    /// last seccomp filter, close every fd the process must not inherit,
    /// execve. Returns only on failure.
    pub fn exec(self) -> Error {
        match self.exec_inner() {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    fn exec_inner(&self) -> Result<Never> {
        // The runtime's own signal dispositions (Rust ignores SIGPIPE) and
        // mask are not the process's: it starts with the defaults. First, so
        // that a seccomp profile need not allow rt_sigaction.
        sys::signal::reset_for_exec().context(|| "reset signal dispositions".into())?;
        // After the startContainer hooks (a process spawned after this write
        // would take the label too), before seccomp (whose profile need not
        // allow the open and write).
        for label in &self.labels {
            crate::lsm::set_exec_label(self.proc.fd(), label)?;
        }
        if self.no_new_privs {
            rustix::thread::set_no_new_privs(true).context(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
        }
        if let Some(filter) = &self.late_filter {
            filter.load(self.listener.as_ref())?;
        }
        // No fd of the runtime (a host directory, the state dir, a cgroup
        // file) may reach the container (CVE-2024-21626).
        let keep = 3 + self.preserve_fds.max(0) as u32;
        sys::process::mark_cloexec_from(keep).context(|| "mark fds close-on-exec".into())?;
        let e = sys::process::execve(&self.exe, &self.args, &self.env);
        Err(Error::Other(format!("exec {:?}: {e}", self.exe)))
    }
}

enum Never {}

/// The capability sets and user of the config, in the order that keeps each
/// step possible: bounding set first (needs CAP_SETPCAP), user and groups
/// with capabilities kept, then the exact sets.
fn set_capabilities_and_user(p: &Process) -> Result<()> {
    let supported = caps::runtime::thread_all_supported();
    let empty = LinuxCapabilities::default();
    let c = p.capabilities().as_ref().unwrap_or(&empty);
    let bounding = to_caps(c.bounding().as_ref(), &supported);
    let permitted = to_caps(c.permitted().as_ref(), &supported);
    let effective = to_caps(c.effective().as_ref(), &supported);
    // Inheritable only when asked: a non-empty default would let a setuid
    // binary's file caps leak into the process (CVE-2022-29162).
    let inheritable = to_caps(c.inheritable().as_ref(), &supported);
    let ambient = to_caps(c.ambient().as_ref(), &supported);
    // A capability we do not hold ourselves (on this host: one outside the
    // bounding set) can never be given: say which, rather than EPERM.
    let held = caps::read(None, CapSet::Permitted).map_err(|e| Error::Other(format!("read capabilities: {e}")))?;
    let mut missing: Vec<String> = permitted
        .iter()
        .chain(&effective)
        .chain(&inheritable)
        .filter(|cap| !held.contains(cap))
        .map(|cap| cap.to_string())
        .collect();
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(Error::Unsupported(format!(
            "capabilities {} are not available on this host (not in the runtime's bounding set)",
            missing.join(", ")
        )));
    }
    for cap in supported.difference(&bounding) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|e| Error::Other(format!("drop bounding {cap}: {e}")))?;
    }
    // Keep permitted caps across the uid change; they are set exactly below.
    rustix::thread::set_keep_capabilities(true).context(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    set_user(p)?;
    rustix::thread::set_keep_capabilities(false).context(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    // Order matters: effective must stay a subset of permitted at every step.
    caps::set(None, CapSet::Effective, &effective.intersection(&permitted).copied().collect())
        .and_then(|_| caps::set(None, CapSet::Permitted, &permitted))
        .and_then(|_| caps::set(None, CapSet::Inheritable, &inheritable))
        .and_then(|_| caps::set(None, CapSet::Effective, &effective))
        .map_err(|e| Error::Other(format!("set capabilities: {e}")))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| Error::Other(format!("clear ambient capabilities: {e}")))?;
    for cap in &ambient {
        // The kernel only raises an ambient capability that is both permitted
        // and inheritable. `runc spec` (since CVE-2022-29162) writes ambient
        // capabilities without inheritable ones; runc and crun skip the
        // impossible raise rather than fail, and so do we.
        if !(permitted.contains(cap) && inheritable.contains(cap)) {
            tracing::debug!("ambient capability {cap} skipped: it is not both permitted and inheritable");
            continue;
        }
        caps::raise(None, CapSet::Ambient, *cap).map_err(|e| Error::Other(format!("raise ambient {cap}: {e}")))?;
    }
    Ok(())
}

/// Give a seccomp notify fd to the agent; a filter with notify rules and no
/// agent would leave those syscalls hanging forever, so that is an error.
fn hand_over(fd: Option<std::os::fd::OwnedFd>, listener: Option<&Listener>) -> Result<()> {
    let Some(fd) = fd else { return Ok(()) };
    let l = listener.ok_or_else(|| Error::Seccomp("SCMP_ACT_NOTIFY rules need linux.seccomp.listenerPath".into()))?;
    let mut sock = l.sock.try_clone().context(|| "seccomp listener socket".into())?;
    use std::os::fd::AsFd;
    crate::seccomp::send_listener_on(&mut sock, fd.as_fd(), &l.state, l.metadata.as_deref())
}

/// Groups, then gid, then uid. rustix's calls act on the calling thread
/// only (glibc's broadcast to every thread); init and exec's child are
/// single-threaded copies, so that is the whole process.
fn set_user(p: &Process) -> Result<()> {
    let u = p.user();
    // runc's default when process.user.umask is unset: 0022, not the caller's.
    let mask = u.umask().unwrap_or(0o022);
    rustix::process::umask(Mode::from_raw_mode(mask));
    let gids: Vec<Gid> = u.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
    // setgroups is refused in a user namespace whose setgroups file says "deny";
    // only an explicit request for extra groups makes that an error.
    if let Err(e) = rustix::thread::set_thread_groups(&gids) {
        if !gids.is_empty() || e != Errno::PERM {
            return Err(e).context(|| "setgroups".into());
        }
    }
    let (gid, uid) = (Gid::from_raw(u.gid()), Uid::from_raw(u.uid()));
    rustix::thread::set_thread_res_gid(gid, gid, gid).context(|| format!("setgid {}", u.gid()))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).context(|| format!("setuid {}", u.uid()))?;
    Ok(())
}

/// The process env, plus HOME from /etc/passwd when it is not set (runc
/// does this), `/` when the user has no entry. The file is the image's: read
/// only if it is a regular file, without blocking (a FIFO there must not
/// hang the init) and up to a bound.
pub fn env_with_home(p: &Process) -> Vec<String> {
    const PASSWD_MAX: u64 = 16 << 20;
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let passwd = match sys::fs::read_regular(Path::new("/etc/passwd"), PASSWD_MAX) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                tracing::debug!("HOME from /etc/passwd: {e}");
                String::new()
            }
        };
        let home = passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(p.user().uid())).then(|| f[5].to_string())
            })
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Find args[0] the way execvp would, using the container's PATH (we are
/// already inside its root). Errors read like runc's.
pub fn resolve_exe(p: &Process) -> Result<PathBuf> {
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| Error::InvalidConfig("process.args is empty".into()))?;
    let check = |cand: &Path| -> Option<PathBuf> {
        let md = std::fs::metadata(cand).ok()?;
        use std::os::unix::fs::PermissionsExt;
        (md.is_file() && md.permissions().mode() & 0o111 != 0).then(|| cand.to_path_buf())
    };
    if arg0.contains('/') {
        let cand = if Path::new(arg0).is_absolute() { PathBuf::from(arg0) } else { p.cwd().join(arg0) };
        return check(&cand).ok_or_else(|| {
            // runc's wording; podman and docker turn it into exit 126 vs 127.
            if cand.is_file() {
                Error::ExecPermission(arg0.clone())
            } else {
                Error::ExecNotFound(arg0.clone(), "no such executable file")
            }
        });
    }
    let path = p
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .find_map(|d| check(&Path::new(d).join(arg0)))
        .ok_or_else(|| Error::ExecNotFound(arg0.clone(), "executable file not found in $PATH"))
}

/// chdir to process.cwd and check the result is inside the container root:
/// a cwd reached through a leaked host fd would show as "(unreachable)" or
/// outside "/" (CVE-2024-21626).
pub fn enter_cwd(p: &Process) -> Result<()> {
    let cwd = p.cwd();
    if let Err(e) = rustix::process::chdir(cwd.as_path()) {
        if e == Errno::NOENT && p.user().uid() == 0 {
            std::fs::create_dir_all(cwd).context(|| format!("create cwd {}", cwd.display()))?;
            rustix::process::chdir(cwd.as_path()).context(|| format!("chdir to cwd {}", cwd.display()))?;
        } else {
            return Err(e).context(|| format!("chdir to cwd {}", cwd.display()));
        }
    }
    let now = rustix::process::getcwd(Vec::new()).context(|| "getcwd".into())?;
    let now = now.to_bytes();
    if !now.starts_with(b"/") || now.starts_with(b"(unreachable)") {
        return Err(Error::Other(format!("cwd {} is outside the container root", cwd.display())));
    }
    Ok(())
}
