//! One image, one ID: an image is its config digest, whatever manifests it
//! came under (a registry's, a docker-archive's, an oci-archive's), as in
//! podman. Pulled, saved and loaded back in both formats, it lists once;
//! `rmi ID` removes it and everything it brought.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use std::fs;

use common::{busybox_layer, Env};
use regharness::*;
use serde_json::Value;

/// A registry serving a busybox image with a gzip'd layer (so a
/// docker-archive, which holds only uncompressed layers, gets another
/// manifest digest for it). Returns (registry, name, image ID, manifest).
fn registry_with_busybox() -> (TestRegistry, String, String, String) {
    let reg = TestRegistry::start();
    let built = build_image(&[Layer::gzip(busybox_layer())], "amd64");
    push_raw(&built.store, &built.manifest, &reg, "bb:1");
    let name = reg.name("bb:1");
    (reg, name, built.config.hex().to_string(), built.manifest.to_string())
}

fn inspect(env: &Env, name: &str) -> Value {
    serde_json::from_str::<Value>(&ok(env, &["image", "inspect", name]).0).unwrap()[0].clone()
}

/// Every file left under the store's record directory.
fn record_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(env.root.join("image-records")) {
        Ok(rd) => {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".json")).collect()
        }
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn names_in_index(env: &Env) -> usize {
    let text = fs::read_to_string(env.root.join("images.json")).unwrap_or_else(|_| "{}".into());
    let v: Value = serde_json::from_str(&text).unwrap();
    v["images"].as_object().map_or(0, |m| m.len())
}

