//! `rename`: a new name for a container, running or not (its name is only
//! berth's: nothing in the container sees it).

use super::db::Written;
use super::{naming, Container};
use crate::error::{Error, Result};
use crate::events::{self, Status};
use crate::Engine;

impl Engine {
    /// Name container `c` `name`; podman's words when the name is not a
    /// valid one or another container has it.
    pub fn rename_container(&self, c: &Container, name: &str) -> Result<()> {
        if naming::validate(name).is_err() {
            return Err(Error::new("names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"));
        }
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        // Under the lock, so only writers that do not take it (none do)
        // could make the record stale; retried all the same.
        for _ in 0..100 {
            let mut current = db.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
            if current.name == name {
                return Ok(());
            }
            match db.rename(&mut current, name)? {
                Written::Done => {
                    events::container(self.runroot(), Status::Rename, &current);
                    return Ok(());
                }
                Written::Stale => continue,
            }
        }
        Err(Error::new(format!("container {}: its record keeps changing under us", c.id)))
    }
}
