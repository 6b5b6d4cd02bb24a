//! The runc-compatible command line, exercised on real containers: state,
//! kill, delete, pause/resume, ps, list, update, events, features, spec, run
//! -d/--keep, --pid-file, flag placement, exec, terminals and logging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SEC: Duration = Duration::from_secs(1);

fn read_trim(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn json_out(o: &std::process::Output) -> Value {
    let s = ok(o);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

// ---------------------------------------------------------------- state

#[test]
fn state_reports_every_field_through_the_lifecycle() {
    let mut e = Env::new("st");
    e.args(&["sleep", "30"]);
    e.config["annotations"] = json!({"org.berth.test": "yes", "k2": "v2"});
    let cg = e.set_cgroups_path();
    ok(&e.create());

    let st = e.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], e.id.as_str());
    let v = st["ociVersion"].as_str().expect("ociVersion");
    assert!(v.starts_with("1."), "ociVersion {v}");
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0 && pid_alive(pid));
    let canon = std::fs::canonicalize(&e.bundle).unwrap();
    assert_eq!(st["bundle"].as_str(), canon.to_str());
    assert_eq!(st["annotations"], json!({"org.berth.test": "yes", "k2": "v2"}));
    // RFC 3339: 2024-01-02T03:04:05.123Z
    let created = st["created"].as_str().expect("created");
    let b = created.as_bytes();
    assert!(
        created.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && created.ends_with('Z'),
        "created {created:?} is not RFC 3339"
    );
    // The init sits in the container's cgroup already.
    assert_eq!(cgroup_procs("memory", &cg), vec![pid]);

    ok(&e.rt(&["start", &e.id]));
    assert_eq!(e.status(), "running");
    assert_eq!(e.pid(), pid);
    ok(&e.rt(&["pause", &e.id]));
    assert_eq!(e.status(), "paused");
    ok(&e.rt(&["resume", &e.id]));
    assert_eq!(e.status(), "running");
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    e.wait_status("stopped");
    // runc reports pid 0 for a stopped container; the created time stays.
    let st = e.state();
    assert_eq!(st["pid"], 0);
    assert_eq!(st["created"].as_str(), Some(created));
}

// ---------------------------------------------------------------- kill

#[test]
fn kill_accepts_names_numbers_and_sig_prefix() {
    let mut e = Env::new("kill");
    let host = e.share("/shared");
    // The init traps the signals and records them; pid 1 of a pid namespace
    // only gets signals it handles, so untrapped TERM would be ignored.
    e.sh("trap 'echo USR1 >> /shared/sigs' USR1; trap 'echo USR2 >> /shared/sigs' USR2; \
         trap 'echo HUP >> /shared/sigs' HUP; trap 'echo TERM >> /shared/sigs; exit 0' TERM; \
         echo ready > /shared/ready; while true; do sleep 0.05; done");
    e.start_running();
    assert!(wait_until(2 * SEC, || host.join("ready").exists()), "init never got ready");
    let sigs = || std::fs::read_to_string(host.join("sigs")).unwrap_or_default();

    let steps: [(&str, &str); 5] =
        [("USR1", "USR1"), ("SIGUSR2", "USR2"), ("10", "USR1"), ("sighup", "HUP"), ("sigusr2", "USR2")];
    let mut want = String::new();
    for (arg, name) in steps {
        ok(&e.rt(&["kill", &e.id, arg]));
        want.push_str(name);
        want.push('\n');
        assert!(wait_until(2 * SEC, || sigs() == want), "after kill {arg}: got {:?}, want {want:?}", sigs());
    }
    // No signal argument: SIGTERM, as runc.
    ok(&e.rt(&["kill", &e.id]));
    e.wait_status("stopped");
    assert!(sigs().ends_with("TERM\n"), "{:?}", sigs());
    // Killing a stopped container is an error (runc: "container not running").
    fails_with(&e.rt(&["kill", &e.id, "KILL"]), "not running");
}

