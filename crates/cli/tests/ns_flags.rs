//! Namespace flags, run for real: `--pid/--network/--uts/--ipc/--cgroupns`
//! `host` give the host's namespace (compared by the nsfs inode of
//! /proc/self/ns/*), `container:X` the running X's, `ns:PATH` the one at
//! PATH; inspect's HostConfig says so as podman does; bad values fail as
//! podman's do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::containers::Cleanup;
use common::*;

/// Our (the host's) namespace of type `ns`, as readlink shows it: `net:[4026531833]`.
fn host_ns(ns: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap().to_string_lossy().into_owned()
}

/// The namespaces a `berth run --rm FLAGS bb` sees, in `NAMES` order.
fn seen_ns(env: &Env, flags: &[&str], names: &[&str]) -> Vec<String> {
    let script: String = names.iter().map(|n| format!("readlink /proc/self/ns/{n}; ")).collect();
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["bb", "sh", "-c", &script]);
    env.ok(&args).lines().map(String::from).collect()
}

const ALL: [&str; 5] = ["net", "pid", "uts", "ipc", "cgroup"];

#[test]
fn host_namespaces_are_the_hosts() {
    let (env, _) = Env::with_busybox();
    let host: Vec<String> = ALL.iter().map(|n| host_ns(n)).collect();
    // By default none is the host's.
    let private = seen_ns(&env, &[], &ALL);
    for (h, p) in host.iter().zip(&private) {
        assert_ne!(h, p);
    }
    let flags = ["--network", "host", "--pid", "host", "--uts", "host", "--ipc", "host", "--cgroupns", "host"];
    assert_eq!(seen_ns(&env, &flags, &ALL), host);
    // Explicit `private` is the default.
    let flags = ["--pid", "private", "--uts", "private", "--ipc", "private", "--cgroupns", "private"];
    let seen = seen_ns(&env, &flags, &["pid", "uts", "ipc", "cgroup"]);
    for (h, p) in host[1..].iter().zip(&seen) {
        assert_ne!(h, p);
    }
}

#[test]
fn pid_host_sees_the_hosts_pid_1() {
    let (env, _) = Env::with_busybox();
    let comm = std::fs::read_to_string("/proc/1/comm").unwrap();
    assert_eq!(env.ok(&["run", "--rm", "--pid", "host", "bb", "cat", "/proc/1/comm"]), comm);
    // Its own pid namespace: pid 1 is its command.
    assert_eq!(env.ok(&["run", "--rm", "bb", "cat", "/proc/1/comm"]), "cat\n");
}

#[test]
fn network_host_sees_the_hosts_interfaces() {
    let (env, _) = Env::with_busybox();
    let names = |text: &str| -> Vec<String> {
        let mut v: Vec<String> =
            text.lines().skip(2).filter_map(|l| l.split(':').next().map(|n| n.trim().to_string())).collect();
        v.sort();
        v
    };
    let host = names(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert!(host.len() > 1, "{host:?}");
    assert_eq!(names(&env.ok(&["run", "--rm", "--network", "host", "bb", "cat", "/proc/net/dev"])), host);
    // The default (and `none`): lo only, up.
    for flags in [&[][..], &["--network", "none"]] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend(["bb", "cat", "/proc/net/dev"]);
        assert_eq!(names(&env.ok(&args)), ["lo"]);
    }
    env.ok(&["run", "--rm", "--network", "none", "bb", "ping", "-c", "1", "-W", "2", "127.0.0.1"]);
}

#[test]
fn uts_host_gives_the_hosts_hostname() {
    let (env, _) = Env::with_busybox();
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let out = env.ok(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "bb",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo; echo $HOSTNAME",
    ]);
    assert_eq!(out, format!("{host}\n{host}\n{host}\n"));
    let e = env.fails(&["run", "--rm", "--uts", "host", "--hostname", "x", "bb", "true"], 125);
    assert_eq!(
        e,
        "Error: invalid config provided: cannot set hostname when running in the host UTS namespace: invalid configuration\n"
    );
}

