//! `network::firewall` against the kernel's nftables, as root. Every test
//! runs on a thread that unshared a network namespace of its own (nft's
//! children inherit it), so the host's ruleset is never read or touched and
//! the tests run in parallel. The end-to-end test adds more namespaces,
//! wired with veth pairs, and only they (and loopback) carry its traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

mod common;

use common::*;
use network::firewall::{self, NetworkRules, PortMapping, Protocol};
use network::Error;
use rustix::thread::LinkNameSpaceType;

/// How `ip` names namespace `ns` (a path: it opens anything with a '/').
fn ns_path(ns: &OwnedFd) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), ns.as_raw_fd())
}

/// `nft list table inet berth`, or None when there is no such table.
fn table_text() -> Option<String> {
    let out = Command::new("nft").args(["list", "table", "inet", "berth"]).output().unwrap();
    out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
}

fn table() -> String {
    table_text().expect("table inet berth exists")
}

/// The rules (one per line, trimmed) of chain `chain` in `text`, or None
/// when it has no such chain. Hook and policy lines of base chains are
/// left out.
fn chain_rules(text: &str, chain: &str) -> Option<Vec<String>> {
    let start = format!("\tchain {chain} {{");
    let mut lines = text.lines().skip_while(|l| *l != start);
    lines.next()?;
    Some(
        lines
            .take_while(|l| *l != "\t}")
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("type "))
            .map(str::to_string)
            .collect(),
    )
}

/// The chain names of `nft -j list table inet berth`, sorted.
fn chain_names() -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run(&["nft", "-j", "list", "table", "inet", "berth"])).unwrap();
    let mut names: Vec<String> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("chain")?.get("name")?.as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The elements of set `bridges`, sorted.
fn bridges() -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run(&["nft", "-j", "list", "table", "inet", "berth"])).unwrap();
    let set = v["nftables"].as_array().unwrap().iter().find_map(|o| o.get("set")).unwrap();
    let mut elems: Vec<String> = set
        .get("elem")
        .into_iter()
        .flat_map(|e| e.as_array().unwrap())
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    elems.sort();
    elems
}

