//! Container escapes, attempted for real: each test mounts the attack from
//! inside (or against) a real container and asserts that it fails and that
//! the host is left as it was. Every test is written so that it would fail
//! against a runtime without the corresponding defence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// `exec` a shell script in the container (foreground).
fn exec_sh(e: &Env, script: &str) -> Output {
    e.rt(&["exec", &e.id, "sh", "-c", script])
}

/// The same command line as `Env::rt`, but through another runtime binary.
fn rt_bin(bin: &Path, e: &Env, args: &[&str]) -> Output {
    run_capture(Command::new(bin).arg("--root").arg(&e.root).args(args))
}

/// Drop every mount whose destination is in `dests`.
fn drop_mounts(e: &mut Env, dests: &[&str]) {
    let m = e.config["mounts"].as_array_mut().unwrap();
    m.retain(|m| !dests.contains(&m["destination"].as_str().unwrap_or("")));
}

/// Config without any /dev mount: the runtime then makes /dev itself.
fn no_dev_mounts(e: &mut Env) {
    drop_mounts(e, &["/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"]);
}

fn add_mount(e: &mut Env, m: Value) {
    e.config["mounts"].as_array_mut().unwrap().push(m);
}

/// A fresh host directory under /tmp (the place an escape would aim at).
fn host_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("berth-sec-{tag}-")).tempdir_in("/tmp").unwrap()
}

fn dir_entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Lines of the host's (this test process's) mountinfo that mention `s`.
fn host_mounts_mentioning(s: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(s))
        .map(String::from)
        .collect()
}

/// The fds a process has open, as the host sees them.
fn open_fds(pid: i64) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

fn init_pid(e: &Env) -> i64 {
    e.state()["pid"].as_i64().unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `cmd` with `fd` placed at fd 3 of the child (not close-on-exec).
fn with_fd3(cmd: &mut Command, fd: &impl AsRawFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // SAFETY: fd 3 of the child is ours to replace; ManuallyDrop
            // keeps this handle from closing it, and `raw` is open in the
            // child (inherited from the parent, which holds it).
            let mut three = std::mem::ManuallyDrop::new(OwnedFd::from_raw_fd(3));
            if raw == 3 {
                rustix::io::fcntl_setfd(&*three, rustix::io::FdFlags::empty())?;
            } else {
                rustix::io::dup2(std::os::fd::BorrowedFd::borrow_raw(raw), &mut three)?;
            }
            Ok(())
        });
    }
}

/// Restores a host sysctl file if a test's attack managed to change it, so a
/// failing test does not leave the machine broken.
struct SysctlGuard {
    path: &'static str,
    saved: String,
}

impl SysctlGuard {
    fn new(path: &'static str) -> Self {
        SysctlGuard { path, saved: std::fs::read_to_string(path).unwrap() }
    }
    fn unchanged(&self) -> bool {
        std::fs::read_to_string(self.path).unwrap() == self.saved
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        if !self.unchanged() {
            let _ = std::fs::write(self.path, self.saved.trim_end());
        }
    }
}

/// A private copy of the runtime binary, so an attack that succeeds corrupts
/// the copy rather than the build. Returns (path, original contents). The
/// containers run from the copy, so the copy is what an attack could reach.
fn runtime_copy(e: &Env) -> (PathBuf, Vec<u8>) {
    let copy = e.dir.path().join("berth-runtime-copy");
    std::fs::copy(BIN, &copy).unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    (copy, bytes)
}

// ------------------------------------------------------- CVE-2019-5736

/// While the container is `created`, its pid 1 is a forked copy of the
/// runtime. A process exec'd into the container tries every way of reaching
/// the runtime binary through /proc/1/exe; all of them must fail, while the
/// same moves against an ordinary container process work (so the test
/// would notice a dumpable init). Run twice: with the default config, and
/// with a user namespace and CAP_SYS_PTRACE for the exec'd process, where
/// only the init's non-dumpable mm stops the reads.
#[test]
fn cve_2019_5736_created_init_exe_is_unreachable() {
    created_init_exe_is_unreachable(false);
    created_init_exe_is_unreachable(true);
}

/// Add a user namespace mapping container root to host root.
fn with_userns(e: &mut Env) {
    e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    e.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    e.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
}

fn created_init_exe_is_unreachable(userns: bool) {
    let mut e = Env::new("s5736a");
    let (copy, orig) = runtime_copy(&e);
    if userns {
        with_userns(&mut e);
    }
    e.args(&["sleep", "600"]);
    e.write_config();
    ok(&rt_bin(&copy, &e, &["create", "--bundle", e.bundle.to_str().unwrap(), &e.id]));
    assert_eq!(e.status(), "created");

    let script = r#"
        t() { if eval "$2" >/dev/null 2>&1; then echo "$1=OK"; else echo "$1=DENIED"; fi; }
        t cat 'cat /proc/1/exe'
        t readlink 'readlink /proc/1/exe'
        echo "LS=$(ls -l /proc/1/exe 2>&1)"
        t append 'echo x >>/proc/1/exe'
        t trunc 'echo x >/proc/1/exe'
        t viafd '( command exec 3</proc/1/exe && echo x >/proc/self/fd/3 )'
        t mapfiles '( for f in /proc/1/map_files/*; do cat $f >/dev/null && exit 0; done; exit 1 )'
        # Control: the same moves against a dumpable container process.
        sleep 100 & p=$!
        t ctl_readlink "readlink /proc/$p/exe"
        echo "CTL_EXE=$(readlink /proc/$p/exe)"
        t ctl_cat "cat /proc/$p/exe"
        kill $p
    "#;
    let cap: &[&str] = if userns { &["--cap", "CAP_SYS_PTRACE"] } else { &[] };
    let out = ok(&rt_bin(&copy, &e, &[&["exec"], cap, &[&e.id, "sh", "-c", script]].concat()));
    for k in ["cat", "readlink", "append", "trunc", "viafd", "mapfiles"] {
        assert!(out.contains(&format!("{k}=DENIED")), "{k} reached the runtime's exe: {out}");
    }
    let ls = out.lines().find(|l| l.starts_with("LS=")).unwrap();
    assert!(!ls.contains("berth") && !ls.contains("->"), "ls -l /proc/1/exe showed the runtime: {ls}");
    assert!(out.contains("ctl_readlink=OK") && out.contains("ctl_cat=OK"), "control failed: {out}");
    assert!(out.contains("CTL_EXE=/bin/busybox"), "{out}");

    ok(&e.rt(&["delete", "--force", &e.id]));
    assert!(std::fs::read(&copy).unwrap() == orig, "the runtime binary was modified");
}