#[test]
fn kill_all_signals_every_process() {
    let mut e = Env::new("killall");
    let cg = e.set_cgroups_path();
    e.sh("sleep 100 & sleep 100 & wait");
    e.start_running();
    let init = e.pid();
    assert!(wait_until(2 * SEC, || cgroup_procs("pids", &cg).len() == 3), "procs: {:?}", cgroup_procs("pids", &cg));
    let procs = cgroup_procs("pids", &cg);
    assert!(procs.contains(&init));

    // Without --all only the init gets it, and pid 1 ignores an unhandled TERM.
    ok(&e.rt(&["kill", &e.id, "TERM"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(procs.iter().all(|p| pid_alive(*p)), "plain kill reached more than the init");
    assert_eq!(e.status(), "running");

    ok(&e.rt(&["kill", "--all", &e.id, "TERM"]));
    // The sleeps die of TERM; then sh's wait returns and the init exits.
    assert!(wait_until(3 * SEC, || procs.iter().all(|p| !pid_alive(*p))), "survivors after kill --all");
    e.wait_status("stopped");
    assert!(cgroup_procs("pids", &cg).is_empty());
}

// ---------------------------------------------------------------- delete

#[test]
fn delete_refuses_running_container_unless_forced() {
    let mut e = Env::new("del");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    e.start_running();
    let pid = e.pid();

    fails_with(&e.rt(&["delete", &e.id]), "not stopped");
    assert_eq!(e.status(), "running");
    assert!(pid_alive(pid));

    // Flag after the id, as runc allows.
    ok(&e.rt(&["delete", &e.id, "--force"]));
    assert!(wait_until(2 * SEC, || !pid_alive(pid)), "init {pid} survived delete --force");
    assert!(!e.root.join(&e.id).exists(), "state dir left");
    assert!(!cgroup_v1_dir("memory", &cg).exists(), "cgroup left");
    fails_with(&e.rt(&["state", &e.id]), "does not exist");
    // runc: delete --force of a missing container is not an error; without --force it is.
    ok(&e.rt(&["delete", "--force", &e.id]));
    fails_with(&e.rt(&["delete", &e.id]), "does not exist");
}

#[test]
fn delete_created_container_kills_its_init() {
    let mut e = Env::new("delc");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    ok(&e.create());
    let pid = e.pid();
    assert!(pid_alive(pid));
    ok(&e.rt(&["delete", &e.id]));
    assert!(!pid_alive(pid), "created init {pid} survived delete");
    assert!(!e.root.join(&e.id).exists());
    assert!(!cgroup_v1_dir("memory", &cg).exists());
    assert!(!cgroup_v1_dir("freezer", &cg).exists());
}

// ---------------------------------------------------------------- pause

#[test]
fn pause_freezes_and_resume_thaws() {
    let mut e = Env::new("pause");
    let cg = e.set_cgroups_path();
    let host = e.share("/shared");
    e.sh("i=0; while true; do i=$((i+1)); echo $i > /shared/n.tmp; mv /shared/n.tmp /shared/n; sleep 0.01; done");
    e.start_running();
    let count = || std::fs::read_to_string(host.join("n")).ok().and_then(|s| s.trim().parse::<u64>().ok());
    assert!(wait_until(2 * SEC, || count().is_some_and(|n| n > 3)), "counter never ran");

    ok(&e.rt(&["pause", &e.id]));
    assert_eq!(e.status(), "paused");
    assert_eq!(read_trim(cgroup_v1_dir("freezer", &cg).join("freezer.state")), "FROZEN");
    let frozen_at = count().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count().unwrap(), frozen_at, "counter advanced while paused");
    // Pausing twice is an error; so is resuming a running container.
    fails_with(&e.rt(&["pause", &e.id]), "paused");

    ok(&e.rt(&["resume", &e.id]));
    assert_eq!(e.status(), "running");
    assert_eq!(read_trim(cgroup_v1_dir("freezer", &cg).join("freezer.state")), "THAWED");
    assert!(wait_until(2 * SEC, || count().is_some_and(|n| n > frozen_at + 2)), "counter stuck after resume");
    fails_with(&e.rt(&["resume", &e.id]), "running");

    // A paused container can be force-deleted (it is thawed to die).
    ok(&e.rt(&["pause", &e.id]));
    let pid = e.pid();
    ok(&e.rt(&["delete", "--force", &e.id]));
    assert!(wait_until(2 * SEC, || !pid_alive(pid)));
    assert!(!cgroup_v1_dir("freezer", &cg).exists());
}

#[test]
fn kill_all_sigkill_reaches_a_paused_container() {
    let mut e = Env::new("pausekill");
    let cg = e.set_cgroups_path();
    e.sh("sleep 100 & wait");
    e.start_running();
    assert!(wait_until(2 * SEC, || cgroup_procs("memory", &cg).len() == 2));
    let procs = cgroup_procs("memory", &cg);
    ok(&e.rt(&["pause", &e.id]));
    assert_eq!(e.status(), "paused");
    // SIGKILL must thaw the freezer, or frozen tasks never die.
    let t0 = Instant::now();
    ok(&e.rt(&["kill", "--all", &e.id, "KILL"]));
    assert!(wait_until(2 * SEC, || procs.iter().all(|p| !pid_alive(*p))), "processes survived kill --all KILL");
    assert!(t0.elapsed() < 3 * SEC);
    e.wait_status("stopped");
    ok(&e.rt(&["delete", &e.id]));
    assert!(!cgroup_v1_dir("freezer", &cg).exists());
}

// ---------------------------------------------------------------- ps

#[test]
fn ps_lists_the_containers_processes() {
    let mut e = Env::new("ps");
    let cg = e.set_cgroups_path();
    e.sh("sleep 100 & sleep 101 & wait");
    e.start_running();
    assert!(wait_until(2 * SEC, || cgroup_procs("memory", &cg).len() == 3));
    let procs = cgroup_procs("memory", &cg);

    let v = json_out(&e.rt(&["ps", "--format", "json", &e.id]));
    let mut got: Vec<i32> = v.as_array().expect("array").iter().map(|p| p.as_i64().unwrap() as i32).collect();
    got.sort();
    assert_eq!(got, procs);
    // -f after the id works too.
    let v2 = json_out(&e.rt(&["ps", &e.id, "-f", "json"]));
    assert_eq!(v2.as_array().map(Vec::len), Some(3));

    let table = ok(&e.rt(&["ps", &e.id]));
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    let col = header.split_whitespace().position(|h| h == "PID").expect("PID column");
    let mut listed: Vec<i32> = lines.map(|l| l.split_whitespace().nth(col).unwrap().parse().unwrap()).collect();
    listed.sort();
    assert_eq!(listed, procs, "table:\n{table}");
    assert!(table.contains("sleep 101"), "{table}");
    // ps options go to ps(1).
    let custom = ok(&e.rt(&["ps", &e.id, "-o", "pid,comm"]));
    assert!(custom.lines().next().unwrap().split_whitespace().eq(["PID", "COMMAND"]), "{custom}");
    assert_eq!(custom.lines().count(), 4, "{custom}");
}

// ---------------------------------------------------------------- list

struct Extra<'a> {
    e: &'a Env,
    id: String,
}

impl Drop for Extra<'_> {
    fn drop(&mut self) {
        let _ = self.e.rt(&["delete", "--force", &self.id]);
    }
}

