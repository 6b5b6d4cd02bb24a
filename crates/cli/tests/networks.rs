//! `berth network`: create (its defaults, every option, every refusal
//! leaving nothing behind), ls (table, -q, --no-trunc, JSON, templates,
//! filters), inspect (podman's JSON, five-space indents and all), rm,
//! prune and exists; side by side with podman 4.3 wherever its backend
//! here (CNI) says what netavark's would, and against netavark's words
//! where they differ.
//!
//! berth runs in a network namespace of each test's own: `network rm`
//! takes down what a network's first container made (its bridge, its
//! firewall rules), which must never be the host's or another test's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;

use common::podman::{compare, ErrorLine, Podman, Row, Stdout};
use common::*;
use serde_json::Value;

/// A fresh env whose berth runs in a network namespace of its own.
fn env() -> Env {
    require_root();
    Env::new().in_own_netns()
}

fn names(env: &Env) -> String {
    env.ok(&["network", "ls", "-q"])
}

/// The network records (the env's `network_dir`): what a refused create
/// must not leave.
fn records(env: &Env) -> Vec<String> {
    let mut out: Vec<String> = match std::fs::read_dir(env.network_dir()) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn inspect(env: &Env, name: &str) -> Value {
    let list: Value = serde_json::from_str(&env.ok(&["network", "inspect", name])).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0].clone()
}

/// A JSON text's layout: its lines with every value masked, so that two
/// documents compare by keys, order, nesting and indentation alone.
fn layout(json: &str) -> String {
    let masked = json.lines().map(|l| {
        let body = l.trim_start();
        let indent = &l[..l.len() - body.len()];
        let (key, value) = match body.strip_prefix('"').and_then(|r| r.split_once("\": ")) {
            Some((k, v)) => (format!("\"{k}\": "), v),
            None => (String::new(), body),
        };
        let comma = if value.ends_with(',') { "," } else { "" };
        let value = value.trim_end_matches(',');
        let value = if matches!(value, "{" | "}" | "[" | "]" | "{}" | "[]") { value } else { "V" };
        format!("{indent}{key}{value}{comma}\n")
    });
    masked.collect()
}

