//! The monitor: what keeps a detached container (`run -d`, `start`) company
//! after `berth` exits, as conmon does for podman.
//!
//! `berth` forks it (no exec: the fork is cheap and runs the code already
//! loaded); it leaves berth's session, and, through a second fork, berth's
//! children, so nobody waits for it and it outlives the command. It then
//! does what an attached `run` does in place of berth: creates the container
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

use std::io::{self, Read as _};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Pid, WaitOptions};
use sys::fs::{FileLock, LockMode};
use sys::process::Forked;

use super::lock::ContainerLock;
use super::logfile::{LogWriter, Stream};
use super::{change, wait_single_threaded, Container, State};
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::Engine;

/// The log file in each container's data directory (podman's name).
pub(super) const LOG_FILE: &str = "ctr.log";

impl Engine {
    /// Start container `c` in the background, under a monitor: returns once
    /// it runs (or with the reason it could not start). `c` is updated to
    /// the running record.
    ///
    /// The caller must have called [`super::protect_exe`] first and must
    /// have no other threads: the monitor is a fork of this process.
    pub fn start_detached(&self, c: &mut Container) -> Result<()> {
        let lock = self.lock_container(&c.id)?;
        {
            // Not open across the fork: an SQLite connection must not be used
            // (or closed) in a forked child.
            let db = self.db()?;
            *c = db.get(&c.id)?.ok_or_else(|| Error::not_found(format!("container {} was removed", c.name)))?;
        }
        if !matches!(c.state, State::Created | State::Exited) {
            return Err(Error::new(format!(
                "container {} is {}: only created or exited containers can start",
                c.name,
                c.state.as_str()
            )));
        }
        // Whatever an earlier run left (it exited, or its monitor was killed).
        self.delete_runtime_state(&c.id)?;
        wait_single_threaded()?;
        let (report_r, report_w) = pipe_with(PipeFlags::CLOEXEC).ctx(|| "creating the monitor's pipe".into())?;
        // SAFETY: single-threaded (checked above); the child either runs the
        // monitor, itself single-threaded until the container is started,
        // or forks once more and `_exit`s.
        match unsafe { sys::process::fork() }.ctx(|| "forking the container's monitor".into())? {
            Forked::Child => {
                drop(report_r);
                // A session of its own: no terminal, and no signal aimed at
                // the user's shell job reaches it.
                let _ = rustix::process::setsid();
                // SAFETY: as above; this process is single-threaded.
                match unsafe { sys::process::fork() } {
                    Ok(Forked::Child) => {
                        let code = self.monitor(c, lock, report_w);
                        sys::process::exit_immediately(code)
                    }
                    _ => sys::process::exit_immediately(0),
                }
            }
            Forked::Parent(pid) => {
                drop(report_w);
                // The monitor holds the lock now (the same open file): ours can go.
                drop(lock);
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            }
        }
        let mut report = Vec::new();
        let _ = std::fs::File::from(report_r).read_to_end(&mut report);
        let db = self.db()?;
        match Report::decode(&report) {
            Some(Ok(())) => {
                *c = db.get(&c.id)?.ok_or_else(|| Error::not_found(format!("container {} was removed", c.name)))?;
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => {
                // It died before saying anything (killed): undo what it may
                // have started, as a failed start would have.
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

    pub(super) fn log_path(&self, id: &str) -> PathBuf {
        self.bundle_dir(id).join(LOG_FILE)
    }

    /// The monitor process's life; returns its exit code.
    fn monitor(&self, c: &Container, lock: ContainerLock, report: OwnedFd) -> i32 {
        // Never the user's terminal or pipes: whoever ran berth may wait for
        // them to close (`x=$(berth run -d ...)`).
        if let Err(e) = stdio_to_null() {
            Report::send(&report, Err(Error::caused("pointing the monitor's stdio at /dev/null", e)));
            return 1;
        }
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => {
                Report::send(&report, Err(e));
                return 1;
            }
        };
        let mut c = c.clone();
        let running = self.monitor_start(&db, &mut c, &lock, &report);
        drop(lock);
        let running = match running {
            Ok(r) => {
                Report::send(&report, Ok(()));
                r
            }
            Err(e) => {
                self.finish_locked(&db, &mut c, None, None);
                Report::send(&report, Err(e));
                return 1;
            }
        };
        drop(report);
        let (code, started_at) = running.wait();
        let lock = match self.lock_container(&c.id) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("recording the exit of {}: {e}", c.id);
                return 1;
            }
        };
        self.finish_locked(&db, &mut c, Some(started_at), Some(code));
        if c.auto_remove {
            if let Some(current) = db.get(&c.id).ok().flatten() {
                if let Err(e) = self.remove_locked(&db, &current, super::lifecycle::Removal::NOW, lock) {
                    tracing::warn!("removing container {}: {e}", c.id);
                }
            }
        }
        0
    }

    /// Create and start the container (its lock held); it then runs.
    fn monitor_start(
        &self,
        db: &super::db::Db,
        c: &mut Container,
        lock: &ContainerLock,
        report: &OwnedFd,
    ) -> Result<Running> {
        use runtime::container::{self as rt, CreateOptions};
        let path = self.monitor_lock_path(&c.id);
        let alive = FileLock::exclusive(&path).ctx(|| format!("locking {}", path.display()))?;
        let log = LogWriter::open(&self.log_path(&c.id)).ctx(|| format!("opening the log of {}", c.id))?;
        let (stdio, outputs, keep_stdin) = container_stdio(c.terminal, c.interactive)?;
        // Last before the runtime: from here on `finish_locked` unmounts.
        self.layers()?.mount(&c.id)?;
        let root = self.runtime_root();
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
            // Ours, not the container's (see `run_attached`).
            close_in_init: vec![lock.raw_fd(), alive.as_fd().as_raw_fd(), report.as_raw_fd()],
        };
        let created = rt::create(&opts)?;
        drop(opts);
        let started_at = SystemTime::now();
        let pid = created.state.pid;
        let monitor = rustix::process::getpid().as_raw_nonzero().get();
        let running = change(db, &c.id, |r| {
            r.state = State::Running;
            r.pid = Some(pid);
            r.monitor_pid = Some(monitor);
            r.started_at = Some(started_at);
            r.exit_code = None;
            r.finished_at = None;
            true
        })?;
        *c = running.ok_or_else(|| Error::new(format!("container {} vanished while starting", c.name)))?;
        rt::start(&root, &c.id)?;
        let mut outputs = outputs;
        if let Some(master) = created.terminal {
            outputs.push((Stream::Stdout, master));
        }
        Ok(Running { pid, started_at, outputs, log, _keep_stdin: keep_stdin, _alive: alive })
    }
}

