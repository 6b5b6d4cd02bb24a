//! `berth pull`, `push`, `login` and `logout` against a private
//! docker-registry on 127.0.0.1, each test with its own roots and registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use common::{busybox_archive, tar_file, Env};
use regharness::*;
use serde_json::Value;

/// Load the busybox test image and push it to `reg` as `bb:1`; returns its ID.
fn push_busybox(env: &Env, reg: &TestRegistry) -> String {
    let (archive, id) = busybox_archive(env, "bb.tar", "localhost/bb:latest");
    ok(env, &["load", "-i", archive.to_str().unwrap()]);
    let dest = format!("docker://{}", reg.name("bb:1"));
    let (out, err) = ok(env, &["push", "--tls-verify=false", "bb", &dest]);
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.first(), Some(&"Getting image source signatures"), "{err}");
    assert!(lines.iter().any(|l| l.starts_with("Copying blob sha256:") && l.ends_with(" done")), "{err}");
    assert!(lines.contains(&format!("Copying config sha256:{id} done").as_str()), "{err}");
    assert_eq!(lines.last(), Some(&"Writing manifest to image destination"), "{err}");
    id
}

fn inspect(env: &Env, name: &str) -> Value {
    let (out, _) = ok(env, &["image", "inspect", name]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

#[test]
fn push_then_pull_gives_the_same_image() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let name = reg.name("bb:1");
    let remote = skopeo_inspect(&name, &[]);
    let digest = remote["Digest"].as_str().unwrap().to_string();
    assert_eq!(inspect(&src, "bb")["Digest"], digest.as_str(), "pushed manifest bytes changed");

    // A fresh store: podman's lines on stderr (not a terminal), the ID on stdout.
    let dst = Env::new();
    let (out, err) = ok(&dst, &["pull", "--tls-verify=false", &name]);
    assert_eq!(out, format!("{id}\n"));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], format!("Trying to pull {name}..."), "{err}");
    assert_eq!(lines[1], "Getting image source signatures", "{err}");
    assert!(lines[2].starts_with("Copying blob sha256:") && lines[2].ends_with(" done"), "{err}");
    assert_eq!(lines[3], format!("Copying config sha256:{id} done"), "{err}");
    assert_eq!(lines[4], "Writing manifest to image destination", "{err}");
    assert_eq!(lines.len(), 5, "{err}");

    let i = inspect(&dst, &name);
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["Digest"], digest.as_str());
    assert_eq!(i["RepoTags"][0], name.as_str());
    let (digests, _) = ok(&dst, &["images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"]);
    assert_eq!(digests, format!("{name} {digest}\n"));
    let (history, _) = ok(&dst, &["history", "-q", "--no-trunc", &name]);
    assert_eq!(history, format!("{id}\n"));
    assert_eq!(dst.layer_dirs().len(), 1, "layers were not unpacked");

    // Again: every blob is already here.
    let (out, err) = ok(&dst, &["pull", "--tls-verify=false", &name]);
    assert_eq!(out, format!("{id}\n"));
    assert!(err.contains(&format!("Copying config sha256:{id} skipped: already exists")), "{err}");
    assert!(!err.contains(" done"), "{err}");
    // Pushing back what the registry has uploads nothing.
    let (_, err) = ok(&dst, &["push", "--tls-verify=false", &name]);
    assert!(err.lines().filter(|l| l.starts_with("Copying")).all(|l| l.ends_with("skipped: already exists")), "{err}");

    // The pulled image travels through save/load like a loaded one.
    let archive = dst.path("pulled.tar");
    ok(&dst, &["save", "-o", archive.to_str().unwrap(), &name]);
    let third = Env::new();
    let (out, _) = ok(&third, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {name}\n"));
    assert_eq!(ok(&third, &["images", "-q", "--no-trunc"]).0, format!("sha256:{id}\n"));

    ok(&dst, &["rmi", &name]);
    assert_eq!(ok(&dst, &["images", "-q"]).0, "");
    assert!(dst.layer_dirs().is_empty());
}

#[test]
fn quiet_pull_prints_only_the_id() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let dst = Env::new();
    let (out, err) = ok(&dst, &["pull", "-q", "--tls-verify=false", &reg.name("bb:1")]);
    assert_eq!(out, format!("{id}\n"));
    assert_eq!(err, "");
}

