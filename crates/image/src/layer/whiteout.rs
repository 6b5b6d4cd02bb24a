//! OCI whiteout names and their overlayfs equivalents.
//!
//! In a layer tar, `.wh.<name>` hides `<name>` of the layers below and
//! `<dir>/.wh..wh..opq` hides everything below `<dir>`. Overlayfs expresses the
//! same with a char device 0:0 and the `trusted.overlay.opaque` xattr.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Prefix of a whiteout entry's file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// File name that makes its directory opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to treat a directory as opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of every xattr overlayfs gives a meaning to. Such xattrs are never
/// taken from a tar (a layer could forge redirects or metacopy data) and never
/// written into one.
pub(crate) const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// What a tar entry's file name means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Name<'a> {
    /// An ordinary entry.
    Plain,
    /// `.wh..wh..opq`: the parent directory is opaque.
    Opaque,
    /// `.wh.<name>`: delete `<name>` from the layers below.
    Whiteout(&'a OsStr),
    /// Other `.wh..wh.` names (aufs bookkeeping such as `.wh..wh.plnk`): ignored.
    AufsMeta,
}

pub(crate) fn classify(name: &OsStr) -> Name<'_> {
    let b = name.as_bytes();
    if b == OPAQUE_MARKER.as_bytes() {
        Name::Opaque
    } else if b.starts_with(b".wh..wh.") {
        Name::AufsMeta
    } else if let Some(rest) = b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        Name::Whiteout(OsStr::from_bytes(rest))
    } else {
        Name::Plain
    }
}

/// Whether an xattr may be carried between tar and disk.
pub(crate) fn xattr_allowed(key: &[u8]) -> bool {
    !key.starts_with(OVERLAY_XATTR_PREFIX.as_bytes())
}
