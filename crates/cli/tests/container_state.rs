//! `pause`/`unpause`, `restart`, `rename`, `container exists`, `top` and
//! `container prune`, run for real as root and checked by what is seen
//! (a frozen container writes nothing, a restarted one has a new init...),
//! and beside podman 4.3 where the words and codes can be compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use common::containers::{eventually, Cleanup};
use common::podman::{masked, Podman};
use common::*;

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

fn log_lines(env: &Env, name: &str) -> usize {
    env.ok(&["logs", name]).lines().count()
}

fn field(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["inspect", "--format", template, name]).trim().to_string()
}

#[test]
fn pause_freezes_and_unpause_thaws() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "ticker", "bb", "sh", "-c", "while :; do echo tick; sleep 0.05; done"]);
    eventually("ticks", || log_lines(&env, "ticker") > 2);
    assert_eq!(env.ok(&["pause", "ticker"]), "ticker\n");
    // Frozen: nothing more is written.
    let before = log_lines(&env, "ticker");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(log_lines(&env, "ticker"), before);
    // podman's state everywhere: ps -a says Paused, ps leaves it out.
    assert_eq!(status(&env, "ticker"), "Paused");
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.State}}"]), "Paused\n");
    assert_eq!(field(&env, "ticker", "{{.State.Status}} {{.State.Running}} {{.State.Paused}}"), "paused false true");
    let e = env.fails(&["exec", "ticker", "true"], 255);
    assert_eq!(e, "Error: can only create exec sessions on running containers: container state improper\n");
    let id = field(&env, "ticker", "{{.Id}}");
    let e = env.fails(&["pause", "ticker"], 125);
    assert_eq!(e, format!("Error: \"{id}\" is already paused: container state improper\n"));
    let e = env.fails(&["start", "ticker"], 125);
    assert!(e.contains("must be in Created or Stopped state to be started"), "{e}");
    // Thawed: it goes on.
    assert_eq!(env.ok(&["unpause", "ticker"]), "ticker\n");
    eventually("more ticks", || log_lines(&env, "ticker") > before + 2);
    assert!(status(&env, "ticker").starts_with("Up "), "{}", status(&env, "ticker"));
    let e = env.fails(&["unpause", "ticker"], 125);
    assert_eq!(e, format!("Error: \"{id}\" is not paused, can't unpause: container state improper\n"));
    // Not running: podman's (odd) words, the state where the ID would be.
    env.ok(&["create", "--name", "made", "bb", "true"]);
    let e = env.fails(&["pause", "made"], 125);
    assert_eq!(e, "Error: \"created\" is not running, can't pause: container state improper\n");
    // --all: every running one, by ID.
    let ids = env.ok(&["pause", "--all"]);
    assert_eq!(ids, format!("{id}\n"));
    assert_eq!(env.ok(&["unpause", "-a"]), format!("{id}\n"));
    let e = env.fails(&["pause", "-a", "ticker"], 125);
    assert!(e.starts_with("Error: no arguments are needed with --all\n"), "{e}");
    let e = env.fails(&["pause"], 125);
    assert!(e.starts_with("Error: you must provide at least one name or id\n"), "{e}");
}

#[test]
fn a_paused_container_can_be_stopped_killed_and_removed() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let polite = "trap 'exit 3' TERM; while :; do sleep 0.1; done";
    for name in ["st", "ki", "tm", "rm"] {
        env.ok(&["run", "-d", "--name", name, "bb", "sh", "-c", polite]);
    }
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["pause", "st", "ki", "tm", "rm"]);
    // stop: the stop signal reaches it once it is thawed; its own exit code.
    assert_eq!(env.ok(&["stop", "-t", "5", "st"]), "st\n");
    assert!(status(&env, "st").starts_with("Exited (3) "), "{}", status(&env, "st"));
    // kill: SIGKILL ends it even though it was frozen.
    assert_eq!(env.ok(&["kill", "ki"]), "ki\n");
    assert_eq!(env.ok(&["wait", "ki"]), "137\n");
    // Another signal waits for the thaw, as with podman.
    assert_eq!(env.ok(&["kill", "-s", "TERM", "tm"]), "tm\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&env, "tm"), "Paused");
    env.ok(&["unpause", "tm"]);
    assert_eq!(env.ok(&["wait", "tm"]), "3\n");
    // rm: refused without -f (podman's words and code), done with it.
    let id = field(&env, "rm", "{{.Id}}");
    let e = env.fails(&["rm", "rm"], 2);
    assert_eq!(
        e,
        format!("Error: cannot remove container {id} as it is paused - running or paused containers cannot be removed without force: container state improper\n")
    );
    assert_eq!(env.ok(&["rm", "-f", "-t", "1", "rm"]), "rm\n");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "st\nki\ntm\n");
}

