//! Published ports (`-p`, `-P`): parsed with podman's grammar and messages,
//! host ports chosen at create (a random free one where none is given, as
//! podman does, so `inspect` and `port` show it before the start), held by
//! the monitor while the container runs (a socket bound to each, so no
//! other program takes it and a port in use fails the start), and
//! forwarded by DNAT rules in berth's nftables table (`network::firewall`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;

use network::firewall::{PortMapping, Protocol};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One `-p` mapping (a single port or a range), as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The host address it is published on; every address without one.
    #[serde(default)]
    pub host_ip: Option<IpAddr>,
    /// The first host port: chosen at create when none was given.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// How many consecutive ports (1: one).
    #[serde(default = "one")]
    pub range: u16,
}

fn one() -> u16 {
    1
}

impl Published {
    pub fn to_mapping(&self) -> PortMapping {
        PortMapping {
            host_ip: self.host_ip,
            host_port: self.host_port,
            container_port: self.container_port,
            protocol: self.protocol,
            range: self.range,
        }
    }

    /// Each single port of it: (container port, host port).
    pub fn each(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        (0..self.range).map(|i| (self.container_port + i, self.host_port + i))
    }
}

/// A port or a range (`8000`, `8000-8010`): first port and length.
fn parse_range(text: &str, what: &str) -> Result<(u16, u16)> {
    let number = |t: &str| -> Result<u16> {
        let n: i64 = t.parse().map_err(|_| {
            Error::new(format!("parsing {what}: invalid port number: strconv.Atoi: parsing {t:?}: invalid syntax"))
        })?;
        if !(1..=65535).contains(&n) {
            return Err(Error::new(format!(
                "parsing {what}: port numbers must be between 1 and 65535 (inclusive), got {n}"
            )));
        }
        Ok(n as u16)
    };
    match text.split_once('-') {
        None => Ok((number(text)?, 1)),
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if b <= a {
                return Err(Error::new(format!(
                    "parsing {what}: the end port of a range must be higher than the start port - {b} is not higher than {a}"
                )));
            }
            Ok((a, b - a + 1))
        }
    }
}

/// One `-p` value: `[[IP:][HOSTPORT]:]CONTAINERPORT[/PROTOCOL]`, ports or
/// ranges, an IPv6 address in brackets. A missing host port is 0 (chosen by
/// [`choose_host_ports`]).
pub fn parse_publish(spec: &str) -> Result<Published> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (rest, proto),
        None => (spec, "tcp"),
    };
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => return Err(Error::new("publishing sctp ports is not supported by berth: use tcp or udp")),
        p => return Err(Error::new(format!("unrecognized protocol {p:?} in port mapping"))),
    };
    // The host IP first: bracketed IPv6, else everything before the last
    // two colons.
    let (host_ip, rest) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| Error::new(format!("invalid IPv6 address in port mapping {spec:?}")))?;
        (Some(ip), rest.to_string())
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest.to_string()),
            3 => (Some(parts[0]), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(Error::new(format!("invalid port format {spec:?}: too many colons"))),
        }
    };
    let host_ip = match host_ip {
        None => None,
        Some("") => return Err(Error::new("must provide a non-empty container host IP to publish")),
        Some(ip) => {
            Some(ip.parse::<IpAddr>().map_err(|_| Error::new(format!("cannot parse {ip:?} as an IP address")))?)
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest.as_str()),
    };
    let (container_port, range) = parse_range(container, "container port")?;
    let host_port = if host.is_empty() {
        0
    } else {
        let (port, len) = parse_range(host, "host port")?;
        if len != range && len != 1 {
            return Err(Error::new(format!("host and container port ranges have different lengths: {len} vs {range}")));
        }
        if u32::from(port) + u32::from(range) - 1 > 65535 {
            return Err(Error::new(format!("host port range starting at {port} goes past 65535")));
        }
        port
    };
    Ok(Published { host_ip, host_port, container_port, protocol, range })
}

/// `-P`: the image's exposed ports (`80/tcp`), each to a random host port.
pub fn publish_exposed(exposed: &[String]) -> Result<Vec<Published>> {
    exposed.iter().map(|p| parse_publish(p)).collect()
}

