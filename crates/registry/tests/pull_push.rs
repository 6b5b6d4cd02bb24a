#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Pull and push against a real `docker-registry`, checked with skopeo.

mod common;

use std::fs;

use common::*;
use image::digest::Digest;
use image::manifest::{media_types as mt, PlatformSpec};
use image::reference::registries::RegistriesConf;
use image::reference::Reference;
use registry::{pull, push, Error, Event};

#[test]
fn push_then_pull_gives_identical_image_and_repush_uploads_nothing() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/app:1", "roundtrip");
    let dest = reg.reference("team/app:v1");

    let events = Events::default();
    let pushed =
        push(&src, &Reference::parse("localhost/app:1").unwrap(), &dest, &push_opts(), &events.sink()).unwrap();
    assert_eq!(pushed, img.manifest);
    assert_eq!(events.done(), 3, "{:?}", events.all());

    // Again: the registry has every blob, so nothing is uploaded.
    let again = Events::default();
    push(&src, &Reference::parse("localhost/app:1").unwrap(), &dest, &push_opts(), &again.sink()).unwrap();
    assert_eq!((again.done(), again.skipped()), (0, 3), "{:?}", again.all());

    let (_d2, dst) = new_store();
    let events = Events::default();
    let pulled = pull(&dst, &dest, &pull_opts(), &events.sink()).unwrap();
    assert_eq!(pulled, img.manifest);
    assert_eq!(events.done(), 3, "{:?}", events.all());
    assert!(events.count(|e| matches!(e, Event::BlobProgress { .. })) >= 3);
    // Downloads overlap: every blob starts before the first one finishes.
    let all = events.all();
    let last_start = all.iter().rposition(|e| matches!(e, Event::BlobStarted { .. })).unwrap();
    let first_done = all.iter().position(|e| matches!(e, Event::BlobDone { .. })).unwrap();
    assert!(last_start < first_done, "{all:?}");
    assert_eq!(dst.resolve(&dest).unwrap(), Some(img.manifest.clone()));
    assert_eq!(dst.get(&img.manifest).unwrap(), img.manifest_bytes);
    for blob in img.blobs() {
        assert_eq!(dst.get(&blob).unwrap(), src.get(&blob).unwrap(), "{blob}");
    }

    // Pulling what is already here transfers no blob but still tags.
    let again = Events::default();
    let other_name = reg.reference("team/app:v1");
    assert_eq!(pull(&dst, &other_name, &pull_opts(), &again.sink()).unwrap(), img.manifest);
    assert_eq!((again.done(), again.skipped()), (0, 3));

    // By digest: same content, no new name.
    let by_digest = dest.with_digest(img.manifest.clone());
    assert_eq!(pull(&dst, &by_digest, &pull_opts(), &|_| {}).unwrap(), img.manifest);
    assert_eq!(dst.images().unwrap().len(), 1);
}

#[test]
fn skopeo_sees_the_same_digest_and_blobs() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/sk:1", "skopeo");
    let dest = reg.reference("sk:latest");
    push(&src, &Reference::parse("localhost/sk:1").unwrap(), &dest, &push_opts(), &|_| {}).unwrap();

    let url = format!("docker://{}/sk:latest", reg.host());
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &url])).unwrap();
    assert_eq!(inspect["Digest"], img.manifest.to_string());

    let (_d2, dst) = new_store();
    let pulled = pull(&dst, &dest, &pull_opts(), &|_| {}).unwrap();
    assert_eq!(inspect["Digest"], pulled.to_string());

    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("oci");
    skopeo(&["copy", "--src-tls-verify=false", &url, &format!("oci:{}:sk", layout.display())]);
    let index: serde_json::Value = serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    assert_eq!(index["manifests"][0]["digest"], pulled.to_string());
    for blob in img.blobs().into_iter().chain([pulled]) {
        let theirs = read(&layout.join("blobs/sha256").join(blob.hex()));
        assert_eq!(theirs, dst.get(&blob).unwrap(), "{blob}");
    }
}

#[test]
fn corrupt_blob_in_registry_fails_and_leaves_nothing() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/bad:1", "corrupt");
    let dest = reg.reference("bad:1");
    push(&src, &Reference::parse("localhost/bad:1").unwrap(), &dest, &push_opts(), &|_| {}).unwrap();

    // Same size, different content: only the digest check can catch it.
    let victim = &img.layers[1];
    let path = reg.blob_data(victim);
    let mut data = read(&path);
    data[1000] ^= 0xff;
    fs::write(&path, data).unwrap();

    let (_d2, dst) = new_store();
    let err = pull(&dst, &dest, &pull_opts(), &|_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("digest mismatch") && msg.contains(victim.hex()), "{msg}");
    assert!(matches!(err, Error::DigestMismatch { .. } | Error::Image(image::Error::DigestMismatch { .. })), "{err:?}");
    assert!(!dst.exists(victim));
    assert!(!dst.exists(&img.manifest), "manifest stored although a blob failed");
    assert!(dst.images().unwrap().is_empty());
    for name in blob_dir_entries(&dst) {
        assert!(Digest::from_hex(&name).is_ok(), "stray file {name} left in the blob directory");
    }
}

