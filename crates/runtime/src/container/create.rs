//! `create`: the runtime side. One clone(2) with every new namespace, the
//! child (init, see `init.rs`) sets itself up while we write its id maps,
//! place it in its cgroup and run the runtime hooks, then it waits on the
//! exec fifo for `start` and we record the state and leave.

use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;

use rustix::fs::{FileType, Mode};
use rustix::process::{DumpableBehavior, Pid, Signal, WaitOptions};
use sys::process::Forked;

use crate::cgroups;
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::namespaces::{self, Plan};
use crate::procfs::{self, Proc};
use crate::spec::Bundle;
use crate::state::{self, Dir, State, Status};
use crate::sync::{self, Msg};

use super::init;

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// The caller stays in the foreground and proxies the terminal itself
    /// (`run` without -d and without a console socket).
    pub foreground: bool,
    pub systemd_cgroup: bool,
    /// What the container's process gets as fds 0, 1 and 2. `None`: it
    /// inherits ours (runc's behaviour, which `berth-runtime` keeps). berth
    /// passes /dev/null and pipes so a container never holds the caller's
    /// terminal unless asked (`-i`, `-t`).
    pub stdio: Option<std::sync::Arc<Stdio>>,
    /// fds of the caller's that the container's init closes first thing:
    /// locks the caller holds across `create`. The init is a fork of the
    /// caller and an flock belongs to the open file, so the init's copy
    /// would hold the caller's lock until the process starts (close-on-exec)
    /// or, should the caller die before `start`, for as long as the created
    /// container waits, and every other command waiting for that lock with
    /// it. The caller keeps its own fds open across the call.
    pub close_in_init: Vec<RawFd>,
    /// Bring up `lo` in a network namespace made for the container (never
    /// one it joins): an engine's job, done here for free by the init (a
    /// helper entering the namespace later cost a thread or process). The
    /// runtime spec leaves `lo` down, as runc does: `false` from the CLI.
    pub loopback_up: bool,
    /// The container's cgroup, made by the caller ahead of the create (see
    /// [`cgroups::Manager::made_for`]), to use if the config's
    /// `cgroupsPath` is the one it was made for. Its directories are the
    /// container's from then on: deleted with it, or by a failed create.
    pub made_cgroup: Option<(String, cgroups::Manager)>,
}

/// The container process's standard streams (see [`CreateOptions::stdio`]).
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A container that has been created and waits for `start`.
pub struct Created {
    pub dir: Dir,
    pub state: State,
    /// The terminal master, when the caller proxies the terminal.
    pub terminal: Option<OwnedFd>,
}

