//! `inspect` of containers (`container inspect`, and plain `inspect`
//! finding containers before images), run for real as root: podman 4.3's
//! document, compared key by key with podman's for containers made the
//! same way, the values berth knows checked against what the container
//! shows, Go templates, and podman's handling of several names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

use common::containers::Cleanup;
use common::podman::{masked, Podman};
use common::*;

/// Both sides with `localhost/bb` imported from the same busybox tarball.
fn both() -> (Env, Podman) {
    require_root();
    let env = Env::new();
    let podman = Podman::beside(&env);
    (env, podman)
}

fn doc(out: &str) -> Value {
    let list: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{out}");
    list[0].clone()
}

/// Where `b`'s shape differs from podman's `p`: the same keys in the same
/// order and the same types, lists compared by their first elements when
/// both have one. `extra`: keys berth may have that podman leaves out here
/// (podman writes OCIConfigPath only once it made the config at start).
/// Annotations are compared as maps (podman's are its own).
fn shape(b: &Value, p: &Value, at: &str, out: &mut Vec<String>) {
    let extra = ["OCIConfigPath"];
    match (b, p) {
        (Value::Object(_), Value::Object(_)) if at.ends_with(".Annotations") => {}
        (Value::Object(bo), Value::Object(po)) => {
            let bk: Vec<&String> = bo.keys().filter(|k| po.contains_key(*k) || !extra.contains(&k.as_str())).collect();
            let pk: Vec<&String> = po.keys().collect();
            if bk != pk {
                out.push(format!("{at}: keys berth {bk:?} podman {pk:?}"));
                return;
            }
            for (k, v) in bo {
                if let Some(pv) = po.get(k) {
                    shape(v, pv, &format!("{at}.{k}"), out);
                }
            }
        }
        (Value::Array(ba), Value::Array(pa)) => {
            if let (Some(bf), Some(pf)) = (ba.first(), pa.first()) {
                shape(bf, pf, &format!("{at}[0]"), out);
            }
        }
        _ if std::mem::discriminant(b) == std::mem::discriminant(p) => {}
        _ => out.push(format!("{at}: berth {b}, podman {p}")),
    }
}

