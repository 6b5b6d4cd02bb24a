//! Networks as records: what `network create` makes and `network ls`,
//! `inspect`, `rm`, `prune` and `exists` read. Like podman (netavark), a
//! network is a JSON file (`<network_dir>/<name>.json`, podman's inspect
//! shape) and nothing more until a container joins it: the bridge, its
//! address and its firewall rules are made on first use.
//!
//! Networks are the host's, not a store's: berth.conf's `network_dir` and
//! `network_run_dir` (podman's /etc/containers/networks and
//! /run/containers/networks) serve every `--root`, because what a network
//! makes (a bridge, firewall chains named after it, a name server on its
//! gateway) exists once per host. The addresses containers of every store
//! hold are in one database there too (`addresses`).
//!
//! Creating and removing happen under `<network_run_dir>/networks.lock`
//! (exclusive), so two creates cannot both take one name, one interface or
//! one subnet. The default network (`berth`, bridge `berth0`) is never
//! written: it is what every listing shows first and what a container
//! without `--network` joins, as podman's `podman` network.

mod addresses;

pub(crate) use addresses::{Addresses, Holder};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use ipnet::IpNet;
use network::ipam::{self, Subnet};
use serde::{Deserialize, Serialize};
use sys::fs::{Durability, FileLock, LockMode};

use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::Engine;

/// One network, as `network inspect` prints it (podman 4's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// `bridge`, `macvlan` or `ipvlan`.
    pub driver: String,
    /// The bridge (or, for macvlan and ipvlan, the parent interface).
    pub network_interface: String,
    /// RFC 3339 with nanoseconds, as podman writes it.
    pub created: String,
    pub subnets: Vec<Subnet>,
    pub ipv6_enabled: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    pub ipam_options: BTreeMap<String, String>,
    /// For a network a CNI configuration defines (`cni_networks`): its
    /// file. Such a network is never written as a record of berth's.
    #[serde(skip)]
    pub cni_file: Option<PathBuf>,
}

impl Network {
    /// A network a CNI configuration file defines, run by its plugins.
    pub fn is_cni(&self) -> bool {
        self.cni_file.is_some()
    }

    /// The configured default network (`berth` unless berth.conf says).
    pub fn is_default(&self) -> bool {
        crate::config::get().is_ok_and(|c| self.name == c.network.default_network)
    }
}

