//! The monitor: what keeps a detached container (`run -d`, `start`) company
//! after `berth` exits, as conmon does for podman.
//!
//! `berth` starts it as itself again, from a copy of its binary that cannot
//! be written ([`Engine::launch_monitor`], [`monitor_main`]); it leaves
//! berth's session, and outlives the command. `run` starts it first, so
//! that its start-up (its exec, its own connection to the database) happens
//! beside the create, and then hands it the container with the container's
//! lock (the lock's fd, over a socket pair). It then does what an attached
//! `run` does in place of berth: creates the container
//! with the in-process runtime (so the container's init is its child),
//! records it running, starts it, and tells berth over a pipe that it did
//! (or why not). From then on it copies the container's output to the log
//! file (`logfile`), waits for its init, records the exit code under the
//! container's lock, unmounts what it used and, for `--rm`, removes it.
//!
//! While it lives it holds an flock on `<runroot>/locks/<id>.monitor`: other
//! commands tell from it whether someone will record the exit, and leave a
//! running record alone while it is held. A killed monitor releases it;
//! the next command then finds the record stale and fixes it (`refresh`).

use std::ffi::OsString;
use std::io::{self, Read as _};
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{PollFd, PollFlags};

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Pid, WaitOptions};
use sys::fs::{FileLock, LockMode};

use super::attach::{self, Frame, MAX_FRAME};
use super::lock::ContainerLock;
use super::logconfig::LogDriver;
use super::logfile::{LogWriter, Stream};
use super::teardown::Ahead;
use super::{change, naming, Container, State};
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::events::{self, Status};
use crate::Engine;

/// The log file in each container's data directory (podman's name).
pub(super) const LOG_FILE: &str = "ctr.log";

impl Engine {
    /// Start container `c` in the background, under a monitor: returns once
    /// it runs (or with the reason it could not start). `c` is updated to
    /// the running record.
    ///
    /// The front end must call [`monitor_main`] first thing in its `main`.
    pub fn start_detached(&self, c: &mut Container) -> Result<()> {
        self.spawn_monitor(c, false).map(|_| ())
    }

    /// [`Engine::start_detached`], with a client attached before the
    /// container starts (nothing it writes is missed): our end of it, for
    /// [`super::attach::Client`].
    pub fn start_attached(&self, c: &mut Container) -> Result<OwnedFd> {
        self.spawn_monitor(c, true)?.ok_or_else(|| Error::new("internal error: no attach socket"))
    }

    /// [`Engine::start_detached`] by a monitor started ahead ([`Engine::launch_monitor`]).
    pub fn start_detached_by(&self, m: PendingMonitor, c: &mut Container) -> Result<()> {
        self.spawn_monitor_or(Some(m), c, false).map(|_| ())
    }

    /// [`Engine::start_attached`] by a monitor started ahead (with `attach`).
    pub(super) fn start_attached_by(&self, m: PendingMonitor, c: &mut Container) -> Result<OwnedFd> {
        self.spawn_monitor_or(Some(m), c, true)?.ok_or_else(|| Error::new("internal error: no attach socket"))
    }

    /// Start a monitor and hand it container `c`; with `attach`, connected
    /// to it by a socket pair (our end returned).
    fn spawn_monitor(&self, c: &mut Container, attach: bool) -> Result<Option<OwnedFd>> {
        self.spawn_monitor_or(None, c, attach)
    }

    /// [`Engine::spawn_monitor`], by `ahead` if given. The containers `c`
    /// joins are started first (their monitors inherit none of its fds:
    /// only those `launch_monitor` hands its own child).
    fn spawn_monitor_or(
        &self,
        ahead: Option<PendingMonitor>,
        c: &mut Container,
        attach: bool,
    ) -> Result<Option<OwnedFd>> {
        self.start_dependencies(c)?;
        let m = match ahead {
            Some(m) => m,
            None => self.launch_monitor(attach)?,
        };
        self.hand_over(m, c)
    }

    /// Start a monitor ahead of the container it is to start: while the
    /// caller makes the container (`run`), the monitor's start-up (its exec,
    /// its own opening of the database) happens beside it, on another CPU.
    /// It waits for [`Engine::hand_over`]; dropped unused, it exits. With
    /// `attach`, connected to the caller by a socket pair.
    ///
    /// The monitor is `berth-monitor` beside this binary, or this binary
    /// again (`monitor_binary`), executed from a copy that cannot be
    /// written (CVE-2019-5736: it forks the container's init), with the
    /// arguments [`monitor_main`] recognises: so the front end calling this
    /// must call that first thing.
    pub fn launch_monitor(&self, attach: bool) -> Result<PendingMonitor> {
        launch_monitor(&self.root, &self.runroot, self.driver.as_deref(), attach)
    }

