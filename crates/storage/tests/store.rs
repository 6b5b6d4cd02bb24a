//! Real storage tests: overlay mounts and device whiteouts need root; they
//! fail saying so otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use storage::{ChainId, Error, MountPoint, Store, Writes};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Tests that mount run as root (as scripts/test.sh runs them), or fail.
fn require_root() {
    assert!(is_root(), "this test needs root: run it as root, as scripts/test.sh does");
}

/// A store in a temp dir; on drop, anything still mounted under it is
/// detached so a failing test does not leave mounts behind.
struct Env {
    t: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env { t: tempfile::tempdir().unwrap() }
    }
    fn root(&self) -> PathBuf {
        self.t.path().join("root")
    }
    fn run(&self) -> PathBuf {
        self.t.path().join("run")
    }
    fn open(&self, driver: Option<&str>) -> Store {
        Store::open(&self.root(), &self.run(), driver).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for driver in ["overlay", "vfs"] {
            let Ok(rd) = fs::read_dir(self.run().join(driver).join("containers")) else { continue };
            for e in rd.flatten() {
                let _ = rustix::mount::unmount(e.path().join("rootfs"), rustix::mount::UnmountFlags::DETACH);
            }
            let Ok(rd) = fs::read_dir(self.run().join(driver).join("staging")) else { continue };
            for e in rd.flatten() {
                let _ = rustix::mount::unmount(e.path().join("run/rootfs"), rustix::mount::UnmountFlags::DETACH);
            }
        }
    }
}

enum Ent<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
}

fn tar_of(entries: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        match e {
            Ent::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            Ent::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn names_in(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string().trim_end_matches('/').to_string())
        .collect()
}

fn base_layers(store: &Store) -> Vec<ChainId> {
    let l1 = store
        .put_layer(
            None,
            gzip(&tar_of(&[Ent::Dir("a"), Ent::File("a/one", "1"), Ent::File("a/two", "2"), Ent::File("keep", "k")]))
                .as_slice(),
        )
        .unwrap();
    let l2 = store
        .put_layer(
            Some(&l1.chain_id),
            tar_of(&[Ent::Dir("b"), Ent::File("b/three", "3"), Ent::File("a/.wh.two", "")]).as_slice(),
        )
        .unwrap();
    assert_eq!(l2.parent.as_ref(), Some(&l1.chain_id));
    assert_eq!(l2.chain_id, ChainId::of(Some(&l1.chain_id), &l2.diff_id));
    vec![l1.chain_id, l2.chain_id]
}

/// The container view and commit behaviour both drivers must share.
fn container_view(driver: &str) {
    let env = Env::new();
    let store = env.open(Some(driver));
    assert_eq!(store.driver_name(), driver);
    let chain = base_layers(&store);
    let rootfs = store.create_container_fs("c1", &chain, Writes::Synced, &[]).unwrap();
    assert_eq!(rootfs, store.mountpoint("c1"));
    assert_eq!(fs::read_to_string(rootfs.join("a/one")).unwrap(), "1");
    assert_eq!(fs::read_to_string(rootfs.join("b/three")).unwrap(), "3");
    assert!(!rootfs.join("a/two").exists(), "whiteout hides the lower file");

    fs::write(rootfs.join("new"), "fresh").unwrap();
    fs::remove_file(rootfs.join("keep")).unwrap();
    if driver == "overlay" {
        let upper = env.root().join("overlay/containers/c1/upper");
        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "fresh", "writes go to the upper dir");
        let wh = fs::symlink_metadata(upper.join("keep")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "delete makes a whiteout in upper");
        assert!(env.root().join("overlay").join("layers").join(chain[0].hex()).join("diff/keep").exists());
    }
    let mut diff = Vec::new();
    store.container_diff("c1", &mut diff).unwrap();
    let names = names_in(&diff);
    assert!(names.contains(&".wh.keep".to_string()), "{names:?}");
    assert!(names.contains(&"new".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("a/")), "unchanged entries stay out: {names:?}");

    // The diff is a layer: commit it and use it.
    let l3 = store.put_layer(Some(&chain[1]), diff.as_slice()).unwrap();
    let mut chain3 = chain.clone();
    chain3.push(l3.chain_id.clone());
    let root2 = store.create_container_fs("c2", &chain3, Writes::Synced, &[]).unwrap();
    assert_eq!(fs::read_to_string(root2.join("new")).unwrap(), "fresh");
    assert!(!root2.join("keep").exists());
    assert!(root2.join("a/one").exists());

    // Mount counts: a second user keeps it mounted until it too unmounts.
    // Mounting again leaves the mounted root (the container's `/`, the
    // image's mode) alone: it is no longer the store's 0700 mount point.
    let root_mode = || fs::metadata(&root2).unwrap().mode() & 0o7777;
    let image_mode = root_mode();
    assert_ne!(image_mode, 0o700, "the image's root mode, not the mount point's");
    assert_eq!(store.mount("c2").unwrap(), root2);
    assert_eq!(root_mode(), image_mode, "a second mount changed the container's / to {:o}", root_mode());
    assert!(!store.unmount("c2").unwrap());
    assert!(root2.join("a/one").exists(), "still mounted for the first user");
    assert!(store.unmount("c2").unwrap());
    assert!(!root2.join("a/one").exists(), "unmounted after the last user");

    // Layers in use are kept.
    match store.remove_layer(&chain[1]) {
        Err(Error::LayerInUse { .. }) => {}
        other => panic!("expected in-use error, got {other:?}"),
    }
    store.remove_container_fs("c1").unwrap();
    store.remove_container_fs("c2").unwrap();
    assert!(matches!(store.remove_layer(&chain[0]), Err(Error::LayerInUse { .. })), "child layer holds it");
    store.remove_layer(&l3.chain_id).unwrap();
    store.remove_layer(&chain[1]).unwrap();
    store.remove_layer(&chain[0]).unwrap();
    assert!(store.layers().unwrap().is_empty());
    assert_eq!(fs::read_dir(env.root().join(driver).join("staging")).unwrap().count(), 0);
}

