//! `network::cni` running Debian's reference CNI plugins
//! (containernetworking-plugins, in /usr/lib/cni), as root. Each test runs
//! on a thread in a network namespace of its own, which stands for the
//! host: the plugins, spawned from that thread, make their bridge and
//! their iptables rules there. The "container" is one more namespace. The
//! host's own network is never read or touched, and the tests run in
//! parallel (unique bridge names and subnets).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::*;
use network::cni::{self, Attachment, CniNetwork, PortMapping, Runner};
use network::Error;
use rustix::thread::LinkNameSpaceType;
use serde_json::{json, Value};

const PLUGINS: &str = "/usr/lib/cni";

/// A number of this test's own: its bridge, subnet and network name.
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How the plugins name namespace `ns` (CNI_NETNS): they open the path,
/// which is this process's fd for it.
fn ns_path(ns: &OwnedFd) -> PathBuf {
    format!("/proc/{}/fd/{}", std::process::id(), ns.as_raw_fd()).into()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("berth-cni-test").tempdir_in("/var/tmp").unwrap()
}

/// Write `conf` as `dir/file` and load it.
fn write_net(dir: &Path, file: &str, conf: &Value) -> CniNetwork {
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(conf).unwrap()).unwrap();
    cni::load_file(&path).unwrap()
}

/// A bridge + host-local configuration list for network `n` (bridge
/// `cnitest<n>`, subnet 10.199.<n>.0/24), addresses kept under `data`.
fn bridge_list(n: u32, version: &str, data: &Path, more: &[Value]) -> Value {
    bridge_list_with(n, version, data, json!([[{"subnet": format!("10.199.{n}.0/24")}]]), more)
}

/// [`bridge_list`] with host-local's `ranges`.
fn bridge_list_with(n: u32, version: &str, data: &Path, ranges: Value, more: &[Value]) -> Value {
    let mut plugins = vec![json!({
        "type": "bridge",
        "bridge": format!("cnitest{n}"),
        "isGateway": true,
        "ipMasq": true,
        "ipam": {
            "type": "host-local",
            "ranges": ranges,
            "dataDir": data,
        },
    })];
    plugins.extend_from_slice(more);
    json!({"cniVersion": version, "name": format!("cnitest{n}"), "plugins": plugins})
}

/// The IPv4 addresses (with prefix) `ip` shows on `eth0` in `ns`; None
/// when there is no eth0.
fn eth0_addresses(ns: &OwnedFd) -> Option<Vec<String>> {
    let out = output_in(ns, &["ip", "-j", "addr", "show", "dev", "eth0"]);
    if !out.status.success() {
        return None;
    }
    let links: Value = serde_json::from_slice(&out.stdout).unwrap();
    let infos = links[0]["addr_info"].as_array().unwrap();
    Some(
        infos
            .iter()
            .filter(|a| a["family"] == "inet")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect(),
    )
}

/// The addresses host-local has given out on network `name`.
fn leases(data: &Path, name: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join(name)) else { return Vec::new() };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.retain(|n| n.parse::<std::net::IpAddr>().is_ok());
    names.sort();
    names
}

/// A TCP server on `port` in namespace `ns` that answers its first client
/// with `reply`. Returns once it listens.
fn serve_once(ns: &OwnedFd, port: u16, reply: &'static str) -> std::thread::JoinHandle<()> {
    let ns = ns.try_clone().unwrap();
    let (ready, listening) = mpsc::channel();
    let server = std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
        ready.send(()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(reply.as_bytes()).unwrap();
    });
    listening.recv().unwrap();
    server
}

/// What a server at `addr` says, or the error connecting.
fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    conn.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    Ok(text)
}