    /// Give container `c` to monitor `m`, which starts it; returns once it
    /// runs (or with the reason it could not start), `c` updated to the
    /// running record. What `c` joins must run already.
    fn hand_over(&self, m: PendingMonitor, c: &mut Container) -> Result<Option<OwnedFd>> {
        let PendingMonitor { go, report, ours, pid, affinity } = m;
        let lock = self.lock_container(&c.id)?;
        *c = self.db()?.get(&c.id)?.ok_or_else(|| Error::not_found(format!("container {} was removed", c.name)))?;
        if !matches!(c.state, State::Created | State::Exited | State::Initialized) {
            return Err(Error::new(format!(
                "container {} is {}: only created or exited containers can start",
                c.name,
                c.state.as_str()
            )));
        }
        // Whatever an earlier run left (it exited, or its monitor was killed).
        self.delete_runtime_state(&c.id)?;
        // Its CPUs back, before it makes the container (which inherits them).
        if let Some(affinity) = &affinity {
            sys::process::restore_affinity(pid, affinity).ctx(|| format!("setting the CPUs of monitor {pid}"))?;
        }
        // The monitor holds the lock from now on (the same open file, passed
        // over): ours can go, the container never unlocked in between.
        let handed = send_lock(go.as_fd(), &c.id, &lock);
        drop(go);
        drop(lock);
        let mut bytes = Vec::new();
        let _ = std::fs::File::from(report).read_to_end(&mut bytes);
        // A monitor that failed before it was handed the container said why.
        if let Err(e) = handed {
            if !matches!(Report::decode(&bytes), Some(Err(_))) {
                return Err(Error::caused(format_args!("handing container {} to its monitor", c.name), e));
            }
        }
        match Report::decode(&bytes) {
            Some(Ok(())) => {
                // The running record, as the monitor wrote it: read back from
                // the database, one that exited at once may be gone (`--rm`).
                *c = Report::record(&bytes)
                    .ok_or_else(|| Error::new(format!("internal error: no record from the monitor of {}", c.name)))?;
                Ok(ours)
            }
            Some(Err(e)) => Err(e),
            None => {
                // It died before saying anything (killed): undo what it may
                // have started, as a failed start would have.
                let db = self.db()?;
                let _lock = self.lock_container(&c.id)?;
                self.finish_locked(&db, c, None, None);
                Err(Error::new(format!("the monitor of container {} died before the container started", c.name)))
            }
        }
    }

    /// Whether a monitor looks after container `id` (it holds its flock).
    pub(super) fn monitor_alive(&self, id: &str) -> bool {
        let path = self.monitor_lock_path(id);
        if !path.exists() {
            return false;
        }
        matches!(FileLock::try_acquire(&path, LockMode::Shared), Ok(None))
    }

    pub(super) fn monitor_lock_path(&self, id: &str) -> PathBuf {
        self.runroot.join("locks").join(format!("{id}.monitor"))
    }

    /// Where container `c` logs: its `path=`, else `ctr.log` in its data
    /// directory; `None` with the `none` driver.
    pub fn log_file(&self, c: &Container) -> Option<PathBuf> {
        match c.log.driver {
            LogDriver::None => None,
            _ => Some(c.log.path.clone().unwrap_or_else(|| self.bundle_dir(&c.id).join(LOG_FILE))),
        }
    }

    /// The monitor process's life; returns its exit code. `go`: where it
    /// is handed its container ([`Engine::hand_over`]).
    fn monitor(&self, go: OwnedFd, report: OwnedFd, first_client: Option<OwnedFd>) -> i32 {
        let Handed { db, lock, mut c, alive, mut ahead } = match self.monitor_setup(go) {
            Ok(Some(set)) => set,
            // Nothing handed over: berth gave up (its create failed).
            Ok(None) => return 0,
            Err(e) => {
                Report::send(&report, Err(e));
                return 1;
            }
        };
        // Made ahead: for the in-process runtime only.
        if let Some(a) = ahead.as_mut().filter(|_| c.oci_runtime.is_some()) {
            a.discard_cgroup();
        }
        let made_cgroup = ahead.as_ref().and_then(Ahead::cgroup);
        let running = self.monitor_start(&db, &mut c, &lock, &alive, Start::First { report: &report, made_cgroup });
        drop(lock);
        let mut running = match running {
            Ok(r) => {
                Report::send_started(&report, &c);
                r
            }
            Err(e) => {
                self.finish_locked(&db, &mut c, None, None);
                Report::send(&report, Err(e));
                return 1;
            }
        };
        drop(report);
        // Started: its cgroup is the runtime's, and its marker goes (held
        // while the container runs, every other monitor's
        // `finish_teardowns` would try it in vain).
        if let Some(mut a) = ahead.take() {
            a.cgroup_taken();
        }
        if first_client.is_some() {
            events::container(self.runroot(), Status::Attach, &c);
        }
        running.clients.extend(first_client);
        loop {
            let (code, started_at, clients) = running.serve(self);
            let _ = std::fs::remove_file(self.attach_dir().join(&c.id));
            // Before `finish_locked` deletes its cgroup.
            // Not for a `--rm` container: no record will say it.
            let oom = !c.auto_remove && self.container_oom_killed(&c.id);
            // Told at once, before the lock (a `rm -f` holding it tells
            // the removal after), under the name it has now.
            let named = db.get(&c.id).ok().flatten();
            let named = named.as_ref().unwrap_or(&c);
            if oom {
                events::container(self.runroot(), Status::Oom, named);
            }
            events::container_died(self.runroot(), named, code);
            // What is left of a `--rm` container, deleted once the exit is told.
            let mut discarded = None;
            let again = match self.lock_container(&c.id) {
                // No restart policy goes with `--rm`.
                Ok(lock) if c.auto_remove => {
                    events::container(self.runroot(), Status::Cleanup, &c);
                    discarded = self.discard_exited(&db, &mut c, started_at, code, lock);
                    false
                }
                Ok(_lock) => {
                    self.finish_locked(&db, &mut c, Some(started_at), Some(code));
                    // Not for a container removed meanwhile (`rm -f`).
                    if db.get(&c.id).is_ok_and(|r| r.is_some()) {
                        events::container(self.runroot(), Status::Cleanup, &c);
                    }
                    if oom {
                        match change(&db, &c.id, |r| {
                            r.oom_killed = true;
                            true
                        }) {
                            Ok(Some(r)) => c = r,
                            Ok(None) => {}
                            Err(e) => tracing::warn!("recording the OOM kill of {}: {e}", c.id),
                        }
                    }
                    c.restart.restarts(code, c.restart_count) && !c.stopped_by_user
                }
                Err(e) => {
                    tracing::warn!("recording the exit of {}: {e}", c.id);
                    false
                }
            };
            // Only now: an attached `run` returns on this, and must find the
            // exit recorded (and a `--rm` container gone).
            tell_exit(&clients, code);
            if discarded.is_some() {
                // Nobody waits for the rest (and the monitor exits after).
                if let Err(e) = sys::process::yield_cpu_to_others() {
                    tracing::debug!("lowering the monitor's priority: {e}");
                }
            }
            // What its networks left besides what went with its namespace.
            self.release_network(&c);
            drop(discarded);
            if !again {
                return 0;
            }
            match self.restart(&db, &mut c, &alive) {
                Some(r) => running = r,
                None => return 0,
            }
        }
    }