#[test]
fn create_takes_the_first_free_name_subnet_and_bridge() {
    let env = env();
    assert_eq!(names(&env), "berth\n");
    assert_eq!(env.ok(&["network", "create"]), "berth1\n");
    let n = inspect(&env, "berth1");
    assert_eq!(n["driver"], "bridge");
    assert_eq!(n["network_interface"], "berth1");
    assert_eq!(n["subnets"], serde_json::json!([{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]));
    assert_eq!((n["ipv6_enabled"].as_bool(), n["internal"].as_bool()), (Some(false), Some(false)));
    assert_eq!(n["dns_enabled"], true);
    assert_eq!(n["ipam_options"], serde_json::json!({"driver": "host-local"}));
    assert_eq!(n["id"].as_str().map(str::len), Some(64));
    // Go's RFC 3339 with nanoseconds, trailing zeros dropped.
    let created = n["created"].as_str().unwrap();
    assert!(created.ends_with('Z') && !created.trim_end_matches('Z').ends_with('0'), "{created}");
    // No labels or options: left out, as podman leaves them out.
    assert!(n.get("labels").is_none() && n.get("options").is_none(), "{n}");

    assert_eq!(env.ok(&["network", "create"]), "berth2\n");
    let n = inspect(&env, "berth2");
    assert_eq!(n["network_interface"], "berth2");
    assert_eq!(n["subnets"][0]["subnet"], "10.89.1.0/24");
    assert_eq!(n["subnets"][0]["gateway"], "10.89.1.1");
    // A name of one's own; the next free bridge.
    assert_eq!(env.ok(&["network", "create", ""]), "berth3\n");
    assert_eq!(env.ok(&["network", "create", "mine"]), "mine\n");
    assert_eq!(inspect(&env, "mine")["network_interface"], "berth4");
    assert_eq!(names(&env), "berth\nberth1\nberth2\nberth3\nmine\n");
    assert_eq!(records(&env), ["berth1.json", "berth2.json", "berth3.json", "mine.json"]);
}

#[test]
fn create_with_every_option() {
    let env = env();
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.70.0.0/24",
        "--gateway",
        "10.70.0.9",
        "--ip-range",
        "10.70.0.128/25",
        "--label",
        "a=b",
        "--label",
        "c",
        "-o",
        "mtu=1400",
        "--opt",
        "isolate=true",
        "--internal",
        "--disable-dns",
        "full",
    ]);
    let n = inspect(&env, "full");
    assert_eq!(
        n["subnets"],
        serde_json::json!([{"subnet": "10.70.0.0/24", "gateway": "10.70.0.9",
            "lease_range": {"start_ip": "10.70.0.129", "end_ip": "10.70.0.255"}}])
    );
    assert_eq!(n["labels"], serde_json::json!({"a": "b", "c": ""}));
    assert_eq!(n["options"], serde_json::json!({"isolate": "true", "mtu": "1400"}));
    assert_eq!((n["internal"].as_bool(), n["dns_enabled"].as_bool()), (Some(true), Some(false)));

    // Two subnets, their gateways in one comma-separated --gateway (pflag's
    // IP list); host bits dropped from a subnet, as podman drops them.
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.71.0.5/24",
        "--subnet",
        "10.72.0.0/24",
        "--gateway",
        "10.71.0.1, 10.72.0.254",
        "two",
    ]);
    let got = env.ok(&["network", "inspect", "-f", "{{range .Subnets}}{{.Subnet}} {{.Gateway}};{{end}}", "two"]);
    assert_eq!(got, "10.71.0.0/24 10.71.0.1;10.72.0.0/24 10.72.0.254;\n");

    // --ipv6: an IPv4 /24 and a ULA /64 beside it.
    env.ok(&["network", "create", "--ipv6", "six"]);
    let n = inspect(&env, "six");
    assert_eq!(n["ipv6_enabled"], true);
    let subnets: Vec<&str> = n["subnets"].as_array().unwrap().iter().map(|s| s["subnet"].as_str().unwrap()).collect();
    assert_eq!(subnets.len(), 2, "{n}");
    assert!(subnets[0].starts_with("10.89.") && subnets[1].starts_with("fd") && subnets[1].ends_with("::/64"));
    assert_eq!(n["subnets"][1]["gateway"].as_str(), Some(subnets[1].replace("::/64", "::1").as_str()));
    // An IPv6 subnet alone: an IPv6 network (podman's), without --ipv6 too.
    env.ok(&["network", "create", "--subnet", "fd00:9::/64", "--ip-range", "fd00:9::/120", "v6only"]);
    let n = inspect(&env, "v6only");
    assert_eq!(n["ipv6_enabled"], true);
    assert_eq!(
        n["subnets"],
        serde_json::json!([{"subnet": "fd00:9::/64", "gateway": "fd00:9::1",
            "lease_range": {"start_ip": "fd00:9::1", "end_ip": "fd00:9::ff"}}])
    );

    // macvlan: its parent is its interface; without one, none (podman
    // leaves the field out), the default route's when a container joins.
    env.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.73.0.0/24",
        "-o",
        "parent=lo",
        "-o",
        "mode=private",
        "mv",
    ]);
    let n = inspect(&env, "mv");
    assert_eq!((n["driver"].as_str(), n["network_interface"].as_str()), (Some("macvlan"), Some("lo")));
    assert_eq!(n["options"], serde_json::json!({"mode": "private", "parent": "lo"}));
    env.ok(&["network", "create", "-d", "macvlan", "--subnet", "10.74.0.0/24", "mv2"]);
    assert!(inspect(&env, "mv2").get("network_interface").is_none());
    // --interface-name (podman 4.4's) names the bridge.
    env.ok(&["network", "create", "--interface-name", "br-mine", "named"]);
    assert_eq!(inspect(&env, "named")["network_interface"], "br-mine");
    // An empty driver or IPAM driver is the default one.
    env.ok(&["network", "create", "-d", "", "--ipam-driver", "", "plain"]);
    assert_eq!(
        env.ok(&["network", "inspect", "-f", "{{.Driver}} {{.IPAMOptions}}", "plain"]),
        "bridge map[driver:host-local]\n"
    );
    env.ok(&["network", "create", "--ipam-driver", "host-local", "hl"]);
}

