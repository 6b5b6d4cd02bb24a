//! `berth` image commands against the real binary, each test in its own root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn load_images_tag_and_formats() {
    let env = Env::new();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: localhost/bb:latest\n");
    env.ok(&["tag", "bb", "other:v1", "quay.io/x/y:z"]);
    let short = &id[..12];

    assert_eq!(
        env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "localhost/bb:latest\nlocalhost/other:v1\nquay.io/x/y:z\n"
    );
    assert_eq!(env.ok(&["images", "--format", "{{.ID}}"]), format!("{short}\n{short}\n{short}\n"));
    assert_eq!(env.ok(&["images", "-q"]), format!("{short}\n"));
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]), format!("sha256:{id}\n"));
    assert_eq!(
        env.ok(&["image", "ls", "--format", "table {{.Repository}}\\t{{.Tag}}"]),
        "REPOSITORY     TAG\nlocalhost/bb   latest\nlocalhost/other  v1\nquay.io/x/y    z\n".replace(
            "REPOSITORY     TAG\nlocalhost/bb   latest\nlocalhost/other  v1\nquay.io/x/y    z\n",
            "REPOSITORY       TAG\nlocalhost/bb     latest\nlocalhost/other  v1\nquay.io/x/y      z\n"
        )
    );
    // `{{json .}}` is podman's `--format json`: one summary per image.
    let json = env.ok(&["images", "--format", "{{json .}}", "--filter", "reference=bb"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Names"], serde_json::json!(["localhost/bb:latest", "localhost/other:v1", "quay.io/x/y:z"]));
    assert_eq!(v[0]["CreatedAt"], "2024-01-02T03:04:05Z");
    assert_eq!(v[0]["Created"], 1_704_164_645);
    assert_eq!(v[0]["Labels"]["org.example"], "yes");
    assert_eq!(v.as_array().unwrap().len(), 1);
    let row = env.ok(&[
        "images",
        "--format",
        "{{json .Repository}} {{json .ID}} {{json .CreatedAt}}",
        "--filter",
        "reference=bb",
    ]);
    assert_eq!(row, format!("\"localhost/bb\" \"{short}\" \"2024-01-02 03:04:05 +0000 UTC\"\n"));

    // Default table: podman's columns.
    let table = env.ok(&["images"]);
    let mut lines = table.lines();
    assert_eq!(lines.next().unwrap(), "REPOSITORY       TAG         IMAGE ID      CREATED      SIZE");
    let first = lines.next().unwrap();
    assert!(first.starts_with(&format!("localhost/bb     latest      {short}  ")), "{first:?}");
    assert!(first.contains(" years ago") && first.ends_with("MB"), "{first:?}");
    assert!(env.ok(&["images", "--digests"]).lines().next().unwrap().contains("DIGEST"));

    // Filters.
    assert_eq!(env.ok(&["images", "--filter", "dangling=true", "-q"]), "");
    assert_eq!(env.ok(&["images", "--filter", "dangling=false", "-q"]), format!("{short}\n"));
    assert_eq!(env.ok(&["images", "--filter", "label=org.example=yes", "-q"]), format!("{short}\n"));
    assert_eq!(env.ok(&["images", "--filter", "label=org.example=no", "-q"]), "");
    assert_eq!(
        env.ok(&["images", "--filter", "reference=quay.io/*/*", "--format", "{{.Repository}}"]),
        "quay.io/x/y\n"
    );
}

#[test]
fn inspect_and_history() {
    let env = Env::new();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", "bb"])).unwrap();
    let i = &v[0];
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RepoTags"][0], "localhost/bb:latest");
    assert!(i["RepoDigests"][0].as_str().unwrap().starts_with("localhost/bb@sha256:"));
    assert_eq!(i["Digest"].as_str().unwrap(), i["RepoDigests"][0].as_str().unwrap().split('@').nth(1).unwrap());
    assert_eq!(i["Config"]["Cmd"][0], "sh");
    assert_eq!(i["Architecture"], "amd64");
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["Created"], "2024-01-02T03:04:05Z");
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(i["Labels"]["org.example"], "yes");
    assert!(i["Size"].as_u64().unwrap() > 500_000);
    assert_eq!(i["History"][0]["created_by"], "/bin/sh -c #(nop) layer 0");
    assert_eq!(env.ok(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", &id[..6]]), "linux/amd64\n");

    let h = env.ok(&["history", "bb"]);
    let lines: Vec<&str> = h.lines().collect();
    assert_eq!(lines[0], "ID            CREATED      CREATED BY                 SIZE        COMMENT");
    assert!(lines[1].starts_with(&format!("{}  ", &id[..12])) && lines[1].contains("/bin/sh -c #(nop) layer 0"), "{h}");
    assert_eq!(env.ok(&["history", "-q", "bb"]), format!("{}\n", &id[..12]));
    assert_eq!(env.ok(&["history", "--no-trunc", "-q", "bb"]), format!("{id}\n"));
}

#[test]
fn save_every_format_round_trips() {
    let env = Env::new();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    for (format, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar"), ("oci-dir", "odir")] {
        let out = env.path(file);
        env.ok(&["save", "--format", format, "-o", out.to_str().unwrap(), "bb"]);
        let fresh = Env::new();
        let loaded = fresh.ok(&["load", "-i", out.to_str().unwrap()]);
        assert_eq!(loaded, "Loaded image: localhost/bb:latest\n", "{format}");
        assert_eq!(fresh.ok(&["images", "-q", "--no-trunc"]), format!("sha256:{id}\n"), "{format}");
        if format != "oci-dir" {
            let transport = format!("{format}:{}", out.display());
            let o = std::process::Command::new("skopeo").args(["inspect", &transport]).output().expect("skopeo");
            assert!(o.status.success(), "skopeo inspect {transport}: {}", stderr(&o));
        }
    }
    // Default format (docker-archive) to stdout, loaded from stdin.
    let o = env.cmd(&["save", "bb"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let fresh = Env::new();
    let mut child =
        fresh.cmd(&["load"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &o.stdout).unwrap();
    let r = child.wait_with_output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(fresh.ok(&["images", "-q", "--no-trunc"]), format!("sha256:{id}\n"));
    // Several images in one archive.
    let (a2, id2) = {
        let p = env.path("two.tar");
        let id = write_oci_archive(
            &p,
            Some("localhost/two:1"),
            &[busybox_layer(), &tar_file("two", b"2")],
            serde_json::json!({}),
        );
        (p, id)
    };
    env.ok(&["load", "-i", a2.to_str().unwrap()]);
    let multi = env.path("multi.tar");
    env.ok(&["save", "-m", "-o", multi.to_str().unwrap(), "bb", "two:1"]);
    let fresh = Env::new();
    fresh.ok(&["load", "-i", multi.to_str().unwrap()]);
    let mut ids: Vec<String> = fresh.ok(&["images", "-q", "--no-trunc"]).lines().map(String::from).collect();
    ids.sort();
    let mut want = vec![format!("sha256:{id}"), format!("sha256:{id2}")];
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn rmi_keeps_shared_layers() {
    let env = Env::new();
    let (a1, id1) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    let a2 = env.path("two.tar");
    let id2 = write_oci_archive(
        &a2,
        Some("localhost/two:latest"),
        &[busybox_layer(), &tar_file("two", b"2")],
        serde_json::json!({}),
    );
    env.ok(&["load", "-i", a1.to_str().unwrap()]);
    env.ok(&["load", "-i", a2.to_str().unwrap()]);
    let base = image::digest::Digest::of_bytes(busybox_layer()).hex().to_string();
    assert_eq!(env.layer_dirs().len(), 2);
    assert!(env.layer_dirs().contains(&base));

    // A second name: rmi by name only untags.
    env.ok(&["tag", "bb", "alias"]);
    assert_eq!(env.ok(&["rmi", "alias"]), "Untagged: localhost/alias:latest\n");
    env.ok(&["tag", "bb", "alias"]);
    // By ID with two names needs -f.
    env.fails(&["rmi", &id1[..12]], 125);
    assert_eq!(
        env.ok(&["rmi", "-f", &id1[..12]]),
        format!("Untagged: localhost/bb:latest\nUntagged: localhost/alias:latest\nDeleted: {id1}\n")
    );
    // The base layer stays: `two` still uses it.
    assert_eq!(env.layer_dirs().len(), 2);
    assert_eq!(env.run(&["image", "exists", "bb"]).status.code(), Some(1));
    assert_eq!(env.run(&["image", "exists", "two"]).status.code(), Some(0));
    assert_eq!(env.ok(&["rmi", "two"]), format!("Untagged: localhost/two:latest\nDeleted: {id2}\n"));
    assert!(env.layer_dirs().is_empty(), "{:?}", env.layer_dirs());
    let blobs = std::fs::read_dir(env.root.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 0);
    // podman: exit 1 for an image it does not know; -f ignores it.
    let e = env.fails(&["rmi", "nosuch"], 1);
    assert_eq!(e, "Error: nosuch: image not known\n");
    env.ok(&["rmi", "-f", "nosuch"]);
}

#[test]
fn import_with_changes_and_prune() {
    let env = Env::new();
    let rootfs = env.path("rootfs.tar");
    std::fs::write(&rootfs, busybox_layer()).unwrap();
    let out = env.ok(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        "-c",
        "ENV FOO=bar",
        "-c",
        "WORKDIR /srv",
        "-c",
        "LABEL a=b",
        "-c",
        "ENTRYPOINT [\"/bin/busybox\"]",
        "-c",
        "USER 1000",
        "-c",
        "EXPOSE 8080",
        "-m",
        "my message",
        rootfs.to_str().unwrap(),
        "imported:v1",
    ]);
    let id = out.trim().strip_prefix("sha256:").expect("sha256: id").to_string();
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", "imported:v1"])).unwrap();
    let c = &v[0]["Config"];
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(c["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/busybox"]));
    assert_eq!(c["Env"], serde_json::json!(["FOO=bar"]));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Labels"]["a"], "b");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(v[0]["RootFS"]["Layers"][0], image::digest::Digest::of_bytes(busybox_layer()).to_string());
    assert!(env.ok(&["history", "imported:v1"]).contains("my message"));

    // An unnamed import from stdin is dangling; prune removes only it.
    let mut child = env
        .cmd(&["import", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &tar_file("x", b"x")).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dangling = stdout(&o).trim().trim_start_matches("sha256:").to_string();
    assert_eq!(env.ok(&["images", "--filter", "dangling=true", "-q", "--no-trunc"]), format!("sha256:{dangling}\n"));
    assert!(env.ok(&["images"]).lines().any(|l| l.split_whitespace().take(2).eq(["<none>", "<none>"])));
    assert_eq!(env.ok(&["image", "prune", "-f"]), format!("{dangling}\n"));
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]), format!("sha256:{id}\n"));
    assert_eq!(env.ok(&["image", "prune", "-a", "-f"]), format!("{id}\n"));
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(env.layer_dirs().is_empty());

    env.fails(&["import", "-c", "FROM scratch", rootfs.to_str().unwrap()], 125);
}

#[test]
fn bad_input_fails_cleanly() {
    let env = Env::new();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-i", archive.to_str().unwrap()]);

    // Usage errors: 125, one line.
    env.fails(&["images", "--bogus"], 125);
    env.fails(&["load", "--nope"], 125);
    // Truncated and corrupt archives.
    let data = std::fs::read(&archive).unwrap();
    let cut = env.path("cut.tar");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    env.fails(&["load", "-i", cut.to_str().unwrap()], 125);
    let junk = env.path("junk.tar");
    std::fs::write(&junk, b"this is not an archive at all").unwrap();
    env.fails(&["load", "-i", junk.to_str().unwrap()], 125);
    env.fails(&["load", "-i", env.path("missing.tar").to_str().unwrap()], 125);
    // A layer whose bytes do not match its digest.
    let mut bad = data.clone();
    let pos = bad.windows(7).position(|w| w == b"busybox").unwrap_or(bad.len() - 2048);
    bad[pos + 2048] ^= 0xff;
    let badp = env.path("bad.tar");
    std::fs::write(&badp, &bad).unwrap();
    env.fails(&["load", "-i", badp.to_str().unwrap()], 125);
    // Bad references.
    env.fails(&["tag", "bb", "UPPER/Case"], 125);
    env.fails(&["tag", "bb", "a::b"], 125);
    env.fails(&["image", "exists", "a::b"], 125);
    env.fails(&["save", "-o", env.path("x.tar").to_str().unwrap(), "nosuch"], 125);
    env.fails(&["image", "inspect", "nosuch"], 125);
    env.fails(&["images", "--filter", "bogus=1"], 125);
    env.fails(&["images", "--format", "{{.Repository"], 125);
    // The store is intact.
    assert_eq!(env.ok(&["images", "-q", "--no-trunc"]), format!("sha256:{id}\n"));
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "localhost/bb:latest\n");
}

#[test]
fn concurrent_loads_into_one_root() {
    let env = Env::new();
    let a1 = env.path("a.tar");
    let a2 = env.path("b.tar");
    let id1 = write_oci_archive(
        &a1,
        Some("localhost/a:latest"),
        &[busybox_layer(), &tar_file("a", b"a")],
        serde_json::json!({}),
    );
    let id2 = write_oci_archive(
        &a2,
        Some("localhost/b:latest"),
        &[busybox_layer(), &tar_file("b", b"b")],
        serde_json::json!({}),
    );
    let c1 = env
        .cmd(&["load", "-i", a1.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let c2 = env
        .cmd(&["load", "-i", a2.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for c in [c1, c2] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mut ids: Vec<String> = env.ok(&["images", "-q", "--no-trunc"]).lines().map(String::from).collect();
    ids.sort();
    let mut want = vec![format!("sha256:{id1}"), format!("sha256:{id2}")];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(env.layer_dirs().len(), 3, "shared base stored once");
}

#[test]
fn global_flags_are_honoured() {
    let env = Env::new();
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    let o = env.run(&["--storage-driver", "vfs", "--log-level", "debug", "load", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("DEBUG"), "{}", stderr(&o));
    assert!(env.root.join("vfs/layers").is_dir());
    env.fails(&["--storage-driver", "zfs", "images"], 125);
    env.fails(&["--log-level", "loud", "images"], 125);
}

#[test]
fn format_prints_values_like_go() {
    let env = Env::new();
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-i", archive.to_str().unwrap()]);

    // Lists as `[a b]`, maps as `map[k:v]`, as Go's text/template prints them.
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.Cmd}} {{.Config.Env}} {{.RepoTags}} {{.Config.Labels}}",
            "bb"
        ]),
        "[sh] [PATH=/bin] [localhost/bb:latest] map[org.example:yes]\n"
    );
    assert_eq!(
        env.ok(&["images", "--format", "{{.Names}} {{.Labels}} {{.Dangling}} {{range .Names}}<{{.}}>{{end}}"]),
        "[localhost/bb:latest] map[org.example:yes] false <localhost/bb:latest>\n"
    );

    // JSON keeps podman's field order, not sorted keys.
    let keys = |s: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(s.trim()).unwrap();
        let v = if v.is_array() { v[0].clone() } else { v };
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&env.ok(&["images", "--format", "{{json .}}"]))[..3], ["Id", "ParentId", "RepoTags"]);
    assert_eq!(keys(&env.ok(&["image", "inspect", "--format", "{{json .}}", "bb"]))[..3], ["Id", "Digest", "RepoTags"]);
    assert_eq!(keys(&env.ok(&["image", "inspect", "--format", "{{json .RootFS}}", "bb"])), ["Type", "Layers"]);
}