    /// The monitor's first steps: its database and layer store, then the
    /// container and its lock, handed over on `go` (`None` if none was),
    /// and its own lock ([`Engine::monitor_lock_path`]).
    fn monitor_setup(&self, go: OwnedFd) -> Result<Option<Handed>> {
        // First what berth sends once its database connection is open
        // (opened before ours, which then needs no WAL recovery: the first
        // connection does it while any other sleeps): a new container's id
        // (`run`), to make what can be made for it while berth makes it
        // (dropped, should the container never come), or the container.
        let mut handed = None;
        let mut ahead = None;
        match receive(go.as_fd()) {
            Some((id, None)) if naming::is_full_id(&id) => {
                ahead = self.make_ahead(&id);
                // For the test of `finish_teardowns`: dies as if killed
                // before it is handed the container.
                if super::test_hook("BERTH_TEST_DIE_AHEAD") {
                    sys::process::exit_immediately(137);
                }
            }
            Some(container @ (_, Some(_))) => handed = Some(container),
            _ => return Ok(None),
        }
        // While berth makes the container: its connection to the database,
        // the layer store opened, the attach sockets' directory made.
        let db = self.db()?;
        self.layers()?;
        // What killed monitors left to delete.
        self.finish_teardowns(&db);
        let dir = self.attach_dir();
        sys::fs::create_private_dir(&dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
        let (id, lock) = match handed.or_else(|| receive(go.as_fd())) {
            Some((id, Some(lock))) => (id, lock),
            _ => return Ok(None),
        };
        let ahead = ahead.filter(|a| a.id == id);
        let lock = self.adopt_container_lock(&id, lock)?;
        // As berth read it, under this same lock.
        let c = db.get(&id)?.ok_or_else(|| Error::not_found(format!("container {id} was removed")))?;
        let path = self.monitor_lock_path(&c.id);
        let alive = FileLock::exclusive(&path).ctx(|| format!("locking {}", path.display()))?;
        Ok(Some(Handed { db, lock, c, alive, ahead }))
    }

    /// Start container `c` again for its restart policy, after the backoff;
    /// `None` if it is not to be (stopped or removed meanwhile, or it
    /// failed to start: recorded as exited).
    fn restart(&self, db: &super::db::Db, c: &mut Container, alive: &FileLock) -> Option<Running> {
        std::thread::sleep(super::restart::backoff(c.restart_count));
        let lock = self.lock_container(&c.id).ok()?;
        // A user's stop or rm meanwhile wins.
        *c = db.get(&c.id).ok().flatten()?;
        if c.stopped_by_user || c.state != State::Exited {
            return None;
        }
        if let Err(e) = self.delete_runtime_state(&c.id) {
            tracing::warn!("restarting container {}: {e}", c.id);
            return None;
        }
        match self.monitor_start(db, c, &lock, alive, Start::Restart) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("restarting container {}: {e}", c.id);
                self.finish_locked(db, c, None, None);
                None
            }
        }
    }

    /// `<runroot>/attach`: the monitors' sockets.
    pub(super) fn attach_dir(&self) -> PathBuf {
        self.runroot.join("attach")
    }

    /// Create and start the container (its lock held); it then runs.
    fn monitor_start(
        &self,
        db: &super::db::Db,
        c: &mut Container,
        lock: &ContainerLock,
        alive: &FileLock,
        how: Start,
    ) -> Result<Running> {
        let (report, made_cgroup, restarting) = match how {
            Start::First { report, made_cgroup } => (Some(report), made_cgroup, false),
            Start::Restart => (None, None, true),
        };
        use runtime::container::{self as rt, CreateOptions};
        // First: whatever fails from here on, `finish_locked` drops this
        // reference. An initialized container's own (`init`'s, or `run`'s
        // create's) is handed over to it, so a start that fails leaves the
        // storage unmounted, as podman's cleanup does.
        let layers = self.layers()?;
        // Told already by `init` (or `run`'s create).
        let initialized = c.state == State::Initialized;
        let rootfs = if initialized { layers.mount_taking_over(&c.id)? } else { layers.mount(&c.id)? };
        let log = match self.log_file(c) {
            Some(path) => {
                Some(LogWriter::open(&path, &c.log).ctx(|| format!("opening the log file {}", path.display()))?)
            }
            None => None,
        };
        // The namespaces of the containers it joins, as they are now.
        self.write_namespace_paths(c)?;
        let host_network = c.isolation.network == super::isolation::NsMode::Host;
        let bundle = self.bundle_dir(&c.id);
        super::etc_files::repair(&self.userdata_dir(&c.id), &bundle, c, host_network, || {
            // As create chose it.
            let config = super::spec::read_config(&bundle)?;
            let own = config["hostname"].as_str().filter(|h| !h.is_empty()).map(String::from);
            Ok(self.container_hostname(own, c))
        })?;
        self.chown_u_mounts(c)?;
        let (stdio, outputs, keep_stdin) = container_stdio(c.terminal, c.interactive)?;
        c.isolation.check_groups(&c.id, &rootfs)?;
        let root = self.runtime_root();
        // Made by the monitor's setup; a restart finds it there still.
        let dir = self.attach_dir();
        let listener = attach::listen(&dir, &c.id).ctx(|| format!("listening on {}", dir.join(&c.id).display()))?;
        // `starting` again before anyone can see it running.
        self.reset_health(c)?;
        let shm = self.attach_joined_shm(c)?;
        // Its addresses, before the runtime binds /etc/hosts.
        let planned = self.plan_networks(c)?;
        if let Some((own, gateway)) = planned.first().and_then(|p| p.first()) {
            super::etc_files::readdress(&self.userdata_dir(&c.id), c, own, gateway)?;
        }
        self.point_resolver(c, &planned)?;
        // The in-process runtime's container, started from this value.
        let mut created = None;
        let (pid, master) = match &c.oci_runtime {
            Some(ext) => self.ext_create(c, ext, stdio)?,
            None => {
                let opts = CreateOptions {
                    root: root.clone(),
                    id: c.id.clone(),
                    bundle: self.bundle_dir(&c.id),
                    pid_file: None,
                    console_socket: None,
                    no_pivot: false,
                    no_new_keyring: false,
                    preserve_fds: 0,
                    // The runtime hands us the terminal's master instead of sending it.
                    foreground: c.terminal,
                    systemd_cgroup: false,
                    stdio: Some(Arc::new(stdio)),
                    // Ours, not the container's: held by an init that never starts, they would block every `rm` for good.
                    close_in_init: [lock.raw_fd(), alive.as_fd().as_raw_fd()]
                        .into_iter()
                        .chain(report.map(|r| r.as_raw_fd()))
                        .collect(),
                    loopback_up: true,
                    made_cgroup,
                };
                let mut made = rt::create(&opts).map_err(Error::runtime_start)?;
                let terminal = made.terminal.take();
                let pid = made.state.pid;
                created = Some(made);
                (pid, terminal)
            }
        };
        drop(shm);
        // Made in the runtime, not yet started: podman's init.
        if !initialized {
            events::container(self.runroot(), Status::Init, c);
        }
        if c.oci_runtime.is_some() {
            // Ours brings it up in its init (`loopback_up`).
            super::loopback::bring_up(pid)?;
        }
        let mut network_status = Vec::new();
        let started = (|| -> Result<_> {
            network_status = self.wire_networks(c, &planned, pid)?;
            // A CNI network's address is its plugins', known only now: the
            // hosts file (bound by path, written in place) learns it.
            if let Some(s) =
                network_status.first().filter(|_| planned.first().is_some_and(super::networking::Planned::is_cni))
            {
                if let Some((own, gateway)) = s.of_family(true).or_else(|| s.of_family(false)) {
                    super::etc_files::readdress(&self.userdata_dir(&c.id), c, own.addr(), gateway)?;
                }
            }
            let ports = self.publish(c, &network_status)?;
            self.register_names(c, &network_status)?;
            // Started, then recorded running: the record is written while
            // the container's process starts (it holds the lock meanwhile,
            // so no command sees it in between).
            match created.as_mut() {
                Some(made) => rt::start_created(made).map_err(Error::runtime_start)?,
                None => self.ext_start(&c.id)?,
            }
            Ok(ports)
        })();
        // A start that failed once wired: what its networks made outside
        // its namespace (port rules, names, CNI plugins' state, the
        // namespace's binding) goes, as at an exit; its record never
        // learnt of it.
        let ports = started.inspect_err(|_| {
            let mut wired = c.clone();
            wired.network_status = network_status.clone();
            self.release_network(&wired);
            self.unpin_netns(&c.id);
        })?;
        let started_at = SystemTime::now();
        let monitor = rustix::process::getpid().as_raw_nonzero().get();
        let mut ended = Vec::new();
        let running = change(db, &c.id, |r| {
            ended.clear();
            r.state = State::Running;
            r.pid = Some(pid);
            r.monitor_pid = Some(monitor);
            r.started_at = Some(started_at);
            r.exit_code = None;
            r.finished_at = None;
            r.network_status = network_status.clone();
            r.stopped_by_user = false;
            r.oom_killed = false;
            r.restart_count = if restarting { r.restart_count + 1 } else { 0 };
            // podman forgets the last run's exec sessions at a start.
            ended.append(&mut r.exec_ids);
            true
        })?;
        self.forget_exec_sessions(&ended);
        *c = running.ok_or_else(|| Error::new(format!("container {} vanished while starting", c.name)))?;
        events::container(self.runroot(), Status::Start, c);
        let mut outputs = outputs;
        let mut stdin = keep_stdin;
        let mut terminal = None;
        if let Some(master) = master {
            let dup = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 3).ctx(|| "duplicating the terminal".into());
            if c.interactive {
                stdin = Some(dup(&master)?);
            }
            terminal = Some(dup(&master)?);
            outputs.push((Stream::Stdout, master));
        }
        let outputs = outputs.into_iter().map(|(s, fd)| (s, Some(fd))).collect();
        let health = super::health::Schedule::new(c);
        Ok(Running {
            pid,
            started_at,
            outputs,
            stdin,
            terminal,
            log,
            listener: Some(listener),
            clients: Vec::new(),
            health,
            _ports: ports,
        })
    }
}

