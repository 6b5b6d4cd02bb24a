//! What the store's images, containers and volumes take on disk (`system
//! df`), and what removing some of them frees (`system prune`): one model
//! for both, so the reclaimable figure df shows is what prune then frees
//! (docker's are often not: moby#21925).
//!
//! Sizes are bytes allocated on the store's filesystem (st_blocks, as `du`
//! counts them; an inode linked twice counted once), not podman's apparent
//! sizes of tar contents: only allocated bytes add up to what a removal
//! gives back to the filesystem. An image takes its unpacked layers and its
//! blobs (compressed layers, config, manifests) and its record; a container
//! its own layer and data directory (the image's layers are the image's);
//! a volume its directory.
//!
//! The store is cut into parts (a layer, a blob, a container's
//! directories...), each measured once and owned by the images, containers
//! or volumes that keep it: a part is freed when all its owners go. Shared
//! layers are thus counted once in totals, and as freed only when the last
//! image holding them goes.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use image::digest::Digest;
use storage::ChainId;

use crate::containers::Container;
use crate::error::Result;
use crate::volumes::Volume;
use crate::{Engine, Image};

/// Whatever can own parts of the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An image, by ID (`sha256:...`).
    Image(String),
    /// A container, by ID.
    Container(String),
    /// A volume, by name.
    Volume(String),
}

/// The store measured: its parts, their sizes and owners.
pub struct DiskUsage {
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
    /// Each part's bytes and owners (none: a cache any prune empties).
    parts: Vec<(u64, Vec<Owner>)>,
}

pub struct ImageUsage {
    pub image: Image,
    /// Bytes of everything it holds.
    pub size: u64,
    /// Of `size`, what other images hold too.
    pub shared: u64,
    /// The containers made from it.
    pub containers: usize,
}

pub struct ContainerUsage {
    pub container: Container,
    /// Bytes of its own: its writable layer and data directory.
    pub size: u64,
    /// Its image's bytes (its whole root filesystem is `size` + this).
    pub image_size: u64,
    /// Named volumes it mounts.
    pub volumes: usize,
}

pub struct VolumeUsage {
    pub volume: Volume,
    pub size: u64,
    /// The containers that mount it.
    pub links: usize,
}

impl DiskUsage {
    /// Bytes of every image, what they share counted once, and of the
    /// build caches (which count with images).
    pub fn images_size(&self) -> u64 {
        self.parts.iter().filter(|(_, owners)| is_images(owners)).map(|(b, _)| b).sum()
    }

    /// Bytes freed once `gone` are removed: each part all of whose owners
    /// are among them, and the caches (parts of no owner).
    pub fn freed(&self, gone: &HashSet<Owner>) -> u64 {
        self.parts.iter().filter(|(_, owners)| owners.iter().all(|o| gone.contains(o))).map(|(b, _)| b).sum()
    }

    /// What `system prune --all --volumes` removes, as [`DiskUsage::freed`]
    /// takes it: every container that does not run, then every image and
    /// volume that no container left uses.
    pub fn prunable(&self) -> HashSet<Owner> {
        let live: Vec<&Container> =
            self.containers.iter().map(|c| &c.container).filter(|c| c.state.is_live()).collect();
        let mut gone = HashSet::new();
        for c in self.containers.iter().filter(|c| !c.container.state.is_live()) {
            gone.insert(Owner::Container(c.container.id.clone()));
        }
        for i in &self.images {
            if !live.iter().any(|c| c.image_id == i.image.id.to_string()) {
                gone.insert(Owner::Image(i.image.id.to_string()));
            }
        }
        for v in &self.volumes {
            if !live.iter().any(|c| c.mounts.iter().any(|m| m.volume() == Some(v.volume.name.as_str()))) {
                gone.insert(Owner::Volume(v.volume.name.clone()));
            }
        }
        gone
    }