#[test]
fn pull_save_and_load_both_formats_list_one_id_and_rmi_leaves_nothing() {
    let (_reg, name, id, pulled) = registry_with_busybox();
    let env = Env::new();
    assert_eq!(ok(&env, &["pull", "-q", "--tls-verify=false", &name]).0, format!("{id}\n"));
    let docker = env.path("d.tar");
    let oci = env.path("o.tar");
    ok(&env, &["save", "-o", docker.to_str().unwrap(), &name]);
    ok(&env, &["save", "--format", "oci-archive", "-o", oci.to_str().unwrap(), &name]);

    let rows = |env: &Env| ok(env, &["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]).0;
    let want = format!("{} {name}\n", &id[..12]);
    for archive in [&docker, &oci] {
        let (out, _) = ok(&env, &["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out, format!("Loaded image: {name}\n"));
        assert_eq!(rows(&env), want, "after loading {}", archive.display());
        assert_eq!(ok(&env, &["images", "-a", "-q", "--no-trunc"]).0, format!("sha256:{id}\n"));
    }
    assert_eq!(record_files(&env), [format!("{id}.json")]);

    // Every manifest it came under is one of its RepoDigests.
    let i = inspect(&env, &name);
    assert_eq!(i["Id"], id.as_str());
    let repo_digests: Vec<&str> = i["RepoDigests"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(repo_digests.len(), 2, "{repo_digests:?}");
    let repo = name.rsplit_once(':').unwrap().0;
    assert!(repo_digests.contains(&format!("{repo}@{pulled}").as_str()), "{repo_digests:?}");
    let mut sorted = repo_digests.clone();
    sorted.sort();
    assert_eq!(repo_digests, sorted, "podman sorts RepoDigests");
    // Any of its manifest digests finds it.
    let other = repo_digests.iter().find(|d| !d.ends_with(&pulled)).unwrap().split('@').nth(1).unwrap().to_string();
    assert_eq!(inspect(&env, &other)["Id"], id.as_str());

    // A fresh store loading both formats: one image too.
    let fresh = Env::new();
    ok(&fresh, &["load", "-i", docker.to_str().unwrap()]);
    ok(&fresh, &["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(rows(&fresh), want);

    // `rmi ID` removes it with its name, and leaves nothing behind.
    for e in [&env, &fresh] {
        assert_eq!(ok(e, &["rmi", &id[..12]]).0, format!("Untagged: {name}\nDeleted: {id}\n"));
        assert_eq!(ok(e, &["images", "-a", "-q"]).0, "");
        assert_eq!(blob_files(e), Vec::<String>::new(), "blobs left");
        assert_eq!(e.layer_dirs(), Vec::<String>::new(), "layers left");
        assert_eq!(record_files(e), Vec::<String>::new(), "records left");
        assert_eq!(names_in_index(e), 0, "names left");
        // Gone means gone: a second rmi does not pretend.
        assert_eq!(run(e, &["rmi", &id]).status.code(), Some(1));
    }
}

#[test]
fn rmi_by_name_untags_until_the_last_name_and_prune_lists_only_what_it_removed() {
    let (_reg, name, id, _) = registry_with_busybox();
    let env = Env::new();
    ok(&env, &["pull", "-q", "--tls-verify=false", &name]);
    ok(&env, &["tag", &name, "second:1"]);
    // By ID with two names: podman's refusal, exit 125.
    let e = fails(&env, &["rmi", &id]);
    assert_eq!(
        e,
        format!(
            "Error: unable to delete image \"{id}\" by ID with more than one tag ([{name} localhost/second:1]): please force removal\n"
        )
    );
    assert_eq!(ok(&env, &["rmi", "second:1"]).0, "Untagged: localhost/second:1\n");
    assert_eq!(ok(&env, &["images", "-q", "--no-trunc"]).0, format!("sha256:{id}\n"));
    // Nothing dangling: prune removes and lists nothing.
    assert_eq!(ok(&env, &["image", "prune", "-f"]).0, "");
    assert_eq!(ok(&env, &["images", "-q", "--no-trunc"]).0, format!("sha256:{id}\n"));
    // The last name goes with the image.
    assert_eq!(ok(&env, &["rmi", &name]).0, format!("Untagged: {name}\nDeleted: {id}\n"));
    assert_eq!(blob_files(&env), Vec::<String>::new());
    // `rmi -a` takes images with several names too, as podman does.
    ok(&env, &["pull", "-q", "--tls-verify=false", &name]);
    ok(&env, &["tag", &name, "second:1"]);
    assert_eq!(ok(&env, &["rmi", "-a"]).0, format!("Untagged: {name}\nUntagged: localhost/second:1\nDeleted: {id}\n"));
    assert_eq!(env.layer_dirs(), Vec::<String>::new());
}

/// A store written before images were keyed by ID (one record per
/// manifest, layers held per manifest) is converted when opened: one image,
/// and removing it releases the old holds so its layers go too.
#[test]
fn stores_with_records_per_manifest_are_converted() {
    let (_reg, name, id, _) = registry_with_busybox();
    let env = Env::new();
    ok(&env, &["pull", "-q", "--tls-verify=false", &name]);
    let docker = env.path("d.tar");
    ok(&env, &["save", "-o", docker.to_str().unwrap(), &name]);
    ok(&env, &["load", "-i", docker.to_str().unwrap()]);
    let record: Value =
        serde_json::from_slice(&fs::read(env.root.join(format!("image-records/{id}.json"))).unwrap()).unwrap();
    let manifests: Vec<String> =
        record["digests"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    assert_eq!(manifests.len(), 2);

    // Rewrite the store as the old version left it (nor did it mark the
    // records converted).
    let marker = env.root.join("image-records/keyed-by-id");
    assert!(marker.exists(), "a new store's records are marked converted");
    fs::remove_file(&marker).unwrap();
    fs::remove_file(env.root.join(format!("image-records/{id}.json"))).unwrap();
    for m in &manifests {
        let hex = m.trim_start_matches("sha256:");
        let old = serde_json::json!({"top": m, "manifest": m});
        fs::write(env.root.join(format!("image-records/{hex}.json")), old.to_string()).unwrap();
    }
    let driver = ["overlay", "vfs"].into_iter().find(|d| env.root.join(d).join("refs.json").exists()).unwrap();
    let refs_path = env.root.join(driver).join("refs.json");
    let refs: Value = serde_json::from_slice(&fs::read(&refs_path).unwrap()).unwrap();
    let chains = refs[format!("image:{id}")].clone();
    assert!(chains.is_array(), "{refs}");
    let mut old_refs = serde_json::Map::new();
    for m in &manifests {
        old_refs.insert(format!("image:{}", m.trim_start_matches("sha256:")), chains.clone());
    }
    fs::write(&refs_path, Value::Object(old_refs).to_string()).unwrap();

    // Opened by any command: converted.
    let (out, _) = ok(&env, &["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]);
    assert_eq!(out, format!("{} {name}\n", &id[..12]));
    assert_eq!(record_files(&env), [format!("{id}.json")]);
    assert!(marker.exists(), "marked converted");
    assert_eq!(inspect(&env, &name)["RepoDigests"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&env, &["rmi", &id]).0, format!("Untagged: {name}\nDeleted: {id}\n"));
    assert_eq!(env.layer_dirs(), Vec::<String>::new(), "the old holds were released");
    assert_eq!(blob_files(&env), Vec::<String>::new());
}
