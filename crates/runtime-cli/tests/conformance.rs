//! Configs written by other tools, and the lifecycle guarantees the runtime
//! spec and runc give: berth-runtime must behave as runc does with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;

fn runc_available() {
    assert!(
        Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()),
        "runc is not installed: apt-get install runc"
    );
}

/// What a shell printed on a terminal after `== Cap` (the terminal also
/// echoes what was typed, and a prompt may precede the output).
fn marked(out: &str) -> Vec<String> {
    out.lines().filter_map(|l| l.find("== Cap").map(|i| l[i + 3..].trim_end().to_string())).collect()
}

/// Create and start the bundle with `runtime`, its terminal on a console
/// socket into which `script` is typed; returns what the terminal showed
/// once the process is gone. (runc ignores --console-socket in a
/// foreground `run`, so this is `create` + `start`.)
fn run_on_terminal(runtime: &str, root: &Path, bundle: &Path, id: &str, script: &str) -> String {
    let cs = ConsoleSocket::typing(bundle.parent().unwrap(), script.as_bytes());
    let rt = |args: &[&str]| run_capture(Command::new(runtime).arg("--root").arg(root).args(args));
    let created = rt(&["create", "--console-socket", cs.path(), "--bundle", bundle.to_str().unwrap(), id]);
    if !created.status.success() {
        return format!("{runtime} create failed: {}", stderr(&created));
    }
    let started = rt(&["start", id]);
    let term = if started.status.success() { cs.output() } else { String::new() };
    let _ = rt(&["delete", "--force", id]);
    format!("{term}\nstart: {}", stderr(&started))
}

/// `runc spec` writes ambient capabilities that are not inheritable: the
/// kernel refuses to raise them. runc skips them; berth-runtime failed with
/// "raise ambient CAP_...: Operation not permitted". The config is used
/// exactly as runc wrote it (terminal, `sh`, read-only root "rootfs").
#[test]
fn runc_spec_config_runs_unchanged() {
    runc_available();
    require_root();
    let dir = tempfile::Builder::new().prefix("berth-conf").tempdir_in("/var/tmp").unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    ok(&run_capture(Command::new("runc").arg("spec").current_dir(&bundle)));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let caps = &config["process"]["capabilities"];
    assert!(caps["ambient"].as_array().is_some_and(|a| !a.is_empty()), "runc spec has ambient caps: {caps}");
    assert!(caps["inheritable"].as_array().is_none_or(|a| a.is_empty()), "runc spec has no inheritable caps: {caps}");
    assert_eq!(config["process"]["args"], json!(["sh"]));
    make_rootfs(&bundle.join("rootfs"));

    let script = "echo \"== $(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr '\\t\\n' ' ')\"; exit 7\n";
    let id = unique_id("runc-spec");
    let r = run_on_terminal("runc", &dir.path().join("runc"), &bundle, &id, script);
    let b = run_on_terminal(BIN, &dir.path().join("berth"), &bundle, &id, script);
    let (rm, bm) = (marked(&r), marked(&b));
    assert_eq!(rm.len(), 1, "runc: {r}");
    assert_eq!(bm, rm, "capabilities (left berth, right runc)");
    // AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10), none of them ambient.
    assert!(bm[0].contains("CapAmb: 0000000000000000"), "{b}");
    assert!(bm[0].contains("CapBnd: 0000000020000420"), "{b}");
}

/// `create` with `e`'s config must fail with `want` and leave nothing (no
/// state dir, cgroup, mount or process); runc must refuse the same config at
/// create too.
#[track_caller]
fn fails_at_create_like_runc(e: &mut Env, want: &str) {
    runc_available();
    let cg = e.set_cgroups_path();
    let o = e.create();
    fails_with(&o, want);
    assert_clean(e, &cg);
    // The id is free again.
    assert!(!e.root.join(&e.id).exists());
    let rroot = e.dir.path().join("runc-state");
    let rid = format!("{}-runc", e.id);
    e.config["linux"]["cgroupsPath"] = json!(format!("/berth-test/{rid}"));
    e.write_config();
    let runc = |args: &[&str]| run_capture(Command::new("runc").arg("--root").arg(&rroot).args(args));
    let r = runc(&["create", "--bundle", e.bundle_str(), &rid]);
    let _ = runc(&["delete", "--force", &rid]);
    assert!(!r.status.success(), "runc accepted the config berth refused: {}", stdout(&r));
}

/// Capability bit of the host's bounding set (from /proc/self/status).
fn in_host_bounding_set(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:\t")).unwrap();
    u64::from_str_radix(hex.trim(), 16).unwrap() & (1 << bit) != 0
}

