//! Cross-process exclusion with flock(2).
//!
//! Each acquisition opens the lock file anew: flock locks belong to the open
//! file description, so two threads of one process exclude each other exactly
//! like two processes do.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::{Context, Result};

/// Held while alive; the lock is released when the file is closed.
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    pub(crate) fn exclusive(path: &Path) -> Result<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .context(|| format!("open lock {}", path.display()))?;
        flock(&file, FlockOperation::LockExclusive).context(|| format!("lock {}", path.display()))?;
        Ok(Lock { _file: file })
    }
}
