//! A container's filesystem through `diff`, `export`, `commit`, `mount` /
//! `unmount`, `port` and `container cleanup`, on real containers: what
//! each shows is checked against the files the container wrote, and
//! `diff` against podman's for the same changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::containers::Cleanup;
use common::podman::Podman;
use common::*;

const CHANGES: &str = "rm /bin/ls; echo changed >> /etc/passwd; mkdir -p /new/dir; echo n > /new/dir/f; \
                       echo t > /tmp/t; ln -s /etc /link";

#[test]
fn diff_lists_what_podman_lists() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    env.ok(&["run", "--name", "chg", "localhost/bb", "sh", "-c", CHANGES]);
    // Not a name that could be an image ID prefix: podman (and berth) look
    // names up as images first.
    podman.ok(&["run", "--pull=never", "--network", "none", "--name", "chg", "localhost/bb", "sh", "-c", CHANGES]);
    // podman lists in Go's map order (it changes from run to run); berth
    // sorts by path: the same lines.
    let sorted = |s: String| {
        let mut v: Vec<String> = s.lines().map(String::from).collect();
        v.sort();
        v
    };
    let berth = env.ok(&["diff", "chg"]);
    let mut lines: Vec<String> = berth.lines().map(String::from).collect();
    assert!(lines.windows(2).all(|w| w[0][2..] < w[1][2..]), "sorted by path:\n{berth}");
    lines.sort();
    assert_eq!(lines, sorted(podman.ok(&["diff", "chg"])));
    for want in ["D /bin/ls", "C /etc/passwd", "A /new/dir/f", "A /tmp/t", "A /link", "C /bin"] {
        assert!(berth.lines().any(|l| l == want), "{want} missing from:\n{berth}");
    }
    let json = |s: String| {
        let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
        for list in v.as_object_mut().unwrap().values_mut() {
            list.as_array_mut().unwrap().sort_by_key(|p| p.as_str().unwrap().to_string());
        }
        v
    };
    let b = env.ok(&["diff", "--format", "json", "chg"]);
    assert!(b.starts_with("{\n     \"changed\": [\n          \"/bin\""), "podman's indentation: {b}");
    assert_eq!(json(b), json(podman.ok(&["diff", "--format", "json", "chg"])));
    // An image: its top layer against the ones below (here, all of it).
    let image = env.ok(&["diff", "localhost/bb"]);
    assert!(image.lines().any(|l| l == "A /bin/busybox"), "{image}");
    assert_eq!(sorted(image), sorted(podman.ok(&["diff", "localhost/bb"])));
    // A committed container's layer shows the container's changes.
    env.ok(&["commit", "-q", "chg", "committed"]);
    podman.ok(&["commit", "-q", "chg", "committed"]);
    let committed = env.ok(&["diff", "committed"]);
    assert!(committed.lines().any(|l| l == "D /bin/ls"), "{committed}");
    assert_eq!(sorted(committed), sorted(podman.ok(&["diff", "committed"])));
    // Nothing changed: nothing listed, `{}` in JSON.
    env.ok(&["create", "--name", "fresh", "localhost/bb"]);
    podman.ok(&["create", "--pull=never", "--network", "none", "--name", "fresh", "localhost/bb"]);
    assert_eq!(env.ok(&["diff", "fresh"]), "");
    assert_eq!(podman.ok(&["diff", "fresh"]), "");
    assert_eq!(env.ok(&["diff", "--format", "json", "fresh"]), "{}\n");
    for args in [&["diff", "nosuch"][..], &["diff", "--format", "xml", "chg"]] {
        let b = env.run(args);
        let p = podman.run(args, None);
        assert_eq!(b.status.code(), p.status.code(), "{args:?}");
        assert_eq!(stderr(&b), stderr(&p), "{args:?}");
    }
}

