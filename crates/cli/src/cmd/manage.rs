//! `rename`, `container exists` and `container prune`: containers' names
//! and their removal in bulk.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::containers::{Container, DEFAULT_STOP_TIMEOUT};
use engine::{Engine, ErrorKind};

use super::out;
use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct RenameArgs {
    /// The container to rename, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name
    #[arg(value_name = "NAME")]
    name: String,
}

pub fn rename(engine: &Engine, a: &RenameArgs) -> Result<u8> {
    let c = engine.container(&a.container)?;
    engine.rename_container(&c, &a.name)?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    /// Check external storage containers as well as berth containers (berth has none)
    #[arg(long)]
    external: bool,
    /// The container, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Exit 0 if the container exists, 1 if not (podman's), 125 on failure.
pub fn exists(engine: &Engine, a: &ExistsArgs) -> Result<u8> {
    let _ = a.external;
    match engine.container(&a.container) {
        Ok(_) => Ok(0),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(1),
        Err(e) => Err(e.into()),
    }
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long, value_name = "FILTERS")]
    filter: Vec<String>,
    /// Do not prompt for confirmation.  The default is false
    #[arg(short, long)]
    force: bool,
}

/// podman's `container prune`: asks first (the answer from stdin; anything
/// but y/Y... removes nothing), removes every container that is not running
/// or paused and passes the filters, and lists the IDs it removed.
pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<u8> {
    let filters = a.filter.iter().map(|f| Filter::parse(f)).collect::<Result<Vec<_>>>()?;
    if !a.force && !super::names::confirm_with("WARNING! This will remove all non running containers.\n")? {
        return Ok(0);
    }
    let mut first: Option<CliError> = None;
    for c in engine::containers::dependents_first(engine.containers()?) {
        if c.state.is_live() || !filters.iter().all(|f| f.keeps(&c)) {
            continue;
        }
        match engine.remove_container(&c, false, DEFAULT_STOP_TIMEOUT, false) {
            Ok(()) => out(&format!("{}\n", c.id))?,
            // Removed meanwhile: nothing left to prune.
            Err(e) if e.kind == ErrorKind::NotFound => {}
            // Started meanwhile: not ours to remove.
            Err(e) if e.kind == ErrorKind::InUse => {}
            Err(e) => match &first {
                None => first = Some(e.into()),
                Some(_) => eprintln!("Error: {e}"),
            },
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// One `--filter` of `container prune` and `system prune`: podman's
/// `until`, `label` and `label!`.
pub(super) enum Filter {
    /// Created before this time.
    Until(SystemTime),
    /// Has the label (with this value, if given); `negate` for `label!=`.
    Label { key: String, value: Option<String>, negate: bool },
}

impl Filter {
    pub(super) fn parse(text: &str) -> Result<Filter> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(CliError::new(format!("filter input must be in the form of filter=value: {text} is invalid")));
        };
        match key {
            "until" => Ok(Filter::Until(until(value)?)),
            "label" | "label!" => {
                let (k, v) = match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                };
                Ok(Filter::Label { key: k, value: v, negate: key == "label!" })
            }
            // Named as typed (`until!`), as podman names it.
            _ => Err(CliError::new(format!("{key} is an invalid filter"))),
        }
    }

    /// Whether what was created at `created` with `labels` passes; what
    /// has no time is not known to be older.
    pub(super) fn matches(&self, created: Option<SystemTime>, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Filter::Until(t) => created.is_some_and(|c| c < *t),
            Filter::Label { key, value, negate } => {
                let has = labels.get(key).is_some_and(|v| value.as_ref().is_none_or(|want| want == v));
                has != *negate
            }
        }
    }

    fn keeps(&self, c: &Container) -> bool {
        self.matches(Some(c.created), &c.labels)
    }
}

/// podman's `until`: a Go duration before now (`10m`, `1h30m`), seconds
/// since the epoch, or a date (RFC 3339, or `2006-01-02[T15:04:05]`).
pub(super) fn until(text: &str) -> Result<SystemTime> {
    let bad = || CliError::new(format!("failed to parse value as time or duration: {text:?}"));
    if let Some(d) = go_duration(text) {
        return SystemTime::now().checked_sub(d).ok_or_else(bad);
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    let date = if text.len() == "2006-01-02".len() { format!("{text}T00:00:00Z") } else { text.to_string() };
    humantime::parse_rfc3339_weak(date.trim_end_matches('Z')).map_err(|_| bad())
}

/// Go's `time.ParseDuration` for what it accepts without a sign: numbers
/// (with fractions) each followed by a unit (h, m, s, ms, us, µs, ns).
pub(super) fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "10", "xyz", "1x", "m"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_parse_as_podman_reads_them() {
        assert!(Filter::parse("until=10m").is_ok());
        assert!(Filter::parse("until=1700000000").is_ok());
        assert!(Filter::parse("until=2020-01-01").is_ok());
        assert_eq!(Filter::parse("until=xyz").err().unwrap().msg, "failed to parse value as time or duration: \"xyz\"");
        assert_eq!(
            Filter::parse("label").err().unwrap().msg,
            "filter input must be in the form of filter=value: label is invalid"
        );
        assert_eq!(Filter::parse("bogus=1").err().unwrap().msg, "bogus is an invalid filter");
        assert_eq!(Filter::parse("until!=1h").err().unwrap().msg, "until! is an invalid filter");
        assert!(matches!(Filter::parse("label!=a=b"), Ok(Filter::Label { negate: true, .. })));
    }
}
