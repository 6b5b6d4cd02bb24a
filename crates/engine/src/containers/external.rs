//! External OCI runtimes (`--runtime runc|crun|PATH`): a container run by
//! any runc-compatible binary instead of the in-process runtime, as conmon
//! drives one for podman.
//!
//! The monitor stays the container's parent: it is a child subreaper
//! (PR_SET_CHILD_SUBREAPER), runs `RUNTIME --root <runroot>/ext/<name>
//! create --bundle B --pid-file P [--console-socket S] ID`, and once the
//! runtime has exited the container's init is reparented to it, so it waits
//! for it by pid as for its own. Without `-t` the runtime passes its stdio
//! (the monitor's pipes) through to the container; with `-t` the terminal's
//! master comes back over the console socket (SCM_RIGHTS).
//!
//! What other commands need is in `<runroot>/ext/<id>.json` ([`ExtState`]:
//! the runtime, its root, the init's pid and start time), the external
//! twin of the in-process runtime's state.json: every place that acts on a
//! running container (kill, pause, delete, its cgroup) asks it first. The
//! cgroup is the one config.json names, read directly (pids, OOM kills,
//! freezer state) rather than through the runtime.
//!
//! crun 1.8 refuses a hybrid cgroup layout (v1 controllers beside a cgroup2
//! mount, as on these hosts): berth then runs it, for every command, in a
//! mount namespace of its own where the cgroup2 mount is detached (the
//! host's is untouched), as `../shared/peers/crun-nsw` does.

use std::io::Read as _;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sys::signal::Signal;

use super::Container;
use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::Engine;

/// The runtime a container runs with (`--runtime`): the name as given
/// (podman's OCIRuntime) and the binary it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciRuntime {
    pub name: String,
    pub path: PathBuf,
}

/// The names podman's containers.conf knows (its `[engine.runtimes]`), plus
/// ours. Any other runtime is given by its path.
const KNOWN: &[&str] = &["crun", "runc", "runj", "kata", "runsc", "youki", "krun", "ocijail", "berth-runtime"];

/// Where a known name is looked for after `$PATH`.
const DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/sbin", "/bin"];

/// The ociVersion config.json claims for an external runtime: crun 1.8
/// refuses 1.2 ("unknown version specified"), and runc and crun read the
/// fields berth writes whatever version is claimed.
pub const EXTERNAL_OCI_VERSION: &str = "1.0.2-dev";

/// Resolve `--runtime NAME|PATH` as podman does: an absolute path must be
/// an executable file; a name must be one podman knows, found in `$PATH` or
/// the usual directories. podman's messages.
pub fn find_runtime(name: &str) -> Result<OciRuntime> {
    let invalid = |msg: String| Error::new(format!("{msg}: invalid argument"));
    if name.starts_with('/') {
        let path = PathBuf::from(name);
        if !is_executable(&path) {
            return Err(invalid(format!("no valid executable found for OCI runtime {name}")));
        }
        return Ok(OciRuntime { name: name.to_string(), path });
    }
    let not_found = || invalid(format!("default OCI runtime \"{name}\" not found"));
    if !KNOWN.contains(&name) {
        return Err(not_found());
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path_var).chain(DIRS.iter().map(PathBuf::from));
    for dir in dirs.filter(|d| d.is_absolute()) {
        let path = dir.join(name);
        if is_executable(&path) {
            return Ok(OciRuntime { name: name.to_string(), path });
        }
    }
    Err(not_found())
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What berth keeps about a container an external runtime runs, while it
/// exists there (`<runroot>/ext/<id>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ExtState {
    /// The runtime's binary.
    runtime: PathBuf,
    /// Its `--root`.
    root: PathBuf,
    /// The container's init on the host (0 until created).
    pid: i32,
    /// Its start time (/proc/PID/stat), so a reused pid is not taken for it.
    start_time: u64,
    /// A mount the runtime must not see: it runs in a mount namespace of
    /// its own without it (crun on a hybrid cgroup host).
    #[serde(default)]
    hide: Option<PathBuf>,
}

impl ExtState {
    fn alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid).is_some_and(|t| t == self.start_time)
    }
}

/// Field 22 of /proc/PID/stat, unless the process is gone or a zombie.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name, which may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The runtime's name for its root directory: the binary's file name.
fn root_name(rt: &Path) -> String {
    rt.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "runtime".into())
}