    /// [`DiskUsage::freed`] by `prunable`'s images alone, containers alone
    /// and volumes alone: df's three RECLAIMABLE figures, which add up to
    /// what `system prune --all --volumes` frees.
    pub fn reclaimable(&self) -> (u64, u64, u64) {
        let gone = self.prunable();
        let freed = |kind: fn(&[Owner]) -> bool| -> u64 {
            self.parts
                .iter()
                .filter(|(_, owners)| kind(owners) && owners.iter().all(|o| gone.contains(o)))
                .map(|(b, _)| b)
                .sum()
        };
        (
            freed(is_images),
            freed(|o| matches!(o.first(), Some(Owner::Container(_)))),
            freed(|o| matches!(o.first(), Some(Owner::Volume(_)))),
        )
    }
}

/// Whether a part with `owners` counts with images: an image's, or a
/// cache's (no owner). A part has owners of one kind only.
fn is_images(owners: &[Owner]) -> bool {
    matches!(owners.first(), None | Some(Owner::Image(_)))
}

impl Engine {
    /// Measure the store (see the module's comment).
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.images()?;
        let containers = self.containers()?;
        let volumes = self.volumes()?;
        let layers = self.layers()?;
        let mut seen = HashSet::new();
        let mut parts: Vec<(u64, Vec<Owner>)> = Vec::new();

        // Image parts: layers, blobs and records, each owned by every image
        // that holds it.
        let mut layer_owners: HashMap<ChainId, Vec<Owner>> = HashMap::new();
        let mut blob_owners: HashMap<Digest, Vec<Owner>> = HashMap::new();
        for img in &images {
            let owner = Owner::Image(img.id.to_string());
            for c in img.chain_ids() {
                layer_owners.entry(c).or_default().push(owner.clone());
            }
            let mut blobs = HashSet::from([img.id.clone()]);
            self.blob_closure(&img.digests, &mut blobs);
            for d in blobs {
                blob_owners.entry(d).or_default().push(owner.clone());
            }
        }
        let mut image_parts: HashMap<String, Vec<usize>> = HashMap::new();
        let mut add = |parts: &mut Vec<(u64, Vec<Owner>)>, bytes: u64, owners: Vec<Owner>| {
            for o in &owners {
                if let Owner::Image(id) = o {
                    image_parts.entry(id.clone()).or_default().push(parts.len());
                }
            }
            parts.push((bytes, owners));
        };
        let mut cache = LayerCache::read(&self.layer_cache_path());
        for (chain, owners) in layer_owners {
            let diff = layers.layer_path(&chain);
            add(&mut parts, layer_bytes(&diff, chain.hex(), &mut cache, &mut seen), owners);
        }
        cache.write_if_changed();
        for (digest, owners) in blob_owners {
            add(&mut parts, tree_bytes(&self.blobs.blob_path(&digest), &mut seen), owners);
        }
        for img in &images {
            let record = self.root().join("image-records").join(format!("{}.json", img.id.hex()));
            add(&mut parts, tree_bytes(&record, &mut seen), vec![Owner::Image(img.id.to_string())]);
        }
        // The build cache: an entry goes with the image it names (or with
        // any prune once that is gone); remembered COPY digests with any.
        let ids: HashSet<String> = images.iter().map(|i| i.id.to_string()).collect();
        for (path, image) in self.build_cache_entries() {
            let owners = match image {
                Some(id) if ids.contains(&id) => vec![Owner::Image(id)],
                _ => Vec::new(),
            };
            add(&mut parts, tree_bytes(&path, &mut seen), owners);
        }
        add(&mut parts, tree_bytes(&self.copy_digests_dir(), &mut seen), Vec::new());

        let image_bytes = |parts: &[(u64, Vec<Owner>)], id: &str| -> (u64, u64) {
            let mine = image_parts.get(id).map(Vec::as_slice).unwrap_or_default();
            let size = mine.iter().map(|&i| parts[i].0).sum();
            let shared = mine.iter().filter(|&&i| parts[i].1.len() > 1).map(|&i| parts[i].0).sum();
            (size, shared)
        };