#[test]
fn platform_picks_the_index_entry() {
    let reg = TestRegistry::start();
    let scratch = build_image(&[Layer::gzip(&tar_file("arch", b"amd64"))], "amd64");
    let (arm, arm_config, _, arm_bytes) =
        put_image(&scratch.store, &[Layer::gzip(&tar_file("arch", b"arm64"))], "arm64");
    let entry = |d: &image::digest::Digest, len: usize, arch: &str| {
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": len,
            "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        entry(&scratch.manifest, scratch.manifest_bytes.len(), "amd64"), entry(&arm, arm_bytes.len(), "arm64")]});
    let (index_digest, _) = scratch.store.put_bytes(&serde_json::to_vec(&index).unwrap(), None).unwrap();
    push_raw(&scratch.store, &index_digest, &reg, "multi:1");
    let name = reg.name("multi:1");

    let env = Env::new();
    let (out, _) = ok(&env, &["pull", "-q", "--tls-verify=false", "--platform", "linux/arm64", &name]);
    assert_eq!(out, format!("{}\n", arm_config.hex()));
    let i = inspect(&env, &name);
    assert_eq!(i["Architecture"], "arm64");
    assert_eq!(i["Id"], arm_config.hex());
    // Only the arm64 image was fetched: pushing it sends that one image.
    ok(&env, &["push", "-q", "--tls-verify=false", &name, &reg.name("arm-only:1")]);
    let pushed = skopeo_inspect(&reg.name("arm-only:1"), &["--override-arch", "arm64"]);
    assert_eq!(pushed["Digest"], arm.to_string());

    // Without --platform: the host's (amd64) entry.
    let host = Env::new();
    let (out, _) = ok(&host, &["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!(out, format!("{}\n", scratch.config.hex()));

    let e = fails(&host, &["pull", "-q", "--tls-verify=false", "--platform", "linux/s390x", &name]);
    assert!(e.contains("s390x"), "{e}");
}

#[test]
fn short_names_use_the_search_registries() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let env = Env::new();
    // Insecure from registries.conf, so no --tls-verify=false.
    std::fs::write(
        env.path("registries.conf"),
        format!(
            "unqualified-search-registries = [\"{h}\"]\n[[registry]]\nlocation = \"{h}\"\ninsecure = true\n",
            h = reg.host()
        ),
    )
    .unwrap();
    let (out, err) = ok(&env, &["pull", "bb:1"]);
    assert_eq!(out, format!("{id}\n"));
    assert!(err.starts_with(&format!("Trying to pull {}...\n", reg.name("bb:1"))), "{err}");
    assert_eq!(ok(&env, &["images", "--format", "{{.Repository}}"]).0, format!("{}/bb\n", reg.host()));
}

/// `[aliases]` in a drop-in (podman's shortnames.conf) resolve a short name
/// to the one full name, said as podman says it.
#[test]
fn short_name_aliases_from_drop_ins() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let env = Env::new();
    // A search registry that would fail: the alias must win over it.
    std::fs::write(env.path("registries.conf"), "unqualified-search-registries = [\"127.0.0.1:1\"]\n").unwrap();
    let dropins = env.path("registries.conf.d");
    std::fs::create_dir_all(&dropins).unwrap();
    let shortnames = dropins.join("shortnames.conf");
    std::fs::write(&shortnames, format!("[aliases]\n\"mybb\" = \"{}/bb\"\n", reg.host())).unwrap();
    let (out, err) = ok(&env, &["pull", "--tls-verify=false", "mybb:1"]);
    assert_eq!(out, format!("{id}\n"));
    assert!(
        err.starts_with(&format!(
            "Resolved \"mybb\" as an alias ({})\nTrying to pull {}...\n",
            shortnames.display(),
            reg.name("bb:1")
        )),
        "{err}"
    );
    // A later drop-in resets it: the search registry is tried instead.
    std::fs::write(dropins.join("zz-reset.conf"), "[aliases]\n\"mybb\" = \"\"\n").unwrap();
    let e = fails(&env, &["pull", "-q", "mybb:1"]);
    assert!(e.contains("127.0.0.1:1/mybb:1"), "{e}");
    // A bad alias is refused with the file named.
    std::fs::write(dropins.join("zz-reset.conf"), "[aliases]\n\"mybb\" = \"bb\"\n").unwrap();
    let e = fails(&env, &["pull", "-q", "mybb:1"]);
    assert!(e.contains("zz-reset.conf") && e.contains("must contain registry"), "{e}");
}

/// Without `CONTAINERS_REGISTRIES_CONF`, the user's
/// `~/.config/containers/registries.conf` is used when it exists.
#[test]
fn the_users_registries_conf_is_found_in_home() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let env = Env::new();
    let user = env.path("home/.config/containers");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("registries.conf"),
        format!(
            "unqualified-search-registries = [\"{h}\"]\n[[registry]]\nlocation = \"{h}\"\ninsecure = true\n",
            h = reg.host()
        ),
    )
    .unwrap();
    let o = berth(&env, &["pull", "-q", "bb:1"]).env_remove("CONTAINERS_REGISTRIES_CONF").output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(common::stdout(&o), format!("{id}\n"));
    // The variable wins over the user's file.
    let e = fails(&env, &["pull", "-q", "bb:1"]);
    assert!(e.contains("no unqualified-search registries"), "{e}");
}

