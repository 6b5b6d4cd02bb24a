//! Pulling an image into the store.
//!
//! Order matters for crash safety: blobs first (each verified by the store),
//! then the manifest(s), and the name last, so an interrupted pull leaves
//! at most unreferenced verified blobs and never a tag pointing at an
//! incomplete image.

use std::time::Duration;

use futures_util::{stream, StreamExt as _, TryStreamExt as _};
use image::digest::Digest;
use image::manifest::{descriptor_digest, media_types as mt, select, Manifest, PlatformSpec};
use image::reference::registries::{Endpoint, RegistriesConf};
use image::reference::Reference;
use image::store::Store;
use oci_client::RegistryOperation;

use crate::auth::{self, AuthFile, Credentials};
use crate::error::{Error, Result};
use crate::progress::Event;
use crate::retry::{retrying, DEFAULT_RETRY_DELAYS};
use crate::sink::put_stream;
use crate::transport::{oci_ref, runtime, Remote};

/// Manifest types we can use, most specific first.
const ACCEPT: &[&str] = &[mt::OCI_MANIFEST, mt::DOCKER_MANIFEST, mt::OCI_INDEX, mt::DOCKER_MANIFEST_LIST];

/// Blobs transferred at once: enough to fill a link without opening so many
/// connections that registries start rate limiting.
pub const DEFAULT_CONCURRENCY: usize = 4;

#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Which image of a multi-platform index; `None` means the host's.
    pub platform: Option<PlatformSpec>,
    /// `false` allows plain http / unverified TLS for every endpoint (`--tls-verify=false`).
    pub tls_verify: bool,
    /// Mirrors, rewrites, insecure and blocked registries; `None` means none.
    pub registries_conf: Option<RegistriesConf>,
    /// Use these instead of looking in the auth file (`--creds`).
    pub credentials: Option<Credentials>,
    /// The auth file to read; `None` means `AuthFile::default_location()`.
    pub auth_file: Option<AuthFile>,
    pub concurrency: usize,
    /// Waits before each retry of a manifest or blob request that failed
    /// transiently (see `Error::is_transient`); empty means no retries.
    pub retry_delays: Vec<Duration>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            tls_verify: true,
            registries_conf: None,
            credentials: None,
            auth_file: None,
            concurrency: DEFAULT_CONCURRENCY,
            retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
        }
    }
}

/// Pull `reference` into `store` and name it there (unless it is a pure
/// digest reference). Returns the digest of the image manifest for the
/// chosen platform, which is what `skopeo inspect` reports for it.
pub fn pull(store: &Store, reference: &Reference, opts: &PullOptions, progress: &dyn Fn(Event)) -> Result<Digest> {
    let endpoints = match &opts.registries_conf {
        Some(conf) => conf.endpoints(reference)?,
        None => vec![Endpoint { reference: reference.clone(), insecure: false, mirror: false }],
    };
    let platform = opts.platform.clone().unwrap_or_else(PlatformSpec::host);
    let rt = runtime()?;
    let manifest = rt.block_on(async {
        let mut endpoints = endpoints.iter().peekable();
        while let Some(ep) = endpoints.next() {
            let res = pull_from(store, ep, &platform, opts, progress).await;
            match res {
                // A failing mirror falls through to the next endpoint; the
                // primary's error is the one the user sees.
                Err(e) if ep.mirror && endpoints.peek().is_some() => progress(Event::EndpointFailed {
                    endpoint: ep.reference.registry().to_string(),
                    error: e.to_string(),
                }),
                other => return other,
            }
        }
        Err(Error::Other(format!("no endpoint to pull {reference} from")))
    })?;
    if let Some(tag) = reference.tag() {
        let name = Reference::from_parts(reference.name().clone(), Some(tag), None)?;
        store.tag(&name, &manifest)?;
    }
    Ok(manifest)
}

