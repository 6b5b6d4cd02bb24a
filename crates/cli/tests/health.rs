//! Healthchecks without systemd, run for real as root: the monitor runs the
//! check on its interval (podman 4.3 needs systemd timers for that), `ps`
//! and `inspect` show what it recorded in podman's shapes, and `healthcheck
//! run` runs it now with podman's exit codes and messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::containers::{eventually, host_pids, Cleanup};
use common::*;
use serde_json::{json, Value};

fn health(env: &Env, name: &str) -> Value {
    serde_json::from_str(&env.ok(&["inspect", name, "--format", "{{json .State.Health}}"])).unwrap()
}

fn config_healthcheck(env: &Env, name: &str) -> Value {
    serde_json::from_str(&env.ok(&["inspect", name, "--format", "{{json .Config.Healthcheck}}"])).unwrap()
}

fn status(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .unwrap_or_default()
}

/// `run -d --name NAME --health-cmd CHECK FLAGS... bb COMMAND...`.
fn checked<'a>(name: &'a str, check: &'a str, flags: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "-d", "--name", name, "--health-cmd", check];
    args.extend(flags);
    args.push("bb");
    args.extend(command);
    args
}

fn inspect(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["inspect", name, "--format", template]).trim().to_string()
}

/// The processes whose parent is `pid`, with their state letter (`Z`:
/// a zombie nobody reaped).
fn children(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let mut f = after.split(' ');
        let state = f.next().unwrap().chars().next().unwrap();
        if f.next().unwrap().parse::<i32>().unwrap() == pid {
            out.push((p, state));
        }
    }
    out
}

