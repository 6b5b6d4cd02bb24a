//! `berth save` as podman 4.3 does it: its archives load in podman (single
//! and multi-image), `-m` refuses what podman refuses, extra arguments
//! without `-m` are more names, archives are 0644, and errors never name the
//! temp file the archive is written to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use common::podman::podman;
use common::*;

fn podman_images(env: &Env) -> String {
    let (code, out, err) = podman(env, &["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]);
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    lines.join("\n")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

/// Two images in berth: `bb` and `two:1` (sharing the busybox layer).
fn two_images(env: &Env) -> (String, String) {
    let (a1, id1) = busybox_archive(env, "bb.tar", "localhost/bb:latest");
    let a2 = env.path("two.tar");
    let id2 = write_oci_archive(
        &a2,
        Some("localhost/two:1"),
        &[busybox_layer(), &tar_file("two", b"2")],
        serde_json::json!({}),
    );
    env.ok(&["load", "-i", a1.to_str().unwrap()]);
    env.ok(&["load", "-i", a2.to_str().unwrap()]);
    (id1, id2)
}

#[test]
fn podman_loads_what_berth_saves() {
    let env = Env::new();
    let (id1, id2) = two_images(&env);
    let (s1, s2) = (&id1[..12], &id2[..12]);
    for (format, multi, want) in [
        ("docker-archive", false, format!("{s1} localhost/bb:latest")),
        ("oci-archive", false, format!("{s1} localhost/bb:latest")),
        ("docker-archive", true, format!("{s1} localhost/bb:latest\n{s2} localhost/two:1")),
    ] {
        let out = env.path(&format!("{format}-{multi}.tar"));
        let mut args = vec!["save", "--format", format, "-o", out.to_str().unwrap()];
        if multi {
            args.extend(["-m", "bb", "two:1"]);
        } else {
            args.push("bb");
        }
        env.ok(&args);
        assert_eq!(mode(&out), 0o644, "{format}: podman's archive mode");
        let fresh = Env::new();
        let (code, loaded, err) = podman(&fresh, &["load", "-i", out.to_str().unwrap()]);
        assert_eq!(code, 0, "podman load of berth's {format} (multi: {multi}): {err}");
        assert!(loaded.contains("Loaded image"), "{loaded}");
        assert_eq!(podman_images(&fresh), want, "{format} multi: {multi}");
    }
}

#[test]
fn multi_image_save_refuses_what_podman_refuses() {
    let env = Env::new();
    two_images(&env);
    for format in ["oci-archive", "oci-dir"] {
        let out = env.path(format);
        let e = env.fails(&["save", "-m", "--format", format, "-o", out.to_str().unwrap(), "bb", "two:1"], 125);
        assert_eq!(
            e,
            format!("Error: unsupported format \"{format}\" for saving multiple images (only docker-archive)\n")
        );
        assert!(!out.exists());
    }
    // One image with -m is fine in any format, as in podman.
    let one = env.path("one.tar");
    env.ok(&["save", "-m", "--format", "oci-archive", "-o", one.to_str().unwrap(), "bb"]);
    assert!(one.is_file());
}

/// Without `-m`, podman saves the first image and takes the other
/// arguments as more names for it (in a docker-archive).
#[test]
fn extra_arguments_without_m_are_names() {
    let env = Env::new();
    let (id1, _) = two_images(&env);
    let out = env.path("tags.tar");
    env.ok(&["save", "-o", out.to_str().unwrap(), "bb", "extra:1"]);
    let fresh = Env::new();
    fresh.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(
        fresh.ok(&["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]),
        format!("{s} localhost/bb:latest\n{s} localhost/extra:1\n", s = &id1[..12])
    );
}

#[test]
fn save_output_errors_name_the_output_never_a_temp_file() {
    let env = Env::new();
    two_images(&env);
    let e = env.fails(&["save", "-o", "/nonexistent-berth-dir/x.tar", "bb"], 125);
    assert_eq!(
        e,
        "Error: opening file \"/nonexistent-berth-dir/x.tar\": open /nonexistent-berth-dir/x.tar: no such file or directory\n"
    );
    let dir = env.path("outdir");
    std::fs::create_dir(&dir).unwrap();
    let e = env.fails(&["save", "-o", dir.to_str().unwrap(), "bb"], 125);
    assert!(e.ends_with(": is a directory\n") && !e.contains(".berth-save"), "{e}");
    // A missing image: nothing written, nothing left.
    let out = env.path("x.tar");
    let e = env.fails(&["save", "-m", "-o", out.to_str().unwrap(), "bb", "nosuch"], 125);
    assert_eq!(e, "Error: nosuch: image not known\n");
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".berth-save") || n == "x.tar")
        .collect();
    assert_eq!(left, Vec::<String>::new());
    // An existing docker-archive is refused, as podman refuses it; an
    // oci-archive is replaced whole, and gets podman's mode.
    std::fs::write(&out, b"old").unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let e = env.fails(&["save", "-o", out.to_str().unwrap(), "bb"], 125);
    assert_eq!(e, "Error: docker-archive doesn't support modifying existing images\n");
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    env.ok(&["save", "--format", "oci-archive", "-o", out.to_str().unwrap(), "bb"]);
    assert_eq!(mode(&out), 0o644);
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
    // An empty file is fine for a docker-archive too.
    std::fs::write(&out, b"").unwrap();
    env.ok(&["save", "-o", out.to_str().unwrap(), "bb"]);
    assert_eq!(mode(&out), 0o644);
}

/// A device as the output is written to, not replaced by a file (a rename
/// over `/dev/null` would break the host).
#[test]
fn saving_to_a_device_writes_into_it() {
    let env = Env::new();
    two_images(&env);
    env.ok(&["save", "-o", "/dev/null", "bb"]);
    let m = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(m.file_type().is_char_device(), "/dev/null is still the device");
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
}