#[test]
fn index_pull_selects_platform_and_stores_index() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let amd = make_image(&src, "multi", "amd64");
    let arm = make_image(&src, "multi", "arm64");
    let entry = |img: &TestImage, arch: &str| {
        serde_json::json!({"mediaType": mt::OCI_MANIFEST, "digest": img.manifest.to_string(),
            "size": img.manifest_bytes.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": mt::OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")]});
    let (index_digest, _) = src.put_bytes(&serde_json::to_vec(&index).unwrap(), None).unwrap();
    let local = Reference::parse("localhost/multi:1").unwrap();
    src.tag(&local, &index_digest).unwrap();
    let dest = reg.reference("multi:1");
    assert_eq!(push(&src, &local, &dest, &push_opts(), &|_| {}).unwrap(), index_digest);

    let (_d2, dst) = new_store();
    let opts = registry::PullOptions { platform: Some(PlatformSpec::parse("linux/arm64").unwrap()), ..pull_opts() };
    assert_eq!(pull(&dst, &dest, &opts, &|_| {}).unwrap(), arm.manifest);
    assert!(dst.exists(&index_digest));
    for blob in arm.blobs() {
        assert!(dst.exists(&blob));
    }
    assert!(!dst.exists(&amd.layers[0]), "other platform's layers were pulled");

    let url = format!("docker://{}/multi:1", reg.host());
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["--override-arch", "arm64", "inspect", "--tls-verify=false", &url])).unwrap();
    // skopeo's `Digest` for a tag is the top-level document (the index);
    // its platform choice is visible in the layers, which must be ours.
    assert_eq!(inspect["Digest"], index_digest.to_string());
    let layers: Vec<String> = arm.layers.iter().map(|d| d.to_string()).collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));
    let by_digest = format!("docker://{}/multi@{}", reg.host(), arm.manifest);
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &by_digest])).unwrap();
    assert_eq!(inspect["Digest"], arm.manifest.to_string());

    let opts = registry::PullOptions { platform: Some(PlatformSpec::parse("linux/s390x").unwrap()), ..pull_opts() };
    let e = pull(&dst, &dest, &opts, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("s390x") && e.contains("arm64"), "{e}");
}

#[test]
fn dead_mirror_falls_back_to_rewritten_primary() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/m:1", "mirror");
    push(&src, &Reference::parse("localhost/m:1").unwrap(), &reg.reference("lib/m:1"), &push_opts(), &|_| {}).unwrap();

    // `example.com` is only a name here: every endpoint is on 127.0.0.1.
    let dead = free_port();
    let conf = RegistriesConf::parse(&format!(
        "[[registry]]\nprefix = \"example.com\"\nlocation = \"{}/lib\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{dead}/lib\"\ninsecure = true\n",
        reg.host()
    ))
    .unwrap();
    let (_d2, dst) = new_store();
    let wanted = Reference::parse("example.com/m:1").unwrap();
    let events = Events::default();
    let opts = registry::PullOptions { registries_conf: Some(conf), ..Default::default() };
    assert_eq!(pull(&dst, &wanted, &opts, &events.sink()).unwrap(), img.manifest);
    assert_eq!(events.count(|e| matches!(e, Event::EndpointFailed { .. })), 1, "{:?}", events.all());
    // The user's name is what gets tagged, not the endpoint's.
    assert_eq!(dst.resolve(&wanted).unwrap(), Some(img.manifest));
}

#[test]
fn errors_before_network_and_for_unknown_images() {
    // Bad syntax is refused by the reference parser, before any request.
    for bad in ["127.0.0.1:5000/UPPER:x", "a//b", "x:tag:more", "x@sha256:zz"] {
        let e: Error = Reference::parse(bad).unwrap_err().into();
        assert!(e.to_string().contains("invalid reference"), "{bad}: {e}");
    }
    // A blocked registry: refused from registries.conf alone.
    let conf = RegistriesConf::parse("[[registry]]\nlocation = \"blocked.example\"\nblocked = true\n").unwrap();
    let (_d, store) = new_store();
    let opts = registry::PullOptions { registries_conf: Some(conf), ..Default::default() };
    let e = pull(&store, &Reference::parse("blocked.example/x").unwrap(), &opts, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("blocked"), "{e}");

    let reg = TestRegistry::start();
    let e = pull(&store, &reg.reference("nothing:here"), &pull_opts(), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let e = push(&store, &Reference::parse("localhost/none").unwrap(), &reg.reference("x"), &push_opts(), &|_| {})
        .unwrap_err();
    assert!(e.to_string().contains("not known"), "{e}");
    // Nothing listens on a fresh port: a transport error naming the registry.
    let nowhere = Reference::parse(&format!("127.0.0.1:{}/x:1", free_port())).unwrap();
    let e = pull(&store, &nowhere, &pull_opts(), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
}
