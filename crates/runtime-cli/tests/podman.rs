//! podman driving berth-runtime (`podman --runtime <berth-runtime>`, through
//! conmon): the runtime must be usable wherever runc is.
//!
//! Every test has its own podman world under a tempdir: containers.conf and
//! storage.conf (graphroot/runroot/tmp_dir of its own, cgroupfs, events to a
//! file, ulimits this machine allows), `--network none`, and a busybox image
//! imported from a local rootfs (no internet).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const IMAGE: &str = "localhost/busybox:test";

struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        require_root();
        assert!(
            Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success()),
            "podman is not installed: apt-get install podman"
        );
        let dir = tempfile::Builder::new().prefix("berth-podman").tempdir_in("/var/tmp").expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("containers.conf"),
            format!(
                "[containers]\n\
                 default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 netns = \"none\"\n\
                 [engine]\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{d}/events.log\"\n\
                 tmp_dir = \"{d}/tmp\"\n\
                 volume_path = \"{d}/volumes\"\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\nrunroot = \"{d}/run\"\ngraphroot = \"{d}/storage\"\n",
                d = d.display()
            ),
        )
        .unwrap();
        let p = Podman { dir };
        // The image: a busybox rootfs as a tar on podman's stdin.
        let rootfs = p.dir.path().join("rootfs");
        make_rootfs(&rootfs);
        let tar = p.dir.path().join("rootfs.tar");
        let t = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").status().expect("tar");
        assert!(t.success(), "tar of the rootfs failed");
        ok(&p.podman(&["import", tar.to_str().unwrap(), IMAGE]));
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.path("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
            .arg("--root")
            .arg(self.path("storage"))
            .arg("--runroot")
            .arg(self.path("run"))
            .arg("--cgroup-manager")
            .arg("cgroupfs")
            .arg("--events-backend")
            .arg("file");
        c
    }

    fn podman(&self, args: &[&str]) -> Output {
        run_capture(self.cmd().args(args))
    }

    /// `podman run --runtime berth-runtime --network none <extra...>`.
    fn run(&self, extra: &[&str]) -> Output {
        let mut a = vec!["run", "--runtime", BIN, "--network", "none"];
        a.extend_from_slice(extra);
        self.podman(&a)
    }

    fn status(&self, name: &str) -> String {
        ok(&self.podman(&["inspect", "--format", "{{.State.Status}}", name])).trim().to_string()
    }

    /// A detached container that exits promptly on SIGTERM.
    fn start_daemon(&self, name: &str, extra: &[&str]) {
        let mut a = vec!["-d", "--name", name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[IMAGE, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]);
        ok(&self.run(&a));
        assert_eq!(self.status(name), "running");
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers, conmons and mounts of this world; then the tempdir goes.
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        // conmon starts `podman container cleanup` when a container exits,
        // and that re-mounts the storage: let those finish first.
        wait_for_processes_mentioning(self.dir.path(), Duration::from_secs(10));
        // podman's overlay driver bind-mounts storage/overlay onto itself.
        testkit::mounts::unmount_below(self.dir.path());
    }
}

/// Wait (up to `limit`) until no process has `dir` in its command line.
fn wait_for_processes_mentioning(dir: &std::path::Path, limit: Duration) {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let busy = std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
            let pid = e.file_name();
            pid.to_str().is_some_and(|p| p != me && p.bytes().all(|b| b.is_ascii_digit()))
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle.as_str()))
        });
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn out_trim(o: &Output) -> String {
    ok(o).trim().replace('\r', "")
}

