//! The command tree: every command, its one-line summary, its description
//! (the doc comment's later paragraphs, podman's "Description:") and its
//! examples (`after_help`, podman's "Examples:"). `help.rs` lays them out as
//! podman does; `flags.rs` gives every command podman's flag conventions.
//!
//! Commands are declared in the order podman registers them, which is the
//! order of its "Did you mean this?" suggestions; help lists them sorted.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::cmd;
use engine::{DEFAULT_ROOT, DEFAULT_RUNROOT};

/// The full tree, with podman's conventions applied.
pub fn command() -> clap::Command {
    crate::flags::apply(Cli::command())
}

/// The tree of `berth WORD` alone, with podman's conventions applied, for
/// the commands scripts run most (`None` for others): building the whole
/// tree took a millisecond, most of what parsing costs. It is the whole
/// tree's branch (checked by a test), so a command line it takes parses as
/// with the whole tree; it lacks only what help shows.
pub fn branch(word: &str) -> Option<clap::Command> {
    use clap::{Args as _, Command, Subcommand as _};
    let sub = match word {
        "run" => cmd::containers::RunArgs::augment_args(Command::new("run")),
        "create" => cmd::containers::CreateArgs::augment_args(Command::new("create")),
        "start" => cmd::control::StartArgs::augment_args(Command::new("start")),
        "exec" => cmd::exec::ExecArgs::augment_args(Command::new("exec")),
        "ps" => cmd::containers::PsArgs::augment_args(Command::new("ps")),
        "rm" => cmd::containers::RmArgs::augment_args(Command::new("rm")),
        "stop" => cmd::control::StopArgs::augment_args(Command::new("stop")),
        "kill" => cmd::control::KillArgs::augment_args(Command::new("kill")),
        "logs" => cmd::logs::LogsArgs::augment_args(Command::new("logs")),
        "inspect" => cmd::container_inspect::InspectArgs::augment_args(Command::new("inspect")),
        // What derive makes of the `Network { cmd }` variant: its group too.
        "network" => NetworkCmd::augment_subcommands(Command::new("network"))
            .group(clap::ArgGroup::new("Network").multiple(true)),
        _ => return None,
    };
    let root = Globals::augment_args(Command::new("berth").version(env!("CARGO_PKG_VERSION")));
    Some(crate::flags::apply(root.subcommand(sub)))
}