#[test]
fn a_passing_check_on_an_interval_makes_it_healthy_and_keeps_the_last_five_results() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&checked("ok", "echo fine; echo twice", &["--health-interval", "1s"], &["sleep", "100"]));
    // podman's Config.Healthcheck: durations in ns, the zero start period left out.
    assert_eq!(
        config_healthcheck(&env, "ok"),
        json!({"Test": ["CMD-SHELL", "echo fine; echo twice"], "Interval": 1_000_000_000u64, "Timeout": 30_000_000_000u64, "Retries": 3})
    );
    eventually("healthy", || health(&env, "ok")["Status"] == "healthy");
    let h = health(&env, "ok");
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\ntwice");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    assert!(status(&env, "ok").ends_with(" (healthy)"), "{}", status(&env, "ok"));
    // Checks go on every second; only the last five stay.
    let started = Instant::now();
    eventually("a sixth check", || {
        let log = health(&env, "ok")["Log"].as_array().unwrap().clone();
        log.len() == 5 && started.elapsed() > Duration::from_secs(3)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let log = health(&env, "ok")["Log"].as_array().unwrap().clone();
    assert_eq!(log.len(), 5);
    let starts: Vec<&str> = log.iter().map(|l| l["Start"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    // Removed, nothing of its health stays in the runroot (not even from a
    // check that was running then).
    env.ok(&["rm", "-f", "-t", "0", "ok"]);
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<_> =
        std::fs::read_dir(env.runroot.join("health")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_failing_check_makes_it_unhealthy_after_its_retries() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&checked(
        "bad",
        "echo broken; exit 3",
        &["--health-interval", "1s", "--health-retries", "2"],
        &["sleep", "100"],
    ));
    eventually("unhealthy", || health(&env, "bad")["Status"] == "unhealthy");
    let h = health(&env, "bad");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    for l in h["Log"].as_array().unwrap() {
        // podman records 1 for any failure, whatever the command's code.
        assert_eq!((l["ExitCode"].clone(), l["Output"].clone()), (json!(1), json!("broken")));
    }
    assert!(status(&env, "bad").ends_with(" (unhealthy)"), "{}", status(&env, "bad"));
    // The streak goes on counting.
    let streak = h["FailingStreak"].as_u64().unwrap();
    eventually("another failure", || health(&env, "bad")["FailingStreak"].as_u64().unwrap() > streak);
}

#[test]
fn healthcheck_run_counts_the_streak_and_a_success_resets_it() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // No timer: only `healthcheck run` checks it.
    env.ok(&checked(
        "hc",
        "test -e /tmp/ok",
        &["--health-interval", "disable", "--health-retries", "2"],
        &["sleep", "100"],
    ));
    assert_eq!(health(&env, "hc"), json!({"Status": "starting", "FailingStreak": 0, "Log": null}));
    assert!(status(&env, "hc").ends_with(" (starting)"), "{}", status(&env, "hc"));
    // podman: a failed check prints "unhealthy" and exits 1 (whatever the status).
    let o = env.run(&["healthcheck", "run", "hc"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(1), "unhealthy\n"), "{}", stderr(&o));
    let h = health(&env, "hc");
    assert_eq!((h["Status"].as_str(), h["FailingStreak"].as_u64()), (Some("starting"), Some(1)));
    assert_eq!(env.run(&["healthcheck", "run", "hc"]).status.code(), Some(1));
    let h = health(&env, "hc");
    assert_eq!((h["Status"].as_str(), h["FailingStreak"].as_u64()), (Some("unhealthy"), Some(2)));
    // ps --filter health= sees it; a container without a check matches no status.
    env.ok(&["run", "-d", "--name", "plain", "bb", "sleep", "100"]);
    let by_health = |word: &str| env.ok(&["ps", "-a", "--filter", &format!("health={word}"), "--format", "{{.Names}}"]);
    assert_eq!(by_health("unhealthy"), "hc\n");
    assert_eq!(
        (by_health("healthy"), by_health("none"), by_health("bogus")),
        (String::new(), String::new(), String::new())
    );
    env.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert_eq!(env.ok(&["healthcheck", "run", "hc"]), "");
    let h = health(&env, "hc");
    assert_eq!((h["Status"].as_str(), h["FailingStreak"].as_u64()), (Some("healthy"), Some(0)));
    assert_eq!(h["Log"].as_array().unwrap().len(), 3);
    assert_eq!(by_health("healthy"), "hc\n");
    // A restart starts over (podman's `starting`), the log kept.
    env.ok(&["restart", "-t", "0", "hc"]);
    let h = health(&env, "hc");
    assert_eq!((h["Status"].as_str(), h["Log"].as_array().unwrap().len()), (Some("starting"), 3));
}

#[test]
fn a_check_past_its_timeout_is_killed_with_its_children() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&checked(
        "slow",
        "echo before; sleep 51; echo after",
        &["--health-timeout", "1s", "--health-interval", "disable"],
        &["sleep", "100"],
    ));
    let t = Instant::now();
    let e = env.fails(&["healthcheck", "run", "slow"], 125);
    assert_eq!(e, "Error: healthcheck command exceeded timeout of 1s\n");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    let last = health(&env, "slow")["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["ExitCode"].clone(), last["Output"].clone()), (json!(-1), json!("before")));
    // The shell and the sleep it started are gone, not left in the container.
    eventually("the check's sleep killed", || host_pids(&["sleep", "51"]).is_empty());
    assert_eq!(health(&env, "slow")["FailingStreak"], 1);
}

#[test]
fn the_monitor_kills_slow_checks_and_leaves_no_zombies() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&checked("z", "sleep 52", &["--health-timeout", "1s", "--health-interval", "1s"], &["sleep", "100"]));
    let monitor: i32 = inspect(&env, "z", "{{.State.ConmonPid}}").parse().unwrap();
    let init: i32 = inspect(&env, "z", "{{.State.Pid}}").parse().unwrap();
    eventually("two timed-out checks", || {
        health(&env, "z")["Log"].as_array().is_some_and(|l| l.len() >= 2 && l.iter().all(|e| e["ExitCode"] == -1))
    });
    // Between checks the monitor's only child is the container's init: every
    // checker was reaped, and no check's process is left anywhere.
    eventually("no checker running", || children(monitor) == [(init, 'S')]);
    assert!(host_pids(&["sleep", "52"]).len() <= 1, "checks pile up: {:?}", host_pids(&["sleep", "52"]));
    // Stopped, nothing of its checks outlives it.
    env.ok(&["stop", "-t", "0", "z"]);
    eventually("no check left", || host_pids(&["sleep", "52"]).is_empty());
    assert!(
        status(&env, "z").starts_with("Exited (137) ") && !status(&env, "z").ends_with(')'),
        "{}",
        status(&env, "z")
    );
}

