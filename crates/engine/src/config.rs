//! berth's configuration: `/etc/berth/berth.conf`, then the user's
//! `$XDG_CONFIG_HOME/berth/berth.conf` (`~/.config/berth/berth.conf`)
//! over it key by key, as podman layers its containers.conf files; or only
//! the file `BERTH_CONFIG` names (tests use it for isolation). TOML, with
//! containers.conf's section and key names where the two share a setting,
//! so a setting podman users know reads the same here:
//!
//! ```toml
//! [containers]
//! netns = "bridge"                 # a container without --network: bridge|private, none, host
//! log_driver = "k8s-file"          # k8s-file, json-file, none (--log-driver)
//! log_size_max = "10MB"            # bytes (or "10MB"; -1: unlimited) a log grows to before rotating
//! log_max_files = 3                # berth's own: files rotation keeps, the live one included
//! default_ulimits = ["nofile=1024:2048"]   # under every container's --ulimit
//! default_capabilities = ["CHOWN", "KILL"] # replaces the default set (--cap-add/--cap-drop apply over it)
//!
//! [engine]
//! runtime = "crun"                 # OCI runtime without --runtime; absent or "": berth's own, in-process
//! [engine.runtimes]
//! crun = ["/usr/bin/crun"]         # where a runtime's name is looked for first
//!
//! [storage]
//! driver = "overlay"               # overlay or vfs, without --storage-driver
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
//! Under berth.conf, the settings berth shares with podman are read from
//! podman's own files, so a host set up for podman is set up for berth:
//! containers.conf (`CONTAINERS_CONF` alone when set, else
//! `/etc/containers/containers.conf` and its `containers.conf.d/*.conf`)
//! for `log_driver`, `log_size_max`, `default_ulimits`,
//! `default_capabilities`, `runtime`/`runtimes` and `default_subnet`; and
//! storage.conf (`CONTAINERS_STORAGE_CONF`, else
//! `/etc/containers/storage.conf`) for the driver only: never its
//! graphroot/runroot, which would point berth at podman's store. A value
//! there that berth cannot honour (`log_driver = "journald"`, a `btrfs`
//! driver) is passed over; in berth.conf it is an error.
//!
//! Not read: `/usr/share/containers/containers.conf`. It is podman's
//! package spelling out podman's built-in defaults (podman's 11
//! capabilities where berth keeps docker's 14, for one), not a choice the
//! host's owner made; reading it would make berth behave differently
//! depending on whether podman is installed. Nor the user's
//! `~/.config/containers/containers.conf`: podman reads that only when
//! rootless, and berth runs as root.
//!
//! Logs rotate by default (10MB, 3 files): podman and docker let a
//! container's log grow until the disk is full; berth deliberately does
//! not. `--log-opt max-size=-1` (or 0) asks for a log without a limit.
//!
//! A missing file means the defaults above. Keys berth does not know are
//! ignored (a containers.conf has many), a known key with a bad value is an
//! error that names the file. Read once per process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ipnet::IpNet;
use serde::Deserialize;

use crate::containers::logconfig::LogConfig;
use crate::containers::OciRuntime;
use crate::error::{Error, Result};

/// Where the file is when `BERTH_CONFIG` does not say.
pub const DEFAULT_PATH: &str = "/etc/berth/berth.conf";
/// The variable that names another file.
pub const PATH_VAR: &str = "BERTH_CONFIG";
/// podman's containers.conf, its drop-ins, and the variable naming another.
const CONTAINERS_CONF: &str = "/etc/containers/containers.conf";
const CONTAINERS_CONF_DIR: &str = "/etc/containers/containers.conf.d";
const CONTAINERS_CONF_VAR: &str = "CONTAINERS_CONF";
/// containers-storage's storage.conf (root's), and the variable naming another.
const STORAGE_CONF: &str = "/etc/containers/storage.conf";
const STORAGE_CONF_VAR: &str = "CONTAINERS_STORAGE_CONF";

