//! berth's firewall: NAT, forwarding and published ports, as nftables rules
//! in one table of berth's own, `inet berth`.
//!
//! # The table
//!
//! ```text
//! table inet berth {
//!     set bridges { type ifname }    every berth network's bridge (isolation)
//!
//!     chain forward     { type filter hook forward priority filter; policy accept;
//!                         iifname "<bridge>" jump nw-<network>-fwd
//!                         oifname "<bridge>" jump nw-<network>-fwd  ... }
//!     chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!                         jump nw-<network>-nat
//!                         ip saddr 127.0.0.0/8 jump ct-<container>-masq  ... }
//!     chain prerouting  { type nat hook prerouting priority dstnat; policy accept;
//!                         meta nfproto ipv4 fib daddr type local jump ct-<container>-dnat4
//!                         meta nfproto ipv6 fib daddr type local jump ct-<container>-dnat6  ... }
//!     chain output      { type nat hook output priority -100; policy accept;
//!                         (the same jumps as prerouting) }
//!
//!     chain nw-<network>-fwd     forwarding and isolation of one network
//!     chain nw-<network>-nat     its masquerade (none for an internal network)
//!     chain ct-<container>-dnat4 one container's published ports (IPv4 DNAT)
//!     chain ct-<container>-dnat6 the same for its IPv6 address
//!     chain ct-<container>-masq  masquerade of 127.0.0.0/8 → its published ports
//! }
//! ```
//!
//! Why it is laid out so (netavark 2.0's nftables driver is the model):
//!
//! - One table of our own, never anyone else's. nftables tables are
//!   namespaces: the host's rules, firewalld's and iptables-nft's live in
//!   theirs and neither side can clobber or reorder the other. Nothing here
//!   flushes or lists anything but `inet berth`; `nft delete table inet
//!   berth` removes every trace of berth. `inet` holds IPv4 and IPv6 rules
//!   alike, so there is one table, not two.
//! - The base chains only jump. Each network and each container owns
//!   regular chains named after it; the base chains hold one jump (or two)
//!   per owner. Removing an owner is deleting the jumps whose target is one
//!   of its chains (found by handle in `nft -j list table inet berth`) and
//!   then the chains: no rule is ever recognised by its contents, and a
//!   network's or container's rules can be read off `nft list table` under
//!   its name. Chain names are a function of the network's or container's
//!   name alone, so removal needs nothing but the name: a container id (64
//!   hex digits) is cut to the 12 that `podman ps` shows (two containers
//!   sharing those is as unlikely as it is for podman's short ids), any
//!   other name over 64 characters is cut and a hash of it appended.
//! - Masquerade and DNAT are in chains of their own, apart from the
//!   forwarding chain, because the kernel checks every statement against the
//!   hooks that can reach it: masquerade is valid only under postrouting,
//!   DNAT only under prerouting and output, accept/drop anywhere. Hence a
//!   container's 127.0.0.0/8 masquerade is a chain (`-masq`) separate from
//!   its DNAT chain.
//! - Isolation needs to know which interfaces are berth's: the `bridges` set
//!   lists them, and a network's forwarding chain drops anything between its
//!   bridge and any other member before it accepts anything. Both
//!   directions are checked in every network's chain, so the order of the
//!   networks' jumps does not matter.
//! - Adding is replacing: `add` of the table, chains and set is a no-op when
//!   they exist, the owner's chains are flushed and refilled, jumps already
//!   as wanted are kept (others to the owner's chains are deleted), all in
//!   one transaction. Adding twice leaves one set of rules, and changing a
//!   network (say, making it internal) needs no removal first.
//!
//! Forwarding of a network with bridge B (`nw-<network>-fwd`):
//!
//! ```text
//! iifname B oifname B accept               within the network (bridged traffic seen by br_netfilter)
//! iifname B oifname @bridges drop          to another berth network
//! oifname B iifname @bridges drop          from another berth network
//! iifname B accept                         out to the world          (not when internal)
//! oifname B ct state established,related accept   replies coming back (not when internal)
//! iifname B drop / oifname B drop          (internal networks, instead of the two above)
//! ```
//!
//! Masquerade (`nw-<network>-nat`), per subnet S: `ip saddr S ip daddr != S
//! masquerade`, and `ip saddr S ip daddr S ct status dnat masquerade` for a
//! container reaching a published port of its own network through a host
//! address (hairpin, see `masquerade_rules`). Published ports (`ct-<container>-dnat4`): `[ip daddr H]
//! tcp dport P dnat ip to C:Q`, a range `P-P'` keeping the port when host and
//! container ports are equal and through an anonymous map `P : Q, ...`
//! otherwise (one rule, as the kernel's DNAT to a port range would pick any
//! port in it, not the matching one).
//!
//! # Published ports and the host's own filter rules
//!
//! Unlike docker (moby#22054), published ports do not get around the host's
//! firewall. Our DNAT happens in prerouting; the packet, now addressed to
//! the container, is forwarded, and so it traverses every chain on the
//! forward hook: ours and the host's own filter tables alike. nftables runs
//! all base chains of a hook, and a drop in any of them is final, while an
//! accept only ends the chain that issued it. Our forward chain only ever
//! accepts (or drops berth's own traffic): it never bypasses anyone else's
//! rules, so a host rule dropping that traffic (or a forward policy of
//! drop) wins. Conversely a host that drops all forwarding drops
//! containers' outbound traffic too; that is the host's call.
//!
//! # What the engine must do besides
//!
//! - Enable forwarding: `net.ipv4.ip_forward=1` (and
//!   `net.ipv6.conf.all.forwarding=1` for IPv6 networks). nft cannot.
//! - For ports published on 127.0.0.1 (or on all addresses, and reached
//!   through 127.0.0.1) set `net.ipv4.conf.<bridge>.route_localnet=1`: the
//!   kernel refuses to route a packet with a 127.0.0.0/8 source out of a
//!   non-loopback interface otherwise, which no nftables rule can change.
//!   The `-masq` chain then rewrites that source to the bridge's address, so
//!   the container can answer. IPv6 has no such setting: `::1` is never
//!   routed off `lo`, and ports are not reachable through it.
//! - For a container to reach its own published port through a host
//!   address, turn hairpin mode on for its bridge port (`IFLA_BRPORT_MODE`,
//!   `ip link set <veth> type bridge_slave hairpin on`): with br_netfilter
//!   loaded the DNATed packet is bridged, not routed, back out of the port
//!   it came in by, which a bridge refuses otherwise. Other containers of
//!   the network need nothing (the hairpin masquerade is ours).
//! - Pick a free host port before calling [`add_ports`] (0 is refused), and
//!   keep host ports unique: the first container's DNAT rule for a port wins.
//! - Call [`add_ports`] once per address family of a container (its IPv4 and
//!   its IPv6 address have a chain each, so the calls do not replace each
//!   other). Mappings on a host address of the other family are skipped.
//!
//! # How nft is driven
//!
//! Everything goes through `nft -j -f -`: one JSON document on stdin, which
//! nft applies as one transaction (all of it or nothing), and `nft -j list
//! table inet berth` to read the handles back. The JSON is built here with
//! serde_json rather than with the `nftables` crate: that crate brings
//! schemars and strum (proc-macro crates) for a typed syntax tree that is
//! several times longer to write than the dozen rule shapes used here, and
//! reading back needs only chain names, handles and jump targets. nft's
//! JSON (libnftables-json(5)) is a stable interface.
//!
//! Each call lists the table, then applies one transaction built from what
//! it found. Monitors of different containers run at once; their calls
//! touch disjoint chains and jumps and need no lock. If another process
//! changed the table between our list and our transaction (a handle we
//! delete is gone), the transaction fails as a whole and is rebuilt from a
//! new listing (up to five times in all). Two processes adding the same network
//! at the same instant can leave a jump twice: harmless (the chain runs
//! twice to the same verdict), and the next add or the removal clears it.
//! The table and its base chains stay when the last network goes: deleting
//! them could race with another process adding to them.

