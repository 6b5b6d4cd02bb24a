//! IP address management for container networks: validating the subnets a
//! user asks for, picking a subnet when none is given, and handing out
//! container addresses and MAC addresses.
//!
//! Podman 4.3 (its libnetwork, shared by the CNI and netavark backends) is
//! the reference: the same defaults (the first free /24 from 10.89.0.0, a
//! random ULA /64 for IPv6, the first host address as gateway), the same
//! reserved addresses (the network address, the gateway and, for IPv4, the
//! broadcast address are never given to a container) and, where podman has
//! one, the same error message.
//!
//! Where podman accepts something that cannot work, this module refuses it
//! instead (each place says so): a gateway at the network or broadcast
//! address, a subnet with no room for a gateway and a container, an
//! `--ip-range` with no address left to give, a static address that is the
//! gateway.
//!
//! Nothing here keeps state: the engine records which addresses are taken
//! and passes them in; the caller supplies randomness (for the IPv6 subnet
//! and the MAC), which keeps every function here deterministic and testable.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One subnet of a network, as stored in the network's JSON record (the
/// names follow podman's `subnets` entries; podman's `lease_range` with
/// start and end addresses is kept here as a plain prefix, `range`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet, always normalised (no host bits).
    pub subnet: IpNet,
    /// The bridge's address in this subnet, the containers' default route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// `--ip-range`: containers get their (non-static) addresses only from
    /// here. Always inside `subnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<IpNet>,
}

/// Parse and validate `--subnet S [--gateway G] [--ip-range R]`.
///
/// As podman: host bits in the subnet (or range) are dropped, not refused
/// (`10.99.0.5/24` becomes `10.99.0.0/24`); without `--gateway` the gateway
/// is the first host address.
pub fn subnet_from_user(subnet: &str, gateway: Option<&str>, range: Option<&str>) -> Result<Subnet> {
    let net = parse_cidr(subnet)?;
    if usable_bounds(&net).is_none_or(|(first, last)| last <= first) {
        // Podman accepts a /31 or /32 (and their IPv6 twins) but then has no
        // address to give any container: the network would be unusable.
        return Err(Error::Invalid(format!(
            "subnet {net} is too small: it has no address for a container besides the gateway"
        )));
    }

    let gateway = match gateway {
        Some(g) => {
            let ip = g.parse::<IpAddr>().map(normalize).map_err(|_| {
                // Podman's (cobra's) wording for a bad --gateway.
                Error::Invalid(format!(
                    "invalid argument \"{g}\" for \"--gateway\" flag: invalid string being converted to IP address: {g}"
                ))
            })?;
            if !net.contains(&ip) {
                return Err(Error::Invalid(format!("gateway {ip} not in subnet {net}")));
            }
            // Podman accepts these and then fails (or misbehaves) when the
            // bridge gets that address: refuse them up front.
            if let Some(what) = reserved_kind(&net, ip) {
                return Err(Error::Invalid(format!("gateway {ip} is the {what} of subnet {net}")));
            }
            ip
        }
        None => first_host(&net),
    };

    let range = match range {
        Some(r) => {
            let rnet = parse_cidr(r)?;
            // Podman turns the range into a lease range from its first host
            // address to its last address and checks both ends: same
            // checks, same messages.
            let (start, end) = range_ends(&rnet);
            if !net.contains(&start) {
                return Err(Error::Invalid(format!("lease range start ip {start} not in subnet {net}")));
            }
            if !net.contains(&end) {
                return Err(Error::Invalid(format!("lease range end ip {end} not in subnet {net}")));
            }
            let candidate = Subnet { subnet: net, gateway: Some(gateway), range: Some(rnet) };
            if first_free(&candidate, &HashSet::new()).is_none() {
                return Err(Error::Invalid(format!(
                    "ip range {rnet} has no address to give a container in subnet {net}"
                )));
            }
            Some(rnet)
        }
        None => None,
    };

    Ok(Subnet { subnet: net, gateway: Some(gateway), range })
}

