//! `pause` and `unpause`: freeze and thaw every process of a running
//! container with its cgroup's freezer (the runtime's pause/resume). The
//! record says `paused` meanwhile, as podman's does; whoever records the
//! exit (its monitor, or an attached `run`) still does, from either state.

use super::{change, Container, State};
use crate::error::{Error, Result};
use crate::events::{self, Status};
use crate::Engine;

impl Engine {
    /// Freeze running container `c` (podman's `pause`); refused, in
    /// podman's words, unless it runs.
    pub fn pause_container(&self, c: &Container) -> Result<()> {
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        let current = db.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        match current.state {
            State::Running if self.init_alive(&c.id) => {}
            State::Paused => {
                return Err(Error::new(format!("\"{}\" is already paused: container state improper", c.id)));
            }
            // podman quotes the state where it means the container. A
            // running record whose init is gone has exited.
            s => {
                let s = if s == State::Running { State::Exited } else { s };
                return Err(Error::new(format!(
                    "\"{}\" is not running, can't pause: container state improper",
                    s.as_str()
                )));
            }
        }
        self.freeze_container(&c.id, true)?;
        let paused = change(&db, &c.id, |r| {
            let running = r.state == State::Running;
            if running {
                r.state = State::Paused;
            }
            running
        });
        if !matches!(paused, Ok(Some(ref r)) if r.state == State::Paused) {
            // Not recorded: do not leave it frozen behind a record that
            // says otherwise.
            let _ = self.freeze_container(&c.id, false);
            paused?;
            return Err(Error::new(format!("container {} changed while it was being paused", c.id)));
        }
        events::container(self.runroot(), Status::Pause, &current);
        Ok(())
    }

    /// Thaw paused container `c` (podman's `unpause`).
    pub fn unpause_container(&self, c: &Container) -> Result<()> {
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        let current = db.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        if current.state != State::Paused {
            return Err(Error::new(format!("\"{}\" is not paused, can't unpause: container state improper", c.id)));
        }
        self.freeze_container(&c.id, false)?;
        change(&db, &c.id, |r| {
            let paused = r.state == State::Paused;
            if paused {
                r.state = State::Running;
            }
            paused
        })?;
        events::container(self.runroot(), Status::Unpause, &current);
        Ok(())
    }

    /// Thaw container `id` if frozen and record it running again (its lock
    /// held): what stop, kill and rm -f do to a paused container once it
    /// has been signalled. Best effort: it may have exited meanwhile.
    pub(super) fn thaw_locked(&self, id: &str) {
        if self.container_frozen(id) {
            if let Err(e) = self.freeze_container(id, false) {
                tracing::debug!("thawing {id}: {e}");
            }
        }
        let recorded = self.db().and_then(|db| {
            change(&db, id, |r| {
                let paused = r.state == State::Paused;
                if paused {
                    r.state = State::Running;
                }
                paused
            })
        });
        if let Err(e) = recorded {
            tracing::debug!("recording {id} thawed: {e}");
        }
    }
}