pub fn create(opts: &CreateOptions) -> Result<Created> {
    state::validate_id(&opts.id)?;
    crate::process::check_preserved_fds(opts.preserve_fds)?;
    // The init is a copy of this process inside the container: make sure that
    // copy runs from a binary the container cannot write (CVE-2019-5736).
    // This re-executes the process, so it comes before any side effect.
    crate::exe_guard::ensure_protected_exe()?;
    // Everything that can be checked without side effects is checked first,
    // so bad input leaves no state, cgroup or mount behind.
    let bundle = Bundle::load(&opts.bundle)?;
    let process = bundle.spec.process().as_ref().ok_or_else(|| Error::InvalidConfig("process is required".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.foreground {
        return Err(Error::InvalidConfig(
            "process.terminal is true but no --console-socket was given to receive the terminal".into(),
        ));
    }
    let cgroups_path =
        bundle.spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()).map(|p| p.to_string_lossy().into_owned());
    if opts.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
        return Err(Error::Unsupported("--systemd-cgroup: systemd is not running on this host".into()));
    }
    if cgroups_path.as_deref().is_some_and(|p| !p.starts_with('/') && p.split(':').count() == 3) && !opts.systemd_cgroup
    {
        return Err(Error::InvalidConfig(format!(
            "cgroupsPath {:?} is a systemd slice path; it needs --systemd-cgroup",
            cgroups_path.unwrap_or_default()
        )));
    }
    let plan = Plan::from_spec(&bundle.spec)?;
    let host_proc = Proc::open(std::path::Path::new("/proc"))?;

    // Held until create returns: `delete`, `kill`, `state`... of this id wait
    // for the container to be fully made (or fully unmade). Declared before
    // the guard, so that a failed create cleans up before it unlocks.
    let (dir, lock) = Dir::create(&opts.root, &opts.id)?;
    let mut guard = Cleanup { owner: rustix::process::getpid(), dir: Some(dir.clone()), cgroup: None, child: None };

    rustix::fs::mknodat(rustix::fs::CWD, dir.fifo(), FileType::Fifo, Mode::from_raw_mode(0o600), 0)
        .context(|| "create exec fifo".into())?;
    let cgroup = match &opts.made_cgroup {
        Some((path, made)) if Some(path) == cgroups_path.as_ref() && !opts.systemd_cgroup => made.clone(),
        _ => {
            let cgroup = cgroups::Manager::new(cgroups_path.as_deref(), &opts.id)?;
            cgroup.create()?;
            cgroup
        }
    };
    guard.cgroup = Some(cgroup.clone());
    let mut resources = bundle.spec.linux().as_ref().and_then(|l| l.resources().clone()).unwrap_or_default();
    resources.set_devices(Some(crate::rootfs::devices::cgroup_rules(&bundle.spec)?));
    cgroup.apply(&resources)?;
    let mut st = State {
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        cgroup: Some(cgroup.clone()),
        config: state::SavedSpec::new(bundle.spec.clone(), Some(bundle.json.clone())),
        started: false,
    };
    // Recorded before the clone: a crash from here on leaves a "creating"
    // container that `delete` can find and clean up, cgroup included.
    dir.save(&st)?;

    let seccomp_program = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|cfg| crate::seccomp::cache::program(cfg, &opts.root.join(crate::seccomp::cache::DIR)));
    let entry = cgroup.entry()?;
    // Written from the host's side, before the init exists.
    let idmapped = crate::rootfs::idmap::prepare(&bundle.spec, &host_proc)?;
    let (parent_chan, child_chan) = sync::pair()?;
    // The init is a copy of this process until it execs: nobody in the
    // container may ptrace it or open its /proc files (CVE-2016-9962).
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .context(|| "prctl(PR_SET_DUMPABLE)".into())?;
    let saved_pidns = crate::namespaces::pid_ns_for_children(plan.pid_join())?;
    let mut init_ctx = init::Context {
        bundle: &bundle,
        plan: &plan,
        chan: &child_chan,
        fifo: dir.fifo(),
        console_socket: opts.console_socket.clone(),
        stdio: opts.stdio.as_deref(),
        close_first: &opts.close_in_init,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        cgroup: &cgroup,
        cgroup_entry: &entry,
        born_in_cgroup2: false,
        host_proc: &host_proc,
        seccomp_program: seccomp_program.as_ref(),
        id: &opts.id,
        loopback_up: opts.loopback_up && plan.clone.contains(rustix::thread::UnshareFlags::NEWNET),
        idmapped: &idmapped,
    };
    let (child, born_in_cgroup2) = super::spawn::clone(plan.clone, entry.unified_dir(), "clone container init")?;
    let child = match child {
        Forked::Child => {
            init_ctx.born_in_cgroup2 = born_in_cgroup2;
            drop(parent_chan);
            // Our copy of the lock's fd would keep the container locked until
            // we exec (flock belongs to the open file, shared with the parent);
            // closing it here does not unlock the parent's.
            drop(lock);
            init::run(init_ctx)
        }
        Forked::Parent(pid) => pid,
    };
    guard.child = Some(child);
    let child_pid = child.as_raw_nonzero().get();
    drop(child_chan);
    crate::namespaces::restore_pid_ns(saved_pidns)?;

    if plan.new_userns() {
        let linux =
            bundle.spec.linux().as_ref().ok_or_else(|| Error::InvalidConfig("linux section is required".into()))?;
        namespaces::write_id_map(&host_proc, child, "gid_map", linux.gid_mappings().as_deref().unwrap_or(&[]))?;
        namespaces::write_id_map(&host_proc, child, "uid_map", linux.uid_mappings().as_deref().unwrap_or(&[]))?;
    }
    // The init moves itself into the cgroup (see `cgroups::Entry`).
    parent_chan.send(&Msg::Go)?;

    parent_chan.expect(Msg::RuntimeHooks)?;
    st.pid = child_pid;
    st.pid_start = procfs::start_time(child_pid).unwrap_or(0);
    if let Some(h) = bundle.spec.hooks() {
        // The runtime spec (and runc) give these hooks the state "created",
        // although `state` still says "creating" while they run.
        let json = st.hook_json(Status::Created);
        hooks::run(h.prestart().as_deref().unwrap_or(&[]), &json)?;
        hooks::run(h.create_runtime().as_deref().unwrap_or(&[]), &json)?;
    }
    parent_chan.send(&Msg::Continue)?;

    let mut term = None;
    loop {
        match parent_chan.recv()? {
            Some((Msg::Terminal, fd)) => term = fd,
            Some((Msg::Created, _)) => break,
            Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
            Some((m, _)) => return Err(Error::Other(format!("unexpected message from init: {m:?}"))),
            None => return Err(Error::Init(crate::error::InitError::died("container init exited during setup"))),
        }
    }
    dir.save(&st)?;
    if let Some(pf) = &opts.pid_file {
        state::write_pid_file(pf, child_pid)?;
    }
    guard.disarm();
    drop(lock);
    Ok(Created { dir, state: st, terminal: term })
}

/// Undo a half-done create: kill the init, remove the cgroup and state dir.
struct Cleanup {
    /// The process whose guard this is: the init's copy of it (the init is a
    /// fork of this process) must never act. Panics in the init do not
    /// unwind (see `child`); this holds even if one did.
    owner: rustix::process::Pid,
    dir: Option<Dir>,
    cgroup: Option<cgroups::Manager>,
    child: Option<Pid>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.child = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if rustix::process::getpid() != self.owner {
            return;
        }
        if let Some(d) = &self.dir {
            tracing::debug!("create {} failed: removing its init, cgroup and state", d.id);
        }
        if let Some(pid) = self.child {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(Signal::KILL);
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some(d) = &self.dir {
            let _ = d.remove();
        }
    }
}
