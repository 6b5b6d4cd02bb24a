//! `cp` with real containers, running and stopped: docker's directory
//! rules, owners (`--archive`), tars on stdin/stdout, volumes, and every
//! path resolved inside the container's root: symlinks the container made
//! towards the host's /etc must read and write the container's /etc.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use common::containers::Cleanup;
use common::podman::{run_with_input, Podman};
use common::*;

/// A running container with a file, a tree, and symlinks pointing out.
fn container(env: &Env, name: &str) {
    env.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "bb",
        "sh",
        "-c",
        "echo hi > /f; mkdir -p /d/e; echo x > /d/e/g; ln -s /etc /lnk; ln -s ../../../../../etc /up; \
         ln -s /etc/passwd /pw; echo 'mine:x:0:0::/:/bin/sh' > /etc/passwd; touch /ready; sleep 1000",
    ]);
    common::containers::eventually("the container's files", || {
        env.run(&["exec", name, "ls", "/ready"]).status.success()
    });
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn copies_files_and_trees_both_ways_running_and_stopped() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    container(&env, "c1");
    let host = env.path("host");
    std::fs::create_dir(&host).unwrap();
    let h = |n: &str| host.join(n).to_str().unwrap().to_string();

    // Out: a file to a new name, into a directory; a tree as itself or its contents.
    env.ok(&["cp", "c1:/f", &h("f1")]);
    assert_eq!(read(&host.join("f1")), "hi\n");
    env.ok(&["cp", "c1:/f", &h("")]);
    assert_eq!(read(&host.join("f")), "hi\n");
    env.ok(&["cp", "c1:/d", &h("newdir")]);
    assert_eq!(read(&host.join("newdir/e/g")), "x\n");
    std::fs::create_dir(host.join("into")).unwrap();
    env.ok(&["cp", "c1:/d", &h("into")]);
    assert_eq!(read(&host.join("into/d/e/g")), "x\n");
    env.ok(&["cp", "c1:/d/.", &h("into")]);
    assert_eq!(read(&host.join("into/e/g")), "x\n");

    // In: owned by the container's user (root) unless -a=false keeps the source's.
    std::fs::write(host.join("owned"), "o\n").unwrap();
    std::os::unix::fs::chown(host.join("owned"), Some(4321), Some(8765)).unwrap();
    env.ok(&["cp", &h("owned"), "c1:/d/"]);
    env.ok(&["cp", "-a=false", &h("owned"), "c1:/kept"]);
    assert_eq!(env.ok(&["exec", "c1", "stat", "-c", "%u:%g %s", "/d/owned", "/kept"]), "0:0 2\n4321:8765 2\n");
    // A directory into the container, and over a file only as a directory's content.
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/t"), "t\n").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for p in ["tree/sub/t", "tree/sub", "tree"] {
        std::fs::File::open(host.join(p)).unwrap().set_modified(old).unwrap();
    }
    env.ok(&["cp", &h("tree"), "c1:/"]);
    assert_eq!(env.ok(&["exec", "c1", "cat", "/tree/sub/t"]), "t\n");
    // Times kept, directories' too (set after what is in them).
    let times = env.ok(&["exec", "c1", "stat", "-c", "%Y", "/tree", "/tree/sub", "/tree/sub/t"]);
    assert_eq!(times, "1000000000\n1000000000\n1000000000\n");

    // A file and a directory swap places only with --overwrite.
    std::fs::create_dir_all(host.join("swap/f")).unwrap();
    std::fs::write(host.join("swap/f/inner"), "inner\n").unwrap();
    let o = env.run(&["cp", &h("swap/f"), "c1:/"]);
    assert_eq!(o.status.code(), Some(125), "a directory over the file /f");
    assert_eq!(env.ok(&["exec", "c1", "cat", "/f"]), "hi\n");
    env.ok(&["cp", "--overwrite", &h("swap/f"), "c1:/"]);
    assert_eq!(env.ok(&["exec", "c1", "cat", "/f/inner"]), "inner\n");
    std::fs::write(host.join("d"), "now a file\n").unwrap();
    assert_eq!(env.run(&["cp", &h("d"), "c1:/"]).status.code(), Some(125), "a file over the tree /d");
    env.ok(&["cp", "--overwrite", &h("d"), "c1:/tmp/"]);
    env.ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "mkdir -p /tree2/sub/deeper && echo x > /tree2/sub/deeper/f && ln -s /etc /tree2/sub/l",
    ]);
    std::fs::write(host.join("tree2"), "flat\n").unwrap();
    env.ok(&["cp", "--overwrite", &h("tree2"), "c1:/"]);
    assert_eq!(env.ok(&["exec", "c1", "cat", "/tree2"]), "flat\n");
    assert_eq!(
        env.ok(&["exec", "c1", "cat", "/etc/passwd"]),
        "mine:x:0:0::/:/bin/sh\n",
        "the link was removed, not followed"
    );
    std::fs::remove_file(host.join("d")).unwrap();

    // Tars: to stdout named after the source, from stdin into a directory.
    let o = env.run(&["cp", "c1:/d", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = tar::Archive::new(o.stdout.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().trim_end_matches('/').to_string())
        .collect();
    names.sort();
    assert!(names.starts_with(&["d".to_string(), "d/e".into(), "d/e/g".into()]), "{names:?}");
    let input = tar_file("fromtar", b"streamed\n");
    let o = run_with_input(env.cmd(&["cp", "-", "c1:/d/e"]), Some(&input));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.ok(&["exec", "c1", "cat", "/d/e/fromtar"]), "streamed\n");

    // Stopped: its storage is mounted for the copy, and the container still starts.
    env.ok(&["stop", "-t", "0", "c1"]);
    std::fs::write(host.join("late"), "late\n").unwrap();
    env.ok(&["cp", &h("late"), "c1:/late"]);
    env.ok(&["cp", "c1:/d/e/fromtar", &h("back")]);
    assert_eq!(read(&host.join("back")), "streamed\n");
    // Each copy's mount is gone with it, and said nothing.
    assert_eq!(env.ok(&["mount"]), "", "a stopped container's storage left mounted");
    let o = env.run(&["cp", "c1:/f", &h("quiet")]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
    assert_eq!(env.ok(&["start", "c1"]), "c1\n");
    assert_eq!(env.ok(&["exec", "c1", "cat", "/late"]), "late\n");
}

#[test]
fn symlinks_resolve_inside_the_container_never_on_the_host() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    container(&env, "esc");
    let out = env.path("out");
    let o = |n: &str| out.join(n).to_str().unwrap().to_string();
    std::fs::create_dir(&out).unwrap();
    let marker = format!("berth-cp-escape-{}", std::process::id());
    let host_marker = Path::new("/etc").join(&marker);
    // Were the copy to escape, what it wrote on the host goes whatever the outcome.
    struct Remove(Vec<std::path::PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let _remove = Remove(vec![host_marker.clone(), Path::new("/etc").join(format!("{marker}.tar"))]);

    for state in ["running", "stopped"] {
        // Reading through /lnk, /up (../../.. past the root) and /pw gets the container's passwd.
        for src in ["esc:/lnk/passwd", "esc:/up/passwd", "esc:/pw"] {
            let _ = std::fs::remove_file(out.join("passwd"));
            env.ok(&["cp", src, &o("passwd")]);
            assert_eq!(read(&out.join("passwd")), "mine:x:0:0::/:/bin/sh\n", "{state}: {src}");
        }
        // Writing through them lands in the container's /etc.
        let file = env.path(&marker);
        std::fs::write(&file, state).unwrap();
        for dest in ["esc:/lnk/", "esc:/up/"] {
            env.ok(&["cp", file.to_str().unwrap(), dest]);
            assert!(!host_marker.exists(), "{state}: cp to {dest} wrote the host's {}", host_marker.display());
        }
        // Over a symlink to a file: the link is replaced, its target untouched.
        env.ok(&["cp", file.to_str().unwrap(), "esc:/pw"]);
        // A tar whose entries go through a symlink it brings itself.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "root", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(7);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("root/etc/{marker}.tar"), &b"via-tar"[..]).unwrap();
        let o = run_with_input(env.cmd(&["cp", "-", "esc:/tmp"]), Some(&b.into_inner().unwrap()));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!Path::new("/etc").join(format!("{marker}.tar")).exists(), "{state}: the tar wrote the host's /etc");

        let cat = |path: &str| env.ok(&["exec", "esc", "cat", path]);
        if state == "stopped" {
            env.ok(&["start", "esc"]);
        }
        assert_eq!(cat("/pw"), state);
        assert_eq!(cat(&format!("/etc/{marker}")), state);
        assert_eq!(cat(&format!("/etc/{marker}.tar")), "via-tar");
        assert_eq!(cat("/etc/passwd"), "mine:x:0:0::/:/bin/sh\n");
        if state == "running" {
            env.ok(&["exec", "esc", "ln", "-sf", "/etc/passwd", "/pw"]);
            env.ok(&["stop", "-t", "0", "esc"]);
        }
    }
    assert!(!host_marker.exists());
}

