//! A build's private scratch directory under the runroot: the context it
//! unpacked, secrets' files, here-documents, copies for binds, and the
//! mount points of RUN's binds (`binds/`). `<runroot>/build/<name>`, 0700,
//! with `<name>.lock` held while the build runs: a build killed on the way
//! leaves one whose lock is free, which the next build sweeps (its binds
//! unmounted first, and nothing removed while one is still mounted: a bind
//! of the context must never lead the removal into the user's files).

use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
use sys::fs::{FileLock, LockMode};

/// The scratch directory of one build, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl Scratch {
    /// A new scratch directory under `runroot`, after sweeping those of
    /// builds that are gone.
    pub fn new(runroot: &Path) -> io::Result<Scratch> {
        let parent = runroot.join("build");
        sys::fs::create_private_dir(&parent, 0o700)?;
        sweep(&parent);
        let dir = tempfile::Builder::new().prefix("build-").tempdir_in(&parent)?.keep();
        let lock_path = lock_of(&dir);
        let lock = FileLock::exclusive(&lock_path)?;
        std::fs::create_dir(dir.join("binds"))?;
        Ok(Scratch { dir, lock_path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where RUN's binds are attached.
    pub fn binds(&self) -> PathBuf {
        self.dir.join("binds")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if remove(&self.dir) {
            let _ = std::fs::remove_file(&self.lock_path);
        }
    }
}

fn lock_of(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Remove the scratch directories under `parent` whose builds are gone
/// (their lock free).
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let lock_path = entry.path();
        let Some(dir) = lock_path.to_str().and_then(|p| p.strip_suffix(".lock")).map(PathBuf::from) else {
            continue;
        };
        let Ok(Some(_held)) = FileLock::try_acquire(&lock_path, LockMode::Exclusive) else { continue };
        if remove(&dir) {
            let _ = std::fs::remove_file(&lock_path);
        }
    }
}

/// Unmount what is attached under `dir/binds`, then remove `dir`; nothing
/// is removed while a bind is still mounted. Whether it is gone.
fn remove(dir: &Path) -> bool {
    let binds = dir.join("binds");
    if let Ok(entries) = std::fs::read_dir(&binds) {
        for entry in entries.flatten() {
            let point = entry.path();
            for _ in 0..16 {
                if !is_mount_root(&point) {
                    break;
                }
                let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
            }
            if is_mount_root(&point) {
                tracing::warn!("{} is still mounted: leaving {}", point.display(), dir.display());
                return false;
            }
        }
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => {
            tracing::warn!("removing {}: {e}", dir.display());
            false
        }
    }
}

/// Whether `path` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT).
fn is_mount_root(path: &Path) -> bool {
    match statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BASIC_STATS) {
        Ok(st) => {
            st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
                && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_goes_when_dropped_and_a_stale_one_is_swept() {
        let root = tempfile::tempdir().unwrap();
        let s = Scratch::new(root.path()).unwrap();
        let dir = s.path().to_path_buf();
        std::fs::write(dir.join("secret"), "x").unwrap();
        drop(s);
        assert!(!dir.exists());
        // A build killed on the way: its directory stays, its lock is free;
        // a bind it made of the user's files is still attached.
        let stale = root.path().join("build/build-stale");
        std::fs::create_dir_all(stale.join("binds/b")).unwrap();
        std::fs::write(root.path().join("build/build-stale.lock"), "").unwrap();
        let user = tempfile::tempdir().unwrap();
        std::fs::write(user.path().join("precious"), "keep").unwrap();
        let bound = rustix::mount::mount_bind(user.path(), stale.join("binds/b"));
        let live = Scratch::new(root.path()).unwrap();
        assert!(!stale.exists(), "a stale scratch directory was left");
        assert!(live.path().exists());
        if bound.is_ok() {
            // Unmounted first: the sweep never reached into the source.
            assert_eq!(std::fs::read_to_string(user.path().join("precious")).unwrap(), "keep");
        }
    }
}