/// Manage containers and images
#[derive(Parser)]
#[command(name = "berth", version)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The options of every command.
#[derive(clap::Args)]
pub struct Globals {
    /// Path to the root directory in which data, including images, is stored
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Path to the 'run directory' where all state information is stored
    #[arg(long, global = true, default_value = DEFAULT_RUNROOT)]
    pub runroot: PathBuf,
    /// Select which storage driver is used to manage storage of images and containers
    #[arg(long = "storage-driver", global = true, value_parser = ["overlay", "vfs"])]
    pub storage_driver: Option<String>,
    /// Log messages above specified level (error, warn, info, debug, trace)
    #[arg(long = "log-level", global = true, default_value = "warn", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
    /// Path to the OCI-compatible binary used to run containers.
    #[arg(long, global = true)]
    pub runtime: Option<String>,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Attach to a running container
    ///
    /// The berth attach command allows you to attach to a running container using the container's ID or name, either to view its ongoing output or to control it interactively.
    ///
    /// You can detach from the container (and leave it running) using a configurable key sequence. The default sequence is `ctrl-p,ctrl-q`.
    #[command(after_help = "berth attach ctrlID\n\
                           berth attach 1234\n\
                           berth attach --no-stdin foobar")]
    Attach(cmd::control::AttachArgs),
    /// Create but do not start a container
    ///
    /// Creates a new container from the given image and prepares it for running the specified command.
    ///
    /// The container ID is then printed to stdout. The container will be created with the initial state 'created'.
    #[command(after_help = "berth create alpine ls\n\
                           berth create --label HELLO=WORLD alpine ls\n\
                           berth create -t -i --name myctr alpine ls")]
    Create(cmd::containers::CreateArgs),
    /// List containers
    ///
    /// Prints out information about the containers
    #[command(after_help = "berth ps -a\n\
                           berth ps -a --format \"{{.ID}}  {{.Image}}  {{.Labels}}  {{.Mounts}}\"\n\
                           berth ps -n 3 --format json")]
    Ps(cmd::containers::PsArgs),
    /// Remove one or more containers
    ///
    /// Removes one or more containers from the host. The container name or ID can be used.
    ///
    /// Command does not remove images. Running or unusable containers will not be removed without the -f option.
    #[command(after_help = "berth rm imageID\n\
                           berth rm mywebserver myflaskserver 860a4b23\n\
                           berth rm --force --all\n\
                           berth rm -f c684f0d469f2")]
    Rm(cmd::containers::RmArgs),
    /// Run a command in a new container
    ///
    /// Runs a command in a new container from the given image
    #[command(after_help = "berth run imageID ls -alF /etc\n\
                           berth run --rm -e GREETING=hello alpine sh -c 'echo $GREETING'\n\
                           berth run -i -t --entrypoint '[\"/bin/sh\",\"-l\"]' fedora")]
    Run(cmd::containers::RunArgs),
    /// Start one or more containers
    ///
    /// Starts one or more containers. The container name or ID can be used.
    #[command(after_help = "berth start 860a4b231279 5421ab43b45\n\
                           berth start --interactive --attach imageID")]
    Start(cmd::control::StartArgs),
    /// Stop one or more containers
    ///
    /// Stops one or more running containers. The container name or ID can be used.
    ///
    /// A timeout to forcibly stop the container can also be set but defaults to 10 seconds otherwise.
    #[command(after_help = "berth stop ctrID\n\
                           berth stop --time 2 mywebserver 6e534f14da9d\n\
                           berth stop --all")]
    Stop(cmd::control::StopArgs),
    /// Kill one or more running containers with a specific signal
    ///
    /// The main process inside each container specified will be sent SIGKILL, or any signal specified with option --signal.
    #[command(after_help = "berth kill mywebserver\n\
                           berth kill 860a4b23\n\
                           berth kill --signal TERM ctrID")]
    Kill(cmd::control::KillArgs),
    /// Block on one or more containers
    ///
    /// Block until one or more containers stop and then print their exit codes.
    #[command(after_help = "berth wait --latest\n\
                           berth wait ctrID1 ctrID2")]
    Wait(cmd::control::WaitArgs),
    /// Fetch the logs of one or more containers
    ///
    /// Retrieves logs for one or more containers.
    ///
    /// This does not guarantee execution order when combined with berth run (i.e., your run may not have generated any logs at the time you execute berth logs).
    #[command(after_help = "berth logs ctrID\n\
                           berth logs --names ctrID1 ctrID2\n\
                           berth logs --tail 2 mywebserver\n\
                           berth logs --follow=true --since 10m ctrID\n\
                           berth logs mywebserver mydbserver")]
    Logs(cmd::logs::LogsArgs),
    /// Run a process in a running container
    ///
    /// Execute the specified command inside a running container.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(cmd::exec::ExecArgs),
    /// Display the configuration of object denoted by ID
    ///
    /// Displays the low-level information on an object identified by name or ID.
    ///
    /// For more inspection options, see: berth container inspect, berth image inspect
    #[command(after_help = "berth inspect fedora\n\
                           berth inspect --type image fedora\n\
                           berth inspect CtrID ImgID\n\
                           berth inspect --format \"imageId: {{.Id}} size: {{.Size}}\" fedora")]
    Inspect(cmd::container_inspect::InspectArgs),
    /// Pause all the processes in one or more containers
    ///
    /// Pauses one or more running containers.  The container name or ID can be used.
    #[command(after_help = PAUSE_EXAMPLES)]
    Pause(cmd::pause::PauseArgs),
    /// Unpause the processes in one or more containers
    ///
    /// Unpauses one or more previously paused containers.  The container name or ID can be used.
    #[command(after_help = UNPAUSE_EXAMPLES)]
    Unpause(cmd::pause::UnpauseArgs),
    /// Restart one or more containers
    ///
    /// Restarts one or more running containers. The container ID or name can be used.
    ///
    /// A timeout before forcibly stopping can be set, but defaults to 10 seconds.
    #[command(after_help = RESTART_EXAMPLES)]
    Restart(cmd::restart::RestartArgs),
    /// Rename an existing container
    ///
    /// The berth rename command allows you to rename an existing container
    #[command(after_help = RENAME_EXAMPLES)]
    Rename(cmd::manage::RenameArgs),
    /// Display the running processes of a container
    ///
    /// Display the running processes of a container.
    ///
    /// The top command extends the ps(1) compatible AIX descriptors with container-specific ones: args, capamb, capbnd, capeff, capinh, capprm, comm, etime, group, groups, hgroup, hgroups, hpid, huser, label, nice, pcpu, pgid, pid, ppid, rgroup, rss, ruser, seccomp, state, stime, time, tty, user, vsz. In the presence of ps(1) specific flags (e.g, -eo), berth will execute ps(1) inside the container.
    #[command(after_help = TOP_EXAMPLES)]
    Top(cmd::top::TopArgs),
    /// Create new image based on the changed container
    ///
    /// Create an image from a container's changes. Optionally tag the image created, set the author with the --author flag, set the commit message with the --message flag, and make changes to the instructions with the --change flag.
    #[command(after_help = COMMIT_EXAMPLES)]
    Commit(cmd::commit::CommitArgs),
    /// Build an image using instructions from Containerfiles
    ///
    /// Builds an OCI or Docker image using instructions from one or more Containerfiles and a specified build context directory.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(Box<cmd::build::BuildArgs>),
    /// Build images (docker buildx's words for berth build)
    ///
    /// Build images: `buildx build` is `build`.
    Buildx {
        #[command(subcommand)]
        cmd: BuildxCmd,
    },
    /// Display the changes to the object's file system
    ///
    /// Displays changes on a container or image's filesystem.  The container or image will be compared to its parent layer.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(cmd::filesystem::DiffArgs),
    /// Export container's filesystem contents as a tar archive
    ///
    /// Exports container's filesystem contents as a tar archive and saves it on the local machine.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(cmd::filesystem::ExportArgs),
    /// Initialize one or more containers
    ///
    /// Initialize one or more containers, creating the OCI spec and mounts for inspection. Container names or IDs can be used.
    #[command(after_help = INIT_EXAMPLES)]
    Init(cmd::filesystem::InitArgs),
    /// Mount a working container's root filesystem
    ///
    /// berth mount
    ///   Lists all mounted containers mount points if no container is specified
    ///
    /// berth mount CONTAINER-NAME-OR-ID
    ///   Mounts the specified container and outputs the mountpoint
    #[command(after_help = MOUNT_EXAMPLES)]
    Mount(cmd::filesystem::MountArgs),
    /// List port mappings or a specific mapping for the container
    ///
    /// List port mappings for the CONTAINER, or look up the public-facing port that is NAT-ed to the PRIVATE_PORT
    #[command(after_help = PORT_EXAMPLES)]
    Port(cmd::filesystem::PortArgs),
    /// Unmounts working container's root filesystem
    ///
    /// Container storage increments a mount counter each time a container is mounted.
    ///
    /// When a container is unmounted, the mount counter is decremented. The container's root filesystem is physically unmounted only when the mount counter reaches zero indicating no other processes are using the mount.
    ///
    /// An unmount can be forced with the --force flag.
    #[command(visible_alias = "umount", after_help = UNMOUNT_EXAMPLES)]
    Unmount(cmd::filesystem::UnmountArgs),
    /// Copy files/folders between a container and the local filesystem
    ///
    /// Copy the contents of SRC_PATH to the DEST_PATH.
    ///
    /// You can copy from the container's file system to the local machine or the reverse, from the local filesystem to the container. If "-" is specified for either the SRC_PATH or DEST_PATH, you can also stream a tar archive from STDIN or to STDOUT. The CONTAINER can be a running or stopped container. The SRC_PATH or DEST_PATH can be a file or a directory.
    #[command(after_help = CP_EXAMPLES)]
    Cp(cmd::cp::CpArgs),
    /// Manage containers
    ///
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Show history of a specified image
    ///
    /// Displays the history of an image.
    ///
    /// The information can be printed out in an easy to read, or user specified format, and can be truncated.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(cmd::inspect::HistoryArgs),
    /// Manage images
    ///
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Import a tarball to create a filesystem image
    ///
    /// Create a container image from the contents of the specified tarball (.tar, .tar.gz, .tgz, .tar.zst), or `-` for stdin.
    ///
    /// Optionally tag the image. You can specify the instructions using the --change option.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(cmd::archive::ImportArgs),
    /// List images in local storage
    ///
    /// Lists images previously pulled to the system or created on the system.
    #[command(after_help = IMAGES_EXAMPLES)]
    Images(cmd::list::ImagesArgs),
    /// Load image(s) from a tar archive
    ///
    /// Loads an image from a locally stored archive (tar file) into container storage.
    #[command(after_help = LOAD_EXAMPLES)]
    Load(cmd::archive::LoadArgs),
    /// Pull an image from a registry
    ///
    /// Pulls an image from a registry and stores it locally.
    ///
    /// An image can be pulled by tag or digest. If a tag is not specified, the image with the 'latest' tag is pulled.
    #[command(after_help = PULL_EXAMPLES)]
    Pull(cmd::registry::PullArgs),
    /// Push an image to a specified destination
    ///
    /// Pushes a source image to a specified destination.
    #[command(after_help = PUSH_EXAMPLES)]
    Push(cmd::registry::PushArgs),
    /// Removes one or more images from local storage
    ///
    /// Removes one or more previously pulled or locally created images.
    #[command(after_help = RMI_EXAMPLES)]
    Rmi(cmd::names::RmiArgs),
    /// Save image(s) to an archive
    ///
    /// Save an image to docker-archive or oci-archive on the local machine. Default is docker-archive.
    #[command(after_help = SAVE_EXAMPLES)]
    Save(cmd::archive::SaveArgs),
    /// Add an additional name to a local image
    ///
    /// Adds one or more additional names to locally-stored image.
    #[command(after_help = TAG_EXAMPLES)]
    Tag(cmd::names::TagArgs),
    /// Display berth system information
    ///
    /// Display information pertaining to the host, current storage stats, and build of berth.
    ///
    /// Useful for the user and when reporting issues.
    #[command(after_help = "berth info\n\
                           berth info --format json\n\
                           berth info --format '{{.Store.GraphDriverName}}'")]
    Info(cmd::info::InfoArgs),
    /// Show berth events
    ///
    /// Monitor berth events.
    ///
    /// By default, streaming mode is used, printing new events as they occur.  Previous events can be listed via --since and --until.
    #[command(after_help = "berth events\n\
                           berth events --filter event=create\n\
                           berth events --format {{.Image}}\n\
                           berth events --since 1h30s")]
    Events(cmd::events::EventsArgs),
    /// Display the Berth version information
    #[command(after_help = "berth version\n\
                           berth version --format json\n\
                           berth version --format '{{.Client.Version}}'")]
    Version(cmd::info::VersionArgs),
    /// Login to a container registry
    ///
    /// Login to a container registry on a specified server.
    #[command(after_help = "berth login quay.io\n\
                           berth login --username ... --password-stdin quay.io\n\
                           berth login --authfile dir/auth.json quay.io")]
    Login(cmd::registry::LoginArgs),
    /// Logout of a container registry
    ///
    /// Remove the cached username and password for the registry.
    #[command(after_help = "berth logout quay.io\n\
                           berth logout --authfile dir/auth.json quay.io\n\
                           berth logout --all")]
    Logout(cmd::registry::LogoutArgs),
    /// Manage networks
    ///
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// Manage volumes
    ///
    /// Volumes are created in and can be shared between containers
    Volume {
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Generate shell autocompletions
    ///
    /// Generate shell autocompletions.
    /// Valid arguments are bash, zsh, fish and powershell.
    /// Please refer to the man page to see how you can load these completions.
    // Verbatim: podman's description keeps its three lines.
    #[command(verbatim_doc_comment)]
    #[command(after_help = "berth completion bash\n\
                           berth completion zsh -f _berth\n\
                           berth completion fish --no-desc")]
    Completion(cmd::completion::CompletionArgs),
    /// Write berth's man pages to a directory
    #[command(name = "generate-man", hide = true, after_help = "berth generate-man /usr/local/share/man/man1")]
    GenerateMan(cmd::manpages::GenerateManArgs),
    /// Manage berth
    ///
    /// Manage berth
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Display a live stream of container resource usage statistics
    ///
    /// Display percentage of CPU, memory, network I/O, block I/O and PIDs for one or more containers.
    #[command(after_help = STATS_EXAMPLES, override_usage = "berth stats [options] [CONTAINER...]")]
    Stats(cmd::stats::StatsArgs),
    /// Manage health checks on containers
    ///
    /// Run health checks on containers
    Healthcheck {
        #[command(subcommand)]
        cmd: HealthcheckCmd,
    },
}

