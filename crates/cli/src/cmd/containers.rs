//! Container commands: create, run (attached), rm, ps.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::containers::attached::Attached;
use engine::containers::health::HealthConfig;
use engine::containers::mounts;
use engine::containers::resources::{self, Limits};
use engine::containers::restart::RestartPolicy;
use engine::containers::{Container, CreateSpec, OciRuntime, PendingMonitor, State, DEFAULT_STOP_TIMEOUT};
use engine::{Engine, ErrorKind};
use serde_json::{json, Value};

use super::registry::{pull_image, RemoteArgs};
use super::selection::Selection;
use super::{out, ps_filter};
use crate::error::{CliError, Result};
use crate::format::{self, Format};
use crate::units;

/// The flags `create` and `run` share.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Remove container (and pod if created) after exit
    #[arg(long)]
    rm: bool,
    /// Set environment variables in container (`VAR` copies it from ours, `VAR*` all that match)
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Set metadata on a container
    #[arg(short, long = "label", value_name = "KEY[=VALUE]")]
    label: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Set container hostname
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image (a string, or a JSON array)
    #[arg(long, allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Size of /dev/shm (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes)) (default "65536k")
    // No clap default: podman's, unlike "65536k" given, is 64000 KiB.
    #[arg(long = "shm-size", value_name = "<number>[<unit>]")]
    shm_size: Option<String>,
    /// Allocate a pseudo-TTY for container
    #[arg(short, long)]
    tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Memory limit (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))
    #[arg(short, long, value_name = "SIZE")]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "SIZE")]
    memory_swap: Option<String>,
    /// Memory soft limit (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))
    #[arg(long = "memory-reservation", value_name = "SIZE")]
    memory_reservation: Option<String>,
    /// Number of CPUs. The default is 0.000 which means no limit
    #[arg(long, value_name = "CPUS")]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "SHARES")]
    cpu_shares: Option<u64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "QUOTA")]
    cpu_quota: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "PERIOD")]
    cpu_period: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "CPUS")]
    cpuset_cpus: Option<String>,
    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1). Only effective on NUMA systems.
    #[arg(long = "cpuset-mems", value_name = "MEMS")]
    cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "LIMIT")]
    pids_limit: Option<i64>,
    /// Block IO weight (relative weight) accepts a weight value between 10 and 1000.
    #[arg(long = "blkio-weight", value_name = "WEIGHT")]
    blkio_weight: Option<u16>,
    /// Limit read rate (bytes per second) from a device (e.g. --device-read-bps=/dev/sda:1mb)
    #[arg(long = "device-read-bps", value_name = "PATH:RATE")]
    device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device (e.g. --device-write-bps=/dev/sda:1mb)
    #[arg(long = "device-write-bps", value_name = "PATH:RATE")]
    device_write_bps: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Tune the host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_negative_numbers = true, value_name = "ADJ")]
    oom_score_adj: Option<i32>,
    /// Ulimit options
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// Sysctl options
    #[arg(long, value_name = "KEY=VALUE")]
    sysctl: Vec<String>,
    /// Bind mount a volume into the container ([SOURCE-VOLUME|HOST-DIR:]CONTAINER-DIR[:OPTIONS])
    #[arg(short, long, value_name = "VOLUME")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,destination=,...)
    #[arg(long, value_name = "MOUNT")]
    mount: Vec<String>,
    /// Mount a temporary filesystem (tmpfs) into a container (CONTAINER-DIR[:OPTIONS])
    #[arg(long, value_name = "TMPFS")]
    tmpfs: Vec<String>,
    /// Add capabilities to the container
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop capabilities from the container
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Make the container's root filesystem read-only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Add an annotation to the container (format: key=value)
    #[arg(long, value_name = "KEY=VALUE")]
    annotation: Vec<String>,
    /// Signal to stop a container. Default is SIGTERM
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) that containers stopped by user command have to exit. If exceeded, the container will be forcibly stopped via SIGKILL.
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    cidfile: Option<String>,
    /// Restart policy to apply when a container exits (no, on-failure[:max_retries], always, unless-stopped)
    #[arg(long, value_name = "POLICY")]
    restart: Option<String>,
    /// Pull image policy: missing, always or never
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pull: String,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Logging driver for the container (k8s-file, json-file, none; berth.conf's log_driver, k8s-file unless set)
    #[arg(long = "log-driver", value_name = "DRIVER")]
    log_driver: Option<String>,
    /// Logging driver options (path=FILE, max-size=SIZE, max-file=N, tag=TAG)
    #[arg(long = "log-opt", value_name = "OPTION")]
    log_opt: Vec<String>,
    #[command(flatten)]
    isolation: super::isolation::IsolationArgs,
    /// The image to make the container from, then the command to run in it and its arguments
    // Everything after IMAGE goes to the container, `--` included, as with
    // podman. (One argument, not two: clap would take a `--` right after
    // IMAGE as its own.)
    #[arg(trailing_var_arg = true, required = true, num_args = 1..,
          value_name = "IMAGE [COMMAND [ARG...]]")]
    image_and_command: Vec<String>,
    /// set a healthcheck command for the container ('none' disables the existing healthcheck)
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    health_cmd: Option<String>,
    /// set an interval for the healthcheck (a value of disable results in no automatic timer setup)
    #[arg(long = "health-interval", default_value = "30s", value_name = "INTERVAL")]
    health_interval: String,
    /// the number of retries allowed before a healthcheck is considered to be unhealthy
    #[arg(long = "health-retries", default_value_t = 3, value_name = "RETRIES")]
    health_retries: u32,
    /// the maximum time allowed to complete the healthcheck before an interval is considered failed
    #[arg(long = "health-timeout", default_value = "30s", value_name = "TIMEOUT")]
    health_timeout: String,
    /// the initialization time needed for a container to bootstrap
    #[arg(long = "health-start-period", default_value = "0s", value_name = "PERIOD")]
    health_start_period: String,
    /// Disable healthchecks on container
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Run an init binary inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Path to the container-init binary
    #[arg(long = "init-path", value_name = "PATH")]
    init_path: Option<String>,
}