/// Where podman 4.3's netavark backend words a refusal its CNI one (this
/// machine's podman) does not, or berth refuses what podman takes: the
/// words, the exit code, and nothing made.
#[test]
fn refusals_in_netavarks_words_leave_nothing_behind() {
    let env = env();
    env.ok(&["network", "create", "taken"]);
    let refused = |args: &[&str], want: &str| {
        let mut full = vec!["network", "create"];
        full.extend_from_slice(args);
        assert_eq!(env.fails(&full, 125), format!("Error: {want}\n"), "{args:?}");
    };
    refused(&["-o", "foo=bar", "x"], "unsupported bridge network option foo");
    refused(&["-o", "mtu=abc", "x"], "strconv.Atoi: parsing \"abc\": invalid syntax");
    refused(&["-o", "mtu=-1", "x"], "mtu -1 is less than zero");
    refused(&["-o", "isolate=maybe", "x"], "strconv.ParseBool: parsing \"maybe\": invalid syntax");
    refused(
        &["-d", "macvlan", "x"],
        "macvlan driver needs at least one subnet specified, DHCP is not yet supported with berth",
    );
    refused(
        &["-d", "macvlan", "-o", "parent=nope0", "--subnet", "10.9.0.0/24", "x"],
        "parent interface nope0 does not exist",
    );
    refused(&["-d", "macvlan", "--subnet", "10.9.0.0/24", "-o", "mode=foo", "x"], "unknown macvlan mode \"foo\"");
    refused(
        &["-d", "macvlan", "--subnet", "10.9.0.0/24", "-o", "isolate=true", "x"],
        "unsupported macvlan network option isolate",
    );
    refused(&["--ipam-driver", "dhcp", "x"], "dhcp ipam driver is not yet supported with berth");
    refused(&["--ipam-driver", "foo", "x"], "unsupported ipam driver \"foo\"");
    refused(
        &["--ipam-driver", "none", "x"],
        "none ipam driver is not supported with berth: it gives every container an address from its network's subnets",
    );
    refused(&["-d", "MACVLAN", "x"], "unsupported driver MACVLAN: invalid argument");
    // What podman takes but no network can use (a gateway no container can
    // route through, a subnet with no address for one).
    refused(
        &["--subnet", "10.9.0.0/24", "--gateway", "10.9.0.0", "x"],
        "gateway 10.9.0.0 is the network address of subnet 10.9.0.0/24",
    );
    refused(
        &["--subnet", "10.9.0.0/31", "x"],
        "subnet 10.9.0.0/31 is too small: it has no address for a container besides the gateway",
    );
    // ipvlan, on a kernel without it: said so, not a failure at first use.
    let ipvlan = env.run(&["network", "create", "-d", "ipvlan", "--subnet", "10.9.0.0/24", "ipv"]);
    match kernel_has_ipvlan() {
        Some(false) => assert_eq!(
            (ipvlan.status.code(), stderr(&ipvlan)),
            (
                Some(125),
                "Error: ipvlan networks need a kernel built with ipvlan support (CONFIG_IPVLAN), which this one lacks: use -d macvlan or -d bridge\n".into()
            )
        ),
        Some(true) => assert_eq!(stdout(&ipvlan), "ipv\n", "{}", stderr(&ipvlan)),
        None => {}
    }
    if ipvlan.status.success() {
        env.ok(&["network", "rm", "ipv"]);
    }
    assert_eq!(names(&env), "berth\ntaken\n");
    assert_eq!(records(&env), ["taken.json"]);
}

