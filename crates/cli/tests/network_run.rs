//! Containers on networks, for real: addresses, routes, reachability and
//! isolation, NAT out, internal networks, IPv6, macvlan, concurrent starts
//! and what teardown leaves. Every test runs its berth in a network
//! namespace of its own (`Env::in_own_netns`), so its bridges, firewall
//! rules and "outside hosts" (more namespaces, made by the test) never meet
//! the host's or another test's; traffic stays inside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

fn busybox_in_netns() -> Env {
    let (env, _) = Env::with_busybox();
    env.in_own_netns()
}

/// Run `args` in the env's namespace (not in a container).
fn host(env: &Env, args: &[&str]) -> Output {
    env.host_cmd(args).output().unwrap()
}

fn host_ok(env: &Env, args: &[&str]) -> String {
    let o = host(env, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// Container `name`'s address on network `net`.
fn address(env: &Env, name: &str, net: &str) -> String {
    let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    env.ok(&["inspect", "--format", &f, name]).trim().to_string()
}

fn pings(env: &Env, net: &str, to: &str) -> bool {
    env.run(&["run", "--rm", "--network", net, "bb", "ping", "-c", "1", "-W", "2", to]).status.success()
}

/// The links of the env's namespace whose name starts with `prefix`.
fn links(env: &Env, prefix: &str) -> Vec<String> {
    let out = host_ok(env, &["ip", "-j", "link", "show"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Wait until the env's namespace has no `veth` links (the kernel removes a
/// dead namespace's pairs in the background).
fn no_veths_within(env: &Env, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if links(env, "veth").is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A named network namespace, deleted when dropped (a failed test too).
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "delete", &self.0]).status();
    }
}

/// A namespace standing for a host outside, reached from the env's
/// namespace through a veth pair: `outside_ip` there, `gw_ip` on our end.
fn outside_host(env: &Env, tag: &str, gw_ip: &str, outside_ip: &str) -> Netns {
    let ns = format!("{}-{tag}", env.netns.as_ref().unwrap());
    assert!(std::process::Command::new("ip").args(["netns", "add", &ns]).status().unwrap().success());
    let guard = Netns(ns.clone());
    host_ok(env, &["ip", "link", "add", &format!("out-{tag}"), "type", "veth", "peer", "name", "eth0", "netns", &ns]);
    host_ok(env, &["ip", "addr", "add", &format!("{gw_ip}/24"), "dev", &format!("out-{tag}")]);
    host_ok(env, &["ip", "link", "set", &format!("out-{tag}"), "up"]);
    let inside = |args: &[&str]| {
        let ok = std::process::Command::new("ip").arg("-n").arg(&ns).args(args).status().unwrap();
        assert!(ok.success(), "ip -n {ns} {args:?}");
    };
    inside(&["addr", "add", &format!("{outside_ip}/24"), "dev", "eth0"]);
    inside(&["link", "set", "eth0", "up"]);
    inside(&["link", "set", "lo", "up"]);
    guard
}

#[test]
fn containers_on_a_network_reach_each_other_and_the_gateway() {
    let env = busybox_in_netns();
    assert_eq!(env.ok(&["network", "create", "--subnet", "10.123.0.0/24", "lan"]), "lan\n");
    env.ok(&["run", "-d", "--name", "a", "--network", "lan", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "a", "lan"), "10.123.0.2");
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", "a"]), "bridge\n");
    // The bridge, its gateway address, up; the container's end on it.
    let br = host_ok(&env, &["ip", "-j", "addr", "show", "dev", "berth1"]);
    assert!(br.contains("\"local\":\"10.123.0.1\"") && br.contains("\"UP\""), "{br}");
    assert_eq!(links(&env, "veth").len(), 1);
    // From a second container: a, the gateway; from the namespace: a.
    assert!(pings(&env, "lan", "10.123.0.2"));
    assert!(pings(&env, "lan", "10.123.0.1"));
    host_ok(&env, &["busybox", "ping", "-c", "1", "-W", "2", "10.123.0.2"]);
    // What the container sees: its address, a default route, /etc/hosts.
    let inside = env.ok(&["exec", "a", "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts"]);
    assert!(inside.contains("inet 10.123.0.2/24"), "{inside}");
    assert!(inside.contains("default via 10.123.0.1 dev eth0"), "{inside}");
    assert!(inside.contains("10.123.0.2\t") && inside.contains(" a\n"), "{inside}");
    assert!(inside.contains("10.123.0.1\thost.containers.internal"), "{inside}");
    // Addresses are not reused while taken; freed ones are.
    env.ok(&["run", "-d", "--name", "b", "--network", "lan", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "b", "lan"), "10.123.0.3");
    env.ok(&["rm", "-f", "-t", "0", "a"]);
    env.ok(&["run", "-d", "--name", "c", "--network", "lan", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "c", "lan"), "10.123.0.2");
    env.ok(&["rm", "-f", "-t", "0", "b", "c"]);
    assert!(no_veths_within(&env, Duration::from_secs(5)), "veths left: {:?}", links(&env, "veth"));
}

#[test]
fn networks_are_isolated_from_each_other_and_internal_ones_have_no_way_out() {
    let env = busybox_in_netns();
    let _outside = outside_host(&env, "o", "192.0.2.1", "192.0.2.9");
    env.ok(&["network", "create", "--subnet", "10.124.0.0/24", "one"]);
    env.ok(&["network", "create", "--subnet", "10.125.0.0/24", "two"]);
    env.ok(&["network", "create", "--internal", "--subnet", "10.126.0.0/24", "closed"]);
    env.ok(&["run", "-d", "--name", "a", "--network", "one", "bb", "sleep", "60"]);
    env.ok(&["run", "-d", "--name", "i", "--network", "closed", "bb", "sleep", "60"]);
    // Another network cannot reach it; its own can.
    assert!(pings(&env, "one", "10.124.0.2"));
    assert!(!pings(&env, "two", "10.124.0.2"), "a container crossed networks");
    // Out, through the masquerade: the outside host sees the namespace's
    // address, not the container's (it has no route back to 10.124/16).
    assert!(pings(&env, "one", "192.0.2.9"), "no way out of a network");
    // An internal network: no route out, nor in from another network.
    assert!(!pings(&env, "closed", "192.0.2.9"), "an internal network reached outside");
    let routes = env.ok(&["exec", "i", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(pings(&env, "closed", "10.126.0.2"), "an internal network's containers reach each other");
    assert!(!pings(&env, "one", "10.126.0.2"), "reached into an internal network");
    // A container on two networks has both (eth0, eth1).
    env.ok(&["run", "-d", "--name", "both", "--network", "one", "--network", "two", "bb", "sleep", "60"]);
    let addrs = env.ok(&["exec", "both", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth0") && addrs.contains("10.124.0.3/24"), "{addrs}");
    assert!(addrs.contains("eth1") && addrs.contains("10.125.0.2/24"), "{addrs}");
    env.ok(&["rm", "-f", "-t", "0", "a", "i", "both"]);
}

#[test]
fn the_default_network_and_asked_for_addresses() {
    let env = busybox_in_netns();
    env.ok(&["run", "-d", "--name", "d", "--network", "bridge", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "d", "berth"), "10.87.0.2");
    assert_eq!(env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "d"]), "10.87.0.2\n");
    env.ok(&["run", "-d", "--name", "s", "--network", "berth:ip=10.87.0.50", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "s", "berth"), "10.87.0.50");
    // Taken, outside the subnet, the gateway: refused, nothing left.
    let e = env.fails(&["run", "--rm", "--network", "berth:ip=10.87.0.50", "bb", "true"], 125);
    assert!(e.contains("10.87.0.50 is already allocated"), "{e}");
    let e = env.fails(&["run", "--rm", "--network", "berth:ip=10.99.0.5", "bb", "true"], 125);
    assert_eq!(e, "Error: requested static ip 10.99.0.5 not in any subnet on network berth\n");
    let e = env.fails(&["run", "--rm", "--network", "nosuch", "bb", "true"], 125);
    assert!(e.contains("unable to find network with name or ID nosuch"), "{e}");
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 2);
    env.ok(&["rm", "-f", "-t", "0", "d", "s"]);
}

/// Without --network a container is on the default bridge (berth0,
/// 10.87.0.0/16): it reaches another such container and the gateway, and
/// ps and inspect say so.
#[test]
fn containers_without_a_network_flag_talk_over_the_default_bridge() {
    let env = busybox_in_netns();
    env.ok(&["run", "-d", "--name", "a", "bb", "sleep", "60"]);
    let a = address(&env, "a", "berth");
    assert!(a.starts_with("10.87.0."), "{a}");
    let out = env.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        &format!("ping -c 1 -W 2 {a} >/dev/null && ip -4 -o addr show eth0"),
    ]);
    assert!(out.contains("inet 10.87.0."), "{out}");
    assert!(env.ok(&["run", "--rm", "bb", "ping", "-c", "1", "-W", "2", "10.87.0.1"]).contains("1 packets received"));
    assert_eq!(links(&env, "berth0"), ["berth0"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.Networks}}"]), "berth\n");
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", "a"]), "bridge\n");
    // Both ends of its veth pair carry 192 KiB IPv4 segments (BIG TCP).
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "a"]);
    let gso = |ns: &str, prefix: &str| -> Vec<Option<u32>> {
        let ns = std::fs::File::open(ns).unwrap();
        let mut nl = network::netlink::Netlink::open_in(std::os::fd::AsFd::as_fd(&ns)).unwrap();
        let links = nl.links().unwrap();
        links.iter().filter(|l| l.name.starts_with(prefix)).map(|l| l.gso_ipv4_max).collect()
    };
    assert_eq!(gso(&format!("/proc/{}/ns/net", pid.trim()), "eth0"), [Some(196_608)]);
    // (The veths of the `run --rm` containers above go with their network
    // namespaces, which the kernel tears down in the background: wait for
    // them to be gone.)
    let host_ns = format!("/run/netns/{}", env.netns.as_ref().unwrap());
    let mut host_side = gso(&host_ns, "veth");
    for _ in 0..50 {
        if host_side.len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        host_side = gso(&host_ns, "veth");
    }
    assert_eq!(host_side, [Some(196_608)]);
    env.ok(&["rm", "-f", "-t", "0", "a"]);
}