/// Give every mapping without a host port free ones (a range gets a run of
/// consecutive free ports), avoiding each other's.
pub fn choose_host_ports(ports: &mut [Published]) -> Result<()> {
    let mut taken: Vec<(Protocol, u16)> =
        ports.iter().filter(|p| p.host_port != 0).flat_map(|p| p.each().map(move |(_, h)| (p.protocol, h))).collect();
    for p in ports.iter_mut().filter(|p| p.host_port == 0) {
        let start = free_run(p.protocol, p.host_ip, p.range, &taken)?;
        p.host_port = start;
        taken.extend((0..p.range).map(|i| (p.protocol, start + i)));
    }
    Ok(())
}

/// The first of `len` consecutive ports free for `protocol` on `ip`: the
/// kernel picks one (a bind to port 0, from its ephemeral range), and the
/// run from there must bind too.
fn free_run(protocol: Protocol, ip: Option<IpAddr>, len: u16, taken: &[(Protocol, u16)]) -> Result<u16> {
    for _ in 0..100 {
        let first = bind(protocol, ip, 0).map_err(|e| Error::new(format!("finding a free host port: {e}")))?.1;
        if u32::from(first) + u32::from(len) > 65536 {
            continue;
        }
        let run_free = (0..len)
            .all(|i| !taken.contains(&(protocol, first + i)) && (i == 0 || bind(protocol, ip, first + i).is_ok()));
        if run_free {
            return Ok(first);
        }
    }
    Err(Error::new(format!("could not find {len} free consecutive host ports")))
}

/// A socket bound to `port` (0: any) on `ip` (every IPv4 address without
/// one), never listening (packets to it are forwarded before they could
/// reach it): the fd and the port it got.
fn bind(protocol: Protocol, ip: Option<IpAddr>, port: u16) -> std::io::Result<(OwnedFd, u16)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let addr = SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let kind = match protocol {
        Protocol::Tcp => SocketType::STREAM,
        Protocol::Udp => SocketType::DGRAM,
    };
    let fd = rustix::net::socket_with(family, kind, SocketFlags::CLOEXEC, None)?;
    rustix::net::bind(&fd, &addr)?;
    let got = SocketAddr::try_from(rustix::net::getsockname(&fd)?).map_or(port, |a| a.port());
    Ok((fd, got))
}

/// At start: hold every host port of `ports` (bound sockets, kept until the
/// container ends): a port another program has fails the start, as podman's.
pub fn reserve(ports: &[Published]) -> Result<Vec<OwnedFd>> {
    let mut held = Vec::new();
    for p in ports {
        for (_, host) in p.each() {
            let (fd, _) = bind(p.protocol, p.host_ip, host).map_err(|e| {
                let ip = p.host_ip.map(|ip| ip.to_string()).unwrap_or_default();
                Error::new(format!(
                    "cannot listen on the {} port: listen {}{} {ip}:{host}: bind: {}",
                    p.protocol_upper(),
                    p.protocol_lower(),
                    if p.host_ip.is_some_and(|ip| ip.is_ipv6()) { "6" } else { "4" },
                    crate::error::go_text(&e)
                ))
            })?;
            held.push(fd);
        }
    }
    Ok(held)
}

impl Published {
    fn protocol_upper(&self) -> &'static str {
        match self.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    fn protocol_lower(&self) -> &'static str {
        match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// `80/tcp`, as podman's PortBindings keys and `port` print it.
    pub fn container_key(&self, offset: u16) -> String {
        format!("{}/{}", self.container_port + offset, self.protocol_lower())
    }
}

/// podman's PortBindings (and NetworkSettings.Ports): each container port
/// (`80/tcp`) with the host address (empty: every one) and port it is
/// published on.
pub fn bindings(ports: &[Published]) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for p in ports {
        for (i, (_, host)) in p.each().enumerate() {
            let ip = p.host_ip.map(|ip| ip.to_string()).unwrap_or_default();
            out.entry(p.container_key(i as u16)).or_default().push((ip, host.to_string()));
        }
    }
    out
}

