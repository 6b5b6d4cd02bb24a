//! The files podman makes for every container and binds over the image's:
//! `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` and `/run/.containerenv`.
//!
//! They are written into the container's directory in the runroot
//! (`Engine::userdata_dir`, where podman keeps them too) when it is
//! created, with podman 4.3's contents, and config.json binds them
//! (`spec.rs`); a start remakes them if they are missing (the runroot is
//! emptied by a reboot) or a crash emptied one (`repair`). podman writes
//! /etc/hosts and .containerenv once too (with `--network none`; a
//! container with a network gets hosts and resolv.conf again at each
//! start, which berth will do when it has networks). The container may
//! change them: they are its own copies.
//!
//! A container's namespace is empty (no network yet), so its entries are
//! those of podman's `--network none`: the container's names on 127.0.0.1.
//! resolv.conf is podman's for a container with a network namespace of its
//! own (podman writes none with `--network none`, but the networks berth will
//! give its containers are what it is for): the host's resolvers minus the
//! loopback ones, which are unreachable from another namespace. A container
//! in the host's network namespace gets the host's files as podman writes
//! them: /etc/hosts without the container's own names (its hostname is the
//! host's, or resolves through the host's files), and every nameserver of
//! the host's, loopback ones included (they are reachable there).

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use super::spec::Bind;
use super::Container;
use crate::error::{Context as _, Error, Result};

/// The host files these derive from; read whole, up to this size.
const MAX_HOST_FILE: u64 = 4 << 20;

/// Every file [`write`] makes, by name in its directory.
const FILES: [&str; 4] = ["hostname", "hosts", "resolv.conf", ".containerenv"];

/// Make `dir` and write container `c`'s files into it, for the hostname
/// `hostname`, in the host's network namespace or not (`host_network`);
/// returns the binds config.json makes.
///
/// Without fsync: what a crash can leave of these new files is an empty
/// one (ext4, xfs, should the runroot be on a disk), and [`repair`] remakes
/// those at each start. None of them is ever empty otherwise, but
/// .containerenv, which is never missing.
pub(super) fn write(dir: &Path, hostname: &str, c: &Container, host_network: bool) -> Result<Vec<Bind>> {
    sys::fs::create_private_dir(dir, super::PRIVATE).ctx(|| format!("creating {}", dir.display()))?;
    let internal = host_containers_internal(&host_addresses()?);
    let host_hosts = read_host_file("/etc/hosts")?;
    let (hosts, resolv) = if host_network {
        (hosts(&host_hosts, internal, None, "", ""), resolv_conf_from(&host_resolv_conf()?))
    } else {
        (hosts(&host_hosts, internal, None, hostname, &c.name), resolv_conf(&host_resolv_conf()?))
    };
    let names = &c.isolation.names;
    let hosts = format!("{}{hosts}", extra_hosts(names));
    let resolv = as_asked(&resolv, names);
    // podman fills .containerenv in only for --privileged containers: its
    // presence says "in a container".
    let env = if c.isolation.privileged { super::isolation::containerenv(c) } else { String::new() };
    let files = [
        ("/etc/hostname", FILES[0], hostname.to_string()),
        ("/etc/hosts", FILES[1], hosts),
        ("/etc/resolv.conf", FILES[2], resolv),
        ("/run/.containerenv", FILES[3], env),
    ];
    let mut binds = Vec::new();
    // --no-hosts: the image's own /etc/hosts stays.
    let files = files.into_iter().filter(|(d, _, _)| !(names.no_hosts && *d == "/etc/hosts"));
    for (destination, file, content) in files {
        let source = dir.join(file);
        // New files in a new directory: a crash that tears one leaves it
        // for `repair`.
        sys::fs::write_new(&source, content.as_bytes(), 0o644).ctx(|| format!("writing {}", source.display()))?;
        binds.push(Bind { destination, source });
    }
    Ok(binds)
}

