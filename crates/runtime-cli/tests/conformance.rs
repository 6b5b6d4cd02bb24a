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