/// How long a container runs before its monitor gives back the memory it
/// does not need (see `Running::serve`).
const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// A started container, as its monitor sees it.
struct Running {
    pid: i32,
    started_at: SystemTime,
    /// Its stdout and stderr pipes, or its terminal's master (`None` once
    /// they ended).
    outputs: Vec<(Stream, Option<OwnedFd>)>,
    /// Where clients' input goes: its stdin pipe, or the terminal (`-i`).
    stdin: Option<OwnedFd>,
    /// Its terminal's master (`-t`), for resizing.
    terminal: Option<OwnedFd>,
    /// `None` with the `none` log driver.
    log: Option<LogWriter>,
    /// The attach socket (`<runroot>/attach/<id>`).
    listener: Option<OwnedFd>,
    clients: Vec<OwnedFd>,
    /// Its healthcheck, when it runs on an interval (`health.rs`).
    health: Option<super::health::Schedule>,
    /// Sockets bound to its published host ports: no other program takes
    /// them while it runs.
    _ports: Vec<OwnedFd>,
}

/// What a poll found ready.
#[derive(Clone, Copy)]
enum Ready {
    Output(usize),
    Listener,
    Client(usize),
    Exited,
    /// The healthcheck's checker exited.
    Checked,
}

impl Running {
    /// Log its output and serve attached clients until it exits: its exit
    /// code (128 + signal if killed), when it started, and the clients
    /// still connected (to tell them the exit once it is recorded).
    fn serve(mut self, engine: &Engine) -> (i32, SystemTime, Vec<OwnedFd>) {
        let pidfd = Pid::from_raw(self.pid)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
        let mut code = None;
        // After the exit: what it wrote last is still in the pipes. They end
        // when its last process is gone; one that escaped its pid namespace
        // could keep them open, so not for ever.
        let mut drain_until = None;
        let mut buf = vec![0u8; MAX_FRAME - 1];
        // A container that stays a while has its monitor for as long: then
        // keep only what the monitor needs (not before: a short-lived
        // container would wait for the work, and refault what it dropped).
        let mut release_at = Some(Instant::now() + RELEASE_AFTER);
        loop {
            if self.outputs.iter().all(|(_, fd)| fd.is_none()) && code.is_some() {
                break;
            }
            let mut want: Vec<(Ready, BorrowedFd)> = Vec::new();
            for (i, (_, fd)) in self.outputs.iter().enumerate() {
                if let Some(fd) = fd {
                    want.push((Ready::Output(i), fd.as_fd()));
                }
            }
            if code.is_none() {
                if let Some(l) = &self.listener {
                    want.push((Ready::Listener, l.as_fd()));
                }
                if let Some(p) = &pidfd {
                    want.push((Ready::Exited, p.as_fd()));
                }
            }
            for (i, c) in self.clients.iter().enumerate() {
                want.push((Ready::Client(i), c.as_fd()));
            }
            if let Some(fd) = self.health.as_ref().and_then(|h| h.fd()) {
                want.push((Ready::Checked, fd));
            }
            let wake = match (drain_until, release_at) {
                (Some(d), _) => Some(d),
                (None, r) => r,
            };
            // No new check once it exited.
            let wake = match self.health.as_ref().filter(|_| code.is_none()).map(|h| h.wake()) {
                Some(h) => Some(wake.map_or(h, |w| w.min(h))),
                None => wake,
            };
            let timeout = wake.map(|d: Instant| {
                let left = d.saturating_duration_since(Instant::now());
                rustix::event::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) }
            });
            let mut fds: Vec<PollFd> = want.iter().map(|(_, fd)| PollFd::new(fd, PollFlags::IN)).collect();
            let n = match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            };
            let ready: Vec<Ready> =
                want.iter().zip(&fds).filter(|(_, f)| !f.revents().is_empty()).map(|((r, _), _)| *r).collect();
            drop(fds);
            drop(want);
            let now = Instant::now();
            if n == 0 && drain_until.is_some_and(|d| now >= d) {
                break; // drained long enough
            }
            if release_at.is_some_and(|r| now >= r) {
                release_at = None;
                if let Err(e) = sys::memory::release_unused() {
                    tracing::debug!("releasing the monitor's unused memory: {e}");
                }
            }
            // A check due (or a checker overdue): the poll's timeout was its.
            if let Some(h) = self.health.as_mut().filter(|_| code.is_none()) {
                h.tick(engine);
            }
            let mut gone_clients = Vec::new();
            for r in ready {
                match r {
                    Ready::Output(i) => self.relay_output(i, &mut buf, &mut gone_clients),
                    Ready::Listener => self.accept(),
                    Ready::Client(i) => {
                        if !self.take_input(i) {
                            gone_clients.push(i);
                        }
                    }
                    Ready::Exited => {
                        code = Some(wait_exit(self.pid));
                        drain_until = Some(Instant::now() + Duration::from_secs(2));
                    }
                    Ready::Checked => {
                        if let Some(h) = &mut self.health {
                            h.reap();
                        }
                    }
                }
            }
            gone_clients.sort_unstable();
            gone_clients.dedup();
            for i in gone_clients.into_iter().rev() {
                self.clients.remove(i);
            }
            if pidfd.is_none() && code.is_none() && self.outputs.iter().all(|(_, fd)| fd.is_none()) {
                // No pidfd (a kernel before 5.3): its outputs ended, so wait.
                code = Some(wait_exit(self.pid));
            }
        }
        let code = code.unwrap_or_else(|| wait_exit(self.pid));
        if let Some(h) = &mut self.health {
            h.stop();
        }
        (code, self.started_at, self.clients)
    }

    /// Read what output `i` has: log it and pass it to every client (one
    /// that cannot take it is dropped).
    fn relay_output(&mut self, i: usize, buf: &mut [u8], gone: &mut Vec<usize>) {
        let (stream, fd) = &mut self.outputs[i];
        let Some(f) = fd else { return };
        let n = match rustix::io::read(&*f, &mut *buf) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => return,
            // EIO: a terminal whose other side is closed.
            Err(_) => 0,
        };
        if n == 0 {
            *fd = None;
            return;
        }
        let data = &buf[..n];
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(*stream, data) {
                tracing::debug!("writing the container's log: {e}");
            }
        }
        let frame = Frame::Output(*stream, data.to_vec());
        for (j, client) in self.clients.iter().enumerate() {
            if attach::send(client.as_fd(), &frame).is_err() {
                gone.push(j);
            }
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        if let Ok(client) = rustix::net::accept_with(l, rustix::net::SocketFlags::CLOEXEC) {
            // A client that stops reading must not stop the container's
            // output (it would fill the pipes): it is dropped instead.
            let _ = rustix::net::sockopt::set_socket_timeout(
                &client,
                rustix::net::sockopt::Timeout::Send,
                Some(Duration::from_secs(5)),
            );
            self.clients.push(client);
        }
    }

    /// A frame from client `i`; false once it is gone.
    fn take_input(&mut self, i: usize) -> bool {
        match attach::recv(self.clients[i].as_fd()) {
            Ok(Some(Frame::Stdin(data))) => {
                if let Some(stdin) = &self.stdin {
                    if write_all(stdin.as_fd(), &data).is_err() {
                        self.stdin = None;
                    }
                }
                true
            }
            Ok(Some(Frame::StdinEnd)) => {
                // The end of a pipe; a terminal has no end of input (^D is
                // the user's to type).
                if self.terminal.is_none() {
                    self.stdin = None;
                }
                true
            }
            Ok(Some(Frame::Resize(rows, cols))) => {
                if let Some(t) = &self.terminal {
                    let _ = runtime::tty::set_size(t.as_fd(), rows, cols);
                }
                true
            }
            Ok(Some(_)) => true,
            Ok(None) | Err(_) => false,
        }
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Tell attached clients the exit code, and let them close first: closing a
/// unix socket with input unread resets the connection, and a client could
/// then lose the exit frame before reading it (its last input may still be
/// on the way).
fn tell_exit(clients: &[OwnedFd], code: i32) {
    for client in clients {
        let _ = attach::send(client.as_fd(), &Frame::Exit(code));
        let _ = rustix::net::shutdown(client, rustix::net::Shutdown::Write);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for client in clients {
        let _ = rustix::net::sockopt::set_socket_timeout(
            client,
            rustix::net::sockopt::Timeout::Recv,
            Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))),
        );
        while let Ok(Some(_)) = attach::recv(client.as_fd()) {}
    }
}