#[test]
fn podman_run_rm_echo() {
    let p = Podman::new();
    let o = p.run(&["--rm", IMAGE, "echo", "hi"]);
    assert_eq!(out_trim(&o), "hi");
    // The container's exit code comes back through conmon.
    let o = p.run(&["--rm", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "stderr={}", stderr(&o));
    // A missing executable is runc's "not found" error, which podman maps to 127.
    let o = p.run(&["--rm", IMAGE, "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "stderr={}", stderr(&o));
    assert!(stderr(&o).contains("executable file not found"), "stderr={}", stderr(&o));
}

#[test]
fn podman_detach_exec_stop() {
    let p = Podman::new();
    p.start_daemon("d1", &[]);
    assert_eq!(out_trim(&p.podman(&["exec", "d1", "echo", "inexec"])), "inexec");
    // exec's exit code; repeatedly, since a process killed when the runtime
    // exits (parent-death signal kept across execve) shows up only as a race.
    for _ in 0..10 {
        let o = p.podman(&["exec", "d1", "sh", "-c", "cat /proc/1/cmdline >/dev/null; exit 7"]);
        assert_eq!(o.status.code(), Some(7), "exec exit code: stderr={}", stderr(&o));
    }
    // exec -d: the process outlives `berth-runtime exec -d`.
    ok(&p.podman(&["exec", "-d", "d1", "sh", "-c", "sleep 0.5; echo done > /tmp/flag"]));
    assert!(
        wait_until(Duration::from_secs(5), || {
            p.podman(&["exec", "d1", "cat", "/tmp/flag"]).stdout.starts_with(b"done")
        }),
        "detached exec process did not finish its work"
    );
    let t = Instant::now();
    ok(&p.podman(&["stop", "--time", "10", "d1"]));
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
    assert_eq!(p.status("d1"), "exited");
    let code = out_trim(&p.podman(&["inspect", "--format", "{{.State.ExitCode}}", "d1"]));
    assert_eq!(code, "0");
    ok(&p.podman(&["rm", "d1"]));
}

#[test]
fn podman_stop_timeout_kills() {
    let p = Podman::new();
    // busybox sh as pid 1 ignores SIGTERM: podman escalates to SIGKILL (via `kill`).
    ok(&p.run(&["-d", "--name", "d2", "--stop-timeout", "1", IMAGE, "sleep", "1000"]));
    let t = Instant::now();
    ok(&p.podman(&["stop", "d2"]));
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
    assert_eq!(p.status("d2"), "exited");
    let code = out_trim(&p.podman(&["inspect", "--format", "{{.State.ExitCode}}", "d2"]));
    assert_eq!(code, "137");
}

#[test]
fn podman_pause_unpause() {
    let p = Podman::new();
    p.start_daemon("d3", &[]);
    ok(&p.podman(&["pause", "d3"]));
    assert_eq!(p.status("d3"), "paused");
    ok(&p.podman(&["unpause", "d3"]));
    assert_eq!(p.status("d3"), "running");
    assert_eq!(out_trim(&p.podman(&["exec", "d3", "echo", "alive"])), "alive");
    ok(&p.podman(&["stop", "d3"]));
}

#[test]
fn podman_memory_limit() {
    let p = Podman::new();
    let o = p.run(&["--rm", "-m", "64m", IMAGE, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(out_trim(&o), "67108864");
    // And `podman update`-free check of a running one, seen from the host side too.
    p.start_daemon("d4", &["-m", "32m"]);
    let o = p.podman(&["exec", "d4", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(out_trim(&o), "33554432");
    ok(&p.podman(&["stop", "d4"]));
}

#[test]
fn podman_terminal() {
    let p = Podman::new();
    // -t: conmon passes --console-socket; the process gets a pty.
    let o = p.run(&["--rm", "-t", IMAGE, "tty"]);
    let t = out_trim(&o);
    assert!(t.starts_with("/dev/pts/"), "tty said {t:?}");
    let o = p.run(&["--rm", "-t", IMAGE, "sh", "-c", "test -t 0 && test -t 1 && test -t 2 && echo both"]);
    assert_eq!(out_trim(&o), "both");
    // exec -t in a container without a terminal of its own.
    p.start_daemon("d5", &[]);
    let o = p.podman(&["exec", "-t", "d5", "tty"]);
    assert!(out_trim(&o).starts_with("/dev/pts/"), "exec tty said {:?}", stdout(&o));
    let o = p.podman(&["exec", "-t", "d5", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    ok(&p.podman(&["stop", "d5"]));
}

#[test]
fn podman_create_start_logs_rm() {
    let p = Podman::new();
    // (Not a name that is all hex digits: once it is gone, podman would
    // take it as an ID prefix, which another test's container or image may
    // have.)
    ok(&p.podman(&["create", "--runtime", BIN, "--network", "none", "--name", "logs-c6", IMAGE, "echo", "from-start"]));
    assert_eq!(p.status("logs-c6"), "created");
    ok(&p.podman(&["start", "--attach", "logs-c6"]));
    assert_eq!(p.status("logs-c6"), "exited");
    assert_eq!(out_trim(&p.podman(&["logs", "logs-c6"])), "from-start");
    ok(&p.podman(&["rm", "logs-c6"]));
    assert!(p.podman(&["inspect", "logs-c6"]).status.code() != Some(0), "logs-c6 still exists");
}