/// `exec`'s child is the runtime until it execve's the requested program. A
/// container process watches /proc while the test execs repeatedly: it must
/// never see (or open) the runtime binary behind any /proc/<pid>/exe, and it
/// always sees busybox behind the exec'd `sleep`s once they run.
#[test]
fn cve_2019_5736_exec_child_never_exposes_runtime() {
    let mut e = Env::new("s5736b");
    let (copy, orig) = runtime_copy(&e);
    add_mount(&mut e, json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    e.args(&["sleep", "600"]);
    e.write_config();
    ok(&rt_bin(&copy, &e, &["create", "--bundle", e.bundle.to_str().unwrap(), &e.id]));
    ok(&rt_bin(&copy, &e, &["start", &e.id]));
    let pid1 = init_pid(&e);
    let watcher = r#"
        touch /tmp/watching
        while [ ! -e /tmp/stop ]; do
            for d in /proc/[0-9]*; do
                l=$(readlink $d/exe 2>/dev/null) && echo "EXE $l"
                case "$l" in *berth*) (command exec 3<$d/exe && echo OPENED_RUNTIME) 2>/dev/null;; esac
            done
        done
        echo DONE
    "#;
    let watcher_out = std::thread::scope(|s| {
        let h = s.spawn(|| exec_sh(&e, watcher));
        let ready = format!("/proc/{pid1}/root/tmp/watching");
        wait_for("the watcher", || Path::new(&ready).exists());
        for _ in 0..15 {
            ok(&rt_bin(&copy, &e, &["exec", &e.id, "sleep", "0.05"]));
        }
        std::fs::write(format!("/proc/{pid1}/root/tmp/stop"), "").unwrap();
        ok(&h.join().unwrap())
    });
    assert!(watcher_out.contains("DONE"), "{watcher_out}");
    assert!(!watcher_out.contains("berth") && !watcher_out.contains("OPENED_RUNTIME"), "{watcher_out}");
    assert!(watcher_out.contains("EXE /bin/busybox"), "the watcher saw nothing: {watcher_out}");
    ok(&e.rt(&["delete", "--force", &e.id]));
    assert!(std::fs::read(&copy).unwrap() == orig, "the runtime binary was modified");
}

/// Copy the shared libraries `bin` needs into the rootfs, as any distro
/// image has them, so the runtime binary could run inside the container.
fn add_host_libs(rootfs: &Path, bin: &Path) {
    let o = Command::new("ldd").arg(bin).output().expect("ldd");
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let p = l.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = p {
            let dst = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(p, &dst).unwrap();
        }
    }
}