/// The keys berth takes from a containers.conf (`[section] key`): those
/// whose meaning is the same in both.
const SHARED_KEYS: &[(&str, &str)] = &[
    ("containers", "log_driver"),
    ("containers", "log_size_max"),
    ("containers", "default_ulimits"),
    ("containers", "default_capabilities"),
    ("engine", "runtime"),
    ("engine", "runtimes"),
    ("engine", "events_logfile_max_size"),
    ("network", "default_subnet"),
];

/// A log's default size limit: 10MB, as `--log-opt max-size=10m`.
pub const DEFAULT_LOG_SIZE_MAX: u64 = 10_000_000;
/// And how many files rotation keeps, the live one included.
pub const DEFAULT_LOG_MAX_FILES: u32 = 3;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub containers: ContainersConfig,
    pub network: NetworkConfig,
    pub engine: EngineConfig,
    pub storage: StorageConfig,
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
    /// `--log-driver` without the flag.
    pub log_driver: String,
    /// `max-size` without `--log-opt max-size`: bytes, or a size as
    /// `--log-opt` takes it; -1 (containers.conf's "unlimited") or 0 for none.
    pub log_size_max: LogSize,
    /// `max-file` without `--log-opt max-file`.
    pub log_max_files: u32,
    /// Every container's ulimits (`name=soft:hard`); a `--ulimit` of the
    /// same name replaces one.
    pub default_ulimits: Vec<String>,
    /// The capabilities a container starts from (docker's set without).
    pub default_capabilities: Option<Vec<String>>,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            netns: "bridge".into(),
            log_driver: "k8s-file".into(),
            log_size_max: LogSize::Bytes(DEFAULT_LOG_SIZE_MAX as i64),
            log_max_files: DEFAULT_LOG_MAX_FILES,
            default_ulimits: Vec::new(),
            default_capabilities: None,
        }
    }
}

/// containers.conf's `log_size_max` is a number of bytes; berth also
/// takes what `--log-opt max-size` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LogSize {
    Bytes(i64),
    Text(String),
}

impl LogSize {
    /// The limit in bytes, `None` for none.
    pub fn bytes(&self) -> std::result::Result<Option<u64>, String> {
        match self {
            LogSize::Bytes(n) => Ok(u64::try_from(*n).ok().filter(|n| *n > 0)),
            LogSize::Text(t) if t.trim() == "-1" => Ok(None),
            LogSize::Text(t) => crate::units::from_human_size(t.trim()).map(|n| Some(n).filter(|n| *n > 0)),
        }
    }
}

impl ContainersConfig {
    /// What a container logs with when `create` is given no `--log-*`.
    pub fn log_defaults(&self) -> Result<LogConfig> {
        let driver = LogConfig::parse_over(LogConfig::default(), Some(&self.log_driver), &[])?.driver;
        let max_size = self.log_size_max.bytes().map_err(Error::new)?;
        Ok(LogConfig { driver, max_size, max_file: Some(self.log_max_files), ..LogConfig::default() })
    }

