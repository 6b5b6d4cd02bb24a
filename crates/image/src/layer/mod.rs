//! Applying OCI layer tarballs to directories, and making them from directories.
//!
//! Layers come from registries and archives: they are untrusted input. Applying
//! one must never create, change or delete anything outside the target
//! directory, whatever the tar says. Every entry's parent directory is resolved
//! re-rooted at an fd of the target (`sys::fs::open_rerooted`, openat2
//! `RESOLVE_IN_ROOT`), and the entry itself is created with `*at` calls
//! relative to that parent fd, never following a symlink at the last
//! component. Entry names that are absolute or contain `..`, and hardlinks
//! that point outside or through a symlink, are refused with
//! [`Error::UnsafeLayer`](crate::Error::UnsafeLayer) naming the entry.
//!
//! Symlinks met as a parent are followed as docker follows them when it
//! applies a layer in a chroot: re-rooted at the target, so an absolute
//! `lib64 -> /usr/lib` (common in images) means the tree's own `usr/lib`, and
//! `..` stops at the top. Nothing can lead out of the tree.
//!
//! Two output modes ([`Mode`]):
//! - [`Mode::Flatten`]: the target holds the lower layers already (vfs driver);
//!   `.wh.<name>` deletes `<name>`, `.wh..wh..opq` empties the directory of
//!   everything this layer did not add.
//! - [`Mode::Overlay`]: the target is an empty layer directory used as an
//!   overlayfs lower/upper; whiteouts become what overlayfs understands: a char
//!   device 0:0 named `<name>`, and `trusted.overlay.opaque="y"` on opaque dirs.
//!
//! **Failure leaves a partial tree.** When [`apply`] returns an error the target
//! may hold some of the layer's entries. Callers apply into a temporary directory
//! and rename it into place only on success (the storage crate does), so a bad
//! or truncated layer never becomes visible.
//!
//! The reverse, [`create`], writes a deterministic layer tar from a directory,
//! either the whole tree or an overlayfs upper directory (whiteout devices and
//! opaque xattrs turned back into `.wh.` entries); [`LayerWriter`] is the
//! entry-by-entry interface for callers that compute their own change set.

mod apply;
mod create;
mod fsops;
mod paths;
pub(crate) mod stream;
mod whiteout;

#[cfg(test)]
mod tests;

pub use apply::apply;
pub use create::{append_tree, create, Exact, LayerWriter, Source};
pub use stream::{decoder, sniff, Compression};
pub use whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

use crate::digest::Digest;

/// How whiteouts in the layer are materialised on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply onto a copy of the lower layers: whiteouts delete.
    Flatten,
    /// Apply into an empty overlayfs layer dir: whiteouts become overlay markers.
    Overlay,
}

/// What [`apply`] learned while streaming the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar: the `diff_id` in the image config.
    pub diff_id: Digest,
    /// sha256 of the bytes as read (compressed): the layer's blob digest.
    pub digest: Digest,
    /// Size of the uncompressed tar in bytes.
    pub size: u64,
    /// Size of the input as read.
    pub compressed_size: u64,
    pub compression: Compression,
}
