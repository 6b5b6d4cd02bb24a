//! Faults: SIGKILL of a monitor, of a `berth run` (attached, or still
//! creating), and of the container's process; 16 `run -d` at once; a
//! restart policy after SIGKILL. After each, `ps`, `inspect`, `logs` and
//! `rm -f` must handle what is left, and nothing may outlive `rm`: no
//! process, no mount, no cgroup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::containers::{eventually, host_pids, monitor_pids, Cleanup};
use common::*;

fn sigkill(pid: i32) {
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL).unwrap();
}

fn field(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["inspect", "--format", template, name]).trim().to_string()
}

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

/// The container's cgroup directories (every hierarchy it is in).
fn cgroup_dirs(pid: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
            let first = ctrls.split(',').next()?.trim_start_matches("name=");
            match first {
                "" if Path::new("/sys/fs/cgroup/unified").is_dir() => Some(format!("/sys/fs/cgroup/unified{path}")),
                "" => Some(format!("/sys/fs/cgroup{path}")),
                c => Some(format!("/sys/fs/cgroup/{c}{path}")),
            }
        })
        .filter(|d| d.contains("/berth/"))
        .collect()
}

/// Nothing of `env`'s containers left on the host: mounts, the processes
/// running `args`, the cgroups in `cgroups`.
fn assert_nothing_left(env: &Env, args: &[&str], cgroups: &[String]) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for dir in [&env.root, &env.runroot] {
        assert!(!mounts.contains(dir.to_str().unwrap()), "still mounted under {}", dir.display());
    }
    eventually("the container's processes to go", || host_pids(args).is_empty());
    for d in cgroups {
        assert!(!Path::new(d).exists(), "cgroup {d} left behind");
    }
}

#[test]
fn a_killed_monitor_leaves_a_container_ps_inspect_logs_and_rm_handle() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let args = ["sleep", "1001"];
    env.ok(&["run", "-d", "--name", "orphan", "bb", "sh", "-c", "echo before; exec sleep 1001"]);
    eventually("its log", || env.ok(&["logs", "orphan"]) == "before\n");
    let pid = field(&env, "orphan", "{{.State.Pid}}");
    let cgroups = cgroup_dirs(&pid);
    assert!(!cgroups.is_empty());
    let monitor: i32 = field(&env, "orphan", "{{.State.ConmonPid}}").parse().unwrap();
    assert!(monitor > 0);
    sigkill(monitor);
    eventually("the monitor to die", || !Path::new(&format!("/proc/{monitor}")).exists());
    // The container runs on, unlooked-after: every command still reads it.
    assert!(status(&env, "orphan").starts_with("Up "), "{}", status(&env, "orphan"));
    assert_eq!(
        field(&env, "orphan", "{{.State.Status}} {{.State.Running}} {{.State.Pid}}"),
        format!("running true {pid}")
    );
    assert_eq!(field(&env, "orphan", "{{.State.ConmonPid}}"), "0");
    assert_eq!(env.ok(&["logs", "orphan"]), "before\n");
    assert_eq!(env.ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "orphan"]), "1\n");
    env.ok(&["rm", "-f", "-t", "0", "orphan"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_nothing_left(&env, &args, &cgroups);

    // Monitor gone, then the process: the record reads as exited.
    env.ok(&["run", "-d", "--name", "twice", "bb", "sleep", "1001"]);
    let pid = field(&env, "twice", "{{.State.Pid}}");
    let cgroups = cgroup_dirs(&pid);
    sigkill(field(&env, "twice", "{{.State.ConmonPid}}").parse().unwrap());
    sigkill(pid.parse().unwrap());
    eventually("it to read as exited", || status(&env, "twice").starts_with("Exited"));
    assert_eq!(field(&env, "twice", "{{.State.Status}} {{.State.Running}}"), "exited false");
    assert_eq!(env.ok(&["logs", "twice"]), "");
    env.ok(&["rm", "-f", "twice"]);
    assert_nothing_left(&env, &args, &cgroups);
}

#[test]
fn a_killed_attached_run_leaves_the_container_to_its_monitor() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let args = ["sleep", "1002"];
    let mut run = env.cmd(&["run", "--name", "att", "bb", "sh", "-c", "echo hi; exec sleep 1002"]);
    let mut child = run.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "hi\n");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Its monitor still runs it, logs it, and records its end.
    assert!(status(&env, "att").starts_with("Up "), "{}", status(&env, "att"));
    assert_eq!(field(&env, "att", "{{.State.Status}}"), "running");
    assert_eq!(env.ok(&["logs", "att"]), "hi\n");
    let cgroups = cgroup_dirs(&field(&env, "att", "{{.State.Pid}}"));
    env.ok(&["stop", "-t", "0", "att"]);
    assert_eq!(field(&env, "att", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    env.ok(&["rm", "att"]);
    assert_nothing_left(&env, &args, &cgroups);
}

#[test]
fn runs_killed_while_creating_leave_what_rm_finishes() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let args = ["sleep", "1003"];
    // SIGKILL at points from "parsing" to "started": whatever each left
    // (nothing, a record, a mounted root, a started container).
    for delay in [0u64, 10, 25, 50, 100, 200, 400] {
        let mut c = env.cmd(&["run", "-d", "bb", "sleep", "1003"]);
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
    }
    // ps and inspect read every record; rm -f takes them all.
    let rows = env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    let mut cgroups = Vec::new();
    for row in rows.lines() {
        let (id, name) = row.split_once(' ').unwrap();
        assert_eq!(field(&env, name, "{{.Id}}"), id);
        env.ok(&["logs", name]);
        // Wherever a cgroup of its may be, in any hierarchy.
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            cgroups.push(format!("{}/berth/{id}", h.path().display()));
        }
    }
    println!("{} records left by killed runs", rows.lines().count());
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // No monitor lingers, neither those of the containers nor those a run
    // started ahead and never handed a container.
    eventually("the monitors to exit", || monitor_pids(&env).is_empty());
    assert_nothing_left(&env, &args, &cgroups);
    let left: Vec<_> =
        std::fs::read_dir(env.root.join("container-data")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "{left:?}");
    // The store still works.
    assert_eq!(env.ok(&["run", "--rm", "bb", "echo", "ok"]), "ok\n");
}

