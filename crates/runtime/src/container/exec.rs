//! `exec`: run another process inside a running container. We join the
//! container's pid namespace (affects our children only), fork, and the
//! child moves into the container's cgroup and remaining namespaces (user
//! first), then takes the same drop-privileges-and-exec path as init.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::setns;
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::error::{Context, Error, Result};
use crate::namespaces;
use crate::process;
use crate::state::Status;
use crate::sync::{self, Msg};
use crate::tty;

use super::lifecycle;

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
}

pub struct Execed {
    pub pid: Pid,
    pub terminal: Option<OwnedFd>,
}

pub fn exec(opts: &ExecOptions) -> Result<Execed> {
    // Our child enters the container as a copy of this process: run from a
    // binary the container cannot write (CVE-2019-5736). Re-executes us.
    crate::exe_guard::ensure_protected_exe()?;
    let (_dir, lock, st, status) = lifecycle::load(&opts.root, &opts.id)?;
    match status {
        Status::Running | Status::Created => {}
        s => {
            return Err(Error::WrongState {
                id: opts.id.clone(),
                status: s.to_string(),
                what: "cannot exec in a container that is not running".into(),
            })
        }
    }
    let p = &opts.process;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::InvalidConfig("exec needs a command to run".into()));
    }
    crate::lsm::check_supported(p)?;
    let terminal = p.terminal().unwrap_or(false);
    // Open every namespace of the container's init now, while its pid is
    // known to be the container's (we hold the lock and checked start time).
    let mut joins: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    for t in crate::spec::JOIN_ORDER {
        let configured = st
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
            .any(|n| n.typ() == t);
        if !configured {
            continue;
        }
        let path = format!("/proc/{}/ns/{}", st.pid, namespaces::proc_name(t));
        let fd = nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context(|| format!("open {path}"))?;
        joins.push((t, fd));
    }
    drop(lock);
    let cgroup = st.cgroup.clone();
    let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().clone());
    let compiled = seccomp
        .as_ref()
        .and_then(|cfg| crate::seccomp::cache::program(cfg, &opts.root.join(crate::seccomp::cache::DIR)));

    // Opened here, in the host's mount namespace, and verified: the child
    // writes its LSM exec label through it once inside the container.
    let host_proc = crate::procfs::Proc::open(std::path::Path::new("/proc"))?;
    nix::sys::prctl::set_dumpable(false).context(|| "prctl(PR_SET_DUMPABLE)".into())?;
    let (parent_chan, child_chan) = sync::pair()?;
    let pid_ns = joins.iter().position(|(t, _)| *t == LinuxNamespaceType::Pid).map(|i| joins.remove(i).1);
    let own_pidns = namespaces::pid_ns_for_children(pid_ns.as_ref())?;
    // SAFETY: the runtime is single-threaded here, so fork is safe.
    let fork = unsafe { nix::unistd::fork() }.context(|| "fork".into())?;
    let child = match fork {
        ForkResult::Child => {
            drop(parent_chan);
            super::child::enter(&child_chan);
            let seccomp = seccomp.as_ref().map(|profile| process::Seccomp { profile, compiled: compiled.as_ref() });
            let err = child_main(opts, p, &host_proc, &joins, cgroup.as_ref(), seccomp, &child_chan, terminal);
            super::child::exit_with(&(&err).into())
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_chan);
    namespaces::restore_pid_ns(own_pidns)?;
    let mut term = None;
    // The channel is close-on-exec: EOF means the exec succeeded.
    loop {
        match parent_chan.recv()? {
            Some((Msg::Terminal, fd)) => term = fd,
            Some((Msg::Error(e), _)) => {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(Error::Init(e));
            }
            Some(_) => {}
            None => break,
        }
    }
    if let Some(pf) = &opts.pid_file {
        crate::state::write_pid_file(pf, child.as_raw())?;
    }
    Ok(Execed { pid: child, terminal: term })
}

fn child_main(
    opts: &ExecOptions,
    p: &Process,
    host_proc: &crate::procfs::Proc,
    joins: &[(LinuxNamespaceType, OwnedFd)],
    cgroup: Option<&crate::cgroups::Manager>,
    seccomp: Option<process::Seccomp>,
    chan: &sync::Channel,
    terminal: bool,
) -> Error {
    let r = (|| -> Result<process::Ready> {
        super::child::test_panic_point("exec");
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
        // A host path: connect before joining the container's mount namespace.
        let console = match (&opts.console_socket, terminal) {
            (Some(sock), true) => Some(tty::connect_socket(sock)?),
            _ => None,
        };
        if let Some(cg) = cgroup {
            // cgroup.procs takes pids as the writer's pid namespace numbers them.
            cg.add_pid(nix::unistd::getpid().as_raw())?;
        }
        for (t, fd) in joins {
            setns(fd.as_fd(), namespaces::flag(*t))
                .context(|| format!("join {} namespace", namespaces::proc_name(*t)))?;
        }
        if terminal {
            let pty = tty::open(std::path::Path::new("/dev/ptmx"))?;
            if let Some(sz) = p.console_size() {
                tty::set_size(pty.slave.as_fd(), sz.height() as u16, sz.width() as u16)?;
            }
            tty::become_console(&pty.slave)?;
            match &console {
                Some(sock) => tty::send_on(sock, std::os::fd::AsRawFd::as_raw_fd(&pty.master))?,
                None => chan.send_fd(&Msg::Terminal, Some(std::os::fd::AsRawFd::as_raw_fd(&pty.master)))?,
            }
        } else {
            let _ = nix::unistd::setsid();
        }
        let ready = process::prepare(process::Launch {
            process: p,
            proc: host_proc,
            seccomp,
            preserve_fds: opts.preserve_fds,
            listener: None,
        })?;
        // The death signal survives execve: with `exec -d` the runtime exits as
        // soon as we exec, and must not take the process with it (runc restores
        // the signal before exec too).
        nix::sys::prctl::set_pdeathsig(None).context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
        Ok(ready)
    })();
    match r {
        Ok(ready) => ready.exec(),
        Err(e) => e,
    }
}