/// The actual CVE-2019-5736 exploit: the container's "program" is a script
/// whose interpreter is /proc/self/exe. When `exec` execve's it, the kernel
/// resolves /proc/self/exe of the exec child -- the runtime binary -- and
/// runs it inside the container. The attacker opens /proc/<pid>/exe of that
/// process and, once it exited, reopens the fd for writing to overwrite the
/// host's runtime binary. (The script's argument makes the runtime block on
/// opening a fifo as its --log, which makes the race deterministic.)
#[test]
fn cve_2019_5736_shebang_proc_self_exe_cannot_overwrite_runtime() {
    let mut e = Env::new("s5736c");
    let (copy, orig) = runtime_copy(&e);
    let rootfs = e.rootfs();
    add_host_libs(&rootfs, &copy);
    std::fs::write(rootfs.join("bin/evil"), "#!/proc/self/exe delete\n").unwrap();
    std::fs::set_permissions(rootfs.join("bin/evil"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        rootfs.join("attack.sh"),
        r#"
        mkfifo /tmp/f; touch /tmp/ready
        P=; i=0
        while [ -z "$P" ] && [ $i -lt 1000 ]; do
            for d in /proc/[0-9]*; do
                grep -q delete $d/cmdline 2>/dev/null && P=${d#/proc/}
            done
            [ -z "$P" ] && usleep 5000; i=$((i+1))
        done
        echo "FOUND=$P EXE=$(readlink /proc/$P/exe 2>&1)"
        if [ -n "$P" ] && command exec 3</proc/$P/exe; then echo OPENED; fi
        # Let the runtime in the container go on (and exit).
        timeout 10 cat /tmp/f >/dev/null &
        j=0
        while [ $j -lt 300 ]; do
            if (echo PWNED >/proc/self/fd/3) 2>/dev/null; then echo WROTE; break; fi
            usleep 10000; j=$((j+1))
        done
        echo DONE
    "#,
    )
    .unwrap();
    add_mount(&mut e, json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    e.args(&["sleep", "600"]);
    e.write_config();
    ok(&rt_bin(&copy, &e, &["create", "--bundle", e.bundle.to_str().unwrap(), &e.id]));
    ok(&rt_bin(&copy, &e, &["start", &e.id]));
    let pid1 = init_pid(&e);
    let (attack, evil) = std::thread::scope(|s| {
        let h = s.spawn(|| e.rt(&["exec", &e.id, "sh", "/attack.sh"]));
        let ready = format!("/proc/{pid1}/root/tmp/ready");
        wait_for("the attacker", || Path::new(&ready).exists());
        // The victim: an ordinary `exec` of what the image calls /bin/evil.
        let evil = rt_bin(&copy, &e, &["exec", &e.id, "--", "/bin/evil", "--log=/tmp/f"]);
        (stdout(&h.join().unwrap()), evil)
    });
    assert!(attack.contains("DONE"), "attack did not finish: {attack}");
    // The runtime binary did run in the container (the attack was live).
    assert!(!attack.contains("FOUND= "), "runtime never ran in the container: {attack} / {}", stderr(&evil));
    assert!(!attack.contains("WROTE"), "the container overwrote the runtime binary: {attack}");
    ok(&e.rt(&["delete", "--force", &e.id]));
    assert!(std::fs::read(&copy).unwrap() == orig, "the runtime binary was modified: {attack}");
}

// ------------------------------------------------------- CVE-2016-9962

const PEEK: &str = r#"
    t() { if eval "$2" >/dev/null 2>&1; then echo "$1=OK"; else echo "$1=DENIED"; fi; }
    t environ 'cat /proc/1/environ'
    t fd '( for f in /proc/1/fd/*; do readlink $f || exit 1; done )'
    t fdopen '( for f in /proc/1/fd/*; do ( command exec 3<$f ) || exit 1; done )'
    t mem '( command exec 3</proc/1/mem )'
    t cwd 'ls /proc/1/cwd/'
    t root 'ls /proc/1/root/'
"#;

fn peek_all(out: &str, want: &str) {
    for k in ["environ", "fd", "fdopen", "mem", "cwd", "root"] {
        assert!(out.contains(&format!("{k}={want}")), "/proc/1/{k}: expected {want}: {out}");
    }
}

/// The init must not be dumpable before it execs: its environ, fds, memory,
/// cwd and root are out of reach of processes exec'd into the container
/// while it is `created`; after `start` the same reads work (so the test
/// proves the denial is about the init, not about the reader).
#[test]
fn cve_2016_9962_init_not_dumpable_until_start() {
    let mut e = Env::new("s9962");
    e.args(&["sleep", "600"]);
    e.config["process"]["env"].as_array_mut().unwrap().push(json!("SECRET=1"));
    ok(&e.create());
    peek_all(&ok(&exec_sh(&e, PEEK)), "DENIED");
    ok(&e.rt(&["start", &e.id]));
    peek_all(&ok(&exec_sh(&e, PEEK)), "OK");
}

/// The same with a user namespace and CAP_SYS_PTRACE in the exec'd process:
/// there the reader passes every credential check against the init, so only
/// the init's non-dumpable mm stands between them.
#[test]
fn cve_2016_9962_userns_ptrace_cap_still_denied() {
    let mut e = Env::new("s9962u");
    e.args(&["sleep", "600"]);
    with_userns(&mut e);
    ok(&e.create());
    let peek = |e: &Env| ok(&e.rt(&["exec", "--cap", "CAP_SYS_PTRACE", &e.id, "sh", "-c", PEEK]));
    peek_all(&peek(&e), "DENIED");
    ok(&e.rt(&["start", &e.id]));
    peek_all(&peek(&e), "OK");
}

// ------------------------------------------------------ CVE-2024-21626

/// No fd of the runtime -- nor one its caller leaked to it -- reaches the
/// container's processes; --preserve-fds passes exactly what it says.
#[test]
fn cve_2024_21626_no_fd_leaks() {
    // The caller hands the runtime a host directory at fd 3 (the worst case:
    // it would give the container a handle outside its root).
    let host = host_dir("fd");
    let hostfd = std::fs::File::open(host.path()).unwrap();

    let mut e = Env::new("s21626fd");
    e.args(&["sleep", "600"]);
    e.write_config();
    let mut c = e.cmd();
    c.args(["create", "--bundle", e.bundle.to_str().unwrap(), &e.id]);
    with_fd3(&mut c, &hostfd);
    ok(&run_capture(&mut c));
    ok(&e.rt(&["start", &e.id]));
    assert_eq!(open_fds(init_pid(&e)), vec![0, 1, 2], "init's process has extra fds");
    // The same seen from inside.
    let out = ok(&exec_sh(&e, "ls /proc/1/fd | tr '\\n' ' '"));
    assert_eq!(out.trim(), "0 1 2");

    // exec: with fd 3 from the caller and no --preserve-fds.
    let pidf = e.dir.path().join("exec.pid");
    let mut c = e.cmd();
    c.args(["exec", "-d", "--pid-file", pidf.to_str().unwrap(), &e.id, "sleep", "600"]);
    with_fd3(&mut c, &hostfd);
    ok(&run_capture(&mut c));
    let pid: i64 = std::fs::read_to_string(&pidf).unwrap().trim().parse().unwrap();
    assert_eq!(open_fds(pid), vec![0, 1, 2], "exec'd process has extra fds");

    // --preserve-fds 1 passes fd 3 and nothing else, for run and exec.
    let file = e.dir.path().join("passed");
    std::fs::write(&file, "passed-through\n").unwrap();
    let f = std::fs::File::open(&file).unwrap();
    let mut c = e.cmd();
    c.args(["exec", "--preserve-fds", "1", &e.id, "sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"]);
    with_fd3(&mut c, &f);
    let out = ok(&run_capture(&mut c));
    // ls itself holds one more fd (its directory) while listing.
    assert!(out.starts_with("passed-through\n0 1 2 3 "), "{out}");
    assert!(out.lines().nth(1).unwrap().split_whitespace().count() == 5, "{out}");

    let mut e2 = Env::new("s21626pf");
    e2.args(&["sleep", "600"]);
    e2.write_config();
    let mut c = e2.cmd();
    c.args(["create", "--preserve-fds", "1", "--bundle", e2.bundle.to_str().unwrap(), &e2.id]);
    with_fd3(&mut c, &f);
    ok(&run_capture(&mut c));
    ok(&e2.rt(&["start", &e2.id]));
    let pid = init_pid(&e2);
    assert_eq!(open_fds(pid), vec![0, 1, 2, 3]);
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/fd/3")).unwrap(), file);
}

/// Run `script` with process.cwd (or exec --cwd) = `cwd`; returns the output.
const WHERE: &str = r#"p=$(pwd -P 2>&1); echo "PWD=$p"
    if [ "$(stat -c %d:%i .)" = "$(stat -c %d:%i "$p" 2>&1)" ]; then echo SAME; else echo DIFF; fi
    ls -a . | tr '\n' ' '"#;

/// Assert that a process started with this cwd either was refused or runs
/// in a directory that is inside the container.
fn assert_cwd_inside(o: &Output, what: &str) {
    if !o.status.success() {
        let err = stderr(o);
        assert!(err.contains("cwd"), "{what}: failed for an unrelated reason: {err}");
        return;
    }
    let out = stdout(o);
    let pwd = out.lines().find_map(|l| l.strip_prefix("PWD=")).unwrap_or("");
    assert!(pwd.starts_with('/') && !pwd.contains("unreachable"), "{what}: cwd outside the root: {out}");
    assert!(out.contains("SAME"), "{what}: cwd is not the directory its path names: {out}");
}

/// process.cwd through a leaked fd (/proc/self/fd/N) must not land outside
/// the container, for init and for exec.
#[test]
fn cve_2024_21626_cwd_through_proc_self_fd() {
    let mut e = Env::new("s21626cwd");
    for n in 3..=10 {
        let cwd = format!("/proc/self/fd/{n}");
        e.config["process"]["cwd"] = json!(cwd);
        e.sh(WHERE);
        e.id = unique_id("s21626cwd");
        assert_cwd_inside(&e.run(), &format!("run cwd={cwd}"));
        assert!(!e.root.join(&e.id).exists());
    }
    e.config["process"]["cwd"] = json!("/");
    e.args(&["sleep", "600"]);
    e.id = unique_id("s21626cwd");
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    for n in 3..=10 {
        let cwd = format!("/proc/self/fd/{n}");
        let o = e.rt(&["exec", "--cwd", &cwd, &e.id, "sh", "-c", WHERE]);
        assert_cwd_inside(&o, &format!("exec cwd={cwd}"));
    }
}

/// A cwd that walks through a symlink to "../../../.." stays in the rootfs.
#[test]
fn cve_2024_21626_cwd_through_symlink_stays_inside() {
    let mut e = Env::new("s21626ln");
    std::os::unix::fs::symlink("../../../../../../../../", e.rootfs().join("up")).unwrap();
    std::os::unix::fs::symlink("/../../../../tmp", e.rootfs().join("abs")).unwrap();
    std::fs::write(e.rootfs().join("tmp/inside-marker"), "").unwrap();
    for cwd in ["/up/tmp", "/abs", "/up/up/../../tmp"] {
        e.config["process"]["cwd"] = json!(cwd);
        e.sh(WHERE);
        e.id = unique_id("s21626ln");
        let out = ok(&e.run());
        assert!(out.contains("PWD=/tmp\n") && out.contains("SAME") && out.contains("inside-marker"), "{cwd}: {out}");
    }
    e.config["process"]["cwd"] = json!("/");
    e.args(&["sleep", "600"]);
    e.id = unique_id("s21626ln");
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    for cwd in ["/up/tmp", "/abs", "/up/up/../../tmp"] {
        let out = ok(&e.rt(&["exec", "--cwd", cwd, &e.id, "sh", "-c", WHERE]));
        assert!(out.contains("PWD=/tmp\n") && out.contains("SAME") && out.contains("inside-marker"), "{cwd}: {out}");
    }
}

// ------------------------------------------------------ CVE-2021-30465

/// Mount destinations that go through symlinks in the image (absolute, or
/// climbing with ..) land inside the rootfs, never on the host.
#[test]
fn cve_2021_30465_mount_destination_symlinks_stay_in_rootfs() {
    let mut e = Env::new("s30465");
    let host = host_dir("mnt");
    let hname = host.path().file_name().unwrap().to_str().unwrap().to_string();
    // A host directory with content the bind must not land on.
    std::fs::create_dir(host.path().join("bdest")).unwrap();
    std::fs::write(host.path().join("bdest/host-sentinel"), "").unwrap();
    let host_before = dir_entries(host.path());
    let src = host_dir("src");
    std::fs::write(src.path().join("bind-marker"), "").unwrap();
    // A unique top-level name: a mount at /<xname> on the host would be an escape.
    let xname = format!("berth-sec-x-{}", e.id);

    let r = e.rootfs();
    std::fs::create_dir_all(r.join("mnt")).unwrap();
    std::os::unix::fs::symlink("/", r.join("mnt/evil")).unwrap();
    std::os::unix::fs::symlink(format!("../../../../../../../tmp/{hname}"), r.join("mnt/up")).unwrap();
    std::os::unix::fs::symlink(format!("/tmp/{hname}/bdest"), r.join("mnt/bindlink")).unwrap();
    std::fs::create_dir_all(r.join(format!("tmp/{hname}/bdest"))).unwrap();

    add_mount(&mut e, json!({"destination": format!("/mnt/evil/{xname}"), "type": "tmpfs", "source": "tmpfs"}));
    add_mount(&mut e, json!({"destination": "/mnt/up/y", "type": "tmpfs", "source": "tmpfs"}));
    add_mount(
        &mut e,
        json!({"destination": "/mnt/bindlink", "type": "bind", "source": src.path(), "options": ["rbind", "ro"]}),
    );
    e.args(&["sleep", "600"]);
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    let out = ok(&exec_sh(
        &e,
        &format!(
            "stat -f -c %T /{xname} /tmp/{hname}/y; ls /tmp/{hname}/bdest; \
             grep -c ' /{xname} \\| /tmp/{hname}/y \\| /tmp/{hname}/bdest ' /proc/self/mountinfo"
        ),
    ));
    assert_eq!(out, "tmpfs\ntmpfs\nbind-marker\n3\n", "mounts did not land inside the rootfs");
    // The host: no new directories, no mounts.
    assert!(!Path::new("/").join(&xname).exists(), "created /{xname} on the host");
    assert_eq!(dir_entries(host.path()), host_before, "host dir changed");
    assert_eq!(dir_entries(&host.path().join("bdest")), vec!["host-sentinel"]);
    assert!(host_mounts_mentioning(&hname).is_empty() && host_mounts_mentioning(&xname).is_empty());
    // And they were made where the image's symlinks say, inside the rootfs.
    assert!(r.join(&xname).is_dir() && r.join(format!("tmp/{hname}/y")).is_dir());
}

/// A destination symlink whose target does not exist inside the rootfs (it
/// only exists on the host) is refused, not created on the host.
#[test]
fn cve_2021_30465_dangling_destination_symlink_refused() {
    let host = host_dir("dang");
    let hname = host.path().file_name().unwrap().to_str().unwrap().to_string();
    let src = host_dir("dsrc");
    for (link, typ) in [("abs", "tmpfs"), ("rel", "tmpfs"), ("abs", "bind")] {
        let mut e = Env::new("s30465d");
        let r = e.rootfs();
        std::fs::create_dir_all(r.join("mnt")).unwrap();
        let target =
            if link == "abs" { format!("/tmp/{hname}/sub") } else { format!("../../../../../tmp/{hname}/sub") };
        std::os::unix::fs::symlink(&target, r.join("mnt/l")).unwrap();
        let m = if typ == "bind" {
            json!({"destination": "/mnt/l", "type": "bind", "source": src.path(), "options": ["rbind"]})
        } else {
            json!({"destination": "/mnt/l/inner", "type": "tmpfs", "source": "tmpfs"})
        };
        add_mount(&mut e, m);
        fails_with(&e.create(), "dangling symlink");
        assert!(
            dir_entries(host.path()).is_empty(),
            "{link}/{typ}: created {:?} on the host",
            dir_entries(host.path())
        );
        assert!(!e.root.join(&e.id).exists(), "state left behind");
    }
}

// ------------------------------------------------------ CVE-2026-41579

/// A rootfs whose /dev is a symlink to a host-looking path: create fails
/// with one clear line, nothing appears at the host path, no state is left.
#[test]
fn cve_2026_41579_dev_symlink_refused() {
    let host = host_dir("dev");
    let hname = host.path().file_name().unwrap().to_str().unwrap().to_string();
    for (target, dev_mounts) in [
        (format!("/tmp/{hname}"), true),
        (format!("../../../../../../tmp/{hname}"), true),
        (format!("/tmp/{hname}"), false),
        (format!("../../../../../../tmp/{hname}"), false),
    ] {
        let mut e = Env::new("s41579");
        let r = e.rootfs();
        std::fs::remove_dir(r.join("dev")).unwrap();
        std::os::unix::fs::symlink(&target, r.join("dev")).unwrap();
        // Inside the rootfs the target exists too, so nothing fails "by accident".
        std::fs::create_dir_all(r.join(format!("tmp/{hname}"))).unwrap();
        if !dev_mounts {
            no_dev_mounts(&mut e);
        }
        fails_with(&e.create(), "/dev is a symlink");
        assert!(dir_entries(host.path()).is_empty(), "{target}: host got {:?}", dir_entries(host.path()));
        assert!(dir_entries(&r.join(format!("tmp/{hname}"))).is_empty(), "{target}: devices made through the link");
        assert!(!e.root.join(&e.id).exists(), "state left behind");
        fails_with(&e.rt(&["state", &e.id]), "does not exist");
    }
}

// ------------------------------------------------------ CVE-2025-31133

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// Try to turn every masked file into core_pattern and write through it.
const MASK_ATTACK: &str = r#"
    for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats; do
        [ -e $f ] && echo '|/berth-sec-pwned' >$f 2>/dev/null
    done
    stat -c '%F %t,%T' /dev/null; cat /proc/kcore | wc -c
"#;

/// Without a /dev mount the runtime makes /dev/null itself (mknod replaces
/// whatever the image had), so a hostile /dev/null never becomes the mask.
#[test]
fn cve_2025_31133_image_dev_null_replaced() {
    let guard = SysctlGuard::new(CORE_PATTERN);
    for kind in ["symlink", "file"] {
        let mut e = Env::new("s31133i");
        no_dev_mounts(&mut e);
        let null = e.rootfs().join("dev/null");
        if kind == "symlink" {
            std::os::unix::fs::symlink(CORE_PATTERN, &null).unwrap();
        } else {
            std::fs::write(&null, "not null").unwrap();
        }
        e.sh(MASK_ATTACK);
        let out = ok(&e.run());
        assert_eq!(out, "character special file 1,3\n0\n", "{kind}");
        assert!(guard.unchanged(), "{kind}: host core_pattern changed");
    }
}

/// /dev bind-mounted from a directory with a fake "null": nothing replaces
/// it, so the check on /dev/null must refuse masking with a clear error.
#[test]
fn cve_2025_31133_fake_dev_null_refused() {
    let guard = SysctlGuard::new(CORE_PATTERN);
    for kind in ["symlink", "file", "zero", "real"] {
        let devdir = host_dir("devnull");
        let null = devdir.path().join("null");
        match kind {
            "symlink" => std::os::unix::fs::symlink(CORE_PATTERN, &null).unwrap(),
            "file" => std::fs::write(&null, "not null").unwrap(),
            _ => {
                let minor = if kind == "zero" { 5 } else { 3 };
                let (chr, mode) = (rustix::fs::FileType::CharacterDevice, rustix::fs::Mode::from_raw_mode(0o666));
                rustix::fs::mknodat(rustix::fs::CWD, &null, chr, mode, rustix::fs::makedev(1, minor)).unwrap();
            }
        }
        let mut e = Env::new("s31133b");
        no_dev_mounts(&mut e);
        add_mount(
            &mut e,
            json!({"destination": "/dev", "type": "bind", "source": devdir.path(), "options": ["rbind"]}),
        );
        e.sh(MASK_ATTACK);
        let o = e.run();
        if kind == "real" {
            // Control: with the real null device the same config works.
            assert_eq!(ok(&o), "character special file 1,3\n0\n");
        } else {
            fails_with(&o, "/dev/null is not the null device");
            assert!(!e.root.join(&e.id).exists(), "state left behind");
        }
        assert!(guard.unchanged(), "{kind}: host core_pattern changed");
        match kind {
            "symlink" => assert_eq!(std::fs::read_link(&null).unwrap(), Path::new(CORE_PATTERN)),
            "file" => assert_eq!(std::fs::read_to_string(&null).unwrap(), "not null"),
            _ => {}
        }
    }
}

// ------------------------------------------------------ CVE-2025-52565

/// Accept one connection on a console socket and receive the fd it carries.
fn receive_console(listener: &std::os::unix::net::UnixListener) -> OwnedFd {
    let (s, _) = listener.accept().unwrap();
    recv_fd(&s).unwrap()
}

/// The console the container gets is a real devpts pty: the receiver gets
/// the ptmx master, and inside the container stdio is /dev/pts/N (major 136).
#[test]
fn cve_2025_52565_console_is_real_pty() {
    let mut e = Env::new("s52565");
    let sock = e.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    e.config["process"]["terminal"] = json!(true);
    e.sh("readlink /proc/self/fd/0; stat -L -c '%t %T' /proc/self/fd/0; tty");
    e.write_config();
    let (o, master, text) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let master = receive_console(&listener);
            let mut text = Vec::new();
            let mut f = std::fs::File::from(master.try_clone().unwrap());
            let _ = f.read_to_end(&mut text); // ends with EIO once the container is gone
            (master, String::from_utf8_lossy(&text).into_owned())
        });
        let o =
            e.rt(&["run", "--console-socket", sock.to_str().unwrap(), "--bundle", e.bundle.to_str().unwrap(), &e.id]);
        let (m, t) = h.join().unwrap();
        (o, m, t)
    });
    ok(&o);
    let st = rustix::fs::fstat(&master).unwrap();
    assert_eq!(rustix::fs::FileType::from_raw_mode(st.st_mode), rustix::fs::FileType::CharacterDevice);
    assert_eq!((rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev)), (5, 2), "master is not ptmx");
    const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
    assert_eq!(rustix::fs::fstatfs(&master).unwrap().f_type as i64, DEVPTS_SUPER_MAGIC);
    // TIOCGPTN: which /dev/pts/N the master belongs to.
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let n: u32 = name.to_str().unwrap().strip_prefix("/dev/pts/").unwrap().parse().unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(
        lines,
        vec![format!("/dev/pts/{n}").as_str(), &format!("88 {n:x}"), &format!("/dev/pts/{n}")],
        "{text:?}"
    );
}

