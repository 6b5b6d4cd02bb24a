//! `restart`: stop (if it runs) and start again, detached, each container.

use std::time::Duration;

use engine::containers::State;
use engine::Engine;

use super::control::{each, targets, All};
use crate::error::Result;

#[derive(clap::Args)]
pub struct RestartArgs {
    /// Restart all non-running containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Restart only running containers
    #[arg(long)]
    running: bool,
    /// Seconds to wait for stop before killing the container
    #[arg(short, long, value_name = "SECONDS")]
    time: Option<u64>,
    /// The containers to restart, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn restart(engine: &Engine, a: &RestartArgs) -> Result<u8> {
    // podman's `--all` takes every container (its help says otherwise),
    // `--running` only those that run.
    let keep: fn(&engine::containers::Container) -> bool =
        if a.running { |c| c.state == State::Running } else { |_| true };
    let all: Option<All> = Some((a.all, keep));
    let inputs = targets(engine, &a.containers, a.latest, all, "you must provide at least one name or id")?;
    each(&inputs, false, |input| {
        let mut c = engine.container(input)?;
        if c.state == State::Paused {
            return Err(engine::Error::new(
                "unable to restart a container in a paused or unknown state: container state improper",
            ));
        }
        // podman's order: the restart, then the stop's events.
        engine::events::container(engine.runroot(), engine::events::Status::Restart, &c);
        if c.state == State::Running {
            engine.stop_container(&c, a.time.map_or(c.stop_timeout(), Duration::from_secs))?;
        }
        engine.start_detached(&mut c)?;
        Ok(Some(input.to_string()))
    })
}
