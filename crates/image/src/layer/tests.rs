//! Real-filesystem tests of layer apply/create (the privileged ones need root).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::*;
use crate::digest::Digest;
use crate::Error;

/// One crafted tar entry. Names are written raw so tests can say anything an
/// attacker could.
struct E<'a> {
    name: &'a str,
    kind: EntryType,
    data: &'a [u8],
    link: &'a str,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    xattrs: &'a [(&'a str, &'a [u8])],
}

fn e(name: &str, kind: EntryType) -> E<'_> {
    let mode = if kind == EntryType::Directory { 0o755 } else { 0o644 };
    E { name, kind, data: b"", link: "", mode, uid: 0, gid: 0, mtime: 1_600_000_000, xattrs: &[] }
}
fn dir(name: &str) -> E<'_> {
    e(name, EntryType::Directory)
}
fn file<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
    E { data, ..e(name, EntryType::Regular) }
}
fn symlink<'a>(name: &'a str, target: &'a str) -> E<'a> {
    E { link: target, ..e(name, EntryType::Symlink) }
}
fn hardlink<'a>(name: &'a str, target: &'a str) -> E<'a> {
    E { link: target, ..e(name, EntryType::Link) }
}

fn pax(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        super::create::pax_record(&mut out, k.as_bytes(), v);
    }
    out
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for en in entries {
        if !en.xattrs.is_empty() {
            let recs: Vec<_> = en.xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.to_vec())).collect();
            let data = pax(&recs);
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::XHeader);
            h.set_path("pax").unwrap();
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data.as_slice()).unwrap();
        }
        let mut h = Header::new_gnu();
        let g = h.as_gnu_mut().unwrap();
        g.name[..en.name.len()].copy_from_slice(en.name.as_bytes());
        g.linkname[..en.link.len()].copy_from_slice(en.link.as_bytes());
        h.set_entry_type(en.kind);
        h.set_size(en.data.len() as u64);
        h.set_mode(en.mode);
        h.set_uid(en.uid);
        h.set_gid(en.gid);
        h.set_mtime(en.mtime);
        if en.kind == EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        b.append(&h, en.data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A target dir with a sentinel dir beside it holding one file.
struct Scene {
    _t: tempfile::TempDir,
    target: std::path::PathBuf,
    sentinel: std::path::PathBuf,
}

fn scene() -> Scene {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("target");
    let sentinel = t.path().join("sentinel");
    fs::create_dir(&target).unwrap();
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("file"), b"precious").unwrap();
    Scene { _t: t, target, sentinel }
}

impl Scene {
    fn untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.sentinel).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["file"], "nothing added beside the target");
        let md = fs::metadata(self.sentinel.join("file")).unwrap();
        assert_eq!(md.nlink(), 1, "no hardlink made to the sentinel");
        assert_eq!(fs::read(self.sentinel.join("file")).unwrap(), b"precious");
        let top: Vec<_> =
            fs::read_dir(self.target.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(top.len(), 2, "nothing added next to target: {top:?}");
    }
}

fn unsafe_err(r: Result<Applied, Error>) -> String {
    match r {
        Err(Error::UnsafeLayer { path, why }) => format!("{path}: {why}"),
        other => panic!("expected UnsafeLayer, got {other:?}"),
    }
}

#[test]
fn escapes_are_refused() {
    let cases: Vec<(&str, Vec<E>)> = vec![
        ("dotdot", vec![file("../sentinel/x", b"evil")]),
        ("dotdot inside", vec![dir("a"), file("a/../../sentinel/x", b"evil")]),
        ("absolute", vec![file("/tmp/abs-escape", b"evil")]),
        ("hardlink absolute", vec![hardlink("pw", "/etc/passwd")]),
        ("hardlink dotdot", vec![hardlink("pw", "../sentinel/file")]),
        ("hardlink through symlink", vec![symlink("s", "../sentinel"), hardlink("h", "s/file")]),
        (
            "hardlink through in-tree symlink",
            vec![dir("d"), file("d/f", b"x"), symlink("s", "d"), hardlink("h", "s/f")],
        ),
        ("whiteout dotdot", vec![file(".wh..", b"")]),
    ];
    for (what, entries) in cases {
        for mode in [Mode::Flatten, Mode::Overlay] {
            let s = scene();
            let why = unsafe_err(apply(tar_of(&entries).as_slice(), &s.target, mode));
            assert!(!why.is_empty(), "{what}");
            s.untouched();
            assert!(!Path::new("/tmp/abs-escape").exists(), "{what}");
        }
    }
}

