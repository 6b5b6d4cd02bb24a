//! Shared harness for berth-runtime's integration tests: real containers, as
//! root, each test with its own state root and bundle so tests run in parallel.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// Fail loudly (never skip) when the machine lacks what the tests need.
pub fn require_root() {
    assert!(is_root(), "these tests run real containers and must run as root");
    assert!(Path::new("/bin/busybox").exists(), "missing /bin/busybox: apt-get install busybox-static");
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique container id for this test process.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// One test's world: a state root, a bundle with a busybox rootfs and a
/// config.json that the test edits as JSON.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub config: Value,
    pub id: String,
}

impl Env {
    pub fn new(prefix: &str) -> Env {
        require_root();
        let dir = tempfile::Builder::new().prefix("berth-rt-test").tempdir_in("/var/tmp").expect("tempdir");
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let config = default_config();
        Env { dir, root, bundle, config, id: unique_id(prefix) }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// Set process.args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Shell command as the process.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    pub fn write_config(&self) {
        std::fs::write(self.bundle.join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }

    /// berth-runtime with this env's --root.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Run berth-runtime with args, stdin closed; returns the output.
    /// stdout/stderr go through files, not pipes: a detached container
    /// inherits them and would keep a pipe open long after the command ended.
    pub fn rt(&self, args: &[&str]) -> Output {
        run_capture(self.cmd().args(args))
    }

    /// `run` this env's container in the foreground (config written first).
    pub fn run(&self) -> Output {
        self.write_config();
        self.rt(&["run", "--bundle", self.bundle.to_str().unwrap(), &self.id])
    }

    /// `create` (config written first).
    pub fn create(&self) -> Output {
        self.write_config();
        self.rt(&["create", "--bundle", self.bundle.to_str().unwrap(), &self.id])
    }

    pub fn state(&self) -> Value {
        let out = self.rt(&["state", &self.id]);
        assert!(out.status.success(), "state failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("state json")
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("").to_string()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave nothing behind even when a test failed half-way.
        let _ = self.rt(&["delete", "--force", &self.id]);
    }
}

/// Run `cmd` with stdin closed and stdout/stderr captured through temp files.
pub fn run_capture(cmd: &mut Command) -> Output {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .expect("spawn");
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output { status, stdout: read(out), stderr: read(err) }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "command failed ({:?}): stdout={} stderr={}", o.status, stdout(o), stderr(o));
    stdout(o)
}

/// Assert failure with a one-line error containing `want`.
#[track_caller]
pub fn fails_with(o: &Output, want: &str) {
    assert!(!o.status.success(), "command unexpectedly succeeded: {}", stdout(o));
    let e = stderr(o);
    assert!(e.contains(want), "error {e:?} does not contain {want:?}");
    assert_eq!(e.trim_end().lines().count(), 1, "error must be one line: {e:?}");
}

pub use testkit::rootfs::make_busybox_rootfs as make_rootfs;

/// The config `berth-runtime spec` writes, non-interactive, args `true`.
pub fn default_config() -> Value {
    let t = tempfile::tempdir().unwrap();
    let o = Command::new(BIN).args(["spec", "--bundle"]).arg(t.path()).output().expect("spec");
    assert!(o.status.success(), "spec failed: {}", stderr(&o));
    let mut v: Value = serde_json::from_slice(&std::fs::read(t.path().join("config.json")).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["true"]);
    v
}

/// Host cgroup v1 directory of a controller for a container's cgroups path.
pub fn cgroup_v1_dir(controller: &str, cgroups_path: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/{controller}{cgroups_path}"))
}

// ---- Helpers for cli.rs / bad_input.rs ----

/// Poll `f` every 10ms until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Is `pid` a live (non-zombie) process?
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the last ')' (the command may contain spaces).
        Ok(s) => {
            s.rsplit_once(')').is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}

/// The pids listed in a cgroup v1 controller's cgroup.procs, sorted.
pub fn cgroup_procs(controller: &str, cgroups_path: &str) -> Vec<i32> {
    let text =
        std::fs::read_to_string(cgroup_v1_dir(controller, cgroups_path).join("cgroup.procs")).unwrap_or_default();
    let mut v: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    v.sort();
    v
}

impl Env {
    pub fn bundle_str(&self) -> &str {
        self.bundle.to_str().unwrap()
    }

