//! Containers: a record in the database, a root filesystem in the layer
//! store, an OCI bundle (`<root>/container-data/<id>/config.json`), and,
//! while it runs, the in-process runtime's state under
//! `<runroot>/runtime/<id>`.
//!
//! Every step is ordered so a crash leaves something `rm` can finish: the
//! record is written first on create and deleted last on remove.

mod db;
mod naming;
pub mod seccomp;
pub mod spec;
mod stdio;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use self::db::Db;
use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

/// Where a container is in its life (podman's names for the states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded, root filesystem or bundle not made yet (or a crash in between).
    Configured,
    Created,
    Running,
    Exited,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Configured => "configured",
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
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
    pub created: SystemTime,
    pub state: State,
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    /// It gets a terminal of its own (`-t`).
    #[serde(default)]
    pub terminal: bool,
    /// Our stdin reaches it (`-i`); otherwise its stdin is /dev/null.
    #[serde(default)]
    pub interactive: bool,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// What `create`/`run` were asked for, beyond the image.
#[derive(Debug, Default, Clone)]
pub struct CreateSpec {
    pub name: Option<String>,
    /// Replaces the image's CMD when not empty.
    pub command: Vec<String>,
    /// Replaces the image's ENTRYPOINT when set (`Some("")` clears it).
    pub entrypoint: Option<String>,
    /// Added to the image's environment (`KEY=value`).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub terminal: bool,
    pub interactive: bool,
}

impl Engine {
    fn db(&self) -> Result<Db> {
        Db::open(&self.root)
    }

    fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.root.join("container-data").join(id)
    }

    /// Make a container from `image`: record, root filesystem, bundle.
    pub fn create_container(&self, image: &Image, image_name: &str, spec: &CreateSpec) -> Result<Container> {
        let cfg = image.config.get("config").cloned().unwrap_or_default();
        let strings = |key: &str| -> Vec<String> {
            cfg.get(key)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let mut args = match &spec.entrypoint {
            Some(e) if e.is_empty() => Vec::new(),
            Some(e) => vec![e.clone()],
            None => strings("Entrypoint"),
        };
        // An explicit entrypoint drops the image's CMD, as in docker.
        if !spec.command.is_empty() {
            args.extend(spec.command.iter().cloned());
        } else if spec.entrypoint.is_none() {
            args.extend(strings("Cmd"));
        }
        if args.is_empty() {
            return Err(Error::new("no command or entrypoint provided, and no CMD or ENTRYPOINT from image"));
        }
        if let Some(n) = &spec.name {
            naming::validate(n)?;
        }
        let db = self.db()?;
        let id = naming::new_id()?;
        let mut c = Container {
            id: id.clone(),
            name: String::new(),
            image_id: image.id.to_string(),
            image_name: image_name.to_string(),
            args: args.clone(),
            created: SystemTime::now(),
            state: State::Configured,
            pid: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            terminal: spec.terminal,
            interactive: spec.interactive,
        };
        self.insert_named(&db, &mut c, spec.name.as_deref())?;
        let made = (|| {
            let rootfs = self.layers()?.create_container_fs(&id, &image.chain_ids())?;
            let mut env = strings("Env");
            env.extend(spec.env.iter().cloned());
            let workdir = cfg.get("WorkingDir").and_then(|v| v.as_str()).unwrap_or("");
            let user = cfg.get("User").and_then(|v| v.as_str()).unwrap_or("");
            let hostname = spec.hostname.clone().unwrap_or_else(|| c.short_id().to_string());
            let p = spec::ProcessSpec {
                args: &args,
                env: &env,
                cwd: spec.workdir.as_deref().unwrap_or(workdir),
                user: spec.user.as_deref().unwrap_or(user),
                hostname: &hostname,
                terminal: spec.terminal,
            };
            let config = spec::generate(&id, &rootfs, &p);
            // Mounted only while it runs.
            self.layers()?.unmount(&id)?;
            let bytes = serde_json::to_vec_pretty(&config?).ctx(|| "encoding config.json".into())?;
            let dir = self.bundle_dir(&id);
            fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
            runtime::state::write_atomic(&dir.join("config.json"), &bytes, 0o600)?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = self.remove_container(&c, true);
            return Err(e);
        }
        c.state = State::Created;
        db.update(&c)?;
        Ok(c)
    }

    /// Record `c` under `name`, or under a fresh random name (retrying the
    /// rare clash).
    fn insert_named(&self, db: &Db, c: &mut Container, name: Option<&str>) -> Result<()> {
        if let Some(n) = name {
            c.name = n.to_string();
            return db.insert(c);
        }
        let mut last = None;
        for _ in 0..16 {
            c.name = naming::random_name();
            match db.insert(c) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind == crate::ErrorKind::InUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new("could not pick a container name")))
    }

    /// Every container, with states brought up to date, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let db = self.db()?;
        let mut all = db.all()?;
        for c in &mut all {
            self.refresh(&db, c)?;
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
        let users = self.containers_using(image)?;
        if let Some(c) = users.first() {
            if !force {
                return Err(Error::in_use(format!(
                    "image used by {}: image is in use by a container: consider listing external containers and force-removing image",
                    c.id
                )));
            }
        }
        let mut removed = Vec::new();
        for c in &users {
            self.remove_container(c, true)?;
            removed.push(c.id.clone());
        }
        self.remove(image)?;
        Ok(removed)
    }

    /// A record saying "running" whose processes are gone (berth was killed
    /// while waiting, or the host rebooted) is exited; say so.
    fn refresh(&self, db: &Db, c: &mut Container) -> Result<()> {
        if c.state != State::Running {
            return Ok(());
        }
        let alive = match runtime::container::load(&self.runtime_root(), &c.id) {
            Ok((_, _, _, status)) => !matches!(status, runtime::state::Status::Stopped),
            Err(_) => false,
        };
        if !alive {
            c.state = State::Exited;
            c.finished_at.get_or_insert_with(SystemTime::now);
            db.update(c)?;
        }
        Ok(())
    }

    /// Remove a container: its processes (only with `force` if it runs),
    /// runtime state, root filesystem, bundle and, last, its record.
    pub fn remove_container(&self, c: &Container, force: bool) -> Result<()> {
        let rt = self.runtime_root();
        if c.state == State::Running {
            if !force {
                return Err(Error::in_use(format!(
                    "cannot remove container {} as it is running - running or paused containers cannot be removed without force: container state improper",
                    c.id
                )));
            }
            let _ = runtime::container::kill(&rt, &c.id, nix::sys::signal::Signal::SIGKILL, true);
        }
        self.delete_runtime_state(&c.id)?;
        match self.layers()?.remove_container_fs(&c.id) {
            Ok(()) | Err(storage::Error::ContainerNotKnown(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = self.bundle_dir(&c.id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::new(format!("removing {}: {e}", dir.display()))),
        }
        self.db()?.delete(&c.id)
    }

    /// Start container `c` and stay with it until it exits (`run` without
    /// `-d`): its output reaches our stdout and stderr, our stdin only with
    /// `-i`, signals we get go to it (see `stdio` for how). Returns its exit
    /// code (128 + signal when killed).
    ///
    /// The caller must have called [`protect_exe`] first, and must have no
    /// other threads: the container's init is a fork of this process.
    pub fn run_attached(&self, c: &mut Container) -> Result<i32> {
        use runtime::container::{self as rt, CreateOptions};
        if !matches!(c.state, State::Created | State::Exited) {
            return Err(Error::new(format!(
                "container {} is {}: only created or exited containers can start",
                c.name,
                c.state.as_str()
            )));
        }
        let root = self.runtime_root();
        // Whatever an earlier run left (it exited, or we were killed).
        self.delete_runtime_state(&c.id)?;
        wait_single_threaded()?;
        let db = self.db()?;
        let wiring = stdio::Wiring::new(c.terminal, c.interactive)?;
        // Last before the runtime: from here on `finish` unmounts.
        self.layers()?.mount(&c.id)?;
        let opts = CreateOptions {
            root: root.clone(),
            id: c.id.clone(),
            bundle: self.bundle_dir(&c.id),
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            foreground: true,
            systemd_cgroup: false,
            stdio: Some(wiring.for_container()),
        };
        let created = rt::create(&opts);
        drop(opts);
        let started = created.map_err(Error::from).and_then(|created| {
            let relays = wiring.attach()?;
            c.state = State::Running;
            c.pid = Some(created.state.pid);
            c.started_at = Some(SystemTime::now());
            c.exit_code = None;
            c.finished_at = None;
            db.update(c)?;
            rt::start(&root, &c.id)?;
            Ok((created, relays))
        });
        let code = match started {
            Ok((created, relays)) => rt::foreground::wait_relaying(
                nix::unistd::Pid::from_raw(created.state.pid),
                created.terminal,
                relays,
            ),
            Err(e) => {
                self.finish(&db, c, None);
                return Err(e);
            }
        };
        self.finish(&db, c, Some(code));
        Ok(code)
    }

    /// Kill and forget container `id` in the runtime; never having been
    /// there (created only, or already deleted) is fine.
    fn delete_runtime_state(&self, id: &str) -> Result<()> {
        match runtime::container::delete(&self.runtime_root(), id, true) {
            Ok(()) | Err(runtime::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// After the container's init exited: runtime state and mount go, the
    /// record says exited. Best effort: `rm` may already have removed it.
    fn finish(&self, db: &Db, c: &mut Container, code: Option<i32>) {
        if let Err(e) = self.delete_runtime_state(&c.id) {
            tracing::debug!("deleting runtime state of {}: {e}", c.id);
        }
        if let Ok(l) = self.layers() {
            let _ = l.unmount(&c.id);
        }
        c.state = State::Exited;
        c.exit_code = code;
        c.pid = None;
        c.finished_at = Some(SystemTime::now());
        if let Err(e) = db.update(c) {
            tracing::warn!("recording the exit of {}: {e}", c.id);
        }
    }
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
