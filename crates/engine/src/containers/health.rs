//! Healthchecks without systemd: podman 4.3 needs a systemd timer to run a
//! container's check on its interval; berth's monitor runs it itself.
//!
//! The check is an exec into the running container (`exec.rs` builds the
//! process exactly as `berth exec` does). The monitor never blocks on it: it
//! forks a checker, which starts the process, collects its output, kills
//! its process group at the timeout and records the result; the monitor
//! keeps the checker's pidfd in its poll set, reaps it, and kills it only
//! if it outlives the timeout by a margin (a checker stuck joining a frozen
//! cgroup).
//!
//! The state (podman's `State.Health`: status, failing streak, the last 5
//! results) lives in `<runroot>/health/<id>.json`, not in the database:
//! it changes every interval for as long as the container runs, and is
//! only about this boot (podman keeps it in the container's run directory
//! too). Its writers (a checker, `healthcheck run`, the monitor resetting
//! it at each start) hold `<runroot>/locks/<id>.health` and replace it
//! atomically, so readers (`ps`, `inspect`) need no lock.

use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{PollFd, PollFlags};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Pid, PidfdFlags};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sys::fs::{Durability, FileLock};
use sys::process::Forked;

use super::exec::{exec_error, ExecSpec};
use super::monitor::{dev_null, wait_exit};
use super::{wait_single_threaded, Container, State};
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::Engine;

/// podman's (and docker's) defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept (podman's MaxHealthCheckNumberLogs).
const MAX_LOG: usize = 5;
/// Bytes of a check's output kept (podman's MaxHealthCheckLogLength).
const MAX_OUTPUT: usize = 500;
/// How long the monitor lets a checker run past the check's timeout before
/// it kills the checker itself.
const CHECKER_GRACE: Duration = Duration::from_secs(10);

/// A container's healthcheck as podman records it (`Config.Healthcheck`,
/// docker's Schema2HealthConfig): durations in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["CMD-SHELL", "text"]`, `["CMD", arg...]`, or `["NONE"]` (disabled).
    pub test: Vec<String>,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub retries: u32,
}

impl HealthConfig {
    /// `--no-healthcheck`: podman's `{"Test": ["NONE"]}`.
    pub fn none() -> HealthConfig {
        HealthConfig { test: vec!["NONE".into()], interval_ns: 0, timeout_ns: 0, start_period_ns: 0, retries: 0 }
    }

    /// The run/create flags, as podman's `makeHealthCheckFromCli` reads
    /// them: `cmd` is a JSON array (`["CMD", "x"]`, or a bare argument
    /// list, run as is) or a shell command line (CMD-SHELL); `none`
    /// disables the image's; durations are Go's, `interval` may be
    /// `disable`.
    pub fn from_flags(cmd: &str, interval: &str, retries: u32, timeout: &str, start_period: &str) -> Result<Self> {
        // podman 4.3 splits a JSON `["CMD", ...]` as words of text (its
        // Test becomes the JSON itself, which cannot run); later podman and
        // docker take the array, as here.
        let test = match serde_json::from_str::<Vec<String>>(cmd) {
            Ok(a) if a.is_empty() => return Err(Error::new("must define a healthcheck command for all healthchecks")),
            Ok(a) if a[0] == "none" => vec!["NONE".into()],
            Ok(a) if matches!(a[0].as_str(), "CMD" | "CMD-SHELL" | "NONE") => a,
            Ok(a) if a.len() > 1 => std::iter::once("CMD".to_string()).chain(a).collect(),
            Ok(a) => vec!["CMD-SHELL".into(), a[0].clone()],
            Err(_) => match cmd.split_once(' ').map_or(cmd, |(first, _)| first) {
                "none" => vec!["NONE".into()],
                "CMD" => cmd.split_whitespace().map(String::from).collect(),
                "CMD-SHELL" => vec!["CMD-SHELL".into(), cmd.split_once(' ').map_or("", |(_, rest)| rest).to_string()],
                _ => vec!["CMD-SHELL".into(), cmd.to_string()],
            },
        };
        let interval = if interval == "disable" { "0" } else { interval };
        let interval = go_duration(interval).map_err(|e| Error::new(format!("invalid healthcheck-interval: {e}")))?;
        if retries < 1 {
            return Err(Error::new("healthcheck-retries must be greater than 0"));
        }
        let timeout = go_duration(timeout).map_err(|e| Error::new(format!("invalid healthcheck-timeout: {e}")))?;
        if timeout < 1 {
            return Err(Error::new("healthcheck-timeout must be at least 1 second"));
        }
        let start_period =
            go_duration(start_period).map_err(|e| Error::new(format!("invalid healthcheck-start-period: {e}")))?;
        if start_period < 0 {
            return Err(Error::new("healthcheck-start-period must be 0 seconds or greater"));
        }
        let ns = |d: i128| u64::try_from(d.max(0)).unwrap_or(u64::MAX);
        Ok(HealthConfig {
            test,
            interval_ns: ns(interval),
            timeout_ns: ns(timeout),
            start_period_ns: ns(start_period),
            retries,
        })
    }

