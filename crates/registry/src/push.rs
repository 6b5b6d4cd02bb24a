//! Pushing an image from the store to a registry.
//!
//! Blobs go first (a registry refuses a manifest whose blobs it lacks), the
//! manifest last and byte-for-byte as stored, so its digest is unchanged.

use std::time::Duration;

use futures_util::{stream, StreamExt as _, TryStreamExt as _};
use image::digest::Digest;
use image::manifest::{descriptor_digest, Manifest};
use image::reference::registries::RegistriesConf;
use image::reference::Reference;
use image::store::Store;
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;
use tokio_util::io::ReaderStream;

use crate::auth::{self, AuthFile, Credentials};
use crate::error::{Error, Result};
use crate::progress::Event;
use crate::pull::DEFAULT_CONCURRENCY;
use crate::retry::{retrying, DEFAULT_RETRY_DELAYS};
use crate::transport::{oci_ref, runtime, Remote};

#[derive(Clone, Debug)]
pub struct PushOptions {
    /// `false` allows plain http / unverified TLS (`--tls-verify=false`).
    pub tls_verify: bool,
    /// Consulted for `insecure` registries only: pushes never go to mirrors.
    pub registries_conf: Option<RegistriesConf>,
    pub credentials: Option<Credentials>,
    pub auth_file: Option<AuthFile>,
    pub concurrency: usize,
    /// Waits before each retry of a blob or manifest request that failed
    /// transiently (see `Error::is_transient`); empty means no retries.
    pub retry_delays: Vec<Duration>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            tls_verify: true,
            registries_conf: None,
            credentials: None,
            auth_file: None,
            concurrency: DEFAULT_CONCURRENCY,
            retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
        }
    }
}

/// Push the image `local` names in `store` to `dest`. Returns the digest of
/// the pushed manifest (the stored one: the bytes are sent unchanged).
pub fn push(
    store: &Store,
    local: &Reference,
    dest: &Reference,
    opts: &PushOptions,
    progress: &dyn Fn(Event),
) -> Result<Digest> {
    let digest = store.resolve(local)?.ok_or_else(|| image::Error::ImageNotKnown(local.to_string()))?;
    if let Some(want) = dest.digest() {
        if *want != digest {
            return Err(Error::Other(format!("cannot push {local} ({digest}) to a different digest {dest}")));
        }
    }
    let bytes = store.get(&digest)?;
    let manifest = Manifest::parse(&bytes, None)?;
    let creds = auth::resolve(dest.registry(), opts.credentials.as_ref(), opts.auth_file.as_ref())?;
    let insecure = !opts.tls_verify || opts.registries_conf.as_ref().is_some_and(|c| c.is_insecure(dest.registry()));
    let rt = runtime()?;
    rt.block_on(async {
        let remote = Remote::connect(dest, insecure, creds, RegistryOperation::Push).await?;
        let target = oci_ref(dest);
        let pusher = Pusher {
            store,
            remote: &remote,
            target: &target,
            concurrency: opts.concurrency,
            delays: &opts.retry_delays,
            progress,
        };
        match &manifest {
            Manifest::Image(..) => pusher.image(&manifest).await?,
            // Every child must be here: the registry rejects an index whose
            // manifests it does not have.
            Manifest::Index(..) => {
                for child in manifest.references() {
                    let child = descriptor_digest(child)?;
                    let child_bytes = store.get(&child)?;
                    let child_manifest = Manifest::parse(&child_bytes, None)?;
                    pusher.image(&child_manifest).await?;
                    pusher
                        .manifest(&target.clone_with_digest(child.to_string()), &child_bytes, &child_manifest)
                        .await?;
                }
            }
        }
        pusher.manifest(&target, &bytes, &manifest).await?;
        progress(Event::ManifestDone { digest: digest.clone() });
        Ok(digest)
    })
}

struct Pusher<'a> {
    store: &'a Store,
    remote: &'a Remote,
    target: &'a oci_client::Reference,
    concurrency: usize,
    delays: &'a [Duration],
    progress: &'a dyn Fn(Event),
}

impl Pusher<'_> {
    /// Upload the config and layers of an image manifest that the registry lacks.
    async fn image(&self, manifest: &Manifest) -> Result<()> {
        let mut blobs: Vec<Digest> = Vec::new();
        for d in manifest.references() {
            let digest = descriptor_digest(d)?;
            if !blobs.contains(&digest) {
                blobs.push(digest);
            }
        }
        stream::iter(blobs)
            .map(|d| self.blob(d))
            .buffer_unordered(self.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn blob(&self, digest: Digest) -> Result<()> {
        let what = &format!("blob {digest}");
        let err = |e| self.remote.err(e, what);
        let digest_str = &digest.to_string();
        // HEAD first: layers shared with other images are usually there already.
        let exists = retrying(self.delays, what, || async {
            self.remote.client.blob_exists(self.target, digest_str).await.map_err(err)
        })
        .await?;
        if exists {
            (self.progress)(Event::BlobSkipped { digest });
            return Ok(());
        }
        let size = self.store.size(&digest)?;
        (self.progress)(Event::BlobStarted { digest: digest.clone(), size });
        // Each attempt opens a new upload session and sends the file from
        // its start; an abandoned session is the registry's to expire.
        retrying(self.delays, &format!("upload of {what}"), || async {
            let file = self.store.open_blob(&digest)?;
            // Streamed from disk: layers are never held in memory. The
            // registry verifies the digest we name in the final PUT.
            let body = ReaderStream::new(tokio::fs::File::from_std(file)).map_err(OciDistributionError::IoError);
            self.remote.client.push_blob_stream(self.target, body, digest_str, Some(size)).await.map_err(err)
        })
        .await?;
        (self.progress)(Event::BlobDone { digest });
        Ok(())
    }

    /// PUT a manifest with its exact stored bytes and media type.
    async fn manifest(&self, target: &oci_client::Reference, bytes: &[u8], manifest: &Manifest) -> Result<()> {
        let what = &format!("manifest for {target}");
        // A PUT of the same bytes: repeating it is harmless.
        retrying(self.delays, what, || async {
            let content_type = reqwest::header::HeaderValue::from_static(manifest.media_type());
            self.remote
                .client
                .push_manifest_raw(target, bytes.to_vec(), content_type)
                .await
                .map_err(|e| self.remote.err(e, what))
        })
        .await?;
        Ok(())
    }
}