impl CreateArgs {
    fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container (ctrl-<x> or a letter, comma-separated)
    #[arg(long = "detach-keys", default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    detach_keys: String,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
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
    /// Seconds to wait for stop before killing the container (default 10)
    #[arg(short, long, value_name = "SECONDS")]
    time: Option<u64>,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// The containers to remove, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
    /// Read the container ID from the file
    #[arg(long, value_name = "FILE")]
    cidfile: Vec<String>,
    /// Remove container and all containers that depend on the selected container
    #[arg(long)]
    depend: bool,
    /// Filter output based on conditions given
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short, long)]
    all: bool,
    /// Print the numeric IDs of the containers only
    #[arg(short, long)]
    quiet: bool,
    /// Display the extended information
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not print headers
    #[arg(long)]
    noheading: bool,
    /// Print the n last created containers (all states) (default -1)
    #[arg(short = 'n', long, allow_negative_numbers = true, value_name = "N")]
    last: Option<i64>,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Filter output based on conditions given
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Sort output by: command, created, id, image, names, runningfor, size, status
    #[arg(long, default_value = "created", value_name = "CHOICE")]
    sort: String,
    /// Display the total file sizes
    #[arg(short, long)]
    size: bool,
}

/// `-e` as podman reads it: `KEY=VALUE` as is, `KEY` copied from our
/// environment (skipped when we do not have it), `KEY*` every variable of
/// ours whose name starts with `KEY`.
pub(super) fn resolve_env(flags: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in flags {
        if e.is_empty() || e.starts_with('=') {
            return Err(CliError::new(format!("invalid environment variable: {e:?}")));
        }
        if e.contains('=') {
            out.push(e.clone());
        } else if let Some(prefix) = e.strip_suffix('*') {
            let mut ours: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(prefix)).collect();
            ours.sort();
            out.extend(ours.into_iter().map(|(k, v)| format!("{k}={v}")));
        } else if let Some(v) = std::env::var_os(e) {
            out.push(format!("{e}={}", v.to_string_lossy()));
        }
    }
    Ok(out)
}