/// Without a devpts mount and with /dev/ptmx pointing at something that is
/// not the pty multiplexer, create fails cleanly and hands out nothing.
#[test]
fn cve_2025_52565_fake_ptmx_refused() {
    for target in ["/etc/fakeptmx", "/dev/null"] {
        let mut e = Env::new("s52565f");
        no_dev_mounts(&mut e);
        e.config["root"]["readonly"] = json!(false);
        e.config["process"]["terminal"] = json!(true);
        std::fs::write(e.rootfs().join("etc/fakeptmx"), "").unwrap();
        std::os::unix::fs::symlink(target, e.rootfs().join("dev/ptmx")).unwrap();
        let sock = e.dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        listener.set_nonblocking(true).unwrap();
        e.write_config();
        let o = e.rt(&[
            "create",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            e.bundle.to_str().unwrap(),
            &e.id,
        ]);
        fails_with(&o, "is not the pty multiplexer");
        // The init connects early (the socket is a host path); it must hang up
        // without sending anything.
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            assert_eq!(s.read(&mut buf).unwrap(), 0, "{target}: a console was handed out");
        }
        assert!(!e.root.join(&e.id).exists(), "state left behind");
        assert_eq!(std::fs::metadata(e.rootfs().join("etc/fakeptmx")).unwrap().len(), 0);
    }
}