#[test]
fn restart_stops_and_starts_again() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "svc", "bb", "sleep", "100"]);
    let pid = field(&env, "svc", "{{.State.Pid}}");
    assert_eq!(env.ok(&["restart", "-t", "0", "svc"]), "svc\n");
    let again = field(&env, "svc", "{{.State.Pid}}");
    assert_ne!(pid, again);
    assert!(std::path::Path::new(&format!("/proc/{again}")).exists());
    assert!(status(&env, "svc").starts_with("Up "), "{}", status(&env, "svc"));
    // Created and exited containers just start.
    env.ok(&["create", "--name", "made", "bb", "sleep", "100"]);
    env.ok(&["run", "--name", "done", "bb", "sh", "-c", "echo ran"]);
    assert_eq!(env.ok(&["restart", "made", "done"]), "made\ndone\n");
    assert!(status(&env, "made").starts_with("Up "), "{}", status(&env, "made"));
    // Its log has the attached run and the restart.
    eventually("done to run again", || env.ok(&["logs", "done"]) == "ran\nran\n");
    // --all restarts every container, --running those that run; by ID.
    let ids = env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}}"]);
    assert_eq!(env.ok(&["restart", "-a", "-t", "0"]), ids);
    env.ok(&["wait", "done"]);
    let running = env.ok(&["ps", "--no-trunc", "--format", "{{.ID}}"]);
    assert_eq!(env.ok(&["restart", "--running", "-a", "-t", "0"]), running);
    // Paused: refused, in podman's words.
    env.ok(&["pause", "svc"]);
    let e = env.fails(&["restart", "svc"], 125);
    assert_eq!(e, "Error: unable to restart a container in a paused or unknown state: container state improper\n");
    env.fails(&["restart", "nope"], 125);
    let e = env.fails(&["restart"], 125);
    assert!(e.starts_with("Error: you must provide at least one name or id\n"), "{e}");
}

#[test]
fn rename_and_exists() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "old", "bb", "sleep", "100"]);
    env.ok(&["create", "--name", "other", "bb", "true"]);
    assert_eq!(env.run(&["container", "exists", "old"]).status.code(), Some(0));
    // A running container can be renamed; the new name is the only one.
    assert_eq!(env.ok(&["rename", "old", "new"]), "");
    assert_eq!(env.run(&["container", "exists", "old"]).status.code(), Some(1));
    assert_eq!(env.run(&["container", "exists", "new"]).status.code(), Some(0));
    assert_eq!(env.ok(&["exec", "new", "echo", "renamed"]), "renamed\n");
    assert_eq!(field(&env, "new", "{{.Name}}"), "new");
    // The same name again is fine; a taken or bad name is not.
    env.ok(&["rename", "new", "new"]);
    let id = field(&env, "new", "{{.Id}}");
    let e = env.fails(&["rename", "new", "other"], 125);
    assert_eq!(
        e,
        format!("Error: renaming container {id}: name other already in use, cannot rename container {id}: container already exists\n")
    );
    let e = env.fails(&["rename", "new", "bad name"], 125);
    assert_eq!(e, "Error: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument\n");
    assert_eq!(field(&env, "new", "{{.Name}}"), "new");
    env.fails(&["rename", "new"], 125);
    // An image is not a container (a name that is not hex: `bb` could be
    // the start of a container's ID).
    assert_eq!(env.run(&["container", "exists", "localhost/bb"]).status.code(), Some(1));
    env.fails(&["container", "exists"], 125);
}

