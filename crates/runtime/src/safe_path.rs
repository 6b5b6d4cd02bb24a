//! TRANSITIONAL SHIM — delete when every caller uses `sys::fs` directly.
//!
//! Path resolution inside a root lives in `sys::fs` (`open_rerooted`,
//! `open_beneath_no_symlinks`, `ensure_rerooted`, ...). This module only keeps
//! the old names and libc-style `i32` open flags for callers not migrated yet
//! (namespaces.rs, the engine's containers/spec.rs); it has no syscall code of
//! its own. New code must not use it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::error::{Error, Result};

pub use sys::fs::resolve::relative;
pub use sys::fs::Kind;

/// `sys::fs::open_rerooted` with libc open flags.
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    sys::fs::open_rerooted(root, path, oflags(flags))
}

/// `sys::fs::open_beneath_no_symlinks` with libc open flags.
pub fn open_beneath_no_xdev(dir: BorrowedFd, name: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    sys::fs::open_beneath_no_symlinks(dir, name, oflags(flags))
}

/// `sys::fs::ensure_rerooted`, its error in the runtime's type.
pub fn ensure_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    sys::fs::ensure_rerooted(root, path, kind)
        .map_err(|source| Error::Io { context: format!("resolve {} in rootfs", path.display()), source })
}

/// `sys::fs::fd_path`.
pub fn fd_path(fd: &impl AsFd) -> PathBuf {
    sys::fs::fd_path(fd)
}

fn oflags(flags: i32) -> OFlags {
    // Open flags are the kernel's bits, the same in libc and rustix.
    OFlags::from_bits_retain(flags as u32)
}
