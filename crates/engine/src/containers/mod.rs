//! Containers: a record in the database, a root filesystem in the layer
//! store, an OCI bundle (`<root>/container-data/<id>/config.json`), and,
//! while it runs, the in-process runtime's state under
//! `<runroot>/runtime/<id>`.
//!
//! Every step is ordered so a crash leaves something `rm` can finish: the
//! record is written first on create and deleted last on remove.

pub mod attach;
pub mod attached;
pub mod boot;
pub mod build_copy;
mod chown_volume;
mod commit;
mod control;
mod copy;
pub mod cp;
pub(crate) mod db;
mod etc_files;
mod exec;
mod external;
pub mod filesystem;
pub mod health;
mod init;
mod inspect;
pub mod isolation;
mod joins;
mod lifecycle;
mod lock;
pub mod logconfig;
pub mod logfile;
mod logread;
mod loopback;
pub mod migrate;
mod monitor;
pub mod mounts;
mod naming;
pub mod networking;
mod pause;
pub mod ports;
mod rename;
pub mod resources;
pub mod restart;
mod rootfs;
pub mod seccomp;
mod seccomp_file;
mod shm_share;
pub mod spec;
mod squash;
mod stdio;
mod teardown;
mod top;
mod usage;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub use self::commit::CommitSpec;
pub use self::cp::{CpEnd, CpOptions};
pub use self::exec::ExecSpec;
pub(crate) use self::external::is_executable;
pub use self::external::{find_runtime, OciRuntime};
pub use self::init::INIT_DEST;
pub use self::inspect::Details;
pub use self::joins::dependents_first;
pub use self::logread::LogReader;
pub use self::monitor::{launch_monitor, monitor_main, PendingMonitor};
pub use self::naming::new_id;
pub use self::rootfs::ContainerRoot;
pub use self::top::Process;
pub use self::usage::Usage;
pub use runtime::OCI_VERSION;
/// Every signal to its default action, none blocked (for a front end that
/// ends itself by a signal, whatever it inherited).
pub use sys::signal::reset_for_exec as reset_signals;
pub use sys::signal::{parse as parse_signal, Signal};

use self::db::{Db, Written};
use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

/// How long `rm -f` (and `rmi -f`) give a running container to stop on its
/// own before killing it: podman's default `--time`.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a container is in its life (podman's names for the states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded, root filesystem or bundle not made yet (or a crash in between).
    Configured,
    Created,
    Running,
    /// Running, its processes frozen (`pause`).
    Paused,
    Exited,
    /// Ready to start, its storage mounted (`init`; podman's "initialized").
    Initialized,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Configured => "configured",
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Exited => "exited",
            State::Initialized => "initialized",
        }
    }

    /// Started and not yet exited: running, or paused.
    pub fn is_live(self) -> bool {
        matches!(self, State::Running | State::Paused)
    }
}

