//! The container's init: the child of `create`'s clone(2). It finishes the
//! namespaces, builds the rootfs, waits for `start` on the exec fifo, then
//! drops privileges and execs the user's process. Any failure goes back to
//! the runtime as one message and the child exits.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Gid, Signal, Uid};

use crate::cgroups;
use crate::error::{Context as _, Error, Result};
use crate::hooks;
use crate::namespaces::{self, Plan};
use crate::process;
use crate::procfs::Proc;
use crate::rootfs;
use crate::spec::Bundle;
use crate::sync::{Channel, Msg};
use crate::tty;

pub struct Context<'a> {
    pub bundle: &'a Bundle,
    pub plan: &'a Plan,
    pub chan: &'a Channel,
    pub fifo: PathBuf,
    pub console_socket: Option<PathBuf>,
    /// Replaces fds 0-2 before anything else (see `CreateOptions::stdio`).
    pub stdio: Option<&'a super::create::Stdio>,
    /// The caller's lock fds, closed first (see `CreateOptions::close_in_init`).
    pub close_first: &'a [std::os::fd::RawFd],
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub cgroup: &'a cgroups::Manager,
    /// Handles the init uses to enter `cgroup` itself.
    pub cgroup_entry: &'a cgroups::Entry,
    /// Whether clone put the init in the cgroup2 cgroup already.
    pub born_in_cgroup2: bool,
    pub host_proc: &'a Proc,
    pub id: &'a str,
    /// The bundle's seccomp profile, compiled by the runtime (see `seccomp::cache`).
    pub seccomp_program: Option<&'a crate::seccomp::cache::Program>,
    /// Bring up `lo` in the network namespace clone made (`CreateOptions::loopback_up`).
    pub loopback_up: bool,
    /// Each idmapped bind, made ready (`rootfs::idmap::prepare`).
    pub idmapped: &'a [Option<std::os::fd::OwnedFd>],
}

/// Never returns: execs the container process or exits with status 1.
pub fn run(ctx: Context) -> ! {
    super::child::enter(ctx.chan);
    for fd in ctx.close_first {
        // SAFETY: the caller holds these fds for the whole of `create`; in
        // this copy of it, the objects owning them live in frames the init
        // never returns to (it execs or exits), so nothing uses or closes
        // them after this.
        unsafe { rustix::io::close(*fd) };
    }
    let err = match setup(&ctx) {
        Ok(ready) => ready.exec(),
        Err(e) => e,
    };
    super::child::exit_with(&(&err).into())
}