#[derive(Subcommand)]
pub enum SystemCmd {
    /// Bring containers back after a reboot
    ///
    /// Records the containers that ran before the host rebooted as exited, cleans what their runs left in the run directory, and starts the containers whose restart policy is always, or unless-stopped if no user stopped them.
    ///
    /// Run once at boot (contrib/systemd/berth-boot.service); running it again starts nothing twice.
    #[command(after_help = "berth system boot")]
    Boot(cmd::boot::BootArgs),
    /// Show berth disk usage
    ///
    /// berth system df
    ///
    /// Show berth disk usage: bytes on disk, RECLAIMABLE being what `berth system prune --all --volumes` frees
    #[command(after_help = "berth system df\n\
                           berth system df -v\n\
                           berth system df --format '{{.Type}} {{.RawReclaimable}}'")]
    Df(cmd::system::DfArgs),
    /// Display berth system information
    ///
    /// Display information pertaining to the host, current storage stats, and build of berth.
    ///
    /// Useful for the user and when reporting issues.
    #[command(after_help = "berth system info\n\
                           berth system info --format json")]
    Info(cmd::info::InfoArgs),
    /// Migrate containers
    ///
    /// berth system migrate
    ///
    /// Migrate existing containers to a new version of berth.
    #[command(after_help = "berth system migrate")]
    Migrate(cmd::system::MigrateArgs),
    /// Remove unused data
    ///
    /// berth system prune
    ///
    /// Remove unused data
    #[command(after_help = "berth system prune")]
    Prune(cmd::system::PruneArgs),
    /// Migrate lock numbers
    ///
    /// berth system renumber
    ///
    /// Migrate lock numbers to handle a change in maximum number of locks.
    #[command(after_help = "berth system renumber")]
    Renumber(cmd::system::RenumberArgs),
    /// Reset berth storage
    ///
    /// Reset berth storage back to default state
    ///
    /// All containers will be stopped and removed, and all images, volumes, networks and container content will be removed.
    #[command(after_help = "berth system reset\n\
                           berth system reset -f")]
    Reset(cmd::system::ResetArgs),
}

