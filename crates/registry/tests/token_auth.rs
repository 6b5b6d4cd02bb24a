#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bearer-token auth, as Docker Hub and most registries do it: the registry
//! (distribution 2.8, `auth: token`) sends clients to a token server of the
//! testkit, which checks basic credentials and signs JWTs granting only the
//! scopes asked for and allowed.

mod common;

use common::*;
use image::reference::Reference;
use registry::{login, pull, push, AuthFile, Credentials, Error};
use testkit::token::{TokenAuth, TokenRequest};

/// alice may push and pull, reader may only pull, anonymous gets nothing.
fn token_registry() -> TestRegistry {
    let auth = TokenAuth::new().user("alice", "s3cret", &["pull", "push"]).user("reader", "r34d", &["pull"]);
    TestRegistry::start_with_token(auth)
}

/// Pull options with explicit credentials and no auth file to fall back on.
fn pull_as(user: &str, password: &str) -> registry::PullOptions {
    registry::PullOptions {
        credentials: Some(Credentials::new(user, password)),
        auth_file: Some(no_auth_file()),
        ..pull_opts()
    }
}

fn push_as(user: &str, password: &str) -> registry::PushOptions {
    registry::PushOptions {
        credentials: Some(Credentials::new(user, password)),
        auth_file: Some(no_auth_file()),
        ..push_opts()
    }
}

/// An auth file that does not exist: no credentials from the host's files.
fn no_auth_file() -> AuthFile {
    AuthFile::at("/nonexistent/berth-test/auth.json")
}

/// Requests for exactly `scope` (as the client sent it).
fn asked_for(reg: &TestRegistry, scope: &str) -> Vec<TokenRequest> {
    reg.token_requests().into_iter().filter(|r| r.scopes == [scope]).collect()
}

#[test]
fn push_then_pull_with_a_bearer_token() {
    let reg = token_registry();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/tok:1", "token");
    let local = Reference::parse("localhost/tok:1").unwrap();
    let dest = reg.reference("team/app:v1");

    let pushed = push(&src, &local, &dest, &push_as("alice", "s3cret"), &|_| {}).unwrap();
    assert_eq!(pushed, img.manifest);
    // The push asked for pull and push on the repository, as alice, for
    // this registry's service, and got both.
    let push_reqs = asked_for(&reg, "repository:team/app:pull,push");
    assert!(!push_reqs.is_empty(), "{:#?}", reg.token_requests());
    for r in &push_reqs {
        assert_eq!(r.user.as_deref(), Some("alice"));
        assert_eq!(r.service.as_deref(), Some(testkit::token::SERVICE));
        assert_eq!((r.status, r.granted.as_slice()), (200, &["repository:team/app:pull,push".to_string()][..]));
    }

    let (_d2, dst) = new_store();
    let pulled = pull(&dst, &dest, &pull_as("alice", "s3cret"), &|_| {}).unwrap();
    assert_eq!(pulled, img.manifest);
    assert_eq!(dst.get(&img.manifest).unwrap(), img.manifest_bytes);
    for blob in img.blobs() {
        assert_eq!(dst.get(&blob).unwrap(), src.get(&blob).unwrap(), "{blob}");
    }
    let pull_reqs = asked_for(&reg, "repository:team/app:pull");
    assert!(pull_reqs.iter().any(|r| r.user.as_deref() == Some("alice") && r.status == 200), "{pull_reqs:#?}");

    // A pull-only user pulls, but its push token lacks `push`: the registry refuses.
    let (_d3, other) = new_store();
    assert_eq!(pull(&other, &dest, &pull_as("reader", "r34d"), &|_| {}).unwrap(), img.manifest);
    let e = push(&src, &local, &reg.reference("team/app:v2"), &push_as("reader", "r34d"), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("{}: unauthorized: authentication required", reg.host()));
    let reader_push = asked_for(&reg, "repository:team/app:pull,push");
    let reader_push: Vec<_> = reader_push.iter().filter(|r| r.user.as_deref() == Some("reader")).collect();
    assert!(!reader_push.is_empty(), "{:#?}", reg.token_requests());
    assert!(reader_push.iter().all(|r| r.granted == ["repository:team/app:pull"]), "{reader_push:#?}");

    // An independent client agrees with our token server and registry.
    let url = format!("docker://{}/team/app:v1", reg.host());
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", "--creds", "alice:s3cret", &url])).unwrap();
    assert_eq!(inspect["Digest"], img.manifest.to_string());
}