#[test]
fn volumes_are_reached_through_the_container_running_or_not() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let bind = env.path("bind");
    std::fs::create_dir(&bind).unwrap();
    let spec = format!("{}:/data", bind.display());
    env.ok(&["run", "-d", "--name", "v", "-v", &spec, "-v", "named:/named", "bb", "sleep", "1000"]);
    let f = env.path("f");
    std::fs::write(&f, "into the volume\n").unwrap();
    env.ok(&["cp", f.to_str().unwrap(), "v:/data/running"]);
    env.ok(&["cp", f.to_str().unwrap(), "v:/named/running"]);
    assert_eq!(read(&bind.join("running")), "into the volume\n");
    env.ok(&["stop", "-t", "0", "v"]);
    env.ok(&["cp", f.to_str().unwrap(), "v:/data/stopped"]);
    env.ok(&["cp", f.to_str().unwrap(), "v:/named/stopped"]);
    assert_eq!(read(&bind.join("stopped")), "into the volume\n");
    let named = env.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "named"]);
    let named = Path::new(named.trim());
    assert_eq!(read(&named.join("running")), "into the volume\n");
    assert_eq!(read(&named.join("stopped")), "into the volume\n");
    // Read back from a stopped container's volume too.
    env.ok(&["cp", "v:/named/running", env.path("back").to_str().unwrap()]);
    assert_eq!(read(&env.path("back")), "into the volume\n");
    assert!(std::fs::metadata(env.path("back")).unwrap().uid() == 0);
}