/// A checker that hangs (made to, in a debug build) is killed by the
/// monitor once the check's timeout and 10 s of grace have passed, and the
/// next check starts an interval later: the container goes on.
#[test]
fn the_monitor_kills_a_hung_checker_after_its_grace() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let run = checked("hung", "true", &["--health-timeout", "1s", "--health-interval", "1s"], &["sleep", "100"]);
    let o = env.cmd(&run).env("BERTH_TEST_HANG_CHECKER", "1").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let monitor: i32 = inspect(&env, "hung", "{{.State.ConmonPid}}").parse().unwrap();
    let init: i32 = inspect(&env, "hung", "{{.State.Pid}}").parse().unwrap();
    let checkers = || children(monitor).into_iter().filter(|(p, _)| *p != init).map(|(p, _)| p).collect::<Vec<_>>();
    eventually("a checker", || checkers().len() == 1);
    let first = checkers()[0];
    let since = Instant::now();
    // Past the timeout it is left alone for the grace...
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(checkers(), [first], "killed before its grace was over");
    // ...then killed (11 s after it started), and another comes.
    eventually("the hung checker killed", || !checkers().contains(&first));
    assert!(since.elapsed() < Duration::from_secs(12), "killed only after {:?}", since.elapsed());
    eventually("the next checker", || checkers().len() == 1);
    assert!(status(&env, "hung").starts_with("Up "), "{}", status(&env, "hung"));
}

