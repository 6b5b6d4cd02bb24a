//! `berth system df|prune|reset|migrate|renumber`: sizes of known content,
//! prune's reclaimed total checked against the filesystem's free space
//! (statvfs on a tmpfs of the test's own as `--root`: nothing else writes
//! there), and against what df called reclaimable before; the prompts;
//! reset leaving a store that works; podman's shapes side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::podman::Podman;
use common::*;
use serde_json::{json, Value};

const KIB: u64 = 1024;

/// An env whose root is a tmpfs of its own, with busybox loaded as
/// `localhost/bb` and an image sharing its layer plus a 1 MiB file as
/// `localhost/big`.
fn tmpfs_env() -> Env {
    require_root();
    let env = Env::new();
    std::fs::create_dir_all(&env.root).unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"]).arg(&env.root).status().unwrap();
    assert!(st.success(), "mount a tmpfs as the store's root");
    let (bb, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-q", "-i", bb.to_str().unwrap()]);
    let big = env.path("big.tar");
    let file = tar_file("big", &vec![7u8; 1024 * 1024]);
    write_oci_archive(&big, Some("localhost/big:latest"), &[busybox_layer(), &file], json!({}));
    env.ok(&["load", "-q", "-i", big.to_str().unwrap()]);
    env
}

/// Bytes free on the filesystem holding `env`'s root.
fn free_bytes(env: &Env) -> u64 {
    let s = rustix::fs::statvfs(&env.root).unwrap();
    s.f_bfree * s.f_frsize
}

/// df's summary rows by type: (size, reclaimable), exact.
fn df(env: &Env) -> std::collections::HashMap<String, (u64, u64, u64, u64)> {
    let text = env.ok(&["system", "df", "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    rows.iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (r["Type"].as_str().unwrap().to_string(), (n("Total"), n("Active"), n("Size"), n("Reclaimable")))
        })
        .collect()
}

/// Parse go-units' human size ("4.452MB") back to bytes, and its rounding.
fn parse_human(s: &str) -> (u64, u64) {
    let i = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (num, unit) = s.split_at(i);
    let scale: u64 = match unit {
        "B" => 1,
        "kB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        other => panic!("unit {other}"),
    };
    let v: f64 = num.parse().unwrap();
    // 4 significant digits: half a unit of the last digit either way.
    let digits = num.split('.').nth(1).map_or(0, str::len) as i32;
    ((v * scale as f64).round() as u64, (scale as f64 * 10f64.powi(-digits) / 2.0).ceil() as u64)
}

fn reclaimed(out: &str) -> (u64, u64) {
    let line = out.lines().find_map(|l| l.strip_prefix("Total reclaimed space: ")).expect("a total line");
    parse_human(line)
}

/// Writes berth makes beside what it frees (the container database's
/// write-ahead log grows as rows are deleted, images.json is rewritten,
/// lock files): a few pages. Far below what the test frees (megabytes),
/// far above nothing.
const METADATA_SLACK: u64 = 64 * KIB;

fn close(a: u64, b: u64, slack: u64) -> bool {
    a.abs_diff(b) <= slack
}

#[test]
fn df_sizes_known_content_and_prune_all_frees_what_it_said() {
    let env = tmpfs_env();
    env.ok(&["volume", "create", "v1"]);
    env.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "v1:/data",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/x bs=1k count=256 2>/dev/null; dd if=/dev/zero of=/f bs=1k count=512 2>/dev/null",
    ]);
    env.ok(&["create", "--name", "idle", "bb", "true"]);

    let rows = df(&env);
    let (vol_total, vol_active, vol_size, vol_reclaimable) = rows["Local Volumes"];
    assert_eq!((vol_total, vol_active), (1, 1));
    // 256 KiB written, plus its directories' and record's pages.
    assert!((256 * KIB..256 * KIB + 32 * KIB).contains(&vol_size), "volume {vol_size}");
    assert_eq!(vol_reclaimable, vol_size, "no running container uses it");
    let (c_total, c_active, c_size, c_reclaimable) = rows["Containers"];
    assert_eq!((c_total, c_active), (2, 0));
    assert!((512 * KIB..512 * KIB + 128 * KIB).contains(&c_size), "containers {c_size}");
    assert_eq!(c_reclaimable, c_size);
    let (i_total, i_active, i_size, i_reclaimable) = rows["Images"];
    assert_eq!((i_total, i_active), (2, 1));
    let bb_layer = busybox_layer().len() as u64;
    // Each layer is kept as a blob and unpacked: busybox's once though two
    // images hold it, big's 1 MiB file twice.
    assert!(
        i_size >= bb_layer + 2 * 1024 * KIB && i_size < 2 * bb_layer + 2 * 1024 * KIB + 256 * KIB,
        "images {i_size}"
    );
    assert_eq!(i_reclaimable, i_size);

    // The verbose tables: shared and unique bytes, links, written bytes.
    let v: Value = serde_json::from_str(&env.ok(&["system", "df", "-v", "--format", "json"])).unwrap();
    assert_eq!(v["ImagesSize"], i_size);
    let image = |repo: &str| v["Images"].as_array().unwrap().iter().find(|i| i["Repository"] == repo).unwrap().clone();
    let (bb, big) = (image("localhost/bb"), image("localhost/big"));
    assert_eq!(bb["SharedSize"], big["SharedSize"], "busybox's layer is shared");
    assert!(bb["SharedSize"].as_u64().unwrap() >= bb_layer);
    assert!(big["UniqueSize"].as_u64().unwrap() >= 2 * 1024 * KIB);
    assert_eq!(bb["Containers"], 2);
    assert_eq!(big["Containers"], 0);
    let writer = v["Containers"].as_array().unwrap().iter().find(|c| c["Names"] == "writer").unwrap().clone();
    assert_eq!(writer["LocalVolumes"], 1);
    assert_eq!(writer["Status"], "exited");
    assert!(writer["RWSize"].as_u64().unwrap() >= 512 * KIB);
    assert_eq!(v["Volumes"][0]["Links"], 1);
    assert_eq!(v["Volumes"][0]["Size"], vol_size);
    let table = env.ok(&["system", "df", "-v"]);
    assert!(table.contains("localhost/big") && table.contains("writer") && table.contains("v1"), "{table}");

    // A refusal loses nothing.
    let o = answer(&env, &["system", "prune", "-a", "--volumes"], "n\n");
    assert!(o.status.success());
    assert!(stdout(&o).ends_with("Are you sure you want to continue? [y/N] "), "{}", stdout(&o));
    assert_eq!(df(&env), rows);

    // Everything goes; the filesystem gets back what df said, and prune
    // says so too.
    let said = i_reclaimable + c_reclaimable + vol_reclaimable;
    let before = free_bytes(&env);
    let out = env.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    let after = free_bytes(&env);
    let freed = after.saturating_sub(before);
    let (total, rounding) = reclaimed(&out);
    assert!(close(total, said, rounding), "prune says {total}, df said {said}: {out}");
    assert!(close(freed, said, METADATA_SLACK), "the filesystem got back {freed}, df said {said}");
    for line in ["Deleted Containers\n", "Deleted Volumes\nv1\n", "Deleted Images\n"] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    assert!(env.ok(&["images", "-q"]).is_empty());
    assert!(env.ok(&["ps", "-aq"]).is_empty());
    let rows = df(&env);
    assert!(rows.values().all(|r| *r == (0, 0, 0, 0)), "{rows:?}");
}

