//! A CNI client: running the Container Network Interface's plugins (spec
//! 1.0: <https://github.com/containernetworking/cni/blob/main/SPEC.md>) on
//! networks defined by CNI configuration files, so that a container can
//! join a network berth's own networks do not cover (macvlan on a given
//! parent, a site's bridge set up by its own plugins, ...).
//!
//! - `config`: the configuration files ([`load_file`], [`load_dir`]), checked
//!   on loading, and each plugin's stdin
//! - `exec`: running one plugin and reading its answer or its error
//! - `result`: the result of an ADD ([`CniResult`])
//!
//! [`Runner`] runs a network's plugins the way libcni does, so that plugins
//! written for it (podman's, Kubernetes') behave as they expect:
//!
//! - ADD runs the plugins in order, each given the previous one's result
//!   as `prevResult`; the last result is returned and cached (under
//!   `<cache dir>/results/<network>-<container>-<ifname>`), for CHECK and
//!   DEL. A failed ADD is undone with a DEL of the whole list before its
//!   error is returned: nothing is left half made.
//! - DEL runs them in reverse, with the cached result as `prevResult`
//!   (0.4.0 on), and succeeds on what is already gone: it is what cleans
//!   up after a crash, so it runs every plugin whatever one of them says
//!   and reports the first error.
//! - CHECK (0.4.0 on) runs them in order with the cached result.
//!
//! A plugin sees the CNI variables and PATH, nothing else of berth's
//! environment, and of the runtime's arguments (`runtimeConfig`) only
//! those its `capabilities` ask for.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Context as _;
use crate::{Error, Result};

mod config;
mod exec;
mod result;

pub use config::{load_dir, load_file, CniNetwork, VERSIONS};
pub use result::{CniResult, Dns, Interface, IpConfig, Route};

use exec::Verb;

/// A published port, as the `portMappings` capability passes it
/// (`{"hostPort", "containerPort", "protocol", "hostIP"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
    /// The host address it is published on; empty for all of them.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// One container's interface on a network: what every plugin of the
/// network is told about it.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// `CNI_CONTAINERID`: a name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
    pub container_id: &'a str,
    /// `CNI_NETNS`: the container's network namespace, as a path the
    /// plugins can open (a bind mount of it, or `/proc/<pid>/ns/net`).
    pub netns: &'a Path,
    /// `CNI_IFNAME`: the interface's name in the container.
    pub ifname: &'a str,
    /// Ports to publish, for plugins with the `portMappings` capability.
    pub port_mappings: &'a [PortMapping],
    /// `CNI_ARGS`' key-value pairs.
    pub args: &'a [(&'a str, &'a str)],
}

impl<'a> Attachment<'a> {
    /// An attachment publishing no ports, with no `CNI_ARGS`.
    pub fn new(container_id: &'a str, netns: &'a Path, ifname: &'a str) -> Attachment<'a> {
        Attachment { container_id, netns, ifname, port_mappings: &[], args: &[] }
    }

    /// Refuse what a plugin (or the cache's file name) could misread.
    fn check(&self) -> Result<()> {
        if !config::is_name(self.container_id) {
            return Err(Error::Invalid(format!(
                "CNI container id {:?} must match [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                self.container_id
            )));
        }
        // The kernel's rules for a link's name (IFNAMSIZ, no '/', ':' or space).
        let ifname = self.ifname;
        if ifname.is_empty()
            || ifname.len() > 15
            || ifname == "."
            || ifname == ".."
            || ifname.contains(|c: char| c == '/' || c == ':' || c.is_whitespace())
        {
            return Err(Error::Invalid(format!("invalid interface name {ifname:?}")));
        }
        for (key, value) in self.args {
            if key.is_empty() || key.contains(['=', ';']) || value.contains(';') {
                return Err(Error::Invalid(format!("invalid CNI argument {key}={value}")));
            }
        }
        Ok(())
    }

    /// The CNI variables but `CNI_COMMAND`.
    fn env(&self, plugin_dirs: &[PathBuf]) -> Vec<(&'static str, OsString)> {
        let mut env = vec![
            ("CNI_CONTAINERID", self.container_id.into()),
            ("CNI_NETNS", self.netns.into()),
            ("CNI_IFNAME", self.ifname.into()),
            ("CNI_PATH", exec::join_paths(plugin_dirs)),
        ];
        if !self.args.is_empty() {
            let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            env.push(("CNI_ARGS", args.join(";").into()));
        }
        env
    }

    /// The runtime's arguments a plugin may ask for by capability.
    fn capability_args(&self) -> Vec<(&'static str, Value)> {
        let mut args = Vec::new();
        if !self.port_mappings.is_empty() {
            args.push(("portMappings", serde_json::to_value(self.port_mappings).unwrap_or_default()));
        }
        args
    }
}

/// Runs networks' plugins: where to find them and where to keep results.
#[derive(Debug, Clone)]
pub struct Runner {
    plugin_dirs: Vec<PathBuf>,
    cache_dir: PathBuf,
}

impl Runner {
    /// Plugins are looked up in `plugin_dirs`, in order; ADD results are
    /// kept under `cache_dir`.
    pub fn new(plugin_dirs: Vec<PathBuf>, cache_dir: PathBuf) -> Runner {
        Runner { plugin_dirs, cache_dir }
    }

