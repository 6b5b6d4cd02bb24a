//! Same bundle, same result: berth-runtime next to runc on a table of
//! configs. Each case runs a probe in the container with `runc run` and then
//! `berth-runtime run` on the very same bundle (each with its own --root) and
//! compares exit code, capabilities/no_new_privs/seccomp, limits, hostname,
//! id, and the mount table (normalised: ids, device numbers and sources
//! legitimately differ; mount points, fs types, roots and options must not).
//!
//! Where berth deliberately differs from runc it is written down below
//! (`berth_differences`) and berth's behaviour is asserted explicitly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const PROBE: &str = "echo '== status'; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; \
                     echo '== limits'; cat /proc/self/limits; \
                     echo '== hostname'; hostname; \
                     echo '== id'; id; \
                     echo '== write'; (touch /probe-write 2>&1 && rm -f /probe-write && echo root-writable); \
                     echo '== mounts'; cat /proc/self/mountinfo";

fn runc_available() {
    assert!(
        Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()),
        "runc is not installed: apt-get install runc"
    );
}

/// What one runtime's run of the probe produced.
#[derive(Debug)]
struct Probe {
    code: Option<i32>,
    sections: BTreeMap<String, String>,
    /// Normalised mounts: mount point -> "fstype root vfs-opts super-opts".
    mounts: BTreeMap<String, String>,
    stderr: String,
}

fn parse(out: &std::process::Output) -> Probe {
    let text = stdout(out);
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            cur = name.to_string();
            sections.entry(cur.clone()).or_default();
            continue;
        }
        let s = sections.entry(cur.clone()).or_default();
        s.push_str(line);
        s.push('\n');
    }
    let mounts = sections.remove("mounts").map(|m| normalise_mounts(&m)).unwrap_or_default();
    Probe { code: out.status.code(), sections, mounts, stderr: stderr(out) }
}

/// mountinfo -> mount point => "fstype root vfsopts superopts". Mount ids,
/// parent ids, device numbers, propagation tags and sources are dropped:
/// they name kernel objects that differ between two runs.
fn normalise_mounts(mountinfo: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() < 6 || post.len() < 3 {
            continue;
        }
        let (root, point, vfs) = (pre[3], pre[4], pre[5]);
        let (fstype, sup) = (post[0], post[2]);
        // Mounted over (a point mounted twice): the last one is what is visible.
        m.insert(point.to_string(), format!("{fstype} {root} {vfs} {sup}"));
    }
    m
}

fn run_runc(e: &Env) -> Probe {
    let root = e.dir.path().join("runc-state");
    let id = format!("{}-runc", e.id);
    let out =
        run_capture(Command::new("runc").arg("--root").arg(&root).args(["run", "--bundle"]).arg(&e.bundle).arg(&id));
    let _ = Command::new("runc").arg("--root").arg(&root).args(["delete", "--force", &id]).output();
    parse(&out)
}

fn run_berth(e: &Env) -> Probe {
    parse(&e.run())
}

/// The differences berth has on purpose; each is asserted on berth's side,
/// then normalised to runc's shape so the rest must match exactly.
fn berth_differences(berth: &mut BTreeMap<String, String>, runc: &BTreeMap<String, String>, masked_dirs: &[&str]) {
    // 1. The /sys/fs/cgroup tmpfs follows the cgroup mount's "ro" option
    //    (runc leaves the tmpfs itself writable, only the hierarchies are ro).
    //    Nothing is gained by a writable tmpfs the container cannot use.
    if let Some(b) = berth.get_mut("/sys/fs/cgroup") {
        assert_eq!(b, "tmpfs / ro,nosuid,nodev,noexec,relatime ro,mode=755", "berth's cgroup tmpfs");
        if let Some(r) = runc.get("/sys/fs/cgroup") {
            *b = r.clone();
        }
    }
    // 2. On a hybrid host berth also shows the cgroup2 hierarchy at
    //    /sys/fs/cgroup/unified (the host's layout, which systemd in a
    //    container expects); runc 1.1 shows only the v1 hierarchies.
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    if hybrid && !runc.contains_key("/sys/fs/cgroup/unified") {
        let u = berth.remove("/sys/fs/cgroup/unified").expect("berth mounts /sys/fs/cgroup/unified on a hybrid host");
        assert!(u.starts_with("cgroup2 / ro,nosuid,nodev,noexec"), "unified mount: {u}");
    }
    // 3. Masked directories get an empty read-only tmpfs with size=0k,mode=555
    //    (runc: a read-only tmpfs with default options, mode 1777): nothing can
    //    be created there even if it were remounted.
    for d in masked_dirs {
        if let (Some(b), Some(r)) = (berth.get_mut(*d), runc.get(*d)) {
            assert!(b.ends_with(" ro,size=0k,mode=555"), "berth masked dir {d}: {b}");
            *b = r.clone();
        }
    }
}

