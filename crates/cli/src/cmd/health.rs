//! `healthcheck run`: a container's healthcheck, now (its monitor runs it
//! on its interval; podman needs systemd timers for that).

use engine::containers::health::CheckResult;
use engine::Engine;

use super::out;
use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The container, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// podman's exit codes: 0 healthy, 1 unhealthy (saying so on stdout), 125
/// for a container without a healthcheck, not running, or a check that ran
/// past its timeout.
pub fn run(engine: &Engine, a: &RunArgs) -> Result<u8> {
    let c = engine.container(&a.container).map_err(|e| {
        CliError::new(format!("unable to look up {} to perform a health check: {}", a.container, e.msg))
    })?;
    match engine.healthcheck_run(&c).map_err(|e| CliError::new(e.msg))? {
        CheckResult::Healthy => Ok(0),
        CheckResult::Unhealthy => {
            out("unhealthy\n")?;
            Ok(1)
        }
        CheckResult::TimedOut(t) => {
            Err(CliError::new(format!("healthcheck command exceeded timeout of {}", crate::format::go_duration(t))))
        }
    }
}
