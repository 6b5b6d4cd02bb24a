//! `--init`: berth's own init (`berth-init`) as the container's PID 1, run
//! for real as root: it runs the command, reaps orphans, forwards signals
//! (so `stop` ends a process that would ignore SIGTERM as PID 1) and exits
//! as the command did.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::containers::{eventually, Cleanup};
use common::*;

const INIT: &str = env!("CARGO_BIN_EXE_berth-init");

fn inspect(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["inspect", name, "--format", template]).trim().to_string()
}

/// Zombies among the children of host process `pid`.
fn zombie_children(pid: i32) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split(' ').collect();
        if f[1].parse::<i32>().unwrap() == pid && f[0] == "Z" {
            n += 1;
        }
    }
    n
}

#[test]
fn the_init_is_pid_1_and_runs_the_command() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let out = env.ok(&["run", "--rm", "--init", "bb", "ps", "-o", "pid,ppid,args"]);
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert!(
        rows.iter().any(|r| r[..2] == ["1", "0"] && r[2..] == ["/run/berth-init", "--", "ps", "-o", "pid,ppid,args"]),
        "{out}"
    );
    assert!(rows.iter().any(|r| r[1] == "1" && r[2] == "ps"), "{out}");
    // Bound read-only: the container cannot change it.
    let o = env.run(&["run", "--rm", "--init", "bb", "sh", "-c", "echo x > /run/berth-init"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    // As podman shows it.
    env.ok(&["create", "--name", "c", "--init", "bb", "sleep", "100"]);
    assert_eq!(
        inspect(&env, "c", "{{.Path}} {{json .Args}} {{.HostConfig.Init}}"),
        r#"/run/berth-init ["--","sleep","100"] true"#
    );
    env.ok(&["create", "--name", "plain", "bb", "sleep", "100"]);
    assert!(!env.ok(&["inspect", "plain"]).contains("\"Init\""));
}

#[test]
fn the_exit_code_passes_through() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    assert_eq!(env.run(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 7"]).status.code(), Some(7));
    // Killed by a signal: 128 + its number, as without the init.
    assert_eq!(env.run(&["run", "--rm", "--init", "bb", "sh", "-c", "kill -USR1 $$"]).status.code(), Some(138));
    // A command that is not there: 127 from the init.
    let o = env.run(&["run", "--rm", "--init", "bb", "nonexistent"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
}

#[test]
fn orphans_are_reaped_by_the_init() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // The subshell leaves `sleep 0.2` behind; it is reparented to PID 1 and
    // ends: someone must reap it.
    let cmd = ["sh", "-c", "(sleep 0.2 &); exec sleep 100"];
    let with: Vec<&str> = ["run", "-d", "--name", "with", "--init", "bb"].iter().chain(&cmd).copied().collect();
    let without: Vec<&str> = ["run", "-d", "--name", "without", "bb"].iter().chain(&cmd).copied().collect();
    // With a terminal, the command has a process group of its own (the
    // terminal's foreground one): its orphans are reaped all the same.
    let tty: Vec<&str> = ["run", "-d", "-t", "--name", "tty", "--init", "bb"].iter().chain(&cmd).copied().collect();
    env.ok(&with);
    env.ok(&without);
    env.ok(&tty);
    let pid1 = |name: &str| -> i32 { inspect(&env, name, "{{.State.Pid}}").parse().unwrap() };
    // Without the init, PID 1 is `sleep 100`, which never waits: a zombie.
    eventually("the zombie without an init", || zombie_children(pid1("without")) == 1);
    // Their orphans have ended too by now.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(zombie_children(pid1("with")), 0);
    assert_eq!(zombie_children(pid1("tty")), 0);
    // And the command's own end is seen: the init exits with it.
    env.ok(&["run", "-d", "-t", "--name", "tty-exit", "--init", "bb", "sh", "-c", "exit 5"]);
    eventually("tty-exit exited", || inspect(&env, "tty-exit", "{{.State.Status}}") == "exited");
    assert_eq!(inspect(&env, "tty-exit", "{{.State.ExitCode}}"), "5");
}

#[test]
fn stop_ends_it_at_once_through_the_init() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "with", "--init", "bb", "sleep", "100"]);
    env.ok(&["run", "-d", "--name", "without", "bb", "sleep", "100"]);
    // PID 1 sleep ignores SIGTERM: stop waits out its timeout, then kills.
    let t = Instant::now();
    env.ok(&["stop", "-t", "2", "without"]);
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert_eq!(inspect(&env, "without", "{{.State.ExitCode}}"), "137");
    // The init passes SIGTERM on to sleep, which is not PID 1 and dies of it.
    let t = Instant::now();
    env.ok(&["stop", "-t", "10", "with"]);
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    assert_eq!(inspect(&env, "with", "{{.State.ExitCode}}"), "143");
}

#[test]
fn signals_are_forwarded_to_the_command() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let script = "trap 'echo got-usr1; exit 3' USR1; echo ready; while true; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "t", "--init", "bb", "sh", "-c", script]);
    eventually("ready", || env.ok(&["logs", "t"]).contains("ready"));
    env.ok(&["kill", "-s", "USR1", "t"]);
    eventually("exited", || inspect(&env, "t", "{{.State.Status}}") == "exited");
    assert_eq!(inspect(&env, "t", "{{.State.ExitCode}}"), "3");
    assert!(env.ok(&["logs", "t"]).contains("got-usr1"));
}

#[test]
fn init_path_names_the_init_and_a_missing_one_is_refused() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let copy = env.path("my-init");
    std::fs::copy(INIT, &copy).unwrap();
    let out = env.ok(&["run", "--rm", "--init", "--init-path", copy.to_str().unwrap(), "bb", "cat", "/proc/1/cmdline"]);
    assert_eq!(out, "/run/berth-init\0--\0cat\0/proc/1/cmdline\0");
    let e = env.fails(&["create", "--init", "--init-path", "/nonexistent/init", "bb", "true"], 125);
    assert_eq!(
        e,
        "Error: container-init binary not found on the host: stat /nonexistent/init: no such file or directory\n"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // Without --init the path changes nothing (podman's).
    let out = env.ok(&["run", "--rm", "--init-path", "/nonexistent/init", "bb", "cat", "/proc/1/cmdline"]);
    assert_eq!(out, "cat\0/proc/1/cmdline\0");
}

/// The init stays resident for the container's whole life: it must stay
/// small (berth's own binary would map and relocate far more).
#[test]
fn the_init_is_small() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "s", "--init", "bb", "sleep", "100"]);
    let pid = inspect(&env, "s", "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    // A debug build; a release one is smaller still.
    assert!(rss_kib < 4096, "berth-init's RSS is {rss_kib} KiB");
}