/// Wait for our child `pid` to exit: its exit code, or 128 + the signal
/// that killed it.
pub(super) fn wait_exit(pid: i32) -> i32 {
    let Some(pid) = Pid::from_raw(pid) else { return 127 };
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return code;
                }
                if let Some(sig) = st.terminating_signal() {
                    return 128 + sig;
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            // Not our child any more (cannot happen) or gone: unknown.
            _ => return 255,
        }
    }
}

/// The container's fds 0-2 (given to the runtime), our ends of its output
/// pipes, and with `-i` the write end of its stdin pipe. As podman wires them:
///
/// | flags  | container's 0 / 1 / 2        | the monitor                                |
/// |--------|------------------------------|--------------------------------------------|
/// | (none) | /dev/null / pipe / pipe      | logs the pipes, passes them to clients     |
/// | `-i`   | pipe / pipe / pipe           | also feeds clients' input into its stdin   |
/// | `-t`   | its own pty (runtime-made)   | logs the pty's output as stdout            |
/// | `-it`  | its own pty                  | also feeds clients' input into the pty     |
///
/// The container never holds an fd of the user's: given the caller's
/// terminal it could change its modes (`stty -echo` in the user's shell) or
/// read what was piped to berth without `-i`.
#[allow(clippy::type_complexity)]
fn container_stdio(
    terminal: bool,
    interactive: bool,
) -> Result<(runtime::container::Stdio, Vec<(Stream, OwnedFd)>, Option<OwnedFd>)> {
    let null = || dev_null().ctx(|| "opening /dev/null".into());
    let pipe = |what: &str| pipe_with(PipeFlags::CLOEXEC).ctx(|| format!("creating the container's {what} pipe"));
    if terminal {
        // The runtime puts the terminal on 0-2 before the process runs.
        let stdio = runtime::container::Stdio { stdin: null()?, stdout: null()?, stderr: null()? };
        return Ok((stdio, Vec::new(), None));
    }
    let (out_r, out_w) = pipe("stdout")?;
    let (err_r, err_w) = pipe("stderr")?;
    let (stdin, keep) = if interactive {
        let (r, w) = pipe("stdin")?;
        (r, Some(w))
    } else {
        (null()?, None)
    };
    let stdio = runtime::container::Stdio { stdin, stdout: out_w, stderr: err_w };
    Ok((stdio, vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)], keep))
}