/// Run the case with both runtimes and compare everything.
fn compare(name: &str, edit: impl FnOnce(&mut Value), want_code: i32) -> Probe {
    runc_available();
    let mut e = Env::new(&format!("cmp-{name}"));
    e.sh(PROBE);
    edit(&mut e.config);
    e.write_config();
    let masked: Vec<String> = e.config["linux"]["maskedPaths"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    // Which masked paths are directories (they get a tmpfs, files get /dev/null):
    // /proc and /sys as the host shows them (same kernel), the rest in the rootfs.
    let masked_dirs: Vec<&str> = masked
        .iter()
        .map(String::as_str)
        .filter(|p| {
            if p.starts_with("/proc/") || p.starts_with("/sys/") {
                std::path::Path::new(p).is_dir()
            } else {
                e.rootfs().join(p.trim_start_matches('/')).is_dir()
            }
        })
        .collect();

    let runc = run_runc(&e);
    let berth = run_berth(&e);
    assert_eq!(runc.code, Some(want_code), "{name}: runc exit code; stderr={}", runc.stderr);
    assert_eq!(berth.code, runc.code, "{name}: exit code; berth stderr={}", berth.stderr);
    assert!(!runc.sections.is_empty(), "{name}: runc printed nothing: {}", runc.stderr);
    for (sec, r) in &runc.sections {
        let b = berth.sections.get(sec).map(String::as_str).unwrap_or("<missing>");
        assert_eq!(b, r, "{name}: section {sec:?} differs (left berth, right runc)");
    }
    assert_eq!(berth.sections.keys().collect::<Vec<_>>(), runc.sections.keys().collect::<Vec<_>>(), "{name}: sections");
    let mut bm = berth.mounts.clone();
    berth_differences(&mut bm, &runc.mounts, &masked_dirs);
    let only_b: Vec<_> = bm.keys().filter(|k| !runc.mounts.contains_key(*k)).collect();
    let only_r: Vec<_> = runc.mounts.keys().filter(|k| !bm.contains_key(*k)).collect();
    assert!(
        only_b.is_empty() && only_r.is_empty(),
        "{name}: mount points only in berth {only_b:?}, only in runc {only_r:?}"
    );
    for (point, r) in &runc.mounts {
        assert_eq!(&bm[point], r, "{name}: mount {point} (left berth, right runc)");
    }
    berth
}

impl Probe {
    fn sec(&self, name: &str) -> &str {
        self.sections.get(name).map(String::as_str).unwrap_or("")
    }
}

#[test]
fn cmp_default_spec() {
    let p = compare("default", |_| {}, 0);
    assert!(p.sec("id").starts_with("uid=0(root) gid=0(root)"), "{}", p.sec("id"));
    assert!(p.mounts.contains_key("/dev/pts") && p.mounts.contains_key("/sys/fs/cgroup/memory"));
}

#[test]
fn cmp_hostname() {
    let p = compare("hostname", |c| c["hostname"] = json!("compare-host"), 0);
    assert_eq!(p.sec("hostname"), "compare-host\n");
}

#[test]
fn cmp_user_and_groups() {
    let p = compare(
        "user",
        |c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20, 65534]}),
        0,
    );
    assert_eq!(p.sec("id"), "uid=1000 gid=1000 groups=10,20,65534(nogroup)\n");
}

