//! `berth system boot` after a simulated reboot, run for real as root: the
//! monitors and containers killed with SIGKILL, what they had mounted
//! under the test's root and runroot unmounted, the runroot removed (a
//! tmpfs does not survive a reboot). Listing still works and shows them
//! not running; boot brings back the `always` container and the
//! `unless-stopped` one no user stopped, and only those, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::containers::{eventually, monitor_pids, Cleanup};
use common::*;

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

/// The container's init pid (`ps --format {{.Pid}}`), 0 when not running.
fn pid_of(env: &Env, name: &str) -> i32 {
    let rows = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Pid}}"]);
    rows.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map(|p| p.trim().parse().unwrap()).unwrap_or(0)
}

fn kill9(pid: i32) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL);
}

fn gone(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// What a reboot does to berth's state: every process gone at once (the
/// monitors first, so none restarts its container), every mount gone, and
/// with `tmpfs`, the runroot emptied (else it stays, stale, as on a disk).
fn simulate_reboot(env: &Env, running: &[&str], tmpfs: bool) {
    let inits: Vec<i32> = running.iter().map(|n| pid_of(env, n)).collect();
    assert!(inits.iter().all(|p| *p > 0), "{inits:?}");
    let monitors = monitor_pids(env);
    assert_eq!(monitors.len(), running.len(), "one monitor per running container");
    for pid in monitors.iter().chain(&inits) {
        kill9(*pid);
    }
    for pid in monitors.iter().chain(&inits) {
        eventually("a killed process to go", || gone(*pid));
    }
    let mut points = mount_points_starting(&format!("{}/", env.dir.path().display()));
    assert!(!points.is_empty(), "the containers' root filesystems were mounted");
    points.sort_unstable_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH).unwrap();
    }
    if tmpfs {
        std::fs::remove_dir_all(&env.runroot).unwrap();
    }
}

#[test]
fn boot_brings_back_always_containers_after_a_reboot() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "once", "--restart", "no", "bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", "bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "stopped", "--restart", "unless-stopped", "bb", "sleep", "1000"]);
    env.ok(&["stop", "-t", "0", "stopped"]);
    let before = pid_of(&env, "keeper");

    simulate_reboot(&env, &["keeper", "once", "unless"], true);

    // Listing works on the emptied runroot, and nothing runs.
    for name in ["keeper", "once", "unless", "stopped"] {
        assert!(status(&env, name).starts_with("Exited"), "{name}: {}", status(&env, name));
    }
    assert_eq!(env.ok(&["ps", "-q"]), "");

    let o = env.run(&["system", "boot"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut started: Vec<&str> = out.lines().collect();
    started.sort_unstable();
    assert_eq!(started, ["keeper", "unless"], "{out}");
    for name in ["keeper", "unless"] {
        assert!(status(&env, name).starts_with("Up "), "{name}: {}", status(&env, name));
    }
    for name in ["once", "stopped"] {
        assert!(status(&env, name).starts_with("Exited"), "{name}: {}", status(&env, name));
    }
    // It really runs again: a new init, which exec joins.
    let after = pid_of(&env, "keeper");
    assert!(after > 0 && after != before, "{before} -> {after}");
    assert_eq!(env.ok(&["exec", "keeper", "echo", "back"]), "back\n");

    // Twice: nothing started twice, nothing restarted.
    let o = env.run(&["system", "boot"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()), "{}", stderr(&o));
    assert_eq!(pid_of(&env, "keeper"), after);
    assert_eq!(monitor_pids(&env).len(), 2, "one monitor each for keeper and unless");

    // Two boots at once start nothing either.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut c = env.cmd(&["system", "boot"]);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()), "{}", stderr(&o));
    }
    assert_eq!(pid_of(&env, "keeper"), after);
}

/// Boot on a host that did not reboot (a runroot on disk, or run by hand):
/// running containers are left alone, and a stopped `always` container is
/// started (docker's rule: only `unless-stopped` honours a user's stop).
#[test]
fn boot_without_a_reboot_leaves_running_containers_alone() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "up", "--restart", "always", "bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "down", "--restart", "always", "bb", "sleep", "1000"]);
    env.ok(&["stop", "-t", "0", "down"]);
    // A user's mount of a stopped container stays mounted.
    env.ok(&["create", "--name", "mounted", "bb", "true"]);
    let at = env.ok(&["mount", "mounted"]);
    let up = pid_of(&env, "up");
    assert_eq!(env.ok(&["system", "boot"]), "down\n");
    assert_eq!(pid_of(&env, "up"), up);
    assert!(status(&env, "down").starts_with("Up "), "{}", status(&env, "down"));
    assert!(mount_points_starting(at.trim()).iter().any(|p| p == at.trim()), "{at}");
    env.ok(&["umount", "mounted"]);
}