pub(super) fn dev_null() -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

pub(super) fn stdio_to_null() -> io::Result<()> {
    let null = rustix::fs::open("/dev/null", rustix::fs::OFlags::RDWR, rustix::fs::Mode::empty())?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// The word after `berth` that makes it a monitor ([`monitor_main`]).
const MONITOR_WORD: &str = "container-monitor";

/// [`Engine::launch_monitor`] for the engine at `root`, `runroot` and
/// `driver` (as [`Engine::open`] takes them), before it is opened: `run`
/// launches its monitor first thing, so that the monitor's start-up overlaps
/// all of berth's.
pub fn launch_monitor(root: &Path, runroot: &Path, driver: Option<&str>, attach: bool) -> Result<PendingMonitor> {
    // As `Engine::open` makes them: the monitor's engine takes them as they are.
    let root = std::path::absolute(root).ctx(|| format!("resolving {}", root.display()))?;
    let runroot = std::path::absolute(runroot).ctx(|| format!("resolving {}", runroot.display()))?;
    let (ours, first_client) = if attach {
        let (ours, theirs) = super::attach::pair().ctx(|| "creating the attach socket pair".into())?;
        (Some(ours), Some(theirs))
    } else {
        (None, None)
    };
    let (report_r, report_w) = pipe_with(PipeFlags::CLOEXEC).ctx(|| "creating the monitor's pipe".into())?;
    // Messages: an id ahead (`new_container_id`), then the hand-over.
    let (go, theirs) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .ctx(|| "creating the monitor's socket pair".into())?;
    let exe = monitor_binary()?;
    let mut cmd = std::process::Command::new(format!("/proc/self/fd/{}", exe.file.as_raw_fd()));
    cmd.arg0("berth").arg(MONITOR_WORD).arg("--root").arg(&root).arg("--runroot").arg(&runroot);
    if let Some(driver) = driver {
        cmd.arg("--storage-driver").arg(driver);
    }
    // The detached mount it is executed from goes with it: the last close
    // of that dissolves the mount, which waits for an RCU grace period that
    // berth's `run` need not wait for (the monitor closes it last).
    let theirs_fds = [Some(&theirs), Some(&report_w), first_client.as_ref(), exe.mount.as_ref()];
    for fd in theirs_fds.iter().map(|fd| fd.map_or(-1, |fd| fd.as_raw_fd())) {
        cmd.arg(fd.to_string());
    }
    // Never the user's terminal or pipes: whoever ran berth may wait for
    // them to close (`x=$(berth run -d ...)`).
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // Where the name server of networks is, should a container need it
    // (`networking::start_dns`): beside berth.
    if let Some(dns) = beside_berth(super::networking::DNS_BINARY) {
        cmd.env(super::networking::DNS_VAR, dns);
    }
    // Inherited by this one child: created close-on-exec, open across
    // its exec only. Under a lock: another thread launching a monitor
    // meanwhile (`build --jobs`) would hand its monitor these fds too, and
    // this container's report pipe would then stay open until that
    // monitor exits (a stage's RUN waited ~2 s for the other stage's
    // monitor). Closed before the lock goes.
    let spawning = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
    for fd in theirs_fds.into_iter().flatten() {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).ctx(|| "passing fds to the monitor".into())?;
    }
    // A vfork and an exec (posix_spawn), whatever this process's size
    // or threads; the monitor leaves berth's session itself. Never
    // waited for: it outlives berth, then init reaps it.
    let spawned = cmd.spawn();
    drop((theirs, report_w, first_client, exe));
    drop(spawning);
    let pid = spawned.ctx(|| "starting the container's monitor".into())?.id() as i32;
    // On another CPU: its exec overlaps our create only if it runs now.
    let affinity = sys::process::start_beside(pid);
    Ok(PendingMonitor { go, report: report_r, ours, pid, affinity })
}

