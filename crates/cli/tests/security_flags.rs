//! Privilege, device, group and environment flags, and volume options,
//! run for real and checked from inside the container: `--privileged`,
//! `--security-opt`, `--device`, `--group-add`, `--env-host`,
//! `--read-only-tmpfs`, `--replace`, `-v ...:U`, `:idmap`, and local
//! volumes with `-o type=tmpfs` / `type=none,o=bind`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt as _;

use common::containers::Cleanup;
use common::podman::Podman;
use common::*;

/// A field of /proc/self/status as the container sees it.
fn status_field(env: &Env, flags: &[&str], field: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["bb", "grep", field, "/proc/self/status"]);
    let out = env.ok(&args);
    out.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string()
}

fn our_status(field: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with(field)).unwrap().split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn privileged_gets_every_capability_no_seccomp_rw_sys_and_host_devices() {
    let (env, _) = Env::with_busybox();
    // Every capability we hold (the host may lack some).
    assert_eq!(status_field(&env, &["--privileged"], "CapEff:"), our_status("CapBnd:"));
    assert_ne!(status_field(&env, &[], "CapEff:"), our_status("CapBnd:"));
    assert_eq!(status_field(&env, &["--privileged"], "Seccomp:"), "0");
    assert_eq!(status_field(&env, &[], "Seccomp:"), "2");
    let out = env.ok(&["run", "--rm", "--privileged", "bb", "grep", " /sys ", "/proc/mounts"]);
    assert!(out.split_whitespace().nth(3).unwrap().split(',').any(|o| o == "rw"), "{out}");
    // Nothing masked: /proc/timer_list has content (a masked one is /dev/null).
    assert_ne!(env.ok(&["run", "--rm", "--privileged", "bb", "head", "-c", "5", "/proc/timer_list"]), "");
    assert_eq!(env.ok(&["run", "--rm", "bb", "head", "-c", "5", "/proc/timer_list"]), "");
    // The host's devices (e.g. /dev/kmsg), usable: the cgroup allows all.
    assert!(std::path::Path::new("/dev/kmsg").exists());
    let out = env.ok(&[
        "run",
        "--rm",
        "--privileged",
        "bb",
        "sh",
        "-c",
        "ls /dev/kmsg; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null || echo v2",
    ]);
    assert!(out.starts_with("/dev/kmsg\n"), "{out}");
    assert!(out.contains("a *:* rwm") || out.ends_with("v2\n"), "{out}");
    let id = env.ok(&["create", "--privileged", "--name", "p", "bb", "cat", "/run/.containerenv"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.Privileged}}", id.trim()]), "true\n");
    // podman's .containerenv for a privileged container; others get it empty.
    let out = env.ok(&["start", "-a", "p"]);
    assert!(out.starts_with("engine=\"berth-"), "{out}");
    assert!(out.contains(&format!("\nname=\"p\"\nid=\"{}\"\nimage=\"localhost/bb:latest\"\n", id.trim())), "{out}");
    assert!(out.ends_with("\nrootless=0\n"), "{out}");
    // Made again, the same, after a reboot emptied the runroot.
    std::fs::remove_dir_all(env.runroot.join("userdata").join(id.trim())).unwrap();
    assert_eq!(env.ok(&["start", "-a", "p"]), out);
    assert_eq!(env.ok(&["run", "--rm", "bb", "cat", "/run/.containerenv"]), "");
    env.ok(&["rm", id.trim()]);
}