/// Whether this kernel was built with ipvlan, by its config (None: no
/// config to read).
fn kernel_has_ipvlan() -> Option<bool> {
    let gz = std::fs::read("/proc/config.gz").ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).ok()?;
    Some(text.lines().any(|l| l == "CONFIG_IPVLAN=y" || l == "CONFIG_IPVLAN=m"))
}

/// A subnet on one of the host's own networks is refused in podman's words.
/// (berth in the host's namespace here, to see its addresses: a refused
/// create touches nothing.)
#[test]
fn a_subnet_the_host_uses_is_refused_as_podman_refuses_it() {
    require_root();
    let host = std::process::Command::new("ip").args(["-o", "-4", "addr", "show", "scope", "global"]).output().unwrap();
    // `2: eth0    inet 192.0.2.2/24 brd ...`: the network of the first.
    let Some(cidr) = stdout(&host).split_whitespace().skip_while(|w| *w != "inet").nth(1).map(String::from) else {
        return;
    };
    let env = Env::new();
    let podman = Podman::new();
    let args = ["network", "create", "--subnet", cidr.as_str(), "onhost"];
    let b = env.run(&args);
    let p = podman.run(&args, None);
    assert_eq!(b.status.code(), Some(125), "{}", stderr(&b));
    assert_eq!(p.status.code(), Some(125), "{}", stderr(&p));
    assert_eq!(stderr(&b), stderr(&p));
    assert!(stderr(&b).ends_with(" is already used on the host or by another config\n"), "{}", stderr(&b));
    assert_eq!(names(&env), "berth\n");
}

/// Three networks made alike on both sides, named to sort before both
/// default networks (`berth`, `podman`), so listings compare line for line.
fn setup(env: &Env, podman: &Podman) {
    for args in [
        &["network", "create", "--label", "a=b", "alpha"][..],
        &["network", "create", "-o", "mtu=1400", "amber"],
        &[
            "network",
            "create",
            "--subnet",
            "10.77.0.0/24",
            "--gateway",
            "10.77.0.9",
            "--ip-range",
            "10.77.0.128/25",
            "apex",
        ],
    ] {
        assert_eq!(env.ok(args), podman.ok(args));
    }
}

const fn row(args: &'static [&'static str], code: i32, stdout: &'static str) -> Row {
    Row::new(args, code, stdout)
}

const fn same(args: &'static [&'static str]) -> Row {
    Row::shaped(args, 0, Stdout::Same)
}

/// A refused create: podman's exit code and first error line.
const fn refused(args: &'static [&'static str]) -> Row {
    Row::new(args, 125, "")
}

const WARNING: &str =
    "WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue? [y/N] ";

