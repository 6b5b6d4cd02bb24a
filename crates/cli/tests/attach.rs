//! Attaching through the monitor, on a real pseudo-terminal: `run -d -it`
//! then `attach` (typed input, the terminal's size following ours on
//! SIGWINCH, ctrl-p ctrl-q detaching while the container runs on, the exit
//! code coming back), ctrl-c reaching a `run -it` container's process, and
//! an attached run's output landing in its log as well.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::pty::OnPty;
use common::*;

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

#[test]
fn run_d_it_then_attach_resize_detach_and_exit() {
    let (env, _) = Env::with_busybox();
    env.ok(&["run", "-d", "-it", "--name", "shell", "bb", "sh"]);
    assert!(status(&env, "shell").starts_with("Up "));

    // Attach: what we type runs, and its terminal has our size.
    let mut t = OnPty::spawn(&env, &["attach", "shell"], 31, 101);
    t.type_in(b"echo ab''cd; stty size\n");
    t.expect("abcd");
    t.expect("31 101");
    // Our terminal resized: so is the container's (SIGWINCH reaches berth).
    t.resize(42, 120);
    std::thread::sleep(Duration::from_millis(200));
    t.type_in(b"stty size\n");
    t.expect("42 120");
    // ctrl-p ctrl-q: berth leaves, the container runs on.
    t.type_in(&[0x10, 0x11]);
    assert_eq!(t.exit_code(), 0, "{}", t.shown);
    assert!(status(&env, "shell").starts_with("Up "), "{}", status(&env, "shell"));

    // Attach again: its exit code is ours, and recorded.
    let mut t = OnPty::spawn(&env, &["attach", "shell"], 24, 80);
    t.type_in(b"exit 3\n");
    assert_eq!(t.exit_code(), 3, "{}", t.shown);
    assert!(status(&env, "shell").starts_with("Exited (3) "), "{}", status(&env, "shell"));
    // Not running: podman's words.
    let e = env.fails(&["attach", "shell"], 125);
    assert_eq!(e, "Error: you can only attach to running containers\n");
    env.ok(&["rm", "shell"]);
}

#[test]
fn ctrl_c_reaches_a_run_it_process_and_the_exit_code_comes_back() {
    let (env, _) = Env::with_busybox();
    let script = "trap 'echo got-INT; exit 7' INT; echo ready; while :; do sleep 0.1; done";
    let mut t = OnPty::spawn(&env, &["run", "--rm", "-it", "bb", "sh", "-c", script], 24, 80);
    t.expect("ready");
    t.type_in(&[0x03]);
    t.expect("got-INT");
    assert_eq!(t.exit_code(), 7, "{}", t.shown);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "--rm removed it");
}

#[test]
fn an_attached_runs_output_is_in_its_log_too() {
    let (env, _) = Env::with_busybox();
    let o = env.run(&["run", "--name", "att", "bb", "sh", "-c", "echo out; echo err >&2; exit 2"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(2), "out\n", "err\n"));
    let o = env.run(&["logs", "att"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", "err\n"));
    // Its monitor ends with it (it once held berth's end of the socket pair
    // and waited for berth to close it): its flock is free at once.
    let id = env.ok(&["ps", "-a", "--no-trunc", "-q"]);
    let lock = env.runroot.join("locks").join(format!("{}.monitor", id.trim()));
    let free =
        || std::process::Command::new("flock").args(["-n", "-s"]).arg(&lock).arg("true").status().unwrap().success();
    let deadline = Instant::now() + Duration::from_millis(1500);
    while !free() {
        assert!(Instant::now() < deadline, "the monitor outlived its container");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["rm", "att"]);
}

/// Under `--init` the command has the terminal (its foreground process
/// group): ^C and a resize reach it, and its exit code comes back.
#[test]
fn under_init_the_terminal_is_the_commands() {
    let (env, _) = Env::with_busybox();
    let script = "trap 'echo got-INT; exit 7' INT; trap 'stty size' WINCH; echo ready; while :; do sleep 0.1; done";
    let mut t = OnPty::spawn(&env, &["run", "--rm", "-it", "--init", "bb", "sh", "-c", script], 24, 80);
    t.expect("ready");
    t.resize(30, 100);
    t.expect("30 100");
    t.type_in(&[0x03]);
    t.expect("got-INT");
    assert_eq!(t.exit_code(), 7, "{}", t.shown);
}
