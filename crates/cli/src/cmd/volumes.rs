//! `berth volume ...`: create, ls, inspect, rm, prune, exists, as podman's.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use engine::volumes::Volume;
use engine::{Engine, ErrorKind};
use serde_json::{json, Value};

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume (e.g. --label mykey=value)
    #[arg(short, long, value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// Set driver specific options (type=tmpfs|bind, device=, o=)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    opt: Vec<String>,
    /// Do not fail if the volume already exists
    #[arg(long)]
    ignore: bool,
    /// The volume's name (a random one if none)
    #[arg(value_name = "NAME")]
    name: Option<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Filter volume output (name=, label=, dangling=)
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format volume output using Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not print headers
    #[arg(long)]
    noheading: bool,
    /// Print volume output in quiet mode
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Inspect all volumes
    #[arg(short, long)]
    all: bool,
    /// Format volume output using Go template
    #[arg(short, long)]
    format: Option<String>,
    /// The volumes to inspect
    #[arg(value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove all volumes
    #[arg(short, long)]
    all: bool,
    /// Remove a volume by force, even if it is being used by a container
    #[arg(short, long)]
    force: bool,
    /// Seconds to wait for running containers to stop before killing the container
    #[arg(short, long, value_name = "SECONDS")]
    time: Option<u64>,
    /// The volumes to remove
    #[arg(value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    /// The volume to look for
    #[arg(value_name = "VOLUME")]
    volume: String,
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if what == "label" && !kv.is_empty() => Ok((kv.clone(), String::new())),
            _ => Err(CliError::new(format!("invalid {what} {kv:?}"))),
        })
        .collect()
}

pub fn create(engine: &Engine, a: &CreateArgs) -> Result<u8> {
    if a.driver != "local" {
        return Err(CliError::new(format!("volume plugin {} not found: no such volume", a.driver)));
    }
    let labels = key_values(&a.label, "label")?;
    let options = key_values(&a.opt, "option")?;
    match engine.volume_create(a.name.as_deref(), labels, options) {
        Ok(v) => out(&format!("{}\n", v.name))?,
        Err(e) if a.ignore && e.kind == ErrorKind::InUse => out(&format!("{}\n", a.name.as_deref().unwrap_or("")))?,
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

/// A volume as podman's `volume inspect` and `ls --format` show it.
fn summary(engine: &Engine, v: &Volume) -> Value {
    // MountCount: podman counts its own mounts of volumes with options;
    // berth's are mounted by the runtime, inside each container.
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": v.data(engine.root()),
        "CreatedAt": format::rfc3339_nanos(Some(v.created)),
        "Labels": v.labels,
        "Scope": "local",
        "Options": v.options,
        "MountCount": 0,
        "NeedsCopyUp": v.needs_copy_up,
        "NeedsChown": v.needs_copy_up,
    })
}

/// One `--filter KEY=VALUE` of `volume ls`.
fn matches(engine: &Engine, v: &Volume, filter: &str) -> Result<bool> {
    let (key, value) = filter.split_once('=').ok_or_else(|| CliError::new(format!("invalid filter {filter:?}")))?;
    Ok(match key {
        "name" => v.name.contains(value),
        "label" => match value.split_once('=') {
            Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
            None => v.labels.contains_key(value),
        },
        "dangling" => {
            let dangling = engine.volume_users(&v.name)?.is_empty();
            dangling == crate::flags::go_bool(value).map_err(CliError::new)?
        }
        "driver" => v.driver == value,
        _ => return Err(CliError::new(format!("{key} is an invalid filter"))),
    })
}

