//! `info`: the host, the store and berth's version, shaped as podman's
//! `info` (the fields berth has; the rest comes with later issues).
//!
//! podman's Go structs give every field two names: the Go field name that
//! templates use (`{{.Store.GraphDriverName}}`) and the JSON tag that
//! `--format json` and the default YAML print (`graphDriverName`). The
//! document is built once as a [`Node`] tree carrying both.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};
use engine::containers::{OciRuntime, State};
use engine::Engine;

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Change the output format to JSON or a Go template
    #[arg(short, long)]
    format: Option<String>,
}

pub fn info(engine: &Engine, a: &InfoArgs, oci_runtime: Option<&OciRuntime>) -> Result<u8> {
    let doc = document(engine, oci_runtime)?;
    let text = match a.format.as_deref().map(str::trim) {
        None => yaml(&doc.json_named(), 0),
        // podman prints `{{json .}}` exactly as `--format json`: indented.
        Some(f) if format::is_json(f) => {
            let mut s = serde_json::to_string_pretty(&doc.json_named())
                .map_err(|e| CliError::new(format!("encoding info: {e}")))?;
            s.push('\n');
            s
        }
        Some(_) => {
            let f = a.format.as_deref().unwrap_or_default();
            Format::parse(f)?.named("info", "*define.Info").one_value().render(&[doc.go_named()], &HashMap::new())?
        }
    };
    out(&text)?;
    Ok(0)
}

/// A value of the document.
enum Node {
    Leaf(Json),
    /// A Go struct: (Go field name, JSON tag, value), in podman's order.
    Struct(Vec<(&'static str, &'static str, Node)>),
    /// A Go map: its keys are the same under both namings.
    Map(Vec<(String, String)>),
    /// A nil Go slice: `null` in JSON, `[]` in a template.
    NilSlice,
}

impl Node {
    fn go_named(&self) -> Json {
        self.named(|go, _| go, true)
    }

    fn json_named(&self) -> Json {
        self.named(|_, tag| tag, false)
    }

    fn named(&self, pick: fn(&'static str, &'static str) -> &'static str, go: bool) -> Json {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::NilSlice if go => Json::Array(Vec::new()),
            Node::NilSlice => Json::Null,
            Node::Struct(fields) => Json::Object(
                fields.iter().map(|(go_name, tag, v)| (pick(go_name, tag).to_string(), v.named(pick, go))).collect(),
            ),
            Node::Map(entries) => {
                Json::Object(entries.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
            }
        }
    }
}

fn leaf(v: impl Into<Json>) -> Node {
    Node::Leaf(v.into())
}

fn document(engine: &Engine, oci_runtime: Option<&OciRuntime>) -> Result<Node> {
    Ok(Node::Struct(vec![
        ("Host", "host", host(oci_runtime)),
        ("Registries", "registries", registries()?),
        ("Store", "store", store(engine)?),
        ("Plugins", "plugins", plugins()),
        ("Version", "version", version()),
    ]))
}

/// podman's `plugins`: the volume, network and log drivers berth has.
fn plugins() -> Node {
    let list = |v: &[&str]| leaf(v.iter().map(|s| Json::String(s.to_string())).collect::<Vec<_>>());
    Node::Struct(vec![
        ("Volume", "volume", list(&["local"])),
        ("Network", "network", list(&["bridge", "macvlan", "ipvlan"])),
        ("Log", "log", list(&["k8s-file", "json-file", "none"])),
        ("Authorization", "authorization", Node::NilSlice),
    ])
}