    /// The image's `Healthcheck` (its config's, docker's field names), with
    /// podman's defaults for what it leaves at zero.
    pub fn from_image(v: &Value) -> Option<HealthConfig> {
        let test: Vec<String> =
            v.get("Test")?.as_array()?.iter().filter_map(|s| s.as_str().map(String::from)).collect();
        if test.is_empty() {
            return None;
        }
        let ns = |key: &str, default: Duration| match v.get(key).and_then(Value::as_u64) {
            Some(n) if n > 0 => n,
            _ => u64::try_from(default.as_nanos()).unwrap_or(u64::MAX),
        };
        let retries = v.get("Retries").and_then(Value::as_u64).filter(|n| *n > 0);
        Some(HealthConfig {
            test,
            interval_ns: ns("Interval", DEFAULT_INTERVAL),
            timeout_ns: ns("Timeout", DEFAULT_TIMEOUT),
            start_period_ns: v.get("StartPeriod").and_then(Value::as_u64).unwrap_or(0),
            retries: retries.map_or(DEFAULT_RETRIES, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        })
    }

    /// The command to run, as podman makes it from Test; `None` when the
    /// check is disabled (`NONE`) or empty.
    pub fn command(&self) -> Option<Vec<String>> {
        let cmd: Vec<String> = match self.test.first().map(String::as_str) {
            None | Some("" | "NONE") => return None,
            Some("CMD") => self.test[1..].to_vec(),
            // Docker's default shell (the image's SHELL is not kept).
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            Some(_) => self.test.clone(),
        };
        cmd.first().filter(|c| !c.is_empty())?;
        Some(cmd)
    }

    /// Zero: the monitor does not run it (`--health-interval disable`);
    /// `healthcheck run` still does.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns).max(Duration::from_secs(1))
    }

    fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period_ns)
    }
}

/// Go's `time.ParseDuration`, in nanoseconds, with its error words.
fn go_duration(text: &str) -> std::result::Result<i128, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (neg, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(invalid());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            u => return Err(format!("time: unknown unit {u:?} in duration {text:?}")),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

/// One check's result (podman's HealthCheckLog).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthLog {
    pub start: SystemTime,
    pub end: SystemTime,
    /// 0 for a success, 1 for a failure, -1 when it ran past its timeout
    /// (podman's; not the command's own code).
    pub exit_code: i32,
    pub output: String,
}

/// A container's health (podman's `State.Health`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: Vec<HealthLog>,
}

/// What `healthcheck run` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    Healthy,
    Unhealthy,
    /// It ran past its timeout (and was killed).
    TimedOut(Duration),
}

/// What one run of the command gave.
struct Outcome {
    start: SystemTime,
    end: SystemTime,
    exit_code: i32,
    output: String,
    timed_out: bool,
}

impl Engine {
    fn health_path(&self, id: &str) -> PathBuf {
        self.runroot.join("health").join(format!("{id}.json"))
    }

    fn health_lock(&self, id: &str) -> Result<FileLock> {
        // In `Engine::open`'s locks directory, as the container's lock.
        let path = self.runroot.join("locks").join(format!("{id}.health"));
        FileLock::exclusive(&path).ctx(|| format!("locking {}", path.display()))
    }

