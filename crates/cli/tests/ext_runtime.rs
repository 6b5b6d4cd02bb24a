//! `--runtime runc|crun|PATH`: containers run by an external OCI runtime
//! under berth's monitor, checked against what the runtime itself reports
//! (`runc state`), the host's /proc and cgroupfs: exit codes, detached
//! runs with logs, stop and rm, a terminal through a real pty, exec, pause,
//! memory limits, crun on this hybrid-cgroup host, and podman's errors for
//! a runtime that is not there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::containers::Cleanup;
use common::pty::OnPty;
use common::*;

/// The runtime's binary, or `None` (the test is skipped, saying why).
fn runtime(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    eprintln!("SKIPPED: no {name} binary on this host (scripts/install.sh installs it)");
    None
}

/// `RUNTIME --root <runroot>/ext/<name> ARGS`: what the runtime itself says.
fn ask(env: &Env, rt: &Path, args: &[&str]) -> std::process::Output {
    let name = rt.file_name().unwrap();
    Command::new(rt).arg("--root").arg(env.runroot.join("ext").join(name)).args(args).output().unwrap()
}

/// [`ask`] crun as berth runs it on a hybrid host: without the cgroup2 mount.
fn ask_hidden(env: &Env, rt: &Path, args: &[&str]) -> std::process::Output {
    let root = env.runroot.join("ext").join(rt.file_name().unwrap());
    let inner =
        format!("umount /sys/fs/cgroup/unified 2>/dev/null; exec {} --root {} \"$@\"", rt.display(), root.display());
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &inner, "sh"])
        .args(args)
        .output()
        .unwrap()
}

/// The runtime's status of container `id` ("running", "paused"...), or
/// `None` if it does not know it.
fn rt_status(env: &Env, rt: &Path, id: &str) -> Option<String> {
    let o = ask(env, rt, &["state", id]);
    if !o.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Some(v["status"].as_str().unwrap().to_string())
}

fn inspect(env: &Env, name: &str, format: &str) -> String {
    env.ok(&["inspect", "--format", format, name]).trim().to_string()
}

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

/// Field `n` (1-based, as proc(5) numbers them) of /proc/PID/stat.
fn stat_field(pid: &str, n: usize) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

