//! Containers made from images, run for real as root: the root filesystem
//! is an overlay of the image's layers with a fresh upper, and images in use
//! by a container are protected from `rmi` and `image prune`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn exit_code(env: &Env, args: &[&str]) -> (i32, String, String) {
    let o = env.run(args);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

#[test]
fn run_gives_output_exit_code_and_a_fresh_overlay_root() {
    let (env, _) = Env::with_busybox();
    let (code, out, err) =
        exit_code(&env, &["run", "--name", "first", "bb", "sh", "-c", "echo hi; echo data > /made-here; exit 7"]);
    assert_eq!((code, out.as_str()), (7, "hi\n"), "stderr: {err}");

    // The write went to this container's upper dir, not to the shared layer.
    let id = env.ok(&["ps", "-a", "-q", "--no-trunc"]).trim().to_string();
    assert_eq!(id.len(), 64);
    let upper = env.root.join("overlay/containers").join(&id).join("diff/made-here");
    let upper = if upper.exists() { upper } else { find_file(&env.root, "made-here").expect("file in some upper dir") };
    assert_eq!(std::fs::read_to_string(&upper).unwrap(), "data\n");
    assert!(upper.starts_with(env.root.join("overlay")), "{upper:?}");
    for l in env.layer_dirs() {
        assert!(find_file(&env.root.join("overlay/layers").join(l), "made-here").is_none());
    }
    // Nothing stays mounted once it exited.
    assert_nothing_mounted(&env);

    // A second container sees the image, not the first one's changes; its
    // root is an overlay, its hostname is its short ID.
    let (code, out, err) = exit_code(
        &env,
        &["run", "--rm", "bb", "sh", "-c", "test ! -e /made-here && grep ' / ' /proc/mounts | cut -d' ' -f3; hostname"],
    );
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("overlay"));
    assert_eq!(lines.next().map(str::len), Some(12));
    // --rm removed it; the first one is still listed as exited with its code.
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("first Exited (7) "), "{ps}");
    assert_eq!(ps.lines().count(), 1, "{ps}");
}

fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let e = e.ok()?;
        let p = e.path();
        if e.file_name() == name {
            return Some(p);
        }
        if e.file_type().ok()?.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        }
    }
    None
}

#[test]
fn vfs_containers_get_a_copy() {
    // A store keeps its driver: switching is refused, clearly, as podman does.
    let (overlay_env, _) = Env::with_busybox();
    let e = overlay_env.fails(&["--storage-driver", "vfs", "run", "--rm", "bb", "true"], 125);
    assert!(e.contains("storage driver \"vfs\" does not match \"overlay\""), "{e}");
    overlay_env.ok(&["run", "--rm", "bb", "true"]);
    let env2 = Env::new();
    let (archive, _) = busybox_archive(&env2, "bb.tar", "localhost/bb:latest");
    let vfs = |args: &[&str]| {
        let mut a = vec!["--storage-driver", "vfs"];
        a.extend_from_slice(args);
        env2.ok(&a)
    };
    vfs(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let out = vfs(&["run", "--rm", "bb", "sh", "-c", "grep -c ' / overlay ' /proc/mounts; echo x >/f; cat /f"]);
    assert_eq!(out, "0\nx\n");
}

/// What `ls -ld /; ls /bin/sh` as uid 1000 shows in a container of `bb`,
/// whose layer's `./` entry is 0700 (tarred from a temp dir).
fn assert_root_is_podmans(out: &str) {
    assert_eq!(out, "dr-xr-xr-x\n/bin/sh\n", "the container's / is podman's 0555, whatever the layer's ./ says");
}

/// The busybox layer with its `./` entry 0700, as `tar -C DIR -cf - .`
/// writes it for a directory made by `mktemp -d`.
fn busybox_layer_with_closed_root() -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut closed = 0;
    for e in tar::Archive::new(&busybox_layer()[..]).entries().unwrap() {
        let e = e.unwrap();
        let mut h = e.header().clone();
        if e.path().unwrap().to_str() == Some("./") {
            h.set_mode(0o700);
            h.set_cksum();
            closed += 1;
        }
        out.append(&h, e).unwrap();
    }
    assert_eq!(closed, 1, "the layer has a ./ entry");
    out.into_inner().unwrap()
}

