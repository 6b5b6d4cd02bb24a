#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Transient failures (cut connections, 5xx, 429) are retried with backoff;
//! refusals and bad content are not. A `FlakyProxy` between us and a real
//! docker-registry cuts connections and answers 503 where a test says.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use image::digest::Digest;
use image::reference::Reference;
use image::store::Store;
use registry::{pull, push, Credentials, Error, Event};
use testkit::proxy::{Fault, FlakyProxy, Rule};

/// A registry holding a pushed test image `r:1`, and the store it came from.
fn pushed(seed: &str) -> (TestRegistry, tempfile::TempDir, Store, TestImage) {
    let reg = TestRegistry::start();
    let (dir, src) = new_store();
    let img = make_tagged_image(&src, "localhost/r:1", seed);
    push(&src, &Reference::parse("localhost/r:1").unwrap(), &reg.reference("r:1"), &push_opts(), &|_| {}).unwrap();
    (reg, dir, src, img)
}

fn via(proxy: &FlakyProxy, repo_tag: &str) -> Reference {
    Reference::parse(&proxy.name(repo_tag)).unwrap()
}

/// How many times `request` ("METHOD target") was seen since the `since`th request.
fn count(proxy: &FlakyProxy, since: usize, request: &str) -> usize {
    proxy.requests()[since..].iter().filter(|r| *r == request).count()
}

/// No temp file in the blob directory, nothing in the store's tmp dir.
fn assert_nothing_half_written(store: &Store) {
    for name in blob_dir_entries(store) {
        assert!(Digest::from_hex(&name).is_ok(), "stray file {name} left in the blob directory");
    }
    let tmp: Vec<_> = std::fs::read_dir(store.tmp_dir()).unwrap().collect();
    assert!(tmp.is_empty(), "left in {}: {tmp:?}", store.tmp_dir().display());
}

/// Formatted tracing output of `f` (it runs on this thread, and so does
/// the registry crate's current-thread runtime).
fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let b = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || b.clone()).without_time().finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, logs)
}

#[test]
fn cut_blob_downloads_are_retried_from_scratch() {
    let (reg, _d1, src, img) = pushed("cut");
    let big = img.layers[1].clone();
    assert!(src.size(&big).unwrap() > 20_000);
    let proxy = FlakyProxy::start(
        reg.port,
        vec![
            // Cut as soon as the request is seen...
            Rule::blob_get(1, Fault::Close).only(&img.config),
            // ...and half-way through the body: 10 kB reach the blob store's
            // temp file before the connection drops.
            Rule::blob_get(1, Fault::CloseAfter(10_000)).only(&big),
        ],
    );
    let (_d2, dst) = new_store();
    let name = via(&proxy, "r:1");
    let events = Events::default();
    let (res, logs) = with_logs(|| pull(&dst, &name, &pull_opts(), &events.sink()));
    assert_eq!(res.unwrap(), img.manifest);

    assert_eq!(proxy.faults(), 2, "{:?}", proxy.requests());
    assert_eq!((proxy.matched(0), proxy.matched(1)), (2, 2), "{:?}", proxy.requests());
    for blob in img.blobs() {
        assert_eq!(dst.get(&blob).unwrap(), src.get(&blob).unwrap(), "{blob}");
    }
    assert_eq!(dst.resolve(&name).unwrap(), Some(img.manifest.clone()));
    assert_nothing_half_written(&dst);
    // One start and one done per blob: a retry is not a new transfer.
    let started = events.count(|e| matches!(e, Event::BlobStarted { .. }));
    assert_eq!((started, events.done()), (3, 3), "{:?}", events.all());

    // One warning line per retry: what, attempt n/4, why.
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{logs}");
    for digest in [&img.config, &big] {
        let line = warnings.iter().find(|l| l.contains(&format!("blob {digest}"))).expect(&logs);
        assert!(line.contains("attempt 1/4 failed, retrying in 200ms: "), "{line}");
    }
}

