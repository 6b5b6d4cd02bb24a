#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop with skopeo (containers/image): archives we write must be readable
//! by it, and archives it writes readable by us.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use flate2::write::GzEncoder;
use image::archive::{self, ArchiveImage, Format};
use image::digest::Digest;
use image::manifest::{diff_ids, parse_config, Manifest};
use image::reference::Reference;
use image::store::Store;
use serde_json::json;

const SKOPEO: &str = "/usr/bin/skopeo";

/// skopeo is the reference implementation we check against: a machine
/// without it fails these tests loudly (scripts/install.sh installs it).
fn skopeo() -> Command {
    assert!(Path::new(SKOPEO).exists(), "{SKOPEO} is missing: apt-get install skopeo");
    let mut c = Command::new(SKOPEO);
    c.arg("--insecure-policy");
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn layer_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "hello.txt", content).unwrap();
    b.into_inner().unwrap()
}

/// A two-layer image with gzip'd layers; returns (manifest, config digest, diff_ids).
fn make_image(store: &Store, seed: &str) -> (Digest, Digest, Vec<Digest>) {
    let mut layers = Vec::new();
    let mut ids = Vec::new();
    for i in 0..2 {
        let tar = layer_tar(format!("{seed}-{i}").as_bytes());
        ids.push(Digest::of_bytes(&tar));
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&tar).unwrap();
        let (d, n) = store.put_bytes(&e.finish().unwrap(), None).unwrap();
        layers.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d.to_string(), "size": n}),
        );
    }
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}});
    let (cd, cn) = store.put_bytes(&serde_json::to_vec(&config).unwrap(), None).unwrap();
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
        "layers": layers});
    let (md, _) = store.put_bytes(&serde_json::to_vec(&manifest).unwrap(), None).unwrap();
    (md, cd, ids)
}

fn config_digest_of(raw_manifest: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(raw_manifest).unwrap();
    v["config"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn skopeo_reads_our_archives() {
    skopeo();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let (m, cd, _) = make_image(&store, "ours");
    let images = [ArchiveImage::new(Some(Reference::parse("example.com/ours:1").unwrap()), m.clone())];

    let oci = dir.path().join("oci.tar");
    archive::save(&store, &images, Format::OciArchive, &oci).unwrap();
    let mut c = skopeo();
    c.args(["inspect", "--raw", &format!("oci-archive:{}", oci.display())]);
    let raw = run(c);
    assert_eq!(config_digest_of(&raw), cd.to_string());
    assert_eq!(Digest::of_bytes(raw.as_bytes()), m, "skopeo sees our manifest bytes");

    let docker = dir.path().join("docker.tar");
    archive::save(&store, &images, Format::DockerArchive, &docker).unwrap();
    let mut c = skopeo();
    c.args(["inspect", "--raw", &format!("docker-archive:{}", docker.display())]);
    assert_eq!(config_digest_of(&run(c)), cd.to_string());
    let mut c = skopeo();
    c.args(["inspect", &format!("docker-archive:{}", docker.display())]);
    let info: serde_json::Value = serde_json::from_str(&run(c)).unwrap();
    assert_eq!(info["Architecture"], "amd64");
}

#[test]
fn we_read_skopeo_copy_output() {
    skopeo();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let (m, cd, ids) = make_image(&store, "theirs");
    let layout = dir.path().join("layout");
    let images = [ArchiveImage::new(Some(Reference::parse("localhost/theirs:2").unwrap()), m)];
    archive::save(&store, &images, Format::OciDir, &layout).unwrap();

    let out = dir.path().join("copied.tar");
    let mut c = skopeo();
    c.args([
        "copy",
        "--quiet",
        &format!("oci:{}", layout.display()),
        &format!("docker-archive:{}:localhost/theirs:2", out.display()),
    ]);
    run(c);

    let fresh = Store::open(dir.path().join("fresh")).unwrap();
    let loaded = archive::load(&out, &fresh).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].reference.as_ref().unwrap().to_string(), "localhost/theirs:2");
    let Manifest::Image(_, man) = Manifest::parse(&fresh.get(&loaded[0].manifest).unwrap(), None).unwrap() else {
        panic!("not an image manifest")
    };
    let config_digest = Digest::try_from(man.config().digest()).unwrap();
    assert_eq!(config_digest, cd, "config bytes preserved through skopeo");
    assert_eq!(diff_ids(&parse_config(&fresh.get(&config_digest).unwrap()).unwrap()).unwrap(), ids);

    // And skopeo's oci-archive output loads too.
    let oci = dir.path().join("copied-oci.tar");
    let mut c = skopeo();
    c.args(["copy", "--quiet", &format!("oci:{}", layout.display()), &format!("oci-archive:{}", oci.display())]);
    run(c);
    let fresh2 = Store::open(dir.path().join("fresh2")).unwrap();
    let loaded = archive::load(&oci, &fresh2).unwrap();
    assert_eq!(loaded.len(), 1);
}
