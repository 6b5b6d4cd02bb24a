//! A container's filesystem: `diff`, `export`, `mount`, `unmount`, and the
//! small commands around them (`port`, `container cleanup`).

use std::io::IsTerminal as _;

use engine::containers::filesystem::{ChangeKind, Side};
use engine::containers::Container;
use engine::Engine;
use serde_json::{json, Value};

use super::control::{each, targets, All};
use super::out;
use crate::error::{CliError, Context as _, Result};

/// podman's words for a command given no container.
const MISSING: &str = "you must provide at least one name or id";

/// The container named, or the newest one with `--latest`.
fn one(engine: &Engine, name: Option<&str>, latest: bool) -> Result<Container> {
    match (name, latest) {
        (_, true) => engine.containers()?.pop().ok_or_else(|| CliError::new("no containers to act on")),
        (Some(n), false) => Ok(engine.container(n)?),
        (None, false) => Err(CliError::usage(MISSING)),
    }
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// Change the output format (json)
    #[arg(long)]
    format: Option<String>,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The container to compare with its image, or an image to compare with its parent layer; with a
    /// second container or image, compared with that
    #[arg(value_name = "CONTAINER|IMAGE")]
    objects: Vec<String>,
}

pub fn diff(engine: &Engine, a: &DiffArgs) -> Result<u8> {
    if let Some(f) = a.format.as_deref().filter(|f| *f != "json") {
        let _ = f;
        return Err(CliError::new("only supported value for '--format' is 'json'"));
    }
    // podman looks for an image first, then a container, then a layer
    // (its words when none is found).
    if a.objects.len() > 2 {
        return Err(CliError::new(format!("accepts between 1 and 2 arg(s), received {}", a.objects.len())));
    }
    let changes = match (a.objects.as_slice(), a.latest) {
        ([new, old], false) => engine.changes_between(&side(engine, new)?, &side(engine, old)?)?,
        ([name], false) => match engine.find(name).ok().flatten() {
            Some(img) => engine.image_changes(&img)?,
            None => match engine.container(name) {
                Ok(c) => engine.container_changes(&c)?,
                Err(e) if e.kind == engine::ErrorKind::NotFound => {
                    return Err(CliError::new(format!("{name} not found: layer not known")))
                }
                Err(e) => return Err(e.into()),
            },
        },
        (names, latest) => engine.container_changes(&one(engine, names.first().map(String::as_str), latest)?)?,
    };
    let letter = |k: ChangeKind| match k {
        ChangeKind::Added => "A",
        ChangeKind::Changed => "C",
        ChangeKind::Deleted => "D",
    };
    if a.format.is_none() {
        let text: String = changes.iter().map(|ch| format!("{} {}\n", letter(ch.kind), ch.path)).collect();
        return out(&text).map(|()| 0);
    }
    // podman's keys in its order, each only when it has paths, indented
    // as podman indents them.
    let mut doc = serde_json::Map::new();
    for (key, kind) in
        [("changed", ChangeKind::Changed), ("added", ChangeKind::Added), ("deleted", ChangeKind::Deleted)]
    {
        let paths: Vec<&str> = changes.iter().filter(|c| c.kind == kind).map(|c| c.path.as_str()).collect();
        if !paths.is_empty() {
            doc.insert(key.into(), json!(paths));
        }
    }
    out(&format!("{}\n", indented(&Value::Object(doc), "     ")?))?;
    Ok(0)
}

/// A side of `diff A B`: an image first, then a container, as podman looks
/// them up (its words when neither is found).
fn side(engine: &Engine, name: &str) -> Result<Side> {
    if let Some(img) = engine.find(name).ok().flatten() {
        return Ok(Side::Image(Box::new(img)));
    }
    match engine.container(name) {
        Ok(c) => Ok(Side::Container(Box::new(c))),
        Err(e) if e.kind == engine::ErrorKind::NotFound => {
            Err(CliError::new(format!("{name} not found: layer not known")))
        }
        Err(e) => Err(e.into()),
    }
}

