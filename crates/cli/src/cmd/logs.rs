//! `logs`, and the `--log-driver`/`--log-opt` flags of create and run.

use std::io::Write as _;
use std::time::SystemTime;

use engine::containers::logconfig::LogConfig;
use engine::containers::logfile::{Entry, Stream};
use engine::containers::Container;
use engine::Engine;

use super::control::targets;
use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Output the containers with different colors in the log
    #[arg(long)]
    color: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Output the container name in the log
    #[arg(short, long)]
    names: bool,
    /// Show logs since TIMESTAMP (RFC 3339, Unix seconds, or a duration before now such as 10m)
    #[arg(long, value_name = "TIMESTAMP")]
    since: Option<String>,
    /// Output the specified number of LINES at the end of the logs (-1: all)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_name = "LINES")]
    tail: i64,
    /// Output the timestamps in the log
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs until TIMESTAMP (as --since; a duration counts from now on)
    #[arg(long, value_name = "TIMESTAMP")]
    until: Option<String>,
    /// The containers whose logs to show, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `--log-driver` and `--log-opt` (each may hold several `key=value`,
/// comma-separated, as podman's string-slice flags do); a relative
/// `path=` is taken from the current directory.
pub fn log_config(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
    let cwd = std::env::current_dir().ok();
    let opts: Vec<String> = opts
        .iter()
        .flat_map(|o| o.split(','))
        .map(|o| match (o.strip_prefix("path="), &cwd) {
            (Some(p), Some(d)) if !p.starts_with('/') && !p.is_empty() => format!("path={}", d.join(p).display()),
            _ => o.to_string(),
        })
        .collect();
    Ok(LogConfig::parse(driver, &opts)?)
}

/// What to show of each log, as the flags say.
struct Show {
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    tail: Option<usize>,
    timestamps: bool,
    follow: bool,
}