#[test]
fn overlay_container_fs() {
    require_root();
    container_view("overlay");
}

#[test]
fn vfs_container_fs() {
    require_root();
    container_view("vfs");
}

#[test]
fn shared_layer_is_stored_once() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let base = tar_of(&[Ent::File("base", "b")]);
    let a = store.put_layer(None, base.as_slice()).unwrap();
    let b = store.put_layer(None, gzip(&base).as_slice()).unwrap();
    assert_eq!(a.chain_id, b.chain_id, "same content, same layer, whatever the compression");
    store.put_layer(Some(&a.chain_id), tar_of(&[Ent::File("top1", "1")]).as_slice()).unwrap();
    store.put_layer(Some(&b.chain_id), tar_of(&[Ent::File("top2", "2")]).as_slice()).unwrap();
    assert_eq!(store.layers().unwrap().len(), 3);
    assert_eq!(fs::read_dir(env.root().join("vfs/layers")).unwrap().count(), 3);
    assert_eq!(fs::read_dir(env.root().join("vfs/staging")).unwrap().count(), 0);
    // Images hold layers too.
    store.retain_layers("image:x", std::slice::from_ref(&a.chain_id)).unwrap();
    let top = store.layers().unwrap().into_iter().filter(|l| l.parent.is_some()).collect::<Vec<_>>();
    for l in top {
        store.remove_layer(&l.chain_id).unwrap();
    }
    assert!(matches!(store.remove_layer(&a.chain_id), Err(Error::LayerInUse { .. })));
    store.release_layers("image:x").unwrap();
    store.remove_layer(&a.chain_id).unwrap();
}

/// A container's own directory is its hold on its layers: refs.json (which
/// a `run --rm` would otherwise rewrite and fsync twice) names images only,
/// and an entry an older berth wrote there for a removed container holds
/// nothing.
#[test]
fn containers_hold_their_layers_through_their_own_directory() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let chain = base_layers(&store);
    store.create_container_fs("c1", &chain, Writes::Synced, &[]).unwrap();
    store.unmount("c1").unwrap();
    let refs = env.root().join("vfs/refs.json");
    assert!(!fs::read_to_string(&refs).unwrap_or_default().contains("container:"));
    match store.remove_layer(&chain[1]) {
        Err(Error::LayerInUse { by, .. }) => assert_eq!(by, "container:c1"),
        other => panic!("expected the container to hold its layer, got {other:?}"),
    }
    store.remove_container_fs("c1").unwrap();
    let old = serde_json::json!({ "container:gone": [chain[0].to_string(), chain[1].to_string()] });
    fs::write(&refs, old.to_string()).unwrap();
    store.remove_layer(&chain[1]).unwrap();
    store.remove_layer(&chain[0]).unwrap();
    // The next update of refs.json drops what older versions left there.
    store.retain_layers("image:x", &[]).unwrap();
    assert!(!fs::read_to_string(&refs).unwrap().contains("container:"));
}

