//! podman's command-line conventions for the container commands (create,
//! run, rm, ps), table-driven: each row runs against berth and against
//! podman 4.3 (Debian's, with its own store, runc, no network) and must give
//! the same exit code, the same output and, where a row says so, the same
//! error line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().nth(1));
    assert_eq!(euid, Some("0"), "these tests run containers: run them as root");
}

/// podman with a store, config and run dir of its own: vfs (nothing left
/// mounted), runc (Debian's crun refuses this machine's hybrid cgroups), no
/// network, the rlimits this machine allows.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        let found = Command::new("podman").arg("--version").output();
        assert!(found.is_ok_and(|o| o.status.success()), "podman 4.3 is the reference: apt-get install podman runc");
        let dir = tempfile::Builder::new().prefix("berth-podman-cli").tempdir_in("/var/tmp").unwrap();
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\nnetns = \"none\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\nruntime = \"runc\"\n",
        )
        .unwrap();
        Podman { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", "/dev/null")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Podman {
    /// Everything podman made goes, mounts included, before the tempdir.
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-a", "-f", "-t", "0"]).output();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let ours: Vec<&str> =
                mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| m.starts_with(&dir)).collect();
            if ours.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for m in ours.iter().rev() {
                    let _ = Command::new("umount").arg("-l").arg(m).status();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[derive(Debug, PartialEq)]
struct Out {
    code: Option<i32>,
    stdout: String,
    /// The `Error: ` line, if any (podman's logrus warnings aside).
    error: Option<String>,
}

fn output(mut c: Command, stdin: Option<&str>) -> Out {
    c.env("BERTH_CLI_TEST_SET", "from the caller").env_remove("BERTH_CLI_TEST_UNSET");
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    Out {
        code: o.status.code(),
        stdout: stdout(&o),
        error: err.lines().find(|l| l.starts_with("Error: ")).map(String::from),
    }
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
    let o = output(
        podman.cmd(&["import", "-q", "--change", "CMD [\"sh\"]", rootfs.to_str().unwrap(), "localhost/bb"]),
        None,
    );
    assert_eq!(o.code, Some(0), "podman import: {o:?}");
    let steps: &[(&[&str], i32)] = &[
        (&["create", "--name", "first", "--name", "c1", "bb", "true"], 0),
        (&["run", "--rm=false", "--name", "c2", "bb", "sh", "-c", "exit 3"], 3),
        (&["create", "--name", "c3", "--label", "k=v", "bb", "echo", "12345678901234567890"], 0),
    ];
    for (args, code) in steps {
        assert_eq!(output(env.cmd(args), None).code, Some(*code), "berth {args:?}");
        assert_eq!(output(podman.cmd(args), None).code, Some(*code), "podman {args:?}");
    }
    (env, podman)
}

/// What a row compares besides the exit code.
#[derive(Clone, Copy, PartialEq)]
enum Same {
    /// stdout, and the error line word for word.
    All,
    /// stdout; the error wording is clap's, not pflag's.
    Stdout,
}

struct Row {
    args: &'static [&'static str],
    stdin: Option<&'static str>,
    same: Same,
    /// What both must print (a check on podman as much as on berth).
    want: (i32, &'static str),
}

const fn row(args: &'static [&'static str], code: i32, stdout: &'static str) -> Row {
    Row { args, stdin: None, same: Same::All, want: (code, stdout) }
}

const ROWS: &[Row] = &[
    // Everything after IMAGE goes to the container, `--` included; a `--`
    // before IMAGE ends the options.
    // (The error names the runtime: its words differ.)
    Row { same: Same::Stdout, ..row(&["run", "--rm", "bb", "--", "echo", "a"], 127, "") },
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
    Row { same: Same::Stdout, ..row(&["run", "--rm=yes", "bb", "true"], 125, "") },
    // rm: podman's checks and words.
    row(&["rm"], 125, ""),
    row(&["rm", "-a", "c1"], 125, ""),
    row(&["rm", "-t", "3", "c1"], 125, ""),
    Row { same: Same::Stdout, ..row(&["rm", "-f", "-t", "abc", "c1"], 125, "") },
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
    Row { same: Same::Stdout, ..row(&["ps", "-n"], 125, "") },
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
    let mut failures = Vec::new();
    for r in ROWS {
        let berth = output(env.cmd(r.args), r.stdin);
        let pod = output(podman.cmd(r.args), r.stdin);
        let mut problems = Vec::new();
        if (berth.code, berth.stdout.as_str()) != (Some(r.want.0), r.want.1) {
            problems.push(format!("berth {:?} {:?}, want {:?}", berth.code, berth.stdout, r.want));
        }
        if (pod.code, pod.stdout.as_str()) != (Some(r.want.0), r.want.1) {
            problems.push(format!("podman {:?} {:?}, want {:?} (is this podman 4.3?)", pod.code, pod.stdout, r.want));
        }
        if r.want.0 >= 125 && berth.error.is_none() {
            problems.push("berth printed no Error: line".into());
        }
        if r.same == Same::All && berth.error != pod.error {
            problems.push(format!("error lines differ: berth {:?}, podman {:?}", berth.error, pod.error));
        }
        if !problems.is_empty() {
            failures.push(format!("{:?}:\n  {}", r.args, problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), ROWS.len(), failures.join("\n"));
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
        let o = output(c, None);
        assert_eq!(o.code, Some(0));
        serde_json::from_str(&o.stdout).unwrap()
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
    let empty = |c: Command| output(c, None).stdout;
    assert_eq!(empty(env.cmd(&["ps", "--format", "json"])), "[]\n");
    assert_eq!(empty(podman.cmd(&["ps", "--format", "json"])), "[]\n");
}

/// The default table: -q prints short IDs (--no-trunc full ones), and
/// --noheading keeps the columns aligned.
#[test]
fn ps_table_and_ids() {
    let (env, podman) = setup();
    for (tool, o) in [
        ("berth", output(env.cmd(&["ps", "-a", "-q"]), None)),
        ("podman", output(podman.cmd(&["ps", "-a", "-q"]), None)),
    ] {
        let ids: Vec<&str> = o.stdout.lines().collect();
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
