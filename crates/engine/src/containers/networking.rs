//! A container's networks: `--network NAME[:ip=..,mac=..,alias=..]`
//! (several for bridge networks), wired by its monitor at each start.
//!
//! The runtime gives the container a network namespace of its own; between
//! the runtime's create (the namespace exists, the process waits) and its
//! start, the monitor
//! 1. makes the network's bridge, its gateway address and its firewall
//!    rules if they are not there yet (once per network and boot: a bridge
//!    that is up says the rest was done, under the network's lock),
//! 2. takes an address for the container from the network's subnet,
//!    recorded in the database (one writer at a time, so two containers
//!    never get one address),
//! 3. makes a veth pair with one end on the bridge and the other made
//!    directly inside the container's namespace as `eth0` (`eth1`...), and
//!    gives that its address and the default route.
//!
//! Nothing has to be undone on the critical path when the container ends:
//! its namespace dies with its last process and the kernel takes the veth
//! pair with it; the monitor gives the address back after telling the exit.

use std::net::IpAddr;
use std::os::fd::AsFd as _;

use ipnet::IpNet;
use network::ipam;
use network::netlink::{MacvlanMode, Netlink};
use serde::{Deserialize, Serialize};
use sys::fs::FileLock;

use super::isolation::NsMode;
use super::{change, Container, State};
use crate::error::{Context as _, Error, Result};
use crate::networks::Network;
use crate::Engine;

/// The name server's binary, beside berth (`src/bin/berth-dns.rs`).
pub(super) const DNS_BINARY: &str = "berth-dns";
/// How berth tells its monitors where that binary is.
pub(super) const DNS_VAR: &str = "BERTH_DNS_SERVER";

/// A network a container joins, as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// `--ip`, `--ip6` / `:ip=`: these addresses (one per family), not
    /// the next free ones.
    pub ips: Vec<IpAddr>,
    /// `--mac-address` / `:mac=`.
    pub mac: Option<String>,
    /// `--network-alias` / `:alias=`: more names the network's DNS answers.
    pub aliases: Vec<String>,
}

/// What `--dns`, `--dns-search`, `--dns-option`, `--add-host` and
/// `--no-hosts` ask of a container's /etc/resolv.conf and /etc/hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NameOptions {
    /// Its only nameservers (not the host's, nor its network's).
    pub servers: Vec<IpAddr>,
    /// Its search domains instead of the host's (`.`: none).
    pub search: Vec<String>,
    /// Its resolver options instead of the host's.
    pub options: Vec<String>,
    /// Lines put first in /etc/hosts: names and their address.
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// No /etc/hosts of berth's: the image's stays.
    pub no_hosts: bool,
}

impl NameOptions {
    /// `--add-host NAME:IP` (several names as `a;b:IP`), podman's message
    /// for a bad one.
    pub fn parse_add_host(text: &str) -> Result<(String, IpAddr)> {
        let bad = || Error::new(format!("bad format for add-host: {text:?}"));
        let (names, ip) = text.split_once(':').ok_or_else(bad)?;
        if names.is_empty() {
            return Err(bad());
        }
        let ip: IpAddr = ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| Error::new(format!("invalid IP address in add-host: {ip:?}")))?;
        Ok((names.replace(';', " "), ip))
    }

    /// `--dns IP`, podman's message for a bad one.
    pub fn parse_server(text: &str) -> Result<IpAddr> {
        text.parse().map_err(|_| Error::new(format!("{text} is not an ip address")))
    }
}

/// What a container got on one network at its last start (podman's
/// NetworkSettings.Networks entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatus {
    pub network: String,
    /// Its interface inside the container (`eth0`...).
    pub interface: String,
    /// Its end of the veth pair on the host (none for macvlan).
    #[serde(default)]
    pub host_interface: String,
    /// One per subnet of the network (IPv4 and IPv6 on a dual-stack one).
    pub addresses: Vec<IpNet>,
    /// Their subnets' gateways, in the same order.
    pub gateways: Vec<Option<IpAddr>>,
    pub mac: String,
}

impl NetworkStatus {
    /// Its address of one family, with that subnet's gateway.
    pub fn of_family(&self, v4: bool) -> Option<(IpNet, Option<IpAddr>)> {
        let i = self.addresses.iter().position(|a| a.addr().is_ipv4() == v4)?;
        Some((self.addresses[i], self.gateways.get(i).copied().flatten()))
    }
}