/// A container thrown away after its run (`--rm`) is mounted as podman
/// mounts those: overlay's `volatile`, so its unmount skips syncing the
/// host's filesystem. The marker that mount leaves would make the kernel
/// refuse the next mount: a clean remount works, and keeps what was written.
#[test]
fn volatile_containers_skip_the_sync_and_mount_again() {
    require_root();
    let env = Env::new();
    let store = env.open(Some("overlay"));
    let chain = base_layers(&store);
    let options = |target: &Path| {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let target = target.to_str().unwrap().to_string();
        info.lines().find(|l| l.split(' ').nth(4) == Some(target.as_str())).map(|l| l.to_string())
    };
    let rootfs = store.create_container_fs("v", &chain, Writes::Volatile, &[]).unwrap();
    let line = options(&rootfs).expect("mounted");
    assert!(line.contains("volatile"), "{line}");
    fs::write(rootfs.join("kept"), "yes").unwrap();
    assert!(store.unmount("v").unwrap());
    let marker = env.root().join("overlay/containers/v/work/work/incompat/volatile");
    assert!(marker.exists(), "the kernel leaves its marker after a volatile mount");
    let rootfs = store.mount("v").unwrap();
    assert_eq!(fs::read_to_string(rootfs.join("kept")).unwrap(), "yes");
    store.remove_container_fs("v").unwrap();
    // Any other container syncs.
    let rootfs = store.create_container_fs("s", &chain, Writes::Synced, &[]).unwrap();
    assert!(!options(&rootfs).expect("mounted").contains("volatile"));
    store.remove_container_fs("s").unwrap();
}

/// A create killed after its container directory was renamed into place
/// but before the first mount made the runroot's mount point: removing it
/// still works (`rm -f` of what a killed `run` left).
#[test]
fn a_container_never_mounted_is_removed() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let chain = base_layers(&store);
    store.create_container_fs("k", &chain, Writes::Synced, &[]).unwrap();
    store.unmount("k").unwrap();
    fs::remove_dir_all(env.run().join("vfs/containers/k")).unwrap();
    store.remove_container_fs("k").unwrap();
    assert!(!env.root().join("vfs/containers/k").exists());
}

/// A discarded container is gone at once; its files, and the directories
/// it was given (`take`), are deleted when it is dropped.
#[test]
fn discarded_containers_take_directories_with_them() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let chain = base_layers(&store);
    store.create_container_fs("d", &chain, Writes::Volatile, &[]).unwrap();
    let extra = env.root().join("extra");
    fs::create_dir_all(extra.join("sub")).unwrap();
    fs::write(extra.join("sub/f"), "x").unwrap();
    let mut discarded = store.discard_container_fs("d").unwrap();
    discarded.take(&extra).unwrap();
    discarded.take(&env.root().join("never-made")).unwrap();
    assert!(!extra.exists() && !env.root().join("vfs/containers/d").exists());
    let staging = env.root().join("vfs/staging");
    assert_eq!(fs::read_dir(&staging).unwrap().count(), 1);
    drop(discarded);
    assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
}

/// The mount points below `dir`, from this process's mountinfo.
fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(dir))
        .map(String::from)
        .collect()
}