/// JSON as Go's `json.MarshalIndent(v, "", indent)` writes it.
pub(super) fn indented(v: &Value, indent: &str) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).map_err(|e| CliError::new(format!("encoding JSON: {e}")))?;
    String::from_utf8(buf).map_err(|e| CliError::new(format!("encoding JSON: {e}")))
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to a specified file (default: stdout, which must be redirected)
    #[arg(short, long, value_name = "OUTPUT")]
    output: Option<String>,
    /// The container whose filesystem to export
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn export(engine: &Engine, a: &ExportArgs) -> Result<u8> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::new("refusing to export to terminal. Use -o flag or redirect"));
    }
    let c = engine.container(&a.container)?;
    match &a.output {
        Some(path) => {
            // Written beside, renamed into place: a failed export leaves no half tar.
            let target = std::path::Path::new(path);
            let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir).ctx(|| format!("creating {path}"))?;
            let file = engine.export_container(&c, std::io::BufWriter::new(tmp))?;
            let tmp = file.into_inner().map_err(|e| CliError::new(format!("writing {path}: {}", e.error())))?;
            tmp.persist(target).map_err(|e| CliError::new(format!("writing {path}: {}", e.error)))?;
        }
        None => {
            let w = engine.export_container(&c, std::io::BufWriter::new(std::io::stdout().lock()))?;
            let _stdout = w.into_inner().map_err(|e| CliError::new(format!("writing to stdout: {}", e.error())))?;
        }
    }
    Ok(0)
}

