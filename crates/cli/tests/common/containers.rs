//! Helpers for tests that run containers: cleaning up after them, finding
//! their processes on the host, waiting for what they do.

use std::time::{Duration, Instant};

use super::Env;

/// Removes every container of `env` when the test ends, failed or not (a
/// leftover `sleep 100` would outlive the test), then waits for the
/// berth processes still working on its store (monitors recording the
/// exits, exec keepers) to end, so none writes there once it is gone.
pub struct Cleanup<'a>(pub &'a Env);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        end_everything(self.0);
    }
}

/// Remove every container of `env`, then wait (10 s at most) for the berth
/// processes still working on its store to end.
pub fn end_everything(env: &Env) {
    let _ = env.run(&["rm", "-a", "-f", "-t", "0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store_in_use(env) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process works on `env`'s store: one whose command line names
/// its root (berth, a monitor, an exec keeper).
pub fn store_in_use(env: &Env) -> bool {
    a_process_names(&env.root.to_string_lossy())
}

/// Whether some process's command line contains `text`.
pub fn a_process_names(text: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(text)))
}

/// Host pids whose command line is exactly `args`.
pub fn host_pids(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want) {
            out.push(pid);
        }
    }
    out
}

/// Host pids of the monitors of `env`'s store: berth run again as
/// `berth container-monitor --root ROOT --runroot RUNROOT ...`, whether
/// handed a container yet or not.
pub fn monitor_pids(env: &Env) -> Vec<i32> {
    let (root, runroot) = (env.root.to_str().unwrap(), env.runroot.to_str().unwrap());
    let head = ["berth", "container-monitor", "--root", root, "--runroot", runroot];
    let want: Vec<u8> = head.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(&want)) {
            out.push(pid);
        }
    }
    out
}

/// Wait (bounded) until `cond` holds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