#[test]
fn a_layer_cannot_close_the_containers_root() {
    require_root();
    let env = Env::new();
    let archive = env.dir.path().join("closed.tar");
    let layer = busybox_layer_with_closed_root();
    write_oci_archive(&archive, Some("localhost/bb:latest"), &[&layer], serde_json::json!({}));
    let probe = ["run", "--rm", "-u", "1000", "bb", "sh", "-c", "ls -ld / | cut -c1-10; ls /bin/sh"];
    for driver in ["vfs", "overlay"] {
        let store = Env::new();
        let with_driver = |args: &[&str]| store.ok(&[&["--storage-driver", driver][..], args].concat());
        with_driver(&["load", "-q", "-i", archive.to_str().unwrap()]);
        assert_root_is_podmans(&with_driver(&probe));
    }
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    // --init's binary is reachable by an unprivileged user too.
    assert_eq!(env.ok(&["run", "--rm", "--init", "-u", "1000", "bb", "id", "-u"]), "1000\n");
}

#[test]
fn image_config_and_flags_shape_the_process() {
    let (env, _) = Env::with_busybox();
    let out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "box",
        "bb",
        "sh",
        "-c",
        "echo $FOO $PATH; pwd; id -u; id -g; hostname; grep CapEff /proc/self/status",
    ]);
    // PATH from the image config; capabilities are Docker's default set.
    let caps_as_root = env.ok(&["run", "--rm", "bb", "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(caps_as_root.split_whitespace().nth(1), Some("00000000a80425fb"), "{caps_as_root}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..5], ["bar /bin", "/tmp", "65534", "65534", "box"], "{out}");
    // Non-root: no effective capabilities.
    assert!(lines[5].ends_with("0000000000000000"), "{out}");
    // The image's CMD (sh) runs when no command is given.
    let (code, out, _) = exit_code(&env, &["run", "--rm", "bb"]);
    assert_eq!((code, out.as_str()), (0, ""));
    // podman's codes for a command that does not exist or cannot run.
    let e = env.fails(&["run", "--rm", "bb", "no-such-cmd"], 127);
    assert!(e.contains("executable file not found"), "{e}");
    env.fails(&["run", "--rm", "bb", "/no/such/file"], 127);
    let e = env.fails(&["run", "--rm", "bb", "/etc/passwd"], 126);
    assert!(e.contains("permission denied"), "{e}");
    let e = env.fails(&["run", "--rm", "-u", "nosuchuser", "bb", "true"], 125);
    assert!(e.contains("unable to find user nosuchuser"), "{e}");
    // The failed create left no container behind.
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let (env, id) = Env::with_busybox();
    let cid = env.ok(&["create", "--name", "keep", "bb", "true"]).trim().to_string();
    assert_eq!(cid.len(), 64);
    let e = env.fails(&["rmi", "bb"], 2);
    assert!(e.contains(&format!("image used by {cid}: image is in use by a container")), "{e}");
    let e = env.fails(&["rmi", &id[..12]], 2);
    assert!(e.contains("in use"), "{e}");
    // Prune leaves it too.
    env.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(env.ok(&["images", "-q"]), format!("{}\n", &id[..12]));
    // The container still runs from it.
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]), "keep Created\n");

    // Another name of the image can go: only the tag is removed.
    env.ok(&["tag", "bb", "other"]);
    assert_eq!(env.ok(&["rmi", "other"]), "Untagged: localhost/other:latest\n");

    let out = env.ok(&["rmi", "-f", "bb"]);
    assert_eq!(out, format!("Untagged: localhost/bb:latest\nDeleted: {id}\n"));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(env.layer_dirs().is_empty(), "{:?}", env.layer_dirs());
    // Nothing of the container is left on disk.
    for d in ["overlay/containers", "container-data"] {
        let n = std::fs::read_dir(env.root.join(d)).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{d} not empty");
    }
}

