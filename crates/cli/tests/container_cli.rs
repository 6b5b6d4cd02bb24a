//! podman's command-line conventions for the container commands (create,
//! run, rm, ps), table-driven: each row runs against berth and against
//! podman 4.3 (Debian's, with its own store, runc, no network) and must give
//! the same exit code, the same output and, where a row says so, the same
//! error line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::podman::{compare, run_with_input, ErrorLine, Podman, Row};
use common::*;
use serde_json::{json, Value};

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().nth(1));
    assert_eq!(euid, Some("0"), "these tests run containers: run them as root");
}

/// The caller's environment the `-e VAR` rows copy from.
fn with_test_env(mut c: Command) -> Command {
    c.env("BERTH_CLI_TEST_SET", "from the caller").env_remove("BERTH_CLI_TEST_UNSET");
    c
}

/// (exit code, stdout) of `c`.
fn output(c: Command) -> (Option<i32>, String) {
    let o = run_with_input(c, None);
    (o.status.code(), stdout(&o))
}

/// Both tools, each with the busybox image as `localhost/bb:latest` (no
/// labels, CMD sh) and the same three containers:
/// `c1` (created; `--name first --name c1`: the last value counts),
/// `c2` (`run --rm=false`, exited 3), `c3` (created, labelled, long command).
fn setup() -> (Env, Podman) {
    require_root();
    let env = Env::new();
    let archive = env.path("bb.tar");
    write_oci_archive(&archive, Some("localhost/bb:latest"), &[busybox_layer()], json!(null));
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let podman = Podman::new();
    let rootfs = env.path("rootfs.tar");
    std::fs::write(&rootfs, busybox_layer()).unwrap();
    let o = run_with_input(
        podman.cmd(&["import", "-q", "--change", "CMD [\"sh\"]", rootfs.to_str().unwrap(), "localhost/bb"]),
        None,
    );
    assert_eq!(o.status.code(), Some(0), "podman import: {}", stderr(&o));
    let steps: &[(&[&str], i32)] = &[
        (&["create", "--name", "first", "--name", "c1", "bb", "true"], 0),
        (&["run", "--rm=false", "--name", "c2", "bb", "sh", "-c", "exit 3"], 3),
        (&["create", "--name", "c3", "--label", "k=v", "bb", "echo", "12345678901234567890"], 0),
    ];
    for (args, code) in steps {
        assert_eq!(output(env.cmd(args)).0, Some(*code), "berth {args:?}");
        assert_eq!(output(podman.cmd(args)).0, Some(*code), "podman {args:?}");
    }
    (env, podman)
}

const fn row(args: &'static [&'static str], code: i32, stdout: &'static str) -> Row {
    Row::new(args, code, stdout)
}