/// `--entrypoint` as podman reads it: a JSON array of strings, or else the
/// whole text as one word (`''` then means "none").
fn parse_entrypoint(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|_| vec![text.to_string()])
}

fn create_spec(a: &CreateArgs, auto_remove: bool) -> Result<CreateSpec> {
    Ok(CreateSpec {
        id: None,
        name: a.name.clone(),
        command: a.command().to_vec(),
        entrypoint: a.entrypoint.as_deref().map(parse_entrypoint),
        // podman's order: the files first, then -e.
        env: {
            let mut env = Vec::new();
            for f in &a.env_file {
                env.extend(super::exec::env_file(f)?);
            }
            env.extend(resolve_env(&a.env)?);
            env
        },
        labels: a
            .label
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect(),
        auto_remove,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        terminal: a.tty,
        interactive: a.interactive,
        shm_size: shm_size(a.shm_size.as_deref())?,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        read_only: a.read_only,
        annotations: a
            .annotation
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(CliError::new(format!("annotations must be formatted KEY=VALUE: {kv:?}"))),
            })
            .collect::<Result<_>>()?,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        healthcheck: healthcheck(a)?,
        init_path: a.init.then(|| init_path(a.init_path.as_deref())),
        mounts: {
            let mut m = Vec::new();
            for v in &a.volume {
                m.push(mounts::parse_volume_flag(v)?);
            }
            for v in &a.mount {
                m.push(mounts::parse_mount_flag(v)?);
            }
            for v in &a.tmpfs {
                m.push(mounts::parse_tmpfs_flag(v)?);
            }
            m
        },
        limits: {
            let l = limits(a)?;
            // Before any pull: bad values are the user's to fix first.
            l.validate()?;
            l
        },
        restart: match &a.restart {
            Some(p) => RestartPolicy::parse(p)?,
            None => RestartPolicy::No,
        },
        create_command: std::env::args().collect(),
        log: super::logs::log_config(a.log_driver.as_deref(), &a.log_opt)?,
        isolation: a.isolation.to_engine()?,
        // The global --runtime, and whether it starts next: set by the caller.
        oci_runtime: None,
        starts_next: false,
    })
}

/// The resource flags, sizes parsed as podman parses them.
fn limits(a: &CreateArgs) -> Result<Limits> {
    let size = |what: &str, v: &Option<String>| -> Result<Option<i64>> {
        match v.as_deref() {
            None => Ok(None),
            // Unlimited swap.
            Some("-1") if what == "memory-swap" => Ok(Some(-1)),
            Some(t) => {
                resources::parse_size(t).map(Some).map_err(|e| CliError::new(format!("invalid value for {what}: {e}")))
            }
        }
    };
    Ok(Limits {
        memory: size("memory", &a.memory)?,
        memory_swap: size("memory-swap", &a.memory_swap)?,
        memory_reservation: size("memory-reservation", &a.memory_reservation)?,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpu_quota: a.cpu_quota,
        cpu_period: a.cpu_period,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        device_read_bps: a.device_read_bps.clone(),
        device_write_bps: a.device_write_bps.clone(),
        oom_kill_disable: a.oom_kill_disable,
        oom_score_adj: a.oom_score_adj,
        ulimits: a.ulimit.clone(),
        sysctls: a.sysctl.clone(),
    })
}

/// `--shm-size` in bytes; empty is not given (podman's default).
fn shm_size(flag: Option<&str>) -> Result<Option<u64>> {
    match flag {
        None | Some("") => Ok(None),
        Some(text) => engine::units::ram_in_bytes(text)
            .map(Some)
            .map_err(|e| CliError::new(format!("unable to translate --shm-size: {e}"))),
    }
}

