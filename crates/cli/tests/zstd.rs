//! zstd-compressed layers written by a real peer (skopeo, containers/image)
//! through `berth load`, `save` and `pull`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use image::digest::Digest;
use regharness::{TestRegistry, OCI_CONFIG, OCI_MANIFEST};
use serde_json::{json, Value};

const SKOPEO: &str = "/usr/bin/skopeo";
const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// skopeo is the peer: a machine without it fails loudly (scripts/install.sh installs it).
fn skopeo(args: &[&str]) {
    assert!(Path::new(SKOPEO).exists(), "{SKOPEO} is missing: apt-get install skopeo");
    let o = Command::new(SKOPEO).arg("--insecure-policy").args(args).output().expect("running skopeo");
    assert!(o.status.success(), "skopeo {args:?} failed: {}", stderr(&o));
}

/// Every regular file of a tar, by path.
fn tar_members(path: &Path) -> HashMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = HashMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().to_string_lossy().trim_start_matches("./").to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(name, data);
        }
    }
    out
}

/// The one image manifest of an OCI archive's members.
fn oci_manifest(members: &HashMap<String, Vec<u8>>) -> Value {
    let index: Value = serde_json::from_slice(&members["index.json"]).unwrap();
    let digest = Digest::parse(index["manifests"][0]["digest"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&members[&format!("blobs/sha256/{}", digest.hex())]).unwrap()
}

fn blob<'a>(members: &'a HashMap<String, Vec<u8>>, digest: &Value) -> &'a [u8] {
    let d = Digest::parse(digest.as_str().unwrap()).unwrap();
    &members[&format!("blobs/sha256/{}", d.hex())]
}

/// The busybox test image as an oci-archive recompressed by skopeo with
/// zstd, named `name`; returns the archive and its (zstd) layer blob. Panics
/// if skopeo did not actually write zstd.
fn skopeo_zstd_archive(env: &Env, name: &str) -> (PathBuf, Vec<u8>) {
    let (plain, _) = busybox_archive(env, "plain.tar", "localhost/plain:1");
    let out = env.path("zstd.tar");
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-compress-format",
        "zstd",
        &format!("oci-archive:{}", plain.display()),
        &format!("oci-archive:{}:{name}", out.display()),
    ]);
    let members = tar_members(&out);
    let m = oci_manifest(&members);
    let layer = &m["layers"][0];
    assert_eq!(layer["mediaType"], LAYER_ZSTD, "skopeo did not write a zstd layer: {m}");
    let data = blob(&members, &layer["digest"]).to_vec();
    assert_eq!(data[..4], ZSTD_MAGIC, "skopeo's zstd layer does not start with the zstd magic");
    (out, data)
}

/// The unpacked layer directory of a single-layer image (chain ID = diff_id).
fn layer_diff(env: &Env, diff_id: &Digest) -> PathBuf {
    assert_eq!(env.layer_dirs(), [diff_id.hex()], "one layer, named by its diff_id");
    ["overlay", "vfs"]
        .iter()
        .map(|d| env.root.join(d).join("layers").join(diff_id.hex()).join("diff"))
        .find(|p| p.is_dir())
        .expect("the layer's diff directory")
}

