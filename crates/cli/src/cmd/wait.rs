//! `wait --condition`: block until a container is in one of the states
//! asked for (podman 4.3's `WaitForConditionWithInterval`): its exit code
//! once it has exited (`stopped`, `exited`), else -1 when it reaches
//! another state asked for.

use std::time::Duration;

use engine::containers::{Container, State};
use engine::Engine;

use crate::error::{CliError, Result};

/// The states podman accepts as conditions (its `StringToContainerStatus`).
const STATES: &[&str] =
    &["unknown", "configured", "created", "running", "stopped", "paused", "exited", "removing", "stopping"];

/// What to wait for, checked in podman's words.
pub struct Conditions {
    /// Its exit (`stopped` or `exited`).
    exit: bool,
    /// Other states, each answered with -1.
    states: Vec<String>,
    pub interval: Duration,
}

impl Conditions {
    pub fn parse(conditions: &[String], interval: &str) -> Result<Conditions> {
        // A bare number is milliseconds (podman retries with "ms" added).
        let interval = match interval {
            "0" => Some(Duration::ZERO),
            text => super::manage::go_duration(text).or_else(|| super::manage::go_duration(&format!("{text}ms"))),
        }
        .ok_or_else(|| CliError::new(format!("time: invalid duration {interval:?}")))?;
        let mut exit = conditions.is_empty();
        let mut states = Vec::new();
        for c in conditions {
            if !STATES.contains(&c.as_str()) {
                return Err(CliError::new(format!("unknown container state: {c}: invalid argument")));
            }
            match c.as_str() {
                "stopped" | "exited" => exit = true,
                other => states.push(other.to_string()),
            }
        }
        Ok(Conditions { exit, states, interval })
    }

    /// Wait for `c`: its exit code, or -1 for another condition met.
    pub fn wait(&self, engine: &Engine, c: &Container) -> engine::Result<i32> {
        if self.states.is_empty() {
            return engine.wait_exited(c);
        }
        loop {
            let now = engine.container(&c.id)?;
            if self.exit && now.state == State::Exited {
                return Ok(now.exit_code.unwrap_or(-1));
            }
            if self.states.iter().any(|s| s == now.state.as_str()) {
                return Ok(-1);
            }
            std::thread::sleep(self.interval.max(Duration::from_millis(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_intervals_as_podman_reads_them() {
        assert_eq!(Conditions::parse(&[], "10").unwrap().interval, Duration::from_millis(10));
        assert_eq!(Conditions::parse(&[], "1s").unwrap().interval, Duration::from_secs(1));
        assert!(Conditions::parse(&[], "250ms").unwrap().exit);
        assert_eq!(Conditions::parse(&[], "bogus").err().unwrap().msg, "time: invalid duration \"bogus\"");
        let c = Conditions::parse(&["running".into(), "exited".into()], "0").unwrap();
        assert!(c.exit && c.states == ["running"]);
        assert_eq!(
            Conditions::parse(&["healthy".into()], "1s").err().unwrap().msg,
            "unknown container state: healthy: invalid argument"
        );
    }
}