#[test]
fn the_images_healthcheck_runs_unless_no_healthcheck_or_health_cmd() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let archive = env.path("hc.tar");
    let hc = json!({"Test": ["CMD-SHELL", "echo from-image"], "Interval": 1_000_000_000u64});
    let config = json!({"Cmd": ["sleep", "100"], "Env": ["PATH=/bin"], "Healthcheck": hc});
    write_oci_archive_config(&archive, Some("localhost/hc:latest"), &[busybox_layer()], config);
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);

    // The image's, with podman's defaults for what it leaves out.
    env.ok(&["run", "-d", "--name", "img", "localhost/hc"]);
    assert_eq!(
        config_healthcheck(&env, "img"),
        json!({"Test": ["CMD-SHELL", "echo from-image"], "Interval": 1_000_000_000u64, "Timeout": 30_000_000_000u64, "Retries": 3})
    );
    eventually("healthy from the image's check", || health(&env, "img")["Status"] == "healthy");
    assert_eq!(health(&env, "img")["Log"][0]["Output"], "from-image");

    // --no-healthcheck: podman's {"Test": ["NONE"]}; nothing runs.
    env.ok(&["run", "-d", "--name", "none", "--no-healthcheck", "localhost/hc"]);
    assert_eq!(config_healthcheck(&env, "none"), json!({"Test": ["NONE"]}));
    let id = inspect(&env, "none", "{{.Id}}");
    let e = env.fails(&["healthcheck", "run", "none"], 125);
    assert_eq!(e, format!("Error: container {id} has no defined healthcheck\n"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(health(&env, "none"), json!({"Status": "", "FailingStreak": 0, "Log": null}));
    assert!(status(&env, "none").starts_with("Up ") && !status(&env, "none").contains('('));

    // --health-cmd replaces it.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "mine",
        "--health-cmd",
        "echo mine",
        "--health-interval",
        "disable",
        "localhost/hc",
    ]);
    env.ok(&["healthcheck", "run", "mine"]);
    assert_eq!(health(&env, "mine")["Log"][0]["Output"], "mine");

    // A JSON array is the command as is.
    env.ok(&checked("arr", r#"["CMD","echo","a  b"]"#, &["--health-interval", "disable"], &["sleep", "100"]));
    assert_eq!(config_healthcheck(&env, "arr")["Test"], json!(["CMD", "echo", "a  b"]));
    env.ok(&["healthcheck", "run", "arr"]);
    assert_eq!(health(&env, "arr")["Log"][0]["Output"], "a  b");
}

#[test]
fn healthcheck_run_errors_as_podman() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let e = env.fails(&["healthcheck", "run", "nosuch"], 125);
    assert_eq!(
        e,
        "Error: unable to look up nosuch to perform a health check: no container with name or ID \"nosuch\" found: no such container\n"
    );
    env.ok(&["run", "-d", "--name", "plain", "bb", "sleep", "100"]);
    let id = inspect(&env, "plain", "{{.Id}}");
    assert_eq!(
        env.fails(&["healthcheck", "run", "plain"], 125),
        format!("Error: container {id} has no defined healthcheck\n")
    );
    env.ok(&["create", "--name", "stopped", "--health-cmd", "true", "bb", "sleep", "100"]);
    let id = inspect(&env, "stopped", "{{.Id}}");
    assert_eq!(env.fails(&["healthcheck", "run", "stopped"], 125), format!("Error: container {id} is not running\n"));
    // A command that is not there is a failed check, as podman's.
    env.ok(&["run", "-d", "--name", "missing", "--health-cmd", r#"["CMD","/nonexistent"]"#, "bb", "sleep", "100"]);
    let o = env.run(&["healthcheck", "run", "missing"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(1), "unhealthy\n"));
    let e = env.fails(&["healthcheck", "run"], 125);
    assert!(e.starts_with("Error: accepts 1 arg(s), received 0\n"), "{e}");
}

#[test]
fn bad_health_flags_are_refused_with_podmans_words_and_leave_nothing() {
    let (env, _) = Env::with_busybox();
    for (flags, msg) in [
        (
            &["--health-cmd", "true", "--health-interval", "x"][..],
            r#"invalid healthcheck-interval: time: invalid duration "x""#,
        ),
        (
            &["--health-cmd", "true", "--health-interval", "10"],
            r#"invalid healthcheck-interval: time: missing unit in duration "10""#,
        ),
        (&["--health-cmd", "true", "--health-retries", "0"], "healthcheck-retries must be greater than 0"),
        (&["--health-cmd", "true", "--health-timeout", "0s"], "healthcheck-timeout must be at least 1 second"),
        (
            &["--health-cmd", "true", "--health-start-period=-1s"],
            "healthcheck-start-period must be 0 seconds or greater",
        ),
        (&["--no-healthcheck", "--health-cmd", "true"], "cannot specify both --no-healthcheck and --health-cmd"),
    ] {
        let args: Vec<&str> = ["create"].iter().chain(flags).chain(&["bb", "true"]).copied().collect();
        assert_eq!(env.fails(&args, 125), format!("Error: {msg}\n"), "{flags:?}");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    // Flags without --health-cmd set nothing (podman's).
    env.ok(&["create", "--name", "c", "--health-interval", "5s", "bb", "true"]);
    assert_eq!(config_healthcheck(&env, "c"), Value::Null);
    env.ok(&["rm", "c"]);
}

/// The same checks on podman 4.3 (its `healthcheck run`; it cannot run
/// them on an interval here, without systemd) give the same exit codes,
/// output, `Config.Healthcheck` and `State.Health`.
#[test]
fn side_by_side_with_podman() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = common::podman::Podman::beside(&env);
    let both = |args: &[&str]| {
        let b = env.run(args);
        let p = podman.run(args, None);
        (b, p)
    };
    for (name, cmd) in [("good", "echo hi; echo there"), ("bad", "echo no; exit 2")] {
        let run = [
            "run",
            "-d",
            "--name",
            name,
            "--health-cmd",
            cmd,
            "--health-interval",
            "disable",
            "--health-retries",
            "2",
            "--health-start-period",
            "1s",
            "localhost/bb",
            "sleep",
            "100",
        ];
        let (b, p) = both(&run);
        assert!(b.status.success() && p.status.success(), "{} / {}", stderr(&b), stderr(&p));
        let hc = ["inspect", name, "--format", "{{json .Config.Healthcheck}}"];
        let (b, p) = both(&hc);
        assert_eq!(stdout(&b), stdout(&p));
        let state = ["inspect", name, "--format", "{{json .State.Health}}"];
        let (b, p) = both(&state);
        assert_eq!(stdout(&b), stdout(&p));
        // Past the start period, twice: the streak counts, as podman's.
        std::thread::sleep(Duration::from_millis(1100));
        for _ in 0..2 {
            let (b, p) = both(&["healthcheck", "run", name]);
            assert_eq!((b.status.code(), stdout(&b)), (p.status.code(), stdout(&p)), "{name}");
        }
        let (b, p) = both(&state);
        let (b, p): (Value, Value) =
            (serde_json::from_str(&stdout(&b)).unwrap(), serde_json::from_str(&stdout(&p)).unwrap());
        let strip = |v: &Value| {
            let mut v = v.clone();
            for l in v["Log"].as_array_mut().unwrap() {
                // Times differ; their form must not.
                for k in ["Start", "End"] {
                    let t = l[k].as_str().unwrap();
                    assert!(t.ends_with('Z') && t.contains('T') && t.len() > 25, "{t}");
                    l[k] = json!("");
                }
            }
            v
        };
        assert_eq!(strip(&b), strip(&p), "{name}");
        let status = ["ps", "--format", "{{.Names}} {{.Status}}"];
        let (b, p) = both(&status);
        let suffix = |o: &std::process::Output| -> String {
            let line = stdout(o).lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_string();
            line.rsplit_once(' ').unwrap().1.to_string()
        };
        assert_eq!(suffix(&b), suffix(&p), "{name}");
    }
    let (b, p) = both(&["rm", "-f", "-t", "0", "good", "bad"]);
    assert!(b.status.success() && p.status.success());
}

/// A check runs beside the monitor, never in its way: while checks that
/// take seconds run every second, the container's output still reaches the
/// log as it is written (the monitor stamps each line when it reads it).
#[test]
fn slow_checks_do_not_hold_up_the_monitor() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&checked(
        "busy",
        "sleep 3",
        &["--health-interval", "1s"],
        &["sh", "-c", "while :; do echo tick; sleep 0.1; done"],
    ));
    eventually("a check done", || health(&env, "busy")["Log"].as_array().is_some_and(|l| !l.is_empty()));
    let log = std::fs::read_to_string(inspect(&env, "busy", "{{.HostConfig.LogConfig.Path}}")).unwrap();
    // k8s-file lines: `2006-01-02T15:04:05.999999999+00:00 stdout F tick`.
    let secs: Vec<f64> = log
        .lines()
        .map(|l| {
            let t = l.split(' ').next().unwrap();
            let hms = &t[11..t.len() - "+00:00".len()];
            let f: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
            f[0] * 3600.0 + f[1] * 60.0 + f[2]
        })
        .collect();
    assert!(secs.len() > 20, "{log}");
    let gap = secs.windows(2).map(|w| w[1] - w[0]).filter(|g| *g >= 0.0).fold(0.0, f64::max);
    assert!(gap < 1.0, "the log stalled for {gap:.2} s while checks ran");
}