/// `id`: chosen by the monitor that starts it next (`run`, see
/// `PendingMonitor::new_container_id`); `None`: created only.
fn create_container(
    engine: &Engine,
    a: &CreateArgs,
    auto_remove: bool,
    id: Option<String>,
    runtime: Option<&OciRuntime>,
) -> Result<Container> {
    let starts_next = id.is_some();
    let mut spec = create_spec(a, auto_remove)?;
    spec.id = id;
    spec.oci_runtime = runtime.cloned();
    spec.starts_next = starts_next;
    if a.isolation.replace {
        super::isolation::replace(engine, a.name.as_deref())?;
    }
    // podman's check, before anything is made.
    if let Some(path) = &a.cidfile {
        if std::path::Path::new(path).exists() {
            return Err(CliError::new(format!(
                "container id file exists. Ensure another container is not using it or delete {path}"
            )));
        }
    }
    let local = if a.pull == "always" { None } else { engine.find(a.image())? };
    let img = match local {
        Some(img) => {
            // podman tells a pull for every image a container is made
            // from, one found in the store too: named as typed, no ID.
            engine::events::image(engine.runroot(), engine::events::Status::Pull, "", a.image());
            img
        }
        None if a.pull == "never" => return Err(CliError::new(format!("{}: image not known", a.image()))),
        None => pull_image(engine, a.image(), &a.remote, None, a.quiet)?,
    };
    let name = img.name_used(a.image()).map(|n| n.to_string()).unwrap_or_else(|| img.id.hex().to_string());
    let c = engine.create_container(&img, &name, &spec)?;
    if let Some(path) = &a.cidfile {
        use std::io::Write as _;
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(c.id.as_bytes()));
        if let Err(e) = written {
            return Err(CliError::new(format!("writing the container id file {path}: {e}")));
        }
    }
    Ok(c)
}

/// `create`; `runtime`: the global `--runtime`, resolved.
pub fn create(engine: &Engine, a: &CreateArgs, runtime: Option<&OciRuntime>) -> Result<u8> {
    let c = create_container(engine, a, a.rm, None, runtime)?;
    out(&format!("{}\n", c.id))?;
    Ok(0)
}

