//! Storage drivers: how layers sit on disk and how a container's root
//! filesystem is made from them. The store does bookkeeping (metadata, refs,
//! locking, mount counts); a driver only touches the directories it is given.

mod adopt;
mod copy;
pub(crate) mod mount_points;
pub(crate) mod overlay;
pub(crate) mod vfs;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use image::layer::Applied;

use crate::error::{Context, Error, Result};
pub use mount_points::MountPoint;

/// One layer as a driver needs it for mounting.
#[derive(Debug, Clone)]
pub(crate) struct LayerDirs {
    /// The layer's content directory.
    pub diff: PathBuf,
    /// Short name of the layer's link under `<root>/l` (overlay).
    pub short: String,
}

/// Whether a container's writes must survive a crash of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Writes {
    /// Synced like any file (unmounting an overlay syncs its upper
    /// filesystem, a millisecond or more).
    #[default]
    Synced,
    /// Never synced: for a container removed once it exits (`--rm`), as
    /// podman mounts those (overlay's `volatile`).
    Volatile,
}

impl Writes {
    /// How the container's own files (its records) are written: a volatile
    /// container is not worth an fsync either, since a crash of the host
    /// loses it anyway (and its files, if left half-written, hold nothing).
    pub fn durability(self) -> sys::fs::Durability {
        match self {
            Writes::Synced => sys::fs::Durability::Durable,
            Writes::Volatile => sys::fs::Durability::ReplaceOnly,
        }
    }
}

pub(crate) trait Driver: Send + Sync {
    fn name(&self) -> &'static str;

    /// Unpack `tar` into the empty directory `diff`, as a child of the layer
    /// whose content is `parent`.
    fn apply(&self, parent: Option<&Path>, tar: &mut dyn Read, diff: &Path) -> Result<Applied>;

    /// Whether `apply` ignores `parent`, so the layers of an image can be
    /// unpacked concurrently (each into its own dir).
    fn parallel_apply(&self) -> bool {
        false
    }

    /// A layer was committed (its content now at `layer.diff`).
    fn layer_added(&self, _layer: &LayerDirs) -> Result<()> {
        Ok(())
    }

    /// A layer is being removed.
    fn layer_removed(&self, _layer: &LayerDirs) -> Result<()> {
        Ok(())
    }

    /// Startup repair, under the store lock (e.g. dangling links after a crash).
    fn clean(&self) -> Result<()> {
        Ok(())
    }

    /// Fill the new, empty container dir for a rootfs of `layers` (bottom
    /// to top), with `mount_points` where the image lacks them (a driver
    /// may leave them to the runtime). Returns the name of a directory of
    /// them the driver shares between containers, to be recorded with the
    /// container and given back to [`Driver::mount`] and [`Driver::diff`].
    fn create_container(&self, dir: &Path, layers: &[LayerDirs], mount_points: &[MountPoint])
        -> Result<Option<String>>;

    /// Mount the container's root filesystem at `target` (an empty dir).
    /// With [`Writes::Volatile`], what the container writes may never reach
    /// the disk (no sync at unmount), where the driver can do that.
    /// `shared` is what [`Driver::create_container`] returned.
    fn mount(
        &self,
        dir: &Path,
        layers: &[LayerDirs],
        shared: Option<&str>,
        target: &Path,
        writes: Writes,
    ) -> Result<()>;

    /// Mount the root filesystem `layers` (bottom to top, at least one)
    /// make, read-only, at `target` (an empty dir): an image's, for `diff`.
    fn mount_view(&self, layers: &[LayerDirs], target: &Path) -> Result<()> {
        let top = layers.last().ok_or_else(|| Error::Invalid {
            what: "image view",
            value: String::new(),
            why: "an image without layers has nothing to mount".into(),
        })?;
        read_only_bind(&top.diff, target)
    }