#[test]
fn top_lists_the_containers_processes() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "bb", "sleep", "100"]);
    env.ok(&["exec", "-d", "-u", "nobody", "box", "sleep", "50"]);
    eventually("the exec'd sleep", || env.ok(&["top", "box"]).lines().count() == 3);
    let shown = env.ok(&["top", "box"]);
    let lines: Vec<&str> = shown.lines().collect();
    // psgo's default columns, laid out by Go's tabwriter.
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]);
    assert!(lines[0].starts_with("USER        PID         PPID        %CPU        ELAPSED"), "{shown}");
    let row = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    let (init, exec) = (row(lines[1]), row(lines[2]));
    assert_eq!((init[0].as_str(), init[1].as_str(), init[2].as_str()), ("root", "1", "0"), "{shown}");
    assert_eq!(&init[7..], ["sleep", "100"], "{shown}");
    assert_eq!(init[3], "0.000");
    assert!(init[4].ends_with('s'), "{shown}");
    assert_eq!((init[5].as_str(), init[6].as_str()), ("?", "0s"));
    // The exec'd process: another user, its parent outside the container.
    assert_eq!((exec[0].as_str(), exec[2].as_str()), ("nobody", "0"), "{shown}");
    assert!(lines[1].ends_with("sleep 100 "), "psgo's args keep cmdline's last NUL as a space: {shown:?}");
    // Descriptors, as words or comma-separated, codes too.
    let shown = env.ok(&["top", "box", "pid,user", "comm", "%U", "hpid", "capeff"]);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "USER", "COMMAND", "USER", "HPID", "EFFECTIVE", "CAPS"]
    );
    let init = row(lines[1]);
    let host_pid = field(&env, "box", "{{.State.Pid}}");
    assert_eq!(&init[..5], ["1", "root", "sleep", "root", host_pid.as_str()], "{shown}");
    assert!(init[5].starts_with("AUDIT_WRITE,CHOWN,"), "{shown}");
    assert_eq!(row(lines[2])[5], "none", "nobody has no capabilities: {shown}");
    // What psgo does not know goes to the container's ps(1).
    let shown = env.ok(&["top", "box", "-o", "pid,comm"]);
    assert_eq!(shown.lines().next().map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["PID", "COMMAND"]));
    assert!(shown.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]), "{shown}");
    // Not running: podman's words.
    env.ok(&["create", "--name", "made", "bb", "true"]);
    let e = env.fails(&["top", "made"], 125);
    assert_eq!(e, "Error: top can only be used on running containers\n");
    let e = env.fails(&["top"], 125);
    assert!(e.starts_with("Error: you must provide the name or id of a running container\n"), "{e}");
}

#[test]
fn container_prune_removes_what_does_not_run() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "up", "bb", "sleep", "100"]);
    env.ok(&["run", "-d", "--name", "frozen", "bb", "sleep", "100"]);
    env.ok(&["pause", "frozen"]);
    env.ok(&["create", "--name", "made", "-l", "keep=yes", "bb", "true"]);
    env.ok(&["run", "--name", "done", "bb", "true"]);
    let answer = |input: &str| {
        let mut c = env.cmd(&["container", "prune"]);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let question = "WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ";
    // It asks; no answer (end of input) is an error, "n" keeps everything.
    let o = answer("");
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(125), question, "Error: EOF\n"));
    let o = answer("n\n");
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), question));
    assert_eq!(env.ok(&["ps", "-a", "-q"]).lines().count(), 4);
    // Filters: label, until.
    let done = field(&env, "done", "{{.Id}}");
    let made = field(&env, "made", "{{.Id}}");
    assert_eq!(env.ok(&["container", "prune", "-f", "--filter", "label!=keep"]), format!("{done}\n"));
    assert_eq!(env.ok(&["container", "prune", "-f", "--filter", "until=1h"]), "");
    let e = env.fails(&["container", "prune", "-f", "--filter", "until=xyz"], 125);
    assert_eq!(e, "Error: failed to parse value as time or duration: \"xyz\"\n");
    let e = env.fails(&["container", "prune", "-f", "--filter", "bogus=1"], 125);
    assert_eq!(e, "Error: bogus is an invalid filter\n");
    // "y": what does not run goes; running and paused ones stay.
    let o = answer("y\n");
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), format!("{question}{made}\n")));
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "up\nfrozen\n");
}