/// A discarded container is unknown at once, but unmounted only when it is
/// dropped (an exit is told first); a crash in between leaves its mount in
/// the runroot's staging, which the next open unmounts before it deletes
/// anything (never deleting files through the mount).
#[test]
fn discarded_containers_are_unmounted_on_drop_or_on_the_next_open() {
    require_root();
    let env = Env::new();
    let store = env.open(Some("overlay"));
    let chain = base_layers(&store);
    let rootfs = store.create_container_fs("d", &chain, Writes::Volatile, &[]).unwrap();
    fs::write(rootfs.join("written"), "w").unwrap();
    let discarded = store.discard_container_fs("d").unwrap();
    assert!(!rootfs.exists(), "the mount point moved out of containers/");
    let staged = mounts_below(&env.run().join("overlay/staging"));
    assert_eq!(staged.len(), 1, "still mounted, in staging: {staged:?}");
    assert!(Path::new(&staged[0]).join("written").exists());
    assert!(store.mount_count("d").is_err(), "unknown at once");
    drop(discarded);
    assert_eq!(mounts_below(env.t.path()), Vec::<String>::new());
    for d in ["root/overlay/staging", "run/overlay/staging"] {
        assert_eq!(fs::read_dir(env.t.path().join(d)).unwrap().count(), 0, "{d} emptied");
    }

    // What a monitor killed between the two left: a staged mount nobody
    // holds. Here a bind mount of files that must survive its cleanup.
    drop(store);
    let kept = env.t.path().join("kept");
    fs::create_dir(&kept).unwrap();
    fs::write(kept.join("file"), "x").unwrap();
    // The container's runroot dir staged itself, and (the layout before)
    // in a staging dir of its own.
    for leftover in ["remove-crashed/rootfs", "remove-crashed-before/run/rootfs"] {
        let target = env.run().join("overlay/staging").join(leftover);
        fs::create_dir_all(&target).unwrap();
        let tree =
            rustix::mount::open_tree(rustix::fs::CWD, &kept, rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE).unwrap();
        rustix::mount::move_mount(
            &tree,
            "",
            rustix::fs::CWD,
            &target,
            rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .unwrap();
    }
    assert_eq!(mounts_below(&env.run()).len(), 2);
    let _store = env.open(None);
    assert_eq!(mounts_below(env.t.path()), Vec::<String>::new(), "unmounted on open");
    for leftover in ["remove-crashed", "remove-crashed-before"] {
        assert!(!env.run().join("overlay/staging").join(leftover).exists(), "and removed");
    }
    assert_eq!(fs::read_to_string(kept.join("file")).unwrap(), "x", "nothing deleted through the mount");
}

/// The mount points a container needs are made in its own layer where the
/// image lacks them, read from the layers as overlayfs merges them (a
/// whiteout hides a lower file, an opaque directory the lower ones): the
/// image's own entries are left as they are, and the directories above
/// new ones are copies of the image's.
#[test]
fn mount_points_the_image_lacks_are_shared_by_its_containers() {
    require_root();
    let env = Env::new();
    let store = env.open(Some("overlay"));
    let l1 = store
        .put_layer(
            None,
            tar_of(&[
                Ent::Dir("etc"),
                Ent::File("etc/hosts", "image's"),
                Ent::File("etc/hostname", "image's"),
                Ent::File("etc/passwd", "root"),
                Ent::Dir("run"),
                Ent::File("run/.containerenv", "image's"),
                Ent::Dir("sys"),
            ])
            .as_slice(),
        )
        .unwrap();
    // The top layer hides /etc/hosts and every lower /run.
    let mut top = tar::Builder::new(Vec::new());
    for (path, mode) in [("etc", 0o750), ("run", 0o700)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(7);
        h.set_mtime(1_500_000_000);
        h.set_size(0);
        top.append_data(&mut h, path, std::io::empty()).unwrap();
    }
    for path in ["etc/.wh.hosts", "run/.wh..wh..opq"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        top.append_data(&mut h, path, std::io::empty()).unwrap();
    }
    let l2 = store.put_layer(Some(&l1.chain_id), top.into_inner().unwrap().as_slice()).unwrap();
    let points = [
        MountPoint { path: "proc", dir: true },
        MountPoint { path: "sys", dir: true },
        MountPoint { path: "etc/hostname", dir: false },
        MountPoint { path: "etc/hosts", dir: false },
        MountPoint { path: "run/.containerenv", dir: false },
    ];
    let chain = [l1.chain_id.clone(), l2.chain_id.clone()];
    let rootfs = store.create_container_fs("m", &chain, Writes::Volatile, &points).unwrap();
    let entries = |dir: &Path| {
        let mut made: Vec<String> =
            walkdir(dir).iter().map(|e| e.strip_prefix(dir).unwrap().display().to_string()).collect();
        made.sort();
        made
    };
    // Not in the container's own layer, but in a directory beside the top
    // layer's, which its record names (no link in its directory: an inode
    // less to make and delete per run).
    let upper = env.root().join("overlay/containers/m/upper");
    assert!(entries(&upper).is_empty(), "{:?}", entries(&upper));
    let recorded = |id: &str| -> String {
        let meta = fs::read(env.root().join(format!("overlay/containers/{id}/container.json"))).unwrap();
        serde_json::from_slice::<serde_json::Value>(&meta).unwrap()["shared"].as_str().unwrap().to_string()
    };
    let top_layer = fs::canonicalize(store.layer_path(&l2.chain_id).parent().unwrap()).unwrap();
    let shared = top_layer.join(recorded("m"));
    assert!(shared.is_dir());
    assert!(fs::symlink_metadata(env.root().join("overlay/containers/m/mount-points")).is_err());
    // Its root is never seen, and closed like the store's own directories.
    assert_eq!(fs::metadata(&shared).unwrap().mode() & 0o7777, 0o700);
    assert_eq!(entries(&shared), ["etc", "etc/hosts", "proc", "run", "run/.containerenv"], "only what the image lacks");
    let md = |p: &str| fs::symlink_metadata(shared.join(p)).unwrap();
    assert_eq!((md("etc").mode() & 0o7777, md("etc").uid()), (0o750, 7));
    assert_eq!((md("run").mode() & 0o7777, md("run").uid()), (0o700, 7));
    assert_eq!((md("proc").mode() & 0o7777, md("proc").uid()), (0o755, 0));
    assert_eq!((md("etc/hosts").mode() & 0o7777, md("etc/hosts").len()), (0o644, 0));
    // Through the mount: the image's entries and the new ones, merged.
    assert_eq!(fs::read_to_string(rootfs.join("etc/hostname")).unwrap(), "image's");
    assert_eq!(fs::read_to_string(rootfs.join("etc/passwd")).unwrap(), "root");
    assert_eq!(fs::read_to_string(rootfs.join("etc/hosts")).unwrap(), "");
    assert_eq!(fs::read_to_string(rootfs.join("run/.containerenv")).unwrap(), "");
    // A container's writes go to its own layer, never to the shared one.
    fs::write(rootfs.join("etc/hosts"), "mine").unwrap();
    assert_eq!(fs::read_to_string(shared.join("etc/hosts")).unwrap(), "");
    assert_eq!(entries(&upper), ["etc", "etc/hosts"]);
    // The next container of the image takes the same directory, as it is.
    let made_at = md("proc").ino();
    let rootfs2 = store.create_container_fs("n", &chain, Writes::Volatile, &points).unwrap();
    assert_eq!(top_layer.join(recorded("n")), shared);
    assert_eq!(md("proc").ino(), made_at);
    assert_eq!(fs::read_to_string(rootfs2.join("etc/hosts")).unwrap(), "");
    assert!(rootfs2.join("proc").is_dir());
    // The containers' layers (diff, commit) hold them as podman's do, where
    // the container's own layer neither has nor hides them.
    let layer_entries = |id: &str| {
        let mut tar = Vec::new();
        store.container_diff(id, &mut tar).unwrap();
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string().trim_end_matches('/').to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(layer_entries("m"), ["etc", "etc/hosts", "proc", "run", "run/.containerenv"]);
    fs::remove_dir_all(rootfs2.join("run")).unwrap();
    assert_eq!(layer_entries("n"), [".wh.run", "etc", "etc/hosts", "proc"]);
    // A mount again (a restart) has them too.
    store.unmount("n").unwrap();
    let rootfs2 = store.mount("n").unwrap();
    assert!(rootfs2.join("proc").is_dir());
    store.unmount("n").unwrap();
    // So does a container made before they were recorded, which links them
    // from its directory.
    let dir = env.root().join("overlay/containers/n");
    let mut meta: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("container.json")).unwrap()).unwrap();
    let name = meta.as_object_mut().unwrap().remove("shared").unwrap();
    fs::write(dir.join("container.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let layer_dir = top_layer.strip_prefix(fs::canonicalize(env.root().join("overlay")).unwrap()).unwrap();
    std::os::unix::fs::symlink(
        Path::new("../..").join(layer_dir).join(name.as_str().unwrap()),
        dir.join("mount-points"),
    )
    .unwrap();
    let rootfs2 = store.mount("n").unwrap();
    assert!(rootfs2.join("proc").is_dir());
    assert_eq!(layer_entries("n"), [".wh.run", "etc", "etc/hosts", "proc"]);
    store.unmount("n").unwrap();
    store.remove_container_fs("m").unwrap();
    store.remove_container_fs("n").unwrap();
    // They go with the layer.
    store.remove_layer(&l2.chain_id).unwrap();
    assert!(!shared.exists());
}

/// Every path below `dir`.
fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}

/// A run takes over its create's mount reference: no second reference,
/// and a mount again only when a forced unmount took the last one.
#[test]
fn a_run_takes_over_its_creates_mount() {
    require_root();
    let env = Env::new();
    let store = env.open(Some("overlay"));
    let chain = base_layers(&store);
    let rootfs = store.create_container_fs("t", &chain, Writes::Volatile, &[]).unwrap();
    assert_eq!(store.mount_count("t").unwrap(), 1);
    assert_eq!(store.mount_taking_over("t").unwrap(), rootfs);
    assert_eq!(store.mount_count("t").unwrap(), 1);
    // `unmount -f` took every reference: the run mounts it again.
    assert!(store.unmount("t").unwrap());
    assert_eq!(store.mount_count("t").unwrap(), 0);
    assert_eq!(store.mount_taking_over("t").unwrap(), rootfs);
    assert_eq!(store.mount_count("t").unwrap(), 1);
    assert_eq!(fs::read_to_string(rootfs.join("a/one")).unwrap(), "1", "not mounted");
    store.remove_container_fs("t").unwrap();
}

#[test]
fn deep_image_mounts_with_overlay() {
    require_root();
    let env = Env::new();
    let store = env.open(Some("overlay"));
    let mut chain: Vec<ChainId> = Vec::new();
    for i in 0..120 {
        let name = format!("f{i}");
        let l = store.put_layer(chain.last(), tar_of(&[Ent::File(&name, &name)]).as_slice()).unwrap();
        chain.push(l.chain_id);
    }
    let rootfs = store.create_container_fs("deep", &chain, Writes::Synced, &[]).unwrap();
    for i in [0, 59, 119] {
        assert_eq!(fs::read_to_string(rootfs.join(format!("f{i}"))).unwrap(), format!("f{i}"));
    }
    assert_eq!(fs::read_dir(&rootfs).unwrap().count(), 120);
    store.remove_container_fs("deep").unwrap();
}

#[test]
fn crash_leftovers_are_cleaned_on_open() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let l = store.put_layer(None, tar_of(&[Ent::File("x", "x")]).as_slice()).unwrap();
    drop(store);
    // A put that died mid-unpack: a staging dir nobody holds.
    let staging = env.root().join("vfs/staging");
    let crashed = staging.join("layer-crashed");
    fs::create_dir_all(crashed.join("diff/usr")).unwrap();
    fs::write(crashed.join("diff/usr/half"), "half").unwrap();
    // A put in progress elsewhere: held by its flock, must survive.
    let live = staging.join("layer-live");
    fs::create_dir(&live).unwrap();
    let held = fs::File::open(&live).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    // Metadata writes that died before their rename (under the store lock,
    // so none is live when the store is opened).
    let temps = [env.root().join("vfs/.refs.json.tmp-AbC123"), env.run().join("vfs/.mounts.json.tmp-XyZ789")];
    for t in &temps {
        fs::write(t, "{").unwrap();
    }

    let store = env.open(None);
    assert_eq!(store.driver_name(), "vfs", "an existing store keeps its driver");
    assert!(!crashed.exists(), "stale staging dir removed");
    for t in &temps {
        assert!(!t.exists(), "{} removed", t.display());
    }
    assert!(live.exists(), "a live unpack is left alone");
    let layers = store.layers().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].chain_id, l.chain_id);
}

