//! Progress events reported while pulling or pushing, in the order they happen
//! for each blob (blobs of one image interleave: they move in parallel).

use image::digest::Digest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The reference resolved to this manifest (`endpoint` is the registry
    /// host actually used: a mirror or the primary).
    Resolved { endpoint: String, manifest: Digest },
    /// The image manifest for the chosen platform, as fetched and verified
    /// (pull; stored only at the end): lets the caller start on the layers
    /// (e.g. unpack each as its blob is done) while the rest download.
    ImageManifest { digest: Digest, bytes: Vec<u8> },
    /// A mirror failed; the next endpoint is tried.
    EndpointFailed { endpoint: String, error: String },
    /// Nothing to transfer: the store (pull) or the registry (push) has it.
    BlobSkipped { digest: Digest },
    /// A transfer began; `size` from the manifest's descriptor.
    BlobStarted { digest: Digest, size: u64 },
    /// Bytes moved so far for a blob being pulled.
    BlobProgress { digest: Digest, done: u64, size: u64 },
    /// The blob is verified and stored (pull) or committed (push).
    BlobDone { digest: Digest },
    /// The manifest was stored locally (pull) or uploaded (push).
    ManifestDone { digest: Digest },
}