/// At boot on a host that never used berth: nothing to do, and no store
/// made for it.
#[test]
fn boot_without_a_store_makes_none() {
    let env = Env::new();
    assert_eq!(env.ok(&["system", "boot"]), "");
    assert!(!env.root.exists() && !env.runroot.exists());
}

/// A runroot on disk survives the reboot, stale: boot cleans what the dead
/// runs left there (the runtime's state, the monitors' attach sockets) for
/// the containers it does not start, and starts the others over it.
#[test]
fn boot_cleans_a_stale_runroot() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "1000"]);
    let once = env.ok(&["run", "-d", "--name", "once", "bb", "sleep", "1000"]).trim().to_string();
    let left = [env.runroot.join("runtime").join(&once), env.runroot.join("attach").join(&once)];
    for path in &left {
        assert!(path.exists(), "{} while it runs", path.display());
    }
    simulate_reboot(&env, &["keeper", "once"], false);
    for path in &left {
        assert!(path.exists(), "{} left by the reboot", path.display());
    }
    assert_eq!(env.ok(&["system", "boot"]), "keeper\n");
    for path in &left {
        assert!(!path.exists(), "{} still there after boot", path.display());
    }
    assert!(status(&env, "keeper").starts_with("Up "), "{}", status(&env, "keeper"));
    assert_eq!(env.ok(&["exec", "keeper", "echo", "back"]), "back\n");
    assert!(status(&env, "once").starts_with("Exited"), "{}", status(&env, "once"));
    // And it starts as any stopped container does.
    env.ok(&["start", "once"]);
    assert!(status(&env, "once").starts_with("Up "), "{}", status(&env, "once"));
}

/// A container that cannot start any more is reported (exit 125, podman's
/// `start` words), and does not keep the others from starting.
#[test]
fn boot_reports_what_cannot_start() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let data = env.path("data");
    std::fs::create_dir(&data).unwrap();
    let bind = format!("{}:/data", data.display());
    env.ok(&["run", "-d", "--name", "broken", "--restart", "always", "-v", &bind, "bb", "sleep", "1000"]);
    env.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "1000"]);
    simulate_reboot(&env, &["broken", "keeper"], true);
    std::fs::remove_dir(&data).unwrap();
    let o = env.run(&["system", "boot"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(125), "keeper\n".to_string()), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("Error: unable to start container \"broken\": "), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(status(&env, "keeper").starts_with("Up "), "{}", status(&env, "keeper"));
    assert!(status(&env, "broken").starts_with("Exited"), "{}", status(&env, "broken"));
}

/// A container on a network comes back on it: a reboot takes the bridge,
/// its firewall rules, the veths and the address records (all runtime
/// state: `network_run_dir` is on a tmpfs too); boot makes them again, and
/// the container has its address, reaches its gateway, and is reached.
#[test]
fn boot_brings_back_a_container_on_its_network() {
    require_root();
    let (env, _) = Env::with_busybox();
    let env = env.in_own_netns();
    let _cleanup = Cleanup(&env);
    env.ok(&["network", "create", "--subnet", "10.124.0.0/24", "lan"]);
    env.ok(&["run", "-d", "--name", "web", "--restart", "always", "--network", "lan", "bb", "sleep", "1000"]);
    let address = || env.ok(&["inspect", "--format", "{{(index .NetworkSettings.Networks \"lan\").IPAddress}}", "web"]);
    assert_eq!(address(), "10.124.0.2\n");

    simulate_reboot(&env, &["web"], true);
    // The rest of what a reboot takes: the namespace's bridges and rules,
    // and the address records.
    let host = |args: &[&str]| {
        let o = env.host_cmd(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let links: serde_json::Value =
        serde_json::from_str(&host(&["ip", "-j", "link", "show", "type", "bridge"])).unwrap();
    for l in links.as_array().unwrap() {
        host(&["ip", "link", "delete", l["ifname"].as_str().unwrap()]);
    }
    host(&["nft", "flush", "ruleset"]);
    std::fs::remove_dir_all(env.network_run_dir()).unwrap();

    assert_eq!(env.ok(&["system", "boot"]), "web\n");
    assert_eq!(address(), "10.124.0.2\n");
    let inside = env.ok(&["exec", "web", "sh", "-c", "ip -4 addr show eth0; ping -c 1 -W 2 10.124.0.1"]);
    assert!(inside.contains("inet 10.124.0.2/24"), "{inside}");
    host(&["busybox", "ping", "-c", "1", "-W", "2", "10.124.0.2"]);
}