/// The files of [`write`] a crash may have left empty.
const REMADE_IF_EMPTY: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Before a start of container `c`, whose data directory is `bundle`: if
/// its files in `dir` are missing (a reboot emptied the runroot) or a crash
/// left one empty, make them all again, as create made them, for the
/// hostname `hostname` gives.
pub(super) fn repair(
    dir: &Path,
    bundle: &Path,
    c: &Container,
    host_network: bool,
    hostname: impl FnOnce() -> Result<String>,
) -> Result<()> {
    // A container made before these files moved to the runroot has them
    // in its data directory, which its config.json binds.
    let dir = if !dir.exists() && bundle.join(FILES[0]).exists() { bundle } else { dir };
    let whole = |f: &&str| {
        (c.isolation.names.no_hosts && *f == FILES[1]) || std::fs::metadata(dir.join(f)).is_ok_and(|m| m.len() > 0)
    };
    if REMADE_IF_EMPTY.iter().all(whole) && dir.join(FILES[3]).exists() {
        return Ok(());
    }
    if dir.exists() {
        tracing::warn!("remaking the /etc files a crash emptied in {}", dir.display());
    }
    let hostname = hostname()?;
    for f in FILES {
        let path = dir.join(f);
        sys::fs::ignore_missing(std::fs::remove_file(&path)).ctx(|| format!("removing {}", path.display()))?;
    }
    write(dir, &hostname, c, host_network).map(drop)
}

/// A host file as text; a missing one is empty (podman's rule for both).
fn read_host_file(path: &str) -> Result<String> {
    match sys::fs::read_regular(Path::new(path), MAX_HOST_FILE) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::caused(format_args!("reading {path}"), e)),
    }
}

/// Before a start of container `c` on networks: its /etc/hosts in `dir`
/// again, its names on its first network's address `own` and
/// `host.containers.internal` on that network's gateway, as podman writes
/// it for a container on a bridge (at each start: the address may differ).
pub(super) fn readdress(dir: &Path, c: &Container, own: IpAddr, gateway: Option<IpAddr>) -> Result<()> {
    let hostname_path = dir.join(FILES[0]);
    let hostname = std::fs::read_to_string(&hostname_path).ctx(|| format!("reading {}", hostname_path.display()))?;
    let internal = gateway.or_else(|| host_addresses().ok().and_then(|a| host_containers_internal(&a)));
    if c.isolation.names.no_hosts {
        return Ok(());
    }
    let content = format!(
        "{}{}",
        extra_hosts(&c.isolation.names),
        hosts(&read_host_file("/etc/hosts")?, internal, Some(own), hostname.trim(), &c.name)
    );
    let path = dir.join(FILES[1]);
    // In place: config.json binds this very file (by path, at each start;
    // a rename would do too, but keeps nothing a container changed either).
    std::fs::write(&path, content).ctx(|| format!("writing {}", path.display()))
}

/// podman's `/etc/hosts`: the host's entries (comments and blank lines
/// dropped, each `IP<tab>names`), then, for names none of them has,
/// `localhost` on 127.0.0.1 and ::1, `host.containers.internal` on the
/// host's address, and the container's hostname and name on its address
/// (`own`; 127.0.0.1 without a network).
fn hosts(base: &str, host_internal: Option<IpAddr>, own: Option<IpAddr>, hostname: &str, name: &str) -> String {
    let mut out = String::new();
    let mut taken: HashSet<&str> = HashSet::new();
    for line in base.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [ip, names @ ..] = fields.as_slice() {
            if !names.is_empty() {
                taken.extend(names.iter().copied());
                out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
            }
        }
    }
    let internal = host_internal.map(|ip| ip.to_string());
    let own = own.map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string());
    let ours: [(Option<&str>, &[&str]); 4] = [
        (Some("127.0.0.1"), &["localhost"]),
        (Some("::1"), &["localhost"]),
        (internal.as_deref(), &["host.containers.internal"]),
        (Some(&own), &[hostname, name]),
    ];
    for (ip, names) in ours {
        let Some(ip) = ip else { continue };
        let free: Vec<&str> = names.iter().copied().filter(|n| !n.is_empty() && !taken.contains(n)).collect();
        if !free.is_empty() {
            out.push_str(&format!("{ip}\t{}\n", free.join(" ")));
        }
    }
    out
}

fn host_addresses() -> Result<Vec<IpAddr>> {
    let all = sys::net::interface_addresses().ctx(|| "listing the host's addresses".into())?;
    Ok(all.into_iter().map(|a| a.addr).collect())
}

