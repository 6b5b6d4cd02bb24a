//! `image mount` / `image unmount`: an image's files read-only on the host,
//! counted across processes, listed as podman 4.3 lists them, and never
//! left stale by a crash or a reboot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

/// An env with busybox (`localhost/bb`) and `localhost/two`: busybox with
/// a second layer holding /hello.txt. Returns two's ID.
fn env_with_two_layers() -> (Env, String) {
    let (env, _) = Env::with_busybox();
    let archive = env.path("two.tar");
    let id = write_oci_archive(
        &archive,
        Some("localhost/two:latest"),
        &[busybox_layer(), &tar_file("hello.txt", b"hi\n")],
        json!({}),
    );
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    (env, id)
}

fn mounted(path: &str) -> bool {
    mount_points_starting(path).iter().any(|p| p == path)
}

#[test]
fn mount_reads_refuses_writes_and_counts() {
    let (env, id) = env_with_two_layers();
    let at = env.ok(&["image", "mount", "localhost/two"]).trim().to_string();
    // Both layers' files, through one read-only mount.
    assert_eq!(std::fs::read_to_string(format!("{at}/hello.txt")).unwrap(), "hi\n");
    assert!(std::path::Path::new(&format!("{at}/bin/busybox")).exists());
    let e = std::fs::write(format!("{at}/new"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(rustix::io::Errno::ROFS.raw_os_error()), "{e}");
    assert!(mounted(&at));
    // Twice mounted (another process, the same mount point): two
    // unmounts, each printing the ID, the second one unmounting.
    assert_eq!(env.ok(&["image", "mount", &id[..12]]).trim(), at);
    assert_eq!(env.ok(&["image", "mount"]), format!("localhost/two:latest  {at}\n"));
    assert_eq!(env.ok(&["image", "unmount", "localhost/two"]), format!("{id}\n"));
    assert!(mounted(&at));
    assert_eq!(env.ok(&["image", "mount"]), format!("localhost/two:latest  {at}\n"));
    assert_eq!(env.ok(&["image", "umount", "localhost/two"]), format!("{id}\n"));
    assert!(!mounted(&at));
    assert_eq!(env.ok(&["image", "mount"]), "");
    // Not mounted: nothing to say, and no error (podman's way).
    assert_eq!(env.ok(&["image", "unmount", "localhost/two"]), "");
    // --force drops every mount at once.
    for _ in 0..3 {
        env.ok(&["image", "mount", "localhost/two"]);
    }
    assert_eq!(env.ok(&["image", "unmount", "--force", "localhost/two"]), format!("{id}\n"));
    assert!(!mounted(&at));
}

#[test]
fn rmi_is_refused_while_mounted_unless_forced() {
    let (env, id) = env_with_two_layers();
    let at = env.ok(&["image", "mount", "localhost/two"]).trim().to_string();
    let e = env.fails(&["rmi", "localhost/two"], 2);
    assert!(e.contains(&format!("image {id} is mounted")), "{e}");
    // Nor does prune take it (it takes the unused busybox).
    env.ok(&["image", "prune", "-a", "-f"]);
    assert!(env.ok(&["images", "-q", "--no-trunc"]).contains(&id));
    assert!(env.run(&["image", "exists", "localhost/bb"]).status.code() == Some(1));
    assert_eq!(std::fs::read_to_string(format!("{at}/hello.txt")).unwrap(), "hi\n");
    env.ok(&["rmi", "-f", &id]);
    assert!(!mounted(&at));
    assert!(!env.ok(&["images", "-q", "--no-trunc"]).contains(&id));
}

#[test]
fn listing_formats_and_podmans_errors() {
    let (env, id) = env_with_two_layers();
    let bb_id =
        env.ok(&["images", "-q", "--no-trunc", "localhost/bb"]).trim().trim_start_matches("sha256:").to_string();
    // Several images: podman's listing of those just mounted.
    let listed = env.ok(&["image", "mount", "localhost/bb", "localhost/two"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("localhost/bb:latest   /") && lines[1].starts_with("localhost/two:latest  /"),
        "{listed}"
    );
    let json: Value = serde_json::from_str(&env.ok(&["image", "mount", "--format", "json"])).unwrap();
    let two = json.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(two["Repositories"], json!(["localhost/two:latest"]));
    assert!(two["Names"][0].as_str().unwrap().starts_with("sha256:"));
    assert!(mounted(two["mountpoint"].as_str().unwrap()));
    // podman's refusals, each exit 125, nothing mounted by them.
    let e = env.fails(&["image", "mount", "--format", "{{.ID}}", "localhost/bb"], 125);
    assert_eq!(e, "Error: unknown --format argument: \"{{.ID}}\"\n");
    let e = env.fails(&["image", "mount", "--all", "localhost/bb"], 125);
    assert_eq!(e, "Error: when using the --all switch, you may not pass any image names or IDs\n");
    env.fails(&["image", "unmount", "-a", "localhost/bb"], 125);
    assert_eq!(env.fails(&["image", "unmount"], 125), "Error: image name or ID must be specified\n");
    assert_eq!(env.fails(&["image", "mount", "nosuch"], 125), "Error: nosuch: image not known\n");
    assert_eq!(env.fails(&["image", "unmount", "nosuch"], 125), "Error: nosuch: image not known\n");
    // The top-level mount takes containers only, as podman 4.3's.
    assert!(env.fails(&["mount", "localhost/bb"], 125).contains("no such container"));
    // --all: one unmount each, printing the IDs.
    let all = env.ok(&["image", "unmount", "--all"]);
    let mut ids: Vec<&str> = all.lines().collect();
    ids.sort();
    let mut want = vec![bb_id.as_str(), id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(env.ok(&["image", "mount"]), "");
    assert!(mount_points_starting(&format!("{}/", env.runroot.display())).is_empty());
    // --all mounts every image.
    assert_eq!(env.ok(&["image", "mount", "--all"]).lines().count(), 2);
    env.ok(&["image", "unmount", "--all"]);
}

#[test]
fn crash_and_reboot_leave_nothing_stale() {
    let (env, id) = env_with_two_layers();
    let at = env.ok(&["image", "mount", "localhost/two"]).trim().to_string();
    env.ok(&["image", "mount", "localhost/two"]);
    // A reboot: the mount goes; a runroot on disk keeps its count.
    rustix::mount::unmount(at.as_str(), rustix::mount::UnmountFlags::DETACH).unwrap();
    assert_eq!(env.ok(&["image", "mount"]), "");
    assert_eq!(env.ok(&["image", "mount", "localhost/two"]).trim(), at);
    assert_eq!(env.ok(&["image", "unmount", "localhost/two"]), format!("{id}\n"));
    assert!(!mounted(&at), "the stale count must not keep it mounted");
    // A crash between mounting and counting: mounted, no count. Listed,
    // and one unmount undoes it.
    env.ok(&["image", "mount", "localhost/two"]);
    let count = std::path::Path::new(&at).parent().unwrap().join("mounts");
    std::fs::remove_file(&count).unwrap();
    assert_eq!(env.ok(&["image", "mount"]), format!("localhost/two:latest  {at}\n"));
    env.ok(&["image", "unmount", "localhost/two"]);
    assert!(!mounted(&at));
    // A reboot with the runroot on a tmpfs: all gone, mount works again.
    env.ok(&["image", "mount", "localhost/two"]);
    rustix::mount::unmount(at.as_str(), rustix::mount::UnmountFlags::DETACH).unwrap();
    std::fs::remove_dir_all(&env.runroot).unwrap();
    assert_eq!(env.ok(&["image", "mount", "localhost/two"]).trim(), at);
    env.ok(&["image", "unmount", "localhost/two"]);
    assert!(!mounted(&at));
}

#[test]
fn vfs_mounts_the_top_layers_whole_tree() {
    require_root();
    let env = Env::new();
    let archive = env.path("two.tar");
    let layers: [&[u8]; 2] = [busybox_layer(), &tar_file("hello.txt", b"hi\n")];
    write_oci_archive(&archive, Some("localhost/two:latest"), &layers, json!({}));
    let vfs = |args: &[&str]| env.ok(&[&["--storage-driver", "vfs"], args].concat());
    vfs(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let at = vfs(&["image", "mount", "localhost/two"]).trim().to_string();
    assert!(at.contains("/vfs/"), "{at}");
    assert_eq!(std::fs::read_to_string(format!("{at}/hello.txt")).unwrap(), "hi\n");
    assert!(std::path::Path::new(&format!("{at}/bin/busybox")).exists());
    assert!(std::fs::write(format!("{at}/new"), "x").is_err());
    vfs(&["image", "unmount", "localhost/two"]);
    assert!(!mounted(&at));
}

/// Mounts made at once by several processes are all counted: as many
/// unmounts as mounts, the last one unmounting.
#[test]
fn concurrent_mounts_are_all_counted() {
    let (env, id) = env_with_two_layers();
    let children: Vec<_> = (0..8)
        .map(|_| env.cmd(&["image", "mount", "localhost/two"]).stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let paths: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o).trim().to_string()
        })
        .collect();
    let at = paths[0].clone();
    assert!(paths.iter().all(|p| *p == at), "{paths:?}");
    assert_eq!(mount_points_starting(&at).len(), 1, "one mount, however many users");
    for _ in 0..7 {
        assert_eq!(env.ok(&["image", "unmount", "localhost/two"]), format!("{id}\n"));
        assert!(mounted(&at));
    }
    env.ok(&["image", "unmount", "localhost/two"]);
    assert!(!mounted(&at));
}