// ------------------------------------------------------ CVE-2022-29162

fn caps_of(status: &str) -> std::collections::HashMap<String, u64> {
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.starts_with("Cap").then(|| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        })
        .collect()
}

/// No inheritable or ambient capabilities unless asked for, and a non-root
/// process ends with no effective or permitted capabilities even though the
/// bounding set has some -- also after exec'ing a setuid-root binary.
#[test]
fn cve_2022_29162_no_inheritable_caps() {
    let mut e = Env::new("s29162");
    // A setuid-root copy of busybox.
    // (in its own directory: busybox picks the applet from argv[0]'s basename)
    std::fs::create_dir(e.rootfs().join("suid")).unwrap();
    let suid = e.rootfs().join("suid/busybox");
    std::fs::copy("/bin/busybox", &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    assert!(e.config["process"]["capabilities"].get("inheritable").is_none());
    e.args(&["cat", "/proc/self/status"]);
    let c = caps_of(&ok(&e.run()));
    assert_eq!((c["CapInh"], c["CapAmb"]), (0, 0), "root: {c:?}");
    assert_ne!(c["CapEff"], 0);

    e.config["process"]["user"] = json!({"uid": 65534, "gid": 65534});
    e.config["process"]["noNewPrivileges"] = json!(false);
    for args in [&["cat", "/proc/self/status"][..], &["/suid/busybox", "cat", "/proc/self/status"][..]] {
        e.args(args);
        e.id = unique_id("s29162");
        let c = caps_of(&ok(&e.run()));
        assert_eq!((c["CapInh"], c["CapAmb"]), (0, 0), "{args:?}: {c:?}");
        assert_ne!(c["CapBnd"], 0);
        if args.len() == 2 {
            assert_eq!((c["CapEff"], c["CapPrm"]), (0, 0), "uid 65534 kept caps: {c:?}");
        } else {
            // setuid root gets at most the bounding set, never more.
            assert_eq!(c["CapPrm"] & !c["CapBnd"], 0, "{c:?}");
        }
    }
    // exec as a non-root user too.
    e.args(&["sleep", "600"]);
    e.id = unique_id("s29162");
    ok(&e.create());
    let c = caps_of(&ok(&e.rt(&["exec", "--user", "65534:65534", &e.id, "cat", "/proc/self/status"])));
    assert_eq!((c["CapInh"], c["CapAmb"], c["CapEff"], c["CapPrm"]), (0, 0, 0, 0), "{c:?}");
}

// ------------------------------------------------ verified procfs handle

/// A host directory shaped like /proc/sys with net.ipv4.ip_forward = "0".
fn fake_proc_sys() -> tempfile::TempDir {
    let d = host_dir("fakesys");
    std::fs::create_dir_all(d.path().join("net/ipv4")).unwrap();
    std::fs::write(d.path().join("net/ipv4/ip_forward"), "0\n").unwrap();
    d
}

/// sysctl writes go through a verified procfs: a tmpfs or a bind mount over
/// /proc/sys makes create fail rather than write to the impostor.
#[test]
fn sysctl_refuses_overmounted_proc_sys() {
    let fake = fake_proc_sys();
    for over in ["tmpfs", "bind"] {
        let mut e = Env::new("ssysctl");
        e.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        let m = if over == "tmpfs" {
            json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"})
        } else {
            json!({"destination": "/proc/sys", "type": "bind", "source": fake.path(), "options": ["rbind"]})
        };
        let mounts = e.config["mounts"].as_array_mut().unwrap();
        let at = mounts.iter().position(|m| m["destination"] == "/proc").unwrap();
        mounts.insert(at + 1, m);
        fails_with(&e.create(), "sysctl net.ipv4.ip_forward=1");
        assert_eq!(std::fs::read_to_string(fake.path().join("net/ipv4/ip_forward")).unwrap(), "0\n");
        assert!(!e.root.join(&e.id).exists(), "state left behind");
    }
    // Control: without the over-mount the sysctl is applied in the container.
    let mut e = Env::new("ssysctl");
    e.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    e.sh("cat /proc/sys/net/ipv4/ip_forward");
    assert_eq!(ok(&e.run()), "1\n");
}

/// A rootfs whose /proc is a symlink (to a host-looking directory with fake
/// sysctl files) must not redirect the proc mount or the sysctl writes.
#[test]
fn sysctl_not_redirected_by_proc_symlink() {
    let fake = host_dir("fakeproc");
    std::fs::create_dir_all(fake.path().join("sys/net/ipv4")).unwrap();
    std::fs::write(fake.path().join("sys/net/ipv4/ip_forward"), "0\n").unwrap();
    let fname = fake.path().file_name().unwrap().to_str().unwrap().to_string();
    for with_proc_mount in [true, false] {
        let mut e = Env::new("sprocln");
        let r = e.rootfs();
        std::fs::remove_dir(r.join("proc")).unwrap();
        // Same shape inside the rootfs, so the link resolves either way.
        std::fs::create_dir_all(r.join(format!("tmp/{fname}/sys/net/ipv4"))).unwrap();
        std::fs::write(r.join(format!("tmp/{fname}/sys/net/ipv4/ip_forward")), "0\n").unwrap();
        std::os::unix::fs::symlink(format!("/tmp/{fname}"), r.join("proc")).unwrap();
        e.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        if !with_proc_mount {
            drop_mounts(&mut e, &["/proc"]);
            e.config["linux"]["maskedPaths"] = json!([]);
            e.config["linux"]["readonlyPaths"] = json!([]);
        }
        let o = e.create();
        if with_proc_mount {
            fails_with(&o, "goes through symlink");
        } else {
            fails_with(&o, "is not a procfs mount");
        }
        assert_eq!(std::fs::read_to_string(fake.path().join("sys/net/ipv4/ip_forward")).unwrap(), "0\n");
        assert_eq!(std::fs::read_to_string(r.join(format!("tmp/{fname}/sys/net/ipv4/ip_forward"))).unwrap(), "0\n");
        assert!(host_mounts_mentioning(&fname).is_empty());
        assert!(!e.root.join(&e.id).exists(), "state left behind");
    }
}

// ------------------------------------------- default masked/readonly paths

/// The default config's masked and read-only paths hold from inside. (Some
/// kernels lack /proc/kcore or sysrq: only what the host has is checked.)
#[test]
fn default_masked_and_readonly_proc_paths() {
    let mut e = Env::new("smask");
    let masked: Vec<&str> =
        ["/proc/kcore", "/proc/keys", "/proc/timer_list"].into_iter().filter(|p| Path::new(p).exists()).collect();
    let ro: Vec<&str> = ["/proc/sys/vm/drop_caches", "/proc/sysrq-trigger", "/proc/sys/kernel/sysrq"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    assert!(masked.len() >= 2 && ro.contains(&"/proc/sys/vm/drop_caches"));
    let mut script = String::from("echo \"firmware=$(ls -A /sys/firmware | wc -l)\"\n");
    script += "echo \"hostname=$(cat /proc/sys/kernel/hostname)\"\n";
    for p in &masked {
        script += &format!("echo \"{p}=$(cat {p} | wc -c)\"\n");
    }
    // "h" only prints sysrq help should the write ever go through.
    for p in &ro {
        script += &format!("echo h >{p} || echo \"{p}=refused\"\n");
    }
    e.sh(&script);
    let o = e.run();
    let out = ok(&o);
    let mut want: Vec<String> = vec!["firmware=0".into(), "hostname=berth".into()];
    want.extend(masked.iter().map(|p| format!("{p}=0")));
    want.extend(ro.iter().map(|p| format!("{p}=refused")));
    for w in &want {
        assert!(out.lines().any(|l| l == w), "want {w}: {out}");
    }
    let err = stderr(&o);
    assert_eq!(err.matches("Read-only file system").count(), ro.len(), "{err}");
    // Control: the host's are not empty, so the masks are what hid them.
    assert!(std::fs::read_dir("/sys/firmware").unwrap().next().is_some());
    assert!(!std::fs::read("/proc/timer_list").unwrap().is_empty());
}

// ---------------------------------------------------------------- pid files

/// `--pid-file` is a path the caller chose, often in a directory others can
/// write. A symlink planted at the name, or at the temp name the old code
/// derived from it (`<stem>.tmp<pid>`, opened without O_EXCL|O_NOFOLLOW),
/// must never redirect the write: the link is replaced, the victim keeps its
/// content, and no temp file is left.
#[test]
fn pid_file_symlinks_are_replaced_not_followed() {
    let mut e = Env::new("pidlink");
    e.args(&["sleep", "30"]);
    e.write_config();
    let dir = e.dir.path().join("pids");
    std::fs::create_dir(&dir).unwrap();
    let victim = e.dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    // Links at every temp name the next few thousand pids would give.
    let plant = |stem: &str| -> usize {
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").unwrap().trim().parse().unwrap();
        for pid in last..last + 1000 {
            std::os::unix::fs::symlink(&victim, dir.join(format!("{stem}.tmp{pid}"))).unwrap();
        }
        std::os::unix::fs::symlink(&victim, dir.join(format!("{stem}.pid"))).unwrap();
        1001
    };
    let check = |stem: &str, want_pid: i32, planted: usize| {
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep", "{stem}: the write went through a planted link");
        let pf = dir.join(format!("{stem}.pid"));
        assert!(std::fs::symlink_metadata(&pf).unwrap().is_file(), "{stem}: the link was not replaced");
        assert_eq!(std::fs::read_to_string(&pf).unwrap(), want_pid.to_string());
        let regular = std::fs::read_dir(&dir).unwrap().flatten().filter(|d| d.file_type().unwrap().is_file()).count();
        let links = std::fs::read_dir(&dir).unwrap().flatten().filter(|d| d.file_type().unwrap().is_symlink()).count();
        assert_eq!(links, planted - 1, "{stem}: links left (all but the replaced one)");
        regular
    };
    let planted = plant("init");
    let pf = dir.join("init.pid");
    ok(&e.rt(&["create", "--pid-file", pf.to_str().unwrap(), "--bundle", e.bundle_str(), &e.id]));
    assert_eq!(check("init", e.pid(), planted), 1, "a temp file was left");
    ok(&e.rt(&["start", &e.id]));

    let planted = planted + plant("exec");
    let xf = dir.join("exec.pid");
    ok(&e.rt(&["exec", "-d", "--pid-file", xf.to_str().unwrap(), &e.id, "sleep", "31"]));
    let xpid: i32 = std::fs::read_to_string(&xf).unwrap().parse().unwrap();
    assert_eq!(check("exec", xpid, planted - 1), 2, "a temp file was left");
}

// ---------------------------------------------------------------- state dirs

/// Run `script` with the host's sh as `nobody` (uid/gid 65534, no groups).
fn as_nobody(script: &str) -> Output {
    run_capture(Command::new("setpriv").args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script]))
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The state root and every container's directory are 0700: state.json
/// holds the whole config (environment, secrets in it), the exec fifo
/// starts the container. Another host user can neither list nor traverse
/// them; roots and container dirs made by an older version (0711) are
/// closed the next time a command opens them.
#[test]
fn state_dirs_are_closed_to_other_users() {
    let mut e = Env::new("statemode");
    e.args(&["sleep", "30"]);
    // Only the state dirs' own modes may stand in the way.
    std::fs::set_permissions(e.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&e.create());
    let (root, dir) = (e.root.clone(), e.root.join(&e.id));
    assert_eq!((mode_of(&root), mode_of(&dir)), (0o700, 0o700));
    let probe = format!(
        "ls {r} 2>&1; ls {d} 2>&1; cat {d}/state.json 2>&1; cd {d} 2>&1 && echo traversed",
        r = root.display(),
        d = dir.display()
    );
    let o = as_nobody(&probe);
    let out = stdout(&o);
    // (dash's cd does not say why it failed; `traversed` is not printed.)
    assert_eq!(out.matches("Permission denied").count(), 3, "nobody got in: {out}");
    assert!(!out.contains("traversed") && !out.contains("ociVersion"), "{out}");

    // As an older version left them.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    let o = as_nobody(&format!("cd {} && echo traversed", dir.display()));
    assert_eq!(stdout(&o), "traversed\n", "the old layout let others traverse (test premise)");
    assert_eq!(e.status(), "created");
    assert_eq!((mode_of(&root), mode_of(&dir)), (0o700, 0o700), "state did not close the old dirs");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&e.rt(&["list"]));
    assert_eq!(mode_of(&root), 0o700, "list did not close the old root");
    let o = as_nobody(&probe);
    assert_eq!(stdout(&o).matches("Permission denied").count(), 3, "{}", stdout(&o));
    assert!(!stdout(&o).contains("traversed"), "{}", stdout(&o));
}