/// The handles of all rules, by chain (to tell kept rules from re-added).
fn rule_handles() -> Vec<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(&run(&["nft", "-j", "list", "table", "inet", "berth"])).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| {
            let r = o.get("rule")?;
            Some((r["chain"].as_str()?.to_string(), r["handle"].as_u64()?))
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn network(name: &str, bridge: &str, subnets: &[&str], internal: bool) -> NetworkRules {
    NetworkRules {
        name: name.into(),
        bridge: bridge.into(),
        subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
        internal,
    }
}

fn net_a() -> NetworkRules {
    network("a", "br-a", &["10.88.0.0/16", "fd00:88::/64"], false)
}

fn net_b() -> NetworkRules {
    network("b", "br-b", &["10.89.0.0/24"], false)
}

fn port(host_ip: Option<&str>, host_port: u16, container_port: u16, protocol: Protocol, range: u16) -> PortMapping {
    PortMapping { host_ip: host_ip.map(|h| h.parse().unwrap()), host_port, container_port, protocol, range }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn add_network_makes_the_table_its_chains_and_rules() {
    in_new_netns(|| {
        assert!(table_text().is_none());
        firewall::add_network(&net_a()).unwrap();
        let t = table();
        for hook in [
            "type filter hook forward priority filter; policy accept;",
            "type nat hook postrouting priority srcnat; policy accept;",
            "type nat hook prerouting priority dstnat; policy accept;",
            // (nft names -100 "dstnat" in prerouting only)
            "type nat hook output priority -100; policy accept;",
        ] {
            assert!(t.contains(hook), "{hook:?} missing from:\n{t}");
        }
        assert_eq!(bridges(), strs(&["br-a"]));
        assert_eq!(chain_names(), strs(&["forward", "nw-a-fwd", "nw-a-nat", "output", "postrouting", "prerouting"]));
        assert_eq!(
            chain_rules(&t, "forward").unwrap(),
            strs(&["iifname \"br-a\" jump nw-a-fwd", "oifname \"br-a\" jump nw-a-fwd"])
        );
        assert_eq!(chain_rules(&t, "postrouting").unwrap(), strs(&["jump nw-a-nat"]));
        assert_eq!(chain_rules(&t, "prerouting").unwrap(), Vec::<String>::new());
        assert_eq!(
            chain_rules(&t, "nw-a-fwd").unwrap(),
            strs(&[
                "iifname \"br-a\" oifname \"br-a\" accept",
                "iifname \"br-a\" oifname @bridges drop",
                "oifname \"br-a\" iifname @bridges drop",
                "iifname \"br-a\" accept",
                "oifname \"br-a\" ct state established,related accept",
            ])
        );
        assert_eq!(
            chain_rules(&t, "nw-a-nat").unwrap(),
            strs(&[
                "ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade",
                "ip saddr 10.88.0.0/16 ip daddr 10.88.0.0/16 ct status dnat masquerade",
                "ip6 saddr fd00:88::/64 ip6 daddr != fd00:88::/64 masquerade",
                "ip6 saddr fd00:88::/64 ip6 daddr fd00:88::/64 ct status dnat masquerade",
            ])
        );
    });
}

#[test]
fn adding_a_network_again_leaves_one_set_of_rules() {
    in_new_netns(|| {
        firewall::add_network(&net_a()).unwrap();
        let once = table();
        let handles = rule_handles();
        firewall::add_network(&net_a()).unwrap();
        assert_eq!(table(), once);
        // The jumps were kept as they were (same handles), not re-added.
        let jumps = |h: &[(String, u64)]| -> Vec<(String, u64)> {
            h.iter().filter(|(c, _)| c == "forward" || c == "postrouting").cloned().collect()
        };
        assert_eq!(jumps(&rule_handles()), jumps(&handles));

        // With another network added after it, re-adding the first keeps
        // the order of everything.
        firewall::add_network(&net_b()).unwrap();
        let both = table();
        firewall::add_network(&net_a()).unwrap();
        firewall::add_network(&net_b()).unwrap();
        assert_eq!(table(), both);
        assert_eq!(chain_rules(&both, "forward").unwrap().len(), 4);
        assert_eq!(bridges(), strs(&["br-a", "br-b"]));

        // Host bits in a subnet are dropped.
        let mut a = net_a();
        a.subnets[0] = "10.88.1.1/16".parse().unwrap();
        firewall::add_network(&a).unwrap();
        assert_eq!(table(), both);
    });
}

#[test]
fn adding_a_changed_network_replaces_its_rules() {
    in_new_netns(|| {
        firewall::add_network(&net_a()).unwrap();
        firewall::add_network(&net_b()).unwrap();
        // Now internal, on another bridge.
        firewall::add_network(&network("a", "br-a2", &["10.88.0.0/16"], true)).unwrap();
        let t = table();
        assert!(!t.contains("nw-a-nat"), "{t}");
        assert!(!t.contains("\"br-a\""), "{t}");
        assert_eq!(bridges(), strs(&["br-a2", "br-b"]));
        assert_eq!(
            chain_rules(&t, "forward").unwrap(),
            strs(&[
                "iifname \"br-b\" jump nw-b-fwd",
                "oifname \"br-b\" jump nw-b-fwd",
                "iifname \"br-a2\" jump nw-a-fwd",
                "oifname \"br-a2\" jump nw-a-fwd",
            ])
        );
        assert_eq!(chain_rules(&t, "postrouting").unwrap(), strs(&["jump nw-b-nat"]));
    });
}

#[test]
fn internal_network_drops_all_but_its_own_traffic_and_has_no_masquerade() {
    in_new_netns(|| {
        firewall::add_network(&network("c", "br-c", &["10.90.0.0/24", "fd00:90::/64"], true)).unwrap();
        let t = table();
        assert!(!t.contains("masquerade"), "{t}");
        assert!(chain_rules(&t, "nw-c-nat").is_none(), "{t}");
        assert_eq!(chain_rules(&t, "postrouting").unwrap(), Vec::<String>::new());
        assert_eq!(
            chain_rules(&t, "nw-c-fwd").unwrap(),
            strs(&["iifname \"br-c\" oifname \"br-c\" accept", "iifname \"br-c\" drop", "oifname \"br-c\" drop"])
        );
        // Still a berth bridge: the other networks isolate themselves from it.
        assert_eq!(bridges(), strs(&["br-c"]));
    });
}

#[test]
fn removing_a_network_leaves_no_trace_of_it_and_keeps_the_others() {
    in_new_netns(|| {
        firewall::add_network(&net_a()).unwrap();
        firewall::add_network(&net_b()).unwrap();
        firewall::remove_network("a").unwrap();
        let t = table();
        assert!(!t.contains("nw-a") && !t.contains("br-a") && !t.contains("10.88."), "{t}");
        // Exactly what network b alone makes.
        let b_alone = in_new_netns(|| {
            firewall::add_network(&net_b()).unwrap();
            table()
        });
        assert_eq!(t, b_alone);

        firewall::remove_network("b").unwrap();
        let t = table();
        assert!(!t.contains("nw-") && !t.contains("jump"), "{t}");
        assert_eq!(bridges(), Vec::<String>::new());
    });
}

/// What a crash left (rules of networks and containers that are gone) is
/// found by name, with the bridges, and removing it leaves the rest.
#[test]
fn stale_owners_are_found_and_removable() {
    in_new_netns(|| {
        assert_eq!(firewall::stale(&[], &[]).unwrap(), firewall::Stale::default(), "no table, nothing stale");
        firewall::add_network(&net_a()).unwrap();
        firewall::add_network(&net_b()).unwrap();
        let live = "a".repeat(64);
        let gone = "b".repeat(64);
        let p = [port(None, 8080, 80, Protocol::Tcp, 1)];
        firewall::add_ports(&live, ip("10.88.0.2"), &p).unwrap();
        firewall::add_ports(&gone, ip("10.88.0.3"), &p).unwrap();
        firewall::add_ports(&gone, ip("fd00::3"), &p).unwrap();
        let all_live = firewall::stale(&["a", "b"], &[&live, &gone]).unwrap();
        assert_eq!(all_live, firewall::Stale::default());
        let s = firewall::stale(&["a"], &[&live]).unwrap();
        assert_eq!(s.networks, vec![("b".to_string(), strs(&["br-b"]))]);
        assert_eq!(s.containers, strs(&["bbbbbbbbbbbb"]));
        for (n, _) in &s.networks {
            firewall::remove_network(n).unwrap();
        }
        for c in &s.containers {
            firewall::remove_ports(c).unwrap();
        }
        let t = table();
        assert!(!t.contains("nw-b") && !t.contains("br-b") && !t.contains("bbbbbbbbbbbb"), "{t}");
        assert!(t.contains("nw-a-fwd") && t.contains("ct-aaaaaaaaaaaa-dnat4"), "{t}");
        assert_eq!(firewall::stale(&["a"], &[&live]).unwrap(), firewall::Stale::default());
    });
}

#[test]
fn removing_what_is_not_there_is_no_error() {
    in_new_netns(|| {
        // No table at all: nothing is created either.
        firewall::remove_network("nope").unwrap();
        firewall::remove_ports("nope").unwrap();
        assert!(table_text().is_none());
        // A table without them.
        firewall::add_network(&net_a()).unwrap();
        let before = table();
        firewall::remove_network("nope").unwrap();
        firewall::remove_ports("nope").unwrap();
        firewall::remove_network("a").unwrap();
        firewall::remove_network("a").unwrap();
        assert_ne!(table(), before);
        // Another process deleted the table under us.
        run(&["nft", "delete", "table", "inet", "berth"]);
        firewall::remove_network("a").unwrap();
    });
}

#[test]
fn published_ports_get_a_chain_per_container_and_go_with_it() {
    in_new_netns(|| {
        firewall::add_network(&net_a()).unwrap();
        let network_only = table();
        let ports = [
            port(None, 8080, 80, Protocol::Tcp, 1),
            // A shifted range maps port to port; an unshifted one keeps it.
            port(None, 5000, 6000, Protocol::Udp, 3),
            port(Some("0.0.0.0"), 7000, 7000, Protocol::Tcp, 2),
            port(Some("127.0.0.1"), 9090, 90, Protocol::Tcp, 1),
            port(Some("192.0.2.7"), 9091, 91, Protocol::Tcp, 1),
            // For the container's IPv6 address: not in its IPv4 chain.
            port(Some("::1"), 9092, 92, Protocol::Tcp, 1),
        ];
        firewall::add_ports("c1", ip("10.88.0.2"), &ports).unwrap();
        let t = table();
        assert_eq!(
            chain_rules(&t, "ct-c1-dnat4").unwrap(),
            strs(&[
                "tcp dport 8080 dnat ip to 10.88.0.2:80",
                "udp dport 5000-5002 dnat ip to 10.88.0.2:udp dport map { 5000 : 6000, 5001 : 6001, 5002 : 6002 }",
                "tcp dport 7000-7001 dnat ip to 10.88.0.2",
                "ip daddr 127.0.0.1 tcp dport 9090 dnat ip to 10.88.0.2:90",
                "ip daddr 192.0.2.7 tcp dport 9091 dnat ip to 10.88.0.2:91",
            ])
        );
        // Reachable through 127.0.0.1: all but the one on 192.0.2.7.
        assert_eq!(
            chain_rules(&t, "ct-c1-masq").unwrap(),
            strs(&[
                "ip saddr 127.0.0.0/8 ip daddr 10.88.0.2 tcp dport 80 masquerade",
                "ip saddr 127.0.0.0/8 ip daddr 10.88.0.2 udp dport 6000-6002 masquerade",
                "ip saddr 127.0.0.0/8 ip daddr 10.88.0.2 tcp dport 7000-7001 masquerade",
                "ip saddr 127.0.0.0/8 ip daddr 10.88.0.2 tcp dport 90 masquerade",
            ])
        );
        let dnat_jump = "meta nfproto ipv4 fib daddr type local jump ct-c1-dnat4";
        assert_eq!(chain_rules(&t, "prerouting").unwrap(), strs(&[dnat_jump]));
        assert_eq!(chain_rules(&t, "output").unwrap(), strs(&[dnat_jump]));
        assert_eq!(
            chain_rules(&t, "postrouting").unwrap(),
            strs(&["jump nw-a-nat", "ip saddr 127.0.0.0/8 jump ct-c1-masq"])
        );

        // Again: the same.
        firewall::add_ports("c1", ip("10.88.0.2"), &ports).unwrap();
        assert_eq!(table(), t);

        // Its IPv6 address: a chain of its own, the IPv4 one kept.
        firewall::add_ports("c1", ip("fd00:88::2"), &ports).unwrap();
        let t6 = table();
        assert_eq!(chain_rules(&t6, "ct-c1-dnat4"), chain_rules(&t, "ct-c1-dnat4"));
        assert_eq!(chain_rules(&t6, "ct-c1-masq"), chain_rules(&t, "ct-c1-masq"));
        let dnat6 = chain_rules(&t6, "ct-c1-dnat6").unwrap();
        assert_eq!(dnat6[0], "tcp dport 8080 dnat ip6 to [fd00:88::2]:80");
        // (0.0.0.0 is IPv4's "any address")
        assert_eq!(dnat6.len(), 3, "{dnat6:?}");
        assert_eq!(dnat6[2], "ip6 daddr ::1 tcp dport 9092 dnat ip6 to [fd00:88::2]:92");
        assert!(chain_rules(&t6, "prerouting")
            .unwrap()
            .contains(&"meta nfproto ipv6 fib daddr type local jump ct-c1-dnat6".to_string()));

        // Another container; then c1 goes, the other stays.
        firewall::add_ports("c2", ip("10.88.0.3"), &[port(None, 8081, 80, Protocol::Tcp, 1)]).unwrap();
        let with_c2 = table();
        firewall::remove_ports("c1").unwrap();
        let t = table();
        assert!(!t.contains("ct-c1"), "{t}");
        assert_eq!(chain_rules(&t, "ct-c2-dnat4"), chain_rules(&with_c2, "ct-c2-dnat4"));
        firewall::remove_ports("c2").unwrap();
        assert_eq!(table(), network_only);

        // No port left for a family: as removing them.
        firewall::add_ports("c3", ip("10.88.0.4"), &[port(None, 8082, 80, Protocol::Tcp, 1)]).unwrap();
        firewall::add_ports("c3", ip("10.88.0.4"), &[]).unwrap();
        assert_eq!(table(), network_only);
    });
}

#[test]
fn bad_names_and_ports_are_refused() {
    in_new_netns(|| {
        for n in [
            network("a b", "br0", &[], false),
            network("", "br0", &[], false),
            network("a", "br*", &[], false),
            network("a", "@bridges", &[], false),
            network("a", "a-bridge-name-too-long", &[], false),
        ] {
            let e = firewall::add_network(&n).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{n:?}: {e}");
        }
        for p in [
            port(None, 0, 80, Protocol::Tcp, 1),
            port(None, 80, 0, Protocol::Tcp, 1),
            port(None, 80, 80, Protocol::Tcp, 0),
            port(None, 65535, 80, Protocol::Tcp, 2),
            port(None, 80, 65535, Protocol::Udp, 2),
        ] {
            let e = firewall::add_ports("c", ip("10.88.0.2"), std::slice::from_ref(&p)).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{p:?}: {e}");
        }
        let e = firewall::remove_ports("../c").unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(table_text().is_none());
    });
}

#[test]
fn long_names_make_bounded_chain_names_that_removal_finds() {
    in_new_netns(|| {
        let long = "n".repeat(200);
        let long2 = format!("{}x", "n".repeat(199));
        firewall::add_network(&network(&long, "br-l", &["10.91.0.0/24"], false)).unwrap();
        firewall::add_network(&network(&long2, "br-l2", &["10.92.0.0/24"], false)).unwrap();
        let id = "f".repeat(64);
        firewall::add_ports(&id, ip("10.91.0.2"), &[port(None, 8080, 80, Protocol::Tcp, 1)]).unwrap();
        let names = chain_names();
        assert_eq!(names.len(), 4 + 4 + 2, "{names:?}");
        assert!(names.iter().all(|n| n.len() <= 3 + 64 + 6), "{names:?}");
        // An id: its short form, as podman ps shows it.
        assert!(names.contains(&"ct-ffffffffffff-dnat4".to_string()), "{names:?}");
        firewall::remove_network(&long).unwrap();
        firewall::remove_ports(&id).unwrap();
        let names = chain_names();
        assert_eq!(names.len(), 4 + 2, "{names:?}");
        assert_eq!(bridges(), strs(&["br-l2"]));
    });
}

#[test]
fn monitors_calling_at_once_leave_a_consistent_table() {
    // Threads in one namespace stand for monitor processes: each lists,
    // then applies, and deletes of handles another one deleted first fail
    // and are retried.
    let ns = new_netns();
    std::thread::scope(|s| {
        for i in 0..8u8 {
            let ns = &ns;
            s.spawn(move || {
                in_netns(ns, move || {
                    let c = format!("c{i}");
                    for _ in 0..3 {
                        firewall::add_network(&net_a()).unwrap();
                        let p = port(None, 8000 + u16::from(i), 80, Protocol::Tcp, 1);
                        firewall::add_ports(&c, ip(&format!("10.88.0.{}", 10 + i)), &[p]).unwrap();
                    }
                    if i % 2 == 1 {
                        firewall::remove_ports(&c).unwrap();
                    }
                })
            });
        }
    });
    in_netns(&ns, || {
        // A jump added twice by two at once is harmless, and goes with the
        // next add.
        firewall::add_network(&net_a()).unwrap();
        let t = table();
        assert_eq!(chain_rules(&t, "forward").unwrap().len(), 2, "{t}");
        let mut chains = chain_names();
        chains.retain(|c| c.starts_with("ct-"));
        assert_eq!(
            chains,
            strs(&[
                "ct-c0-dnat4",
                "ct-c0-masq",
                "ct-c2-dnat4",
                "ct-c2-masq",
                "ct-c4-dnat4",
                "ct-c4-masq",
                "ct-c6-dnat4",
                "ct-c6-masq"
            ])
        );
        assert_eq!(chain_rules(&t, "prerouting").unwrap().len(), 4, "{t}");
        assert_eq!(chain_rules(&t, "ct-c4-dnat4").unwrap(), strs(&["tcp dport 8004 dnat ip to 10.88.0.14:80"]));
    });
}

#[test]
fn what_nft_refuses_is_reported_with_its_message() {
    in_new_netns(|| {
        // Someone else's chain by our base chain's name, on another hook.
        run(&["nft", "add", "table", "inet", "berth"]);
        run(&["nft", "add", "chain", "inet", "berth", "forward", "{ type filter hook input priority 0; }"]);
        let e = firewall::add_network(&net_a()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Io { .. }), "{msg}");
        assert!(msg.starts_with("setting up the firewall rules of network a: nft: Error: "), "{msg}");
    });
}

// ---- end to end ----

/// A TCP server in namespace `ns` answering every connection with
/// "<name> <the peer's address>", until dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn serve(ns: &OwnedFd, port: u16, name: &'static str) -> Server {
    let ns = ns.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ready, listening) = mpsc::channel();
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        ready.send(()).unwrap();
        while !stopped.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut conn, peer)) => {
                    conn.set_nonblocking(false).unwrap();
                    let _ = writeln!(conn, "{name} {}", peer.ip());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
    listening.recv().unwrap();
    Server { stop, thread: Some(thread) }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a server at `addr` answers, from the calling thread's namespace.
fn fetch(addr: &str, timeout: Duration) -> std::io::Result<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut conn = TcpStream::connect_timeout(&addr, timeout)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    Ok(answer.trim().to_string())
}