fn assert_busybox_unpacked(env: &Env) {
    let diff = layer_diff(env, &Digest::of_bytes(busybox_layer()));
    assert_eq!(
        std::fs::read(diff.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap(),
        "bin/busybox unpacked from the zstd layer"
    );
    assert_eq!(std::fs::read_link(diff.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert!(std::fs::read_to_string(diff.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
}

#[test]
fn skopeo_zstd_archive_loads_unpacks_and_saves() {
    let env = Env::new();
    let (archive, zstd_blob) = skopeo_zstd_archive(&env, "localhost/bbz:1");
    assert_eq!(env.ok(&["load", "-i", archive.to_str().unwrap()]), "Loaded image: localhost/bbz:1\n");
    assert_busybox_unpacked(&env);
    let diff_id = Digest::of_bytes(busybox_layer());

    // docker-archive (the default): the layer decompressed, named and checked by diff_id.
    let docker = env.path("docker.tar");
    env.ok(&["save", "-o", docker.to_str().unwrap(), "bbz:1"]);
    let members = tar_members(&docker);
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let name = format!("{}.tar", diff_id.hex());
    assert_eq!(manifest[0]["Layers"], json!([name]));
    let layer = &members[&name];
    assert_eq!(Digest::of_bytes(layer), diff_id, "the saved layer is the uncompressed tar");
    let mut paths = Vec::new();
    for e in tar::Archive::new(&layer[..]).entries().unwrap() {
        paths.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(paths.iter().any(|p| p.trim_start_matches("./") == "bin/busybox"), "{paths:?}");

    // oci-archive keeps skopeo's zstd blob byte for byte, and skopeo reads it back.
    let oci = env.path("oci.tar");
    env.ok(&["save", "--format", "oci-archive", "-o", oci.to_str().unwrap(), "bbz:1"]);
    let members = tar_members(&oci);
    let m = oci_manifest(&members);
    assert_eq!(m["layers"][0]["mediaType"], LAYER_ZSTD);
    assert_eq!(blob(&members, &m["layers"][0]["digest"]), &zstd_blob[..]);
    skopeo(&["inspect", &format!("oci-archive:{}", oci.display())]);

    // And the docker archive loads into a fresh root: the same files.
    let again = Env::new();
    again.ok(&["load", "-i", docker.to_str().unwrap()]);
    assert_busybox_unpacked(&again);
}

/// An oci-archive whose one layer is `layer` (described as zstd) and whose
/// config says `diff_id`.
fn write_zstd_oci_archive(out: &Path, layer: &[u8], diff_id: &Digest) {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let cd = Digest::of_bytes(&config);
    let ld = Digest::of_bytes(layer);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": LAYER_ZSTD, "digest": ld.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let md = Digest::of_bytes(&manifest);
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST,
        "digest": md.to_string(), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "localhost/cut:1"}}]}))
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (path, data) in [
        ("oci-layout".to_string(), &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        ("index.json".to_string(), &index[..]),
        (format!("blobs/sha256/{}", md.hex()), &manifest[..]),
        (format!("blobs/sha256/{}", cd.hex()), &config[..]),
        (format!("blobs/sha256/{}", ld.hex()), layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn truncated_zstd_layer_fails_load_with_one_line_and_leaves_nothing() {
    let env = Env::new();
    let (_, zstd_blob) = skopeo_zstd_archive(&env, "localhost/bbz:1");
    let diff_id = Digest::of_bytes(busybox_layer());
    // The blob's digest matches the manifest: only decompression can tell.
    for (what, cut) in [("half", zstd_blob.len() / 2), ("last bytes", zstd_blob.len() - 3)] {
        let archive = env.path(&format!("cut-{}.tar", cut));
        write_zstd_oci_archive(&archive, &zstd_blob[..cut], &diff_id);
        let e = env.fails(&["load", "-i", archive.to_str().unwrap()], 125);
        assert!(e.contains("truncated zstd stream"), "{what}: {e}");
        assert_eq!(env.ok(&["images", "-q"]), "", "{what}: nothing tagged");
        assert!(env.layer_dirs().is_empty(), "{what}: no layer left: {:?}", env.layer_dirs());
    }
}

#[test]
fn pull_of_an_image_skopeo_pushed_with_zstd() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let (archive, zstd_blob) = skopeo_zstd_archive(&env, "localhost/bbz:1");
    let name = reg.name("bbz:1");
    // Copy the zstd archive as is (no recompression) to the registry.
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker://{name}"),
    ]);
    let o = Command::new(SKOPEO)
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("running skopeo");
    assert!(o.status.success(), "skopeo inspect --raw {name}: {}", stderr(&o));
    let remote: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(remote["layers"][0]["mediaType"], LAYER_ZSTD, "{remote}");
    assert_eq!(remote["layers"][0]["digest"], Digest::of_bytes(&zstd_blob).to_string().as_str());

    let dst = Env::new();
    let (_, err) = regharness::ok(&dst, &["pull", "--tls-verify=false", &name]);
    assert!(err.contains("Writing manifest to image destination"), "{err}");
    assert_busybox_unpacked(&dst);
    assert!(dst.root.join("blobs/sha256").join(Digest::of_bytes(&zstd_blob).hex()).is_file(), "zstd blob stored as is");
}

// ---- crash leftovers (the store sweep that came with this work) ----

fn staging_dirs(env: &Env) -> Vec<PathBuf> {
    match std::fs::read_dir(env.root.join("tmp")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn leftovers_of_a_killed_load_are_swept_by_a_later_command() {
    use std::io::Write as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let env = Env::new();
    let (archive, _) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    let data = std::fs::read(&archive).unwrap();
    // A load from stdin that gets half the archive, then SIGKILL.
    let mut child =
        env.cmd(&["load"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    child.stdin.as_mut().unwrap().write_all(&data[..data.len() / 2]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while staging_dirs(&env).is_empty() {
        assert!(Instant::now() < deadline, "berth load made no staging dir");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = staging_dirs(&env);
    assert_eq!(left.len(), 1, "{left:?}");
    // And what a writer killed mid-blob leaves.
    let tmp_blob = env.root.join("blobs/sha256/.tmp-killed");
    std::fs::write(&tmp_blob, b"half a blob").unwrap();

    // Nobody holds their lock: the next command removes them, however recent.
    env.ok(&["images"]);
    assert!(staging_dirs(&env).is_empty(), "{:?}", staging_dirs(&env));
    assert!(!tmp_blob.exists());
    // The store still works.
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(env.ok(&["images", "--format", "{{.Repository}}"]), "localhost/bb\n");
}