// ---------------------------------------------------------------- image files

/// An image whose /etc/passwd is a FIFO: the init reads it for HOME when the
/// config sets none. It must not block on it (nobody ever writes) but run the
/// process with HOME=/ (as for a user without an entry).
#[test]
fn fifo_at_etc_passwd_does_not_hang_the_init() {
    let mut e = Env::new("passwd-fifo");
    let passwd = e.rootfs().join("etc/passwd");
    let _ = std::fs::remove_file(&passwd);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &passwd,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let env: Vec<Value> = e.config["process"]["env"].as_array().unwrap().clone();
    e.config["process"]["env"] =
        json!(env.into_iter().filter(|v| !v.as_str().unwrap().starts_with("HOME=")).collect::<Vec<_>>());
    e.args(&["sh", "-c", "echo HOME=$HOME"]);
    e.write_config();
    let out = tempfile::tempfile().unwrap();
    let mut child = e
        .cmd()
        .args(["run", "--bundle", e.bundle_str(), &e.id])
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .spawn()
        .unwrap();
    let done = wait_until(Duration::from_secs(10), || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        panic!("run hung on a FIFO at /etc/passwd");
    }
    let mut text = String::new();
    let mut out = out;
    std::io::Seek::rewind(&mut out).unwrap();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(text, "HOME=/\n");
}

