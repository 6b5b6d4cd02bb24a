//! `exec`: another process in a running container, through the in-process
//! runtime's exec (it joins the container's namespaces and cgroup, then
//! takes the init's path to execve, under the container's seccomp filter).
//!
//! The process is podman's: the container's own process (config.json)
//! with the command, environment, user, working directory and terminal of
//! the exec. Attached, berth is its parent and wires its stdio as an
//! attached `run` does (`stdio.rs`). Detached (`-d`), a keeper process,
//! forked and detached like the monitor, is its parent: it reaps it and,
//! with `-t`, holds its terminal open.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::WaitOptions;
use serde_json::{json, Value};
use sys::fs::{FileLock, LockMode};
use sys::process::Forked;

use super::lock::ContainerLock;
use super::monitor::{dev_null, stdio_to_null, wait_exit, Report};
use super::{change, spec, stdio, wait_single_threaded, Container, State};
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::events::{self, Status};
use crate::Engine;

/// What `exec` was asked for.
#[derive(Debug, Default, Clone)]
pub struct ExecSpec {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Set over the container's environment (`KEY=value`; a later value
    /// of a key wins).
    pub env: Vec<String>,
    /// Another user than the container's (`--user`), looked up in the
    /// container's /etc/passwd and /etc/group as create does.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub terminal: bool,
    pub interactive: bool,
    /// Every capability this host allows, rather than the container's.
    pub privileged: bool,
}

/// An exec session: its ID, and the lock held while its process runs.
struct ExecSession {
    id: String,
    _running: FileLock,
}

impl Engine {
    /// Run `spec` in running container `c` and stay with it until it exits:
    /// its output reaches our stdout and stderr, our stdin only with `-i`,
    /// signals we get go to it. Returns its exit code (128 + signal when
    /// killed).
    ///
    /// The caller must have called [`super::protect_exe`] first, and must
    /// have no other threads: the process is a fork of this one.
    pub fn exec_attached(&self, c: &Container, spec: &ExecSpec) -> Result<i32> {
        let (lock, process) = self.exec_prepare(c, spec)?;
        let session = self.open_exec_session(c)?;
        events::container(self.runroot(), Status::Exec, c);
        let code = self.exec_attached_locked(c, spec, lock, process);
        events::exec_died(self.runroot(), c, code.as_ref().map_or(-1, |c| *c));
        // Over once it exited (podman's attached sessions); after a start
        // meanwhile the list is a new run's, without it.
        self.close_exec_session(c, &session);
        code
    }

    fn exec_attached_locked(
        &self,
        c: &Container,
        spec: &ExecSpec,
        lock: ContainerLock,
        process: oci_spec::runtime::Process,
    ) -> Result<i32> {
        use runtime::container as rt;
        if self.ext_state(&c.id).is_some() {
            return self.ext_exec_attached(c, &process, spec.terminal, spec.interactive, lock);
        }
        wait_single_threaded()?;
        let wiring = stdio::Wiring::new(spec.terminal, spec.interactive)?;
        let opts = self.exec_options(c, process, wiring.for_container());
        let execed = rt::exec(&opts);
        drop(opts);
        // Held while it started (an `rm` meanwhile waits), not while it runs.
        drop(lock);
        let execed = execed.map_err(exec_error)?;
        let relays = wiring.attach()?;
        Ok(rt::foreground::wait_relaying(execed.pid, execed.terminal, relays))
    }

    /// A new exec session of running container `c` (its lock held), listed
    /// in the record's `exec_ids` (inspect's ExecIDs); running while its
    /// lock is held, by us or (detached) by the keeper.
    fn open_exec_session(&self, c: &Container) -> Result<ExecSession> {
        let id = super::naming::new_id()?;
        let path = self.exec_session_lock(&id);
        let running = FileLock::exclusive(&path).ctx(|| format!("locking {}", path.display()))?;
        let db = self.db()?;
        change(&db, &c.id, |r| {
            r.exec_ids.push(id.clone());
            true
        })?;
        Ok(ExecSession { id, _running: running })
    }

    /// Unlist `session` (an attached exec that ended, a detached one that
    /// did not start).
    fn close_exec_session(&self, c: &Container, session: &ExecSession) {
        let closed = self.db().and_then(|db| {
            change(&db, &c.id, |r| {
                let before = r.exec_ids.len();
                r.exec_ids.retain(|s| *s != session.id);
                r.exec_ids.len() != before
            })
        });
        if let Err(e) = closed {
            tracing::debug!("closing exec session {} of {}: {e}", session.id, c.id);
        }
        let _ = std::fs::remove_file(self.exec_session_lock(&session.id));
    }

    /// Forget exec sessions `ids` (a start or a removal of their container).
    pub(super) fn forget_exec_sessions(&self, ids: &[String]) {
        for id in ids {
            let _ = std::fs::remove_file(self.exec_session_lock(id));
        }
    }

