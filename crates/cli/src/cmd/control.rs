//! Commands on containers that run or may run: start, stop, kill, wait,
//! logs. Each takes several containers and, as podman does, tries every
//! one, printing what it did and reporting the first error.

use std::time::Duration;

use engine::containers::attached::{self, AttachOptions, Attached};
use engine::containers::{Container, State};
use engine::{Engine, ErrorKind};

use super::out;
use super::selection::Selection;
use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct StartArgs {
    /// Attach container's STDOUT and STDERR
    #[arg(short, long)]
    attach: bool,
    /// Select the key sequence for detaching a container (ctrl-<x> or a letter, comma-separated)
    #[arg(long = "detach-keys", default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    detach_keys: String,
    /// Proxy received signals to the process (default true if attaching, false otherwise)
    #[arg(long = "sig-proxy", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Start all containers regardless of their state or configuration
    #[arg(long)]
    all: bool,
    /// Filter the containers --all starts (restart-policy=, name=, id=, status=); at boot,
    /// `--all --filter restart-policy=always` brings back what should run
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The containers to start, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Select the key sequence for detaching a container (ctrl-<x> or a letter, comma-separated)
    #[arg(long = "detach-keys", default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    detach_keys: String,
    /// Do not attach STDIN. The default is false
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The container to attach to, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    container: Option<String>,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Stop all running containers
    #[arg(short, long)]
    all: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    ignore: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Seconds to wait for stop before killing the container
    #[arg(short, long, value_name = "SECONDS")]
    time: Option<u64>,
    /// The containers to stop, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
    /// Read the container ID from the file
    #[arg(long, value_name = "FILE")]
    cidfile: Vec<String>,
    /// Filter output based on conditions given
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal all running containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// The containers to signal, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
    /// Read the container ID from the file
    #[arg(long, value_name = "FILE")]
    cidfile: Vec<String>,
}

