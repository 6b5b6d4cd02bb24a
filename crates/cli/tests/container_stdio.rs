//! A foreground container's stdio (security defect 8): without -i/-t it
//! never gets the caller's terminal or stdin. Its stdin is /dev/null (a pipe
//! berth feeds with -i), its output reaches the caller through pipes berth
//! relays, and -t gives it a terminal of its own. As podman 4.3 does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `berth ARGS` as one shell word list, for `script -c` and `sh -c`.
fn berth_line(env: &Env, args: &str) -> String {
    let (config, root, runroot) = (env.config(), &env.root, &env.runroot);
    format!("BERTH_CONFIG={} {BIN} --root {} --runroot {} {args}", config.display(), root.display(), runroot.display())
}

/// Run shell `line` on a fresh pseudo-terminal (util-linux `script`), with
/// `input` typed into it; returns everything the terminal showed.
fn on_a_pty(line: &str, input: &str) -> String {
    assert!(
        Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success()),
        "these tests need util-linux's `script` (apt-get install bsdutils) for a pseudo-terminal"
    );
    let mut child = Command::new("timeout")
        .args(["60", "script", "-qec", line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_ne!(o.status.code(), Some(124), "timed out on the pty: {line}\n{}", stdout(&o));
    stdout(&o).replace('\r', "")
}

/// The flags of `stty -a` on the terminal after the command ran.
fn echo_flag_after(env: &Env, run_args: &str) -> String {
    let shown = on_a_pty(&format!("{}; echo STTY-AFTER; stty -a", berth_line(env, run_args)), "");
    let after = shown.split("STTY-AFTER").nth(1).unwrap_or_else(|| panic!("no stty output: {shown}"));
    after
        .split_whitespace()
        .find(|w| *w == "echo" || *w == "-echo")
        .unwrap_or_else(|| panic!("no echo flag in {after}"))
        .to_string()
}

#[test]
fn a_container_cannot_change_the_callers_terminal() {
    let env = Env::with_busybox().0;
    // The attack: with the caller's tty as its stdin, this turned echo off in
    // the user's shell.
    assert_eq!(echo_flag_after(&env, "run --rm bb stty -echo"), "echo");
    // -i gives a pipe, not the terminal either.
    assert_eq!(echo_flag_after(&env, "run --rm -i bb stty -echo"), "echo");
    // What the container holds on a terminal: /dev/null and two pipes.
    let shown = on_a_pty(
        &berth_line(&env, "run --rm bb sh -c 'for f in 0 1 2; do readlink /proc/self/fd/$f; done; tty; echo code $?'"),
        "",
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], "/dev/null", "{shown}");
    assert!(lines[1].starts_with("pipe:") && lines[2].starts_with("pipe:") && lines[1] != lines[2], "{shown}");
    assert_eq!(&lines[3..5], ["not a tty", "code 1"], "{shown}");
}

#[test]
fn piped_input_reaches_the_container_only_with_i() {
    let env = Env::with_busybox().0;
    let piped = |args: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("printf 'echo injected\\n' | {}", berth_line(&env, args)))
            .output()
            .unwrap();
        (o.status.code(), stdout(&o), stderr(&o))
    };
    assert_eq!(piped("run --rm bb sh"), (Some(0), String::new(), String::new()));
    assert_eq!(piped("run --rm -i bb sh"), (Some(0), "injected\n".into(), String::new()));
    // -i: stdin is a pipe berth feeds, closed at the end of our input.
    let (code, out, _) = piped("run --rm -i bb sh -c 'readlink /proc/self/fd/0; cat; echo end'");
    assert_eq!(code, Some(0));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("pipe:"), "{out}");
    assert_eq!(lines.collect::<Vec<_>>(), ["echo injected", "end"]);
    // On a terminal too: what the user types goes through berth's pipe.
    let shown =
        on_a_pty(&berth_line(&env, "run --rm -i bb sh -c 'read x; echo got:$x; readlink /proc/self/fd/0'"), "typed\n");
    assert!(shown.contains("got:typed\npipe:"), "{shown}");
}

#[test]
fn output_and_exit_codes_come_back_on_separate_streams() {
    let env = Env::with_busybox().0;
    let o = env.run(&["run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; echo out2; exit 3"]);
    assert_eq!((o.status.code(), stdout(&o), stderr(&o)), (Some(3), "out\nout2\n".into(), "err\n".into()));
    // More than a pipe holds, all of it, in order.
    let o = env.run(&["run", "--rm", "bb", "sh", "-c", "seq 1 100000"]);
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 100_000);
    assert_eq!(text.lines().last(), Some("100000"));
}

#[test]
fn signals_to_berth_reach_the_container_while_output_is_relayed() {
    let env = Env::with_busybox().0;
    // With -i a thread of berth also feeds our (still open) stdin to it.
    for flags in [&[][..], &["-i"][..]] {
        let script = "trap '' USR1; trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.1; done";
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["bb", "sh", "-c", script]);
        let mut child =
            env.cmd(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        // A burst: each arrives while berth may still be forwarding the last
        // (a thread of berth that did not block them would die of them).
        let pid = child.id().to_string();
        let burst = format!("for i in $(seq 1 200); do kill -USR1 {pid}; done; kill -TERM {pid}");
        assert!(Command::new("sh").arg("-c").arg(&burst).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "berth run {flags:?} did not end after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!((status.code(), line.as_str()), (Some(42), "got TERM\n"), "{flags:?}: berth died: {status:?}");
    }
}

#[test]
fn tty_flags_as_podman() {
    let env = Env::with_busybox().0;
    // -t gives the container a terminal of its own; without -i nothing the
    // user types reaches it.
    let shown = on_a_pty(&berth_line(&env, "run --rm -t bb sh -c 'tty; read -t 2 x; echo got:$x'"), "typed\n");
    assert!(shown.contains("/dev/pts/0\n"), "{shown}");
    assert!(shown.contains("got:\n"), "{shown}");
    // -it: it does.
    let shown = on_a_pty(&berth_line(&env, "run --rm -it bb sh -c 'read x; echo got:$x'"), "typed\n");
    assert!(shown.contains("got:typed\n"), "{shown}");
    // The caller's terminal is left as it was.
    let shown = on_a_pty(&format!("{}; stty -a", berth_line(&env, "run --rm -it bb stty -echo")), "");
    assert!(shown.split_whitespace().any(|w| w == "echo"), "{shown}");

    // -t with a stdin that is not a terminal: podman says nothing.
    let o = env.run(&["run", "--rm", "-t", "bb", "sh", "-c", "tty; exit 4"]);
    assert_eq!(
        (o.status.code(), stdout(&o).replace('\r', ""), stderr(&o)),
        (Some(4), "/dev/pts/0\n".into(), String::new())
    );
    // -it: podman warns and runs it anyway.
    let o = env.run(&["run", "--rm", "-it", "bb", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    let e = stderr(&o);
    assert!(
        e.contains("The input device is not a TTY. The --tty and --interactive flags might not work properly"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}