#[test]
fn server_errors_and_429_are_retried() {
    let (reg, _d1, src, img) = pushed("5xx");
    let proxy = FlakyProxy::start(
        reg.port,
        vec![
            Rule::manifest_get(1, Fault::Status(503)),
            Rule::blob_get(2, Fault::Status(503)).only(&img.layers[0]),
            Rule::blob_get(1, Fault::Status(429)).only(&img.config),
        ],
    );
    let (_d2, dst) = new_store();
    let (res, logs) = with_logs(|| pull(&dst, &via(&proxy, "r:1"), &pull_opts(), &|_| {}));
    assert_eq!(res.unwrap(), img.manifest);
    assert_eq!(proxy.faults(), 4, "{:?}", proxy.requests());
    assert_eq!((proxy.matched(0), proxy.matched(1), proxy.matched(2)), (2, 3, 2));
    for blob in img.blobs() {
        assert_eq!(dst.get(&blob).unwrap(), src.get(&blob).unwrap(), "{blob}");
    }
    assert!(logs.contains("attempt 2/4 failed, retrying in 400ms: "), "{logs}");
    assert!(logs.contains("HTTP 503 Service Unavailable"), "{logs}");
    assert!(logs.contains("HTTP 429 Too Many Requests"), "{logs}");
}

#[test]
fn a_blob_that_always_fails_gives_up_after_four_attempts_leaving_nothing() {
    let (reg, _d1, src, img) = pushed("always");
    let big = img.layers[1].clone();
    assert!(src.size(&big).unwrap() > 20_000);
    // Every attempt writes part of the blob before it is cut.
    let proxy = FlakyProxy::start(reg.port, vec![Rule::blob_get(usize::MAX, Fault::CloseAfter(10_000)).only(&big)]);
    let (_d2, dst) = new_store();
    let name = via(&proxy, "r:1");
    let started = Instant::now();
    let (res, logs) = with_logs(|| pull(&dst, &name, &pull_opts(), &|_| {}));
    let err = res.unwrap_err();

    assert_eq!(proxy.matched(0), 4, "{:?}", proxy.requests());
    assert!(started.elapsed() >= Duration::from_millis(200 + 400 + 800));
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.starts_with(&format!("{}: blob {big}: ", proxy.host())), "{msg}");
    assert!(msg.ends_with(" (gave up after 4 attempts)"), "{msg}");
    for n in 1..=3 {
        assert!(logs.contains(&format!("blob {big}: attempt {n}/4 failed")), "{logs}");
    }
    assert!(!logs.contains("attempt 4/4"), "{logs}");

    assert!(!dst.exists(&big));
    assert!(!dst.exists(&img.manifest), "manifest stored although a blob failed");
    assert_eq!(dst.resolve(&name).unwrap(), None);
    assert!(dst.images().unwrap().is_empty());
    assert_nothing_half_written(&dst);
}

#[test]
fn retry_delays_come_from_the_options() {
    let (reg, _d1, _src, _img) = pushed("opts");
    let proxy = FlakyProxy::start(reg.port, vec![Rule::manifest_get(usize::MAX, Fault::Status(503))]);
    let (_d2, dst) = new_store();
    let name = via(&proxy, "r:1");

    let quick = registry::PullOptions { retry_delays: vec![Duration::from_millis(1); 2], ..pull_opts() };
    let err = pull(&dst, &name, &quick, &|_| {}).unwrap_err();
    assert_eq!(proxy.matched(0), 3);
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    let msg = err.to_string();
    let head = format!("{}: manifest of {name}: HTTP 503 Service Unavailable: ", proxy.host());
    assert!(msg.starts_with(&head), "{msg}");
    assert!(msg.ends_with(" (gave up after 3 attempts)"), "{msg}");

    let never = registry::PullOptions { retry_delays: vec![], ..pull_opts() };
    let err = pull(&dst, &name, &never, &|_| {}).unwrap_err();
    assert_eq!(proxy.matched(0), 4);
    let msg = err.to_string();
    assert!(msg.starts_with(&head) && !msg.contains("gave up"), "{msg}");
    assert!(err.is_transient());
}