#[derive(Subcommand)]
pub enum HealthcheckCmd {
    /// run the health check of a container
    ///
    /// run the health check of a container
    #[command(after_help = "berth healthcheck run mywebapp")]
    Run(cmd::health::RunArgs),
}

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create networks for containers and pods
    ///
    /// Create networks for containers and pods
    #[command(after_help = "berth network create net1\n\
                           berth network create --subnet 192.168.55.0/24 --gateway 192.168.55.3 --label env=test net2\n\
                           berth network create -d macvlan --subnet 192.168.1.0/24 -o parent=eth0 lan")]
    Create(cmd::networks::CreateArgs),
    /// Add container to a network
    ///
    /// Add container to a network
    #[command(after_help = "berth network connect web secondary")]
    Connect(cmd::networks::ConnectArgs),
    /// Remove container from a network
    ///
    /// Remove container from a network
    #[command(after_help = "berth network disconnect web secondary")]
    Disconnect(cmd::networks::DisconnectArgs),
    /// Check if network exists
    ///
    /// If the named network exists, berth network exists exits with 0, otherwise the exit code will be 1.
    #[command(after_help = "berth network exists net1")]
    Exists(cmd::networks::ExistsArgs),
    /// Inspect network
    ///
    /// Displays the network configuration for one or more networks.
    #[command(after_help = "berth network inspect berth\n\
                           berth network inspect --format \"{{.Name}} {{range .Subnets}}{{.Subnet}} {{end}}\" net1")]
    Inspect(cmd::networks::InspectArgs),
    /// List networks
    ///
    /// List networks
    #[command(
        visible_alias = "list",
        after_help = "berth network ls\n\
                           berth network ls --filter driver=bridge --format json\n\
                           berth network ls --no-trunc --format \"{{.ID}} {{.Name}}\""
    )]
    Ls(cmd::networks::LsArgs),
    /// Prune unused networks
    ///
    /// Prune unused networks
    #[command(after_help = "berth network prune\n\
                           berth network prune -f --filter label=env=test")]
    Prune(cmd::networks::PruneArgs),
    /// Reload firewall rules for one or more containers
    ///
    /// reload container networks, recreating firewall rules
    #[command(after_help = "berth network reload --latest\n\
                           berth network reload 3c13ef6dd843\n\
                           berth network reload test1 test2")]
    Reload(cmd::networks::ReloadArgs),
    /// Remove networks
    ///
    /// Remove networks
    #[command(
        visible_alias = "remove",
        after_help = "berth network rm net1\n\
                           berth network rm -f net1 net2"
    )]
    Rm(cmd::networks::RmArgs),
}

