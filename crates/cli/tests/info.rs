//! `berth info`: podman's shape (JSON tags, Go template field names, YAML by
//! default), the store's real driver, and why overlay was not used when it
//! was not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::podman::Podman;
use common::*;
use serde_json::Value;

/// Templates of podman's Go field names; each must render in berth as it
/// does in podman.
const TEMPLATES: &[&str] = &[
    "{{.Host.Arch}}",
    "{{.Host.CgroupManager}}",
    "{{.Host.CgroupsVersion}}",
    "{{.Host.CgroupControllers}}",
    "{{.Host.CPUs}}",
    "{{.Host.Distribution.Distribution}}",
    "{{.Host.Distribution.Version}}",
    "{{.Host.Hostname}}",
    "{{.Host.Kernel}}",
    "{{.Host.OS}}",
    "{{.Host.OCIRuntime.Name}}",
    "{{.Host.MemTotal}}",
    "{{.Host.SwapTotal}}",
    "{{.Store.GraphDriverName}}",
    "{{.Store.GraphOptions}}",
    "{{.Store.ImageStore.Number}}",
    "{{.Store.ContainerStore.Number}}",
    "{{.Store.ContainerStore.Running}}",
    "{{.Version.OsArch}}",
    "{{.Host.NetworkBackend}}",
    "{{.Host.OCIRuntime.Path}}",
    "{{.Host.Conmon.Path}}",
    "{{.Host.Linkmode}}",
    "{{.Host.Uptime}}",
    "{{.Host.Security.DefaultCapabilities}}",
    "{{.Host.Security.Rootless}}",
    "{{.Host.Security.SELinuxEnabled}}",
    "{{.Host.Security.AppArmorEnabled}}",
    "{{.Host.Security.SECCOMPEnabled}}",
    "{{.Host.IDMappings.UIDMap}}",
    "{{.Host.CPUUtilization.IdlePercent}}",
    "{{.Store.VolumePath}}",
    "{{.Store.GraphRootAllocated}}",
    "{{.Store.ImageCopyTmpDir}}",
    "{{.Plugins.Volume}}",
    "{{json .}}",
];

/// Fields whose value is the host's, the same whoever reports it.
const SAME_VALUE: &[&str] = &[
    "{{.Host.Arch}}",
    "{{.Host.CgroupManager}}",
    "{{.Host.CgroupsVersion}}",
    "{{.Host.CgroupControllers}}",
    "{{.Host.CPUs}}",
    "{{.Host.Distribution.Distribution}}",
    "{{.Host.Distribution.Version}}",
    "{{.Host.Hostname}}",
    "{{.Host.Kernel}}",
    "{{.Host.OS}}",
    "{{.Host.MemTotal}}",
    "{{.Store.GraphDriverName}}",
    "{{.Store.GraphOptions}}",
    "{{.Version.OsArch}}",
    "{{.Host.Distribution.Codename}}",
    "{{.Host.Security.DefaultCapabilities}}",
    "{{.Host.Security.Rootless}}",
    "{{.Host.Security.SELinuxEnabled}}",
    "{{.Host.Security.AppArmorEnabled}}",
    "{{.Host.Security.SECCOMPEnabled}}",
    "{{.Host.IDMappings.UIDMap}}",
    "{{.Plugins.Volume}}",
];

