//! Bad input for `pull`, `push` and `login`: every case fails with one
//! `Error:` line and exit 125, and leaves the store as it was (same images,
//! same blobs, same layers, no name for the failed image) and nothing
//! written outside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use std::process::Command;

use common::{tar_file, write_oci_archive, Env};
use regharness::*;

/// A store holding one small image, and what it looked like.
struct Baseline {
    images: String,
    blobs: Vec<String>,
    layers: Vec<String>,
}

fn env_with_image() -> (Env, Baseline) {
    let env = Env::new();
    let archive = env.path("base.tar");
    write_oci_archive(&archive, Some("localhost/base:1"), &[&tar_file("base", b"base")], serde_json::json!({}));
    ok(&env, &["load", "-i", archive.to_str().unwrap()]);
    let b = snapshot(&env);
    (env, b)
}

fn snapshot(env: &Env) -> Baseline {
    Baseline {
        images: ok(env, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).0,
        blobs: blob_files(env),
        layers: env.layer_dirs(),
    }
}

fn assert_intact(env: &Env, before: &Baseline, host: &str) {
    let now = snapshot(env);
    assert_eq!(now.images, before.images, "images changed");
    assert_eq!(now.blobs, before.blobs, "blobs left behind");
    assert_eq!(now.layers, before.layers, "layers left behind");
    let names = std::fs::read_to_string(env.root.join("images.json")).unwrap_or_default();
    assert!(!names.contains(host), "a name for the failed pull is left: {names}");
}

/// A good one-layer image in the registry as `repo_tag`.
fn push_good(reg: &TestRegistry, repo_tag: &str) -> Built {
    let img = build_image(&[Layer::gzip(&tar_file("hello", b"world"))], "amd64");
    push_raw(&img.store, &img.manifest, reg, repo_tag);
    img
}

fn pull_fails(env: &Env, name: &str) -> String {
    fails(env, &["pull", "-q", "--tls-verify=false", name])
}

#[test]
fn registry_refusing_auth_for_pull_and_push() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let (env, before) = env_with_image();
    let name = reg.name("base:1");
    let e = pull_fails(&env, &name);
    assert!(e.contains("authentication required"), "{e}");
    let e = fails(&env, &["pull", "-q", "--tls-verify=false", "--creds", "alice:wrong", &name]);
    assert!(e.contains("unauthorized"), "{e}");
    let e = fails(&env, &["push", "-q", "--tls-verify=false", "base:1", &name]);
    assert!(e.contains("authentication required"), "{e}");
    let e = fails(&env, &["push", "-q", "--tls-verify=false", "--creds", "alice:wrong", "base:1", &name]);
    assert!(e.contains("unauthorized"), "{e}");
    assert_intact(&env, &before, &reg.host());
    // The right password works, so the failures above were about auth.
    ok(&env, &["push", "-q", "--tls-verify=false", "--creds", "alice:s3cret", "base:1", &name]);
}

#[test]
fn wrong_password_at_login_saves_nothing() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let auth = env.path("auth-file.json");
    let e = fails(
        &env,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            auth.to_str().unwrap(),
            "-u",
            "alice",
            "-p",
            "nope",
            &reg.host(),
        ],
    );
    assert!(e.contains("invalid username/password"), "{e}");
    assert!(!auth.exists(), "credentials saved although refused");
    let e =
        fails(&env, &["login", "--tls-verify=false", "-u", "alice", "-p", "x", &format!("127.0.0.1:{}", free_port())]);
    assert!(e.contains("Connection refused") || e.contains("connect"), "{e}");
    assert!(!env.path("auth.json").exists());
}

#[test]
fn corrupted_blob_in_the_registry() {
    let reg = TestRegistry::start();
    let img = push_good(&reg, "x:1");
    let path = reg.blob_data(&img.layers[0]);
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last / 2] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    let (env, before) = env_with_image();
    let e = pull_fails(&env, &reg.name("x:1"));
    assert!(e.contains("digest mismatch") || e.contains("Digest did not match"), "{e}");
    assert_intact(&env, &before, &reg.host());
}

/// Nothing named `pwned` anywhere under the test's directory but the registry.
fn assert_no_escape(env: &Env) {
    let out = Command::new("find").arg(env.dir.path()).args(["-name", "pwned"]).output().unwrap();
    assert_eq!(common::stdout(&out), "", "a layer wrote outside its directory");
}

#[test]
fn layer_escaping_with_dot_dot() {
    let reg = TestRegistry::start();
    let (env, before) = env_with_image();
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = format!("{}{}/pwned", "../".repeat(12), outside.display());
    let img = build_image(&[Layer::plain(raw_tar_entry(&target, b"escaped"))], "amd64");
    push_raw(&img.store, &img.manifest, &reg, "evil:dotdot");
    let e = pull_fails(&env, &reg.name("evil:dotdot"));
    assert!(e.contains(".."), "{e}");
    assert_no_escape(&env);
    assert_intact(&env, &before, &reg.host());
}

