//! Container logging, run for real as root: the log drivers (`k8s-file`,
//! docker's `json-file`, `none`), `--log-opt path=,max-size=,max-file=,tag=`
//! with rotation done by the monitor, and `logs` reading rotated files,
//! following across rotations, `--since`/`--until`, several containers;
//! beside podman 4.3 for what podman's `logs` prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::containers::{eventually, Cleanup};
use common::podman::{masked, Podman};
use common::*;
use serde_json::Value;

fn log_dir(env: &Env, id: &str) -> PathBuf {
    env.root.join("container-data").join(id)
}

/// `run -d ARGS` then `wait`: the container's ID once it exited.
fn run_to_exit(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = env.ok(&all).trim().to_string();
    env.ok(&["wait", &id]);
    id
}

/// The files of a log that rotated: `ctr.log`, `ctr.log.1`... that exist.
fn log_files(dir: &Path, name: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(name))
        .collect();
    out.sort();
    out
}

fn lines_of(s: &str) -> Vec<String> {
    s.lines().map(String::from).collect()
}

#[test]
fn json_file_is_dockers_format_with_partial_lines() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let id = run_to_exit(
        &env,
        &[
            "--log-driver",
            "json-file",
            "bb",
            "sh",
            "-c",
            "echo 'a <b>'; sleep 0.1; echo err >&2; sleep 0.1; echo c; printf part",
        ],
    );
    let path = log_dir(&env, &id).join("ctr.log");
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Path}}", &id]),
        format!("json-file {}\n", path.display())
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut last = UNIX_EPOCH;
    let mut seen = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["log", "stream", "time"], "{line}");
        // docker's RFC3339Nano, UTC.
        let time = v["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        let t = humantime::parse_rfc3339(time).unwrap();
        assert!(t >= last, "times go back: {text}");
        assert!(SystemTime::now().duration_since(t).unwrap() < Duration::from_secs(120));
        last = t;
        seen.push((v["stream"].as_str().unwrap().to_string(), v["log"].as_str().unwrap().to_string()));
    }
    let want = [("stdout", "a <b>\n"), ("stderr", "err\n"), ("stdout", "c\n"), ("stdout", "part")];
    assert_eq!(seen, want.map(|(s, l)| (s.to_string(), l.to_string())), "{text}");
    // docker's escaping of HTML characters.
    assert!(text.starts_with(r#"{"log":"a \u003cb\u003e\n","stream":"stdout","time":""#), "{text}");
    // `logs` reads it back: each stream to its own, the partial line without newline.
    let o = env.run(&["logs", &id]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("a <b>\nc\npart", "err\n"));
    assert_eq!(env.ok(&["logs", "--tail", "2", &id]), "c\npart");
}

#[test]
fn rotation_keeps_max_file_files_and_logs_reads_them_in_order() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done";
    for (driver, opts) in [
        ("k8s-file", &["--log-opt", "max-size=1k", "--log-opt", "max-file=3"][..]),
        ("json-file", &["--log-opt", "max-size=1k,max-file=3"]),
    ] {
        let mut args = vec!["--log-driver", driver];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["bb", "sh", "-c", script]);
        let id = run_to_exit(&env, &args);
        let dir = log_dir(&env, &id);
        assert_eq!(log_files(&dir, "ctr.log"), ["ctr.log", "ctr.log.1", "ctr.log.2"], "{driver}");
        for f in log_files(&dir, "ctr.log") {
            let size = std::fs::metadata(dir.join(&f)).unwrap().len();
            // max-size=1k is 1000 bytes, as podman reads it.
            assert!(size <= 1000, "{driver} {f}: {size} bytes");
        }
        assert!(std::fs::metadata(dir.join("ctr.log.1")).unwrap().len() > 800, "{driver}: rotated too early");
        // The newest lines, oldest first, none missing in between.
        let shown = lines_of(&env.ok(&["logs", &id]));
        let first: usize = shown[0].strip_prefix("line-").unwrap().parse().unwrap();
        assert!(first > 100, "{driver}: the oldest lines should be gone: {first}");
        let want: Vec<String> = (first..300).map(|i| format!("line-{i}")).collect();
        assert_eq!(shown, want, "{driver}");
        assert_eq!(env.ok(&["logs", "--tail", "2", &id]), "line-298\nline-299\n");
        assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.LogConfig.Size}}", &id]), "1kB\n", "{driver}");
    }
    // With max-file=1, the file starts over (podman's k8s-file does the same).
    let id = run_to_exit(&env, &["--log-opt", "max-size=1k", "--log-opt", "max-file=1", "bb", "sh", "-c", script]);
    let dir = log_dir(&env, &id);
    assert_eq!(log_files(&dir, "ctr.log"), ["ctr.log"]);
    assert!(std::fs::metadata(dir.join("ctr.log")).unwrap().len() <= 1000);
    assert!(env.ok(&["logs", &id]).ends_with("line-298\nline-299\n"));
}