use std::collections::HashSet;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Context as _, Error, Result};

/// The table: family and name.
const FAMILY: &str = "inet";
const TABLE: &str = "berth";
/// The set of all berth bridges.
const BRIDGES: &str = "bridges";

/// The base chains: name, type, hook, priority (the kernel's numbers:
/// filter 0, srcnat 100, dstnat -100).
const FORWARD: &str = "forward";
const POSTROUTING: &str = "postrouting";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const BASE_CHAINS: [(&str, &str, &str, i32); 4] = [
    (FORWARD, "filter", "forward", 0),
    (POSTROUTING, "nat", "postrouting", 100),
    (PREROUTING, "nat", "prerouting", -100),
    (OUTPUT, "nat", "output", -100),
];

/// A transaction that fails because the table changed under it is rebuilt
/// and tried again this many times in all.
const ATTEMPTS: usize = 5;

/// What a network needs from the firewall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    /// The network's name: its chains are `nw-<name>-fwd` and `nw-<name>-nat`.
    pub name: String,
    /// Its bridge interface.
    pub bridge: String,
    /// Its subnets (IPv4 and IPv6 alike); host bits are ignored.
    pub subnets: Vec<IpNet>,
    /// No traffic in or out of the network, only between its containers:
    /// no masquerade, and forwarding to or from the bridge dropped.
    pub internal: bool,
}

