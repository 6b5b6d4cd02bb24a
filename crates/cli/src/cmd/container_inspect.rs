//! `inspect` (containers first, then images, as podman resolves names),
//! `container inspect` and `image inspect`: podman 4.3's documents, printed
//! as JSON or through a Go template, every name tried and every failure
//! reported as podman does (the first as the error, the others before it).

use serde::Serialize as _;
use serde_json::{json, Value};
use std::net::IpAddr;

use engine::containers::mounts::Mount;
use engine::containers::restart::RestartPolicy;
use engine::containers::{Container, Details, State};
use engine::{Engine, ErrorKind};

use super::out;
use crate::error::{CliError, Context as _, Result};
use crate::format::{self, Format};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long, value_name = "STRING", default_value = "json")]
    format: String,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Display total file size
    #[arg(short, long)]
    size: bool,
    /// Specify inspect-object type
    #[arg(short = 't', long = "type", value_name = "STRING", default_value = "all")]
    kind: String,
    /// The containers or images, by name or (short) ID
    #[arg(value_name = "NAME|ID")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct ContainerInspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long, value_name = "STRING", default_value = "json")]
    format: String,
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// Display total file size
    #[arg(short, long)]
    size: bool,
    /// The containers, by name or (short) ID
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// What a name is looked up as.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Container,
    Image,
    /// A container, else an image.
    All,
}

/// What an inspect command was asked.
pub struct Request<'a> {
    pub kind: Kind,
    pub names: &'a [String],
    pub latest: bool,
    pub size: bool,
    pub format: &'a str,
}

pub fn inspect(engine: &Engine, a: &InspectArgs) -> Result<u8> {
    let kind = match a.kind.as_str() {
        "container" => Kind::Container,
        "image" => Kind::Image,
        "all" => Kind::All,
        other => {
            return Err(CliError::new(format!(
                "invalid type {other:?}: must be \"image\", \"container\", \"pod\", \"network\", \"volume\", or \"all\""
            )));
        }
    };
    run(engine, &Request { kind, names: &a.names, latest: a.latest, size: a.size, format: &a.format })
}

pub fn container_inspect(engine: &Engine, a: &ContainerInspectArgs) -> Result<u8> {
    let req =
        Request { kind: Kind::Container, names: &a.containers, latest: a.latest, size: a.size, format: &a.format };
    run(engine, &req)
}

/// One inspected object: its JSON, and the same as Go templates see it
/// (times as Go prints a `time.Time`, empty maps and lists for nil ones).
pub struct Doc {
    pub json: Value,
    pub view: Value,
}

pub fn run(engine: &Engine, req: &Request) -> Result<u8> {
    if req.latest && !req.names.is_empty() {
        return Err(CliError::usage("--latest and arguments cannot be used together"));
    }
    if !req.latest && req.names.is_empty() {
        return Err(CliError::usage("no names or ids specified"));
    }
    let mut docs = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    if req.latest {
        let last = engine.containers()?.pop().ok_or_else(|| CliError::new("no containers to act on"))?;
        docs.push(container_doc(&engine.inspect_container(&last, req.size)?));
    }
    for name in req.names {
        match lookup(engine, req, name) {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    let text = render(&docs, req.format)?;
    let Some((first, rest)) = errors.split_first() else {
        out(&text)?;
        return Ok(0);
    };
    out(&text)?;
    for e in rest {
        eprintln!("error inspecting object: {e}");
    }
    Err(CliError::new(format!("inspecting object: {first}")))
}

/// `name` as the request's kind; podman's words when it is not one.
fn lookup(engine: &Engine, req: &Request, name: &str) -> std::result::Result<Doc, String> {
    let missing = |e: &engine::Error| e.kind == ErrorKind::NotFound;
    if req.kind != Kind::Image {
        match engine.container(name) {
            Ok(c) => return engine.inspect_container(&c, req.size).map(|d| container_doc(&d)).map_err(|e| e.msg),
            Err(e) if missing(&e) && req.kind == Kind::All => {}
            Err(e) if missing(&e) => return Err(format!("no such container {name}")),
            Err(e) => return Err(e.msg),
        }
    }
    match engine.find(name) {
        Ok(Some(img)) => Ok(super::inspect::image_doc(engine, &img)),
        Ok(None) if req.kind == Kind::All => Err(format!("no such object: {name:?}")),
        Ok(None) => Err(format!("{name}: image not known")),
        Err(e) => Err(e.msg),
    }
}

/// The documents as podman prints them: a JSON list indented by five
/// spaces, or the template once per document.
fn render(docs: &[Doc], format: &str) -> Result<String> {
    if format::is_json(format) {
        let mut buf = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b"     "));
        let list: Vec<&Value> = docs.iter().map(|d| &d.json).collect();
        list.serialize(&mut ser).ctx(|| "encoding inspect output".into())?;
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        s.push('\n');
        return Ok(s);
    }
    let rows: Vec<(Value, Value)> = docs
        .iter()
        .map(|d| {
            let mut view = d.view.clone();
            // podman's templates take the Go field name `.ID` as well as `.Id`.
            if let Some(id) = view.get("Id").cloned() {
                view["ID"] = id;
            }
            // omitempty in podman's JSON, but a field for its templates: 0
            // without a monitor (a killed one, an attached run, exited).
            if let Some(state) = view.get_mut("State").and_then(Value::as_object_mut) {
                state.entry("ConmonPid").or_insert(json!(0));
            }
            // InspectMount's Name likewise (a bind mount has none).
            for m in view.get_mut("Mounts").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(m) = m.as_object_mut() {
                    m.entry("Name").or_insert(json!(""));
                }
            }
            (view, d.json.clone())
        })
        .collect();
    Format::parse(format)?
        .named("inspect", "interface {}")
        .render_twins(&rows)
        .map_err(|e| CliError { msg: format!("inspecting object: printing inspect output: {}", e.msg), ..e })
}