        let mut container_usage = Vec::new();
        for c in containers {
            let mut size = 0;
            for dir in self.container_dirs(&c.id) {
                size += tree_bytes(&dir, &mut seen);
            }
            parts.push((size, vec![Owner::Container(c.id.clone())]));
            let image_size = image_bytes(&parts, &c.image_id).0;
            let volumes = c.mounts.iter().filter(|m| m.volume().is_some()).count();
            container_usage.push(ContainerUsage { container: c, size, image_size, volumes });
        }
        let mut volume_usage = Vec::new();
        for v in volumes {
            let size = tree_bytes(&self.root().join("volumes").join(&v.name), &mut seen);
            parts.push((size, vec![Owner::Volume(v.name.clone())]));
            let links = container_usage
                .iter()
                .filter(|c| c.container.mounts.iter().any(|m| m.volume() == Some(v.name.as_str())))
                .count();
            volume_usage.push(VolumeUsage { volume: v, size, links });
        }
        let image_usage = images
            .into_iter()
            .map(|image| {
                let id = image.id.to_string();
                let (size, shared) = image_bytes(&parts, &id);
                let containers = container_usage.iter().filter(|c| c.container.image_id == id).count();
                ImageUsage { image, size, shared, containers }
            })
            .collect();
        Ok(DiskUsage { images: image_usage, containers: container_usage, volumes: volume_usage, parts })
    }

    /// Where [`LayerCache`] keeps what layers' content takes.
    fn layer_cache_path(&self) -> PathBuf {
        self.root().join("disk-usage-layers.json")
    }

    /// Container `id`'s directories on the root's disk: its layer store
    /// directory (its writable layer) and its data directory.
    fn container_dirs(&self, id: &str) -> Vec<PathBuf> {
        let mut dirs = vec![self.root().join("container-data").join(id)];
        if let Ok(layers) = self.layers() {
            dirs.push(self.root().join(layers.driver_name()).join("containers").join(id));
        }
        dirs
    }
}

/// Bytes of a layer whose content is `diff`: its directory and what is
/// beside the content (metadata, containers' shared mount points) walked
/// each time, the content itself taken from `cache` when there (a layer's
/// content never changes once stored), else walked and remembered.
fn layer_bytes(diff: &Path, key: &str, cache: &mut LayerCache, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Some(dir) = diff.parent() else { return tree_bytes(diff, seen) };
    let mut total = std::fs::symlink_metadata(dir).map_or(0, |m| m.blocks() * 512);
    let Ok(entries) = std::fs::read_dir(dir) else { return total };
    for e in entries.flatten() {
        if e.path() != diff {
            total += tree_bytes(&e.path(), seen);
            continue;
        }
        total += match cache.sizes.get(key) {
            Some(&bytes) => bytes,
            None => {
                // Alone: no inode of a layer's content is another part's
                // (layers are unpacked, never linked to each other).
                let bytes = tree_bytes(diff, &mut HashSet::new());
                cache.sizes.insert(key.to_string(), bytes);
                cache.changed = true;
                bytes
            }
        };
        cache.used.insert(key.to_string());
    }
    total
}

/// What each layer's content takes, by chain ID, kept in a file of the
/// store's (`disk-usage-layers.json`): `system df` then walks no layer
/// twice. Written whole and renamed into place (`write_atomic`): two
/// writers at once each leave a correct file, and a lost or unreadable
/// one is walked again, never wrong.
struct LayerCache {
    path: PathBuf,
    sizes: HashMap<String, u64>,
    /// The entries this run looked up: the others are of layers gone.
    used: HashSet<String>,
    changed: bool,
}

