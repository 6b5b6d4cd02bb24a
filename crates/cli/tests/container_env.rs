//! What every container sees, as podman 4.3 gives it, observed from inside
//! real containers started both ways (attached `run`, and `run -d` through
//! the monitor, read back with `logs`): `lo` up in its empty network
//! namespace, podman's /etc/hosts, /etc/hostname, /etc/resolv.conf and
//! /run/.containerenv, /dev/shm's size (`--shm-size`), and the environment
//! (`container=`, `TERM`). Where podman gives the same thing, its output for
//! the same command on the same image is the reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::podman::{self, Podman};
use common::*;

/// berth and podman, each with the same busybox image as `localhost/bb`.
fn setup() -> (Env, Podman) {
    let (env, _) = Env::with_busybox();
    let podman = Podman::new();
    podman.ok(&["load", "-q", "-i", env.path("bb.tar").to_str().unwrap()]);
    (env, podman)
}

/// `args` run on berth: (exit code, stdout, stderr).
fn berth(env: &Env, args: &[&str]) -> (i32, String, String) {
    let o = env.run(args);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// `args` run on podman, which must succeed: its stdout.
fn podman_ok(podman: &Podman, args: &[&str]) -> String {
    podman.ok(args)
}

/// `script` in a container of `bb` started with `run -d` (monitor, log):
/// its output as `logs` gives it once it exited 0.
fn detached(env: &Env, name: &str, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb", "sh", "-c", script]);
    env.ok(&args);
    assert_eq!(env.ok(&["wait", name]).trim(), "0", "{name} failed: {}", env.ok(&["logs", name]));
    let logs = env.ok(&["logs", name]);
    env.ok(&["rm", name]);
    logs
}

/// `script` in a container of `bb` started attached with `run --rm`: its
/// stdout, once it exited 0.
fn attached(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb", "sh", "-c", script]);
    env.ok(&args)
}

/// lo's flags, then a server and its client over 127.0.0.1: the server
/// sends "hi" to whoever connects, the client (its input kept open so it
/// leaves only when the server closes) prints it. The client retries until
/// the server listens; without lo up every connect fails at once.
const LOOPBACK: &str = "cat /sys/class/net/lo/flags
nc -l -p 5000 -e echo hi &
server=$!
i=0
until sleep 1 | nc 127.0.0.1 5000 2>/dev/null; do
  i=$((i+1)); [ $i -gt 10 ] && echo never connected && kill $server && break; sleep 0.1
done
wait";

#[test]
fn loopback_is_up_attached_and_detached() {
    let (env, _) = Env::with_busybox();
    // IFF_UP | IFF_LOOPBACK, then what went through 127.0.0.1.
    let want = "0x9\nhi\n";
    assert_eq!(attached(&env, &[], LOOPBACK), want);
    assert_eq!(detached(&env, "lo", &[], LOOPBACK), want);
    // Still a namespace of its own: no interface but lo.
    assert_eq!(attached(&env, &[], "ls /sys/class/net"), "lo\n");
}

/// The root filesystem's mount options, as the container sees them.
const ROOT_MOUNT: &str = "grep \" / \" /proc/self/mounts | grep -o volatile || echo synced";

/// A `--rm` container's writes are thrown away with it, so podman mounts
/// its overlay `volatile` (its unmount then skips syncing the host's
/// filesystem); any other container's are synced. Once `run --rm` returned
/// the container is gone from the store, and its files follow.
#[test]
fn rm_containers_are_volatile_as_podman() {
    let (env, _) = Env::with_busybox();
    let podman = Podman::with_driver("overlay");
    podman.ok(&["load", "-q", "-i", env.path("bb.tar").to_str().unwrap()]);
    let theirs = podman_ok(&podman, &["run", "--rm", "localhost/bb", "sh", "-c", ROOT_MOUNT]);
    assert_eq!(theirs, "volatile\n");
    assert_eq!(attached(&env, &[], ROOT_MOUNT), theirs);
    assert_eq!(detached(&env, "kept", &[], ROOT_MOUNT), "synced\n");
    // A volatile container mounted again (start after init and unmount).
    env.ok(&["create", "--rm", "--name", "again", "bb", "sh", "-c", ROOT_MOUNT]);
    env.ok(&["init", "again"]);
    env.ok(&["unmount", "again"]);
    assert_eq!(env.ok(&["start", "-a", "again"]), "volatile\n");
    let containers = env.root.join("overlay/containers");
    assert_eq!(std::fs::read_dir(&containers).unwrap().count(), 0, "a --rm container left its directory");
    // Their data directories went with them.
    let data: Vec<_> =
        std::fs::read_dir(env.root.join("container-data")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(data, Vec::<std::ffi::OsString>::new());
    let staging = env.root.join("overlay/staging");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&staging).unwrap().count() > 0 {
        assert!(std::time::Instant::now() < deadline, "the removed containers' files stayed in {staging:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The files `args` (a berth command) fsynced, by path, as strace saw them
/// in every process it started.
fn fsynced(env: &Env, args: &[&str]) -> Vec<String> {
    let log = env.path("fsyncs");
    let berth = env.cmd(args);
    let mut cmd = std::process::Command::new("strace");
    // (strace passes its environment on: the env's berth.conf.)
    cmd.env("BERTH_CONFIG", env.config());
    cmd.args(["-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o"]).arg(&log);
    cmd.arg(berth.get_program()).args(berth.get_args());
    let o = cmd.stdin(std::process::Stdio::null()).output().expect("strace (apt-get install strace)");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    // `PID fsync(7</path/to/file>) = 0`
    text.lines().filter_map(|l| Some(l.split_once('<')?.1.split_once(">)")?.0.to_string())).collect()
}

/// A `--rm` container is not worth an fsync: the host's crash loses it
/// anyway. Its records (the store's `container.json`, the bundle's
/// `config.json`) are written without one; any other container's are synced.
#[test]
fn rm_containers_are_written_without_fsync() {
    let (env, _) = Env::with_busybox();
    let containers = |paths: &[String]| -> Vec<String> {
        let (data, store) = (env.root.join("container-data"), env.root.join("overlay"));
        let ours = |p: &String| p.starts_with(data.to_str().unwrap()) || p.starts_with(store.to_str().unwrap());
        paths.iter().filter(|p| ours(p)).cloned().collect()
    };
    let kept = fsynced(&env, &["run", "--name", "kept", "bb", "true"]);
    let kept = containers(&kept);
    assert!(kept.iter().any(|p| p.contains("/.config.json.tmp-")), "{kept:?}");
    assert!(kept.iter().any(|p| p.contains("/.container.json.tmp-")), "{kept:?}");
    let removed = fsynced(&env, &["run", "--rm", "bb", "true"]);
    // Except, once it is gone (after `run` returned), the store's list of
    // containers: one back after a crash would hold its layers.
    let list = env.root.join("overlay/containers");
    let removed: Vec<String> = containers(&removed).into_iter().filter(|p| p != list.to_str().unwrap()).collect();
    assert_eq!(removed, Vec::<String>::new());
    env.ok(&["rm", "kept"]);
}

/// The files podman makes, their modes and owners.
const FILES: &str = "for f in /etc/hosts /etc/hostname /run/.containerenv; do
  echo \"== $f $(stat -c '%a %u:%g' $f)\"; cat $f
done";

#[test]
fn etc_files_as_podman() {
    let (env, podman) = setup();
    let flags = ["--name", "x", "--hostname", "h"];
    let ours = attached(&env, &flags, FILES);
    let theirs =
        podman_ok(&podman, &["run", "--rm", "--name", "x", "--hostname", "h", "localhost/bb", "sh", "-c", FILES]);
    assert_eq!(ours, theirs);
    // What that is: the host's entries (for the names they do not cover),
    // host.containers.internal, the container's names on 127.0.0.1; the
    // hostname without a newline; an empty .containerenv.
    assert!(ours.contains("\n127.0.0.1\th x\n== /etc/hostname 644 0:0\nh== /run/.containerenv 644 0:0\n"), "{ours}");
    assert!(ours.ends_with("/run/.containerenv 644 0:0\n"), "{ours}");
    for line in ours.lines().skip(1).take_while(|l| !l.starts_with("==")) {
        let (ip, names) = line.split_once('\t').unwrap_or_else(|| panic!("not IP<tab>names: {line:?}"));
        assert!(ip.parse::<std::net::IpAddr>().is_ok() && !names.is_empty(), "{line:?}");
    }
    // The same through the monitor.
    assert_eq!(detached(&env, "x", &["--hostname", "h"], FILES), ours);

    // Without --hostname: the short ID, in both files.
    let id = env.ok(&["create", "--name", "n", "bb", "sh", "-c", "cat /etc/hostname; echo; tail -n 1 /etc/hosts"]);
    let short = &id.trim()[..12];
    let (code, out, err) = berth(&env, &["start", "-a", "n"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{short}\n127.0.0.1\t{short} n\n"));
    // The container's own copies: what it writes stays in it.
    assert_eq!(attached(&env, &[], "echo 10.0.0.9 db >>/etc/hosts && tail -n 1 /etc/hosts"), "10.0.0.9 db\n");
}

/// Create writes these files without fsync; what a crash leaves of them is
/// an empty file (or none), and the next start makes them again.
#[test]
fn a_start_remakes_etc_files_a_crash_emptied() {
    let (env, _) = Env::with_busybox();
    let id = env.ok(&[
        "create",
        "--name",
        "torn",
        "--hostname",
        "h",
        "bb",
        "sh",
        "-c",
        "cat /etc/hostname; echo; tail -n 1 /etc/hosts; grep -c nameserver /etc/resolv.conf",
    ]);
    // In the runroot, as podman keeps them.
    let dir = env.runroot.join("userdata").join(id.trim());
    let before = std::fs::read_to_string(dir.join("hosts")).unwrap();
    // inspect shows where they are once it started, as podman does.
    let paths = "{{.HostnamePath}}|{{.HostsPath}}|{{.ResolvConfPath}}";
    assert_eq!(env.ok(&["inspect", "--format", paths, "torn"]), "||\n");
    std::fs::write(dir.join("hosts"), "").unwrap();
    std::fs::remove_file(dir.join("hostname")).unwrap();
    std::fs::write(dir.join("resolv.conf"), "").unwrap();
    let (code, out, err) = berth(&env, &["start", "-a", "torn"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("h"));
    assert_eq!(lines.next(), Some("127.0.0.1\th torn"));
    assert_ne!(lines.next(), Some("0"), "no nameserver in the remade resolv.conf");
    assert_eq!(std::fs::read_to_string(dir.join("hosts")).unwrap(), before);
    let shown = env.ok(&["inspect", "--format", paths, "torn"]);
    let d = dir.display();
    assert_eq!(shown, format!("{d}/hostname|{d}/hosts|{d}/resolv.conf\n"));
    // A reboot empties the runroot: the next start makes them all again.
    std::fs::remove_dir_all(&dir).unwrap();
    let (code, again, err) = berth(&env, &["start", "-a", "torn"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, out);
    assert_eq!(std::fs::read_to_string(dir.join("hosts")).unwrap(), before);
    // And removing the container takes them.
    env.ok(&["rm", "torn"]);
    assert!(!dir.exists());
}

/// A container in the host's UTS namespace has the host's name in its
/// /etc/hostname, made again the same after a reboot emptied the runroot.
#[test]
fn a_start_after_a_reboot_remakes_a_shared_hostname() {
    let (env, _) = Env::with_busybox();
    let id = env.ok(&["create", "--uts", "host", "--name", "u", "bb", "cat", "/etc/hostname"]);
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    assert_eq!(env.ok(&["start", "-a", "u"]), host);
    std::fs::remove_dir_all(env.runroot.join("userdata").join(id.trim())).unwrap();
    let (code, out, err) = berth(&env, &["start", "-a", "u"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, host.as_str(), ""));
    // Whole: no "crash emptied" repair at the next start either.
    let (code, _, err) = berth(&env, &["start", "-a", "u"]);
    assert_eq!((code, err.as_str()), (0, ""));
}

/// podman's resolv.conf for a container with a network namespace of its own,
/// worked out from the host's file the simple way: its nameservers but the
/// loopback and IPv6 ones (Google's if none is left), its last search and
/// options lines.
fn expected_resolv_conf(host: &str) -> String {
    let lines: Vec<&str> = host.lines().map(|l| l.split('#').next().unwrap().trim()).collect();
    let value = |key: &str| lines.iter().filter_map(|l| l.strip_prefix(key)).map(str::trim).collect::<Vec<_>>();
    let mut servers: Vec<&str> =
        value("nameserver ").into_iter().filter(|s| !s.starts_with("127.") && !s.contains(':')).collect();
    if servers.is_empty() {
        servers = vec!["8.8.8.8", "8.8.4.4"];
    }
    let mut out = String::new();
    if let Some(s) = value("search ").last().filter(|s| **s != ".") {
        out.push_str(&format!("search {}\n", s.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if let Some(o) = value("options ").last() {
        out.push_str(&format!("options {}\n", o.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    out
}

#[test]
fn resolv_conf_has_the_hosts_reachable_resolvers() {
    // (podman writes none with --network none: what berth writes is
    // podman's for a container with a network, checked against the rule.)
    let (env, _) = Env::with_busybox();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let want = format!("{}644\n", expected_resolv_conf(&host));
    let script = "cat /etc/resolv.conf; stat -c %a /etc/resolv.conf";
    assert_eq!(attached(&env, &[], script), want);
    assert_eq!(detached(&env, "r", &[], script), want);
}

/// /dev/shm as the container sees it: mount options, filesystem, source and
/// superblock options (its mountinfo line from field 6, without the
/// optional fields), mode, and size in KiB.
const SHM: &str = r#"grep ' /dev/shm ' /proc/self/mountinfo | awk '{ split($0, p, " - "); split(p[1], f, " "); print f[6] " - " p[2] }'
stat -c %a /dev/shm
df -k /dev/shm | tail -n 1 | awk '{ print $2 }'"#;

#[test]
fn dev_shm_as_podman() {
    let (env, podman) = setup();
    let shm = |size: Option<&str>| -> (String, String) {
        let flags: Vec<&str> = size.map(|s| vec!["--shm-size", s]).unwrap_or_default();
        let ours = attached(&env, &flags, SHM);
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&["localhost/bb", "sh", "-c", SHM]);
        (ours, podman_ok(&podman, &args))
    };
    // podman's default is 64000 KiB (containers.conf's "65536k" read in
    // decimal); an explicit 64m is 64 MiB.
    let (ours, theirs) = shm(None);
    assert_eq!(ours, "rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=64000k\n1777\n64000\n");
    assert_eq!(ours, theirs);
    for (size, kib) in [("64m", "65536"), ("1g", "1048576"), ("1000", "4"), ("1.5m", "1536"), ("5 M", "5120")] {
        let (ours, theirs) = shm(Some(size));
        assert!(ours.ends_with(&format!("\n{kib}\n")), "--shm-size {size}: {ours}");
        assert_eq!(ours, theirs, "--shm-size {size}");
    }
    assert_eq!(detached(&env, "s", &["--shm-size", "1g"], SHM), shm(Some("1g")).0);
    // Bad sizes: podman's words, 125, on create and run alike.
    for (cmd, size) in [("run", "abc"), ("create", "-1"), ("run", "10x"), ("create", "1.2.3")] {
        let args = [cmd, "--shm-size", size, "bb", "true"];
        let ours = env.fails(&args, 125);
        let o = podman.run(&[cmd, "--shm-size", size, "localhost/bb", "true"], None);
        assert_eq!(o.status.code(), Some(125), "podman --shm-size {size}");
        assert_eq!(ours, stderr(&o), "--shm-size {size}");
    }
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "a bad --shm-size left a container");
}

/// The container's environment, sorted (podman's order is Go's map order),
/// with its ID (the default HOSTNAME) masked.
fn environment(out: &str) -> Vec<String> {
    let mut vars: Vec<String> = out.lines().map(|l| podman::masked(l.trim_end_matches('\r'))).collect();
    vars.sort();
    vars
}

#[test]
fn environment_as_podman() {
    let (env, podman) = setup();
    let cases: &[&[&str]] = &[
        &[],
        // TERM is there with a terminal or without, unless set.
        &["-t"],
        &["-e", "TERM=vt100", "-e", "container=other", "-e", "HOSTNAME=named"],
        &["-t", "-e", "TERM=dumb", "-e", "PATH=/x:/bin"],
    ];
    for flags in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        let (mut ours, mut theirs) = (args.clone(), args.clone());
        ours.extend_from_slice(&["bb", "env"]);
        theirs.extend_from_slice(&["localhost/bb", "env"]);
        let got = environment(&env.ok(&ours));
        // podman's `container=podman` is berth's `container=berth`.
        let want = environment(&podman_ok(&podman, &theirs).replace("container=podman", "container=berth"));
        assert_eq!(got, want, "{flags:?}");
        if flags.is_empty() {
            // The image sets PATH=/bin; HOME from its /etc/passwd.
            assert_eq!(got, ["HOME=/root", "HOSTNAME=<id>", "PATH=/bin", "TERM=xterm", "container=berth"]);
        }
    }
    let logs = detached(&env, "e", &["-e", "A=1"], "env");
    assert_eq!(
        environment(&logs),
        ["A=1", "HOME=/root", "HOSTNAME=<id>", "PATH=/bin", "PWD=/", "SHLVL=1", "TERM=xterm", "container=berth"]
    );
}

/// The mount points berth makes in a `run` container's own layer keep the
/// image's directories as they were (owner, group, mode): the container
/// sees what podman's gives it, where the runtime makes them through the
/// mount. (Not /etc/resolv.conf: podman writes none with `--network none`.)
#[test]
fn mount_points_keep_the_images_directories_as_podman() {
    let (env, podman) = setup();
    let mut layer = tar::Builder::new(Vec::new());
    for (path, mode, uid) in [("etc", 0o750, 7), ("run", 0o700, 9)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid + 1);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h.set_cksum();
        layer.append_data(&mut h, path, std::io::empty()).unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let archive = env.path("dirs.tar");
    write_oci_archive(
        &archive,
        Some("localhost/dirs:latest"),
        &[busybox_layer().as_slice(), layer.as_slice()],
        serde_json::json!({}),
    );
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    podman.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let script = "stat -c '%n %a %u %g %F' /etc /run /etc/hosts /etc/hostname /run/.containerenv";
    let b = env.ok(&["run", "--rm", "localhost/dirs", "sh", "-c", script]);
    assert!(b.starts_with("/etc 750 7 8 directory\n/run 700 9 10 directory\n"), "{b}");
    assert_eq!(b, podman_ok(&podman, &["run", "--rm", "--network", "none", "localhost/dirs", "sh", "-c", script]));
}