impl Doc {
    /// A document whose template view differs from its JSON only by its
    /// times and nils.
    pub fn new(json: Value) -> Doc {
        let view = go_view(&json, "");
        Doc { json, view }
    }
}

/// Fields that are Go maps (a nil one prints `map[]`); other nil fields
/// are lists (`[]`).
const MAP_FIELDS: &[&str] = &["Labels", "Volumes", "Config", "CgroupConf", "Data", "Annotations", "Ports", "Tmpfs"];

/// `json` as podman's templates see the Go value it was encoded from.
fn go_view(v: &Value, key: &str) -> Value {
    match v {
        Value::Null if MAP_FIELDS.contains(&key) => json!({}),
        Value::Null => json!([]),
        Value::String(s) => match format::go_time_from_rfc3339(s) {
            Some(t) if key.ends_with("At") || key == "Created" => Value::String(t),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|e| go_view(e, "")).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, e)| (k.clone(), go_view(e, k))).collect()),
        _ => v.clone(),
    }
}

/// podman 4.3's `InspectContainerData`, field for field and in its order:
/// what berth knows, and for what it does not have (networks, pods, health
/// checks, resource limits...) the empty value podman gives a container
/// without it.
fn container_doc(d: &Details) -> Doc {
    let c = &d.container;
    let cfg = &d.config;
    let process = &cfg["process"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let sorted = |v: &Value| {
        let mut s = strings(v);
        s.sort();
        s
    };
    let time = |t| format::rfc3339_nanos(t);
    let zero = "0001-01-01T00:00:00Z";
    let live = c.state.is_live();
    let mut state = json!({
        "OciVersion": cfg.get("ociVersion").and_then(Value::as_str).unwrap_or(engine::containers::OCI_VERSION),
        "Status": c.state.as_str(),
        "Running": c.state == State::Running,
        "Paused": c.state == State::Paused,
        "Restarting": false,
        "OOMKilled": c.oom_killed,
        "Dead": false,
        "Pid": if live { c.pid.unwrap_or(0) } else { 0 },
    });
    // Its monitor is what conmon is to podman (none for an attached run).
    if let Some(pid) = c.monitor_pid.filter(|_| live) {
        state["ConmonPid"] = json!(pid);
    }
    let rest = json!({
        "ExitCode": c.exit_code.unwrap_or(0),
        "Error": "",
        "StartedAt": c.started_at.map_or_else(|| zero.to_string(), |t| time(Some(t))),
        "FinishedAt": c.finished_at.map_or_else(|| zero.to_string(), |t| time(Some(t))),
        "Health": health_json(d),
    });
    let mut state = joined([state, rest]);
    // Only while it runs, as podman.
    if let Some(cg) = d.cgroup_path.as_ref().filter(|_| live) {
        state["CgroupPath"] = json!(cg);
    }
    state["CheckpointedAt"] = json!(zero);
    state["RestoredAt"] = json!(zero);
    let namespace = |t: &str| {
        let has = cfg
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .is_some_and(|ns| ns.iter().any(|n| n["type"] == t && n.get("path").is_none()));
        if has {
            "private"
        } else {
            "host"
        }
    };
    let shm_size = cfg["mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["destination"] == "/dev/shm"))
        .and_then(|m| strings(&m["options"]).into_iter().find_map(|o| o.strip_prefix("size=").and_then(bytes)))
        .unwrap_or(0);
    let ulimits: Vec<Value> = process["rlimits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| json!({"Name": r["type"], "Soft": r["soft"], "Hard": r["hard"]}))
        .collect();
    // Under `--init`, the init runs the command (podman's Path and Args).
    let with_init: Vec<String>;
    let run_args = if c.init_path.is_some() {
        with_init =
            [engine::containers::INIT_DEST.to_string(), "--".into()].into_iter().chain(c.args.clone()).collect();
        &with_init
    } else {
        &c.args
    };
    let (path, args) = match run_args.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    // Records made before the parts were kept: all of it is the command.
    let cmd = if c.entrypoint.is_empty() && c.command.is_empty() { c.args.clone() } else { c.command.clone() };
    let mut config = json!({
        "Hostname": cfg["hostname"].as_str().unwrap_or(""),
        "Domainname": "",
        "User": c.user,
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": c.terminal,
        "OpenStdin": c.interactive,
        "StdinOnce": false,
        "Env": strings(&process["env"]),
        "Cmd": cmd,
        "Image": c.image_name,
        "Volumes": null,
        "WorkingDir": process["cwd"].as_str().unwrap_or("/"),
        "Entrypoint": c.entrypoint.join(" "),
        "OnBuild": null,
        "Labels": if c.labels.is_empty() { Value::Null } else { json!(c.labels) },
        "Annotations": cfg.get("annotations").cloned().unwrap_or_else(|| json!({})),
        // berth stops containers with SIGTERM.
        "StopSignal": c.stop_signal.as_deref().and_then(engine::containers::parse_signal).map_or(15, |s| s.as_raw()),
    });
    if let Some(hc) = &c.healthcheck {
        config["Healthcheck"] = healthcheck_json(hc);
    }
    config["HealthcheckOnFailureAction"] = json!("none");
    if !c.create_command.is_empty() {
        config["CreateCommand"] = json!(c.create_command);
    }
    let more = json!({
        "Umask": process.pointer("/user/umask").and_then(Value::as_u64).map(|u| format!("{u:04o}")).unwrap_or_default(),
        "Timeout": 0,
        "StopTimeout": c.stop_timeout().as_secs(),
        "Passwd": false,
        "sdNotifyMode": "",
    });
    let config = joined([config, more]);
    let host_config = json!({
        "Binds": binds(c),
        "CgroupManager": "cgroupfs",
        "CgroupMode": namespace("cgroup"),
        "ContainerIDFile": "",
        "LogConfig": {
            "Type": c.log.driver.as_str(),
            "Config": null,
            "Path": d.log_path.display().to_string(),
            "Tag": c.log.tag.as_deref().unwrap_or(""),
            "Size": c.log.size_text(),
        },
        // An empty network namespace: podman's `--network none`.
        "NetworkMode": "none",
        "PortBindings": port_bindings(c),
        "RestartPolicy": {
            "Name": c.restart.name(),
            "MaximumRetryCount": match c.restart {
                RestartPolicy::OnFailure { max_retries } => max_retries,
                _ => 0,
            },
        },
        "AutoRemove": c.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "CapAdd": [],
        "CapDrop": [],
        "Dns": c.isolation.names.servers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "DnsOptions": c.isolation.names.options,
        "DnsSearch": c.isolation.names.search,
        "ExtraHosts": c.isolation.names.extra_hosts.iter().map(|(n, ip)| format!("{}:{ip}", n.replace(' ', ";"))).collect::<Vec<_>>(),
        "GroupAdd": [],
        "IpcMode": namespace("ipc"),
        "Cgroup": "",
        "Cgroups": "default",
        "Links": null,
        "OomScoreAdj": process["oomScoreAdj"].as_i64().unwrap_or(0),
        "PidMode": namespace("pid"),
        "Privileged": false,
        "PublishAllPorts": c.isolation.publish_all,
        "ReadonlyRootfs": cfg.pointer("/root/readonly").and_then(Value::as_bool).unwrap_or(false),
        "SecurityOpt": [],
        "Tmpfs": tmpfs(c),
        "UTSMode": namespace("uts"),
        "UsernsMode": "",
        "ShmSize": shm_size,
        "Runtime": "oci",
        "ConsoleSize": [0, 0],
        "Isolation": "",
    });
    // (In parts: one `json!` this long is past the macro's recursion limit.)
    let resources = json!({
        "CpuShares": cfg.pointer("/linux/resources/cpu/shares").and_then(Value::as_i64).unwrap_or(0),
        "Memory": cfg.pointer("/linux/resources/memory/limit").and_then(Value::as_i64).unwrap_or(0),
        "NanoCpus": nano_cpus(cfg),
        "CgroupParent": "",
        "BlkioWeight": cfg.pointer("/linux/resources/blockIO/weight").and_then(Value::as_i64).unwrap_or(0),
        "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null,
        "CpuPeriod": cfg.pointer("/linux/resources/cpu/period").and_then(Value::as_i64).unwrap_or(0),
        "CpuQuota": cfg.pointer("/linux/resources/cpu/quota").and_then(Value::as_i64).unwrap_or(0),
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": cfg.pointer("/linux/resources/cpu/cpus").and_then(Value::as_str).unwrap_or(""),
        "CpusetMems": cfg.pointer("/linux/resources/cpu/mems").and_then(Value::as_str).unwrap_or(""),
        "Devices": [],
        "DiskQuota": 0,
        "KernelMemory": 0,
        "MemoryReservation": cfg.pointer("/linux/resources/memory/reservation").and_then(Value::as_i64).unwrap_or(0),
        "MemorySwap": cfg.pointer("/linux/resources/memory/swap").and_then(Value::as_i64).unwrap_or(0),
        "MemorySwappiness": 0,
        "OomKillDisable": cfg.pointer("/linux/resources/memory/disableOOMKiller").and_then(Value::as_bool).unwrap_or(false),
        "PidsLimit": cfg.pointer("/linux/resources/pids/limit").and_then(Value::as_i64).unwrap_or(0),
        "Ulimits": ulimits,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "CgroupConf": null,
    });
    let mut host_config = joined([host_config, resources]);
    if c.init_path.is_some() {
        host_config = with_init_flag(host_config);
    }
    // Privileges, devices, groups and namespaces, as recorded.
    for (key, value) in c.isolation.inspect() {
        host_config[key] = value;
    }
    // podman's: where they are once it started (blank before).
    let etc_file = |name: &str| match c.started_at {
        // --no-hosts: the image's own, none of berth's.
        Some(_) if name == "hosts" && c.isolation.names.no_hosts => String::new(),
        Some(_) => d.userdata_dir.join(name).display().to_string(),
        None => String::new(),
    };
    let mut doc = json!({
        "Id": c.id,
        "Created": time(Some(c.created)),
        "Path": path,
        "Args": args,
        "State": state,
        "Image": c.image_id.trim_start_matches("sha256:"),
        "ImageDigest": d.image_digest.clone().unwrap_or_default(),
        "ImageName": c.image_name,
        "Rootfs": "",
        "Pod": "",
        "ResolvConfPath": etc_file("resolv.conf"),
        "HostnamePath": etc_file("hostname"),
        "HostsPath": etc_file("hosts"),
        "StaticDir": d.data_dir.display().to_string(),
        "OCIConfigPath": d.config_path.display().to_string(),
        "OCIRuntime": c.oci_runtime.as_ref().map_or("berth-runtime", |r| r.name.as_str()),
        "ConmonPidFile": "",
        "PidFile": "",
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": d.driver,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "EffectiveCaps": effective_caps(process),
        "BoundingCaps": sorted(&process["capabilities"]["bounding"]),
        "ExecIDs": c.exec_ids,
        "GraphDriver": {"Name": d.driver, "Data": null},
    });
    if let Some((rw, root)) = d.size {
        doc["SizeRw"] = json!(rw);
        doc["SizeRootFs"] = json!(root);
    }
    let tail = json!({
        "Mounts": mounts(d),
        "Dependencies": [],
        "NetworkSettings": network_settings(c),
        "Namespace": "",
        "IsInfra": false,
        "IsService": false,
        "Config": config,
        "HostConfig": host_config,
    });
    let mut doc = Doc::new(joined([doc, tail]));
    // Go's structs have them whatever the JSON leaves out (omitempty).
    if c.healthcheck.is_none() {
        doc.view["Config"]["Healthcheck"] = Value::Null;
    }
    if c.init_path.is_none() {
        doc.view["HostConfig"]["Init"] = json!(false);
    }
    doc
}

/// The capabilities the container's process holds: config.json's effective
/// set for root; none for another user, whose capabilities execve clears
/// (no ambient ones are given). podman's `null` for none.
fn effective_caps(process: &Value) -> Value {
    let uid = process.pointer("/user/uid").and_then(Value::as_u64).unwrap_or(0);
    let ambient = process.pointer("/capabilities/ambient").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let mut caps: Vec<&str> = process
        .pointer("/capabilities/effective")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if (uid != 0 && !ambient) || caps.is_empty() {
        return Value::Null;
    }
    caps.sort_unstable();
    json!(caps)
}

/// The fields of `parts`' objects, in order, in one object.
fn joined<const N: usize>(parts: [Value; N]) -> Value {
    let mut all = serde_json::Map::new();
    for p in parts {
        if let Value::Object(o) = p {
            all.extend(o);
        }
    }
    Value::Object(all)
}

/// A mount option's size (`65536k`) in bytes, as tmpfs reads it (k, m, g
/// are powers of 1024).
fn bytes(size: &str) -> Option<u64> {
    let (digits, scale) = match size.char_indices().last()? {
        (i, 'k' | 'K') => (&size[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&size[..i], 1 << 20),
        (i, 'g' | 'G') => (&size[..i], 1 << 30),
        _ => (size, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// `--cpus` as podman reports it: the CFS quota over its period, in
/// billionths of a CPU.
fn nano_cpus(cfg: &Value) -> i64 {
    let quota = cfg.pointer("/linux/resources/cpu/quota").and_then(Value::as_i64).unwrap_or(0);
    let period = cfg.pointer("/linux/resources/cpu/period").and_then(Value::as_i64).unwrap_or(0);
    if quota > 0 && period > 0 {
        quota.saturating_mul(1_000_000_000) / period
    } else {
        0
    }
}

/// HostConfig.Binds: `SOURCE:DEST[:OPTIONS]` of bind mounts and volumes.
/// podman's PortBindings shape: `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
fn port_bindings(c: &Container) -> Value {
    let map: serde_json::Map<String, Value> = engine::containers::ports::bindings(&c.isolation.ports)
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|(ip, port)| json!({"HostIp": ip, "HostPort": port})).collect()))
        .collect();
    Value::Object(map)
}

/// podman's NetworkSettings: each network's address while the container
/// runs (`Networks`), the default network's also at the top, as podman
/// fills those in for its own default network only.
fn network_settings(c: &Container) -> Value {
    let live = c.state.is_live();
    let status: Vec<&engine::containers::networking::NetworkStatus> =
        c.network_status.iter().filter(|_| live).collect();
    let fields = |s: Option<&&engine::containers::networking::NetworkStatus>| {
        let v4 = s.and_then(|s| s.of_family(true));
        let v6 = s.and_then(|s| s.of_family(false));
        let text = |ip: Option<IpAddr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
        json!({
            "EndpointID": "",
            "Gateway": text(v4.and_then(|(_, g)| g)),
            "IPAddress": text(v4.map(|(a, _)| a.addr())),
            "IPPrefixLen": v4.map_or(0, |(a, _)| a.prefix_len()),
            "IPv6Gateway": text(v6.and_then(|(_, g)| g)),
            "GlobalIPv6Address": text(v6.map(|(a, _)| a.addr())),
            "GlobalIPv6PrefixLen": v6.map_or(0, |(a, _)| a.prefix_len()),
            "MacAddress": s.map(|s| s.mac.clone()).unwrap_or_default(),
        })
    };
    let default_name = engine::networks::default_network_name().unwrap_or("berth");
    let default = status.first().filter(|s| s.network == default_name && status.len() == 1);
    let mut out = fields(default);
    let extra = json!({
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_bindings(c),
        "SandboxKey": if live && !c.isolation.networks.is_empty() { c.pid.map(|p| format!("/proc/{p}/ns/net")).unwrap_or_default() } else { String::new() },
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        out[k] = v.clone();
    }
    if !c.isolation.networks.is_empty() {
        let mut networks = serde_json::Map::new();
        for a in &c.isolation.networks {
            let s = status.iter().find(|s| s.network == a.network);
            let mut n = fields(s);
            n["NetworkID"] = json!(a.network);
            n["DriverOpts"] = Value::Null;
            n["IPAMConfig"] = Value::Null;
            n["Links"] = Value::Null;
            let mut aliases = vec![c.short_id().to_string()];
            aliases.extend(a.aliases.iter().cloned());
            n["Aliases"] = json!(aliases);
            networks.insert(a.network.clone(), n);
        }
        out["Networks"] = Value::Object(networks);
    }
    out
}

fn binds(c: &Container) -> Vec<String> {
    c.mounts
        .iter()
        .filter_map(|m| {
            let source = match m {
                Mount::Bind { source, .. } => source.clone(),
                Mount::Volume { name: Some(name), .. } => name.clone(),
                _ => return None,
            };
            let opts = if m.read_only() { "ro" } else { "rw" };
            Some(format!("{source}:{}:{opts},rprivate,rbind", m.destination()))
        })
        .collect()
}

/// HostConfig.Tmpfs: destination -> options.
fn tmpfs(c: &Container) -> Value {
    let map: serde_json::Map<String, Value> = c
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Tmpfs { destination, options } => Some((destination.clone(), json!(options.join(",")))),
            _ => None,
        })
        .collect();
    Value::Object(map)
}

/// Mounts, as podman lists them.
fn mounts(d: &Details) -> Vec<Value> {
    d.container
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Bind { source, destination, .. } => Some(json!({
                "Type": "bind", "Source": source, "Destination": destination, "Driver": "", "Mode": "",
                "Options": ["rbind"], "RW": !m.read_only(), "Propagation": "rprivate",
            })),
            Mount::Volume { name: Some(name), destination, .. } => Some(json!({
                "Type": "volume", "Name": name,
                "Source": d.volume_paths.get(name).map(|p| p.display().to_string()).unwrap_or_default(),
                "Destination": destination, "Driver": "local", "Mode": "",
                "Options": ["nosuid", "nodev", "rbind"], "RW": !m.read_only(), "Propagation": "rprivate",
            })),
            _ => None,
        })
        .collect()
}

/// podman's `State.Health`: empty for a container without a healthcheck.
fn health_json(d: &Details) -> Value {
    let Some(h) = &d.health else { return json!({"Status": "", "FailingStreak": 0, "Log": null}) };
    let log: Vec<Value> = h
        .log
        .iter()
        .map(|l| {
            json!({
                "Start": format::rfc3339_nanos(Some(l.start)),
                "End": format::rfc3339_nanos(Some(l.end)),
                "ExitCode": l.exit_code,
                "Output": l.output,
            })
        })
        .collect();
    json!({"Status": h.status, "FailingStreak": h.failing_streak, "Log": if log.is_empty() { Value::Null } else { json!(log) }})
}

/// podman's `Config.Healthcheck` (docker's Schema2HealthConfig): zero
/// durations left out.
fn healthcheck_json(hc: &engine::containers::health::HealthConfig) -> Value {
    let mut v = json!({"Test": hc.test});
    for (key, ns) in [("StartPeriod", hc.start_period_ns), ("Interval", hc.interval_ns), ("Timeout", hc.timeout_ns)] {
        if ns > 0 {
            v[key] = json!(ns);
        }
    }
    if hc.retries > 0 {
        v["Retries"] = json!(hc.retries);
    }
    v
}

/// HostConfig with podman's `"Init": true` where it puts it (after
/// OomKillDisable).
fn with_init_flag(host_config: Value) -> Value {
    let Value::Object(m) = host_config else { return host_config };
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        let after = k == "OomKillDisable";
        out.insert(k, v);
        if after {
            out.insert("Init".into(), json!(true));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_sizes() {
        assert_eq!(bytes("65536k"), Some(67_108_864));
        assert_eq!(bytes("64m"), Some(67_108_864));
        assert_eq!(bytes("100"), Some(100));
        assert_eq!(bytes("x"), None);
    }

    #[test]
    fn templates_see_go_values() {
        let d = Doc::new(json!({
            "Created": "2026-12-04T03:10:48.27153374Z",
            "State": {"StartedAt": "0001-01-01T00:00:00Z", "Health": {"Log": null}},
            "Config": {"Labels": null, "Hostname": "2026-12-04T03:10:48Z"},
        }));
        assert_eq!(d.view["Created"], "2026-12-04 03:10:48.27153374 +0000 UTC");
        assert_eq!(d.view["State"]["StartedAt"], "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(d.view["State"]["Health"]["Log"], json!([]));
        assert_eq!(d.view["Config"]["Labels"], json!({}));
        // Only times are times.
        assert_eq!(d.view["Config"]["Hostname"], "2026-12-04T03:10:48Z");
        assert_eq!(d.json["Config"]["Labels"], Value::Null);
    }
}
