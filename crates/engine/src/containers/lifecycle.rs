//! A container's life: create, run in the foreground, record the exit,
//! remove. Each transition holds the container's lock (`lock.rs`) and
//! reloads the record under it before deciding anything, and writes it
//! compare-and-swap (`db.rs`).
//!
//! Every step is ordered so a crash leaves something `rm` can finish: the
//! record is written first on create and deleted last on remove.

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use super::db::Db;
use super::health::HealthConfig;
use super::lock::ContainerLock;
use super::teardown::Remains;
use super::{change, etc_files, naming, resources, spec, Container, CreateSpec, State};
use crate::error::{Context as _, Error, Result};
use crate::events::{self, Status};
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
        // `--env-host`: ours under the image's (podman's order).
        let env = spec::merge_env(&spec::merge_env(&spec.isolation.host_env, &strings("Env")), &spec.env);
        let image_user = cfg.get("User").and_then(|v| v.as_str()).unwrap_or("");
        let user = spec.user.clone().unwrap_or_else(|| image_user.to_string());
        // Before anything is recorded: bad values leave nothing behind.
        let config = &crate::config::get()?.containers;
        // berth.conf's default ulimits under the flags', recorded with the
        // container: a later change of the file leaves it as created.
        let spec_limits =
            &resources::Limits { ulimits: config.ulimits_with(&spec.limits.ulimits), ..spec.limits.clone() };
        spec_limits.validate()?;
        spec.log.validate()?;
        if spec.auto_remove && spec.restart.restarts_at_all() {
            return Err(Error::new(
                "the --rm option conflicts with --restart, when the restartPolicy is not \"\" and \"no\"",
            ));
        }
        if let Some(n) = &spec.name {
            naming::validate(n)?;
        }
        let caps = spec::capabilities_from(&config.capabilities(), &spec.cap_add, &spec.cap_drop)?;
        if let Some(p) = &spec.init_path {
            super::init::check(p)?;
        }
        let healthcheck =
            spec.healthcheck.clone().or_else(|| cfg.get("Healthcheck").and_then(HealthConfig::from_image));
        spec.isolation.validate(spec.hostname.is_some(), spec.shm_size.is_some())?;
        let mut isolation = spec.isolation.clone();
        self.resolve_isolation(&mut isolation)?;
        self.check_attachments(&isolation.networks)?;
        if isolation.publish_all {
            let exposed: Vec<String> = cfg
                .get("ExposedPorts")
                .and_then(|v| v.as_object())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            isolation.ports.extend(super::ports::publish_exposed(&exposed)?);
        }
        if !isolation.ports.is_empty() && isolation.networks.is_empty() {
            return Err(Error::new(
                "port mappings need a bridge network: this container has none (podman discards them silently)",
            ));
        }
        super::ports::choose_host_ports(&mut isolation.ports)?;
        let stop_signal = spec
            .stop_signal
            .clone()
            .or_else(|| cfg.get("StopSignal").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(String::from));
        if let Some(s) = &stop_signal {
            if super::parse_signal(s).is_none() {
                return Err(Error::new(format!("invalid signal: {s}")));
            }
        }
        // Before anything is recorded: a store that cannot be opened (its
        // driver differs) then leaves nothing to clean up.
        let layers = self.layers()?;
        let db = self.db()?;
        let id = match &spec.id {
            Some(id) if naming::is_full_id(id) => id.clone(),
            Some(id) => return Err(Error::new(format!("internal error: bad container id {id:?}"))),
            None => naming::new_id()?,
        };
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
            restart: spec.restart,
            restart_count: 0,
            stopped_by_user: false,
            oom_killed: false,
            mounts: Vec::new(),
            stop_signal: stop_signal.clone(),
            stop_timeout: spec.stop_timeout,
            log: spec.log.clone(),
            isolation,
            labels: image
                .labels()
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .chain(spec.labels.iter().cloned())
                .collect(),
            healthcheck,
            init_path: spec.init_path.clone(),
            health_status: None,
            version: 0,
            oci_runtime: spec.oci_runtime.clone(),
            exec_ids: Vec::new(),
            network_status: Vec::new(),
        };
        // Volumes are made and recorded with the container under the
        // volumes lock: a prune in between would take them.
        let volumes_lock = self.volumes_lock(sys::fs::LockMode::Exclusive)?;
        let image_volumes: Vec<String> =
            cfg.get("Volumes").and_then(|v| v.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default();
        match self.resolve_mounts(&spec.mounts, &image_volumes) {
            Ok(m) => c.mounts = m,
            Err(e) => {
                lock.remove();
                return Err(e);
            }
        }
        if let Err(e) = self.insert_named(&db, &mut c, spec.name.as_deref()) {
            lock.remove();
            // Made for it: nobody else knows them.
            for m in c.mounts.iter().filter(|m| matches!(m, super::mounts::Mount::Volume { anonymous: true, .. })) {
                if let Some(v) = m.volume().and_then(|n| self.volume(n).ok()) {
                    let _ = self.remove_volume_locked(&v);
                }
            }
            return Err(e);
        }
        drop(volumes_lock);
        // Recorded: from now on `rmi` sees the container.
        drop(image_use);
        let made = (|| {
            // Thrown away after its run: its writes need not reach the disk
            // (podman mounts these `volatile` too).
            let writes = if spec.auto_remove { storage::Writes::Volatile } else { storage::Writes::Synced };
            // Its config.json likewise.
            let durability = writes.durability();
            // Made now for a container that starts next (`run`): the start
            // would make them. Not for one only created, whose `diff` shows
            // nothing yet (podman's).
            // (Not /etc/hosts with --no-hosts: the image's, or none, stays.)
            let no_hosts = c.isolation.names.no_hosts;
            let mount_points: Vec<storage::MountPoint> = if spec.starts_next {
                spec::MOUNT_POINTS.iter().filter(|m| !(no_hosts && m.path == "etc/hosts")).copied().collect()
            } else {
                Vec::new()
            };
            // Mounted for the start that follows, or only for this create,
            // which reads the image's files (the user, volumes' copy-up)
            // and writes nothing into the container's layer: that mount's
            // unmount need not sync the host's filesystem (~30 ms after a
            // build step that wrote 50 MB).
            let mounted = if spec.starts_next { writes } else { storage::Writes::Volatile };
            let rootfs = layers.create_container_fs_mounted(&id, &image.chain_ids(), writes, &mount_points, mounted)?;
            let workdir = cfg.get("WorkingDir").and_then(|v| v.as_str()).unwrap_or("");
            let hostname = self.container_hostname(spec.hostname.clone(), &c);
            let dir = self.bundle_dir(&id);
            sys::fs::create_private_dir(&dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
            let userdata = self.userdata_dir(&id);
            let host_network = c.isolation.network == super::isolation::NsMode::Host;
            let binds = etc_files::write(&userdata, &hostname, &c, host_network)?;
            let p = spec::ProcessSpec {
                args: &args,
                env: &env,
                cwd: spec.workdir.as_deref().unwrap_or(workdir),
                user: &user,
                hostname: &hostname,
                terminal: spec.terminal,
                shm_size: spec.shm_size.unwrap_or(spec::DEFAULT_SHM_SIZE),
                binds: &binds,
                caps: &caps,
                read_only: spec.read_only,
                annotations: &spec.annotations,
            };
            // Limits first: they write linux.resources whole, and the
            // isolation adds device rules to it.
            let config = spec::generate(&id, &rootfs, &p).and_then(|mut config| {
                spec_limits.apply(&mut config)?;
                c.isolation.apply(&mut config, &rootfs, spec.read_only)?;
                Ok(config)
            });
            let copied = self.copy_up(&rootfs, &c.mounts);
            // Mounted only while it runs, or for the start that follows
            // (an unmount and a mount saved); a failure below unmounts it
            // with the rest.
            if !spec.starts_next || copied.is_err() {
                layers.unmount(&id)?;
            }
            copied?;
            let mut config = config?;
            if let Some(p) = &spec.init_path {
                super::init::apply(&mut config, p);
            }
            // `U` tmpfs mounts are owned by the user the process runs as
            // (`U` binds and volumes are given to it at each start).
            let (uid, gid) = spec::process_owner(&config);
            if spec.oci_runtime.is_some() {
                config["ociVersion"] = super::external::EXTERNAL_OCI_VERSION.into();
            }
            if let Some(list) = config["mounts"].as_array_mut() {
                list.extend(self.oci_mounts(&c.mounts)?);
            }
            super::chown_volume::tmpfs_owner(&mut config, uid, gid);
            let bytes = spec::encode(&config)?;
            let config = dir.join("config.json");
            // Its directory fsync makes the new directory durable too.
            sys::fs::write_atomic(&config, &bytes, 0o600, durability)
                .ctx(|| format!("writing {}", config.display()))?;
            Ok(())
        })();
        if let Err(e) = made {
            if let Err(e) = self.remove_locked(&db, &c, Removal::NOW, lock) {
                tracing::warn!("removing the half-made container {id}: {e}");
            }
            return Err(e);
        }
        // The record as inserted, under the lock held since: written over
        // as it is (compare-and-swap on its version), not read back first.
        c.state = if spec.starts_next { State::Initialized } else { State::Created };
        match db.update(&mut c)? {
            super::db::Written::Done => {
                events::container(self.runroot(), Status::Create, &c);
                // `run`'s: its monitor finds it initialized, as after `init`.
                if spec.starts_next {
                    events::container(self.runroot(), Status::Init, &c);
                }
                Ok(c)
            }
            super::db::Written::Stale => Err(Error::new(format!("container {id} changed while it was being created"))),
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
    pub fn remove_container(&self, c: &Container, force: bool, stop_timeout: Duration, volumes: bool) -> Result<()> {
        self.check_no_dependents(c)?;
        let lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        match db.get(&c.id)? {
            Some(current) => {
                self.remove_locked(&db, &current, Removal { force, stop_timeout, volumes, ..Removal::NOW }, lock)
            }
            None => {
                lock.remove();
                Err(Error::not_found(format!("no container with name or ID \"{}\" found: no such container", c.name)))
            }
        }
    }

    pub(super) fn remove_locked(&self, db: &Db, c: &Container, how: Removal, lock: ContainerLock) -> Result<()> {
        self.discard_locked(db, c, how, lock).map(drop)
    }

    /// [`Engine::remove_locked`], but its root filesystem's directory is
    /// deleted only when the returned value is dropped (the container is
    /// gone already): the monitor of a `--rm` container reports the exit
    /// first.
    pub(super) fn discard_locked(
        &self,
        db: &Db,
        c: &Container,
        how: Removal,
        lock: ContainerLock,
    ) -> Result<Option<storage::Discarded>> {
        if c.state.is_live() && !how.init_reaped && self.init_alive(&c.id) {
            if !how.force {
                return Err(Error::in_use(format!(
                    "cannot remove container {} as it is {} - running or paused containers cannot be removed without force: container state improper",
                    c.id,
                    c.state.as_str()
                )));
            }
            // podman tells the death before the removal: its monitor tells
            // it (before it waits for the lock we hold), so wait for that,
            // briefly, should the monitor live.
            let told = self.monitor_alive(&c.id).then(|| events::Reader::from_now(self.runroot()).ok()).flatten();
            self.stop(c, how.stop_timeout);
            if let Some(mut told) = told {
                let deadline = Instant::now() + Duration::from_secs(1);
                told.wait_for(|e| e.id == c.id && e.status == Status::Died.as_str(), deadline);
            }
        }
        if !how.runtime_later {
            self.delete_runtime_state(&c.id)?;
        }
        let mut discarded = match self.layers()?.discard_container_fs(&c.id) {
            Ok(d) => Some(d),
            Err(storage::Error::ContainerNotKnown(_)) => None,
            Err(e) => return Err(e.into()),
        };
        // Its /etc files (in the runroot's memory: gone at once).
        let userdata = self.userdata_dir(&c.id);
        sys::fs::ignore_missing(fs::remove_dir_all(&userdata))
            .map_err(|e| Error::caused(format_args!("removing {}", userdata.display()), e))?;
        // Its data directory too: deleted with its files, when the caller
        // drops them (in the same root as the store).
        let dir = self.bundle_dir(&c.id);
        let removed = match discarded.as_mut() {
            Some(d) => d.take(&dir),
            None => fs::remove_dir_all(&dir),
        };
        sys::fs::ignore_missing(removed).map_err(|e| Error::caused(format_args!("removing {}", dir.display()), e))?;
        db.delete(&c.id)?;
        events::container(self.runroot(), Status::Remove, c);
        // Its monitor does it after telling the exit; a removal of a
        // running container (or of one whose monitor was killed) here.
        if !how.init_reaped {
            self.release_network(c);
        }
        if how.volumes {
            self.remove_anonymous_volumes(c);
        }
        // A monitor may still hold it (it is about to find the record gone).
        let _ = fs::remove_file(self.monitor_lock_path(&c.id));
        self.forget_exec_sessions(&c.exec_ids);
        self.remove_health(c);
        lock.remove();
        Ok(discarded)
    }

    /// Stop running container `c` (its lock held) as podman does: its stop
    /// signal to the init, then, if that has not ended it within `timeout`,
    /// SIGKILL to every process in its cgroup. A paused container is thawed
    /// once signalled (docker's order: it never runs unsignalled), since a
    /// frozen process acts on no signal.
    pub(super) fn stop(&self, c: &Container, timeout: Duration) {
        use sys::signal::Signal;
        // podman's, for `stop`, `rm -f` and `restart` alike.
        events::container(self.runroot(), Status::Stop, c);
        if !timeout.is_zero() {
            let first = c.stop_signal.as_deref().and_then(super::parse_signal).unwrap_or(Signal::TERM);
            if let Err(e) = self.signal_container(&c.id, first, false) {
                tracing::debug!("{first:?} to {}: {e}", c.id);
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
                "StopSignal {} failed to stop container {} in {} seconds, resorting to SIGKILL",
                signal_name(c.stop_signal.as_deref()),
                c.name,
                timeout.as_secs()
            );
        }
        // Thaws a frozen cgroup too.
        if let Err(e) = self.signal_container(&c.id, Signal::KILL, true) {
            tracing::debug!("SIGKILL to {}: {e}", c.id);
        }
        self.thaw_locked(&c.id);
    }

    /// Kill and forget container `id` in the runtime; never having been
    /// there (created only, or already deleted) is fine.
    pub(super) fn delete_runtime_state(&self, id: &str) -> Result<()> {
        match runtime::container::delete(&self.runtime_root(), id, true) {
            Ok(()) | Err(runtime::Error::NotFound(_)) => self.ext_delete(id),
            Err(e) => Err(e.into()),
        }
    }

    /// After a `--rm` container's init exited (its lock held): removed, as
    /// [`Engine::finish_locked`] then [`Engine::discard_locked`] would do,
    /// without writing the exited record that would only be deleted; kept
    /// as exited if the removal fails. Only if the record is about the run
    /// that started at `run` (`rm -f` may have removed it meanwhile). What
    /// is left, to drop once the exit is told.
    pub(super) fn discard_exited(
        &self,
        db: &Db,
        c: &mut Container,
        run: SystemTime,
        code: i32,
        lock: ContainerLock,
    ) -> Option<Remains<'_>> {
        let current = match db.get(&c.id) {
            Ok(Some(r)) if r.started_at == Some(run) => r,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!("reading the record of {}: {e}", c.id);
                self.finish_locked(db, c, Some(run), Some(code));
                return None;
            }
        };
        // Its runtime state (its cgroups above all: a directory to remove
        // in each hierarchy) can go after the exit is told, when its init's
        // death ended every process of it (a pid namespace of its own), and
        // its id will never start again. A marker says so until it is gone.
        let deferred = current.oci_runtime.is_none() && current.isolation.pid == super::isolation::NsMode::Private;
        let mark = if deferred { self.mark_teardown(&c.id).ok() } else { None };
        let later = mark.is_some();
        let how = Removal { runtime_later: later, init_reaped: true, ..Removal::NOW };
        match self.discard_locked(db, &current, how, lock) {
            Ok(files) => Some(Remains::new(self, files, mark)),
            Err(e) => {
                tracing::warn!("removing container {}: {e}", c.id);
                // The lock went with the failed removal.
                match self.lock_container(&c.id) {
                    Ok(_lock) => self.finish_locked(db, c, Some(run), Some(code)),
                    Err(e) => tracing::warn!("recording the exit of {}: {e}", c.id),
                }
                if let Some(m) = mark {
                    m.remove();
                }
                None
            }
        }
    }

    /// After the container's init exited (the lock held): runtime state and
    /// mount go, the record says exited with `code`. Only if the record is
    /// still about the run that started at `run` (`None`: the one starting
    /// now, which failed): `rm -f` may have removed it meanwhile. Best
    /// effort: the exit code is the caller's either way.
    pub(super) fn finish_locked(&self, db: &Db, c: &mut Container, run: Option<SystemTime>, code: Option<i32>) {
        let ours = |r: &Container| run.is_none() || r.started_at == run;
        // Whether it is on networks, as its record says (a `network
        // connect` may have changed it since this copy was read).
        let networked = match db.get(&c.id) {
            Ok(Some(r)) if ours(&r) => !r.isolation.networks.is_empty(),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("reading the record of {}: {e}", c.id);
                true
            }
        };
        if let Err(e) = self.delete_runtime_state(&c.id) {
            tracing::debug!("deleting runtime state of {}: {e}", c.id);
        }
        if let Ok(l) = self.layers() {
            let _ = l.unmount(&c.id);
        }
        // Its namespace, and the veth pairs in it, died with it; its
        // addresses go back (no write for a container without networks:
        // every exit comes this way).
        if networked {
            if let Err(e) = self.addresses().and_then(|a| a.release(&self.address_holder(&c.id))) {
                tracing::warn!("{e}");
            }
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
    /// Its anonymous volumes go too (`rm -v`, `--rm`).
    volumes: bool,
    /// Its runtime state (cgroups, state directory) is left to the caller
    /// ([`Remains`]).
    runtime_later: bool,
    /// The caller reaped its init (its monitor, after the exit): nothing to
    /// stop, and no need to read the runtime's state to know it.
    init_reaped: bool,
}

impl Removal {
    /// Whatever its state, at once (`--rm` after the exit).
    pub(super) const NOW: Removal =
        Removal { force: true, stop_timeout: Duration::ZERO, volumes: true, runtime_later: false, init_reaped: false };
}

/// A stop signal as podman names it in messages (`SIGTERM`, `SIGUSR1`, `9`).
fn signal_name(given: Option<&str>) -> String {
    match given.map(str::to_ascii_uppercase) {
        None => "SIGTERM".into(),
        Some(s) if s.starts_with("SIG") || s.parse::<u32>().is_ok() => s,
        Some(s) => format!("SIG{s}"),
    }
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
        let env = spec::merge_env(&strings(&["PATH=/bin", "A=1"]), &strings(&["A=2", "B=", "PATH=/x", "A=3"]));
        assert_eq!(env, strings(&["PATH=/x", "A=3", "B="]));
    }
}