    /// The capabilities a container starts from, `CAP_` names.
    pub fn capabilities(&self) -> Vec<String> {
        match &self.default_capabilities {
            Some(caps) => caps.clone(),
            None => crate::containers::spec::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// `flags` (`--ulimit`s) over the default ulimits: a default whose
    /// name a flag gives is replaced by it, as podman does.
    pub fn ulimits_with(&self, flags: &[String]) -> Vec<String> {
        let name = |u: &str| u.split_once('=').map_or(u, |(n, _)| n).to_string();
        let given: Vec<String> = flags.iter().map(|u| name(u)).collect();
        self.default_ulimits.iter().filter(|u| !given.contains(&name(u))).chain(flags).cloned().collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// The OCI runtime without `--runtime`: berth's in-process one when
    /// absent or empty.
    pub runtime: Option<String>,
    /// containers.conf's `[engine.runtimes]`: a runtime's name, where its
    /// binary may be (the first that exists is used).
    pub runtimes: BTreeMap<String, Vec<PathBuf>>,
    /// The size past which the events log rotates (`events.rs`): a size
    /// as go-units' `FromHumanSize` reads it (podman's type), or bytes.
    pub events_logfile_max_size: SizeSetting,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            runtime: None,
            runtimes: BTreeMap::new(),
            events_logfile_max_size: SizeSetting::Bytes(crate::events::MAX_LOG_SIZE),
        }
    }
}

impl EngineConfig {
    /// `--runtime NAME|PATH`, or the default when `name` is `None`:
    /// `[engine.runtimes]` first, then as podman finds a runtime.
    pub fn find_runtime(&self, name: Option<&str>) -> Result<Option<OciRuntime>> {
        let Some(name) = name.or(self.runtime.as_deref()).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if let Some(paths) = self.runtimes.get(name) {
            if let Some(path) = paths.iter().find(|p| crate::containers::is_executable(p)) {
                return Ok(Some(OciRuntime { name: name.to_string(), path: path.clone() }));
            }
        }
        crate::containers::find_runtime(name).map(Some)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The storage driver without `--storage-driver`: `overlay` or `vfs`;
    /// absent: the store's own, else overlay where it works.
    pub driver: Option<String>,
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
    CONFIG.get_or_init(|| load(&Sources::from_env())).as_ref().map_err(|e| Error::new(e.clone()))
}

/// A file the configuration is read from, and what of it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// berth.conf: all of it, strictly.
    Berth,
    /// A containers.conf: the [`SHARED_KEYS`], what berth can honour.
    Containers,
    /// A storage.conf: `[storage] driver`, if berth has it.
    Storage,
}

/// The files, lowest first: each overrides the ones before key by key.
#[derive(Debug, Clone, Default)]
struct Sources {
    files: Vec<(PathBuf, Kind)>,
    /// Files that must exist (named by a variable, as podman requires of
    /// `CONTAINERS_CONF`).
    required: Vec<PathBuf>,
}

impl Sources {
    fn from_env() -> Sources {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let mut s = Sources::default();
        match var(CONTAINERS_CONF_VAR) {
            Some(p) => {
                s.required.push(p.clone());
                s.files.push((p, Kind::Containers));
            }
            None => {
                s.files.push((CONTAINERS_CONF.into(), Kind::Containers));
                s.files.extend(drop_ins(Path::new(CONTAINERS_CONF_DIR)).into_iter().map(|p| (p, Kind::Containers)));
            }
        }
        s.files.push((var(STORAGE_CONF_VAR).unwrap_or_else(|| STORAGE_CONF.into()), Kind::Storage));
        match var(PATH_VAR) {
            Some(p) => s.files.push((p, Kind::Berth)),
            None => {
                s.files.push((DEFAULT_PATH.into(), Kind::Berth));
                let user_dir = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
                if let Some(dir) = user_dir {
                    s.files.push((dir.join("berth/berth.conf"), Kind::Berth));
                }
            }
        }
        s
    }
}

/// A directory's `*.conf` files in name order (none when it is missing).
fn drop_ins(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "conf")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn load(sources: &Sources) -> std::result::Result<Config, String> {
    let mut merged = toml::Table::new();
    for (path, kind) in &sources.files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !sources.required.contains(path) => continue,
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let layer = layer(&text, *kind).map_err(|e| format!("{}: {e}", path.display()))?;
        merge(&mut merged, layer);
    }
    check(merged)
}

/// What of a file's text counts, checked on its own so that an error
/// names the file that has it.
fn layer(text: &str, kind: Kind) -> std::result::Result<toml::Table, String> {
    // toml's messages span several lines (a caret under the text): one
    // line is what every berth error is.
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let table = match kind {
        Kind::Berth => table,
        Kind::Containers => honoured(shared(&table, SHARED_KEYS)),
        Kind::Storage => {
            let mut t = shared(&table, &[("storage", "driver")]);
            let known = |v: &toml::Value| v.as_str().is_some_and(|d| matches!(d, "overlay" | "vfs"));
            if let Some(s) = t.get_mut("storage").and_then(|s| s.as_table_mut()) {
                s.retain(|_, v| known(v));
            }
            t
        }
    };
    check(table.clone())?;
    Ok(table)
}

