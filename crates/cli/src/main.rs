//! `berth`: the podman/docker-compatible command line. Parsing and printing
//! only; what a command does lives in the libraries (`engine` first).

mod cli;
mod cmd;
mod error;
mod flags;
mod format;
mod help;
mod input_time;
mod jsoniter;
mod progress;
mod units;
mod usage;

use std::process::ExitCode;

use crate::cli::{BuildxCmd, Cli, Cmd, ContainerCmd, HealthcheckCmd, ImageCmd, NetworkCmd, SystemCmd, VolumeCmd};
use crate::error::{CliError, ENGINE};
use crate::usage::Parsed;
use engine::Engine;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A container's monitor: berth run again (`Engine::launch_monitor`).
    if let Some(code) = engine::containers::monitor_main(&args) {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    // A completion script asking for candidates (`berth completion`).
    if cmd::completion::answer_request(&args) {
        return ExitCode::SUCCESS;
    }
    // `exec` (and `top`'s ps, `healthcheck run`) forks this process into a
    // container: first re-execute from a read-only copy of the binary
    // (CVE-2019-5736), before any side effect, since the re-exec starts the
    // command over. (Containers themselves are forked by their monitors,
    // which run from such a copy already.) Guessed from the words before
    // parsing (parsing berth's whole command line costs a millisecond, and
    // the re-executed berth parses it again), and decided from the parsed
    // command below, which re-execs if the guess missed.
    if starts_containers(&usage::first_words(&args)) {
        if let Err(code) = protect_exe() {
            return code;
        }
    }
    let (cli, path) = match usage::parse(&args) {
        Parsed::Run { cli, path } => (cli, path),
        Parsed::Exit { stdout, stderr, code } => {
            // A closed stdout (`berth --help | head -1`) changes nothing.
            let _ = cmd::out(&stdout);
            eprint!("{stderr}");
            return ExitCode::from(code);
        }
    };
    if starts_containers(&path.split(' ').skip(1).collect::<Vec<_>>()) {
        if let Err(code) = protect_exe() {
            return code;
        }
    }
    init_logging(&cli.globals.log_level);
    match run(*cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = cmd::out(&e.output);
            eprintln!("Error: {e}");
            if e.usage {
                eprintln!("{}", usage::see_help(&path));
            }
            ExitCode::from(u8::try_from(e.code).unwrap_or(ENGINE as u8))
        }
    }
}

fn init_logging(level: &str) {
    let level = match level {
        "error" => tracing::Level::ERROR,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::WARN,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .init();
}

/// Re-execute from a read-only copy of berth, unless this is one already;
/// the exit code on failure.
fn protect_exe() -> Result<(), ExitCode> {
    // The protected copy runs from elsewhere: where berth was started from
    // is where its helpers are (`--init`'s berth-init).
    cmd::containers::remember_exe();
    engine::containers::protect_exe().map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(ENGINE as u8)
    })
}

