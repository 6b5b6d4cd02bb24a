//! `berth network ...`: create, ls, inspect, rm, prune, exists, as podman
//! 4.3 (with netavark) has them: its flags, its JSON and template fields,
//! its messages and exit codes, with `berth` where podman says `podman`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use engine::networks::{Network, NetworkOptions};
use engine::{Engine, ErrorKind};
use serde_json::{json, Map, Value};

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};

#[derive(clap::Args)]
pub struct CreateArgs {
    /// disable dns plugin
    #[arg(long = "disable-dns")]
    disable_dns: bool,
    /// driver to manage the network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// IPv4 or IPv6 gateway for the subnet
    #[arg(long, value_name = "IP", value_parser = ip_list)]
    gateway: Vec<String>,
    /// interface name which is used by the driver
    #[arg(long = "interface-name")]
    interface_name: Option<String>,
    /// restrict external access from this network
    #[arg(long)]
    internal: bool,
    /// allocate container IP from range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver")]
    ipam_driver: Option<String>,
    /// enable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// subnets in CIDR format
    #[arg(long)]
    subnet: Vec<String>,
    /// The network's name (the first free berthN if none)
    #[arg(value_name = "NAME")]
    name: Option<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. 'name=berth')
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Pretty-print networks to JSON or using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate the network ID
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Do not print headers
    #[arg(long)]
    noheading: bool,
    /// display only names
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Pretty-print network to JSON or using a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// The networks to inspect, by name or ID
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// remove any containers using network
    #[arg(short, long)]
    force: bool,
    /// Seconds to wait for running containers to stop before killing the container
    #[arg(short, long, default_value_t = 10)]
    time: u64,
    /// The networks to remove, by name or ID
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    /// The network to look for, by name or ID
    #[arg(value_name = "NETWORK")]
    network: String,
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// network scoped alias for container
    #[arg(long, value_name = "ALIAS")]
    alias: Vec<String>,
    /// set a static ipv4 address for this container network
    #[arg(long, value_name = "IP")]
    ip: Option<IpAddr>,
    /// set a static ipv6 address for this container network
    #[arg(long, value_name = "IP")]
    ip6: Option<IpAddr>,
    /// set a static mac address for this container network
    #[arg(long = "mac-address", value_name = "MAC")]
    mac_address: Option<String>,
    /// The network to connect the container to
    #[arg(value_name = "NETWORK")]
    network: String,
    /// The container to connect
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// force removal of container from network
    #[arg(short, long)]
    force: bool,
    /// The network to disconnect the container from
    #[arg(value_name = "NETWORK")]
    network: String,
    /// The container to disconnect
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(clap::Args)]
pub struct ReloadArgs {
    /// Reload network configuration of all containers
    #[arg(short, long)]
    all: bool,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The containers whose firewall rules to put back
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `--gateway`: pflag's IP list (comma-separated, spaces around each
/// address ignored, an empty value no address), in pflag's words.
fn ip_list(text: &str) -> std::result::Result<String, String> {
    for ip in addresses(text) {
        ip.parse::<IpAddr>().map_err(|_| format!("invalid string being converted to IP address: {ip}"))?;
    }
    Ok(text.to_string())
}

/// The addresses of one `--gateway` value (an empty one has none).
fn addresses(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::trim).collect()
}

/// Names podman keeps for `--network` modes.
const RESERVED_NAMES: [&str; 7] = ["none", "host", "bridge", "private", "slirp4netns", "container", "ns"];

pub fn create(engine: &Engine, a: &CreateArgs) -> Result<u8> {
    let options = key_values(&a.opt).map_err(|e| CliError::new(format!("unable to parse options: {e}")))?;
    let labels = key_values(&a.label).map_err(|e| CliError::new(format!("failed to parse labels: {e}")))?;
    check_ipam_driver(a.ipam_driver.as_deref().unwrap_or(""))?;
    // podman takes an empty name (and an empty driver) as none given.
    let name = a.name.clone().filter(|n| !n.is_empty());
    if let Some(n) = name.as_deref().filter(|n| RESERVED_NAMES.contains(n)) {
        return Err(CliError::new(format!(
            "cannot create network with name {n:?} because it conflicts with a valid network mode"
        )));
    }
    let opts = NetworkOptions {
        name,
        driver: Some(a.driver.clone()).filter(|d| !d.is_empty()),
        subnets: a.subnet.clone(),
        gateways: a.gateway.iter().flat_map(|g| addresses(g)).map(String::from).collect(),
        ranges: a.ip_range.clone(),
        internal: a.internal,
        ipv6: a.ipv6,
        disable_dns: a.disable_dns,
        labels,
        options,
        interface_name: a.interface_name.clone(),
    };
    let network = engine.network_create(&opts)?;
    out(&format!("{}\n", network.name))?;
    Ok(0)
}

