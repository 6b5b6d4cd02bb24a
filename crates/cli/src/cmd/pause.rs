//! `pause` and `unpause`: freeze and thaw the processes of containers.

use engine::containers::{Container, State};
use engine::Engine;

use super::control::{each, targets};
use crate::error::Result;

#[derive(clap::Args)]
pub struct PauseArgs {
    /// Pause all running containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The containers to pause, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct UnpauseArgs {
    /// Unpause all paused containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The containers to unpause, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

const MISSING: &str = "you must provide at least one name or id";

pub fn pause(engine: &Engine, a: &PauseArgs) -> Result<u8> {
    let all = Some((a.all, (|c: &Container| c.state == State::Running) as fn(&Container) -> bool));
    let inputs = targets(engine, &a.containers, a.latest, all, MISSING)?;
    each(&inputs, false, |input| {
        engine.pause_container(&engine.container(input)?)?;
        Ok(Some(input.to_string()))
    })
}

pub fn unpause(engine: &Engine, a: &UnpauseArgs) -> Result<u8> {
    let all = Some((a.all, (|c: &Container| c.state == State::Paused) as fn(&Container) -> bool));
    let inputs = targets(engine, &a.containers, a.latest, all, MISSING)?;
    each(&inputs, false, |input| {
        engine.unpause_container(&engine.container(input)?)?;
        Ok(Some(input.to_string()))
    })
}