#[test]
fn security_opts_take_effect() {
    let (env, _) = Env::with_busybox();
    assert_eq!(status_field(&env, &["--security-opt", "no-new-privileges"], "NoNewPrivs:"), "1");
    assert_eq!(status_field(&env, &[], "NoNewPrivs:"), "0");
    assert_eq!(status_field(&env, &["--security-opt", "seccomp=unconfined"], "Seccomp:"), "0");
    // A profile file (docker's format): mkdir refused, the rest allowed.
    let profile = env.path("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}],
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let o = env.run(&["run", "--rm", "--security-opt", &opt, "bb", "sh", "-c", "touch /ok && mkdir /no"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Operation not permitted"), "{}", stderr(&o));
    // mask= hides a path (reads empty), unmask= shows a default one.
    let out = env.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "mask=/proc/cpuinfo:/etc/hostname",
        "--security-opt",
        "unmask=/proc/timer_list",
        "bb",
        "sh",
        "-c",
        "wc -c < /proc/cpuinfo; wc -c < /etc/hostname; head -c 5 /proc/timer_list",
    ]);
    assert_eq!(out, "0\n0\nTimer");
    assert_ne!(
        env.ok(&["run", "--rm", "--security-opt", "unmask=ALL", "bb", "head", "-c", "5", "/proc/timer_list"]),
        ""
    );
    // Accepted, as podman does without SELinux or for no profile.
    env.ok(&["run", "--rm", "--security-opt", "label=disable", "--security-opt", "apparmor=unconfined", "bb", "true"]);
    let id = env.ok(&[
        "create",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "label=disable",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "mask=/a",
        "bb",
        "true",
    ]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{json .HostConfig.SecurityOpt}}", id.trim()]),
        "[\"no-new-privileges\",\"label=disable\",\"seccomp=unconfined\"]\n"
    );
    env.ok(&["rm", id.trim()]);
}

#[test]
fn bad_security_opts_fail_as_podman() {
    let (env, _) = Env::with_busybox();
    let cases: &[(&str, &str)] = &[
        ("foo", "invalid --security-opt 1: \"foo\""),
        ("foo=bar", "invalid --security-opt 2: \"foo=bar\""),
        ("no-new-privileges=x", "invalid --security-opt 2: \"no-new-privileges=x\""),
        ("seccomp=/nonexist", "opening seccomp profile failed: open /nonexist: no such file or directory"),
    ];
    for (opt, msg) in cases {
        let e = env.fails(&["run", "--rm", "--security-opt", opt, "bb", "true"], 125);
        assert_eq!(e, format!("Error: {msg}\n"));
    }
    let bad = env.path("bad.json");
    std::fs::write(&bad, "{bad").unwrap();
    let e = env.fails(&["run", "--rm", "--security-opt", &format!("seccomp={}", bad.display()), "bb", "true"], 125);
    assert!(
        e.starts_with(&format!(
            "Error: loading seccomp profile ({}) failed: decoding seccomp profile failed",
            bad.display()
        )),
        "{e}"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn devices_are_created_and_allowed() {
    let (env, _) = Env::with_busybox();
    let out = env.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/myzero",
        "bb",
        "sh",
        "-c",
        "ls -l /dev/myzero; head -c 3 /dev/myzero | od -An -tx1",
    ]);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("crw-rw-rw-"), "{out}");
    assert_eq!(lines.next().unwrap().trim(), "00 00 00");
    // A device no container gets by default (/dev/kmsg, 1:11): refused
    // by the device cgroup without --device, allowed with it, with the
    // access asked for.
    let list = "cat /sys/fs/cgroup/devices/devices.list";
    if std::path::Path::new("/sys/fs/cgroup/devices").exists() {
        let out = env.ok(&["run", "--rm", "bb", "sh", "-c", list]);
        assert!(!out.contains("c 1:11"), "{out}");
        let out = env.ok(&["run", "--rm", "--device", "/dev/kmsg:/dev/k:w", "bb", "sh", "-c", list]);
        assert!(out.lines().any(|l| l == "c 1:11 w"), "{out}");
        assert!(out.lines().any(|l| l == "c *:* m"), "{out}");
        // As with podman, any node may be made, but not used.
        let o = env.run(&["run", "--rm", "bb", "sh", "-c", "mknod /dev/k c 1 11 && echo x > /dev/k"]);
        assert!(stderr(&o).contains("Operation not permitted"), "{}", stderr(&o));
        assert_eq!(o.status.code(), Some(1));
    }
    // A directory: every device below it, under the path asked for.
    if std::path::Path::new("/dev/net/tun").exists() {
        let out = env.ok(&["run", "--rm", "--device", "/dev/net:/dev/mynet", "bb", "ls", "-l", "/dev/mynet/tun"]);
        assert!(out.starts_with("crw-------") && out.contains(" 10, 200 "), "{out}");
    }
    // Writing it works (this lands in the host's kernel log).
    env.ok(&["run", "--rm", "--device", "/dev/kmsg:/dev/k:w", "bb", "sh", "-c", "echo berth-test-device > /dev/k"]);
    let id = env.ok(&["create", "--device", "/dev/zero:/dev/z:r", "bb", "true"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{json .HostConfig.Devices}}", id.trim()]),
        "[{\"PathOnHost\":\"/dev/zero\",\"PathInContainer\":\"/dev/z\",\"CgroupPermissions\":\"\"}]\n"
    );
    env.ok(&["rm", id.trim()]);
    for (flag, msg) in [
        ("/dev/nonexist", "stat /dev/nonexist: no such file or directory"),
        ("/dev/zero:rwx", "invalid device mode: rwx"),
        ("/dev/zero:/dev/z:rw:x", "invalid device specification: /dev/zero:/dev/z:rw:x"),
    ] {
        assert_eq!(env.fails(&["run", "--rm", "--device", flag, "bb", "true"], 125), format!("Error: {msg}\n"));
    }
}