/// `diff A B`: what A changes against B, each a container or an image (a
/// committed one has two layers: a read-only overlay of them), as podman
/// lists it (in path order). Names that cannot be image ID prefixes: images
/// are looked up first.
#[test]
fn diff_of_two_containers_or_images_lists_what_podman_lists() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    let scripts = [
        ("one", "echo a > /new1; echo x >> /etc/passwd; mkdir /d1"),
        ("two", "echo b > /new2; mkdir -p /d1/sub; rm /bin/ls"),
    ];
    for (name, script) in scripts {
        env.ok(&["run", "--name", name, "localhost/bb", "sh", "-c", script]);
        podman.ok(&["run", "--pull=never", "--network", "none", "--name", name, "localhost/bb", "sh", "-c", script]);
    }
    env.ok(&["commit", "-q", "one", "oneimg"]);
    podman.ok(&["commit", "-q", "one", "oneimg"]);
    let sorted = |s: String| {
        let mut v: Vec<String> = s.lines().map(String::from).collect();
        v.sort();
        v
    };
    for pair in
        [["one", "two"], ["two", "one"], ["one", "localhost/bb"], ["localhost/bb", "two"], ["oneimg", "localhost/bb"]]
    {
        let ours = env.ok(&["diff", pair[0], pair[1]]);
        let lines: Vec<&str> = ours.lines().collect();
        assert!(lines.windows(2).all(|w| w[0][2..] < w[1][2..]), "sorted by path:\n{ours}");
        assert_eq!(sorted(ours.clone()), sorted(podman.ok(&["diff", pair[0], pair[1]])), "diff {pair:?}");
        assert!(!ours.is_empty(), "diff {pair:?} found nothing");
    }
    let both = env.ok(&["diff", "one", "two"]);
    for want in ["C /d1", "D /d1/sub", "C /etc/passwd", "A /new1", "D /new2", "A /bin/ls", "C /bin"] {
        assert!(both.lines().any(|l| l == want), "{want} missing from:\n{both}");
    }
    // A container and the image committed from it: nothing (whole-second
    // mtimes in the layer match the container's).
    assert_eq!(env.ok(&["diff", "one", "oneimg"]), "");
    assert_eq!(podman.ok(&["diff", "one", "oneimg"]), "");
    let json = env.ok(&["diff", "--format", "json", "two", "one"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["deleted"], serde_json::json!(["/bin/ls", "/new1"]), "{json}");
    for args in [&["diff", "one", "nosuch"][..], &["diff", "one", "two", "oneimg"]] {
        let b = env.run(args);
        let p = podman.run(args, None);
        assert_eq!(b.status.code(), p.status.code(), "{args:?}");
        assert_eq!(stderr(&b), stderr(&p), "{args:?}");
    }
    // The image views are gone, and so are the containers' mounts.
    let views = env.runroot.join("overlay/views");
    assert_eq!(std::fs::read_dir(&views).map(|d| d.count()).unwrap_or(0), 0, "{}", views.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.runroot.to_str().unwrap()), "left mounted:\n{mounts}");
}

/// The names in a tar.
fn tar_names(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().trim_end_matches('/').to_string())
        .collect()
}

fn tar_file_content(bytes: &[u8], name: &str) -> Option<String> {
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return Some(s);
        }
    }
    None
}

