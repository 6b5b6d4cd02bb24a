//! CNI configurations: reading `.conflist` and `.conf` files, refusing the
//! ones berth cannot run safely, and building each plugin's stdin.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::Context as _;
use crate::{Error, Result};

/// The cniVersions whose results berth reads: 0.1.0 and 0.2.0 results have
/// another shape (`ip4`/`ip6`), and later versions are not yet written.
pub const VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// One network defined by a CNI configuration list (or a single-plugin
/// `.conf`, read as a list of one).
#[derive(Debug, Clone, PartialEq)]
pub struct CniNetwork {
    /// The network's name (`name`), checked to be a name.
    pub name: String,
    /// The list's `cniVersion`, one of [`VERSIONS`]: every plugin is run
    /// with it.
    pub cni_version: String,
    /// The plugins' configurations, in order, each an object with a plain
    /// file name as its `type`.
    pub plugins: Vec<Value>,
    /// The file it was read from.
    pub path: PathBuf,
    /// `disableCheck`: CHECK does nothing.
    pub disable_check: bool,
}

impl CniNetwork {
    /// Whether this version knows CHECK (and a prevResult on DEL): 0.4.0 on.
    pub(super) fn knows_check(&self) -> bool {
        !self.cni_version.starts_with("0.3.")
    }

    /// The list as JSON (what the cache keeps of it).
    pub(super) fn to_value(&self) -> Value {
        serde_json::json!({
            "cniVersion": self.cni_version,
            "name": self.name,
            "disableCheck": self.disable_check,
            "plugins": self.plugins,
        })
    }
}

/// Read the network defined by `path`: a configuration list (an object with
/// `plugins`), or one plugin's configuration (`.conf`), which is wrapped as
/// a list of one taking its `name` and `cniVersion`.
pub fn load_file(path: &Path) -> Result<CniNetwork> {
    let text = std::fs::read(path).context(|| format!("reading CNI configuration {}", path.display()))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| invalid(path, format_args!("not a JSON configuration: {e}")))?;
    let Value::Object(mut list) = value else {
        return Err(invalid(path, "not a JSON object"));
    };
    if !list.contains_key("plugins") {
        let plugin = Value::Object(list.clone());
        list.retain(|key, _| key == "name" || key == "cniVersion");
        list.insert("plugins".into(), Value::Array(vec![plugin]));
    }
    from_list(list, path)
}

/// The networks of directory `dir`'s `.conflist`, `.conf` and `.json` files,
/// taken in file-name order (libcni's). A file that cannot be read, or that
/// names a network an earlier file already defined, is skipped with a
/// warning: one bad file does not hide the others. No directory, no
/// networks.
pub fn load_dir(dir: &Path) -> Result<Vec<CniNetwork>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        entries => entries.context(|| format!("reading CNI configuration directory {}", dir.display()))?,
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let ext = path.extension().and_then(|e| e.to_str());
            matches!(ext, Some("conflist" | "conf" | "json")) && path.is_file()
        })
        .collect();
    // One directory: ordering the paths orders the file names.
    paths.sort();
    let mut networks: Vec<CniNetwork> = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(net) if networks.iter().any(|n| n.name == net.name) => {
                tracing::warn!(
                    "skipping {}: network {} is already defined by an earlier file",
                    path.display(),
                    net.name
                )
            }
            Ok(net) => networks.push(net),
            Err(e) => tracing::warn!("skipping CNI configuration: {e}"),
        }
    }
    Ok(networks)
}

/// Check a configuration list read from `path`.
fn from_list(list: Map<String, Value>, path: &Path) -> Result<CniNetwork> {
    let name = match list.get("name") {
        Some(Value::String(name)) if is_name(name) => name.clone(),
        Some(Value::String(name)) => {
            return Err(invalid(path, format_args!("network name {name:?} must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")))
        }
        _ => return Err(invalid(path, "no network name (a string \"name\")")),
    };
    let cni_version = match list.get("cniVersion") {
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => v.clone(),
        Some(Value::String(v)) => {
            return Err(invalid(
                path,
                format_args!("cniVersion {v:?} unsupported (berth runs {})", VERSIONS.join(", ")),
            ))
        }
        _ => return Err(invalid(path, "no cniVersion (a string \"cniVersion\")")),
    };
    let disable_check = match list.get("disableCheck") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(path, "disableCheck must be true or false")),
    };
    let plugins = match list.get("plugins") {
        Some(Value::Array(plugins)) if !plugins.is_empty() => plugins.clone(),
        _ => return Err(invalid(path, "no plugins (a non-empty array \"plugins\")")),
    };
    for (i, plugin) in plugins.iter().enumerate() {
        match plugin.get("type") {
            Some(Value::String(kind)) if is_plugin_name(kind) => {}
            Some(Value::String(kind)) => {
                return Err(invalid(path, format_args!("plugin {}'s type {kind:?} is not a plain file name", i + 1)))
            }
            _ => return Err(invalid(path, format_args!("plugin {} has no type (a string \"type\")", i + 1))),
        }
    }
    Ok(CniNetwork { name, cni_version, plugins, path: path.to_path_buf(), disable_check })
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("CNI configuration {}: {what}", path.display()))
}