#[test]
fn info_reports_the_store_and_host_as_podman_does() {
    require_root();
    let env = Env::new();
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    env.ok(&["create", "--name", "c1", "bb", "true"]);

    let json: Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
    let store = &json["store"];
    assert_eq!(store["graphDriverName"], "overlay");
    assert_eq!(store["graphRoot"], env.root.to_str().unwrap());
    assert_eq!(store["runRoot"], env.runroot.to_str().unwrap());
    assert_eq!(store["imageStore"]["number"], 1);
    assert_eq!(store["containerStore"]["number"], 1);
    assert_eq!(store["containerStore"]["stopped"], 1);
    let lower = store["graphStatus"]["Lower Layers"].as_str().unwrap_or_default();
    assert!(lower.starts_with("lowerdir"), "which overlay mount form works is said: {store}");
    assert_eq!(json["host"]["kernel"], std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap().trim());
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(json["host"]["cgroupVersion"], if v2 { "v2" } else { "v1" });
    assert_eq!(json["host"]["cgroupManager"], "cgroupfs");
    assert!(json["host"]["ociRuntime"]["name"].as_str().unwrap().starts_with("berth-runtime"));
    assert_eq!(json["host"]["networkBackend"], "berth");
    assert_eq!(json["host"]["security"]["rootless"], false);
    let caps = json["host"]["security"]["capabilities"].as_str().unwrap();
    assert!(caps.split(',').any(|c| c == "CAP_NET_BIND_SERVICE") && !caps.contains("CAP_SYS_ADMIN"), "{caps}");
    assert_eq!(json["store"]["volumePath"], env.root.join("volumes").to_str().unwrap());
    let statvfs = rustix::fs::statvfs(&env.root).unwrap();
    assert_eq!(json["store"]["graphRootAllocated"], statvfs.f_blocks * statvfs.f_frsize);
    let (os_id, codename) = os_release();
    assert_eq!(json["host"]["distribution"]["distribution"], os_id);
    assert_eq!(json["host"]["distribution"]["codename"], codename);
    // Another runtime given: its name, path and own version.
    let text = env.ok(&[
        "--runtime",
        "runc",
        "info",
        "--format",
        "{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Host.OCIRuntime.Version}}",
    ]);
    let parts: Vec<&str> = text.trim().splitn(3, '|').collect();
    assert_eq!(parts[0], "runc");
    assert!(parts[1].ends_with("/runc") && Path::new(parts[1]).exists(), "{text}");
    assert!(parts[2].starts_with("runc version"), "{text}");

    // `{{json .}}` is `--format json`; templates see Go field names.
    let mut again: Value = serde_json::from_str(&env.ok(&["info", "--format", "{{json .}}"])).unwrap();
    // What moves between the two calls.
    for (section, field) in
        [("host", "memFree"), ("host", "cpuUtilization"), ("host", "uptime"), ("store", "graphRootUsed")]
    {
        again[section][field] = json[section][field].clone();
    }
    assert_eq!(again, json);
    let got = env.ok(&["info", "--format", "{{.Store.GraphDriverName}} {{.Host.Kernel}} {{.Store.ImageStore.Number}}"]);
    assert_eq!(got.trim(), format!("overlay {} 1", json["host"]["kernel"].as_str().unwrap()));
    // The default is YAML with podman's keys.
    let yaml = env.ok(&["info"]);
    for line in ["store:\n", "  graphDriverName: overlay\n", "  cgroupManager: cgroupfs\n", "    number: 1\n"] {
        assert!(yaml.contains(line), "{line:?} in {yaml}");
    }
    env.fails(&["info", "extra"], 125);
    // `system info` is `info`.
    let t = "{{.Store.GraphDriverName}} {{.Host.NetworkBackend}} {{.Host.OCIRuntime.Name}}";
    assert_eq!(env.ok(&["system", "info", "--format", t]), "overlay berth berth-runtime (in-process)\n");

    // Side by side with podman: the same field names in both namings, and
    // the same values where they describe the host.
    let podman = Podman::with_driver("overlay");
    let pjson: Value = serde_json::from_str(&podman.ok(&["info", "--format", "json"])).unwrap();
    let mut missing = Vec::new();
    same_shape("", &json["host"], &pjson["host"], &mut missing);
    same_shape("", &json["store"], &pjson["store"], &mut missing);
    same_shape("", &json["version"], &pjson["version"], &mut missing);
    assert!(missing.is_empty(), "berth prints what podman does not (or with another type): {missing:?}");
    for t in TEMPLATES {
        let ours = env.ok(&["info", "--format", t]);
        let theirs = podman.ok(&["info", "--format", t]);
        if SAME_VALUE.contains(t) {
            assert_eq!(ours, theirs, "{t}");
        }
    }
}

/// /etc/os-release's ID and VERSION_CODENAME.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("ID"), get("VERSION_CODENAME"))
}