/// berth.conf (BERTH_CONFIG) names another default network, subnet and
/// bridge, or no network at all; a bad value is a one-line error.
#[test]
fn berth_conf_sets_the_default_network() {
    let env = busybox_in_netns();
    let conf = "default_network = \"lan\"\ndefault_subnet = \"10.201.0.0/24\"\ndefault_interface = \"lan0\"\n";
    env.set_config("", conf);
    let out = env.ok(&["run", "--rm", "bb", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(out.contains("inet 10.201.0.2/24"), "{out}");
    assert_eq!(links(&env, "lan0"), ["lan0"]);
    assert!(links(&env, "berth0").is_empty());
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]), "lan bridge\n");
    let out = env.ok(&["run", "--rm", "--network", "bridge", "bb", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(out.contains("inet 10.201.0."), "bridge names the configured network: {out}");

    env.set_config("netns = \"none\"", conf);
    let out = env.ok(&["run", "--rm", "bb", "ls", "/sys/class/net"]);
    assert_eq!(out, "lo\n");

    env.set_config("", "default_subnet = \"10.0.0.300/8\"");
    let e = env.fails(&["run", "--rm", "bb", "true"], 125);
    assert!(e.starts_with("Error: ") && e.contains("berth.conf") && e.lines().count() == 1, "{e}");
}

#[test]
fn twenty_containers_started_at_once_get_distinct_addresses() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--subnet", "10.127.0.0/24", "many"]);
    let starts: Vec<_> = (0..20)
        .map(|i| {
            let mut c = env.cmd(&["run", "-d", "--name", &format!("m{i}"), "--network", "many", "bb", "sleep", "60"]);
            c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for s in starts {
        let o = s.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mut seen: Vec<String> = (0..20).map(|i| address(&env, &format!("m{i}"), "many")).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "{seen:?}");
    assert_eq!(links(&env, "veth").len(), 20);
    env.ok(&["rm", "-af", "-t", "0"]);
    assert!(no_veths_within(&env, Duration::from_secs(10)), "veths left: {:?}", links(&env, "veth"));
}

#[test]
fn ipv6_between_containers() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--ipv6", "--subnet", "fd00:128::/64", "six"]);
    env.ok(&["run", "-d", "--name", "a", "--network", "six", "bb", "sleep", "60"]);
    let f = "{{(index .NetworkSettings.Networks \"six\").GlobalIPv6Address}}";
    assert_eq!(env.ok(&["inspect", "--format", f, "a"]), "fd00:128::2\n");
    // Dual stack: an IPv4 address too.
    assert!(address(&env, "a", "six").starts_with("10."), "no IPv4 address");
    assert!(pings(&env, "six", "fd00:128::2"));
    assert!(pings(&env, "six", "fd00:128::1"));
    env.ok(&["rm", "-f", "-t", "0", "a"]);
}

#[test]
fn a_macvlan_container_reaches_a_peer_on_the_parent_link() {
    let env = busybox_in_netns();
    // The parent: our end of a veth pair whose other end is the peer.
    let _peer = outside_host(&env, "m", "192.0.2.1", "192.0.2.9");
    env.ok(&["network", "create", "-d", "macvlan", "-o", "parent=out-m", "--subnet", "192.0.2.0/24", "mv"]);
    env.ok(&["run", "-d", "--name", "a", "--network", "mv", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "a", "mv"), "192.0.2.2");
    assert!(pings(&env, "mv", "192.0.2.9"), "no way to the peer on the parent link");
    env.ok(&["rm", "-f", "-t", "0", "a"]);
}

#[test]
fn teardown_leaves_nothing_whatever_ends_the_container() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--subnet", "10.129.0.0/24", "td"]);
    // An exit, a --rm exit, a kill of the container's process, a kill of
    // its monitor then rm -f: each time the pair goes and the address is
    // free for the next container.
    env.ok(&["run", "--name", "x", "--network", "td", "bb", "true"]);
    assert!(no_veths_within(&env, Duration::from_secs(5)));
    env.ok(&["run", "--rm", "--network", "td", "bb", "true"]);
    assert!(no_veths_within(&env, Duration::from_secs(5)));
    env.ok(&["run", "-d", "--name", "k", "--network", "td", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "k", "td"), "10.129.0.2", "x's address was not given back at its exit");
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "k"]);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid.trim().parse().unwrap()).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    env.ok(&["wait", "k"]);
    assert!(no_veths_within(&env, Duration::from_secs(5)));
    env.ok(&["run", "-d", "--name", "m", "--network", "td", "bb", "sleep", "60"]);
    let monitor = env.ok(&["inspect", "--format", "{{.State.ConmonPid}}", "m"]);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(monitor.trim().parse().unwrap()).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    env.ok(&["rm", "-f", "-t", "0", "m", "x"]);
    assert!(no_veths_within(&env, Duration::from_secs(5)));
    env.ok(&["run", "-d", "--name", "n", "--network", "td", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "n", "td"), "10.129.0.2");
    // Removing the network (with -f its container) takes its bridge and
    // its firewall rules.
    let e = env.fails(&["network", "rm", "td"], 2);
    assert!(e.contains("has associated containers with it"), "{e}");
    env.ok(&["network", "rm", "-f", "td"]);
    assert!(links(&env, "berth1").is_empty(), "the bridge is left");
    let rules = host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    assert!(!rules.contains("td"), "{rules}");
}