/// Only `keys` of `table`.
fn shared(table: &toml::Table, keys: &[(&str, &str)]) -> toml::Table {
    let mut out = toml::Table::new();
    for (section, key) in keys {
        if let Some(v) = table.get(*section).and_then(|s| s.get(*key)) {
            let s = out.entry(section.to_string()).or_insert_with(|| toml::Table::new().into());
            if let Some(s) = s.as_table_mut() {
                s.insert(key.to_string(), v.clone());
            }
        }
    }
    out
}

/// A containers.conf's log driver that berth does not have (journald,
/// podman's default on systemd hosts) is podman's business: berth keeps
/// its own default rather than refusing to run.
fn honoured(mut table: toml::Table) -> toml::Table {
    if let Some(c) = table.get_mut("containers").and_then(|c| c.as_table_mut()) {
        if c.get("log_driver").and_then(|d| d.as_str()).is_some_and(|d| !matches!(d, "k8s-file" | "json-file" | "none"))
        {
            c.remove("log_driver");
        }
    }
    table
}

/// `top` over `base`, tables key by key, any other value whole.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// One file's text, checked (as the only file).
pub fn parse(text: &str) -> std::result::Result<Config, String> {
    check(layer(text, Kind::Berth)?)
}

/// The settings, checked.
fn check(table: toml::Table) -> std::result::Result<Config, String> {
    let config: Config = table.try_into().map_err(|e: toml::de::Error| e.message().to_string())?;
    let c = &config.containers;
    let mode = c.netns.as_str();
    if !matches!(mode, "bridge" | "private" | "none" | "host") {
        return Err(format!("[containers] netns = {mode:?}: want bridge, private, none or host"));
    }
    c.log_defaults().map_err(|e| format!("[containers] log_driver, log_size_max: {e}"))?;
    if c.log_max_files == 0 {
        return Err("[containers] log_max_files = 0: want 1 or more".into());
    }
    for u in &c.default_ulimits {
        crate::containers::resources::check_ulimit(u).map_err(|e| format!("[containers] default_ulimits: {e}"))?;
    }
    crate::containers::spec::capabilities_from(&c.capabilities(), &[], &[])
        .map_err(|e| format!("[containers] default_capabilities: {e}"))?;
    if let Some(d) = config.storage.driver.as_deref().filter(|d| !matches!(*d, "overlay" | "vfs")) {
        return Err(format!("[storage] driver = {d:?}: want overlay or vfs"));
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
    use crate::containers::logconfig::LogDriver;

    #[test]
    fn defaults_without_a_file() {
        let sources = Sources { files: vec![("/nonexistent/berth.conf".into(), Kind::Berth)], required: vec![] };
        let c = load(&sources).unwrap();
        assert_eq!(c.containers.log_defaults().unwrap().max_size, Some(10_000_000));
        assert_eq!(c.containers.log_defaults().unwrap().max_file, Some(3));
        assert_eq!(c.containers.capabilities().len(), crate::containers::spec::DEFAULT_CAPS.len());
        assert_eq!(c.engine.find_runtime(None).unwrap(), None);
        assert_eq!(c.storage.driver, None);
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

    /// Files of `(text, kind)` in a temporary directory, as sources.
    fn files(texts: &[(&str, Kind)]) -> (tempfile::TempDir, Sources) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sources::default();
        for (i, (text, kind)) in texts.iter().enumerate() {
            let p = dir.path().join(format!("{i}.conf"));
            std::fs::write(&p, text).unwrap();
            s.files.push((p, *kind));
        }
        (dir, s)
    }

    #[test]
    fn files_layer_key_by_key() {
        let (_d, s) = files(&[
            (
                "[containers]\nlog_driver = \"journald\"\nlog_size_max = 2048\ndefault_ulimits = [\"nofile=10:20\"]\n\
                 netns = \"host\"\n[engine]\nruntime = \"runc\"\n[storage]\ndriver = \"vfs\"\n\
                 [network]\ndefault_subnet = \"10.90.0.0/16\"\ndefault_network = \"podman\"\n",
                Kind::Containers,
            ),
            ("[storage]\ndriver = \"btrfs\"\ngraphroot = \"/var/lib/containers/storage\"\n", Kind::Storage),
            ("[containers]\nlog_max_files = 5\n[storage]\ndriver = \"vfs\"\n", Kind::Berth),
            ("[containers]\nlog_driver = \"json-file\"\n[network]\ndefault_subnet = \"10.91.0.0/16\"\n", Kind::Berth),
        ]);
        let c = load(&s).unwrap();
        let log = c.containers.log_defaults().unwrap();
        // journald passed over, json-file from the last file; the size from
        // containers.conf, the count from the first berth.conf.
        assert_eq!((log.driver, log.max_size, log.max_file), (LogDriver::JsonFile, Some(2048), Some(5)));
        assert_eq!(c.containers.default_ulimits, ["nofile=10:20"]);
        assert_eq!(c.engine.runtime.as_deref(), Some("runc"));
        assert_eq!(c.network.default_subnet.to_string(), "10.91.0.0/16");
        // Not shared with podman's files: netns, default_network, storage
        // in a containers.conf, graphroot.
        assert_eq!(c.containers.netns, "bridge");
        assert_eq!(c.network.default_network, "berth");
        assert_eq!(c.storage.driver.as_deref(), Some("vfs"));
        let (_d, s) = files(&[("[storage]\ndriver = \"overlay\"\ngraphroot = \"/x\"\n", Kind::Storage)]);
        assert_eq!(load(&s).unwrap().storage.driver.as_deref(), Some("overlay"));
    }

    #[test]
    fn an_error_names_its_file() {
        let (_d, s) = files(&[("[containers]\ndefault_ulimits = [\"bogus=1\"]\n", Kind::Containers)]);
        let e = load(&s).unwrap_err();
        assert!(e.contains("0.conf: [containers] default_ulimits") && e.contains("bogus"), "{e}");
        let (_d, s) = files(&[("", Kind::Containers), ("[storage]\ndriver = \"zfs\"\n", Kind::Berth)]);
        assert!(load(&s).unwrap_err().contains("1.conf: [storage] driver = \"zfs\""));
        let s = Sources {
            files: vec![("/nonexistent/c.conf".into(), Kind::Containers)],
            required: vec!["/nonexistent/c.conf".into()],
        };
        assert!(load(&s).unwrap_err().starts_with("reading /nonexistent/c.conf"));
    }

    #[test]
    fn capabilities_and_ulimits_defaults() {
        let c = parse("[containers]\ndefault_capabilities = [\"chown\", \"CAP_KILL\"]\ndefault_ulimits = [\"nofile=1:2\", \"nproc=3:4\"]").unwrap();
        let caps = crate::containers::spec::capabilities_from(
            &c.containers.capabilities(),
            &["NET_RAW".into()],
            &["KILL".into()],
        )
        .unwrap();
        assert_eq!(caps, ["CAP_CHOWN", "CAP_NET_RAW"]);
        assert_eq!(c.containers.ulimits_with(&["nproc=5:6".into()]), ["nofile=1:2", "nproc=5:6"]);
        assert!(parse("[containers]\ndefault_capabilities = [\"NOPE\"]").unwrap_err().contains("default_capabilities"));
        assert!(parse("[containers]\nlog_size_max = \"lots\"").unwrap_err().contains("log_size_max"));
        assert_eq!(parse("[containers]\nlog_size_max = -1").unwrap().containers.log_defaults().unwrap().max_size, None);
        assert_eq!(
            parse("[containers]\nlog_size_max = \"1k\"").unwrap().containers.log_defaults().unwrap().max_size,
            Some(1000)
        );
        assert!(parse("[containers]\nlog_max_files = 0").is_err());
    }
}