fn setup<'a>(ctx: &Context<'a>) -> Result<process::Ready<'a>> {
    let spec: &Spec = &ctx.bundle.spec;
    let plan = ctx.plan;
    // If the runtime dies before we are done, so do we: nothing half-made lingers.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
    ctx.chan.expect(Msg::Go)?;
    // First, so that all the init allocates is charged to the container
    // (after Go: the parent then reads any error from the channel).
    ctx.cgroup_entry.join_self(ctx.born_in_cgroup2)?;
    super::child::test_panic_point("init");
    if let Some(stdio) = ctx.stdio {
        // dup2 leaves 0-2 open across exec: the process keeps them.
        rustix::stdio::dup2_stdin(&stdio.stdin)
            .and_then(|()| rustix::stdio::dup2_stdout(&stdio.stdout))
            .and_then(|()| rustix::stdio::dup2_stderr(&stdio.stderr))
            .context(|| "set up fds 0-2 of the container".into())?;
    }
    // The fifo lives in the host's state dir: open it while we can still see it.
    // O_RDWR does not block; `start` writes a byte that our read below waits for.
    // Opened before becoming root of a new user namespace: we are still host root
    // here, afterwards the fifo (0600, host root's) gave EACCES.
    let fifo =
        std::fs::OpenOptions::new().read(true).write(true).open(&ctx.fifo).context(|| "open exec fifo".into())?;
    let process = spec.process().as_ref().ok_or_else(|| Error::InvalidConfig("process is required".into()))?;
    // The console socket and seccomp agent are host paths owned by host root:
    // connect while we still see the host's filesystem with host credentials.
    let console = match (&ctx.console_socket, process.terminal().unwrap_or(false)) {
        (Some(sock), true) => Some(tty::connect_socket(sock)?),
        _ => None,
    };

    // Our pid as the host sees it (getpid() says 1 in a new pid namespace):
    // hooks and the seccomp agent get the host's view.
    let host_pid =
        rustix::fs::readlinkat(ctx.host_proc.fd(), "self", Vec::new()).context(|| "readlink /proc/self".into())?;
    let hook_state = hook_state(ctx, &host_pid.to_string_lossy());
    // The seccomp agent's socket is a host path: connect while we can see it.
    let listener = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(sc) => match sc.listener_path() {
            Some(path) => Some(process::Listener {
                sock: std::os::unix::net::UnixStream::connect(path)
                    .context(|| format!("connect to seccomp listener {}", path.display()))?,
                state: hook_state.clone(),
                metadata: sc.listener_metadata().clone(),
            }),
            None => None,
        },
        None => None,
    };

    if plan.new_userns() {
        // Become root of the new user namespace (the maps are written now).
        rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)
            .context(|| "setgid 0 in user namespace".into())?;
        rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)
            .context(|| "setuid 0 in user namespace".into())?;
    }
    plan.join_all_but_pid()?;
    if ctx.loopback_up {
        // An interface ioctl acts on its socket's namespace: ours, new.
        rustix::net::socket_with(AddressFamily::INET, SocketType::DGRAM, SocketFlags::CLOEXEC, None)
            .map_err(std::io::Error::from)
            .and_then(|socket| sys::net::set_link_up(socket.as_fd(), "lo"))
            .context(|| "bring up lo in the container's network namespace".into())?;
    }
    if plan.new_cgroup {
        sys::process::unshare_namespaces(namespaces::flag(LinuxNamespaceType::Cgroup))
            .context(|| "unshare cgroup namespace".into())?;
    }
    if plan.new_time {
        namespaces::enter_new_time_ns(spec, ctx.host_proc)?;
    }
    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id);
    }
    if let Some(adj) = process.oom_score_adj() {
        ctx.host_proc.write_self("oom_score_adj", adj.to_string().as_bytes())?;
    }
    let has_mntns = plan.has(LinuxNamespaceType::Mount);
    let root = if has_mntns {
        let s = rootfs::Setup {
            spec,
            rootfs: &ctx.bundle.rootfs,
            userns: plan.has(LinuxNamespaceType::User),
            cgroup: Some(ctx.cgroup),
            new_cgroupns: plan.new_cgroup,
            idmapped: ctx.idmapped,
        };
        Some(rootfs::prepare(&s)?)
    } else {
        None
    };

    ctx.chan.send(&Msg::RuntimeHooks)?;
    ctx.chan.expect(Msg::Continue)?;
    if let Some(h) = spec.hooks() {
        hooks::run(h.create_container().as_deref().unwrap_or(&[]), &hook_state)?;
    }

    if let Some(root) = &root {
        rootfs::apply_sysctl(root, spec)?;
        rootfs::readonly_paths(root, spec)?;
        rootfs::masked_paths(root, spec)?;
        rootfs::pivot(&ctx.bundle.rootfs, ctx.no_pivot)?;
        rootfs::root_propagation_after_pivot(spec)?;
        // A missing cwd is created (as runc does) while / is still writable:
        // after the read-only remount below mkdir would fail with EROFS.
        let cwd = process.cwd();
        if std::fs::symlink_metadata(cwd).is_err() {
            std::fs::create_dir_all(cwd).context(|| format!("create cwd {}", cwd.display()))?;
        }
        if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
            rootfs::make_root_readonly()?;
        }
    } else {
        rustix::process::chroot(&ctx.bundle.rootfs).context(|| "chroot".into())?;
    }
    set_names(spec, plan)?;
    if let Some(pers) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        set_personality(pers)?;
    }

    if process.terminal().unwrap_or(false) {
        let pty = tty::open(Path::new("/dev/ptmx"))?;
        if let Some(sz) = process.console_size() {
            tty::set_size(pty.slave.as_fd(), sz.height() as u16, sz.width() as u16)?;
        }
        tty::become_console(&pty.slave)?;
        match &console {
            Some(sock) => tty::send_on(sock, pty.master.as_fd())?,
            None => ctx.chan.send_fd(&Msg::Terminal, Some(pty.master.as_fd()))?,
        }
    } else {
        // Without a terminal the process keeps our stdio; it must not get a
        // controlling terminal of the caller's session.
        let _ = rustix::process::setsid();
    }
    // Everything that can fail about becoming the process happens now, so
    // that `create` fails rather than the init dying after `start` (runc's
    // order: finalizeNamespace comes before the wait on the exec fifo). The
    // fifo was opened above, so the user change does not lock us out of it.
    let ready = process::prepare(process::Launch {
        process,
        proc: ctx.host_proc,
        seccomp: spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|profile| process::Seccomp { profile, compiled: ctx.seccomp_program }),
        preserve_fds: ctx.preserve_fds,
        listener,
    })?;
    // `create` exits once we are created; we must outlive it. (The user
    // change cleared the death signal already; should the runtime die before
    // it hears from us, the send below fails and we exit.)
    rustix::process::set_parent_process_death_signal(None).context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
    ctx.chan.send(&Msg::Created)?;
    super::child::parent_gone();

    wait_for_start(fifo)?;
    // As runc: after the fifo, in the container, as its user.
    if let Some(h) = spec.hooks() {
        hooks::run(h.start_container().as_deref().unwrap_or(&[]), &hook_state)?;
    }
    Ok(ready)
}

