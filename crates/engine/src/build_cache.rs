//! The build cache: which image a build step made from what (`berth
//! build`'s `--layers`, on by default as podman's). A step's key (its
//! parent image, its instruction, the build arguments and the content it
//! copies: the builder's to compute) names a file under
//! `<root>/build-cache/` holding the image's ID. An entry whose image is
//! gone is a miss; nothing else needs cleaning.

use std::path::PathBuf;

use sys::fs::Durability;

use crate::error::{Context as _, Result};
use crate::{Engine, Image};

impl Engine {
    fn build_cache_dir(&self) -> PathBuf {
        self.root().join("build-cache")
    }

    /// The image a step of key `key` (hex) made, if it is still here.
    pub fn build_cache_get(&self, key: &str) -> Result<Option<Image>> {
        let path = self.build_cache_dir().join(key);
        let id = match sys::fs::read_regular(&path, 4096) {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(crate::Error::caused(format_args!("reading {}", path.display()), e)),
        };
        self.find(&id)
    }

    /// Every entry of the build cache: its file, and the image ID it names
    /// (`None` if unreadable). For `system df` and `system prune`.
    pub(crate) fn build_cache_entries(&self) -> Vec<(PathBuf, Option<String>)> {
        let Ok(entries) = std::fs::read_dir(self.build_cache_dir()) else { return Vec::new() };
        entries
            .flatten()
            .map(|e| {
                let id =
                    sys::fs::read_regular(&e.path(), 4096).ok().map(|b| String::from_utf8_lossy(&b).trim().to_string());
                (e.path(), id)
            })
            .collect()
    }

    /// Where `build`'s COPY digests are remembered (`containers::build_copy`):
    /// a cache any prune may empty.
    pub(crate) fn copy_digests_dir(&self) -> PathBuf {
        self.root().join(crate::containers::build_copy::DIGESTS_DIR)
    }

    /// Remember that the step of key `key` made `image`.
    pub fn build_cache_put(&self, key: &str, image: &Image) -> Result<()> {
        let dir = self.build_cache_dir();
        sys::fs::create_private_dir(&dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
        let path = dir.join(key);
        // Not fsynced: an entry a crash loses is a miss, nothing worse.
        sys::fs::write_atomic(&path, image.id.to_string().as_bytes(), 0o600, Durability::ReplaceOnly)
            .ctx(|| format!("writing {}", path.display()))
    }
}