/// What [`Engine::network_repair`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Firewall rules of networks that are gone (their chains' names).
    pub networks: Vec<String>,
    /// Their bridges.
    pub bridges: Vec<String>,
    /// Published-port rules of containers that are gone or ended.
    pub containers: Vec<String>,
    /// DNS names of such containers (their IDs).
    pub names: Vec<String>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// `None`: the first free `berthN`, as podman names its `podmanN`.
    pub name: Option<String>,
    /// `None`: bridge.
    pub driver: Option<String>,
    /// `--subnet`, with the `--gateway` and `--ip-range` given in the same
    /// position (podman pairs them so).
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub ranges: Vec<String>,
    pub internal: bool,
    pub ipv6: bool,
    pub disable_dns: bool,
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE`: `mtu`, `parent`, `mode`, `isolate`...
    pub options: BTreeMap<String, String>,
    /// `--interface-name` (podman 4.4's): the bridge's name, else the
    /// first free `berthN`.
    pub interface_name: Option<String>,
}

/// podman's rule for network names.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        Ok(())
    } else {
        Err(Error::new(format!(
            "network name {name} invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"
        )))
    }
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!("unable to find network with name or ID {name}: network not found"))
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// A subnet, gateway or range ipam refuses, in its words: podman's own
/// where podman refuses it too, which add no `invalid argument`.
fn invalid(e: network::Error) -> Error {
    Error::new(e.to_string())
}

/// A Linux interface name: 1 to 15 bytes, none of them a slash, a space
/// or a colon.
pub(crate) fn valid_interface_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15 && !name.contains(['/', ' ', ':'])
}

/// The name of the network a container joins without `--network`, and
/// that `--network bridge` names.
pub fn default_network_name() -> Result<&'static str> {
    Ok(&crate::config::get()?.network.default_network)
}

/// The default network, as every listing shows it: berth.conf's name,
/// subnet and bridge, never written to disk.
pub fn default_network() -> Result<Network> {
    let config = &crate::config::get()?.network;
    // berth.conf's reader checked it.
    let subnet = ipam::subnet_from_user(&config.default_subnet.to_string(), None, None).map_err(invalid)?;
    let name = &config.default_network;
    Ok(Network {
        name: name.clone(),
        id: image::digest::Digest::of_bytes(name.as_bytes()).hex().to_string(),
        driver: "bridge".into(),
        network_interface: config.default_interface.clone(),
        // What podman shows for its own default network: when it was first
        // looked at. A constant here, as the network is.
        created: "1970-01-01T00:00:00Z".into(),
        subnets: vec![subnet],
        ipv6_enabled: false,
        internal: false,
        dns_enabled: false,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        ipam_options: BTreeMap::from([("driver".into(), "host-local".into())]),
        cni_file: None,
    })
}

/// A network defined by CNI configuration `net`, in the shape every other
/// network has: its first plugin's type as the driver, its bridge (or
/// parent) as the interface, the subnets of a host-local IPAM (the only
/// ones berth can know before a plugin runs).
fn cni_network(net: &network::cni::CniNetwork) -> Network {
    let first = net.plugins.first().cloned().unwrap_or_default();
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(String::from);
    let interface = text(&first, "bridge").or_else(|| text(&first, "master")).unwrap_or_default();
    let ipam = first.get("ipam").cloned().unwrap_or_default();
    let mut subnets = Vec::new();
    let mut add = |range: &serde_json::Value| {
        if let Some(subnet) = text(range, "subnet").and_then(|s| s.parse::<IpNet>().ok()) {
            let gateway = text(range, "gateway").and_then(|g| g.parse().ok());
            subnets.push(Subnet { subnet: subnet.trunc(), gateway, range: None });
        }
    };
    add(&ipam);
    for set in ipam.get("ranges").and_then(|r| r.as_array()).into_iter().flatten() {
        set.as_array().into_iter().flatten().for_each(&mut add);
    }
    let created = std::fs::metadata(&net.path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    Network {
        name: net.name.clone(),
        id: image::digest::Digest::of_bytes(net.name.as_bytes()).hex().to_string(),
        driver: text(&first, "type").unwrap_or_default(),
        network_interface: interface,
        created: humantime::format_rfc3339_nanos(created).to_string(),
        ipv6_enabled: subnets.iter().any(|s| s.subnet.addr().is_ipv6()),
        subnets,
        internal: false,
        dns_enabled: false,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        ipam_options: text(&ipam, "type").map(|t| BTreeMap::from([("driver".into(), t)])).unwrap_or_default(),
        cni_file: Some(net.path.clone()),
    }
}

impl Engine {
    /// berth.conf's `network_dir`: the networks' records.
    fn networks_dir(&self) -> Result<PathBuf> {
        let dir = crate::config::get()?.network.network_dir.clone();
        self.adopt_store_networks(&dir)?;
        Ok(dir)
    }

    /// berth.conf's `network_run_dir`, made (closed to other users).
    pub(crate) fn network_run_dir(&self) -> Result<PathBuf> {
        let dir = crate::config::get()?.network.network_run_dir.clone();
        configured_dir(&dir)?;
        Ok(dir)
    }

    fn networks_lock(&self) -> Result<FileLock> {
        let p = self.network_run_dir()?.join("networks.lock");
        FileLock::acquire(&p, LockMode::Exclusive).ctx(|| format!("locking {}", p.display()))
    }

    /// The host's address database (`addresses`).
    pub(crate) fn addresses(&self) -> Result<Addresses> {
        Addresses::open(&self.network_run_dir()?)
    }

    /// Container `id` of this store, as the address database names it.
    pub(crate) fn address_holder(&self, id: &str) -> Holder {
        Holder { store: self.root.display().to_string(), container: id.to_string() }
    }

    /// Containers of other stores holding addresses on network `name`
    /// (running ones).
    fn other_stores_on(&self, name: &str) -> Result<Vec<Holder>> {
        self.addresses()?.others(&self.root.display().to_string(), Some(name))
    }

    /// Earlier versions kept networks in the store (`<root>/networks`):
    /// move those records to the host's `dir`, once. A name the host has
    /// already keeps the host's record, and the store's is left, renamed
    /// `<name>.json.unmoved`, with a warning.
    fn adopt_store_networks(&self, dir: &std::path::Path) -> Result<()> {
        let old = self.root.join("networks");
        if old == dir || !old.is_dir() {
            return Ok(());
        }
        configured_dir(dir)?;
        let _lock = self.networks_lock()?;
        let entries = match std::fs::read_dir(&old) {
            Ok(e) => e,
            // Another process moved them meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::caused(format_args!("listing {}", old.display()), e)),
        };
        for e in entries.flatten() {
            let from = e.path();
            let to = dir.join(e.file_name());
            if e.file_name().to_str().is_none_or(|n| !n.ends_with(".json")) {
                continue;
            }
            if to.exists() {
                tracing::warn!(
                    "network record {} is another than {}'s: left as .unmoved",
                    from.display(),
                    to.display()
                );
                let aside = from.with_extension("json.unmoved");
                std::fs::rename(&from, &aside).ctx(|| format!("renaming {}", from.display()))?;
                continue;
            }
            let bytes = sys::fs::read_regular(&from, 1 << 20).ctx(|| format!("reading {}", from.display()))?;
            sys::fs::write_atomic(&to, &bytes, 0o600, Durability::Durable)
                .ctx(|| format!("writing {}", to.display()))?;
            std::fs::remove_file(&from).ctx(|| format!("removing {}", from.display()))?;
        }
        // Left: what was not a record, or set aside.
        if std::fs::remove_dir(&old).is_err() {
            let aside = self.root.join("networks.unmoved");
            std::fs::rename(&old, &aside).ctx(|| format!("renaming {}", old.display()))?;
        }
        Ok(())
    }

    /// Every network, the default first, then by name: berth's own and
    /// those CNI configurations define.
    pub fn networks(&self) -> Result<Vec<Network>> {
        let mut out = self.user_networks()?;
        let default = default_network()?;
        // A record of the same name (written before berth.conf renamed the
        // default) is shadowed: `bridge` means the configured network.
        out.retain(|n| n.name != default.name);
        out.insert(0, default);
        for n in self.cni_networks()? {
            // berth's own network of that name wins (and `network create`
            // refuses a name a CNI network has).
            if out.iter().any(|o| o.name == n.name) {
                tracing::warn!(
                    "CNI network {} ({}) is shadowed by berth's own network",
                    n.name,
                    n.cni_file.as_ref().map_or(String::new(), |p| p.display().to_string())
                );
            } else {
                out.push(n);
            }
        }
        out[1..].sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The networks of berth.conf's `network_config_dir` (CNI
    /// configuration lists; files berth cannot run are skipped with a
    /// warning).
    fn cni_networks(&self) -> Result<Vec<Network>> {
        let dir = &crate::config::get()?.network.network_config_dir;
        let nets = network::cni::load_dir(dir).map_err(|e| Error::new(e.to_string()))?;
        Ok(nets.iter().map(cni_network).collect())
    }

    /// What runs a CNI network's plugins, its results cached under the
    /// runroot (they are what DEL needs; they go with a reboot, as the
    /// containers do).
    pub(crate) fn cni_runner(&self) -> Result<network::cni::Runner> {
        let dirs = crate::config::get()?.network.cni_plugin_dirs.clone();
        Ok(network::cni::Runner::new(dirs, self.runroot.join("cni")))
    }

    fn user_networks(&self) -> Result<Vec<Network>> {
        let dir = self.networks_dir()?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::caused(format_args!("listing {}", dir.display()), e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if let Some(n) = self.read_network(name)? {
                out.push(n);
            }
        }
        Ok(out)
    }

    fn read_network(&self, name: &str) -> Result<Option<Network>> {
        if validate_name(name).is_err() {
            return Ok(None);
        }
        let path = self.networks_dir()?.join(format!("{name}.json"));
        let bytes = match sys::fs::read_regular(&path, 1 << 20) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::caused(format_args!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes).map(Some).ctx(|| format!("reading {}", path.display()))
    }

    /// One network by name, full ID or unique ID prefix.
    pub fn network(&self, name_or_id: &str) -> Result<Network> {
        // By name first, the common case (a starting container's networks),
        // without listing every network.
        let default = default_network()?;
        if default.name == name_or_id {
            return Ok(default);
        }
        if let Some(n) = self.read_network(name_or_id)? {
            return Ok(n);
        }
        let all = self.networks()?;
        if let Some(n) = all.iter().find(|n| n.name == name_or_id) {
            return Ok(n.clone());
        }
        let by_id: Vec<&Network> =
            all.iter().filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id)).collect();
        match by_id.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_found(name_or_id)),
            _ => Err(Error::new(format!("more than one result for network ID {name_or_id}: network not found"))),
        }
    }

    pub fn network_exists(&self, name_or_id: &str) -> Result<bool> {
        match self.network(name_or_id) {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Make a network's record.
    pub fn network_create(&self, opts: &NetworkOptions) -> Result<Network> {
        let driver = opts.driver.clone().unwrap_or_else(|| "bridge".into());
        match driver.as_str() {
            "bridge" | "macvlan" => {}
            "ipvlan" => {
                if !network::netlink::kernel_has_ipvlan().map_err(|e| Error::new(e.to_string()))? {
                    return Err(Error::new(
                        "ipvlan networks need a kernel built with ipvlan support (CONFIG_IPVLAN), which this one lacks: use -d macvlan or -d bridge",
                    ));
                }
            }
            other => return Err(Error::new(format!("unsupported driver {other}: invalid argument"))),
        }
        check_options(&driver, &opts.options)?;
        if let Some(name) = &opts.name {
            validate_name(name)?;
        }
        let dir = self.networks_dir()?;
        configured_dir(&dir)?;
        let _lock = self.networks_lock()?;
        let existing = self.networks()?;
        let name = match &opts.name {
            Some(n) => {
                if existing.iter().any(|e| &e.name == n) {
                    let mut e = Error::new(format!("network name {n} already used: network already exists"));
                    e.kind = ErrorKind::InUse;
                    return Err(e);
                }
                n.clone()
            }
            None => first_free(&existing, |n| n.name.as_str()),
        };
        let interface = match driver.as_str() {
            "bridge" => match &opts.interface_name {
                Some(b) => {
                    if !valid_interface_name(b) {
                        return Err(Error::new(format!("invalid interface name {b:?}: invalid argument")));
                    }
                    if existing.iter().any(|n| &n.network_interface == b) {
                        return Err(Error::new(format!("bridge name {b} already in use: network already exists")));
                    }
                    b.clone()
                }
                None => first_free(&existing, |n| n.network_interface.as_str()),
            },
            _ => self.parent_interface(opts.options.get("parent"))?,
        };
        // podman leaves a macvlan network without a subnet to DHCP; berth
        // has no DHCP client, and says so now rather than at the first run.
        if driver != "bridge" && opts.subnets.is_empty() {
            return Err(Error::new(format!(
                "{driver} driver needs at least one subnet specified, DHCP is not yet supported with berth"
            )));
        }
        let subnets = self.subnets_for(opts, &existing)?;
        let id = crate::containers::new_id()?;
        let network = Network {
            name,
            id,
            driver: driver.clone(),
            network_interface: interface,
            created: now_rfc3339(),
            ipv6_enabled: opts.ipv6 || subnets.iter().any(|s| s.subnet.addr().is_ipv6()),
            subnets,
            internal: opts.internal,
            // berth resolves names on a user bridge network itself (podman
            // 4 with netavark does so too); macvlan and ipvlan containers
            // are not behind a bridge of ours to answer on.
            dns_enabled: driver == "bridge" && !opts.disable_dns,
            labels: opts.labels.clone(),
            options: opts.options.clone(),
            ipam_options: BTreeMap::from([("driver".into(), "host-local".into())]),
            cni_file: None,
        };
        let path = dir.join(format!("{}.json", network.name));
        let bytes = serde_json::to_vec_pretty(&network).ctx(|| "encoding a network".into())?;
        sys::fs::write_atomic(&path, &bytes, 0o600, Durability::Durable)
            .ctx(|| format!("writing {}", path.display()))?;
        crate::events::network(self.runroot(), crate::events::Status::Create, &network.id, &network.name);
        Ok(network)
    }

    /// The subnets a new network gets: those asked for, checked against
    /// every other network's and the host's own, or the first free /24.
    fn subnets_for(&self, opts: &NetworkOptions, existing: &[Network]) -> Result<Vec<Subnet>> {
        // podman's three refusals, in its words.
        if opts.subnets.is_empty() && !(opts.gateways.is_empty() && opts.ranges.is_empty()) {
            return Err(Error::new("cannot set gateway or range without subnet"));
        }
        if opts.gateways.len() > opts.subnets.len() {
            return Err(Error::new("cannot set more gateways than subnets"));
        }
        if opts.ranges.len() > opts.subnets.len() {
            return Err(Error::new("cannot set more ranges than subnets"));
        }
        let mut taken: Vec<(String, IpNet)> =
            existing.iter().flat_map(|n| n.subnets.iter().map(|s| (n.name.clone(), s.subnet))).collect();
        // The host's own addresses: a bridge network over one would route
        // the host's neighbours into the bridge. (A macvlan or ipvlan
        // network is on its parent's link: its subnet is the host's LAN's.)
        let bridged = opts.driver.as_deref().is_none_or(|d| d.is_empty() || d == "bridge");
        for a in sys::net::interface_addresses().ctx(|| "listing the host's addresses".into())? {
            let net = IpNet::from(a.addr);
            if bridged && !a.addr.is_loopback() && !is_link_local(&net) {
                taken.push((format!("the host's interface {}", a.interface), net));
            }
        }
        let mut out = Vec::new();
        for (i, s) in opts.subnets.iter().enumerate() {
            let subnet = ipam::subnet_from_user(
                s,
                opts.gateways.get(i).map(String::as_str),
                opts.ranges.get(i).map(String::as_str),
            )
            .map_err(invalid)?;
            // podman's sentence (ipam's names the other network as well).
            ipam::check_no_overlap(&subnet.subnet, &taken).map_err(|_| {
                Error::new(format!("subnet {} is already used on the host or by another config", subnet.subnet))
            })?;
            taken.push(("this network".into(), subnet.subnet));
            out.push(subnet);
        }
        let used: Vec<IpNet> = taken.iter().map(|(_, n)| *n).collect();
        // As podman: an IPv4 subnet of its own unless one was given, or
        // only IPv6 ones were without --ipv6 (an IPv6-only network).
        let has_v4 = out.iter().any(|s| s.subnet.addr().is_ipv4());
        if !has_v4 && (out.is_empty() || opts.ipv6) {
            let subnet = ipam::free_subnet(&used).map_err(|e| Error::new(e.to_string()))?;
            out.push(ipam::subnet_from_user(&subnet.to_string(), None, None).map_err(invalid)?);
        }
        if opts.ipv6 && !out.iter().any(|s| s.subnet.addr().is_ipv6()) {
            let mut random = [0u8; 5];
            getrandom::fill(&mut random).map_err(|e| Error::new(format!("generating a subnet: {e}")))?;
            let subnet = ipam::free_ipv6_subnet(&used, random);
            out.push(ipam::subnet_from_user(&subnet.to_string(), None, None).map_err(invalid)?);
        }
        Ok(out)
    }

    /// A macvlan or ipvlan network's parent: the one given, which must
    /// exist; none (podman's too) means the host's default route's, found
    /// when a container joins.
    fn parent_interface(&self, given: Option<&String>) -> Result<String> {
        let Some(p) = given else { return Ok(String::new()) };
        let mut nl = network::netlink::Netlink::open().map_err(|e| Error::new(e.to_string()))?;
        match nl.link(p).map_err(|e| Error::new(e.to_string()))? {
            Some(_) => Ok(p.clone()),
            None => Err(Error::new(format!("parent interface {p} does not exist"))),
        }
    }

    /// Remove network `name`, refused while a container is on it. The
    /// default network cannot be removed.
    pub fn network_remove(&self, name_or_id: &str) -> Result<Network> {
        self.remove_network_with(name_or_id, None)
    }

    /// [`Engine::network_remove`], removing the containers on it first
    /// (`network rm -f`), each stopped within `stop_timeout`.
    pub fn network_remove_forced(&self, name_or_id: &str, stop_timeout: std::time::Duration) -> Result<Network> {
        self.remove_network_with(name_or_id, Some(stop_timeout))
    }

    /// The containers recorded on network `name`.
    pub fn network_users(&self, name: &str) -> Result<Vec<crate::containers::Container>> {
        Ok(self
            .container_records()?
            .into_iter()
            .filter(|c| c.isolation.networks.iter().any(|a| a.network == name))
            .collect())
    }

    fn remove_network_with(&self, name_or_id: &str, force: Option<std::time::Duration>) -> Result<Network> {
        let n = self.network(name_or_id)?;
        if n.is_default() {
            return Err(Error::new(format!("default network {} cannot be removed", n.name)));
        }
        if let Some(file) = &n.cni_file {
            // Its file is the host's (an administrator's, a cluster's), not
            // berth's to delete.
            return Err(Error::new(format!(
                "network {} is defined by CNI configuration {}: remove that file to remove it",
                n.name,
                file.display()
            )));
        }
        // Another store's containers on it: not this store's to remove
        // (`-f` neither), and the bridge under them must stay.
        if let Some(h) = self.other_stores_on(&n.name)?.first() {
            return Err(Error::in_use(format!(
                "\"{}\" has associated containers with it: container {} of store {} is on it: network is being used",
                n.name, h.container, h.store
            )));
        }
        let users = self.network_users(&n.name)?;
        match force {
            None if !users.is_empty() => {
                return Err(Error::in_use(format!(
                    "\"{}\" has associated containers with it. Use -f to forcibly delete containers and pods: network is being used",
                    n.name
                )));
            }
            Some(timeout) => {
                for c in &users {
                    self.remove_container(c, true, timeout, false)?;
                }
            }
            None => {}
        }
        let _lock = self.networks_lock()?;
        let path = self.networks_dir()?.join(format!("{}.json", n.name));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(name_or_id)),
            Err(e) => return Err(Error::caused(format_args!("removing {}", path.display()), e)),
        }
        // What its first user made: its rules and its bridge.
        network::firewall::remove_network(&n.name).map_err(|e| Error::new(e.to_string()))?;
        if n.driver == "bridge" {
            let mut nl = network::netlink::Netlink::open().map_err(|e| Error::new(e.to_string()))?;
            if let Some(l) = nl.link(&n.network_interface).map_err(|e| Error::new(e.to_string()))? {
                nl.delete_link(l.index).map_err(|e| Error::new(e.to_string()))?;
            }
        }
        crate::events::network(self.runroot(), crate::events::Status::Remove, &n.id, &n.name);
        Ok(n)
    }

    /// Find and remove what a crash (of a removal, of a monitor) left:
    /// firewall rules of networks and containers that are gone, the
    /// bridges of such networks, DNS names of containers that do not run.
    /// `network prune` and `network reload` call it.
    pub fn network_repair(&self) -> Result<Repaired> {
        use crate::containers::State;
        let networks = self.networks()?;
        let containers = self.containers()?;
        // Rules and names are a running container's, made by its monitor
        // before the record says so: a created (or initialized) one may
        // be starting, and counts as live.
        let mut live: Vec<&str> = containers
            .iter()
            .filter(|c| !matches!(c.state, State::Exited | State::Configured))
            .map(|c| c.id.as_str())
            .collect();
        // Other stores' running containers hold addresses: their rules
        // and names are in the same table and directory, and stay.
        let others = self.addresses()?.others(&self.root.display().to_string(), None)?;
        live.extend(others.iter().map(|h| h.container.as_str()));
        let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
        let fail = |e: network::Error| Error::new(format!("repairing the networks: {e}"));
        let stale = network::firewall::stale(&names, &live).map_err(fail)?;
        let mut done = Repaired::default();
        let mut nl = None;
        for (network, bridges) in stale.networks {
            network::firewall::remove_network(&network).map_err(fail)?;
            for b in bridges {
                if networks.iter().any(|n| n.network_interface == b) {
                    continue;
                }
                let nl = match &mut nl {
                    Some(nl) => nl,
                    None => nl.insert(network::netlink::Netlink::open().map_err(fail)?),
                };
                if let Some(l) = nl.link(&b).map_err(fail)? {
                    nl.delete_link(l.index).map_err(fail)?;
                    done.bridges.push(b);
                }
            }
            done.networks.push(network);
        }
        for c in stale.containers {
            network::firewall::remove_ports(&c).map_err(fail)?;
            done.containers.push(c);
        }
        let dns = self.dns_dir()?;
        done.names = network::dns::keep_only(&dns, &names, &live)
            .map_err(|e| Error::caused(format_args!("repairing {}", dns.display()), e))?;
        if done != Repaired::default() {
            tracing::info!("repaired what a crash left: {done:?}");
        }
        Ok(done)
    }

    /// Remove every user network no container is on; their names.
    pub fn network_prune(&self) -> Result<Vec<String>> {
        self.network_prune_where(|_| true)
    }

    /// [`Engine::network_prune`] of the networks `pick` takes (`system prune`'s filters).
    pub fn network_prune_where(&self, pick: impl Fn(&Network) -> bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.user_networks()? {
            if !pick(&n) || !self.network_users(&n.name)?.is_empty() || !self.other_stores_on(&n.name)?.is_empty() {
                continue;
            }
            self.network_remove(&n.name)?;
            removed.push(n.name);
        }
        removed.sort();
        Ok(removed)
    }
}

/// A directory berth.conf names, made (closed to other users) if missing.
/// One that exists is the administrator's and is left as it is: closing
/// an existing directory named there (`/run`, say) would lock the host's
/// users out of it.
fn configured_dir(dir: &std::path::Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    sys::fs::create_private_dir(dir, 0o700).ctx(|| format!("creating {}", dir.display()))
}

fn is_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The first `berthN` (N from 1) that no network has as `field`.
fn first_free(existing: &[Network], field: impl Fn(&Network) -> &str) -> String {
    (1..)
        .map(|i| format!("berth{i}"))
        .find(|candidate| !existing.iter().any(|n| field(n) == candidate))
        .unwrap_or_else(|| "berth".into())
}

/// The `-o` options each driver takes, with their values checked.
fn check_options(driver: &str, options: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in options {
        let ok = match (driver, key.as_str()) {
            (_, "mtu") => value.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m)),
            ("bridge", "isolate") => matches!(value.as_str(), "true" | "false" | "strict"),
            ("macvlan" | "ipvlan", "parent") => true,
            ("macvlan", "mode") => matches!(value.as_str(), "bridge" | "private" | "vepa" | "passthru"),
            ("ipvlan", "mode") => matches!(value.as_str(), "l2" | "l3" | "l3s"),
            _ => return Err(Error::new(format!("unsupported {driver} network option {key}"))),
        };
        if !ok {
            return Err(Error::new(option_refusal(driver, key, value)));
        }
    }
    Ok(())
}

/// Why `-o KEY=VALUE` is refused: podman's words where podman refuses the
/// value too (its Go parsers' errors), else which value is wrong (an MTU
/// podman would take but no link can have, an `isolate` of later podman's).
fn option_refusal(driver: &str, key: &str, value: &str) -> String {
    let go_bool = ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"];
    match key {
        "mtu" => match value.parse::<i64>() {
            Err(_) => format!("strconv.Atoi: parsing {value:?}: invalid syntax"),
            Ok(m) if m < 0 => format!("mtu {m} is less than zero"),
            Ok(_) => format!("invalid value {value:?} for {driver} network option mtu: invalid argument"),
        },
        "isolate" if !go_bool.contains(&value) => format!("strconv.ParseBool: parsing {value:?}: invalid syntax"),
        "mode" => format!("unknown {driver} mode {value:?}"),
        _ => format!("invalid value {value:?} for {driver} network option {key}: invalid argument"),
    }
}