/// The same lines on both sides: codes, output and error lines (IDs masked).
#[test]
fn side_by_side_with_podman() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    for args in [
        &["run", "-d", "--pull=never", "--name", "up", "localhost/bb", "sleep", "100"][..],
        &["run", "-d", "--pull=never", "--name", "frozen", "localhost/bb", "sleep", "100"],
        &["create", "--pull=never", "--name", "made", "-l", "a=b", "localhost/bb", "true"],
        &["pause", "frozen"],
    ] {
        env.ok(args);
        podman.ok(args);
    }
    // What ps says of each, times left out ("Up 2 seconds ago": "Up").
    let ps = |out: String| -> String {
        let times = |w: &&str| w.starts_with(|c: char| c.is_ascii_digit()) || ["Less", "About"].contains(w);
        out.lines().map(|l| l.split(' ').take_while(|w| !times(w)).collect::<Vec<_>>().join(" ") + "\n").collect()
    };
    let ps_args = ["ps", "-a", "--format", "{{.Names}} {{.Status}}"];
    assert_eq!(ps(env.ok(&ps_args)), ps(podman.ok(&ps_args)));
    assert_eq!(ps(env.ok(&ps_args)), "up Up\nfrozen Paused\nmade Created\n");
    let rows: &[&[&str]] = &[
        &["ps", "--format", "{{.Names}}"],
        &["pause", "frozen"],
        &["pause", "made"],
        &["unpause", "up"],
        &["exec", "frozen", "true"],
        &["restart", "frozen"],
        &["rm", "frozen"],
        &["top", "made"],
        &["container", "exists", "up"],
        &["container", "exists", "nope"],
        &["container", "exists", "localhost/bb"],
        &["rename", "up", "made"],
        &["rename", "up", "bad name"],
        &["rename", "nope", "x"],
        &["container", "prune", "-f", "--filter", "bogus=1"],
        &["container", "prune", "-f", "--filter", "label"],
        &["container", "prune", "-f", "--filter", "until=xyz"],
        &["pause", "-a", "up"],
        &["restart", "-a", "up"],
        &["inspect", "--format", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "frozen"],
        &["unpause", "frozen"],
        &["inspect", "--format", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "frozen"],
        &["kill", "frozen"],
        &["wait", "frozen"],
        &["container", "prune", "-f", "--filter", "label=a=b"],
    ];
    let mut failures = Vec::new();
    for args in rows {
        let b = env.run(args);
        let p = podman.run(args, None);
        let error =
            |s: String| s.lines().find(|l| l.starts_with("Error: ")).map(|l| masked(&l.replace("podman", "berth")));
        let (bout, pout) = (masked(&stdout(&b)), masked(&stdout(&p)));
        if b.status.code() != p.status.code() || bout != pout || error(stderr(&b)) != error(stderr(&p)) {
            failures.push(format!(
                "{args:?}:\n  berth {:?} {bout:?} {:?}\n  podman {:?} {pout:?} {:?}",
                b.status.code(),
                stderr(&b),
                p.status.code(),
                stderr(&p)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ps(env.ok(&ps_args)), ps(podman.ok(&ps_args)));
    assert_eq!(ps(env.ok(&ps_args)), "up Up\nfrozen Exited (137)\n");
    // top's header, and its first row's user, pid, parent and command (the
    // columns' widths follow the elapsed times, which differ between the
    // two: words, not spacing).
    let shape = |out: String| -> Vec<String> {
        let lines: Vec<&str> = out.lines().collect();
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        let header = lines[0].split_whitespace().collect::<Vec<_>>().join(" ");
        vec![header, format!("{} {} {} {}", row[0], row[1], row[2], row[7..].join(" "))]
    };
    assert_eq!(shape(env.ok(&["top", "up"])), shape(podman.ok(&["top", "up"])));
}