#[test]
fn bridge_host_local_portmap_add_check_del() {
    in_new_netns(|| {
        run(&["ip", "link", "set", "lo", "up"]);
        let n = unique() + 100;
        let ctr = new_netns();
        let tmp = scratch();
        let data = tmp.path().join("ipam");
        let portmap = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        let net = write_net(tmp.path(), "net.conflist", &bridge_list(n, "1.0.0", &data, &[portmap]));
        let runner = Runner::new(vec![PLUGINS.into()], tmp.path().join("cache"));
        let netns = ns_path(&ctr);
        let ports =
            [PortMapping { host_port: 18080, container_port: 8080, protocol: "tcp".into(), host_ip: String::new() }];
        let at = Attachment { port_mappings: &ports, ..Attachment::new("ctr1", &netns, "eth0") };

        let result = runner.add(&net, &at).unwrap();
        let addresses = result.container_addresses("eth0");
        assert_eq!(addresses.len(), 1, "{result:?}");
        let address = addresses[0];
        assert!(format!("10.199.{n}.0/24").parse::<ipnet::IpNet>().unwrap().contains(&address.addr()));
        let mac = result.container_mac("eth0").unwrap();
        assert_eq!(mac.len(), 17, "{mac}");
        let gateway = result.ips[0].gateway.unwrap();
        assert_eq!(gateway.to_string(), format!("10.199.{n}.1"));

        // What the kernel shows: the address in the container, the bridge here.
        assert_eq!(eth0_addresses(&ctr).unwrap(), vec![address.to_string()]);
        let link = run_in(&ctr, &["ip", "-j", "link", "show", "dev", "eth0"]);
        assert!(link.contains(&mac), "{link}");
        let bridge: Value =
            serde_json::from_str(&run(&["ip", "-j", "addr", "show", "dev", &format!("cnitest{n}")])).unwrap();
        assert_eq!(bridge[0]["addr_info"][0]["local"], gateway.to_string());
        assert_eq!(leases(&data, &net.name), vec![address.addr().to_string()]);
        let cache = runner.cache_path(&net, &at);
        let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_eq!(cached["result"], result.raw);
        assert!(run(&["iptables-save"]).contains("ctr1"));

        // portmap 1.1.1's CHECK looks for its rules in ip6tables too, even
        // for a container without IPv6, and fails
        // (containernetworking/plugins#819): CHECK runs through to it, and
        // the list without it passes.
        if let Err(e) = runner.check(&net, &at) {
            let e = e.to_string();
            assert!(e.starts_with("CNI plugin portmap failed (CHECK): could not check ipv6 dnat: "), "{e}");
        }
        let without_portmap = CniNetwork { plugins: net.plugins[..1].to_vec(), ..net.clone() };
        runner.check(&without_portmap, &at).unwrap();

        // The published port, through portmap's DNAT, from "the host": on
        // the bridge's address, and on 127.0.0.1 (portmap 1.1.1 turns on
        // route_localnet on the bridge and masquerades 127.0.0.1).
        for host in [gateway, [127, 0, 0, 1].into()] {
            let server = serve_once(&ctr, 8080, "hello from the container");
            let text = fetch(SocketAddr::new(host, 18080)).unwrap();
            assert_eq!(text, "hello from the container", "through {host}");
            server.join().unwrap();
        }

        runner.del(&net, &at).unwrap();
        assert_eq!(eth0_addresses(&ctr), None);
        assert!(leases(&data, &net.name).is_empty());
        assert!(!cache.exists());
        assert!(!run(&["iptables-save"]).contains("ctr1"));
        // Again, and with the namespace gone: nothing left to do is no error.
        runner.del(&net, &at).unwrap();
        let gone = tmp.path().join("gone-netns");
        runner.del(&net, &Attachment { netns: &gone, ..at }).unwrap();
    })
}

