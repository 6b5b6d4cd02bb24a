//! `stats`: a live (or, with `--no-stream`, one) report of what containers
//! use, in podman 4.3's columns, units and JSON.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::containers::{Container, Usage};
use engine::Engine;
use serde_json::{json, Value};

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};
use crate::units::{bytes_size, human_size};

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Show all containers. Only running containers are shown by default. The default is false
    #[arg(short, long)]
    all: bool,
    /// Pretty-print container statistics to JSON or using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Time in seconds between stats reports
    #[arg(short, long, default_value_t = 5, allow_negative_numbers = true, value_name = "INT")]
    interval: i64,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Disable resetting the screen between intervals
    #[arg(long = "no-reset")]
    no_reset: bool,
    /// Disable streaming stats and only pull the first result, default setting is false
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// The containers to report on, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// podman 4.3's default columns.
const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}\t{{.UpTime}}\t{{.AVGCPU}}";

/// Column titles by field (podman's; other fields get their name split).
const HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemUsageBytes", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET IO"),
    ("BlockIO", "BLOCK IO"),
    ("PIDS", "PIDS"),
    ("UpTime", "CPU TIME"),
    ("AVGCPU", "AVG CPU %"),
];

/// goterm's Clear and MoveCursor(1, 1), which podman writes to a terminal
/// before each report unless `--no-reset`.
const RESET: &str = "\x1b[2J\x1b[1;1H";

pub fn stats(engine: &Engine, a: &StatsArgs) -> Result<u8> {
    // podman's checks and words.
    if [a.all, a.latest, !a.containers.is_empty()].iter().filter(|b| **b).count() > 1 {
        return Err(CliError::new("--all, --latest and containers cannot be used together"));
    }
    if a.interval < 1 {
        return Err(CliError::new("invalid interval, must be a positive number greater zero"));
    }
    let format = a.format.as_deref().unwrap_or(DEFAULT);
    let json = format::is_json(format);
    let fmt = if json { None } else { Some(Format::parse(format)?.named("stats", "containers.containerStats")) };
    let headers: HashMap<&str, &str> = HEADERS.iter().copied().collect();
    // Each container's previous sample: CPU time and when it was read.
    let mut previous: HashMap<String, (u64, u64)> = HashMap::new();
    loop {
        let list = targets(engine, a)?;
        let mut rows = Vec::new();
        for c in &list {
            let usage = engine.container_usage(c)?;
            let sample = Sample::new(c, &usage, previous.get(&c.id).copied());
            previous.insert(c.id.clone(), (usage.cpu_nanos, nanos(usage.at)));
            rows.push(sample.row(c, &usage, a.no_trunc));
        }
        let text = match &fmt {
            None => {
                let list: Vec<Value> = rows.iter().map(json_row).collect();
                format!("{}\n", pretty_one_space(&Value::Array(list))?)
            }
            Some(fmt) => fmt.render(&rows, &headers)?,
        };
        // Only a terminal is cleared (podman writes no escapes into a pipe).
        let clear = !a.no_stream && !a.no_reset && !rows.is_empty() && std::io::stdout().is_terminal();
        let reset = if clear { RESET } else { "" };
        out(&format!("{reset}{text}"))?;
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(u64::try_from(a.interval).unwrap_or(5)));
    }
}

/// The containers reported on: those named, the latest, else every one
/// (podman 4.3 queries all containers whether or not `--all` is given,
/// which its help does not say), by ID.
fn targets(engine: &Engine, a: &StatsArgs) -> Result<Vec<Container>> {
    if !a.containers.is_empty() {
        return a
            .containers
            .iter()
            .map(|name| {
                engine.container(name).map_err(|e| {
                    CliError::new(format!("unable to get list of containers: unable to look up container {name}: {e}"))
                })
            })
            .collect();
    }
    let mut all = engine.containers()?;
    if a.latest {
        return Ok(all.pop().into_iter().collect());
    }
    all.sort_by(|x, y| x.id.cmp(&y.id));
    Ok(all)
}