/// The runtime that runs containers: berth's own, in-process, unless
/// `--runtime` names another (its path, and what its `--version` says).
fn oci_runtime_node(oci_runtime: Option<&OciRuntime>) -> Node {
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let (name, package, path, version) = match oci_runtime {
        None => (
            "berth-runtime (in-process)".to_string(),
            "berth".to_string(),
            exe,
            format!("berth-runtime version {}", env!("CARGO_PKG_VERSION")),
        ),
        Some(r) => {
            let version = std::process::Command::new(&r.path)
                .arg("--version")
                .stdin(std::process::Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
                .unwrap_or_default();
            // podman's word for a binary no package manager was asked about.
            (r.name.clone(), "Unknown".to_string(), r.path.display().to_string(), version)
        }
    };
    Node::Struct(vec![
        ("Name", "name", leaf(name)),
        ("Package", "package", leaf(package)),
        ("Path", "path", leaf(path)),
        ("Version", "version", leaf(version)),
    ])
}

/// What berth's containers get: its default capabilities (podman's
/// comma-separated form), its built-in seccomp profile (no file: it is
/// compiled in, so the path is empty), AppArmor and SELinux as the
/// runtime applies them here.
fn security() -> Node {
    let seccomp =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")));
    Node::Struct(vec![
        ("AppArmorEnabled", "apparmorEnabled", leaf(runtime::features::apparmor_enabled())),
        ("DefaultCapabilities", "capabilities", leaf(capabilities())),
        ("Rootless", "rootless", leaf(false)),
        ("SECCOMPEnabled", "seccompEnabled", leaf(seccomp)),
        ("SECCOMPProfilePath", "seccompProfilePath", leaf("")),
        ("SELinuxEnabled", "selinuxEnabled", leaf(runtime::features::selinux_enabled())),
    ])
}

/// berth's default capabilities, sorted and comma-separated as podman prints them.
fn capabilities() -> String {
    let mut caps = engine::containers::spec::DEFAULT_CAPS.to_vec();
    caps.sort_unstable();
    caps.join(",")
}

/// CPU time since boot by kind, in percent, as podman reads /proc/stat.
fn cpu_utilization() -> Node {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let total: f64 = v.iter().sum();
    let percent = |x: f64| if total > 0.0 { (x / total * 10000.0).round() / 100.0 } else { 0.0 };
    Node::Struct(vec![
        ("UserPercent", "userPercent", leaf(percent(at(0) + at(1)))),
        ("SystemPercent", "systemPercent", leaf(percent(at(2) + at(5) + at(6)))),
        ("IdlePercent", "idlePercent", leaf(percent(at(3)))),
    ])
}

/// The host's uptime as podman prints it: `3h 18m 52.00s (Approximately 0.12 days)`.
fn uptime() -> String {
    let secs: f64 = proc_line("/proc/uptime").split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let whole = secs as u64;
    format!(
        "{}h {}m {:.2}s (Approximately {:.2} days)",
        whole / 3600,
        whole % 3600 / 60,
        (whole % 60) as f64,
        secs / 86400.0
    )
}

/// registries.conf's `[[registry]]` tables by prefix, and its
/// unqualified-search registries as `search` (when it has some): podman's
/// `registries`, a Go map whose values print under the same names in a
/// template and in JSON.
fn registries() -> Result<Node> {
    let conf = engine::remote::registries_conf()?;
    let mut map = serde_json::Map::new();
    for r in conf.registries() {
        let mirrors: Vec<Json> = r
            .mirrors
            .iter()
            .map(|m| serde_json::json!({"Location": m.location, "Insecure": m.insecure, "PullFromMirror": m.pull_from_mirror}))
            .collect();
        let value = serde_json::json!({
            "Prefix": r.prefix,
            "Location": r.location,
            "Insecure": r.insecure,
            "PullFromMirror": "",
            "Mirrors": if mirrors.is_empty() { Json::Null } else { Json::Array(mirrors) },
            "Blocked": r.blocked,
            "MirrorByDigestOnly": r.mirror_by_digest_only,
        });
        map.insert(r.prefix.clone(), value);
    }
    let search = conf.unqualified_search_registries();
    if !search.is_empty() {
        map.insert("search".into(), serde_json::json!(search));
    }
    Ok(leaf(Json::Object(map)))
}

fn host(oci_runtime: Option<&OciRuntime>) -> Node {
    let (cgroup_version, controllers) = cgroups();
    let mem = meminfo();
    let os_release = os_release();
    let field = |k: &str| os_release.get(k).cloned().unwrap_or_default();
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    Node::Struct(vec![
        ("Arch", "arch", leaf(go_arch())),
        ("CgroupManager", "cgroupManager", leaf("cgroupfs")),
        ("CgroupsVersion", "cgroupVersion", leaf(cgroup_version)),
        ("CgroupControllers", "cgroupControllers", leaf(controllers)),
        // conmon's part is played by berth's monitor: berth itself, run again.
        (
            "Conmon",
            "conmon",
            Node::Struct(vec![
                ("Package", "package", leaf("berth")),
                ("Path", "path", leaf(exe.clone())),
                ("Version", "version", leaf(format!("berth-monitor version {}", env!("CARGO_PKG_VERSION")))),
            ]),
        ),
        ("CPUs", "cpus", leaf(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
        ("CPUUtilization", "cpuUtilization", cpu_utilization()),
        (
            "Distribution",
            "distribution",
            Node::Struct(vec![
                ("Distribution", "distribution", leaf(field("ID"))),
                ("Version", "version", leaf(field("VERSION_ID"))),
                ("Codename", "codename", leaf(field("VERSION_CODENAME"))),
            ]),
        ),
        ("Hostname", "hostname", leaf(proc_line("/proc/sys/kernel/hostname"))),
        (
            "IDMappings",
            "idMappings",
            // No user namespaces: no mappings, as podman run as root says.
            Node::Struct(vec![("GIDMap", "gidmap", Node::NilSlice), ("UIDMap", "uidmap", Node::NilSlice)]),
        ),
        ("Kernel", "kernel", leaf(proc_line("/proc/sys/kernel/osrelease"))),
        ("LogDriver", "logDriver", leaf("k8s-file")),
        ("MemFree", "memFree", leaf(mem("MemFree"))),
        ("MemTotal", "memTotal", leaf(mem("MemTotal"))),
        // Networks are berth's own work (netlink, nftables, its DNS
        // server), no netavark nor CNI (CNI plugins run only the networks
        // CNI files define): podman's field names the backend.
        ("NetworkBackend", "networkBackend", leaf("berth")),
        ("OCIRuntime", "ociRuntime", oci_runtime_node(oci_runtime)),
        ("OS", "os", leaf(std::env::consts::OS)),
        ("Security", "security", security()),
        ("ServiceIsRemote", "serviceIsRemote", leaf(false)),
        ("SwapFree", "swapFree", leaf(mem("SwapFree"))),
        ("SwapTotal", "swapTotal", leaf(mem("SwapTotal"))),
        ("Uptime", "uptime", leaf(uptime())),
        // Built static-pie (`.cargo/config.toml`).
        ("Linkmode", "linkmode", leaf("static")),
    ])
}

fn store(engine: &Engine) -> Result<Node> {
    let layers = engine.layers()?;
    let containers = engine.containers()?;
    let running = containers.iter().filter(|c| c.state == State::Running).count();
    let paused = containers.iter().filter(|c| c.state == State::Paused).count();
    let status = layers.graph_status().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // The root's filesystem, as podman's statfs of it: its size and what is used.
    let (allocated, used) = match rustix::fs::statvfs(engine.root()) {
        Ok(s) => (s.f_blocks * s.f_frsize, (s.f_blocks - s.f_bfree) * s.f_frsize),
        Err(_) => (0, 0),
    };
    Ok(Node::Struct(vec![
        (
            "ContainerStore",
            "containerStore",
            Node::Struct(vec![
                ("Number", "number", leaf(containers.len())),
                ("Paused", "paused", leaf(paused)),
                ("Running", "running", leaf(running)),
                ("Stopped", "stopped", leaf(containers.len() - running - paused)),
            ]),
        ),
        ("GraphDriverName", "graphDriverName", leaf(layers.driver_name())),
        ("GraphOptions", "graphOptions", Node::Map(Vec::new())),
        ("GraphRoot", "graphRoot", leaf(engine.root().display().to_string())),
        ("GraphRootAllocated", "graphRootAllocated", leaf(allocated)),
        ("GraphRootUsed", "graphRootUsed", leaf(used)),
        ("GraphStatus", "graphStatus", Node::Map(status)),
        // Where pulls and loads stage their files: the store's own tmp.
        ("ImageCopyTmpDir", "imageCopyTmpDir", leaf(engine.root().join("tmp").display().to_string())),
        ("ImageStore", "imageStore", Node::Struct(vec![("Number", "number", leaf(engine.images()?.len()))])),
        ("RunRoot", "runRoot", leaf(engine.runroot().display().to_string())),
        ("VolumePath", "volumePath", leaf(engine.root().join("volumes").display().to_string())),
    ]))
}

/// berth's version, as podman's `define.Version` (info's `version`,
/// `version`'s `Client`): berth has no Go version nor a build time
/// (builds are reproducible: podman's Debian build says 1970 too).
fn version() -> Node {
    let version = env!("CARGO_PKG_VERSION");
    Node::Struct(vec![
        ("APIVersion", "APIVersion", leaf(version)),
        ("Version", "Version", leaf(version)),
        ("GoVersion", "GoVersion", leaf("")),
        ("GitCommit", "GitCommit", leaf("")),
        ("BuiltTime", "BuiltTime", leaf(BUILT_TIME)),
        ("Built", "Built", leaf(0)),
        ("OsArch", "OsArch", leaf(format!("{}/{}", std::env::consts::OS, go_arch()))),
        ("Os", "Os", leaf(std::env::consts::OS)),
    ])
}

/// Time 0 as Go's `time.ANSIC` prints it (podman's `BuiltTime` of a
/// reproducible build).
const BUILT_TIME: &str = "Thu Jan  1 00:00:00 1970";

#[derive(clap::Args)]
pub struct VersionArgs {
    /// Change the output format to JSON or a Go template
    #[arg(short, long)]
    format: Option<String>,
}

/// `version`: podman's client shape (a local engine has no server part);
/// `--format json` and Go templates (`{{.Client.Version}}`).
pub fn version_cmd(a: &VersionArgs) -> Result<u8> {
    let doc = Node::Struct(vec![("Client", "Client", version())]);
    let text = match a.format.as_deref().map(str::trim) {
        None => {
            let v = env!("CARGO_PKG_VERSION");
            let arch = format!("{}/{}", std::env::consts::OS, go_arch());
            format!(
                "Client:       Berth Engine\nVersion:      {v}\nAPI Version:  {v}\nBuilt:        {BUILT_TIME}\nOS/Arch:      {arch}\n"
            )
        }
        Some(f) if format::is_json(f) => {
            let mut s = serde_json::to_string(&doc.json_named())
                .map_err(|e| CliError::new(format!("encoding the version: {e}")))?;
            s.push('\n');
            s
        }
        Some(f) => Format::parse(f)?
            .named("version", "*define.Version")
            .one_value()
            .render(&[doc.go_named()], &HashMap::new())?,
    };
    out(&text)?;
    Ok(0)
}

/// The architecture as Go names it (podman prints GOARCH).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn proc_line(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// "v2" and its controllers when /sys/fs/cgroup is the unified hierarchy;
/// otherwise "v1" and the controllers mounted as v1 hierarchies.
fn cgroups() -> (&'static str, Vec<String>) {
    if let Ok(list) = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
        return ("v2", list.split_whitespace().map(String::from).collect());
    }
    // /proc/cgroups: subsys_name hierarchy num_cgroups enabled; hierarchy 0
    // means not mounted as v1.
    let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let v1 = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [name, hierarchy, _, "1"] if hierarchy != "0" => Some(name.to_string()),
            _ => None,
        })
        .collect();
    ("v1", v1)
}

