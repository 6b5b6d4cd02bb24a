//! Acting on a container that runs, from any berth process: stop, kill,
//! wait for its exit, read its log. Whoever started it (its monitor, or an
//! attached `run`) records the exit; these wait for that record.

use std::time::{Duration, Instant};

use sys::signal::Signal;

use super::{Container, State};
use crate::error::{Error, Result};
use crate::events::{self, Status};
use crate::Engine;

/// How often a waiting command looks at the record again.
const POLL: Duration = Duration::from_millis(10);

impl Engine {
    /// Stop container `c` as `podman stop` does (SIGTERM, then SIGKILL to
    /// all its processes after `timeout`) and return once its exit is
    /// recorded. A container that does not run is left as it is.
    pub fn stop_container(&self, c: &Container, timeout: Duration) -> Result<()> {
        {
            let _lock = self.lock_container(&c.id)?;
            // Stopped by a user: its restart policy must not bring it back
            // (also when it is between two runs).
            let current = super::change(&*self.db()?, &c.id, |r| {
                let changed = !r.stopped_by_user;
                r.stopped_by_user = true;
                changed
            })?
            .ok_or_else(|| gone(&c.id))?;
            if !current.state.is_live() || !self.init_alive(&c.id) {
                return Ok(());
            }
            self.stop(&current, timeout);
        }
        self.wait_not_running(&c.id).map(|_| ())
    }

    /// Send `sig` to container `c`'s init (podman's `kill`): refused, in
    /// podman's words, unless it runs or is paused. A paused container
    /// keeps other signals pending until unpaused, as with podman; SIGKILL
    /// thaws it, so that it dies.
    pub fn kill_container(&self, c: &Container, sig: Signal) -> Result<()> {
        let _lock = self.lock_container(&c.id)?;
        let current = self.db()?.get(&c.id)?.ok_or_else(|| gone(&c.id))?;
        if !current.state.is_live() || !self.init_alive(&c.id) {
            return Err(Error::new(format!(
                "can only kill running containers. {} is in state {}: container state improper",
                c.id,
                current.state.as_str()
            )));
        }
        self.signal_container(&c.id, sig, false)?;
        if current.state == State::Paused && sig == Signal::KILL {
            self.thaw_locked(&c.id);
        }
        events::container(self.runroot(), Status::Kill, &current);
        Ok(())
    }

    /// Wait until container `c` has run and exited (podman's `wait`, the
    /// default condition): its exit code.
    pub fn wait_exited(&self, c: &Container) -> Result<i32> {
        loop {
            let current = self.container(&c.id)?;
            if current.state == State::Exited {
                return Ok(current.exit_code.unwrap_or(-1));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait until container `id`'s record no longer says running (its exit
    /// recorded, or found stale by `refresh`); the record then.
    pub(super) fn wait_not_running(&self, id: &str) -> Result<Container> {
        // Recording takes a moment after the exit; a monitor that hangs
        // must not hang us.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let current = self.container(id)?;
            if !current.state.is_live() {
                return Ok(current);
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!("container {id} stopped, but its exit was not recorded")));
            }
            std::thread::sleep(POLL);
        }
    }
}

pub(super) fn gone(id: &str) -> Error {
    Error::not_found(format!("no container with name or ID \"{id}\" found: no such container"))
}