#[test]
fn refusals_and_bad_content_are_not_retried() {
    let (reg, _d1, src, img) = pushed("refused");
    let proxy = FlakyProxy::start(reg.port, vec![]);
    let (_d2, dst) = new_store();

    // 404 on the manifest.
    let e = pull(&dst, &via(&proxy, "nothing:here"), &pull_opts(), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(count(&proxy, 0, "GET /v2/nothing/manifests/here"), 1, "{:?}", proxy.requests());

    // A blob that does not hash to its digest: the clear mismatch error, at once.
    let bad = &img.layers[1];
    let path = reg.blob_data(bad);
    let good = read(&path);
    let mut data = good.clone();
    data[1000] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    let since = proxy.requests().len();
    let e = pull(&dst, &via(&proxy, "r:1"), &pull_opts(), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. } | Error::Image(image::Error::DigestMismatch { .. })), "{e:?}");
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert_eq!(count(&proxy, since, &format!("GET /v2/r/blobs/{bad}")), 1, "{:?}", proxy.requests());
    assert_nothing_half_written(&dst);
    std::fs::write(&path, good).unwrap();

    // 404 on a blob the registry lost.
    let lost = &img.layers[0];
    std::fs::remove_dir_all(reg.blob_data(lost).parent().unwrap()).unwrap();
    let (_d3, dst) = new_store();
    let since = proxy.requests().len();
    let e = pull(&dst, &via(&proxy, "r:1"), &pull_opts(), &|_| {}).unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(count(&proxy, since, &format!("GET /v2/r/blobs/{lost}")), 1, "{e}: {:?}", proxy.requests());
    assert!(!dst.exists(lost));
    assert_nothing_half_written(&dst);

    // 401: no credentials, then wrong ones.
    let secured = TestRegistry::start_with_auth("alice", "s3cret");
    let alice = |password: &str| registry::PushOptions {
        credentials: Some(Credentials::new("alice", password)),
        ..push_opts()
    };
    push(&src, &Reference::parse("localhost/r:1").unwrap(), &secured.reference("p:1"), &alice("s3cret"), &|_| {})
        .unwrap();
    let proxy = FlakyProxy::start(secured.port, vec![]);
    let files = tempfile::tempdir().unwrap();
    let anonymous = registry::PullOptions {
        auth_file: Some(registry::AuthFile::at(files.path().join("auth.json"))),
        ..pull_opts()
    };
    let e = pull(&dst, &via(&proxy, "p:1"), &anonymous, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    let wrong = registry::PullOptions { credentials: Some(Credentials::new("alice", "nope")), ..pull_opts() };
    let e = pull(&dst, &via(&proxy, "p:1"), &wrong, &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(count(&proxy, 0, "GET /v2/p/manifests/1"), 2, "{:?}", proxy.requests());
}

#[test]
fn cut_and_refused_uploads_are_retried() {
    let reg = TestRegistry::start();
    let (_d1, src) = new_store();
    let img = make_tagged_image(&src, "localhost/up:1", "upload");
    let proxy = FlakyProxy::start(
        reg.port,
        vec![
            // The POST that opens an upload session, cut.
            Rule::blob_upload(1, Fault::Close).methods(&["POST"]),
            // The PUT carrying a blob, cut while the body is on its way.
            Rule::blob_upload(1, Fault::Close).methods(&["PUT"]),
            // The manifest PUT, refused for now.
            Rule::new(&["PUT"], &["/v2/", "/manifests/"], 1, Fault::Status(503)),
        ],
    );
    let events = Events::default();
    let dest = via(&proxy, "up:1");
    let (res, logs) =
        with_logs(|| push(&src, &Reference::parse("localhost/up:1").unwrap(), &dest, &push_opts(), &events.sink()));
    assert_eq!(res.unwrap(), img.manifest);
    assert_eq!(proxy.faults(), 3, "{:?}", proxy.requests());
    assert_eq!(events.done(), 3, "{:?}", events.all());
    assert_eq!(logs.lines().filter(|l| l.contains("attempt 1/4 failed")).count(), 3, "{logs}");

    // What the registry holds is the image, bit for bit.
    let (_d2, dst) = new_store();
    assert_eq!(pull(&dst, &reg.reference("up:1"), &pull_opts(), &|_| {}).unwrap(), img.manifest);
    for blob in img.blobs() {
        assert_eq!(dst.get(&blob).unwrap(), src.get(&blob).unwrap(), "{blob}");
    }
}