/// What a runtime command said on failure: its log's last error (json
/// lines, `--log-format json`), else its stderr's last line.
fn failure(what: &str, log: Option<&Path>, stderr: &[u8]) -> String {
    let from_log = log.and_then(|p| std::fs::read_to_string(p).ok()).and_then(|text| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .filter_map(|v| v["msg"].as_str().map(String::from))
            .next_back()
    });
    let from_stderr =
        || String::from_utf8_lossy(stderr).lines().map(str::trim).rfind(|l| !l.is_empty()).map(String::from);
    from_log.or_else(from_stderr).map_or_else(|| what.to_string(), |m| format!("{what}: {m}"))
}

/// `RUNTIME --root R` for container state `st`, in a mount namespace
/// without `st.hide` if it has one.
fn rt_command(st: &ExtState) -> Command {
    let mut cmd = Command::new(&st.runtime);
    cmd.arg("--root").arg(&st.root);
    if let Some(hide) = &st.hide {
        use std::os::unix::ffi::OsStrExt as _;
        if let Ok(path) = std::ffi::CString::new(hide.as_os_str().as_bytes()) {
            sys::process::spawn_without_mount(&mut cmd, path);
        }
    }
    cmd
}

/// What crun 1.8 says of a hybrid cgroup layout.
const HYBRID_REFUSAL: &str = "hybrid mode not supported";

/// The cgroup2 mount of a hybrid layout (cgroup v1 controllers mounted
/// too), e.g. /sys/fs/cgroup/unified.
fn hybrid_cgroup2() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let fstype = |l: &str| l.split_once(" - ").and_then(|(_, rest)| rest.split(' ').next().map(String::from));
    let v1 = info.lines().any(|l| fstype(l).as_deref() == Some("cgroup"));
    let v2 = info.lines().find(|l| fstype(l).as_deref() == Some("cgroup2"))?;
    v1.then(|| PathBuf::from(v2.split(' ').nth(4).unwrap_or_default())).filter(|p| p.is_absolute())
}

impl Engine {
    /// `<runroot>/ext`: the runtimes' roots and berth's state of each container.
    pub(super) fn ext_dir(&self) -> PathBuf {
        self.runroot.join("ext")
    }

    fn ext_state_path(&self, id: &str) -> PathBuf {
        self.ext_dir().join(format!("{id}.json"))
    }