/// What berth keeps in `<runroot>/ext` about containers (not the runtimes'
/// roots, nor what it learnt about a runtime).
fn ext_files(env: &Env) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(env.runroot.join("ext")) else { return Vec::new() };
    let mut names: Vec<String> = dir
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().ends_with(".hybrid-refused"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The host directory of the cgroup `controller` process `pid` is in (v1).
fn cgroup_dir(pid: &str, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = text
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls.split(',').any(|c| c == controller).then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no {controller} cgroup in {text}"));
    Path::new("/sys/fs/cgroup").join(controller).join(path.trim_start_matches('/'))
}

#[test]
fn runc_runs_the_container_and_its_exit_code_comes_back() {
    let Some(runc) = runtime("runc") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // Its own pid namespace (the shell is pid 1), output on the right
    // streams, the exit code through.
    let script = "grep ^Pid: /proc/self/status; echo pid=$$; echo err >&2; exit 3";
    let o = env.run(&["run", "--rm", "--runtime", "runc", "bb", "sh", "-c", script]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("pid=1\n"), "{}", stdout(&o));
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "--rm removed it");
    assert_eq!(ext_files(&env), Vec::<String>::new(), "nothing left in <runroot>/ext");
    // The global flag before the command works too, by path as well;
    // inspect names the runtime as given (podman's OCIRuntime).
    let rt = runc.to_str().unwrap();
    env.ok(&["--runtime", rt, "create", "--name", "bypath", "bb", "true"]);
    env.ok(&["create", "--runtime", "runc", "--name", "byname", "bb", "true"]);
    env.ok(&["create", "--name", "own", "bb", "true"]);
    assert_eq!(inspect(&env, "bypath", "{{.OCIRuntime}}"), rt);
    assert_eq!(inspect(&env, "byname", "{{.OCIRuntime}}"), "runc");
    assert_eq!(inspect(&env, "own", "{{.OCIRuntime}}"), "berth-runtime");
    // A created container starts with its runtime (the record keeps it).
    let o = env.run(&["start", "-a", "byname"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(status(&env, "byname").starts_with("Exited (0)"), "{}", status(&env, "byname"));
}

#[test]
fn detached_with_runc_logs_stop_and_rm() {
    let Some(runc) = runtime("runc") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let script = "echo started; trap 'echo term; exit 7' TERM; while :; do sleep 0.1; done";
    let id = env.ok(&["run", "-d", "--runtime", "runc", "--name", "d", "bb", "sh", "-c", script]);
    let id = id.trim();
    // runc has it, running; berth's monitor is its init's parent.
    assert_eq!(rt_status(&env, &runc, id).as_deref(), Some("running"));
    let pid = inspect(&env, "d", "{{.State.Pid}}");
    let monitor = inspect(&env, "d", "{{.State.ConmonPid}}");
    assert_eq!(stat_field(&pid, 4), monitor, "the monitor is the init's parent");
    assert!(status(&env, "d").starts_with("Up "), "{}", status(&env, "d"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["logs", "d"]).contains("started") {
        assert!(Instant::now() < deadline, "never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    // top lists its processes from its cgroup.
    assert!(env.ok(&["top", "d"]).contains("while :"), "{}", env.ok(&["top", "d"]));
    // stop: SIGTERM reaches the process through runc, the exit is recorded.
    env.ok(&["stop", "d"]);
    assert!(status(&env, "d").starts_with("Exited (7)"), "{}", status(&env, "d"));
    assert_eq!(env.ok(&["logs", "d"]), "started\nterm\n");
    // Deleted from runc at the exit: its state and cgroup are gone.
    assert_eq!(rt_status(&env, &runc, id), None);
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || stat_field(&pid, 4) != monitor);
    // Started again, with runc again; then rm -f.
    env.ok(&["start", "d"]);
    assert_eq!(rt_status(&env, &runc, id).as_deref(), Some("running"));
    env.ok(&["rm", "-f", "-t", "0", "d"]);
    assert_eq!(rt_status(&env, &runc, id), None);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(ext_files(&env), Vec::<String>::new(), "nothing left in <runroot>/ext");
}

#[test]
fn pause_kill_and_memory_limits_with_runc() {
    let Some(runc) = runtime("runc") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let id = env.ok(&["run", "-d", "-m", "64m", "--runtime", "runc", "--name", "lim", "bb", "sleep", "100"]);
    let id = id.trim();
    let pid = inspect(&env, "lim", "{{.State.Pid}}");
    // The limit is in the cgroup runc made for it.
    let mem = cgroup_dir(&pid, "memory");
    assert!(mem.to_string_lossy().contains(id), "{}", mem.display());
    let limit = std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    // stats reads runc's cgroup: its pids and memory limit.
    let pids = std::fs::read_to_string(cgroup_dir(&pid, "pids").join("pids.current")).unwrap();
    let row = env.ok(&["stats", "--no-stream", "--format", "{{.PIDs}} {{.MemUsage}}", "lim"]);
    assert_eq!(row.split_whitespace().next(), Some(pids.trim()), "{row}");
    assert!(row.trim_end().ends_with("/ 67.11MB"), "{row}");
    // pause/unpause go through runc's freezer.
    env.ok(&["pause", "lim"]);
    assert_eq!(rt_status(&env, &runc, id).as_deref(), Some("paused"));
    assert_eq!(inspect(&env, "lim", "{{.State.Status}}"), "paused");
    env.ok(&["unpause", "lim"]);
    assert_eq!(rt_status(&env, &runc, id).as_deref(), Some("running"));
    // kill (SIGKILL, through runc): it dies of it.
    env.ok(&["kill", "lim"]);
    assert_eq!(env.ok(&["wait", "lim"]).trim(), "137");
    assert!(!mem.exists(), "the cgroup went with the container");
    env.ok(&["rm", "lim"]);
    // Over its limit, its process is OOM-killed, and inspect says so (the
    // monitor reads runc's cgroup before deleting it).
    let hog = "x=aaaaaaaa; while :; do x=$x$x; done";
    let args =
        ["run", "--runtime", "runc", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "bb", "sh", "-c", hog];
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(inspect(&env, "hog", "{{.State.OOMKilled}}"), "true");
}

#[test]
fn exec_into_a_runc_container() {
    let Some(_) = runtime("runc") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--runtime", "runc", "--name", "ex", "bb", "sleep", "100"]);
    // Its exit code and streams.
    let o = env.run(&["exec", "ex", "sh", "-c", "echo out; echo err >&2; echo $$ > /tmp/pid; exit 5"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(5), "out\n", "err\n"));
    // In the container's pid namespace (not its init).
    let pid = env.ok(&["exec", "ex", "cat", "/tmp/pid"]);
    assert_ne!(pid.trim(), "1");
    // -i: our stdin reaches it.
    let mut child = env.cmd(&["exec", "-i", "ex", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "piped in\n"));
    // A command not found: podman's 127.
    let o = env.run(&["exec", "ex", "nosuch"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    // -d: it runs on in the container.
    env.ok(&["exec", "-d", "ex", "sleep", "77"]);
    assert!(env.ok(&["top", "ex"]).contains("sleep 77"), "{}", env.ok(&["top", "ex"]));
    // -t on a pty of its own, not ours.
    let mut t = OnPty::spawn(&env, &["exec", "-it", "ex", "sh", "-c", "tty; echo done; exit 6"], 24, 80);
    t.expect("done");
    assert_eq!(t.exit_code(), 6, "{}", t.shown);
    assert!(t.shown.contains("/dev/pts/"), "{}", t.shown);
}

#[test]
fn run_it_with_runc_on_a_real_terminal() {
    let Some(_) = runtime("runc") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let mut t = OnPty::spawn(&env, &["run", "--rm", "-it", "--runtime", "runc", "bb", "sh"], 31, 101);
    t.type_in(b"echo ab''cd; stty size; tty\n");
    t.expect("abcd");
    t.expect("31 101");
    t.expect("/dev/pts/0");
    // ctrl-c reaches its process through the terminal.
    t.type_in(b"trap 'echo got-INT' INT; sleep 5 & wait\n");
    std::thread::sleep(Duration::from_millis(300));
    t.type_in(&[0x03]);
    t.expect("got-INT");
    t.type_in(b"exit 4\n");
    assert_eq!(t.exit_code(), 4, "{}", t.shown);
    // Nothing but what was typed reached its terminal (no stray bytes echoed).
    assert!(!t.shown.contains("^@") && !t.shown.contains('\0'), "{:?}", t.shown);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "--rm removed it");
}

/// Whether this host has the hybrid layout crun 1.8 refuses.
fn hybrid_cgroups() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let v2 = mounts.lines().any(|l| l.split(' ').nth(2) == Some("cgroup2"));
    let v1 = mounts.lines().any(|l| l.split(' ').nth(2) == Some("cgroup"));
    v1 && v2
}

/// An executable script at `path`.
fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn crun_works_here_through_berths_workaround_or_a_wrapper() {
    let Some(crun) = runtime("crun") else { return };
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // crun 1.8 refuses this host's hybrid cgroups when run as it is
    // (`crun-nsw` exists for that); berth runs it without the cgroup2 mount.
    let o = env.run(&["run", "--rm", "--runtime", "crun", "bb", "sh", "-c", "echo via crun; exit 4"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(4), "via crun\n", ""));
    let id = env.ok(&["run", "-d", "--runtime", "crun", "--name", "cr", "-m", "32m", "bb", "sleep", "100"]);
    let id = id.trim();
    let o = ask_hidden(&env, &crun, &["state", id]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"running\""), "{o:?}");
    let pid = inspect(&env, "cr", "{{.State.Pid}}");
    assert_eq!(stat_field(&pid, 4), inspect(&env, "cr", "{{.State.ConmonPid}}"));
    let limit = std::fs::read_to_string(cgroup_dir(&pid, "memory").join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (32u64 << 20).to_string());
    let o = env.run(&["exec", "cr", "sh", "-c", "echo in; exit 3"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(3), "in\n"), "{}", stderr(&o));
    env.ok(&["pause", "cr"]);
    assert!(String::from_utf8_lossy(&ask_hidden(&env, &crun, &["state", id]).stdout).contains("\"paused\""));
    env.ok(&["unpause", "cr"]);
    env.ok(&["stop", "-t", "1", "cr"]);
    assert!(status(&env, "cr").starts_with("Exited (137)"), "{}", status(&env, "cr"));
    env.ok(&["rm", "cr"]);
    assert!(!ask_hidden(&env, &crun, &["state", id]).status.success(), "crun forgot it");
    assert_eq!(ext_files(&env), Vec::<String>::new());

    // Through a wrapper like ../shared/peers/crun-nsw, too.
    let wrapper = common::podman::crun_wrapper(&crun, &env.path("crun-nsw"));
    let wrapper = wrapper.to_str().unwrap();
    let o = env.run(&["run", "--rm", "--runtime", wrapper, "bb", "sh", "-c", "echo wrapped; exit 5"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(5), "wrapped\n"), "{}", stderr(&o));
}

#[test]
fn a_runtime_refusing_hybrid_cgroups_is_a_clear_error() {
    if !hybrid_cgroups() {
        eprintln!("SKIPPED: this host's cgroups are not hybrid");
        return;
    }
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // A runtime that says what crun 1.8 says, whatever berth does about it.
    let fake = env.path("refuser");
    script(
        &fake,
        "#!/bin/sh\nlog=\nwhile [ $# -gt 0 ]; do case $1 in --log) log=$2; shift;; esac; shift; done\n\
         msg='cgroups in hybrid mode not supported, drop all controllers from cgroupv2'\n\
         [ -n \"$log\" ] && echo '{\"level\":\"error\",\"msg\":\"'\"$msg\"'\"}' >> \"$log\"\n\
         echo \"$msg\" >&2\nexit 1\n",
    );
    // podman 4.3 exits 126 when its runtime refuses to create the container.
    let e = env.fails(&["run", "--rm", "--runtime", fake.to_str().unwrap(), "bb", "true"], 126);
    assert!(e.contains("cgroups in hybrid mode not supported"), "{e}");
    assert!(e.contains("--runtime runc") && e.contains("umount /sys/fs/cgroup/unified"), "{e}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(ext_files(&env), Vec::<String>::new());
}

#[test]
fn a_runtime_that_is_not_there_is_podmans_error_and_leaves_nothing() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // podman 4.3's words and code (125), for run, create, and any command.
    let e = env.fails(&["run", "--runtime", "/nonexistent", "bb", "true"], 125);
    assert_eq!(e, "Error: no valid executable found for OCI runtime /nonexistent: invalid argument\n");
    let e = env.fails(&["create", "--runtime", "nosuch", "bb", "true"], 125);
    assert_eq!(e, "Error: default OCI runtime \"nosuch\" not found: invalid argument\n");
    let e = env.fails(&["--runtime", "nosuch", "ps"], 125);
    assert_eq!(e, "Error: default OCI runtime \"nosuch\" not found: invalid argument\n");
    // A directory is no executable.
    let e = env.fails(&["run", "--runtime", "/tmp", "bb", "true"], 125);
    assert_eq!(e, "Error: no valid executable found for OCI runtime /tmp: invalid argument\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(ext_files(&env), Vec::<String>::new());
}
