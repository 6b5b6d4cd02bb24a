//! Bad input: every case is a clear one-line error, a non-zero exit, and
//! leaves nothing behind (no state dir, no cgroup, no mount, no process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::process::Command;

use serde_json::json;

/// `create` with the env's config (already edited) must fail with `want` and leave nothing.
#[track_caller]
fn create_fails(e: &mut Env, want: &str) {
    let cg = e.set_cgroups_path();
    let o = e.create();
    fails_with(&o, want);
    assert_clean(e, &cg);
}

#[test]
fn malformed_config_json() {
    let mut e = Env::new("bad-json");
    let cg = e.set_cgroups_path();
    e.write_config();
    let text = std::fs::read_to_string(e.bundle.join("config.json")).unwrap();
    // Truncated half-way.
    std::fs::write(e.bundle.join("config.json"), &text[..text.len() / 2]).unwrap();
    let o = e.rt(&["create", "--bundle", e.bundle_str(), &e.id]);
    fails_with(&o, "invalid config.json");
    assert_clean(&e, &cg);
    // Not JSON at all; and `run` the same way.
    std::fs::write(e.bundle.join("config.json"), "ociVersion: 1.0").unwrap();
    let o = e.rt(&["run", "--bundle", e.bundle_str(), &e.id]);
    fails_with(&o, "invalid config.json");
    assert_clean(&e, &cg);
}

#[test]
fn missing_bundle_or_config() {
    let mut e = Env::new("bad-bundle");
    let cg = e.set_cgroups_path();
    // No config.json in the bundle.
    let o = e.rt(&["create", "--bundle", e.bundle_str(), &e.id]);
    fails_with(&o, "config.json");
    assert_clean(&e, &cg);
    let missing = e.dir.path().join("no-such-bundle");
    let o = e.rt(&["create", "--bundle", missing.to_str().unwrap(), &e.id]);
    fails_with(&o, "no-such-bundle");
    assert_clean(&e, &cg);
}

#[test]
fn config_without_process() {
    let mut e = Env::new("bad-noproc");
    e.config.as_object_mut().unwrap().remove("process");
    create_fails(&mut e, "process");
}

#[test]
fn config_without_root() {
    let mut e = Env::new("bad-noroot");
    e.config.as_object_mut().unwrap().remove("root");
    create_fails(&mut e, "root");
}

#[test]
fn config_with_empty_args() {
    let mut e = Env::new("bad-noargs");
    e.args(&[]);
    create_fails(&mut e, "process.args");
    let mut e = Env::new("bad-emptyarg");
    e.args(&[""]);
    create_fails(&mut e, "process.args");
}

#[test]
fn unsupported_oci_version() {
    let mut e = Env::new("bad-ver");
    e.config["ociVersion"] = json!("2.0.0");
    create_fails(&mut e, "ociVersion");
}

#[test]
fn unknown_namespace_type() {
    let mut e = Env::new("bad-ns");
    e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "bogus"}));
    create_fails(&mut e, "bogus");
}

#[test]
fn namespace_path_that_does_not_exist() {
    let mut e = Env::new("bad-nspath");
    for ns in e.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/999999999/ns/net");
        }
    }
    create_fails(&mut e, "/proc/999999999/ns/net");
    // A relative path is refused before anything is touched.
    let mut e = Env::new("bad-nsrel");
    for ns in e.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("proc/1/ns/net");
        }
    }
    create_fails(&mut e, "absolute");
}

#[test]
fn namespace_path_of_the_wrong_type() {
    // A uts namespace file given as the network namespace.
    let mut e = Env::new("bad-nstype");
    for ns in e.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("/proc/self/ns/uts");
        }
    }
    let cg = e.set_cgroups_path();
    let o = e.create();
    assert!(!o.status.success(), "joining a uts ns as network succeeded");
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    assert_clean(&e, &cg);
}

#[test]
fn missing_rootfs_directory() {
    let mut e = Env::new("bad-rootfs");
    e.config["root"]["path"] = json!("no-such-rootfs");
    create_fails(&mut e, "no-such-rootfs");
    // A file instead of a directory.
    let mut e = Env::new("bad-rootfile");
    std::fs::write(e.bundle.join("afile"), "x").unwrap();
    e.config["root"]["path"] = json!("afile");
    create_fails(&mut e, "afile");
}

