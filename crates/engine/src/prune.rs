//! `system prune` and `system reset`: everything unused removed at once,
//! and what that freed, from the same model `system df` measures with
//! (`disk_usage`), so what prune reports is what df called reclaimable.

use std::collections::HashSet;
use std::path::Path;

use crate::containers::{Container, DEFAULT_STOP_TIMEOUT};
use crate::disk_usage::Owner;
use crate::error::{Context as _, ErrorKind, Result};
use crate::networks::Network;
use crate::volumes::Volume;
use crate::{Engine, Image};

/// What `system prune` may remove.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneOptions {
    /// Every image no container uses, not only dangling ones.
    pub all: bool,
    /// Volumes no container uses too.
    pub volumes: bool,
}

/// One candidate for removal, for the caller's filters.
pub enum Item<'a> {
    Container(&'a Container),
    Image(&'a Image),
    Volume(&'a Volume),
    Network(&'a Network),
}

/// What a prune removed, and the bytes that freed on the store's disk.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    pub networks: Vec<String>,
    pub reclaimed: u64,
}

impl Engine {
    /// Remove the stopped containers, the networks no container is on,
    /// with `volumes` the volumes none uses, the dangling images (with
    /// `all`, every image none uses) and the build cache of what is gone,
    /// each only if `pick` takes it (`--filter`).
    pub fn system_prune(&self, opts: PruneOptions, pick: &dyn Fn(Item) -> bool) -> Result<PruneReport> {
        // Measured first: what each removal frees is read off this.
        let usage = self.disk_usage()?;
        let mut report = PruneReport::default();
        let mut gone = HashSet::new();
        for c in crate::containers::dependents_first(self.containers()?) {
            if c.state.is_live() || !pick(Item::Container(&c)) {
                continue;
            }
            match self.remove_container(&c, false, DEFAULT_STOP_TIMEOUT, false) {
                Ok(()) => {
                    gone.insert(Owner::Container(c.id.clone()));
                    report.containers.push(c.id);
                }
                // Removed or started meanwhile: not ours to remove.
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::InUse) => {}
                Err(e) => return Err(e),
            }
        }
        report.networks = self.network_prune_where(|n| pick(Item::Network(n)))?;
        if opts.volumes {
            report.volumes = self.volume_prune_where(|v| pick(Item::Volume(v)))?;
            gone.extend(report.volumes.iter().map(|v| Owner::Volume(v.clone())));
        }
        for img in self.images()? {
            if !(opts.all || img.names.is_empty()) || !pick(Item::Image(&img)) {
                continue;
            }
            // Images containers use stay.
            if self.remove_if_unused(&img)? {
                gone.insert(Owner::Image(img.id.to_string()));
                report.images.push(img.id.hex().to_string());
            }
        }
        self.prune_build_cache()?;
        report.reclaimed = usage.freed(&gone);
        Ok(report)
    }

    /// The build cache's entries for images that are gone, and the
    /// remembered COPY digests (a cache: a build reads its sources again).
    fn prune_build_cache(&self) -> Result<()> {
        for (path, image) in self.build_cache_entries() {
            let known = match image {
                Some(id) => self.find(&id)?.is_some(),
                None => false,
            };
            if !known {
                remove_path(&path)?;
            }
        }
        remove_path(&self.copy_digests_dir())
    }

    /// `system reset`: every container (running ones stopped), image,
    /// volume and network of this store, then the root's and runroot's
    /// directories themselves (what is mounted on them stays, emptied).
    pub fn system_reset(&self) -> Result<()> {
        for c in crate::containers::dependents_first(self.containers()?) {
            match self.remove_container(&c, true, c.stop_timeout(), true) {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.network_prune_where(|_| true)?;
        self.network_repair()?;
        for v in self.volumes()? {
            match self.volume_remove(&v.name, true, DEFAULT_STOP_TIMEOUT) {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for img in self.images()? {
            self.remove(&img)?;
        }
        // Whatever is left (mounts of removed containers are gone with
        // them), the directories last.
        for dir in [self.runroot(), self.root()] {
            empty_and_remove(dir)?;
        }
        Ok(())
    }
}

fn remove_path(path: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    sys::fs::ignore_missing(removed).ctx(|| format!("removing {}", path.display()))
}

/// Remove `dir` and everything under it; a mount point (a tmpfs given as
/// `--root`) is emptied and left.
fn empty_and_remove(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(crate::Error::caused(format_args!("listing {}", dir.display()), e)),
    };
    for e in entries.flatten() {
        remove_path(&e.path())?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => Ok(()),
        other => sys::fs::ignore_missing(other).ctx(|| format!("removing {}", dir.display())),
    }
}