/// A name as berth's (and podman's) names go: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(super) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A plugin's `type` is looked up as a file in the plugin directories: it
/// must name a file there, never a path out of them ("../../bin/sh").
pub(super) fn is_plugin_name(kind: &str) -> bool {
    !kind.is_empty() && kind != "." && kind != ".." && !kind.contains(['/', '\0'])
}

/// What plugin `plugin` of `net` reads on stdin: its configuration with the
/// list's `name` and `cniVersion`, the previous result (`prevResult`) when
/// there is one, and `runtimeConfig` holding those of `capability_args` the
/// plugin asks for in its `capabilities` (and nothing when it asks for
/// none of them: a plugin is given only what it declared it understands).
pub(super) fn plugin_stdin(
    net: &CniNetwork,
    plugin: &Value,
    prev_result: Option<&Value>,
    capability_args: &[(&str, Value)],
) -> Value {
    let mut conf = plugin.as_object().cloned().unwrap_or_default();
    conf.insert("name".into(), Value::String(net.name.clone()));
    conf.insert("cniVersion".into(), Value::String(net.cni_version.clone()));
    // The previous result is the runtime's to give, never the file's.
    match prev_result {
        Some(prev) => conf.insert("prevResult".into(), prev.clone()),
        None => conf.remove("prevResult"),
    };
    let declared = |name: &str| conf.get("capabilities").and_then(|c| c.get(name)) == Some(&Value::Bool(true));
    let runtime: Map<String, Value> = capability_args
        .iter()
        .filter(|(name, _)| declared(name))
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    if !runtime.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    Value::Object(conf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn net(plugins: Value) -> CniNetwork {
        CniNetwork {
            name: "net1".into(),
            cni_version: "1.0.0".into(),
            plugins: plugins.as_array().unwrap().clone(),
            path: "/x.conflist".into(),
            disable_check: false,
        }
    }

    fn ports() -> Vec<(&'static str, Value)> {
        vec![("portMappings", json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]))]
    }

    #[test]
    fn stdin_takes_name_and_version_from_the_list() {
        let plugin = json!({"type": "bridge", "name": "other", "cniVersion": "0.3.1", "bridge": "br0"});
        let n = net(json!([plugin]));
        let conf = plugin_stdin(&n, &plugin, None, &[]);
        assert_eq!(conf, json!({"type": "bridge", "name": "net1", "cniVersion": "1.0.0", "bridge": "br0"}));
    }

    #[test]
    fn stdin_carries_the_previous_result_and_drops_a_files_own() {
        let plugin = json!({"type": "portmap", "prevResult": {"forged": true}});
        let n = net(json!([plugin]));
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        assert_eq!(plugin_stdin(&n, &plugin, Some(&prev), &[])["prevResult"], prev);
        assert!(plugin_stdin(&n, &plugin, None, &[]).get("prevResult").is_none());
    }

    #[test]
    fn runtime_config_only_for_declared_capabilities() {
        let declared = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        let undeclared = json!({"type": "bridge"});
        let declined = json!({"type": "portmap", "capabilities": {"portMappings": false, "bandwidth": true}});
        let n = net(json!([undeclared, declared, declined]));
        let conf = plugin_stdin(&n, &declared, None, &ports());
        assert_eq!(conf["runtimeConfig"], json!({"portMappings": ports()[0].1}));
        assert!(plugin_stdin(&n, &undeclared, None, &ports()).get("runtimeConfig").is_none());
        assert!(plugin_stdin(&n, &declined, None, &ports()).get("runtimeConfig").is_none());
        // Declared, but nothing to give: no runtimeConfig.
        assert!(plugin_stdin(&n, &declared, None, &[]).get("runtimeConfig").is_none());
    }

    #[test]
    fn names_and_plugin_names() {
        assert!(is_name("net-1.a_b") && is_name("0"));
        assert!(!is_name("") && !is_name("-net") && !is_name("a b") && !is_name("a/b"));
        assert!(is_plugin_name("bridge") && is_plugin_name("host-local") && is_plugin_name("..x"));
        assert!(!is_plugin_name("") && !is_plugin_name("..") && !is_plugin_name("../../bin/sh"));
        assert!(!is_plugin_name("/bin/sh") && !is_plugin_name("."));
    }

    fn check(list: Value) -> Result<CniNetwork> {
        from_list(list.as_object().unwrap().clone(), Path::new("/etc/cni/net.d/x.conflist"))
    }

    #[test]
    fn lists_are_checked() {
        let good = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}]});
        let net = check(good.clone()).unwrap();
        assert_eq!((net.name.as_str(), net.cni_version.as_str(), net.disable_check), ("n", "1.0.0", false));
        let with = |key: &str, value: Value| {
            let mut list = good.clone();
            list[key] = value;
            check(list).unwrap_err().to_string()
        };
        assert_eq!(
            with("name", json!("a b")),
            "CNI configuration /etc/cni/net.d/x.conflist: network name \"a b\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        );
        assert!(with("name", json!(1)).contains("no network name"));
        assert!(with("cniVersion", json!("0.2.0")).contains("cniVersion \"0.2.0\" unsupported"));
        assert!(with("plugins", json!([])).contains("no plugins"));
        assert!(with("plugins", json!([{"type": "bridge"}, {"bridge": "x"}])).contains("plugin 2 has no type"));
        assert!(with("disableCheck", json!("yes")).contains("disableCheck"));
        let mut list = good.clone();
        list["disableCheck"] = json!(true);
        assert!(check(list).unwrap().disable_check);
    }
}