/// Held while fds meant for one monitor are open across exec
/// ([`launch_monitor`]).
static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Helper binary `name` beside this berth, if it is there.
fn beside_berth(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(name)).filter(|p| p.is_file())
}

/// The binary of berth's that runs monitors alone (`monitor_main`),
/// installed beside berth.
const MONITOR_BINARY: &str = "berth-monitor";

/// What a monitor is executed from, as a copy that cannot be written:
/// [`MONITOR_BINARY`] beside this binary, half berth's size (so half the
/// relocations and page faults on every start), else this binary, whose
/// front end recognises the monitor's command line too.
fn monitor_binary() -> Result<runtime::exe_guard::Protected> {
    match beside_berth(MONITOR_BINARY) {
        Some(p) => runtime::exe_guard::protected_binary(&p).map_err(Error::from),
        None => {
            tracing::debug!("no {MONITOR_BINARY} beside berth: monitors run from berth itself");
            runtime::exe_guard::protected_exe().map_err(Error::from)
        }
    }
}

/// The monitor process's `main`, when `args` (the whole argv) are those
/// [`Engine::launch_monitor`] gives it: its exit code. `None` for any other
/// command line. Front ends that start containers call this first thing.
pub fn monitor_main(args: &[OsString]) -> Option<i32> {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    if words.next()? != Some(MONITOR_WORD) {
        return None;
    }
    let words: Vec<&str> = words.collect::<Option<_>>()?;
    let (root, runroot, driver, fds) = match words.as_slice() {
        ["--root", root, "--runroot", runroot, "--storage-driver", driver, fds @ ..] => {
            (root, runroot, Some(*driver), fds)
        }
        ["--root", root, "--runroot", runroot, fds @ ..] => (root, runroot, None, fds),
        _ => return None,
    };
    let [go, report, client, mount] = fds else { return None };
    // Those fds are ours (inherited, see `launch_monitor`; -1 for none):
    // close-on-exec again, never the container's.
    let fd = |word: &str| -> Option<Option<OwnedFd>> {
        let n: i32 = word.parse().ok()?;
        if n < 3 {
            return (n == -1).then_some(None);
        }
        // SAFETY: only borrowed to check it is open (fcntl fails otherwise).
        let fd = unsafe { BorrowedFd::borrow_raw(n) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).ok()?;
        // SAFETY: open (checked above), and nothing else in this process,
        // executed a moment ago, owns it.
        Some(Some(unsafe { OwnedFd::from_raw_fd(n) }))
    };
    let (Some(Some(go)), Some(Some(report)), Some(client), Some(mount)) = (fd(go), fd(report), fd(client), fd(mount))
    else {
        return None;
    };
    // A session of its own: no terminal, and no signal aimed at the user's
    // shell job reaches it.
    let _ = rustix::process::setsid();
    // Executed as /proc/self/fd/N, it would be called "N" in `ps`.
    let _ = rustix::thread::set_name(c"berth");
    // Absolute paths, of an engine berth opened (`launch_monitor`).
    let engine = Engine::open_for_monitor(Path::new(root), Path::new(runroot), driver);
    let code = engine.monitor(go, report, client);
    // Its binary's mount, dissolved only now (see `launch_monitor`).
    drop(mount);
    Some(code)
}

