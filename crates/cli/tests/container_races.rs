//! Several berth processes acting on the same containers at once (security
//! defect 5): every state transition happens under the container's lock and
//! records are updated compare-and-swap, so a `ps` refreshing a container
//! never writes a stale state over the exit code its `run` just saved, and an
//! `rm` racing a `create` either removes all of the container or none of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;

/// `ps -a` as name -> (state, exit code).
fn ps(env: &Env) -> HashMap<String, (String, String)> {
    let list: Vec<serde_json::Value> = serde_json::from_str(&env.ok(&["ps", "-a", "--format", "json"])).unwrap();
    list.iter()
        .map(|c| {
            let name = c["Names"][0].as_str().unwrap().to_string();
            (name, (c["State"].as_str().unwrap().to_string(), c["ExitCode"].to_string()))
        })
        .collect()
}

#[test]
fn exit_codes_survive_concurrent_ps_and_rm() {
    const RUNNERS: usize = 3;
    const RUNS: usize = 12;
    const VICTIMS: usize = 12;
    let env = Arc::new(Env::with_busybox().0);
    let done = Arc::new(AtomicBool::new(false));

    // Processes refreshing every record as fast as they can.
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let (env, done) = (env.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    let o = env.run(&["ps", "-a"]);
                    assert!(o.status.success(), "ps: {}", stderr(&o));
                    n += 1;
                }
                n
            })
        })
        .collect();

    // Runs whose containers exit at once, each with its own code.
    let runners: Vec<_> = (0..RUNNERS)
        .map(|r| {
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..RUNS {
                    let name = format!("run{r}_{i}");
                    let code = 1 + r * RUNS + i;
                    let o = env.run(&["run", "--name", &name, "bb", "sh", "-c", &format!("exit {code}")]);
                    assert_eq!(o.status.code(), Some(code as i32), "{name}: {}", stderr(&o));
                }
            })
        })
        .collect();

    // create and rm of the same name started together: rm waits for the
    // create, or finds nothing; never half a container.
    let mut raced = Vec::new();
    for v in 0..VICTIMS {
        let name = format!("victim{v}");
        let spawn = |args: &[&str]| env.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let create = spawn(&["create", "--name", &name, "bb", "true"]);
        let rm = spawn(&["rm", &name]);
        let (create, rm) = (create.wait_with_output().unwrap(), rm.wait_with_output().unwrap());
        assert!(create.status.success(), "create {name}: {}", stderr(&create));
        match rm.status.code() {
            Some(0) => assert_eq!(stdout(&rm), format!("{name}\n")),
            Some(1) => assert!(stderr(&rm).contains("no container with name or ID"), "{}", stderr(&rm)),
            other => panic!("rm {name}: {other:?} {}", stderr(&rm)),
        }
        raced.push((name, rm.status.success()));
    }

    for r in runners {
        r.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let polls: usize = pollers.into_iter().map(|p| p.join().unwrap()).sum();
    assert!(polls > 10, "the pollers hardly ran ({polls})");

    let all = ps(&env);
    for r in 0..RUNNERS {
        for i in 0..RUNS {
            let name = format!("run{r}_{i}");
            let want = (String::from("exited"), (1 + r * RUNS + i).to_string());
            assert_eq!(all.get(&name), Some(&want), "{name}");
        }
    }
    for (name, removed) in &raced {
        if *removed {
            assert_eq!(all.get(name), None, "{name} was removed");
        } else {
            assert_eq!(all.get(name), Some(&("created".into(), "0".into())), "{name} must be whole");
        }
    }
    // Every record has its root filesystem and bundle, and nothing else is there.
    let count = |d: &str| std::fs::read_dir(env.root.join(d)).map(|r| r.count()).unwrap_or(0);
    assert_eq!(count("overlay/containers"), all.len());
    assert_eq!(count("container-data"), all.len());
    for id in env.ok(&["ps", "-a", "-q", "--no-trunc"]).lines() {
        assert!(env.root.join("container-data").join(id).join("config.json").is_file(), "{id}: no config.json");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root.to_str().unwrap()), "still mounted: {mounts}");
}