/// A published port's protocol (serialized as podman writes it: "tcp", "udp").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port (or range of ports) of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// The host address it is published on; `None` for every local
    /// address, 0.0.0.0 (::) for every local IPv4 (IPv6) address.
    pub host_ip: Option<IpAddr>,
    /// The (first) port on the host: 1-65535, already chosen by the engine.
    pub host_port: u16,
    /// The (first) port in the container it leads to.
    pub container_port: u16,
    pub protocol: Protocol,
    /// How many consecutive ports, from `host_port` and `container_port`
    /// (1: a single port).
    pub range: u16,
}

/// Set up (or update) network `n`'s rules: masquerade, forwarding,
/// isolation from the other berth networks. Creates the table if need be.
pub fn add_network(n: &NetworkRules) -> Result<()> {
    check_name("network name", &n.name)?;
    check_bridge(&n.bridge)?;
    let what = || format!("setting up the firewall rules of network {}", n.name);
    let (fwd, nat) = network_chains(&n.name);
    let subnets: Vec<IpNet> = n.subnets.iter().map(IpNet::trunc).collect();

    let mut owner = Owner { chains: vec![(fwd.clone(), forward_rules(&n.bridge, n.internal))], ..Owner::default() };
    for dir in ["iifname", "oifname"] {
        owner.jumps.push((FORWARD, vec![is(meta(dir), json!(n.bridge)), jump(&fwd)]));
    }
    if n.internal {
        owner.gone.push(nat);
    } else {
        owner.chains.push((nat.clone(), subnets.iter().flat_map(masquerade_rules).collect()));
        owner.jumps.push((POSTROUTING, vec![jump(&nat)]));
    }

    transact(what, |table| {
        let mut tx = Tx::with_base();
        if let Some(table) = table {
            // The network's bridge may have changed: a bridge of its old
            // rules that no other network uses leaves the set.
            drop_bridges(table, &fwd, Some(&n.bridge), &mut tx);
        }
        tx.push("add", "element", json!({ "name": BRIDGES, "elem": [n.bridge] }));
        owner.sync(table, &mut tx);
        tx.cmds
    })
}

/// Remove network `name`'s rules. A network (or table) that is not there is
/// no error.
pub fn remove_network(name: &str) -> Result<()> {
    check_name("network name", name)?;
    let what = || format!("removing the firewall rules of network {name}");
    let (fwd, nat) = network_chains(name);
    let owner = Owner { gone: vec![fwd.clone(), nat], ..Owner::default() };
    transact(what, |table| {
        let Some(table) = table else { return Vec::new() };
        let mut tx = Tx::default();
        drop_bridges(table, &fwd, None, &mut tx);
        owner.sync(Some(table), &mut tx);
        tx.cmds
    })
}