/// podman's address for `host.containers.internal` when the container has
/// no bridge network: the host's first global unicast IPv4 address, else
/// its last global unicast IPv6 one (Go's `IsGlobalUnicast`: private ranges
/// count, loopback, link-local, multicast and unspecified do not).
fn host_containers_internal(addrs: &[IpAddr]) -> Option<IpAddr> {
    let global = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_link_local() || v4.is_multicast() || v4.is_unspecified() || v4.is_broadcast())
        }
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_multicast() || v6.is_unspecified()),
    };
    addrs.iter().find(|ip| ip.is_ipv4() && global(ip)).or_else(|| addrs.iter().rfind(|ip| global(ip))).copied()
}

/// The host's resolver configuration, as podman reads it for a container in
/// a network namespace of its own: /etc/resolv.conf, unless its only
/// nameserver is a local stub (systemd-resolved's 127.0.0.53,
/// NetworkManager's 127.0.0.1), whose real upstream list is then read.
fn host_resolv_conf() -> Result<String> {
    let host = read_host_file("/etc/resolv.conf")?;
    let upstream = match nameservers(&host).as_slice() {
        ["127.0.0.53"] => "/run/systemd/resolve/resolv.conf",
        ["127.0.0.1"] => "/run/NetworkManager/no-stub-resolv.conf",
        _ => return Ok(host),
    };
    match sys::fs::read_regular(Path::new(upstream), MAX_HOST_FILE) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(host),
        Err(e) => Err(Error::caused(
            format_args!("local resolver detected, but could not read real resolv.conf at {upstream:?}"),
            e,
        )),
    }
}

/// Google's public resolvers: podman's when the host has none the container
/// can reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// podman's resolv.conf for a container with a namespace of its own and no
/// IPv6: the host's nameservers minus loopback and IPv6 ones (else
/// Google's), its last `search` and `options` lines; nothing else.
fn resolv_conf(host: &str) -> String {
    let kept: Vec<&str> = host.split('\n').filter(|l| !unreachable_nameserver(l)).collect();
    resolv_conf_from(&kept.join("\n"))
}

/// `--add-host` lines, which podman puts first.
fn extra_hosts(names: &super::networking::NameOptions) -> String {
    names.extra_hosts.iter().map(|(n, ip)| format!("{ip}\t{n}\n")).collect()
}