#[derive(clap::Args)]
pub struct WaitArgs {
    /// Condition to wait on
    #[arg(long, value_name = "STRINGS", value_delimiter = ',')]
    condition: Vec<String>,
    /// Time Interval to wait before polling for completion
    #[arg(short, long, default_value = "250ms", value_name = "STRING")]
    interval: String,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The containers to wait for, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `--all` of a command: whether given, and which containers it means.
pub(super) type All = (bool, fn(&Container) -> bool);

/// The containers a command acts on: those named, the latest (`-l`), or
/// with `--all` those it keeps. podman's words when none is given.
pub(super) fn targets(
    engine: &Engine,
    names: &[String],
    latest: bool,
    all: Option<All>,
    missing: &str,
) -> Result<Vec<String>> {
    targets_or(engine, names, latest, all, missing, "no arguments are needed with --all")
}

/// [`targets`], with the words for `--all` given with containers (podman's
/// differ from command to command).
pub(super) fn targets_or(
    engine: &Engine,
    names: &[String],
    latest: bool,
    all: Option<All>,
    missing: &str,
    all_and_names: &str,
) -> Result<Vec<String>> {
    let all_flag = all.is_some_and(|(a, _)| a);
    if (all_flag || latest) && !names.is_empty() {
        return Err(CliError::usage(if all_flag {
            all_and_names
        } else {
            "--latest and containers cannot be used together"
        }));
    }
    if latest {
        let last = engine.containers()?.pop().ok_or_else(|| CliError::new("no containers to act on"))?;
        return Ok(vec![last.id]);
    }
    if let Some((true, keep)) = all {
        return Ok(engine.containers()?.into_iter().filter(keep).map(|c| c.id).collect());
    }
    if names.is_empty() {
        return Err(CliError::usage(missing));
    }
    Ok(names.to_vec())
}

/// Run `act` on each of `inputs`, podman's way: print what it returns,
/// report the first error (later ones go to stderr at once); with
/// `ignore_missing`, a container that does not exist is no error.
pub(super) fn each(
    inputs: &[String],
    ignore_missing: bool,
    mut act: impl FnMut(&str) -> engine::Result<Option<String>>,
) -> Result<u8> {
    let mut first: Option<CliError> = None;
    for input in inputs {
        match act(input) {
            Ok(Some(line)) => out(&format!("{line}\n"))?,
            Ok(None) => {}
            Err(e) if ignore_missing && e.kind == ErrorKind::NotFound => {}
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

pub fn start(engine: &Engine, a: &StartArgs) -> Result<u8> {
    let filters = a.filter.iter().map(|f| StartFilter::parse(f)).collect::<Result<Vec<_>>>()?;
    if !filters.is_empty() && !a.all {
        return Err(CliError::usage("--filter takes effect only with --all"));
    }
    let mut inputs = targets_or(
        engine,
        &a.containers,
        a.latest,
        Some((a.all, |c| !c.state.is_live())),
        "start requires at least one argument",
        "either start all containers or the container(s) provided in the arguments",
    )?;
    if !filters.is_empty() {
        let all = engine.containers()?;
        inputs.retain(|id| all.iter().any(|c| &c.id == id && filters.iter().all(|f| f.matches(c))));
    }
    if a.attach {
        // podman attaches to one container only.
        let [input] = inputs.as_slice() else {
            return Err(CliError::new("you cannot start and attach multiple containers at once"));
        };
        let mut c = engine.container(input)?;
        let opts =
            attach_options(&a.detach_keys, a.interactive && c.interactive, c.terminal, a.sig_proxy.unwrap_or(true))?;
        let res = engine.run_attached(&mut c, &opts).map_err(start_error)?;
        return attached_exit(&c, res);
    }
    each(&inputs, false, |input| {
        let mut c = engine.container(input)?;
        if c.state == State::Running {
            return Ok(Some(input.to_string()));
        }
        if c.state == State::Paused {
            return Err(engine::Error::new(format!(
                "unable to start container \"{}\": container {} must be in Created or Stopped state to be started: container state improper",
                c.id, c.id
            )));
        }
        engine.start_detached(&mut c).map_err(start_error)?;
        Ok(Some(input.to_string()))
    })
}

/// `start` exits 125 for any container that cannot start: the 126/127
/// a command that cannot run gets are `run`'s (podman's rule).
fn start_error(mut e: engine::Error) -> engine::Error {
    if matches!(e.kind, engine::ErrorKind::CommandNotFound | engine::ErrorKind::CommandCannotRun) {
        e.kind = engine::ErrorKind::Other;
    }
    e
}

/// One `start --filter KEY=VALUE`.
enum StartFilter {
    RestartPolicy(String),
    Name(String),
    Id(String),
    Status(String),
}

impl StartFilter {
    fn parse(text: &str) -> Result<StartFilter> {
        let (key, value) = text.split_once('=').ok_or_else(|| CliError::new(format!("invalid filter {text:?}")))?;
        let value = value.to_string();
        Ok(match key {
            "restart-policy" => StartFilter::RestartPolicy(value),
            "name" => StartFilter::Name(value),
            "id" => StartFilter::Id(value),
            "status" => StartFilter::Status(value),
            _ => return Err(CliError::new(format!("{key} is an invalid filter"))),
        })
    }

    fn matches(&self, c: &Container) -> bool {
        match self {
            StartFilter::RestartPolicy(p) => c.restart.name() == p || (p == "no" && c.restart.name().is_empty()),
            StartFilter::Name(n) => c.name.contains(n.as_str()),
            StartFilter::Id(i) => c.id.starts_with(i.as_str()),
            StartFilter::Status(s) => c.state.as_str() == s,
        }
    }
}

/// How an attached client behaves, from the flags.
pub fn attach_options(detach_keys: &str, stdin: bool, tty: bool, sig_proxy: bool) -> Result<AttachOptions> {
    let detach_keys = attached::parse_detach_keys(detach_keys).map_err(CliError::new)?;
    Ok(AttachOptions { stdin, tty, sig_proxy, detach_keys })
}

/// Our exit code after an attachment: the container's (podman's rule), 0
/// when the user detached.
pub fn attached_exit(c: &Container, how: Attached) -> Result<u8> {
    match how {
        Attached::Exited(code) => Ok(u8::try_from(code).unwrap_or(255)),
        Attached::Detached => Ok(0),
        Attached::Lost => {
            Err(CliError::new(format!("lost the monitor of container {}: its exit code is unknown", c.id)))
        }
    }
}

pub fn attach(engine: &Engine, a: &AttachArgs) -> Result<u8> {
    let names: Vec<String> = a.container.iter().cloned().collect();
    let inputs =
        targets(engine, &names, a.latest, None, "\"berth attach\" requires a name, id, or the \"--latest\" flag")?;
    let c = engine.container(&inputs[0])?;
    let opts = attach_options(&a.detach_keys, !a.no_stdin && c.interactive, c.terminal, a.sig_proxy)?;
    let res = engine.attach(&c, &opts)?;
    attached_exit(&c, res)
}

pub fn stop(engine: &Engine, a: &StopArgs) -> Result<u8> {
    let selection =
        Selection { names: &a.containers, all: a.all, latest: a.latest, cidfiles: &a.cidfile, filters: &a.filter };
    let inputs = live_targets(engine, &selection)?;
    each(&inputs, a.ignore, |input| {
        let c = engine.container(input)?;
        engine.stop_container(&c, a.time.map_or(c.stop_timeout(), Duration::from_secs))?;
        Ok(Some(input.to_string()))
    })
}

/// What stop and kill act on: the `--cidfile`/`--filter` selection, else
/// the named containers, or with `--all` every live one.
fn live_targets(engine: &Engine, selection: &Selection) -> Result<Vec<String>> {
    selection.check_exclusive()?;
    if selection.wanted() {
        return selection.resolve(engine);
    }
    let all: All = (selection.all, |c| c.state.is_live());
    targets(engine, selection.names, selection.latest, Some(all), "you must provide at least one name or id")
}

pub fn kill(engine: &Engine, a: &KillArgs) -> Result<u8> {
    let sig = engine::containers::parse_signal(&a.signal)
        .ok_or_else(|| CliError::new(format!("invalid signal: {}", a.signal)))?;
    let selection =
        Selection { names: &a.containers, all: a.all, latest: a.latest, cidfiles: &a.cidfile, filters: &[] };
    let inputs = live_targets(engine, &selection)?;
    each(&inputs, false, |input| {
        let c = engine.container(input)?;
        engine.kill_container(&c, sig)?;
        Ok(Some(input.to_string()))
    })
}

pub fn wait(engine: &Engine, a: &WaitArgs) -> Result<u8> {
    let conditions = super::wait::Conditions::parse(&a.condition, &a.interval)?;
    let inputs =
        targets(engine, &a.containers, a.latest, None, "\"berth wait\" requires a name, id, or the \"--latest\" flag")?;
    each(&inputs, false, |input| {
        let c = engine.container(input)?;
        Ok(Some(conditions.wait(engine, &c)?.to_string()))
    })
}