/// Every container's log rotates without options: berth.conf's
/// `log_size_max` and `log_max_files` (10MB and 3 when unset), which
/// `--log-opt` overrides.
#[test]
fn logs_rotate_by_default_as_configured() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done";
    let shown = |id: &str| {
        let f = |k: &str| env.ok(&["inspect", "--format", &format!("{{{{.HostConfig.LogConfig.{k}}}}}"), id]);
        f("Size").trim().to_string()
    };
    // berth's own defaults.
    let plain = run_to_exit(&env, &["bb", "true"]);
    assert_eq!(shown(&plain), "10MB");
    // The configured ones.
    env.set_config("netns = \"none\"\nlog_size_max = \"1k\"\nlog_max_files = 2", "");
    let id = run_to_exit(&env, &["bb", "sh", "-c", script]);
    assert_eq!(shown(&id), "1kB");
    let dir = log_dir(&env, &id);
    assert_eq!(log_files(&dir, "ctr.log"), ["ctr.log", "ctr.log.1"]);
    for f in log_files(&dir, "ctr.log") {
        let size = std::fs::metadata(dir.join(&f)).unwrap().len();
        assert!(size <= 1000, "{f}: {size} bytes");
    }
    let lines = lines_of(&env.ok(&["logs", &id]));
    let first: usize = lines[0].strip_prefix("line-").unwrap().parse().unwrap();
    assert!(first > 200, "the oldest lines should be gone: {first}");
    assert_eq!(lines, (first..300).map(|i| format!("line-{i}")).collect::<Vec<_>>());
    // The configured driver too, and --log-opt over all of it.
    env.set_config("netns = \"none\"\nlog_size_max = \"1k\"\nlog_max_files = 2\nlog_driver = \"json-file\"", "");
    let id = run_to_exit(&env, &["--log-opt", "max-size=2k", "--log-opt", "max-file=4", "bb", "sh", "-c", script]);
    assert_eq!(shown(&id), "2kB");
    let dir = log_dir(&env, &id);
    assert_eq!(log_files(&dir, "ctr.log"), ["ctr.log", "ctr.log.1", "ctr.log.2", "ctr.log.3"]);
    assert!(std::fs::read_to_string(dir.join("ctr.log")).unwrap().starts_with("{\""), "json-file by default");
    assert!(env.ok(&["logs", &id]).ends_with("line-298\nline-299\n"));
    // max-size=-1 lifts the limit: one file, every line.
    let id = run_to_exit(&env, &["--log-opt", "max-size=-1", "bb", "sh", "-c", script]);
    assert_eq!(shown(&id), "0B");
    assert_eq!(log_files(&log_dir(&env, &id), "ctr.log"), ["ctr.log"]);
    assert_eq!(lines_of(&env.ok(&["logs", &id])).len(), 300);
}