#[test]
fn bad_layer_leaves_nothing() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let good = tar_of(&[Ent::File("x", "x")]);
    let e = store.put_layer(None, &good[..good.len() - 1024]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(store.layers().unwrap().is_empty());
    assert_eq!(fs::read_dir(env.root().join("vfs/staging")).unwrap().count(), 0);
}

#[test]
fn concurrent_puts_store_one_copy() {
    let env = Env::new();
    let driver = if is_root() { "overlay" } else { "vfs" };
    env.open(Some(driver));
    let data: String = "z".repeat(1 << 20);
    let tar = tar_of(&[Ent::Dir("d"), Ent::File("d/big", &data)]);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    // Each thread opens its own store, as separate processes would.
                    let store = Store::open(&env.root(), &env.run(), Some(driver)).unwrap();
                    store.put_layer(None, tar.as_slice())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = results[0].as_ref().unwrap().clone();
    for r in &results {
        assert_eq!(r.as_ref().unwrap(), &first);
    }
    let store = env.open(Some(driver));
    assert_eq!(store.layers().unwrap().len(), 1);
    assert_eq!(fs::read_dir(env.root().join(driver).join("layers")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(env.root().join(driver).join("staging")).unwrap().count(), 0);
    assert_eq!(fs::read_to_string(store.layer_path(&first.chain_id).join("d/big")).unwrap().len(), 1 << 20);
}

#[test]
fn auto_driver_prefers_overlay_when_it_works() {
    let env = Env::new();
    let store = env.open(None);
    let want = if is_root() && !on_overlay(env.t.path()) { "overlay" } else { "vfs" };
    assert_eq!(store.driver_name(), want);
    assert!(!fs::read_dir(env.root()).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains("probe")));
}