#[derive(Subcommand)]
pub enum VolumeCmd {
    /// Create a new volume
    ///
    /// If using the default driver, "local", the volume will be created on the host in the volumes directory under container storage.
    #[command(after_help = "berth volume create myvol\n\
                           berth volume create\n\
                           berth volume create --label foo=bar myvol")]
    Create(cmd::volumes::CreateArgs),
    /// Check if volume exists
    ///
    /// If the given volume exists, berth volume exists exits with 0, otherwise the exit code will be 1.
    #[command(after_help = "berth volume exists myvol")]
    Exists(cmd::volumes::ExistsArgs),
    /// Display detailed information on one or more volumes
    ///
    /// Use a Go template to change the format from JSON.
    #[command(after_help = "berth volume inspect myvol\n\
                           berth volume inspect --all\n\
                           berth volume inspect --format \"{{.Driver}} {{.Scope}}\" myvol")]
    Inspect(cmd::volumes::InspectArgs),
    /// List volumes
    ///
    /// List all available volumes. The output of the volumes can be filtered and the output format can be changed to JSON or a user specified Go template.
    #[command(
        visible_alias = "list",
        after_help = "berth volume ls\n\
                           berth volume ls --format json\n\
                           berth volume ls --filter dangling=true"
    )]
    Ls(cmd::volumes::LsArgs),
    /// Remove all unused volumes
    ///
    /// Volumes that are not currently owned by a container will be removed.
    #[command(after_help = "berth volume prune\n\
                           berth volume prune --force")]
    Prune(cmd::volumes::PruneArgs),
    /// Remove one or more volumes
    ///
    /// By default only volumes that are not being used by any containers will be removed. To remove the volumes anyways, use the --force flag.
    #[command(
        visible_alias = "remove",
        after_help = "berth volume rm myvol1 myvol2\n\
                           berth volume rm --all\n\
                           berth volume rm --force myvol"
    )]
    Rm(cmd::volumes::RmArgs),
}

