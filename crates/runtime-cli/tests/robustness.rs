//! The runtime's own failures: a panic in a forked child, and commands on
//! one container racing each other from several processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// The line create's cleanup guard logs (at debug level) when it undoes a
/// failed create.
const CLEANUP_LINE: &str = "failed: removing its init, cgroup and state";

/// A panic in the container's init (the clone child of `create`) is reported
/// by the parent as one clean error; the parent cleans up exactly once (the
/// child's copy of the cleanup guard never runs) and the id is free again.
/// The panic point exists only in debug builds (`BERTH_RUNTIME_TEST_PANIC`).
#[test]
fn panic_in_init_is_contained() {
    let mut e = Env::new("panic-init");
    let cg = e.set_cgroups_path();
    e.write_config();
    let log = e.dir.path().join("debug.log");
    let o = run_capture(e.cmd().env("BERTH_RUNTIME_TEST_PANIC", "init").args([
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "create",
        "--bundle",
        e.bundle_str(),
        &e.id,
    ]));
    fails_with(&o, "panicked");
    assert!(stderr(&o).contains("deliberate panic at init"), "{}", stderr(&o));
    assert_clean(&e, &cg);
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.matches(CLEANUP_LINE).count(), 1, "cleanup must run once, in the parent:\n{log}");
    // The id can be used again, and works.
    ok(&e.create());
    ok(&e.rt(&["start", &e.id]));
    e.wait_status("stopped");
    ok(&e.rt(&["delete", &e.id]));
    assert_clean(&e, &cg);
}

/// The same for `exec`'s child: the exec fails cleanly, nothing of it stays
/// in the container, which keeps running.
#[test]
fn panic_in_exec_child_is_contained() {
    let mut e = Env::new("panic-exec");
    e.args(&["sleep", "30"]);
    e.start_running();
    let o = run_capture(e.cmd().env("BERTH_RUNTIME_TEST_PANIC", "exec").args(["exec", &e.id, "true"]));
    fails_with(&o, "panicked");
    assert!(stderr(&o).contains("deliberate panic at exec"), "{}", stderr(&o));
    assert_eq!(e.status(), "running");
    let pids: Vec<i32> = serde_json::from_str(&ok(&e.rt(&["ps", "--format", "json", &e.id]))).unwrap();
    assert_eq!(pids, vec![e.pid()], "only the init is left in the container");
    assert_eq!(ok(&e.rt(&["exec", &e.id, "echo", "still-works"])), "still-works\n");
}

/// `create` racing `delete --force`, `state` and `kill` on the same id from
/// other processes, at different moments of the create. Every outcome must
/// be either a clean failure that left nothing, or a consistent container
/// (its state readable, and `delete` then removes everything). Before
/// create held the container's lock, a delete mid-create removed the state
/// dir under it and left an init waiting forever, or a cgroup behind.
#[test]
fn create_racing_delete_state_and_kill() {
    let mut e = Env::new("race");
    e.args(&["sleep", "30"]);
    let cg = e.set_cgroups_path();
    e.write_config();
    let spawn = |args: &[&str]| {
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let child = e
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .unwrap();
        (child, err)
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..24u64 {
        let (mut create, create_err) = spawn(&["create", "--bundle", e.bundle_str(), &e.id]);
        // Land the others at different moments: before the state dir exists,
        // during setup, while the hooks... and after create returned.
        std::thread::sleep(std::time::Duration::from_millis((round * 7) % 60));
        let others: Vec<_> = [
            &["delete", "--force", e.id.as_str()][..],
            &["state", e.id.as_str()][..],
            &["kill", e.id.as_str(), "KILL"][..],
        ]
        .iter()
        .map(|a| spawn(a))
        .collect();
        let created = create.wait().unwrap().success();
        let create_err = read(create_err);
        if !created {
            assert_eq!(create_err.trim_end().lines().count(), 1, "round {round}: create's error: {create_err:?}");
        }
        for (mut c, _) in others {
            c.wait().unwrap();
        }
        let exists = e.root.join(&e.id).exists();
        if exists {
            // Whatever survived must be a consistent container.
            let st = e.rt(&["state", &e.id]);
            assert!(st.status.success(), "round {round}: state of a surviving container: {}", stderr(&st));
            ok(&e.rt(&["delete", "--force", &e.id]));
        }
        *outcomes.entry((created, exists)).or_insert(0) += 1;
        assert_clean(&e, &cg);
    }
    eprintln!("outcomes (create succeeded, container survived the race): {outcomes:?}");
}
