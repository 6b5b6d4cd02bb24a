//! A container's overlay upper directory made a layer's `diff/` where it
//! is (`Store::adopt_container_layer`), instead of tarring it and unpacking
//! the tar again: a build step's layer is then read once, for its blob.
//!
//! The upper dir already holds what a layer's `diff/` holds (whiteouts as
//! 0:0 character devices, opaque directories marked with
//! `trusted.overlay.opaque=y`), plus a few things its tar leaves out, which
//! go here so that the layer is exactly what its tar unpacks to:
//! overlayfs's own bookkeeping xattrs (`trusted.overlay.origin`, `impure`,
//! ...: a tar never carries them, and in a lower layer they would only
//! mislead the kernel), sockets (a tar cannot hold them), and the root's
//! owner, mode and xattrs (a tar has no entry for the root: every layer's
//! root is 0555 root:root, see `Store::stage`).
//!
//! One thing it cannot fix: a file the container named `.wh.<name>` is, in
//! the tar, a whiteout of `<name>`, which the upper dir does not say. Such a
//! tree is refused, and the caller unpacks the tar as before.
//!
//! Everything is reached through fds opened without following symlinks;
//! the directory is a staging dir of ours that no mount or container sees.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use image::layer::{OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use rustix::fs::{openat, statat, unlinkat, AtFlags, Dir, FileType, Mode, OFlags};

use crate::error::{Context, Result};

/// The prefix of the xattrs overlayfs gives a meaning to.
const OVERLAY_XATTRS: &[u8] = b"trusted.overlay.";

/// Make the upper dir taken into `diff` read as its layer tar unpacks;
/// false (nothing the tar keeps changed) if it holds a `.wh.` name.
pub(crate) fn upper_to_layer(diff: &Path) -> Result<bool> {
    let root =
        openat(rustix::fs::CWD, diff, dir_flags(), Mode::empty()).context(|| format!("open {}", diff.display()))?;
    if !walk(root.as_fd(), diff)? {
        return Ok(false);
    }
    // The root last: refused above, the tree goes back to its container as
    // it was (what the walk changed is what a layer tar leaves out).
    let root = File::from(root);
    rustix::fs::fchown(&root, Some(rustix::fs::Uid::ROOT), Some(rustix::fs::Gid::ROOT))
        .context(|| format!("chown {}", diff.display()))?;
    rustix::fs::fchmod(&root, Mode::from_raw_mode(crate::store::LAYER_ROOT_MODE))
        .context(|| format!("chmod {}", diff.display()))?;
    let keys: Vec<OsString> =
        xattr::FileExt::list_xattr(&root).context(|| format!("list the xattrs of {}", diff.display()))?.collect();
    for key in keys {
        xattr::FileExt::remove_xattr(&root, &key).context(|| format!("remove {key:?} from {}", diff.display()))?;
    }
    Ok(true)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Every entry below `dir` (shown as `shown`): false at the first `.wh.` name.
fn walk(dir: BorrowedFd, shown: &Path) -> Result<bool> {
    // Listed first: entries are removed below.
    let mut names = Vec::new();
    for entry in Dir::read_from(dir).context(|| format!("list {}", shown.display()))? {
        let entry = entry.context(|| format!("list {}", shown.display()))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    for name in names {
        let path = shown.join(&name);
        if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            tracing::debug!(entry = %path.display(), "a .wh. name: the layer is unpacked from its tar");
            return Ok(false);
        }
        let st = statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW).context(|| format!("stat {}", path.display()))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::Socket {
            unlinkat(dir, &name, AtFlags::empty()).context(|| format!("remove {}", path.display()))?;
            continue;
        }
        strip_overlay_xattrs(dir, &name, kind == FileType::Directory, &path)?;
        if kind == FileType::Directory {
            let child =
                openat(dir, &name, dir_flags(), Mode::empty()).context(|| format!("open {}", path.display()))?;
            if !walk(child.as_fd(), &path)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Remove overlayfs's xattrs from entry `name` of `dir` but a directory's
/// `opaque=y`, the one a layer has (and its tar says, as `.wh..wh..opq`).
fn strip_overlay_xattrs(dir: BorrowedFd, name: &OsStr, is_dir: bool, shown: &Path) -> Result<()> {
    // Through the directory's fd; xattr's path calls do not follow the
    // last component (l*xattr), so a symlink's own xattrs are read.
    let mut at = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    at.push(name);
    let keys: Vec<OsString> = match xattr::list(&at) {
        Ok(keys) => keys.collect(),
        // A filesystem without xattrs has none of overlay's either.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTSUP.raw_os_error()) => return Ok(()),
        Err(e) => return Err(e).context(|| format!("list the xattrs of {}", shown.display())),
    };
    for key in keys.iter().filter(|k| k.as_bytes().starts_with(OVERLAY_XATTRS)) {
        if is_dir && key == OVERLAY_OPAQUE_XATTR {
            let value = xattr::get(&at, key).context(|| format!("read {key:?} of {}", shown.display()))?;
            if value.as_deref() == Some(b"y") {
                continue;
            }
        }
        xattr::remove(&at, key).context(|| format!("remove {key:?} from {}", shown.display()))?;
    }
    Ok(())
}