    fn exec_session_lock(&self, id: &str) -> PathBuf {
        self.runroot.join("locks").join(format!("{id}.exec"))
    }

    /// Whether container `c` has exec session `session`, ended (`container
    /// cleanup --exec`, which has nothing more to clean: the process's
    /// keeper reaped it): podman's errors if not.
    pub fn exec_session(&self, c: &Container, session: &str) -> Result<()> {
        let current = self.db()?.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        if !current.exec_ids.iter().any(|s| s == session) {
            return Err(Error::not_found(format!(
                "container {} has no exec session with ID {session}: no such exec session",
                c.id
            )));
        }
        let path = self.exec_session_lock(session);
        if matches!(FileLock::try_acquire(&path, LockMode::Shared), Ok(None)) {
            return Err(Error::new(format!(
                "cannot clean up container {} exec session {session} as it is running: exec session state improper",
                c.id
            )));
        }
        Ok(())
    }

    /// Start `spec` in running container `c` and return once it runs (or
    /// with the reason it could not start); it goes on under a keeper
    /// process. Its stdio is /dev/null (with `-t`, a terminal the keeper
    /// holds and reads).
    ///
    /// The caller must have called [`super::protect_exe`] first and must
    /// have no other threads: the keeper is a fork of this process.
    pub fn exec_detached(&self, c: &Container, spec: &ExecSpec) -> Result<String> {
        let (lock, process) = self.exec_prepare(c, spec)?;
        let session = self.open_exec_session(c)?;
        // The keeper, a fork, holds the session's lock (the same open file)
        // for as long as the process runs.
        let started = self.exec_detached_locked(c, lock, process);
        match started {
            Ok(()) => events::container(self.runroot(), Status::Exec, c),
            Err(_) => self.close_exec_session(c, &session),
        }
        started.map(|()| session.id.clone())
    }

