//! `exec`, run for real as root: a process joins a running container (its
//! namespaces, its cgroup, its user and environment rules), with its exit
//! code, podman's 126/127/255/125 and messages, its stdio as an attached
//! `run` has it, and `-d` returning at once. Side by side with podman 4.3
//! where the outcome can be compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::containers::{eventually, host_pids, Cleanup};
use common::podman::{masked, Podman};
use common::*;

fn link(path: String) -> String {
    std::fs::read_link(path).unwrap().to_string_lossy().into_owned()
}

fn init_pid(env: &Env, name: &str) -> i32 {
    env.ok(&["inspect", "--format", "{{.State.Pid}}", name]).trim().parse().unwrap()
}

#[test]
fn exec_runs_inside_the_running_container_with_its_exit_code() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "--hostname", "boxhost", "bb", "sleep", "100"]);
    // The container's pid namespace (its init is pid 1 there), UTS
    // namespace and root.
    assert_eq!(env.ok(&["exec", "box", "cat", "/proc/1/cmdline"]), "sleep\x00100\x00");
    assert_eq!(env.ok(&["exec", "box", "hostname"]), "boxhost\n");
    // Exit codes are the process's own.
    for code in [0, 3, 42] {
        let o = env.run(&["exec", "box", "sh", "-c", &format!("exit {code}")]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    }
    // A process killed by a signal: 128 + signal, as a shell reports it.
    assert_eq!(env.run(&["exec", "box", "sh", "-c", "kill -9 $$"]).status.code(), Some(137));

    // Seen from the host: every namespace and the cgroup of the init.
    env.ok(&["exec", "-d", "box", "sleep", "77"]);
    eventually("the exec'd sleep", || host_pids(&["sleep", "77"]).len() == 1);
    let exec_pid = host_pids(&["sleep", "77"])[0];
    let init = init_pid(&env, "box");
    for ns in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        assert_eq!(link(format!("/proc/{exec_pid}/ns/{ns}")), link(format!("/proc/{init}/ns/{ns}")), "{ns}");
        assert_ne!(link(format!("/proc/{exec_pid}/ns/{ns}")), link(format!("/proc/self/ns/{ns}")), "{ns}");
    }
    let cgroup = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroup(exec_pid), cgroup(init));
    // The container's seccomp filter and capabilities.
    let status = std::fs::read_to_string(format!("/proc/{exec_pid}/status")).unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(status.lines().any(|l| l == "CapEff:\t00000000a80425fb"), "{status}");
}

#[test]
fn commands_that_cannot_run_and_containers_that_do_not_run() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "bb", "sleep", "100"]);
    let e = env.fails(&["exec", "box", "no-such-cmd"], 127);
    assert_eq!(
        e,
        "Error: exec: \"no-such-cmd\": executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found\n"
    );
    env.fails(&["exec", "box", "/no/such/file"], 127);
    let e = env.fails(&["exec", "box", "/etc/passwd"], 126);
    assert_eq!(e, "Error: exec: \"/etc/passwd\": permission denied: OCI permission denied\n");
    // podman's exec sessions fail with 255.
    let e = env.fails(&["exec", "box"], 255);
    assert_eq!(e, "Error: must provide a non-empty command to start an exec session: invalid argument\n");
    let e = env.fails(&["exec", "-u", "nosuchuser", "box", "true"], 255);
    assert!(e.contains("unable to find user nosuchuser: no matching entries in passwd file"), "{e}");
    env.ok(&["create", "--name", "made", "bb", "sleep", "100"]);
    env.ok(&["run", "--name", "done", "bb", "true"]);
    for name in ["made", "done"] {
        let e = env.fails(&["exec", name, "true"], 255);
        assert_eq!(e, "Error: can only create exec sessions on running containers: container state improper\n");
    }
    // No container: 125.
    let e = env.fails(&["exec", "nope", "true"], 125);
    assert_eq!(e, "Error: no container with name or ID \"nope\" found: no such container\n");
    let e = env.fails(&["exec"], 125);
    assert!(e.starts_with("Error: exec requires the name or ID of a container or the --latest flag\n"), "{e}");
    assert!(e.contains("See 'berth exec --help'"), "{e}");
    // --latest: the last container made (`done`, which has exited).
    env.fails(&["exec", "-l", "true"], 255);
    env.ok(&["rm", "made", "done"]);
    assert_eq!(env.ok(&["exec", "-l", "echo", "latest"]), "latest\n");
    // -d: every failure is 125.
    env.fails(&["exec", "-d", "box", "no-such-cmd"], 125);
    // --detach-keys is checked, as podman does.
    let e = env.fails(&["exec", "--detach-keys", "bogus", "box", "true"], 125);
    assert_eq!(e, "Error: invalid detach keys: Unknown character: 'bogus'\n");
    env.ok(&["exec", "--detach-keys", "ctrl-x,y", "box", "true"]);
}