/// One container as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image's ID (its config digest, `sha256:...`).
    pub image_id: String,
    /// The image as the user named it, normalised (`docker.io/library/x:latest`).
    pub image_name: String,
    /// What the container runs: entrypoint + command.
    pub args: Vec<String>,
    /// The entrypoint part of `args` and the command part (podman's
    /// Config.Entrypoint and Config.Cmd). Records made before they were
    /// kept have both empty.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub command: Vec<String>,
    /// The environment as create merged it (the image's, then the
    /// user's), before the defaults config.json adds (PATH, HOME,
    /// HOSTNAME, TERM): an `exec` as another user gets that user's HOME
    /// unless this sets one. `None` in records made before it was kept.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// The user the process runs as, as asked (`--user`, else the image's
    /// USER; empty for the default).
    #[serde(default)]
    pub user: String,
    /// The command line that made it (podman's Config.CreateCommand).
    #[serde(default)]
    pub create_command: Vec<String>,
    pub created: SystemTime,
    pub state: State,
    pub pid: Option<i32>,
    /// The monitor looking after it while it runs detached (podman's
    /// conmon pid); `None` for an attached run.
    #[serde(default)]
    pub monitor_pid: Option<i32>,
    pub exit_code: Option<i32>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// It gets a terminal of its own (`-t`).
    #[serde(default)]
    pub terminal: bool,
    /// Our stdin reaches it (`-i`); otherwise its stdin is /dev/null.
    #[serde(default)]
    pub interactive: bool,
    /// Removed when it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// The image's labels with the user's on top (`--label`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What its monitor does when it exits (`--restart`).
    #[serde(default)]
    pub restart: restart::RestartPolicy,
    /// How many times its monitor restarted it since it was last started.
    #[serde(default)]
    pub restart_count: u32,
    /// A user stopped it: its restart policy does not bring it back.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The kernel's OOM killer killed one of its processes in its last run.
    #[serde(default)]
    pub oom_killed: bool,
    /// Its volumes and mounts (`-v`, `--mount`, `--tmpfs`, image VOLUMEs).
    #[serde(default)]
    pub mounts: Vec<mounts::Mount>,
    /// The signal `stop` sends first (`--stop-signal`, the image's STOPSIGNAL; SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` and `rm -f` wait for it before SIGKILL (`--stop-timeout`).
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// How its output is logged (`--log-driver`, `--log-opt`).
    #[serde(default)]
    pub log: logconfig::LogConfig,
    /// Its healthcheck (`--health-*`, the image's HEALTHCHECK); `NONE`
    /// as its test when disabled.
    #[serde(default)]
    pub healthcheck: Option<health::HealthConfig>,
    /// With `--init`: the init binary bound at /run/berth-init as its PID 1.
    #[serde(default)]
    pub init_path: Option<PathBuf>,
    /// Its health's status word while it runs (`healthy`...), read from
    /// the monitor's record of it, not stored here.
    #[serde(skip)]
    pub health_status: Option<String>,
    /// Privileges, devices, groups and namespaces (`isolation.rs`).
    #[serde(default)]
    pub isolation: isolation::Isolation,
    /// The record's version in the database, for compare-and-swap updates.
    #[serde(skip)]
    pub(crate) version: i64,
    /// The external OCI runtime that runs it (`--runtime`); the in-process
    /// one without.
    #[serde(default)]
    pub oci_runtime: Option<OciRuntime>,
    /// Its exec sessions since it last started (podman's ExecIDs): an
    /// attached exec's while it runs, a detached one's until the next start.
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// What it got on its networks at its last start (`networking.rs`).
    #[serde(default)]
    pub network_status: Vec<networking::NetworkStatus>,
}