/// `--preserve-fds N` with fewer than N fds from the caller: the numbers
/// left free are where the runtime's own fds land (the host's /proc, the
/// sync socket, the state directory). Those must never be passed on: the
/// runtime refuses the count, in one line, before it makes anything.
#[test]
fn preserve_fds_beyond_what_the_caller_passed_is_refused() {
    let mut e = Env::new("s21626gap");
    e.args(&["sleep", "600"]);
    e.write_config();
    // Whatever the test process holds, the runtime gets no fd above 2.
    let no_extra_fds = |c: &mut Command| {
        // SAFETY: one close_range(2) call between fork and exec.
        unsafe { c.pre_exec(|| sys::process::mark_cloexec_from(3)) };
    };
    let mut c = e.cmd();
    c.args(["create", "--preserve-fds", "8", "--bundle", e.bundle.to_str().unwrap(), &e.id]);
    no_extra_fds(&mut c);
    let out = run_capture(&mut c);
    if out.status.success() {
        ok(&e.rt(&["start", &e.id]));
        let pid = init_pid(&e);
        let held: Vec<String> = open_fds(pid)
            .into_iter()
            .filter(|fd| *fd > 2)
            .map(|fd| format!("{fd} -> {:?}", std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))))
            .collect();
        panic!("create took --preserve-fds 8 with no fd 3..10 from its caller; the container holds {held:?}");
    }
    fails_with(&out, "--preserve-fds 8: fd 3 was not passed");
    assert!(!e.root.join(&e.id).exists(), "state left behind");
    // run and exec too.
    let mut c = e.cmd();
    c.args(["run", "--preserve-fds", "2", "--bundle", e.bundle.to_str().unwrap(), &e.id]);
    no_extra_fds(&mut c);
    fails_with(&run_capture(&mut c), "--preserve-fds 2: fd 3 was not passed");
    let mut e = Env::new("s21626gapx");
    e.args(&["sleep", "600"]);
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    let mut c = e.cmd();
    c.args(["exec", "--preserve-fds", "8", &e.id, "true"]);
    no_extra_fds(&mut c);
    fails_with(&run_capture(&mut c), "--preserve-fds 8: fd 3 was not passed");
}