    /// Move the changes of the container in `dir` to `diff` (absent, on
    /// the same filesystem) to become a layer's content as they are,
    /// where the driver keeps a container's changes as it keeps a layer's
    /// (overlay: the upper dir holds whiteouts and opaque directories as a
    /// layer's `diff/` does). Returns false, having moved nothing, where
    /// it does not (vfs: a container holds the whole tree).
    fn take_changes(&self, _dir: &Path, _diff: &Path) -> Result<bool> {
        Ok(false)
    }

    /// Undo [`Driver::take_changes`]: the changes back in `dir`.
    fn give_back_changes(&self, _dir: &Path, _diff: &Path) -> Result<()> {
        Ok(())
    }

    /// Make changes taken into `diff` read as what their layer tar unpacks
    /// to; false where they cannot be (nothing is then changed that the
    /// tar would keep).
    fn changes_to_layer(&self, _diff: &Path) -> Result<bool> {
        Ok(false)
    }

    /// Write the container's changes against its image as a layer tar.
    fn diff(&self, dir: &Path, layers: &[LayerDirs], shared: Option<&str>, out: &mut dyn Write) -> Result<()>;

    /// The driver's part of `info`'s graphStatus (podman's keys).
    fn status(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// The driver a store opens with.
pub(crate) struct Choice {
    pub driver: Box<dyn Driver>,
    /// Set when a new store got vfs because overlay failed its probe: why.
    pub overlay_unusable: Option<String>,
}

/// The driver named `name`, or the best that works under `root` when `None`.
/// `root` is the store's top directory; each driver works below `root/<name>`.
pub(crate) fn choose(root: &Path, name: Option<&str>) -> Result<Choice> {
    let mut overlay_unusable = None;
    let name = match name {
        Some(n) => n.to_string(),
        // A store keeps the driver it was created with: its layers are only
        // readable by that driver.
        None if root.join("overlay/layers").is_dir() => "overlay".into(),
        None if root.join("vfs/layers").is_dir() => "vfs".into(),
        None => match overlay::probe(root) {
            Ok(_) => "overlay".into(),
            Err(why) => {
                warn_vfs_once(&why);
                overlay_unusable = Some(why);
                "vfs".into()
            }
        },
    };
    // Like podman, refuse to switch drivers under an existing store: the
    // images' layers would all be missing.
    let canonical = if name == "overlay2" { "overlay" } else { name.as_str() };
    if !root.join(canonical).join("layers").is_dir() {
        // Another berth may make `canonical`'s layers between the two
        // checks: only a different driver's store is a mismatch.
        if let Some(existing) =
            ["overlay", "vfs"].into_iter().find(|d| *d != canonical && root.join(d).join("layers").is_dir())
        {
            return Err(Error::DriverMismatch { wanted: name.clone(), existing: existing.into() });
        }
    }
    let driver: Box<dyn Driver> = match name.as_str() {
        "overlay" | "overlay2" => Box::new(overlay::Overlay::new(root.join("overlay"))),
        "vfs" => Box::new(vfs::Vfs),
        other => return Err(Error::UnknownDriver(other.into())),
    };
    Ok(Choice { driver, overlay_unusable })
}

/// vfs copies the whole image for every container: a user must know when
/// they got it without asking. Said once per process (tests open many stores).
fn warn_vfs_once(why: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!("overlay cannot be used here ({why}): using the vfs storage driver, which copies the whole image for every container");
    }
}

/// Bind `source` at `target` read-only, atomically (the bind gets its flag
/// while detached, then is attached).
pub(crate) fn read_only_bind(source: &Path, target: &Path) -> Result<()> {
    use rustix::mount::{move_mount, open_tree, MountAttrFlags, MoveMountFlags, OpenTreeFlags};
    let what = || format!("bind {} read-only at {}", source.display(), target.display());
    let tree = open_tree(rustix::fs::CWD, source, OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)
        .context(what)?;
    let ro = sys::mount::MountAttr { set: MountAttrFlags::MOUNT_ATTR_RDONLY, ..Default::default() };
    sys::mount::mount_setattr(&tree, Path::new(""), false, &ro).context(what)?;
    move_mount(&tree, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH).context(what)
}