/// `run` starts the container's monitor before it makes the container: a
/// run that fails to make it (its name is taken) leaves no process behind.
#[test]
fn a_run_that_fails_leaves_no_monitor() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["create", "--name", "taken", "bb", "true"]);
    for detach in [&["-d"][..], &[]] {
        let mut args = vec!["run"];
        args.extend(detach);
        args.extend(["--name", "taken", "bb", "sleep", "1005"]);
        let e = env.fails(&args, 125);
        assert!(e.contains("already in use"), "{e}");
        eventually("the monitor started ahead to exit", || monitor_pids(&env).is_empty());
    }
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "taken\n");
}

#[test]
fn a_killed_container_process_is_recorded_and_removable() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let args = ["sleep", "1004"];
    env.ok(&["run", "-d", "--name", "victim", "bb", "sh", "-c", "echo x; exec sleep 1004"]);
    eventually("its log", || env.ok(&["logs", "victim"]) == "x\n");
    let pid = field(&env, "victim", "{{.State.Pid}}");
    let cgroups = cgroup_dirs(&pid);
    sigkill(pid.parse().unwrap());
    eventually("the exit recorded", || status(&env, "victim").starts_with("Exited (137) "));
    assert_eq!(field(&env, "victim", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}"), "exited 137 0");
    assert_eq!(env.ok(&["logs", "victim"]), "x\n");
    assert_eq!(env.ok(&["wait", "victim"]), "137\n");
    env.ok(&["rm", "victim"]);
    assert_nothing_left(&env, &args, &cgroups);
}

#[test]
fn restart_always_brings_it_back_after_sigkill_and_counts() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "bb", "sh", "-c", "echo up; exec sleep 1005"]);
    assert_eq!(field(&env, "keeper", "{{.RestartCount}}"), "0");
    for round in 1..=2 {
        let pid = field(&env, "keeper", "{{.State.Pid}}");
        sigkill(pid.parse().unwrap());
        eventually("a restart", || {
            let now = field(&env, "keeper", "{{.State.Pid}} {{.State.Status}}");
            now != format!("{pid} running") && now.ends_with(" running") && !now.starts_with("0 ")
        });
        assert_eq!(field(&env, "keeper", "{{.RestartCount}}"), round.to_string());
    }
    assert!(status(&env, "keeper").starts_with("Up "), "{}", status(&env, "keeper"));
    eventually("three runs logged", || env.ok(&["logs", "keeper"]) == "up\nup\nup\n");
    env.ok(&["rm", "-f", "-t", "0", "keeper"]);
    assert_nothing_left(&env, &["sleep", "1005"], &[]);
}