pub fn ls(engine: &Engine, a: &LsArgs) -> Result<u8> {
    let mut list = Vec::new();
    for v in engine.volumes()? {
        let mut keep = true;
        for f in &a.filter {
            keep &= matches(engine, &v, f)?;
        }
        if keep {
            list.push(v);
        }
    }
    let rows: Vec<Value> = list.iter().map(|v| summary(engine, v)).collect();
    if a.format.as_deref().is_some_and(format::is_json) {
        // podman's VolumeConfigResponse: these two are omitempty.
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|mut r| {
                if let Some(o) = r.as_object_mut() {
                    o.retain(|k, v| !(matches!(k.as_str(), "NeedsCopyUp" | "NeedsChown") && *v == Value::Bool(false)));
                }
                r
            })
            .collect();
        return out(&format!("{}\n", crate::jsoniter::pretty(&Value::Array(rows), "  "))).map(|()| 0);
    }
    let template = match (&a.format, a.quiet) {
        (Some(f), _) => f.clone(),
        (None, true) => "{{.Name}}".into(),
        (None, false) => "table {{.Driver}}\t{{.Name}}".into(),
    };
    let headers: HashMap<&str, &str> =
        [("Name", "VOLUME NAME"), ("Driver", "DRIVER"), ("Mountpoint", "MOUNTPOINT")].into_iter().collect();
    let fmt = Format::parse(&template)?.named("volume", "volumes.volumeReporter").heading(!a.noheading);
    out(&fmt.render(&rows, &headers)?)?;
    Ok(0)
}

pub fn inspect(engine: &Engine, a: &InspectArgs) -> Result<u8> {
    if a.all && !a.volumes.is_empty() {
        return Err(CliError::usage("provide one or more volume names or use --all"));
    }
    if !a.all && a.volumes.is_empty() {
        return Err(CliError::usage("provide one or more volume names or use --all"));
    }
    let names: Vec<String> =
        if a.all { engine.volumes()?.into_iter().map(|v| v.name).collect() } else { a.volumes.clone() };
    let mut rows = Vec::new();
    let mut first_err = None;
    for n in &names {
        match engine.volume(n) {
            Ok(v) => rows.push(summary(engine, &v)),
            Err(e) => match &first_err {
                None => first_err = Some(CliError::from(e)),
                Some(_) => eprintln!("Error: {e}"),
            },
        }
    }
    match a.format.as_deref() {
        Some(f) if !format::is_json(f) => {
            let fmt = Format::parse(f)?.named("volume", "*define.InspectVolumeData");
            out(&fmt.render(&rows, &HashMap::new())?)?;
        }
        _ => out(&five_space_json(&rows)?)?,
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// podman's `volume inspect` indents its JSON by five spaces.
pub(super) fn five_space_json(v: &impl serde::Serialize) -> Result<String> {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b"     "));
    v.serialize(&mut ser).map_err(|e| CliError::new(format!("encoding JSON: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned() + "\n")
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<u8> {
    if a.all != a.volumes.is_empty() {
        return Err(CliError::usage("choose either one or more volumes or all"));
    }
    let timeout = a.time.map_or(engine::containers::DEFAULT_STOP_TIMEOUT, Duration::from_secs);
    let names: Vec<String> =
        if a.all { engine.volumes()?.into_iter().map(|v| v.name).collect() } else { a.volumes.clone() };
    super::remove_each(&names, false, |n| engine.volume_remove(n, a.force, timeout))
}

pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<u8> {
    if !a.force {
        let mut warning = String::from(
            "WARNING! This will remove all volumes not used by at least one container. The following volumes will be removed:\n",
        );
        for v in engine.volumes()? {
            if engine.volume_users(&v.name).is_ok_and(|u| u.is_empty()) {
                warning.push_str(&v.name);
                warning.push('\n');
            }
        }
        if !super::names::confirm_with(&warning)? {
            return Ok(0);
        }
    }
    for n in engine.volume_prune()? {
        out(&format!("{n}\n"))?;
    }
    Ok(0)
}

pub fn exists(engine: &Engine, a: &ExistsArgs) -> Result<u8> {
    Ok(if engine.volume(&a.volume).is_ok() { 0 } else { 1 })
}