#[derive(clap::Args)]
pub struct MountArgs {
    /// Mount all containers
    #[arg(short, long)]
    all: bool,
    /// Print the mounted containers in specified format (json)
    #[arg(long)]
    format: Option<String>,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Containers to mount (none: list the mounted ones)
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn mount(engine: &Engine, a: &MountArgs) -> Result<u8> {
    let targets: Vec<Container> = if a.all {
        engine.containers()?
    } else if a.latest {
        vec![one(engine, None, true)?]
    } else {
        a.containers.iter().map(|n| engine.container(n)).collect::<engine::Result<_>>()?
    };
    if a.all && !a.containers.is_empty() {
        return Err(CliError::new("no arguments are needed with --all"));
    }
    if !targets.is_empty() {
        for c in &targets {
            let at = engine.mount_container(c)?;
            out(&format!("{}\n", at.display()))?;
        }
        return Ok(0);
    }
    let mounted = engine.mounted_containers()?;
    match a.format.as_deref() {
        None => {
            let text: String = mounted
                .iter()
                .map(|(c, at)| {
                    let id = if a.no_trunc { c.id.as_str() } else { c.short_id() };
                    format!("{id}  {}\n", at.display())
                })
                .collect();
            out(&text)?;
        }
        Some("json") => {
            let rows: Vec<Value> = mounted
                .iter()
                .map(|(c, at)| json!({"id": c.id, "Names": [c.name], "mountpoint": at.display().to_string()}))
                .collect();
            out(&format!("{}\n", indented(&Value::Array(rows), " ")?))?;
        }
        Some(other) => return Err(CliError::new(format!("unknown --format argument: {other:?}"))),
    }
    Ok(0)
}

#[derive(clap::Args)]
pub struct UnmountArgs {
    /// Unmount all of the currently mounted containers
    #[arg(short, long)]
    all: bool,
    /// Force the complete unmount of the specified mounted containers
    #[arg(short, long)]
    force: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Containers to unmount
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn unmount(engine: &Engine, a: &UnmountArgs) -> Result<u8> {
    if a.all && !a.containers.is_empty() {
        return Err(CliError::new("no arguments are needed with --all"));
    }
    if a.all {
        for (c, _) in engine.mounted_containers()? {
            engine.unmount_container(&c, a.force)?;
            out(&format!("{}\n", c.id))?;
        }
        return Ok(0);
    }
    let names = if a.latest { vec![one(engine, None, true)?.id] } else { a.containers.clone() };
    if names.is_empty() {
        return Err(CliError::new("you must provide at least one name or id"));
    }
    each(&names, false, |name| {
        let c = engine.container(name)?;
        engine.unmount_container(&c, a.force)?;
        Ok(Some(name.to_string()))
    })
}

#[derive(clap::Args)]
pub struct PortArgs {
    /// Display port information for all containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The container, then optionally the PRIVATE_PORT[/PROTO] to look up
    #[arg(value_name = "CONTAINER [PORT]", num_args = 0..=2)]
    args: Vec<String>,
}

/// podman's `port`: a running container's published ports, one per line
/// (`80/tcp -> 0.0.0.0:8080`), every running container's with `--all`
/// (each line after its short ID and a tab), or where one private port
/// (`80`, `80/udp`) is published (`0.0.0.0:8080`).
pub fn port(engine: &Engine, a: &PortArgs) -> Result<u8> {
    let (containers, wanted) = if a.all {
        if a.args.len() > 1 {
            return Err(CliError::new("no arguments are needed with --all"));
        }
        (engine.containers()?, a.args.first())
    } else if a.latest {
        (vec![one(engine, None, true)?], a.args.first())
    } else {
        (vec![one(engine, a.args.first().map(String::as_str), false)?], a.args.get(1))
    };
    let wanted = match wanted {
        None => None,
        Some(w) => {
            let (port, proto) = w.split_once('/').unwrap_or((w, "tcp"));
            let port: u16 =
                port.parse().map_err(|_| CliError::new(format!("invalid port format {w:?}: must be PORT[/PROTO]")))?;
            Some(format!("{port}/{proto}"))
        }
    };
    let mut text = String::new();
    // As podman: only running containers with published ports report, and
    // one that has ports but not the one asked for is an error.
    let reporting = containers.iter().filter(|c| c.state == engine::containers::State::Running);
    for c in reporting.filter(|c| !c.isolation.ports.is_empty()) {
        let prefix = if a.all { format!("{}\t", c.short_id()) } else { String::new() };
        let lines = engine::containers::ports::port_lines(&c.isolation.ports);
        match &wanted {
            None => lines.iter().for_each(|(key, host)| text.push_str(&format!("{prefix}{key} -> {host}\n"))),
            Some(w) => match lines.iter().find(|(key, _)| key == w) {
                Some((_, host)) => text.push_str(&format!("{prefix}{host}\n")),
                None => {
                    out(&text)?;
                    return Err(CliError::new(format!("failed to find published port {w:?}")));
                }
            },
        }
    }
    out(&text)?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// Cleans up all containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// After cleanup, remove the container entirely
    #[arg(long)]
    rm: bool,
    /// After cleanup, remove the image entirely
    #[arg(long)]
    rmi: bool,
    /// Clean up the given exec session instead of the container
    #[arg(long, value_name = "string")]
    exec: Option<String>,
    /// Containers to clean up
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn cleanup(engine: &Engine, a: &CleanupArgs) -> Result<u8> {
    if let Some(session) = &a.exec {
        return cleanup_exec(engine, a, session);
    }
    let stopped: All = (a.all, |c| !c.state.is_live());
    let names = targets(engine, &a.containers, a.latest, Some(stopped), MISSING)?;
    each(&names, false, |name| {
        let c = engine.container(name)?;
        engine.cleanup_container(&c)?;
        if a.rm {
            engine.remove_container(&c, false, engine::containers::DEFAULT_STOP_TIMEOUT, false)?;
        }
        if a.rmi {
            // Not forced: an image another container (or this one, without
            // --rm) uses stays, and that is an error (podman's, exit 125).
            if let Some(img) = engine.find(&c.image_id)? {
                engine.remove_image(&img, false).map_err(|e| engine::Error::new(e.msg))?;
            }
        }
        Ok(Some(name.to_string()))
    })
}

/// `cleanup --exec ID CONTAINER`: podman's checks; its session must exist.
/// Nothing is left to clean (the process's keeper reaped it), and the
/// session stays listed until the container starts again, as with podman.
fn cleanup_exec(engine: &Engine, a: &CleanupArgs, session: &str) -> Result<u8> {
    if a.all {
        return Err(CliError::new("exec and all options conflict"));
    }
    match (a.containers.len(), a.latest) {
        // podman's words, without the usage line `one` adds.
        (0, false) => return Err(CliError::new(MISSING)),
        (0, true) | (1, false) => {}
        _ => return Err(CliError::new("cannot use exec option when more than one container is given")),
    }
    let c = one(engine, a.containers.first().map(String::as_str), a.latest)?;
    engine.exec_session(&c, session)?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// Initialize all containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Containers to initialize
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn init(engine: &Engine, a: &InitArgs) -> Result<u8> {
    use engine::containers::State;
    let ready: All = (a.all, |c| matches!(c.state, State::Created | State::Exited));
    let names = targets(engine, &a.containers, a.latest, Some(ready), MISSING)?;
    each(&names, false, |name| {
        let c = engine.container(name)?;
        engine.init_container(&c)?;
        Ok(Some(name.to_string()))
    })
}