#[test]
fn layer_escaping_through_a_symlink() {
    let reg = TestRegistry::start();
    let (env, before) = env_with_image();
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "link", &outside).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    b.append_data(&mut h, "link/pwned", &b"escaped"[..]).unwrap();
    let img = build_image(&[Layer::plain(b.into_inner().unwrap())], "amd64");
    push_raw(&img.store, &img.manifest, &reg, "evil:symlink");
    let e = pull_fails(&env, &reg.name("evil:symlink"));
    assert!(e.contains("link"), "{e}");
    assert_no_escape(&env);
    assert_intact(&env, &before, &reg.host());
}

#[test]
fn truncated_gzip_layer() {
    let reg = TestRegistry::start();
    let (env, before) = env_with_image();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut layer = Layer::gzip(&tar_file("big", &big));
    layer.blob.truncate(layer.blob.len() / 2);
    let img = build_image(&[layer], "amd64");
    push_raw(&img.store, &img.manifest, &reg, "trunc:1");
    let e = pull_fails(&env, &reg.name("trunc:1"));
    assert!(e.contains("unpacking layer"), "{e}");
    assert_intact(&env, &before, &reg.host());
}

/// PUT a manifest as is, bypassing every client-side check.
fn curl_put_manifest(reg: &TestRegistry, tag: &str, content_type: &str, body: &str) -> String {
    let url = format!("http://{}/v2/odd/manifests/{tag}", reg.host());
    let o = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {content_type}"))
        .args(["--data-binary", body, &url])
        .output()
        .expect("curl is installed");
    common::stdout(&o)
}

#[test]
fn manifest_with_unknown_media_types() {
    let reg = TestRegistry::start();
    let good = push_good(&reg, "odd:good");
    let manifest: serde_json::Value = serde_json::from_slice(&good.manifest_bytes).unwrap();

    // An unknown manifest type itself: docker-registry refuses to store it
    // (400), so no client can be served one from here.
    let mut bogus = manifest.clone();
    bogus["mediaType"] = "application/vnd.example.bogus+json".into();
    let code = curl_put_manifest(&reg, "top", "application/vnd.example.bogus+json", &bogus.to_string());
    assert_eq!(code, "400");

    // It does store an image manifest whose config or layer types are unknown
    // (an OCI artifact): berth must refuse to treat that as an image.
    let mut artifact = manifest.clone();
    artifact["config"]["mediaType"] = "application/vnd.example.bogus.config+json".into();
    assert_eq!(curl_put_manifest(&reg, "config", OCI_MANIFEST, &artifact.to_string()), "201");
    let mut odd_layer = manifest;
    odd_layer["layers"][0]["mediaType"] = "application/vnd.example.bogus.layer".into();
    assert_eq!(curl_put_manifest(&reg, "layer", OCI_MANIFEST, &odd_layer.to_string()), "201");

    let (env, before) = env_with_image();
    let e = pull_fails(&env, &reg.name("odd:config"));
    assert!(e.contains("unsupported media type application/vnd.example.bogus.config+json"), "{e}");
    let e = pull_fails(&env, &reg.name("odd:layer"));
    assert!(e.contains("application/vnd.example.bogus.layer"), "{e}");
    assert_intact(&env, &before, &reg.host());
}

#[test]
fn reference_with_bad_syntax() {
    let (env, before) = env_with_image();
    for bad in ["127.0.0.1:5000/UPPER:x", "a//b", "127.0.0.1:5000/x:tag:more", "x@sha256:zz", ""] {
        let e = pull_fails(&env, bad);
        assert!(e.contains("invalid reference"), "{bad}: {e}");
    }
    let e = fails(&env, &["push", "-q", "base:1", "docker://127.0.0.1:5000/Bad"]);
    assert!(e.contains("invalid reference"), "{e}");
    // A short name with no search registries configured (empty registries.conf).
    let e = pull_fails(&env, "busybox");
    assert_eq!(
        e,
        format!(
            "Error: short-name \"busybox\" did not resolve to an alias and no unqualified-search registries are defined in {:?}\n",
            env.path("registries.conf").display().to_string()
        )
    );
    let e = fails(&env, &["pull", "--platform", "linux", "127.0.0.1:5000/x"]);
    assert!(e.contains("platform"), "{e}");
    assert_intact(&env, &before, "127.0.0.1:5000");
}

#[test]
fn unreachable_registry() {
    let (env, before) = env_with_image();
    let host = format!("127.0.0.1:{}", free_port());
    let name = format!("{host}/x:1");
    let e = pull_fails(&env, &name);
    assert!(e.contains("Connection refused") || e.contains("connect"), "{e}");
    let e = fails(&env, &["push", "-q", "--tls-verify=false", "base:1", &name]);
    assert!(e.contains("Connection refused") || e.contains("connect"), "{e}");
    // Without -q the progress line comes first, then the one error line.
    let o = run(&env, &["pull", "--tls-verify=false", &name]);
    assert_eq!(o.status.code(), Some(125));
    let err = common::stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0], format!("Trying to pull {name}..."));
    assert!(lines[1].starts_with("Error: "), "{err}");
    assert_intact(&env, &before, &host);
}