/// Symlinks met as parents are re-rooted at the layer root, as docker
/// applies layers in a chroot: whatever they say, what they lead to is in
/// the tree, and nothing beside it is touched.
#[test]
fn symlink_parents_are_rerooted_inside_the_tree() {
    let host_probe = format!("berth-layer-escape-{}", std::process::id());
    let probe: &'static str = Box::leak(format!("a/tmp/{host_probe}").into_boxed_str());
    // (what, entries, where the file lands inside the tree)
    let cases: Vec<(&str, Vec<E>, Option<String>)> = vec![
        ("abs symlink parent", vec![symlink("a", "/"), file(probe, b"x")], Some(format!("tmp/{host_probe}"))),
        ("relative symlink past the top", vec![symlink("b", "../../.."), file("b/x", b"x")], Some("x".into())),
        (
            "symlink to beside the tree",
            vec![dir("sentinel"), symlink("b", "../sentinel"), file("b/x", b"x")],
            Some("sentinel/x".into()),
        ),
        (
            "symlink chain",
            vec![
                dir("sentinel"),
                dir("d"),
                symlink("d/up", ".."),
                symlink("c", "d/up/d/up/../sentinel"),
                file("c/x", b"x"),
            ],
            Some("sentinel/x".into()),
        ),
        ("dir through symlink", vec![dir("sentinel"), symlink("b", "../sentinel"), dir("b/sub")], None),
        ("whiteout through symlink", vec![dir("sentinel"), symlink("b", "../sentinel"), file("b/.wh.file", b"")], None),
        (
            "opaque through symlink",
            vec![dir("sentinel"), symlink("b", "../sentinel"), file("b/.wh..wh..opq", b"")],
            None,
        ),
    ];
    for (what, entries, lands) in cases {
        for mode in [Mode::Flatten, Mode::Overlay] {
            let s = scene();
            apply(tar_of(&entries).as_slice(), &s.target, mode).unwrap_or_else(|e| panic!("{what} {mode:?}: {e}"));
            s.untouched();
            assert!(!Path::new("/tmp").join(&host_probe).exists(), "{what}");
            if let Some(rel) = &lands {
                assert_eq!(fs::read(s.target.join(rel)).unwrap(), b"x", "{what} {mode:?}");
            }
        }
    }
    // A symlink whose re-rooted target is missing is refused: creating the
    // target would write where the link points rather than where the tar says.
    for mode in [Mode::Flatten, Mode::Overlay] {
        let s = scene();
        let why = unsafe_err(apply(tar_of(&[symlink("b", "/gone"), file("b/x", b"x")]).as_slice(), &s.target, mode));
        assert!(why.contains("dangling"), "{why}");
        s.untouched();
    }
}

/// An entry under an absolute symlink directory of the image (`/lib64 ->
/// /usr/lib`, as distributions ship): applied where the link leads inside
/// the tree, on both drivers; also when the link came from a lower layer
/// (flatten mode: the target holds the lower layers).
#[test]
fn entries_under_absolute_symlink_dirs_land_inside_the_tree() {
    for mode in [Mode::Flatten, Mode::Overlay] {
        let s = scene();
        let tar = tar_of(&[dir("usr"), dir("usr/lib"), symlink("lib64", "/usr/lib"), file("lib64/libc.so", b"elf")]);
        apply(tar.as_slice(), &s.target, mode).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(fs::read(s.target.join("usr/lib/libc.so")).unwrap(), b"elf", "{mode:?}");
        assert!(fs::symlink_metadata(s.target.join("lib64")).unwrap().file_type().is_symlink());
        s.untouched();
    }
    let s = scene();
    fs::create_dir_all(s.target.join("usr/lib")).unwrap();
    std::os::unix::fs::symlink("/usr/lib", s.target.join("lib64")).unwrap();
    apply(tar_of(&[file("lib64/libm.so", b"m")]).as_slice(), &s.target, Mode::Flatten).unwrap();
    assert_eq!(fs::read(s.target.join("usr/lib/libm.so")).unwrap(), b"m");
    s.untouched();
}

