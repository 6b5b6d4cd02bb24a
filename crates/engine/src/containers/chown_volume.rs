//! The `U` volume option: the mount's source, and everything below it, is
//! given to the container's user (uid and gid), as podman does.
//!
//! The walk never follows a link: every entry is changed with
//! `fchownat(AT_SYMLINK_NOFOLLOW)` by name in its parent's fd (a symlink
//! itself gets the owner, never its target), and only directories opened
//! with `O_NOFOLLOW | O_DIRECTORY` from their parent's fd are descended
//! into, so a link planted in a shared directory cannot take the chown
//! out of the tree, even while the tree changes under us.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use super::mounts::Mount;
use crate::error::{Error, Result};
use crate::Engine;

/// Deeper trees than this are refused rather than walked (each level holds an fd).
const MAX_DEPTH: usize = 512;

impl Engine {
    /// Before each start, as podman does (a source given back to another
    /// owner since is taken again): the sources of container `c`'s `U`
    /// mounts go to the user its process runs as.
    pub(super) fn chown_u_mounts(&self, c: &super::Container) -> Result<()> {
        if !c.mounts.iter().any(|m| m.options().iter().any(|o| o == "U")) {
            return Ok(());
        }
        let config = super::spec::read_config(&self.bundle_dir(&c.id))?;
        let (uid, gid) = super::spec::process_owner(&config);
        self.chown_volumes(&c.mounts, uid, gid)
    }

    /// Chown the sources of `mounts` that carry `U` to `uid:gid`.
    pub(crate) fn chown_volumes(&self, mounts: &[Mount], uid: u32, gid: u32) -> Result<()> {
        for m in mounts {
            let (source, options) = match m {
                Mount::Bind { source, options, .. } => (std::path::PathBuf::from(source), options),
                Mount::Volume { name: Some(name), options, .. } => (self.volume(name)?.data(&self.root), options),
                _ => continue,
            };
            if options.iter().any(|o| o == "U") {
                chown_tree(&source, uid, gid)
                    .map_err(|e| Error::caused(format_args!("chown {} to {uid}:{gid}", source.display()), e))?;
            }
        }
        Ok(())
    }
}

/// A tmpfs with `U` (`--tmpfs /t:U`, `--mount type=tmpfs,...,U`) is
/// mounted owned by the user, as podman does: `uid=`/`gid=` options.
pub(super) fn tmpfs_owner(config: &mut serde_json::Value, uid: u32, gid: u32) {
    let Some(mounts) = config["mounts"].as_array_mut() else { return };
    for m in mounts.iter_mut().filter(|m| m["type"] == "tmpfs") {
        let Some(options) = m["options"].as_array_mut() else { continue };
        if options.iter().any(|o| o == "U") {
            options.retain(|o| o != "U");
            options.push(format!("uid={uid}").into());
            options.push(format!("gid={gid}").into());
        }
    }
}

/// Give `path` (the user's own path: followed if it is a link, as podman
/// does) and everything below it, links themselves included, to `uid:gid`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let top =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY, Mode::empty())?;
    let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    rustix::fs::fchown(&top, owner.0, owner.1)?;
    if FileType::from_raw_mode(rustix::fs::fstat(&top)?.st_mode) == FileType::Directory {
        walk(top.as_fd(), owner, 0)?;
    }
    Ok(())
}

fn walk(dir: BorrowedFd, owner: (Option<Uid>, Option<Gid>), depth: usize) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other("the tree is too deep"));
    }
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        match rustix::fs::chownat(dir, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) => {}
            // Removed meanwhile: nothing to give.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        }
        if matches!(entry.file_type(), FileType::Directory | FileType::Unknown) {
            match open_subdir(dir, name) {
                Ok(sub) => walk(sub.as_fd(), owner, depth + 1)?,
                // Not a directory (a link, or replaced since): not ours to enter.
                Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn open_subdir(dir: BorrowedFd, name: &CStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn links_are_changed_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "x").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/f"), "y").unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("dirlink")).unwrap();
        chown_tree(d.path(), 4242, 4343).unwrap();
        for p in ["", "a", "a/b", "a/b/f", "a/link", "dirlink"] {
            let m = std::fs::symlink_metadata(d.path().join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (4242, 4343), "{p}");
        }
        let m = std::fs::metadata(&victim).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    }
}