const ROWS: &[Row] = &[
    // Everything after IMAGE goes to the container, `--` included; a `--`
    // before IMAGE ends the options.
    // (The error names the runtime: its words differ.)
    Row { error: ErrorLine::Differs, ..row(&["run", "--rm", "bb", "--", "echo", "a"], 127, "") },
    row(&["run", "--rm", "--", "bb", "echo", "c"], 0, "c\n"),
    row(&["run", "--rm", "bb", "echo", "--", "-d"], 0, "-- -d\n"),
    row(&["run", "--rm", "bb", "sh", "-c", "echo $0", "-x"], 0, "-x\n"),
    // A repeated single-value flag takes the last value.
    row(&["run", "--rm", "-w", "/bin", "-w", "/tmp", "bb", "pwd"], 0, "/tmp\n"),
    row(&["run", "--rm", "-e", "A=1", "-e", "A=2", "bb", "sh", "-c", "echo $A"], 0, "2\n"),
    // -e VAR copies it from the caller, and is skipped when unset.
    row(
        &["run", "--rm", "-e", "BERTH_CLI_TEST_SET", "-e", "BERTH_CLI_TEST_UNSET", "bb", "sh", "-c",
          "echo $BERTH_CLI_TEST_SET; env | grep -c BERTH_CLI_TEST_UNSET"],
        1,
        "from the caller\n0\n",
    ),
    row(&["run", "--rm", "-e", "BERTH_CLI_TEST_S*", "bb", "sh", "-c", "echo $BERTH_CLI_TEST_SET"], 0, "from the caller\n"),
    row(&["run", "--rm", "-e", "E=", "bb", "sh", "-c", "env | grep ^E="], 0, "E=\n"),
    row(&["run", "--rm", "-e", "=x", "bb", "true"], 125, ""),
    // --entrypoint: a JSON array, or one word; '' clears it (and the CMD).
    row(&["run", "--rm", "--entrypoint", "[\"/bin/echo\",\"a\"]", "bb", "b", "c"], 0, "a b c\n"),
    row(&["run", "--rm", "--entrypoint", "/bin/echo", "bb", "b"], 0, "b\n"),
    row(&["run", "--rm", "--entrypoint", "/bin/echo", "bb"], 0, "\n"),
    row(&["run", "--rm", "--entrypoint", "", "bb", "echo", "e"], 0, "e\n"),
    row(&["run", "--rm", "--entrypoint", "", "bb"], 125, ""),
    row(&["run", "--rm", "--entrypoint", "[]", "bb", "echo", "f"], 0, "f\n"),
    // Boolean flags take =true/false (Go's spellings), never a separate word.
    Row { stdin: Some("hi\n"), ..row(&["run", "--rm", "-i=false", "bb", "cat"], 0, "") },
    Row { stdin: Some("hi\n"), ..row(&["run", "--rm", "--interactive=true", "bb", "cat"], 0, "hi\n") },
    Row { stdin: Some("hi\n"), ..row(&["run", "--rm", "-i", "bb", "cat"], 0, "hi\n") },
    row(&["run", "--rm", "-t=false", "bb", "tty"], 1, "not a tty\n"),
    row(&["run", "--rm=1", "-t=F", "bb", "true"], 0, ""),
    row(&["run", "--rm=yes", "bb", "true"], 125, ""),
    // rm: podman's checks and words.
    row(&["rm"], 125, ""),
    row(&["rm", "-a", "c1"], 125, ""),
    row(&["rm", "-t", "3", "c1"], 125, ""),
    row(&["rm", "-f", "-t", "abc", "c1"], 125, ""),
    row(&["rm", "nosuch"], 1, ""),
    row(&["rm", "-i", "nosuch"], 0, ""),
    row(&["rm", "--ignore=true", "nosuch"], 0, ""),
    row(&["rm", "-i=false", "nosuch"], 1, ""),
    row(&["rm", "-f", "nosuch"], 0, ""),
    row(&["rm", "-v", "-f=false", "--volumes=true", "nosuch"], 1, ""),
    // ps: -n is --last (all states, oldest first), -l the latest.
    row(&["ps", "-a", "--format", "{{.Names}}"], 0, "c1\nc2\nc3\n"),
    row(&["ps", "--format", "{{.Names}}"], 0, ""),
    row(&["ps", "-q"], 0, ""),
    row(&["ps", "-a=false", "--format", "{{.Names}}"], 0, ""),
    row(&["ps", "-n", "2", "--format", "{{.Names}}"], 0, "c2\nc3\n"),
    row(&["ps", "--last=1", "--format", "{{.Names}}"], 0, "c3\n"),
    row(&["ps", "-a", "-n", "0", "--format", "{{.Names}}"], 0, "c1\nc2\nc3\n"),
    row(&["ps", "-l", "--format", "{{.Names}}"], 0, "c3\n"),
    row(&["ps", "-n", "1", "-l"], 125, ""),
    row(&["ps", "-n"], 125, ""),
    // Template fields as podman's psReporter gives them.
    row(
        &["ps", "-a", "--format", "{{.Names}}|{{.Command}}|{{.Labels}}|{{.Mounts}}|{{.Exited}}|{{.ExitCode}}|{{.Networks}}|{{.AutoRemove}}"],
        0,
        "c1|true|map[]|[]|false|0||false\nc2|sh -c exit 3|map[]|[]|true|3||false\nc3|echo 123456789012...|map[k:v]|[]|false|0||false\n",
    ),
    row(&["ps", "-a", "-n", "1", "--no-trunc", "--format", "{{.Command}}"], 0, "echo 12345678901234567890\n"),
    row(&["ps", "-a", "--format", "{{.State}}", "-n", "1"], 0, "Created\n"),
    // Tables stay aligned, with and without their header.
    row(
        &["ps", "-a", "--format", "table {{.Names}}\\t{{.Command}}\\t{{.ExitCode}}"],
        0,
        "NAMES       COMMAND               EXIT CODE\nc1          true                  0\nc2          sh -c exit 3          3\nc3          echo 123456789012...  0\n",
    ),
    row(
        &["ps", "-a", "--noheading", "--format", "table {{.Names}}\\t{{.Command}}\\t{{.ExitCode}}"],
        0,
        "c1          true                  0\nc2          sh -c exit 3          3\nc3          echo 123456789012...  0\n",
    ),
    row(&["ps", "-a", "--noheading=true", "--format", "{{.Names}}"], 0, "c1\nc2\nc3\n"),
];