    /// Container `c`'s health as last recorded (`None`: it has no
    /// healthcheck, or none was recorded since the host booted).
    pub fn health(&self, c: &Container) -> Option<HealthState> {
        c.healthcheck.as_ref()?.command()?;
        let bytes = sys::fs::read_regular(&self.health_path(&c.id), 1 << 20).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Its status word for `ps` (`healthy`...), when it has one.
    pub(super) fn health_status(&self, c: &Container) -> Option<String> {
        if !c.state.is_live() {
            return None;
        }
        self.health(c).map(|h| h.status).filter(|s| !s.is_empty())
    }

    /// At each start: `starting` again, the streak reset, the log kept (as
    /// podman does).
    pub(super) fn reset_health(&self, c: &Container) -> Result<()> {
        if c.healthcheck.as_ref().and_then(HealthConfig::command).is_none() {
            return Ok(());
        }
        let _lock = self.health_lock(&c.id)?;
        let mut state = self.health(c).unwrap_or_default();
        state.status = "starting".into();
        state.failing_streak = 0;
        self.write_health(&c.id, &state)
    }

    /// Forget container `c`'s health (it is removed).
    pub(super) fn remove_health(&self, c: &Container) {
        // Nothing to forget without a check (and no lock file to make, and
        // delete, on the path of every `run --rm`).
        if c.healthcheck.as_ref().and_then(HealthConfig::command).is_none() {
            return;
        }
        let id = &c.id;
        // A check recording meanwhile finishes first (and one after finds
        // the container gone: see `record_check`).
        let _lock = self.health_lock(id);
        let _ = std::fs::remove_file(self.health_path(id));
        let _ = std::fs::remove_file(self.runroot.join("locks").join(format!("{id}.health")));
    }

    fn write_health(&self, id: &str, state: &HealthState) -> Result<()> {
        let dir = self.runroot.join("health");
        sys::fs::create_private_dir(&dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
        let bytes = serde_json::to_vec(state).ctx(|| "encoding the health state".into())?;
        let path = self.health_path(id);
        sys::fs::write_atomic(&path, &bytes, 0o600, Durability::ReplaceOnly)
            .ctx(|| format!("writing {}", path.display()))
    }

    /// `healthcheck run`: run `c`'s check now, record it, and say how it
    /// went. Forks (the process enters the container): the caller must
    /// have called [`super::protect_exe`] and have no other threads.
    pub fn healthcheck_run(&self, c: &Container) -> Result<CheckResult> {
        let c = self.container(&c.id)?;
        if c.state != State::Running {
            return Err(Error::new(format!("container {} is not running", c.id)));
        }
        let Some(hc) = c.healthcheck.clone().filter(|h| h.command().is_some()) else {
            return Err(Error::new(format!("container {} has no defined healthcheck", c.id)));
        };
        wait_single_threaded()?;
        let outcome = self.run_check(&c, &hc)?;
        let result = if outcome.timed_out {
            CheckResult::TimedOut(hc.timeout())
        } else if outcome.exit_code == 0 {
            CheckResult::Healthy
        } else {
            CheckResult::Unhealthy
        };
        self.record_check(&c, &hc, outcome)?;
        Ok(result)
    }

    /// Run the check's command in `c` once: start it as `exec` does, keep
    /// its output, kill it (its whole process group) at the timeout.
    fn run_check(&self, c: &Container, hc: &HealthConfig) -> Result<Outcome> {
        let command =
            hc.command().ok_or_else(|| Error::new(format!("container {} has no defined healthcheck", c.id)))?;
        let process = self.exec_process(c, &ExecSpec { command, ..Default::default() })?;
        let (out_r, out_w) = pipe_with(PipeFlags::CLOEXEC).ctx(|| "creating the healthcheck's pipe".into())?;
        let err_w = rustix::io::fcntl_dupfd_cloexec(&out_w, 3).ctx(|| "duplicating the healthcheck's pipe".into())?;
        let null = dev_null().ctx(|| "opening /dev/null".into())?;
        let stdio = runtime::container::Stdio { stdin: null, stdout: out_w, stderr: err_w };
        let start = SystemTime::now();
        let began = Instant::now();
        let opts = self.exec_options(c, process, Arc::new(stdio));
        let execed = runtime::container::exec(&opts);
        // Our copies of its pipe's write end go with it: its end of file is
        // then the process's (and its children's) doing.
        drop(opts);
        let execed = match execed.map_err(exec_error) {
            Ok(e) => e,
            // As podman: a command that cannot run is a failed check.
            Err(e) if matches!(e.kind, ErrorKind::CommandNotFound | ErrorKind::CommandCannotRun) => {
                let end = SystemTime::now();
                return Ok(Outcome { start, end, exit_code: 1, output: e.msg, timed_out: false });
            }
            Err(e) => return Err(e),
        };
        let deadline = began + hc.timeout();
        let (exit_code, output, timed_out) = collect(execed.pid, out_r, deadline);
        let output = shape_output(&output);
        Ok(Outcome { start, end: SystemTime::now(), exit_code, output, timed_out })
    }

    /// Add a result to `c`'s health, podman's rules: a success makes it
    /// healthy; a failure outside the start period adds to the streak,
    /// which at `retries` makes it unhealthy.
    fn record_check(&self, c: &Container, hc: &HealthConfig, o: Outcome) -> Result<HealthState> {
        let _lock = self.health_lock(&c.id)?;
        // Removed while it ran (`rm -f`): nothing to record it for.
        if !self.bundle_dir(&c.id).exists() {
            return Ok(HealthState::default());
        }
        let mut state = self.health(c).unwrap_or_default();
        let in_start_period = c.started_at.is_some_and(|t| o.start < t + hc.start_period());
        // podman's codes: 0, 1 for any failure, -1 past the timeout.
        let exit_code = match (o.timed_out, o.exit_code) {
            (true, _) => -1,
            (false, 0) => 0,
            (false, _) => 1,
        };
        if exit_code == 0 {
            state.status = "healthy".into();
            state.failing_streak = 0;
        } else {
            if state.status.is_empty() {
                state.status = "healthy".into();
            }
            if !in_start_period {
                state.failing_streak += 1;
                if state.failing_streak >= hc.retries {
                    state.status = "unhealthy".into();
                }
            }
        }
        state.log.push(HealthLog { start: o.start, end: o.end, exit_code, output: o.output });
        let extra = state.log.len().saturating_sub(MAX_LOG);
        state.log.drain(..extra);
        self.write_health(&c.id, &state)?;
        crate::events::container_health(self.runroot(), c, &state.status);
        Ok(state)
    }

    /// A checker's life (a fork of the monitor): run the check unless the
    /// container is no longer running (or is paused), record it. Its exit
    /// code.
    fn checker(&self, c: &Container, hc: &HealthConfig) -> i32 {
        // Our parent is the monitor: without it nobody waits for us.
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        // The process is a fork of this one: it must come from a binary the
        // container cannot write (the monitor's always does; never re-exec
        // it here, which would start its command over).
        if !runtime::exe_guard::is_running_protected() {
            tracing::warn!("healthcheck of {}: berth does not run from a protected binary", c.id);
            return 1;
        }
        match runtime::container::load(&self.runtime_root(), &c.id) {
            Ok((_, _, _, runtime::state::Status::Running)) => {}
            _ => return 0,
        }
        // For the test of the monitor's kill at the check's timeout +
        // CHECKER_GRACE: every checker hangs.
        if super::test_hook("BERTH_TEST_HANG_CHECKER") {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        match self.run_check(c, hc).and_then(|o| self.record_check(c, hc, o)) {
            Ok(_) => 0,
            Err(e) => {
                tracing::warn!("healthcheck of {}: {e}", c.id);
                1
            }
        }
    }
}

/// Read what the check's process writes until it exits (and its output
/// ends, for a moment more), killing its process group at `deadline`: its
/// exit code (128 + signal), its output, whether it timed out.
fn collect(pid: i32, out: OwnedFd, deadline: Instant) -> (i32, Vec<u8>, bool) {
    let Some(p) = Pid::from_raw(pid) else { return (255, Vec::new(), false) };
    let pidfd = rustix::process::pidfd_open(p, PidfdFlags::empty()).ok();
    let mut output = Vec::new();
    let mut out = Some(out);
    let mut code = None;
    let mut timed_out = false;
    // After the exit, what it wrote is in the pipe; a child it left behind
    // may hold the pipe open, so not for long.
    let mut drain_until = None;
    let mut buf = [0u8; 4096];
    loop {
        if code.is_some() && (out.is_none() || drain_until.is_some_and(|d| Instant::now() >= d)) {
            break;
        }
        let wake = drain_until.unwrap_or(deadline);
        let left = wake.saturating_duration_since(Instant::now());
        let mut fds = Vec::new();
        if let Some(o) = &out {
            fds.push(PollFd::new(o, PollFlags::IN));
        }
        if let (Some(p), None) = (&pidfd, code) {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        let timeout =
            rustix::event::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        let n = match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => 0,
        };
        let out_ready = out.is_some() && !fds[0].revents().is_empty();
        let exited = pidfd.is_some() && code.is_none() && fds.last().is_some_and(|f| !f.revents().is_empty());
        drop(fds);
        if n == 0 {
            if code.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                // Its process group: the runtime made it a session leader,
                // so a shell's children go too.
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                timed_out = true;
                code = Some(wait_exit(pid));
                drain_until = Some(Instant::now() + Duration::from_millis(100));
            }
            continue;
        }
        if out_ready {
            if let Some(o) = &out {
                match rustix::io::read(o, &mut buf) {
                    Ok(0) | Err(_) => out = None,
                    Ok(k) => {
                        if output.len() < 64 * 1024 {
                            output.extend_from_slice(&buf[..k]);
                        }
                    }
                }
            }
        }
        if exited || (pidfd.is_none() && out.is_none() && code.is_none()) {
            code = Some(wait_exit(pid));
            drain_until = Some(Instant::now() + Duration::from_millis(200));
        }
    }
    (code.unwrap_or(255), output, timed_out)
}

/// As podman keeps it: lines without their ends, joined by newlines, cut
/// at 500 bytes.
fn shape_output(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut s = text.lines().collect::<Vec<_>>().join("\n");
    if s.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The monitor's side: when the next check is due, and the checker
/// running now.
pub(super) struct Schedule {
    container: Container,
    config: HealthConfig,
    next: Instant,
    checker: Option<Checker>,
}

struct Checker {
    pid: Pid,
    pidfd: OwnedFd,
    kill_at: Instant,
}

impl Schedule {
    /// For a container whose check runs on an interval.
    pub(super) fn new(c: &Container) -> Option<Schedule> {
        let config = c.healthcheck.clone()?;
        config.command()?;
        let interval = config.interval();
        if interval.is_zero() {
            return None;
        }
        Some(Schedule { container: c.clone(), config, next: Instant::now() + interval, checker: None })
    }

    /// When the monitor must look at it again.
    pub(super) fn wake(&self) -> Instant {
        self.checker.as_ref().map_or(self.next, |c| c.kill_at)
    }

    /// The running checker's pidfd, readable once it exited.
    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.checker.as_ref().map(|c| c.pidfd.as_fd())
    }

    /// Start the check if it is due; kill a checker past its time.
    pub(super) fn tick(&mut self, engine: &Engine) {
        let now = Instant::now();
        if let Some(c) = &mut self.checker {
            if now >= c.kill_at {
                let _ = rustix::process::pidfd_send_signal(&c.pidfd, rustix::process::Signal::KILL);
                // Its pidfd says when it is gone; nothing to wake for until then.
                c.kill_at = now + Duration::from_secs(3600);
            }
            return;
        }
        if now < self.next {
            return;
        }
        match self.spawn(engine) {
            Ok(c) => self.checker = Some(c),
            Err(e) => {
                tracing::warn!("healthcheck of {}: {e}", self.container.id);
                self.next = now + self.config.interval();
            }
        }
    }

    /// The checker exited: reap it; the next check is an interval away.
    pub(super) fn reap(&mut self) {
        if let Some(c) = self.checker.take() {
            wait_exit(c.pid.as_raw_nonzero().get());
        }
        self.next = Instant::now() + self.config.interval();
    }

    /// The container exited: no checker may outlive it unreaped.
    pub(super) fn stop(&mut self) {
        if let Some(c) = self.checker.take() {
            let _ = rustix::process::pidfd_send_signal(&c.pidfd, rustix::process::Signal::KILL);
            wait_exit(c.pid.as_raw_nonzero().get());
        }
    }

    fn spawn(&self, engine: &Engine) -> Result<Checker> {
        // The monitor runs no threads; a fork needs that.
        if !is_single_threaded() {
            return Err(Error::new("the monitor is not single-threaded; skipping the check"));
        }
        // SAFETY: single-threaded (checked above); the child runs the
        // checker and `_exit`s.
        let pid = match unsafe { sys::process::fork() }.ctx(|| "forking the healthcheck".into())? {
            Forked::Child => {
                let code = engine.checker(&self.container, &self.config);
                sys::process::exit_immediately(code)
            }
            Forked::Parent(pid) => pid,
        };
        let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                wait_exit(pid.as_raw_nonzero().get());
                return Err(Error::caused("watching the healthcheck", io::Error::from(e)));
            }
        };
        Ok(Checker { pid, pidfd, kill_at: Instant::now() + self.config.timeout() + CHECKER_GRACE })
    }
}