fn caps(c: &mut Value, user: Option<u32>) {
    let set = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT"]);
    c["process"]["capabilities"] = json!({
        "bounding": set,
        "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "permitted": set,
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    if let Some(u) = user {
        c["process"]["user"] = json!({"uid": u, "gid": u});
    }
}

#[test]
fn cmp_caps_subset_root() {
    let p = compare("caps-root", |c| caps(c, None), 0);
    // CHOWN(0) KILL(5) NET_BIND_SERVICE(10) SETGID(6) SETUID(7) SYS_CHROOT(18).
    assert!(p.sec("status").contains("CapBnd:\t00000000000404e1"), "{}", p.sec("status"));
    assert!(p.sec("status").contains("CapAmb:\t0000000000000400"), "{}", p.sec("status"));
}

#[test]
fn cmp_caps_ambient_non_root() {
    // A non-root process keeps only its ambient caps across execve.
    let p = compare("caps-user", |c| caps(c, Some(1000)), 0);
    assert!(p.sec("status").contains("CapEff:\t0000000000000400"), "{}", p.sec("status"));
}

#[test]
fn cmp_rlimits() {
    let p = compare(
        "rlimits",
        |c| {
            c["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            ])
        },
        0,
    );
    let open_files = p.sec("limits").lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    assert_eq!(open_files.split_whitespace().collect::<Vec<_>>()[3..5], ["512", "1024"]);
}

#[test]
fn cmp_readonly_root_masked_paths() {
    let p = compare(
        "readonly",
        |c| {
            c["root"]["readonly"] = json!(true);
            let masked = c["linux"]["maskedPaths"].as_array_mut().expect("default spec has maskedPaths");
            masked.push(json!("/etc/group"));
            masked.push(json!("/root"));
            masked.push(json!("/proc/does-not-exist"));
            let ro = c["linux"]["readonlyPaths"].as_array_mut().expect("default spec has readonlyPaths");
            ro.push(json!("/tmp"));
        },
        0,
    );
    assert!(p.sec("write").contains("Read-only file system"), "{}", p.sec("write"));
    assert!(p.mounts["/"].contains(" ro,"), "{}", p.mounts["/"]);
    assert!(p.mounts["/etc/group"].starts_with("tmpfs /null "), "{}", p.mounts["/etc/group"]);
    assert!(p.mounts["/root"].starts_with("tmpfs / ro,"), "{}", p.mounts["/root"]);
    assert!(p.mounts["/tmp"].contains(" ro,"), "{}", p.mounts["/tmp"]);
}

#[test]
fn cmp_no_new_privs_off_and_exit_code() {
    let p = compare(
        "exit3",
        |c| {
            c["process"]["noNewPrivileges"] = json!(false);
            let args = c["process"]["args"].as_array_mut().unwrap();
            let script = format!("{}; exit 3", args[2].as_str().unwrap());
            args[2] = json!(script);
        },
        3,
    );
    assert!(p.sec("status").contains("NoNewPrivs:\t0"), "{}", p.sec("status"));
}

#[test]
fn cmp_state_json() {
    runc_available();
    let mut e = Env::new("cmp-state");
    e.args(&["sleep", "30"]);
    e.write_config();
    let rroot = e.dir.path().join("runc-state");
    let rid = format!("{}-runc", e.id);
    let runc = |args: &[&str]| run_capture(Command::new("runc").arg("--root").arg(&rroot).args(args));
    ok(&runc(&["create", "--bundle", e.bundle.to_str().unwrap(), &rid]));
    ok(&e.create());
    let rs: Value = serde_json::from_str(&ok(&runc(&["state", &rid]))).expect("runc state json");
    let bs = e.state();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(keys(&bs), keys(&rs), "state keys (left berth, right runc)");
    for v in [&rs, &bs] {
        assert_eq!(v["status"], "created");
        assert!(v["pid"].as_i64().unwrap_or(0) > 0, "pid in {v}");
        assert_eq!(v["bundle"], json!(e.bundle.to_str().unwrap()));
        assert_eq!(v["rootfs"], json!(e.rootfs().to_str().unwrap()));
        assert!(v["created"].as_str().is_some_and(|c| c.ends_with('Z')), "created in {v}");
    }
    // ociVersion is each runtime's own spec version (runc 1.1: "1.0.2-dev").
    assert!(bs["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")));

    ok(&runc(&["start", &rid]));
    ok(&e.rt(&["start", &e.id]));
    let rs: Value = serde_json::from_str(&ok(&runc(&["state", &rid]))).unwrap();
    assert_eq!(rs["status"], "running");
    assert_eq!(e.status(), "running");

    ok(&runc(&["kill", &rid, "KILL"]));
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    assert!(wait_until(std::time::Duration::from_secs(3), || {
        serde_json::from_str::<Value>(&stdout(&runc(&["state", &rid]))).is_ok_and(|v| v["status"] == "stopped")
    }));
    e.wait_status("stopped");
    let rs: Value = serde_json::from_str(&ok(&runc(&["state", &rid]))).unwrap();
    let bs = e.state();
    assert_eq!(keys(&bs), keys(&rs), "stopped state keys");
    ok(&runc(&["delete", &rid]));
    ok(&e.rt(&["delete", &e.id]));

    // Unknown id: both fail with status 1 and say the container does not exist.
    let r = runc(&["state", "no-such-container"]);
    let b = e.rt(&["state", "no-such-container"]);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(b.status.code(), r.status.code(), "state of unknown id: exit code");
    assert!(stderr(&r).contains("does not exist"), "runc said {}", stderr(&r));
    fails_with(&b, "does not exist");
    assert!(b.stdout.is_empty() && r.stdout.is_empty());
}
