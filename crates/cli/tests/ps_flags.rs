//! `ps --filter`, `--sort`, `--size`, `-n`, `-l`: podman 4.3's semantics,
//! checked on what berth lists and side by side with podman.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::containers::Cleanup;
use common::podman::Podman;
use common::*;

/// The same containers on either side: `up` (running, label a=1, a bind
/// mount), `three` (exited 3, labels a=2 and b), `made` (created),
/// `zero` (exited 0, a named volume).
fn make(run: &dyn Fn(&[&str]) -> String, dir: &str) {
    run(&[
        "run",
        "-d",
        "--pull=never",
        "--name",
        "up",
        "-l",
        "a=1",
        "-v",
        &format!("{dir}:/data"),
        "localhost/bb",
        "sleep",
        "100",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&["run", "--pull=never", "--name", "three", "-l", "a=2", "-l", "b", "localhost/bb", "sh", "-c", "exit 3"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&["create", "--pull=never", "--name", "made", "localhost/bb", "true"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&["run", "--pull=never", "--name", "zero", "-v", "vol1:/v", "localhost/bb", "true"]);
}

/// podman and berth: `ps` exits non-zero with `run` here for `three`.
fn lenient(env: &Env) -> impl Fn(&[&str]) -> String + '_ {
    move |args: &[&str]| stdout(&env.run(args))
}

const QUERIES: &[&[&str]] = &[
    &["ps", "--format", "{{.Names}}"],
    &["ps", "-a", "--format", "{{.Names}}"],
    &["ps", "--filter", "status=exited", "--format", "{{.Names}}"],
    &["ps", "--filter", "status=stopped", "--format", "{{.Names}}"],
    &["ps", "--filter", "status=created", "--format", "{{.Names}}"],
    &["ps", "--filter", "status=running", "--filter", "status=created", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "exited=0", "--filter", "exited=3", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "label=a", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "label=a=1", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "label=a", "--filter", "label=b", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "name=^t", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "name=e", "--filter", "name=up", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "name=e", "--filter", "status=exited", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "ancestor=localhost/bb", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "ancestor=localhost/bb:latest", "--filter", "status=created", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "ancestor=bb", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "before=made", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "since=three", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "since=up", "--filter", "before=zero", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "volume=vol1", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "volume=vol1:/v", "--format", "{{.Names}}"],
    &["ps", "-a", "--filter", "volume=vol1:/w", "--format", "{{.Names}}"],
    &["ps", "-a", "--sort", "names", "--format", "{{.Names}}"],
    &["ps", "-a", "--sort", "status", "--format", "{{.Names}}"],
    &["ps", "-a", "--sort", "created", "--format", "{{.Names}}"],
    &["ps", "-a", "--sort", "runningfor", "--format", "{{.Names}}"],
    &["ps", "-a", "--sort", "command", "--format", "{{.Names}}"],
    &["ps", "-n", "2", "--format", "{{.Names}}"],
    &["ps", "-l", "--format", "{{.Names}}"],
    &["ps", "-n", "3", "--filter", "status=exited", "--format", "{{.Names}}"],
    // Without -a, only running ones unless a status filter says otherwise.
    &["ps", "--filter", "label=a", "--format", "{{.Names}}"],
    &["ps", "--filter", "exited=3", "--format", "{{.Names}}"],
];

#[test]
fn ps_filters_and_sorts_as_podman_does() {
    require_root();
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let podman = Podman::beside(&env);
    let dir = env.path("bind");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.to_str().unwrap();
    make(&lenient(&env), dir);
    make(&|args: &[&str]| stdout(&podman.run(args, None)), dir);
    let mut differ = Vec::new();
    for q in QUERIES {
        let (b, p) = (env.ok(q), podman.ok(q));
        if b != p {
            differ.push(format!("{q:?}: berth {b:?}, podman {p:?}"));
        }
    }
    // A bind mount's source.
    let q = ["ps", "-a", "--filter", &format!("volume={dir}"), "--format", "{{.Names}}"];
    assert_eq!(env.ok(&q), podman.ok(&q));
    assert_eq!(env.ok(&q), "up\n");
    assert!(differ.is_empty(), "{} of {} differ:\n{}", differ.len(), QUERIES.len(), differ.join("\n"));
    // What berth lists, stated: the filters are not all empty on both sides.
    assert_eq!(
        env.ok(&["ps", "-a", "--filter", "label=a", "--filter", "label=b", "--format", "{{.Names}}"]),
        "three\n"
    );
    assert_eq!(
        env.ok(&["ps", "-a", "--filter", "name=e", "--filter", "name=up", "--format", "{{.Names}}"]),
        "up\nthree\nmade\nzero\n"
    );
    assert_eq!(env.ok(&["ps", "--filter", "status=stopped", "--format", "{{.Names}}"]), "three\nzero\n");
    assert_eq!(env.ok(&["ps", "-a", "--sort", "names", "--format", "{{.Names}}"]), "made\nthree\nup\nzero\n");

    // Errors: podman's words and exit codes.
    for args in [
        &["ps", "--filter", "foo=1"][..],
        &["ps", "--filter", "status=bogus"],
        &["ps", "-a", "--filter", "exited=abc"],
        &["ps", "-a", "--filter", "before=nothere"],
        &["ps", "--filter", "novalue"],
        &["ps", "--sort", "bogus"],
    ] {
        common::podman::same_failure(&env, &podman, args);
    }
}

#[test]
fn ps_size_counts_the_container_changes() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "--name", "writer", "bb", "sh", "-c", "printf 12345 > /f; mkdir /d; printf abc > /d/g"]);
    env.ok(&["create", "--name", "idle", "bb", "true"]);
    let rw = env.ok(&["inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "writer"]);
    let (rw, root) = rw.trim().split_once(' ').unwrap();
    assert_eq!(rw, "8");
    let root: u64 = root.parse().unwrap();
    // podman's SIZE column: the changes, then everything, 3 digits.
    let sizes = env.ok(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"]);
    let want_root = format!("{:.2}MB", root as f64 / 1e6);
    assert!(sizes.contains(&format!("writer 8B (virtual {})", want_root.trim_end_matches('0'))), "{sizes} / {root}");
    assert!(sizes.contains("idle 0B (virtual "), "{sizes}");
    // The table gets a SIZE column; JSON a Size object.
    let table = env.ok(&["ps", "-a", "-s"]);
    assert!(table.lines().next().unwrap().ends_with("NAMES       SIZE"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["ps", "-a", "-s", "--format", "json"])).unwrap();
    let writer = json.as_array().unwrap().iter().find(|c| c["Names"][0] == "writer").unwrap();
    assert_eq!(writer["Size"], serde_json::json!({"rootFsSize": root, "rwSize": 8}));
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["ps", "-a", "--format", "json"])).unwrap();
    assert_eq!(json[0]["Size"], serde_json::Value::Null);
    // Without --size, the template's Size is empty (podman logs an error).
    assert_eq!(env.ok(&["ps", "-a", "--filter", "name=writer", "--format", "[{{.Size}}]"]), "[]\n");
    // --sort size: smallest first.
    assert_eq!(env.ok(&["ps", "-a", "--sort", "size", "--format", "{{.Names}}"]), "idle\nwriter\n");
}