#[test]
fn path_tag_and_bad_options() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let logs = env.path("mylogs");
    std::fs::create_dir(&logs).unwrap();
    let file = logs.join("c.log");
    let id = run_to_exit(
        &env,
        &["--name", "p", "--log-opt", &format!("path={}", file.display()), "--log-opt", "tag=web", "bb", "echo", "hi"],
    );
    assert!(std::fs::read_to_string(&file).unwrap().ends_with(" stdout F hi\n"));
    assert!(!log_dir(&env, &id).join("ctr.log").exists());
    assert_eq!(env.ok(&["logs", "p"]), "hi\n");
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.HostConfig.LogConfig.Path}} {{.HostConfig.LogConfig.Tag}}", "p"]),
        format!("{} web\n", file.display())
    );
    // The user's file stays when the container goes, as with podman.
    env.ok(&["rm", "p"]);
    assert!(file.exists());

    // Each refused in one line, exit 125, nothing left behind.
    let missing = env.path("nowhere/c.log");
    for (args, msg) in [
        (vec!["--log-driver", "bogus"], "Error: running container create option: invalid log driver: invalid argument"),
        (vec!["--log-driver", "journald"], "log driver journald is not supported by berth"),
        (vec!["--log-driver", "passthrough"], "log driver passthrough is not supported by berth"),
        (vec!["--log-opt", "nokey"], "Error: invalid log option \"nokey\""),
        (vec!["--log-opt", "max-size=xx"], "Error: invalid size: 'xx'"),
        (vec!["--log-opt", "max-file=0"], "max-file=0"),
    ] {
        let mut all = vec!["create"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["bb", "true"]);
        let e = env.fails(&all, 125);
        assert!(e.contains(msg), "{args:?}: {e}");
    }
    let opt = format!("path={}", missing.display());
    let e = env.fails(&["run", "-d", "--log-opt", &opt, "bb", "true"], 125);
    assert!(e.contains("does not exist"), "{e}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn none_writes_nothing_and_logs_says_so() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // An attached run still shows the output: only the log is off.
    assert_eq!(env.ok(&["run", "--rm", "--log-driver", "none", "bb", "echo", "hi"]), "hi\n");
    let id = run_to_exit(&env, &["--log-driver", "none", "bb", "echo", "hi"]);
    assert_eq!(log_files(&log_dir(&env, &id), "ctr.log"), Vec::<String>::new());
    let e = env.fails(&["logs", &id], 125);
    assert_eq!(
        e,
        "Error: this container is using the 'none' log driver, cannot read logs: this container is not logging output\n"
    );
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.HostConfig.LogConfig.Type}}[{{.HostConfig.LogConfig.Path}}]", &id]),
        "none[]\n"
    );
}

/// The time `logs -t` shows for the line `text` of container `id`.
fn time_of(env: &Env, id: &str, text: &str) -> SystemTime {
    let out = env.ok(&["logs", "-t", id]);
    let line = out.lines().find(|l| l.ends_with(&format!(" {text}"))).unwrap_or_else(|| panic!("{text} in {out}"));
    humantime::parse_rfc3339(line.split(' ').next().unwrap()).unwrap()
}