#[test]
fn anonymous_and_wrong_password_pulls_fail_clearly() {
    let reg = token_registry();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/tok:1", "denied");
    let dest = reg.reference("team/secret:1");
    let local = Reference::parse("localhost/tok:1").unwrap();
    assert_eq!(push(&src, &local, &dest, &push_as("alice", "s3cret"), &|_| {}).unwrap(), img.manifest);

    // No credentials: the token server hands out a token granting nothing
    // (Docker Hub's answer for a private repository) and the registry refuses it.
    let (_d2, dst) = new_store();
    let anonymous = registry::PullOptions { auth_file: Some(no_auth_file()), ..pull_opts() };
    let e = pull(&dst, &dest, &anonymous, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("{}: authentication required", reg.host()));
    let anon = asked_for(&reg, "repository:team/secret:pull");
    assert!(anon.iter().any(|r| r.user.is_none() && r.status == 200 && r.granted.is_empty()), "{anon:#?}");

    // A wrong password: the token server answers 401 and the error says so.
    let before = reg.token_requests().len();
    let e = pull(&dst, &dest, &pull_as("alice", "wrong"), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    let text = e.to_string();
    assert_eq!(text, format!("{}: unauthorized: authentication failed: incorrect username or password", reg.host()));
    let refused: Vec<_> = reg.token_requests().split_off(before);
    assert!(
        refused.iter().any(|r| r.user.as_deref() == Some("alice")
            && r.status == 401
            && r.scopes == ["repository:team/secret:pull"]),
        "{refused:#?}"
    );
    // An unknown user is refused the same way.
    let e = pull(&dst, &dest, &pull_as("mallory", "s3cret"), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");

    // Nothing of the image arrived.
    assert!(dst.images().unwrap().is_empty());
    assert!(!dst.exists(&img.manifest));
    for blob in img.blobs() {
        assert!(!dst.exists(&blob), "{blob}");
    }
}

#[test]
fn login_against_a_token_server_then_pull_with_the_saved_credentials() {
    let reg = token_registry();
    let files = tempfile::tempdir().unwrap();
    let auth_file = AuthFile::at(files.path().join("auth.json"));

    let e = login(&reg.host(), &Credentials::new("alice", "wrong"), false, Some(&auth_file)).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(!auth_file.path().exists());
    login(&reg.host(), &Credentials::new("alice", "s3cret"), false, Some(&auth_file)).unwrap();
    // A login asks for no scope, just a token proving the password.
    let logins: Vec<_> = reg.token_requests().into_iter().filter(|r| r.scopes.is_empty()).collect();
    assert_eq!(logins.iter().map(|r| r.status).collect::<Vec<_>>(), [401, 200], "{logins:#?}");

    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/tok:1", "login");
    let dest = reg.reference("saved/creds:1");
    let push_opts = registry::PushOptions { auth_file: Some(auth_file.clone()), ..push_opts() };
    let pull_opts = registry::PullOptions { auth_file: Some(auth_file.clone()), ..pull_opts() };
    assert_eq!(
        push(&src, &Reference::parse("localhost/tok:1").unwrap(), &dest, &push_opts, &|_| {}).unwrap(),
        img.manifest
    );
    let (_d2, dst) = new_store();
    assert_eq!(pull(&dst, &dest, &pull_opts, &|_| {}).unwrap(), img.manifest);
}

#[test]
fn tokens_not_signed_by_a_trusted_key_are_refused() {
    // The same token server, signing with a certificate the registry was
    // not given: the tests above pass because the signatures verify.
    let reg =
        TestRegistry::start_with_token(TokenAuth::new().user("alice", "s3cret", &["pull", "push"]).untrusted_signer());
    let (_d1, src) = new_store();
    make_tagged_image(&src, "localhost/tok:1", "untrusted");
    let local = Reference::parse("localhost/tok:1").unwrap();
    let e = push(&src, &local, &reg.reference("x/y:1"), &push_as("alice", "s3cret"), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    // The token server did grant it: the registry is the one refusing.
    let granted = asked_for(&reg, "repository:x/y:pull,push");
    assert!(granted.iter().any(|r| r.status == 200 && r.granted == ["repository:x/y:pull,push"]), "{granted:#?}");
}