/// Fetch `url` with busybox wget from the env's namespace; its body.
fn fetch(env: &Env, url: &str) -> Option<String> {
    // (busybox's wget -T crashes on these machines: timeout instead.)
    let o = host(env, &["timeout", "3", "busybox", "wget", "-q", "-O", "-", url]);
    o.status.success().then(|| stdout(&o))
}

#[test]
fn published_ports_answer_on_every_address_and_go_with_the_container() {
    let env = busybox_in_netns();
    let outside = outside_host(&env, "p", "192.0.2.1", "192.0.2.9");
    // A web server on 80 and 81 (a range), its hostname as the page.
    let serve = "busybox httpd -p 80 -h /etc; busybox httpd -f -p 81 -h /etc";
    let id = env.ok(&["run", "-d", "--name", "web", "-p", "8080-8081:80-81", "bb", "sh", "-c", serve]);
    // (podman's /etc/hostname has no newline.)
    let page = id.trim()[..12].to_string();
    let wait_up = Instant::now();
    while fetch(&env, "http://127.0.0.1:8080/hostname").is_none() && wait_up.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // From the host: on 127.0.0.1, on its own addresses, both ports.
    assert_eq!(fetch(&env, "http://127.0.0.1:8080/hostname").as_deref(), Some(page.as_str()));
    assert_eq!(fetch(&env, "http://127.0.0.1:8081/hostname").as_deref(), Some(page.as_str()));
    assert_eq!(fetch(&env, "http://192.0.2.1:8080/hostname").as_deref(), Some(page.as_str()));
    // From another host, on the host's address.
    let peer = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &outside.0,
            "timeout",
            "3",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://192.0.2.1:8080/hostname",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&peer), page, "{}", stderr(&peer));
    // From another container, and from itself, through the host's address.
    let via = env.ok(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "bb",
        "busybox",
        "wget",
        "-qO-",
        "http://10.87.0.1:8080/hostname",
    ]);
    assert_eq!(via, page);
    assert_eq!(env.ok(&["exec", "web", "busybox", "wget", "-qO-", "http://10.87.0.1:8081/hostname"]), page);
    // What berth shows of them, as podman shows them.
    assert_eq!(env.ok(&["port", "web"]), "80/tcp -> 0.0.0.0:8080\n81/tcp -> 0.0.0.0:8081\n");
    assert_eq!(env.ok(&["port", "web", "81"]), "0.0.0.0:8081\n");
    assert_eq!(env.ok(&["ps", "--format", "{{.Ports}}"]), "0.0.0.0:8080-8081->80-81/tcp\n");
    let bindings = env.ok(&["inspect", "--format", "{{json .HostConfig.PortBindings}}", "web"]);
    assert_eq!(
        bindings.trim(),
        r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"81/tcp":[{"HostIp":"","HostPort":"8081"}]}"#
    );
    // A port already held: a clear error, no container left behind.
    let e = env.fails(&["run", "--rm", "-p", "8080:80", "bb", "true"], 125);
    assert!(e.contains("8080: bind: address already in use"), "{e}");
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 1);
    // The flows it served are tracked...
    let tracked = host_ok(&env, &["conntrack", "-L", "-r", "10.87.0.2"]);
    assert!(tracked.contains("dport=8080"), "{tracked}");
    // Gone with the container: no answer, no rule, no tracked flow, the
    // port free again.
    env.ok(&["rm", "-f", "-t", "0", "web"]);
    let tracked = host_ok(&env, &["conntrack", "-L", "-r", "10.87.0.2"]);
    assert_eq!(tracked, "", "flows of a removed container are still tracked");
    assert_eq!(fetch(&env, "http://127.0.0.1:8080/hostname"), None);
    let rules = host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    assert!(!rules.contains("chain ct-"), "{rules}");
    env.ok(&["run", "--rm", "-p", "8080:80", "bb", "true"]);
}