#[test]
fn since_and_until() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let id = run_to_exit(&env, &["bb", "sh", "-c", "echo before; sleep 1; echo after"]);
    let (before, after) = (time_of(&env, &id, "before"), time_of(&env, &id, "after"));
    assert!(after.duration_since(before).unwrap() > Duration::from_millis(900));
    let marker = before + after.duration_since(before).unwrap() / 2;
    let rfc3339 = humantime::format_rfc3339_nanos(marker).to_string();
    let unix = format!("{:.3}", marker.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
    // The same instant in another zone.
    let zoned = humantime::format_rfc3339_nanos(marker + Duration::from_secs(7200)).to_string().replace('Z', "+02:00");
    for m in [&rfc3339, &unix, &zoned] {
        assert_eq!(env.ok(&["logs", "--since", m, &id]), "after\n", "{m}");
        assert_eq!(env.ok(&["logs", "--until", m, &id]), "before\n", "{m}");
    }
    // Durations: --since back from now, --until on from now (podman 4.3).
    assert_eq!(env.ok(&["logs", "--since", "1h", &id]), "before\nafter\n");
    assert_eq!(env.ok(&["logs", "--until", "10m", &id]), "before\nafter\n");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(env.ok(&["logs", "--since", "1ms", &id]), "");
    // --tail cuts first, then the window (podman's order).
    assert_eq!(env.ok(&["logs", "--tail", "1", "--until", &rfc3339, &id]), "");
    // -f stops following once --until passed, the container running on.
    let up = env.ok(&["run", "-d", "bb", "sh", "-c", "echo up; sleep 100"]).trim().to_string();
    let start = std::time::Instant::now();
    assert_eq!(env.ok(&["logs", "-f", "--until", "1s", &up]), "up\n");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "{took:?}");
    let e = env.fails(&["logs", "--since", "bogus", &id], 125);
    assert_eq!(e, "Error: parsing --since \"bogus\": unable to interpret time value\n");
    env.fails(&["logs", "--until", "10x", &id], 125);
}

#[test]
fn follow_goes_on_across_rotations_and_several_at_once() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // 60 lines of 50-odd bytes of log, slowly: several rotations of 1000
    // bytes while `logs -f` reads. They start once both readers below have
    // read "ready" (so have the log open).
    let script = "echo ready; while [ ! -e /tmp/go ]; do usleep 10000; done; \
                  i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); usleep 20000; done";
    let id = env
        .ok(&["run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "bb", "sh", "-c", script])
        .trim()
        .to_string();
    let other = env.ok(&["run", "-d", "bb", "sh", "-c", "echo other-1; sleep 1.5; echo other-2"]).trim().to_string();
    let mut follow = env.cmd(&["logs", "-f", &id]).stdout(Stdio::piped()).spawn().unwrap();
    let mut both = env.cmd(&["logs", "-f", &id, &other]).stdout(Stdio::piped()).spawn().unwrap();
    let mut follow_out = BufReader::new(follow.stdout.take().unwrap());
    let mut both_out = BufReader::new(both.stdout.take().unwrap());
    let mut line = String::new();
    follow_out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let mut both_text = String::new();
    while !both_text.contains(&format!("{} ready\n", &id[..12])) {
        assert!(both_out.read_line(&mut both_text).unwrap() > 0, "{both_text}");
    }
    env.ok(&["exec", &id, "touch", "/tmp/go"]);
    let mut out = String::new();
    follow_out.read_to_string(&mut out).unwrap();
    assert!(follow.wait().unwrap().success());
    let want: Vec<String> = (0..60).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines_of(&out), want);
    // It did rotate: what is left holds only the newest lines.
    let dir = log_dir(&env, &id);
    assert_eq!(log_files(&dir, "ctr.log"), ["ctr.log", "ctr.log.1"]);
    let kept = lines_of(&env.ok(&["logs", &id]));
    assert!(kept.len() < 40 && kept.last().unwrap() == "line-59", "{kept:?}");

    // Two logs followed at once: each line with its container's short ID,
    // each log in order, until both exited.
    both_out.read_to_string(&mut both_text).unwrap();
    assert!(both.wait().unwrap().success());
    let text = both_text;
    let of = |who: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.strip_prefix(&format!("{} ", &who[..12]))).map(String::from).collect()
    };
    assert_eq!(of(&id)[1..], want);
    assert_eq!(of(&other), ["other-1", "other-2"]);
    assert_eq!(text.lines().count(), 63, "{text}");
    env.ok(&["wait", &other]);
    eventually("the containers to be recorded exited", || env.ok(&["ps", "-q"]).is_empty());
}