/// `berth ARGS` with `input` on stdin.
fn answer(env: &Env, args: &[&str], input: &str) -> std::process::Output {
    let mut c = env.cmd(args);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn plain_prune_takes_stopped_containers_and_dangling_images_only() {
    let env = tmpfs_env();
    env.ok(&["volume", "create", "kept"]);
    env.ok(&["run", "--name", "done", "bb", "sh", "-c", "dd if=/dev/zero of=/f bs=1k count=300 2>/dev/null"]);
    let running = env.ok(&["run", "-d", "--name", "up", "bb", "sleep", "1000"]);
    // big loses its name: dangling.
    env.ok(&["rmi", "localhost/big"]).to_string();
    let big = env.path("big2.tar");
    let file = tar_file("other", &vec![9u8; 512 * 1024]);
    write_oci_archive(&big, None, &[busybox_layer(), &file], json!({}));
    env.ok(&["load", "-q", "-i", big.to_str().unwrap()]);
    let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1);

    // What all of prune -a --volumes would free: not bb (the running
    // container's image) nor the running container.
    let rows = df(&env);
    assert_eq!(rows["Containers"].1, 1, "one runs");
    assert!(rows["Images"].3 < rows["Images"].2, "bb stays: {rows:?}");
    let said: u64 = rows.values().map(|r| r.3).sum();
    let start = free_bytes(&env);
    let before = free_bytes(&env);
    let out = answer(&env, &["system", "prune"], "y\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stdout(&out);
    let freed = free_bytes(&env).saturating_sub(before);
    let (total, rounding) = reclaimed(&out);
    assert!(close(freed, total, METADATA_SLACK + rounding), "the filesystem got back {freed}, prune says {total}");
    assert!(total >= 300 * KIB + 2 * 512 * KIB, "a container's 300 KiB and an image's 512 KiB twice: {total}");
    assert!(out.contains("Deleted Containers\n") && out.contains("Deleted Images\n"), "{out}");
    assert!(!out.contains("Deleted Volumes"), "{out}");
    assert_eq!(env.ok(&["ps", "-aq", "--no-trunc"]).trim(), running.trim(), "the running one stays");
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}"]).trim(), "localhost/bb");
    assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), "kept");
    // The rest of what df called reclaimable: the volume; bb stays.
    let out = env.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(out.starts_with("Deleted Volumes\nkept\n"), "{out}");
    let freed = free_bytes(&env).saturating_sub(start);
    assert!(close(freed, said, 2 * METADATA_SLACK), "both prunes freed {freed}, df said {said}");
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}"]).trim(), "localhost/bb");
    env.ok(&["rm", "-f", "up"]);
}

