//! `berth`: the podman/docker-compatible command line. Parsing and printing
//! only; what a command does lives in the libraries (`engine` first).

mod cmd;
mod error;
mod format;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{CliError, ENGINE};
use engine::{Engine, DEFAULT_ROOT, DEFAULT_RUNROOT};

#[derive(Parser)]
#[command(name = "berth", about = "Manage containers and images", version)]
struct Cli {
    /// Path to the root directory in which data, including images, is stored
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Path to the 'run directory' where all state information is stored
    #[arg(long, global = true, default_value = DEFAULT_RUNROOT)]
    runroot: PathBuf,
    /// Select which storage driver is used to manage storage of images and containers
    #[arg(long = "storage-driver", global = true, value_parser = ["overlay", "vfs"])]
    storage_driver: Option<String>,
    /// Log messages above specified level (error, warn, info, debug)
    #[arg(long = "log-level", global = true, default_value = "warn", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create but do not start a container
    Create(cmd::containers::CreateArgs),
    /// Run a command in a new container
    Run(cmd::containers::RunArgs),
    /// Remove one or more containers
    Rm(cmd::containers::RmArgs),
    /// List containers
    Ps(cmd::containers::PsArgs),
    /// List images in local storage
    Images(cmd::list::ImagesArgs),
    /// Load image(s) from a tar archive
    Load(cmd::archive::LoadArgs),
    /// Save image(s) to an archive
    Save(cmd::archive::SaveArgs),
    /// Import a tarball to create a filesystem image
    Import(cmd::archive::ImportArgs),
    /// Add an additional name to a local image
    Tag(cmd::names::TagArgs),
    /// Remove one or more images from local storage
    Rmi(cmd::names::RmiArgs),
    /// Show history of a specified image
    History(cmd::inspect::HistoryArgs),
    /// Pull an image from a registry
    Pull(cmd::registry::PullArgs),
    /// Push an image to a specified destination
    Push(cmd::registry::PushArgs),
    /// Log in to a container registry
    Login(cmd::registry::LoginArgs),
    /// Log out of a container registry
    Logout(cmd::registry::LogoutArgs),
    /// Display berth system information
    Info(cmd::info::InfoArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
}

#[derive(Subcommand)]
enum ImageCmd {
    /// List images in local storage
    #[command(visible_alias = "list")]
    Ls(cmd::list::ImagesArgs),
    /// Display the configuration of an image
    Inspect(cmd::inspect::InspectArgs),
    /// Check if an image exists in local storage
    Exists(cmd::names::ExistsArgs),
    /// Remove unused images
    Prune(cmd::names::PruneArgs),
    /// Remove one or more images from local storage
    Rm(cmd::names::RmiArgs),
    /// Add an additional name to a local image
    Tag(cmd::names::TagArgs),
    /// Load image(s) from a tar archive
    Load(cmd::archive::LoadArgs),
    /// Save image(s) to an archive
    Save(cmd::archive::SaveArgs),
    /// Import a tarball to create a filesystem image
    Import(cmd::archive::ImportArgs),
    /// Show history of a specified image
    History(cmd::inspect::HistoryArgs),
    /// Pull an image from a registry
    Pull(cmd::registry::PullArgs),
    /// Push an image to a specified destination
    Push(cmd::registry::PushArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    init_logging(&cli.log_level);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(u8::try_from(e.code).unwrap_or(ENGINE as u8))
        }
    }
}

/// Help and version go to stdout with 0; anything else is a usage error:
/// one line and 125, as podman does.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        print!("{e}");
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        eprint!("{e}");
        return ExitCode::from(ENGINE as u8);
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid usage");
    eprintln!("Error: {}", first.trim_start_matches("error: "));
    ExitCode::from(ENGINE as u8)
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

fn run(cli: Cli) -> Result<u8, CliError> {
    // Starting a container forks this process into it: first re-execute
    // from a read-only copy of the binary (CVE-2019-5736), before any side
    // effect, since the re-exec starts the command over.
    if matches!(cli.cmd, Cmd::Run(_)) {
        engine::containers::protect_exe()?;
    }
    // Credentials only: no image store to open (or create).
    match &cli.cmd {
        Cmd::Login(a) => return cmd::registry::login(a),
        Cmd::Logout(a) => return cmd::registry::logout(a),
        _ => {}
    }
    let engine = Engine::open(&cli.root, &cli.runroot, cli.storage_driver.as_deref())?;
    tracing::debug!(root = %cli.root.display(), runroot = %cli.runroot.display(), "opened image store");
    match cli.cmd {
        Cmd::Images(a) | Cmd::Image { cmd: ImageCmd::Ls(a) } => cmd::list::images(&engine, &a),
        Cmd::Load(a) | Cmd::Image { cmd: ImageCmd::Load(a) } => cmd::archive::load(&engine, &a),
        Cmd::Save(a) | Cmd::Image { cmd: ImageCmd::Save(a) } => cmd::archive::save(&engine, &a),
        Cmd::Import(a) | Cmd::Image { cmd: ImageCmd::Import(a) } => cmd::archive::import(&engine, &a),
        Cmd::Tag(a) | Cmd::Image { cmd: ImageCmd::Tag(a) } => cmd::names::tag(&engine, &a),
        Cmd::Rmi(a) | Cmd::Image { cmd: ImageCmd::Rm(a) } => cmd::names::rmi(&engine, &a),
        Cmd::History(a) | Cmd::Image { cmd: ImageCmd::History(a) } => cmd::inspect::history(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Inspect(a) } => cmd::inspect::inspect(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Exists(a) } => cmd::names::exists(&engine, &a),
        Cmd::Image { cmd: ImageCmd::Prune(a) } => cmd::names::prune(&engine, &a),
        Cmd::Pull(a) | Cmd::Image { cmd: ImageCmd::Pull(a) } => cmd::registry::pull(&engine, &a),
        Cmd::Push(a) | Cmd::Image { cmd: ImageCmd::Push(a) } => cmd::registry::push(&engine, &a),
        // Handled above, before the store is opened.
        Cmd::Login(_) | Cmd::Logout(_) => Ok(0),
        Cmd::Create(a) => cmd::containers::create(&engine, &a),
        Cmd::Run(a) => cmd::containers::run(&engine, &a),
        Cmd::Rm(a) => cmd::containers::rm(&engine, &a),
        Cmd::Ps(a) => cmd::containers::ps(&engine, &a),
        Cmd::Info(a) => cmd::info::info(&engine, &a),
    }
}
