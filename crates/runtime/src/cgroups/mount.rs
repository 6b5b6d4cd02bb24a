//! TEMPORARY stub.
use crate::error::Result;
use crate::rootfs::options::Options;
use std::os::fd::OwnedFd;
use std::path::Path;
pub fn mount_in_container(
    _root: &OwnedFd,
    _dest: &Path,
    _o: &Options,
    _m: Option<&super::Manager>,
    _ns: bool,
) -> Result<()> {
    Ok(())
}