/// Publish `ports` of container `container` (an id or a name), whose
/// address is `ip`: DNAT from the host ports to `ip`'s container ports, for
/// traffic arriving from outside (prerouting) and from the host itself
/// (output). Replaces the container's mappings of `ip`'s family; an empty
/// `ports` removes them.
pub fn add_ports(container: &str, ip: IpAddr, ports: &[PortMapping]) -> Result<()> {
    check_name("container", container)?;
    let what = || format!("publishing the ports of container {container}");
    let (dnat4, dnat6, masq) = container_chains(container);
    let (dnat, nfproto) = if ip.is_ipv4() { (dnat4, "ipv4") } else { (dnat6, "ipv6") };

    let mut dnat_rules = Vec::new();
    let mut masq_rules = Vec::new();
    for p in ports {
        check_ports(p)?;
        if p.host_ip.is_some_and(|h| h.is_ipv4() != ip.is_ipv4()) {
            // Published on an address of the other family (0.0.0.0 and ::
            // included, as podman: IPv4 only, IPv6 only): the call for the
            // container's address of that family handles it.
            continue;
        }
        let host_ip = p.host_ip.filter(|h| !h.is_unspecified());
        dnat_rules.push(dnat_rule(ip, host_ip, p));
        if let IpAddr::V4(v4) = ip {
            if host_ip.is_none_or(|h| h.is_loopback()) {
                let dport = ports_value(p.container_port, p.range);
                masq_rules.push(vec![
                    is(payload("ip", "saddr"), loopback_net()),
                    is(payload("ip", "daddr"), json!(v4.to_string())),
                    is(payload(p.protocol.as_str(), "dport"), dport),
                    verdict("masquerade"),
                ]);
            }
        }
    }

    let mut owner = Owner::default();
    if dnat_rules.is_empty() {
        owner.gone.push(dnat);
    } else {
        for base in [PREROUTING, OUTPUT] {
            owner.jumps.push((
                base,
                vec![
                    is(meta("nfproto"), json!(nfproto)),
                    is(json!({ "fib": { "result": "type", "flags": ["daddr"] } }), json!("local")),
                    jump(&dnat),
                ],
            ));
        }
        owner.chains.push((dnat, dnat_rules));
    }
    // The masquerade chain belongs to the IPv4 address alone: an IPv6 call
    // leaves it be.
    if ip.is_ipv4() {
        if masq_rules.is_empty() {
            owner.gone.push(masq);
        } else {
            owner.jumps.push((POSTROUTING, vec![is(payload("ip", "saddr"), loopback_net()), jump(&masq)]));
            owner.chains.push((masq, masq_rules));
        }
    }

    transact(what, |table| {
        let mut tx = Tx::with_base();
        owner.sync(table, &mut tx);
        tx.cmds
    })
}

/// Remove every published port of container `container` (both families).
/// A container (or table) that is not there is no error.
pub fn remove_ports(container: &str) -> Result<()> {
    check_name("container", container)?;
    let what = || format!("removing the published ports of container {container}");
    let (dnat4, dnat6, masq) = container_chains(container);
    let owner = Owner { gone: vec![dnat4, dnat6, masq], ..Owner::default() };
    transact(what, |table| {
        let Some(table) = table else { return Vec::new() };
        let mut tx = Tx::default();
        owner.sync(Some(table), &mut tx);
        tx.cmds
    })
}

/// Rules in the table whose owner is gone: what a crash (of a removal, of a
/// monitor) left behind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stale {
    /// Networks' chain names (what [`remove_network`] takes), each with the
    /// bridges its jumps match.
    pub networks: Vec<(String, Vec<String>)>,
    /// Containers' chain names (what [`remove_ports`] takes).
    pub containers: Vec<String>,
}

/// The owners of rules in the table that are neither one of `networks` nor
/// one of `containers` (ids or names, as given to [`add_network`] and
/// [`add_ports`]). No table: nothing is stale.
pub fn stale(networks: &[&str], containers: &[&str]) -> Result<Stale> {
    let nft = nft()?;
    let Some(table) = list(&nft).context(|| "listing berth's firewall rules".to_string())? else {
        return Ok(Stale::default());
    };
    let live_networks: HashSet<String> = networks.iter().map(|n| network_chains(n).0).collect();
    let live_containers: HashSet<String> = containers.iter().map(|c| container_chains(c).0).collect();
    let mut out = Stale::default();
    let mut chains: Vec<&String> = table.chains.iter().collect();
    chains.sort();
    for chain in chains {
        if let Some(part) = chain.strip_prefix("nw-").and_then(|c| c.strip_suffix("-fwd")) {
            if !live_networks.contains(chain) {
                let mut bridges: Vec<String> = table
                    .rules
                    .iter()
                    .filter(|r| r.chain == FORWARD && r.jump_target() == Some(chain))
                    .flat_map(|r| r.ifnames().map(str::to_string))
                    .collect();
                bridges.sort();
                bridges.dedup();
                out.networks.push((part.to_string(), bridges));
            }
        } else if let Some(part) = chain.strip_prefix("ct-").and_then(|c| {
            c.strip_suffix("-dnat4").or_else(|| c.strip_suffix("-dnat6")).or_else(|| c.strip_suffix("-masq"))
        }) {
            if !live_containers.contains(&format!("ct-{part}-dnat4")) && !out.containers.iter().any(|c| c == part) {
                out.containers.push(part.to_string());
            }
        }
    }
    Ok(out)
}