/// A monitor started ahead of its container ([`Engine::launch_monitor`]).
pub struct PendingMonitor {
    /// Where it is handed the container.
    go: OwnedFd,
    report: OwnedFd,
    /// Our end of the attach socket pair, if any.
    ours: Option<OwnedFd>,
    pid: i32,
    /// The CPUs it may use, taken from it while it starts (`start_beside`).
    affinity: Option<rustix::thread::CpuSet>,
}

impl PendingMonitor {
    /// A fresh id for the container this monitor is to start, which it is
    /// told: it makes what it can for it (its cgroup, see [`Ahead`]) while
    /// the caller makes the container with this id.
    pub fn new_container_id(&self) -> Result<String> {
        let id = naming::new_id()?;
        sys::fdpass::send(self.go.as_fd(), id.as_bytes(), None)
            .ctx(|| "telling the monitor the container's id".into())?;
        Ok(id)
    }
}

/// Which start of its container a monitor makes ([`Engine::monitor_start`]).
enum Start<'a> {
    /// The first: berth waits for `report`; `made_cgroup` was made ahead
    /// ([`Ahead`]).
    First { report: &'a OwnedFd, made_cgroup: Option<(String, runtime::cgroups::Manager)> },
    /// One for its restart policy.
    Restart,
}

/// What a monitor starts from ([`Engine::monitor_setup`]).
struct Handed {
    db: std::rc::Rc<super::db::Db>,
    /// The container's lock, as berth handed it over.
    lock: ContainerLock,
    c: Container,
    /// Its own lock: held while it lives.
    alive: FileLock,
    /// What it made for a new container while berth made it.
    ahead: Option<Ahead>,
}

/// Send container `id`'s lock (its fd: the same open file, so the same
/// flock) with the id.
fn send_lock(sock: BorrowedFd, id: &str, lock: &ContainerLock) -> io::Result<()> {
    if sys::fdpass::send(sock, id.as_bytes(), Some(lock.as_fd()))? != id.len() {
        return Err(io::Error::other("short write"));
    }
    Ok(())
}

/// The next message on a monitor's `go` socket: an id with the lock
/// ([`send_lock`]) or alone ([`PendingMonitor::new_container_id`]); `None`
/// if the other end closed unused.
fn receive(sock: BorrowedFd) -> Option<(String, Option<OwnedFd>)> {
    // An id is 64 hex digits, sent in one message.
    let mut buf = [0u8; 128];
    let (n, fd) = sys::fdpass::recv(sock, &mut buf).ok()?;
    let id = std::str::from_utf8(buf.get(..n)?).ok()?.to_string();
    (n > 0).then_some((id, fd))
}

/// What the monitor (or an exec's keeper) tells `berth` once the container
/// (the process) started, or failed to: empty if it died first. `O` for started; otherwise the error's kind
/// as a letter and its message.
pub(super) struct Report;

impl Report {
    /// Success, with the running record (`record` reads it back).
    fn send_started(to: &OwnedFd, c: &Container) {
        Self::write(to, format!("O{}", serde_json::to_string(c).unwrap_or_default()).as_bytes());
    }

    pub(super) fn send(to: &OwnedFd, what: Result<()>) {
        let text = match what {
            Ok(()) => "O".to_string(),
            Err(e) => {
                let kind = match e.kind {
                    ErrorKind::NotFound => 'N',
                    ErrorKind::InUse => 'U',
                    ErrorKind::CommandNotFound => 'C',
                    ErrorKind::CommandCannotRun => 'X',
                    ErrorKind::Other => 'E',
                };
                format!("{kind}{}", e.msg)
            }
        };
        Self::write(to, text.as_bytes());
    }

    /// Whoever waits for it may be gone: nothing to do then.
    fn write(to: &OwnedFd, bytes: &[u8]) {
        let _ = write_all(to.as_fd(), bytes);
    }

    /// The record a success carries ([`Report::send_started`]).
    fn record(bytes: &[u8]) -> Option<Container> {
        serde_json::from_slice(bytes.strip_prefix(b"O")?).ok()
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Result<()>> {
        let text = String::from_utf8_lossy(bytes);
        let mut chars = text.chars();
        let kind = match chars.next()? {
            'O' => return Some(Ok(())),
            'N' => ErrorKind::NotFound,
            'U' => ErrorKind::InUse,
            'C' => ErrorKind::CommandNotFound,
            'X' => ErrorKind::CommandCannotRun,
            _ => ErrorKind::Other,
        };
        let mut e = Error::new(chars.as_str().to_string());
        e.kind = kind;
        Some(Err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// Only the exact command line `launch_monitor` gives makes a monitor:
    /// any other is berth's to parse, and stdio or unopened fds are refused.
    #[test]
    fn only_launch_monitors_command_line_is_a_monitor() {
        for words in [
            &["berth", "ps"][..],
            &["berth", "container-monitor"],
            &["berth", "container-monitor", "--root", "/r", "--runroot", "/rr", "3", "4", "-1"],
            &["berth", "--root", "/r", "container-monitor", "--runroot", "/rr", "3", "4", "-1", "-1"],
            &["berth", "container-monitor", "--root", "/r", "--runroot", "/rr", "1", "2", "-1", "-1"],
            &["berth", "container-monitor", "--root", "/r", "--runroot", "/rr", "1000000", "1000001", "-1", "-1"],
            &["berth", "container-monitor", "--root", "/r", "--runroot", "/rr", "x", "y", "-1", "-1"],
        ] {
            assert_eq!(monitor_main(&args(words)), None, "{words:?}");
        }
    }
}