impl LayerCache {
    fn read(path: &Path) -> LayerCache {
        let sizes = sys::fs::read_regular(path, 16 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        LayerCache { path: path.to_path_buf(), sizes, used: HashSet::new(), changed: false }
    }

    fn write_if_changed(mut self) {
        let before = self.sizes.len();
        self.sizes.retain(|k, _| self.used.contains(k));
        if !self.changed && self.sizes.len() == before {
            return;
        }
        let Ok(text) = serde_json::to_vec(&self.sizes) else { return };
        // Not fsynced: a lost write is a walk again.
        if let Err(e) = sys::fs::write_atomic(&self.path, &text, 0o600, sys::fs::Durability::ReplaceOnly) {
            tracing::debug!("remembering layer sizes in {}: {e}", self.path.display());
        }
    }
}

/// Bytes allocated to `path` and, for a directory, everything under it
/// (symlinks not followed, inodes in `seen` skipped and added). Written
/// here rather than with a walking crate: it is one recursion over
/// `read_dir`, whose entries std stats relative to their directory.
/// What vanishes meanwhile (a container removed under us) counts as 0.
pub(crate) fn tree_bytes(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    let mut total = 0;
    if seen.insert((meta.dev(), meta.ino())) {
        total += meta.blocks() * 512;
    }
    if meta.is_dir() {
        total += dir_bytes(path, seen);
    }
    total
}

fn dir_bytes(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        // Only a file linked more than once can have been seen already.
        if meta.is_dir() || meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())) {
            total += meta.blocks() * 512;
        }
        if meta.is_dir() {
            total += dir_bytes(&e.path(), seen);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_linked_twice_counts_once() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        std::fs::write(t.path().join("a/f"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::hard_link(t.path().join("a/f"), t.path().join("a/g")).unwrap();
        let mut seen = HashSet::new();
        let once = tree_bytes(&t.path().join("a/f"), &mut HashSet::new());
        assert!(once >= 64 * 1024);
        let dir = tree_bytes(&t.path().join("a"), &mut seen);
        let dir_alone = std::fs::symlink_metadata(t.path().join("a")).unwrap().blocks() * 512;
        assert_eq!(dir, once + dir_alone);
        // Seen already: nothing more.
        assert_eq!(tree_bytes(&t.path().join("a/g"), &mut seen), 0);
    }

    #[test]
    fn a_layers_content_is_walked_once_then_remembered() {
        let t = tempfile::tempdir().unwrap();
        let diff = t.path().join("layer/diff");
        std::fs::create_dir_all(&diff).unwrap();
        std::fs::write(diff.join("f"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::write(t.path().join("layer/layer.json"), b"{}").unwrap();
        let cache_path = t.path().join("cache.json");
        let mut cache = LayerCache::read(&cache_path);
        let first = layer_bytes(&diff, "abc", &mut cache, &mut HashSet::new());
        assert!(first >= 64 * 1024);
        cache.write_if_changed();
        // The content is not walked again: a file added there is not seen
        // (it cannot be, in a stored layer), one beside it is.
        std::fs::write(diff.join("g"), vec![1u8; 64 * 1024]).unwrap();
        let mut cache = LayerCache::read(&cache_path);
        assert_eq!(layer_bytes(&diff, "abc", &mut cache, &mut HashSet::new()), first);
        std::fs::create_dir(t.path().join("layer/mount-points")).unwrap();
        let dir_bytes = std::fs::symlink_metadata(t.path().join("layer/mount-points")).unwrap().blocks() * 512;
        assert_eq!(layer_bytes(&diff, "abc", &mut cache, &mut HashSet::new()), first + dir_bytes);
        // A layer gone leaves the file with the next write.
        cache.write_if_changed();
        let mut cache = LayerCache::read(&cache_path);
        layer_bytes(&diff, "other", &mut cache, &mut HashSet::new());
        cache.write_if_changed();
        let kept: HashMap<String, u64> = serde_json::from_slice(&std::fs::read(&cache_path).unwrap()).unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["other"]);
    }

    fn usage(parts: Vec<(u64, Vec<Owner>)>) -> DiskUsage {
        DiskUsage { images: Vec::new(), containers: Vec::new(), volumes: Vec::new(), parts }
    }

    #[test]
    fn a_shared_part_is_freed_with_its_last_owner() {
        let a = Owner::Image("a".into());
        let b = Owner::Image("b".into());
        let u = usage(vec![(10, vec![a.clone(), b.clone()]), (3, vec![a.clone()]), (5, vec![b.clone()]), (1, vec![])]);
        assert_eq!(u.images_size(), 19, "the cache counts with images");
        assert_eq!(u.freed(&HashSet::from([a.clone()])), 3 + 1);
        assert_eq!(u.freed(&HashSet::from([a, b])), 19);
    }
}
