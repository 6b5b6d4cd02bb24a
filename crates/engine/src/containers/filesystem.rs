//! A container's storage as the user handles it: `diff`, `export`,
//! `mount`/`unmount` (reference counted with the container's own mount
//! while it runs), and `container cleanup`.

use std::io::Write;
use std::path::PathBuf;

use super::{Container, State};
use crate::error::{Error, Result};
use crate::Engine;

pub use storage::{Change, ChangeKind};

/// What podman leaves out of `diff`: mount points the runtime makes for
/// every container, not the container's own changes.
const INIT_INODES: &[&str] = &[
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/run",
    "/run/notify",
    "/run/.containerenv",
    "/run/secrets",
    "/sys",
    "/etc/mtab",
];

impl Engine {
    /// Container `c`'s changes against its image, sorted by path.
    pub fn container_changes(&self, c: &Container) -> Result<Vec<Change>> {
        let all = self.layers()?.container_changes(&c.id)?;
        Ok(all.into_iter().filter(|ch| !INIT_INODES.contains(&ch.path.as_str())).collect())
    }

    /// Write container `c`'s whole filesystem (its storage, not its volumes)
    /// as a tar to `out`.
    pub fn export_container<W: Write>(&self, c: &Container, out: W) -> Result<W> {
        let layers = self.layers()?;
        let path = layers.mount(&c.id)?;
        let written = image::layer::create(&path, image::layer::Source::Full, out);
        if let Err(e) = layers.unmount(&c.id) {
            tracing::warn!("unmounting the storage of {}: {e}", c.id);
        }
        Ok(written?)
    }

    /// Mount container `c`'s storage (one more reference) and say where.
    pub fn mount_container(&self, c: &Container) -> Result<PathBuf> {
        let _lock = self.lock_container(&c.id)?;
        Ok(self.layers()?.mount(&c.id)?)
    }

    /// Drop one of the user's mount references to container `c`'s storage
    /// (`force`: all of them). A running container keeps its own: it is
    /// never unmounted under it.
    pub fn unmount_container(&self, c: &Container, force: bool) -> Result<()> {
        // Under its lock: a container starting or exiting meanwhile changes
        // the count too.
        let _lock = self.lock_container(&c.id)?;
        let current = self.db()?.get(&c.id)?.unwrap_or_else(|| c.clone());
        let own = u32::from(current.state.is_live() && self.init_alive(&c.id));
        let layers = self.layers()?;
        let n = layers.mount_count(&c.id)?;
        let keep = if force { own } else { n.saturating_sub(1).max(own) };
        Ok(layers.unmount_to(&c.id, keep)?)
    }

    /// Containers whose storage is mounted, with where.
    pub fn mounted_containers(&self) -> Result<Vec<(Container, PathBuf)>> {
        let layers = self.layers()?;
        let mut out = Vec::new();
        for c in self.containers()? {
            if layers.mount_count(&c.id).unwrap_or(0) > 0 {
                let at = layers.mountpoint(&c.id);
                out.push((c, at));
            }
        }
        Ok(out)
    }

    /// What an exited container left behind (its runtime state, its
    /// storage mounted) goes, as podman's `container cleanup`.
    pub fn cleanup_container(&self, c: &Container) -> Result<()> {
        let _lock = self.lock_container(&c.id)?;
        let current = self.db()?.get(&c.id)?.unwrap_or_else(|| c.clone());
        if current.state.is_live() && self.init_alive(&c.id) {
            return Err(Error::new(format!(
                "failed to clean up container {0}: container {0} is running or paused, refusing to clean up: container state improper",
                c.id
            )));
        }
        if current.state == State::Configured {
            return Ok(());
        }
        self.delete_runtime_state(&c.id)?;
        Ok(self.layers()?.unmount_to(&c.id, 0)?)
    }
}