/// Write plugin `name` into `dir`: a shell script running `body`. A child
/// writes it, so that no fd of this (threaded) process has it open for
/// writing when it is run: a fork of another test's thread could hold
/// such an fd, and exec would fail with ETXTBSY.
fn script_plugin(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    let text = format!("#!/bin/sh\n{body}\n");
    run(&["sh", "-c", "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"", "sh", &text, path.to_str().unwrap()]);
}

#[test]
fn a_failing_plugin_undoes_the_add() {
    in_new_netns(|| {
        let n = unique() + 100;
        let ctr = new_netns();
        let tmp = scratch();
        let data = tmp.path().join("ipam");
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = tmp.path().join("log");
        script_plugin(
            &bin,
            "failer",
            &format!(
                r#"cat > /dev/null
echo "$CNI_COMMAND" >> {log}
if [ "$CNI_COMMAND" = ADD ]; then
    echo '{{"cniVersion": "1.0.0", "code": 11, "msg": "no luck", "details": "on purpose"}}'
    exit 1
fi"#,
                log = log.display()
            ),
        );
        let net = write_net(tmp.path(), "net.conflist", &bridge_list(n, "1.0.0", &data, &[json!({"type": "failer"})]));
        let runner = Runner::new(vec![bin.clone(), PLUGINS.into()], tmp.path().join("cache"));
        let netns = ns_path(&ctr);
        let at = Attachment::new("ctr2", &netns, "eth0");

        let err = runner.add(&net, &at).unwrap_err();
        assert_eq!(err.to_string(), "CNI plugin failer failed (ADD): no luck: on purpose");
        assert!(matches!(err, Error::Plugin { code: Some(11), .. }), "{err:?}");
        // The bridge plugin did its part, and it was deleted again.
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ADD\nDEL\n");
        assert_eq!(eth0_addresses(&ctr), None);
        assert!(leases(&data, &net.name).is_empty());
        assert!(!runner.cache_path(&net, &at).exists());
        assert!(!run(&["iptables-save"]).contains("ctr2"));
    })
}

#[test]
fn a_plugin_failing_without_a_cni_error_is_reported_in_one_line() {
    let tmp = scratch();
    script_plugin(tmp.path(), "grumpy", "cat > /dev/null\necho 'something broke' >&2\necho '  badly' >&2\nexit 3");
    let net = write_net(
        tmp.path(),
        "net.conflist",
        &json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "grumpy"}]}),
    );
    let runner = Runner::new(vec![tmp.path().into()], tmp.path().join("cache"));
    let at = Attachment::new("ctr", Path::new("/nonexistent/netns"), "eth0");
    let err = runner.add(&net, &at).unwrap_err();
    assert_eq!(err.to_string(), "CNI plugin grumpy failed (ADD): something broke; badly");
    // DEL runs it too, and says the same.
    assert_eq!(
        runner.del(&net, &at).unwrap_err().to_string(),
        "CNI plugin grumpy failed (DEL): something broke; badly"
    );
}