#[derive(Subcommand)]
pub enum ContainerCmd {
    /// Attach to a running container
    ///
    /// The berth container attach command allows you to attach to a running container using the container's ID or name, either to view its ongoing output or to control it interactively.
    #[command(after_help = "berth container attach ctrID\n\
                           berth container attach --no-stdin foobar")]
    Attach(cmd::control::AttachArgs),
    /// Create but do not start a container
    ///
    /// Creates a new container from the given image and prepares it for running the specified command.
    ///
    /// The container ID is then printed to stdout. The container will be created with the initial state 'created'.
    #[command(after_help = "berth container create alpine ls\n\
                           berth container create -t -i --name myctr alpine ls")]
    Create(cmd::containers::CreateArgs),
    /// Run a process in a running container
    ///
    /// Execute the specified command inside a running container.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(cmd::exec::ExecArgs),
    /// Check if a container exists in local storage
    ///
    /// If the named container exists in local storage, berth container exists exits with 0, otherwise the exit code will be 1.
    #[command(after_help = "berth container exists --external containerID\n\
                           berth container exists myctr || berth run --name myctr [etc...]")]
    Exists(cmd::manage::ExistsArgs),
    /// Clean up network and mountpoints of one or more containers
    ///
    /// Cleans up mount points and network stacks on one or more containers from the host. The container name or ID can be used. This command is used internally when running containers, but can also be used if container cleanup has failed when a container exits.
    #[command(after_help = "berth container cleanup --latest\n\
                           berth container cleanup ctrID1 ctrID2 ctrID3\n\
                           berth container cleanup --all")]
    Cleanup(cmd::filesystem::CleanupArgs),
    /// Create new image based on the changed container
    ///
    /// Create an image from a container's changes. Optionally tag the image created, set the author with the --author flag, set the commit message with the --message flag, and make changes to the instructions with the --change flag.
    #[command(after_help = COMMIT_EXAMPLES)]
    Commit(cmd::commit::CommitArgs),
    /// Display the changes to the object's file system
    ///
    /// Displays changes on a container or image's filesystem.  The container or image will be compared to its parent layer.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(cmd::filesystem::DiffArgs),
    /// Export container's filesystem contents as a tar archive
    ///
    /// Exports container's filesystem contents as a tar archive and saves it on the local machine.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(cmd::filesystem::ExportArgs),
    /// Initialize one or more containers
    ///
    /// Initialize one or more containers, creating the OCI spec and mounts for inspection. Container names or IDs can be used.
    #[command(after_help = INIT_EXAMPLES)]
    Init(cmd::filesystem::InitArgs),
    /// Mount a working container's root filesystem
    ///
    /// berth mount
    ///   Lists all mounted containers mount points if no container is specified
    ///
    /// berth mount CONTAINER-NAME-OR-ID
    ///   Mounts the specified container and outputs the mountpoint
    #[command(after_help = MOUNT_EXAMPLES)]
    Mount(cmd::filesystem::MountArgs),
    /// List port mappings or a specific mapping for the container
    ///
    /// List port mappings for the CONTAINER, or look up the public-facing port that is NAT-ed to the PRIVATE_PORT
    #[command(after_help = PORT_EXAMPLES)]
    Port(cmd::filesystem::PortArgs),
    /// Unmounts working container's root filesystem
    ///
    /// Container storage increments a mount counter each time a container is mounted.
    ///
    /// When a container is unmounted, the mount counter is decremented. The container's root filesystem is physically unmounted only when the mount counter reaches zero indicating no other processes are using the mount.
    ///
    /// An unmount can be forced with the --force flag.
    #[command(visible_alias = "umount", after_help = UNMOUNT_EXAMPLES)]
    Unmount(cmd::filesystem::UnmountArgs),
    /// Copy files/folders between a container and the local filesystem
    ///
    /// Copy the contents of SRC_PATH to the DEST_PATH.
    #[command(after_help = CP_EXAMPLES)]
    Cp(cmd::cp::CpArgs),
    /// Display the configuration of a container
    ///
    /// Displays the low-level information on a container identified by name or ID.
    #[command(after_help = "berth container inspect myCtr\n\
                           berth container inspect -l --format '{{.Id}} {{.Config.Labels}}'")]
    Inspect(cmd::container_inspect::ContainerInspectArgs),
    /// Kill one or more running containers with a specific signal
    ///
    /// The main process inside each container specified will be sent SIGKILL, or any signal specified with option --signal.
    #[command(after_help = "berth container kill mywebserver\n\
                           berth container kill --signal TERM ctrID")]
    Kill(cmd::control::KillArgs),
    /// List containers
    ///
    /// Prints out information about the containers
    #[command(
        visible_alias = "ls",
        after_help = "berth container list -a\n\
                           berth container list -a --format \"{{.ID}}  {{.Image}}  {{.Labels}}  {{.Mounts}}\""
    )]
    List(cmd::containers::PsArgs),
    /// Fetch the logs of one or more containers
    ///
    /// Retrieves logs for one or more containers.
    #[command(after_help = "berth container logs ctrID\n\
                           berth container logs --tail 2 mywebserver")]
    Logs(cmd::logs::LogsArgs),
    /// Pause all the processes in one or more containers
    ///
    /// Pauses one or more running containers.  The container name or ID can be used.
    #[command(after_help = PAUSE_EXAMPLES)]
    Pause(cmd::pause::PauseArgs),
    /// Remove all non running containers
    ///
    /// Removes all non running containers
    #[command(after_help = "berth container prune\n\
                           berth container prune -f --filter until=10m")]
    Prune(cmd::manage::PruneArgs),
    /// List containers
    ///
    /// Prints out information about the containers
    #[command(after_help = "berth container ps -a\n\
                           berth container ps -n 3 --format json")]
    Ps(cmd::containers::PsArgs),
    /// Rename an existing container
    ///
    /// The berth rename command allows you to rename an existing container
    #[command(after_help = RENAME_EXAMPLES)]
    Rename(cmd::manage::RenameArgs),
    /// Restart one or more containers
    ///
    /// Restarts one or more running containers. The container ID or name can be used.
    ///
    /// A timeout before forcibly stopping can be set, but defaults to 10 seconds.
    #[command(after_help = RESTART_EXAMPLES)]
    Restart(cmd::restart::RestartArgs),
    /// Remove one or more containers
    ///
    /// Removes one or more containers from the host. The container name or ID can be used.
    #[command(after_help = "berth container rm imageID\n\
                           berth container rm --force --all")]
    Rm(cmd::containers::RmArgs),
    /// Run a command in a new container
    ///
    /// Runs a command in a new container from the given image
    #[command(after_help = "berth container run imageID ls -alF /etc\n\
                           berth container run --rm -e GREETING=hello alpine sh -c 'echo $GREETING'")]
    Run(cmd::containers::RunArgs),
    /// Start one or more containers
    ///
    /// Starts one or more containers. The container name or ID can be used.
    #[command(after_help = "berth container start 860a4b231279 5421ab43b45\n\
                           berth container start --interactive --attach imageID")]
    Start(cmd::control::StartArgs),
    /// Stop one or more containers
    ///
    /// Stops one or more running containers. The container name or ID can be used.
    #[command(after_help = "berth container stop ctrID\n\
                           berth container stop --all")]
    Stop(cmd::control::StopArgs),
    /// Display the running processes of a container
    ///
    /// Display the running processes of a container.
    #[command(after_help = TOP_EXAMPLES)]
    Top(cmd::top::TopArgs),
    /// Unpause the processes in one or more containers
    ///
    /// Unpauses one or more previously paused containers.  The container name or ID can be used.
    #[command(after_help = UNPAUSE_EXAMPLES)]
    Unpause(cmd::pause::UnpauseArgs),
    /// Block on one or more containers
    ///
    /// Block until one or more containers stop and then print their exit codes.
    #[command(after_help = "berth container wait --latest\n\
                           berth container wait ctrID1 ctrID2")]
    Wait(cmd::control::WaitArgs),
    /// Display a live stream of container resource usage statistics
    ///
    /// Display percentage of CPU, memory, network I/O, block I/O and PIDs for one or more containers.
    #[command(after_help = STATS_EXAMPLES, override_usage = "berth container stats [options] [CONTAINER...]")]
    Stats(cmd::stats::StatsArgs),
}