pub fn logs(engine: &Engine, a: &LogsArgs) -> Result<u8> {
    let time = |flag: &str, v: &Option<String>, since: bool| -> Result<Option<SystemTime>> {
        v.as_deref()
            .map(|t| {
                crate::input_time::parse(t, since).map_err(|e| CliError::new(format!("parsing {flag} {t:?}: {e}")))
            })
            .transpose()
    };
    let show = Show {
        since: time("--since", &a.since, true)?,
        until: time("--until", &a.until, false)?,
        tail: usize::try_from(a.tail).ok(),
        timestamps: a.timestamps,
        follow: a.follow,
    };
    // podman says these without pointing at --help.
    if a.containers.is_empty() && !a.latest {
        return Err(CliError::new("specify at least one container name or ID to log"));
    }
    if a.latest && !a.containers.is_empty() {
        return Err(CliError::new("--latest and containers cannot be used together"));
    }
    let inputs = targets(engine, &a.containers, a.latest, None, "")?;
    // All found before anything is shown, as podman does.
    let containers = inputs.iter().map(|i| engine.container(i)).collect::<engine::Result<Vec<Container>>>()?;
    // Several: each line says whose, by name with `-n`, else short ID.
    // One: nothing, `-n` or not (podman 4.3 too).
    let several = containers.len() > 1;
    let prefix = |c: &Container| match (several, a.names) {
        (false, _) => String::new(),
        (true, true) => format!("{} ", c.name),
        (true, false) => format!("{} ", c.short_id()),
    };
    let mut logs = containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let color = a.color.then(|| COLORS[i % COLORS.len()]);
            Ok((engine.log_reader(c, show.follow, show.until)?, Shown::new(prefix(c), color, &show)))
        })
        .collect::<Result<Vec<_>>>()?;
    if !show.follow {
        for (r, shown) in &mut logs {
            while engine.poll_log(r, &mut |e| shown.take(e, &show))? {}
        }
        return Ok(0);
    }
    // Followed side by side by one thread: each line as it comes,
    // whichever log it is in.
    loop {
        let mut more = false;
        for (r, shown) in &mut logs {
            if !shown.done {
                shown.done = !engine.poll_log(r, &mut |e| shown.take(e, &show))?;
                more |= !shown.done;
            }
        }
        if !more {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What is shown of one container's log.
struct Shown {
    prefix: String,
    /// `--color`: its color's escape sequence.
    color: Option<&'static str>,
    /// With --tail, until the log is read up to now: its entries, for
    /// --tail to cut.
    kept: Option<Vec<Entry>>,
    /// Its reader has nothing more to give.
    done: bool,
}

impl Shown {
    fn new(prefix: String, color: Option<&'static str>, show: &Show) -> Shown {
        Shown { prefix, color, kept: show.tail.map(|_| Vec::new()), done: false }
    }

    /// An entry of the log, or (`None`) word that the log is read up to now.
    fn take(&mut self, e: Option<&Entry>, show: &Show) -> engine::Result<()> {
        match (e, self.kept.as_mut()) {
            (Some(e), Some(kept)) => {
                kept.push(e.clone());
                Ok(())
            }
            (Some(e), None) => self.print(e, show),
            (None, Some(_)) => {
                let mut all = self.kept.take().unwrap_or_default();
                all.drain(..last_lines_start(&all, show.tail.unwrap_or(usize::MAX)));
                all.iter().try_for_each(|e| self.print(e, show))
            }
            (None, None) => Ok(()),
        }
    }

    /// `e`, if in the time window.
    fn print(&self, e: &Entry, show: &Show) -> engine::Result<()> {
        if let Some(t) = e.when() {
            if show.since.is_some_and(|s| t < s) || show.until.is_some_and(|u| t > u) {
                return Ok(());
            }
        }
        show_entry(e, &self.prefix, self.color, show.timestamps).map_err(|e| engine::Error::new(e.msg))
    }
}

/// Where the last `n` lines of `entries` start. A line is its partial
/// entries and the full one that ends it (or, last, partial entries alone).
fn last_lines_start(entries: &[Entry], n: usize) -> usize {
    let ends: Vec<usize> = entries.iter().enumerate().filter(|(_, e)| !e.partial).map(|(i, _)| i + 1).collect();
    let trailing = ends.last().copied().unwrap_or(0) < entries.len();
    let full_lines = n.saturating_sub(usize::from(trailing));
    match n {
        0 => entries.len(),
        _ if full_lines >= ends.len() => 0,
        _ => ends[ends.len() - full_lines - 1],
    }
}

/// `--color`'s colors, one per container in turn (podman's: white, red,
/// green, yellow, blue, magenta, cyan).
const COLORS: [&str; 7] = ["\x1b[37m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m"];

/// One entry as podman prints it: stdout's to our stdout, stderr's to our
/// stderr; with `-t` its time first, in podman's layout (UTC, always nine
/// digits of fraction: `2006-01-02T15:04:05.000000000Z07:00`); with a
/// color, all but the newline in it.
fn show_entry(e: &Entry, prefix: &str, color: Option<&str>, timestamps: bool) -> Result<()> {
    let mut line = color.unwrap_or_default().as_bytes().to_vec();
    line.extend_from_slice(prefix.as_bytes());
    if timestamps {
        if let Some(t) = e.when() {
            line.extend_from_slice(humantime::format_rfc3339_nanos(t).to_string().as_bytes());
        }
        line.push(b' ');
    }
    line.extend_from_slice(&e.text);
    if color.is_some() {
        line.extend_from_slice(b"\x1b[0m");
    }
    if !e.partial {
        line.push(b'\n');
    }
    let res = match e.stream {
        Stream::Stdout => std::io::stdout().lock().write_all(&line).and_then(|()| std::io::stdout().flush()),
        Stream::Stderr => std::io::stderr().lock().write_all(&line),
    };
    res.map_err(|e| CliError::new(format!("writing output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_not_entries() {
        let e = |partial: bool| Entry { time: String::new(), stream: Stream::Stdout, partial, text: Vec::new() };
        // "a", "b" + "c" (one line in two entries), then "d" with no newline.
        let log = [e(false), e(true), e(false), e(true)];
        assert_eq!(last_lines_start(&log, 0), 4);
        assert_eq!(last_lines_start(&log, 1), 3);
        assert_eq!(last_lines_start(&log, 2), 1);
        assert_eq!(last_lines_start(&log, 3), 0);
        assert_eq!(last_lines_start(&log, 9), 0);
        assert_eq!(last_lines_start(&log[..3], 1), 1);
        assert_eq!(last_lines_start(&[], 1), 0);
    }
}
