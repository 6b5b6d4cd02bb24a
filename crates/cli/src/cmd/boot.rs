//! `berth system boot`: the engine's `boot`, its outcome printed as
//! `start` prints one: each container started, by name, on stdout; each
//! that could not start, as an error line on stderr (exit 125 then).

use engine::Engine;

use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct BootArgs {}

pub fn boot(engine: &Engine, _a: &BootArgs) -> Result<u8> {
    let report = engine.boot()?;
    for c in &report.cleaned {
        tracing::info!("cleaned the stale run state of {}", c.name);
    }
    for c in &report.started {
        super::out(&format!("{}\n", c.name))?;
    }
    let Some(((last, why), others)) = report.failed.split_last() else { return Ok(0) };
    for (c, e) in others {
        eprintln!("Error: unable to start container {:?}: {e}", c.name);
    }
    Err(CliError::new(format!("unable to start container {:?}: {why}", last.name)))
}
