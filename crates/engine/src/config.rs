//! berth's configuration file: `/etc/berth/berth.conf`, or the file
//! `BERTH_CONFIG` names (as podman's `CONTAINERS_CONF` does). TOML, with
//! containers.conf's section and key names where the two share a setting,
//! so a setting podman users know reads the same here:
//!
//! ```toml
//! [containers]
//! netns = "bridge"                 # a container without --network: bridge|private, none, host
//!
//! [network]
//! default_network = "berth"        # the network `bridge` names
//! default_subnet = "10.87.0.0/16"
//! default_interface = "berth0"     # berth's own key: the default network's bridge
//! network_config_dir = "/etc/berth/cni"   # CNI configuration lists
//! network_dir = "/etc/berth/networks"      # berth's own: its networks' records
//! network_run_dir = "/run/berth/networks"  # berth's own: addresses, locks, name server
//! cni_plugin_dirs = ["/usr/lib/cni", "/usr/libexec/cni", "/usr/local/libexec/cni", "/opt/cni/bin"]
//!
//! [engine]
//! events_logfile_max_size = "1m"   # the events log rotates past it (decimal units, as podman's)
//! ```
//!
//! A missing file means the defaults above. Keys berth does not know are
//! ignored (a containers.conf has many), a known key with a bad value is an
//! error that names the file. Read once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Where the file is when `BERTH_CONFIG` does not say.
pub const DEFAULT_PATH: &str = "/etc/berth/berth.conf";
/// The variable that names another file.
pub const PATH_VAR: &str = "BERTH_CONFIG";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub containers: ContainersConfig,
    pub network: NetworkConfig,
    pub engine: EngineConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// The size past which the events log rotates (`events.rs`): a size
    /// as go-units' `FromHumanSize` reads it (podman's type), or bytes.
    pub events_logfile_max_size: SizeSetting,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { events_logfile_max_size: SizeSetting::Bytes(crate::events::MAX_LOG_SIZE) }
    }
}

/// A size written as a number of bytes or as text (`"1m"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSetting {
    Bytes(u64),
    Text(String),
}

impl SizeSetting {
    pub fn bytes(&self) -> std::result::Result<u64, String> {
        match self {
            SizeSetting::Bytes(n) => Ok(*n),
            SizeSetting::Text(t) => crate::units::from_human_size(t),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ContainersConfig {
    /// The network mode of a container given no `--network`.
    pub netns: String,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig { netns: "bridge".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    pub default_network: String,
    /// Its subnet: a private /16 as podman's 10.88.0.0/16, but another one,
    /// so that berth and podman on one host never route the same addresses
    /// to two bridges.
    pub default_subnet: IpNet,
    pub default_interface: String,
    /// Where CNI configuration lists (`*.conflist`, `*.conf`) define
    /// networks besides berth's own. berth's own directory, not the host's
    /// /etc/cni/net.d: podman's package puts its `podman` network there
    /// (10.88.0.0/16, which netavark's podman0 routes too), and berth
    /// should not run it unasked. Point it at /etc/cni/net.d to share the
    /// host's CNI networks.
    pub network_config_dir: PathBuf,
    /// Where CNI plugins are looked for, in order.
    pub cni_plugin_dirs: Vec<PathBuf>,
    /// berth's own networks, a JSON record each (podman's
    /// /etc/containers/networks). The host's, not a store's: bridges,
    /// firewall rules and the name server's port are the host's, so every
    /// store (`--root`) on it sees the same networks.
    pub network_dir: PathBuf,
    /// What running containers hold on those networks, for every store:
    /// the address database, the networks' lock, the name server's
    /// directory (podman's /run/containers/networks). On a tmpfs: it goes
    /// with a reboot, as the containers' processes do.
    pub network_run_dir: PathBuf,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            default_network: "berth".into(),
            default_subnet: IpNet::V4("10.87.0.0/16".parse().unwrap_or_default()),
            default_interface: "berth0".into(),
            network_config_dir: "/etc/berth/cni".into(),
            cni_plugin_dirs: ["/usr/lib/cni", "/usr/libexec/cni", "/usr/local/libexec/cni", "/opt/cni/bin"]
                .map(PathBuf::from)
                .into(),
            network_dir: "/etc/berth/networks".into(),
            network_run_dir: "/run/berth/networks".into(),
        }
    }
}

/// The configuration, read on first use.
pub fn get() -> Result<&'static Config> {
    static CONFIG: OnceLock<std::result::Result<Config, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| read(&std::env::var_os(PATH_VAR).map_or_else(|| DEFAULT_PATH.into(), PathBuf::from)))
        .as_ref()
        .map_err(|e| Error::new(e.clone()))
}

