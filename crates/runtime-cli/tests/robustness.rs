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