#[derive(Subcommand)]
pub enum ImageCmd {
    /// Build an image using instructions from Containerfiles
    ///
    /// Builds an OCI or Docker image using instructions from one or more Containerfiles and a specified build context directory.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(Box<cmd::build::BuildArgs>),
    /// Check if an image exists in local storage
    ///
    /// If the named image exists in local storage, berth image exists exits with 0, otherwise the exit code will be 1.
    #[command(after_help = "berth image exists ID\n\
                           berth image exists IMAGE || berth pull IMAGE")]
    Exists(cmd::names::ExistsArgs),
    /// Show history of a specified image
    ///
    /// Displays the history of an image.
    ///
    /// The information can be printed out in an easy to read, or user specified format, and can be truncated.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(cmd::inspect::HistoryArgs),
    /// Import a tarball to create a filesystem image
    ///
    /// Create a container image from the contents of the specified tarball (.tar, .tar.gz, .tgz, .tar.zst), or `-` for stdin.
    ///
    /// Optionally tag the image. You can specify the instructions using the --change option.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(cmd::archive::ImportArgs),
    /// Display the configuration of an image
    ///
    /// Displays the low-level information of an image identified by name or ID.
    #[command(after_help = "berth image inspect alpine\n\
                           berth image inspect --format \"imageId: {{.Id}} size: {{.Size}}\" alpine\n\
                           berth image inspect --format json alpine busybox")]
    Inspect(cmd::inspect::InspectArgs),
    /// List images in local storage
    ///
    /// Lists images previously pulled to the system or created on the system.
    #[command(visible_alias = "ls", after_help = IMAGES_EXAMPLES)]
    List(cmd::list::ImagesArgs),
    /// Load image(s) from a tar archive
    ///
    /// Loads an image from a locally stored archive (tar file) into container storage.
    #[command(after_help = LOAD_EXAMPLES)]
    Load(cmd::archive::LoadArgs),
    /// Mount an image's root filesystem
    ///
    /// berth image mount
    ///   Lists all mounted images mount points if no images is specified
    ///
    /// berth image mount IMAGE-NAME-OR-ID
    ///   Mounts the specified image and prints the mountpoint
    #[command(after_help = "berth image mount imgID\n\
                           berth image mount imgID1 imgID2 imgID3\n\
                           berth image mount\n\
                           berth image mount --all")]
    Mount(cmd::image_mount::ImageMountArgs),
    /// Remove unused images
    ///
    /// Removes dangling or unused images from local storage.
    #[command(after_help = "berth image prune\n\
                           berth image prune -a -f")]
    Prune(cmd::names::PruneArgs),
    /// Pull an image from a registry
    ///
    /// Pulls an image from a registry and stores it locally.
    ///
    /// An image can be pulled by tag or digest. If a tag is not specified, the image with the 'latest' tag is pulled.
    #[command(after_help = PULL_EXAMPLES)]
    Pull(cmd::registry::PullArgs),
    /// Push an image to a specified destination
    ///
    /// Pushes a source image to a specified destination.
    #[command(after_help = PUSH_EXAMPLES)]
    Push(cmd::registry::PushArgs),
    /// Removes one or more images from local storage
    ///
    /// Removes one or more previously pulled or locally created images.
    #[command(after_help = RMI_EXAMPLES)]
    Rm(cmd::names::RmiArgs),
    /// Save image(s) to an archive
    ///
    /// Save an image to docker-archive or oci-archive on the local machine. Default is docker-archive.
    #[command(after_help = SAVE_EXAMPLES)]
    Save(cmd::archive::SaveArgs),
    /// Add an additional name to a local image
    ///
    /// Adds one or more additional names to locally-stored image.
    #[command(after_help = TAG_EXAMPLES)]
    Tag(cmd::names::TagArgs),
    /// Unmount an image's root filesystem
    ///
    /// Image storage increments a mount counter each time an image is mounted.
    ///
    /// When an image is unmounted, the mount counter is decremented. The image's root filesystem is physically unmounted only when the mount counter reaches zero indicating no other processes are using the mount.
    ///
    /// An unmount can be forced with the --force flag.
    #[command(
        visible_alias = "umount",
        after_help = "berth image unmount imgID\n\
                           berth image unmount imgID1 imgID2 imgID3\n\
                           berth image unmount --all"
    )]
    Unmount(cmd::image_mount::ImageUnmountArgs),
}

/// `buildx`: docker's name for its builder.
#[derive(Subcommand)]
pub enum BuildxCmd {
    /// Build an image using instructions from Containerfiles
    ///
    /// Builds an OCI or Docker image using instructions from one or more Containerfiles and a specified build context directory.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(Box<cmd::build::BuildArgs>),
}

// Examples shared by a command and its `container` twin.
const BUILD_EXAMPLES: &str = "berth build .\n\
                              berth build -t imageName -f Containerfile.simple .\n\
                              berth build --layers --force-rm --tag imageName .";
const COMMIT_EXAMPLES: &str =
    "berth commit -q --message \"committing container to image\" reverent_golick image-committed\n\
                               berth commit -q --author \"firstName lastName\" reverent_golick image-committed\n\
                               berth commit -q --pause=false containerID image-committed\n\
                               berth commit containerID";
const DIFF_EXAMPLES: &str = "berth diff imageID\n\
                             berth diff ctrID\n\
                             berth diff --format json ctrID";
const EXPORT_EXAMPLES: &str = "berth export ctrID > myCtr.tar\n\
                               berth export --output=\"myCtr.tar\" ctrID";
const INIT_EXAMPLES: &str = "berth init --latest\n\
                             berth init 3c45ef19d893\n\
                             berth init test1";
const MOUNT_EXAMPLES: &str = "berth mount\n\
                              berth mount ctrID\n\
                              berth mount --format json";
const PORT_EXAMPLES: &str = "berth port --all\n\
                             berth port ctrID 80/tcp\n\
                             berth port --latest 80";
const UNMOUNT_EXAMPLES: &str = "berth unmount ctrID\n\
                                berth unmount ctrID1 ctrID2 ctrID3\n\
                                berth unmount --all";
const CP_EXAMPLES: &str = "berth cp [options] [CONTAINER:]SRC_PATH [CONTAINER:]DEST_PATH";
const EXEC_EXAMPLES: &str = "berth exec -it ctrID ls\n\
                             berth exec -it -w /tmp myCtr pwd\n\
                             berth exec --user root ctrID ls";
