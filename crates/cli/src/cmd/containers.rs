//! Container commands: create, run (attached), rm, ps.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::time::SystemTime;

use engine::containers::{Container, CreateSpec, State};
use engine::{Engine, ErrorKind};
use serde_json::{json, Value};

use super::out;
use super::registry::{pull_image, RemoteArgs};
use crate::error::{CliError, Result};
use crate::format::{self, Format};

/// The flags `create` and `run` share.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables in container
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Set container hostname
    #[arg(long)]
    hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Allocate a pseudo-TTY for container
    #[arg(short, long)]
    tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Pull image policy: missing, always or never
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pull: String,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    remote: RemoteArgs,
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Remove container (and pod if created) after exit
    #[arg(long)]
    rm: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Force removal of a running or unusable container
    #[arg(short, long)]
    force: bool,
    /// Remove all containers
    #[arg(short, long)]
    all: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    ignore: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short, long)]
    all: bool,
    /// Print the numeric IDs of the containers only
    #[arg(short, long)]
    quiet: bool,
    /// Display extended information
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not print headers
    #[arg(short, long)]
    noheading: bool,
}

fn create_spec(a: &CreateArgs) -> CreateSpec {
    CreateSpec {
        name: a.name.clone(),
        command: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        env: a.env.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        terminal: a.tty,
        interactive: a.interactive,
    }
}

fn create_container(engine: &Engine, a: &CreateArgs) -> Result<Container> {
    let local = if a.pull == "always" { None } else { engine.find(&a.image)? };
    let img = match local {
        Some(img) => img,
        None if a.pull == "never" => return Err(CliError::new(format!("{}: image not known", a.image))),
        None => pull_image(engine, &a.image, &a.remote, None, a.quiet)?,
    };
    let name = img.name_used(&a.image).map(|n| n.to_string()).unwrap_or_else(|| img.id.hex().to_string());
    Ok(engine.create_container(&img, &name, &create_spec(a))?)
}

pub fn create(engine: &Engine, a: &CreateArgs) -> Result<u8> {
    let c = create_container(engine, a)?;
    out(&format!("{}\n", c.id))?;
    Ok(0)
}

/// `run` without `-d`: the container's exit code is ours (podman's rule);
/// failures before it ran are 125.
pub fn run(engine: &Engine, a: &RunArgs) -> Result<u8> {
    if a.create.tty && a.create.interactive && !std::io::stdin().is_terminal() {
        // podman's words; it runs the container all the same.
        tracing::warn!("The input device is not a TTY. The --tty and --interactive flags might not work properly");
    }
    let mut c = create_container(engine, &a.create)?;
    let res = engine.run_attached(&mut c);
    if a.rm {
        match engine.remove_container(&c, true) {
            // Removed meanwhile (`rm -f` from elsewhere): nothing left to do.
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing container {}: {e}", c.id),
        }
    }
    let code = res?;
    Ok(u8::try_from(code).unwrap_or(255))
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<u8> {
    match (a.all, a.containers.is_empty()) {
        (true, false) => return Err(CliError::new("--all and container names cannot be used together")),
        (false, true) => return Err(CliError::new("must specify at least one container")),
        _ => {}
    }
    let targets: Vec<String> =
        if a.all { engine.containers()?.into_iter().map(|c| c.id).collect() } else { a.containers.clone() };
    let mut first_err: Option<CliError> = None;
    // Like podman: try each, print what went, report the first error.
    for input in &targets {
        let res = engine.container(input).and_then(|c| engine.remove_container(&c, a.force));
        match res {
            Ok(()) => out(&format!("{input}\n"))?,
            Err(e) if e.kind == ErrorKind::NotFound && (a.ignore || a.force) => {}
            Err(e) => {
                let code = match e.kind {
                    ErrorKind::NotFound => 1,
                    ErrorKind::InUse => 2,
                    _ => crate::error::ENGINE,
                };
                let err = CliError { code, msg: e.msg };
                match &first_err {
                    None => first_err = Some(err),
                    Some(_) => eprintln!("Error: {err}"),
                }
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("ImageID", "IMAGE ID"),
    ("Command", "COMMAND"),
    ("CreatedHuman", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Pid", "PID"),
    ("ExitCode", "EXIT CODE"),
];

pub fn ps(engine: &Engine, a: &PsArgs) -> Result<u8> {
    let rows: Vec<Value> = engine
        .containers()?
        .iter()
        .filter(|c| a.all || c.state == State::Running)
        .map(|c| ps_row(c, a.no_trunc))
        .collect();
    let headers: HashMap<&str, &str> = PS_HEADERS.iter().copied().collect();
    let text = match (&a.format, a.quiet) {
        (Some(f), _) if f == "json" => {
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::new(e.to_string()))? + "\n"
        }
        (Some(f), _) => Format::parse(f)?.render(&rows, &headers)?,
        (None, true) => Format::parse("{{.ID}}")?.render(&rows, &headers)?,
        (None, false) => {
            let t = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
            Format::parse(&if a.noheading { t.to_string() } else { format!("table {t}") })?.render(&rows, &headers)?
        }
    };
    out(&text)?;
    Ok(0)
}

/// One `ps` row with podman's field names (`{{.Names}}` is a string there).
fn ps_row(c: &Container, no_trunc: bool) -> Value {
    let id = if no_trunc { c.id.clone() } else { c.short_id().to_string() };
    let mut command = c.args.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(17).collect::<String>() + "...";
    }
    json!({
        "ID": id,
        "Id": c.id,
        "Image": c.image_name,
        "ImageID": c.image_id.trim_start_matches("sha256:"),
        "Command": command,
        "CreatedHuman": format::human_since(Some(c.created)),
        "CreatedAt": format::go_time(Some(c.created)),
        "Status": status(c),
        "State": c.state.as_str(),
        "Ports": "",
        "Names": c.name,
        "Pid": c.pid.unwrap_or(0),
        "ExitCode": c.exit_code.unwrap_or(0),
        "Exited": c.state == State::Exited,
    })
}

/// podman's STATUS column: `Created`, `Up 3 seconds`, `Exited (0) 2 minutes ago`.
fn status(c: &Container) -> String {
    let since = |t: Option<SystemTime>| {
        format::human_duration(t.and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default())
    };
    match c.state {
        State::Configured => "Configured".into(),
        State::Created => "Created".into(),
        State::Running => format!("Up {}", since(c.started_at)),
        State::Exited => format!("Exited ({}) {} ago", c.exit_code.unwrap_or(-1), since(c.finished_at)),
    }
}
