//! What a container shares with the host or with other containers, and
//! what protects the host from it: `--privileged`, `--security-opt`,
//! `--device`, `--group-add`, the namespace flags (`--ipc --pid --uts
//! --cgroupns --network --userns`) and `--read-only-tmpfs`, parsed with
//! podman 4.3's rules and messages, recorded with the container (inspect
//! shows them) and applied to its config.json once `spec::generate` has
//! written podman's defaults.
//!
//! Joining another container's namespace needs that container's init pid,
//! which changes each time it starts: the record keeps the container's ID,
//! and `joins.rs` writes `/proc/<pid>/ns/<type>` into config.json just
//! before each start.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{seccomp_file, spec};
use crate::error::{go_text, Error, Result};
use crate::Engine;

/// How a container gets one of its namespaces.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsMode {
    /// A new one of its own (podman's `private`; berth's default).
    #[default]
    Private,
    /// The host's (no namespace of that type in config.json).
    Host,
    /// `--ipc none`: a private IPC namespace without /dev/shm;
    /// `--network none`: an empty network namespace (lo up).
    None,
    /// Another container's, by ID.
    Container(String),
    /// The namespace file at this path (`ns:PATH`).
    Path(String),
}

/// Which namespace a flag is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsKind {
    Ipc,
    Pid,
    Uts,
    Cgroup,
    Network,
}

impl NsKind {
    /// Its type in config.json.
    pub fn oci_type(self) -> &'static str {
        match self {
            NsKind::Ipc => "ipc",
            NsKind::Pid => "pid",
            NsKind::Uts => "uts",
            NsKind::Cgroup => "cgroup",
            NsKind::Network => "network",
        }
    }

    /// Its file under /proc/PID/ns.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::Network => "net",
            k => k.oci_type(),
        }
    }

    /// How podman names it in "looking up container to share ... with".
    fn share_name(self) -> &'static str {
        self.proc_name()
    }

    /// How podman names it in "cannot find specified ... namespace path".
    fn path_name(self) -> &'static str {
        match self {
            NsKind::Ipc => "IPC",
            NsKind::Pid => "PID",
            NsKind::Uts => "UTS",
            NsKind::Cgroup => "cgroup",
            NsKind::Network => "network",
        }
    }
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// Cgroup access: some of `rwm`.
    pub permissions: String,
}

/// Everything of this module that a container keeps.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Isolation {
    pub privileged: bool,
    /// `--security-opt` values as given (checked by [`SecurityOpts::parse`]).
    pub security_opt: Vec<String>,
    pub devices: Vec<Device>,
    /// `--group-add` values as given.
    pub group_add: Vec<String>,
    pub ipc: NsMode,
    pub pid: NsMode,
    pub uts: NsMode,
    pub cgroupns: NsMode,
    pub network: NsMode,
    /// The networks it joins (`--network NAME`), in order: its `eth0`,
    /// `eth1`... With any, `network` is `Private`.
    pub networks: Vec<super::networking::Attachment>,
    /// `-p`: its published ports (host ports chosen at create).
    pub ports: Vec<super::ports::Published>,
    /// `-P`: the image's exposed ports too, each to a free host port.
    pub publish_all: bool,
    /// Its resolver and hosts file as asked (`--dns`, `--add-host`...).
    pub names: super::networking::NameOptions,
    /// `--read-only-tmpfs=false`: no tmpfs on /tmp, /var/tmp and /run with `--read-only`.
    pub no_read_only_tmpfs: bool,
    /// `--env-host`: our environment, under the image's and the user's.
    /// Not kept: config.json has the result.
    #[serde(skip)]
    pub host_env: Vec<String>,
}

/// `--security-opt` values, understood.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    /// `seccomp=unconfined` or `seccomp=FILE`.
    pub seccomp: Option<String>,
    pub apparmor: Option<String>,
    /// `label=...`: accepted, as podman does where SELinux is off.
    pub label: Vec<String>,
    pub mask: Vec<String>,
    pub unmask: Vec<String>,
}