#[test]
fn list_shows_all_containers() {
    let mut e = Env::new("list");
    e.args(&["sleep", "30"]);
    e.start_running();
    let second = Extra { e: &e, id: unique_id("list2") };
    ok(&e.rt(&["create", "--bundle", e.bundle_str(), &second.id]));
    let canon = std::fs::canonicalize(&e.bundle).unwrap();

    let q = ok(&e.rt(&["list", "-q"]));
    let mut ids: Vec<&str> = q.lines().collect();
    ids.sort();
    let mut want = vec![e.id.as_str(), second.id.as_str()];
    want.sort();
    assert_eq!(ids, want);

    let table = ok(&e.rt(&["list"]));
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for (id, status) in [(&e.id, "running"), (&second.id, "created")] {
        let r = rows.iter().find(|r| r[0] == id).unwrap_or_else(|| panic!("{id} missing:\n{table}"));
        assert_eq!(r[2], status);
        assert_eq!(r[3], canon.to_str().unwrap());
        assert!(r[1].parse::<i32>().unwrap() > 0);
        assert_eq!(r[5], "root");
    }

    let v = json_out(&e.rt(&["list", "--format", "json"]));
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    let first = arr.iter().find(|c| c["id"] == e.id.as_str()).expect("first in json");
    assert_eq!(first["status"], "running");
    assert_eq!(first["pid"].as_i64().unwrap() as i32, e.pid());
    assert_eq!(first["bundle"].as_str(), canon.to_str());

    // An empty (or missing) root lists nothing, successfully.
    let empty = tempfile::tempdir().unwrap();
    let o = run_capture(Command::new(BIN).arg("--root").arg(empty.path().join("none")).args(["list", "-q"]));
    assert_eq!(ok(&o), "");
}