#[test]
fn environment_user_and_workdir_as_podman_sets_them() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "-e", "FOO=bar", "-e", "KEEP=1", "-w", "/tmp", "bb", "sleep", "100"]);
    let vars = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["box", "env"]);
        let mut o: Vec<String> = env.ok(&full).lines().map(String::from).collect();
        o.sort();
        o
    };
    // The container's environment.
    let plain = vars(&[]);
    // (The image sets PATH=/bin.)
    for want in ["FOO=bar", "KEEP=1", "HOME=/root", "PATH=/bin"] {
        assert!(plain.iter().any(|v| v == want), "{want} in {plain:?}");
    }
    assert!(plain.iter().any(|v| v.starts_with("HOSTNAME=")), "{plain:?}");
    // podman sets TERM=xterm in every container, so an exec has it too.
    assert!(plain.iter().any(|v| v == "TERM=xterm"), "{plain:?}");
    // -e and --env-file on top; later values win, files before flags; a
    // name alone takes ours.
    let file = env.path("vars");
    std::fs::write(&file, "# a comment\n\n   FOO=from-file\nSPACED=  kept  \nFROM_HOST\nONLY_FILE=1\n").unwrap();
    let mut cmd = env.cmd(&["exec", "--env-file", file.to_str().unwrap(), "-e", "FOO=flag", "-e", "HOSTVAR"]);
    cmd.args(["-e", "HOSTGLOB*", "box", "env"]);
    cmd.env("FROM_HOST", "h1").env("HOSTVAR", "h2").env("HOSTGLOB_A", "g1");
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got = stdout(&o);
    for want in ["FOO=flag", "SPACED=  kept  ", "FROM_HOST=h1", "ONLY_FILE=1", "HOSTVAR=h2", "HOSTGLOB_A=g1", "KEEP=1"]
    {
        assert!(got.lines().any(|l| l == want), "{want} in {got}");
    }
    assert_eq!(got.lines().filter(|l| l.starts_with("FOO=")).count(), 1, "{got}");
    // The container's process never changed.
    let init = init_pid(&env, "box");
    let init_env = std::fs::read(format!("/proc/{init}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&init_env).contains("ONLY_FILE"));
    // podman's words for bad input.
    let e = env.fails(&["exec", "--env-file", "/nonexistent", "box", "true"], 125);
    assert_eq!(e, "Error: parsing env file \"/nonexistent\": open /nonexistent: no such file or directory\n");
    std::fs::write(&file, "=x\n").unwrap();
    let e = env.fails(&["exec", "--env-file", file.to_str().unwrap(), "box", "true"], 125);
    assert_eq!(e, format!("Error: parsing env file {:?}: invalid environment variable: \"=x\"\n", file));
    let e = env.fails(&["exec", "-e", "", "box", "true"], 125);
    assert_eq!(e, "Error: parsing environment variables: invalid environment variable: \"\"\n");

    // The user: the container's by default; -u looked up in its passwd,
    // with that user's HOME (the container's HOME was not set by the user).
    assert_eq!(env.ok(&["exec", "box", "id"]), "uid=0(root) gid=0(root)\n");
    assert_eq!(env.ok(&["exec", "-u", "nobody", "box", "id", "-u"]), "65534\n");
    // podman 4.3 gives an exec no supplementary groups but those that list
    // its user (the side-by-side test below compares).
    assert_eq!(env.ok(&["exec", "-u", "1234:55", "box", "id"]), "uid=1234 gid=55\n");
    let home = |args: &[&str]| {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["box", "sh", "-c", "echo $HOME"]);
        env.ok(&full)
    };
    assert_eq!(home(&["-u", "nobody"]), "/nonexistent\n");
    assert_eq!(home(&["-u", "nobody", "-e", "HOME=/mine"]), "/mine\n");
    // Another user has no capabilities; root and --privileged do.
    let caps = |args: &[&str]| {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["box", "grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"]);
        env.ok(&full).replace('\t', " ")
    };
    assert_eq!(caps(&["-u", "nobody"]), "CapEff: 0000000000000000\nCapBnd: 00000000a80425fb\n");
    assert_eq!(caps(&[]), "CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\n");
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let our_bnd = ours.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim();
    let privileged = caps(&["--privileged"]);
    assert_eq!(privileged, format!("CapEff: {our_bnd}\nCapBnd: {our_bnd}\n"));
    // The working directory: the container's, or -w.
    assert_eq!(env.ok(&["exec", "box", "pwd"]), "/tmp\n");
    assert_eq!(env.ok(&["exec", "-w", "/etc", "box", "pwd"]), "/etc\n");
}