#[test]
fn login_push_pull_logout() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let auth = env.path("my-auth.json");
    let auth = auth.to_str().unwrap();
    let host = reg.host();
    let (out, _) = ok(&env, &["login", "--tls-verify=false", "--authfile", auth, "-u", "alice", "-p", "s3cret", &host]);
    assert_eq!(out, "Login Succeeded!\n");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(auth).unwrap()).unwrap();
    assert!(saved["auths"][host.as_str()]["auth"].is_string(), "{saved}");

    let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
    ok(&env, &["load", "-i", archive.to_str().unwrap()]);
    let name = reg.name("bb:1");
    ok(&env, &["push", "-q", "--tls-verify=false", "--authfile", auth, "bb", &name]);
    let fresh = Env::new();
    assert_eq!(ok(&fresh, &["pull", "-q", "--tls-verify=false", "--authfile", auth, &name]).0, format!("{id}\n"));
    // --creds instead of a login.
    let other = Env::new();
    assert_eq!(
        ok(&other, &["pull", "-q", "--tls-verify=false", "--creds", "alice:s3cret", &name]).0,
        format!("{id}\n")
    );

    // --password-stdin, into the default auth file ($REGISTRY_AUTH_FILE here).
    let mut c = berth(&env, &["login", "--tls-verify=false", "-u", "alice", "--password-stdin", &host]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"s3cret\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(env.path("auth.json").exists());

    let (out, _) = ok(&env, &["logout", "--authfile", auth, &host]);
    assert_eq!(out, format!("Removed login credentials for {host}\n"));
    let e = fails(&env, &["logout", "--authfile", auth, &host]);
    assert!(e.contains("not logged into"), "{e}");
    let (out, _) = ok(&env, &["logout", "--all"]);
    assert_eq!(out, "Removed login credentials for all registries\n");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(env.path("auth.json")).unwrap()).unwrap();
    assert_eq!(saved["auths"], serde_json::json!({}));
}

/// `run` pulls an image it does not have (podman's `--pull=missing`), then
/// runs it: the pull's threads are gone before the container's init forks.
#[test]
fn run_pulls_a_missing_image() {
    let reg = TestRegistry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg);
    let name = reg.name("bb:1");

    let dst = Env::new();
    let e = dst.fails(&["run", "--rm", "--pull=never", &name, "true"], 125);
    assert!(e.contains("image not known"), "{e}");
    let (out, err) = ok(&dst, &["run", "--rm", "--tls-verify=false", &name, "echo", "pulled"]);
    assert_eq!(out, "pulled\n");
    assert!(err.starts_with(&format!("Trying to pull {name}...")), "{err}");
    let (images, _) = ok(&dst, &["images", "-q", "--no-trunc"]);
    assert_eq!(images, format!("sha256:{id}\n"));
    // Present now: no second pull.
    let (out, err) = ok(&dst, &["run", "--rm", &name, "echo", "again"]);
    assert_eq!((out.as_str(), err.as_str()), ("again\n", ""));
}
