//! Detached containers and their monitor, run for real as root: `run -d`
//! returns while the container runs on, its output goes to the k8s-file
//! log, its exit code is recorded by the monitor; `start`, `stop`, `kill`,
//! `wait` and `logs` act on it from other berth processes, as podman's do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::containers::monitor_pids;
use common::*;

/// The container's init pid (`ps --format {{.Pid}}`), 0 when not running.
fn pid_of(env: &Env, name: &str) -> i32 {
    let rows = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Pid}}"]);
    rows.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map(|p| p.trim().parse().unwrap()).unwrap_or(0)
}

/// The parent of process `pid`.
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

fn assert_nothing_mounted(env: &Env) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for dir in [&env.root, &env.runroot] {
        assert!(!mounts.contains(dir.to_str().unwrap()), "still mounted under {}:\n{mounts}", dir.display());
    }
}

/// Wait (bounded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_d_returns_at_once_and_the_monitor_logs_and_records_the_exit() {
    let (env, _) = Env::with_busybox();
    let start = Instant::now();
    // `output()` returns only once every holder of berth's stdout closed it:
    // the monitor and the container must not keep it.
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "bg",
        "bb",
        "sh",
        "-c",
        "echo out1; echo err1 >&2; read x < /dev/null; sleep 1; printf 'no newline'; exit 5",
    ]);
    let id = id.trim();
    assert!(id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id:?}");
    assert!(start.elapsed() < Duration::from_millis(900), "run -d waited for the container: {:?}", start.elapsed());
    assert!(status(&env, "bg").starts_with("Up "), "{}", status(&env, "bg"));
    // Its parent is the monitor, not berth (gone) and not init.
    let pid = pid_of(&env, "bg");
    assert!(pid > 0);
    let monitor = parent_of(pid);
    assert!(monitor > 1, "the container's parent is {monitor}");
    assert_eq!(std::fs::read_to_string(format!("/proc/{monitor}/comm")).unwrap().trim(), "berth");

    // `wait` blocks until the exit, and prints the code.
    assert_eq!(env.ok(&["wait", "bg"]), "5\n");
    assert!(status(&env, "bg").starts_with("Exited (5) "), "{}", status(&env, "bg"));
    eventually("the monitor to end", || !std::path::Path::new(&format!("/proc/{monitor}")).exists());
    assert_nothing_mounted(&env);

    // The log: podman's k8s-file lines, stdout and stderr apart, partial last line.
    let log = std::fs::read_to_string(env.root.join("container-data").join(id).join("ctr.log")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    for line in &lines {
        let time = line.split(' ').next().unwrap();
        assert!(time.ends_with("+00:00") && time.len() == "2026-12-04T02:59:24.839808233+00:00".len(), "{time}");
    }
    // Within a stream in order (the two streams are two pipes: their
    // relative order is not kept, by conmon either).
    lines.sort_by_key(|l| l.split_once(' ').unwrap().1.starts_with("stdout"));
    let rest: Vec<&str> = lines.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(rest, ["stderr F err1", "stdout F out1", "stdout P no newline"]);
    // `logs`: each stream to its own, as podman does.
    let o = env.run(&["logs", "bg"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out1\nno newline", "err1\n"));
    let o = env.run(&["logs", "-t", "--tail", "1", "bg"]);
    let (time, text) = stdout(&o).split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    assert_eq!(text, "no newline");
    assert!(time.starts_with("20") && time.ends_with('Z'), "{time}");
    assert_eq!(stderr(&o), "");
    env.ok(&["rm", "bg"]);
    assert!(!env.root.join("container-data").join(id).exists());
}

#[test]
fn stop_kill_and_start_from_other_commands() {
    let (env, _) = Env::with_busybox();
    // A process that ends on SIGTERM with a code of its own.
    env.ok(&["run", "-d", "--name", "polite", "bb", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]);
    // PID 1 without a handler ignores SIGTERM: stop kills it after -t.
    env.ok(&["run", "-d", "--name", "stubborn", "bb", "sleep", "100"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.ok(&["stop", "polite"]), "polite\n");
    assert!(status(&env, "polite").starts_with("Exited (3) "), "{}", status(&env, "polite"));
    let t = Instant::now();
    assert_eq!(env.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    assert!(status(&env, "stubborn").starts_with("Exited (137) "), "{}", status(&env, "stubborn"));
    // Stopping a stopped container is fine, as in podman.
    assert_eq!(env.ok(&["stop", "stubborn"]), "stubborn\n");

    // start: detached again, prints the name given.
    assert_eq!(env.ok(&["start", "polite"]), "polite\n");
    assert!(status(&env, "polite").starts_with("Up "), "{}", status(&env, "polite"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.ok(&["kill", "-s", "TERM", "polite"]), "polite\n");
    assert_eq!(env.ok(&["wait", "polite"]), "3\n");
    let e = env.fails(&["kill", "polite"], 125);
    assert!(e.contains("can only kill running containers.") && e.contains("is in state exited"), "{e}");
    env.fails(&["kill", "-s", "NOSUCH", "polite"], 125);

    // start -a: attached, output and exit code are ours.
    let id = env.ok(&["create", "--name", "att", "bb", "sh", "-c", "echo attached; exit 4"]);
    let o = env.run(&["start", "-a", id.trim()]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(4), "attached\n"), "{}", stderr(&o));

    // Unknown containers: podman's words and code; --ignore skips them.
    for cmd in ["stop", "kill", "wait", "logs", "start"] {
        let e = env.fails(&[cmd, "nope"], 125);
        assert_eq!(e, "Error: no container with name or ID \"nope\" found: no such container\n", "{cmd}");
    }
    assert_eq!(env.ok(&["stop", "-i", "nope"]), "");
    env.fails(&["logs"], 125);
    env.ok(&["rm", "-a", "-f"]);
    assert_nothing_mounted(&env);
}

#[test]
fn rm_after_exit_follow_logs_and_a_killed_monitor() {
    let (env, _) = Env::with_busybox();
    // --rm: the monitor removes it after the exit.
    env.ok(&["run", "-d", "--rm", "--name", "gone", "bb", "true"]);
    eventually("the --rm container to go", || env.ok(&["ps", "-a", "-q"]).is_empty());
    assert_eq!(std::fs::read_dir(env.root.join("container-data")).unwrap().count(), 0);

    // logs -f follows until the container exits.
    env.ok(&["run", "-d", "--name", "talker", "bb", "sh", "-c", "echo a; sleep 1; echo b"]);
    let t = Instant::now();
    assert_eq!(env.ok(&["logs", "-f", "talker"]), "a\nb\n");
    assert!(t.elapsed() >= Duration::from_millis(500), "{:?}", t.elapsed());

    // A monitor killed with SIGKILL: the container runs on; ps and rm -f
    // still handle it, and nothing is left.
    env.ok(&["run", "-d", "--name", "orphan", "bb", "sleep", "100"]);
    let monitor = parent_of(pid_of(&env, "orphan"));
    rustix::process::kill_process(rustix::process::Pid::from_raw(monitor).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    eventually("the monitor to die", || !std::path::Path::new(&format!("/proc/{monitor}")).exists());
    assert!(status(&env, "orphan").starts_with("Up "), "{}", status(&env, "orphan"));
    env.ok(&["rm", "-f", "-t", "0", "orphan"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]).lines().count(), 1, "talker only");
    env.ok(&["rm", "talker"]);
    assert_nothing_mounted(&env);
}

/// 16 `run -d` at once (the count): all start, with distinct
/// names, and every record reads back.
#[test]
fn parallel_detached_runs() {
    let (env, _) = Env::with_busybox();
    let runs: Vec<_> = (0..16)
        .map(|_| {
            let mut c = env.cmd(&["run", "-d", "bb", "sleep", "30"]);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let names = env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    let mut seen: Vec<&str> = names.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(seen.len(), 16, "{names}");
    assert!(names.lines().all(|l| l.contains(" Up ")), "{names}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 16, "{names}");
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_nothing_mounted(&env);
}

#[test]
fn restart_policies_run_by_the_monitor() {
    let (env, _) = Env::with_busybox();
    // on-failure:2 - the first run and two restarts, then it stays exited.
    env.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "bb", "sh", "-c", "echo ran; exit 3"]);
    eventually("three runs", || env.ok(&["logs", "flaky"]) == "ran\nran\nran\n");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(env.ok(&["logs", "flaky"]), "ran\nran\nran\n");
    assert!(status(&env, "flaky").starts_with("Exited (3) "), "{}", status(&env, "flaky"));
    let f = env.ok(&[
        "inspect",
        "--format",
        "{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "flaky",
    ]);
    assert_eq!(f, "2 on-failure 2\n");
    // A clean exit is no failure.
    env.ok(&["run", "-d", "--name", "clean", "--restart", "on-failure", "bb", "sh", "-c", "echo ran"]);
    assert_eq!(env.ok(&["wait", "clean"]), "0\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.ok(&["logs", "clean"]), "ran\n");

    // always: its process killed with SIGKILL, it comes back...
    env.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "100"]);
    let first = pid_of(&env, "keeper");
    assert!(first > 0);
    rustix::process::kill_process(rustix::process::Pid::from_raw(first).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    eventually("a restart", || {
        let p = pid_of(&env, "keeper");
        p > 0 && p != first
    });
    assert!(status(&env, "keeper").starts_with("Up "), "{}", status(&env, "keeper"));
    // ... but not after a user's stop.
    env.ok(&["stop", "-t", "0", "keeper"]);
    std::thread::sleep(Duration::from_millis(600));
    assert!(status(&env, "keeper").starts_with("Exited (137) "), "{}", status(&env, "keeper"));
    // start brings it back under its policy.
    env.ok(&["start", "keeper"]);
    assert!(status(&env, "keeper").starts_with("Up "), "{}", status(&env, "keeper"));

    // podman's refusals.
    let e = env.fails(&["run", "--rm", "--restart", "always", "bb", "true"], 125);
    assert_eq!(e, "Error: the --rm option conflicts with --restart, when the restartPolicy is not \"\" and \"no\"\n");
    let e = env.fails(&["create", "--restart", "bogus", "bb", "true"], 125);
    assert!(e.contains("\"bogus\" is not a valid restart policy"), "{e}");
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_nothing_mounted(&env);
}

/// What a boot does for podman's restart service: `start --all --filter
/// restart-policy=always` brings back the `always` containers whose
/// monitor and processes are gone (as after a reboot), and only those.
#[test]
fn start_all_by_restart_policy_after_a_crash() {
    let (env, _) = Env::with_busybox();
    env.ok(&["run", "-d", "--name", "svc", "--restart", "always", "bb", "sleep", "100"]);
    env.ok(&["run", "-d", "--name", "job", "bb", "sleep", "100"]);
    for name in ["svc", "job"] {
        let pid = pid_of(&env, name);
        let monitor = parent_of(pid);
        for p in [monitor, pid] {
            rustix::process::kill_process(rustix::process::Pid::from_raw(p).unwrap(), rustix::process::Signal::KILL)
                .unwrap();
        }
    }
    eventually("both to read as exited", || ["svc", "job"].iter().all(|n| status(&env, n).starts_with("Exited")));
    assert_eq!(env.ok(&["start", "--all", "--filter", "restart-policy=always"]), format!("{}\n", id_of(&env, "svc")));
    assert!(status(&env, "svc").starts_with("Up "), "{}", status(&env, "svc"));
    assert!(status(&env, "job").starts_with("Exited"), "{}", status(&env, "job"));
    env.fails(&["start", "--filter", "restart-policy=always"], 125);
    env.fails(&["start", "--all", "--filter", "bogus=1"], 125);
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_nothing_mounted(&env);
}

fn id_of(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap()
}

/// CVE-2019-5736: the monitor, whose fork becomes the container's init,
/// runs from a read-only copy of berth, whichever command started it, and
/// hands the container nothing of its own;
/// the berth the tests run is on a writable filesystem. (And the monitors
/// are the processes `monitor_pids` finds, which other tests count on.)
#[test]
fn containers_start_from_a_read_only_copy_of_berth() {
    let (env, _) = Env::with_busybox();
    let read_only = |pid: i32| {
        let vfs = rustix::fs::statvfs(format!("/proc/{pid}/exe").as_str()).unwrap();
        vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)
    };
    assert!(!read_only(std::process::id() as i32), "the test's own binary is read-only: this proves nothing");
    env.ok(&["run", "-d", "--name", "a", "bb", "sleep", "100"]);
    env.ok(&["container", "create", "--name", "b", "bb", "sleep", "100"]);
    env.ok(&["--log-level", "error", "container", "start", "b"]);
    env.ok(&["run", "-d", "--name", "c", "bb", "sleep", "100"]);
    env.ok(&["restart", "-t", "0", "c"]);
    for name in ["a", "b", "c"] {
        let monitor = parent_of(pid_of(&env, name));
        assert!(read_only(monitor), "{name}'s monitor runs from a writable berth");
        assert!(monitor_pids(&env).contains(&monitor), "{name}'s monitor is not one monitor_pids finds");
        // berth-monitor, beside berth, not berth itself.
        assert_eq!(exe_name(monitor), "berth-monitor", "{name}'s monitor");
        // None of the monitor's fds (its database, locks, the detached
        // mount its binary is on) reached the container: its stdio alone.
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", pid_of(&env, name)))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        assert_eq!(fds, ["0", "1", "2"], "{name}'s init");
    }
    env.ok(&["rm", "-f", "-t", "0", "a", "b", "c"]);
}

/// The name of the file process `pid` runs.
fn exe_name(pid: i32) -> String {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    exe.file_name().unwrap().to_string_lossy().into_owned()
}

/// Without berth-monitor beside it, berth runs monitors from a read-only
/// copy of itself, and they do their whole job: the container runs, its
/// output is logged, its exit recorded, `--rm` removes it.
#[test]
fn without_berth_monitor_beside_it_berth_is_the_monitor() {
    let (env, _) = Env::with_busybox();
    // berth alone in a directory of its own (a hard link: the same file).
    let alone = env.path("bin");
    std::fs::create_dir(&alone).unwrap();
    let berth = alone.join("berth");
    std::fs::hard_link(common::BIN, &berth).unwrap();
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(&berth);
        c.env("BERTH_CONFIG", env.config()).arg("--root").arg(&env.root).arg("--runroot").arg(&env.runroot).args(args);
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let o = run(&["run", "-d", "--name", "a", "bb", "sh", "-c", "echo hi; sleep 100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let monitor = parent_of(pid_of(&env, "a"));
    assert_eq!(exe_name(monitor), "berth");
    let vfs = rustix::fs::statvfs(format!("/proc/{monitor}/exe").as_str()).unwrap();
    assert!(vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY), "the monitor runs from a writable berth");
    eventually("the log", || env.ok(&["logs", "a"]) == "hi\n");
    assert!(run(&["rm", "-f", "-t", "0", "a"]).status.success());
    // Attached, with --rm: its output, its exit code, and then it is gone.
    let o = run(&["run", "--rm", "bb", "sh", "-c", "echo out; exit 3"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(3), "out\n"), "{}", stderr(&o));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

/// `run` starts the monitor on berth's other CPUs (so it starts beside the
/// create) and gives it back all of them before it makes the container:
/// the container, and the monitor after, may use every CPU berth may.
#[test]
fn containers_get_every_cpu_berth_may_use() {
    let (env, _) = Env::with_busybox();
    let allowed = |status: &str| status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).unwrap().to_string();
    let ours = allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    assert_eq!(allowed(&env.ok(&["run", "--rm", "bb", "cat", "/proc/self/status"])), ours);
    env.ok(&["run", "-d", "--name", "cpus", "bb", "sleep", "100"]);
    let monitor = parent_of(pid_of(&env, "cpus"));
    assert_eq!(allowed(&std::fs::read_to_string(format!("/proc/{monitor}/status")).unwrap()), ours);
    env.ok(&["rm", "-f", "-t", "0", "cpus"]);
}