/// `--network`, given zero or more times: the namespace mode and, for
/// networks, which ones (podman: one mode, unless every value names a
/// network). `bridge` and `private` name the default network.
pub fn parse_networks(values: &[String]) -> Result<(NsMode, Vec<Attachment>)> {
    let mut attachments = Vec::new();
    for v in values {
        let (name, opts) = v.split_once(':').unwrap_or((v, ""));
        let mode = match name {
            "none" | "host" | "container" | "ns" => Some(name),
            "slirp4netns" | "pasta" => {
                return Err(Error::new(format!(
                    "network mode {name} is not supported by berth (it runs as root: use a bridge network)"
                )));
            }
            _ => None,
        };
        if let Some(mode) = mode {
            if values.len() > 1 {
                return Err(Error::new(format!(
                    "cannot set multiple networks without bridge network mode, selected mode {mode}: invalid argument"
                )));
            }
            return Ok((super::isolation::parse_ns(super::isolation::NsKind::Network, v)?, Vec::new()));
        }
        let network =
            if matches!(name, "bridge" | "private") { crate::networks::default_network_name()? } else { name };
        let mut a = Attachment { network: network.to_string(), ..Attachment::default() };
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt.split_once('=') {
                Some(("ip" | "ip6", ip)) => {
                    a.ips.push(ip.parse().map_err(|_| Error::new(format!("{ip:?} is not an ip address")))?);
                }
                Some(("mac", mac)) => a.mac = Some(parse_mac(mac)?),
                Some(("alias", alias)) => a.aliases.push(check_alias(alias)?),
                Some(("interface_name", _)) | None | Some(_) => {
                    return Err(Error::new(format!("unknown bridge network option: {opt}: invalid argument")));
                }
            }
        }
        if attachments.iter().any(|b: &Attachment| b.network == a.network) {
            return Err(Error::new(format!("network {} given twice: invalid argument", a.network)));
        }
        attachments.push(a);
    }
    if attachments.is_empty() {
        // No --network: berth.conf's `netns`, the default network unless
        // it says otherwise.
        return match crate::config::get()?.containers.netns.as_str() {
            "none" => Ok((NsMode::None, attachments)),
            "host" => Ok((NsMode::Host, attachments)),
            _ => parse_networks(&["bridge".to_string()]),
        };
    }
    Ok((NsMode::Private, attachments))
}

/// A network alias: a name the network's DNS answers, so a name (berth
/// is stricter than podman, which takes any text and writes it into its
/// DNS server's files as it is).
pub fn check_alias(alias: &str) -> Result<String> {
    let mut bytes = alias.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if first_ok && alias.len() <= 253 && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        Ok(alias.to_string())
    } else {
        Err(Error::new(format!(
            "invalid network alias {alias:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"
        )))
    }
}

/// A MAC address as podman takes it (six hex pairs), normalised.
pub fn parse_mac(text: &str) -> Result<String> {
    let bytes = mac_octets(text).ok_or_else(|| Error::new(format!("invalid MAC address {text}: invalid argument")))?;
    if bytes[0] & 1 == 1 {
        return Err(Error::new(format!("{text} is a multicast address: invalid argument")));
    }
    Ok(ipam::format_mac(&bytes))
}

/// One network of a starting container, before its namespace is wired.
pub(super) struct Planned {
    network: Network,
    /// It is the container's `eth<index>`; the first has the default route.
    index: usize,
    /// An address in each of the network's subnets, with its gateway.
    addresses: Vec<(IpNet, Option<IpAddr>)>,
    mac: Option<[u8; 6]>,
}

impl Planned {
    /// On a CNI network: its plugins give the addresses, at ADD.
    pub(super) fn is_cni(&self) -> bool {
        self.network.is_cni()
    }

    /// Its first address, and that subnet's gateway.
    pub(super) fn first(&self) -> Option<(IpAddr, Option<IpAddr>)> {
        self.addresses.first().map(|(a, g)| (a.addr(), *g))
    }
}