impl SecurityOpts {
    /// podman 4.3's `parseSecurityOpt`, messages included.
    pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
        let mut s = SecurityOpts::default();
        for opt in opts {
            if opt == "no-new-privileges" {
                s.no_new_privileges = true;
                continue;
            }
            let Some((key, value)) = opt.split_once('=') else {
                return Err(Error::new(format!("invalid --security-opt 1: {opt:?}")));
            };
            match key {
                "apparmor" => {
                    if value != "unconfined" && !apparmor_enabled() {
                        return Err(Error::new(format!(
                            "apparmor profile {value:?} specified, but Apparmor is not enabled on this system"
                        )));
                    }
                    s.apparmor = Some(value.to_string());
                }
                "label" => s.label.push(value.to_string()),
                "seccomp" => s.seccomp = Some(value.to_string()),
                "mask" => s.mask.extend(value.split(':').map(String::from)),
                "unmask" => s.unmask.extend(value.split(':').map(String::from)),
                // Accepted by podman; nothing here to change (no procfs options yet).
                "proc-opts" => {}
                _ => return Err(Error::new(format!("invalid --security-opt 2: {opt:?}"))),
            }
        }
        Ok(s)
    }

    /// What inspect's HostConfig.SecurityOpt lists, in podman's order.
    fn inspect(&self, privileged: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.no_new_privileges {
            out.push("no-new-privileges".to_string());
        }
        out.extend(self.label.iter().map(|l| format!("label={l}")));
        if let Some(p) = &self.seccomp {
            out.push(format!("seccomp={p}"));
        }
        if let Some(p) = self.apparmor.as_ref().filter(|_| !privileged) {
            out.push(format!("apparmor={p}"));
        }
        out
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// A namespace flag's value as podman's `ParseNamespace` and the flag's own
/// checks take it. `what` is the flag's kind. Container names are looked up
/// later (`Engine::resolve_isolation`), ns paths checked here.
pub fn parse_ns(kind: NsKind, text: &str) -> Result<NsMode> {
    let unrecognized = || Error::new(format!("unrecognized namespace mode {text} passed"));
    Ok(match text {
        "" | "private" => NsMode::Private,
        "host" => NsMode::Host,
        "shareable" if kind == NsKind::Ipc => NsMode::Private,
        "none" if matches!(kind, NsKind::Ipc | NsKind::Network) => NsMode::None,
        _ => {
            if let Some(c) = text.strip_prefix("container:") {
                if c.is_empty() {
                    return Err(unrecognized());
                }
                NsMode::Container(c.to_string())
            } else if let Some(p) = text.strip_prefix("ns:") {
                if let Err(e) = std::fs::metadata(p) {
                    return Err(Error::new(format!(
                        "cannot find specified {} namespace path: stat {p}: {}",
                        kind.path_name(),
                        go_text(&e)
                    )));
                }
                NsMode::Path(p.to_string())
            } else {
                return Err(unrecognized());
            }
        }
    })
}

/// `--userns`: only the host's user namespace (berth's containers have no
/// user namespace yet).
pub fn check_userns(text: &str) -> Result<()> {
    let known = ["auto", "keep-id", "nomap", "private"];
    match text {
        "" | "host" => Ok(()),
        t if known.iter().any(|k| t == *k || t.starts_with(&format!("{k}:")))
            || t.starts_with("container:")
            || t.starts_with("ns:") =>
        {
            Err(Error::new(format!(
                "--userns={t} is not supported by berth yet: containers run in the host's user namespace (--userns=host)"
            )))
        }
        t => Err(Error::new(format!("unrecognized namespace mode {t} passed"))),
    }
}

/// podman's `IsValidDeviceMode`: some of r, w, m, each once.
fn valid_device_mode(mode: &str) -> bool {
    let mut seen = String::new();
    !mode.is_empty()
        && mode.chars().all(|c| {
            let ok = "rwm".contains(c) && !seen.contains(c);
            seen.push(c);
            ok
        })
}

/// `--device` as podman's `ParseDevice` reads it; the host path is checked later.
pub fn parse_device(text: &str) -> Result<Device> {
    let parts: Vec<&str> = text.split(':').collect();
    let mut permissions = "rwm".to_string();
    let mut container = None;
    match parts.as_slice() {
        [_] => {}
        [_, second] | [_, second, _] => {
            if let [_, _, third] = parts.as_slice() {
                if !valid_device_mode(third) {
                    return Err(Error::new(format!("invalid device mode: {third}")));
                }
                permissions = third.to_string();
            }
            if valid_device_mode(second) {
                permissions = second.to_string();
            } else if second.starts_with('/') {
                container = Some(second.to_string());
            } else {
                return Err(Error::new(format!("invalid device mode: {second}")));
            }
        }
        _ => return Err(Error::new(format!("invalid device specification: {text}"))),
    }
    let host = parts[0].to_string();
    Ok(Device { container: container.unwrap_or_else(|| host.clone()), host, permissions })
}

/// A device node of the host, as config.json's linux.devices has it.
#[derive(Debug, Clone)]
struct Node {
    path: String,
    typ: &'static str,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Node {
    fn of(path: &Path, meta: &std::fs::Metadata) -> Option<Node> {
        let ft = meta.file_type();
        let typ = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return None;
        };
        let rdev = meta.rdev();
        Some(Node {
            path: path.to_string_lossy().into_owned(),
            typ,
            major: rustix::fs::major(rdev).into(),
            minor: rustix::fs::minor(rdev).into(),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    fn oci(&self, path: &str) -> Value {
        json!({"path": path, "type": self.typ, "major": self.major, "minor": self.minor,
               "fileMode": self.mode, "uid": self.uid, "gid": self.gid})
    }

    fn rule(&self, access: &str) -> Value {
        json!({"allow": true, "type": self.typ, "major": self.major, "minor": self.minor, "access": access})
    }
}

/// The device nodes under `dir` (a directory given to `--device`, or /dev
/// for `--privileged`), as runc's `HostDevices` finds them: links not
/// followed, /dev's pts, shm, fd and mqueue and /dev/console left out.
fn nodes_under(dir: &Path, out: &mut Vec<Node>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            let skip = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
            if !skip.iter().any(|s| name == *s) {
                nodes_under(&path, out);
            }
        } else if name != "console" {
            out.extend(Node::of(&path, &meta));
        }
    }
}

impl Isolation {
    /// Checks that need no store: the security options and what conflicts
    /// with the namespace modes (podman's messages).
    pub fn validate(&self, hostname_given: bool, shm_size_given: bool) -> Result<()> {
        SecurityOpts::parse(&self.security_opt)?;
        if hostname_given && self.uts != NsMode::Private {
            return Err(Error::new(
                "invalid config provided: cannot set hostname when running in the host UTS namespace: invalid configuration",
            ));
        }
        if shm_size_given && self.ipc == NsMode::Host {
            return Err(Error::new(
                "invalid config provided: cannot set shmsize when running in the {host } IPC Namespace",
            ));
        }
        if self.group_add.iter().any(|g| g == "keep-groups") && self.group_add.len() > 1 {
            return Err(Error::new(
                "the '--group-add keep-groups' option is not allowed with any other --group-add options",
            ));
        }
        Ok(())
    }

    /// The namespace modes, with their kinds.
    pub fn namespaces(&self) -> [(NsKind, &NsMode); 5] {
        [
            (NsKind::Ipc, &self.ipc),
            (NsKind::Pid, &self.pid),
            (NsKind::Uts, &self.uts),
            (NsKind::Cgroup, &self.cgroupns),
            (NsKind::Network, &self.network),
        ]
    }

    /// The IDs of the containers whose namespaces this one joins.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .namespaces()
            .into_iter()
            .filter_map(|(_, m)| match m {
                NsMode::Container(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Refuse to start container `id` (its root filesystem mounted at
    /// `rootfs`) while a `--group-add` name is not in its /etc/group, with
    /// podman's message (exit 126 from `run`, 125 from `start`).
    pub fn check_groups(&self, id: &str, rootfs: &Path) -> Result<()> {
        for g in self.group_add.iter().filter(|g| *g != "keep-groups" && g.parse::<u32>().is_err()) {
            if spec::find_group(rootfs, g)?.is_none() {
                let mut e = Error::new(format!(
                    "looking up supplemental groups for container {id}: Unable to find group {g}: no matching entries in group file"
                ));
                e.kind = crate::ErrorKind::CommandCannotRun;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Apply to a config.json `spec::generate` made for this container
    /// (its root filesystem mounted at `rootfs`, for group names).
    pub fn apply(&self, config: &mut Value, rootfs: &Path, read_only: bool) -> Result<()> {
        let sec = SecurityOpts::parse(&self.security_opt)?;
        self.apply_namespaces(config);
        if read_only && self.no_read_only_tmpfs {
            if let Some(m) = config["mounts"].as_array_mut() {
                m.retain(|m| !(m["type"] == "tmpfs" && ["/tmp", "/var/tmp", "/run"].contains(&dest(m))));
            }
        }
        // Groups. One the image does not have is left out here: podman
        // creates such a container and refuses to start it
        // (`check_groups`, at every start).
        let mut added = Vec::new();
        for g in self.group_add.iter().filter(|g| *g != "keep-groups") {
            match g.parse::<u32>() {
                Ok(gid) => added.push(gid),
                Err(_) => added.extend(spec::find_group(rootfs, g)?),
            }
        }
        if let Some(gids) = config.pointer_mut("/process/user/additionalGids") {
            let mut all: Vec<u64> = gids.as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
            for g in added {
                if !all.contains(&u64::from(g)) {
                    all.push(g.into());
                }
            }
            *gids = json!(all);
        }
        if self.group_add.iter().any(|g| g == "keep-groups") {
            config["annotations"]["run.oci.keep_original_groups"] = json!("1");
        }
        // Devices: `--device`, or every host device with --privileged.
        let mut nodes: Vec<(Node, String, String)> = Vec::new();
        for d in &self.devices {
            let meta =
                std::fs::metadata(&d.host).map_err(|e| Error::new(format!("stat {}: {}", d.host, go_text(&e))))?;
            if meta.is_dir() {
                let mut found = Vec::new();
                nodes_under(Path::new(&d.host), &mut found);
                for n in found {
                    let inside = format!("{}{}", d.container, &n.path[d.host.trim_end_matches('/').len()..]);
                    nodes.push((n, inside, d.permissions.clone()));
                }
            } else {
                let n = Node::of(Path::new(&d.host), &meta)
                    .ok_or_else(|| Error::new(format!("{} is not a valid device", d.host)))?;
                nodes.push((n, d.container.clone(), d.permissions.clone()));
            }
        }
        if self.privileged {
            let mut host = Vec::new();
            nodes_under(Path::new("/dev"), &mut host);
            for n in host {
                if !nodes.iter().any(|(_, inside, _)| *inside == n.path) {
                    let inside = n.path.clone();
                    nodes.push((n, inside, "rwm".into()));
                }
            }
        }
        let linux = &mut config["linux"];
        if !nodes.is_empty() {
            let list: Vec<Value> = nodes.iter().map(|(n, inside, _)| n.oci(inside)).collect();
            linux["devices"] = json!(list);
        }
        // podman's (and docker's) rules: mknod of any node (so a device
        // given only `r` or `w` can still be created), no other access
        // but to the devices given (the runtime adds its default set).
        let mut rules = vec![
            json!({"allow": false, "access": "rwm"}),
            json!({"allow": true, "type": "c", "access": "m"}),
            json!({"allow": true, "type": "b", "access": "m"}),
        ];
        if self.privileged {
            rules.push(json!({"allow": true, "access": "rwm"}));
        } else {
            rules.extend(nodes.iter().map(|(n, _, access)| n.rule(access)));
        }
        linux["resources"]["devices"] = json!(rules);
        // Privileges.
        if self.privileged {
            // Every one the runtime can give here (as `exec --privileged`).
            let all = super::exec::privileged_capabilities()?;
            config["process"]["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
            config["linux"]["maskedPaths"] = json!([]);
            config["linux"]["readonlyPaths"] = json!([]);
            if let Some(m) = config["mounts"].as_array_mut() {
                for m in m.iter_mut().filter(|m| ["/sys", "/sys/fs/cgroup"].contains(&dest(m))) {
                    if let Some(o) = m["options"].as_array_mut() {
                        o.retain(|o| o != "ro");
                        o.push(json!("rw"));
                    }
                }
            }
            if sec.seccomp.is_none() {
                remove(&mut config["linux"], "seccomp");
            }
        }
        if sec.no_new_privileges {
            config["process"]["noNewPrivileges"] = json!(true);
        }
        match sec.seccomp.as_deref() {
            None => {}
            Some("unconfined") => remove(&mut config["linux"], "seccomp"),
            Some(path) => {
                let profile = seccomp_file::load(Path::new(path), &spec::bounding_caps(config))?;
                config["linux"]["seccomp"] = profile;
            }
        }
        if let Some(p) = sec.apparmor.as_deref().filter(|p| *p != "unconfined" && !self.privileged) {
            config["process"]["apparmorProfile"] = json!(p);
        }
        // Masked paths: unmask first (`ALL`: every one, and the read-only
        // ones too), then mask (podman's order: a path in both is masked).
        let linux = &mut config["linux"];
        if sec.unmask.iter().any(|u| u == "ALL") {
            linux["maskedPaths"] = json!([]);
            linux["readonlyPaths"] = json!([]);
        } else if !sec.unmask.is_empty() {
            for key in ["maskedPaths", "readonlyPaths"] {
                if let Some(list) = linux[key].as_array_mut() {
                    list.retain(|p| !sec.unmask.iter().any(|u| p == u));
                }
            }
        }
        for m in &sec.mask {
            if !m.starts_with('/') {
                // podman logs this and goes on.
                tracing::error!("Path {m:?} is not an absolute path, skipping...");
                continue;
            }
            match linux["maskedPaths"].as_array_mut() {
                Some(list) => {
                    if !list.iter().any(|p| p == m) {
                        list.push(json!(m));
                    }
                }
                None => linux["maskedPaths"] = json!([m]),
            }
        }
        Ok(())
    }

    /// The namespace list and what goes with it: no hostname without a
    /// UTS namespace of its own; the host's /dev/shm with the host's IPC
    /// namespace, none with `--ipc none`. Joined namespaces get their
    /// paths at start (`joins.rs`); `ns:PATH` ones now.
    fn apply_namespaces(&self, config: &mut Value) {
        let mut list = Vec::new();
        for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"] {
            let mode = self.namespaces().into_iter().find(|(k, _)| k.oci_type() == t).map(|(_, m)| m);
            match mode {
                Some(NsMode::Host) => {}
                Some(NsMode::Path(p)) => list.push(json!({"type": t, "path": p})),
                _ => list.push(json!({"type": t})),
            }
        }
        config["linux"]["namespaces"] = json!(list);
        if self.uts != NsMode::Private {
            remove(config, "hostname");
        }
        let Some(mounts) = config["mounts"].as_array_mut() else { return };
        match self.ipc {
            NsMode::Host => {
                for m in mounts.iter_mut().filter(|m| dest(m) == "/dev/shm") {
                    *m = json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                                "options": ["rbind", "nosuid", "noexec", "nodev"]});
                }
            }
            NsMode::None => mounts.retain(|m| dest(m) != "/dev/shm"),
            _ => {}
        }
    }

    /// HostConfig's fields of podman 4.3's inspect that this module decides.
    /// Its network mode as `inspect` says it (`bridge`, `none`, `host`...).
    pub fn inspect_network_mode(&self) -> String {
        self.inspect()
            .into_iter()
            .find(|(k, _)| *k == "NetworkMode")
            .and_then(|(_, v)| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    pub fn inspect(&self) -> Vec<(&'static str, Value)> {
        let sec = SecurityOpts::parse(&self.security_opt).unwrap_or_default();
        let mode = |m: &NsMode| match m {
            NsMode::Private => "private".to_string(),
            NsMode::Host => "host".to_string(),
            NsMode::None => "none".to_string(),
            NsMode::Container(id) => format!("container:{id}"),
            NsMode::Path(p) => format!("ns:{p}"),
        };
        // podman 4.3 reports any IPC namespace that is neither another
        // container's nor a path as "shareable", the host's included.
        let ipc = match &self.ipc {
            m @ (NsMode::Container(_) | NsMode::Path(_)) => mode(m),
            _ => "shareable".to_string(),
        };
        let network = match &self.network {
            NsMode::Private if !self.networks.is_empty() => "bridge".to_string(),
            NsMode::Private => "none".to_string(),
            m => mode(m),
        };
        let devices: Vec<Value> = self
            .devices
            .iter()
            // podman 4.3 leaves CgroupPermissions empty.
            .map(|d| json!({"PathOnHost": d.host, "PathInContainer": d.container, "CgroupPermissions": ""}))
            .collect();
        vec![
            ("CgroupMode", json!(mode(&self.cgroupns))),
            ("NetworkMode", json!(network)),
            ("GroupAdd", json!(self.group_add)),
            ("IpcMode", json!(ipc)),
            ("PidMode", json!(mode(&self.pid))),
            ("Privileged", json!(self.privileged)),
            ("SecurityOpt", json!(sec.inspect(self.privileged))),
            ("UTSMode", json!(mode(&self.uts))),
            ("Devices", json!(devices)),
        ]
    }
}

/// /run/.containerenv of a `--privileged` container: what podman writes
/// there for one (others get an empty file).
pub(super) fn containerenv(c: &super::Container) -> String {
    format!(
        "engine=\"berth-{}\"\nname=\"{}\"\nid=\"{}\"\nimage=\"{}\"\nimageid=\"{}\"\nrootless=0\n",
        env!("CARGO_PKG_VERSION"),
        c.name,
        c.id,
        c.image_name,
        c.image_id.trim_start_matches("sha256:")
    )
}

fn dest(m: &Value) -> &str {
    m["destination"].as_str().unwrap_or("")
}

fn remove(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

impl Engine {
    /// Look up the containers named in namespace flags (podman's message
    /// for a missing one) and record their IDs; the hostname a container
    /// sharing a UTS namespace gets.
    pub(crate) fn resolve_isolation(&self, iso: &mut Isolation) -> Result<()> {
        for (kind, mode) in [
            (NsKind::Ipc, &mut iso.ipc),
            (NsKind::Pid, &mut iso.pid),
            (NsKind::Uts, &mut iso.uts),
            (NsKind::Cgroup, &mut iso.cgroupns),
            (NsKind::Network, &mut iso.network),
        ] {
            if let NsMode::Container(name) = mode {
                let c = self.container(name).map_err(|e| {
                    Error::new(format!("looking up container to share {} namespace with: {e}", kind.share_name()))
                })?;
                *name = c.id;
            }
        }
        Ok(())
    }

    /// The hostname container `c`'s /etc/hostname is written with: `own`
    /// (given with `--hostname`, kept in config.json), else the one it
    /// shares ([`Engine::shared_hostname`]), else its short id.
    pub(crate) fn container_hostname(&self, own: Option<String>, c: &super::Container) -> String {
        own.or_else(|| self.shared_hostname(&c.isolation)).unwrap_or_else(|| c.short_id().to_string())
    }

    /// The hostname a container gets when not told: the host's without a
    /// UTS namespace of its own or with the host's network, or that of the
    /// container whose UTS namespace it shares.
    pub(crate) fn shared_hostname(&self, iso: &Isolation) -> Option<String> {
        let host = || Some(rustix::system::uname().nodename().to_string_lossy().into_owned());
        match &iso.uts {
            NsMode::Host | NsMode::Path(_) => host(),
            // podman: the host's network, the host's name (in a UTS
            // namespace of its own all the same).
            NsMode::Private if iso.network == NsMode::Host => host(),
            // The name its /etc/hostname was written with (`etc_files.rs`),
            // whatever gave it.
            NsMode::Container(id) => std::fs::read_to_string(self.userdata_dir(id).join("hostname"))
                // One made before its files moved to the runroot.
                .or_else(|_| std::fs::read_to_string(self.bundle_dir(id).join("hostname")))
                .ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_as_podman_parses_them() {
        let d = |h: &str, c: &str, p: &str| Device { host: h.into(), container: c.into(), permissions: p.into() };
        assert_eq!(parse_device("/dev/zero").unwrap(), d("/dev/zero", "/dev/zero", "rwm"));
        assert_eq!(parse_device("/dev/zero:r").unwrap(), d("/dev/zero", "/dev/zero", "r"));
        assert_eq!(parse_device("/dev/zero:/dev/z").unwrap(), d("/dev/zero", "/dev/z", "rwm"));
        assert_eq!(parse_device("/dev/zero:/dev/z:rw").unwrap(), d("/dev/zero", "/dev/z", "rw"));
        let err = |t: &str| parse_device(t).unwrap_err().to_string();
        assert_eq!(err("/dev/zero:rwx"), "invalid device mode: rwx");
        assert_eq!(err("/dev/zero:/dev/z:rr"), "invalid device mode: rr");
        assert_eq!(err("/dev/zero:rel"), "invalid device mode: rel");
        assert_eq!(err("/dev/zero:/dev/z:rw:x"), "invalid device specification: /dev/zero:/dev/z:rw:x");
    }

    #[test]
    fn security_opts_as_podman_parses_them() {
        let p = |v: &[&str]| SecurityOpts::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let s = p(&["no-new-privileges", "seccomp=unconfined", "mask=/a:/b", "unmask=ALL", "label=disable"]).unwrap();
        assert!(s.no_new_privileges);
        assert_eq!(s.mask, ["/a", "/b"]);
        assert_eq!(s.inspect(false), ["no-new-privileges", "label=disable", "seccomp=unconfined"]);
        assert_eq!(p(&["foo"]).unwrap_err().to_string(), "invalid --security-opt 1: \"foo\"");
        assert_eq!(p(&["foo=bar"]).unwrap_err().to_string(), "invalid --security-opt 2: \"foo=bar\"");
        assert!(p(&["apparmor=unconfined"]).is_ok());
    }

    #[test]
    fn namespace_modes() {
        assert_eq!(parse_ns(NsKind::Pid, "host").unwrap(), NsMode::Host);
        assert_eq!(parse_ns(NsKind::Ipc, "none").unwrap(), NsMode::None);
        assert_eq!(parse_ns(NsKind::Pid, "none").unwrap_err().to_string(), "unrecognized namespace mode none passed");
        assert_eq!(parse_ns(NsKind::Uts, "container:x").unwrap(), NsMode::Container("x".into()));
        assert_eq!(
            parse_ns(NsKind::Pid, "ns:/nonexist").unwrap_err().to_string(),
            "cannot find specified PID namespace path: stat /nonexist: no such file or directory"
        );
        use super::super::networking::parse_networks;
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(parse_networks(&v(&["none", "host"])).unwrap_err().to_string().contains("selected mode none"));
        // No --network: berth.conf's netns (the default network, without a file).
        let netns = &crate::config::get().unwrap().containers.netns;
        let (mode, nets) = parse_networks(&v(&[])).unwrap();
        let default = crate::networks::default_network_name().unwrap();
        let want = match netns.as_str() {
            "none" => (NsMode::None, Vec::new()),
            "host" => (NsMode::Host, Vec::new()),
            _ => (NsMode::Private, vec![default.to_string()]),
        };
        assert_eq!((mode, nets.iter().map(|a| a.network.clone()).collect::<Vec<_>>()), want);
        assert_eq!(parse_networks(&v(&["host"])).unwrap().0, NsMode::Host);
        let (mode, nets) = parse_networks(&v(&["bridge", "lan:ip=10.89.0.9,alias=db,mac=02:00:00:00:00:09"])).unwrap();
        assert_eq!(mode, NsMode::Private);
        assert_eq!(nets[0].network, default);
        assert_eq!(nets[1].ips, vec!["10.89.0.9".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(
            (nets[1].aliases.clone(), nets[1].mac.clone()),
            (vec!["db".to_string()], Some("02:00:00:00:00:09".into()))
        );
        assert!(parse_networks(&v(&["lan", "lan"])).is_err());
        assert!(parse_networks(&v(&["lan:bogus=1"])).is_err());
        // An alias is a name: nothing that could break a line of the DNS
        // server's files.
        for bad in ["lan:alias=a b", "lan:alias=-x", "lan:alias=a\n1.2.3.4"] {
            assert!(parse_networks(&v(&[bad])).unwrap_err().to_string().contains("invalid network alias"), "{bad}");
        }
        assert!(parse_networks(&v(&["lan:mac=01:00:00:00:00:01"])).unwrap_err().to_string().contains("multicast"));
        assert!(check_userns("host").is_ok());
        assert!(check_userns("auto").is_err());
        assert_eq!(check_userns("foo").unwrap_err().to_string(), "unrecognized namespace mode foo passed");
    }
}
