//! Security defect 1 of issue 7, end to end: the store must not hand host
//! users root. An imported image carries a setuid-root copy of `id` and a
//! 0666 char device 1:11 (/dev/kmsg); while a container made from it runs,
//! `nobody` tries to run that `id` from the layer, the container's upper dir
//! and its mounted root, and to open the device for writing. Each attempt
//! must fail with EACCES (before the fix, `id` printed `euid=0(root)` and the
//! kernel log took nobody's writes). Then every directory under --root and
//! --runroot must grant group/other nothing beyond search (0711).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EACCES: i32 = 13;

/// The image's only layer: busybox (for the container's script), a
/// setuid-root `id` (the host's own, so it runs on the host as it is) and a
/// world-writable /dev/kmsg.
fn hostile_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], dev: Option<(u32, u32)>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        if let Some((major, minor)) = dev {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        }
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    for d in ["bin", "usr", "usr/bin", "dev", "tmp"] {
        add(d, tar::EntryType::Directory, 0o755, &[], None);
    }
    add("bin/busybox", tar::EntryType::Regular, 0o755, &std::fs::read("/bin/busybox").unwrap(), None);
    add("usr/bin/id", tar::EntryType::Regular, 0o4755, &std::fs::read("/usr/bin/id").unwrap(), None);
    add("dev/kmsg", tar::EntryType::Char, 0o666, &[], Some((1, 11)));
    b.into_inner().unwrap()
}

/// Run `path` as nobody; the error of the exec, or what it printed.
fn exec_as_nobody(path: &Path) -> Result<String, std::io::Error> {
    let o = as_nobody(&mut Command::new(path)).stdin(Stdio::null()).output()?;
    Ok(format!("{}{}", stdout(&o), stderr(&o)))
}

/// Open `path` for writing as nobody (busybox sh's redirection); its stderr.
fn write_as_nobody(path: &Path) -> String {
    let mut sh = Command::new("/bin/busybox");
    sh.args(["sh", "-c", "printf 'nobody was here\\n' > \"$1\"", "sh"]).arg(path);
    let o = as_nobody(&mut sh).stdin(Stdio::null()).output().unwrap();
    if o.status.success() {
        "opened for writing".into()
    } else {
        stderr(&o)
    }
}

fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one entry in {}: {entries:?}", dir.display());
    entries.into_iter().next().unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nobody_gets_nothing_from_the_store() {
    assert!(is_root(), "this test runs containers and switches to nobody: run it as root");
    let env = Env::new();
    // Other host users must be able to reach the test's dir, or the test
    // would prove nothing: the store's own modes have to stop them.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let layer = env.path("hostile.tar");
    std::fs::write(&layer, hostile_layer()).unwrap();
    env.ok(&["--storage-driver", "overlay", "import", "-q", layer.to_str().unwrap(), "localhost/hostile"]);

    // A running container: its script copies `id` up into the upper dir
    // (chmod keeps it setuid) and waits for the test to say stop.
    let script = "/bin/busybox chmod 4755 /usr/bin/id && while [ ! -e /stop ]; do /bin/busybox sleep 0.1; done";
    let run = env
        .cmd(&["run", "--name", "hostile", "localhost/hostile", "/bin/busybox", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let containers = env.root.join("overlay/containers");
    wait_for("the container's copy-up of id", || {
        std::fs::read_dir(&containers)
            .map(|d| d.flatten().any(|c| c.path().join("upper/usr/bin/id").exists()))
            .unwrap_or(false)
    });
    let container = only_entry(&containers);
    let id = container.file_name().unwrap().to_owned();
    let layer_diff = only_entry(&env.root.join("overlay/layers")).join("diff");
    let merged = env.runroot.join("overlay/containers").join(&id).join("rootfs");
    let upper = container.join("upper");

    let mut failures = Vec::new();
    for dir in [&layer_diff, &upper, &merged] {
        let id_bin = dir.join("usr/bin/id");
        assert!(std::fs::metadata(&id_bin).unwrap().mode() & 0o4000 != 0, "{} is setuid", id_bin.display());
        match exec_as_nobody(&id_bin) {
            Err(e) if e.raw_os_error() == Some(EACCES) => {}
            Err(e) => failures.push(format!("exec {} as nobody: {e} (want EACCES)", id_bin.display())),
            Ok(out) => failures.push(format!("exec {} as nobody ran: {}", id_bin.display(), out.trim())),
        }
    }
    for dir in [&layer_diff, &merged] {
        let kmsg = dir.join("dev/kmsg");
        assert!(std::fs::symlink_metadata(&kmsg).unwrap().rdev() != 0, "{} is the device", kmsg.display());
        let err = write_as_nobody(&kmsg);
        if !err.contains("Permission denied") {
            failures.push(format!("write {} as nobody: {} (want EACCES)", kmsg.display(), err.trim()));
        }
    }

    // Every directory under --root and --runroot, whoever made it: while
    // the container runs (runtime state, mounts) and after.
    let mut open = Vec::new();
    for top in [&env.root, &env.runroot] {
        open_dirs(top, &mut open);
    }

    std::fs::write(merged.join("stop"), "").unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "berth run: {}", stderr(&out));

    for top in [&env.root, &env.runroot] {
        open_dirs(top, &mut open);
    }
    open.sort();
    open.dedup();
    if !open.is_empty() {
        failures.push(format!("directories open to other users (want at most 0711):\n  {}", open.join("\n  ")));
    }
    assert!(failures.is_empty(), "the store gives host users a way in:\n{}", failures.join("\n"));
}

/// Image content, whose modes are the image's (`/tmp` 1777 and so on): a
/// layer's `diff/`, an overlay container's `upper/`, a container's
/// `rootfs/`, and what is in the mount points beside a layer's `diff/`
/// (whose own root is closed). Only their parents are berth's to close.
fn is_content(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = p.parent().and_then(|q| q.file_name()).and_then(|n| n.to_str()).unwrap_or("");
    let grandparent = p.parent().and_then(|q| q.parent()).and_then(|q| q.file_name()).and_then(|n| n.to_str());
    let grand_grandparent = p.ancestors().nth(3).and_then(|q| q.file_name()).and_then(|n| n.to_str());
    matches!((name, grandparent), ("diff", Some("layers")) | ("upper" | "rootfs", Some("containers")))
        || (parent.starts_with("mount-points-") && grand_grandparent == Some("layers"))
}

/// Directories below `dir` (and `dir`) granting group/other read or write.
fn open_dirs(dir: &Path, out: &mut Vec<String>) {
    let mode = std::fs::symlink_metadata(dir).unwrap().mode() & 0o7777;
    if mode & 0o066 != 0 {
        out.push(format!("{mode:04o} {}", dir.display()));
    }
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() && !is_content(&p) {
            open_dirs(&p, out);
        }
    }
}