#[test]
fn export_writes_the_whole_filesystem() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "--name", "e", "bb", "sh", "-c", "echo exported > /written; rm /bin/ls"]);
    let o = env.run(&["export", "e"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = tar_names(&o.stdout);
    assert!(names.iter().any(|n| n == "bin/busybox"), "the image's files too");
    assert!(!names.iter().any(|n| n == "bin/ls"), "a deleted file is not there");
    assert_eq!(tar_file_content(&o.stdout, "written").as_deref(), Some("exported\n"));
    // -o: the same tar in a file.
    let file = env.path("e.tar");
    env.ok(&["export", "-o", file.to_str().unwrap(), "e"]);
    assert_eq!(tar_names(&std::fs::read(&file).unwrap()), names);
    // A running container's too.
    env.ok(&["run", "-d", "--name", "live", "bb", "sh", "-c", "echo live > /now; sleep 1000"]);
    common::containers::eventually("/now", || env.run(&["exec", "live", "cat", "/now"]).status.success());
    let o = env.run(&["export", "live"]);
    assert_eq!(tar_file_content(&o.stdout, "now").as_deref(), Some("live\n"));
    // Never to a terminal, as podman.
    let cmd = format!("{} --root {} --runroot {} export e", BIN, env.root.display(), env.runroot.display());
    let o = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(stdout(&o).contains("Error: refusing to export to terminal. Use -o flag or redirect"), "{}", stdout(&o));
    env.fails(&["export", "nosuch"], 125);
}

#[test]
fn commit_makes_an_image_that_runs_with_the_changes() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "--name", "c", "-e", "FROM_RUN=yes", "bb", "sh", "-c", "echo committed > /data; rm /bin/ls"]);
    let id = env.ok(&[
        "commit",
        "-q",
        "-m",
        "my message",
        "-a",
        "me",
        "-c",
        "CMD [\"cat\", \"/data\"]",
        "-c",
        "ENV ADDED=1",
        "-c",
        "LABEL made=commit",
        "-c",
        "WORKDIR /tmp",
        "c",
        "committed",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    // CMD from --change, the file from the container's layer.
    assert_eq!(env.ok(&["run", "--rm", "committed"]), "committed\n");
    let out = env.ok(&["run", "--rm", "committed", "sh", "-c", "echo $ADDED $FROM_RUN; pwd; ls /bin/ls || echo gone"]);
    assert_eq!(out, "1 yes\n/tmp\ngone\n");
    let fmt = "{{.Author}}|{{.Comment}}|{{index .Labels \"made\"}}|{{len .RootFS.Layers}}";
    assert_eq!(env.ok(&["image", "inspect", "--format", fmt, "committed"]), "me|my message|commit|2\n");
    assert_eq!(env.ok(&["image", "inspect", "--format", "{{.Id}}", "committed"]).trim(), id);
    let history = env.ok(&["history", "--format", "{{.Comment}}", "committed"]);
    assert_eq!(history.lines().next(), Some("my message"));

    // Squashed, in docker format: one layer, still the same files.
    let sq = env.ok(&["commit", "-q", "--squash", "-f", "docker", "-c", "ONBUILD RUN true", "c", "squashed"]);
    assert_eq!(env.ok(&["image", "inspect", "--format", "{{len .RootFS.Layers}}", sq.trim()]), "1\n");
    assert_eq!(env.ok(&["run", "--rm", "squashed", "cat", "/data"]), "committed\n");
    let manifest_type = env.ok(&["image", "inspect", "--format", "{{.ManifestType}}", "squashed"]);
    assert_eq!(manifest_type.trim(), "application/vnd.docker.distribution.manifest.v2+json");

    // A running container, paused for the commit and running after it.
    env.ok(&["run", "-d", "--name", "r", "bb", "sh", "-c", "echo running > /r; sleep 1000"]);
    common::containers::eventually("/r", || env.run(&["exec", "r", "cat", "/r"]).status.success());
    let iid = env.path("iid");
    let printed = env.ok(&["commit", "-q", "-p", "--iidfile", iid.to_str().unwrap(), "r", "fromrunning"]);
    // As podman writes it: the bare ID, no newline.
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), printed.trim());
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "r"]), "running\n");
    assert_eq!(env.ok(&["run", "--rm", "fromrunning", "cat", "/r"]), "running\n");

    // Bad input: podman's words, nothing made.
    let before = env.ok(&["images", "-q"]);
    let e = env.fails(&["commit", "-f", "bogus", "c", "x"], 125);
    assert_eq!(e, "Error: unrecognized image format \"bogus\"\n");
    let e = env.fails(&["commit", "c", "BAD NAME"], 125);
    assert_eq!(e, "Error: invalid reference format\n");
    env.fails(&["commit", "nosuch", "x"], 125);
    let e = env.fails(&["commit", "-c", "BOGUS x", "c", "x"], 125);
    assert_eq!(e, "Error: invalid change \"BOGUS x\" - invalid instruction BOGUS\n");
    let e = env.fails(&["commit", "-c", "CMD", "c", "x"], 125);
    assert_eq!(e, "Error: invalid change \"CMD\" - must be formatted as KEY VALUE\n");
    assert_eq!(env.ok(&["images", "-q"]), before);
}

fn mount_list(env: &Env) -> Vec<(String, PathBuf)> {
    env.ok(&["mount", "--no-trunc"])
        .lines()
        .map(|l| {
            let (id, at) = l.split_once("  ").unwrap();
            (id.to_string(), PathBuf::from(at))
        })
        .collect()
}

fn is_mounted(p: &Path) -> bool {
    let target = p.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(&target))
}