const PAUSE_EXAMPLES: &str = "berth pause mywebserver\n\
                              berth pause 860a4b23\n\
                              berth pause --all";
const UNPAUSE_EXAMPLES: &str = "berth unpause ctrID\n\
                                berth unpause --all";
const RESTART_EXAMPLES: &str = "berth restart ctrID\n\
                                berth restart --latest\n\
                                berth restart ctrID1 ctrID2";
const RENAME_EXAMPLES: &str = "berth rename containerA newName";
const TOP_EXAMPLES: &str = "berth top ctrID\n\
                            berth top --latest\n\
                            berth top ctrID pid seccomp args %C\n\
                            berth top ctrID -eo user,pid,comm";
const STATS_EXAMPLES: &str = "berth stats --all --no-stream\n\
                              berth stats ctrID\n\
                              berth stats --no-stream --format \"table {{.ID}} {{.Name}} {{.MemUsage}}\" ctrID";

// Examples shared by a command and its `image` twin.
const HISTORY_EXAMPLES: &str = "berth history quay.io/fedora/fedora\n\
                                berth history --format json alpine";
const IMPORT_EXAMPLES: &str = "berth import rootfs.tar myimage\n\
                               cat ctr.tar | berth import --message \"importing the ctr.tar tarball\" - image-imported\n\
                               berth import -c 'CMD [\"sh\"]' -c 'ENV PATH=/bin' rootfs.tar.gz";
const IMAGES_EXAMPLES: &str = "berth images --format json\n\
                               berth images --format \"table {{.ID}} {{.Repository}} {{.Tag}}\"\n\
                               berth images --filter dangling=true";
const LOAD_EXAMPLES: &str = "berth load -i alpine.tar\n\
                             berth load -q < alpine-all.tar";
const PULL_EXAMPLES: &str = "berth pull imageName\n\
                             berth pull fedora:latest";
const PUSH_EXAMPLES: &str = "berth push imageID docker://registry.example.com/repository:tag\n\
                             berth push --tls-verify=false localhost/myimage 127.0.0.1:5000/myimage";
const RMI_EXAMPLES: &str = "berth rmi imageID\n\
                            berth rmi --force alpine\n\
                            berth rmi c4dfb1609ee2 93fd78260bd1 c0ed59d05ff7";
const SAVE_EXAMPLES: &str = "berth save -o myimage.tar imageID\n\
                             berth save --format oci-archive -o ubuntu.tar ubuntu\n\
                             berth save > alpine-all.tar alpine:latest";
const TAG_EXAMPLES: &str = "berth tag 0e3bbc2 fedora:latest\n\
                            berth tag imageID:latest myNewImage:newTag\n\
                            berth tag httpd myregistryhost:5000/fedora/httpd:v2";

#[cfg(test)]
mod tests {
    use super::*;

    /// What a new command must bring (checked here so it cannot be
    /// forgotten): a summary, examples, and a description of every
    /// positional argument; and the tree must satisfy clap's own rules.
    #[test]
    fn every_command_is_documented() {
        let root = command();
        root.clone().debug_assert();
        fn visit(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("{path}: summary"));
                }
                if sub.has_subcommands() {
                    visit(sub, &path, missing);
                    continue;
                }
                if sub.get_after_help().is_none() {
                    missing.push(format!("{path}: examples (after_help)"));
                }
                for a in sub.get_positionals().filter(|a| !a.is_hide_set()) {
                    if a.get_help().is_none() {
                        missing.push(format!("{path}: description of {}", a.get_id()));
                    }
                }
            }
        }
        let mut missing = Vec::new();
        visit(&root, "berth", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// A branch (`branch`) is the whole tree's command, but for what only
    /// help shows: the same arguments, settings and root options.
    #[test]
    fn branches_are_the_whole_trees() {
        let strip = |c: clap::Command| {
            c.about(None::<&str>)
                .long_about(None::<&str>)
                .after_help(None::<&str>)
                .after_long_help(None::<&str>)
                .display_order(0)
        };
        let mut whole = command();
        whole.build();
        let words = ["run", "create", "start", "exec", "ps", "rm", "stop", "kill", "logs", "inspect", "network"];
        for word in words {
            let mut branch = branch(word).unwrap_or_else(|| panic!("no branch for {word}"));
            branch.build();
            let theirs = whole.find_subcommand(word).unwrap_or_else(|| panic!("no command {word}"));
            let ours = branch.find_subcommand(word).expect("the branch's command");
            // Whether a long help exists is worked out when built (help only).
            let text = |c: &clap::Command| format!("{:?}", strip(c.clone())).replace("long_help_exists: true", "-");
            let (ours, theirs) = (text(ours).replace("long_help_exists: false", "-"), text(theirs));
            let theirs = theirs.replace("long_help_exists: false", "-");
            // Where they differ, and around (the whole is pages long).
            let at = ours.bytes().zip(theirs.bytes()).take_while(|(a, b)| a == b).count();
            let around = |s: &str| s.get(at.saturating_sub(150)..(at + 150).min(s.len())).unwrap_or("").to_string();
            assert_eq!(around(&ours), around(&theirs), "{word}: the branch differs from the whole tree's command");
            let root_args = |c: &clap::Command| {
                c.get_arguments().map(|a| format!("{:?}", a.clone().display_order(0))).collect::<Vec<_>>()
            };
            assert_eq!(root_args(&branch), root_args(&whole), "{word}: root options");
        }
        assert!(branch("pull").is_none());
    }
}