const ROWS: &[Row] = &[
    // ls: podman's table, quiet and untruncated forms, templates, filters.
    // (Tables without the default network: `podman` and `berth` differ in
    // length, and so would the columns.)
    same(&["network", "ls", "-f", "name=^a"]),
    same(&["network", "ls", "--noheading", "-f", "name=^a"]),
    same(&["network", "ls", "-q"]),
    same(&["network", "ls", "--no-trunc", "-f", "name=^a"]),
    same(&["network", "ls", "--format", "{{.ID}} {{.Name}} {{.Driver}} {{.Labels}}"]),
    same(&["network", "ls", "--format", "table {{.Name}} {{.Labels}} {{.Options}}", "-f", "name=^a"]),
    same(&["network", "ls", "--format", "{{.Name}} {{.IPAMOptions}} {{.Internal}} {{.IPv6Enabled}}"]),
    same(&["network", "ls", "--no-trunc", "--format", "{{.ID}}"]),
    same(&["network", "ls", "-q", "--format", "{{.ID}}"]),
    row(&["network", "ls", "-f", "name=^am", "-q"], 0, "amber\n"),
    row(&["network", "ls", "-f", "name=alpha", "-f", "name=apex", "-q"], 0, "alpha\napex\n"),
    row(&["network", "ls", "-f", "NAME=^al", "-q"], 0, "alpha\n"),
    row(&["network", "ls", "-f", "label=a=b", "-q"], 0, "alpha\n"),
    row(&["network", "ls", "-f", "label=a", "-f", "label=z", "-q"], 0, ""),
    same(&["network", "ls", "-f", "label!=a", "-f", "driver=bridge", "-q"]),
    row(&["network", "ls", "-f", "dangling=true", "-q"], 0, "alpha\namber\napex\n"),
    same(&["network", "ls", "-f", "dangling=false", "-q"]),
    row(&["network", "ls", "-f", "until=1h", "-q"], 0, ""),
    row(&["network", "ls", "-f", "driver=macvlan"], 0, "NETWORK ID  NAME        DRIVER\n"),
    Row::shaped(&["network", "ls", "--format", "json"], 0, Stdout::JsonShape),
    Row::shaped(&["network", "ls", "--format", "{{json .}}"], 0, Stdout::JsonShape),
    refused(&["network", "ls", "-f", "foo=bar"]),
    refused(&["network", "ls", "-f", "name"]),
    refused(&["network", "ls", "-f", "dangling=maybe"]),
    refused(&["network", "ls", "-f", "dangling=1", "-f", "dangling=0"]),
    refused(&["network", "ls", "-f", "until=bogus"]),
    refused(&["network", "ls", "-f", "until=1h", "-f", "until=2h"]),
    refused(&["network", "ls", "--format", "{{.Foo}}"]),
    Row { stdout: Stdout::Is("alpha "), ..refused(&["network", "ls", "--format", "{{.Name}} {{.Foo}}"]) },
    // inspect: podman's JSON and template fields.
    Row::shaped(&["network", "inspect", "alpha", "apex"], 0, Stdout::JsonShape),
    row(
        &["network", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Labels}} {{.Options}} {{.IPAMOptions}}", "alpha", "amber"],
        0,
        "alpha bridge map[a:b] map[] map[driver:host-local]\namber bridge map[] map[mtu:1400] map[driver:host-local]\n",
    ),
    row(
        &["network", "inspect", "--format", "{{json .Subnets}}", "apex"],
        0,
        "[{\"subnet\":\"10.77.0.0/24\",\"gateway\":\"10.77.0.9\",\"lease_range\":{\"start_ip\":\"10.77.0.129\",\"end_ip\":\"10.77.0.255\"}}]\n",
    ),
    row(
        &["network", "inspect", "-f", "{{range .Subnets}}{{.Subnet}} {{.Gateway}} {{.LeaseRange.StartIP}}{{end}}", "apex"],
        0,
        "10.77.0.0/24 10.77.0.9 10.77.0.129\n",
    ),
    row(&["network", "inspect", "-f", "{{json .Labels}} {{.Internal}} {{.IPv6Enabled}}", "alpha"], 0, "{\"a\":\"b\"} false false\n"),
    row(&["network", "inspect", "-f", "table {{.Name}} {{.Driver}}", "alpha"], 0, "alpha       bridge\n"),
    row(&["network", "inspect", "nope"], 125, "[]\n"),
    Row { error: ErrorLine::All, ..row(&["network", "inspect", "nope", "nope2"], 125, "[]\n") },
    refused(&["network", "inspect", "--format", "{{.Foo}}", "alpha"]),
    Row { berth_stderr: &["See 'berth network inspect --help'"], ..refused(&["network", "inspect"]) },
    row(&["network", "exists", "alpha"], 0, ""),
    row(&["network", "exists", "nope"], 1, ""),
    Row { berth_stderr: &["See 'berth network exists --help'"], ..refused(&["network", "exists"]) },
    // create's refusals, in words both backends share; nothing made.
    refused(&["network", "create", "--subnet", "10.77.0.0/24", "dup"]),
    refused(&["network", "create", "--subnet", "10.77.0.5/16", "over"]),
    refused(&["network", "create", "--subnet", "10.99.0.0/24", "--gateway", "10.98.0.1", "x"]),
    refused(&["network", "create", "--subnet", "bogus", "x"]),
    refused(&["network", "create", "--subnet", "", "x"]),
    refused(&["network", "create", "--subnet", "10.99.0.0/33", "x"]),
    refused(&["network", "create", "-d", "foo", "x"]),
    refused(&["network", "create", "alpha"]),
    refused(&["network", "create", "bad name"]),
    refused(&["network", "create", "_x"]),
    refused(&["network", "create", "host"]),
    refused(&["network", "create", "none"]),
    refused(&["network", "create", "-d", "foo", "bridge"]),
    refused(&["network", "create", "--gateway", "10.1.1.1", "x"]),
    refused(&["network", "create", "--ip-range", "10.1.1.0/28", "x"]),
    refused(&["network", "create", "--subnet", "10.50.0.0/24", "--gateway", "10.50.0.1", "--gateway", "10.50.0.2", "x"]),
    refused(&["network", "create", "--subnet", "10.50.0.0/24", "--ip-range", "10.50.0.0/28", "--ip-range", "10.50.0.16/28", "x"]),
    refused(&["network", "create", "--subnet", "10.50.0.0/24", "--ip-range", "10.51.0.0/28", "x"]),
    Row { error: ErrorLine::All, ..refused(&["network", "create", "--subnet", "10.50.0.0/24", "--gateway", "bogus", "x"]) },
    Row { error: ErrorLine::All, ..refused(&["network", "create", "--subnet", "10.50.0.0/24", "--gateway", "10.50.0.1,no", "x"]) },
    refused(&["network", "create", "--label", "=x", "x"]),
    refused(&["network", "create", "-o", "=v", "x"]),
    Row { berth_stderr: &["See 'berth network create --help'"], ..refused(&["network", "create", "a", "b"]) },
    same(&["network", "ls", "-q"]),
    // prune asks first (and stops at EOF), then reads its filters.
    Row { stdin: Some("n\n"), ..row(&["network", "prune"], 0, WARNING) },
    row(&["network", "prune"], 125, WARNING),
    Row { stdin: Some("y\n"), ..row(&["network", "prune", "--filter", "foo=bar"], 125, WARNING) },
    refused(&["network", "prune", "-f", "--filter", "name=alpha"]),
    refused(&["network", "prune", "-f", "--filter", "label"]),
    refused(&["network", "prune", "-f", "--filter", "until=bogus"]),
    row(&["network", "prune", "-f", "--filter", "label=nope"], 0, ""),
    row(&["network", "prune", "-f", "--filter", "label!=a", "--filter", "until=1h"], 0, ""),
    // rm: each removed one printed; a missing one exits 1 after the rest.
    row(&["network", "rm", "nope"], 1, ""),
    Row { error: ErrorLine::All, ..row(&["network", "rm", "nope", "nope2"], 1, "") },
    row(&["network", "rm", "-f", "-t", "3", "nope"], 0, ""),
    Row { error: ErrorLine::All, ..refused(&["network", "rm", "-t", "-1", "alpha"]) },
    row(&["network", "rm", "alpha", "nope", "amber"], 1, "alpha\namber\n"),
    row(&["network", "prune", "-f", "--filter", "label!=a"], 0, "apex\n"),
    row(&["network", "ls", "--format", "{{.Driver}}"], 0, "bridge\n"),
];

