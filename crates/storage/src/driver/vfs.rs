//! The vfs driver: no kernel help needed. Each layer is a full copy of its
//! parent with the layer applied flattened (whiteouts delete); a container's
//! root filesystem is another full copy, bind-mounted where the caller wants
//! it. Slow and large, but it works on any filesystem and without overlayfs.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use image::layer::{self, Applied, Mode};

use super::copy::copy_tree;
use super::{Driver, LayerDirs, MountPoint, Writes};
use crate::changes;
use crate::error::{Context, Result};

pub(crate) struct Vfs;

impl Driver for Vfs {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn apply(&self, parent: Option<&Path>, tar: &mut dyn Read, diff: &Path) -> Result<Applied> {
        if let Some(parent) = parent {
            copy_tree(parent, diff)?;
        }
        Ok(layer::apply(tar, diff, Mode::Flatten)?)
    }

    fn create_container(
        &self,
        dir: &Path,
        layers: &[LayerDirs],
        mount_points: &[MountPoint],
    ) -> Result<Option<String>> {
        let rootfs = dir.join("rootfs");
        fs::create_dir(&rootfs).context(|| format!("create {}", rootfs.display()))?;
        if let Some(top) = layers.last() {
            copy_tree(&top.diff, &rootfs)?;
        }
        // The copy is the one layer (and the container's).
        super::mount_points::make(&rootfs, &[&rootfs], mount_points)?;
        Ok(None)
    }

    // A bind mount has no sync of its own at unmount to skip.
    fn mount(
        &self,
        dir: &Path,
        _layers: &[LayerDirs],
        _shared: Option<&str>,
        target: &Path,
        _writes: Writes,
    ) -> Result<()> {
        let rootfs = dir.join("rootfs");
        rustix::mount::mount_bind(&rootfs, target)
            .context(|| format!("bind mount {} at {}", rootfs.display(), target.display()))
    }

    fn diff(&self, dir: &Path, layers: &[LayerDirs], _shared: Option<&str>, out: &mut dyn Write) -> Result<()> {
        let empty;
        let lower = match layers.last() {
            Some(top) => top.diff.as_path(),
            None => {
                empty = tempfile::tempdir().context(|| "temp dir".into())?;
                empty.path()
            }
        };
        changes::write(lower, &dir.join("rootfs"), out)
    }
}