    pub fn root_str(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// Put the container in a known cgroup, "/berth-test/<id>", and return that path.
    pub fn set_cgroups_path(&mut self) -> String {
        let p = format!("/berth-test/{}", self.id);
        self.config["linux"]["cgroupsPath"] = serde_json::json!(p);
        p
    }

    /// Bind-mount a fresh host directory at `dest` in the container; returns the host side.
    pub fn share(&mut self, dest: &str) -> PathBuf {
        let host = self.dir.path().join(format!("share{}", dest.replace('/', "_")));
        std::fs::create_dir_all(&host).unwrap();
        let m = json!({"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rw"]});
        self.config["mounts"].as_array_mut().expect("mounts").push(m);
        host
    }

    /// Poll `state` until the status is `want` (2s); panics otherwise.
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        let mut last = String::new();
        let ok = wait_until(std::time::Duration::from_secs(2), || {
            last = self.status();
            last == want
        });
        assert!(ok, "container {} status {last:?}, want {want:?}", self.id);
    }

    /// The init's host pid from `state`.
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().expect("pid") as i32
    }

    /// Create and start; asserts both succeed and the container runs.
    pub fn start_running(&self) {
        ok(&self.create());
        ok(&self.rt(&["start", &self.id]));
        assert_eq!(self.status(), "running");
    }
}

/// Nothing of `e`'s container may remain: state dir, cgroup (every v1
/// controller and the unified hierarchy), host mounts of the bundle, or a
/// process (the init is a copy of the runtime, its command line names the id).
#[track_caller]
pub fn assert_clean(e: &Env, cg: &str) {
    assert!(!e.root.join(&e.id).exists(), "state dir {} left behind", e.root.join(&e.id).display());
    for ctrl in ["memory", "pids", "freezer", "cpu", "devices", "blkio", "unified"] {
        let d = cgroup_v1_dir(ctrl, cg);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let bundle = e.bundle.to_str().unwrap();
    assert!(!mi.lines().any(|l| l.contains(bundle)), "mount of {bundle} left behind");
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.split(' ').any(|w| w == e.id) {
            assert!(!pid_alive(pid), "process {pid} ({cmd}) left behind");
        }
    }
}

// ---- Terminals ----

/// A console socket: a thread accepts one connection, receives the pty master
/// over SCM_RIGHTS, types `input` into it and reads from it until the slave
/// side closes (EIO).
pub struct ConsoleSocket {
    path: PathBuf,
    rx: std::sync::mpsc::Receiver<Result<String, String>>,
}

impl ConsoleSocket {
    pub fn new(dir: &Path) -> ConsoleSocket {
        Self::typing(dir, b"")
    }

    /// A console socket whose terminal receives `input` as if typed.
    pub fn typing(dir: &Path, input: &[u8]) -> ConsoleSocket {
        use std::io::{Read, Write};
        let path = dir.join(format!("console-{}.sock", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind console socket");
        let input = input.to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = (|| -> Result<String, String> {
                let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
                let mut f = std::fs::File::from(recv_fd(&stream)?);
                f.write_all(&input).map_err(|e| format!("type into the terminal: {e}"))?;
                let mut out = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => out.extend_from_slice(&buf[..n]),
                        // EIO: every slave fd is closed, the process is gone.
                        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => break,
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(String::from_utf8_lossy(&out).replace("\r\n", "\n"))
            })();
            let _ = tx.send(r);
        });
        ConsoleSocket { path, rx }
    }

    pub fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Everything the terminal printed.
    pub fn output(&self) -> String {
        match self.rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(_) => panic!("no terminal output within 5s"),
        }
    }
}

/// Receive one fd sent with SCM_RIGHTS on `stream`.
pub fn recv_fd(stream: &std::os::unix::net::UnixStream) -> Result<std::os::fd::OwnedFd, String> {
    recv_with_fd(stream)?.1.ok_or_else(|| "no fd in the console socket message".into())
}

/// Receive one message on `stream`: its data and the fd it carries, if any.
pub fn recv_with_fd(
    stream: &std::os::unix::net::UnixStream,
) -> Result<(Vec<u8>, Option<std::os::fd::OwnedFd>), String> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let n = recvmsg(stream, &mut [std::io::IoSliceMut::new(&mut buf)], &mut cmsg, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| format!("recvmsg: {e}"))?
        .bytes;
    buf.truncate(n);
    let mut fd = None;
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            fd = fd.or(fds.next());
        }
    }
    Ok((buf, fd))
}