#[test]
fn symlink_in_lower_dir_is_not_followed_out() {
    let s = scene();
    std::os::unix::fs::symlink(&s.sentinel, s.target.join("lower")).unwrap();
    std::os::unix::fs::symlink("../sentinel/file", s.target.join("f")).unwrap();
    // The absolute link to the sentinel means `<tree><sentinel path>` here,
    // which does not exist: refused, and the sentinel is untouched.
    let why = unsafe_err(apply(tar_of(&[file("lower/x", b"x")]).as_slice(), &s.target, Mode::Flatten));
    assert!(why.contains("dangling"), "{why}");
    s.untouched();
    // Once it exists inside the tree, that is where the entry goes.
    fs::create_dir_all(s.target.join(s.sentinel.strip_prefix("/").unwrap())).unwrap();
    apply(tar_of(&[file("lower/x", b"x")]).as_slice(), &s.target, Mode::Flatten).unwrap();
    assert_eq!(fs::read(s.target.join(s.sentinel.strip_prefix("/").unwrap()).join("x")).unwrap(), b"x");
    s.untouched();
    // Replacing a symlink replaces the link, never writes through it.
    apply(tar_of(&[file("f", b"new")]).as_slice(), &s.target, Mode::Flatten).unwrap();
    assert_eq!(fs::read(s.target.join("f")).unwrap(), b"new");
    assert!(!fs::symlink_metadata(s.target.join("f")).unwrap().file_type().is_symlink());
    s.untouched();
}

#[test]
fn in_tree_symlink_parents_are_followed() {
    let s = scene();
    let tar = tar_of(&[dir("usr"), dir("usr/lib"), symlink("lib", "usr/lib"), file("lib/libc.so", b"elf")]);
    apply(tar.as_slice(), &s.target, Mode::Flatten).unwrap();
    assert_eq!(fs::read(s.target.join("usr/lib/libc.so")).unwrap(), b"elf");
    s.untouched();
}