async fn pull_from(
    store: &Store,
    ep: &Endpoint,
    platform: &PlatformSpec,
    opts: &PullOptions,
    progress: &dyn Fn(Event),
) -> Result<Digest> {
    let reference = &ep.reference;
    let creds = auth::resolve(reference.registry(), opts.credentials.as_ref(), opts.auth_file.as_ref())?;
    let insecure = ep.insecure || !opts.tls_verify;
    let remote = Remote::connect(reference, insecure, creds, RegistryOperation::Pull).await?;
    let target = oci_ref(reference);

    let delays = &opts.retry_delays;
    let (top_bytes, top_digest) =
        fetch_manifest(&remote, &target, reference.digest(), &reference.to_string(), delays).await?;
    let (index, image_bytes, image_digest, image) = match Manifest::parse(&top_bytes, None)? {
        Manifest::Image(_, m) => (None, top_bytes, top_digest, m),
        Manifest::Index(_, idx) => {
            let child = descriptor_digest(select(&idx, platform)?)?;
            let what = format!("{reference} ({platform})");
            let (bytes, digest) =
                fetch_manifest(&remote, &target.clone_with_digest(child.to_string()), Some(&child), &what, delays)
                    .await?;
            match Manifest::parse(&bytes, None)? {
                Manifest::Image(_, m) => (Some((top_bytes, top_digest)), bytes, digest, m),
                Manifest::Index(..) => {
                    return Err(Error::Registry {
                        registry: remote.registry.clone(),
                        why: format!("{what}: index entry {child} is itself an index"),
                    })
                }
            }
        }
    };
    progress(Event::Resolved { endpoint: remote.registry.clone(), manifest: image_digest.clone() });
    progress(Event::ImageManifest { digest: image_digest.clone(), bytes: image_bytes.clone() });

    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for d in std::iter::once(image.config()).chain(image.layers()) {
        let digest = descriptor_digest(d)?;
        // An image may list the same layer twice; fetch it once.
        if !blobs.iter().any(|(b, _)| *b == digest) {
            blobs.push((digest, d.size()));
        }
    }
    let missing: Vec<(Digest, u64)> = blobs
        .into_iter()
        .filter(|(d, _)| {
            let have = store.exists(d);
            if have {
                progress(Event::BlobSkipped { digest: d.clone() });
            }
            !have
        })
        .collect();
    stream::iter(missing)
        .map(|(digest, size)| fetch_blob(store, &remote, &target, digest, size, delays, progress))
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    store.put_bytes(&image_bytes, Some(&image_digest))?;
    if let Some((bytes, digest)) = index {
        store.put_bytes(&bytes, Some(&digest))?;
    }
    progress(Event::ManifestDone { digest: image_digest.clone() });
    Ok(image_digest)
}

/// GET a manifest and check it against the digest asked for, if any.
async fn fetch_manifest(
    remote: &Remote,
    target: &oci_client::Reference,
    want: Option<&Digest>,
    what: &str,
    delays: &[Duration],
) -> Result<(Vec<u8>, Digest)> {
    let (bytes, _) = retrying(delays, &format!("manifest of {what}"), || async {
        remote.client.pull_manifest_raw(target, &remote.auth, ACCEPT).await.map_err(|e| remote.err(e, what))
    })
    .await?;
    // oci-client checks the body against the digest header and the reference;
    // hashing here too keeps the guarantee in our own types.
    let digest = Digest::of_bytes(&bytes);
    if let Some(want) = want {
        digest.verify(want, &format!("manifest of {what}"))?;
    }
    Ok((bytes.to_vec(), digest))
}

async fn fetch_blob(
    store: &Store,
    remote: &Remote,
    target: &oci_client::Reference,
    digest: Digest,
    size: u64,
    delays: &[Duration],
    progress: &dyn Fn(Event),
) -> Result<()> {
    progress(Event::BlobStarted { digest: digest.clone(), size });
    let what = &format!("blob {digest}");
    let digest_ref = &digest;
    // Every attempt downloads from byte 0 into a fresh temp file: `put_stream`
    // has removed a failed attempt's before it returns, and only a complete,
    // verified blob is renamed into place. (No resuming with a Range request:
    // the store writes and verifies a blob in one pass.)
    retrying(delays, what, || async move {
        let body = remote
            .client
            .pull_blob_stream(target, digest_ref.to_string().as_str())
            .await
            .map_err(|e| remote.err(e, what))?;
        put_stream(store, &remote.registry, digest_ref, size, body.stream, |done| {
            progress(Event::BlobProgress { digest: digest_ref.clone(), done, size })
        })
        .await
    })
    .await?;
    progress(Event::BlobDone { digest });
    Ok(())
}
