#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Credentials against a registry that requires basic auth (htpasswd).

mod common;

use common::*;
use image::reference::Reference;
use registry::{login, logout, pull, push, AuthFile, Credentials, Error};

#[test]
fn auth_required_login_pull_push_logout() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let files = tempfile::tempdir().unwrap();
    let auth_file = AuthFile::at(files.path().join("containers/auth.json"));
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/priv:1", "auth");
    let local = Reference::parse("localhost/priv:1").unwrap();
    let dest = reg.reference("priv:1");
    let push_opts = registry::PushOptions { auth_file: Some(auth_file.clone()), ..push_opts() };
    let pull_opts = registry::PullOptions { auth_file: Some(auth_file.clone()), ..pull_opts() };

    // No credentials: a clear one-line error, nothing written.
    let e = push(&src, &local, &dest, &push_opts, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("{}: authentication required", reg.host()));
    let (_d2, dst) = new_store();
    let e = pull(&dst, &dest, &pull_opts, &|_| {}).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: authentication required", reg.host()));

    // A wrong password is refused and not saved.
    let e = login(&reg.host(), &Credentials::new("alice", "wrong"), false, Some(&auth_file)).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("unauthorized"), "{e}");
    assert!(!auth_file.path().exists());
    // Explicit wrong credentials on a push: unauthorized, not "authentication required".
    let wrong = registry::PushOptions { credentials: Some(Credentials::new("alice", "nope")), ..push_opts.clone() };
    let e = push(&src, &local, &dest, &wrong, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");

    // The right one is saved in the format podman and docker read.
    login(&reg.host(), &Credentials::new("alice", "s3cret"), false, Some(&auth_file)).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&read(auth_file.path())).unwrap();
    assert_eq!(doc["auths"][reg.host()]["auth"], "YWxpY2U6czNjcmV0"); // base64("alice:s3cret")
    assert_eq!(push(&src, &local, &dest, &push_opts, &|_| {}).unwrap(), img.manifest);
    assert_eq!(pull(&dst, &dest, &pull_opts, &|_| {}).unwrap(), img.manifest);

    // skopeo reads the same file.
    let url = format!("docker://{}/priv:1", reg.host());
    let authfile = auth_file.path().to_str().unwrap();
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", "--authfile", authfile, &url])).unwrap();
    assert_eq!(inspect["Digest"], img.manifest.to_string());

    assert!(logout(&reg.host(), Some(&auth_file)).unwrap());
    assert!(!logout(&reg.host(), Some(&auth_file)).unwrap());
    let (_d3, fresh) = new_store();
    let e = pull(&fresh, &dest, &pull_opts, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    assert!(fresh.images().unwrap().is_empty());
}

#[test]
fn login_to_open_registry_succeeds() {
    let reg = TestRegistry::start();
    let files = tempfile::tempdir().unwrap();
    let auth_file = AuthFile::at(files.path().join("auth.json"));
    login(&reg.host(), &Credentials::new("bob", "pw"), false, Some(&auth_file)).unwrap();
    assert_eq!(auth_file.get(&reg.host()).unwrap(), Some(Credentials::new("bob", "pw")));
}