/// A started container, as its monitor sees it.
struct Running {
    pid: i32,
    started_at: SystemTime,
    /// Its stdout and stderr pipes, or its terminal's master.
    outputs: Vec<(Stream, OwnedFd)>,
    log: LogWriter,
    /// With `-i`, the write end of its stdin: held open so its reads wait
    /// rather than end (attach will feed it).
    _keep_stdin: Option<OwnedFd>,
    /// The monitor's flock, held until the exit is recorded.
    _alive: FileLock,
}

impl Running {
    /// Log its output until it exits; its exit code (128 + signal if killed).
    fn wait(self) -> (i32, SystemTime) {
        // Threads only now: the container's init was forked while we had one.
        let log = Arc::new(Mutex::new(self.log));
        let copiers: Vec<_> = self
            .outputs
            .into_iter()
            .map(|(stream, fd)| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || copy_to_log(&fd, stream, &log))
            })
            .collect();
        let code = wait_exit(self.pid);
        // The pipes end when its last process is gone; one that escaped its
        // pid namespace could keep them open: do not wait for ever (the
        // threads are left behind; the monitor ends with `_exit`).
        let deadline = Instant::now() + Duration::from_secs(2);
        while copiers.iter().any(|c| !c.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        (code, self.started_at)
    }
}

/// Copy `fd` to the log until it ends (EOF, or EIO from a terminal whose
/// other side is closed).
fn copy_to_log(fd: &OwnedFd, stream: Stream, log: &Mutex<LogWriter>) {
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Ok(mut w) = log.lock() {
                    let _ = w.write(stream, &buf[..n]);
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
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
/// pipes, and with `-i` the write end of its stdin pipe.
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

/// What the monitor (or an exec's keeper) tells `berth` once the container
/// (the process) started, or failed to: empty if it died first. `O` for started; otherwise the error's kind
/// as a letter and its message.
pub(super) struct Report;

impl Report {
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
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            match rustix::io::write(to, rest) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
        }
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