/// Every key of `ours` is in `theirs` with the same JSON type (maps whose
/// keys are data, like graphStatus, are not compared key by key).
fn same_shape(path: &str, ours: &Value, theirs: &Value, missing: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            if path.ends_with("graphStatus") {
                return;
            }
            for (k, v) in o {
                let p = format!("{path}.{k}");
                match t.get(k) {
                    Some(tv) => same_shape(&p, v, tv, missing),
                    None => missing.push(p),
                }
            }
        }
        (Value::Array(_), Value::Array(_))
        | (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        _ => missing.push(format!("{path}: {ours} vs {theirs}")),
    }
}

/// A store where overlay cannot work (its root is on overlayfs) gets vfs,
/// warns on the command that made it, and `info` says why every time after.
#[test]
fn info_says_why_overlay_was_not_used() {
    require_root();
    let env = Env::new();
    let t = env.dir.path();
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(t.join(d)).unwrap();
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        t.join("lower").display(),
        t.join("upper").display(),
        t.join("work").display()
    );
    let merged = t.join("merged");
    let st = Command::new("mount").args(["-t", "overlay", "overlay", "-o", &data]).arg(&merged).status().unwrap();
    assert!(st.success(), "mount an overlay for the store's root");
    let _unmount = Unmount(merged.clone());
    let berth = |args: &[&str]| {
        Command::new(BIN)
            .env("BERTH_CONFIG", env.config())
            .arg("--root")
            .arg(merged.join("root"))
            .arg("--runroot")
            .arg(t.join("run"))
            .args(args)
            .output()
            .unwrap()
    };
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    let first = berth(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let warning = stderr(&first);
    assert!(
        warning.contains("WARN") && warning.contains("overlay cannot be used here") && warning.contains("vfs"),
        "the fallback is said: {warning:?}"
    );
    assert_eq!(warning.trim_end().lines().count(), 1, "once: {warning:?}");
    let info =
        berth(&["info", "--format", "{{.Store.GraphDriverName}}|{{index .Store.GraphStatus \"Overlay Unusable\"}}"]);
    let text = stdout(&info);
    let (driver, why) = text.trim().split_once('|').unwrap();
    assert_eq!(driver, "vfs");
    assert!(why.contains("upper"), "the kernel's reason: {why:?}");
    let o = berth(&["run", "--rm", "bb", "true"]);
    assert!(o.status.success(), "vfs still runs containers: {}", stderr(&o));
}

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `berth version`: podman's layout by default, its client document for
/// `--format json` (the same keys, in the same order, as podman 4.3's),
/// Go templates on it, and podman's error and exit code for an unknown
/// field. It opens no store: it works where the root cannot be made.
#[test]
fn version_answers_as_podman_does() {
    let env = Env::new();
    let text = env.ok(&["version"]);
    let v = env!("CARGO_PKG_VERSION");
    assert!(text.starts_with(&format!("Client:       Berth Engine\nVersion:      {v}\nAPI Version:  {v}\n")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("OS/Arch:      linux/")), "{text}");

    let json: Value = serde_json::from_str(&env.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(json["Client"]["Version"], v);
    let podman = Podman::with_driver("vfs");
    let pjson: Value = serde_json::from_str(&podman.ok(&["version", "--format", "json"])).unwrap();
    let keys = |j: &Value| j["Client"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&json), keys(&pjson));
    let mut missing = Vec::new();
    same_shape("", &json, &pjson, &mut missing);
    assert!(missing.is_empty(), "{missing:?}");
    let t = "{{.Client.OsArch}} {{.Client.Os}}";
    assert_eq!(env.ok(&["version", "--format", t]), podman.ok(&["version", "--format", t]));
    assert_eq!(env.ok(&["version", "-f", "{{.Client.Version}}"]).trim(), v);

    let e = env.fails(&["version", "--format", "{{.Nope}}"], 125);
    assert!(e.contains("can't evaluate field Nope in type *define.Version"), "{e}");
    // No store is needed.
    let o = env.cmd(&["--root", "/proc/version/nothing", "version"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}
