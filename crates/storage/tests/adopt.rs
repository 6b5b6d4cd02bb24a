//! A container's changes adopted as a layer (`Store::adopt_container_layer`)
//! are the layer their tar unpacks to. Overlay mounts need root: these fail
//! saying so otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use storage::{ChainId, Store, Writes};

fn require_root() {
    assert!(rustix::process::geteuid().is_root(), "this test needs root: run it as root, as scripts/test.sh does");
}

struct Env {
    t: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env { t: tempfile::tempdir().unwrap() }
    }
    fn open(&self, name: &str, driver: &str) -> Store {
        let dir = self.t.path().join(name);
        Store::open(&dir.join("root"), &dir.join("run"), Some(driver)).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Whatever a failing test left mounted.
        let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") else { return };
        let base = self.t.path().display().to_string();
        let mut targets: Vec<&str> =
            mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|t| t.starts_with(&base)).collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let _ = rustix::mount::unmount(t, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// The base image: a few directories and files, and a hardlink.
fn base_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    for d in ["etc", "olddir", "olddir/sub", "data", "bin"] {
        add(d, tar::EntryType::Directory, b"");
    }
    add("etc/keep", tar::EntryType::Regular, b"keep");
    add("etc/gone", tar::EntryType::Regular, b"gone");
    add("olddir/a", tar::EntryType::Regular, b"a");
    add("olddir/sub/b", tar::EntryType::Regular, b"b");
    add("data/file", tar::EntryType::Regular, b"old");
    add("data/other", tar::EntryType::Regular, b"other");
    b.into_inner().unwrap()
}

fn base(store: &Store) -> Vec<ChainId> {
    vec![store.put_layer(None, base_tar().as_slice()).unwrap().chain_id]
}