/// `ps`'s PORTS: `0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->90-91/udp`.
pub fn ps_text(ports: &[Published]) -> String {
    let range = |first: u16, len: u16| {
        if len > 1 {
            format!("{first}-{}", first + len - 1)
        } else {
            first.to_string()
        }
    };
    ports
        .iter()
        .map(|p| {
            format!(
                "{}->{}/{}",
                host_address(p, &range(p.host_port, p.range)),
                range(p.container_port, p.range),
                p.protocol_lower()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `port`'s lines: `80/tcp -> 0.0.0.0:8080`, one per port.
pub fn port_lines(ports: &[Published]) -> Vec<(String, String)> {
    ports
        .iter()
        .flat_map(|p| {
            p.each().enumerate().map(move |(i, (_, h))| (p.container_key(i as u16), host_address(p, &h.to_string())))
        })
        .collect()
}

/// `IP:PORT` as podman prints a published port's host side (0.0.0.0
/// for every address; IPv6 in brackets).
fn host_address(p: &Published, port: &str) -> String {
    match p.host_ip {
        None => format!("0.0.0.0:{port}"),
        Some(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        Some(ip) => format!("{ip}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Published {
        parse_publish(s).unwrap()
    }

    fn err(s: &str) -> String {
        parse_publish(s).unwrap_err().to_string()
    }

    #[test]
    fn podman_grammar() {
        assert_eq!(
            p("80"),
            Published { host_ip: None, host_port: 0, container_port: 80, protocol: Protocol::Tcp, range: 1 }
        );
        assert_eq!(p("8080:80/udp").host_port, 8080);
        assert_eq!(p("8080:80/udp").protocol, Protocol::Udp);
        assert_eq!(p(":80").host_port, 0);
        let q = p("127.0.0.1::80");
        assert_eq!((q.host_ip, q.host_port), (Some("127.0.0.1".parse().unwrap()), 0));
        let q = p("[::1]:8080:80");
        assert_eq!((q.host_ip, q.host_port), (Some("::1".parse().unwrap()), 8080));
        let q = p("8000-8002:80-82/udp");
        assert_eq!((q.host_port, q.container_port, q.range), (8000, 80, 3));
        assert_eq!(p("80-82").range, 3);
    }

    #[test]
    fn podman_messages() {
        assert_eq!(
            err("abc"),
            "parsing container port: invalid port number: strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            err("70000"),
            "parsing container port: port numbers must be between 1 and 65535 (inclusive), got 70000"
        );
        assert_eq!(err("0:80"), "parsing host port: port numbers must be between 1 and 65535 (inclusive), got 0");
        assert_eq!(err("1.2.3:80:80"), "cannot parse \"1.2.3\" as an IP address");
        assert_eq!(err("8000-8002:80-81"), "host and container port ranges have different lengths: 3 vs 2");
        assert_eq!(
            err("80-79"),
            "parsing container port: the end port of a range must be higher than the start port - 79 is not higher than 80"
        );
        assert_eq!(err("::80"), "must provide a non-empty container host IP to publish");
        assert_eq!(err("80/foo"), "unrecognized protocol \"foo\" in port mapping");
    }

    #[test]
    fn shown_as_podman_shows_them() {
        let ports = vec![p("8080:80"), p("127.0.0.1:9000-9001:90-91/udp")];
        assert_eq!(ps_text(&ports), "0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->90-91/udp");
        let b = bindings(&ports);
        assert_eq!(b["80/tcp"], vec![(String::new(), "8080".to_string())]);
        assert_eq!(b["91/udp"], vec![("127.0.0.1".to_string(), "9001".to_string())]);
        assert_eq!(port_lines(&ports)[2], ("91/udp".to_string(), "127.0.0.1:9001".to_string()));
    }

    #[test]
    fn chosen_ports_are_free_and_distinct() {
        let mut ports = vec![p("80"), p("81-83"), p("9/udp")];
        choose_host_ports(&mut ports).unwrap();
        assert!(ports.iter().all(|q| q.host_port != 0));
        let held = reserve(&ports).unwrap();
        assert_eq!(held.len(), 5);
        // Held: a second reservation of the same ports fails.
        assert!(reserve(&ports[..1]).unwrap_err().to_string().contains("address already in use"));
    }
}