#[test]
fn plugins_see_the_cni_environment_and_their_own_configuration() {
    let tmp = scratch();
    let bin = tmp.path().join("bin");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // Each records its environment and stdin per command, logs the
    // command, and answers ADD with a result of its own.
    for (name, address) in [("first", "10.1.2.3/24"), ("second", "10.1.2.4/24")] {
        let out = out.display();
        script_plugin(
            &bin,
            name,
            &format!(
                r#"env > {out}/{name}-$CNI_COMMAND.env
cat > {out}/{name}-$CNI_COMMAND.json
echo "{name} $CNI_COMMAND" >> {out}/log
[ "$CNI_COMMAND" = ADD ] && printf '%s' '{{"cniVersion": "1.0.0", "interfaces": [{{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "'"$CNI_NETNS"'"}}], "ips": [{{"address": "{address}", "interface": 0}}]}}'
exit 0"#
            ),
        );
    }
    let list = json!({
        "cniVersion": "1.0.0",
        "name": "recorded",
        "plugins": [
            {"type": "first", "name": "ignored", "cniVersion": "0.3.1", "runtimeConfig": {"portMappings": "file's own"}},
            {"type": "second", "capabilities": {"portMappings": true, "bandwidth": true}, "setting": 5},
        ],
    });
    let net = write_net(tmp.path(), "net.conflist", &list);
    let runner = Runner::new(vec!["/nonexistent".into(), bin.clone()], tmp.path().join("cache"));
    let ports =
        [PortMapping { host_port: 80, container_port: 8080, protocol: "udp".into(), host_ip: "10.0.0.1".into() }];
    let netns = Path::new("/run/netns/recorded");
    let args = [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "pod")];
    let at = Attachment { port_mappings: &ports, args: &args, ..Attachment::new("ctr3", netns, "eth7") };

    let result = runner.add(&net, &at).unwrap();
    assert_eq!(result.container_addresses("eth0"), vec!["10.1.2.4/24".parse::<ipnet::IpNet>().unwrap()]);
    let stdin = |name: &str| -> Value { serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap() };
    let first = stdin("first-ADD.json");
    assert_eq!((first["name"].as_str(), first["cniVersion"].as_str()), (Some("recorded"), Some("1.0.0")));
    assert!(first.get("prevResult").is_none());
    // Not declared, so the file's own is left as it was.
    assert_eq!(first["runtimeConfig"], json!({"portMappings": "file's own"}));
    let second = stdin("second-ADD.json");
    assert_eq!(second["prevResult"]["ips"][0]["address"], "10.1.2.3/24");
    assert_eq!(second["setting"], 5);
    assert_eq!(
        second["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "udp", "hostIP": "10.0.0.1"}]})
    );

    let env = std::fs::read_to_string(out.join("second-ADD.env")).unwrap();
    let mut vars: Vec<&str> = env.lines().filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=")).collect();
    vars.sort();
    let path = format!("PATH={}", std::env::var("PATH").unwrap());
    let cni_path = format!("CNI_PATH=/nonexistent:{}", bin.display());
    let mut want = vec![
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=pod",
        "CNI_COMMAND=ADD",
        "CNI_CONTAINERID=ctr3",
        "CNI_IFNAME=eth7",
        "CNI_NETNS=/run/netns/recorded",
        &cni_path,
        &path,
    ];
    want.sort();
    assert_eq!(vars, want);

    // CHECK: in order, with the cached result.
    runner.check(&net, &at).unwrap();
    assert_eq!(stdin("first-CHECK.json")["prevResult"], result.raw);
    assert_eq!(stdin("second-CHECK.json")["prevResult"], result.raw);
    // disableCheck: nothing runs.
    let unchecked = CniNetwork { disable_check: true, ..net.clone() };
    runner.check(&unchecked, &at).unwrap();
    // DEL: last first, with the cached result; then the cache is gone.
    runner.del(&net, &at).unwrap();
    assert_eq!(stdin("first-DEL.json")["prevResult"], result.raw);
    let log = std::fs::read_to_string(out.join("log")).unwrap();
    assert_eq!(log, "first ADD\nsecond ADD\nfirst CHECK\nsecond CHECK\nsecond DEL\nfirst DEL\n");
    let err = runner.check(&net, &at).unwrap_err().to_string();
    assert!(err.starts_with("reading CNI cache "), "{err}");
}

#[test]
fn plugins_are_found_by_name_in_the_plugin_dirs_only() {
    let tmp = scratch();
    let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "no-such-plugin"}]});
    let net = write_net(tmp.path(), "net.conflist", &list);
    let runner = Runner::new(vec![tmp.path().into(), PLUGINS.into()], tmp.path().join("cache"));
    let at = Attachment::new("ctr", Path::new("/nonexistent/netns"), "eth0");
    let err = runner.add(&net, &at).unwrap_err().to_string();
    assert_eq!(err, format!("CNI plugin no-such-plugin not found in {}:{PLUGINS}", tmp.path().display()));

    // A type that is a path out of the plugin directories is refused on
    // loading, and by the runner for a network made by hand.
    let path = tmp.path().join("escape.conflist");
    let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../../bin/sh"}]});
    std::fs::write(&path, list.to_string()).unwrap();
    let err = cni::load_file(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("CNI configuration {}: plugin 1's type \"../../bin/sh\" is not a plain file name", path.display())
    );
    let escape = CniNetwork { plugins: vec![json!({"type": "../../bin/sh"})], ..net.clone() };
    let err = runner.add(&escape, &at).unwrap_err().to_string();
    assert_eq!(err, "CNI plugin type \"../../bin/sh\" is not a plain file name");
    // Nor is a container id or interface name a plugin could misread taken.
    assert!(runner.add(&net, &Attachment::new("../x", Path::new("/x"), "eth0")).is_err());
    assert!(runner.add(&net, &Attachment::new("ctr", Path::new("/x"), "eth0:1")).is_err());
}