/// A /proc/meminfo entry in bytes (0 if missing).
fn meminfo() -> impl Fn(&str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    move |key| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

fn os_release() -> HashMap<String, String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// The document as podman's default output prints it: YAML, keys sorted.
/// Written here rather than with a YAML crate: the tree is small and fixed
/// (strings, numbers, lists of strings, maps), and serde_yaml is no longer
/// maintained.
fn yaml(v: &Json, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut s = String::new();
    let Json::Object(m) = v else { return format!("{pad}{}\n", yaml_scalar(v)) };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let key = yaml_string(k);
        match &m[k] {
            Json::Object(o) if o.is_empty() => s.push_str(&format!("{pad}{key}: {{}}\n")),
            Json::Object(_) => {
                s.push_str(&format!("{pad}{key}:\n"));
                s.push_str(&yaml(&m[k], indent + 2));
            }
            Json::Array(a) if a.is_empty() => s.push_str(&format!("{pad}{key}: []\n")),
            Json::Array(a) => {
                s.push_str(&format!("{pad}{key}:\n"));
                for e in a {
                    match e {
                        // A struct in a list (registries' mirrors): its
                        // fields under the dash, as Go's yaml writes them.
                        Json::Object(o) if !o.is_empty() => {
                            let fields = yaml(e, indent + 2);
                            s.push_str(&format!("{pad}- {}", &fields[pad.len() + 2..]));
                        }
                        _ => s.push_str(&format!("{pad}- {}\n", yaml_scalar(e))),
                    }
                }
            }
            other => s.push_str(&format!("{pad}{key}: {}\n", yaml_scalar(other))),
        }
    }
    s
}

fn yaml_scalar(v: &Json) -> String {
    match v {
        Json::String(s) => yaml_string(s),
        Json::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A string plain when YAML reads it back as the same string, else quoted
/// (a JSON string is a valid YAML double-quoted scalar).
fn yaml_string(s: &str) -> String {
    let special_start = s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c));
    let keyword = ["true", "false", "null", "yes", "no", "on", "off", "~"].contains(&s.to_lowercase().as_str());
    let plain = !s.is_empty()
        && !special_start
        && !keyword
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(char::is_control)
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        Json::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_what_would_read_back_differently() {
        assert_eq!(yaml_string("overlay"), "overlay");
        assert_eq!(yaml_string("12"), "\"12\"");
        assert_eq!(yaml_string(""), "\"\"");
        assert_eq!(yaml_string("a: b"), "\"a: b\"");
        assert_eq!(yaml_string("true"), "\"true\"");
        assert_eq!(yaml_string("x\ny"), "\"x\\ny\"");
        let doc: Json = serde_json::json!({"b": {"z": 1, "a": ["x"]}, "a": {}});
        assert_eq!(yaml(&doc, 0), "a: {}\nb:\n  a:\n  - x\n  z: 1\n");
    }
}