#[test]
fn mount_shows_the_container_and_counts_references() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "--name", "m", "bb", "sh", "-c", "echo mine > /mine"]);
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "m"]).trim().to_string();
    assert!(mount_list(&env).is_empty());
    let at = PathBuf::from(env.ok(&["mount", "m"]).trim());
    assert_eq!(std::fs::read_to_string(at.join("mine")).unwrap(), "mine\n");
    assert_eq!(mount_list(&env), vec![(id.clone(), at.clone())]);
    let short = env.ok(&["mount"]);
    assert_eq!(short, format!("{}  {}\n", &id[..12], at.display()));
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["mount", "--format", "json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["Names"][0], "m");

    // Mounted twice: the first unmount keeps it.
    env.ok(&["container", "mount", "m"]);
    assert_eq!(env.ok(&["umount", "m"]), "m\n");
    assert!(is_mounted(&at));
    assert_eq!(env.ok(&["unmount", "m"]), "m\n");
    assert!(!is_mounted(&at));
    assert!(mount_list(&env).is_empty());
    // Unmounting what is not mounted is fine, as with podman.
    assert_eq!(env.ok(&["unmount", "m"]), "m\n");

    // Mounted while stopped, then started: the container's exit keeps the user's mount.
    env.ok(&["mount", "m"]);
    env.ok(&["start", "-a", "m"]);
    assert!(is_mounted(&at));
    env.ok(&["unmount", "-f", "m"]);
    assert!(!is_mounted(&at));

    // A running container: a user's unmount never takes its own mount.
    env.ok(&["run", "-d", "--name", "run", "bb", "sleep", "1000"]);
    let run_at = PathBuf::from(env.ok(&["mount", "run"]).trim());
    assert!(run_at.join("bin/busybox").exists());
    env.ok(&["unmount", "run"]);
    env.ok(&["unmount", "run"]);
    env.ok(&["unmount", "-f", "run"]);
    assert!(is_mounted(&run_at));
    env.ok(&["exec", "run", "sh", "-c", "echo still > /still"]);
    assert_eq!(std::fs::read_to_string(run_at.join("still")).unwrap(), "still\n");
    env.ok(&["stop", "-t", "0", "run"]);
    assert!(!is_mounted(&run_at), "the exit unmounts it");

    env.ok(&["mount", "m"]);
    assert_eq!(env.ok(&["unmount", "--all"]), format!("{id}\n"));
    assert!(mount_list(&env).is_empty());
    let e = env.fails(&["mount", "nosuch"], 125);
    assert_eq!(e, "Error: no container with name or ID \"nosuch\" found: no such container\n");
    let e = env.fails(&["unmount", "-a", "m"], 125);
    assert_eq!(e, "Error: no arguments are needed with --all\n");
}

#[test]
fn port_and_cleanup() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "p", "bb", "sleep", "1000"]);
    assert_eq!(env.ok(&["port", "p"]), "");
    assert_eq!(env.ok(&["port", "-a"]), "");
    assert_eq!(env.ok(&["container", "port", "p", "80/tcp"]), "");
    let e = env.fails(&["port", "nosuch"], 125);
    assert_eq!(e, "Error: no container with name or ID \"nosuch\" found: no such container\n");

    // cleanup refuses a running container, with podman's words.
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "p"]).trim().to_string();
    let e = env.fails(&["container", "cleanup", "p"], 125);
    assert_eq!(
        e,
        format!(
            "Error: failed to clean up container {id}: container {id} is running or paused, refusing to clean up: container state improper\n"
        )
    );
    // An exited one left mounted: cleanup unmounts it.
    env.ok(&["run", "--name", "x", "bb", "true"]);
    let at = PathBuf::from(env.ok(&["mount", "x"]).trim());
    env.ok(&["mount", "x"]);
    assert!(is_mounted(&at));
    assert_eq!(env.ok(&["container", "cleanup", "x"]), "x\n");
    assert!(!is_mounted(&at));
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "x"]), "exited\n");
    assert_eq!(env.ok(&["container", "cleanup", "--rm", "x"]), "x\n");
    assert_eq!(env.run(&["container", "exists", "x"]).status.code(), Some(1), "removed by --rm");

    // --rmi removes the image too, unless a container uses it (this one,
    // kept without --rm, or another): podman's error and 125, as podman.
    env.ok(&["run", "--name", "y", "bb", "true"]);
    let e = env.fails(&["container", "cleanup", "--rmi", "y"], 125);
    assert!(e.starts_with("Error: image used by "), "{e}");
    assert!(
        e.ends_with(
            ": image is in use by a container: consider listing external containers and force-removing image\n"
        ),
        "{e}"
    );
    assert_eq!(env.run(&["container", "exists", "y"]).status.code(), Some(0), "kept without --rm");
    env.ok(&["rm", "-f", "-t", "0", "p"]);
    assert_eq!(env.ok(&["container", "cleanup", "--rm", "--rmi", "y"]), "y\n");
    assert_eq!(env.run(&["container", "exists", "y"]).status.code(), Some(1), "removed by --rm");
    assert_eq!(env.run(&["image", "exists", "bb"]).status.code(), Some(1), "removed by --rmi");
}

