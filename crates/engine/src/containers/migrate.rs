//! `system migrate --new-runtime`: every container recorded to run with
//! another OCI runtime from its next start, as podman's migrate does
//! (running ones stopped first: a runtime cannot take over a container
//! another one started).

use super::{change, OciRuntime};
use crate::error::Result;
use crate::Engine;

impl Engine {
    /// Give every container `runtime`; returns the IDs of those it stopped.
    pub fn migrate_runtime(&self, runtime: &OciRuntime) -> Result<Vec<String>> {
        let mut stopped = Vec::new();
        for c in self.containers()? {
            if c.state.is_live() {
                self.stop_container(&c, c.stop_timeout())?;
                stopped.push(c.id.clone());
            }
            let _lock = self.lock_container(&c.id)?;
            // (Removed meanwhile: nothing to migrate.)
            change(&*self.db()?, &c.id, |r| {
                let changed = r.oci_runtime.as_ref() != Some(runtime);
                r.oci_runtime = Some(runtime.clone());
                changed
            })?;
        }
        Ok(stopped)
    }
}
