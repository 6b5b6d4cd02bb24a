//! Image config blobs (OCI `application/vnd.oci.image.config.v1+json` and
//! Docker's `container.image.v1+json`, which is a superset of the same fields).

use oci_spec::image::ImageConfiguration;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Parse a config blob. Docker-only fields (container_config, docker_version...)
/// are ignored; keep the original bytes if you need them, since the config
/// digest is over those bytes.
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidConfig(e.to_string()))
}

/// The config's `rootfs.diff_ids` as digests: one per layer, over the
/// uncompressed layer tar.
pub fn diff_ids(config: &ImageConfiguration) -> Result<Vec<Digest>> {
    let rootfs = config.rootfs();
    if rootfs.typ() != "layers" {
        return Err(Error::InvalidConfig(format!("rootfs.type {:?}, want \"layers\"", rootfs.typ())));
    }
    rootfs
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| Error::InvalidConfig(format!("rootfs.diff_ids: {e}"))))
        .collect()
}