/// The commands that fork processes into containers themselves (not by a
/// monitor), by their words after `berth` (`container exec`).
fn starts_containers(words: &[&str]) -> bool {
    let starts = |w: &str| matches!(w, "exec" | "top");
    match words {
        ["container", w, ..] => starts(w),
        ["healthcheck", "run", ..] => true,
        [w, ..] => starts(w),
        [] => false,
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    // Credentials only: no image store to open (or create).
    match &cli.cmd {
        Cmd::Login(a) => return cmd::registry::login(a),
        // Nothing to open either.
        Cmd::Version(a) => return cmd::info::version_cmd(a),
        Cmd::Completion(a) => return cmd::completion::completion(a),
        Cmd::GenerateMan(a) => return cmd::manpages::generate_man(a),
        Cmd::Logout(a) => return cmd::registry::logout(a),
        // At every boot, on hosts that may never have used berth: no store
        // made for nothing to bring back.
        Cmd::System { cmd: SystemCmd::Boot(_) } if !cli.globals.root.exists() => return Ok(0),
        _ => {}
    }
    // podman resolves it before any command, and fails every one for a bad one.
    let g = &cli.globals;
    // The configuration too: a bad file fails every command, naming it.
    let config = engine::config::get()?;
    let oci_runtime = config.engine.find_runtime(g.runtime.as_deref())?;
    // `--storage-driver`, else berth.conf's (or storage.conf's) driver.
    let driver = g.storage_driver.as_deref().or(config.storage.driver.as_deref());
    // `run`'s monitor, launched before anything else: its start-up (an
    // exec, its own setup) then overlaps all of ours, on another CPU.
    let monitor = match &cli.cmd {
        Cmd::Run(a) | Cmd::Container { cmd: ContainerCmd::Run(a) } => {
            Some(engine::containers::launch_monitor(&g.root, &g.runroot, driver, !a.detach)?)
        }
        _ => None,
    };
    let engine = Engine::open(&g.root, &g.runroot, driver)?;
    tracing::debug!(root = %g.root.display(), runroot = %g.runroot.display(), "opened image store");
    match cli.cmd {
        Cmd::Images(a) | Cmd::Image { cmd: ImageCmd::List(a) } => cmd::list::images(&engine, &a),
        Cmd::Load(a) | Cmd::Image { cmd: ImageCmd::Load(a) } => cmd::archive::load(&engine, &a),
        Cmd::Save(a) | Cmd::Image { cmd: ImageCmd::Save(a) } => cmd::archive::save(&engine, &a),
        Cmd::Import(a) | Cmd::Image { cmd: ImageCmd::Import(a) } => cmd::archive::import(&engine, &a),
        Cmd::Tag(a) | Cmd::Image { cmd: ImageCmd::Tag(a) } => cmd::names::tag(&engine, &a),
        Cmd::Rmi(a) | Cmd::Image { cmd: ImageCmd::Rm(a) } => cmd::names::rmi(&engine, &a),
        Cmd::History(a) | Cmd::Image { cmd: ImageCmd::History(a) } => cmd::inspect::history(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Inspect(a) } => cmd::inspect::inspect(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Exists(a) } => cmd::names::exists(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Prune(a) } => cmd::names::prune(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Mount(a) } => cmd::image_mount::mount(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Unmount(a) } => cmd::image_mount::unmount(&engine, &a),
        Cmd::Pull(a) | Cmd::Image { cmd: ImageCmd::Pull(a) } => cmd::registry::pull(&engine, &a),
        Cmd::Push(a) | Cmd::Image { cmd: ImageCmd::Push(a) } => cmd::registry::push(&engine, &a),
        // Handled above, before the store is opened.
        Cmd::Login(_) | Cmd::Logout(_) | Cmd::Version(_) | Cmd::Completion(_) | Cmd::GenerateMan(_) => Ok(0),
        Cmd::Create(a) | Cmd::Container { cmd: ContainerCmd::Create(a) } => {
            cmd::containers::create(&engine, &a, oci_runtime.as_ref())
        }
        Cmd::Run(a) | Cmd::Container { cmd: ContainerCmd::Run(a) } => {
            cmd::containers::run(&engine, &a, oci_runtime.as_ref(), monitor)
        }
        Cmd::Rm(a) | Cmd::Container { cmd: ContainerCmd::Rm(a) } => cmd::containers::rm(&engine, &a),
        Cmd::Ps(a) | Cmd::Container { cmd: ContainerCmd::Ps(a) | ContainerCmd::List(a) } => {
            cmd::containers::ps(&engine, &a)
        }
        Cmd::Start(a) | Cmd::Container { cmd: ContainerCmd::Start(a) } => cmd::control::start(&engine, &a),
        Cmd::Stop(a) | Cmd::Container { cmd: ContainerCmd::Stop(a) } => cmd::control::stop(&engine, &a),
        Cmd::Kill(a) | Cmd::Container { cmd: ContainerCmd::Kill(a) } => cmd::control::kill(&engine, &a),
        Cmd::Wait(a) | Cmd::Container { cmd: ContainerCmd::Wait(a) } => cmd::control::wait(&engine, &a),
        Cmd::Logs(a) | Cmd::Container { cmd: ContainerCmd::Logs(a) } => cmd::logs::logs(&engine, &a),
        Cmd::Exec(a) | Cmd::Container { cmd: ContainerCmd::Exec(a) } => cmd::exec::exec(&engine, &a),
        Cmd::Inspect(a) => cmd::container_inspect::inspect(&engine, &a),
        Cmd::Container { cmd: ContainerCmd::Inspect(a) } => cmd::container_inspect::container_inspect(&engine, &a),
        Cmd::Pause(a) | Cmd::Container { cmd: ContainerCmd::Pause(a) } => cmd::pause::pause(&engine, &a),
        Cmd::Unpause(a) | Cmd::Container { cmd: ContainerCmd::Unpause(a) } => cmd::pause::unpause(&engine, &a),
        Cmd::Restart(a) | Cmd::Container { cmd: ContainerCmd::Restart(a) } => cmd::restart::restart(&engine, &a),
        Cmd::Rename(a) | Cmd::Container { cmd: ContainerCmd::Rename(a) } => cmd::manage::rename(&engine, &a),
        Cmd::Top(a) | Cmd::Container { cmd: ContainerCmd::Top(a) } => cmd::top::top(&engine, &a),
        Cmd::Cp(a) | Cmd::Container { cmd: ContainerCmd::Cp(a) } => cmd::cp::cp(&engine, &a),
        Cmd::Commit(a) | Cmd::Container { cmd: ContainerCmd::Commit(a) } => cmd::commit::commit(&engine, &a),
        Cmd::Build(a) | Cmd::Image { cmd: ImageCmd::Build(a) } | Cmd::Buildx { cmd: BuildxCmd::Build(a) } => {
            cmd::build::build(&engine, &a)
        }
        Cmd::Init(a) | Cmd::Container { cmd: ContainerCmd::Init(a) } => cmd::filesystem::init(&engine, &a),
        Cmd::Diff(a) | Cmd::Container { cmd: ContainerCmd::Diff(a) } => cmd::filesystem::diff(&engine, &a),
        Cmd::Export(a) | Cmd::Container { cmd: ContainerCmd::Export(a) } => cmd::filesystem::export(&engine, &a),
        Cmd::Mount(a) | Cmd::Container { cmd: ContainerCmd::Mount(a) } => cmd::filesystem::mount(&engine, &a),
        Cmd::Unmount(a) | Cmd::Container { cmd: ContainerCmd::Unmount(a) } => cmd::filesystem::unmount(&engine, &a),
        Cmd::Port(a) | Cmd::Container { cmd: ContainerCmd::Port(a) } => cmd::filesystem::port(&engine, &a),
        Cmd::Container { cmd: ContainerCmd::Cleanup(a) } => cmd::filesystem::cleanup(&engine, &a),
        Cmd::Container { cmd: ContainerCmd::Exists(a) } => cmd::manage::exists(&engine, &a),
        Cmd::Container { cmd: ContainerCmd::Prune(a) } => cmd::manage::prune(&engine, &a),
        Cmd::Attach(a) | Cmd::Container { cmd: ContainerCmd::Attach(a) } => cmd::control::attach(&engine, &a),
        Cmd::Network { cmd } => match cmd {
            NetworkCmd::Create(a) => cmd::networks::create(&engine, &a),
            NetworkCmd::Connect(a) => cmd::networks::connect(&engine, &a),
            NetworkCmd::Disconnect(a) => cmd::networks::disconnect(&engine, &a),
            NetworkCmd::Reload(a) => cmd::networks::reload(&engine, &a),
            NetworkCmd::Exists(a) => cmd::networks::exists(&engine, &a),
            NetworkCmd::Inspect(a) => cmd::networks::inspect(&engine, &a),
            NetworkCmd::Ls(a) => cmd::networks::ls(&engine, &a),
            NetworkCmd::Prune(a) => cmd::networks::prune(&engine, &a),
            NetworkCmd::Rm(a) => cmd::networks::rm(&engine, &a),
        },
        Cmd::Volume { cmd } => match cmd {
            VolumeCmd::Create(a) => cmd::volumes::create(&engine, &a),
            VolumeCmd::Exists(a) => cmd::volumes::exists(&engine, &a),
            VolumeCmd::Inspect(a) => cmd::volumes::inspect(&engine, &a),
            VolumeCmd::Ls(a) => cmd::volumes::ls(&engine, &a),
            VolumeCmd::Prune(a) => cmd::volumes::prune(&engine, &a),
            VolumeCmd::Rm(a) => cmd::volumes::rm(&engine, &a),
        },
        Cmd::Info(a) | Cmd::System { cmd: SystemCmd::Info(a) } => cmd::info::info(&engine, &a, oci_runtime.as_ref()),
        Cmd::Events(a) => cmd::events::events(&engine, &a),
        Cmd::System { cmd } => match cmd {
            SystemCmd::Boot(a) => cmd::boot::boot(&engine, &a),
            SystemCmd::Df(a) => cmd::system::df(&engine, &a),
            SystemCmd::Prune(a) => cmd::system::prune(&engine, &a),
            SystemCmd::Reset(a) => cmd::system::reset(&engine, &a),
            SystemCmd::Migrate(a) => cmd::system::migrate(&engine, &a),
            SystemCmd::Renumber(a) => cmd::system::renumber(&engine, &a),
            // Above, with `info`.
            SystemCmd::Info(_) => Ok(0),
        },
        Cmd::Healthcheck { cmd: HealthcheckCmd::Run(a) } => cmd::health::run(&engine, &a),
        Cmd::Stats(a) | Cmd::Container { cmd: ContainerCmd::Stats(a) } => cmd::stats::stats(&engine, &a),
    }
}

#[cfg(test)]
mod tests {
    use super::starts_containers;
    use crate::usage;

    #[test]
    fn guesses_the_commands_that_fork_into_containers() {
        let guess = |line: &str| {
            let args: Vec<std::ffi::OsString> = line.split(' ').map(Into::into).collect();
            starts_containers(&usage::first_words(&args))
        };
        assert!(guess("berth exec x true"));
        assert!(guess("berth --root /r --runroot /rr exec -it x sh"));
        assert!(guess("berth --root run top x"));
        assert!(guess("berth container exec -it x sh"));
        assert!(guess("berth healthcheck run x"));
        // Their containers are forked by their monitors.
        assert!(!guess("berth run --rm bb true"));
        assert!(!guess("berth --log-level=debug restart x"));
        assert!(!guess("berth container start x"));
        assert!(!guess("berth ps -a"));
        assert!(!guess("berth container ls"));
        assert!(!guess("berth --root exec ps"));
        assert!(!guess("berth images exec"));
        assert!(!guess("berth"));
    }
}
