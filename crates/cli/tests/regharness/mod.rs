//! Registry harness for the `pull`/`push`/`login` tests: a private
//! `docker-registry` on 127.0.0.1 per test (own port, own storage), images
//! pushed byte-for-byte with the registry crate (so broken ones can be made),
//! and berth run with its own auth file and registries.conf, never the host's.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::io::Write;
use std::process::{Command, Output};

use image::digest::Digest;
use image::reference::Reference;
use image::store::Store;
use serde_json::json;

use crate::common::{stderr, stdout, Env};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[allow(unused_imports)] // each test binary uses a different subset
pub use testkit::registry::{free_port, TestRegistry};

/// berth with this test's auth file and registries.conf (an empty one
/// unless the test writes its own) and drop-in directory (empty unless the
/// test fills it), so the host's never matter: the host's drop-ins alias
/// short names such as `busybox` to Docker Hub.
pub fn berth(env: &Env, args: &[&str]) -> Command {
    let conf = env.path("registries.conf");
    if !conf.exists() {
        fs::write(&conf, "").unwrap();
    }
    let dropins = env.path("registries.conf.d");
    fs::create_dir_all(&dropins).unwrap();
    let mut c = env.cmd(args);
    c.env("REGISTRY_AUTH_FILE", env.path("auth.json"))
        .env("CONTAINERS_REGISTRIES_CONF", conf)
        .env("CONTAINERS_REGISTRIES_CONF_DIR", dropins)
        .env("HOME", env.path("home"))
        .env_remove("REGISTRIES_CONFIG_PATH");
    c
}

pub fn run(env: &Env, args: &[&str]) -> Output {
    berth(env, args).output().expect("running berth")
}

/// Success expected; returns (stdout, stderr).
pub fn ok(env: &Env, args: &[&str]) -> (String, String) {
    let o = run(env, args);
    assert!(o.status.success(), "berth {args:?} failed ({:?}): {}", o.status.code(), stderr(&o));
    (stdout(&o), stderr(&o))
}

/// Failure with exit 125 and exactly one line on stderr, `Error: ...`.
pub fn fails(env: &Env, args: &[&str]) -> String {
    let o = run(env, args);
    assert_eq!(o.status.code(), Some(125), "berth {args:?}: stdout {} stderr {}", stdout(&o), stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("Error: ") && e.trim_end().lines().count() == 1, "want one error line, got {e:?}");
    assert_eq!(stdout(&o), "", "berth {args:?} printed on stdout after failing");
    e
}

/// Every file under the store's blob directory (temp files too).
pub fn blob_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(env.root.join("blobs/sha256")) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// One layer blob as pushed: its bytes, diff_id (uncompressed digest) and media type.
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: Digest,
    pub media_type: &'static str,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer { diff_id: Digest::of_bytes(&tar), blob: tar, media_type: LAYER_TAR }
    }

    pub fn gzip(tar: &[u8]) -> Layer {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(tar).unwrap();
        Layer { blob: gz.finish().unwrap(), diff_id: Digest::of_bytes(tar), media_type: LAYER_GZIP }
    }
}

/// An image built blob by blob in a scratch store (nothing checks the
/// layers' content, so hostile ones can be made).
pub struct Built {
    _dir: tempfile::TempDir,
    pub store: Store,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
    pub manifest_bytes: Vec<u8>,
}

pub fn build_image(layers: &[Layer], arch: &str) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let (manifest, config, digests, manifest_bytes) = put_image(&store, layers, arch);
    Built { _dir: dir, store, manifest, config, layers: digests, manifest_bytes }
}

/// Store an image's blobs and manifest; returns (manifest, config, layers, manifest bytes).
pub fn put_image(store: &Store, layers: &[Layer], arch: &str) -> (Digest, Digest, Vec<Digest>, Vec<u8>) {
    let mut descs = Vec::new();
    let mut digests = Vec::new();
    for l in layers {
        let (d, size) = store.put_bytes(&l.blob, None).unwrap();
        descs.push(json!({"mediaType": l.media_type, "digest": d.to_string(), "size": size}));
        digests.push(d);
    }
    let config = json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let (config, config_size) = store.put_bytes(&serde_json::to_vec(&config).unwrap(), None).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.to_string(), "size": config_size},
        "layers": descs,
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (m, _) = store.put_bytes(&bytes, None).unwrap();
    (m, config, digests, bytes)
}

/// Push what `digest` is in `store` to the registry as `repo_tag`, unchanged.
pub fn push_raw(store: &Store, digest: &Digest, reg: &TestRegistry, repo_tag: &str) {
    let local = Reference::parse(&format!("localhost/scratch@{digest}")).unwrap();
    let dest = Reference::parse(&reg.name(repo_tag)).unwrap();
    let opts = registry::PushOptions { tls_verify: false, ..Default::default() };
    registry::push(store, &local, &dest, &opts, &|_| {}).unwrap();
}

/// A tar with one entry whose name is written as given (the tar crate
/// refuses `..` through its normal API, which is the point of the test).
pub fn raw_tar_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

/// `skopeo inspect` of a tag in the test registry.
pub fn skopeo_inspect(reference: &str, extra: &[&str]) -> serde_json::Value {
    let o = Command::new("skopeo")
        .args(extra)
        .args(["inspect", "--tls-verify=false", &format!("docker://{reference}")])
        .output()
        .expect("skopeo not installed");
    assert!(o.status.success(), "skopeo inspect {reference}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}