// ---- rules ----

/// `nw-<network>-fwd`'s rules (see the module doc).
fn forward_rules(bridge: &str, internal: bool) -> Vec<Vec<Value>> {
    let from = || is(meta("iifname"), json!(bridge));
    let to = || is(meta("oifname"), json!(bridge));
    let mut rules = vec![
        // Within the network: bridged traffic that br_netfilter hands to
        // the IP hooks, and a published port's DNAT back into the network.
        vec![from(), to(), verdict("accept")],
    ];
    if internal {
        // Anything else in or out of an internal network, other berth
        // networks included.
        rules.push(vec![from(), verdict("drop")]);
        rules.push(vec![to(), verdict("drop")]);
    } else {
        // Isolation first: the accepts below end this base chain's
        // evaluation, so no later network's chain would get to drop.
        rules.push(vec![from(), is(meta("oifname"), json!(format!("@{BRIDGES}"))), verdict("drop")]);
        rules.push(vec![to(), is(meta("iifname"), json!(format!("@{BRIDGES}"))), verdict("drop")]);
        rules.push(vec![from(), verdict("accept")]);
        rules.push(vec![
            to(),
            json!({ "match": { "op": "in", "left": { "ct": { "key": "state" } }, "right": ["established", "related"] } }),
            verdict("accept"),
        ]);
    }
    rules
}

/// A subnet S's masquerade:
/// - `ip saddr S ip daddr != S masquerade`: what leaves the subnet goes out
///   with the address of the interface it leaves by;
/// - `ip saddr S ip daddr S ct status dnat masquerade`: a container reaching
///   a published port through a host address, DNATed back into its own
///   subnet (hairpin). Unmasqueraded, the container behind the port would
///   answer the client directly, from an address the client never wrote
///   to, and the client would drop the answer; masqueraded, the answer
///   comes back through the host, which undoes the DNAT. (Not matched on
///   the interfaces: with br_netfilter the kernel bridges such a packet
///   after the DNAT, and postrouting then sees no input interface.)
fn masquerade_rules(subnet: &IpNet) -> [Vec<Value>; 2] {
    let fam = ip_family(&subnet.addr());
    let s = prefix(subnet.network(), subnet.prefix_len());
    [
        vec![
            is(payload(fam, "saddr"), s.clone()),
            json!({ "match": { "op": "!=", "left": payload(fam, "daddr"), "right": s } }),
            verdict("masquerade"),
        ],
        vec![
            is(payload(fam, "saddr"), s.clone()),
            is(payload(fam, "daddr"), s),
            json!({ "match": { "op": "in", "left": { "ct": { "key": "status" } }, "right": "dnat" } }),
            verdict("masquerade"),
        ],
    ]
}

/// `[ip daddr H] tcp dport P dnat ip to C:Q` for one mapping.
fn dnat_rule(ip: IpAddr, host_ip: Option<IpAddr>, p: &PortMapping) -> Vec<Value> {
    let fam = ip_family(&ip);
    let proto = p.protocol.as_str();
    let mut rule = Vec::new();
    if let Some(h) = host_ip {
        rule.push(is(payload(fam, "daddr"), json!(h.to_string())));
    }
    rule.push(is(payload(proto, "dport"), ports_value(p.host_port, p.range)));
    let mut dnat = json!({ "family": fam, "addr": ip.to_string() });
    if p.range <= 1 {
        dnat["port"] = json!(p.container_port);
    } else if p.host_port != p.container_port {
        // A port range as DNAT target means "any port of it", so a shifted
        // range maps each host port to its own container port.
        let pairs: Vec<Value> = (0..p.range).map(|i| json!([p.host_port + i, p.container_port + i])).collect();
        dnat["port"] = json!({ "map": { "key": payload(proto, "dport"), "data": { "set": pairs } } });
    }
    // (Same host and container ports: no port in the target keeps it.)
    rule.push(json!({ "dnat": dnat }));
    rule
}