#[test]
fn sixteen_detached_runs_at_once() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let runs: Vec<_> = (0..16)
        .map(|_| {
            let mut c = env.cmd(&["run", "-d", "bb", "sleep", "1006"]);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let mut ids: Vec<String> = runs
        .into_iter()
        .map(|r| {
            let o = r.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o).trim().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16);
    // 16 records, each with its own name, running, each as inspect has it.
    let rows = env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
    let mut names = Vec::new();
    for row in rows.lines() {
        let mut f = row.splitn(3, ' ');
        let (id, name, state) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        assert!(ids.binary_search(&id.to_string()).is_ok(), "{row}");
        assert!(state.starts_with("Up "), "{row}");
        assert_eq!(field(&env, name, "{{.Id}} {{.State.Status}}"), format!("{id} running"));
        names.push(name.to_string());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 16, "{rows}");
    assert_eq!(host_pids(&["sleep", "1006"]).len(), 16);
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
    assert_nothing_left(&env, &["sleep", "1006"], &[]);
}

#[test]
fn an_rm_killed_midway_is_finished_by_the_next_rm() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let args = ["sleep", "1007"];
    let mut cgroups = Vec::new();
    for (i, delay) in [0u64, 5, 15, 30, 60, 120].into_iter().enumerate() {
        let name = format!("doomed{i}");
        env.ok(&["run", "-d", "--name", &name, "bb", "sleep", "1007"]);
        cgroups.extend(cgroup_dirs(&field(&env, &name, "{{.State.Pid}}")));
        let mut rm = env.cmd(&["rm", "-f", "-t", "0", &name]);
        let mut child = rm.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
    }
    // Whatever each left (a running container, a stopped one, a record
    // without its files), ps lists it and rm -f finishes it.
    let left = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    println!("left by killed rms: {left:?}");
    for name in left.lines() {
        field(&env, name, "{{.State.Status}}");
        env.ok(&["rm", "-f", "-t", "0", name]);
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_nothing_left(&env, &args, &cgroups);
    let data: Vec<_> =
        std::fs::read_dir(env.root.join("container-data")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(data.is_empty(), "{data:?}");
}

/// A `--rm` container's runtime state (its cgroups, its state directory)
/// goes after its exit is told, marked in `<runroot>/teardown` until then:
/// a monitor killed in between leaves it to the next monitor, which
/// deletes it before anything else.
#[test]
fn a_teardown_cut_short_is_finished_by_the_next_monitor() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let out = env
        .cmd(&["run", "--rm", "bb", "sh", "-c", "exit 3"])
        .env("BERTH_TEST_DIE_BEFORE_TEARDOWN", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // Told, removed, and its monitor dead before the teardown.
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    eventually("the monitor to die", || monitor_pids(&env).is_empty());
    let marked: Vec<String> = std::fs::read_dir(env.runroot.join("teardown"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    let id = &marked[0];
    let cgroups = container_cgroups(id);
    assert!(!cgroups.is_empty(), "no cgroup of {id} left: the test proves nothing");
    assert!(env.runroot.join("runtime").join(id).exists());
    // The next run's monitor finishes it.
    assert_eq!(env.ok(&["run", "--rm", "bb", "echo", "ok"]), "ok\n");
    eventually("the teardown to be finished", || {
        !env.runroot.join("teardown").join(id).exists() && !env.runroot.join("runtime").join(id).exists()
    });
    for d in &cgroups {
        assert!(!Path::new(d).exists(), "cgroup {d} left behind");
    }
}

/// Container `id`'s cgroup directories, in every hierarchy.
fn container_cgroups(id: &str) -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| format!("{}/berth/{id}", h.path().display()))
        .chain([format!("/sys/fs/cgroup/berth/{id}")])
        .filter(|d| Path::new(d).exists())
        .collect()
}

/// The markers in `<runroot>/teardown`.
fn teardown_marks(env: &Env) -> Vec<String> {
    match std::fs::read_dir(env.runroot.join("teardown")) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().into_string().unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

/// `run`'s monitor makes the container's cgroup while berth makes the
/// container, under a marker: a monitor killed before it was handed the
/// container leaves both to the next monitor, which deletes them; a `run`
/// that fails before the hand-over has its monitor delete them at once.
#[test]
fn a_cgroup_made_ahead_never_outlives_its_monitor() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let out = env.cmd(&["run", "--rm", "bb", "true"]).env("BERTH_TEST_DIE_AHEAD", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "removed (--rm)");
    let marked = teardown_marks(&env);
    assert_eq!(marked.len(), 1, "{marked:?}");
    let id = &marked[0];
    let cgroups = container_cgroups(id);
    assert!(!cgroups.is_empty(), "no cgroup made ahead for {id}: the test proves nothing");
    // The next run's monitor deletes them.
    assert_eq!(env.ok(&["run", "--rm", "bb", "echo", "ok"]), "ok\n");
    eventually("the teardown to be finished", || teardown_marks(&env).is_empty());
    for d in &cgroups {
        assert!(!Path::new(d).exists(), "cgroup {d} left behind");
    }
    // A name in use: the run fails before the hand-over, and its monitor
    // deletes what it made, marker included.
    env.ok(&["create", "--name", "taken", "bb", "true"]);
    env.fails(&["run", "--rm", "--name", "taken", "bb", "true"], 125);
    eventually("the monitor to clean up", || monitor_pids(&env).is_empty() && teardown_marks(&env).is_empty());
    // Started, a container keeps no marker (every monitor's start would
    // try it), `--rm` or not: its monitor removes it right after telling
    // berth it started.
    let id = env.ok(&["run", "-d", "--rm", "bb", "sleep", "60"]);
    eventually("the marker to go", || teardown_marks(&env).is_empty());
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]), id, "while it runs");
}