/// A RUN's kind of changes, made through the container's mount: a base
/// file removed, a base directory replaced, a base file changed (copied
/// up), new files, a symlink, hardlinks, an xattr, a socket, `/`'s mode.
fn change(root: &Path) {
    fs::remove_file(root.join("etc/gone")).unwrap();
    fs::remove_dir_all(root.join("olddir")).unwrap();
    fs::create_dir(root.join("olddir")).unwrap();
    fs::write(root.join("olddir/new"), "new").unwrap();
    fs::write(root.join("data/file"), "changed").unwrap();
    fs::set_permissions(root.join("data/other"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    fs::write(root.join("usr/local/bin/tool"), vec![7u8; 300_000]).unwrap();
    fs::hard_link(root.join("usr/local/bin/tool"), root.join("bin/tool")).unwrap();
    std::os::unix::fs::symlink("/usr/local/bin/tool", root.join("bin/link")).unwrap();
    xattr::set(root.join("usr/local/bin/tool"), "user.origin", b"test").unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("data/sock")).unwrap();
    fs::set_permissions(root, fs::Permissions::from_mode(0o700)).unwrap();
}

/// Everything a layer holds below `dir`, by path: type, owner, mode, size,
/// content or link target, device, link count, every xattr, mtime (in
/// seconds: a tar keeps no more).
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in fs::read_dir(dir.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        let p = dir.join(&r);
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let what = if ft.is_symlink() {
            format!("link -> {}", fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            format!("file {:x}", md5ish(&fs::read(&p).unwrap()))
        } else if ft.is_dir() {
            "dir".into()
        } else if ft.is_char_device() {
            format!("char {}", md.rdev())
        } else {
            format!("other {:o}", md.mode())
        };
        let mut xattrs: Vec<String> = xattr::list(&p)
            .unwrap()
            .map(|k| format!("{}={:?}", k.to_string_lossy(), xattr::get(&p, &k).unwrap().unwrap_or_default()))
            .collect();
        xattrs.sort();
        let times = if ft.is_dir() || ft.is_char_device() { 0 } else { md.mtime() };
        out.insert(
            r.clone(),
            format!(
                "{what} {}:{} {:o} size {} nlink {} mtime {times} {xattrs:?}",
                md.uid(),
                md.gid(),
                md.mode() & 0o7777,
                if ft.is_dir() { 0 } else { md.size() },
                // A whiteout may share its inode with others (overlayfs
                // links one whiteout where it can): a whiteout is its type.
                if ft.is_dir() || ft.is_char_device() { 0 } else { md.nlink() },
            ),
        );
        if ft.is_dir() {
            walk(dir, &r, out);
        }
    }
}

/// Content fingerprint (FNV-1a): equal content, equal value.
fn md5ish(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

fn layer_dir(env: &Env, name: &str, chain: &ChainId) -> PathBuf {
    env.t.path().join(name).join("root/overlay/layers").join(chain.hex()).join("diff")
}

#[test]
fn an_adopted_layer_is_what_its_tar_unpacks_to() {
    require_root();
    let env = Env::new();
    let store = env.open("a", "overlay");
    let layers = base(&store);
    let root = store.create_container_fs("c1", &layers, Writes::Synced, &[]).unwrap();
    change(&root);
    assert!(store.unmount("c1").unwrap());
    let upper = env.t.path().join("a/root/overlay/containers/c1/upper");
    assert!(upper.join("etc/gone").metadata().unwrap().file_type().is_char_device(), "a whiteout");
    assert_eq!(xattr::get(upper.join("olddir"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
    // overlayfs's bookkeeping, as kernels that record copy-up origins
    // leave it (set on the disk: overlayfs refuses it through the mount).
    xattr::set(upper.join("data/file"), "trusted.overlay.origin", b"\0\xfb\x21").unwrap();
    xattr::set(upper.join("data"), "trusted.overlay.impure", b"y").unwrap();
    xattr::set(&upper, "trusted.overlay.impure", b"y").unwrap();
    // What commit stored until now: the container's diff as a tar.
    let mut want_tar = Vec::new();
    store.container_diff("c1", &mut want_tar).unwrap();

    let mut adopted =
        store.adopt_container_layer("c1").unwrap().expect("overlay adopts an unmounted container's layer");
    assert_eq!(adopted.parent(), layers.last());
    let mut tar = Vec::new();
    let (diff_id, size) = adopted.write_tar(&mut tar).unwrap();
    assert!(tar == want_tar, "the adopted layer's tar is the container's diff, byte for byte");
    assert_eq!(size, tar.len() as u64);
    let info = store.commit_adopted(adopted).unwrap();
    assert_eq!((info.diff_id.clone(), info.parent.as_ref(), info.size), (diff_id.clone(), layers.last(), size));
    assert_eq!(store.layer(&info.chain_id).unwrap().as_ref(), Some(&info));

    // The same tar unpacked, as before, in another store.
    let other = env.open("b", "overlay");
    let other_layers = base(&other);
    assert_eq!(other_layers, layers);
    let unpacked = other.put_layer_with_diff_id(layers.last(), &diff_id, tar.as_slice()).unwrap();
    assert_eq!(unpacked.chain_id, info.chain_id);
    let (adopted_dir, unpacked_dir) = (layer_dir(&env, "a", &info.chain_id), layer_dir(&env, "b", &info.chain_id));
    let (got, want) = (tree(&adopted_dir), tree(&unpacked_dir));
    assert_eq!(got, want, "the adopted layer holds what its tar unpacks to");
    assert!(got.contains_key(Path::new("olddir/new")) && got.contains_key(Path::new("etc/gone")));
    assert!(!got.contains_key(Path::new("data/sock")), "sockets are not layer content");
    let root_md = fs::metadata(&adopted_dir).unwrap();
    assert_eq!((root_md.mode() & 0o7777, root_md.uid(), root_md.gid()), (0o555, 0, 0));
    assert_eq!(xattr::list(&adopted_dir).unwrap().count(), 0);

    // The container goes as any other; the layer stays.
    store.remove_container_fs("c1").unwrap();
    assert!(store.layer(&info.chain_id).unwrap().is_some());
    assert!(adopted_dir.is_dir());

    // A container of the new image sees the changes.
    let mut image = layers.clone();
    image.push(info.chain_id.clone());
    let root = store.create_container_fs("c2", &image, Writes::Synced, &[]).unwrap();
    assert!(!root.join("etc/gone").exists());
    assert_eq!(fs::read_to_string(root.join("etc/keep")).unwrap(), "keep");
    let olddir: Vec<_> = fs::read_dir(root.join("olddir")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(olddir, ["new"], "the replaced directory is opaque");
    assert_eq!(fs::read_to_string(root.join("data/file")).unwrap(), "changed");
    assert_eq!(fs::metadata(root.join("data/other")).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(root.join("bin/tool")).unwrap().ino(),
        fs::metadata(root.join("usr/local/bin/tool")).unwrap().ino()
    );
    store.remove_container_fs("c2").unwrap();

    // Nothing left behind in staging.
    assert_eq!(fs::read_dir(env.t.path().join("a/root/overlay/staging")).unwrap().count(), 0);
}

#[test]
fn changes_adoption_cannot_express_stay_with_the_container() {
    require_root();
    let env = Env::new();
    let store = env.open("a", "overlay");
    let layers = base(&store);

    // Mounted: refused, nothing moved.
    let root = store.create_container_fs("mounted", &layers, Writes::Synced, &[]).unwrap();
    fs::write(root.join("x"), "x").unwrap();
    assert!(store.adopt_container_layer("mounted").unwrap().is_none());
    assert_eq!(fs::read_to_string(root.join("x")).unwrap(), "x");
    store.remove_container_fs("mounted").unwrap();

    // A file named like a whiteout: its tar says "whiteout", the upper dir
    // does not; the container keeps its changes and its diff is as before.
    let root = store.create_container_fs("wh", &layers, Writes::Synced, &[]).unwrap();
    fs::write(root.join("etc/.wh.keep"), "").unwrap();
    fs::write(root.join("data/file"), "changed").unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    store.unmount("wh").unwrap();
    let mut before = Vec::new();
    store.container_diff("wh", &mut before).unwrap();
    assert!(store.adopt_container_layer("wh").unwrap().is_none());
    let mut after = Vec::new();
    store.container_diff("wh", &mut after).unwrap();
    assert!(before == after, "the container's changes are back, untouched");
    let root = store.mount("wh").unwrap();
    assert_eq!(fs::metadata(&root).unwrap().mode() & 0o7777, 0o700, "its root too");
    assert_eq!(fs::read_to_string(root.join("data/file")).unwrap(), "changed");
    store.unmount("wh").unwrap();
    store.remove_container_fs("wh").unwrap();

    // An adoption dropped before its commit (a failed blob write) takes
    // the changes with it; the container can still be removed.
    store.create_container_fs("dropped", &layers, Writes::Synced, &[]).unwrap();
    store.unmount("dropped").unwrap();
    drop(store.adopt_container_layer("dropped").unwrap().unwrap());
    store.remove_container_fs("dropped").unwrap();
    assert_eq!(store.layers().unwrap().len(), 1);

    // Committed before its tar was written: refused.
    store.create_container_fs("early", &layers, Writes::Synced, &[]).unwrap();
    store.unmount("early").unwrap();
    let adopted = store.adopt_container_layer("early").unwrap().unwrap();
    assert!(store.commit_adopted(adopted).is_err());
    store.remove_container_fs("early").unwrap();
    assert_eq!(fs::read_dir(env.t.path().join("a/root/overlay/staging")).unwrap().count(), 0);
}

#[test]
fn vfs_does_not_adopt() {
    let env = Env::new();
    let store = env.open("a", "vfs");
    let layers = base(&store);
    store.create_container_fs("c", &layers, Writes::Synced, &[]).unwrap();
    if rustix::process::geteuid().is_root() {
        store.unmount("c").unwrap();
    }
    assert!(store.adopt_container_layer("c").unwrap().is_none());
    store.remove_container_fs("c").unwrap();
}

/// A kill between the adoption and its commit leaves a staging dir
/// nobody holds: the next open removes it, and the container (without
/// its changes) is removed as any other.
#[test]
fn a_crash_mid_adoption_leaves_what_the_next_open_cleans() {
    require_root();
    let env = Env::new();
    let store = env.open("a", "overlay");
    let layers = base(&store);
    let root = store.create_container_fs("c", &layers, Writes::Synced, &[]).unwrap();
    fs::write(root.join("x"), "x").unwrap();
    store.unmount("c").unwrap();
    let adopted = store.adopt_container_layer("c").unwrap().unwrap();
    // The process dies: its flock goes, its staging dir stays.
    let staging = env.t.path().join("a/root/overlay/staging");
    let left: Vec<PathBuf> = fs::read_dir(&staging).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left.len(), 1);
    // (This process's flock on it lives on in the forgotten value: the
    // content moves to a directory of its own, as the dead process's.)
    std::mem::forget(adopted);
    let dead = staging.join("layer-dead");
    fs::create_dir(&dead).unwrap();
    fs::rename(left[0].join("diff"), dead.join("diff")).unwrap();
    drop(store);
    let store = env.open("a", "overlay");
    assert!(!dead.exists(), "the next open removed the leftover");
    assert_eq!(store.layers().unwrap().len(), 1);
    assert!(store.mount("c").is_err(), "the container's changes are gone with it");
    store.remove_container_fs("c").unwrap();
}

/// A build step's container made and mounted without syncs
/// (`create_container_fs_mounted`, `mount_unsynced`): its changes are
/// adopted as a synced container's are, and a synced mount after an
/// unsynced one works (the kernel's `volatile` marker is gone by then).
#[test]
fn unsynced_mounts_leave_a_container_mountable_and_adoptable() {
    require_root();
    let env = Env::new();
    let store = env.open("a", "overlay");
    let layers = base(&store);
    let root = store.create_container_fs_mounted("c", &layers, Writes::Synced, &[], Writes::Volatile).unwrap();
    assert!(fs::read_to_string(root.join("etc/keep")).is_ok());
    assert!(store.unmount("c").unwrap());
    let root = store.mount_unsynced("c").unwrap();
    change(&root);
    assert!(store.unmount("c").unwrap());
    // Synced again, then unsynced again: each mount works.
    let root = store.mount("c").unwrap();
    assert!(root.join("olddir/new").exists());
    assert!(store.unmount("c").unwrap());
    let root = store.mount_unsynced("c").unwrap();
    assert!(root.join("olddir/new").exists());
    assert!(store.unmount("c").unwrap());
    let mut want_tar = Vec::new();
    store.container_diff("c", &mut want_tar).unwrap();
    let mut adopted = store.adopt_container_layer("c").unwrap().expect("adopted");
    let mut tar = Vec::new();
    adopted.write_tar(&mut tar).unwrap();
    assert!(tar == want_tar, "the adopted layer's tar is the container's diff");
    store.commit_adopted(adopted).unwrap();
    store.remove_container_fs("c").unwrap();
}
