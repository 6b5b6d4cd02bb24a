//! Mount reference counts, kept in the runroot (a tmpfs: the counts vanish
//! with the mounts at reboot). Two users of one container fs each mount it;
//! the mount goes away when the last one unmounts.
//!
//! One small file per container, beside its mount point (so removing the
//! container's run directory removes it): a count costs one file's read or
//! replacement, whatever the number of containers. (Versions before kept
//! them all in one `mounts.json`, read and rewritten whole at each change;
//! a container mounted then reads as mounted once.)

use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};

use crate::error::{Context as _, Result};

/// Container's mount references: `mounts` in its run directory.
pub(crate) struct Count {
    path: PathBuf,
}

impl Count {
    /// The count of the container whose run directory (its mount point's
    /// parent) is `run_dir`; the caller holds the store lock.
    pub(crate) fn of(run_dir: &Path) -> Count {
        Count { path: run_dir.join("mounts") }
    }

    /// 0 when never set (or unreadable: a torn file after a crash reads as
    /// no reference, and the mount itself is checked by the callers).
    pub(crate) fn get(&self) -> u32 {
        std::fs::read_to_string(&self.path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    pub(crate) fn set(&self, n: u32) -> Result<()> {
        let done = if n == 0 {
            sys::fs::ignore_missing(std::fs::remove_file(&self.path))
        } else {
            sys::fs::write_atomic(&self.path, n.to_string().as_bytes(), 0o600, sys::fs::Durability::ReplaceOnly)
        };
        done.context(|| format!("write {}", self.path.display()))
    }
}

/// Whether `path` is the root of a mount (statx STATX_ATTR_MOUNT_ROOT, which
/// also sees bind mounts of the same filesystem, unlike comparing st_dev).
pub(crate) fn is_mount_point(path: &Path) -> bool {
    match statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BASIC_STATS) {
        Ok(st) => {
            st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
                && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Err(_) => false,
    }
}