#[test]
fn conventions_as_podman() {
    let (env, podman) = setup();
    compare(ROWS, env.dir.path(), &|a| with_test_env(env.cmd(a)), &|a| with_test_env(podman.cmd(a)));
}

/// `rm -f` stops a running container as podman does: its stop signal
/// first, SIGKILL after --time seconds (with podman's warning); -t 0 kills.
#[test]
fn rm_force_stops_with_a_grace_period() {
    let (env, podman) = setup();
    type Tool<'a> = (&'static str, Box<dyn Fn(&[&str]) -> Command + 'a>);
    let tools: Vec<Tool> = vec![("berth", Box::new(|a| env.cmd(a))), ("podman", Box::new(|a| podman.cmd(a)))];
    for (tool, cmd) in &tools {
        let start_ = |name: &str, script: &str| {
            let mut child =
                cmd(&["run", "--name", name, "bb", "sh", "-c", script]).stdout(Stdio::piped()).spawn().unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
            assert_eq!(line, "up\n", "{tool}");
            child
        };
        // Ignores SIGTERM (a pid 1 without a handler): killed after 1 s.
        let mut deaf = start_("deaf", "echo up; sleep 1000");
        let t = Instant::now();
        let o = cmd(&["rm", "-f", "-t", "1", "deaf"]).output().unwrap();
        let took = t.elapsed();
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "deaf\n"), "{tool}: {}", stderr(&o));
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "{tool}: took {took:?}");
        assert!(
            stderr(&o).contains("StopSignal SIGTERM failed to stop container deaf in 1 seconds, resorting to SIGKILL"),
            "{tool}: {}",
            stderr(&o)
        );
        assert_eq!(deaf.wait().unwrap().code(), Some(137), "{tool}");
        // Handles it: stops at once, with its own exit code.
        let mut polite = start_("polite", "trap 'exit 9' TERM; echo up; while :; do sleep 0.1; done");
        let t = Instant::now();
        let o = cmd(&["rm", "-f", "polite"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{tool}: {}", stderr(&o));
        assert!(t.elapsed() < Duration::from_secs(5), "{tool}: took {:?}", t.elapsed());
        assert_eq!(polite.wait().unwrap().code(), Some(9), "{tool}");
        // -t 0: SIGKILL straight away, no warning.
        let mut quick = start_("quick", "echo up; sleep 1000");
        let o = cmd(&["rm", "-f", "-t", "0", "quick"]).output().unwrap();
        assert_eq!((o.status.code(), stderr(&o).contains("StopSignal")), (Some(0), false), "{tool}");
        assert_eq!(quick.wait().unwrap().code(), Some(137), "{tool}");
    }
}