#[test]
fn init_readies_a_container_that_start_then_runs() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["create", "--name", "i", "bb", "sh", "-c", "echo ran"]);
    assert_eq!(env.ok(&["init", "i"]), "i\n");
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "i"]), "initialized\n");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]), "i Initialized\n");
    // Its storage is ready (mounted) before it starts...
    let (_, at) = mount_list(&env).pop().expect("mounted by init");
    assert!(at.join("bin/busybox").exists());
    // ... and init again changes nothing.
    assert_eq!(env.ok(&["container", "init", "i"]), "i\n");
    assert_eq!(env.ok(&["start", "-a", "i"]), "ran\n");
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "i"]), "exited 0\n");
    // The run took init's mount over and let it go at its exit.
    assert!(mount_list(&env).is_empty());
    assert!(!is_mounted(&at));

    // An exited container can be initialized again; cleanup undoes it.
    env.ok(&["init", "i"]);
    assert!(is_mounted(&at));
    env.ok(&["container", "cleanup", "i"]);
    assert!(!is_mounted(&at));
    assert_eq!(env.ok(&["inspect", "--format", "{{.State.Status}}", "i"]), "created\n");

    env.ok(&["run", "-d", "--name", "r", "bb", "sleep", "1000"]);
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "r"]).trim().to_string();
    let e = env.fails(&["init", "r"], 125);
    assert_eq!(e, format!("Error: container {id} has already been created in runtime: container state improper\n"));
    let e = env.fails(&["init", "nosuch"], 125);
    assert_eq!(e, "Error: no container with name or ID \"nosuch\" found: no such container\n");
}

/// The same commands on a vfs store, where a container's changes come from
/// comparing its copy with the image's rather than from an overlay upper.
#[test]
fn vfs_store_diffs_commits_copies_and_mounts() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let vfs = |args: &[&str]| env.ok(&[&["--storage-driver", "vfs"][..], args].concat());
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    vfs(&["load", "-q", "-i", archive.to_str().unwrap()]);
    vfs(&["run", "--name", "v", "bb", "sh", "-c", CHANGES]);
    let diff = vfs(&["diff", "v"]);
    for want in ["D /bin/ls", "C /etc/passwd", "A /new/dir/f", "A /tmp/t", "A /link"] {
        assert!(diff.lines().any(|l| l == want), "{want} missing from:\n{diff}");
    }
    assert!(!diff.lines().any(|l| l.ends_with("/bin/cat")), "an unchanged file is not listed:\n{diff}");
    vfs(&["commit", "-q", "-c", "CMD [\"cat\", \"/new/dir/f\"]", "v", "vimg"]);
    assert_eq!(vfs(&["run", "--rm", "vimg"]), "n\n");
    assert_eq!(vfs(&["run", "--rm", "vimg", "sh", "-c", "ls /bin/ls || echo gone"]), "gone\n");
    let out = env.path("t");
    vfs(&["cp", "v:/link/passwd", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&out).unwrap().ends_with("changed\n"), "the container's /etc/passwd");
    let at = PathBuf::from(vfs(&["mount", "v"]).trim());
    assert_eq!(std::fs::read_to_string(at.join("tmp/t")).unwrap(), "t\n");
    vfs(&["unmount", "v"]);
    assert!(!is_mounted(&at));
}
