//! A container's life: create, run in the foreground, record the exit,
//! remove. Each transition holds the container's lock (`lock.rs`) and
//! reloads the record under it before deciding anything, and writes it
//! compare-and-swap (`db.rs`).
//!
//! Every step is ordered so a crash leaves something `rm` can finish: the
//! record is written first on create and deleted last on remove.

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use sys::fs::Durability;

use super::db::Db;
use super::lock::ContainerLock;
use super::{change, naming, spec, stdio, wait_single_threaded, Container, CreateSpec, State};
use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

impl Engine {
    /// Make a container from `image`: record, root filesystem, bundle.
    pub fn create_container(&self, image: &Image, image_name: &str, spec: &CreateSpec) -> Result<Container> {
        let cfg = image.config.get("config").cloned().unwrap_or_default();
        let strings = |key: &str| -> Vec<String> {
            cfg.get(key)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let (entrypoint, command) = command_line(spec, &strings("Entrypoint"), &strings("Cmd"))?;
        let args: Vec<String> = entrypoint.iter().chain(&command).cloned().collect();
        let env = merge_env(&strings("Env"), &spec.env);
        let image_user = cfg.get("User").and_then(|v| v.as_str()).unwrap_or("");
        let user = spec.user.clone().unwrap_or_else(|| image_user.to_string());
        if let Some(n) = &spec.name {
            naming::validate(n)?;
        }
        // Before anything is recorded: a store that cannot be opened (its
        // driver differs) then leaves nothing to clean up.
        let layers = self.layers()?;
        let db = self.db()?;
        let id = naming::new_id()?;
        // Until the record exists, `rmi` must not find the image unused and
        // remove it (it holds this lock exclusively); taken before the
        // container's lock, as `rmi -f` takes them.
        let image_use = self.image_use_lock(sys::fs::LockMode::Shared)?;
        if !self.image_recorded(&image.id)? {
            return Err(Error::not_found(format!("{}: image not known", image.id)));
        }
        // Held until the container is whole: an `rm` that finds the record
        // meanwhile waits for it.
        let lock = self.lock_container(&id)?;
        let mut c = Container {
            id: id.clone(),
            name: String::new(),
            image_id: image.id.to_string(),
            image_name: image_name.to_string(),
            args: args.clone(),
            entrypoint,
            command,
            env: Some(env.clone()),
            user: user.clone(),
            create_command: spec.create_command.clone(),
            created: SystemTime::now(),
            state: State::Configured,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            terminal: spec.terminal,
            interactive: spec.interactive,
            auto_remove: spec.auto_remove,
            labels: image
                .labels()
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .chain(spec.labels.iter().cloned())
                .collect(),
            version: 0,
        };
        if let Err(e) = self.insert_named(&db, &mut c, spec.name.as_deref()) {
            lock.remove();
            return Err(e);
        }
        // Recorded: from now on `rmi` sees the container.
        drop(image_use);
        let made = (|| {
            let rootfs = layers.create_container_fs(&id, &image.chain_ids())?;
            let workdir = cfg.get("WorkingDir").and_then(|v| v.as_str()).unwrap_or("");
            let hostname = spec.hostname.clone().unwrap_or_else(|| c.short_id().to_string());
            let p = spec::ProcessSpec {
                args: &args,
                env: &env,
                cwd: spec.workdir.as_deref().unwrap_or(workdir),
                user: &user,
                hostname: &hostname,
                terminal: spec.terminal,
            };
            let config = spec::generate(&id, &rootfs, &p);
            // Mounted only while it runs.
            layers.unmount(&id)?;
            let bytes = serde_json::to_vec_pretty(&config?).ctx(|| "encoding config.json".into())?;
            let dir = self.bundle_dir(&id);
            sys::fs::create_private_dir(&dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
            let config = dir.join("config.json");
            sys::fs::write_atomic(&config, &bytes, 0o600, Durability::Durable)
                .ctx(|| format!("writing {}", config.display()))?;
            Ok(())
        })();
        if let Err(e) = made {
            if let Err(e) = self.remove_locked(&db, &c, Removal { force: true, stop_timeout: Duration::ZERO }, lock) {
                tracing::warn!("removing the half-made container {id}: {e}");
            }
            return Err(e);
        }
        let done = change(&db, &id, |r| {
            let configured = r.state == State::Configured;
            r.state = State::Created;
            configured
        })?;
        match done {
            Some(c) if c.state == State::Created => Ok(c),
            _ => Err(Error::new(format!("container {id} changed while it was being created"))),
        }
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

    /// Remove a container: its processes (only with `force` if it runs),
    /// runtime state, root filesystem, bundle and, last, its record. `c` may
    /// be stale: what counts is the record found under the lock.
    ///
    /// A running container is stopped as `podman rm -f` does: SIGTERM, then
    /// SIGKILL if it still runs after `stop_timeout` (at once for zero).
    pub fn remove_container(&self, c: &Container, force: bool, stop_timeout: Duration) -> Result<()> {
        let lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        match db.get(&c.id)? {
            Some(current) => self.remove_locked(&db, &current, Removal { force, stop_timeout }, lock),
            None => {
                lock.remove();
                Err(Error::not_found(format!("no container with name or ID \"{}\" found: no such container", c.name)))
            }
        }
    }

    pub(super) fn remove_locked(&self, db: &Db, c: &Container, how: Removal, lock: ContainerLock) -> Result<()> {
        if c.state.is_live() && self.init_alive(&c.id) {
            if !how.force {
                return Err(Error::in_use(format!(
                    "cannot remove container {} as it is {} - running or paused containers cannot be removed without force: container state improper",
                    c.id,
                    c.state.as_str()
                )));
            }
            self.stop(c, how.stop_timeout);
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
            Err(e) => return Err(Error::caused(format_args!("removing {}", dir.display()), e)),
        }
        db.delete(&c.id)?;
        // A monitor may still hold it (it is about to find the record gone).
        let _ = fs::remove_file(self.monitor_lock_path(&c.id));
        lock.remove();
        Ok(())
    }

    /// Stop running container `c` (its lock held) as podman does: its stop
    /// signal to the init, then, if that has not ended it within `timeout`,
    /// SIGKILL to every process in its cgroup. A paused container is thawed
    /// once signalled (docker's order: it never runs unsignalled), since a
    /// frozen process acts on no signal.
    pub(super) fn stop(&self, c: &Container, timeout: Duration) {
        use sys::signal::Signal;
        let rt = self.runtime_root();
        if !timeout.is_zero() {
            if let Err(e) = runtime::container::kill(&rt, &c.id, Signal::TERM, false) {
                tracing::debug!("SIGTERM to {}: {e}", c.id);
            }
            self.thaw_locked(&c.id);
            let deadline = Instant::now() + timeout;
            while self.init_alive(&c.id) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !self.init_alive(&c.id) {
                return;
            }
            // podman's words.
            tracing::warn!(
                "StopSignal SIGTERM failed to stop container {} in {} seconds, resorting to SIGKILL",
                c.name,
                timeout.as_secs()
            );
        }
        // Thaws a frozen cgroup too.
        if let Err(e) = runtime::container::kill(&rt, &c.id, Signal::KILL, true) {
            tracing::debug!("SIGKILL to {}: {e}", c.id);
        }
        self.thaw_locked(&c.id);
    }

    /// Start container `c` and stay with it until it exits (`run` without
    /// `-d`): its output reaches our stdout and stderr, our stdin only with
    /// `-i`, signals we get go to it (see `stdio` for how). Returns its exit
    /// code (128 + signal when killed).
    ///
    /// The lock is held while it starts and again to record its exit, not
    /// while it runs: `ps` and `rm -f` act on it meanwhile.
    ///
    /// The caller must have called [`super::protect_exe`] first, and must
    /// have no other threads: the container's init is a fork of this process.
    pub fn run_attached(&self, c: &mut Container) -> Result<i32> {
        use runtime::container::{self as rt, CreateOptions};
        let db = self.db()?;
        let lock = self.lock_container(&c.id)?;
        *c = db.get(&c.id)?.ok_or_else(|| Error::not_found(format!("container {} was removed", c.name)))?;
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
        let wiring = stdio::Wiring::new(c.terminal, c.interactive)?;
        // Last before the runtime: from here on `finish_locked` unmounts.
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
            // Ours, not the container's: held by an init that never starts
            // (we die before `start`), it would block every `rm` for good.
            close_in_init: vec![lock.raw_fd()],
        };
        let created = rt::create(&opts);
        drop(opts);
        // This run, as the record will know it: `finish` records the exit
        // only while the record is still about this run.
        let started_at = SystemTime::now();
        let started = created.map_err(Error::from).and_then(|created| {
            let relays = wiring.attach()?;
            let pid = created.state.pid;
            let running = change(&db, &c.id, |r| {
                r.state = State::Running;
                r.pid = Some(pid);
                r.monitor_pid = None;
                r.started_at = Some(started_at);
                r.exit_code = None;
                r.finished_at = None;
                true
            })?;
            *c = running.ok_or_else(|| Error::new(format!("container {} vanished while starting", c.name)))?;
            rt::start(&root, &c.id)?;
            Ok((created, relays))
        });
        let (created, relays) = match started {
            Ok(s) => s,
            Err(e) => {
                self.finish_locked(&db, c, None, None);
                return Err(e);
            }
        };
        drop(lock);
        let code = rt::foreground::wait_relaying(created.state.pid, created.terminal, relays);
        match self.lock_container(&c.id) {
            Ok(_lock) => self.finish_locked(&db, c, Some(started_at), Some(code)),
            Err(e) => tracing::warn!("recording the exit of {}: {e}", c.id),
        }
        Ok(code)
    }

    /// Kill and forget container `id` in the runtime; never having been
    /// there (created only, or already deleted) is fine.
    pub(super) fn delete_runtime_state(&self, id: &str) -> Result<()> {
        match runtime::container::delete(&self.runtime_root(), id, true) {
            Ok(()) | Err(runtime::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// After the container's init exited (the lock held): runtime state and
    /// mount go, the record says exited with `code`. Only if the record is
    /// still about the run that started at `run` (`None`: the one starting
    /// now, which failed): `rm -f` may have removed it meanwhile. Best
    /// effort: the exit code is the caller's either way.
    pub(super) fn finish_locked(&self, db: &Db, c: &mut Container, run: Option<SystemTime>, code: Option<i32>) {
        let ours = |r: &Container| run.is_none() || r.started_at == run;
        match db.get(&c.id) {
            Ok(Some(r)) if ours(&r) => {}
            Ok(_) => return,
            Err(e) => tracing::warn!("reading the record of {}: {e}", c.id),
        }
        if let Err(e) = self.delete_runtime_state(&c.id) {
            tracing::debug!("deleting runtime state of {}: {e}", c.id);
        }
        if let Ok(l) = self.layers() {
            let _ = l.unmount(&c.id);
        }
        let recorded = change(db, &c.id, |r| {
            if !ours(r) {
                return false;
            }
            r.state = State::Exited;
            r.exit_code = code;
            r.pid = None;
            r.monitor_pid = None;
            r.finished_at = Some(SystemTime::now());
            true
        });
        match recorded {
            Ok(Some(r)) => *c = r,
            Ok(None) => {}
            Err(e) => tracing::warn!("recording the exit of {}: {e}", c.id),
        }
    }
}

/// What `rm` does with a running container.
#[derive(Debug, Clone, Copy)]
pub(super) struct Removal {
    force: bool,
    stop_timeout: Duration,
}

impl Removal {
    /// Whatever its state, at once (`--rm` after the exit).
    pub(super) const NOW: Removal = Removal { force: true, stop_timeout: Duration::ZERO };
}

/// What the container runs, as podman's `makeCommand` decides it from the
/// user's entrypoint and command and the image's: (entrypoint, command),
/// run one after the other.
fn command_line(
    spec: &CreateSpec,
    image_entrypoint: &[String],
    image_cmd: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let entrypoint = spec.entrypoint.as_deref().unwrap_or(image_entrypoint);
    let entrypoint: Vec<String> = if entrypoint == [""] { Vec::new() } else { entrypoint.to_vec() };
    // The image's CMD only when the user set no entrypoint, or an empty one.
    let command = if !spec.command.is_empty() {
        spec.command.clone()
    } else if spec.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        image_cmd.to_vec()
    } else {
        Vec::new()
    };
    if entrypoint.is_empty() && command.is_empty() {
        return Err(Error::new("no command or entrypoint provided, and no CMD or ENTRYPOINT from image"));
    }
    Ok((entrypoint, command))
}

/// The image's environment with the user's on top: one entry per key, in
/// first-seen order, the last value given winning.
pub(super) fn merge_env(image: &[String], user: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in image.iter().chain(user) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out.iter_mut().find(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key) {
            Some(slot) => slot.clone_from(e),
            None => out.push(e.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_command_as_podman() {
        let (ep, cmd) = (strings(&["/init"]), strings(&["sh"]));
        let run = |entrypoint: Option<&[&str]>, command: &[&str]| {
            let spec =
                CreateSpec { entrypoint: entrypoint.map(strings), command: strings(command), ..Default::default() };
            command_line(&spec, &ep, &cmd).map(|(e, c)| [e, c].concat()).map_err(|e| e.to_string())
        };
        assert_eq!(run(None, &[]), Ok(strings(&["/init", "sh"])));
        assert_eq!(run(None, &["ls"]), Ok(strings(&["/init", "ls"])));
        assert_eq!(run(Some(&["/bin/echo", "a"]), &["b"]), Ok(strings(&["/bin/echo", "a", "b"])));
        // An entrypoint drops the image's CMD...
        assert_eq!(run(Some(&["/bin/echo"]), &[]), Ok(strings(&["/bin/echo"])));
        // ... `--entrypoint ''` too, leaving nothing to run...
        assert_eq!(run(Some(&[""]), &["echo", "e"]), Ok(strings(&["echo", "e"])));
        assert!(run(Some(&[""]), &[]).unwrap_err().starts_with("no command or entrypoint provided"));
        // ... but not `--entrypoint '[]'`.
        assert_eq!(run(Some(&[]), &[]), Ok(strings(&["sh"])));
    }

    #[test]
    fn later_env_values_win() {
        let env = merge_env(&strings(&["PATH=/bin", "A=1"]), &strings(&["A=2", "B=", "PATH=/x", "A=3"]));
        assert_eq!(env, strings(&["PATH=/x", "A=3", "B="]));
    }
}