fn cap_net_raw() -> Vec<u8> {
    // vfs_cap_data v2: magic|effective, permitted lo/ inheritable lo, hi words.
    let mut v = Vec::new();
    v.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes());
    v.extend_from_slice(&(1u32 << 13).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn metadata_is_kept() {
    if !is_root() {
        panic!("this test needs root: run it as root, as scripts/test.sh does");
    }
    let cap = cap_net_raw();
    let xattrs: &[(&str, &[u8])] = &[("user.note", b"hello"), ("security.capability", &cap)];
    let entries = [
        E { mode: 0o1777, mtime: 1_100_000_000, ..dir("tmp") },
        E { mode: 0o2755, uid: 10, gid: 20, mtime: 1_200_000_000, ..dir("bin") },
        E { mode: 0o4755, uid: 1234, gid: 5678, mtime: 1_000_000_000, xattrs, ..file("bin/su", b"#!/bin/sh\n") },
        E { mtime: 1_300_000_000, uid: 7, gid: 8, ..symlink("bin/sh", "su") },
        E { mode: 0o666, ..e("null", EntryType::Char) },
        E { mode: 0o600, ..e("fifo", EntryType::Fifo) },
        hardlink("bin/su2", "bin/su"),
        E { mtime: 1_400_000_000, ..file("tmp/inside", b"x") },
    ];
    let s = scene();
    apply(tar_of(&entries).as_slice(), &s.target, Mode::Flatten).unwrap();
    check_metadata(&s.target, &cap);
}

fn check_metadata(root: &Path, cap: &[u8]) {
    let su = fs::symlink_metadata(root.join("bin/su")).unwrap();
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755, "setuid kept after chown");
    assert_eq!(su.mtime(), 1_000_000_000);
    assert_eq!(su.nlink(), 2);
    assert_eq!(fs::symlink_metadata(root.join("bin/su2")).unwrap().ino(), su.ino());
    assert_eq!(xattr::get(root.join("bin/su"), "user.note").unwrap().unwrap(), b"hello");
    assert_eq!(xattr::get(root.join("bin/su"), "security.capability").unwrap().unwrap(), cap);
    let bin = fs::symlink_metadata(root.join("bin")).unwrap();
    assert_eq!((bin.uid(), bin.gid(), bin.mode() & 0o7777), (10, 20, 0o2755));
    assert_eq!(bin.mtime(), 1_200_000_000, "directory mtime fixed up after its children");
    let tmp = fs::symlink_metadata(root.join("tmp")).unwrap();
    assert_eq!((tmp.mode() & 0o7777, tmp.mtime()), (0o1777, 1_100_000_000));
    let sh = fs::symlink_metadata(root.join("bin/sh")).unwrap();
    assert!(sh.file_type().is_symlink());
    assert_eq!((sh.uid(), sh.gid(), sh.mtime()), (7, 8, 1_300_000_000));
    assert_eq!(fs::read_link(root.join("bin/sh")).unwrap(), Path::new("su"));
    let null = fs::symlink_metadata(root.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((null.rdev(), null.mode() & 0o7777), (rustix::fs::makedev(1, 3), 0o666));
    assert!(fs::symlink_metadata(root.join("fifo")).unwrap().file_type().is_fifo());
}

#[test]
fn whiteouts_flatten() {
    let s = scene();
    for p in ["a/b/deep", "a/c", "d/e", "d/f"] {
        fs::create_dir_all(s.target.join(p).parent().unwrap()).unwrap();
        fs::write(s.target.join(p), p).unwrap();
    }
    let tar = tar_of(&[
        dir("a"),
        file("a/.wh.b", b""),
        dir("d"),
        file("d/early", b"kept: written before the marker"),
        file("d/.wh..wh..opq", b""),
        file("d/g", b"new"),
        file(".wh.missing", b""),
    ]);
    apply(tar.as_slice(), &s.target, Mode::Flatten).unwrap();
    assert!(!s.target.join("a/b").exists());
    assert!(s.target.join("a/c").exists());
    let mut d: Vec<_> = fs::read_dir(s.target.join("d")).unwrap().map(|e| e.unwrap().file_name()).collect();
    d.sort();
    assert_eq!(d, vec!["early", "g"]);
    s.untouched();
}

#[test]
fn whiteouts_overlay_and_back() {
    if !is_root() {
        panic!("this test needs root: run it as root, as scripts/test.sh does");
    }
    let s = scene();
    let tar = tar_of(&[dir("a"), file("a/.wh.b", b""), dir("d"), file("d/.wh..wh..opq", b""), file("d/g", b"new")]);
    apply(tar.as_slice(), &s.target, Mode::Overlay).unwrap();
    let wh = fs::symlink_metadata(s.target.join("a/b")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(xattr::get(s.target.join("d"), OVERLAY_OPAQUE_XATTR).unwrap().unwrap(), b"y");
    assert!(!s.target.join("d/.wh..wh..opq").exists());

    // Back to a tar: the markers reappear as OCI whiteouts.
    let out = create(&s.target, Source::OverlayUpper, Vec::new()).unwrap();
    let names = names_in(&out);
    assert_eq!(names, vec!["a", "a/.wh.b", "d", "d/.wh..wh..opq", "d/g"]);
    // A full tar of the same tree keeps the device and never exports overlay xattrs.
    let full = create(&s.target, Source::Full, Vec::new()).unwrap();
    assert_eq!(names_in(&full), vec!["a", "a/b", "d", "d/g"]);
    assert!(!String::from_utf8_lossy(&full).contains("trusted.overlay"));
}

/// Forged overlay xattrs in a tar are dropped: a layer must not plant redirects.
#[test]
fn overlay_xattrs_from_tar_are_dropped() {
    if !is_root() {
        return;
    }
    let s = scene();
    let xattrs: &[(&str, &[u8])] = &[("trusted.overlay.redirect", b"/etc"), ("trusted.overlay.opaque", b"y")];
    apply(tar_of(&[E { xattrs, ..dir("d") }]).as_slice(), &s.target, Mode::Overlay).unwrap();
    assert!(xattr::get(s.target.join("d"), "trusted.overlay.redirect").unwrap().is_none());
    assert!(xattr::get(s.target.join("d"), "trusted.overlay.opaque").unwrap().is_none());
}

fn names_in(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string().trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn create_round_trips_and_is_deterministic() {
    if !is_root() {
        panic!("this test needs root: run it as root, as scripts/test.sh does");
    }
    let cap = cap_net_raw();
    let xattrs: &[(&str, &[u8])] = &[("user.note", b"hello"), ("security.capability", &cap)];
    let long = format!("tmp/{}", "n".repeat(150));
    let entries = [
        E { mode: 0o1777, mtime: 1_100_000_000, ..dir("tmp") },
        E { mode: 0o2755, uid: 10, gid: 20, mtime: 1_200_000_000, ..dir("bin") },
        E { mode: 0o4755, uid: 1234, gid: 5678, mtime: 1_000_000_000, xattrs, ..file("bin/su", b"#!/bin/sh\n") },
        E { mtime: 1_300_000_000, uid: 7, gid: 8, ..symlink("bin/sh", "su") },
        E { mode: 0o666, ..e("null", EntryType::Char) },
        E { mode: 0o600, ..e("fifo", EntryType::Fifo) },
        hardlink("bin/su2", "bin/su"),
        E { mtime: 1_400_000_000, ..file("tmp/inside", b"x") },
    ];
    let s = scene();
    apply(tar_of(&entries).as_slice(), &s.target, Mode::Flatten).unwrap();
    // A name longer than the 100-byte header field.
    fs::write(s.target.join(&long), b"long").unwrap();
    let tmp = fs::File::open(s.target.join("tmp")).unwrap();
    tmp.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_100_000_000)).unwrap();
    let a = create(&s.target, Source::Full, Vec::new()).unwrap();
    let b = create(&s.target, Source::Full, Vec::new()).unwrap();
    assert_eq!(a, b, "same tree, same bytes");
    let copy = s.target.parent().unwrap().join("copy");
    fs::create_dir(&copy).unwrap();
    let applied = apply(a.as_slice(), &copy, Mode::Flatten).unwrap();
    assert_eq!(applied.diff_id, Digest::of_bytes(&a));
    check_metadata(&copy, &cap);
    assert_eq!(fs::read(copy.join(&long)).unwrap(), b"long");
}

#[test]
fn digests_and_gzip() {
    let tar = tar_of(&[dir("a"), file("a/f", &[7u8; 70_000])]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let s = scene();
    let got = apply(gz.as_slice(), &s.target, Mode::Flatten).unwrap();
    assert_eq!(got.compression, Compression::Gzip);
    assert_eq!(got.diff_id, Digest::of_bytes(&tar));
    assert_eq!(got.digest, Digest::of_bytes(&gz));
    assert_eq!((got.size, got.compressed_size), (tar.len() as u64, gz.len() as u64));
    assert_eq!(fs::read(s.target.join("a/f")).unwrap().len(), 70_000);
    let plain = apply(tar.as_slice(), &scene().target, Mode::Flatten).unwrap();
    assert_eq!((plain.compression, &plain.diff_id, &plain.digest), (Compression::None, &got.diff_id, &got.diff_id));
}

#[test]
fn truncation_is_an_error() {
    let tar = tar_of(&[dir("a"), file("a/f", &[7u8; 70_000]), file("b", b"x")]);
    // Cut in file data, in a header, and right after the last entry (no end marker).
    let end_of_b = tar.len() - 1024; // the builder ends with two zero blocks
    for cut in [5_000usize, 512 + 512 + 70_000 + 100, end_of_b, 0] {
        let r = apply(&tar[..cut], &scene().target, Mode::Flatten);
        assert!(matches!(r, Err(Error::InvalidLayer(_))), "cut at {cut}: {r:?}");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    for cut in [gz.len() / 2, gz.len() - 4] {
        let r = apply(&gz[..cut], &scene().target, Mode::Flatten);
        let msg = format!("{:?}", r);
        assert!(matches!(r, Err(Error::InvalidLayer(_))), "gzip cut at {cut}: {msg}");
    }
    let xz = [0xfdu8, b'7', b'z', b'X', b'Z', 0, 0, 0];
    let r = apply(&xz[..], &scene().target, Mode::Flatten).unwrap_err().to_string();
    assert!(r.contains("xz"), "{r}");
}

/// Bytes that do not compress to nothing, so cuts land inside compressed data.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half the bytes are text-like, so zstd has something to do.
            if x & 1 == 0 {
                b'a' + (x >> 8) as u8 % 4
            } else {
                (x >> 16) as u8
            }
        })
        .collect()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

#[test]
fn digests_and_zstd() {
    let content = noise(300_000);
    let tar = tar_of(&[dir("a"), file("a/f", &content), file("a/g", b"small")]);
    // Two frames, split mid-entry: concatenated frames are one valid stream.
    let split = 100_000;
    let mut blob = zstd(&tar[..split]);
    blob.extend(zstd(&tar[split..]));
    for (what, blob) in [("one frame", zstd(&tar)), ("two frames", blob)] {
        let s = scene();
        let got = apply(blob.as_slice(), &s.target, Mode::Overlay).unwrap();
        assert_eq!(got.compression, Compression::Zstd, "{what}");
        assert_eq!(got.diff_id, Digest::of_bytes(&tar), "{what}");
        assert_eq!(got.digest, Digest::of_bytes(&blob), "{what}");
        assert_eq!((got.size, got.compressed_size), (tar.len() as u64, blob.len() as u64), "{what}");
        assert_eq!(fs::read(s.target.join("a/f")).unwrap(), content, "{what}");
        assert_eq!(fs::read(s.target.join("a/g")).unwrap(), b"small", "{what}");
    }
}

#[test]
fn truncated_or_corrupt_zstd_is_a_one_line_error() {
    let tar = tar_of(&[dir("a"), file("a/f", &noise(200_000)), file("b", b"x")]);
    let blob = zstd(&tar);
    // In the frame header, in the compressed data, and just before the end
    // (the tar is complete but the frame is not: found when draining).
    for cut in [6, blob.len() / 2, blob.len() - 3] {
        let r = apply(&blob[..cut], &scene().target, Mode::Flatten).unwrap_err();
        let msg = r.to_string();
        assert!(matches!(r, Error::InvalidLayer(_)), "zstd cut at {cut}: {r:?}");
        assert!(msg.contains("truncated zstd stream"), "zstd cut at {cut}: {msg}");
        assert!(!msg.contains('\n'), "{msg:?}");
    }
    // Flipped bits in the data of a frame with a checksum (what skopeo and
    // podman write; without one, the diff_id check of the caller catches
    // it), a bad frame header, and garbage after the last frame.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(&tar).unwrap();
    let mut bad_data = enc.finish().unwrap();
    let mid = bad_data.len() / 2;
    for b in &mut bad_data[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let mut bad_header = blob.clone();
    bad_header[4] = 0xff;
    let mut trailing = blob.clone();
    trailing.extend_from_slice(b"this is not a zstd frame");
    for (what, data) in [("corrupt data", bad_data), ("corrupt header", bad_header), ("trailing garbage", trailing)] {
        let r = apply(data.as_slice(), &scene().target, Mode::Flatten).unwrap_err();
        let msg = r.to_string();
        assert!(matches!(r, Error::InvalidLayer(_)), "{what}: {r:?}");
        assert!(msg.contains("zstd"), "{what}: {msg}");
        assert!(!msg.contains('\n'), "{what}: {msg:?}");
    }
}

#[test]
fn error_names_the_entry() {
    let r = apply(tar_of(&[file("/etc/shadow", b"")]).as_slice(), &scene().target, Mode::Flatten).unwrap_err();
    assert_eq!(r.to_string(), "unsafe layer entry \"/etc/shadow\": absolute path");
    assert!(!r.to_string().contains('\n'));
}
