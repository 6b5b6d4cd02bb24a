//! Volumes and mounts, run for real: named volumes outlive containers and
//! are filled from the image on first use, bind mounts (`:ro` refused
//! writes), anonymous volumes (`-v /path`, an image's VOLUME) go with
//! `rm -v` and `--rm`, tmpfs mounts; the `volume` commands with podman's
//! output, messages and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::Stdio;

use common::*;

fn volume_names(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls", "-q"]).lines().map(String::from).collect()
}

#[test]
fn named_volumes_persist_and_are_filled_from_the_image_once() {
    let (env, _) = Env::with_busybox();
    assert_eq!(env.ok(&["volume", "create", "data"]), "data\n");
    env.ok(&["run", "--rm", "-v", "data:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "data:/data", "bb", "cat", "/data/f"]), "kept\n");
    // On the host, where inspect says, 0700 above it.
    let mountpoint = env.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    let mountpoint = std::path::PathBuf::from(mountpoint.trim());
    assert_eq!(std::fs::read_to_string(mountpoint.join("f")).unwrap(), "kept\n");
    use std::os::unix::fs::PermissionsExt as _;
    let parent = std::fs::metadata(mountpoint.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(parent, 0o700);

    // A volume new to a path the image fills: copied up, then the volume's own.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "bb",
        "sh",
        "-c",
        "cat /etc/passwd | head -1; echo mine >> /etc/group",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    assert!(env.ok(&["run", "--rm", "-v", "etc:/etc", "bb", "cat", "/etc/group"]).ends_with("mine\n"));
    // nocopy: left empty.
    assert_eq!(env.ok(&["run", "--rm", "-v", "empty:/etc:nocopy", "bb", "ls", "/etc"]), "");
    env.ok(&["volume", "rm", "data", "etc", "empty"]);
    assert!(!mountpoint.exists());
}

#[test]
fn bind_mounts_tmpfs_and_anonymous_volumes() {
    let (env, _) = Env::with_busybox();
    let host = env.path("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let bind = format!("{}:/h", host.display());
    env.ok(&["run", "--rm", "-v", &bind, "bb", "sh", "-c", "cat /h/f; echo back > /h/g"]);
    assert_eq!(std::fs::read_to_string(host.join("g")).unwrap(), "back\n");
    // :ro: writes refused.
    let o = env.run(&["run", "--rm", "-v", &format!("{bind}:ro"), "bb", "sh", "-c", "echo x > /h/ro"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    assert!(!host.join("ro").exists());
    // --mount, the long form.
    let m = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(env.ok(&["run", "--rm", "--mount", &m, "bb", "cat", "/m/f"]), "from host\n");
    // --tmpfs, with podman's default options.
    let out = env.ok(&["run", "--rm", "--tmpfs", "/t", "bb", "grep", " /t ", "/proc/mounts"]);
    assert!(out.starts_with("tmpfs /t tmpfs rw,nosuid,nodev,noexec"), "{out}");

    // Anonymous: made for the container, gone with rm -v ...
    env.ok(&["run", "--name", "anon", "-v", "/scratch", "bb", "sh", "-c", "echo a > /scratch/a"]);
    assert_eq!(volume_names(&env).len(), 1);
    env.ok(&["rm", "-v", "anon"]);
    assert!(volume_names(&env).is_empty());
    // ... and with --rm (the monitor removes it).
    env.ok(&["run", "--rm", "-v", "/scratch", "bb", "true"]);
    assert!(volume_names(&env).is_empty());
    // An image's VOLUME is an anonymous volume, filled from the image.
    let tar = env.path("rootfs.tar");
    std::fs::write(&tar, busybox_layer()).unwrap();
    env.ok(&["import", "-q", "-c", "VOLUME /etc", tar.to_str().unwrap(), "withvol"]);
    let out = env.ok(&[
        "run",
        "--name",
        "iv",
        "withvol",
        "sh",
        "-c",
        "grep ' /etc ' /proc/mounts | wc -l; head -1 /etc/passwd",
    ]);
    assert!(out.starts_with("1\nroot:"), "{out}");
    assert_eq!(volume_names(&env).len(), 1);
    env.ok(&["rm", "-v", "iv"]);
    assert!(volume_names(&env).is_empty());

    // Bad input: podman's words, nothing left.
    assert_eq!(
        env.fails(&["run", "--rm", "-v", "/nope/x:/x", "bb", "true"], 125),
        "Error: statfs /nope/x: no such file or directory\n"
    );
    assert_eq!(
        env.fails(&["run", "--rm", "-v", "v:rel", "bb", "true"], 125),
        "Error: invalid container path \"rel\", must be an absolute path\n"
    );
    assert_eq!(
        env.fails(&["run", "--rm", "-v", "/a:/b:bogus", "bb", "true"], 125),
        "Error: invalid option type \"bogus\"\n"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(volume_names(&env).is_empty());
}

#[test]
fn volume_commands_as_podman() {
    let (env, _) = Env::with_busybox();
    env.ok(&["volume", "create", "--label", "k=v", "one"]);
    env.ok(&["volume", "create", "two"]);
    let anon = env.ok(&["volume", "create"]);
    assert_eq!(anon.trim().len(), 64);
    assert_eq!(
        env.fails(&["volume", "create", "one"], 125),
        "Error: volume with name one already exists: volume already exists\n"
    );
    assert_eq!(env.ok(&["volume", "create", "--ignore", "one"]), "one\n");
    let table = env.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER      VOLUME NAME\nlocal       "), "{table}");
    assert_eq!(table.lines().count(), 4);
    assert_eq!(env.ok(&["volume", "ls", "-q", "--filter", "label=k=v"]), "one\n");
    assert_eq!(
        env.ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}", "--filter", "name=tw"]),
        "two local local\n"
    );
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "one"])).unwrap();
    assert_eq!(json[0]["Name"], "one");
    assert_eq!(json[0]["Labels"]["k"], "v");
    assert_eq!(json[0]["Scope"], "local");
    assert_eq!(env.run(&["volume", "exists", "one"]).status.code(), Some(0));
    assert_eq!(env.run(&["volume", "exists", "nope"]).status.code(), Some(1));

    // In use: refused (exit 2) unless -f, which removes the container too.
    let id = env.ok(&["create", "-v", "one:/one:ro", "bb", "true"]);
    let m: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--format", "{{json .Mounts}}", id.trim()])).unwrap();
    assert_eq!(
        (m[0]["Type"].as_str(), m[0]["Name"].as_str(), m[0]["Destination"].as_str()),
        (Some("volume"), Some("one"), Some("/one"))
    );
    assert_eq!(m[0]["RW"], false);
    let e = env.fails(&["volume", "rm", "one"], 2);
    assert_eq!(
        e,
        format!("Error: volume one is being used by the following container(s): {}: volume is being used\n", id.trim())
    );
    assert_eq!(env.fails(&["volume", "rm", "nope"], 1), "Error: no volume with name \"nope\" found: no such volume\n");
    assert_eq!(env.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]), "one\n");
    // prune asks first, and keeps what is used.
    let mut p = env.cmd(&["volume", "prune"]);
    let mut p = p.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    p.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let o = p.wait_with_output().unwrap();
    assert!(
        stdout(&o).starts_with("WARNING! This will remove all volumes not used by at least one container."),
        "{}",
        stdout(&o)
    );
    assert_eq!(volume_names(&env).len(), 3);
    let pruned = env.ok(&["volume", "prune", "-f"]);
    assert_eq!(pruned.lines().count(), 2, "{pruned}");
    assert_eq!(env.ok(&["volume", "rm", "-f", "one"]), "one\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(volume_names(&env).is_empty());
}