/// Long enough for any connection that works (they take well under a ms).
const WORKS: Duration = Duration::from_secs(5);
/// How long a connection whose SYN is dropped is given.
const DROPPED: Duration = Duration::from_millis(300);

fn fetch_in(ns: &OwnedFd, addr: &str, timeout: Duration) -> std::io::Result<String> {
    let addr = addr.to_string();
    in_netns(ns, move || fetch(&addr, timeout))
}

/// Connections (from namespace, to address) that must time out: tried at
/// once, so that their timeouts overlap.
fn assert_dropped(tries: &[(&OwnedFd, &str)]) {
    std::thread::scope(|s| {
        let tries: Vec<_> =
            tries.iter().map(|&(ns, addr)| (addr, s.spawn(move || fetch_in(ns, addr, DROPPED)))).collect();
        for (addr, t) in tries {
            let e = t.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{addr}: {e}");
        }
    });
}

fn write_sysctl(path: &str, value: &str) {
    // /proc/sys/net is the namespace of the thread that opens it.
    std::fs::write(format!("/proc/sys/net/{path}"), value).unwrap();
}

/// A "container" namespace behind bridge `bridge` (host end `veth`), at
/// `addr`/24 with its default route via `gw`.
fn container(bridge: &str, veth: &str, addr: &str, gw: &str) -> OwnedFd {
    let ns = new_netns();
    run(&["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", &ns_path(&ns)]);
    run(&["ip", "link", "set", veth, "master", bridge, "up"]);
    // The engine's part for a container reaching its own published port:
    // with br_netfilter the DNATed packet is bridged back out of the port
    // it came in by.
    run(&["ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on"]);
    run_in(&ns, &["ip", "link", "set", "lo", "up"]);
    run_in(&ns, &["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
    run_in(&ns, &["ip", "link", "set", "eth0", "up"]);
    run_in(&ns, &["ip", "route", "add", "default", "via", gw]);
    ns
}

fn bridge(name: &str, addr: &str) {
    run(&["ip", "link", "add", name, "type", "bridge"]);
    run(&["ip", "addr", "add", addr, "dev", name]);
    run(&["ip", "link", "set", name, "up"]);
}

/// The test thread's namespace is the host: bridge bt0 (10.99.0.1/24) with
/// container C (10.99.0.2) behind it, network "e2e"; an outside client R
/// (192.0.2.2) on a veth, the host's end 192.0.2.1. C publishes 80 as 8080.
/// Later: container D on bt0 too, and C2 on bridge bt1, network "e2e2".
#[test]
fn published_port_is_reachable_through_dnat_and_isolation_and_host_rules_hold() {
    in_new_netns(|| {
        let started = Instant::now();
        run(&["ip", "link", "set", "lo", "up"]);
        write_sysctl("ipv4/ip_forward", "1");
        bridge("bt0", "10.99.0.1/24");
        let c = container("bt0", "vc0", "10.99.0.2", "10.99.0.1");
        let r = new_netns();
        run(&["ip", "link", "add", "vr0", "type", "veth", "peer", "name", "eth0", "netns", &ns_path(&r)]);
        run(&["ip", "addr", "add", "192.0.2.1/24", "dev", "vr0"]);
        run(&["ip", "link", "set", "vr0", "up"]);
        run_in(&r, &["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"]);
        run_in(&r, &["ip", "link", "set", "eth0", "up"]);
        // R can answer C directly: only masquerade makes C show up as
        // 192.0.2.1.
        run_in(&r, &["ip", "route", "add", "10.99.0.0/24", "via", "192.0.2.1"]);
        // The engine's part for ports on 127.0.0.1.
        write_sysctl("ipv4/conf/bt0/route_localnet", "1");

        firewall::add_network(&network("e2e", "bt0", &["10.99.0.0/24"], false)).unwrap();
        firewall::add_ports("web", ip("10.99.0.2"), &[port(None, 8080, 80, Protocol::Tcp, 1)]).unwrap();
        let _c80 = serve(&c, 80, "c");
        let _r9000 = serve(&r, 9000, "r");

        // From outside: DNAT to C, the client's address kept.
        assert_eq!(fetch_in(&r, "192.0.2.1:8080", WORKS).unwrap(), "c 192.0.2.2");
        // From the host, to its own address and to 127.0.0.1 (masqueraded
        // to the bridge's address so that C can answer).
        assert_eq!(fetch("192.0.2.1:8080", WORKS).unwrap(), "c 192.0.2.1");
        assert_eq!(fetch("127.0.0.1:8080", WORKS).unwrap(), "c 10.99.0.1");
        // From a container of the same network, and from C itself, through
        // the host's address: DNATed back into the network, and masqueraded
        // so that the answer comes back through the host (hairpin).
        let d = container("bt0", "vd0", "10.99.0.3", "10.99.0.1");
        assert_eq!(fetch_in(&d, "192.0.2.1:8080", WORKS).unwrap(), "c 10.99.0.1");
        assert_eq!(fetch_in(&c, "192.0.2.1:8080", WORKS).unwrap(), "c 10.99.0.1");
        // Out of the container: masqueraded.
        assert_eq!(fetch_in(&c, "192.0.2.2:9000", WORKS).unwrap(), "r 192.0.2.1");

        // The host's own filter rules win, whether they run after our
        // forward chain (priority 10) or before it: both the DNATed
        // connection in and the container's (accepted by us) out.
        for prio in ["10", "-10"] {
            run(&["nft", "add", "table", "inet", "hostfw"]);
            let hook = format!("{{ type filter hook forward priority {prio}; }}");
            run(&["nft", "add", "chain", "inet", "hostfw", "filter", &hook]);
            run(&["nft", "add", "rule", "inet", "hostfw", "filter", "ip daddr 10.99.0.2 tcp dport 80 drop"]);
            run(&["nft", "add", "rule", "inet", "hostfw", "filter", "ip daddr 192.0.2.2 tcp dport 9000 drop"]);
            assert_dropped(&[(&r, "192.0.2.1:8080"), (&c, "192.0.2.2:9000")]);
            run(&["nft", "delete", "table", "inet", "hostfw"]);
        }
        assert_eq!(fetch_in(&r, "192.0.2.1:8080", WORKS).unwrap(), "c 192.0.2.2");

        // Isolation: C2 on bridge bt1 reaches C until bt1 is a berth
        // network's bridge.
        bridge("bt1", "10.98.0.1/24");
        let c2 = container("bt1", "vc2", "10.98.0.2", "10.98.0.1");
        assert_eq!(fetch_in(&c2, "10.99.0.2:80", WORKS).unwrap(), "c 10.98.0.2");
        firewall::add_network(&network("e2e2", "bt1", &["10.98.0.0/24"], false)).unwrap();
        // (and the other way)
        let _c2_80 = serve(&c2, 80, "c2");
        assert_dropped(&[(&c2, "10.99.0.2:80"), (&c, "10.98.0.2:80")]);
        // but both still reach the world
        assert_eq!(fetch_in(&c2, "192.0.2.2:9000", WORKS).unwrap(), "r 192.0.2.1");

        // The port unpublished: the host itself answers 8080 (nothing there).
        firewall::remove_ports("web").unwrap();
        let e = fetch_in(&r, "192.0.2.1:8080", WORKS).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        // The network removed: no more masquerade.
        firewall::remove_network("e2e").unwrap();
        assert_eq!(fetch_in(&c, "192.0.2.2:9000", WORKS).unwrap(), "r 10.99.0.2");
        eprintln!("end to end: {:?}", started.elapsed());
    });
}