/// Whether two subnets share any address. Subnets of different families
/// never overlap.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    // Two prefixes overlap exactly when one contains the other's network
    // address (prefixes nest or are disjoint).
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Refuse a new subnet that overlaps one of `existing` (network name,
/// subnet).
pub fn check_no_overlap(new: &IpNet, existing: &[(String, IpNet)]) -> Result<()> {
    match existing.iter().find(|(_, net)| overlaps(new, net)) {
        // Podman's sentence, then which network has it (podman does not say).
        Some((name, net)) => Err(Error::Invalid(format!(
            "subnet {} is already used on the host or by another config (network {name:?} has {})",
            new.trunc(),
            net.trunc()
        ))),
        None => Ok(()),
    }
}

/// The first /24 of the IPv4 default pool.
const POOL_START: u32 = u32::from_be_bytes([10, 89, 0, 0]);
/// One past the pool's last address, 10.255.255.255: 11.0.0.0.
const POOL_END: u64 = 0x0b00_0000;

/// The subnet a new network gets without `--subnet`: the first /24 from
/// 10.89.0.0 upward that overlaps none of `used`.
///
/// Podman 4.3 walks /24s from 10.89.0.0 with no upper bound (into public
/// space: its own TODO says so); later podman stops at the end of 10.0.0.0/8
/// (its default subnet pools cover 10.89.0.0 to 10.255.255.255). This stops
/// there too.
pub fn free_subnet(used: &[IpNet]) -> Result<IpNet> {
    let mut candidate = u64::from(POOL_START);
    while candidate < POOL_END {
        let net = v4_net(candidate, 24)?;
        // Jump past every used subnet that overlaps the candidate rather than
        // stepping one /24 at a time: a used /9 is skipped in one step.
        let next = used
            .iter()
            .filter(|u| overlaps(&net, u))
            .filter_map(|u| match u.broadcast() {
                IpAddr::V4(b) => Some(u64::from(u32::from(b)) + 1),
                IpAddr::V6(_) => None,
            })
            .max();
        match next {
            None => return Ok(net),
            // Round up to the next /24 boundary; never go backwards.
            Some(end) => candidate = (end.div_ceil(256) * 256).max(candidate + 256),
        }
    }
    Err(Error::Exhausted(
        "could not find free subnet from subnet pools: every /24 from 10.89.0.0 to 10.255.255.0 is in use".to_string(),
    ))
}

fn v4_net(addr: u64, prefix: u8) -> Result<IpNet> {
    let addr = u32::try_from(addr).map_err(|_| Error::Invalid(format!("{addr} is not an IPv4 address")))?;
    IpNet::new(IpAddr::V4(Ipv4Addr::from(addr)), prefix).map_err(|e| Error::Invalid(e.to_string()))
}

/// A unique local (RFC 4193) /64 for a network created with `--ipv6` and no
/// IPv6 subnet: `fdXX:XXXX:XXXX::/64` with the 40-bit global ID taken from
/// `random`, as podman picks a random ULA /64.
///
/// If that overlaps one of `used`, the next subnet IDs of the same /48 are
/// tried (`fdXX:XXXX:XXXX:1::/64`, ...); if the whole /48 is taken, other
/// global IDs derived from `random` are. Deterministic for given bytes. Only
/// if no candidate is free (`used` covers all of fd00::/8) is the first one
/// returned regardless: the caller's `check_no_overlap` then reports it.
pub fn free_ipv6_subnet(used: &[IpNet], random: [u8; 5]) -> IpNet {
    let global = random.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let make = |global: u64, subnet_id: u16| -> IpNet {
        let bits = 0xfdu128 << 120 | u128::from(global & 0xff_ffff_ffff) << 80 | u128::from(subnet_id) << 64;
        IpNet::V6(ipnet::Ipv6Net::new_assert(Ipv6Addr::from(bits), 64))
    };
    let is_free = |net: &IpNet| !used.iter().any(|u| overlaps(net, u));

    let first = make(global, 0);
    if let Some(net) = (0..=u16::MAX).map(|id| make(global, id)).find(is_free) {
        return net;
    }
    // The /48 is covered by something shorter: step through global IDs with
    // a large odd stride (which visits every 40-bit value before repeating),
    // so the candidates spread over fd00::/8 instead of staying next to the
    // covered block.
    const STRIDE: u64 = 0x9e_3779_b97f; // 2^40 / golden ratio, odd
    (1..=u64::from(u16::MAX))
        .map(|k| make(global.wrapping_add(k.wrapping_mul(STRIDE)), 0))
        .find(is_free)
        .unwrap_or(first)
}

/// The lowest free address for a container in `subnet`: inside its range if
/// it has one, never the network address, the gateway, the IPv4 broadcast
/// address, nor any address in `used`.
///
/// Cost is linear in `used`, whatever the size of the subnet: each candidate
/// passed over is in `used` or reserved, so the scan stops within
/// `used.len() + 2` steps (the gateway being the only reserved address
/// inside the bounds walked).
pub fn allocate(subnet: &Subnet, used: &[IpAddr]) -> Result<IpAddr> {
    let used: HashSet<u128> = used
        .iter()
        .map(|ip| normalize(*ip))
        .filter(|ip| ip.is_ipv4() == subnet.subnet.network().is_ipv4())
        .map(to_bits)
        .collect();
    if let Some(ip) = first_free(subnet, &used) {
        return Ok(ip);
    }
    // Podman's wording ("IPAM error: failed to find free IP in range: A - B"),
    // naming the subnet too.
    let (start, end) = allocation_bounds(subnet).unwrap_or((subnet.subnet.network(), subnet.subnet.broadcast()));
    Err(Error::Exhausted(format!(
        "IPAM error: failed to find free IP in range: {start} - {end} (subnet {}): every address is taken",
        subnet.subnet
    )))
}

/// `--ip`: parse a static address and check a container may have it on a
/// network with these subnets.
pub fn parse_static_ip(ip: &str, subnets: &[Subnet]) -> Result<IpAddr> {
    // Podman's message for an unparsable --ip.
    let addr =
        ip.parse::<IpAddr>().map(normalize).map_err(|_| Error::Invalid(format!("{ip:?} is not an ip address")))?;
    let Some(s) = subnets.iter().find(|s| s.subnet.contains(&addr)) else {
        // Podman: "requested static ip X not in any subnet on network NAME";
        // the name is the caller's, so the subnets are listed instead.
        let list = subnets.iter().map(|s| s.subnet.to_string()).collect::<Vec<_>>().join(", ");
        return Err(Error::Invalid(format!("requested static ip {addr} not in any subnet on network ({list})")));
    };
    // Podman only checks the subnet and lets the address fail later (or
    // clash with the bridge): refuse the reserved ones here.
    if s.gateway == Some(addr) {
        return Err(Error::Invalid(format!("requested static ip {addr} is the gateway of subnet {}", s.subnet)));
    }
    if let Some(what) = reserved_kind(&s.subnet, addr) {
        return Err(Error::Invalid(format!("requested static ip {addr} is the {what} of subnet {}", s.subnet)));
    }
    Ok(addr)
}

/// A random MAC made a valid one for an interface: unicast (bit 0 of the
/// first byte clear) and locally administered (bit 1 set), so it can clash
/// with no vendor-assigned address.
pub fn mac_from_bytes(random: [u8; 6]) -> [u8; 6] {
    let mut mac = random;
    mac[0] = (mac[0] & !0x01) | 0x02;
    mac
}

/// `aa:bb:cc:dd:ee:ff`, the form `ip link` and podman print.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Parse a prefix as podman does (Go's `net.ParseCIDR`: the prefix length
/// is required), dropping host bits.
fn parse_cidr(s: &str) -> Result<IpNet> {
    let net = s.parse::<IpNet>().map_err(|_| Error::Invalid(format!("invalid CIDR address: {s}")))?;
    Ok(net.trunc())
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address, as
/// in Go (podman); everything else is left as it is.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// `bits` as an address of the same family as `like`.
fn from_bits(bits: u128, like: &IpNet) -> IpAddr {
    match like {
        // Only ever called with bits inside an IPv4 net: the cast cannot
        // truncate.
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// Podman's `FirstIPInSubnet`: the network address plus one, or the only
/// address of a single-address prefix. The default gateway.
fn first_host(net: &IpNet) -> IpAddr {
    if net.prefix_len() == net.max_prefix_len() {
        return net.network();
    }
    from_bits(to_bits(net.network()) + 1, net)
}

/// The ends of podman's lease range for `--ip-range R`: R's first host
/// address to R's last address.
fn range_ends(range: &IpNet) -> (IpAddr, IpAddr) {
    (first_host(range), range.broadcast())
}

/// What makes `ip` unassignable in `net` regardless of the gateway: the
/// network address (both families: podman never assigns it) or the IPv4
/// broadcast address.
fn reserved_kind(net: &IpNet, ip: IpAddr) -> Option<&'static str> {
    if ip == net.network() {
        Some("network address")
    } else if net.network().is_ipv4() && ip == net.broadcast() {
        Some("broadcast address")
    } else {
        None
    }
}

/// The first and last address a container may get in `net` (gateway aside),
/// or None when there is none.
fn usable_bounds(net: &IpNet) -> Option<(u128, u128)> {
    let first = to_bits(net.network()).checked_add(1)?;
    let last = match net {
        IpNet::V4(_) => to_bits(net.broadcast()).checked_sub(1)?,
        IpNet::V6(_) => to_bits(net.broadcast()),
    };
    (first <= last && net.prefix_len() < net.max_prefix_len()).then_some((first, last))
}

/// The addresses allocation walks: the range's lease range if any, cut to
/// what the subnet lets a container have (so a broadcast address at the end
/// of the range is skipped, as podman does).
fn allocation_bounds(subnet: &Subnet) -> Option<(IpAddr, IpAddr)> {
    let (mut first, mut last) = usable_bounds(&subnet.subnet)?;
    if let Some(range) = &subnet.range {
        if range.network().is_ipv4() != subnet.subnet.network().is_ipv4() {
            return None;
        }
        let (start, end) = range_ends(range);
        first = first.max(to_bits(start));
        last = last.min(to_bits(end));
    }
    (first <= last).then(|| (from_bits(first, &subnet.subnet), from_bits(last, &subnet.subnet)))
}

/// The lowest address of `allocation_bounds` neither the gateway nor in
/// `used` (addresses as bits, same family as the subnet).
fn first_free(subnet: &Subnet, used: &HashSet<u128>) -> Option<IpAddr> {
    let (first, last) = allocation_bounds(subnet)?;
    let gateway = subnet.gateway.map(|g| to_bits(normalize(g)));
    let (first, last) = (to_bits(first), to_bits(last));
    let mut bits = first;
    loop {
        if Some(bits) != gateway && !used.contains(&bits) {
            return Some(from_bits(bits, &subnet.subnet));
        }
        if bits == last {
            return None;
        }
        bits += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn invalid(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected Error::Invalid, got {other:?}"),
        }
    }

    fn exhausted(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Exhausted(m)) => m,
            other => panic!("expected Error::Exhausted, got {other:?}"),
        }
    }

    fn sub(subnet: &str, gateway: Option<&str>, range: Option<&str>) -> Subnet {
        Subnet { subnet: net(subnet), gateway: gateway.map(ip), range: range.map(net) }
    }

    // ---- subnet_from_user ----

    #[test]
    fn default_gateway_is_first_host() {
        let s = subnet_from_user("10.88.0.0/16", None, None).unwrap();
        assert_eq!(s, sub("10.88.0.0/16", Some("10.88.0.1"), None));
        let s = subnet_from_user("fd99:1::/64", None, None).unwrap();
        assert_eq!(s, sub("fd99:1::/64", Some("fd99:1::1"), None));
    }

    #[test]
    fn explicit_gateway() {
        let s = subnet_from_user("10.99.0.0/24", Some("10.99.0.254"), None).unwrap();
        assert_eq!(s.gateway, Some(ip("10.99.0.254")));
        let s = subnet_from_user("fd99::/64", Some("fd99::ffff"), None).unwrap();
        assert_eq!(s.gateway, Some(ip("fd99::ffff")));
        // IPv4-mapped IPv6 is IPv4, as in Go.
        let s = subnet_from_user("10.99.0.0/24", Some("::ffff:10.99.0.9"), None).unwrap();
        assert_eq!(s.gateway, Some(ip("10.99.0.9")));
    }

    #[test]
    fn host_bits_are_dropped_like_podman() {
        let s = subnet_from_user("10.99.0.5/24", None, None).unwrap();
        assert_eq!(s.subnet, net("10.99.0.0/24"));
        assert_eq!(s.gateway, Some(ip("10.99.0.1")));
        let s = subnet_from_user("fd99:1::5/64", None, None).unwrap();
        assert_eq!(s.subnet, net("fd99:1::/64"));
        assert_eq!(s.gateway, Some(ip("fd99:1::1")));
    }

    #[test]
    fn unparsable_subnet() {
        for bad in ["garbage", "10.99.0.0", "10.99.0.0/33", "fd00::/129", "", "10.99.0.0/", "10.99.0.256/24"] {
            let m = invalid(subnet_from_user(bad, None, None));
            assert_eq!(m, format!("invalid CIDR address: {bad}"));
        }
    }

    #[test]
    fn gateway_outside_subnet() {
        let m = invalid(subnet_from_user("10.99.0.0/24", Some("10.98.0.1"), None));
        assert_eq!(m, "gateway 10.98.0.1 not in subnet 10.99.0.0/24");
        let m = invalid(subnet_from_user("fd99:2::/64", Some("fd99:3::1"), None));
        assert_eq!(m, "gateway fd99:3::1 not in subnet fd99:2::/64");
        // Wrong family.
        let m = invalid(subnet_from_user("10.99.6.0/24", Some("fd00::1"), None));
        assert_eq!(m, "gateway fd00::1 not in subnet 10.99.6.0/24");
        let m = invalid(subnet_from_user("fd99::/64", Some("10.99.6.1"), None));
        assert_eq!(m, "gateway 10.99.6.1 not in subnet fd99::/64");
        // Checked against the normalised subnet.
        let m = invalid(subnet_from_user("10.99.0.5/24", Some("10.99.1.1"), None));
        assert_eq!(m, "gateway 10.99.1.1 not in subnet 10.99.0.0/24");
    }

    #[test]
    fn unparsable_gateway() {
        let m = invalid(subnet_from_user("10.99.2.0/24", Some("bad"), None));
        assert_eq!(
            m,
            "invalid argument \"bad\" for \"--gateway\" flag: invalid string being converted to IP address: bad"
        );
        let m = invalid(subnet_from_user("10.99.8.0/24", Some("10.99.8.300"), None));
        assert!(m.ends_with("invalid string being converted to IP address: 10.99.8.300"), "{m}");
    }

    #[test]
    fn gateway_at_network_or_broadcast_address() {
        let m = invalid(subnet_from_user("10.99.1.0/24", Some("10.99.1.0"), None));
        assert_eq!(m, "gateway 10.99.1.0 is the network address of subnet 10.99.1.0/24");
        let m = invalid(subnet_from_user("10.99.1.0/24", Some("10.99.1.255"), None));
        assert_eq!(m, "gateway 10.99.1.255 is the broadcast address of subnet 10.99.1.0/24");
        let m = invalid(subnet_from_user("fd99::/64", Some("fd99::"), None));
        assert_eq!(m, "gateway fd99:: is the network address of subnet fd99::/64");
        // IPv6 has no broadcast address: the last one is a host.
        let s = subnet_from_user("fd99::/64", Some("fd99::ffff:ffff:ffff:ffff"), None).unwrap();
        assert_eq!(s.gateway, Some(ip("fd99::ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn subnet_too_small() {
        for small in ["10.99.9.0/32", "10.99.10.0/31", "fd99::/128", "fd99::/127"] {
            let m = invalid(subnet_from_user(small, None, None));
            assert!(m.starts_with(&format!("subnet {small} is too small")), "{m}");
        }
        // A /30 holds the gateway and one container; a /126 two.
        assert_eq!(subnet_from_user("10.99.11.0/30", None, None).unwrap().gateway, Some(ip("10.99.11.1")));
        assert_eq!(subnet_from_user("fd99::/126", None, None).unwrap().gateway, Some(ip("fd99::1")));
    }

    #[test]
    fn ip_range_inside() {
        let s = subnet_from_user("10.99.3.0/24", None, Some("10.99.3.128/25")).unwrap();
        assert_eq!(s, sub("10.99.3.0/24", Some("10.99.3.1"), Some("10.99.3.128/25")));
        // Host bits dropped, as podman (10.99.5.130/25 -> 10.99.5.128/25).
        let s = subnet_from_user("10.99.5.0/24", None, Some("10.99.5.130/25")).unwrap();
        assert_eq!(s.range, Some(net("10.99.5.128/25")));
        let s = subnet_from_user("fd99:6::/64", None, Some("fd99:6::100/120")).unwrap();
        assert_eq!(s.range, Some(net("fd99:6::100/120")));
        // The whole subnet as the range.
        let s = subnet_from_user("10.99.7.0/24", None, Some("10.99.7.0/24")).unwrap();
        assert_eq!(s.range, Some(net("10.99.7.0/24")));
        // A single address.
        let s = subnet_from_user("10.99.7.0/24", None, Some("10.99.7.9/32")).unwrap();
        assert_eq!(s.range, Some(net("10.99.7.9/32")));
    }

    #[test]
    fn ip_range_outside() {
        let m = invalid(subnet_from_user("10.99.2.0/24", None, Some("10.98.0.0/28")));
        assert_eq!(m, "lease range start ip 10.98.0.1 not in subnet 10.99.2.0/24");
        // Larger than the subnet: its start is already outside.
        let m = invalid(subnet_from_user("10.99.4.0/24", None, Some("10.99.0.0/16")));
        assert_eq!(m, "lease range start ip 10.99.0.1 not in subnet 10.99.4.0/24");
        // Starting inside, ending outside.
        let m = invalid(subnet_from_user("10.99.4.0/24", None, Some("10.99.4.0/23")));
        assert_eq!(m, "lease range end ip 10.99.5.255 not in subnet 10.99.4.0/24");
        let m = invalid(subnet_from_user("fd99:4::/64", None, Some("fd99:5::/120")));
        assert_eq!(m, "lease range start ip fd99:5::1 not in subnet fd99:4::/64");
        // Wrong family.
        let m = invalid(subnet_from_user("10.99.4.0/24", None, Some("fd99:5::/120")));
        assert_eq!(m, "lease range start ip fd99:5::1 not in subnet 10.99.4.0/24");
    }

    #[test]
    fn ip_range_unparsable() {
        let m = invalid(subnet_from_user("10.99.2.0/24", None, Some("bad")));
        assert_eq!(m, "invalid CIDR address: bad");
        let m = invalid(subnet_from_user("10.99.12.0/24", None, Some("10.99.12.0")));
        assert_eq!(m, "invalid CIDR address: 10.99.12.0");
    }

    #[test]
    fn ip_range_with_nothing_to_give() {
        // Only the broadcast address.
        let m = invalid(subnet_from_user("10.99.2.0/24", None, Some("10.99.2.255/32")));
        assert_eq!(m, "ip range 10.99.2.255/32 has no address to give a container in subnet 10.99.2.0/24");
        // Only the gateway.
        let m = invalid(subnet_from_user("10.99.2.0/24", Some("10.99.2.9"), Some("10.99.2.9/32")));
        assert!(m.starts_with("ip range 10.99.2.9/32 has no address"), "{m}");
    }

    // ---- serde ----

    #[test]
    fn serde_field_names_and_skips() {
        let s = sub("10.99.3.0/24", Some("10.99.3.1"), Some("10.99.3.128/25"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"subnet":"10.99.3.0/24","gateway":"10.99.3.1","range":"10.99.3.128/25"}"#);
        assert_eq!(serde_json::from_str::<Subnet>(&json).unwrap(), s);

        let s = sub("fd99::/64", None, None);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"subnet":"fd99::/64"}"#);
        assert_eq!(serde_json::from_str::<Subnet>(&json).unwrap(), s);

        // Podman's own entries (no range) read as they are.
        let s: Subnet = serde_json::from_str(r#"{"subnet":"10.88.0.0/16","gateway":"10.88.0.1"}"#).unwrap();
        assert_eq!(s, sub("10.88.0.0/16", Some("10.88.0.1"), None));
    }

    // ---- overlaps / check_no_overlap ----

    #[test]
    fn overlap_both_directions() {
        let big = net("10.99.0.0/16");
        let small = net("10.99.3.0/24");
        assert!(overlaps(&big, &small));
        assert!(overlaps(&small, &big));
        assert!(overlaps(&small, &small));
        // Host bits do not matter.
        assert!(overlaps(&net("10.99.3.77/24"), &net("10.99.3.128/25")));
        assert!(overlaps(&net("10.99.3.128/25"), &net("10.99.3.77/24")));
        assert!(overlaps(&net("fd00::/8"), &net("fd99:1::/64")));
        assert!(overlaps(&net("fd99:1::/64"), &net("fd00::/8")));
    }

    #[test]
    fn no_overlap_when_disjoint() {
        // Adjacent.
        assert!(!overlaps(&net("10.99.0.0/24"), &net("10.99.1.0/24")));
        assert!(!overlaps(&net("10.99.1.0/24"), &net("10.99.0.0/24")));
        assert!(!overlaps(&net("10.99.0.0/25"), &net("10.99.0.128/25")));
        assert!(!overlaps(&net("fd99:1::/64"), &net("fd99:2::/64")));
    }

    #[test]
    fn v4_and_v6_never_overlap() {
        assert!(!overlaps(&net("0.0.0.0/0"), &net("::/0")));
        assert!(!overlaps(&net("::/0"), &net("0.0.0.0/0")));
        assert!(!overlaps(&net("10.0.0.0/8"), &net("::ffff:10.0.0.0/104")));
        assert!(!overlaps(&net("::ffff:10.0.0.0/104"), &net("10.0.0.0/8")));
    }

    #[test]
    fn check_no_overlap_messages() {
        let existing = vec![("a".to_string(), net("10.99.0.0/24")), ("podman".to_string(), net("10.88.0.0/16"))];
        check_no_overlap(&net("10.99.1.0/24"), &existing).unwrap();
        check_no_overlap(&net("fd99::/64"), &existing).unwrap();
        check_no_overlap(&net("10.99.0.0/24"), &[]).unwrap();

        let m = invalid(check_no_overlap(&net("10.99.0.0/24"), &existing));
        assert_eq!(
            m,
            "subnet 10.99.0.0/24 is already used on the host or by another config (network \"a\" has 10.99.0.0/24)"
        );
        // New inside existing.
        let m = invalid(check_no_overlap(&net("10.88.5.0/24"), &existing));
        assert_eq!(
            m,
            "subnet 10.88.5.0/24 is already used on the host or by another config (network \"podman\" has 10.88.0.0/16)"
        );
        // Existing inside new; host bits shown normalised (podman shows 10.99.0.0/16).
        let m = invalid(check_no_overlap(&net("10.99.0.7/16"), &existing));
        assert!(m.starts_with("subnet 10.99.0.0/16 is already used on the host or by another config"), "{m}");
        let m = invalid(check_no_overlap(&net("10.99.0.128/25"), &existing));
        assert!(m.starts_with("subnet 10.99.0.128/25 is already used"), "{m}");
    }

    // ---- free_subnet ----

    #[test]
    fn free_subnet_first_is_10_89_0() {
        assert_eq!(free_subnet(&[]).unwrap(), net("10.89.0.0/24"));
        // The default network and unrelated or IPv6 subnets change nothing.
        let used = [net("10.88.0.0/16"), net("fd00::/8"), net("192.168.0.0/16")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.89.0.0/24"));
    }

    #[test]
    fn free_subnet_skips_used() {
        let used = [net("10.89.0.0/24"), net("10.89.1.0/24")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.89.2.0/24"));
        // A gap is filled.
        let used = [net("10.89.0.0/24"), net("10.89.2.0/24")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.89.1.0/24"));
        // Partly used /24s are skipped (podman: 10.89.2.0/23 blocks two).
        let used = [net("10.89.0.128/25"), net("10.89.1.7/32")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.89.2.0/24"));
        // A supernet is jumped over.
        let used = [net("10.89.0.0/16")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.90.0.0/24"));
        let used = [net("10.89.0.0/16"), net("10.90.0.0/15"), net("10.92.0.3/14"), net("10.96.0.0/24")];
        assert_eq!(free_subnet(&used).unwrap(), net("10.96.1.0/24"));
        // Many /24s in use, in any order.
        let mut used: Vec<IpNet> = (0..=255u8).rev().map(|i| net(&format!("10.89.{i}.0/24"))).collect();
        used.push(net("10.90.0.0/24"));
        assert_eq!(free_subnet(&used).unwrap(), net("10.90.1.0/24"));
    }

    #[test]
    fn free_subnet_exhausted() {
        let m = exhausted(free_subnet(&[net("10.0.0.0/8")]));
        assert!(m.starts_with("could not find free subnet from subnet pools"), "{m}");
        exhausted(free_subnet(&[net("0.0.0.0/0")]));
        exhausted(free_subnet(&[
            net("10.128.0.0/9"),
            net("10.89.0.0/16"),
            net("10.90.0.0/15"),
            net("10.92.0.0/14"),
            net("10.96.0.0/11"),
        ]));
        // The last /24 of the pool is still given.
        let used = [
            net("10.89.0.0/16"),
            net("10.90.0.0/15"),
            net("10.92.0.0/14"),
            net("10.96.0.0/11"),
            net("10.128.0.0/10"),
            net("10.192.0.0/11"),
            net("10.224.0.0/12"),
            net("10.240.0.0/13"),
            net("10.248.0.0/14"),
            net("10.252.0.0/15"),
            net("10.254.0.0/16"),
            net("10.255.0.0/17"),
            net("10.255.128.0/18"),
            net("10.255.192.0/19"),
            net("10.255.224.0/20"),
            net("10.255.240.0/21"),
            net("10.255.248.0/22"),
            net("10.255.252.0/23"),
            net("10.255.254.0/24"),
        ];
        assert_eq!(free_subnet(&used).unwrap(), net("10.255.255.0/24"));
    }

    // ---- free_ipv6_subnet ----

    #[test]
    fn ipv6_subnet_from_random_bytes() {
        let n = free_ipv6_subnet(&[], [0x4e, 0x0f, 0x18, 0xe5, 0xcb]);
        assert_eq!(n, net("fd4e:f18:e5cb::/64"));
        assert_eq!(free_ipv6_subnet(&[], [0; 5]), net("fd00::/64"));
        assert_eq!(free_ipv6_subnet(&[], [0xff; 5]), net("fdff:ffff:ffff::/64"));
        // Deterministic; IPv4 subnets do not matter.
        assert_eq!(free_ipv6_subnet(&[net("10.0.0.0/8")], [1, 2, 3, 4, 5]), free_ipv6_subnet(&[], [1, 2, 3, 4, 5]));
    }

    #[test]
    fn ipv6_subnet_avoids_used() {
        let r = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let used = [net("fd12:3456:789a::/64")];
        assert_eq!(free_ipv6_subnet(&used, r), net("fd12:3456:789a:1::/64"));
        let used = [net("fd12:3456:789a::/63")];
        assert_eq!(free_ipv6_subnet(&used, r), net("fd12:3456:789a:2::/64"));
        // The whole /48 (and more) taken: another ULA /64, free.
        for covering in ["fd12:3456:789a::/48", "fd12::/16", "fd00::/9"] {
            let used = [net(covering)];
            let n = free_ipv6_subnet(&used, r);
            assert!(net("fd00::/8").contains(&n), "{n}");
            assert_eq!(n.prefix_len(), 64);
            assert!(!overlaps(&n, &used[0]), "{n} overlaps {covering}");
            assert_eq!(n, free_ipv6_subnet(&used, r));
        }
        // Nothing free at all: the first candidate, for check_no_overlap to report.
        assert_eq!(free_ipv6_subnet(&[net("fd00::/8")], r), net("fd12:3456:789a::/64"));
    }

    // ---- allocate ----

    #[test]
    fn allocate_skips_network_and_gateway() {
        let s = sub("10.99.0.0/24", Some("10.99.0.1"), None);
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.0.2"));
        assert_eq!(allocate(&s, &[ip("10.99.0.2")]).unwrap(), ip("10.99.0.3"));
        // Lowest free, not after the highest used.
        assert_eq!(allocate(&s, &[ip("10.99.0.3"), ip("10.99.0.5")]).unwrap(), ip("10.99.0.2"));
        // No gateway: the first host address is free.
        let s = sub("10.99.0.0/24", None, None);
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.0.1"));
        // Gateway elsewhere.
        let s = sub("10.99.0.0/24", Some("10.99.0.3"), None);
        assert_eq!(allocate(&s, &[ip("10.99.0.1"), ip("10.99.0.2")]).unwrap(), ip("10.99.0.4"));
    }

    #[test]
    fn allocate_slash16_with_first_thousand_taken() {
        let s = subnet_from_user("10.88.0.0/16", None, None).unwrap();
        // 10.88.0.2 .. upward, 1000 addresses.
        let used: Vec<IpAddr> =
            (2u32..1002).map(|i| IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes([10, 88, 0, 0]) + i))).collect();
        assert_eq!(allocate(&s, &used).unwrap(), ip("10.88.3.234")); // 10.88.0.0 + 1002
                                                                     // The broadcast address of a /24 inside the /16 is an ordinary host.
        assert!(used.contains(&ip("10.88.0.255")));
    }

    #[test]
    fn allocate_almost_full_slash16_is_fast() {
        let s = subnet_from_user("10.88.0.0/16", None, None).unwrap();
        let base = u32::from_be_bytes([10, 88, 0, 0]);
        let mut used: Vec<IpAddr> = (2u32..=65534).map(|i| IpAddr::V4(Ipv4Addr::from(base + i))).collect();
        used.retain(|a| *a != ip("10.88.200.7"));
        let start = std::time::Instant::now();
        assert_eq!(allocate(&s, &used).unwrap(), ip("10.88.200.7"));
        used.push(ip("10.88.200.7"));
        let m = exhausted(allocate(&s, &used));
        assert_eq!(
            m,
            "IPAM error: failed to find free IP in range: 10.88.0.1 - 10.88.255.254 (subnet 10.88.0.0/16): every address is taken"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn allocate_slash8_does_not_enumerate() {
        let s = subnet_from_user("10.0.0.0/8", None, None).unwrap();
        assert_eq!(allocate(&s, &[ip("10.0.0.2")]).unwrap(), ip("10.0.0.3"));
        let s = subnet_from_user("fd00::/8", None, None).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("fd00::2"));
    }

    #[test]
    fn allocate_full_slash30() {
        let s = subnet_from_user("10.99.11.0/30", None, None).unwrap();
        // .0 network, .1 gateway, .3 broadcast: only .2.
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.11.2"));
        let m = exhausted(allocate(&s, &[ip("10.99.11.2")]));
        assert_eq!(
            m,
            "IPAM error: failed to find free IP in range: 10.99.11.1 - 10.99.11.2 (subnet 10.99.11.0/30): every address is taken"
        );
    }

    #[test]
    fn allocate_never_the_broadcast() {
        let s = sub("10.99.0.0/24", Some("10.99.0.1"), None);
        let used: Vec<IpAddr> = (2u8..=254).map(|i| IpAddr::V4(Ipv4Addr::new(10, 99, 0, i))).collect();
        exhausted(allocate(&s, &used));
    }

    #[test]
    fn allocate_ipv6() {
        let s = subnet_from_user("fd99:1::/64", None, None).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("fd99:1::2"));
        assert_eq!(allocate(&s, &[ip("fd99:1::2"), ip("fd99:1::3")]).unwrap(), ip("fd99:1::4"));
        // The last address of an IPv6 subnet is a host (no broadcast).
        let s = subnet_from_user("fd99::/126", None, None).unwrap();
        assert_eq!(allocate(&s, &[ip("fd99::2")]).unwrap(), ip("fd99::3"));
        let m = exhausted(allocate(&s, &[ip("fd99::2"), ip("fd99::3")]));
        assert!(m.contains("fd99::1 - fd99::3 (subnet fd99::/126)"), "{m}");
        // The top of the address space does not overflow.
        let s = sub("ffff:ffff:ffff:ffff::/64", Some("ffff:ffff:ffff:ffff::1"), None);
        let last = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let r = Subnet { range: Some(net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124")), ..s };
        let used: Vec<IpAddr> = (0xfff1u16..0xffff)
            .map(|i| IpAddr::V6(Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, i)))
            .collect();
        assert_eq!(allocate(&r, &used).unwrap(), last);
        let mut used = used;
        used.push(last);
        exhausted(allocate(&r, &used));
    }

    #[test]
    fn allocate_ignores_other_families_and_outsiders() {
        let s = sub("10.99.0.0/24", Some("10.99.0.1"), None);
        let used = [ip("fd99::2"), ip("10.98.0.2"), ip("::ffff:10.99.0.2")];
        // The IPv4-mapped one is 10.99.0.2.
        assert_eq!(allocate(&s, &used).unwrap(), ip("10.99.0.3"));
    }

    #[test]
    fn allocate_in_range() {
        // Podman's lease range for 10.99.3.128/25: .129 - .255 (.255 being
        // the broadcast, not given).
        let s = subnet_from_user("10.99.3.0/24", None, Some("10.99.3.128/25")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.129"));
        let used: Vec<IpAddr> = (129u8..=253).map(|i| IpAddr::V4(Ipv4Addr::new(10, 99, 3, i))).collect();
        assert_eq!(allocate(&s, &used).unwrap(), ip("10.99.3.254"));
        let mut used = used;
        used.push(ip("10.99.3.254"));
        // The subnet has room below the range, but the range is full.
        let m = exhausted(allocate(&s, &used));
        assert_eq!(
            m,
            "IPAM error: failed to find free IP in range: 10.99.3.129 - 10.99.3.254 (subnet 10.99.3.0/24): every address is taken"
        );
        // A range in the middle; its last address is a host of the subnet.
        let s = subnet_from_user("10.99.3.0/24", None, Some("10.99.3.16/30")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.17"));
        assert_eq!(allocate(&s, &[ip("10.99.3.17"), ip("10.99.3.18")]).unwrap(), ip("10.99.3.19"));
        exhausted(allocate(&s, &[ip("10.99.3.17"), ip("10.99.3.18"), ip("10.99.3.19")]));
        // A range holding the gateway skips it.
        let s = subnet_from_user("10.99.3.0/24", Some("10.99.3.17"), Some("10.99.3.16/30")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.18"));
        // The whole subnet as range: as without one.
        let s = subnet_from_user("10.99.3.0/24", None, Some("10.99.3.0/24")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.2"));
        // A single-address range.
        let s = subnet_from_user("10.99.3.0/24", None, Some("10.99.3.77/32")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.77"));
        exhausted(allocate(&s, &[ip("10.99.3.77")]));
        // IPv6 range.
        let s = subnet_from_user("fd99:6::/64", None, Some("fd99:6::100/120")).unwrap();
        assert_eq!(allocate(&s, &[]).unwrap(), ip("fd99:6::101"));
        assert_eq!(allocate(&s, &[ip("fd99:6::101")]).unwrap(), ip("fd99:6::102"));
    }

    #[test]
    fn allocate_with_inconsistent_records() {
        // Not produced by subnet_from_user, but a hand-edited record must not
        // make allocate hand out an address outside the subnet or panic.
        let s = sub("10.99.3.0/24", None, Some("10.99.0.0/16"));
        assert_eq!(allocate(&s, &[]).unwrap(), ip("10.99.3.1"));
        let s = sub("10.99.3.0/24", None, Some("fd00::/64"));
        exhausted(allocate(&s, &[]));
        let s = sub("10.99.3.0/32", None, None);
        exhausted(allocate(&s, &[]));
        let s = sub("10.99.3.0/31", None, None);
        exhausted(allocate(&s, &[]));
        let s = sub("fd99::/128", None, None);
        exhausted(allocate(&s, &[]));
    }

    // ---- parse_static_ip ----

    fn dual_stack() -> Vec<Subnet> {
        vec![
            subnet_from_user("10.99.0.0/24", None, Some("10.99.0.128/25")).unwrap(),
            subnet_from_user("fd99:1::/64", None, None).unwrap(),
        ]
    }

    #[test]
    fn static_ip_ok() {
        let subnets = dual_stack();
        assert_eq!(parse_static_ip("10.99.0.7", &subnets).unwrap(), ip("10.99.0.7"));
        // Outside the range is fine: the range is for dynamic addresses.
        assert_eq!(parse_static_ip("10.99.0.2", &subnets).unwrap(), ip("10.99.0.2"));
        assert_eq!(parse_static_ip("fd99:1::99", &subnets).unwrap(), ip("fd99:1::99"));
        assert_eq!(
            parse_static_ip("fd99:1::ffff:ffff:ffff:ffff", &subnets).unwrap(),
            ip("fd99:1::ffff:ffff:ffff:ffff")
        );
        assert_eq!(parse_static_ip("::ffff:10.99.0.7", &subnets).unwrap(), ip("10.99.0.7"));
    }

    #[test]
    fn static_ip_unparsable() {
        let m = invalid(parse_static_ip("bad", &dual_stack()));
        assert_eq!(m, "\"bad\" is not an ip address");
        let m = invalid(parse_static_ip("114232346", &dual_stack()));
        assert_eq!(m, "\"114232346\" is not an ip address");
        let m = invalid(parse_static_ip("10.99.0.7/24", &dual_stack()));
        assert_eq!(m, "\"10.99.0.7/24\" is not an ip address");
    }

    #[test]
    fn static_ip_not_in_subnet() {
        let m = invalid(parse_static_ip("10.98.0.5", &dual_stack()));
        assert_eq!(m, "requested static ip 10.98.0.5 not in any subnet on network (10.99.0.0/24, fd99:1::/64)");
        let m = invalid(parse_static_ip("fd00::5", &dual_stack()));
        assert!(m.starts_with("requested static ip fd00::5 not in any subnet on network"), "{m}");
        let m = invalid(parse_static_ip("10.99.0.5", &[]));
        assert_eq!(m, "requested static ip 10.99.0.5 not in any subnet on network ()");
    }

    #[test]
    fn static_ip_reserved() {
        let subnets = dual_stack();
        let m = invalid(parse_static_ip("10.99.0.1", &subnets));
        assert_eq!(m, "requested static ip 10.99.0.1 is the gateway of subnet 10.99.0.0/24");
        let m = invalid(parse_static_ip("10.99.0.0", &subnets));
        assert_eq!(m, "requested static ip 10.99.0.0 is the network address of subnet 10.99.0.0/24");
        let m = invalid(parse_static_ip("10.99.0.255", &subnets));
        assert_eq!(m, "requested static ip 10.99.0.255 is the broadcast address of subnet 10.99.0.0/24");
        let m = invalid(parse_static_ip("fd99:1::1", &subnets));
        assert_eq!(m, "requested static ip fd99:1::1 is the gateway of subnet fd99:1::/64");
        let m = invalid(parse_static_ip("fd99:1::", &subnets));
        assert_eq!(m, "requested static ip fd99:1:: is the network address of subnet fd99:1::/64");
    }

    // ---- MAC ----

    #[test]
    fn mac_is_local_unicast() {
        for first in [0x00u8, 0x01, 0x02, 0x03, 0xff, 0xfe, 0xa5] {
            let mac = mac_from_bytes([first, 1, 2, 3, 4, 5]);
            assert_eq!(mac[0] & 0x01, 0, "multicast bit set in {mac:?}");
            assert_eq!(mac[0] & 0x02, 0x02, "local bit clear in {mac:?}");
            assert_eq!(mac[0] & 0xfc, first & 0xfc, "other bits changed");
            assert_eq!(mac[1..], [1, 2, 3, 4, 5]);
        }
        assert_eq!(mac_from_bytes([0xff; 6]), [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(mac_from_bytes([0; 6]), [0x02, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn mac_format() {
        assert_eq!(format_mac(&[0x02, 0x42, 0xac, 0x11, 0x00, 0x0f]), "02:42:ac:11:00:0f");
        assert_eq!(format_mac(&[0xfe, 0xff, 0xab, 0xcd, 0xef, 0x01]), "fe:ff:ab:cd:ef:01");
        assert_eq!(format_mac(&[0; 6]), "00:00:00:00:00:00");
    }
}