/// `run` without `-d`: the container's exit code is ours (podman's rule);
/// failures before it ran are 125.
/// `monitor`: the container's, if launched before `engine` was opened
/// (`engine::containers::launch_monitor`).
pub fn run(engine: &Engine, a: &RunArgs, runtime: Option<&OciRuntime>, monitor: Option<PendingMonitor>) -> Result<u8> {
    if a.create.tty && a.create.interactive && !std::io::stdin().is_terminal() {
        // podman's words; it runs the container all the same.
        tracing::warn!("The input device is not a TTY. The --tty and --interactive flags might not work properly");
    }
    // Its monitor, started first: its start-up (and what it makes for the
    // container: `new_container_id`) happens beside the create. Our
    // database connection opens meanwhile: the monitor opens its own once
    // told the id (`Engine::open_db`).
    let monitor = match monitor {
        Some(m) => m,
        None => engine.launch_monitor(!a.detach)?,
    };
    engine.open_db()?;
    let id = monitor.new_container_id()?;
    let mut c = create_container(engine, &a.create, a.create.rm, Some(id), runtime)?;
    if a.detach {
        // Once it runs, its monitor removes it after the exit (`--rm`).
        return match engine.start_detached_by(monitor, &mut c) {
            Ok(()) => out(&format!("{}\n", c.id)).map(|()| 0),
            Err(e) => {
                if a.create.rm {
                    if let Err(e) = engine.remove_container(&c, true, Duration::ZERO, true) {
                        tracing::debug!("removing container {}: {e}", c.id);
                    }
                }
                Err(e.into())
            }
        };
    }
    let opts = super::control::attach_options(&a.detach_keys, a.create.interactive, a.create.tty, a.sig_proxy)?;
    let res = engine.run_attached_by(monitor, &mut c, &opts);
    // Its monitor removed it after the exit (`--rm`); after a failed start,
    // or a lost monitor, it is ours to remove. Detached, it runs on.
    if a.create.rm && !matches!(res, Ok(Attached::Detached)) && !engine.is_removed(&c) {
        match engine.remove_container(&c, true, DEFAULT_STOP_TIMEOUT, true) {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing container {}: {e}", c.id),
        }
    }
    super::control::attached_exit(&c, res?)
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<u8> {
    // `--depend` removes the containers that share this one's namespaces
    // first; berth records no such dependency, so it removes just these.
    let _ = a.depend;
    let selection =
        Selection { names: &a.containers, all: a.all, latest: a.latest, cidfiles: &a.cidfile, filters: &a.filter };
    // podman's checks and words.
    selection.check_exclusive()?;
    if !selection.wanted() {
        if a.all && !a.containers.is_empty() {
            return Err(CliError::usage("no arguments are needed with --all"));
        }
        if a.latest && !a.containers.is_empty() {
            return Err(CliError::new("--latest and containers cannot be used together"));
        }
        if !a.all && !a.latest && a.containers.is_empty() {
            return Err(CliError::usage("you must provide at least one name or id"));
        }
    }
    if a.time.is_some() && !a.force {
        return Err(CliError::new("--force option must be specified to use the --time option"));
    }
    let targets: Vec<String> = if selection.wanted() {
        selection.resolve(engine)?
    } else if a.latest {
        engine.containers()?.pop().map(|c| c.id).into_iter().collect()
    } else if a.all {
        // Those that join others' namespaces first: podman refuses to
        // remove a container others depend on.
        engine::containers::dependents_first(engine.containers()?).into_iter().map(|c| c.id).collect()
    } else {
        a.containers.clone()
    };
    super::remove_each(&targets, a.ignore || a.force, |input| {
        let c = engine.container(input)?;
        let timeout = a.time.map_or(c.stop_timeout(), Duration::from_secs);
        engine.remove_container(&c, a.force, timeout, a.volumes)
    })
}

/// Column titles of `ps` tables, by field (podman 4.3's).
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("ImageID", "IMAGE ID"),
    ("Command", "COMMAND"),
    ("CreatedHuman", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Created", "CREATED"),
    ("RunningFor", "RUNNING FOR"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Pid", "PID"),
    ("ExitCode", "EXIT CODE"),
    ("Exited", "EXITED"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("StartedAt", "STARTED AT"),
    ("ExitedAt", "EXITED AT"),
    ("AutoRemove", "AUTO REMOVE"),
    ("Networks", "NETWORKS"),
    ("Pod", "POD ID"),
    ("PodName", "PODNAME"),
    ("IsInfra", "IS INFRA"),
];

const PS_DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps(engine: &Engine, a: &PsArgs) -> Result<u8> {
    if a.latest && a.last.is_some() {
        return Err(CliError::new("last and latest are mutually exclusive"));
    }
    ps_filter::check_sort(&a.sort)?;
    let filters = ps_filter::Filters::parse(engine, &a.filter)?;
    let last = if a.latest { 1 } else { a.last.unwrap_or(-1) };
    let mut list = engine.containers()?;
    if last > 0 {
        // The last N created, whatever their state, still oldest first.
        let keep = usize::try_from(last).unwrap_or(usize::MAX);
        list.drain(..list.len().saturating_sub(keep));
    } else if !a.all && !filters.has_status() {
        // podman's implicit `status=running`, which a status filter replaces.
        list.retain(|c| c.state == State::Running);
    }
    list.retain(|c| filters.matches(c));
    let sized = a.size || a.sort == "size";
    let mut list: Vec<(Container, Option<(u64, u64)>)> = list
        .into_iter()
        .map(|c| {
            let size = if sized { Some(engine.container_sizes(&c)?) } else { None };
            Ok((c, size))
        })
        .collect::<Result<_>>()?;
    ps_filter::sort(&mut list, &a.sort);
    let sizes = |size: Option<(u64, u64)>| size.filter(|_| a.size);
    let default = if a.size { format!("{PS_DEFAULT}\t{{{{.Size}}}}") } else { PS_DEFAULT.to_string() };
    let format = a.format.as_deref().unwrap_or(if a.quiet { "{{.ID}}" } else { &default });
    // `json` and `{{json .}}` print the list as podman's JSON, not a row each.
    if format::is_json(format) {
        let rows: Vec<Value> = list.iter().map(|(c, size)| ps_json(c, sizes(*size))).collect();
        let text = serde_json::to_string_pretty(&rows).map_err(|e| CliError::new(e.to_string()))?;
        return out(&format!("{text}\n")).map(|()| 0);
    }
    // `{{json .Labels}}` prints podman's JSON (null for none), `{{.Labels}}` a Go map.
    let rows: Vec<(Value, Value)> = list
        .iter()
        .map(|(c, size)| {
            let row = ps_row(c, a.no_trunc, sizes(*size));
            let mut twin = row.clone();
            twin["Labels"] = ps_json(c, None)["Labels"].clone();
            (row, twin)
        })
        .collect();
    let headers: HashMap<&str, &str> = PS_HEADERS.iter().copied().collect();
    let fmt = Format::parse(format)?.named("ps", "containers.psReporter").heading(!a.noheading);
    out(&fmt.render_twins_titled(&rows, &headers)?)?;
    Ok(0)
}

/// Seconds since the epoch as Go's `time.Time.Unix()`, with Go's zero time
/// (year 1) for "never", as podman's JSON has it.
fn unix(t: Option<SystemTime>) -> i64 {
    const GO_ZERO_TIME: i64 = -62_135_596_800;
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(GO_ZERO_TIME, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One container as `ps --format json` prints it: podman 4.3's
/// `ListContainer`, field for field and in its order.
fn ps_json(c: &Container, size: Option<(u64, u64)>) -> Value {
    let exited = c.state == State::Exited;
    json!({
        "AutoRemove": c.auto_remove,
        "Command": c.args,
        "CreatedAt": format::human_since(Some(c.created)),
        "Exited": exited,
        "ExitedAt": unix(if exited { c.finished_at } else { None }),
        "ExitCode": c.exit_code.unwrap_or(0),
        "Id": c.id,
        "Image": c.image_name,
        "ImageID": c.image_id.trim_start_matches("sha256:"),
        "IsInfra": false,
        "Labels": if c.labels.is_empty() { Value::Null } else { json!(c.labels) },
        // podman's `UserVolumes`: where the user's volumes, binds and tmpfs go.
        "Mounts": c.mounts.iter().map(|m| m.destination()).collect::<Vec<_>>(),
        "Names": [c.name],
        "Namespaces": {},
        "Networks": c.isolation.networks.iter().map(|a| a.network.clone()).collect::<Vec<_>>(),
        "Pid": c.pid.unwrap_or(0),
        "Pod": "",
        "PodName": "",
        "Ports": ps_ports(c),
        "Size": size.map(|(rw, root)| json!({"rootFsSize": root, "rwSize": rw})),
        "StartedAt": unix(c.started_at),
        "State": c.state.as_str(),
        "Status": status(c),
        "Created": unix(Some(c.created)),
    })
}

/// podman's `ps --format json` Ports: netavark's port mappings, or null.
fn ps_ports(c: &Container) -> Value {
    if c.isolation.ports.is_empty() {
        return Value::Null;
    }
    c.isolation
        .ports
        .iter()
        .map(|p| {
            json!({
                "host_ip": p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "container_port": p.container_port,
                "host_port": p.host_port,
                "range": p.range,
                "protocol": p.protocol,
            })
        })
        .collect()
}

/// One container as `ps` templates see it: podman's `psReporter`, whose
/// methods turn some of the JSON's fields into text (`.Names` and
/// `.Command` are strings, `.State` is the status, times are Go's).
fn ps_row(c: &Container, no_trunc: bool, size: Option<(u64, u64)>) -> Value {
    let mut row = ps_json(c, size);
    let trunc = |s: &str, n: usize| if no_trunc { s.to_string() } else { s.chars().take(n).collect() };
    let mut command = c.args.join(" ");
    if !no_trunc && command.chars().count() > 17 {
        command = command.chars().take(17).collect::<String>() + "...";
    }
    let created = format::go_time(Some(c.created));
    let since = format::human_since(Some(c.created));
    let text = [
        ("ID", json!(trunc(&c.id, 12))),
        ("ImageID", json!(trunc(c.image_id.trim_start_matches("sha256:"), 12))),
        ("Command", json!(command)),
        ("CreatedHuman", json!(since)),
        ("RunningFor", json!(since)),
        ("CreatedAt", json!(created)),
        ("Created", json!(created)),
        ("State", json!(status(c))),
        ("Ports", json!(engine::containers::ports::ps_text(&c.isolation.ports))),
        ("Names", json!(c.name)),
        ("Networks", json!(c.isolation.networks.iter().map(|a| a.network.as_str()).collect::<Vec<_>>().join(","))),
        ("Labels", json!(c.labels)),
        // podman's `psReporter.Size`: empty without --size.
        ("Size", json!(size.map_or(String::new(), ps_size))),
    ];
    if let Value::Object(m) = &mut row {
        m.remove("Id");
        m.remove("Namespaces");
        for (k, v) in text {
            m.insert(k.to_string(), v);
        }
    }
    row
}

/// `12B (virtual 1.98MB)`: podman's SIZE column.
fn ps_size((rw, root): (u64, u64)) -> String {
    format!("{} (virtual {})", units::human_size_with_precision(rw, 3), units::human_size_with_precision(root, 3))
}

/// podman 4.3's STATUS: `Created`, `Up 3 seconds ago`, `Exited (0) 2 minutes ago`.
fn status(c: &Container) -> String {
    let since = |t: Option<SystemTime>| {
        format::human_duration(t.and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default())
    };
    match c.state {
        State::Configured => "Configured".into(),
        State::Created => "Created".into(),
        State::Running => match &c.health_status {
            Some(h) => format!("Up {} ago ({h})", since(c.started_at)),
            None => format!("Up {} ago", since(c.started_at)),
        },
        State::Initialized => "Initialized".into(),
        State::Paused => "Paused".into(),
        State::Exited => format!("Exited ({}) {} ago", c.exit_code.unwrap_or(-1), since(c.finished_at)),
    }
}

/// `--health-*` and `--no-healthcheck`, as podman takes them: the other
/// flags count only with `--health-cmd`.
fn healthcheck(a: &CreateArgs) -> Result<Option<HealthConfig>> {
    match (&a.health_cmd, a.no_healthcheck) {
        (Some(_), true) => Err(CliError::new("cannot specify both --no-healthcheck and --health-cmd")),
        (None, true) => Ok(Some(HealthConfig::none())),
        // An empty command sets none (the image's stays).
        (Some(cmd), false) if !cmd.is_empty() => Ok(Some(HealthConfig::from_flags(
            cmd,
            &a.health_interval,
            a.health_retries,
            &a.health_timeout,
            &a.health_start_period,
        )?)),
        _ => Ok(None),
    }
}

/// Where berth was started from, for the protected copy (which runs from
/// elsewhere) to find berth's helpers beside it.
const EXE_VAR: &str = "_BERTH_EXE";

/// Note where this binary is, before the re-exec from a protected copy.
pub fn remember_exe() {
    if std::env::var_os(EXE_VAR).is_none() {
        if let Ok(p) = std::env::current_exe() {
            // Single-threaded: berth has started no thread yet.
            std::env::set_var(EXE_VAR, p);
        }
    }
}

/// `--init-path`, else berth's own init: `berth-init` beside `berth`.
fn init_path(given: Option<&str>) -> PathBuf {
    if let Some(p) = given.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::var_os(EXE_VAR).map(PathBuf::from).or_else(|| std::env::current_exe().ok());
    exe.and_then(|e| e.parent().map(|d| d.join("berth-init")))
        .unwrap_or_else(|| PathBuf::from("/usr/libexec/berth/berth-init"))
}
