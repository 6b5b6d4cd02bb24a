//! Mount reference counts, kept in the runroot (a tmpfs: the counts vanish
//! with the mounts at reboot). Two users of one container fs each mount it;
//! the mount goes away when the last one unmounts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};

use crate::error::Result;
use crate::meta;

pub(crate) struct Counts {
    path: PathBuf,
    counts: BTreeMap<String, u32>,
}

impl Counts {
    /// Load the counts; the caller holds the store lock until it saves.
    pub(crate) fn load(runroot: &Path) -> Result<Counts> {
        let path = runroot.join("mounts.json");
        let counts = meta::read_json(&path)?.unwrap_or_default();
        Ok(Counts { path, counts })
    }

    pub(crate) fn get(&self, id: &str) -> u32 {
        self.counts.get(id).copied().unwrap_or(0)
    }

    pub(crate) fn set(&mut self, id: &str, n: u32) {
        if n == 0 {
            self.counts.remove(id);
        } else {
            self.counts.insert(id.to_string(), n);
        }
    }

    pub(crate) fn save(&self) -> Result<()> {
        // The runroot is a tmpfs: the counts die with the mounts at reboot.
        meta::write_json(&self.path, &self.counts, sys::fs::Durability::ReplaceOnly)
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