#[test]
fn load_dir_reads_in_file_name_order_and_skips_what_it_cannot_use() {
    let tmp = scratch();
    let dir = tmp.path();
    assert!(cni::load_dir(&dir.join("missing")).unwrap().is_empty());
    let list = |name: &str, kind: &str| json!({"cniVersion": "1.0.0", "name": name, "plugins": [{"type": kind}]});
    let conf = json!({"cniVersion": "0.4.0", "name": "alpha", "type": "bridge", "bridge": "br9"});
    std::fs::write(dir.join("05-bad.conflist"), "{ not json").unwrap();
    std::fs::write(dir.join("10-b.conflist"), list("beta", "bridge").to_string()).unwrap();
    std::fs::write(dir.join("15-c.json"), list("gamma", "macvlan").to_string()).unwrap();
    std::fs::write(dir.join("20-a.conf"), conf.to_string()).unwrap();
    std::fs::write(dir.join("30-dup.conflist"), list("beta", "ptp").to_string()).unwrap();
    std::fs::write(dir.join("40-noname.conflist"), json!({"cniVersion": "1.0.0", "plugins": []}).to_string()).unwrap();
    std::fs::write(dir.join("README"), list("readme", "bridge").to_string()).unwrap();

    let nets = cni::load_dir(dir).unwrap();
    let seen: Vec<(&str, &str)> =
        nets.iter().map(|n| (n.name.as_str(), n.path.file_name().unwrap().to_str().unwrap())).collect();
    assert_eq!(seen, [("beta", "10-b.conflist"), ("gamma", "15-c.json"), ("alpha", "20-a.conf")]);
    assert_eq!(nets[0].plugins, [json!({"type": "bridge"})]);
    // A .conf is a list of the one plugin it configures.
    assert_eq!((nets[2].cni_version.as_str(), nets[2].plugins.as_slice()), ("0.4.0", [conf].as_slice()));
}

#[test]
fn a_0_3_1_list_adds_and_deletes_but_has_no_check() {
    in_new_netns(|| {
        let n = unique() + 100;
        let ctr = new_netns();
        let tmp = scratch();
        let data = tmp.path().join("ipam");
        let net = write_net(tmp.path(), "old.conflist", &bridge_list(n, "0.3.1", &data, &[]));
        let runner = Runner::new(vec![PLUGINS.into()], tmp.path().join("cache"));
        let netns = ns_path(&ctr);
        let at = Attachment::new("ctr5", &netns, "eth0");

        let result = runner.add(&net, &at).unwrap();
        assert_eq!(result.cni_version, "0.3.1");
        let address = result.container_addresses("eth0")[0];
        assert_eq!(eth0_addresses(&ctr).unwrap(), vec![address.to_string()]);
        let err = runner.check(&net, &at).unwrap_err().to_string();
        assert_eq!(err, format!("CNI network cnitest{n}: CHECK needs cniVersion 0.4.0 or later (it has 0.3.1)"));
        runner.del(&net, &at).unwrap();
        assert_eq!(eth0_addresses(&ctr), None);
        assert!(leases(&data, &net.name).is_empty());
        assert!(!runner.cache_path(&net, &at).exists());
    })
}