/// `import` keeps the tarball as given and labels the layer by what its
/// bytes are: plain, gzip or zstd (the saved OCI manifest says which), and
/// the image runs from every one of them.
#[test]
fn import_labels_the_layer_by_its_compression() {
    use std::io::Write as _;
    let env = Env::new();
    let tar = busybox_layer().clone();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    for (name, bytes, media_type) in [
        ("plain", tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        ("gz", gz.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("zst", zst, "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let file = env.path(&format!("{name}.tar"));
        std::fs::write(&file, &bytes).unwrap();
        env.ok(&["import", "-q", file.to_str().unwrap(), name]);
        let dir = env.path(&format!("{name}-oci"));
        env.ok(&["save", "--format", "oci-dir", "-o", dir.to_str().unwrap(), name]);
        let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let m = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(m)).unwrap()).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], media_type, "{name}");
        assert_eq!(manifest["layers"][0]["size"], bytes.len() as u64, "{name}: blob kept as given");
        assert_eq!(env.ok(&["run", "--rm", name, "echo", name]), format!("{name}\n"));
    }
}

/// A layer whose entry lives under an absolute symlink directory of the
/// image (`opt -> /usr/lib`): docker re-roots the link inside the image, so
/// the file lands in the image's own /usr/lib, with vfs and with overlay.
#[test]
fn entries_under_absolute_symlink_dirs_are_rerooted_on_both_drivers() {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data) in [
        ("usr/", tar::EntryType::Directory, &b""[..]),
        ("usr/lib/", tar::EntryType::Directory, b""),
        ("opt", tar::EntryType::Symlink, b""),
        ("opt/hello.txt", tar::EntryType::Regular, b"rerooted\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Regular { 0o644 } else { 0o755 });
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/usr/lib").unwrap();
        }
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }
    let layer = b.into_inner().unwrap();
    for driver in ["vfs", "overlay"] {
        let env = Env::new();
        let archive = env.path("abs.tar");
        write_oci_archive(&archive, Some("localhost/abs:1"), &[busybox_layer(), &layer], serde_json::json!({}));
        env.ok(&["--storage-driver", driver, "load", "-i", archive.to_str().unwrap()]);
        assert_eq!(
            env.ok(&[
                "--storage-driver",
                driver,
                "run",
                "--rm",
                "abs:1",
                "cat",
                "/usr/lib/hello.txt",
                "/opt/hello.txt"
            ]),
            "rerooted\nrerooted\n",
            "{driver}"
        );
        // Nothing landed on the host's /usr/lib.
        assert!(!std::path::Path::new("/usr/lib/hello.txt").exists());
    }
}