fn ports_value(first: u16, range: u16) -> Value {
    if range <= 1 {
        json!(first)
    } else {
        json!({ "range": [first, first + (range - 1)] })
    }
}

fn ip_family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({ "payload": { "protocol": protocol, "field": field } })
}

/// `addr/len` (an address without host bits).
fn prefix(addr: IpAddr, len: u8) -> Value {
    json!({ "prefix": { "addr": addr.to_string(), "len": len } })
}

/// 127.0.0.0/8
fn loopback_net() -> Value {
    prefix(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)), 8)
}

fn is(left: Value, right: Value) -> Value {
    json!({ "match": { "op": "==", "left": left, "right": right } })
}

fn jump(target: &str) -> Value {
    json!({ "jump": { "target": target } })
}

/// A statement without arguments: a verdict (`accept`, `drop`) or `masquerade`.
fn verdict(v: &str) -> Value {
    json!({ v: null })
}

// ---- names ----

/// A network's chains: forwarding, masquerade.
fn network_chains(name: &str) -> (String, String) {
    let n = name_part(name);
    (format!("nw-{n}-fwd"), format!("nw-{n}-nat"))
}

/// A container's chains: IPv4 DNAT, IPv6 DNAT, loopback masquerade.
fn container_chains(container: &str) -> (String, String, String) {
    let is_id = container.len() == 64 && container.bytes().all(|b| b.is_ascii_hexdigit());
    let c = if is_id { container[..12].to_string() } else { name_part(container) };
    (format!("ct-{c}-dnat4"), format!("ct-{c}-dnat6"), format!("ct-{c}-masq"))
}

/// The longest name used as is in a chain's name. Kernels since 4.14 take
/// 255 bytes, but `nft list` output is read by people too.
const MAX_NAME: usize = 64;

/// `name` as part of a chain name: as it is, or cut with a hash of the
/// whole appended when too long (the same name always gives the same part).
fn name_part(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    // FNV-1a: stable across builds and Rust versions, unlike std's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    // check_name allowed ASCII only: any byte index is a char boundary.
    format!("{}-{hash:016x}", &name[..MAX_NAME - 17])
}

/// Network and container names: podman's alphabet, which is also safe in
/// nft's text syntax (and never starts a set reference or a wildcard).
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err(Error::Invalid(format!(
            "{what} {name:?}: only letters, digits, '_', '.' and '-' can name firewall rules"
        )));
    }
    Ok(())
}

/// A bridge name is matched as a string by nft, where a leading '@' would
/// name a set and a trailing '*' make a wildcard.
fn check_bridge(bridge: &str) -> Result<()> {
    check_name("bridge", bridge)?;
    if bridge.len() > 15 {
        return Err(Error::Invalid(format!("bridge {bridge:?}: an interface name has at most 15 characters")));
    }
    Ok(())
}

fn check_ports(p: &PortMapping) -> Result<()> {
    let fits = |first: u16| first.checked_add(p.range.saturating_sub(1)).is_some();
    if p.range == 0 || p.host_port == 0 || p.container_port == 0 || !fits(p.host_port) || !fits(p.container_port) {
        return Err(Error::Invalid(format!(
            "published port {}:{}/{} (range {}): ports and ranges must lie within 1-65535",
            p.host_port,
            p.container_port,
            p.protocol.as_str(),
            p.range
        )));
    }
    Ok(())
}

// ---- the table as nft lists it ----

/// What `nft -j list table inet berth` shows that matters here.
#[derive(Debug, Default)]
struct Table {
    chains: HashSet<String>,
    rules: Vec<Rule>,
    /// Elements of the `bridges` set.
    bridges: HashSet<String>,
}

#[derive(Debug)]
struct Rule {
    chain: String,
    handle: u64,
    expr: Value,
}

impl Rule {
    fn jump_target(&self) -> Option<&str> {
        self.expr.as_array()?.iter().find_map(|s| s.get("jump")?.get("target")?.as_str())
    }