#[test]
fn prune_filters_pick_by_label_and_age() {
    let env = tmpfs_env();
    env.ok(&["create", "--name", "a", "--label", "team=x", "bb", "true"]);
    env.ok(&["create", "--name", "b", "--label", "team=y", "bb", "true"]);
    env.ok(&["create", "--name", "c", "bb", "true"]);
    let names = |env: &Env| {
        let mut v: Vec<String> = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().map(String::from).collect();
        v.sort();
        v
    };
    // Nothing is an hour old.
    let out = env.ok(&["system", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    assert_eq!(names(&env), ["a", "b", "c"]);
    let out = env.ok(&["system", "prune", "-f", "--filter", "label=team=x"]);
    assert!(out.starts_with("Deleted Containers\n"), "{out}");
    assert_eq!(names(&env), ["b", "c"]);
    env.ok(&["system", "prune", "-f", "--filter", "label!=team"]);
    assert_eq!(names(&env), ["b"]);
    // Images have no such label: -a with it keeps them all.
    env.ok(&["system", "prune", "-a", "-f", "--filter", "label=team"]);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    let e = env.fails(&["system", "prune", "-f", "--filter", "foo=bar"], 125);
    assert_eq!(e, "Error: foo is an invalid filter\n");
    let e = env.fails(&["system", "prune", "-f", "--filter", "until=xx"], 125);
    assert_eq!(e, "Error: failed to parse value as time or duration: \"xx\"\n");
}

#[test]
fn reset_leaves_an_empty_store_that_works() {
    let env = tmpfs_env();
    env.ok(&["volume", "create", "v"]);
    env.ok(&["run", "-d", "--name", "up", "-v", "v:/v", "bb", "sleep", "4321"]);
    env.ok(&["create", "--name", "idle", "bb", "true"]);
    // Refused: nothing goes.
    let o = answer(&env, &["system", "reset"], "n\n");
    let text = stdout(&o);
    assert!(text.starts_with("WARNING! This will remove:\n        - all containers\n"), "{text}");
    assert!(text.contains(&format!("        - the graphRoot directory: {:?}\n", env.root.to_str().unwrap())), "{text}");
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 2);

    env.ok(&["system", "reset", "-f"]);
    // The tmpfs is the root: emptied, left mounted.
    let left: Vec<_> = std::fs::read_dir(&env.root).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!env.runroot.exists());
    assert!(containers::host_pids(&["sleep", "4321"]).is_empty(), "its container was stopped");
    assert!(env.ok(&["images", "-q"]).is_empty());
    assert!(env.ok(&["volume", "ls", "-q"]).is_empty());
    let (bb, _) = busybox_archive(&env, "bb2.tar", "localhost/bb:latest");
    env.ok(&["load", "-q", "-i", bb.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--rm", "bb", "echo", "again"]), "again\n");
}

#[test]
fn migrate_and_renumber_answer_as_podman_does() {
    let env = Env::new();
    let podman = Podman::new();
    for args in [&["system", "migrate"][..], &["system", "renumber"], &["system", "migrate", "--new-runtime", "foo"]] {
        let ours = env.run(args);
        let theirs = podman.run(args, None);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(stdout(&ours), stdout(&theirs), "{args:?}");
        assert_eq!(stderr(&ours), stderr(&theirs), "{args:?}");
    }
    // Unknown flags as podman's.
    env.fails(&["system", "renumber", "--nope"], 125);
}

#[test]
fn df_tables_are_podmans_on_an_empty_store() {
    let env = Env::new();
    let podman = Podman::new();
    for args in [
        &["system", "df"][..],
        &["system", "df", "-v"],
        &["system", "df", "--format", "{{.Type}}:{{.Total}}:{{.Size}}:{{.Reclaimable}}"],
        &["system", "df", "--format", "{{json .}}"],
        &["system", "df", "--format", "table {{.Type}}\t{{.Total}}\t{{.Size}}"],
        &["system", "df", "--format", "table {{.Type}} {{.Active}} {{.Reclaimable}}"],
        &["system", "df", "--format", "{{.Type}}\t{{.RawSize}}\t{{.RawReclaimable}}"],
    ] {
        assert_eq!(env.ok(args), podman.ok(args), "{args:?}");
    }
    let e = env.fails(&["system", "df", "--format", "{{.Nope}}"], 125);
    assert!(e.contains("can't evaluate field Nope"), "{e}");
}

#[test]
fn prune_takes_unused_networks_by_filter_never_the_default() {
    require_root();
    let env = Env::new().in_own_netns();
    env.ok(&["network", "create", "--label", "team=x", "n1"]);
    env.ok(&["network", "create", "n2"]);
    let out = env.ok(&["system", "prune", "-f", "--filter", "label=team=x"]);
    assert_eq!(out, "Deleted Networks\nn1\nTotal reclaimed space: 0B\n");
    let out = env.ok(&["system", "prune", "-f"]);
    assert_eq!(out, "Deleted Networks\nn2\nTotal reclaimed space: 0B\n");
    // The default network stays, as podman's does.
    let left = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left.trim(), "berth");
    // reset takes every network berth made.
    env.ok(&["network", "create", "n3"]);
    env.ok(&["system", "reset", "-f"]);
    let left = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left.trim(), "berth");
}