/// `-t`'s times as `<time>`, after checking podman's layout:
/// `2006-01-02T15:04:05.000000000Z`, always nine digits.
fn times_masked(s: &str) -> String {
    let is_time = |w: &str| w.len() == 30 && w.ends_with('Z') && w.as_bytes()[10] == b'T';
    s.split_inclusive([' ', '\n'])
        .map(|piece| {
            let w = piece.trim_end_matches([' ', '\n']);
            if is_time(w) {
                assert!(humantime::parse_rfc3339(w).is_ok(), "{w}");
                piece.replacen(w, "<time>", 1)
            } else {
                piece.to_string()
            }
        })
        .collect()
}

#[test]
fn side_by_side_with_podman() {
    require_root();
    let env = Env::new();
    // podman 4.3's inspect shows LogConfig.Size 0B without --log-opt
    // max-size even when containers.conf's log_size_max limits the log (it
    // goes to conmon unrecorded); berth shows the default it rotates at.
    // Without one, the two show the same.
    env.set_config("netns = \"none\"\nlog_size_max = -1", "");
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    let script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 0.2; printf four";
    // podman 4.3's --tail glues a last partial line to the line before it
    // ("threefour"; podman#19545, fixed in later podmans): berth does not,
    // so --tail is compared on whole lines.
    let whole = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 0.2; echo four";
    for args in [
        &["run", "-d", "--pull=never", "--name", "talk", "localhost/bb", "sh", "-c", script][..],
        &["run", "-d", "--pull=never", "--name", "js", "--log-driver", "json-file", "localhost/bb", "sh", "-c", script],
        &["run", "-d", "--pull=never", "--name", "whole", "localhost/bb", "sh", "-c", whole],
        &["run", "-d", "--pull=never", "--name", "whole2", "localhost/bb", "sh", "-c", whole],
        &["run", "-d", "--pull=never", "--name", "quiet", "--log-driver", "none", "localhost/bb", "echo", "x"],
        &[
            "create",
            "--pull=never",
            "--name",
            "opts",
            "--log-opt",
            "max-size=1536",
            "--log-opt",
            "tag=t1",
            "localhost/bb",
            "true",
        ],
        &["wait", "talk", "js", "whole", "whole2", "quiet"],
    ] {
        env.ok(args);
        podman.ok(args);
    }
    let rows: &[&[&str]] = &[
        &["logs", "talk"],
        &["logs", "js"],
        &["logs", "--tail", "2", "whole"],
        &["logs", "--tail", "0", "whole"],
        &["logs", "--tail", "1", "-n", "whole"],
        &["logs", "-t", "talk"],
        &["logs", "-t", "--tail", "2", "whole"],
        &["logs", "-n", "talk"],
        &["logs", "-n", "-t", "whole", "whole2"],
        &["logs", "whole", "whole2"],
        &["logs", "--color", "talk"],
        &["logs", "--color", "-n", "whole", "whole2"],
        &["logs", "--since", "1h", "--until", "1h", "talk"],
        &["logs", "--since", "bogus", "talk"],
        &["logs", "quiet"],
        &["logs", "nope"],
        &["logs"],
        &["logs", "-l", "talk"],
        &[
            "inspect",
            "--format",
            "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}} [{{.HostConfig.LogConfig.Tag}}]",
            "talk",
            "js",
            "quiet",
            "opts",
        ],
    ];
    for args in rows {
        let b = env.run(args);
        let p = podman.run(args, None);
        // Several logs: podman reads them side by side, so only each
        // one's lines are in order.
        let several = args.contains(&"whole2");
        let text = |s: String| -> String {
            let s = times_masked(&s).replace("podman", "berth");
            if !several {
                return masked(&s);
            }
            let mut by_prefix: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for l in s.lines() {
                let (who, rest) = l.split_once(' ').unwrap();
                by_prefix.entry(who.to_string()).or_default().push(rest.to_string());
            }
            let mut groups: Vec<String> = by_prefix.iter().map(|(k, v)| masked(&format!("{k}: {v:?}"))).collect();
            groups.sort();
            groups.join("\n")
        };
        let shape = |o: &std::process::Output| (o.status.code(), text(stdout(o)), text(stderr(o)));
        assert_eq!(shape(&b), shape(&p), "{args:?}");
    }
}
