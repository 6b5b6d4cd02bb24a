//! Containers that join other containers' namespaces (`--ipc/--pid/--uts/
//! --cgroupns/--network container:ID`): the other container is started
//! first if it is not running (podman starts dependencies too), its init's
//! `/proc/<pid>/ns/<type>` goes into config.json just before each start
//! (the runtime joins namespaces by nsfs path), and it cannot be removed
//! while a container depends on it.

use serde_json::{json, Value};
use sys::fs::Durability;

use super::isolation::{NsKind, NsMode};
use super::shm_share::{self, SharedShm};
use super::{Container, State};
use crate::error::{Context as _, Error, Result};
use crate::Engine;

impl Engine {
    /// Start the containers `c` joins that are not running (from berth,
    /// before `c`'s monitor is forked).
    pub(super) fn start_dependencies(&self, c: &Container) -> Result<()> {
        for id in c.isolation.dependencies() {
            let mut dep = self.container(id).map_err(|e| {
                Error::new(format!("container {} depends on container {id}, which is gone: {e}", c.name))
            })?;
            if !dep.state.is_live() {
                self.start_detached(&mut dep)?;
            }
        }
        Ok(())
    }

    /// Write the current namespace paths of the containers `c` joins into
    /// its config.json (its lock held, before the runtime's create).
    pub(super) fn write_namespace_paths(&self, c: &Container) -> Result<()> {
        if c.isolation.dependencies().is_empty() {
            return Ok(());
        }
        let bundle = self.bundle_dir(&c.id);
        let path = bundle.join("config.json");
        let mut config = super::spec::read_config(&bundle)?;
        let db = self.db()?;
        for (kind, mode) in c.isolation.namespaces() {
            let NsMode::Container(id) = mode else { continue };
            let dep = db.get(id)?.ok_or_else(|| {
                Error::not_found(format!("no container with name or ID \"{id}\" found: no such container"))
            })?;
            let pid = match (dep.state, dep.pid) {
                (State::Running | State::Paused, Some(pid)) if self.init_alive(id) => pid,
                _ => {
                    return Err(Error::new(format!(
                        "cannot join the {} namespace of container {}: it is not running",
                        kind.proc_name(),
                        dep.name
                    )))
                }
            };
            let ns = format!("/proc/{pid}/ns/{}", kind.proc_name());
            if let Some(list) = config.pointer_mut("/linux/namespaces").and_then(Value::as_array_mut) {
                list.retain(|n| n["type"] != kind.oci_type());
                list.push(json!({"type": kind.oci_type(), "path": ns}));
            }
            if kind == NsKind::Ipc {
                // Its /dev/shm too (`shm_share.rs` attaches it there).
                let source = shm_share::mount_point(&self.bundle_dir(&c.id));
                if let Some(list) = config.pointer_mut("/mounts").and_then(Value::as_array_mut) {
                    for m in list.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                        *m = json!({"destination": "/dev/shm", "type": "bind", "source": source,
                                    "options": ["rbind", "nosuid", "noexec", "nodev"]});
                    }
                }
            }
        }
        let bytes = super::spec::encode(&config)?;
        sys::fs::write_atomic(&path, &bytes, 0o600, Durability::Durable).ctx(|| format!("writing {}", path.display()))
    }

    /// For a container joining another's IPC namespace: that one's
    /// /dev/shm, attached where config.json binds it from, until dropped
    /// (after the runtime's create).
    pub(super) fn attach_joined_shm(&self, c: &Container) -> Result<Option<SharedShm>> {
        let NsMode::Container(id) = &c.isolation.ipc else { return Ok(None) };
        let dep = self.db()?.get(id)?.ok_or_else(|| {
            Error::not_found(format!("no container with name or ID \"{id}\" found: no such container"))
        })?;
        let pid = dep.pid.filter(|_| dep.state.is_live()).ok_or_else(|| {
            Error::new(format!("cannot join the ipc namespace of container {}: it is not running", dep.name))
        })?;
        shm_share::attach(pid, &shm_share::mount_point(&self.bundle_dir(&c.id))).map(Some)
    }

    /// podman refuses to remove a container others join.
    pub(super) fn check_no_dependents(&self, c: &Container) -> Result<()> {
        let deps: Vec<String> = self
            .db()?
            .all()?
            .into_iter()
            .filter(|o| o.id != c.id && o.isolation.dependencies().contains(&c.id.as_str()))
            .map(|o| o.id)
            .collect();
        if deps.is_empty() {
            return Ok(());
        }
        Err(Error::new(format!(
            "container {} has dependent containers which must be removed before it: {}: container already exists",
            c.id,
            deps.join(",")
        )))
    }
}

/// Order containers for removal: each before those whose namespaces it
/// joins (podman removes dependents first), otherwise as given.
pub fn dependents_first(list: Vec<Container>) -> Vec<Container> {
    let mut left = list;
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        // The first that no remaining container joins (a cycle cannot be
        // made, but would not loop: then the first goes).
        let free = left
            .iter()
            .position(|c| !left.iter().any(|o| o.isolation.dependencies().contains(&c.id.as_str())))
            .unwrap_or(0);
        out.push(left.remove(free));
    }
    out
}