#[test]
fn errors_are_podmans() {
    require_root();
    let env = Env::new();
    let _c = Cleanup(&env);
    let podman = Podman::beside(&env);
    env.ok(&["run", "-d", "--name", "pc", "localhost/bb", "sh", "-c", "echo hi > /f; mkdir /d; sleep 1000"]);
    podman.ok(&[
        "run",
        "-d",
        "--pull=never",
        "--network",
        "none",
        "--name",
        "pc",
        "localhost/bb",
        "sh",
        "-c",
        "echo hi > /f; mkdir /d; sleep 1000",
    ]);
    let dir = env.path("cwd");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hostfile"), "h").unwrap();
    common::containers::eventually("both containers' files", || {
        env.run(&["exec", "pc", "ls", "/d"]).status.success()
            && podman.run(&["exec", "pc", "ls", "/d"], None).status.success()
    });
    let rows: &[&[&str]] = &[
        &["cp", "pc:/nonexist", "x"],
        &["cp", "nosuch:/f", "x"],
        &["cp", "hostfile", "nosuch:/f"],
        &["cp", "missing", "pc:/x"],
        &["cp", "pc:/f", "nodir/x"],
        &["cp", "pc:/f", "x/"],
        &["cp", "hostfile", "pc:/nodir/x"],
        &["cp", "pc:/d", "hostfile"],
        &["cp", "a", "b"],
        &["cp", "-", "pc:/f"],
        &["cp", "-", "-"],
        &["cp", "onlyone"],
    ];
    let e = env.fails(&["cp", "pc:/f", "pc:/g"], 125);
    assert_eq!(e, "Error: copying between containers is not supported\n");
    for args in rows {
        let mut b = env.cmd(args);
        b.current_dir(&dir);
        let b = run_with_input(b, Some(b"".as_slice()));
        let mut p = podman.cmd(args);
        p.current_dir(&dir);
        let p = run_with_input(p, Some(b"".as_slice()));
        assert_eq!(b.status.code(), p.status.code(), "{args:?}: {} / {}", stderr(&b), stderr(&p));
        let first = |o: &std::process::Output| stderr(o).lines().next().unwrap_or_default().to_string();
        assert_eq!(first(&b), first(&p), "{args:?}");
    }
}

#[test]
fn archive_gives_files_the_containers_user() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "u", "-u", "nobody", "bb", "sleep", "1000"]);
    let f = env.path("f");
    std::fs::write(&f, "x").unwrap();
    std::fs::create_dir(env.path("dir")).unwrap();
    std::fs::write(env.path("dir/inner"), "y").unwrap();
    env.ok(&["cp", f.to_str().unwrap(), "u:/tmp/f"]);
    env.ok(&["cp", env.path("dir").to_str().unwrap(), "u:/tmp/"]);
    // nobody's uid and gid, from the container's /etc/passwd.
    let owners = env.ok(&["exec", "u", "stat", "-c", "%u:%g", "/tmp/f", "/tmp/dir", "/tmp/dir/inner"]);
    assert_eq!(owners, "65534:65534\n65534:65534\n65534:65534\n");
    // Out of it, ours.
    env.ok(&["exec", "-u", "root", "u", "sh", "-c", "echo z > /tmp/mine; chown 65534:65534 /tmp/mine"]);
    let back = env.path("back");
    env.ok(&["cp", "u:/tmp/mine", back.to_str().unwrap()]);
    let m = std::fs::metadata(&back).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
}