#[test]
fn udp_and_random_ports_and_publish_all() {
    let env = busybox_in_netns();
    // UDP to a random host port on 127.0.0.1. busybox has no UDP server
    // here: a receiver runs in the container's network namespace (not in
    // the container), where the port leads.
    env.ok(&["run", "-d", "--name", "u", "-p", "127.0.0.1::5353/udp", "bb", "sleep", "60"]);
    let host_port = env.ok(&["port", "u", "5353/udp"]);
    let port = host_port.trim().strip_prefix("127.0.0.1:").unwrap().to_string();
    assert_ne!(port, "0");
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "u"]);
    let receive = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
                   s.bind(('0.0.0.0', 5353)); print(s.recvfrom(100)[0].decode(), end='')";
    let receiver = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", pid.trim()))
        .args(["timeout", "10", "python3", "-c", receive])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let send = format!(
        "import socket, time\nfor _ in range(50):\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'over udp', ('127.0.0.1', {port})); time.sleep(0.1)"
    );
    let mut sender = env.host_cmd(&["python3", "-c", &send]).spawn().unwrap();
    let got = receiver.wait_with_output().unwrap();
    let _ = sender.kill();
    let _ = sender.wait();
    assert_eq!(stdout(&got), "over udp");
    // -P: every port the image exposes, each to a free host port.
    let archive = env.path("exposed.tar");
    let config = serde_json::json!({"Cmd": ["sleep", "60"], "ExposedPorts": {"80/tcp": {}, "53/udp": {}}});
    write_oci_archive_config(&archive, Some("localhost/exposed:latest"), &[busybox_layer()], config);
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    env.ok(&["run", "-d", "--name", "all", "-P", "localhost/exposed"]);
    let lines = env.ok(&["port", "all"]);
    assert!(lines.contains("53/udp -> 0.0.0.0:") && lines.contains("80/tcp -> 0.0.0.0:"), "{lines}");
    assert_eq!(env.ok(&["inspect", "--format", "{{.HostConfig.PublishAllPorts}}", "all"]), "true\n");
    // Bad input: podman's messages, nothing made.
    let e = env.fails(&["run", "--rm", "-p", "8000-8002:80-81", "bb", "true"], 125);
    assert_eq!(e, "Error: host and container port ranges have different lengths: 3 vs 2\n");
    let e = env.fails(&["run", "--rm", "--network", "none", "-p", "80", "bb", "true"], 125);
    assert!(e.contains("port mappings need a bridge network"), "{e}");
    env.ok(&["rm", "-f", "-t", "0", "u", "all"]);
}

/// A stand-in for the host's resolver, on 127.0.0.1:5300 of the env's
/// namespace: `outside.example` is 192.0.2.77, every other name does not
/// exist.
const FAKE_UPSTREAM: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5300))
while True:
    q, peer = s.recvfrom(512)
    end = q.index(0, 12) + 5
    name = []
    i = 12
    while q[i]:
        name.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    if ".".join(name).lower() == "outside.example" and q[end - 4:end - 2] == b"\x00\x01":
        head = q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
        s.sendto(head + q[12:end] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 77]), peer)
    elif ".".join(name).lower() == "outside.example":
        s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + q[12:end], peer)
    else:
        s.sendto(q[:2] + b"\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00" + q[12:end], peer)
"#;

/// Kills a child process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nslookup NAME` in a container on `net`, tried `tries` times (the name
/// server may be starting): its output, or `None` if the name never
/// resolved.
fn lookup(env: &Env, net: &str, name: &str, tries: u32) -> Option<String> {
    let script = format!("for i in $(seq {tries}); do nslookup {name} && exit 0; sleep 0.3; done; exit 1");
    let o = env.run(&["run", "--rm", "--network", net, "bb", "sh", "-c", &script]);
    o.status.success().then(|| stdout(&o))
}