/// A new store where overlay cannot work gets vfs, and says why: in a
/// warning (once) and in `graph_status`, on every later open too. Overlay is
/// made unusable for real: the store's root is on overlayfs, which refuses
/// the trusted.overlay xattrs an upper dir needs.
#[test]
fn a_store_where_overlay_fails_gets_vfs_and_says_why() {
    require_root();
    let env = Env::new();
    let t = env.t.path();
    for d in ["lower", "upper", "work", "merged"] {
        fs::create_dir(t.join(d)).unwrap();
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        t.join("lower").display(),
        t.join("upper").display(),
        t.join("work").display()
    );
    let merged = t.join("merged");
    let data = std::ffi::CString::new(data).unwrap();
    rustix::mount::mount("overlay", &merged, "overlay", rustix::mount::MountFlags::empty(), data.as_c_str()).unwrap();
    let _unmount = Unmount(merged.clone());
    let (root, run) = (merged.join("root"), t.join("run"));
    let store = Store::open(&root, &run, None).unwrap();
    assert_eq!(store.driver_name(), "vfs");
    let why = |s: &Store| s.graph_status().into_iter().find(|(k, _)| *k == "Overlay Unusable").map(|(_, v)| v);
    let first = why(&store).expect("graph_status says why overlay was not used");
    assert!(first.contains("upper"), "the kernel's reason: {first}");
    drop(store);
    let again = Store::open(&root, &run, None).unwrap();
    assert_eq!(again.driver_name(), "vfs");
    assert_eq!(why(&again).as_deref(), Some(first.as_str()), "the reason is kept with the store");
    // An overlay store reports the form of mount this kernel takes instead.
    let env2 = Env::new();
    let status = env2.open(Some("overlay")).graph_status();
    assert!(status.iter().any(|(k, v)| *k == "Lower Layers" && v.starts_with("lowerdir")), "{status:?}");
    assert!(!status.iter().any(|(k, _)| *k == "Overlay Unusable"), "{status:?}");
}