#[test]
fn network_commands_as_podman() {
    let env = env();
    let podman = Podman::new();
    setup(&env, &podman);
    compare(ROWS, env.dir.path(), &|a| env.cmd(a), &|a| podman.cmd(a));
}

/// inspect's JSON laid out as podman lays it out (five-space indents, its
/// keys in its order, empty ones left out), and ls's JSON (two spaces), for
/// a network made alike on both sides.
#[test]
fn json_is_laid_out_as_podmans() {
    let env = env();
    let podman = Podman::new();
    let create = [
        "network",
        "create",
        "--subnet",
        "10.78.0.0/24",
        "--gateway",
        "10.78.0.9",
        "--ip-range",
        "10.78.0.128/25",
        "--label",
        "a=b",
        "--label",
        "c",
        "-o",
        "mtu=1400",
        "cmp",
    ];
    env.ok(&create);
    podman.ok(&create);
    env.ok(&["network", "create", "plain"]);
    podman.ok(&["network", "create", "plain"]);
    for args in [
        &["network", "inspect", "cmp"][..],
        &["network", "inspect", "plain", "cmp"],
        &["network", "ls", "--format", "json", "-f", "name=cmp"],
        &["network", "ls", "--format", "json", "-f", "name=plain"],
    ] {
        let (ours, theirs) = (env.ok(args), podman.ok(args));
        assert_eq!(layout(&ours), layout(&theirs), "{args:?}\nberth:\n{ours}\npodman:\n{theirs}");
    }
    assert!(env.ok(&["network", "inspect", "cmp"]).starts_with("[\n     {\n          \"name\": \"cmp\",\n"));
    // The values both backends agree on.
    let (ours, theirs) = (inspect(&env, "cmp"), podman_inspect(&podman, "cmp"));
    for key in ["name", "driver", "subnets", "ipv6_enabled", "internal", "labels", "options", "ipam_options"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
}

fn podman_inspect(podman: &Podman, name: &str) -> Value {
    let list: Value = serde_json::from_str(&podman.ok(&["network", "inspect", name])).unwrap();
    list[0].clone()
}

/// The default network: listed, inspected, never removed, in podman's
/// words (its `podman` is berth's `berth`, bridge `berth0`).
#[test]
fn the_default_network_stays() {
    let env = env();
    let podman = Podman::new();
    let n = inspect(&env, "berth");
    assert_eq!((n["network_interface"].as_str(), n["dns_enabled"].as_bool()), (Some("berth0"), Some(false)));
    let (ours, theirs) = (env.ok(&["network", "inspect", "berth"]), podman.ok(&["network", "inspect", "podman"]));
    assert_eq!(layout(&ours), layout(&theirs));
    for (b, p) in [
        (&["network", "rm", "berth"][..], &["network", "rm", "podman"][..]),
        (&["network", "rm", "-f", "berth"], &["network", "rm", "-f", "podman"]),
        (&["network", "rm", "berth", "nope"], &["network", "rm", "podman", "nope"]),
        (&["network", "exists", "berth"], &["network", "exists", "podman"]),
    ] {
        let (ours, theirs) = (env.run(b), podman.run(p, None));
        assert_eq!(ours.status.code(), theirs.status.code(), "{b:?}");
        assert_eq!(stderr(&ours), stderr(&theirs).replace("podman", "berth"), "{b:?}");
    }
    assert_eq!(env.fails(&["network", "rm", "berth"], 125), "Error: default network berth cannot be removed\n");
    env.ok(&["network", "create", "x"]);
    assert_eq!(env.ok(&["network", "prune", "-f"]), "x\n");
    assert_eq!(names(&env), "berth\n");
}

/// rm by ID prefix (printing what was given), several at once, -f on a
/// missing one; exists by ID; ls by ID; prune's label and until filters.
#[test]
fn rm_prune_and_exists() {
    let env = env();
    for n in ["one", "two", "three"] {
        env.ok(&["network", "create", n]);
    }
    env.ok(&["network", "create", "--label", "keep=yes", "kept"]);
    let id = env.ok(&["network", "inspect", "-f", "{{.ID}}", "one"]).trim().to_string();
    assert_eq!(env.ok(&["network", "ls", "-q", "-f", &format!("id={}", &id[..6])]), "one\n");
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.ID}}", "-f", "name=one"]), format!("{}\n", &id[..12]));
    assert_eq!(env.run(&["network", "exists", &id[..8]]).status.code(), Some(0));
    assert_eq!(env.ok(&["network", "inspect", "-f", "{{.Name}}", &id[..8]]), "one\n");
    assert_eq!(env.ok(&["network", "rm", &id[..8]]), format!("{}\n", &id[..8]));
    assert_eq!(env.run(&["network", "exists", "one"]).status.code(), Some(1));
    assert_eq!(env.ok(&["network", "rm", "-f", "nope", "two"]), "two\n");
    // until: nothing is older than an hour; everything older than a minute on.
    assert_eq!(env.ok(&["network", "prune", "-f", "--filter", "until=1h"]), "");
    let later =
        format!("{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60);
    assert_eq!(env.ok(&["network", "ls", "-q", "--filter", &format!("until={later}")]), "berth\nkept\nthree\n");
    assert_eq!(env.ok(&["network", "prune", "-f", "--filter", "label!=keep=yes"]), "three\n");
    assert_eq!(names(&env), "berth\nkept\n");
    assert_eq!(env.ok(&["network", "prune", "-f", "--filter", "label=keep"]), "kept\n");
    assert_eq!(records(&env), Vec::<String>::new());
}

