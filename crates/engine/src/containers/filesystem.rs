//! A container's storage as the user handles it: `diff`, `export`,
//! `mount`/`unmount` (reference counted with the container's own mount
//! while it runs), and `container cleanup`.

use std::io::Write;
use std::path::PathBuf;

use super::{Container, State};
use crate::error::{Error, Result};
use crate::events::{self, Status};
use crate::Engine;

pub use storage::{Change, ChangeKind};

/// One side of `diff A B`.
pub enum Side {
    Container(Box<Container>),
    Image(Box<crate::Image>),
}

/// A side's root filesystem, mounted while this lives.
enum SideRoot<'s> {
    Container { layers: &'s storage::Store, id: String, path: PathBuf },
    Image(storage::ImageView),
}

impl SideRoot<'_> {
    fn path(&self) -> &std::path::Path {
        match self {
            SideRoot::Container { path, .. } => path,
            SideRoot::Image(view) => view.path(),
        }
    }
}

impl Drop for SideRoot<'_> {
    fn drop(&mut self) {
        if let SideRoot::Container { layers, id, .. } = self {
            if let Err(e) = layers.unmount(id) {
                tracing::warn!("unmounting the storage of {id}: {e}");
            }
        }
    }
}

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

    /// What image `img`'s top layer changes on top of the layers below it
    /// (`diff IMAGE`).
    pub fn image_changes(&self, img: &crate::Image) -> Result<Vec<Change>> {
        let Some(top) = img.chain_ids().last().cloned() else { return Ok(Vec::new()) };
        let all = self.layers()?.layer_changes(&top)?;
        Ok(all.into_iter().filter(|ch| !INIT_INODES.contains(&ch.path.as_str())).collect())
    }

    /// What `new`'s filesystem changes against `old`'s (`diff A B`), sorted
    /// by path: each a container (its storage, mounted meanwhile) or an
    /// image (a read-only view of its layers).
    pub fn changes_between(&self, new: &Side, old: &Side) -> Result<Vec<Change>> {
        let layers = self.layers()?;
        let (new_root, old_root) = (self.open_side(layers, new)?, self.open_side(layers, old)?);
        let ignore = |p: &str| INIT_INODES.contains(&p);
        Ok(storage::compare::between(new_root.path(), old_root.path(), &ignore)?)
    }

    fn open_side<'s>(&self, layers: &'s storage::Store, side: &Side) -> Result<SideRoot<'s>> {
        Ok(match side {
            Side::Container(c) => {
                let path = layers.mount(&c.id)?;
                SideRoot::Container { layers, id: c.id.clone(), path }
            }
            Side::Image(img) => SideRoot::Image(layers.image_view(&img.chain_ids())?),
        })
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
        let at = self.layers()?.mount(&c.id)?;
        events::container(self.runroot(), Status::Mount, c);
        Ok(at)
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
        layers.unmount_to(&c.id, keep)?;
        events::container(self.runroot(), Status::Unmount, &current);
        Ok(())
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
        self.layers()?.unmount_to(&c.id, 0)?;
        // Its storage is no longer ready: back to what create left.
        super::change(&*self.db()?, &c.id, |r| {
            let was = r.state == State::Initialized;
            if was {
                r.state = State::Created;
            }
            was
        })?;
        events::container(self.runroot(), Status::Cleanup, &current);
        Ok(())
    }

    /// Get container `c` ready to start without starting it (podman's
    /// `init`): its storage mounted (held until it starts), its state
    /// "initialized". Its OCI config was written at create already.
    pub fn init_container(&self, c: &Container) -> Result<()> {
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        let current = db.get(&c.id)?.unwrap_or_else(|| c.clone());
        match current.state {
            State::Initialized => return Ok(()),
            State::Created | State::Exited => {}
            _ => {
                return Err(Error::new(format!(
                    "container {} has already been created in runtime: container state improper",
                    c.id
                )))
            }
        }
        let layers = self.layers()?;
        layers.mount(&c.id)?;
        let done = super::change(&db, &c.id, |r| {
            let ours = matches!(r.state, State::Created | State::Exited);
            if ours {
                r.state = State::Initialized;
            }
            ours
        });
        if !matches!(done, Ok(Some(ref r)) if r.state == State::Initialized) {
            let _ = layers.unmount(&c.id);
        }
        done?;
        events::container(self.runroot(), Status::Init, &current);
        Ok(())
    }
}