#[test]
fn group_add_and_image_groups() {
    let (env, _) = Env::with_busybox();
    assert_eq!(env.ok(&["run", "--rm", "--group-add", "1234", "--group-add", "tty", "bb", "id", "-G"]), "0 5 1234\n");
    assert_eq!(env.ok(&["run", "--rm", "-u", "65534", "--group-add", "tty", "bb", "id", "-G"]), "65534 5\n");
    env.ok(&["run", "--rm", "--group-add", "keep-groups", "bb", "true"]);
    let e = env.fails(&["run", "--rm", "--group-add", "keep-groups", "--group-add", "5", "bb", "true"], 125);
    assert_eq!(e, "Error: the '--group-add keep-groups' option is not allowed with any other --group-add options\n");
    // A group the image lacks: podman creates the container and refuses to
    // start it, 126 from run (which removes it with --rm), 125 from start.
    let e = env.fails(&["run", "--rm", "--group-add", "nosuch", "bb", "true"], 126);
    assert!(e.ends_with(": Unable to find group nosuch: no matching entries in group file\n"), "{e}");
    assert!(e.starts_with("Error: looking up supplemental groups for container "), "{e}");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    let made = env.ok(&["create", "--name", "nogroup", "--group-add", "nosuch", "bb", "true"]);
    let e = env.fails(&["start", "nogroup"], 125);
    assert!(e.contains(&format!("container {}: Unable to find group nosuch", made.trim())), "{e}");
    // Once the container's /etc/group has it, it starts.
    let etc_group = env.dir.path().join("group");
    std::fs::write(&etc_group, "root:x:0:\nnosuch:x:4321:\n").unwrap();
    env.ok(&["cp", etc_group.to_str().unwrap(), "nogroup:/etc/group"]);
    env.ok(&["start", "nogroup"]);
    env.ok(&["rm", "nogroup"]);
    // As any container that cannot start (run: 127, start: 125, as podman).
    env.ok(&["create", "--name", "nocmd", "bb", "nosuchcmd"]);
    env.fails(&["start", "nocmd"], 125);
    env.fails(&["start", "-a", "nocmd"], 125);
    env.fails(&["run", "--rm", "bb", "nosuchcmd"], 127);
    env.ok(&["rm", "nocmd"]);
    // A run that cannot start leaves its storage unmounted (`run` keeps
    // create's mount for the start; the failed start lets it go).
    env.fails(&["run", "--name", "kept", "--group-add", "nosuch", "bb", "true"], 126);
    env.fails(&["run", "--name", "kept2", "bb", "nosuchcmd"], 127);
    let runroot = env.runroot.to_str().unwrap().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.lines().any(|l| l.contains(&runroot)), "a failed run left its storage mounted:\n{mounts}");
    env.ok(&["rm", "kept", "kept2"]);
    let id = env.ok(&["create", "--group-add", "1234", "bb", "true"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{json .HostConfig.GroupAdd}}", id.trim()]), "[\"1234\"]\n");
    env.ok(&["rm", id.trim()]);
}