#[test]
fn prune_takes_a_builds_dangling_step_images_and_their_cache() {
    let env = tmpfs_env();
    let ctx = context(
        &env,
        "FROM localhost/bb\nCOPY f /f\nRUN dd if=/dev/zero of=/x bs=1k count=200 2>/dev/null\nRUN echo b > /y\n",
        &[("f", "data")],
    );
    build(&env, &["-q", "-t", "built"], &ctx);
    let entries = |env: &Env| std::fs::read_dir(env.root.join("build-cache")).unwrap().count();
    assert_eq!(entries(&env), 3, "one per step");
    assert_eq!(env.ok(&["images", "-aq"]).lines().count(), 5, "bb, big, built and two steps");
    let before = free_bytes(&env);
    let out = env.ok(&["system", "prune", "-f"]);
    let freed = free_bytes(&env).saturating_sub(before);
    let (total, rounding) = reclaimed(&out);
    assert!(close(freed, total, METADATA_SLACK + rounding), "the filesystem got back {freed}, prune says {total}");
    assert!(out.starts_with("Deleted Images\n"), "{out}");
    assert_eq!(out.lines().count(), 4, "two step images: {out}");
    // The final image's entry stays.
    assert_eq!(entries(&env), 1);
    assert!(!env.root.join("build-copy-digests").exists());
    assert_eq!(env.ok(&["run", "--rm", "built", "cat", "/f", "/y"]), "datab\n");
}

#[test]
fn migrate_gives_every_container_the_new_runtime() {
    let (env, _) = Env::with_busybox();
    env.ok(&["create", "--name", "idle", "bb", "echo", "from-runc"]);
    let up = env.ok(&["run", "-d", "--name", "up", "bb", "sleep", "5678"]);
    let out = env.ok(&["system", "migrate", "--new-runtime", "runc"]);
    assert_eq!(out, format!("stopped {}", up), "the running one is stopped first, as podman says");
    for name in ["idle", "up"] {
        assert_eq!(env.ok(&["inspect", "--format", "{{.OCIRuntime}}", name]), "runc\n", "{name}");
    }
    // It runs under runc now: runc's own state lists it while it runs.
    assert_eq!(env.ok(&["start", "-a", "idle"]), "from-runc\n");
    env.ok(&["start", "up"]);
    let runc =
        Command::new("runc").arg("--root").arg(env.runroot.join("ext").join("runc")).arg("list").output().unwrap();
    assert!(stdout(&runc).contains(up.trim()), "{}", stdout(&runc));
    env.ok(&["rm", "-f", "-t", "0", "up"]);
    // A runtime berth.conf names, as `--runtime` takes it.
    let runc = String::from_utf8(Command::new("sh").args(["-c", "command -v runc"]).output().unwrap().stdout).unwrap();
    env.set_config("netns = \"none\"", &format!("[engine.runtimes]\nmine = [\"{}\"]", runc.trim()));
    assert_eq!(env.ok(&["system", "migrate", "--new-runtime", "mine"]), "");
    assert_eq!(env.ok(&["inspect", "--format", "{{.OCIRuntime}}", "idle"]), "mine\n");
    assert_eq!(env.ok(&["start", "-a", "idle"]), "from-runc\n");
}

