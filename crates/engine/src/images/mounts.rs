//! `image mount`: an image's root filesystem mounted read-only for the
//! host to read, reference counted in the layer store (see
//! `storage::Store::mount_image`). A mounted image is not removed unless
//! forced (`rmi -f` unmounts it first): podman 4.3 removes it silently,
//! pulling the tree from under whoever reads it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::{Engine, Image};

impl Engine {
    /// Mount `img` (again); returns the mount point.
    pub fn mount_image(&self, img: &Image) -> Result<PathBuf> {
        // Shared: `rmi` (exclusive) cannot remove it meanwhile.
        let _use = self.image_use_lock(sys::fs::LockMode::Shared)?;
        if !self.image_recorded(&img.id)? {
            return Err(Error::not_found(format!("{}: image not known", img.id.hex())));
        }
        Ok(self.layers()?.mount_image(img.id.hex(), &img.chain_ids())?)
    }

    /// Drop one mount of `img` (every one with `force`); returns whether
    /// it was mounted.
    pub fn unmount_image(&self, img: &Image, force: bool) -> Result<bool> {
        Ok(self.layers()?.unmount_image(img.id.hex(), force)?)
    }

    /// The images mounted, with their mount points, in the store's order.
    pub fn mounted_images(&self) -> Result<Vec<(Image, PathBuf)>> {
        let mounted = self.layers()?.mounted_images()?;
        if mounted.is_empty() {
            return Ok(Vec::new());
        }
        let images = self.images()?;
        Ok(mounted
            .into_iter()
            .filter_map(|(id, at)| images.iter().find(|i| i.id.hex() == id).map(|i| (i.clone(), at)))
            .collect())
    }

    /// Refuse to remove a mounted image (`force`: unmount it first).
    pub(crate) fn check_unmounted(&self, img: &Image, force: bool) -> Result<()> {
        let layers = self.layers()?;
        if !layers.image_mounted(img.id.hex()) {
            return Ok(());
        }
        if force {
            layers.unmount_image(img.id.hex(), true)?;
            return Ok(());
        }
        Err(Error::in_use(format!(
            "image {} is mounted: unmount it (berth image unmount) or force its removal",
            img.id.hex()
        )))
    }
}