/// `ps --format json` and `{{json .}}`: podman's ListContainer, field for
/// field in podman's order, with the same values where they do not depend on
/// the moment or the machine.
#[test]
fn ps_json_has_podmans_shape() {
    let (env, podman) = setup();
    let list = |c: Command| -> Vec<Value> {
        let (code, out) = output(c);
        assert_eq!(code, Some(0));
        serde_json::from_str(&out).unwrap()
    };
    let berth = list(env.cmd(&["ps", "-a", "--format", "json"]));
    let pod = list(podman.cmd(&["ps", "-a", "--format", "json"]));
    // The same list, but for the words that move with the clock.
    let timeless = |mut v: Vec<Value>| {
        for o in &mut v {
            let o = o.as_object_mut().unwrap();
            o.remove("Status");
            o.remove("CreatedAt");
        }
        v
    };
    let templated = list(env.cmd(&["ps", "-a", "--format", "{{ json . }}"]));
    assert_eq!(timeless(berth.clone()), timeless(templated), "{{json .}} is the same list");
    assert_eq!(berth.len(), 3);
    assert_eq!(pod.len(), 3);
    for (b, p) in berth.iter().zip(&pod) {
        let (b, p) = (b.as_object().unwrap(), p.as_object().unwrap());
        assert_eq!(b.keys().collect::<Vec<_>>(), p.keys().collect::<Vec<_>>(), "fields and their order");
        for field in [
            "AutoRemove",
            "Command",
            "Exited",
            "ExitCode",
            "Image",
            "IsInfra",
            "Labels",
            "Mounts",
            "Names",
            "Networks",
            "Pid",
            "Pod",
            "PodName",
            "Ports",
            "Size",
            "State",
        ] {
            assert_eq!(b[field], p[field], "{field} of {}", p["Names"]);
        }
        for (field, v) in b {
            let same_type = std::mem::discriminant(v) == std::mem::discriminant(&p[field]);
            assert!(same_type || field == "Namespaces", "{field}: berth {v}, podman {}", p[field]);
        }
        // Never run: Go's zero time, as podman says it.
        if b["State"] == "created" {
            assert_eq!(
                (b["StartedAt"].as_i64(), b["ExitedAt"].as_i64()),
                (Some(-62_135_596_800), Some(-62_135_596_800))
            );
        }
        let id = b["Id"].as_str().unwrap();
        assert!(id.len() == 64 && b["ImageID"].as_str().unwrap().len() == 64, "{b:?}");
        let secs = |v: &Value| v.as_i64().unwrap();
        assert!((secs(&b["Created"]) - secs(&p["Created"])).abs() < 300);
    }
    // An empty list is [], as podman prints it.
    let empty = |c: Command| output(c).1;
    assert_eq!(empty(env.cmd(&["ps", "--format", "json"])), "[]\n");
    assert_eq!(empty(podman.cmd(&["ps", "--format", "json"])), "[]\n");
}

/// The default table: -q prints short IDs (--no-trunc full ones), and
/// --noheading keeps the columns aligned.
#[test]
fn ps_table_and_ids() {
    let (env, podman) = setup();
    for (tool, o) in
        [("berth", output(env.cmd(&["ps", "-a", "-q"]))), ("podman", output(podman.cmd(&["ps", "-a", "-q"])))]
    {
        let ids: Vec<&str> = o.1.lines().collect();
        assert!(ids.len() == 3 && ids.iter().all(|i| i.len() == 12), "{tool}: {ids:?}");
    }
    let full = env.ok(&["ps", "-a", "-q", "--no-trunc"]);
    assert!(full.lines().all(|i| i.len() == 64 && i.bytes().all(|b| b.is_ascii_hexdigit())), "{full}");
    let headed = env.ok(&["ps", "-a"]);
    let bare = env.ok(&["ps", "-a", "--noheading"]);
    assert!(headed.starts_with("CONTAINER ID  IMAGE"), "{headed}");
    assert_eq!(bare.lines().count(), 3, "{bare}");
    // Every row's NAMES starts at the same column, where the header puts it.
    let at = headed.lines().next().unwrap().find("NAMES").unwrap();
    for (l, name) in bare.lines().zip(["c1", "c2", "c3"]) {
        assert_eq!(l.find(&format!(" {name}")).map(|i| i + 1), Some(at), "{bare}");
        assert!(l.ends_with(name), "{bare}");
    }
}