/// The image store is closed to other host users: `nobody` cannot walk
/// into it to read (or run) what images carry; stores made with open
/// directories by older versions are closed when next opened.
#[test]
fn other_users_cannot_enter_the_image_store() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    use std::os::unix::process::CommandExt as _;
    let env = Env::new();
    // Only berth's own modes may protect the store, not the test's tempdir.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    let root = &env.root;
    let dirs =
        [root.clone(), root.join("blobs"), root.join("blobs/sha256"), root.join("tmp"), root.join("image-records")];
    let config = root.join("blobs/sha256").join(&id);
    let nobody_reads = |path: &std::path::Path| {
        let o = std::process::Command::new("/bin/cat").arg(path).uid(65534).gid(65534).output().unwrap();
        (o.status.success(), stderr(&o))
    };
    for d in &dirs {
        assert_eq!(std::fs::metadata(d).unwrap().mode() & 0o7777, 0o700, "{}", d.display());
    }
    let (ok, err) = nobody_reads(&config);
    assert!(!ok && err.contains("Permission denied"), "nobody read the store: {err}");

    // As an older berth left it: open to everyone, and nobody gets in.
    for d in &dirs {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(nobody_reads(&config).0, "the open store is readable (the test's premise)");
    env.ok(&["images"]);
    for d in &dirs {
        assert_eq!(std::fs::metadata(d).unwrap().mode() & 0o7777, 0o700, "{} fixed on open", d.display());
    }
    let (ok, err) = nobody_reads(&config);
    assert!(!ok && err.contains("Permission denied"), "{err}");
}