#[test]
fn env_host_read_only_tmpfs_and_replace() {
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let out = env
        .cmd(&["run", "--rm", "--env-host", "-e", "B=2", "bb", "sh", "-c", "echo $BERTH_HOST_VAR $B"])
        .env("BERTH_HOST_VAR", "from-host")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "from-host 2\n");
    let out = env
        .cmd(&["run", "--rm", "bb", "sh", "-c", "echo x$BERTH_HOST_VAR"])
        .env("BERTH_HOST_VAR", "h")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "x\n");

    // --read-only: tmpfs on /tmp unless --read-only-tmpfs=false.
    env.ok(&["run", "--rm", "--read-only", "bb", "touch", "/tmp/x", "/run/x", "/var/tmp/x"]);
    let o = env.run(&["run", "--rm", "--read-only", "--read-only-tmpfs=false", "bb", "touch", "/tmp/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    let id = env.ok(&["create", "--read-only", "bb", "true"]);
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", id.trim()]), "true\n");
    env.ok(&["rm", id.trim()]);

    // --replace: the running container of that name goes first.
    let old = env.ok(&["run", "-d", "--name", "r", "--stop-timeout", "1", "bb", "sleep", "100"]);
    // podman prints the replaced container's name first.
    assert_eq!(env.ok(&["run", "--replace", "--name", "r", "bb", "echo", "replaced"]), "r\nreplaced\n");
    let all = env.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    assert_eq!(all.lines().count(), 1, "{all}");
    assert!(all.ends_with(" r\n") && !all.contains(old.trim()), "{all}");
    // Without an existing one it is a plain create.
    let id = env.ok(&["create", "--replace", "--name", "fresh", "bb", "true"]);
    assert_eq!(id.lines().count(), 1);
    let e = env.fails(&["run", "--replace", "bb", "true"], 125);
    assert_eq!(e, "Error: cannot replace container without --name being set\n");
}

#[test]
fn volume_u_idmap_and_local_driver_options() {
    let (env, _) = Env::with_busybox();
    // :U gives the tree to the container's user, links themselves and
    // never what they point to.
    let dir = env.path("owned");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/f"), "x").unwrap();
    let outside = env.path("outside");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    let vol = format!("{}:/x:U", dir.display());
    let out = env.ok(&[
        "run",
        "--rm",
        "-u",
        "1000:1001",
        "-v",
        &vol,
        "bb",
        "sh",
        "-c",
        "touch /x/sub/mine && stat -c '%u:%g' /x /x/sub/f",
    ]);
    assert_eq!(out, "1000:1001\n1000:1001\n");
    for p in ["", "sub", "sub/f", "sub/mine"] {
        let m = std::fs::metadata(dir.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1001), "{p}");
    }
    let link = std::fs::symlink_metadata(dir.join("link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (1000, 1001));
    let m = std::fs::metadata(&outside).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // At each start, not at create (podman's order): a source given back
    // to root since is the user's again at the next start.
    let again = env.path("again");
    std::fs::create_dir(&again).unwrap();
    let vol = format!("{}:/x:U", again.display());
    env.ok(&["create", "--name", "u", "-u", "1000:1001", "-v", &vol, "bb", "true"]);
    assert_eq!(std::fs::metadata(&again).unwrap().uid(), 0, "chowned at create");
    for _ in 0..2 {
        env.ok(&["start", "-a", "u"]);
        let m = std::fs::metadata(&again).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
        std::os::unix::fs::chown(&again, Some(0), Some(0)).unwrap();
    }
    env.ok(&["rm", "u"]);
    // --mount's spelling.
    std::fs::create_dir(env.path("m")).unwrap();
    let mount = format!("type=bind,src={},dst=/m,U=true", env.path("m").display());
    env.ok(&["run", "--rm", "-u", "9:9", "--mount", &mount, "bb", "true"]);
    assert_eq!(std::fs::metadata(env.path("m")).unwrap().uid(), 9);
    // A tmpfs with U: mounted owned by the user.
    for flags in [["--tmpfs", "/t:U"], ["--mount", "type=tmpfs,dst=/t,U=true"]] {
        let mut args = vec!["run", "--rm", "-u", "5:6"];
        args.extend(flags);
        args.extend(["bb", "stat", "-c", "%u:%g", "/t"]);
        assert_eq!(env.ok(&args), "5:6\n", "{flags:?}");
    }
    // On a named volume too.
    env.ok(&["run", "--rm", "-u", "7:8", "-v", "uvol:/v:U", "bb", "touch", "/v/f"]);
    let mp = env.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "uvol"]);
    assert_eq!(std::fs::metadata(format!("{}/f", mp.trim())).unwrap().uid(), 7);

    // :idmap is accepted (no user namespace: the ids are the host's).
    let vol = format!("{}:/x:idmap", dir.display());
    assert_eq!(env.ok(&["run", "--rm", "-v", &vol, "bb", "cat", "/x/sub/f"]), "x");
    // :z and :Z too.
    let vol = format!("{}:/x:z,ro", dir.display());
    env.ok(&["run", "--rm", "-v", &vol, "bb", "true"]);

    // A tmpfs volume, mounted as such with its options.
    env.ok(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=10m", "tv"]);
    let out = env.ok(&["run", "--rm", "-v", "tv:/t", "bb", "grep", " /t ", "/proc/mounts"]);
    assert!(out.starts_with("tmpfs /t tmpfs ") && out.contains("size=10240k"), "{out}");
    // A bind volume: the device directory.
    let dev = env.path("bound");
    std::fs::create_dir(&dev).unwrap();
    env.ok(&["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &format!("device={}", dev.display()), "bv"]);
    env.ok(&["run", "--rm", "-v", "bv:/b", "bb", "sh", "-c", "echo through > /b/f"]);
    assert_eq!(std::fs::read_to_string(dev.join("f")).unwrap(), "through\n");
}

/// Owners as the container sees them, and whether root in it can make a
/// file in the mount's top and in `sub/`.
const IDMAP_VIEW: &str = "stat -c '%n %u:%g' /x/* | sort
touch /x/top 2>/dev/null && echo top made || echo top refused
touch /x/sub/new 2>/dev/null && echo sub made || echo sub refused";

/// `-v SRC:DST:idmap=uids=A-B-N;gids=...` (podman 4.3 with crun): the bind
/// is idmapped through a user namespace of its own, whose map line is
/// `A B N`: an owner A+i on disk shows as B+i, one the map does not cover
/// as 65534, and what B+i makes through the mount is A+i's on disk. A bad
/// map is refused when the container starts, as podman refuses it (126).
#[test]
fn idmapped_binds_as_podman() {
    let (env, _) = Env::with_busybox();
    let podman = Podman::beside(&env);
    // podman does this through crun (runc ignores the option).
    let Some(crun) = ["/usr/bin/crun", "/usr/sbin/crun"].into_iter().map(std::path::Path::new).find(|p| p.exists())
    else {
        panic!("crun is the reference here: apt-get install crun (scripts/install.sh does)");
    };
    let crun = common::podman::crun_wrapper(crun, &env.path("crun-nsw"));
    let crun = crun.to_str().unwrap();
    let dir = env.path("idm");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for (name, uid, gid) in [("root", 0, 0), ("u1000", 1000, 1000), ("u5", 5, 7)] {
        std::fs::write(dir.join(name), name).unwrap();
        std::os::unix::fs::chown(dir.join(name), Some(uid), Some(gid)).unwrap();
    }
    std::os::unix::fs::chown(dir.join("sub"), Some(1000), Some(1000)).unwrap();
    let clean = |d: &std::path::Path| {
        let _ = std::fs::remove_file(d.join("top"));
        let _ = std::fs::remove_file(d.join("sub/new"));
    };
    for maps in ["uids=0-1000-10;gids=0-1000-10", "uids=1000-0-10;gids=1000-0-10"] {
        let vol = format!("{}:/x:idmap={maps}", dir.display());
        let args = ["run", "--rm", "-v", &vol, "localhost/bb", "sh", "-c", IDMAP_VIEW];
        let ours = env.ok(&args);
        let ours_made = std::fs::metadata(dir.join("sub/new")).ok().map(|m| (m.uid(), m.gid()));
        clean(&dir);
        let mut with_crun = vec!["--runtime", crun];
        with_crun.extend(args);
        let theirs = podman.ok(&with_crun);
        let theirs_made = std::fs::metadata(dir.join("sub/new")).ok().map(|m| (m.uid(), m.gid()));
        clean(&dir);
        assert_eq!(ours, theirs, "{maps}");
        assert_eq!(ours_made, theirs_made, "{maps}");
    }
    // What that is, for the second map: the disk's 1000 is the container's
    // root, everything else unmapped; root's file in sub/ is 1000's on disk.
    let vol = format!("{}:/x:idmap=uids=1000-0-10;gids=1000-0-10", dir.display());
    let out = env.ok(&["run", "--rm", "-v", &vol, "bb", "sh", "-c", IDMAP_VIEW]);
    assert!(out.contains("/x/u1000 0:0\n") && out.contains("/x/root 65534:65534\n"), "{out}");
    assert!(out.ends_with("sub made\n"), "{out}");
    let made = std::fs::metadata(dir.join("sub/new")).unwrap();
    assert_eq!((made.uid(), made.gid()), (1000, 1000));
    clean(&dir);
    // Bad maps: refused at start, with podman's exit code.
    for maps in ["uids=bad;gids=0-1-1", "uids=0-1000-10"] {
        let vol = format!("{}:/x:idmap={maps}", dir.display());
        let o = env.run(&["run", "--rm", "-v", &vol, "bb", "true"]);
        let (code, err) = (o.status.code().unwrap(), stderr(&o));
        let theirs = podman.run(&["--runtime", crun, "run", "--rm", "-v", &vol, "localhost/bb", "true"], None);
        assert_eq!(code, theirs.status.code().unwrap(), "{maps}: {err}");
        assert_eq!(code, 126, "{maps}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "", "a refused start left its container");
}

/// The same flags on both sides: inspect's HostConfig fields and the
/// errors for bad values match podman 4.3's.
#[test]
fn side_by_side_with_podman() {
    let (env, _) = Env::with_busybox();
    let podman = Podman::beside(&env);
    let fields = [
        "Privileged",
        "SecurityOpt",
        "Devices",
        "GroupAdd",
        "IpcMode",
        "PidMode",
        "UTSMode",
        "NetworkMode",
        "ReadonlyRootfs",
    ];
    let format: String = fields.iter().map(|f| format!("{{{{json .HostConfig.{f}}}}} ")).collect();
    let sets: &[&[&str]] = &[
        &[],
        &["--privileged"],
        &[
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "label=disable",
            "--security-opt",
            "seccomp=unconfined",
        ],
        &["--security-opt", "mask=/a:/b", "--security-opt", "unmask=ALL", "--security-opt", "apparmor=unconfined"],
        &["--device", "/dev/zero:/dev/z:r", "--device", "/dev/null"],
        &["--group-add", "1234", "--group-add", "tty"],
        &["--ipc", "host", "--pid", "host", "--uts", "host", "--network", "host"],
        &["--ipc", "private", "--pid", "private", "--uts", "private", "--cgroupns", "private"],
        &["--ipc", "ns:/proc/self/ns/ipc", "--uts", "ns:/proc/self/ns/uts"],
        &["--read-only", "--read-only-tmpfs=false", "--userns", "host"],
    ];
    for flags in sets {
        let mut args = vec!["create"];
        args.extend(*flags);
        args.extend(["localhost/bb", "true"]);
        let ours = env.ok(&args);
        let theirs = podman.ok(&args);
        let a = env.ok(&["inspect", "--format", &format, ours.trim()]);
        let b = podman.ok(&["inspect", "--format", &format, theirs.trim()]);
        assert!(a.starts_with("false ") || a.starts_with("true "), "{a}");
        assert_eq!(a, b, "{flags:?}");
        env.ok(&["rm", ours.trim()]);
        podman.ok(&["rm", theirs.trim()]);
    }
    let bad: &[&[&str]] = &[
        &["--security-opt", "foo"],
        &["--security-opt", "foo=bar"],
        &["--security-opt", "seccomp=/nonexist"],
        &["--pid", "foo"],
        &["--ipc", "foo"],
        &["--cgroupns", "foo"],
        &["--uts", "ns:/nonexist"],
        &["--network", "ns:/nonexist"],
        &["--uts", "host", "--hostname", "x"],
        &["--ipc", "host", "--shm-size", "1m"],
        &["--pid", "container:missing"],
        &["--network", "container:missing"],
        &["--device", "/dev/nonexist"],
        &["--device", "/dev/zero:rwx"],
        &["--device", "/dev/zero:/dev/z:r:w"],
        &["--group-add", "keep-groups", "--group-add", "1"],
        &["--replace"],
        &["--userns", "foo"],
    ];
    for flags in bad {
        let mut args = vec!["run", "--rm"];
        args.extend(*flags);
        args.extend(["localhost/bb", "true"]);
        let ours = env.run(&args);
        let theirs = podman.run(&args, None);
        assert!(stderr(&ours).starts_with("Error: "), "{flags:?}: {}", stderr(&ours));
        assert_eq!((ours.status.code(), stderr(&ours)), (theirs.status.code(), stderr(&theirs)), "{flags:?}");
    }
}
