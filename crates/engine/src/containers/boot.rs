//! `berth system boot`: what a host runs once it is up again (a systemd
//! oneshot, `contrib/systemd/berth-boot.service`), berth having no daemon
//! of its own to do it.
//!
//! After a reboot the runroot (a tmpfs) is empty or, on a disk, stale, and
//! the records of the containers that ran still say "running". Boot
//! (1) reconciles each container whose monitor and init are gone: its
//! record says exited (`refresh`, as any listing does), and what its last
//! run left in the runroot goes: the runtime's state of it (pid, cgroups,
//! state files), its monitor's attach socket, and a mount reference count
//! for a mount that is no longer there; (2) starts the containers whose restart policy says so: `always`,
//! and `unless-stopped` unless a user stopped it (docker's rule; podman's
//! own `podman-restart.service` starts `always` ones only).
//!
//! Locks need no cleaning: they are flocks, which the kernel frees with the
//! process that held them; their files hold nothing.
//!
//! Safe to run again, or beside another boot: boots take turns (a lock in
//! the runroot), and a container found running is neither cleaned nor
//! started.

use sys::fs::FileLock;

use super::restart::RestartPolicy;
use super::{Container, State};
use crate::error::{Context as _, Error, Result};
use crate::Engine;

/// What a boot did, container by container.
#[derive(Debug, Default)]
pub struct BootReport {
    /// Containers whose stale runtime state was cleaned.
    pub cleaned: Vec<Container>,
    /// Containers started again, by their restart policy.
    pub started: Vec<Container>,
    /// Containers that should have started but could not, and why.
    pub failed: Vec<(Container, Error)>,
}

/// Whether a container of restart policy `restart`, not running, comes
/// back at boot (`stopped_by_user`: a user's stop ended its last run).
pub fn comes_back_at_boot(restart: RestartPolicy, stopped_by_user: bool) -> bool {
    match restart {
        RestartPolicy::Always => true,
        RestartPolicy::UnlessStopped => !stopped_by_user,
        RestartPolicy::No | RestartPolicy::Never | RestartPolicy::OnFailure { .. } => false,
    }
}

impl Engine {
    /// Reconcile every container with what runs, then start those that
    /// come back at boot (see the module's comment).
    pub fn boot(&self) -> Result<BootReport> {
        // `Engine::open` made the locks directory.
        let path = self.runroot.join("locks").join("boot");
        let _turn = FileLock::exclusive(&path).ctx(|| format!("locking {}", path.display()))?;
        let mut report = BootReport::default();
        // Listing refreshes the records of dead "running" containers.
        for c in self.containers()? {
            if !c.state.is_live() && self.clean_stale(&c)? {
                report.cleaned.push(c);
            }
        }
        for c in self.containers()? {
            // A live monitor between two runs (its restart policy's
            // backoff) starts it itself.
            if c.state.is_live() || !comes_back_at_boot(c.restart, c.stopped_by_user) || self.monitor_alive(&c.id) {
                continue;
            }
            let mut c = c;
            match self.start_detached(&mut c) {
                Ok(()) => report.started.push(c),
                // A user's `start` came first: it runs, as boot wanted.
                Err(_) if self.container(&c.id).is_ok_and(|now| now.state.is_live()) => {}
                Err(e) => report.failed.push((c, e)),
            }
        }
        Ok(report)
    }

    /// Drop what container `c`'s last run left in the runtime state, the
    /// attach socket and the mount counts, if its init and monitor are
    /// gone; whether there was anything.
    fn clean_stale(&self, c: &Container) -> Result<bool> {
        let _lock = self.lock_container(&c.id)?;
        let Some(current) = self.db()?.get(&c.id)? else { return Ok(false) };
        // Never run (nothing left), started meanwhile, or between two runs
        // under its monitor (which deletes and makes the state itself).
        if matches!(current.state, State::Configured | State::Created)
            || self.init_alive(&c.id)
            || self.monitor_alive(&c.id)
        {
            return Ok(false);
        }
        let had_state = self.runtime_root().join(&c.id).exists() || self.ext_state(&c.id).is_some();
        if had_state {
            self.delete_runtime_state(&c.id)?;
        }
        // Its dead monitor's attach socket.
        let socket = self.attach_dir().join(&c.id);
        let had_socket = socket.exists();
        if had_socket {
            std::fs::remove_file(&socket).ctx(|| format!("removing {}", socket.display()))?;
        }
        // A count for a mount that is gone (a reboot took the mount, not a
        // runroot on disk) goes: `mount_count` says 0 for a mount point
        // that is not mounted, and dropping to 0 then only resets the
        // count. A real mount (`berth mount`) is kept. (Under the
        // container's lock: no mount or start comes between.)
        let layers = self.layers()?;
        if layers.mount_count(&c.id)? == 0 {
            layers.unmount_to(&c.id, 0)?;
        }
        Ok(had_state || had_socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_comes_back_at_boot() {
        let back = |(restart, stopped_by_user)| comes_back_at_boot(restart, stopped_by_user);
        assert!(back((RestartPolicy::Always, false)));
        assert!(back((RestartPolicy::Always, true)), "docker: always, even if a user stopped it");
        assert!(back((RestartPolicy::UnlessStopped, false)));
        assert!(!back((RestartPolicy::UnlessStopped, true)));
        assert!(!back((RestartPolicy::No, false)));
        assert!(!back((RestartPolicy::Never, false)));
        assert!(!back((RestartPolicy::OnFailure { max_retries: 0 }, false)));
    }
}
