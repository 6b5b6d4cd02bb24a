//! Restart policies (`--restart`), applied by the container's monitor when
//! the container exits: podman's names and rules, with docker's backoff
//! (podman relies on systemd units for this; berth's monitor does it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum RestartPolicy {
    /// Never restart: no `--restart` (podman's "").
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure { max_retries: u32 },
    /// Restart whenever it exits, unless a user stopped it.
    Always,
    /// As `Always` (the difference, whether a stopped container comes back
    /// at boot, is `berth start --all --filter restart-policy=always`'s).
    UnlessStopped,
    /// Never restart, as `--restart no` says (podman shows "no").
    Never,
}

impl RestartPolicy {
    /// `--restart` as podman reads it, with its messages.
    pub fn parse(text: &str) -> Result<RestartPolicy> {
        let (name, count) = match text.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (text, None),
        };
        let policy = match name {
            "" => RestartPolicy::No,
            "no" => RestartPolicy::Never,
            "on-failure" => RestartPolicy::OnFailure { max_retries: 0 },
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            _ => {
                return Err(Error::new(format!(
                    "running container create option: {text:?} is not a valid restart policy: invalid argument"
                )))
            }
        };
        let Some(count) = count else { return Ok(policy) };
        let n: i64 = count.parse().map_err(|_| {
            Error::new(format!("parsing restart policy retry count: strconv.Atoi: parsing {count:?}: invalid syntax"))
        })?;
        if policy != (RestartPolicy::OnFailure { max_retries: 0 }) {
            return Err(Error::new("restart policy retries can only be specified with on-failure restart policy"));
        }
        match u32::try_from(n) {
            Ok(max_retries) if max_retries > 0 => Ok(RestartPolicy::OnFailure { max_retries }),
            _ => Err(Error::new("must specify restart policy retry count as a number greater than 0")),
        }
    }

    /// podman's name for it (`inspect`'s HostConfig.RestartPolicy.Name).
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "",
            RestartPolicy::Never => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Whether it may restart a container at all (`--rm` refuses those).
    pub fn restarts_at_all(&self) -> bool {
        !matches!(self, RestartPolicy::No | RestartPolicy::Never)
    }

    /// Whether a container that exited with `code`, restarted `count` times
    /// so far, goes again (a user's `stop` is checked by the caller).
    pub fn restarts(&self, code: i32, count: u32) -> bool {
        match *self {
            RestartPolicy::No | RestartPolicy::Never => false,
            RestartPolicy::OnFailure { max_retries } => code != 0 && (max_retries == 0 || count < max_retries),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

/// How long to wait before restart number `count + 1` (docker's rule:
/// 100 ms, doubling, at most a minute), so a container that fails at once
/// does not spin.
pub fn backoff(count: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << count.min(10));
    Duration::from_millis(ms.min(60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podmans_policies_and_messages() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::Never);
        assert_eq!(RestartPolicy::parse("").unwrap(), RestartPolicy::No);
        assert_eq!((RestartPolicy::No.name(), RestartPolicy::Never.name()), ("", "no"));
        assert_eq!(RestartPolicy::parse("always").unwrap(), RestartPolicy::Always);
        assert_eq!(RestartPolicy::parse("on-failure:3").unwrap(), RestartPolicy::OnFailure { max_retries: 3 });
        let err = |t: &str| RestartPolicy::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("bogus"),
            "running container create option: \"bogus\" is not a valid restart policy: invalid argument"
        );
        assert_eq!(
            err("on-failure:x"),
            "parsing restart policy retry count: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(err("always:3"), "restart policy retries can only be specified with on-failure restart policy");
        assert_eq!(err("on-failure:-1"), "must specify restart policy retry count as a number greater than 0");
    }

    #[test]
    fn who_restarts_and_when() {
        let on2 = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(on2.restarts(1, 0) && on2.restarts(1, 1) && !on2.restarts(1, 2) && !on2.restarts(0, 0));
        assert!(RestartPolicy::OnFailure { max_retries: 0 }.restarts(1, 1000));
        assert!(RestartPolicy::Always.restarts(0, 99) && !RestartPolicy::No.restarts(1, 0));
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(40), Duration::from_secs(60));
    }
}