#[test]
fn names_are_unique_and_bad_input_is_refused() {
    let (env, _) = Env::with_busybox();
    let cid = env.ok(&["create", "--name", "web", "bb"]).trim().to_string();
    let e = env.fails(&["create", "--name", "web", "bb"], 125);
    assert!(e.contains(&format!("the container name \"web\" is already in use by {cid}")), "{e}");
    env.fails(&["create", "--name", "-bad/name", "bb"], 125);
    // (--pull=never: a test must not try Docker Hub.)
    let e = env.fails(&["create", "--pull=never", "nosuchimage"], 125);
    assert!(e.contains("nosuchimage: image not known"), "{e}");
    env.fails(&["run", "--no-such-flag", "bb"], 125);
    // A generated name is docker-style.
    env.ok(&["create", "bb"]);
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let generated = names.lines().find(|n| *n != "web").unwrap();
    assert!(generated.contains('_'), "{names}");

    // rm by name, by short ID; a missing one is exit 1; -i ignores it.
    assert_eq!(env.ok(&["rm", "web", generated]), format!("web\n{generated}\n"));
    let e = env.fails(&["rm", "web"], 1);
    assert!(e.contains("no container with name or ID \"web\" found"), "{e}");
    env.ok(&["rm", "-i", "web"]);
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    let _ = cid;
}

/// A running container cannot be removed without -f; killing the `berth
/// run` that waits for it leaves a record the next commands understand.
#[test]
fn running_containers_and_a_killed_berth() {
    let (env, _) = Env::with_busybox();
    let mut child = run_in_background(&env, "sleeper", &["sleep", "1000"]);
    assert!(env.ok(&["ps", "--format", "{{.Status}}"]).starts_with("Up "));
    let e = env.fails(&["rm", "sleeper"], 2);
    assert!(e.contains("cannot remove container") && e.contains("as it is running"), "{e}");

    // berth run is killed: the container lives on (podman's conmon would
    // too) and is still listed as running; rm -f stops and removes it.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(names_and_states(env.ok(&["ps", "--format", "json"])), "sleeper running\n");
    assert_eq!(env.ok(&["rm", "-f", "-t", "0", "sleeper"]), "sleeper\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_nothing_mounted(&env);

    // When the container's processes die with the waiting berth gone, ps
    // says exited.
    let mut child = run_in_background(&env, "short", &["sleep", "1"]);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for_ps(&env, "short exited\n");
    assert_eq!(env.ok(&["rm", "short"]), "short\n");
    assert_nothing_mounted(&env);
}

/// `berth run --name NAME bb ARGS...` in the background, once `ps` lists it running.
fn run_in_background(env: &Env, name: &str, args: &[&str]) -> std::process::Child {
    let mut cmd = vec!["run", "--name", name, "bb"];
    cmd.extend_from_slice(args);
    let child = env.cmd(&cmd).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_ps(env, &format!("{name} running\n"));
    child
}

/// Poll `ps -a` (names and states) until it says `want`.
fn wait_for_ps(env: &Env, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ps = names_and_states(env.ok(&["ps", "-a", "--format", "json"]));
        if ps == want {
            return;
        }
        assert!(Instant::now() < deadline, "ps never said {want:?}: {ps:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ps --format json` as `NAME STATE` lines (podman's templates have no
/// field for the bare state: `{{.State}}` is the status text there).
fn names_and_states(json: String) -> String {
    let list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    list.iter().map(|c| format!("{} {}\n", c["Names"][0].as_str().unwrap(), c["State"].as_str().unwrap())).collect()
}

fn assert_nothing_mounted(env: &Env) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for dir in [&env.root, &env.runroot] {
        assert!(!mounts.contains(dir.to_str().unwrap()), "still mounted under {}:\n{mounts}", dir.display());
    }
}

/// Several berth processes at once: parallel runs of one image all work and
/// share its layers; racing creates of one name leave exactly one winner.
#[test]
fn concurrent_runs_and_name_races() {
    let (env, _) = Env::with_busybox();
    let runs: Vec<_> = (0..6)
        .map(|i| {
            env.cmd(&["run", "--rm", "bb", "sh", "-c", &format!("echo {i} > /x; cat /x")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in runs.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "run {i}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{i}\n"));
    }
    let creates: Vec<_> = (0..6)
        .map(|_| {
            env.cmd(&["create", "--name", "only", "bb"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let outcomes: Vec<_> = creates.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let won = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "{:?}", outcomes.iter().map(stderr).collect::<Vec<_>>());
    for o in outcomes.iter().filter(|o| !o.status.success()) {
        assert!(stderr(o).contains("already in use"), "{}", stderr(o));
    }
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "only\n");
    // The losers left no root filesystem or bundle behind.
    for d in ["overlay/containers", "container-data"] {
        assert_eq!(std::fs::read_dir(env.root.join(d)).unwrap().count(), 1, "{d}");
    }
}