    /// The state of container `id` if an external runtime has it.
    pub(super) fn ext_state(&self, id: &str) -> Option<ExtState> {
        let text = std::fs::read(self.ext_state_path(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn save_ext_state(&self, id: &str, st: &ExtState) -> Result<()> {
        let path = self.ext_state_path(id);
        let bytes = serde_json::to_vec(st).ctx(|| "encoding the runtime state".into())?;
        sys::fs::write_atomic(&path, &bytes, 0o600, sys::fs::Durability::ReplaceOnly)
            .ctx(|| format!("writing {}", path.display()))
    }

    /// `RUNTIME --root R ARGS...` for container state `st`, its output
    /// captured; an error in the runtime's words unless it succeeded.
    fn ext_run(&self, st: &ExtState, what: &str, args: &[&str]) -> Result<()> {
        let out = rt_command(st)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::caused(format_args!("running {}", st.runtime.display()), e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::new(format!("{what}{}", failure("", None, &out.stderr))))
    }

    /// Create container `c` with runtime `rt` (run by its monitor, which
    /// becomes the init's parent): the init's pid and, with `-t`, the
    /// terminal's master. `stdio` is the container's fds 0-2 (ignored with `-t`).
    ///
    /// A runtime that refuses this host's hybrid cgroup layout (crun 1.8)
    /// runs in a mount namespace of its own without the cgroup2 mount (what
    /// `../shared/peers/crun-nsw` does): crun always on such a host, another
    /// runtime once it refused (then again, and from then on always).
    pub(super) fn ext_create(
        &self,
        c: &Container,
        rt: &OciRuntime,
        stdio: runtime::container::Stdio,
    ) -> Result<(i32, Option<OwnedFd>)> {
        let dir = self.ext_dir();
        let root = dir.join(root_name(&rt.path));
        for d in [&dir, &root] {
            sys::fs::create_private_dir(d, super::PRIVATE).ctx(|| format!("creating {}", d.display()))?;
        }
        // The init is reparented to us when the runtime exits.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .ctx(|| "becoming a child subreaper".into())?;
        // crun (1.8) refuses a hybrid layout, as may a runtime that did
        // before: do not ask (its refusal would reach the container's
        // stderr, which it is given).
        let refused = dir.join(format!("{}.hybrid-refused", root_name(&rt.path)));
        let hide = if root_name(&rt.path).starts_with("crun") || refused.exists() { hybrid_cgroup2() } else { None };
        let mut st = ExtState { runtime: rt.path.clone(), root, pid: 0, start_time: 0, hide };
        // Before the runtime runs: a failure from here on is cleaned up by
        // `ext_delete`, which needs to know the runtime.
        self.save_ext_state(&c.id, &st)?;
        let pid_file = dir.join(format!("{}.pid", c.id));
        let log = dir.join(format!("{}.log", c.id));
        let mut created = self.ext_create_once(c, &st, &stdio, &pid_file, &log);
        let hybrid_refusal = matches!(&created, Err(m) if m.contains(HYBRID_REFUSAL));
        if let (true, None, Some(hide)) = (hybrid_refusal, &st.hide, hybrid_cgroup2()) {
            tracing::debug!("{} refuses the hybrid cgroup layout: running it without {}", rt.name, hide.display());
            let _ = self.ext_run(&st, "", &["delete", "--force", &c.id]);
            st.hide = Some(hide);
            self.save_ext_state(&c.id, &st)?;
            if let Err(e) = sys::fs::write_atomic(&refused, b"", 0o600, sys::fs::Durability::ReplaceOnly) {
                tracing::debug!("writing {}: {e}", refused.display());
            }
            created = self.ext_create_once(c, &st, &stdio, &pid_file, &log);
        }
        drop(stdio);
        let terminal = match created {
            Ok(t) => t,
            Err(msg) => {
                reap_strays(None);
                let e = refusal_hint(&rt.name, format!("{}: creating container {}{msg}", rt.name, c.id));
                return Err(e.refused_by_runtime());
            }
        };
        let text = std::fs::read_to_string(&pid_file).ctx(|| format!("reading {}", pid_file.display()))?;
        let pid: i32 = text.trim().parse().map_err(|_| Error::new(format!("{}: bad pid file {text:?}", rt.name)))?;
        reap_strays(Some(pid));
        st.pid = pid;
        st.start_time =
            start_time(pid).ok_or_else(|| Error::new(format!("{}: the container's init {pid} is gone", rt.name)))?;
        self.save_ext_state(&c.id, &st)?;
        Ok((pid, terminal))
    }

    /// One `RUNTIME create`: with `-t` the terminal's master; on failure
    /// what the runtime said (": REASON").
    fn ext_create_once(
        &self,
        c: &Container,
        st: &ExtState,
        stdio: &runtime::container::Stdio,
        pid_file: &Path,
        log: &Path,
    ) -> std::result::Result<Option<OwnedFd>, String> {
        for f in [pid_file, log] {
            let _ = std::fs::remove_file(f);
        }
        let mut cmd = rt_command(st);
        cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        cmd.arg("create").arg("--bundle").arg(self.bundle_dir(&c.id)).arg("--pid-file").arg(pid_file);
        let console = if c.terminal {
            // In the bundle, by a relative path: runc resolves it after
            // moving into the bundle, and a runtime that does not, from
            // the cwd given here.
            let bundle = self.bundle_dir(&c.id);
            let sock = ConsoleSocket::listen(&bundle, "console.sock").map_err(|e| format!(": {e}"))?;
            cmd.current_dir(&bundle).arg("--console-socket").arg(&sock.name);
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            Some(sock)
        } else {
            let dup = |fd: &OwnedFd| fd.try_clone().map(Stdio::from).map_err(|e| format!(": duplicating stdio: {e}"));
            cmd.stdin(dup(&stdio.stdin)?).stdout(dup(&stdio.stdout)?).stderr(dup(&stdio.stderr)?);
            None
        };
        cmd.arg(&c.id);
        let status = cmd.status().map_err(|e| format!(": running {}: {e}", st.runtime.display()))?;
        // Our copies of its stdio (moved into `cmd`) close with it.
        drop(cmd);
        if !status.success() {
            return Err(failure("", Some(log), &[]));
        }
        match console {
            Some(sock) => sock.receive().map(Some).map_err(|e| format!(": {e}")),
            None => Ok(None),
        }
    }

    /// `RUNTIME start ID`: the created container runs its process.
    pub(super) fn ext_start(&self, id: &str) -> Result<()> {
        let st = self.ext_state(id).ok_or_else(|| Error::new(format!("container {id}: no runtime state")))?;
        self.ext_run(&st, &format!("starting container {id}"), &["start", id]).map_err(Error::refused_by_runtime)
    }

    /// Whether container `id`'s init, run by an external runtime, lives.
    pub(super) fn ext_alive(&self, id: &str) -> bool {
        self.ext_state(id).is_some_and(|st| st.alive())
    }

    /// Forget container `id` in its external runtime (killing what is left)
    /// and berth's state of it; nothing to do if none has it.
    pub(super) fn ext_delete(&self, id: &str) -> Result<()> {
        let Some(st) = self.ext_state(id) else { return Ok(()) };
        let deleted = self.ext_run(&st, &format!("deleting container {id}"), &["delete", "--force", id]);
        // In a monitor (a subreaper), what the runtime left behind is ours.
        if rustix::process::child_subreaper().is_ok_and(|p| p.is_some()) {
            reap_strays(None);
        }
        if let Err(e) = deleted {
            // Never created there (it failed first), or already gone.
            let known = st.root.join(id).exists();
            if known {
                return Err(e);
            }
        }
        let dir = self.ext_dir();
        for f in [format!("{id}.pid"), format!("{id}.log"), format!("{id}.json")] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        Ok(())
    }

    /// The cgroup container `id`'s config.json names (an external runtime
    /// makes it there).
    fn ext_cgroup(&self, id: &str) -> Option<runtime::cgroups::Manager> {
        let text = std::fs::read(self.bundle_dir(id).join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&text).ok()?;
        let path = config.pointer("/linux/cgroupsPath").and_then(|v| v.as_str());
        runtime::cgroups::Manager::new(path, id).ok()
    }

    /// Container `id`'s cgroup if an external runtime runs it (`None`: the
    /// in-process runtime's state has it), for what reads it (stats).
    pub(super) fn external_cgroup(&self, id: &str) -> Option<runtime::cgroups::Manager> {
        self.ext_state(id).and_then(|_| self.ext_cgroup(id))
    }

    /// Send `sig` to container `id`'s init (`all`: to every process in its
    /// cgroup), whichever runtime runs it.
    pub(super) fn signal_container(&self, id: &str, sig: Signal, all: bool) -> Result<()> {
        signal(&self.runtime_root(), &self.ext_dir(), id, sig, all)
    }

    /// Freeze (`pause`) or thaw (`resume`) container `id`.
    pub(super) fn freeze_container(&self, id: &str, freeze: bool) -> Result<()> {
        if let Some(st) = self.ext_state(id) {
            let (verb, what) = if freeze { ("pause", "pausing") } else { ("resume", "resuming") };
            return self.ext_run(&st, &format!("{what} container {id}"), &[verb, id]);
        }
        let rt = self.runtime_root();
        if freeze {
            runtime::container::pause(&rt, id)?;
        } else {
            runtime::container::resume(&rt, id)?;
        }
        Ok(())
    }

    /// Whether container `id`'s processes are frozen.
    pub(super) fn container_frozen(&self, id: &str) -> bool {
        if let Some(cg) = self.external_cgroup(id) {
            return cg.is_frozen().unwrap_or(false);
        }
        matches!(runtime::container::load(&self.runtime_root(), id), Ok((_, _, _, runtime::state::Status::Paused)))
    }

    /// Host pids of every process of container `id`.
    pub(super) fn container_pids(&self, id: &str) -> Result<Vec<i32>> {
        if self.ext_state(id).is_some() {
            let cg = self.ext_cgroup(id).ok_or_else(|| Error::new(format!("container {id}: no cgroup")))?;
            return Ok(cg.pids()?);
        }
        Ok(runtime::container::pids(&self.runtime_root(), id)?)
    }

    /// Whether the OOM killer killed one of container `id`'s processes.
    pub(super) fn container_oom_killed(&self, id: &str) -> bool {
        if let Some(cg) = self.external_cgroup(id) {
            return cg.oom_kills().is_ok_and(|n| n > 0);
        }
        runtime::container::oom_kills(&self.runtime_root(), id).is_ok_and(|n| n > 0)
    }

    /// Container `id`'s cgroup path (inspect's CgroupPath) while it runs.
    pub(super) fn container_cgroup_path(&self, id: &str) -> Option<String> {
        if let Some(cg) = self.external_cgroup(id) {
            return cg.cgroup_path();
        }
        runtime::container::load(&self.runtime_root(), id)
            .ok()
            .and_then(|(_, _, st, _)| st.cgroup.and_then(|cg| cg.cgroup_path()))
    }

    /// `RUNTIME exec --process JSON [--tty] [--detach --pid-file P] ID`
    /// for container `c`, ready to be given its stdio and run; the process
    /// file (removed when the guard goes) and the runtime's log.
    fn ext_exec_command(
        &self,
        c: &Container,
        process: &oci_spec::runtime::Process,
        detach: Option<&Path>,
        console: Option<&str>,
    ) -> Result<(Command, TempFile, TempFile)> {
        let st = self.ext_state(&c.id).ok_or_else(|| Error::new(format!("container {}: no runtime state", c.id)))?;
        let dir = self.ext_dir();
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let file = TempFile(dir.join(format!("{}.exec-{me}.json", c.id)));
        let log = TempFile(dir.join(format!("{}.exec-{me}.log", c.id)));
        let bytes = serde_json::to_vec(process).ctx(|| "encoding the exec's process".into())?;
        sys::fs::write_atomic(&file.0, &bytes, 0o600, sys::fs::Durability::ReplaceOnly)
            .ctx(|| format!("writing {}", file.0.display()))?;
        let mut cmd = rt_command(&st);
        cmd.arg("--log").arg(&log.0).arg("--log-format").arg("json");
        cmd.arg("exec").arg("--process").arg(&file.0);
        if process.terminal() == Some(true) {
            cmd.arg("--tty");
        }
        if let Some(pid_file) = detach {
            cmd.arg("--detach").arg("--pid-file").arg(pid_file);
        }
        if let Some(sock) = console {
            // Relative, in the bundle: see `ext_create`.
            cmd.current_dir(self.bundle_dir(&c.id)).arg("--console-socket").arg(sock);
        }
        cmd.arg(&c.id);
        Ok((cmd, file, log))
    }

    /// An attached exec through container `c`'s external runtime, which
    /// stays the process's parent (and with `-t` proxies its terminal on
    /// our stdio, as `runc exec -t` does); we wait for the runtime and relay
    /// its pipes. Its exit code (the process's).
    pub(super) fn ext_exec_attached(
        &self,
        c: &Container,
        process: &oci_spec::runtime::Process,
        terminal: bool,
        interactive: bool,
        lock: super::lock::ContainerLock,
    ) -> Result<i32> {
        if terminal {
            // Detached with a console socket, as a keeper: we are then the
            // process's parent and proxy its terminal as for our own runtime.
            let (pid, master) = self.ext_exec_detached(c, process)?;
            drop(lock);
            let relays = super::stdio::Wiring::new(true, interactive)?.attach()?;
            return Ok(runtime::container::foreground::wait_relaying(pid, master, relays));
        }
        let (mut cmd, _file, log) = self.ext_exec_command(c, process, None, None)?;
        let wiring = super::stdio::Wiring::new(false, interactive)?;
        let fds = wiring.for_container();
        let dup = |fd: &OwnedFd| fd.try_clone().ctx(|| "duplicating the exec's stdio".into());
        cmd.stdin(Stdio::from(dup(&fds.stdin)?))
            .stdout(Stdio::from(dup(&fds.stdout)?))
            .stderr(Stdio::from(dup(&fds.stderr)?));
        drop(fds);
        let child = cmd.spawn();
        // Our copies of its ends go: its pipes end when it does.
        drop(cmd);
        drop(lock);
        let relays = wiring.attach()?;
        let child = child.map_err(|e| Error::caused(format_args!("running an exec in {}", c.id), e))?;
        let pid = i32::try_from(child.id()).unwrap_or(-1);
        let code = runtime::container::foreground::wait_relaying(pid, None, relays);
        // The runtime could not start the process (its code 255; it said
        // why on the process's stderr): podman's codes for a command not
        // found or not executable.
        if code == 255 {
            let msg = failure("", Some(&log.0), &[]);
            if !msg.is_empty() {
                return Ok(match exec_failure(Error::new(msg)).kind {
                    ErrorKind::CommandNotFound => 127,
                    ErrorKind::CommandCannotRun => 126,
                    _ => 255,
                });
            }
        }
        Ok(code)
    }

    /// A detached exec through container `c`'s external runtime, from its
    /// exec keeper (a subreaper, so the process is reparented to it when
    /// the runtime exits): the process's pid, and with `-t` its terminal.
    pub(super) fn ext_exec_detached(
        &self,
        c: &Container,
        process: &oci_spec::runtime::Process,
    ) -> Result<(i32, Option<OwnedFd>)> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .ctx(|| "becoming a child subreaper".into())?;
        let pid_file =
            TempFile(self.ext_dir().join(format!("{}.exec-{}.pid", c.id, rustix::process::getpid().as_raw_nonzero())));
        // With `-t` the terminal's master comes back over a console socket.
        let console = match process.terminal() {
            Some(true) => {
                let name = format!("exec-{}.sock", rustix::process::getpid().as_raw_nonzero());
                Some(ConsoleSocket::listen(&self.bundle_dir(&c.id), &name)?)
            }
            _ => None,
        };
        let sock_name = console.as_ref().map(|s| s.name.as_str());
        let (mut cmd, _file, log) = self.ext_exec_command(c, process, Some(&pid_file.0), sock_name)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd.status().map_err(|e| Error::caused(format_args!("running exec in {}", c.id), e))?;
        if !status.success() {
            reap_strays(None);
            let msg = failure("", Some(&log.0), &[]);
            return Err(exec_failure(Error::new(msg.trim_start_matches(": ").to_string())));
        }
        let pid = read_pid(&pid_file.0)?;
        reap_strays(Some(pid));
        let terminal = match console {
            Some(sock) => Some(sock.receive()?),
            None => None,
        };
        Ok((pid, terminal))
    }
}

/// [`Engine::signal_container`] for those without an engine (a signal
/// forwarder's thread).
pub(super) fn signal(rt_root: &Path, ext_dir: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let state = std::fs::read(ext_dir.join(format!("{id}.json")))
        .ok()
        .and_then(|t| serde_json::from_slice::<ExtState>(&t).ok());
    let Some(st) = state else {
        return Ok(runtime::container::kill(rt_root, id, sig, all)?);
    };
    let num = sig.as_raw().to_string();
    let mut args = vec!["kill"];
    if all {
        args.push("--all");
    }
    args.extend([id, num.as_str()]);
    let out = rt_command(&st)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::caused(format_args!("running {}", st.runtime.display()), e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::new(format!("signalling container {id}{}", failure("", None, &out.stderr))))
}

/// A file removed when dropped.
pub(super) struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// crun 1.8 refuses a hybrid cgroup layout (v1 controllers beside a
/// cgroup2 mount), which berth's workaround did not cure: say what works.
fn refusal_hint(runtime: &str, mut msg: String) -> Error {
    if msg.contains(HYBRID_REFUSAL) {
        msg = format!(
            "{msg} (this host mixes cgroup v1 and v2, and {runtime} refused it even run without the cgroup2 \
             mount: use --runtime runc, or a wrapper that shows it cgroup v1 only, like \
             `unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun \"$@\"' crun \"$@\"`)"
        );
    }
    Error::new(msg)
}

/// Runtime helpers that exited after we became their subreaper are our
/// zombies now: reap them, but never `keep`, the container's init (its
/// exit is the monitor's to collect).
fn reap_strays(keep: Option<i32>) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(children) = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")) else { return };
    for pid in children.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
        if Some(pid) == keep || start_time(pid).is_some() {
            continue; // the init, or alive
        }
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        }
    }
}

