//! `exec`: run another process inside a running container. We join the
//! container's pid namespace (affects our children only), fork, and the
//! child moves into the container's cgroup and remaining namespaces (user
//! first), then takes the same drop-privileges-and-exec path as init.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::process::{DumpableBehavior, Signal, WaitOptions};
use rustix::thread::UnshareFlags;
use sys::process::Forked;

use crate::error::{Context, Error, Result};
use crate::namespaces;
use crate::process;
use crate::procfs::Proc;
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
    /// What the process gets as fds 0, 1 and 2 (a terminal, when the
    /// process asks for one, replaces them). `None`: it inherits ours, as
    /// with runc; berth passes /dev/null and pipes (see
    /// [`super::CreateOptions::stdio`]).
    pub stdio: Option<std::sync::Arc<super::Stdio>>,
}

pub struct Execed {
    /// The process's pid, as our pid namespace numbers it.
    pub pid: i32,
    pub terminal: Option<OwnedFd>,
}

pub fn exec(opts: &ExecOptions) -> Result<Execed> {
    process::check_preserved_fds(opts.preserve_fds)?;
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
        joins.push((t, namespaces::open(&path).context(|| format!("open {path}"))?));
    }
    drop(lock);
    let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().clone());
    let compiled = seccomp
        .as_ref()
        .and_then(|cfg| crate::seccomp::cache::program(cfg, &opts.root.join(crate::seccomp::cache::DIR)));

    // Opened here, in the host's mount namespace, and verified: the child
    // writes its LSM exec label through it once inside the container.
    let host_proc = Proc::open(std::path::Path::new("/proc"))?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .context(|| "prctl(PR_SET_DUMPABLE)".into())?;
    let (parent_chan, child_chan) = sync::pair()?;
    let pid_ns = joins.iter().position(|(t, _)| *t == LinuxNamespaceType::Pid).map(|i| joins.remove(i).1);
    let own_pidns = namespaces::pid_ns_for_children(pid_ns.as_ref())?;
    let entry = st.cgroup.as_ref().map(|c| c.entry()).transpose()?;
    // The child runs `Child::run`, which ends in execve or `_exit`.
    let (forked, born_in_cgroup2) =
        super::spawn::clone(UnshareFlags::empty(), entry.as_ref().and_then(|e| e.unified_dir()), "fork")?;
    let child = match forked {
        Forked::Child => {
            drop(parent_chan);
            super::child::enter(&child_chan);
            let c = Child {
                opts,
                process: p,
                host_proc: &host_proc,
                joins: &joins,
                cgroup: entry.as_ref().map(|e| (e, born_in_cgroup2)),
                seccomp: seccomp.as_ref().map(|profile| process::Seccomp { profile, compiled: compiled.as_ref() }),
                chan: &child_chan,
            };
            let err = c.run();
            super::child::exit_with(&(&err).into())
        }
        Forked::Parent(child) => child,
    };
    drop(child_chan);
    namespaces::restore_pid_ns(own_pidns)?;
    let mut term = None;
    // The channel is close-on-exec: EOF means the exec succeeded.
    loop {
        match parent_chan.recv()? {
            Some((Msg::Terminal, fd)) => term = fd,
            Some((Msg::Error(e), _)) => {
                let _ = rustix::process::waitpid(Some(child), WaitOptions::empty());
                return Err(Error::Init(e));
            }
            Some(_) => {}
            None => break,
        }
    }
    let pid = child.as_raw_nonzero().get();
    if let Some(pf) = &opts.pid_file {
        crate::state::write_pid_file(pf, pid)?;
    }
    Ok(Execed { pid, terminal: term })
}

/// What exec's child works with.
struct Child<'a> {
    opts: &'a ExecOptions,
    process: &'a Process,
    host_proc: &'a Proc,
    /// The container's namespaces but pid (which the parent joined for us).
    joins: &'a [(LinuxNamespaceType, OwnedFd)],
    /// How to enter the container's cgroup, and whether the fork was born
    /// in its cgroup2 part already.
    cgroup: Option<(&'a crate::cgroups::Entry, bool)>,
    seccomp: Option<process::Seccomp<'a>>,
    chan: &'a sync::Channel,
}

impl Child<'_> {
    /// Enter the container and exec; returns only the error that stopped it.
    fn run(self) -> Error {
        match self.enter() {
            Ok(ready) => ready.exec(),
            Err(e) => e,
        }
    }

    fn enter(&self) -> Result<process::Ready<'_>> {
        super::child::test_panic_point("exec");
        let p = self.process;
        let terminal = p.terminal().unwrap_or(false);
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
            .context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
        if let Some(stdio) = &self.opts.stdio {
            // dup2 leaves 0-2 open across exec: the process keeps them.
            rustix::stdio::dup2_stdin(&stdio.stdin)
                .and_then(|()| rustix::stdio::dup2_stdout(&stdio.stdout))
                .and_then(|()| rustix::stdio::dup2_stderr(&stdio.stderr))
                .context(|| "set up fds 0-2 of the process".into())?;
        }
        // A host path: connect before joining the container's mount namespace.
        let console = match (&self.opts.console_socket, terminal) {
            (Some(sock), true) => Some(tty::connect_socket(sock)?),
            _ => None,
        };
        if let Some((entry, born_in_cgroup2)) = self.cgroup {
            entry.join_self(born_in_cgroup2)?;
        }
        for (t, fd) in self.joins {
            namespaces::join(fd, *t).context(|| format!("join {} namespace", namespaces::proc_name(*t)))?;
        }
        if terminal {
            let pty = tty::open(std::path::Path::new("/dev/ptmx"))?;
            if let Some(sz) = p.console_size() {
                tty::set_size(pty.slave.as_fd(), sz.height() as u16, sz.width() as u16)?;
            }
            tty::become_console(&pty.slave)?;
            match &console {
                Some(sock) => tty::send_on(sock, pty.master.as_fd())?,
                None => self.chan.send_fd(&Msg::Terminal, Some(pty.master.as_fd()))?,
            }
        } else {
            let _ = rustix::process::setsid();
        }
        let ready = process::prepare(process::Launch {
            process: p,
            proc: self.host_proc,
            seccomp: self.seccomp,
            preserve_fds: self.opts.preserve_fds,
            listener: None,
        })?;
        // The death signal survives execve: with `exec -d` the runtime exits as
        // soon as we exec, and must not take the process with it (runc restores
        // the signal before exec too).
        rustix::process::set_parent_process_death_signal(None).context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
        Ok(ready)
    }
}