impl Engine {
    /// At create: every network named exists and takes the addresses asked
    /// for.
    pub(super) fn check_attachments(&self, attachments: &[Attachment]) -> Result<()> {
        for a in attachments {
            let n = self.network(&a.network)?;
            if n.is_cni() && n.subnets.is_empty() {
                // Its IPAM is a plugin's, which says at ADD.
                continue;
            }
            for &ip in &a.ips {
                // podman's message names the network.
                if !n.subnets.iter().any(|s| s.subnet.contains(&ip)) {
                    return Err(Error::new(format!(
                        "requested static ip {ip} not in any subnet on network {}",
                        n.name
                    )));
                }
                ipam::parse_static_ip(&ip.to_string(), &n.subnets).map_err(|e| Error::new(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Before the runtime's create: an address on each of `c`'s networks.
    pub(super) fn plan_networks(&self, c: &Container) -> Result<Vec<Planned>> {
        if c.isolation.networks.is_empty() {
            return Ok(Vec::new());
        }
        let addresses = self.addresses()?;
        c.isolation.networks.iter().enumerate().map(|(i, a)| self.plan_one(&addresses, c, i, a)).collect()
    }

    /// An address on each subnet of network `a` for `c`, to be its `eth<index>`.
    fn plan_one(
        &self,
        held: &crate::networks::Addresses,
        c: &Container,
        index: usize,
        a: &Attachment,
    ) -> Result<Planned> {
        let network = self.network(&a.network)?;
        let mac = a.mac.as_deref().map(mac_bytes).transpose()?;
        if network.is_cni() {
            // Its plugins give the addresses (at ADD, in `wire_networks`).
            return Ok(Planned { addresses: Vec::new(), index, mac, network });
        }
        if network.subnets.is_empty() {
            return Err(Error::new(format!("network {} has no subnet", network.name)));
        }
        let mut addresses = Vec::new();
        for subnet in &network.subnets {
            let wanted = a.ips.iter().copied().find(|ip| subnet.subnet.contains(ip));
            // This store's rows of containers it no longer records are
            // stale (removed while their monitor was killed).
            let recorded = |id: &str| Ok(self.db()?.get(id)?.is_some());
            let holder = self.address_holder(&c.id);
            let address = held.allocate(&network.name, &subnet.subnet, &holder, recorded, |used| match wanted {
                Some(ip) if used.contains(&ip) => Err(Error::in_use(format!(
                    "IPAM error: requested ip address {ip} is already allocated to another container"
                ))),
                Some(ip) => Ok(ip),
                None => ipam::allocate(subnet, used).map_err(|e| Error::new(e.to_string())),
            })?;
            let address = IpNet::new(address, subnet.subnet.prefix_len())
                .map_err(|e| Error::new(format!("address {address}: {e}")))?;
            addresses.push((address, subnet.gateway));
        }
        Ok(Planned { addresses, index, mac, network })
    }

    /// Between the runtime's create and start: wire the namespace of the
    /// container whose init is `pid` to the networks planned.
    pub(super) fn wire_networks(&self, c: &Container, planned: &[Planned], pid: i32) -> Result<Vec<NetworkStatus>> {
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        let ns = super::loopback::net_namespace(pid)?;
        let mut host = Netlink::open().map_err(net_error)?;
        let mut inside = Netlink::open_in(ns.as_fd()).map_err(net_error)?;
        let mut out = Vec::new();
        for p in planned {
            match self.wire_one(c, p, pid, ns.as_fd(), &mut host, &mut inside) {
                Ok(status) => out.push(status),
                Err(e) => {
                    // What this call's CNI plugins made goes too (a veth
                    // dies with the namespace; a CNI network's leases and
                    // rules would not).
                    for (s, p) in out.iter().zip(planned).filter(|(_, p)| p.network.is_cni()) {
                        self.cni_del(c, &p.network, s);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Wire `c`'s namespace `ns` to planned network `p` (`host` and
    /// `inside`: netlink sockets in the host's namespace and in `ns`).
    fn wire_one(
        &self,
        c: &Container,
        p: &Planned,
        pid: i32,
        ns: std::os::fd::BorrowedFd,
        host: &mut Netlink,
        inside: &mut Netlink,
    ) -> Result<NetworkStatus> {
        let i = p.index;
        let interface = format!("eth{i}");
        if p.network.is_cni() {
            let asked = c.isolation.networks.iter().find(|a| a.network == p.network.name);
            return self.cni_add(c, p, pid, asked.map_or(&[][..], |a| &a.ips));
        }
        let mtu = p.network.options.get("mtu").and_then(|m| m.parse().ok());
        let host_interface = match p.network.driver.as_str() {
            "bridge" => {
                let bridge = self.prepare_bridge(host, &p.network)?;
                // Unique per container and network, within IFNAMSIZ.
                let name = format!("veth{}{i}", &c.id[..10]);
                host.add_veth(&name, &interface, ns, mtu, Some(bridge)).map_err(net_error)?;
                let index = host.index_of(&name).map_err(net_error)?;
                host.set_up(index).map_err(net_error)?;
                name
            }
            "macvlan" => {
                let parent = host.index_of(&p.network.network_interface).map_err(net_error)?;
                let mode = match p.network.options.get("mode").map(String::as_str) {
                    Some("private") => MacvlanMode::Private,
                    Some("vepa") => MacvlanMode::Vepa,
                    Some("passthru") => MacvlanMode::Passthru,
                    _ => MacvlanMode::Bridge,
                };
                host.add_macvlan(&interface, parent, mode, ns, mtu).map_err(net_error)?;
                String::new()
            }
            other => return Err(Error::new(format!("network driver {other} is not supported by berth yet"))),
        };
        let index = inside.index_of(&interface).map_err(net_error)?;
        if !host_interface.is_empty() {
            // Both ends of the pair. (Not the bridge: its limits are
            // its ports' least, and the way out of a container, to
            // the host or beyond, is its sending end's.)
            inside.set_gso_max(index, BIG_TCP).map_err(net_error)?;
            let h = host.index_of(&host_interface).map_err(net_error)?;
            host.set_gso_max(h, BIG_TCP).map_err(net_error)?;
        }
        if let Some(mac) = p.mac {
            inside.set_mac(index, mac).map_err(net_error)?;
        }
        for (address, _) in &p.addresses {
            inside.add_address(index, *address).map_err(net_error)?;
        }
        inside.set_up(index).map_err(net_error)?;
        // The first network's gateways are the default routes.
        if i == 0 && !p.network.internal {
            for (_, gw) in &p.addresses {
                if let Some(gw) = gw {
                    inside.add_default_route(*gw).map_err(net_error)?;
                }
            }
        }
        let mac = inside.link(&interface).map_err(net_error)?.and_then(|l| l.mac).unwrap_or_default();
        Ok(NetworkStatus {
            network: p.network.name.clone(),
            interface: interface.clone(),
            host_interface,
            addresses: p.addresses.iter().map(|(a, _)| *a).collect(),
            gateways: p.addresses.iter().map(|(_, g)| *g).collect(),
            mac: ipam::format_mac(&mac),
        })
    }

    /// Run CNI network `p`'s plugins (ADD) for `c`, whose init is `pid`:
    /// its `eth<index>`, with the published ports on its first network
    /// (through the `portMappings` capability: portmap's rules, not ours).
    /// `ips`: the addresses to ask for (`--ip`, or those it had).
    fn cni_add(&self, c: &Container, p: &Planned, pid: i32, ips: &[IpAddr]) -> Result<NetworkStatus> {
        let net = cni_config(&p.network)?;
        let ports = cni_ports(c, p.index);
        if !ports.is_empty() && !net.plugins.iter().any(|pl| pl["capabilities"]["portMappings"] == true) {
            return Err(Error::new(format!(
                "network {} (CNI) has no plugin with the portMappings capability: ports cannot be published on it",
                net.name
            )));
        }
        let interface = format!("eth{}", p.index);
        let netns = self.pin_netns(c, pid)?;
        let attachment = c.isolation.networks.iter().find(|a| a.network == p.network.name);
        let ips = ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        // host-local reads IP, tuning and others MAC; IgnoreUnknown lets
        // plugins that read neither run.
        let mut args = vec![("IgnoreUnknown", "1")];
        if !ips.is_empty() {
            args.push(("IP", ips.as_str()));
        }
        let mac = attachment.and_then(|a| a.mac.clone());
        if let Some(mac) = mac.as_deref() {
            args.push(("MAC", mac));
        }
        let at = network::cni::Attachment {
            container_id: &c.id,
            netns: &netns,
            ifname: &interface,
            port_mappings: &ports,
            args: &args,
        };
        let result = self.cni_runner()?.add(&net, &at).map_err(net_error)?;
        let addresses = result.container_addresses(&interface);
        let gateways =
            addresses.iter().map(|a| result.ips.iter().find(|ip| ip.address == *a).and_then(|ip| ip.gateway)).collect();
        Ok(NetworkStatus {
            network: net.name.clone(),
            interface: interface.clone(),
            host_interface: String::new(),
            addresses,
            gateways,
            mac: result.container_mac(&interface).unwrap_or_default(),
        })
    }

    /// `network reload` of running `c`'s CNI network `n`: its plugins'
    /// CHECK, and where that fails, the network set up again (DEL, then
    /// ADD asking for the addresses it had), as podman's reload does.
    fn cni_recheck(&self, c: &Container, n: Network, s: &NetworkStatus) -> Result<()> {
        let net = cni_config(&n)?;
        let runner = self.cni_runner()?;
        let Err(e) = self.on_cni_interface(c, s, |at| runner.check(&net, at)) else { return Ok(()) };
        tracing::info!("network reload: {} on CNI network {}: {e}; setting it up again", c.name, n.name);
        self.on_cni_interface(c, s, |at| runner.del(&net, at)).map_err(net_error)?;
        let had: Vec<IpAddr> = s.addresses.iter().map(|a| a.addr()).collect();
        let mac = c.isolation.networks.iter().find(|a| a.network == n.name).and_then(|a| a.mac.as_deref());
        let index = interface_index(s);
        let planned = Planned { network: n, index, addresses: Vec::new(), mac: mac.map(mac_bytes).transpose()? };
        let status = self.cni_add(c, &planned, c.pid.unwrap_or(0), &had)?;
        let db = self.db()?;
        change(&db, &c.id, |r| {
            for old in r.network_status.iter_mut().filter(|o| o.network == status.network) {
                *old = status.clone();
            }
            true
        })?;
        Ok(())
    }

    /// Undo every CNI network of `status` (a start that failed after
    /// wiring, an exit, a removal), then let its namespace go.
    pub(super) fn undo_cni(&self, c: &Container, status: &[NetworkStatus]) {
        for s in status {
            // (A veth's host end: one of berth's own bridges.)
            if !s.host_interface.is_empty() {
                continue;
            }
            match self.network(&s.network) {
                Ok(n) if n.is_cni() => self.cni_del(c, &n, s),
                Ok(_) => {}
                Err(e) => tracing::warn!("removing {} from network {}: {e}", c.name, s.network),
            }
        }
        self.unpin_netns(&c.id);
    }

    /// Let container `id`'s namespace go, if a CNI network had it bound.
    pub(super) fn unpin_netns(&self, id: &str) {
        let pinned = self.pinned_netns(id);
        if pinned.exists() {
            let _ = rustix::mount::unmount(&pinned, rustix::mount::UnmountFlags::DETACH);
            if let Err(e) = std::fs::remove_file(&pinned) {
                tracing::warn!("removing {}: {e}", pinned.display());
            }
        }
    }

    /// Where a container on a CNI network keeps its network namespace
    /// (`<runroot>/netns/<id>`, a bind mount).
    fn pinned_netns(&self, id: &str) -> std::path::PathBuf {
        self.runroot.join("netns").join(id)
    }

    /// The namespace of `c` (whose init is `pid`) bound to a file, as
    /// podman does: CNI plugins undo what they made only while it exists
    /// (the bridge plugin finds the addresses whose masquerade rules it
    /// removes on the container's interface), and a container's own
    /// namespace dies with it, before its DEL can run. The file outlives a
    /// crashed monitor, so a removal can still DEL.
    fn pin_netns(&self, c: &Container, pid: i32) -> Result<std::path::PathBuf> {
        let path = self.pinned_netns(&c.id);
        if path.exists() {
            return Ok(path);
        }
        let dir = self.runroot.join("netns");
        sys::fs::create_private_dir(&dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
        std::fs::File::create(&path).ctx(|| format!("creating {}", path.display()))?;
        rustix::mount::mount_bind(format!("/proc/{pid}/ns/net").as_str(), &path)
            .ctx(|| format!("binding the network namespace of {} to {}", c.id, path.display()))?;
        Ok(path)
    }

    /// Undo [`Engine::cni_add`] of `c`'s interface `s` on CNI network `n`
    /// (DEL): idempotent, whether the container's namespace is still there
    /// or not.
    fn cni_del(&self, c: &Container, n: &Network, s: &NetworkStatus) {
        let run = || -> Result<()> {
            let net = cni_config(n)?;
            let runner = self.cni_runner()?;
            self.on_cni_interface(c, s, |at| runner.del(&net, at)).map_err(net_error)
        };
        if let Err(e) = run() {
            tracing::warn!("removing {} from CNI network {}: {e}", c.name, s.network);
        }
    }

    /// `f` given what CHECK and DEL tell the plugins of `c`'s interface `s`:
    /// its namespace (bound under the runroot) and the ports its ADD
    /// published.
    fn on_cni_interface<T>(
        &self,
        c: &Container,
        s: &NetworkStatus,
        f: impl FnOnce(&network::cni::Attachment) -> T,
    ) -> T {
        let netns = self.pinned_netns(&c.id);
        let ports = cni_ports(c, interface_index(s));
        let mut at = network::cni::Attachment::new(&c.id, &netns, &s.interface);
        at.port_mappings = &ports;
        f(&at)
    }

    /// `network connect`: container `c` joins network `net` (with `a`'s
    /// address, MAC and aliases): recorded for its next starts, and wired
    /// now if it runs (a new `ethN`).
    pub fn network_connect(&self, net: &str, c: &Container, mut a: Attachment) -> Result<()> {
        let network = self.network(net)?;
        a.network = network.name.clone();
        self.check_attachments(std::slice::from_ref(&a))?;
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        let current = db.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        if current.isolation.networks.iter().any(|x| x.network == network.name) {
            return Err(Error::new(format!(
                "container {} is already connected to network {}: network is already connected",
                current.id, network.name
            )));
        }
        if current.isolation.network != NsMode::Private {
            return Err(Error::new(format!(
                "container {} has no network namespace of its own to connect (--network {}): invalid argument",
                current.name,
                current.isolation.inspect_network_mode()
            )));
        }
        let mut status = Vec::new();
        if let (State::Running, Some(pid)) = (current.state, current.pid) {
            // The first ethN it does not have.
            let index = (0..).find(|i| !current.network_status.iter().any(|s| s.interface == format!("eth{i}")));
            let planned = self.plan_one(&self.addresses()?, &current, index.unwrap_or(0), &a)?;
            status = self.wire_networks(&current, std::slice::from_ref(&planned), pid)?;
            let mut joined = current.clone();
            joined.isolation.networks.push(a.clone());
            self.register_names(&joined, &status)?;
        }
        change(&db, &c.id, |r| {
            r.isolation.networks.push(a.clone());
            r.network_status.extend(status.iter().cloned());
            true
        })?;
        crate::events::network_of(self.runroot(), crate::events::Status::Connect, &current, &a.network);
        Ok(())
    }

    /// `network disconnect`: container `c` leaves network `net`, now if it
    /// runs (its interface removed) and for its next starts.
    pub fn network_disconnect(&self, net: &str, c: &Container) -> Result<()> {
        let network = self.network(net)?;
        let _lock = self.lock_container(&c.id)?;
        let db = self.db()?;
        let current = db.get(&c.id)?.ok_or_else(|| super::control::gone(&c.id))?;
        if !current.isolation.networks.iter().any(|x| x.network == network.name) {
            return Err(Error::new(format!(
                "container {} is not connected to network {}: network is not connected",
                current.id, network.name
            )));
        }
        if let Some(s) = current.network_status.iter().find(|s| s.network == network.name) {
            if network.is_cni() {
                self.cni_del(&current, &network, s);
            } else if let (State::Running, Some(pid)) = (current.state, current.pid) {
                // Its interface goes: a veth's host end takes the pair with
                // it; a macvlan link is only inside.
                if s.host_interface.is_empty() {
                    let ns = super::loopback::net_namespace(pid)?;
                    let mut inside = Netlink::open_in(ns.as_fd()).map_err(net_error)?;
                    if let Some(l) = inside.link(&s.interface).map_err(net_error)? {
                        inside.delete_link(l.index).map_err(net_error)?;
                    }
                } else {
                    let mut host = Netlink::open().map_err(net_error)?;
                    if let Some(l) = host.link(&s.host_interface).map_err(net_error)? {
                        host.delete_link(l.index).map_err(net_error)?;
                    }
                }
            }
            if let Err(e) = self.dns_dir().and_then(|d| {
                network::dns::remove_entry(&d, &s.network, &current.id).ctx(|| format!("updating {}", d.display()))
            }) {
                tracing::warn!("forgetting {}'s name on network {}: {e}", current.name, s.network);
            }
            let addresses: Vec<IpAddr> = s.addresses.iter().map(|a| a.addr()).collect();
            if let Err(e) = network::conntrack::forget(&addresses) {
                tracing::warn!("forgetting the connections of {}: {e}", current.name);
            }
        }
        self.addresses()?.release_on(&network.name, &self.address_holder(&current.id))?;
        change(&db, &c.id, |r| {
            r.isolation.networks.retain(|x| x.network != network.name);
            r.network_status.retain(|s| s.network != network.name);
            true
        })?;
        crate::events::network_of(self.runroot(), crate::events::Status::Disconnect, &current, &network.name);
        Ok(())
    }

    /// `network reload`: put running container `c`'s firewall rules back
    /// (its networks' and its published ports'), as after the host's
    /// firewall was flushed.
    pub fn network_reload(&self, c: &Container) -> Result<()> {
        if c.state != State::Running {
            return Err(Error::new(format!("container {} is not running: container state improper", c.id)));
        }
        for s in &c.network_status {
            let n = self.network(&s.network)?;
            if n.is_cni() {
                self.cni_recheck(c, n, s)?;
            } else if n.driver == "bridge" {
                network::firewall::add_network(&network::firewall::NetworkRules {
                    name: n.name.clone(),
                    bridge: n.network_interface.clone(),
                    subnets: n.subnets.iter().map(|s| s.subnet).collect(),
                    internal: n.internal,
                })
                .map_err(net_error)?;
            }
        }
        let first = c.network_status.first().filter(|_| !c.isolation.ports.is_empty());
        if let Some(first) = first.filter(|f| self.network(&f.network).is_ok_and(|n| !n.is_cni())) {
            let mappings: Vec<network::firewall::PortMapping> =
                c.isolation.ports.iter().map(super::ports::Published::to_mapping).collect();
            for v4 in [true, false] {
                if let Some((address, _)) = first.of_family(v4) {
                    network::firewall::add_ports(&c.id, address.addr(), &mappings).map_err(net_error)?;
                }
            }
        }
        Ok(())
    }

    /// `<network_run_dir>/dns`: the name server's directory
    /// (`network::dns`), one for the host, as the networks are.
    pub(crate) fn dns_dir(&self) -> Result<std::path::PathBuf> {
        Ok(self.network_run_dir()?.join("dns"))
    }

    /// Before the runtime's create of `c`, planned on `planned`: its
    /// resolv.conf asks the name server of its first network with DNS.
    pub(super) fn point_resolver(&self, c: &Container, planned: &[Planned]) -> Result<()> {
        // `--dns` wins: create wrote those servers.
        if !c.isolation.names.servers.is_empty() {
            return Ok(());
        }
        let Some(p) = planned.iter().find(|p| p.network.dns_enabled) else { return Ok(()) };
        let servers: Vec<IpAddr> = p.addresses.iter().filter_map(|(_, gw)| *gw).collect();
        super::etc_files::use_network_dns(&self.userdata_dir(&c.id), c, &servers)
    }

    /// Once `c` is on its networks (`status`): its names on each network
    /// with DNS, and the name server running.
    pub(super) fn register_names(&self, c: &Container, status: &[NetworkStatus]) -> Result<()> {
        let mut any = false;
        for s in status {
            let network = self.network(&s.network)?;
            if !network.dns_enabled {
                continue;
            }
            let aliases =
                c.isolation.networks.iter().filter(|a| a.network == s.network).flat_map(|a| a.aliases.clone());
            let mut names = vec![c.name.to_lowercase(), c.short_id().to_string()];
            names.extend(aliases.map(|a| a.to_lowercase()));
            let entry = network::dns::Entry {
                id: c.id.clone(),
                names,
                addresses: s.addresses.iter().map(|a| a.addr()).collect(),
            };
            let listen: Vec<IpAddr> = s.gateways.iter().flatten().copied().collect();
            network::dns::add_entry(&self.dns_dir()?, &s.network, &listen, &entry)
                .ctx(|| format!("recording {}'s name on network {}", c.name, s.network))?;
            any = true;
        }
        if any {
            self.start_dns()?;
        }
        Ok(())
    }

    /// Forget `c`'s names (it ended or went).
    fn unregister_names(&self, c: &Container) {
        for s in &c.network_status {
            if let Err(e) = self.dns_dir().and_then(|d| {
                network::dns::remove_entry(&d, &s.network, &c.id).ctx(|| format!("updating {}", d.display()))
            }) {
                tracing::warn!("forgetting {}'s name on network {}: {e}", c.name, s.network);
            }
        }
    }

    /// The name server, unless one runs (it holds `server.lock`): started
    /// detached (a session of its own, stdio on /dev/null); it exits once
    /// no network has containers.
    fn start_dns(&self) -> Result<()> {
        let dir = self.dns_dir()?;
        let lock = dir.join("server.lock");
        match FileLock::try_acquire(&lock, sys::fs::LockMode::Exclusive)
            .ctx(|| format!("locking {}", lock.display()))?
        {
            // Held: it runs.
            None => return Ok(()),
            Some(free) => drop(free),
        }
        let Some(binary) = std::env::var_os(DNS_VAR) else {
            return Err(Error::new(format!(
                "name resolution on networks needs {DNS_BINARY} beside berth, and it is missing (create the network with --disable-dns to go without)"
            )));
        };
        use std::os::unix::process::CommandExt as _;
        let mut cmd = std::process::Command::new(binary);
        cmd.arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        // Not waited for: it outlives this monitor; init reaps it. (Two
        // monitors starting one each: the second finds the lock held and
        // exits at once.)
        cmd.spawn().ctx(|| format!("starting {DNS_BINARY}"))?;
        // Answering once it holds the lock; the container's first question
        // may come before, and is retried by its resolver.
        Ok(())
    }

    /// Publish `c`'s ports, now that it is on its networks (`status`):
    /// hold the host ports (the sockets returned, kept while it runs), then
    /// the DNAT rules to its address on its first network.
    pub(super) fn publish(&self, c: &Container, status: &[NetworkStatus]) -> Result<Vec<std::os::fd::OwnedFd>> {
        if c.isolation.ports.is_empty() {
            return Ok(Vec::new());
        }
        let held = super::ports::reserve(&c.isolation.ports)?;
        let first = status.first().ok_or_else(|| Error::new("published ports need a network"))?;
        let network = self.network(&first.network)?;
        if network.is_cni() {
            // Its plugins published them at ADD.
            return Ok(held);
        }
        let mappings: Vec<network::firewall::PortMapping> =
            c.isolation.ports.iter().map(super::ports::Published::to_mapping).collect();
        for v4 in [true, false] {
            if let Some((address, _)) = first.of_family(v4) {
                network::firewall::add_ports(&c.id, address.addr(), &mappings).map_err(net_error)?;
            }
        }
        let bridge = network.network_interface;
        // 127.0.0.1 reaches a port published on every address (or on
        // 127.0.0.1) only if the bridge may route loopback-sourced traffic;
        // and a container reaching its own published port needs its
        // packets sent back out of the bridge port they came in by.
        set_knob(&format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))?;
        if !first.host_interface.is_empty() {
            let mut nl = Netlink::open().map_err(net_error)?;
            let index = nl.index_of(&first.host_interface).map_err(net_error)?;
            nl.set_hairpin(index).map_err(net_error)?;
        }
        Ok(held)
    }

    /// What `c`'s networks left on the host, besides what died with its
    /// namespace (its veth pairs): its port rules, its names, its
    /// connections' conntrack entries. Idempotent: its monitor does it
    /// after telling the exit, a removal again if the monitor could not.
    pub(super) fn release_network(&self, c: &Container) {
        if c.network_status.is_empty() && c.isolation.ports.is_empty() {
            return;
        }
        self.unpublish(c);
        self.unregister_names(c);
        self.undo_cni(c, &c.network_status);
        let addresses: Vec<IpAddr> =
            c.network_status.iter().flat_map(|s| s.addresses.iter().map(|a| a.addr())).collect();
        if let Err(e) = network::conntrack::forget(&addresses) {
            tracing::warn!("forgetting the connections of {}: {e}", c.name);
        }
    }

    /// Drop `c`'s port rules (once it ended or went).
    fn unpublish(&self, c: &Container) {
        if c.isolation.ports.is_empty() {
            return;
        }
        if let Err(e) = network::firewall::remove_ports(&c.id) {
            tracing::warn!("removing the port rules of {}: {e}", c.id);
        }
    }

    /// The bridge of `network`, made (with its gateway addresses and
    /// firewall rules, forwarding on) unless it is up already; its index.
    fn prepare_bridge(&self, nl: &mut Netlink, network: &Network) -> Result<u32> {
        let name = &network.network_interface;
        if let Some(l) = nl.link(name).map_err(net_error)?.filter(|l| l.up) {
            check_bridge_is(nl, l.index, network)?;
            return Ok(l.index);
        }
        // The host's lock of that network: two stores' starts of its
        // first containers serialise too.
        let dir = self.network_run_dir()?.join("locks");
        sys::fs::create_private_dir(&dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
        let lock_path = dir.join(format!("{}.lock", network.name));
        let _lock = FileLock::exclusive(&lock_path).ctx(|| format!("locking {}", lock_path.display()))?;
        // Another start may have made it meanwhile.
        if let Some(l) = nl.link(name).map_err(net_error)?.filter(|l| l.up) {
            return Ok(l.index);
        }
        let index = match nl.link(name).map_err(net_error)? {
            Some(l) => l.index,
            None => nl.add_bridge(name, network.options.get("mtu").and_then(|m| m.parse().ok())).map_err(net_error)?,
        };
        let have = nl.addresses(index).map_err(net_error)?;
        for s in &network.subnets {
            if let Some(gw) = s.gateway {
                let addr = IpNet::new(gw, s.subnet.prefix_len()).map_err(|e| Error::new(e.to_string()))?;
                if !have.contains(&addr) {
                    nl.add_address(index, addr).map_err(net_error)?;
                }
            }
        }
        if !network.internal {
            enable_forwarding(network)?;
        }
        network::firewall::add_network(&network::firewall::NetworkRules {
            name: network.name.clone(),
            bridge: name.clone(),
            subnets: network.subnets.iter().map(|s| s.subnet).collect(),
            internal: network.internal,
        })
        .map_err(net_error)?;
        // Last: up says everything above is done.
        nl.set_up(index).map_err(net_error)?;
        Ok(index)
    }
}

/// Bridge `index`, up, is `network`'s: it has the network's gateway
/// addresses. Interfaces are the host's, networks a store's: another
/// store's (`--root`) network may have made a bridge of the same name for
/// other subnets, and joining it would mix the two.
fn check_bridge_is(nl: &mut Netlink, index: u32, network: &Network) -> Result<()> {
    let have = nl.addresses(index).map_err(net_error)?;
    let missing: Vec<String> = network
        .subnets
        .iter()
        .filter_map(|s| s.gateway.map(|g| (g, s.subnet.prefix_len())))
        .filter(|(g, len)| !have.iter().any(|a| a.addr() == *g && a.prefix_len() == *len))
        .map(|(g, len)| format!("{g}/{len}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::new(format!(
        "bridge {} of network {} is up without its gateway address {}: another network (of another --root?) uses that bridge; give one of them another --interface-name",
        network.network_interface,
        network.name,
        missing.join(", ")
    )))
}

/// A boolean knob of the kernel's on (written only if it is not).
fn set_knob(path: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").ctx(|| format!("turning on {path}"))
}

/// IP forwarding on, as podman turns it on for a network with a way out
/// (IPv6 too where the network has IPv6).
fn enable_forwarding(network: &Network) -> Result<()> {
    set_knob("/proc/sys/net/ipv4/ip_forward")?;
    if network.ipv6_enabled {
        set_knob("/proc/sys/net/ipv6/conf/all/forwarding")?;
    }
    Ok(())
}

/// The six octets of MAC address `text` (six hex pairs), if it is one.
fn mac_octets(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for o in &mut out {
        let p = parts.next().filter(|p| p.len() == 2)?;
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn mac_bytes(text: &str) -> Result<[u8; 6]> {
    mac_octets(text).ok_or_else(|| Error::new(format!("invalid MAC address {text}")))
}

/// CNI network `n`'s configuration list, read again (it is the host's file).
fn cni_config(n: &Network) -> Result<network::cni::CniNetwork> {
    let file = n.cni_file.as_deref().ok_or_else(|| Error::new(format!("network {} is not a CNI network", n.name)))?;
    network::cni::load_file(file).map_err(net_error)
}

/// The N of interface `s`'s `ethN`.
fn interface_index(s: &NetworkStatus) -> usize {
    s.interface.strip_prefix("eth").and_then(|i| i.parse().ok()).unwrap_or(0)
}

/// `c`'s published ports as CNI's `portMappings` give them, for its
/// `eth<index>`: only the first network publishes (as on berth's own).
fn cni_ports(c: &Container, index: usize) -> Vec<network::cni::PortMapping> {
    if index != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in &c.isolation.ports {
        let m = p.to_mapping();
        for i in 0..m.range.max(1) {
            out.push(network::cni::PortMapping {
                host_port: m.host_port + i,
                container_port: m.container_port + i,
                protocol: m.protocol.as_str().into(),
                host_ip: m.host_ip.map(|h| h.to_string()).unwrap_or_default(),
            });
        }
    }
    out
}

/// The largest IPv4 TCP segment a container's veth pair carries:
/// 192 KiB, three times the 64 KiB that neither podman's nor docker's links
/// go over. A segment crosses the veth pair, the bridge, netfilter and
/// conntrack once, whatever its size, so bigger ones are fewer crossings
/// for the same bytes: TCP through a published port runs 25-45% faster on
/// these machines (bench/network.sh). What leaves by a real interface is
/// cut to its own limit there. Google's BIG TCP deployments use ~185 KB;
/// veth takes up to 512 KiB. (Linux 6.3 on; older kernels ignore it.)
const BIG_TCP: u32 = 196_608;

fn net_error(e: network::Error) -> Error {
    Error::new(format!("setting up the container's network: {e}"))
}