    /// The interfaces it matches (`iifname "x"`, `oifname "x"`).
    fn ifnames(&self) -> impl Iterator<Item = &str> {
        self.expr.as_array().into_iter().flatten().filter_map(|s| {
            let m = s.get("match")?;
            let key = m.get("left")?.get("meta")?.get("key")?.as_str()?;
            if key == "iifname" || key == "oifname" {
                m.get("right")?.as_str()
            } else {
                None
            }
        })
    }
}

impl Table {
    fn parse(listing: &Value) -> Table {
        let mut table = Table::default();
        for item in listing.get("nftables").and_then(Value::as_array).into_iter().flatten() {
            let ours = |o: &Value| o.get("table").and_then(Value::as_str) == Some(TABLE);
            if let Some(c) = item.get("chain").filter(|c| ours(c)) {
                if let Some(name) = c.get("name").and_then(Value::as_str) {
                    table.chains.insert(name.to_string());
                }
            } else if let Some(r) = item.get("rule").filter(|r| ours(r)) {
                let chain = r.get("chain").and_then(Value::as_str);
                let handle = r.get("handle").and_then(Value::as_u64);
                if let (Some(chain), Some(handle)) = (chain, handle) {
                    let expr = r.get("expr").cloned().unwrap_or(Value::Null);
                    table.rules.push(Rule { chain: chain.to_string(), handle, expr });
                }
            } else if let Some(s) = item.get("set").filter(|s| ours(s)) {
                if s.get("name").and_then(Value::as_str) == Some(BRIDGES) {
                    let elems = s.get("elem").and_then(Value::as_array).into_iter().flatten();
                    table.bridges.extend(elems.filter_map(Value::as_str).map(str::to_string));
                }
            }
        }
        table
    }
}

/// Take out of the `bridges` set the bridges that the jumps to `fwd` match,
/// but `keep` and any a jump to another chain still matches.
fn drop_bridges(table: &Table, fwd: &str, keep: Option<&str>, tx: &mut Tx) {
    let (ours, others): (Vec<&Rule>, Vec<&Rule>) = table
        .rules
        .iter()
        .filter(|r| r.chain == FORWARD && r.jump_target().is_some())
        .partition(|r| r.jump_target() == Some(fwd));
    let still_used: HashSet<&str> = others.iter().flat_map(|r| r.ifnames()).collect();
    let mut old: Vec<&str> = ours.iter().flat_map(|r| r.ifnames()).collect();
    old.sort_unstable();
    old.dedup();
    for b in old {
        if Some(b) != keep && !still_used.contains(b) && table.bridges.contains(b) {
            tx.push("delete", "element", json!({ "name": BRIDGES, "elem": [b] }));
        }
    }
}

// ---- transactions ----

/// A network's or a container's share of the table: the chains it wants
/// (with their rules), the chains it must not have, the jumps it wants.
#[derive(Default)]
struct Owner {
    chains: Vec<(String, Vec<Vec<Value>>)>,
    gone: Vec<String>,
    /// (base chain, the jump rule's statements)
    jumps: Vec<(&'static str, Vec<Value>)>,
}

impl Owner {
    /// Append to `tx` what makes the table hold exactly this owner's share.
    fn sync(&self, table: Option<&Table>, tx: &mut Tx) {
        // Refill the wanted chains (created if missing) before anything
        // jumps to them.
        for (chain, rules) in &self.chains {
            tx.push("add", "chain", json!({ "name": chain }));
            tx.push("flush", "chain", json!({ "name": chain }));
            for expr in rules {
                tx.push("add", "rule", json!({ "chain": chain, "expr": expr }));
            }
        }
        // Jumps to our chains: keep those exactly as wanted (the rule keeps
        // its place), delete the rest before their targets go.
        let ours: HashSet<&str> =
            self.chains.iter().map(|(c, _)| c.as_str()).chain(self.gone.iter().map(String::as_str)).collect();
        let mut wanted: Vec<Option<&(&str, Vec<Value>)>> = self.jumps.iter().map(Some).collect();
        for rule in table.into_iter().flat_map(|t| &t.rules) {
            if !rule.jump_target().is_some_and(|t| ours.contains(t)) {
                continue;
            }
            let same = wanted.iter_mut().find(|w| w.is_some_and(|(c, e)| *c == rule.chain && rule.expr == json!(e)));
            match same {
                Some(w) => *w = None,
                None => tx.push("delete", "rule", json!({ "chain": rule.chain, "handle": rule.handle })),
            }
        }
        for chain in &self.gone {
            if table.is_some_and(|t| t.chains.contains(chain)) {
                tx.push("delete", "chain", json!({ "name": chain }));
            }
        }
        for (base, expr) in wanted.into_iter().flatten() {
            tx.push("add", "rule", json!({ "chain": base, "expr": expr }));
        }
    }
}

/// The commands of one `nft -j -f -` transaction.
#[derive(Default)]
struct Tx {
    cmds: Vec<Value>,
}

impl Tx {
    /// Starting with the table, its base chains and the bridges set: `add`
    /// leaves any that exist as they are.
    fn with_base() -> Tx {
        let mut tx = Tx::default();
        tx.cmds.push(json!({ "add": { "table": { "family": FAMILY, "name": TABLE } } }));
        for (name, kind, hook, prio) in BASE_CHAINS {
            tx.push(
                "add",
                "chain",
                json!({ "name": name, "type": kind, "hook": hook, "prio": prio, "policy": "accept" }),
            );
        }
        tx.push("add", "set", json!({ "name": BRIDGES, "type": "ifname" }));
        tx
    }