fn is_single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")).map(str::trim) == Some("1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_podman_reads_them() {
        let hc = HealthConfig::from_flags("curl -f x || exit 1", "30s", 3, "30s", "0s").unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "curl -f x || exit 1"]);
        assert_eq!(
            (hc.interval_ns, hc.timeout_ns, hc.start_period_ns, hc.retries),
            (30_000_000_000, 30_000_000_000, 0, 3)
        );
        assert_eq!(hc.command().unwrap(), ["/bin/sh", "-c", "curl -f x || exit 1"]);
        let hc = HealthConfig::from_flags(r#"["CMD","ls","/"]"#, "disable", 1, "1m30s", "1.5s").unwrap();
        assert_eq!(hc.test, ["CMD", "ls", "/"]);
        assert_eq!(hc.command().unwrap(), ["ls", "/"]);
        assert_eq!((hc.interval_ns, hc.timeout_ns, hc.start_period_ns), (0, 90_000_000_000, 1_500_000_000));
        assert_eq!(HealthConfig::from_flags(r#"["ls","/"]"#, "1s", 3, "1s", "0").unwrap().test, ["CMD", "ls", "/"]);
        assert_eq!(HealthConfig::from_flags("none", "1s", 3, "1s", "0").unwrap().command(), None);
        let test = |cmd: &str| HealthConfig::from_flags(cmd, "1s", 3, "1s", "0").unwrap().test;
        assert_eq!(test("CMD ls  /"), ["CMD", "ls", "/"]);
        assert_eq!(test("CMD-SHELL echo  a"), ["CMD-SHELL", "echo  a"]);
        assert_eq!(test("none x"), ["NONE"]);
        assert_eq!(test(r#"["x"]"#), ["CMD-SHELL", "x"]);
        let err =
            |cmd: &str, i: &str, r: u32, t: &str, s: &str| HealthConfig::from_flags(cmd, i, r, t, s).unwrap_err().msg;
        assert_eq!(err("true", "x", 3, "1s", "0s"), r#"invalid healthcheck-interval: time: invalid duration "x""#);
        assert_eq!(
            err("true", "10", 3, "1s", "0s"),
            r#"invalid healthcheck-interval: time: missing unit in duration "10""#
        );
        assert_eq!(err("true", "1s", 0, "1s", "0s"), "healthcheck-retries must be greater than 0");
        assert_eq!(err("true", "1s", 3, "0s", "0s"), "healthcheck-timeout must be at least 1 second");
        assert_eq!(err("true", "1s", 3, "1s", "-1s"), "healthcheck-start-period must be 0 seconds or greater");
    }

    #[test]
    fn image_healthchecks_get_podmans_defaults() {
        let v = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000u64});
        let hc = HealthConfig::from_image(&v).unwrap();
        assert_eq!((hc.interval_ns, hc.timeout_ns, hc.retries), (1_000_000_000, 30_000_000_000, 3));
        assert_eq!(HealthConfig::from_image(&serde_json::json!({"Test": ["NONE"]})).unwrap().command(), None);
        assert!(HealthConfig::from_image(&serde_json::json!({})).is_none());
    }

    #[test]
    fn output_is_podmans_lines() {
        assert_eq!(shape_output(b"a\r\nb\n"), "a\nb");
        assert_eq!(shape_output(&[b'x'; 600]).len(), 500);
    }
}