// ---------------------------------------------------------------- update

#[test]
fn update_sets_memory_and_pids_limits() {
    let mut e = Env::new("upd");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    e.start_running();
    let mem = cgroup_v1_dir("memory", &cg).join("memory.limit_in_bytes");
    let pids = cgroup_v1_dir("pids", &cg).join("pids.max");

    ok(&e.rt(&["update", "--memory", "64m", "--pids-limit", "30", &e.id]));
    assert_eq!(read_trim(&mem), (64u64 << 20).to_string());
    assert_eq!(read_trim(&pids), "30");

    // --resources FILE (a LinuxResources JSON).
    let f = e.dir.path().join("res.json");
    std::fs::write(&f, r#"{"memory":{"limit":33554432},"pids":{"limit":20}}"#).unwrap();
    ok(&e.rt(&["update", "--resources", f.to_str().unwrap(), &e.id]));
    assert_eq!(read_trim(&mem), "33554432");
    assert_eq!(read_trim(&pids), "20");

    // --resources - reads stdin; flags after the id.
    let mut child = e
        .cmd()
        .args(["update", &e.id, "--resources", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(br#"{"memory":{"limit":50331648},"pids":{"limit":25}}"#).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert_eq!(read_trim(&mem), "50331648");
    assert_eq!(read_trim(&pids), "25");

    // The container keeps running; bad input changes nothing.
    assert_eq!(e.status(), "running");
    fails_with(&e.rt(&["update", "--memory", "lots", &e.id]), "invalid size");
    std::fs::write(&f, "{\"memory\": ").unwrap();
    let o = e.rt(&["update", "--resources", f.to_str().unwrap(), &e.id]);
    assert!(!o.status.success());
    assert_eq!(read_trim(&mem), "50331648");
}

// ---------------------------------------------------------------- events

#[test]
fn events_stats_prints_one_stats_object() {
    let mut e = Env::new("ev");
    e.set_cgroups_path();
    e.sh("sleep 100 & wait");
    e.start_running();
    let out = ok(&e.rt(&["events", "--stats", &e.id]));
    assert_eq!(out.trim_end().lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], e.id.as_str());
    let usage = v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "memory usage: {}", v["data"]["memory"]);
    let current = v["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!(current >= 1, "pids: {}", v["data"]["pids"]);
    assert!(v["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "cpu: {}", v["data"]["cpu"]);
    // A stopped container has no stats.
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    e.wait_status("stopped");
    fails_with(&e.rt(&["events", "--stats", &e.id]), "not running");
}

// ---------------------------------------------------------------- features / spec / version

#[test]
fn features_json() {
    let v = json_out(&run_capture(Command::new(BIN).arg("features")));
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert!(v["ociVersionMax"].as_str().is_some_and(|s| s.starts_with("1.")), "{}", v["ociVersionMax"]);
    let ns: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for want in ["pid", "mount", "network", "user", "ipc", "uts", "cgroup"] {
        assert!(ns.contains(&want), "{want} missing from {ns:?}");
    }
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert!(v["linux"]["capabilities"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
    assert!(v["mountOptions"].as_array().unwrap().iter().any(|c| c == "rbind"));
}

#[test]
fn spec_writes_config_and_refuses_to_overwrite() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("config.json");
    // Flag before and after the subcommand.
    ok(&run_capture(Command::new(BIN).args(["spec", "--bundle"]).arg(t.path())));
    let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert!(v["ociVersion"].as_str().is_some_and(|s| s.starts_with("1.")));
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["process"]["args"].as_array().is_some_and(|a| !a.is_empty()));
    // runc's default spec runs `sh` on a terminal.
    assert_eq!(v["process"]["terminal"], true);

    std::fs::write(&cfg, "precious").unwrap();
    let o = run_capture(Command::new(BIN).args(["spec", "-b"]).arg(t.path()));
    fails_with(&o, "exists");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "precious");

    // runc also refuses to overwrite.
    let o = run_capture(Command::new("runc").args(["spec", "--bundle"]).arg(t.path()));
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "precious");
}

#[test]
fn version_flag() {
    let o = run_capture(Command::new(BIN).arg("--version"));
    let out = ok(&o);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    assert!(out.contains("berth-runtime"), "{out}");
    ok(&run_capture(Command::new(BIN).arg("-v")));
}

// ---------------------------------------------------------------- run -d / --keep / --pid-file

#[test]
fn run_detached_returns_at_once_and_keeps_running() {
    let mut e = Env::new("rund");
    e.sh("echo to-stdout; echo to-stderr >&2; exec sleep 30");
    e.write_config();
    let out_f = e.dir.path().join("out");
    let err_f = e.dir.path().join("err");
    let pid_f = e.dir.path().join("pid");
    let t0 = Instant::now();
    let status = e
        .cmd()
        .args(["run", "-d", "--pid-file", pid_f.to_str().unwrap(), "--bundle", e.bundle_str(), &e.id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_f).unwrap())
        .stderr(std::fs::File::create(&err_f).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "run -d: {}", std::fs::read_to_string(&err_f).unwrap_or_default());
    assert!(t0.elapsed() < 5 * SEC, "run -d took {:?}", t0.elapsed());
    assert_eq!(e.status(), "running");
    let pid = e.pid();
    assert_eq!(read_trim(&pid_f), pid.to_string());
    // The container's stdio are the files run was given.
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(wait_until(2 * SEC, || read(&out_f) == "to-stdout\n"), "stdout {:?}", read(&out_f));
    assert!(wait_until(2 * SEC, || read(&err_f) == "to-stderr\n"), "stderr {:?}", read(&err_f));
    // ... and it keeps running after run returned.
    std::thread::sleep(Duration::from_millis(100));
    assert!(pid_alive(pid));
    assert_eq!(e.status(), "running");
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let mut e = Env::new("keep");
    e.sh("echo kept; exit 3");
    e.write_config();
    let o = e.rt(&["run", "--keep", "--bundle", e.bundle_str(), &e.id]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "kept\n");
    assert_eq!(e.status(), "stopped");
    ok(&e.rt(&["delete", &e.id]));
    assert!(!e.root.join(&e.id).exists());
}

#[test]
fn pid_file_on_create_and_exec() {
    let mut e = Env::new("pidf");
    e.args(&["sleep", "30"]);
    e.write_config();
    let pf = e.dir.path().join("init.pid");
    ok(&e.rt(&["create", "--pid-file", pf.to_str().unwrap(), "--bundle", e.bundle_str(), &e.id]));
    assert_eq!(read_trim(&pf), e.pid().to_string());
    ok(&e.rt(&["start", &e.id]));

    let xf = e.dir.path().join("exec.pid");
    ok(&e.rt(&["exec", "-d", "--pid-file", xf.to_str().unwrap(), &e.id, "sleep", "31"]));
    let xpid: i32 = read_trim(&xf).parse().unwrap();
    assert_ne!(xpid, e.pid());
    let cmdline = std::fs::read(format!("/proc/{xpid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0031\x00");
}

// ---------------------------------------------------------------- flag placement

#[test]
fn global_flags_and_flags_after_the_id() {
    let mut e = Env::new("flags");
    e.args(&["sleep", "30"]);
    e.write_config();
    let root = e.root_str().to_string();
    let raw = |args: &[&str]| run_capture(Command::new(BIN).args(args));

    // create ID --bundle X, with the global --root after the subcommand.
    ok(&raw(&["create", &e.id, "--bundle", e.bundle_str(), "--root", &root]));
    assert_eq!(e.status(), "created");
    ok(&raw(&["start", &e.id, "--root", &root]));
    // Global flags anywhere: before, after the command, after the id.
    let st: Value = serde_json::from_str(&ok(&raw(&["state", "--root", &root, &e.id]))).unwrap();
    assert_eq!(st["status"], "running");
    let st: Value =
        serde_json::from_str(&ok(&raw(&["--log-format", "json", "state", &e.id, "--root", &root]))).unwrap();
    assert_eq!(st["id"], e.id.as_str());
    ok(&raw(&["--root", &root, "--debug", "list", "-q"]));
    // kill ID SIGNAL with the flag last.
    ok(&raw(&["kill", &e.id, "KILL", "--root", &root]));
    e.wait_status("stopped");
    ok(&raw(&["delete", &e.id, "--force", "--root", &root]));
    assert!(!e.root.join(&e.id).exists());
}

// ---------------------------------------------------------------- exec

fn running(prefix: &str) -> Env {
    let mut e = Env::new(prefix);
    e.args(&["sleep", "30"]);
    e.start_running();
    e
}

#[test]
fn exec_output_and_exit_code() {
    let e = running("ex");
    let o = e.rt(&["exec", &e.id, "sh", "-c", "echo out; echo err >&2; exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // Hyphenated args after the command belong to the command.
    let o = e.rt(&["exec", &e.id, "ls", "-d", "/tmp"]);
    assert_eq!(ok(&o), "/tmp\n");
    // Killed by a signal: 128+n, like a shell.
    let o = e.rt(&["exec", &e.id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(137));
    assert_eq!(e.status(), "running");
}

#[test]
fn exec_env_cwd_user_and_caps() {
    let e = running("exo");
    let o = e.rt(&[
        "exec",
        "-e",
        "FOO=bar",
        "--env",
        "PATH=/bin",
        "--cwd",
        "/tmp",
        &e.id,
        "sh",
        "-c",
        "echo $FOO $PATH; pwd",
    ]);
    assert_eq!(ok(&o), "bar /bin\n/tmp\n");

    let o = e.rt(&["exec", "-u", "65534:65534", &e.id, "id"]);
    let out = ok(&o);
    assert!(out.starts_with("uid=65534(nobody) gid=65534(nogroup)"), "{out}");
    let o = e.rt(&["exec", "--user", "1000", &e.id, "id", "-u"]);
    assert_eq!(ok(&o), "1000\n");

    let capeff = |extra: &[&str]| -> u64 {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&e.id, "grep", "CapEff", "/proc/self/status"]);
        let out = ok(&e.rt(&args));
        u64::from_str_radix(out.split_whitespace().nth(1).expect("CapEff value"), 16).unwrap()
    };
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(capeff(&[]) & SYS_ADMIN, 0, "default spec should not grant CAP_SYS_ADMIN");
    assert_ne!(capeff(&["--cap", "CAP_SYS_ADMIN"]) & SYS_ADMIN, 0);
}

#[test]
fn exec_process_file() {
    let e = running("exp");
    let p = json!({
        "args": ["sh", "-c", "echo $X; pwd; id -u"],
        "env": ["X=from-file", "PATH=/bin"],
        "cwd": "/etc",
        "user": {"uid": 65534, "gid": 65534},
    });
    let f = e.dir.path().join("process.json");
    std::fs::write(&f, p.to_string()).unwrap();
    let o = e.rt(&["exec", "--process", f.to_str().unwrap(), &e.id]);
    assert_eq!(ok(&o), "from-file\n/etc\n65534\n");
    // A broken process file is a one-line error.
    std::fs::write(&f, "{\"args\": [").unwrap();
    fails_with(&e.rt(&["exec", "-p", f.to_str().unwrap(), &e.id]), "process file");
}

#[test]
fn exec_joins_the_containers_pid_namespace_and_cgroup() {
    let mut e = Env::new("exns");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    e.start_running();
    let init = e.pid();
    let xf = e.dir.path().join("x.pid");
    ok(&e.rt(&["exec", "-d", "--pid-file", xf.to_str().unwrap(), &e.id, "sleep", "30"]));
    let x: i32 = read_trim(&xf).parse().unwrap();
    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let a = std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        let b = std::fs::read_link(format!("/proc/{x}/ns/{ns}")).unwrap();
        assert_eq!(a, b, "{ns} namespace differs");
        assert_ne!(std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap(), a, "{ns} is the host's");
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap(),
        std::fs::read_to_string(format!("/proc/{x}/cgroup")).unwrap()
    );
    assert_eq!(cgroup_procs("memory", &cg), {
        let mut v = vec![init, x];
        v.sort();
        v
    });
    // Inside, the init is pid 1 and the exec'd process sees it.
    let o = e.rt(&["exec", &e.id, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
    assert_eq!(ok(&o), "sleep 30 ");
}

#[test]
fn exec_into_paused_or_stopped_container_fails_cleanly() {
    let mut e = Env::new("exps");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    e.start_running();
    ok(&e.rt(&["pause", &e.id]));
    let t0 = Instant::now();
    fails_with(&e.rt(&["exec", &e.id, "true"]), "paused");
    assert!(t0.elapsed() < 5 * SEC);
    assert_eq!(cgroup_procs("memory", &cg), vec![e.pid()], "exec left a process behind");
    ok(&e.rt(&["resume", &e.id]));
    assert_eq!(ok(&e.rt(&["exec", &e.id, "echo", "ok"])), "ok\n");

    ok(&e.rt(&["kill", &e.id, "KILL"]));
    e.wait_status("stopped");
    fails_with(&e.rt(&["exec", &e.id, "true"]), "stopped");
    // Bad exec input: no command; unknown capability; non-numeric user.
    fails_with(&e.rt(&["exec", &e.id]), "command");
}

#[test]
fn exec_rejects_bad_flags_in_a_running_container() {
    let mut e = Env::new("exbad");
    e.config["root"]["readonly"] = json!(false);
    e.args(&["sleep", "30"]);
    e.start_running();
    fails_with(&e.rt(&["exec", "--cap", "CAP_NOPE", &e.id, "true"]), "capability");
    fails_with(&e.rt(&["exec", "-u", "nobody", &e.id, "true"]), "--user");
    fails_with(&e.rt(&["exec", &e.id, "no-such-cmd"]), "executable file not found");
    fails_with(&e.rt(&["exec", &e.id, "/no/such/binary"]), "/no/such/binary");
    // As root a missing cwd is created (runc does the same); a user who
    // cannot create it gets an error naming it.
    assert_eq!(ok(&e.rt(&["exec", "--cwd", "/new/dir", &e.id, "pwd"])), "/new/dir\n");
    fails_with(&e.rt(&["exec", "-u", "65534:65534", "--cwd", "/no/such/dir", &e.id, "true"]), "/no/such/dir");
    assert_eq!(e.status(), "running");
}

// ---------------------------------------------------------------- terminals

#[test]
fn create_with_terminal_sends_pty_master_to_console_socket() {
    let mut e = Env::new("tty");
    e.config["process"]["terminal"] = json!(true);
    e.config["process"]["consoleSize"] = json!({"height": 31, "width": 97});
    e.sh("tty; stty size; test -t 0 && test -t 1 && test -t 2 && echo all-ttys");
    e.write_config();
    let cs = ConsoleSocket::new(e.dir.path());
    ok(&e.rt(&["create", "--console-socket", cs.path(), "--bundle", e.bundle_str(), &e.id]));
    assert_eq!(e.status(), "created");
    ok(&e.rt(&["start", &e.id]));
    let out = cs.output();
    assert_eq!(out, "/dev/pts/0\n31 97\nall-ttys\n");
    e.wait_status("stopped");
}

#[test]
fn exec_tty_with_console_socket() {
    let e = running("extty");
    let cs = ConsoleSocket::new(e.dir.path());
    let o = e.rt(&["exec", "-t", "--console-socket", cs.path(), &e.id, "sh", "-c", "tty; test -t 0 && echo yes"]);
    ok(&o);
    let out = cs.output();
    let mut lines = out.lines();
    let tty = lines.next().unwrap_or("");
    assert!(tty.starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(lines.next(), Some("yes"), "{out:?}");
    assert_eq!(e.status(), "running");
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let mut e = Env::new("notty");
    e.config["process"]["terminal"] = json!(true);
    let cg = e.set_cgroups_path();
    let o = e.create();
    fails_with(&o, "console-socket");
    assert!(!e.root.join(&e.id).exists(), "state dir left behind");
    assert!(!cgroup_v1_dir("memory", &cg).exists(), "cgroup left behind");
}

// ---------------------------------------------------------------- logging

#[test]
fn log_file_json_and_text() {
    let e = Env::new("log");
    let log = e.dir.path().join("log.json");
    let o = e.rt(&["--log", log.to_str().unwrap(), "--log-format", "json", "state", "no-such-ctr"]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).expect("log file written");
    let last: Value = serde_json::from_str(text.lines().last().expect("a log line")).expect("json log line");
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().is_some_and(|m| m.contains("no-such-ctr") && m.contains("does not exist")), "{last}");
    assert!(last["time"].as_str().is_some_and(|t| t.contains('T')), "{last}");

    let log = e.dir.path().join("log.txt");
    // Global flags after the command and id.
    let o = e.rt(&["kill", "no-such-ctr", "KILL", "--log", log.to_str().unwrap(), "--log-format", "text"]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).expect("log file written");
    let last = text.lines().last().expect("a log line");
    assert!(last.contains("level=error"), "{last}");
    assert!(last.contains("msg=") && last.contains("does not exist"), "{last}");
    assert!(last.contains("time="), "{last}");
    // A bad --log-format is rejected by the parser.
    let o = e.rt(&["--log-format", "xml", "list"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("xml"));
}