    /// `{verb: {object: {family, table, ...fields}}}`
    fn push(&mut self, verb: &str, object: &str, mut fields: Value) {
        if let Some(f) = fields.as_object_mut() {
            f.insert("family".into(), json!(FAMILY));
            f.insert("table".into(), json!(TABLE));
        }
        self.cmds.push(json!({ verb: { object: fields } }));
    }
}

/// List the table, build a transaction from it and apply it; again from a
/// new listing if nft refuses it (the table may have changed in between).
/// Nothing to do (no commands) is no run of nft.
fn transact(what: impl Fn() -> String, build: impl Fn(Option<&Table>) -> Vec<Value>) -> Result<()> {
    let nft = nft()?;
    let mut attempt = 1;
    loop {
        let table = list(&nft).context(&what)?;
        let cmds = build(table.as_ref());
        if cmds.is_empty() {
            return Ok(());
        }
        match apply(&nft, &cmds) {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS && e.kind() == std::io::ErrorKind::Other => {
                tracing::debug!("{}: {e}; trying again from a new listing", what());
                attempt += 1;
            }
            Err(e) => return Err(e).context(what),
        }
    }
}

/// The table as it is now; `None` when there is none.
fn list(nft: &Path) -> std::io::Result<Option<Table>> {
    let out = Command::new(nft).args(["-j", "list", "table", FAMILY, TABLE]).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // nft's message for a missing table (ENOENT's strerror).
        if err.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(std::io::Error::other(format!("nft list table {FAMILY} {TABLE}: {}", err.trim())));
    }
    let listing: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("nft's JSON listing: {e}")))?;
    Ok(Some(Table::parse(&listing)))
}

/// Run one transaction. nft's refusal is an error of kind `Other` (spawning
/// errors keep their own kind).
fn apply(nft: &Path, cmds: &[Value]) -> std::io::Result<()> {
    let doc = json!({ "nftables": cmds }).to_string();
    tracing::debug!("nft -j -f -: {doc}");
    // `-f -` is nft's open() of /dev/stdin, a link that only a systemd
    // (or udev) /dev has; /proc/self/fd/0 is the same pipe everywhere.
    let mut child = Command::new(nft)
        .args(["-j", "-f", "/proc/self/fd/0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // nft reads all of its input before it writes anything: writing it all
    // first, then reading stderr, cannot deadlock.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(doc.as_bytes()),
        None => Ok(()),
    };
    let out = child.wait_with_output()?;
    if !out.status.success() {
        // JSON input has no line to point at: drop the empty location.
        let err = String::from_utf8_lossy(&out.stderr).replace("internal:0:0-0: ", "");
        return Err(std::io::Error::other(format!("nft: {}", err.trim())));
    }
    written
}

/// nft: /usr/sbin/nft (root's PATH has it, a user's may not), else the PATH.
fn nft() -> Result<PathBuf> {
    let dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/sbin")).chain(dirs).map(|d| d.join("nft")).find(|p| p.is_file()).ok_or_else(
        || Error::Io {
            context: "nft not found in /usr/sbin or PATH: install nftables (apt-get install nftables)".into(),
            source: std::io::ErrorKind::NotFound.into(),
        },
    )
}