    /// Attach the container to `net`: run ADD through its plugins. On an
    /// error, what the plugins made is deleted again.
    pub fn add(&self, net: &CniNetwork, at: &Attachment) -> Result<CniResult> {
        at.check()?;
        let mut last = None;
        let added = self.add_all(net, at, &mut last);
        if added.is_err() {
            let prev = last.as_ref().filter(|_| net.knows_check());
            if let Err(e) = self.del_all(net, at, prev) {
                tracing::warn!("undoing a failed CNI ADD on network {}: {e}", net.name);
            }
            self.remove_cache(net, at).ok();
        }
        added
    }

    fn add_all(&self, net: &CniNetwork, at: &Attachment, last: &mut Option<Value>) -> Result<CniResult> {
        let mut kind = "";
        for plugin in &net.plugins {
            kind = plugin["type"].as_str().unwrap_or_default();
            let answer = self.invoke(net, plugin, Verb::Add, at, last.as_ref())?;
            *last = Some(answer.ok_or_else(|| Error::Plugin {
                plugin: kind.to_string(),
                command: "ADD",
                code: None,
                message: "printed no result".into(),
            })?);
        }
        let raw = last.clone().ok_or_else(|| Error::Invalid(format!("CNI network {} has no plugins", net.name)))?;
        let result = CniResult::from_value(raw).map_err(|e| Error::Plugin {
            plugin: kind.to_string(),
            command: "ADD",
            code: None,
            message: format!("unreadable result: {e}"),
        })?;
        self.write_cache(net, at, &result.raw)?;
        Ok(result)
    }

    /// Check the container's attachment to `net` (CHECK through its
    /// plugins, with ADD's cached result). A network with `disableCheck`
    /// passes unchecked.
    pub fn check(&self, net: &CniNetwork, at: &Attachment) -> Result<()> {
        at.check()?;
        if !net.knows_check() {
            return Err(Error::Invalid(format!(
                "CNI network {}: CHECK needs cniVersion 0.4.0 or later (it has {})",
                net.name, net.cni_version
            )));
        }
        if net.disable_check {
            return Ok(());
        }
        let cached = self.read_cache(net, at)?;
        for plugin in &net.plugins {
            self.invoke(net, plugin, Verb::Check, at, Some(&cached))?;
        }
        Ok(())
    }

    /// Detach the container from `net`: DEL through its plugins, last
    /// first. What is already gone (the cached result, the namespace, the
    /// interface) is no error. When a plugin fails, the others still run,
    /// the first error is returned and the cached result is kept for a
    /// retry.
    pub fn del(&self, net: &CniNetwork, at: &Attachment) -> Result<()> {
        at.check()?;
        let cached = if net.knows_check() {
            match self.read_cache(net, at) {
                Ok(cached) => Some(cached),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::warn!("{e}: deleting without it");
                    None
                }
            }
        } else {
            None
        };
        self.del_all(net, at, cached.as_ref())?;
        self.remove_cache(net, at)
    }

    fn del_all(&self, net: &CniNetwork, at: &Attachment, prev: Option<&Value>) -> Result<()> {
        let mut first = None;
        for plugin in net.plugins.iter().rev() {
            if let Err(e) = self.invoke(net, plugin, Verb::Del, at, prev) {
                tracing::warn!("{e}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Run one plugin of `net` for `verb`.
    fn invoke(
        &self,
        net: &CniNetwork,
        plugin: &Value,
        verb: Verb,
        at: &Attachment,
        prev: Option<&Value>,
    ) -> Result<Option<Value>> {
        let kind = plugin["type"].as_str().unwrap_or_default();
        let binary = exec::find_plugin(&self.plugin_dirs, kind)?;
        let stdin = config::plugin_stdin(net, plugin, prev, &at.capability_args());
        exec::run(&binary, kind, verb, &at.env(&self.plugin_dirs), &stdin)
    }

    /// Where the result of `at`'s ADD on `net` is kept.
    pub fn cache_path(&self, net: &CniNetwork, at: &Attachment) -> PathBuf {
        self.cache_dir.join("results").join(format!("{}-{}-{}", net.name, at.container_id, at.ifname))
    }

    /// Keep an ADD's result with the configuration it came from; written
    /// whole or not at all (a temporary file renamed over it).
    fn write_cache(&self, net: &CniNetwork, at: &Attachment, result: &Value) -> Result<()> {
        let path = self.cache_path(net, at);
        let dir = self.cache_dir.join("results");
        std::fs::create_dir_all(&dir).context(|| format!("creating CNI cache directory {}", dir.display()))?;
        let entry = serde_json::json!({
            "kind": "cniCacheV1",
            "containerId": at.container_id,
            "ifName": at.ifname,
            "networkName": net.name,
            "config": net.to_value(),
            "result": result,
        });
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&entry).unwrap_or_default())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .context(|| format!("writing CNI cache {}", path.display()))
    }

    /// The cached result of `at`'s ADD on `net`.
    fn read_cache(&self, net: &CniNetwork, at: &Attachment) -> Result<Value> {
        let path = self.cache_path(net, at);
        let text = std::fs::read(&path).context(|| format!("reading CNI cache {}", path.display()))?;
        let mut entry: Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Invalid(format!("CNI cache {}: not JSON: {e}", path.display())))?;
        match entry.get_mut("result") {
            Some(result) if result.is_object() => Ok(result.take()),
            _ => Err(Error::Invalid(format!("CNI cache {}: no result", path.display()))),
        }
    }

    fn remove_cache(&self, net: &CniNetwork, at: &Attachment) -> Result<()> {
        let path = self.cache_path(net, at);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.context(|| format!("removing CNI cache {}", path.display())),
        }
    }
}