fn nanos(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The percentages of one sample, as podman's `calculateCPUPercent`: CPU
/// time over wall time since the previous sample (since the start for the
/// first), and over the whole run for the average.
struct Sample {
    cpu: f64,
    avg_cpu: f64,
    mem_perc: f64,
}

impl Sample {
    fn new(c: &Container, u: &Usage, previous: Option<(u64, u64)>) -> Sample {
        let now = nanos(u.at);
        let started = nanos(c.started_at);
        let percent = |cpu_before: u64, at: u64| {
            let cpu = u.cpu_nanos.saturating_sub(cpu_before) as f64;
            let wall = now.saturating_sub(at) as f64;
            if cpu > 0.0 && wall > 0.0 {
                cpu / wall * 100.0
            } else {
                0.0
            }
        };
        let (cpu_before, at) = previous.unwrap_or((0, started));
        let mem_perc = if u.mem_limit > 0 { u.mem_usage as f64 / u.mem_limit as f64 * 100.0 } else { 0.0 };
        Sample { cpu: percent(cpu_before, at), avg_cpu: percent(0, started), mem_perc }
    }

    /// What templates see: podman's `containerStats` (its methods and the
    /// `define.ContainerStats` fields they do not hide).
    fn row(&self, c: &Container, u: &Usage, no_trunc: bool) -> Value {
        let id = if no_trunc { c.id.clone() } else { c.short_id().to_string() };
        let cpu_time = format::go_duration(Duration::from_nanos(u.cpu_nanos));
        json!({
            "ID": id,
            "ContainerID": c.id,
            "Name": c.name,
            "CPUPerc": percent(self.cpu),
            "AVGCPU": percent(self.avg_cpu),
            "MemPerc": percent(self.mem_perc),
            // podman 4.3 takes the container's transmitted bytes as its
            // "input" (the host's view of the link) and received as output.
            "NetIO": pair(u.net_tx, u.net_rx, human_size),
            "BlockIO": pair(u.block_read, u.block_write, human_size),
            "PIDS": u.pids.to_string(),
            "PIDs": u.pids,
            "MemUsage": pair(u.mem_usage, u.mem_limit, human_size),
            "MemUsageBytes": pair(u.mem_usage, u.mem_limit, bytes_size),
            "UpTime": cpu_time,
            "Up": cpu_time,
            "Duration": u.cpu_nanos,
            "CPU": self.cpu,
            "AvgCPU": self.avg_cpu,
            "CPUNano": u.cpu_nanos,
            "CPUSystemNano": u.cpu_system_nanos,
            "SystemNano": nanos(u.at),
            "MemLimit": u.mem_limit,
            "NetInput": u.net_tx,
            "NetOutput": u.net_rx,
            "BlockInput": u.block_read,
            "BlockOutput": u.block_write,
            "PerCPU": u.per_cpu,
        })
    }
}

/// `--format json`: podman's `statsOutputParams`.
fn json_row(row: &Value) -> Value {
    let s = |k: &str| row.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": s("ID"),
        "name": s("Name"),
        "cpu_time": s("UpTime"),
        "cpu_percent": s("CPUPerc"),
        "avg_cpu": s("AVGCPU"),
        "mem_usage": s("MemUsage"),
        "mem_percent": s("MemPerc"),
        "net_io": s("NetIO"),
        "block_io": s("BlockIO"),
        "pids": s("PIDS"),
    })
}

/// JSON indented by one space, as podman's `json.MarshalIndent(v, "", " ")`.
fn pretty_one_space(v: &Value) -> Result<String> {
    use serde::Serialize as _;
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b" "));
    v.serialize(&mut ser).map_err(|e| CliError::new(e.to_string()))?;
    String::from_utf8(buf).map_err(|e| CliError::new(e.to_string()))
}

/// podman's `floatToPercentString`.
fn percent(f: f64) -> String {
    format!("{f:.2}%")
}

/// podman's `combineHumanValues`: `0B / 0B` when both are zero.
fn pair(a: u64, b: u64, size: fn(u64) -> String) -> String {
    if a == 0 && b == 0 {
        return "0B / 0B".into();
    }
    format!("{} / {}", size(a), size(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_zeros() {
        assert_eq!(pair(0, 0, human_size), "0B / 0B");
        assert_eq!(pair(487_424, 25_276_071_936, human_size), "487.4kB / 25.28GB");
    }

    #[test]
    fn percent_has_two_decimals() {
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(percent(11.527), "11.53%");
    }

    #[test]
    fn json_is_indented_by_one_space() {
        let v = json!([{"a": "b"}]);
        assert_eq!(pretty_one_space(&v).unwrap(), "[\n {\n  \"a\": \"b\"\n }\n]");
    }
}