/// The socket an external runtime sends the terminal's master on
/// (`--console-socket`): a stream socket in the bundle while the runtime
/// creates the container, bound through the directory's fd since a deep
/// root passes sun_path's 108 bytes.
struct ConsoleSocket {
    dir: OwnedFd,
    name: String,
    sock: OwnedFd,
}

impl ConsoleSocket {
    fn listen(dir: &Path, name: &str) -> Result<ConsoleSocket> {
        use rustix::fs::{Mode, OFlags};
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let name = name.to_string();
        let made = (|| -> std::io::Result<ConsoleSocket> {
            let dirfd = rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
            let _ = rustix::fs::unlinkat(&dirfd, &name, rustix::fs::AtFlags::empty());
            let sock = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
            let addr = SocketAddrUnix::new(format!("/proc/self/fd/{}/{name}", dirfd.as_raw_fd()))?;
            rustix::net::bind(&sock, &addr)?;
            rustix::net::listen(&sock, 1)?;
            Ok(ConsoleSocket { dir: dirfd, name: name.clone(), sock })
        })();
        made.ctx(|| format!("listening on {}", dir.join(&name).display()))
    }

    /// The master the runtime sent (it has exited: the connection waits in
    /// the backlog with the fd in it).
    fn receive(&self) -> Result<OwnedFd> {
        let got = (|| -> std::io::Result<Option<OwnedFd>> {
            rustix::io::ioctl_fionbio(&self.sock, true)?;
            let conn = rustix::net::accept_with(&self.sock, rustix::net::SocketFlags::CLOEXEC)?;
            // The data is the terminal's name, which nothing needs.
            let mut buf = [0u8; 4096];
            Ok(sys::fdpass::recv(conn.as_fd(), &mut buf)?.1)
        })();
        let fd = got.ctx(|| "receiving the container's terminal".into())?;
        let master = fd.ok_or_else(|| Error::new("the runtime sent no terminal on the console socket"))?;
        // The monitor polls it with the container's other outputs.
        let _ = rustix::io::ioctl_fionbio(&master, false);
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, &self.name, rustix::fs::AtFlags::empty());
    }
}