#[test]
fn container_namespaces_are_joined() {
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let id = env.ok(&["run", "-d", "--name", "a", "--hostname", "ahost", "bb", "sleep", "100"]).trim().to_string();
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "a"]).trim().to_string();
    let theirs: Vec<String> = ALL
        .iter()
        .map(|n| std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap().to_string_lossy().into_owned())
        .collect();
    let flags = [
        "--network",
        "container:a",
        "--pid",
        "container:a",
        "--uts",
        "container:a",
        "--ipc",
        "container:a",
        "--cgroupns",
        "container:a",
    ];
    assert_eq!(seen_ns(&env, &flags, &ALL), theirs);
    // Its pid namespace: a's sleep is there; its hostname too.
    let out = env.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:a",
        "--uts",
        "container:a",
        "bb",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname",
    ]);
    assert_eq!(out, "sleep 100 \nahost\n");
    // A POSIX message queue made in one is seen in the other (the mqueue
    // filesystem belongs to the IPC namespace).
    env.ok(&["exec", "a", "touch", "/dev/mqueue/berthq"]);
    assert_eq!(env.ok(&["run", "--rm", "--ipc", "container:a", "bb", "ls", "/dev/mqueue"]), "berthq\n");
    assert_eq!(env.ok(&["run", "--rm", "bb", "ls", "/dev/mqueue"]), "");
    // And its /dev/shm, both ways; nothing of it stays mounted on the host.
    env.ok(&["exec", "a", "sh", "-c", "echo hello > /dev/shm/x"]);
    let out =
        env.ok(&["run", "--rm", "--ipc", "container:a", "bb", "sh", "-c", "cat /dev/shm/x; echo back > /dev/shm/y"]);
    assert_eq!(out, "hello\n");
    assert_eq!(env.ok(&["exec", "a", "cat", "/dev/shm/y"]), "back\n");
    let data = env.root.join("container-data").to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&data), "{mounts}");

    // Recorded by ID, shown as podman shows it.
    env.ok(&[
        "create",
        "--name",
        "b",
        "--ipc",
        "container:a",
        "--pid",
        "container:a",
        "--network",
        "container:a",
        "--uts",
        "container:a",
        "--cgroupns",
        "container:a",
        "bb",
        "true",
    ]);
    let modes = env.ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}} {{.HostConfig.NetworkMode}} {{.HostConfig.UTSMode}} {{.HostConfig.CgroupMode}}",
        "b",
    ]);
    let c = format!("container:{id}");
    assert_eq!(modes.trim(), [c.as_str(); 5].join(" "));
    // a cannot go while b depends on it (podman's words).
    let e = env.fails(&["rm", "-f", "a"], 125);
    assert!(e.contains(&format!("container {id} has dependent containers which must be removed before it")), "{e}");
    // Stopped, a is started again for b, as podman starts dependencies.
    env.ok(&["stop", "-t", "0", "a"]);
    env.ok(&["start", "b"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "a"]).trim(), "running");
    // Likewise for an attached `run`, whose monitor was started before a's:
    // a's monitor holds none of its sockets, so the run still ends.
    env.ok(&["stop", "-t", "0", "a"]);
    assert_eq!(env.ok(&["run", "--rm", "--ipc", "container:a", "bb", "echo", "ok"]), "ok\n");
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "a"]).trim(), "running");
    env.ok(&["rm", "-f", "-t", "0", "b"]);
    env.ok(&["rm", "-f", "-t", "0", "a"]);
}

#[test]
fn ns_paths_are_joined() {
    let (env, _) = Env::with_busybox();
    let path = "ns:/proc/self/ns/uts".to_string();
    // Our own (berth's) UTS namespace, the host's.
    let out = seen_ns(&env, &["--uts", &path], &["uts"]);
    assert_eq!(out, [host_ns("uts")]);
    let modes = env.ok(&["create", "--ipc", "ns:/proc/self/ns/ipc", "bb", "true"]);
    let id = modes.trim();
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.IpcMode}}", id]), "ns:/proc/self/ns/ipc\n");
    env.ok(&["rm", id]);
}

#[test]
fn inspect_shows_the_modes_as_podman() {
    let (env, _) = Env::with_busybox();
    let f = "{{.HostConfig.IpcMode}} {{.HostConfig.PidMode}} {{.HostConfig.UTSMode}} {{.HostConfig.CgroupMode}} {{.HostConfig.NetworkMode}}";
    let id = env.ok(&["create", "bb", "true"]);
    assert_eq!(env.ok(&["inspect", "--format", f, id.trim()]), "shareable private private private none\n");
    let id = env.ok(&[
        "create",
        "--ipc",
        "host",
        "--pid",
        "host",
        "--uts",
        "host",
        "--cgroupns",
        "host",
        "--network",
        "host",
        "bb",
        "true",
    ]);
    // podman 4.3 says "shareable" for the host's IPC namespace too.
    assert_eq!(env.ok(&["inspect", "--format", f, id.trim()]), "shareable host host host host\n");
    env.ok(&["rm", "-a"]);
}