#[test]
fn prune_prompts_as_podman_does() {
    let env = Env::new();
    let podman = Podman::new();
    for args in [&["system", "prune"][..], &["system", "prune", "-a", "--volumes"], &["system", "prune", "--volumes"]] {
        for input in [&b"n\n"[..], b"", b"yes"] {
            let theirs = podman.run(args, Some(input));
            let ours = answer(&env, args, std::str::from_utf8(input).unwrap());
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?} {input:?}");
            assert_eq!(stdout(&ours), stdout(&theirs), "{args:?} {input:?}");
            assert_eq!(stderr(&ours), stderr(&theirs), "{args:?} {input:?}");
        }
    }
}

/// The same content on both sides: the same rows, counts, links and
/// states in df's tables (sizes differ: berth's are bytes on disk).
#[test]
fn df_counts_as_podman_does_for_the_same_content() {
    require_root();
    let env = Env::new();
    let podman = Podman::beside(&env);
    for args in [
        &["volume", "create", "v"][..],
        &["create", "--name", "c1", "-v", "v:/d", "localhost/bb", "true"],
        &["create", "--name", "c2", "localhost/bb", "sh", "-c", "echo hi"],
        &["tag", "localhost/bb", "localhost/other:1"],
    ] {
        env.ok(args);
        podman.ok(args);
    }
    let t = "{{.Type}} {{.Total}} {{.Active}}";
    assert_eq!(env.ok(&["system", "df", "--format", t]), podman.ok(&["system", "df", "--format", t]));
    let ours = env.ok(&["system", "df", "-v"]);
    let theirs = podman.ok(&["system", "df", "-v"]);
    // Each table's header, and its cells but sizes and times.
    for (head, keep) in
        [("REPOSITORY", &[0, 1, 2, 7][..]), ("CONTAINER ID", &[0, 2, 3, 6, 7]), ("VOLUME NAME", &[0, 1])]
    {
        let (ours, theirs) = (table(&ours, head), table(&theirs, head));
        assert_eq!(ours[0], theirs[0], "{head}");
        // IDs differ between the stores: only their shape is compared.
        let pick = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
            let cell = |c: &String| if is_id(c) { "ID".to_string() } else { c.clone() };
            let mut v: Vec<Vec<String>> =
                rows[1..].iter().map(|r| keep.iter().map(|&i| cell(&r[i])).collect()).collect();
            v.sort();
            v
        };
        assert_eq!(pick(&ours), pick(&theirs), "{head}");
    }
}

fn is_id(c: &str) -> bool {
    c.len() == 12 && c.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The rows (header first) of the table whose header starts with `head`,
/// cells split where two spaces or more are.
fn table(text: &str, head: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip_while(|l| !l.starts_with(head))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
        .collect()
}

/// `system prune -a` racing `run -d` from the image it would remove: each
/// run either fails (the image went first) or makes a running container
/// that prune leaves, with its image.
#[test]
fn prune_racing_runs_never_strands_a_container() {
    let env = tmpfs_env();
    let runner = {
        let cmds: Vec<Command> = (0..6)
            .map(|i| env.cmd(&["run", "-d", "--name", &format!("r{i}"), "localhost/big", "sleep", "2468"]))
            .collect();
        std::thread::spawn(move || {
            cmds.into_iter().map(|mut c| c.output().unwrap().status.success()).filter(|&ok| ok).count()
        })
    };
    for _ in 0..5 {
        env.ok(&["system", "prune", "-a", "-f"]);
    }
    let made = runner.join().unwrap();
    eprintln!("{made} of 6 runs won the race");
    env.ok(&["system", "prune", "-a", "-f"]);
    let images = env.ok(&["images", "-q", "--no-trunc"]);
    let used = env.ok(&["ps", "--no-trunc", "--format", "{{.ImageID}}"]);
    assert_eq!(used.lines().count(), made, "every container run is running still");
    for id in used.lines() {
        assert!(images.contains(id), "a container of image {id}, which is gone: {images}");
    }
    env.ok(&["rm", "-af", "-t", "0"]);
}