#[test]
fn stdio_is_an_attached_runs() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "bb", "sleep", "100"]);
    let with_input = |args: &[&str], input: &str| {
        let mut c = env.cmd(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    // Without -i our input never reaches it: its stdin is /dev/null.
    let o = with_input(&["exec", "box", "sh", "-c", "cat; readlink /proc/self/fd/0"], "secret\n");
    assert_eq!(stdout(&o), "/dev/null\n");
    // With -i it does, through a pipe.
    let o = with_input(&["exec", "-i", "box", "sh", "-c", "cat; readlink /proc/self/fd/0"], "fed\n");
    let out = stdout(&o);
    assert!(out.starts_with("fed\npipe:"), "{out}");
    // stdout and stderr apart, each through a pipe of its own.
    let o = env.run(&[
        "exec",
        "box",
        "sh",
        "-c",
        "echo out; echo err >&2; for f in 1 2; do readlink /proc/self/fd/$f; done",
    ]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "out");
    assert!(lines[1].starts_with("pipe:") && lines[2].starts_with("pipe:") && lines[1] != lines[2], "{out}");
    assert_eq!(stderr(&o), "err\n");
    // -t: a terminal of its own (and TERM), never ours.
    let o = env.run(&["exec", "-t", "box", "sh", "-c", "tty; echo $TERM"]);
    assert_eq!(stdout(&o).replace('\r', ""), "/dev/pts/0\nxterm\n");
    let o = env.run(&["exec", "box", "tty"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(1), "not a tty\n".to_string()));
    // Signals we get go to the process.
    let mut child = env
        .cmd(&["exec", "box", "sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.1; done"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!((status.code(), line.as_str()), (Some(9), "got TERM\n"));
}

#[test]
fn detached_exec_returns_at_once_and_runs_on() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "box", "bb", "sleep", "100"]);
    let t = Instant::now();
    // `output()` returns only when every holder of our stdout closed it.
    let id = env.ok(&["exec", "-d", "box", "sh", "-c", "echo gone; sleep 78"]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let id = id.trim();
    assert!(id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id:?}");
    eventually("the detached sleep", || host_pids(&["sleep", "78"]).len() == 1);
    // With -t it gets a terminal, which it keeps after we are gone.
    env.ok(&["exec", "-d", "-t", "box", "sh", "-c", "tty > /tmp/tty; sleep 79"]);
    eventually("the detached terminal sleep", || host_pids(&["sleep", "79"]).len() == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!host_pids(&["sleep", "79"]).is_empty(), "hung up when berth left");
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/tty"]), "/dev/pts/0\n");
    // They end with the container.
    env.ok(&["stop", "-t", "0", "box"]);
    eventually("the exec'd processes to end", || host_pids(&["sleep", "78"]).is_empty());
    assert!(host_pids(&["sleep", "79"]).is_empty());
}

/// The same exec lines on both sides, against a container each made the
/// same way: exit codes, and the error line where podman's is its own
/// (runc's words differ from berth's runtime's for commands that cannot run).
#[test]
fn exit_codes_and_errors_side_by_side_with_podman() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    for args in [
        &["run", "-d", "--pull=never", "--name", "box", "-e", "FOO=bar", "-w", "/tmp", "localhost/bb", "sleep", "100"]
            [..],
        &["create", "--pull=never", "--name", "made", "localhost/bb", "true"],
    ] {
        env.ok(args);
        podman.ok(args);
    }
    let envfile = env.path("envfile");
    std::fs::write(&envfile, "# c\nA=1\n  B=two words \n").unwrap();
    let envfile = envfile.to_str().unwrap();
    let rows: &[(&[&str], bool)] = &[
        // (arguments, whether the error line is the same word for word)
        (&["exec", "box", "true"], true),
        (&["exec", "box", "sh", "-c", "exit 3"], true),
        (&["exec", "box", "sh", "-c", "echo $FOO; pwd"], true),
        (&["exec", "-w", "/etc", "-e", "FOO=x", "box", "sh", "-c", "echo $FOO; pwd"], true),
        (&["exec", "--env-file", envfile, "box", "sh", "-c", "echo \"$A|$B|\""], true),
        (&["exec", "-u", "nobody", "box", "sh", "-c", "id; echo $HOME"], true),
        (&["exec", "-u", "1234:55", "box", "id"], true),
        (&["exec", "box", "sh", "-c", "readlink /proc/self/fd/0; tty"], true),
        (&["exec", "-t", "box", "sh", "-c", "tty; echo $TERM"], true),
        (&["exec", "box", "no-such-cmd"], false),
        (&["exec", "box", "/etc/passwd"], false),
        (&["exec", "box"], true),
        (&["exec", "made", "true"], true),
        (&["exec", "nosuch", "true"], true),
        (&["exec", "-u", "nosuchuser", "box", "true"], true),
        (&["exec", "--env-file", "/nonexistent", "box", "true"], true),
        (&["exec", "-e", "", "box", "true"], true),
        (&["exec", "-d", "box", "no-such-cmd"], false),
    ];
    let mut failures = Vec::new();
    for (args, same_error) in rows {
        let b = env.run(args);
        let p = podman.run(args, None);
        let error = |s: String| s.lines().find(|l| l.starts_with("Error: ")).map(|l| l.replace("podman", "berth"));
        let (bout, pout) = (stdout(&b).replace('\r', ""), stdout(&p).replace('\r', ""));
        if b.status.code() != p.status.code() || masked(&bout) != masked(&pout) {
            failures.push(format!(
                "{args:?}: berth {:?} {bout:?}, podman {:?} {pout:?}",
                b.status.code(),
                p.status.code()
            ));
        }
        if *same_error && error(stderr(&b)) != error(stderr(&p)) {
            failures.push(format!("{args:?}: berth {:?}, podman {:?}", stderr(&b), stderr(&p)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A detached exec prints an ID, as podman's does.
    let b = env.ok(&["exec", "-d", "box", "true"]);
    let p = podman.ok(&["exec", "-d", "box", "true"]);
    assert_eq!(masked(&b), masked(&p));
}

/// Exec sessions as podman 4.3 keeps them (inspect's ExecIDs): an attached
/// exec's while it runs, a detached one's (the ID `exec -d` printed) until
/// the container starts again; `container cleanup --exec` refuses a running
/// one and an unknown one with podman's errors, and takes an ended one.
/// Both sides, the same steps.
#[test]
fn exec_sessions_as_podman_keeps_them() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    let mut seen = Vec::new();
    for who in ["berth", "podman"] {
        let cmd = |a: &[&str]| if who == "berth" { env.cmd(a) } else { podman.cmd(a) };
        let run = |a: &[&str]| cmd(a).stdin(Stdio::null()).output().unwrap();
        let ok = |a: &[&str]| {
            let o = run(a);
            assert!(o.status.success(), "{who} {a:?}: {}", stderr(&o));
            stdout(&o)
        };
        let count = || ok(&["inspect", "--format", "{{len .ExecIDs}}", "es"]).trim().to_string();
        let cleanup = |s: &str| {
            let o = run(&["container", "cleanup", "--exec", s, "es"]);
            let errors: Vec<String> = stderr(&o).lines().filter(|l| l.starts_with("Error: ")).map(masked).collect();
            (o.status.code(), stdout(&o), errors)
        };
        ok(&["run", "-d", "--pull=never", "--name", "es", "localhost/bb", "sleep", "100"]);
        let mut steps = vec![count()];
        let session = ok(&["exec", "-d", "es", "sleep", "4"]).trim().to_string();
        let ids = ok(&["inspect", "--format", "{{json .ExecIDs}}", "es"]);
        assert_eq!(ids.trim(), format!("[\"{session}\"]"), "{who}");
        let running = cleanup(&session);
        let unknown = cleanup("nosuch");
        // An attached one, listed while it runs.
        let mut attached =
            cmd(&["exec", "es", "sleep", "2"]).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
        eventually("the attached exec's session", || count() == "2");
        attached.wait().unwrap();
        steps.push(count());
        // Once the detached one ended, cleaning it up works; it stays listed.
        eventually("the detached exec's end", || cleanup(&session).0 == Some(0));
        steps.push(count());
        ok(&["stop", "-t", "0", "es"]);
        steps.push(count());
        ok(&["start", "es"]);
        steps.push(count());
        ok(&["rm", "-f", "-t", "0", "es"]);
        seen.push((steps, running, unknown));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].0, ["0", "1", "1", "1", "0"]);
    assert_eq!(seen[0].1 .0, Some(125));
}