impl Container {
    /// How long `stop` waits before SIGKILL when not told: its
    /// `--stop-timeout`, else podman's 10 seconds.
    pub fn stop_timeout(&self) -> Duration {
        self.stop_timeout.map_or(DEFAULT_STOP_TIMEOUT, Duration::from_secs)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// In debug builds only, whether `var` is `1` in the environment (of the
/// `run` that started the monitor, for a monitor): how tests make berth
/// misbehave on purpose, at the places that call this.
pub(super) fn test_hook(var: &str) -> bool {
    cfg!(debug_assertions) && std::env::var_os(var).is_some_and(|v| v == "1")
}

/// What `create`/`run` were asked for, beyond the image.
#[derive(Debug, Default, Clone)]
pub struct CreateSpec {
    /// The container's id, when the caller chose it
    /// ([`monitor::PendingMonitor::new_container_id`]); else a fresh one.
    pub id: Option<String>,
    pub name: Option<String>,
    /// Replaces the image's CMD when not empty.
    pub command: Vec<String>,
    /// Replaces the image's ENTRYPOINT when set, podman's way: `[""]` runs
    /// the command alone; `[]` the command, or else the image's CMD; any
    /// other entrypoint drops the image's CMD.
    pub entrypoint: Option<Vec<String>>,
    /// Set in the container's environment over the image's (`KEY=value`;
    /// a later value of a key wins).
    pub env: Vec<String>,
    /// Added to the image's labels (a later value of a key wins).
    pub labels: Vec<(String, String)>,
    pub auto_remove: bool,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub terminal: bool,
    pub interactive: bool,
    pub restart: restart::RestartPolicy,
    pub limits: resources::Limits,
    /// `-v`, `--mount`, `--tmpfs`, in order.
    pub mounts: Vec<mounts::Mount>,
    /// /dev/shm's size in bytes (`--shm-size`); podman's default without.
    pub shm_size: Option<u64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--annotation KEY=VALUE`.
    pub annotations: Vec<(String, String)>,
    /// `--stop-signal` (a name or number); the image's STOPSIGNAL without.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds; podman's 10 without.
    pub stop_timeout: Option<u64>,
    /// The command line that asked for it, kept for inspect.
    pub create_command: Vec<String>,
    /// Run it with this OCI runtime (`--runtime`) instead of the in-process one.
    pub oci_runtime: Option<OciRuntime>,
    /// `--log-driver`, `--log-opt`.
    pub log: logconfig::LogConfig,
    /// `--health-*` (`HealthConfig::none()` for `--no-healthcheck`); the
    /// image's HEALTHCHECK without.
    pub healthcheck: Option<health::HealthConfig>,
    /// `--init`: this init binary (berth's own unless `--init-path`) runs
    /// as the container's PID 1.
    pub init_path: Option<PathBuf>,
    /// Privileges, devices, groups, namespaces, `--env-host`, `--read-only-tmpfs`.
    pub isolation: isolation::Isolation,
    /// The container starts right after (`run`): its storage, mounted to
    /// make it, stays mounted for that start, and it is left initialized
    /// (as `init` leaves a container) rather than created.
    pub starts_next: bool,
}

impl Engine {
    /// Every container record as stored (no refresh), for other stores
    /// that ask who uses what.
    pub(crate) fn container_records(&self) -> Result<Vec<Container>> {
        self.db()?.all()
    }

    /// The container database: one connection per process, opened on
    /// first use. A forked child never uses its parent's (SQLite forbids
    /// it): it opens its own, and leaves the inherited one alone.
    fn db(&self) -> Result<Rc<Db>> {
        let pid = std::process::id();
        let mut cached = self.db.borrow_mut();
        if let Some((owner, db)) = cached.as_ref() {
            if *owner == pid {
                return Ok(db.clone());
            }
        }
        if let Some((_, inherited)) = cached.take() {
            // Closing it would act on the parent's locks and files.
            std::mem::forget(inherited);
        }
        let db = Rc::new(Db::open(&self.root)?);
        *cached = Some((pid, db.clone()));
        Ok(db)
    }

    /// Open this process's database connection now, after starting a
    /// monitor and before telling it anything: the first connection to
    /// open reads the database's log back (SQLite's WAL recovery) while
    /// others wait for it, sleeping; the monitor opens its own once told,
    /// while ours is open, and needs none.
    pub fn open_db(&self) -> Result<()> {
        self.db().map(drop)
    }

    /// Close this process's database connection, before a fork: a child
    /// must not inherit an open one (SQLite's rule), whose locks it would
    /// not hold.
    fn close_db(&self) {
        self.db.borrow_mut().take();
    }

    fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.root.join("container-data").join(id)
    }

    /// The directory of the files bound over the container's /etc/hostname,
    /// /etc/hosts, /etc/resolv.conf and /run/.containerenv (`etc_files`):
    /// in the runroot, as podman keeps them (its `userdata` there). They
    /// cost a `run` no inodes on the root's disk to make and delete, and a
    /// start remakes them after a reboot emptied the runroot.
    fn userdata_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("userdata").join(id)
    }

    /// Whether container `c` is removed already, as its monitor removes a
    /// `--rm` one before it tells the exit: its data directory is gone
    /// (removal takes it before the record). A stat, where asking the
    /// database means opening it.
    pub fn is_removed(&self, c: &Container) -> bool {
        !self.bundle_dir(&c.id).exists()
    }

    /// Every container, with states brought up to date, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let db = self.db()?;
        let mut all = Vec::new();
        for c in db.all()? {
            all.extend(self.refresh(&db, c)?);
        }
        for c in &mut all {
            c.health_status = self.health_status(c);
        }
        Ok(all)
    }

    /// Find a container by full or unique short ID, or by name.
    pub fn container(&self, input: &str) -> Result<Container> {
        let all = self.containers()?;
        if let Some(c) = all.iter().find(|c| c.id == input || c.name == input) {
            return Ok(c.clone());
        }
        let hits: Vec<&Container> = all.iter().filter(|c| !input.is_empty() && c.id.starts_with(input)).collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::not_found(format!("no container with name or ID \"{input}\" found: no such container"))),
            _ => Err(Error::new(format!("more than one result for container \"{input}\": container already exists"))),
        }
    }

    /// The containers made from image `image_id`.
    pub fn containers_using(&self, image: &Image) -> Result<Vec<Container>> {
        self.db()?.using_image(&image.id.to_string())
    }

    /// Remove an image unless a container uses it; with `force`, those
    /// containers go first (podman's `rmi -f`). Returns the removed
    /// containers' IDs.
    pub fn remove_image(&self, image: &Image, force: bool) -> Result<Vec<String>> {
        // No container can be recorded from it meanwhile (see `create_container`).
        let _use = self.image_use_lock(sys::fs::LockMode::Exclusive)?;
        let users = self.containers_using(image)?;
        if let Some(c) = users.first() {
            if !force {
                return Err(Error::in_use(format!(
                    "image used by {}: image is in use by a container: consider listing external containers and force-removing image",
                    c.id
                )));
            }
        }
        self.check_unmounted(image, force)?;
        let mut removed = Vec::new();
        for c in &dependents_first(users) {
            self.remove_container(c, true, DEFAULT_STOP_TIMEOUT, false)?;
            removed.push(c.id.clone());
        }
        self.remove(image)?;
        Ok(removed)
    }

    /// A record saying "running" whose processes are gone (berth was killed
    /// while waiting, or the host rebooted) is exited: say so, under the
    /// container's lock and compare-and-swap, so this never overwrites what
    /// the container's own `run` records meanwhile. Returns the current
    /// record (`None`: removed meanwhile).
    fn refresh(&self, db: &Db, c: Container) -> Result<Option<Container>> {
        // A live monitor records the exit itself, with the exit code.
        if !c.state.is_live() || self.init_alive(&c.id) || self.monitor_alive(&c.id) {
            return Ok(Some(c));
        }
        let _lock = self.lock_container(&c.id)?;
        change(db, &c.id, |r| {
            if !r.state.is_live() || self.init_alive(&r.id) || self.monitor_alive(&r.id) {
                return false;
            }
            r.state = State::Exited;
            r.finished_at.get_or_insert_with(SystemTime::now);
            true
        })
    }

    /// Whether container `id`'s init runs (or waits to) in the runtime.
    fn init_alive(&self, id: &str) -> bool {
        match runtime::container::status(&self.runtime_root(), id) {
            Ok(status) => !matches!(status, runtime::state::Status::Stopped),
            Err(_) => self.ext_alive(id),
        }
    }
}

/// Change container `id`'s record by `decide` (given the current record; it
/// returns whether to write), compare-and-swap: if another write came
/// between reading and writing, read again and decide again. Returns the
/// record as it now is (`None`: it is gone).
fn change(db: &Db, id: &str, mut decide: impl FnMut(&mut Container) -> bool) -> Result<Option<Container>> {
    // Callers hold the container's lock, so a stale write means a writer
    // that does not take it (an older berth); it cannot go on for long.
    for _ in 0..100 {
        let Some(mut c) = db.get(id)? else { return Ok(None) };
        if !decide(&mut c) {
            return Ok(Some(c));
        }
        match db.update(&mut c)? {
            Written::Done => return Ok(Some(c)),
            Written::Stale => continue,
        }
    }
    Err(Error::new(format!("container {id}: its record keeps changing under us")))
}

/// Directories that hold containers' configs (their environment may carry
/// secrets) and runtime state are closed to other host users: 0700, since
/// nothing but root (berth and its runtime) ever walks them. (0711 will be
/// needed where a container's own root must reach its rootfs from outside,
/// i.e. with user namespaces; those mount points live in the layer store.)
const PRIVATE: u32 = 0o700;

/// Make (or, for a store made by an older version, close) the container
/// directories: `<root>/container-data` and each container's dir in it, the
/// runroot, and `<runroot>/runtime`, the runtime's state root.
pub(crate) fn private_dirs(root: &Path, runroot: &Path) -> Result<()> {
    let data = root.join("container-data");
    // Older versions made them 0755, each container's dir too: if the parent
    // was open, close what is in it before closing it.
    if fs::symlink_metadata(&data).is_ok_and(|m| m.is_dir() && m.mode() & 0o077 != 0) {
        for entry in fs::read_dir(&data).ctx(|| format!("listing {}", data.display()))?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let dir = entry.path();
                sys::fs::restrict_dir(&dir, PRIVATE).ctx(|| format!("closing {}", dir.display()))?;
            }
        }
    }
    for dir in [data, runroot.to_path_buf(), runroot.join("runtime"), runroot.join("locks")] {
        sys::fs::create_private_dir(&dir, PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Re-execute this process from a read-only copy of its binary, so a
/// container can never overwrite berth (CVE-2019-5736). Replaces the
/// process: front ends call it first thing for commands that start
/// containers, before any side effect.
pub fn protect_exe() -> Result<()> {
    runtime::exe_guard::ensure_protected_exe().map_err(Error::from)
}

/// The container's init is a fork of this process, and fork is only safe
/// single-threaded. Threads of an earlier pull may still be exiting.
fn wait_single_threaded() -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = fs::read_to_string("/proc/self/status").ctx(|| "reading /proc/self/status".into())?;
        let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")).map(str::trim);
        if threads == Some("1") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "internal error: {} threads running; cannot start a container",
                threads.unwrap_or("?")
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