#[test]
fn nonexistent_executable() {
    let mut e = Env::new("bad-exe");
    e.args(&["no-such-cmd", "arg"]);
    create_fails(&mut e, "executable file not found");
    // Same through run, with an absolute path.
    let mut e = Env::new("bad-exe-run");
    e.args(&["/bin/no-such-cmd"]);
    let cg = e.set_cgroups_path();
    let o = e.run();
    fails_with(&o, "/bin/no-such-cmd");
    assert_clean(&e, &cg);
    // A directory is not an executable either.
    let mut e = Env::new("bad-exe-dir");
    e.args(&["/tmp"]);
    create_fails(&mut e, "/tmp");
}

#[test]
fn commands_on_an_unknown_container() {
    let e = Env::new("bad-unknown");
    let id = "no-such-container";
    for args in [
        vec!["state", id],
        vec!["start", id],
        vec!["kill", id, "KILL"],
        vec!["delete", id],
        vec!["exec", id, "true"],
        vec!["pause", id],
        vec!["resume", id],
        vec!["ps", id],
        vec!["events", "--stats", id],
        vec!["update", "--pids-limit", "10", id],
    ] {
        let o = e.rt(&args);
        fails_with(&o, "does not exist");
        assert!(stderr(&o).contains(id), "{args:?}: {}", stderr(&o));
    }
    assert!(!e.root.join(id).exists());
    // runc agrees that these are failures.
    let runc_root = e.dir.path().join("runc-root");
    for args in [["state", id], ["start", id], ["pause", id]] {
        let o = run_capture(Command::new("runc").arg("--root").arg(&runc_root).args(args));
        assert!(!o.status.success(), "runc {args:?} succeeded");
    }
}

#[test]
fn duplicate_id_leaves_the_first_container_alone() {
    let mut e = Env::new("bad-dup");
    let cg = e.set_cgroups_path();
    e.args(&["sleep", "30"]);
    ok(&e.create());
    let pid = e.pid();
    let before = std::fs::read(e.root.join(&e.id).join("state.json")).unwrap();

    // Same id, a different bundle with a different cgroup: refused.
    let other = tempfile::Builder::new().prefix("berth-rt-test").tempdir_in("/var/tmp").unwrap();
    make_rootfs(&other.path().join("rootfs"));
    let mut cfg = e.config.clone();
    cfg["linux"]["cgroupsPath"] = json!(format!("/berth-test/{}-other", e.id));
    std::fs::write(other.path().join("config.json"), cfg.to_string()).unwrap();
    let o = e.rt(&["create", "--bundle", other.path().to_str().unwrap(), &e.id]);
    fails_with(&o, "already exists");
    let o = e.rt(&["run", "--bundle", other.path().to_str().unwrap(), &e.id]);
    fails_with(&o, "already exists");
    assert!(!cgroup_v1_dir("memory", &format!("/berth-test/{}-other", e.id)).exists());

    // The first is untouched: same state, same live init, same cgroup.
    assert_eq!(std::fs::read(e.root.join(&e.id).join("state.json")).unwrap(), before);
    assert_eq!(e.status(), "created");
    assert_eq!(e.pid(), pid);
    assert!(pid_alive(pid));
    assert_eq!(cgroup_procs("memory", &cg), vec![pid]);
    ok(&e.rt(&["start", &e.id]));
    assert_eq!(e.status(), "running");
}

#[test]
fn second_start_is_refused() {
    let mut e = Env::new("bad-start2");
    e.args(&["sleep", "30"]);
    e.start_running();
    let pid = e.pid();
    fails_with(&e.rt(&["start", &e.id]), "already been started");
    assert_eq!(e.status(), "running");
    assert_eq!(e.pid(), pid);
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    e.wait_status("stopped");
    fails_with(&e.rt(&["start", &e.id]), "stopped");
}

#[test]
fn invalid_container_ids() {
    let mut e = Env::new("bad-id");
    let cg = e.set_cgroups_path();
    e.write_config();
    for id in ["../x", "a/b", "-x", ".hidden", "x y", ""] {
        // `--` so that "-x" is taken as the id, not a flag.
        let o = e.rt(&["create", "--bundle", e.bundle_str(), "--", id]);
        fails_with(&o, "invalid container id");
        // Nothing escaped the root, nothing was created in it.
        assert!(!e.root.join("../x").exists() && !e.dir.path().join("x").exists(), "{id}");
        assert!(std::fs::read_dir(&e.root).map(|d| d.count() == 0).unwrap_or(true), "{id} left something in root");
    }
    assert_clean(&e, &cg);
    // For commands on existing containers an invalid id is simply not found.
    fails_with(&e.rt(&["state", "../x"]), "does not exist");
}

