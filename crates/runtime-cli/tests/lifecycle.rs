//! create / start / state / kill / delete / run, as runc has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn run_prints_and_returns_exit_code() {
    let mut e = Env::new("run");
    e.sh("echo hello; exit 7");
    let o = e.run();
    assert_eq!(o.status.code(), Some(7), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "hello\n");
    // run (without --keep) removes the container afterwards.
    assert!(!e.root.join(&e.id).exists());
}

#[test]
fn create_start_state_delete() {
    let mut e = Env::new("life");
    e.args(&["sleep", "30"]);
    ok(&e.create());
    let st = e.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], e.id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    ok(&e.rt(&["start", &e.id]));
    assert_eq!(e.status(), "running");
    // A second start is an error and changes nothing.
    fails_with(&e.rt(&["start", &e.id]), "already been started");
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    for _ in 0..200 {
        if e.status() == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(e.status(), "stopped");
    ok(&e.rt(&["delete", &e.id]));
    fails_with(&e.rt(&["state", &e.id]), "does not exist");
}