/// resolv.conf `text` with what `--dns`, `--dns-search` and `--dns-option`
/// replace in it.
fn as_asked(text: &str, names: &super::networking::NameOptions) -> String {
    let mut out = String::new();
    // `.` asks for no search domain at all.
    if !names.search.is_empty() && names.search != ["."] {
        out.push_str(&format!("search {}\n", names.search.join(" ")));
    }
    for line in text.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        let replaced = match word {
            "search" => !names.search.is_empty(),
            "nameserver" => !names.servers.is_empty(),
            "options" => !names.options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    for s in &names.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !names.options.is_empty() {
        out.push_str(&format!("options {}\n", names.options.join(" ")));
    }
    out
}

/// Before a start of a container on a network with name resolution: its
/// resolv.conf in `dir` asks the network's name server (`servers`, its
/// gateways) alone, which forwards what it does not know to the host's, and
/// searches the network's domain first, as podman's (with aardvark-dns).
pub(super) fn use_network_dns(dir: &Path, c: &Container, servers: &[IpAddr]) -> Result<()> {
    let host = host_resolv_conf()?;
    let mut out = String::new();
    let mut search = vec![network::dns::DOMAIN.to_string()];
    search.extend(last_list(&host, "search").into_iter().map(String::from).filter(|s| s != "."));
    out.push_str(&format!("search {}\n", search.join(" ")));
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let options = last_list(&host, "options");
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    let out = as_asked(&out, &c.isolation.names);
    let path = dir.join(FILES[2]);
    // In place, as `readdress` writes /etc/hosts.
    std::fs::write(&path, out).ctx(|| format!("writing {}", path.display()))
}

/// resolv.conf from the host's lines `kept`: its last search and options
/// lines, its nameservers or podman's fallback ones.
fn resolv_conf_from(kept: &str) -> String {
    let kept = kept.to_string();
    let mut servers = nameservers(&kept);
    if servers.is_empty() {
        servers = FALLBACK_NAMESERVERS.to_vec();
    }
    let mut out = String::new();
    let search = last_list(&kept, "search");
    if !search.is_empty() && search.join(" ").trim_matches(' ') != "." {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let options = last_list(&kept, "options");
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// A line podman drops before reading the nameservers: `nameserver` at the
/// line's start, blanks, then a loopback address (127.x.x.x, or ::1 ending
/// the line) or what starts like an IPv6 one (two `hex:` groups).
fn unreachable_nameserver(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("nameserver") else { return false };
    // Go's `\s`, ASCII only.
    let addr = rest.trim_start_matches([' ', '\t', '\r', '\x0c']);
    if addr.len() == rest.len() {
        return false;
    }
    // `127\.([0-9]{1,3}\.){2}[0-9]{1,3}`, a prefix of what follows.
    let loopback_v4 = addr.strip_prefix("127.").is_some_and(|a| {
        let mut parts = a.splitn(3, '.');
        let digits = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        let (Some(x), Some(y), Some(z)) = (parts.next(), parts.next(), parts.next()) else { return false };
        digits(x) && digits(y) && z.starts_with(|c: char| c.is_ascii_digit())
    });
    let hex_group = |s: &str| -> Option<usize> {
        let n = s.bytes().take(5).take_while(u8::is_ascii_hexdigit).count();
        (n <= 4 && s.as_bytes().get(n) == Some(&b':')).then_some(n + 1)
    };
    let ipv6_like = hex_group(addr).is_some_and(|n| hex_group(&addr[n..]).is_some());
    loopback_v4 || addr == "::1" || ipv6_like
}

/// The text of each line up to a `#`.
fn uncommented(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.split('#').next().unwrap_or_default())
}

/// The `nameserver` lines' addresses (an IPv4 or IPv6 address alone after
/// the keyword, as podman's pattern takes them).
fn nameservers(text: &str) -> Vec<&str> {
    uncommented(text)
        .filter_map(|l| l.trim_start().strip_prefix("nameserver"))
        .map(str::trim)
        .filter(|a| is_ipv4(a) || is_ipv6(a))
        .collect()
}

/// The words of the last line that starts (after blanks) with `keyword`.
fn last_list<'a>(text: &'a str, keyword: &str) -> Vec<&'a str> {
    uncommented(text)
        .filter_map(|l| l.trim_start().strip_prefix(keyword))
        .last()
        .map(|rest| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// Four dot-separated numbers of one to three digits, each at most 255.
fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// podman's loose IPv6 pattern: 3 to 8 colon-separated groups of up to four
/// hex digits, optionally `%zone`.
fn is_ipv6(s: &str) -> bool {
    let addr = match s.split_once('%') {
        Some((a, zone)) if !zone.is_empty() && zone.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => a,
        Some(_) => return false,
        None => s,
    };
    let groups: Vec<&str> = addr.split(':').collect();
    (3..=8).contains(&groups.len()) && groups.iter().all(|g| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_podman_writes_them() {
        // This machine's /etc/hosts and podman 4.3's file from it, with
        // `--network none --hostname h --name x`.
        let base = "127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n";
        let ip = Some("192.0.2.2".parse().unwrap());
        assert_eq!(
            hosts(base, ip, None, "h", "x"),
            "127.0.0.1\tlocalhost\n127.0.0.1\trunsc\n127.0.0.1\tvm\n192.0.2.2\thost.containers.internal\n127.0.0.1\th x\n"
        );
        // Comments and IP-only lines go; blanks are normalised; a name the
        // host file has already is not repeated.
        let base = "# hosts\n\n::1   ip6-localhost  ip6-loopback # v6\n10.0.0.1\n10.0.0.2 x  other\n";
        assert_eq!(
            hosts(base, None, None, "abc", "x"),
            "::1\tip6-localhost ip6-loopback\n10.0.0.2\tx other\n127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tabc\n"
        );
        assert_eq!(hosts("", None, None, "h", "n"), "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\th n\n");
        // On a network: its names on its address, the host on the gateway.
        let (own, gw) = (Some("10.89.0.2".parse().unwrap()), Some("10.89.0.1".parse().unwrap()));
        assert_eq!(
            hosts("", gw, own, "h", "n"),
            "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.89.0.1\thost.containers.internal\n10.89.0.2\th n\n"
        );
    }

    #[test]
    fn dns_flags_replace_what_they_name() {
        let host = "search a b\nnameserver 192.0.2.53\noptions ndots:1\n";
        let mut names = super::super::networking::NameOptions::default();
        assert_eq!(as_asked(host, &names), host);
        names.servers = vec!["9.9.9.9".parse().unwrap()];
        assert_eq!(as_asked(host, &names), "search a b\noptions ndots:1\nnameserver 9.9.9.9\n");
        names.search = vec!["example.com".into()];
        names.options = vec!["ndots:2".into()];
        assert_eq!(as_asked(host, &names), "search example.com\nnameserver 9.9.9.9\noptions ndots:2\n");
        names.search = vec![".".into()];
        assert_eq!(as_asked(host, &names), "nameserver 9.9.9.9\noptions ndots:2\n");
    }

    #[test]
    fn host_containers_internal_prefers_ipv4() {
        let ips = |v: &[&str]| v.iter().map(|s| s.parse().unwrap()).collect::<Vec<IpAddr>>();
        let pick = |v: &[&str]| host_containers_internal(&ips(v)).map(|ip| ip.to_string());
        assert_eq!(
            pick(&["127.0.0.1", "169.254.1.1", "2001:db8::1", "10.1.2.3", "192.0.2.2"]),
            Some("10.1.2.3".into())
        );
        assert_eq!(pick(&["127.0.0.1", "::1", "fe80::1", "2001:db8::1", "2001:db8::2"]), Some("2001:db8::2".into()));
        assert_eq!(pick(&["127.0.0.1", "::1", "fe80::1", "0.0.0.0", "224.0.0.1"]), None);
    }

    #[test]
    fn resolv_conf_drops_what_a_namespace_cannot_reach() {
        assert_eq!(resolv_conf("nameserver 10.255.255.53\n"), "nameserver 10.255.255.53\n");
        let host = "# generated\ndomain example.org\nsearch a.example b.example\nnameserver 127.0.0.53\n\
                    nameserver 192.168.1.1 # router\nnameserver ::1\nnameserver 2001:db8::53\n\
                    nameserver fe80::1%eth0\nnameserver 9.9.9.9\noptions edns0 trust-ad\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host),
            "search a.example b.example\nnameserver 192.168.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        // Only local ones (or none): Google's.
        let fallback = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
        assert_eq!(resolv_conf("nameserver 127.0.0.1\nnameserver ::1\n"), fallback);
        assert_eq!(resolv_conf(""), fallback);
        assert_eq!(resolv_conf("search .\nnameserver 127.0.1.1\n"), fallback);
        assert_eq!(resolv_conf("nameserver 1.2.3.4 5.6.7.8\nnameserver 300.1.1.1\n"), fallback);
    }

    #[test]
    fn addresses_as_podmans_patterns_take_them() {
        assert!(is_ipv4("10.0.0.1") && is_ipv4("010.000.0.255"));
        assert!(!is_ipv4("256.0.0.1") && !is_ipv4("1.2.3") && !is_ipv4("1.2.3.4.5") && !is_ipv4("1..2.3"));
        assert!(is_ipv6("::1") && is_ipv6("2001:db8::1") && is_ipv6("fe80::1%eth0"));
        assert!(!is_ipv6("1:2") && !is_ipv6("12345::1") && !is_ipv6("::g") && !is_ipv6("fe80::1%"));
        for l in ["nameserver 127.0.0.1", "nameserver\t127.1.2.3", "nameserver ::1", "nameserver fe80::1%eth0"] {
            assert!(unreachable_nameserver(l), "{l}");
        }
        for l in [" nameserver 127.0.0.1", "nameserver127.0.0.1", "nameserver 10.0.0.1", "search 127.0.0.1"] {
            assert!(!unreachable_nameserver(l), "{l}");
        }
    }
}