/// An exec error from an external runtime: podman's exit codes for a
/// command not found (127) and one that cannot run (126) when the runtime
/// says so.
pub(super) fn exec_failure(mut e: Error) -> Error {
    let m = e.msg.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        e.kind = ErrorKind::CommandNotFound;
        e.msg.push_str(": OCI runtime attempted to invoke a command that was not found");
    } else if m.contains("permission denied") {
        e.kind = ErrorKind::CommandCannotRun;
        e.msg.push_str(": OCI permission denied");
    }
    e
}

/// Read all of `f` (a pid file).
pub(super) fn read_pid(path: &Path) -> Result<i32> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .ctx(|| format!("reading {}", path.display()))?;
    text.trim().parse().map_err(|_| Error::new(format!("bad pid file {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_found_as_podman_finds_them() {
        let rt = find_runtime("/bin/sh").unwrap();
        assert_eq!((rt.name.as_str(), rt.path.as_path()), ("/bin/sh", Path::new("/bin/sh")));
        let e = |n: &str| find_runtime(n).unwrap_err().msg;
        assert_eq!(e("/nonexistent"), "no valid executable found for OCI runtime /nonexistent: invalid argument");
        // A directory, or a file nobody may execute.
        assert_eq!(e("/tmp"), "no valid executable found for OCI runtime /tmp: invalid argument");
        assert_eq!(e("/etc/passwd"), "no valid executable found for OCI runtime /etc/passwd: invalid argument");
        // Names: only those podman knows; relative paths are names.
        assert_eq!(e("sh"), "default OCI runtime \"sh\" not found: invalid argument");
        assert_eq!(e("./runc"), "default OCI runtime \"./runc\" not found: invalid argument");
    }

    #[test]
    fn the_runtimes_last_error_is_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"w\"}\nnot json\n{\"level\":\"error\",\"msg\":\"first\"}\n\
             {\"level\":\"error\",\"msg\":\"last\"}\n{\"level\":\"info\",\"msg\":\"i\"}\n",
        )
        .unwrap();
        assert_eq!(failure("creating", Some(&log), b"stderr line\n"), "creating: last");
        assert_eq!(failure("killing", None, b"one\n two \n\n"), "killing: two");
        assert_eq!(failure("killing", Some(&dir.path().join("none")), b""), "killing");
    }

    #[test]
    fn a_process_start_time_tells_a_reused_pid() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let t = start_time(me).unwrap();
        let st = ExtState { runtime: "/x".into(), root: "/y".into(), pid: me, start_time: t, hide: None };
        assert!(st.alive());
        assert!(!ExtState { start_time: t + 1, ..st.clone() }.alive());
        assert!(!ExtState { pid: 0, ..st }.alive());
    }
}