/// `--label` and `-o` values, `KEY=VALUE` or `KEY` (an empty value), as
/// podman's `parse.GetAllLabels` reads them.
fn key_values(list: &[String]) -> std::result::Result<BTreeMap<String, String>, String> {
    list.iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if k.is_empty() {
                return Err(format!("invalid label format: {kv:?}"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// berth hands out every address itself, from the network's subnets:
/// podman's default (`host-local`) is the only IPAM driver it has.
fn check_ipam_driver(driver: &str) -> Result<()> {
    match driver {
        "" | "host-local" => Ok(()),
        "dhcp" => Err(CliError::new("dhcp ipam driver is not yet supported with berth")),
        "none" => Err(CliError::new(
            "none ipam driver is not supported with berth: it gives every container an address from its network's subnets",
        )),
        other => Err(CliError::new(format!("unsupported ipam driver {other:?}"))),
    }
}

pub fn ls(engine: &Engine, a: &LsArgs) -> Result<u8> {
    let filters = Filters::parse(&a.filter, LS_FILTERS)?;
    let mut list = Vec::new();
    for n in engine.networks()? {
        if filters.keep(engine, &n)? {
            list.push(n);
        }
    }
    // podman lists by name, its default network among the others.
    list.sort_by(|x, y| x.name.cmp(&y.name));
    if a.format.as_deref().is_some_and(format::is_json) {
        let docs: Vec<Value> = list.iter().map(network_json).collect();
        return out(&format!("{}\n", crate::jsoniter::pretty(&Value::Array(docs), "  "))).map(|()| 0);
    }
    if a.quiet {
        return out(&list.iter().map(|n| format!("{}\n", n.name)).collect::<String>()).map(|()| 0);
    }
    let template = a.format.as_deref().unwrap_or("table {{.ID}}\t{{.Name}}\t{{.Driver}}");
    let rows: Vec<(Value, Value)> = list.iter().map(|n| (ls_view(n, a.no_trunc), network_json(n))).collect();
    let fmt = Format::parse(template)?.named("ls", "network.ListPrintReports").heading(!a.noheading);
    out(&fmt.render_twins_titled(&rows, &LS_TITLES.iter().copied().collect())?)?;
    Ok(0)
}

/// `network ls` column titles, podman's (its splitting of `IPv6Enabled`
/// included), for every field: an empty listing still has its header.
const LS_TITLES: [(&str, &str); 12] = [
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("NetworkInterface", "NETWORK INTERFACE"),
    ("Created", "CREATED"),
    ("Subnets", "SUBNETS"),
    ("IPv6Enabled", "I PV 6 ENABLED"),
    ("Internal", "INTERNAL"),
    ("DNSEnabled", "DNS ENABLED"),
    ("Labels", "LABELS"),
    ("Options", "OPTIONS"),
    ("IPAMOptions", "IPAM OPTIONS"),
];

pub fn inspect(engine: &Engine, a: &InspectArgs) -> Result<u8> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.networks {
        match engine.network(name) {
            Ok(n) => found.push(n),
            Err(e) => errors.push(format!("network {name}: {e}")),
        }
    }
    let text =
        match a.format.as_deref() {
            Some(f) if !format::is_json(f) => {
                let rows: Vec<(Value, Value)> = found.iter().map(|n| (view(n, &n.id), network_json(n))).collect();
                // podman runs the template on each network: no header, even
                // for a `table` format.
                Format::parse(f)?.named("inspect", "interface {}").heading(false).render_twins(&rows).map_err(|e| {
                    CliError { msg: format!("inspecting object: printing inspect output: {}", e.msg), ..e }
                })?
            }
            _ => super::volumes::five_space_json(&found.iter().map(network_json).collect::<Vec<_>>())?,
        };
    out(&text)?;
    let Some((first, rest)) = errors.split_first() else { return Ok(0) };
    for e in rest {
        eprintln!("error inspecting object: {e}");
    }
    Err(CliError::new(format!("inspecting object: {first}")))
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<u8> {
    let timeout = Duration::from_secs(a.time);
    let mut errors: Vec<engine::Error> = Vec::new();
    for name in &a.networks {
        let removed = if a.force { engine.network_remove_forced(name, timeout) } else { engine.network_remove(name) };
        match removed {
            Ok(_) => out(&format!("{name}\n"))?,
            Err(e) if a.force && e.kind == ErrorKind::NotFound => {}
            Err(e) => errors.push(e),
        }
    }
    // podman's exit code: 2 if a network was in use, else 1 if one did not
    // exist, else 125. It prints every error, the last one last.
    let code = if errors.iter().any(|e| e.kind == ErrorKind::InUse) {
        2
    } else if errors.iter().any(|e| e.kind == ErrorKind::NotFound) {
        1
    } else {
        crate::error::ENGINE
    };
    let Some(last) = errors.pop() else { return Ok(0) };
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Err(CliError::with_code(code, last.msg))
}

pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<u8> {
    // podman asks before it reads the filters.
    let warning = "WARNING! This will remove all networks not used by at least one container.\n";
    if !a.force && !super::names::confirm_with(warning)? {
        return Ok(0);
    }
    let filters = Filters::parse(&a.filter, PRUNE_FILTERS)?;
    // The engine's prune, with podman's filters.
    for n in engine.networks()? {
        // (A CNI network's file is not berth's to remove.)
        if n.is_default() || n.is_cni() || !filters.keep(engine, &n)? {
            continue;
        }
        match engine.network_remove(&n.name) {
            Ok(_) => out(&format!("{}\n", n.name))?,
            // In use, or removed meanwhile: nothing to prune.
            Err(e) if matches!(e.kind, ErrorKind::InUse | ErrorKind::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // And what a crash left (rules, bridges, names of what is gone).
    engine.network_repair()?;
    Ok(0)
}

pub fn connect(engine: &Engine, a: &ConnectArgs) -> Result<u8> {
    let c = engine.container(&a.container)?;
    let mac = a.mac_address.as_deref().map(engine::containers::networking::parse_mac).transpose()?;
    let attachment = engine::containers::networking::Attachment {
        network: a.network.clone(),
        ips: a.ip.into_iter().chain(a.ip6).collect(),
        mac,
        aliases: a.alias.iter().map(|x| engine::containers::networking::check_alias(x)).collect::<Result<_, _>>()?,
    };
    engine.network_connect(&a.network, &c, attachment)?;
    Ok(0)
}

pub fn disconnect(engine: &Engine, a: &DisconnectArgs) -> Result<u8> {
    // (-f: podman's own; a running container is disconnected either way.)
    let _ = a.force;
    let c = engine.container(&a.container)?;
    engine.network_disconnect(&a.network, &c)?;
    Ok(0)
}

/// `network reload`: each container's firewall rules put back; its full
/// ID printed, as podman's.
pub fn reload(engine: &Engine, a: &ReloadArgs) -> Result<u8> {
    let containers = if a.all {
        engine.containers()?.into_iter().filter(|c| c.state == engine::containers::State::Running).collect()
    } else if a.latest {
        engine.containers()?.pop().into_iter().collect()
    } else if a.containers.is_empty() {
        return Err(CliError::usage("no arguments given, use --all or --latest"));
    } else {
        a.containers.iter().map(|n| engine.container(n)).collect::<std::result::Result<Vec<_>, _>>()?
    };
    // First what a crash left (rules, bridges, names of what is gone).
    engine.network_repair()?;
    let mut text = String::new();
    for c in &containers {
        engine.network_reload(c)?;
        text.push_str(&format!("{}\n", c.id));
    }
    out(&text)?;
    Ok(0)
}

pub fn exists(engine: &Engine, a: &ExistsArgs) -> Result<u8> {
    Ok(if engine.network_exists(&a.network)? { 0 } else { 1 })
}

/// A network as podman prints it in JSON (its `types.Network`): the fields
/// Go's `omitempty` leaves out when empty left out, and an `--ip-range`
/// as the lease range podman records for it.
fn network_json(n: &Network) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| o.insert(k.to_string(), v);
    put("name", json!(n.name));
    put("id", json!(n.id));
    put("driver", json!(n.driver));
    if !n.network_interface.is_empty() {
        put("network_interface", json!(n.network_interface));
    }
    put("created", json!(created(n)));
    if !n.subnets.is_empty() {
        let subnets = n.subnets.iter().map(|s| {
            let mut o = Map::new();
            o.insert("subnet".into(), json!(s.subnet.to_string()));
            if let Some(g) = s.gateway {
                o.insert("gateway".into(), json!(g.to_string()));
            }
            if let Some((start, end)) = s.range.map(|r| lease_range(r.network(), r.broadcast(), r.prefix_len())) {
                o.insert("lease_range".into(), json!({"start_ip": start.to_string(), "end_ip": end.to_string()}));
            }
            Value::Object(o)
        });
        put("subnets", Value::Array(subnets.collect()));
    }
    put("ipv6_enabled", json!(n.ipv6_enabled));
    put("internal", json!(n.internal));
    put("dns_enabled", json!(n.dns_enabled));
    for (key, map) in [("labels", &n.labels), ("options", &n.options), ("ipam_options", &n.ipam_options)] {
        if !map.is_empty() {
            put(key, json!(map));
        }
    }
    Value::Object(o)
}

/// podman's lease range for `--ip-range R`: R's first host address (its
/// network address, for a single address) to its last address.
fn lease_range(network: IpAddr, last: IpAddr, prefix: u8) -> (IpAddr, IpAddr) {
    let start = match network {
        IpAddr::V4(a) if prefix < 32 => IpAddr::V4(Ipv4Addr::from(u32::from(a) + 1)),
        IpAddr::V6(a) if prefix < 128 => IpAddr::V6(Ipv6Addr::from(u128::from(a) + 1)),
        single => single,
    };
    (start, last)
}

/// When the network was made, as Go writes a time in JSON (RFC 3339, the
/// fraction without trailing zeros).
fn created(n: &Network) -> String {
    match humantime::parse_rfc3339(&n.created) {
        Ok(t) => format::rfc3339_nanos(Some(t)),
        Err(_) => n.created.clone(),
    }
}

/// A network as podman's templates see it (`types.Network`): Go's field
/// names, the time as Go prints one, empty fields present.
fn view(n: &Network, id: &str) -> Value {
    let subnets: Vec<Value> = n
        .subnets
        .iter()
        .map(|s| {
            let range = s.range.map(|r| lease_range(r.network(), r.broadcast(), r.prefix_len()));
            json!({
                "Subnet": s.subnet.to_string(),
                "Gateway": s.gateway.map(|g| g.to_string()),
                "LeaseRange": range.map(|(start, end)| json!({"StartIP": start.to_string(), "EndIP": end.to_string()})),
            })
        })
        .collect();
    json!({
        "Name": n.name,
        "ID": id,
        "Driver": n.driver,
        "NetworkInterface": n.network_interface,
        "Created": format::go_time_from_rfc3339(&created(n)).unwrap_or_default(),
        "Subnets": subnets,
        "IPv6Enabled": n.ipv6_enabled,
        "Internal": n.internal,
        "DNSEnabled": n.dns_enabled,
        "Labels": n.labels,
        "Options": n.options,
        "IPAMOptions": n.ipam_options,
    })
}

/// A row of `network ls` (podman's `ListPrintReports`): the network, its
/// ID cut to 12 characters unless `--no-trunc`, its labels as one
/// `k=v,k2=v2` string.
fn ls_view(n: &Network, no_trunc: bool) -> Value {
    let id = if no_trunc { &n.id } else { n.id.get(..12).unwrap_or(&n.id) };
    let mut row = view(n, id);
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    row["Labels"] = json!(labels.join(","));
    row
}

/// The filter keys each command takes.
const LS_FILTERS: &[&str] = &["name", "id", "driver", "label", "label!", "dangling", "until"];
const PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];

/// `--filter`s, as podman 4.3 reads them for networks: the values of one
/// key are alternatives, but every `label` must hold and no `label!` may.
struct Filters(Vec<Filter>);

enum Filter {
    /// Go regular expressions; one Go cannot compile matches nothing.
    Name(Vec<regex::Regex>),
    Id(Vec<regex::Regex>),
    Driver(Vec<String>),
    /// `KEY` or `KEY=VALUE` (an empty VALUE: any).
    Label(Vec<String>),
    NotLabel(Vec<String>),
    /// Whether no container is on it (the default network always counts
    /// as used).
    Dangling(bool),
    /// Made before this time.
    Until(SystemTime),
}

impl Filters {
    /// Parse `flags`, refusing keys not in `allowed`, in podman's words.
    fn parse(flags: &[String], allowed: &[&str]) -> Result<Filters> {
        // Keys (lower case, as podman takes them) in the order first given.
        let mut by_key: Vec<(String, Vec<String>)> = Vec::new();
        for f in flags {
            let Some((k, v)) = f.split_once('=') else {
                return Err(CliError::new(format!("filter input must be in the form of filter=value: {f} is invalid")));
            };
            let k = k.to_lowercase();
            match by_key.iter_mut().find(|(key, _)| *key == k) {
                Some((_, vals)) => vals.push(v.to_string()),
                None => by_key.push((k, vec![v.to_string()])),
            }
        }
        by_key.into_iter().map(|(key, vals)| Filter::parse(&key, vals, allowed)).collect::<Result<_>>().map(Filters)
    }

    fn keep(&self, engine: &Engine, n: &Network) -> Result<bool> {
        for f in &self.0 {
            if !f.keeps(engine, n)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Filter {
    fn parse(key: &str, vals: Vec<String>, allowed: &[&str]) -> Result<Filter> {
        if !allowed.contains(&key) {
            return Err(CliError::new(format!("invalid filter {key:?}")));
        }
        Ok(match key {
            "name" => Filter::Name(patterns(&vals)),
            "id" => Filter::Id(patterns(&vals)),
            "driver" => Filter::Driver(vals),
            "label" => Filter::Label(vals),
            "label!" => Filter::NotLabel(vals),
            "dangling" => match vals.as_slice() {
                [v] => Filter::Dangling(
                    crate::flags::go_bool(v)
                        .map_err(|_| CliError::new(format!("invalid dangling filter value {v:?}")))?,
                ),
                _ => return Err(CliError::new("got more than one value for filter key \"dangling\"")),
            },
            _ => match vals.as_slice() {
                [v] => Filter::Until(super::manage::until(v)?),
                _ => return Err(CliError::new("specify exactly one timestamp for until")),
            },
        })
    }

    fn keeps(&self, engine: &Engine, n: &Network) -> Result<bool> {
        let matches_any = |patterns: &[regex::Regex], s: &str| patterns.iter().any(|p| p.is_match(s));
        Ok(match self {
            Filter::Name(p) => matches_any(p, &n.name),
            Filter::Id(p) => matches_any(p, &n.id),
            Filter::Driver(d) => d.contains(&n.driver),
            Filter::Label(want) => want.iter().all(|l| has_label(n, l)),
            Filter::NotLabel(unwanted) => !unwanted.iter().any(|l| has_label(n, l)),
            Filter::Dangling(want) => {
                let dangling = !n.is_default() && engine.network_users(&n.name)?.is_empty();
                dangling == *want
            }
            // podman's default network is made when looked at: now.
            Filter::Until(t) if n.is_default() => SystemTime::now() < *t,
            Filter::Until(t) => humantime::parse_rfc3339(&n.created).is_ok_and(|c| c < *t),
        })
    }
}

/// Go regular expressions, those Go could compile: podman's
/// `StringMatchRegexSlice` lets one it cannot match nothing.
fn patterns(values: &[String]) -> Vec<regex::Regex> {
    values.iter().filter_map(|v| regex::Regex::new(v).ok()).collect()
}

/// Whether `n` has label `KEY`, or `KEY=VALUE` (an empty VALUE: any value).
fn has_label(n: &Network, filter: &str) -> bool {
    let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
    n.labels.get(key).is_some_and(|v| value.is_empty() || v == value)
}
