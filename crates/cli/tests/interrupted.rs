//! Pulls and loads killed mid-transfer (SIGKILL: nothing of theirs runs
//! after) leave temp files behind; the next berth command removes every one
//! no live process holds, whatever its age, and never a live writer's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, tar_file, write_oci_archive, Env};
use regharness::*;
use testkit::proxy::{Fault, FlakyProxy, Rule};

/// Incompressible bytes, so a layer of them is as big on the wire as on disk.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Entries of `dir` whose names start with `prefix`, with their sizes
/// (a directory's size is that of everything in it).
fn entries(dir: &Path, prefix: &str) -> Vec<(PathBuf, u64)> {
    fn size(p: &Path) -> u64 {
        let Ok(m) = fs::symlink_metadata(p) else { return 0 };
        if !m.is_dir() {
            return m.len();
        }
        fs::read_dir(p).map(|rd| rd.flatten().map(|e| size(&e.path())).sum()).unwrap_or(0)
    }
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| (e.path(), size(&e.path())))
        .collect()
}

/// Wait (up to 30 s) until `dir` holds an entry named `prefix*` with over
/// 64 KiB in it (the big layer, not a small config), other than those in
/// `known`: the child is mid-transfer.
/// Returns that entry.
fn wait_for_partial(child: &mut Child, dir: &Path, prefix: &str, known: &[&Path]) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some((p, _)) =
            entries(dir, prefix).into_iter().find(|(p, n)| *n > 64 << 10 && !known.contains(&p.as_path()))
        {
            return p;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("berth ended ({status}) before its transfer started");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no partial {prefix}* in {}", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigkill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_killed_pull_leaves_nothing_after_the_next_command_and_a_live_one_keeps_its_file() {
    let reg = TestRegistry::start();
    let layer = Layer::plain(tar_file("noise", &noise(8 << 20)));
    let built = build_image(&[layer], "amd64");
    push_raw(&built.store, &built.manifest, &reg, "big:1");
    // The layer's download stalls after 1 MiB and never ends.
    let proxy = FlakyProxy::start(
        reg.port,
        vec![Rule::blob_get(usize::MAX, Fault::StallAfter(1 << 20)).only(&built.layers[0])],
    );
    let name = proxy.name("big:1");
    let env = Env::new();
    let blobs = env.root.join("blobs/sha256");
    let pull = || berth(&env, &["pull", "-q", "--tls-verify=false", &name]).stderr(Stdio::piped()).spawn().unwrap();

    // Interrupted pulls, as a user pressing ctrl-c: each leaves its temp
    // file, and the next command (here the next pull) removes it.
    let mut dead = pull();
    let first = wait_for_partial(&mut dead, &blobs, ".tmp-", &[]);
    sigkill(&mut dead);
    let left = entries(&blobs, ".tmp-");
    assert!(left.iter().any(|(p, _)| *p == first), "the killed pull left its temp file: {left:?}");

    // A live pull (which already swept the first) and a killed one while
    // another command opens the store: the dead file goes, the live stays.
    let mut live = pull();
    let live_file = wait_for_partial(&mut live, &blobs, ".tmp-", &[&first]);
    assert!(
        left.iter().all(|(p, _)| !p.exists()),
        "the next pull removed the killed one's files: {:?}",
        entries(&blobs, ".tmp-")
    );
    let mut dead = pull();
    let dead_file = wait_for_partial(&mut dead, &blobs, ".tmp-", &[&live_file]);
    sigkill(&mut dead);
    assert!(dead_file.exists());
    let (out, _) = ok(&env, &["images", "-q"]);
    assert_eq!(out, "");
    assert_eq!(
        entries(&blobs, ".tmp-").into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
        std::slice::from_ref(&live_file)
    );
    assert!(live.try_wait().unwrap().is_none(), "the live pull is still running");

    // Killed too: the next command takes it.
    sigkill(&mut live);
    ok(&env, &["images", "-q"]);
    assert_eq!(entries(&blobs, ".tmp-"), []);
    // Only finished blobs are left: `rmi -a`/`prune` are not needed for
    // the temp files.
    assert!(blob_files(&env).iter().all(|f| !f.starts_with('.')), "{:?}", blob_files(&env));
    drop(proxy);
}

#[test]
fn a_killed_load_leaves_nothing_after_the_next_command_and_a_live_one_keeps_its_staging() {
    let env = Env::new();
    let archive = env.path("big.tar");
    write_oci_archive(&archive, Some("localhost/big:1"), &[&tar_file("noise", &noise(8 << 20))], serde_json::json!({}));
    let data = fs::read(&archive).unwrap();
    let tmp = env.root.join("tmp");
    let load =
        || env.cmd(&["load"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Half the archive, then the writer keeps the pipe open without more.
    let feed_half = |c: &mut Child| c.stdin.as_mut().unwrap().write_all(&data[..data.len() / 2]).unwrap();

    let mut dead = load();
    feed_half(&mut dead);
    let first = wait_for_partial(&mut dead, &tmp, "archive-", &[]);
    sigkill(&mut dead);
    assert_eq!(entries(&tmp, "archive-").len(), 1, "the killed load left its staging dir");

    // A live load (which already swept that one) and a killed one while
    // another command opens the store.
    let mut live = load();
    feed_half(&mut live);
    let live_dir = wait_for_partial(&mut live, &tmp, "archive-", &[&first]);
    assert!(!first.exists(), "the next load removed the killed one's staging dir");
    let mut dead = load();
    feed_half(&mut dead);
    let dead_dir = wait_for_partial(&mut dead, &tmp, "archive-", &[&live_dir]);
    sigkill(&mut dead);
    assert!(dead_dir.exists());
    let o = env.run(&["images", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let left: Vec<PathBuf> = entries(&tmp, "archive-").into_iter().map(|(p, _)| p).collect();
    assert_eq!(left, [live_dir], "the dead staging dir went, the live one stayed");

    // The live load finishes normally once it gets the rest.
    live.stdin.as_mut().unwrap().write_all(&data[data.len() / 2..]).unwrap();
    drop(live.stdin.take());
    let o = live.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(entries(&tmp, "archive-"), []);
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "localhost/big:1\n");
}