/// Every directory the store makes is closed to other host users (layers
/// carry setuid binaries and device nodes), with both drivers; content dirs
/// (a layer's `diff/`, a container's upper or rootfs) keep the image's modes
/// (the root 0555, as podman has it) behind a closed parent. A store made by an older version (everything
/// 0755) is closed when opened.
#[test]
fn store_dirs_are_private_and_old_stores_get_fixed() {
    require_root();
    for driver in ["overlay", "vfs"] {
        let env = Env::new();
        let store = env.open(Some(driver));
        let chain = base_layers(&store);
        let rootfs = store.create_container_fs("c1", &chain, Writes::Synced, &[]).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&rootfs), 0o555, "{driver}: the container's / is podman's, whatever the layer's ./ says");
        assert_eq!(open_dirs(&[env.root(), env.run()]), Vec::<String>::new(), "{driver}: open dirs");

        // What an older berth left: every dir it made 0755.
        store.unmount("c1").unwrap();
        drop(store);
        let mut all = Vec::new();
        store_dirs(&env.root(), &mut all);
        store_dirs(&env.run(), &mut all);
        for d in &all {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(!open_dirs(&[env.root(), env.run()]).is_empty());
        let store = env.open(Some(driver));
        let rootfs = store.mount("c1").unwrap();
        assert_eq!(open_dirs(&[env.root(), env.run()]), Vec::<String>::new(), "{driver}: an old store is fixed");
        assert_eq!(mode(&rootfs), 0o555, "{driver}: and the container's / is left alone");
        store.unmount("c1").unwrap();
    }
}

/// Whether `p` holds image content (modes are the image's): a layer's
/// `diff/`, an overlay container's `upper/`, a container's `rootfs/`.
fn is_content(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent_of_parent = p.parent().and_then(|q| q.parent()).and_then(|q| q.file_name()).and_then(|n| n.to_str());
    matches!((name, parent_of_parent), ("diff", Some("layers")) | ("upper" | "rootfs", Some("containers")))
}

/// The directories the store made under `dir` (content dirs' own entries excluded).
fn store_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() && !is_content(&p) {
            out.push(p.clone());
            store_dirs(&p, out);
        }
    }
}

