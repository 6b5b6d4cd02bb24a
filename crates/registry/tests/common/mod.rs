//! Test harness: a private `docker-registry` on 127.0.0.1 per test (own
//! port, own storage), and small test images built in a store by code.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use image::digest::Digest;
use image::manifest::media_types as mt;
use image::reference::Reference;
use image::store::Store;
use registry::Event;

#[allow(unused_imports)] // each test binary uses a different subset
pub use testkit::registry::{free_port, TestRegistry};

/// The registry's name for `repo_tag`, parsed.
pub trait RegistryRef {
    fn reference(&self, repo_tag: &str) -> Reference;
}

impl RegistryRef for TestRegistry {
    fn reference(&self, repo_tag: &str) -> Reference {
        Reference::parse(&self.name(repo_tag)).unwrap()
    }
}

pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

/// A layer tar holding `files` (path, content).
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub struct TestImage {
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
    pub manifest_bytes: Vec<u8>,
}

impl TestImage {
    pub fn blobs(&self) -> Vec<Digest> {
        std::iter::once(self.config.clone()).chain(self.layers.iter().cloned()).collect()
    }
}

/// Store an OCI image (two layers unique to `seed`, one config) for `arch`.
pub fn make_image(store: &Store, seed: &str, arch: &str) -> TestImage {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let layers_data = [
        layer_tar(&[("etc/seed", seed.as_bytes()), ("etc/arch", arch.as_bytes())]),
        layer_tar(&[("usr/share/big", &big), ("usr/share/seed", seed.as_bytes())]),
    ];
    let mut layers = Vec::new();
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for data in &layers_data {
        // Compressed as registries hold them: skopeo would otherwise
        // compress on copy and the blobs could not be compared.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        let (d, size) = store.put_bytes(&gz.finish().unwrap(), None).unwrap();
        layer_descs.push(serde_json::json!({"mediaType": mt::OCI_LAYER_GZIP, "digest": d.to_string(), "size": size}));
        layers.push(d);
        diff_ids.push(Digest::of_bytes(data).to_string());
    }
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = store.put_bytes(&serde_json::to_vec(&config).unwrap(), None).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_size},
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let (manifest_digest, _) = store.put_bytes(&manifest_bytes, None).unwrap();
    TestImage { manifest: manifest_digest, config: config_digest, layers, manifest_bytes }
}

/// Store an image and name it `name` in the store.
pub fn make_tagged_image(store: &Store, name: &str, seed: &str) -> TestImage {
    let img = make_image(store, seed, "amd64");
    store.tag(&Reference::parse(name).unwrap(), &img.manifest).unwrap();
    img
}

/// Collects progress events.
#[derive(Default)]
pub struct Events(std::cell::RefCell<Vec<Event>>);

impl Events {
    pub fn sink(&self) -> impl Fn(Event) + '_ {
        |e| self.0.borrow_mut().push(e)
    }
    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.0.borrow().iter().filter(|e| f(e)).count()
    }
    pub fn done(&self) -> usize {
        self.count(|e| matches!(e, Event::BlobDone { .. }))
    }
    pub fn skipped(&self) -> usize {
        self.count(|e| matches!(e, Event::BlobSkipped { .. }))
    }
    pub fn all(&self) -> Vec<Event> {
        self.0.borrow().clone()
    }
}

/// Insecure (http) options for the local test registry.
pub fn pull_opts() -> registry::PullOptions {
    registry::PullOptions { tls_verify: false, ..Default::default() }
}

pub fn push_opts() -> registry::PushOptions {
    registry::PushOptions { tls_verify: false, ..Default::default() }
}

/// Run skopeo with the host's policy ignored; returns stdout.
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").arg("--insecure-policy").args(args).output().expect("skopeo not installed");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Files under the store's blob directory (including temp files).
pub fn blob_dir_entries(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap()
}