#[test]
fn containers_resolve_each_other_by_name_and_alias_and_the_rest_upstream() {
    let env = busybox_in_netns();
    let _upstream = Child(env.host_cmd(&["python3", "-c", FAKE_UPSTREAM]).spawn().unwrap());
    env.ok(&["network", "create", "--subnet", "10.130.0.0/24", "lan"]);
    env.ok(&["network", "create", "--subnet", "10.131.0.0/24", "other"]);
    let mut run =
        env.cmd(&["run", "-d", "--name", "web", "--network", "lan", "--network-alias", "www", "bb", "sleep", "60"]);
    let o = run.env("BERTH_TEST_DNS_UPSTREAM", "127.0.0.1:5300").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let found = lookup(&env, "lan", "web", 10).expect("web does not resolve");
    assert!(found.contains("10.130.0.2"), "{found}");
    let found = lookup(&env, "lan", "www", 10).expect("the alias does not resolve");
    assert!(found.contains("10.130.0.2"), "{found}");
    // Over TCP too (busybox's nslookup has only UDP: a query for `web`
    // by hand, two bytes of length first; the answer ends with its
    // address, 0a 82 00 02).
    let query = r"\x00\x15\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x00\x00\x01\x00\x01";
    let script = format!("printf '{query}' | nc -w 3 10.130.0.1 53 | od -An -tx1 | tr -s ' \\n' ' '");
    let answer = env.ok(&["run", "--rm", "--network", "lan", "bb", "sh", "-c", &script]);
    assert!(answer.starts_with(" 00 ") && answer.trim_end().ends_with("0a 82 00 02"), "{answer:?}");
    assert!(pings(&env, "lan", "web"));
    // What the container is told: the network's server, its domain.
    let resolv = env.ok(&["exec", "web", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("search dns.berth"), "{resolv}");
    assert!(resolv.contains("nameserver 10.130.0.1\n"), "{resolv}");
    // Other names: the host's resolver's answer.
    let found = lookup(&env, "lan", "outside.example", 10).expect("upstream names do not resolve");
    assert!(found.contains("192.0.2.77"), "{found}");
    // Not from another network; not once it is gone.
    assert_eq!(lookup(&env, "other", "web", 1), None, "a name resolved across networks");
    env.ok(&["rm", "-f", "-t", "0", "web"]);
    assert_eq!(lookup(&env, "lan", "web", 1), None, "a removed container's name still resolves");
}

#[test]
fn dns_and_hosts_flags_write_what_they_ask() {
    let env = busybox_in_netns();
    let hosts =
        env.ok(&["run", "--rm", "--add-host", "foo:1.2.3.4", "--add-host", "a;b:fd00::9", "bb", "cat", "/etc/hosts"]);
    assert!(hosts.starts_with("1.2.3.4\tfoo\nfd00::9\ta b\n"), "{hosts}");
    let resolv = env.ok(&[
        "run",
        "--rm",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "example.com",
        "--dns-option",
        "ndots:2",
        "bb",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(resolv, "search example.com\nnameserver 9.9.9.9\noptions ndots:2\n");
    // On a network with name resolution, --dns still wins.
    env.ok(&["network", "create", "--subnet", "10.132.0.0/24", "lan"]);
    let resolv = env.ok(&["run", "--rm", "--network", "lan", "--dns", "9.9.9.9", "bb", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 9.9.9.9\n") && !resolv.contains("10.132.0.1"), "{resolv}");
    // --no-hosts: the image's /etc/hosts (this one has none).
    let o = env.run(&["run", "--rm", "--no-hosts", "bb", "cat", "/etc/hosts"]);
    assert!(!o.status.success(), "berth made an /etc/hosts: {}", stdout(&o));
    env.ok(&["create", "--name", "c", "--dns", "9.9.9.9", "--add-host", "foo:1.2.3.4", "bb", "true"]);
    let f = "{{json .HostConfig.Dns}} {{json .HostConfig.ExtraHosts}}";
    assert_eq!(env.ok(&["inspect", "--format", f, "c"]), "[\"9.9.9.9\"] [\"foo:1.2.3.4\"]\n");
    // Bad input: podman's messages.
    let e = env.fails(&["run", "--rm", "--no-hosts", "--add-host", "a:1.1.1.1", "bb", "true"], 125);
    assert_eq!(e, "Error: --no-hosts and --add-host cannot be set together\n");
    assert_eq!(
        env.fails(&["run", "--rm", "--add-host", "bad", "bb", "true"], 125),
        "Error: bad format for add-host: \"bad\"\n"
    );
    assert_eq!(env.fails(&["run", "--rm", "--dns", "bad", "bb", "true"], 125), "Error: bad is not an ip address\n");
    let e = env.fails(&["run", "--rm", "--network", "none", "--dns", "1.1.1.1", "bb", "true"], 125);
    assert_eq!(e, "Error: conflicting options: dns and the network mode: none\n");
    // An alias is a name (berth is stricter than podman here: its DNS
    // files hold one name per word).
    let e = env.fails(&["run", "--rm", "--network-alias", "a b", "bb", "true"], 125);
    assert!(e.contains("invalid network alias \"a b\""), "{e}");
}

#[test]
fn connect_disconnect_and_reload() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--subnet", "10.133.0.0/24", "a"]);
    env.ok(&["network", "create", "--subnet", "10.134.0.0/24", "b"]);
    env.ok(&["run", "-d", "--name", "x", "--network", "a", "-p", "8090:80", "bb", "sleep", "60"]);
    // Live: a second interface, reachable from b's containers.
    assert_eq!(env.ok(&["network", "connect", "--alias", "xx", "b", "x"]), "");
    let addrs = env.ok(&["exec", "x", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth1") && addrs.contains("10.134.0.2/24"), "{addrs}");
    assert_eq!(address(&env, "x", "b"), "10.134.0.2");
    assert!(pings(&env, "b", "10.134.0.2"));
    let e = env.fails(&["network", "connect", "b", "x"], 125);
    assert!(e.contains("is already connected to network b"), "{e}");
    // Gone again: no interface, its address free for the next container.
    assert_eq!(env.ok(&["network", "disconnect", "b", "x"]), "");
    let addrs = env.ok(&["exec", "x", "ip", "-o", "link"]);
    assert!(!addrs.contains("eth1"), "{addrs}");
    env.ok(&["run", "-d", "--name", "y", "--network", "b", "bb", "sleep", "60"]);
    assert_eq!(address(&env, "y", "b"), "10.134.0.2", "the address was not given back");
    let e = env.fails(&["network", "disconnect", "b", "x"], 125);
    assert!(e.contains("is not connected to network b"), "{e}");
    // A stopped container: connected at its next start.
    env.ok(&["create", "--name", "z", "--network", "a", "bb", "sleep", "60"]);
    env.ok(&["network", "connect", "b", "z"]);
    env.ok(&["start", "z"]);
    let addrs = env.ok(&["exec", "z", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth0") && addrs.contains("eth1") && addrs.contains("10.134.0."), "{addrs}");
    // Reload puts back rules the host's firewall lost.
    host_ok(&env, &["nft", "delete", "table", "inet", "berth"]);
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "x"]);
    assert_eq!(env.ok(&["network", "reload", "x"]), id);
    let rules = host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    assert!(rules.contains("nw-a-nat") && rules.contains("dport 8090"), "{rules}");
    let e = env.fails(&["network", "connect", "b", "nosuch"], 125);
    assert_eq!(e, "Error: no container with name or ID \"nosuch\" found: no such container\n");
    env.ok(&["rm", "-f", "-t", "0", "x", "y", "z"]);
}

#[test]
fn ipv6_goes_out_through_nat66() {
    let env = busybox_in_netns();
    // An outside host with an IPv6 address only our namespace can reach:
    // it has no route back to the network, so only a masquerade answers.
    let outside = outside_host(&env, "6", "192.0.2.1", "192.0.2.9");
    host_ok(&env, &["ip", "-6", "addr", "add", "fd00:200::1/64", "dev", "out-6", "nodad"]);
    let ok = std::process::Command::new("ip")
        .args(["-n", &outside.0, "-6", "addr", "add", "fd00:200::9/64", "dev", "eth0", "nodad"])
        .status()
        .unwrap();
    assert!(ok.success());
    env.ok(&["network", "create", "--ipv6", "--subnet", "fd00:129::/64", "six"]);
    let o = env.run(&["run", "--rm", "--network", "six", "bb", "ping", "-6", "-c", "1", "-W", "2", "fd00:200::9"]);
    assert!(o.status.success(), "no way out over IPv6: {}{}", stdout(&o), stderr(&o));
    let rules = host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    assert!(rules.contains("ip6 saddr fd00:129::/64"), "{rules}");
}

/// `network reload` and `network prune` remove what a crash left: the rules
/// and bridge of a network whose record went (a crash inside `network rm`),
/// the port rules and DNS name of a container whose monitor was killed
/// with it; a running container keeps its rules, name and port.
#[test]
fn reload_and_prune_repair_what_a_crash_left() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--subnet", "10.131.0.0/24", "lan"]);
    env.ok(&["network", "create", "--subnet", "10.132.0.0/24", "--interface-name", "ghost0", "ghost"]);
    env.ok(&["run", "--rm", "--network", "ghost", "bb", "true"]);
    std::fs::remove_file(env.network_dir().join("ghost.json")).unwrap();
    let serve = "busybox httpd -f -p 80 -h /etc";
    let live = env.ok(&["run", "-d", "--name", "live", "--network", "lan", "-p", "18091:80", "bb", "sh", "-c", serve]);
    let dead = env.ok(&["run", "-d", "--name", "dead", "--network", "lan", "-p", "18092:80", "bb", "sh", "-c", serve]);
    let (live, dead) = (live.trim().to_string(), dead.trim().to_string());
    let pids = env.ok(&["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", "dead"]);
    for pid in pids.split_whitespace() {
        let pid = rustix::process::Pid::from_raw(pid.parse().unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    }
    let table = || host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    let hosts = || std::fs::read_to_string(env.network_run_dir().join("dns/lan.hosts")).unwrap();
    let wait_up = Instant::now();
    while fetch(&env, "http://127.0.0.1:18091/hostname").is_none() && wait_up.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = table();
    assert!(before.contains("nw-ghost-fwd") && before.contains(&format!("ct-{}-dnat4", &dead[..12])), "{before}");
    assert_eq!(links(&env, "ghost0"), ["ghost0"]);
    assert!(hosts().contains(&dead), "{}", hosts());

    env.ok(&["network", "reload", "--all"]);
    let after = table();
    assert!(!after.contains("ghost") && !after.contains(&dead[..12]), "{after}");
    assert!(after.contains(&format!("ct-{}-dnat4", &live[..12])) && after.contains("nw-lan-fwd"), "{after}");
    assert!(links(&env, "ghost0").is_empty(), "the crashed network's bridge is left");
    assert!(!hosts().contains(&dead) && hosts().contains(&live), "{}", hosts());
    let page = fetch(&env, "http://127.0.0.1:18091/hostname");
    assert_eq!(page.as_deref(), Some(&live[..12]), "the live container's port");

    // prune does the same (here: nothing left to do) and keeps lan, in use.
    assert_eq!(env.ok(&["network", "prune", "-f"]), "");
    assert_eq!(table(), after);
    env.ok(&["rm", "-f", "-t", "0", "live", "dead"]);
}

/// A network a CNI configuration list defines (bridge + host-local +
/// portmap, Debian's reference plugins): listed, joined, its address in
/// the container's records and /etc/hosts, a published port through
/// portmap, and nothing left (lease, rules, veth) once the container goes.
#[test]
fn a_cni_bridge_host_local_portmap_network_works() {
    let env = busybox_in_netns();
    let (cni_dir, leases) = (env.path("cni"), env.path("cni-leases"));
    std::fs::create_dir(&cni_dir).unwrap();
    env.set_config("", &format!("network_config_dir = \"{}\"", cni_dir.display()));
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "cninet",
        "plugins": [
            {
                "type": "bridge", "bridge": "cnibr0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": "10.133.0.0/24", "gateway": "10.133.0.1" }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": leases,
                },
            },
            { "type": "portmap", "capabilities": { "portMappings": true } },
        ],
    });
    std::fs::write(cni_dir.join("50-cninet.conflist"), conflist.to_string()).unwrap();

    let ls = env.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(ls, "berth bridge\ncninet bridge\n");
    let subnet = env.ok(&["network", "inspect", "--format", "{{range .Subnets}}{{.Subnet}}{{end}}", "cninet"]);
    assert_eq!(subnet, "10.133.0.0/24\n");

    let serve = "busybox httpd -f -p 80 -h /etc";
    let id = env.ok(&["run", "-d", "--name", "web", "--network", "cninet", "-p", "18095:80", "bb", "sh", "-c", serve]);
    let ip = address(&env, "web", "cninet");
    assert!(ip.starts_with("10.133.0."), "{ip}");
    let hosts = env.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t")), "{hosts}");
    assert!(std::fs::read_dir(&leases).unwrap().count() > 0, "no lease in host-local's directory");
    assert!(env
        .ok(&["run", "--rm", "--network", "cninet", "bb", "ping", "-c", "1", "-W", "2", &ip])
        .contains("1 packets received"));
    let page = id.trim()[..12].to_string();
    let wait_up = Instant::now();
    while fetch(&env, "http://10.133.0.1:18095/hostname").is_none() && wait_up.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(fetch(&env, "http://10.133.0.1:18095/hostname").as_deref(), Some(page.as_str()), "through portmap");
    assert_eq!(fetch(&env, "http://127.0.0.1:18095/hostname").as_deref(), Some(page.as_str()), "on 127.0.0.1");
    let rules = host_ok(&env, &["iptables-save"]);
    assert!(rules.contains(&id.trim()[..12]) || rules.contains("CNI-HOSTPORT-DNAT"), "{rules}");

    // The host's firewall flushed: reload's CHECK finds portmap's rules
    // missing and sets the network up again, on the same address.
    host_ok(&env, &["iptables", "-t", "nat", "-F", "CNI-HOSTPORT-DNAT"]);
    assert_eq!(fetch(&env, "http://10.133.0.1:18095/hostname"), None, "the flush did not take the port");
    assert_eq!(env.ok(&["network", "reload", "web"]), id);
    assert_eq!(address(&env, "web", "cninet"), ip);
    assert_eq!(fetch(&env, "http://10.133.0.1:18095/hostname").as_deref(), Some(page.as_str()), "after reload");

    // Its file is not berth's to remove.
    let e = env.fails(&["network", "rm", "cninet"], 125);
    assert!(e.contains("defined by CNI configuration"), "{e}");

    // A start that fails once its network is set up (the host port is
    // web's): its plugins' lease and rules and its namespace's binding go.
    let leases_now = || std::fs::read_dir(leases.join("cninet")).unwrap().count();
    let before = leases_now();
    let o = env.run(&["run", "-d", "--name", "clash", "--network", "cninet", "-p", "18095:80", "bb", "sleep", "60"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let clash = env.ok(&["inspect", "--format", "{{.Id}}", "clash"]);
    assert_eq!(leases_now(), before, "clash's lease is left");
    assert!(!host_ok(&env, &["iptables-save"]).contains(&clash.trim()[..12]), "clash's rules are left");
    assert!(!env.runroot.join("netns").join(clash.trim()).exists(), "clash's namespace is still bound");
    env.ok(&["rm", "clash"]);

    // A start that fails wiring its second network (a macvlan whose parent
    // went) after its CNI one was set up: the CNI network's lease and
    // rules and the namespace's binding go.
    host_ok(&env, &["ip", "link", "add", "mvp0", "type", "veth", "peer", "name", "mvp1"]);
    env.ok(&["network", "create", "-d", "macvlan", "-o", "parent=mvp0", "--subnet", "192.0.2.0/24", "mv"]);
    let two = env.ok(&["create", "--name", "two", "--network", "cninet", "--network", "mv", "bb", "sleep", "60"]);
    host_ok(&env, &["ip", "link", "del", "mvp0"]);
    let o = env.run(&["start", "two"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(leases_now(), before, "two's lease is left");
    assert!(!host_ok(&env, &["iptables-save"]).contains(&two.trim()[..12]), "two's rules are left");
    assert!(!env.runroot.join("netns").join(two.trim()).exists(), "two's namespace is still bound");
    env.ok(&["rm", "two"]);

    // A container whose monitor is killed with it: the removal runs DEL,
    // in its namespace, kept bound under the runroot until then.
    let k = env.ok(&["run", "-d", "--name", "k", "--network", "cninet", "bb", "sleep", "60"]);
    let k12 = k.trim()[..12].to_string();
    assert!(host_ok(&env, &["iptables-save"]).contains(&k12), "k's masquerade rules");
    let pids = env.ok(&["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", "k"]);
    for pid in pids.split_whitespace() {
        let pid = rustix::process::Pid::from_raw(pid.parse().unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    }
    env.ok(&["rm", "-f", "-t", "0", "k"]);
    assert!(!host_ok(&env, &["iptables-save"]).contains(&k12), "k's rules outlived its removal");
    assert!(!env.runroot.join("netns").join(k.trim()).exists(), "k's namespace is still bound");

    env.ok(&["rm", "-f", "-t", "0", "web"]);
    let left: Vec<String> = std::fs::read_dir(leases.join("cninet"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|f| !f.starts_with("10.133.")), "leases left: {left:?}");
    let rules = host_ok(&env, &["iptables-save"]);
    assert!(!rules.contains(&id.trim()[..12]), "portmap's rules left: {rules}");
    assert!(no_veths_within(&env, Duration::from_secs(5)));
    assert!(!env.runroot.join("cni/results").read_dir().is_ok_and(|mut d| d.next().is_some()), "cached results left");
}

/// A second store (`--root`) run from the same namespace, by `env`'s
/// berth.conf (`config`: another file for another configuration).
fn other_store<'a>(env: &'a Env, config: &std::path::Path) -> (Env, impl Fn(&[&str]) -> Output + 'a) {
    let other = Env::new();
    let (archive, _) = busybox_archive(&other, "bb.tar", "localhost/bb:latest");
    let (root, runroot) = (other.root.clone(), other.runroot.clone());
    let config = config.to_path_buf();
    let berth2 = move |args: &[&str]| {
        let mut c = env.host_cmd(&[BIN]);
        c.env("BERTH_CONFIG", &config).arg("--root").arg(&root).arg("--runroot").arg(&runroot);
        c.args(args).stdin(std::process::Stdio::null()).output().unwrap()
    };
    let o = berth2(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    (other, berth2)
}

/// Stores on one host share its networks, as podman's do: a second store
/// sees the first's networks and cannot take their names; containers of
/// both get distinct addresses (default network and user network), reach
/// and resolve each other; a network the other store's containers are on
/// is neither removed (`-f` neither) nor pruned, and a repair by one store
/// (`network reload`, `prune`) leaves the other's port rules and names.
#[test]
fn stores_on_one_host_share_its_networks() {
    let env = busybox_in_netns();
    let (_other, berth2) = other_store(&env, &env.config());
    let ok2 = |args: &[&str]| {
        let o = berth2(args);
        assert!(o.status.success(), "berth2 {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    env.ok(&["network", "create", "--subnet", "10.136.0.0/24", "shared"]);
    assert_eq!(ok2(&["network", "ls", "--format", "{{.Name}}"]), "berth\nshared\n");
    let mode =
        |p: &std::path::Path| std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions()) & 0o777;
    let o = berth2(&["network", "create", "--subnet", "10.137.0.0/24", "shared"]);
    assert!(stderr(&o).contains("network name shared already used"), "{}", stderr(&o));

    env.ok(&["run", "-d", "--name", "a", "--network", "shared", "bb", "sleep", "60"]);
    env.ok(&["run", "-d", "--name", "d", "bb", "sleep", "60"]);
    let serve = "busybox httpd -f -p 80 -h /etc";
    let b =
        ok2(&["run", "-d", "--name", "b", "--network", "shared", "-p", "18093:80", "localhost/bb", "sh", "-c", serve]);
    let b = b.trim().to_string();
    ok2(&["run", "-d", "--name", "e", "localhost/bb", "sleep", "60"]);
    // What berth made is closed to the host's other users.
    assert_eq!(mode(&env.network_dir()), 0o700);
    assert_eq!(mode(&env.network_run_dir()), 0o700);
    assert_eq!(mode(&env.network_run_dir().join("addresses.db")), 0o600);
    let address2 = |name: &str, net: &str| {
        let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
        ok2(&["inspect", "--format", &f, name]).trim().to_string()
    };
    let (a_ip, b_ip) = (address(&env, "a", "shared"), address2("b", "shared"));
    assert!(a_ip.starts_with("10.136.0.") && b_ip.starts_with("10.136.0.") && a_ip != b_ip, "{a_ip} {b_ip}");
    let (d_ip, e_ip) = (address(&env, "d", "berth"), address2("e", "berth"));
    assert!(d_ip.starts_with("10.87.") && e_ip.starts_with("10.87.") && d_ip != e_ip, "{d_ip} {e_ip}");

    ok2(&["exec", "b", "ping", "-c", "1", "-W", "2", &a_ip]);
    env.ok(&["exec", "d", "ping", "-c", "1", "-W", "2", &e_ip]);
    let resolve = "for i in $(seq 10); do nslookup $0 && exit 0; sleep 0.3; done; exit 1";
    assert!(ok2(&["exec", "b", "sh", "-c", resolve, "a"]).contains(&a_ip));
    assert!(env.ok(&["exec", "a", "sh", "-c", resolve, "b"]).contains(&b_ip));

    // The other store's container keeps the network, its rules, its name.
    let e = env.fails(&["network", "rm", "-f", "shared"], 2);
    assert!(e.contains(&format!("container {b} of store")), "{e}");
    assert_eq!(env.ok(&["network", "ls", "-q", "--filter", "name=shared"]).lines().count(), 1);
    env.ok(&["rm", "-f", "-t", "0", "a"]);
    env.fails(&["network", "rm", "shared"], 2);
    assert_eq!(env.ok(&["network", "prune", "-f"]), "");
    env.ok(&["network", "reload", "--all"]);
    let table = host_ok(&env, &["nft", "list", "table", "inet", "berth"]);
    assert!(table.contains(&format!("ct-{}-dnat4", &b[..12])) && table.contains("nw-shared-fwd"), "{table}");
    let hosts = std::fs::read_to_string(env.network_run_dir().join("dns/shared.hosts")).unwrap();
    assert!(hosts.contains(&b), "{hosts}");
    let page = fetch(&env, "http://127.0.0.1:18093/hostname");
    assert_eq!(page.as_deref(), Some(&b[..12]), "the other store's published port");

    // Once they are gone, the network goes.
    ok2(&["rm", "-af", "-t", "0"]);
    env.ok(&["rm", "-af", "-t", "0"]);
    env.ok(&["network", "rm", "shared"]);
    assert!(!host_ok(&env, &["nft", "list", "table", "inet", "berth"]).contains(&b[..12]));
}

/// A store configured with networks of its own (another `network_dir`)
/// still shares the host's interfaces: its network whose bridge another
/// network already has up, for another subnet, is refused at start rather
/// than mixed into it.
#[test]
fn a_bridge_of_another_configurations_network_is_not_joined() {
    let env = busybox_in_netns();
    env.ok(&["network", "create", "--subnet", "10.134.0.0/24", "--interface-name", "shared0", "one"]);
    env.ok(&["run", "--rm", "--network", "one", "bb", "true"]);
    let elsewhere = env.path("elsewhere.conf");
    std::fs::write(
        &elsewhere,
        format!(
            "[network]\nnetwork_dir = \"{}\"\nnetwork_run_dir = \"{}\"\n",
            env.path("nets2").display(),
            env.path("run2").display()
        ),
    )
    .unwrap();
    let (_other, berth2) = other_store(&env, &elsewhere);
    let o = berth2(&["network", "create", "--subnet", "10.135.0.0/24", "--interface-name", "shared0", "two"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = berth2(&["run", "--rm", "--network", "two", "localhost/bb", "true"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{e}");
    assert!(e.contains("bridge shared0 of network two is up without its gateway address 10.135.0.1/24"), "{e}");
    let addrs = host_ok(&env, &["ip", "-4", "-o", "addr", "show", "shared0"]);
    assert!(addrs.contains("10.134.0.1/24") && !addrs.contains("10.135."), "{addrs}");
}