/// A running container is removed only with -f, however many try at once;
/// its `run` then reports the kill, and the record is gone for good.
#[test]
fn rm_races_a_running_container() {
    let env = Arc::new(Env::with_busybox().0);
    let mut run = env
        .cmd(&["run", "--name", "busy", "bb", "sh", "-c", "echo up; sleep 1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(run.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line, "up\n");
    let plain: Vec<_> = (0..3).map(|_| env.cmd(&["rm", "busy"]).output().unwrap()).collect();
    for o in &plain {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    }
    let forced: Vec<_> = (0..4)
        .map(|_| {
            env.cmd(&["rm", "-f", "-t", "0", "busy"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let codes: Vec<Option<i32>> = forced.into_iter().map(|c| c.wait_with_output().unwrap().status.code()).collect();
    // One removes it; the others find nothing (podman's rm -f ignores that).
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}");
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    let count = |d: &str| std::fs::read_dir(env.root.join(d)).map(|r| r.count()).unwrap_or(0);
    assert_eq!((count("overlay/containers"), count("container-data")), (0, 0));
}

/// A container's monitor killed after the runtime made the container and
/// before it started it: the created container waits on, and the lock on
/// the container must not wait with it. (The init is a fork of the monitor
/// and an flock belongs to the open file: its copy of the lock fd would
/// hold the lock until the container started, which now it never does, so
/// `rm -f` of that container would wait forever.) The monitor is held at
/// that point by a sqlite3 that takes the database's write lock as soon as
/// the runtime starts making the container: its next write, recording
/// "running", waits for it, and it is killed there. berth, waiting for the
/// monitor's word, reports the failure.
#[test]
fn a_monitor_killed_between_create_and_start_leaves_its_lock_free() {
    use std::io::{BufRead as _, Write as _};
    use std::time::{Duration, Instant};
    let (env, _) = Env::with_busybox();
    let db = env.root.join("containers.db");
    let runtime_root = env.runroot.join("runtime");
    let entries = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    for attempt in 0..5 {
        let mut sql = std::process::Command::new("sqlite3")
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests need the sqlite3 command line (apt-get install sqlite3)");
        let before = entries(&runtime_root);
        let name = format!("killed{attempt}");
        let mut berth = env.cmd(&["run", "--name", &name, "bb", "sleep", "60"]);
        let mut berth = berth.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            if let Some(id) = entries(&runtime_root).into_iter().find(|e| !before.contains(e) && !e.starts_with('.')) {
                break id;
            }
            assert!(Instant::now() < deadline, "the runtime never started making the container");
        };
        let mut sql_in = sql.stdin.take().unwrap();
        sql_in.write_all(b"BEGIN IMMEDIATE;\nSELECT 'locked';\n").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(sql.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        // Created: the init has reported and waits on its exec fifo.
        let state = runtime_root.join(&id).join("state.json");
        let created = || {
            std::fs::read(&state)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["pid"].as_i64().unwrap_or(0) > 0)
        };
        while !created() {
            assert!(Instant::now() < deadline, "the container was never created");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The monitor (the init's parent) is now at its write of "running",
        // waiting for sqlite3: kill it there.
        std::thread::sleep(Duration::from_millis(300));
        let init: i32 = std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["pid"].as_i64())
            .unwrap() as i32;
        let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
        let monitor: i32 = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).unwrap().parse().unwrap();
        rustix::process::kill_process(rustix::process::Pid::from_raw(monitor).unwrap(), rustix::process::Signal::KILL)
            .unwrap();
        sql_in.write_all(b"COMMIT;\n").unwrap();
        drop(sql_in);
        sql.wait().unwrap();
        // berth saw its monitor die before the start: one error, exit 125.
        let status = berth.wait().unwrap();
        let started = std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["started"] == true);
        if started {
            // The monitor got past its write before sqlite3 took the lock: try again.
            env.ok(&["rm", "-f", &name]);
            continue;
        }
        assert_eq!(status.code(), Some(125));
        let lock = env.runroot.join("locks").join(&id);
        let free = std::process::Command::new("flock").args(["-n", "-x"]).arg(&lock).arg("true").status().unwrap();
        // rm -f, with a deadline: with the lock held it waited forever.
        let mut rm = env.cmd(&["rm", "-f", &name]);
        let mut rm = rm.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let rm_deadline = Instant::now() + Duration::from_secs(20);
        while rm.try_wait().unwrap().is_none() && Instant::now() < rm_deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let rm_done = rm.try_wait().unwrap();
        if rm_done.is_none() {
            let _ = rm.kill();
            // Leave nothing running: the init, by the pid the runtime recorded.
            let pid = std::fs::read(&state)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["pid"].as_i64())
                .and_then(|p| rustix::process::Pid::from_raw(p as i32));
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        assert!(free.success(), "the lock of container {id} is still held after its monitor was killed");
        assert!(rm_done.is_some_and(|s| s.success()), "rm -f did not finish");
        assert!(!runtime_root.join(&id).exists(), "rm -f left the runtime's state");
        return;
    }
    panic!("in 5 attempts the monitor never stopped between the runtime's create and start");
}

/// `create` racing `rmi` (and `image prune -a -f`) of its image: either the
/// image stays and every container made from it is listed, or the image
/// went and no container was recorded for it. Never a container whose image
/// is gone.
#[test]
fn create_racing_rmi_never_leaves_a_container_without_its_image() {
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let (env, id) = Env::with_busybox();
        let spawn = |args: &[&str]| env.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let creates: Vec<_> =
            (0..3).map(|i| spawn(&["create", "--pull=never", "--name", &format!("c{i}"), "bb", "true"])).collect();
        let remover = if round % 2 == 0 { spawn(&["rmi", "bb"]) } else { spawn(&["image", "prune", "-a", "-f"]) };
        let created: Vec<_> = creates.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let removed = remover.wait_with_output().unwrap();
        let image_left = env.run(&["image", "exists", &id]).status.success();
        let containers = env.ok(&["ps", "-a", "-q", "--no-trunc"]);
        let made = created.iter().filter(|o| o.status.success()).count();
        for o in created.iter().filter(|o| !o.status.success()) {
            assert!(stderr(o).contains("image not known"), "round {round}: create failed otherwise: {}", stderr(o));
        }
        assert_eq!(containers.lines().count(), made, "round {round}: every successful create is listed");
        if made > 0 {
            assert!(image_left, "round {round}: {made} containers but their image is gone ({})", stderr(&removed));
        }
        if !image_left {
            assert!(removed.status.success(), "round {round}: {}", stderr(&removed));
        }
    }
}

/// The first use of a store by several processes at once: each one sets the
/// container database up (WAL, table) and none may fail with "database is
/// locked" (SQLite's busy handler does not cover that set-up).
#[test]
fn concurrent_first_uses_of_the_database_all_succeed() {
    require_root();
    for round in 0..10 {
        let env = Env::new();
        let ps: Vec<_> = (0..6)
            .map(|_| env.cmd(&["ps", "-a"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
            .collect();
        for p in ps {
            let o = p.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
    }
}
