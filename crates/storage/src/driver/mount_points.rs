//! The entries a container's root must have for the runtime to mount on
//! (`/proc`, `/etc/hosts`, ...), made in the container's own layer before
//! it is mounted, where the image lacks them.
//!
//! The runtime makes a missing mount point itself, inside the container,
//! through the overlay mount: the kernel then copies the directories above
//! it up into the container's layer first (`/etc` for `/etc/hosts`), which
//! for podman's few cost most of a millisecond of every start. Made here
//! they cost a few plain mkdirs and creates in the new upper directory,
//! and the container sees what the runtime would have made: the same
//! entries (directories 0755, files 0644, root's) under copies of the
//! image's directories (their owner and mode).
//!
//! Which entries the image has is read from its layers the way overlayfs
//! merges them: per path component, the topmost layer that has it, a
//! whiteout hiding it, an opaque directory or a non-directory hiding the
//! layers below.

use std::fs;
use std::io;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};

/// A mount point: its path under the root (no leading `/`, no `..`), and
/// whether it is a directory (else a file, for a file bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountPoint {
    pub path: &'static str,
    pub dir: bool,
}

/// What the image's layers show at a path.
enum Merged {
    Missing,
    /// A directory, as the topmost layer has it, and the layers (top
    /// first) whose directories merge into it.
    Dir(fs::Metadata, Vec<PathBuf>),
    Other,
}

/// Make `points` in the empty container layer `upper` over `layers`
/// (their `diff` directories, top first), where the image lacks them.
/// One under a non-directory of the image (a `/etc` that is a symlink)
/// is left to the runtime, which refuses or follows it inside the root.
pub(crate) fn make(upper: &Path, layers: &[&Path], points: &[MountPoint]) -> Result<()> {
    for p in points {
        let mut rel = PathBuf::new();
        let mut below: Vec<PathBuf> = layers.iter().map(|l| l.to_path_buf()).collect();
        let parts: Vec<&str> = p.path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            rel.push(part);
            let last = i + 1 == parts.len();
            match lookup(&below, &rel)? {
                Merged::Dir(md, dirs) => {
                    if !last {
                        copy_dir(upper, &rel, &md)?;
                    }
                    below = dirs;
                }
                Merged::Other => break,
                Merged::Missing => {
                    make_missing(upper, &rel, last && !p.dir)?;
                    below = Vec::new();
                }
            }
        }
    }
    Ok(())
}

/// `rel` as the layers `dirs` (top first) merge it.
fn lookup(dirs: &[PathBuf], rel: &Path) -> Result<Merged> {
    let mut found: Option<fs::Metadata> = None;
    let mut merged = Vec::new();
    for d in dirs {
        let path = d.join(rel);
        let md = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).context(|| format!("stat {}", path.display())),
        };
        // A whiteout (a 0/0 character device) hides it from here down.
        if md.file_type().is_char_device() && md.rdev() == 0 {
            break;
        }
        if !md.is_dir() {
            // The first: it is not a directory. Below a directory: hidden.
            if found.is_none() {
                return Ok(Merged::Other);
            }
            break;
        }
        found.get_or_insert(md);
        merged.push(d.clone());
        if matches!(xattr::get(&path, image::layer::OVERLAY_OPAQUE_XATTR), Ok(Some(v)) if v == b"y") {
            break;
        }
    }
    Ok(match found {
        Some(md) => Merged::Dir(md, merged),
        None => Merged::Missing,
    })
}

/// The image's directory `rel` in the container's layer, as overlayfs
/// copies it up: its owner and mode (its times change anyway, with the
/// entry made in it).
fn copy_dir(upper: &Path, rel: &Path, md: &fs::Metadata) -> Result<()> {
    let path = upper.join(rel);
    match fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => {}
        // Copied for an earlier mount point.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e).context(|| format!("create {}", path.display())),
    }
    std::os::unix::fs::lchown(&path, Some(md.uid()), Some(md.gid())).context(|| format!("chown {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(md.mode() & 0o7777))
        .context(|| format!("chmod {}", path.display()))
}

/// A missing entry, as the runtime makes mount points: a file 0644 or a
/// directory 0755, root's.
fn make_missing(upper: &Path, rel: &Path, file: bool) -> Result<()> {
    let path = upper.join(rel);
    let made = if file {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map(drop)
    } else {
        match fs::DirBuilder::new().mode(0o755).create(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            r => r,
        }
    };
    made.context(|| format!("create {}", path.display()))?;
    // The umask's share back.
    fs::set_permissions(&path, fs::Permissions::from_mode(if file { 0o644 } else { 0o755 }))
        .context(|| format!("chmod {}", path.display()))
}

/// Append to `w` the entries of `shared` (a directory of mount points
/// shared by containers as their topmost lower layer) that the container's
/// layer `upper` neither has nor hides, parents first. podman's runtime
/// makes a container's mount points in the container's own layer, so
/// podman's `diff` counts them (`/etc` changed) and `commit` keeps them:
/// a container's layer here reads the same.
pub(crate) fn append_unshadowed<W: io::Write>(
    shared: &Path,
    upper: &Path,
    w: &mut image::layer::LayerWriter<W>,
) -> Result<()> {
    let root = fs::File::open(shared).context(|| format!("open {}", shared.display()))?;
    let mut entries = Vec::new();
    list(shared, Path::new(""), &mut entries)?;
    for rel in entries {
        if !in_upper(upper, &rel)? {
            w.append(std::os::fd::AsFd::as_fd(&root), &rel)?;
        }
    }
    Ok(())
}

/// Every entry below `dir` (relative to the walk's start), parents first.
fn list(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .context(|| format!("list {}", dir.display()))?
        .map(|e| e.map(|e| (e.file_name(), e.file_type().is_ok_and(|t| t.is_dir()))))
        .collect::<io::Result<_>>()
        .context(|| format!("list {}", dir.display()))?;
    names.sort();
    for (name, is_dir) in names {
        out.push(rel.join(&name));
        if is_dir {
            list(&dir.join(&name), &rel.join(&name), out)?;
        }
    }
    Ok(())
}

/// Whether the upper directory `upper` has `rel` or hides it from the
/// layers below: a whiteout, a non-directory or an opaque directory on the
/// way. Checked a component at a time, never through one that is not a
/// directory (the container owns this tree); only metadata is read.
fn in_upper(upper: &Path, rel: &Path) -> Result<bool> {
    let mut path = upper.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let md = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).context(|| format!("stat {}", path.display())),
        };
        let whiteout = md.file_type().is_char_device() && md.rdev() == 0;
        if whiteout || i + 1 == parts.len() || !md.is_dir() {
            return Ok(true);
        }
        if matches!(xattr::get(&path, image::layer::OVERLAY_OPAQUE_XATTR), Ok(Some(v)) if v == b"y") {
            return Ok(true);
        }
    }
    Ok(true)
}