/// Store dirs granting group or other more than search (x) permission.
fn open_dirs(tops: &[PathBuf]) -> Vec<String> {
    let mut all = Vec::new();
    for t in tops {
        all.push(t.clone());
        store_dirs(t, &mut all);
    }
    all.iter()
        .filter_map(|d| {
            let m = fs::metadata(d).unwrap().mode() & 0o7777;
            (m & 0o066 != 0).then(|| format!("{:o} {}", m, d.display()))
        })
        .collect()
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

fn on_overlay(p: &Path) -> bool {
    rustix::fs::statfs(p).map(|s| s.f_type == 0x794c7630).unwrap_or(false)
}

#[test]
fn bad_container_ids_and_chains_are_refused() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let a = store.put_layer(None, tar_of(&[Ent::File("a", "a")]).as_slice()).unwrap();
    let b = store.put_layer(None, tar_of(&[Ent::File("b", "b")]).as_slice()).unwrap();
    for id in ["", "../x", ".hidden", "a/b"] {
        assert!(
            matches!(store.create_container_fs(id, &[], Writes::Synced, &[]), Err(Error::Invalid { .. })),
            "{id:?}"
        );
    }
    let e = store.create_container_fs("c", &[a.chain_id, b.chain_id], Writes::Synced, &[]).unwrap_err();
    assert!(e.to_string().contains("parent"), "{e}");
}

#[test]
fn known_diff_id_skips_or_verifies() {
    let env = Env::new();
    let store = env.open(Some("vfs"));
    let tar = tar_of(&[Ent::File("x", "x")]);
    let diff_id = image::digest::Digest::of_bytes(&tar);
    let l = store.put_layer_with_diff_id(None, &diff_id, tar.as_slice()).unwrap();
    assert_eq!(l.diff_id, diff_id);
    // Already there: the reader is not touched (an empty one would be a truncated tar).
    assert_eq!(store.put_layer_with_diff_id(None, &diff_id, std::io::empty()).unwrap(), l);
    let other = image::digest::Digest::of_bytes(b"something else");
    let e = store.put_layer_with_diff_id(None, &other, tar.as_slice()).unwrap_err();
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert_eq!(store.layers().unwrap().len(), 1);
}

#[test]
fn staged_layers_stay_invisible_until_committed_bottom_up() {
    if !is_root() {
        panic!("this test needs root (overlay): run it as root, as scripts/test.sh does");
    }
    let env = Env::new();
    let store = env.open(Some("overlay"));
    assert!(store.stages_independently());
    let (t0, t1) = (tar_of(&[Ent::File("a", "a")]), tar_of(&[Ent::File("b", "b")]));
    let diffs = [image::digest::Digest::of_bytes(&t0), image::digest::Digest::of_bytes(&t1)];
    let chains = ChainId::chain(&diffs);
    // The top layer first, as a pull does when its blob arrives first.
    let top = store.stage_layer(Some(&chains[0]), &diffs[1], gzip(&t1).as_slice()).unwrap();
    assert_eq!(top.info().chain_id, chains[1]);
    let bottom = store.stage_layer(None, &diffs[0], t0.as_slice()).unwrap();
    assert!(store.layers().unwrap().is_empty(), "nothing visible before commit");
    let wrong = image::digest::Digest::of_bytes(b"other");
    assert!(store.stage_layer(None, &wrong, t0.as_slice()).unwrap_err().to_string().contains("digest mismatch"));
    // Committing a child before its parent is refused and removes its staging dir.
    let early = store.stage_layer(Some(&chains[0]), &diffs[1], t1.as_slice()).unwrap();
    assert!(store.commit_layer(early).is_err());
    assert_eq!(store.commit_layer(bottom).unwrap().chain_id, chains[0]);
    assert_eq!(store.commit_layer(top).unwrap().chain_id, chains[1]);
    assert_eq!(store.layers().unwrap().len(), 2);
    assert_eq!(fs::read_dir(env.root().join("overlay/staging")).unwrap().count(), 0);
    // A dropped staged layer leaves nothing either.
    drop(store.stage_layer(None, &diffs[1], t1.as_slice()).unwrap());
    assert_eq!(fs::read_dir(env.root().join("overlay/staging")).unwrap().count(), 0);
    // vfs needs the parent's content to unpack a layer.
    let vfs = Env::new();
    assert!(!vfs.open(Some("vfs")).stages_independently());
}