    fn exec_detached_locked(
        &self,
        c: &Container,
        lock: ContainerLock,
        process: oci_spec::runtime::Process,
    ) -> Result<()> {
        self.close_db();
        wait_single_threaded()?;
        let (report_r, report_w) = pipe_with(PipeFlags::CLOEXEC).ctx(|| "creating the exec keeper's pipe".into())?;
        // SAFETY: single-threaded (checked above); the child forks once more
        // and `_exit`s, the grandchild runs the keeper, single-threaded
        // until the process runs.
        match unsafe { sys::process::fork() }.ctx(|| "forking the exec keeper".into())? {
            Forked::Child => {
                drop(report_r);
                // As the monitor: no terminal, no signal meant for the
                // user's shell job, nobody waiting for it.
                let _ = rustix::process::setsid();
                // SAFETY: as above.
                match unsafe { sys::process::fork() } {
                    Ok(Forked::Child) => {
                        let code = self.exec_keeper(c, process, lock, report_w);
                        sys::process::exit_immediately(code)
                    }
                    _ => sys::process::exit_immediately(0),
                }
            }
            Forked::Parent(pid) => {
                drop(report_w);
                // The keeper holds the lock now (the same open file) until
                // the process runs.
                drop(lock);
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            }
        }
        let mut report = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(report_r), &mut report);
        match Report::decode(&report) {
            Some(r) => r,
            None => Err(Error::new(format!("the exec keeper of container {} died before the process started", c.name))),
        }
    }

    /// The keeper's life: start the process, say how that went, then wait
    /// for it (reading its terminal, if it has one). Its exit code.
    fn exec_keeper(
        &self,
        c: &Container,
        process: oci_spec::runtime::Process,
        lock: ContainerLock,
        report: OwnedFd,
    ) -> i32 {
        let started = (|| {
            stdio_to_null().ctx(|| "pointing the exec keeper's stdio at /dev/null".into())?;
            if self.ext_state(&c.id).is_some() {
                return self.ext_exec_detached(c, &process);
            }
            let null = || dev_null().ctx(|| "opening /dev/null".into());
            let stdio = runtime::container::Stdio { stdin: null()?, stdout: null()?, stderr: null()? };
            let opts = self.exec_options(c, process, Arc::new(stdio));
            runtime::container::exec(&opts).map_err(exec_error).map(|e| (e.pid, e.terminal))
        })();
        drop(lock);
        let execed = match started {
            Ok(e) => e,
            Err(e) => {
                Report::send(&report, Err(e));
                return 1;
            }
        };
        Report::send(&report, Ok(()));
        drop(report);
        let (pid, terminal) = execed;
        if let Some(master) = terminal {
            // Threads only now: the process was forked while we had one.
            // Its output goes nowhere, but the terminal must stay open (its
            // last close hangs the process up) and must not fill up.
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match rustix::io::read(&master, &mut buf) {
                        Ok(0) => return,
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(_) => return,
                    }
                }
            });
        }
        let code = wait_exit(pid);
        events::exec_died(self.runroot(), c, code);
        0
    }

    pub(super) fn exec_options(
        &self,
        c: &Container,
        process: oci_spec::runtime::Process,
        stdio: Arc<runtime::container::Stdio>,
    ) -> runtime::container::ExecOptions {
        runtime::container::ExecOptions {
            root: self.runtime_root(),
            id: c.id.clone(),
            process,
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            stdio: Some(stdio),
        }
    }

    /// Check what podman checks, in its order (a command, a running
    /// container, the user), and make the process. Returns the container's
    /// lock, held: it runs until the process has started.
    fn exec_prepare(&self, c: &Container, spec: &ExecSpec) -> Result<(ContainerLock, oci_spec::runtime::Process)> {
        if spec.command.is_empty() {
            return Err(Error::new("must provide a non-empty command to start an exec session: invalid argument"));
        }
        let lock = self.lock_container(&c.id)?;
        let current = self.db()?.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        if current.state != State::Running || !self.init_alive(&c.id) {
            return Err(Error::new("can only create exec sessions on running containers: container state improper"));
        }
        let process = self.exec_process(&current, spec)?;
        Ok((lock, process))
    }

    /// The process to run: the container's own (config.json), with the
    /// exec's command, environment, working directory, user, capabilities
    /// and terminal, as podman's `prepareProcessExec` makes it.
    pub(super) fn exec_process(&self, c: &Container, spec: &ExecSpec) -> Result<oci_spec::runtime::Process> {
        let config = super::spec::read_config(&self.bundle_dir(&c.id))?;
        let mut p = config.get("process").cloned().unwrap_or_else(|| json!({}));
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let mut env = strings(p.get("env"));
        // The HOME config.json got for the container's user is not one the
        // user set: an exec as another user gets its own (podman's rule).
        if spec.user.is_some() && c.env.as_ref().is_some_and(|e| !e.iter().any(|v| v.starts_with("HOME="))) {
            env.retain(|v| !v.starts_with("HOME="));
        }
        let mut exec_env = Vec::new();
        if spec.terminal {
            exec_env.push("TERM=xterm".to_string());
        }
        exec_env.extend(spec.env.iter().cloned());
        let mut env = super::spec::merge_env(&env, &exec_env);
        let container_user = p.get("user").cloned().unwrap_or_else(|| json!({"uid": 0, "gid": 0}));
        let (user, uid, home) = match &spec.user {
            Some(u) => {
                let rootfs = config.pointer("/root/path").and_then(Value::as_str).unwrap_or_default();
                let r = spec::resolve_user(std::path::Path::new(rootfs), u)?;
                // podman 4.3: only the groups that list the user, not its own.
                (json!({"uid": r.uid, "gid": r.gid, "additionalGids": r.member_of}), r.uid, Some(r.home))
            }
            None => {
                let uid = container_user.get("uid").and_then(Value::as_u64).unwrap_or(0);
                (container_user.clone(), u32::try_from(uid).unwrap_or(u32::MAX), None)
            }
        };
        if let Some(home) = home.filter(|_| !env.iter().any(|v| v.starts_with("HOME="))) {
            env.push(format!("HOME={home}"));
        }
        let caps = p.get("capabilities").cloned().unwrap_or_else(|| json!({}));
        let bounding = if spec.privileged { json!(privileged_capabilities()?) } else { caps["bounding"].clone() };
        // podman's: root gets the whole bounding set, the container's own
        // user the container's sets, any other user none.
        let (effective, permitted) = if uid == 0 {
            (bounding.clone(), bounding.clone())
        } else if spec.user.is_none() || user == container_user {
            (caps["effective"].clone(), caps["permitted"].clone())
        } else {
            (json!([]), json!([]))
        };
        p["capabilities"] = json!({"bounding": bounding, "effective": effective, "permitted": permitted});
        p["args"] = json!(spec.command);
        p["env"] = json!(env);
        p["user"] = user;
        p["terminal"] = json!(spec.terminal);
        if let Some(cwd) = &spec.workdir {
            p["cwd"] = json!(cwd);
        }
        serde_json::from_value(p).ctx(|| "making the exec's process".into())
    }
}

/// Every capability the runtime can give here, by the names config.json
/// knows.
pub(super) fn privileged_capabilities() -> Result<Vec<String>> {
    let all = runtime::process::available_capabilities()?;
    // A capability of a newer kernel than oci-spec knows cannot be written.
    Ok(all.into_iter().filter(|c| serde_json::from_value::<oci_spec::runtime::Capability>(json!(c)).is_ok()).collect())
}

/// A runtime error, as podman words an exec that could not start: the
/// runtime's reason, then what podman makes of it.
pub(super) fn exec_error(e: runtime::Error) -> Error {
    let mut e = Error::from(e);
    match e.kind {
        ErrorKind::CommandNotFound => e.msg.push_str(": OCI runtime attempted to invoke a command that was not found"),
        ErrorKind::CommandCannotRun => e.msg.push_str(": OCI permission denied"),
        _ => {}
    }
    e
}
