//! Acting on a container that runs, from any berth process: stop, kill,
//! wait for its exit, read its log. Whoever started it (its monitor, or an
//! attached `run`) records the exit; these wait for that record.

use std::io::{self, Read as _};
use std::time::{Duration, Instant};

use sys::signal::Signal;

use super::logfile::Entry;
use super::{Container, State};
use crate::error::{Error, Result};
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
            let current = super::change(&self.db()?, &c.id, |r| {
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

    /// Every entry of container `c`'s log, in order, to `each`; with
    /// `follow`, also those written later, until the container no longer
    /// runs. A container that never logged (created only, or attached
    /// runs, which print rather than log) has an empty log.
    pub fn read_log(&self, c: &Container, follow: bool, mut each: impl FnMut(&Entry) -> Result<()>) -> Result<()> {
        let path = self.log_path(&c.id);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::caused(format_args!("opening {}", path.display()), e)),
        };
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // Whether it still runs, asked before reading: what it wrote up
            // to its exit is then in the file when we read it.
            let running = follow && self.container(&c.id).is_ok_and(|r| r.state.is_live());
            if file.is_none() && follow {
                file = std::fs::File::open(&path).ok();
            }
            if let Some(f) = file.as_mut() {
                loop {
                    let n = match f.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::caused(format_args!("reading {}", path.display()), e)),
                    };
                    if n == 0 {
                        break;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    // Complete lines only: the writer may be mid-line.
                    if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                        for line in pending[..end].split(|b| *b == b'\n') {
                            if let Some(e) = Entry::parse(line) {
                                each(&e)?;
                            }
                        }
                        pending.drain(..=end);
                    }
                }
            }
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(super) fn gone(id: &str) -> Error {
    Error::not_found(format!("no container with name or ID \"{id}\" found: no such container"))
}
