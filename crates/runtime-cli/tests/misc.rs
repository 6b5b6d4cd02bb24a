//! Smaller runtime features: events streaming, the foreground terminal,
//! --no-pivot, --systemd-cgroup without systemd, the seccomp agent socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn events_streams_stats_at_the_interval_until_the_container_stops() {
    let mut e = Env::new("events");
    e.args(&["sleep", "1"]);
    e.start_running();
    let started = Instant::now();
    let mut child = e
        .cmd()
        .args(["events", "--interval", "200ms", &e.id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<serde_json::Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("each event is one JSON line"))
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "events ends cleanly when the container stops");
    // sleep 1 at 200ms intervals: several events, all stats for this id.
    assert!(lines.len() >= 3, "got {} events", lines.len());
    for ev in &lines {
        assert_eq!(ev["type"], "stats");
        assert_eq!(ev["id"], e.id.as_str());
        assert!(ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn events_rejects_a_zero_interval() {
    let mut e = Env::new("evzero");
    e.args(&["sleep", "5"]);
    e.start_running();
    fails_with(&e.rt(&["events", "--interval", "0s", &e.id]), "interval");
}

#[test]
fn foreground_run_with_terminal_proxies_the_pty() {
    let mut e = Env::new("fgtty");
    e.config["process"]["terminal"] = json!(true);
    e.sh("tty; test -t 0 && test -t 1 && echo both-ttys; exit 4");
    let o = e.run();
    assert_eq!(o.status.code(), Some(4), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("both-ttys"), "{out:?}");
}

#[test]
fn no_pivot_runs_the_container_in_a_chroot() {
    let mut e = Env::new("nopivot");
    e.sh("cat /etc/passwd | head -1; ls /");
    e.write_config();
    let o = e.rt(&["run", "--no-pivot", "--bundle", e.bundle_str(), &e.id]);
    let out = ok(&o);
    assert!(out.starts_with("root:x:0:0"), "{out:?}");
    assert!(out.contains("bin") && !out.contains("work"), "sees only the rootfs: {out:?}");
}

#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    assert!(!std::path::Path::new("/run/systemd/system").exists(), "this test expects a host without systemd");
    let e = Env::new("sdcg");
    e.write_config();
    let o = e.rt(&["--systemd-cgroup", "create", "--bundle", e.bundle_str(), &e.id]);
    fails_with(&o, "systemd is not running");
    assert!(!e.root.join(&e.id).exists());
}

#[test]
fn seccomp_notify_fd_goes_to_the_listener_with_the_container_state() {
    let mut e = Env::new("scmpnotif");
    let sock = e.dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    e.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-for-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    e.sh("mkdir /tmp/x 2>&1; echo rc=$?");
    // The agent takes the fd and the state, then hangs up without answering:
    // with no listener left the kernel fails the notified syscall (ENOSYS).
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (data, fd) = recv_with_fd(&conn).unwrap();
        let text = String::from_utf8_lossy(&data).into_owned();
        let link = fd.as_ref().map(|f| std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap());
        (text, link)
    });
    let o = e.run();
    let (text, link) = agent.join().unwrap();
    let out = ok(&o);
    assert!(out.contains("rc=1"), "mkdir must fail once the agent is gone: {out:?}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("agent message is JSON");
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert_eq!(v["metadata"], "meta-for-agent");
    assert_eq!(v["state"]["id"], e.id.as_str());
    assert!(v["pid"].as_i64().unwrap_or(0) > 1, "host pid, not the namespace's 1: {v}");
    let link = link.expect("an fd came with the message");
    assert!(link.to_string_lossy().contains("seccomp"), "the fd is a seccomp listener: {link:?}");
}

/// `create` killed half-way (here while a prestart hook runs) leaves a
/// "creating" container that `state`/`list` read and `delete` cleans up,
/// cgroup included; the half-made init dies with its parent.
#[test]
fn a_create_killed_mid_way_leaves_state_that_delete_cleans_up() {
    let mut e = Env::new("killed");
    let cg = e.set_cgroups_path();
    e.config["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"]}]});
    e.write_config();
    let mut create = e.cmd().args(["create", "--bundle", e.bundle_str(), &e.id]).stdout(Stdio::null()).spawn().unwrap();
    let memory_dir = cgroup_v1_dir("memory", &cg);
    assert!(
        wait_until(Duration::from_secs(5), || e.root.join(&e.id).join("state.json").exists() && memory_dir.exists())
    );
    std::thread::sleep(Duration::from_millis(200));
    create.kill().unwrap();
    create.wait().unwrap();
    assert_eq!(e.status(), "creating");
    let listed = ok(&e.rt(&["list", "-q"]));
    assert!(listed.contains(&e.id), "{listed}");
    ok(&e.rt(&["delete", &e.id]));
    assert!(!e.root.join(&e.id).exists(), "state dir removed");
    assert!(wait_until(Duration::from_secs(3), || !memory_dir.exists()), "cgroup removed");
    // The hook's sleep was in the runtime's session, not the container; the init is gone.
    fails_with(&e.rt(&["state", &e.id]), "does not exist");
}

/// The container's process starts as a freshly started program would: no
/// signal ignored, none blocked. The runtime is a Rust program, whose
/// startup ignores SIGPIPE; inherited through execve, a container's
/// `yes | head -1` would see EPIPE ("Broken pipe" on stderr) instead of
/// dying quietly of SIGPIPE. Checked with `run` and `exec`. (Signals 32 and
/// 33 are glibc's own: its posix_spawn, which started the runtime here,
/// leaves them ignored in every child; they are not compared.)
#[test]
fn the_process_starts_with_default_signal_dispositions() {
    const SCRIPT: &str = "grep -E '^Sig(Ign|Blk):' /proc/self/status; yes | head -1";
    let check = |what: &str, out: &std::process::Output| {
        let text = ok(out);
        let mask = |field: &str| {
            let hex = text.lines().find_map(|l| l.strip_prefix(field)).unwrap_or_else(|| panic!("{what}: {text}"));
            u64::from_str_radix(hex.trim(), 16).unwrap() & !(0b11 << 31)
        };
        assert_eq!((mask("SigIgn:"), mask("SigBlk:")), (0, 0), "{what}: {text}");
        assert_eq!((text.lines().last(), stderr(out).as_str()), (Some("y"), ""), "{what}");
    };
    let mut e = Env::new("sigdfl");
    e.sh(SCRIPT);
    check("run", &e.run());
    e.id = unique_id("sigdfl");
    e.args(&["sleep", "600"]);
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    check("exec", &e.rt(&["exec", &e.id, "sh", "-c", SCRIPT]));
}