/// An image is found as podman finds it, by each of its handles: full or
/// short ID (with or without `sha256:`), manifest digest, its names, and a
/// short name matching a name in any registry; among several images, the
/// one named.
#[test]
fn images_are_found_by_every_handle_podman_takes() {
    let env = Env::new();
    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let other = env.path("o.tar");
    let other_id = write_oci_archive(&other, Some("localhost/o:latest"), &[busybox_layer()], json!({"other": "1"}));
    env.ok(&["load", "-q", "-i", other.to_str().unwrap()]);
    assert_ne!(id, other_id);
    env.ok(&["tag", "bb", "quay.io/x/y:z"]);
    let digest = env.ok(&["image", "inspect", "--format", "{{.Digest}}", "bb"]).trim().to_string();
    let found = |handle: &str| env.ok(&["image", "inspect", "--format", "{{.Id}}", handle]).trim().to_string();
    for handle in [
        id.clone(),
        format!("sha256:{id}"),
        id[..12].to_string(),
        id[..5].to_string(),
        digest.clone(),
        digest.trim_start_matches("sha256:").to_string(),
        "bb".into(),
        "localhost/bb:latest".into(),
        "quay.io/x/y:z".into(),
        "y:z".into(),
    ] {
        assert_eq!(found(&handle), id, "{handle}");
    }
    assert_eq!(found("o"), other_id);
    env.fails(&["image", "inspect", "nosuch"], 125);
    env.fails(&["image", "inspect", "y:other"], 125);
}