fn read(path: &Path) -> std::result::Result<Config, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file's text, checked.
pub fn parse(text: &str) -> std::result::Result<Config, String> {
    // toml's messages span several lines (a caret under the text): one
    // line is what every berth error is.
    let config: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let mode = config.containers.netns.as_str();
    if !matches!(mode, "bridge" | "private" | "none" | "host") {
        return Err(format!("[containers] netns = {mode:?}: want bridge, private, none or host"));
    }
    let net = &config.network;
    crate::networks::validate_name(&net.default_network)
        .map_err(|_| format!("[network] default_network = {:?}: not a network name", net.default_network))?;
    if !crate::networks::valid_interface_name(&net.default_interface) {
        return Err(format!("[network] default_interface = {:?}: not an interface name", net.default_interface));
    }
    network::ipam::subnet_from_user(&net.default_subnet.to_string(), None, None)
        .map_err(|e| format!("[network] default_subnet = \"{}\": {e}", net.default_subnet))?;
    // Monitors and name servers run from other directories.
    for (key, dir) in [
        ("network_config_dir", &net.network_config_dir),
        ("network_dir", &net.network_dir),
        ("network_run_dir", &net.network_run_dir),
    ] {
        if !dir.is_absolute() {
            return Err(format!("[network] {key} = {:?}: not an absolute path", dir.display().to_string()));
        }
    }
    config.engine.events_logfile_max_size.bytes().map_err(|e| format!("[engine] events_logfile_max_size: {e}"))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let c = read(Path::new("/nonexistent/berth.conf")).unwrap();
        assert_eq!(c.containers.netns, "bridge");
        assert_eq!(c.network.default_network, "berth");
        assert_eq!(c.network.default_subnet.to_string(), "10.87.0.0/16");
        assert_eq!(c.network.default_interface, "berth0");
        assert_eq!(c.network.network_dir, Path::new("/etc/berth/networks"));
        assert_eq!(c.network.network_run_dir, Path::new("/run/berth/networks"));
        assert_eq!(c.engine.events_logfile_max_size.bytes(), Ok(1_000_000));
    }

    #[test]
    fn known_keys_are_read_and_others_ignored() {
        let c = parse(
            "[containers]\nnetns = \"none\"\nlog_driver = \"k8s-file\"\n\
             [network]\ndefault_network = \"lan\"\ndefault_subnet = \"10.200.0.0/24\"\n\
             default_interface = \"lan0\"\nnetwork_backend = \"netavark\"\n[engine]\nruntime = \"crun\"\n",
        )
        .unwrap();
        assert_eq!(c.containers.netns, "none");
        assert_eq!(c.network.default_network, "lan");
        assert_eq!(c.network.default_subnet.to_string(), "10.200.0.0/24");
        assert_eq!(c.network.default_interface, "lan0");
        assert_eq!(c.network.network_config_dir, Path::new("/etc/berth/cni"));
        let c = parse("[engine]\nevents_logfile_max_size = \"2m\"\n").unwrap();
        assert_eq!(c.engine.events_logfile_max_size.bytes(), Ok(2_000_000));
        let c = parse("[engine]\nevents_logfile_max_size = 4096\n").unwrap();
        assert_eq!(c.engine.events_logfile_max_size.bytes(), Ok(4096));
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for (text, want) in [
            ("[containers]\nnetns = \"slirp\"", "netns"),
            ("[network]\ndefault_network = \"a b\"", "default_network"),
            ("[network]\ndefault_subnet = \"10.0.0.1\"", "invalid"),
            ("[network]\ndefault_interface = \"far-too-long-a-name\"", "default_interface"),
            ("[network\n", ""),
            ("[network]\nnetwork_run_dir = \"run/nets\"", "network_run_dir = \"run/nets\": not an absolute path"),
            ("[network]\nnetwork_dir = \"\"", "network_dir"),
            ("[engine]\nevents_logfile_max_size = \"lots\"", "events_logfile_max_size: invalid size: 'lots'"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{text}: {e}");
        }
    }
}