/// A network a container is on: not dangling, kept by prune, refused by rm
/// (podman's words, exit 2) unless -f, which removes the container too.
#[test]
fn a_network_in_use_is_kept_unless_forced() {
    let (env, _) = Env::with_busybox();
    let env = env.in_own_netns();
    env.ok(&["network", "create", "used"]);
    env.ok(&["network", "create", "idle"]);
    env.ok(&["create", "--name", "c1", "--network", "used", "bb", "true"]);
    assert_eq!(env.ok(&["network", "ls", "-q", "-f", "dangling=false"]), "berth\nused\n");
    let msg = "Error: \"used\" has associated containers with it. Use -f to forcibly delete containers and pods: network is being used\n";
    assert_eq!(env.fails(&["network", "rm", "used"], 2), msg);
    // In use beats missing for the exit code, as with podman.
    let o = env.run(&["network", "rm", "nope", "used"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(env.ok(&["network", "prune", "-f"]), "idle\n");
    assert_eq!(env.ok(&["network", "rm", "-f", "-t", "0", "used"]), "used\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(names(&env), "berth\n");
}

/// Networks are the host's (berth.conf's `network_dir`), no longer a
/// store's: records an earlier berth left in `<root>/networks` move there
/// on first use, and one whose name the host's records have already is
/// kept aside, not lost.
#[test]
fn records_left_in_the_store_move_to_the_hosts_directory() {
    let env = env();
    // A directory berth.conf names that exists is the administrator's:
    // used, its mode left as it is.
    std::fs::create_dir(env.network_run_dir()).unwrap();
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(env.network_run_dir(), open).unwrap();
    env.ok(&["network", "create", "--subnet", "10.140.0.0/24", "old"]);
    env.ok(&["network", "create", "--subnet", "10.141.0.0/24", "both"]);
    let legacy = env.root.join("networks");
    std::fs::create_dir(&legacy).unwrap();
    std::fs::rename(env.network_dir().join("old.json"), legacy.join("old.json")).unwrap();
    std::fs::copy(env.network_dir().join("both.json"), legacy.join("both.json")).unwrap();
    assert_eq!(names(&env), "berth\nboth\nold\n");
    assert_eq!(records(&env), ["both.json", "old.json"]);
    assert_eq!(inspect(&env, "old")["subnets"][0]["subnet"], "10.140.0.0/24");
    assert!(!legacy.exists(), "the store's directory is left");
    let aside: Vec<String> = std::fs::read_dir(env.root.join("networks.unmoved"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside, ["both.json.unmoved"]);
    let mode = env.network_run_dir().metadata().unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o755);
    assert!(env.network_run_dir().join("networks.lock").exists());
}
