//! More of `run`/`create`'s flags, as podman has them, observed inside the
//! container or in what `stop` does: capabilities, a read-only root,
//! stop signal and timeout, env files, the cid file, annotations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn capabilities_and_a_read_only_root() {
    let (env, _) = Env::with_busybox();
    // podman's result for the same flags: only CAP_NET_ADMIN (bit 12).
    let out = env.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "all",
        "--cap-add",
        "net_admin",
        "bb",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out, "CapEff:\t0000000000001000\n");
    let out = env.ok(&["run", "--rm", "--cap-drop", "CAP_CHOWN", "bb", "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(out, "CapEff:\t00000000a80425fa\n", "Docker's defaults without CAP_CHOWN (bit 0)");
    assert_eq!(
        env.fails(&["run", "--rm", "--cap-add", "foo", "bb", "true"], 125),
        "Error: \"CAP_FOO\": unknown capability\n"
    );
    // --read-only: the root refuses writes; /tmp, /var/tmp and /run are tmpfs.
    let o = env.run(&[
        "run",
        "--rm",
        "--read-only",
        "bb",
        "sh",
        "-c",
        "touch /x; touch /tmp/y && echo tmp-ok; grep -c ' / overlay ro' /proc/mounts",
    ]);
    assert_eq!(stdout(&o), "tmp-ok\n1\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn stop_signal_and_timeout() {
    let (env, _) = Env::with_busybox();
    // The container ends on USR1 only: stop sends it, not SIGTERM.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "USR1",
        "bb",
        "sh",
        "-c",
        "trap 'exit 4' USR1; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["stop", "usr1"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.ExitCode}} {{.Config.StopSignal}}", "usr1"]), "4 10\n");
    // --stop-timeout: what stop waits before SIGKILL when not told (-t).
    env.ok(&["run", "-d", "--name", "slow", "--stop-timeout", "1", "bb", "sleep", "100"]);
    let t = Instant::now();
    env.ok(&["stop", "slow"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(env.ok(&["inspect", "--format", "{{.Config.StopTimeout}}", "slow"]), "1\n");
    assert_eq!(env.fails(&["create", "--stop-signal", "bogus", "bb", "true"], 125), "Error: invalid signal: bogus\n");
    env.ok(&["rm", "-a", "-f", "-t", "0"]);
}

#[test]
fn env_files_cid_files_and_annotations() {
    let (env, _) = Env::with_busybox();
    let file = env.path("vars.env");
    std::fs::write(&file, "# a comment\nFOO=from-file\n\n  BAR=kept\n").unwrap();
    let out = env.ok(&[
        "run",
        "--rm",
        "--env-file",
        file.to_str().unwrap(),
        "-e",
        "FOO=from-flag",
        "bb",
        "sh",
        "-c",
        "echo $FOO $BAR",
    ]);
    assert_eq!(out, "from-flag kept\n");
    let missing = env.path("nope.env");
    let e = env.fails(&["run", "--rm", "--env-file", missing.to_str().unwrap(), "bb", "true"], 125);
    assert!(e.contains("nope.env"), "{e}");

    let cid = env.path("cid");
    let id = env.ok(&["create", "--cidfile", cid.to_str().unwrap(), "--annotation", "org.example/k=v", "bb", "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let config = std::fs::read_to_string(env.root.join("container-data").join(id.trim()).join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["annotations"]["org.example/k"], "v");
    // The file exists: podman's refusal, before anything is made.
    let e = env.fails(&["create", "--cidfile", cid.to_str().unwrap(), "bb", "true"], 125);
    assert_eq!(
        e,
        format!(
            "Error: container id file exists. Ensure another container is not using it or delete {}\n",
            cid.display()
        )
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    env.ok(&["rm", "-a"]);
}