/// A capability outside the host's bounding set cannot be given: `create`
/// fails (runc: "unable to apply caps"), it does not succeed and leave an
/// init that dies at `start`.
#[test]
fn capability_outside_the_bounding_set_fails_create() {
    const CAP_SYS_RESOURCE: u32 = 24;
    assert!(
        !in_host_bounding_set(CAP_SYS_RESOURCE),
        "this test needs a host whose bounding set lacks CAP_SYS_RESOURCE (these machines' does)"
    );
    let mut e = Env::new("cap-bnd");
    for set in ["bounding", "effective", "permitted"] {
        e.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_RESOURCE"));
    }
    fails_at_create_like_runc(&mut e, "CAP_SYS_RESOURCE");
}

#[test]
fn rlimit_that_cannot_be_set_fails_create() {
    let mut e = Env::new("rlim-inv");
    e.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]);
    fails_at_create_like_runc(&mut e, "setrlimit RLIMIT_NOFILE");
    // Above our own hard limit, without CAP_SYS_RESOURCE to raise it.
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.unwrap();
    let mut e = Env::new("rlim-hard");
    e.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    fails_at_create_like_runc(&mut e, "setrlimit RLIMIT_NOFILE");
}

/// A user the container's user namespace does not map cannot be become.
#[test]
fn unmapped_user_fails_create() {
    for (uid, gid, want) in [(70000, 0, "setuid 70000"), (0, 70000, "setgid 70000")] {
        let mut e = Env::new("user-unmapped");
        e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        e.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        e.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        e.config["process"]["user"] = json!({"uid": uid, "gid": gid});
        fails_at_create_like_runc(&mut e, want);
    }
}

/// What `create` now does before the init waits (user, caps) must leave a
/// container that still starts and runs as asked, with the exec fifo
/// opened before the user change.
#[test]
fn non_root_user_with_capabilities_starts_after_create() {
    let mut e = Env::new("user-caps");
    e.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
    e.config["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]);
    e.config["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    let out = e.share("/out");
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    e.sh("id > /out/id; grep -E '^Cap(Eff|Amb)' /proc/self/status >> /out/id");
    e.write_config();
    ok(&e.create());
    assert_eq!(e.status(), "created");
    ok(&e.rt(&["start", &e.id]));
    e.wait_status("stopped");
    let got = std::fs::read_to_string(out.join("id")).unwrap();
    assert_eq!(got, "uid=1000 gid=1000 groups=10\nCapEff:\t0000000000000020\nCapAmb:\t0000000000000020\n");
}

/// crun on these hybrid-cgroup hosts: in a private mount namespace without
/// the cgroup2 hierarchy, which crun 1.8 refuses (see peers/README.md).
fn crun() -> Command {
    assert!(
        Command::new("crun").arg("--version").output().is_ok_and(|o| o.status.success()),
        "crun is not installed: apt-get install crun"
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("umount /sys/fs/cgroup/unified 2>/dev/null; exec crun \"$@\"")
        .arg("crun");
    c
}

/// The state prestart and createRuntime hooks read on stdin says "created"
/// with the init's pid: the runtime spec's lifecycle runs them after step 2
/// ("created: the runtime has finished the create operation (after step
/// 2)"), and crun says so. (runc, 1.1 to this day, passes "creating".)
#[test]
fn prestart_and_create_runtime_hooks_read_created_state() {
    let mut e = Env::new("hook-state");
    let out = e.dir.path().join("hooks");
    std::fs::create_dir(&out).unwrap();
    let hook =
        |name: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/$0", out.display()), name]}]);
    e.config["hooks"] = json!({"prestart": hook("prestart"), "createRuntime": hook("createRuntime")});
    e.write_config();
    ok(&e.create());
    let pid = e.pid();
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for name in ["prestart", "createRuntime"] {
        let v = read(name);
        assert_eq!(v["status"], "created", "{name}: {v}");
        assert_eq!(v["id"], json!(e.id), "{name}: {v}");
        assert_eq!(v["pid"], json!(pid), "{name}: {v}");
        assert_eq!(v["bundle"], json!(e.bundle_str()), "{name}: {v}");
    }
    // crun, same hooks: the same status.
    let croot = e.dir.path().join("crun-state");
    let cid = format!("{}-crun", e.id);
    e.config["linux"]["cgroupsPath"] = json!(format!("/berth-test/{cid}"));
    // crun 1.8 knows runtime-spec versions up to 1.1 only.
    e.config["ociVersion"] = json!("1.0.2");
    e.write_config();
    let crun = |args: &[&str]| run_capture(crun().arg("--root").arg(&croot).args(args));
    let c = crun(&["create", "--bundle", e.bundle_str(), &cid]);
    let _ = crun(&["delete", "--force", &cid]);
    ok(&c);
    for name in ["prestart", "createRuntime"] {
        let v = read(name);
        assert_eq!((v["id"].as_str(), v["status"].as_str()), (Some(cid.as_str()), Some("created")), "crun {name}: {v}");
    }
}
