//! OCI image model and content store.
//!
//! - `reference`: image references with the Docker grammar and normalisation
//! - `digest`: sha256 digests, verifying readers/writers
//! - `store`: the content-addressed blob store under `--root`
//! - `manifest`: manifests, indexes, configs (OCI and Docker schema2), platform choice
//! - `archive`: oci-dir, oci-archive and docker-archive read/write
//! - `layer`: applying and creating layer tarballs safely (whiteouts, no escapes)

pub mod archive;
pub mod digest;
pub mod error;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod store;

pub use error::{Error, Result};