#[test]
fn unknown_signal_changes_nothing() {
    let mut e = Env::new("bad-sig");
    e.args(&["sleep", "30"]);
    e.start_running();
    for sig in ["NOPE", "SIGNOPE", "99", "0x9", ""] {
        fails_with(&e.rt(&["kill", &e.id, sig]), "unknown signal");
    }
    assert_eq!(e.status(), "running");
    assert!(pid_alive(e.pid()));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let mut e = Env::new("bad-flag");
    let cg = e.set_cgroups_path();
    e.write_config();
    let o = e.rt(&["create", "--bogus", "--bundle", e.bundle_str(), &e.id]);
    assert!(!o.status.success());
    assert_eq!(o.status.code(), Some(2), "clap usage errors exit 2");
    assert!(stderr(&o).contains("--bogus"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert_clean(&e, &cg);
    // Unknown subcommand and missing id.
    let o = e.rt(&["frobnicate", &e.id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("frobnicate"), "{}", stderr(&o));
    let o = e.rt(&["state"]);
    assert!(!o.status.success());
    // runc too exits non-zero on an unknown flag.
    let o = run_capture(Command::new("runc").args(["create", "--bogus", "x"]));
    assert!(!o.status.success());
}

#[test]
fn terminal_config_without_console_socket_leaves_nothing() {
    let mut e = Env::new("bad-tty");
    e.config["process"]["terminal"] = json!(true);
    create_fails(&mut e, "--console-socket");
}

/// The host has neither AppArmor nor SELinux: asking for a profile or label
/// must be a clear error, not silently ignored, and leave nothing behind.
#[test]
fn apparmor_or_selinux_on_a_host_without_them_is_a_clear_error() {
    assert!(
        !std::path::Path::new("/sys/kernel/security/apparmor").exists()
            && !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without AppArmor and SELinux"
    );
    for (field, value, want) in [
        ("apparmorProfile", "docker-default", "AppArmor is not enabled"),
        ("selinuxLabel", "system_u:system_r:container_t:s0", "SELinux is not enabled"),
    ] {
        let mut e = Env::new("lsm");
        e.config["process"][field] = serde_json::json!(value);
        fails_with(&e.create(), want);
        assert!(!e.root.join(&e.id).exists(), "no state left for {field}");
    }
}

/// The same refusal for `exec`: the flags (runc's --apparmor,
/// --process-label) and a process.json asking for a label fail clearly, run
/// nothing, and leave the container running.
#[test]
fn exec_with_apparmor_or_selinux_on_a_host_without_them_is_a_clear_error() {
    assert!(
        !std::path::Path::new("/sys/kernel/security/apparmor").exists()
            && !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without AppArmor and SELinux"
    );
    let mut e = Env::new("lsm-exec");
    e.args(&["sleep", "30"]);
    let out = e.share("/out");
    e.start_running();
    let ran = "touch /out/ran";
    fails_with(&e.rt(&["exec", "--apparmor", "docker-default", &e.id, "sh", "-c", ran]), "AppArmor is not enabled");
    fails_with(
        &e.rt(&["exec", "--process-label", "system_u:system_r:container_t:s0", &e.id, "sh", "-c", ran]),
        "SELinux is not enabled",
    );
    let p = json!({"args": ["sh", "-c", ran], "cwd": "/", "user": {"uid": 0, "gid": 0}, "apparmorProfile": "docker-default"});
    let f = e.dir.path().join("process.json");
    std::fs::write(&f, p.to_string()).unwrap();
    fails_with(&e.rt(&["exec", "--process", f.to_str().unwrap(), &e.id]), "AppArmor is not enabled");
    assert!(!out.join("ran").exists(), "a refused exec ran its process");
    assert_eq!(e.status(), "running");
}

/// A namespace path that names a FIFO: opening it to join would wait for a
/// writer forever. One line, nothing made, and no hang.
#[test]
fn namespace_path_that_is_a_fifo_fails_without_hanging() {
    let mut e = Env::new("bad-nsfifo");
    let fifo = e.dir.path().join("netns");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0)
        .unwrap();
    for ns in e.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(fifo);
        }
    }
    let cg = e.set_cgroups_path();
    e.write_config();
    let mut child = e
        .cmd()
        .args(["create", "--bundle", e.bundle_str(), &e.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let hung = !wait_until(std::time::Duration::from_secs(20), || child.try_wait().unwrap().is_some());
    if hung {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    assert!(!hung, "create hung on a FIFO namespace path");
    fails_with(&o, "not a namespace file");
    assert_clean(&e, &cg);
}
