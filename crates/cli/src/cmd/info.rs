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
use engine::containers::State;
use engine::Engine;

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Change the output format to JSON or a Go template
    #[arg(short, long)]
    format: Option<String>,
}

pub fn info(engine: &Engine, a: &InfoArgs) -> Result<u8> {
    let doc = document(engine)?;
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
}

impl Node {
    fn go_named(&self) -> Json {
        self.named(|go, _| go)
    }

    fn json_named(&self) -> Json {
        self.named(|_, tag| tag)
    }

    fn named(&self, pick: fn(&'static str, &'static str) -> &'static str) -> Json {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Struct(fields) => {
                Json::Object(fields.iter().map(|(go, tag, v)| (pick(go, tag).to_string(), v.named(pick))).collect())
            }
            Node::Map(entries) => {
                Json::Object(entries.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
            }
        }
    }
}

fn leaf(v: impl Into<Json>) -> Node {
    Node::Leaf(v.into())
}

fn document(engine: &Engine) -> Result<Node> {
    Ok(Node::Struct(vec![
        ("Host", "host", host()),
        ("Registries", "registries", registries()?),
        ("Store", "store", store(engine)?),
        ("Version", "version", version()),
    ]))
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

fn host() -> Node {
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
        ("CPUs", "cpus", leaf(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
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
        ("Kernel", "kernel", leaf(proc_line("/proc/sys/kernel/osrelease"))),
        ("MemFree", "memFree", leaf(mem("MemFree"))),
        ("MemTotal", "memTotal", leaf(mem("MemTotal"))),
        (
            "OCIRuntime",
            "ociRuntime",
            // Containers are run by the runtime library inside berth itself.
            Node::Struct(vec![
                ("Name", "name", leaf("berth-runtime (in-process)")),
                ("Package", "package", leaf("berth")),
                ("Path", "path", leaf(exe)),
                ("Version", "version", leaf(format!("berth-runtime version {}", env!("CARGO_PKG_VERSION")))),
            ]),
        ),
        ("OS", "os", leaf(std::env::consts::OS)),
        ("SwapFree", "swapFree", leaf(mem("SwapFree"))),
        ("SwapTotal", "swapTotal", leaf(mem("SwapTotal"))),
    ])
}

fn store(engine: &Engine) -> Result<Node> {
    let layers = engine.layers()?;
    let containers = engine.containers()?;
    let running = containers.iter().filter(|c| c.state == State::Running).count();
    let paused = containers.iter().filter(|c| c.state == State::Paused).count();
    let status = layers.graph_status().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
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
        ("GraphStatus", "graphStatus", Node::Map(status)),
        ("ImageStore", "imageStore", Node::Struct(vec![("Number", "number", leaf(engine.images()?.len()))])),
        ("RunRoot", "runRoot", leaf(engine.runroot().display().to_string())),
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