#[test]
fn ipc_host_and_none_and_shm() {
    let (env, _) = Env::with_busybox();
    // The host's /dev/shm: a file made there is seen in the container.
    let name = format!("berth-nsflags-{}", std::process::id());
    std::fs::write(format!("/dev/shm/{name}"), "shared").unwrap();
    let out = env.run(&["run", "--rm", "--ipc", "host", "bb", "cat", &format!("/dev/shm/{name}")]);
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(stdout(&out), "shared", "{}", stderr(&out));
    let e = env.fails(&["run", "--rm", "--ipc", "host", "--shm-size", "1m", "bb", "true"], 125);
    assert_eq!(e, "Error: invalid config provided: cannot set shmsize when running in the {host } IPC Namespace\n");
    // none: no /dev/shm mount.
    let o = env.run(&["run", "--rm", "--ipc", "none", "bb", "grep", " /dev/shm ", "/proc/mounts"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(1), String::new()));
    assert!(env.ok(&["run", "--rm", "bb", "grep", " /dev/shm ", "/proc/mounts"]).contains("tmpfs"));
}

#[test]
fn bad_namespace_values_fail_as_podman() {
    let (env, _) = Env::with_busybox();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--network", "container:missing"],
            "looking up container to share net namespace with: no container with name or ID \"missing\" found: no such container",
        ),
        (
            &["--ipc", "container:missing"],
            "looking up container to share ipc namespace with: no container with name or ID \"missing\" found: no such container",
        ),
        (&["--pid", "foo"], "unrecognized namespace mode foo passed"),
        (&["--uts", "foo"], "unrecognized namespace mode foo passed"),
        (&["--cgroupns", "foo"], "unrecognized namespace mode foo passed"),
        (&["--userns", "foo"], "unrecognized namespace mode foo passed"),
        (&["--pid", "ns:/nonexist"], "cannot find specified PID namespace path: stat /nonexist: no such file or directory"),
        (
            &["--network", "none", "--network", "host"],
            "cannot set multiple networks without bridge network mode, selected mode none: invalid argument",
        ),
    ];
    for (flags, msg) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend(*flags);
        args.extend(["bb", "true"]);
        assert_eq!(env.fails(&args, 125), format!("Error: {msg}\n"), "{flags:?}");
    }
    // A network that does not exist (nothing is made on the host).
    let e = env.fails(&["run", "--rm", "--network", "nosuch", "bb", "true"], 125);
    assert_eq!(e, "Error: unable to find network with name or ID nosuch: network not found\n");
    let e = env.fails(&["run", "--rm", "--userns", "auto", "bb", "true"], 125);
    assert!(e.contains("--userns=auto is not supported by berth yet"), "{e}");
    // --userns=host (and empty) are the default.
    env.ok(&["run", "--rm", "--userns", "host", "bb", "true"]);
    env.ok(&["run", "--rm", "--userns=", "bb", "true"]);
    // Nothing was left behind.
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn dependents_go_first_with_rm_all_and_prune() {
    let (env, _) = Env::with_busybox();
    for (name, flags) in [("x", vec![]), ("y", vec!["--ipc", "container:x"]), ("z", vec!["--uts", "container:y"])] {
        let mut args = vec!["create", "--name", name];
        args.extend(flags);
        args.extend(["bb", "true"]);
        env.ok(&args);
    }
    let e = env.fails(&["rm", "y"], 125);
    assert!(e.contains("has dependent containers which must be removed before it"), "{e}");
    env.ok(&["rm", "-a"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    for (name, flags) in [("x", vec![]), ("y", vec!["--pid", "container:x"]), ("z", vec!["--cgroupns", "container:y"])]
    {
        let mut args = vec!["create", "--name", name];
        args.extend(flags);
        args.extend(["bb", "true"]);
        env.ok(&args);
    }
    assert_eq!(env.ok(&["container", "prune", "-f"]).lines().count(), 3);
}

/// With the host's network: the host's hostname unless given, /etc/hosts
/// without the container's names, resolv.conf: podman's files, side by side.
#[test]
fn host_network_files_as_podman() {
    let (env, _) = Env::with_busybox();
    let podman = common::podman::Podman::beside(&env);
    let script = "hostname; echo $HOSTNAME; cat /etc/hostname; echo; cat /etc/hosts /etc/resolv.conf";
    for flags in [&["--network", "host"][..], &["--network", "host", "--hostname", "foo"]] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend(["localhost/bb", "sh", "-c", script]);
        let ours = env.ok(&args);
        assert_eq!(ours, podman.ok(&args), "{flags:?}");
        assert!(ours.contains("host.containers.internal"), "{ours}");
    }
}