#[test]
fn documents_have_podmans_shape_in_every_state() {
    let (env, podman) = both();
    let _c = Cleanup(&env);
    let create = [
        "create",
        "--pull=never",
        "--name",
        "box",
        "-t",
        "-i",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-l",
        "a=b",
        "--hostname",
        "hh",
        "-u",
        "nobody",
        "localhost/bb",
        "sleep",
        "100",
    ];
    env.ok(&create);
    podman.ok(&create);
    let mut problems = Vec::new();
    let mut check = |state: &str| {
        let b = doc(&env.ok(&["container", "inspect", "box"]));
        let p = doc(&podman.ok(&["container", "inspect", "box"]));
        shape(&b, &p, state, &mut problems);
        (b, p)
    };
    check("created");
    for side in [&["start", "box"][..], &["stop", "-t", "0", "box"]] {
        env.ok(side);
        podman.ok(side);
        check(side[0]);
    }
    // Running again, to compare the values both know.
    env.ok(&["start", "box"]);
    podman.ok(&["start", "box"]);
    let (b, p) = check("running");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for field in [
        "/Name",
        "/Path",
        "/Args",
        "/State/Status",
        "/State/Running",
        "/State/Paused",
        "/State/ExitCode",
        "/ImageName",
        "/RestartCount",
        "/Config/Hostname",
        "/Config/User",
        "/Config/Tty",
        "/Config/OpenStdin",
        "/Config/Cmd",
        "/Config/Entrypoint",
        "/Config/WorkingDir",
        "/Config/Labels",
        "/Config/StopSignal",
        "/Config/StopTimeout",
        "/Config/Image",
        "/HostConfig/AutoRemove",
        "/HostConfig/NetworkMode",
        "/HostConfig/PidMode",
        "/HostConfig/UTSMode",
        "/HostConfig/Privileged",
        "/HostConfig/ReadonlyRootfs",
        "/EffectiveCaps",
        "/BoundingCaps",
        "/Mounts",
    ] {
        assert_eq!(b.pointer(field), p.pointer(field), "{field}");
    }
    // What berth says is what the container is.
    let pid = b["State"]["Pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let environ = String::from_utf8(std::fs::read(format!("/proc/{pid}/environ")).unwrap()).unwrap();
    let env_of: Vec<&str> = environ.split('\0').filter(|s| !s.is_empty()).collect();
    assert_eq!(b["Config"]["Env"], serde_json::json!(env_of));
    // Its monitor is conmon's counterpart: the container's parent.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i64 = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(b["State"]["ConmonPid"].as_i64(), Some(ppid));
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let cg = b["State"]["CgroupPath"].as_str().unwrap();
    assert!(cgroup.lines().any(|l| l.ends_with(&format!(":{cg}"))), "{cg} in {cgroup}");
    let image = env.ok(&["image", "inspect", "--format", "{{.Id}} {{.Digest}}", "localhost/bb"]);
    assert_eq!(image, format!("{} {}\n", b["Image"].as_str().unwrap(), b["ImageDigest"].as_str().unwrap()));
    assert!(std::path::Path::new(b["OCIConfigPath"].as_str().unwrap()).exists());
    assert!(std::path::Path::new(b["HostConfig"]["LogConfig"]["Path"].as_str().unwrap()).exists());
    let made: Vec<&str> = b["Config"]["CreateCommand"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    // The whole command line, global flags too, as podman keeps its own.
    assert!(made.ends_with(&create) && made[0].ends_with("berth"), "{made:?}");
}

#[test]
fn templates_names_and_errors_as_podman() {
    let (env, podman) = both();
    let _c = Cleanup(&env);
    for args in [
        &["run", "-d", "--pull=never", "--name", "up", "-l", "k=v", "localhost/bb", "sleep", "100"][..],
        &[
            "create",
            "--pull=never",
            "--name",
            "made",
            "--entrypoint",
            "[\"/bin/sh\",\"-c\"]",
            "localhost/bb",
            "echo hi",
        ],
        &["run", "--pull=never", "--name", "done", "localhost/bb", "sh", "-c", "exit 3"],
    ] {
        assert_eq!(env.run(args).status.code(), podman.run(args, None).status.code(), "{args:?}");
    }
    let rows: &[&[&str]] = &[
        &[
            "inspect",
            "--format",
            "{{.Name}} {{.Path}} {{.Args}} {{.State.Status}} {{.State.ExitCode}}",
            "up",
            "made",
            "done",
        ],
        &["container", "inspect", "--format", "{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{json .Config.Cmd}}", "made"],
        &[
            "inspect",
            "--format",
            "{{.Config.Labels}} {{.Config.Volumes}} {{.State.Health.Log}} {{.HostConfig.Links}}",
            "up",
        ],
        &["inspect", "--format", "{{.ID}} {{.Id}} {{.Image}}", "up"],
        &["inspect", "--format", "{{.State.FinishedAt}}", "up"],
        &[
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.Paused}} {{.RestartCount}} {{.HostConfig.AutoRemove}}",
            "up",
        ],
        &["inspect", "--format", "{{.Foo}}", "up"],
        &["inspect", "-l", "--format", "{{.Name}}"],
        &["inspect", "--type", "container", "--format", "{{.Name}}", "up"],
        &["inspect", "--type", "image", "--format", "{{.Id}}", "localhost/bb"],
        &["inspect", "--format", "{{.Id}}", "localhost/bb"],
        &["inspect", "nosuch"],
        &["inspect", "nosuch", "nosuch2"],
        &["inspect", "--format", "{{.Name}}", "up", "nosuch"],
        &["inspect", "--type", "container", "localhost/bb"],
        &["inspect", "--type", "image", "up"],
        &["inspect", "--type", "bogus", "up"],
        &["container", "inspect", "localhost/bb"],
        &["container", "inspect", "nosuch", "up", "nosuch2", "--format", "{{.Name}}"],
        &["image", "inspect", "nosuch", "nosuch2"],
        &["image", "inspect", "--format", "{{.Id}}", "localhost/bb", "nosuch"],
    ];
    let mut failures = Vec::new();
    for args in rows {
        let b = env.run(args);
        let p = podman.run(args, None);
        let errors = |s: String| {
            masked(&s.replace("podman", "berth"))
                .lines()
                .filter(|l| !l.starts_with("See "))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let (bout, pout) = (masked(&stdout(&b)), masked(&stdout(&p)));
        if b.status.code() != p.status.code() || bout != pout || errors(stderr(&b)) != errors(stderr(&p)) {
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
    // Times: Go's time.Time in templates, RFC 3339 in JSON, on both.
    let go_time = |s: &str| s.ends_with(" +0000 UTC") && s.as_bytes()[10] == b' ';
    for side in [
        env.ok(&["inspect", "--format", "{{.Created}}|{{.State.StartedAt}}", "up"]),
        podman.ok(&["inspect", "--format", "{{.Created}}|{{.State.StartedAt}}", "up"]),
    ] {
        assert!(side.trim().split('|').all(go_time), "{side}");
    }
    let state: Value = serde_json::from_str(&env.ok(&["inspect", "--format", "{{json .State}}", "up"])).unwrap();
    assert!(state["StartedAt"].as_str().unwrap().ends_with('Z'), "{state}");
    assert_eq!(state["FinishedAt"], "0001-01-01T00:00:00Z");
}

#[test]
fn containers_come_before_images_and_sizes_are_counted() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // A container named like the image's short name.
    env.ok(&["run", "-d", "--name", "bb", "bb", "sleep", "100"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.Name}}", "bb"]), "bb\n");
    let image_id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "bb"]);
    assert_eq!(env.ok(&["inspect", "--type", "image", "--format", "{{.Id}}", "bb"]), image_id);
    // -s: what the container wrote, and the whole of its root filesystem.
    env.ok(&["exec", "bb", "sh", "-c", "head -c 100000 /dev/zero > /big; echo 12345 > /small"]);
    let sizes = env.ok(&["inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "bb"]);
    let (rw, root) = sizes.trim().split_once(' ').unwrap();
    let (rw, root): (u64, u64) = (rw.parse().unwrap(), root.parse().unwrap());
    assert!((100_006..101_000).contains(&rw), "{sizes}");
    let image_size: u64 = env.ok(&["image", "inspect", "--format", "{{.Size}}", "bb"]).trim().parse().unwrap();
    assert_eq!(root, rw + image_size);
    // Without -s there are no sizes, as with podman.
    let plain = doc(&env.ok(&["inspect", "bb"]));
    assert!(plain.get("SizeRw").is_none() && plain.get("SizeRootFs").is_none());

    // Paused, then exited: the state says so.
    env.ok(&["pause", "bb"]);
    let fields = "{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.Pid}}";
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "bb"]);
    assert_eq!(env.ok(&["inspect", "--format", fields, "bb"]), format!("paused false true {pid}"));
    env.ok(&["kill", "bb"]);
    env.ok(&["wait", "bb"]);
    let exited = doc(&env.ok(&["inspect", "bb"]));
    let state = &exited["State"];
    assert_eq!((&state["Status"], &state["ExitCode"], &state["Pid"]), (&"exited".into(), &137.into(), &0.into()));
    assert!(state.get("ConmonPid").is_none() && state.get("CgroupPath").is_none(), "{state}");
    assert!(state["FinishedAt"].as_str().unwrap().starts_with("20"));
}