fn wait_for_start(mut fifo: std::fs::File) -> Result<()> {
    let mut b = [0u8; 1];
    loop {
        match fifo.read(&mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(|| "wait on exec fifo".into()),
        }
    }
}

fn hook_state(ctx: &Context, host_pid: &str) -> Vec<u8> {
    serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": ctx.id,
        "status": "created",
        "pid": host_pid.parse::<i64>().unwrap_or(0),
        "bundle": ctx.bundle.dir,
        "annotations": ctx.bundle.spec.annotations().clone().unwrap_or_default(),
    })
    .to_string()
    .into_bytes()
}

fn set_names(spec: &Spec, plan: &Plan) -> Result<()> {
    let own_uts = plan.has(LinuxNamespaceType::Uts);
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !own_uts {
            return Err(Error::InvalidConfig("hostname requires a private UTS namespace".into()));
        }
        rustix::system::sethostname(h.as_bytes()).context(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !own_uts {
            return Err(Error::InvalidConfig("domainname requires a private UTS namespace".into()));
        }
        rustix::system::setdomainname(d.as_bytes()).context(|| format!("setdomainname {d}"))?;
    }
    Ok(())
}

fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<()> {
    use oci_spec::runtime::LinuxPersonalityDomain as D;
    let persona = match p.domain() {
        D::PerLinux => sys::process::Persona::Linux,
        D::PerLinux32 => sys::process::Persona::Linux32,
    };
    sys::process::set_personality(persona).context(|| "personality".into())
}

/// A fresh session keyring, so containers do not share the host's keys (as
/// runc). Failure (no keyring support, ENOSYS) is harmless.
fn join_session_keyring(id: &str) {
    if let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) {
        if let Err(e) = sys::process::join_session_keyring(&name) {
            tracing::debug!("session keyring: {e}");
        }
    }
}
