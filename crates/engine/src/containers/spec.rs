//! The OCI runtime config (`config.json`) for a container: the image's
//! config merged with what the user asked for, on top of the defaults
//! Docker gives every container (capabilities, mounts, masked paths).

use std::io;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use serde_json::{json, Value};

use super::seccomp;
use crate::error::{Context as _, Error, Result};

/// Docker's default capability set (moby's `DefaultCapabilities`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers (bind of /dev/null or an empty tmpfs).
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The environment podman gives every container, in its order, under the
/// image's and the user's: containers.conf's default `env` (PATH, and TERM
/// whether or not there is a terminal) and `container=podman`, which says
/// "in a container" to systemd and others; ours names berth.
const DEFAULT_ENV: [&str; 3] =
    ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "container=berth"];

/// /dev/shm's size when not asked for: podman's, containers.conf's
/// `shm_size = "65536k"` read with decimal units (64000 KiB, not 64 MiB;
/// `--shm-size 65536k` gives 64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 65_536_000;

/// A file of the container's data dir bound over a path of the container.
#[derive(Debug)]
pub struct Bind {
    pub destination: &'static str,
    pub source: std::path::PathBuf,
}

/// What the container runs and as whom, already merged with the image, and
/// what it sees around it.
pub struct ProcessSpec<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a str,
    pub hostname: &'a str,
    pub terminal: bool,
    /// /dev/shm's size in bytes (0: as much as tmpfs allows).
    pub shm_size: u64,
    /// Files of the container's data dir bound over its own (the
    /// `etc_files`: /etc/hosts, /etc/hostname...).
    pub binds: &'a [Bind],
    /// Its capabilities (`CAP_*`): [`DEFAULT_CAPS`] with `--cap-add` and
    /// `--cap-drop` applied ([`capabilities`]).
    pub caps: &'a [String],
    /// `--read-only`: its root filesystem is mounted read-only, with
    /// podman's tmpfs on /tmp, /var/tmp and /run.
    pub read_only: bool,
    /// `--annotation KEY=VALUE`.
    pub annotations: &'a [(String, String)],
}

/// The capabilities a container gets: Docker's defaults, `drop` removed,
/// then `add` added (podman's order; `ALL` in either means every one the
/// runtime knows). Names as podman takes them: any case, `CAP_` optional.
pub fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let base: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    capabilities_from(&base, add, drop)
}

/// As [`capabilities`], from `base` (berth.conf's `default_capabilities`,
/// names with or without `CAP_`) instead of docker's set.
pub fn capabilities_from(base: &[String], add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let all: Vec<String> = runtime::features::all_capabilities();
    let norm = |name: &str| -> Result<String> {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        if full == "CAP_ALL" || all.contains(&full) {
            Ok(full)
        } else {
            Err(Error::new(format!("{full:?}: unknown capability")))
        }
    };
    let (add, drop): (Vec<String>, Vec<String>) =
        (add.iter().map(|c| norm(c)).collect::<Result<_>>()?, drop.iter().map(|c| norm(c)).collect::<Result<_>>()?);
    let base: Vec<String> = base.iter().map(|c| norm(c)).collect::<Result<_>>()?;
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "CAP_ALL") {
        Vec::new()
    } else {
        let mut caps: Vec<String> = Vec::new();
        for c in base.into_iter().filter(|c| !drop.contains(c) && c != "CAP_ALL") {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
        caps
    };
    if add.iter().any(|c| c == "CAP_ALL") {
        caps = all;
    } else {
        for c in add {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

/// What the runtime mounts on in every container (`generate`'s mounts,
/// `etc_files`' binds): made in the container's own layer when `run`
/// creates it, where the image lacks them (cheaper than the runtime's
/// making them through the overlay mount).
pub(super) const MOUNT_POINTS: &[storage::MountPoint] = &[
    storage::MountPoint { path: "proc", dir: true },
    storage::MountPoint { path: "dev", dir: true },
    storage::MountPoint { path: "sys", dir: true },
    storage::MountPoint { path: "etc/hostname", dir: false },
    storage::MountPoint { path: "etc/hosts", dir: false },
    storage::MountPoint { path: "etc/resolv.conf", dir: false },
    storage::MountPoint { path: "run/.containerenv", dir: false },
];

/// The `cgroupsPath` of container `id`: relative, under the runtime's own
/// parent cgroup.
pub(super) fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Build config.json for a container whose root filesystem is mounted at
/// `rootfs` (the user named in `p.user` is looked up there).
pub fn generate(id: &str, rootfs: &Path, p: &ProcessSpec) -> Result<Value> {
    let user = resolve_user(rootfs, p.user)?;
    let defaults: Vec<String> = DEFAULT_ENV.iter().map(|e| e.to_string()).collect();
    let mut env = merge_env(&defaults, p.env);
    // Last, and only if nobody set them (podman's order).
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", p.hostname));
    }
    let mut mounts = default_mounts(p.shm_size);
    // podman's options for its own files: the container may write them.
    mounts.extend(p.binds.iter().map(
        |b| json!({"destination": b.destination, "type": "bind", "source": b.source, "options": ["bind", "rprivate"]}),
    ));
    if p.read_only {
        for dest in ["/tmp", "/var/tmp", "/run"] {
            mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                               "options": ["rw", "rprivate", "nosuid", "nodev"]}));
        }
    }
    let caps = p.caps;
    let annotations: serde_json::Map<String, Value> =
        p.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    Ok(json!({
        "annotations": annotations,
        "ociVersion": runtime::OCI_VERSION,
        "process": {
            "terminal": p.terminal,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.groups},
            "args": p.args,
            "env": env,
            "cwd": if p.cwd.is_empty() { "/" } else { p.cwd },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": p.read_only},
        "hostname": p.hostname,
        "mounts": mounts,
        "linux": {
            // Relative: under the runtime's own parent cgroup, per container.
            "cgroupsPath": cgroups_path(id),
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": DEFAULT_SECCOMP,
        },
    }))
}

/// What `generate` puts at `linux.seccomp` for Docker's default profile,
/// resolved only by [`encode`] from the capabilities the config ends up
/// with. A string is never a valid profile, so a config that missed
/// `encode` fails in the runtime rather than running unconfined.
pub const DEFAULT_SECCOMP: &str = "berth:default-seccomp-profile";

/// config.json's bytes for `config`, with the default seccomp profile in
/// place of [`DEFAULT_SECCOMP`]. Compact, as podman writes it: the runtime
/// parses it on every start.
pub(super) fn encode(config: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(&WithSeccomp(config)).ctx(|| "encoding config.json".into())
}

/// `config` serialized with the default profile spliced in at
/// `linux.seccomp` (see [`DEFAULT_SECCOMP`]), the rest as it is.
struct WithSeccomp<'a>(&'a Value);

impl serde::Serialize for WithSeccomp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let Some(top) = self.0.as_object() else { return self.0.serialize(s) };
        let mut m = s.serialize_map(Some(top.len()))?;
        for (key, value) in top {
            match (key.as_str(), value.as_object()) {
                ("linux", Some(linux)) => m.serialize_entry(key, &LinuxWithSeccomp { linux, config: self.0 })?,
                _ => m.serialize_entry(key, value)?,
            }
        }
        m.end()
    }
}

struct LinuxWithSeccomp<'a> {
    linux: &'a serde_json::Map<String, Value>,
    config: &'a Value,
}

impl serde::Serialize for LinuxWithSeccomp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(self.linux.len()))?;
        for (key, value) in self.linux {
            if key == "seccomp" && value == DEFAULT_SECCOMP {
                m.serialize_entry(key, &seccomp::default_profile(&bounding_caps(self.config)))?;
            } else {
                m.serialize_entry(key, value)?;
            }
        }
        m.end()
    }
}

/// The bounding capabilities of `config`'s process: what moby resolves a
/// seccomp profile's capability conditions against.
pub(super) fn bounding_caps(config: &Value) -> Vec<&str> {
    config
        .pointer("/process/capabilities/bounding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The config.json `generate` wrote in the bundle directory `bundle`.
pub(super) fn read_config(bundle: &Path) -> Result<Value> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).ctx(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).ctx(|| format!("decoding {}", path.display()))
}

/// The uid and gid a config.json's process runs as (0 where unset).
pub(super) fn process_owner(config: &Value) -> (u32, u32) {
    let id = |k: &str| {
        config.pointer(&format!("/process/user/{k}")).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok())
    };
    (id("uid").unwrap_or(0), id("gid").unwrap_or(0))
}

/// The image's environment with the user's on top (or podman's defaults
/// with the merged one on top): one entry per key, in first-seen order, the
/// last value given winning.
pub(super) fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in base.iter().chain(over) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out.iter_mut().find(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key) {
            Some(slot) => slot.clone_from(e),
            None => out.push(e.clone()),
        }
    }
    out
}

fn default_mounts(shm_size: u64) -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        // podman mounts a tmpfs of this size on the host and binds it (so a
        // pod's containers can share it); the container sees the same
        // mount, which berth makes in its own namespace: nothing to clean up.
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ]
}

/// Who the container's process runs as.
#[derive(Debug, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// What podman puts in `additionalGids`: nothing for the default user;
    /// for a user that was asked for, the groups of the image's /etc/group
    /// that list it by name (unless a group was given) and its own gid.
    pub groups: Vec<u32>,
    /// The home directory from the image's /etc/passwd (`/` without an entry).
    pub home: String,
    /// The groups of the image's /etc/group that list the user by name,
    /// when it was asked for without a group (what podman 4.3 gives an
    /// exec as that user).
    pub member_of: Vec<u32>,
}

/// The image's /etc/passwd and /etc/group may be at most this big.
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// Resolve a Docker `USER` value (`""`, `uid`, `uid:gid`, `name`,
/// `name:group`, `uid:group`, `name:gid`) against the container's
/// /etc/passwd and /etc/group, as podman does.
///
/// The files are read re-rooted at `rootfs` (the image's own symlinks
/// resolve inside it, never to the host's files), only if they are regular
/// files (a FIFO there hung `create` forever), and up to a bound. A missing
/// file is an empty one; one that is not a regular file, or too big, is an
/// error: podman 4.3 hangs on a FIFO /etc/passwd, and silently running as
/// root with no groups when the image meant something else would be worse.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", rootfs.display()))?;
    let passwd = read_account_file(root.as_fd(), "/etc/passwd")?;
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = if user_part.is_empty() {
        passwd_entries(&passwd).find(|e| e.uid == 0)
    } else if let Ok(uid) = user_part.parse::<u32>() {
        passwd_entries(&passwd).find(|e| e.uid == uid)
    } else {
        Some(passwd_entries(&passwd).find(|e| e.name == user_part).ok_or_else(|| {
            Error::new(format!("unable to find user {user_part}: no matching entries in passwd file"))
        })?)
    };
    let uid = match &entry {
        Some(e) => e.uid,
        None => user_part.parse().unwrap_or(0),
    };
    let home = entry.as_ref().map_or("/", |e| e.home).to_string();
    let mut gid = entry.as_ref().map_or(0, |e| e.gid);
    // Only what was asked for needs the group file.
    let needs_groups = match group_part {
        Some(g) => g.parse::<u32>().is_err(),
        None => !spec.is_empty(),
    };
    let group = if needs_groups { read_account_file(root.as_fd(), "/etc/group")? } else { String::new() };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(&group)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| Error::new(format!("unable to find group {g}: no matching entries in group file")))?,
        };
    }
    let mut member_of = Vec::new();
    if let (false, None, Some(e)) = (spec.is_empty(), group_part, &entry) {
        member_of.extend(group_entries(&group).filter(|g| g.members.contains(&e.name)).map(|g| g.gid));
        member_of.sort_unstable();
        member_of.dedup();
    }
    let mut groups = Vec::new();
    if !spec.is_empty() {
        groups.extend(&member_of);
        groups.push(gid);
        groups.sort_unstable();
        groups.dedup();
    }
    Ok(User { uid, gid, groups, home, member_of })
}

/// The user and group names of the container's /etc/passwd and /etc/group
/// (id -> first name given it), read as [`resolve_user`] reads them; a file
/// that cannot be read gives no names. For showing processes (`top`).
pub fn account_names(
    rootfs: &Path,
) -> (std::collections::HashMap<u32, String>, std::collections::HashMap<u32, String>) {
    let Ok(root) = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) else {
        return Default::default();
    };
    let read = |path: &str| read_account_file(root.as_fd(), path).unwrap_or_default();
    let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
    let mut users = std::collections::HashMap::new();
    for e in passwd_entries(&passwd) {
        users.entry(e.uid).or_insert_with(|| e.name.to_string());
    }
    let mut groups = std::collections::HashMap::new();
    for e in group_entries(&group) {
        groups.entry(e.gid).or_insert_with(|| e.name.to_string());
    }
    (users, groups)
}

/// The gid of group `name` in the container's /etc/group (read as
/// [`resolve_user`] reads it), for `--group-add`.
pub(super) fn find_group(rootfs: &Path, name: &str) -> Result<Option<u32>> {
    let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", rootfs.display()))?;
    let group = read_account_file(root.as_fd(), "/etc/group")?;
    let gid = group_entries(&group).find(|e| e.name == name).map(|e| e.gid);
    Ok(gid)
}

/// One of the image's account files as text; a missing one is empty.
fn read_account_file(root: BorrowedFd, path: &str) -> Result<String> {
    match sys::fs::read_regular_rerooted(root, Path::new(path), MAX_ACCOUNT_FILE) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(String::new()),
        Err(e) => Err(Error::caused(format_args!("cannot read the image's {path}"), e)),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().filter(|h| !h.is_empty()).unwrap_or("/"),
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect());
        Some(GroupEntry { name: f.first()?, gid: f.get(2)?.parse().ok()?, members: members.unwrap_or_default() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n")
            .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nweb:x:33:\nlog:x:4:web,other\n").unwrap();
        d
    }

    fn user(uid: u32, gid: u32, groups: &[u32], home: &str) -> User {
        User { uid, gid, groups: groups.to_vec(), home: home.into(), member_of: Vec::new() }
    }

    /// `web`, a member of group `log` (4).
    fn web(groups: &[u32]) -> User {
        User { member_of: vec![4], ..user(33, 33, groups, "/var/www") }
    }

    #[test]
    fn users_resolve_like_podman() {
        let r = rootfs();
        let p = r.path();
        // The default user gets no additional groups; any asked-for user its
        // own gid too (podman 4.3, side by side).
        assert_eq!(resolve_user(p, "").unwrap(), user(0, 0, &[], "/root"));
        assert_eq!(resolve_user(p, "0").unwrap(), user(0, 0, &[0], "/root"));
        assert_eq!(resolve_user(p, "web").unwrap(), web(&[4, 33]));
        assert_eq!(resolve_user(p, "33").unwrap(), web(&[4, 33]));
        assert_eq!(resolve_user(p, "web:root").unwrap(), user(33, 0, &[0], "/var/www"));
        assert_eq!(resolve_user(p, "33:4").unwrap(), user(33, 4, &[4], "/var/www"));
        assert_eq!(resolve_user(p, "1000").unwrap(), user(1000, 0, &[0], "/"));
        assert_eq!(resolve_user(p, "1000:1000").unwrap(), user(1000, 1000, &[1000], "/"));
        assert!(resolve_user(p, "nobody").unwrap_err().to_string().contains("unable to find user nobody"));
        assert!(resolve_user(p, "web:nogroup").unwrap_err().to_string().contains("unable to find group nogroup"));
    }

    #[test]
    fn without_account_files_numeric_users_still_work() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(d.path(), "").unwrap(), user(0, 0, &[], "/"));
        assert_eq!(resolve_user(d.path(), "5:6").unwrap(), user(5, 6, &[6], "/"));
        assert!(resolve_user(d.path(), "root").is_err());
    }

    #[test]
    fn passwd_is_read_inside_the_rootfs() {
        // A symlink to the host's /etc/shadow resolves inside the rootfs.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/../../../etc/shadow", d.path().join("etc/passwd")).unwrap();
        assert!(resolve_user(d.path(), "root").is_err());
    }

    #[test]
    fn a_fifo_or_a_huge_file_is_an_error_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let fifo = |p: &Path| {
            rustix::fs::mknodat(rustix::fs::CWD, p, rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap()
        };
        fifo(&etc.join("passwd"));
        let e = resolve_user(d.path(), "").unwrap_err().to_string();
        assert_eq!(e, "cannot read the image's /etc/passwd: /etc/passwd is not a regular file");
        std::fs::remove_file(etc.join("passwd")).unwrap();
        std::fs::write(etc.join("passwd"), "web:x:33:33::/:/bin/sh\n").unwrap();
        fifo(&etc.join("group"));
        // Only a lookup that needs the group file reads it.
        assert_eq!(resolve_user(d.path(), "33:4").unwrap(), user(33, 4, &[4], "/"));
        let e = resolve_user(d.path(), "web").unwrap_err().to_string();
        assert_eq!(e, "cannot read the image's /etc/group: /etc/group is not a regular file");
        std::fs::remove_file(etc.join("group")).unwrap();
        std::fs::write(etc.join("group"), vec![b'#'; MAX_ACCOUNT_FILE as usize + 1]).unwrap();
        assert!(resolve_user(d.path(), "web").unwrap_err().to_string().contains("larger than"));
    }

    #[test]
    fn generated_config_parses_as_an_oci_spec() {
        let r = rootfs();
        let args = vec!["sh".to_string()];
        let binds = [Bind { destination: "/etc/hosts", source: "/data/hosts".into() }];
        let caps = capabilities(&["sys_admin".into()], &["all".into()]).unwrap();
        assert_eq!(caps, ["CAP_SYS_ADMIN"]);
        let p = ProcessSpec {
            args: &args,
            env: &[],
            cwd: "",
            user: "web",
            hostname: "abc",
            terminal: false,
            shm_size: 1 << 20,
            binds: &binds,
            caps: &caps,
            read_only: true,
            annotations: &[("a".into(), "b".into())],
        };
        let v = generate("id1", r.path(), &p).unwrap();
        assert_eq!(v["linux"]["seccomp"], DEFAULT_SECCOMP);
        let spec: oci_spec::runtime::Spec = serde_json::from_slice(&encode(&v).unwrap()).unwrap();
        // The default profile, resolved for this config's capabilities:
        // with CAP_SYS_ADMIN, mount is allowed outright.
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert!(seccomp.syscalls().iter().flatten().any(|s| s.names().contains(&"mount".to_string())
            && s.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActAllow
            && s.args().as_ref().is_none_or(|a| a.is_empty())));
        let proc = spec.process().as_ref().unwrap();
        assert_eq!(proc.user().uid(), 33);
        assert_eq!(proc.cwd().to_str(), Some("/"));
        assert!(proc.env().as_ref().unwrap().iter().any(|e| e.starts_with("PATH=")));
        assert_eq!(spec.hostname().as_deref(), Some("abc"));
        let mounts = spec.mounts().as_ref().unwrap();
        let shm = mounts.iter().find(|m| m.destination().to_str() == Some("/dev/shm")).unwrap();
        assert!(shm.options().as_ref().unwrap().contains(&"size=1048576".to_string()));
        let hosts = mounts.iter().find(|m| m.destination().to_str() == Some("/etc/hosts")).unwrap();
        assert_eq!(hosts.source().as_ref().unwrap().to_str(), Some("/data/hosts"));
        assert_eq!(hosts.typ().as_deref(), Some("bind"));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        assert!(mounts.iter().any(|m| m.destination().to_str() == Some("/tmp") && m.typ().as_deref() == Some("tmpfs")));
        assert_eq!(spec.annotations().as_ref().unwrap().get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn environment_in_podmans_order() {
        let r = rootfs();
        let args = vec!["sh".to_string()];
        let env = |vars: &[&str]| -> Vec<String> {
            let vars: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
            let p = ProcessSpec {
                args: &args,
                env: &vars,
                cwd: "",
                user: "",
                hostname: "h",
                terminal: false,
                shm_size: DEFAULT_SHM_SIZE,
                binds: &[],
                caps: &[],
                read_only: false,
                annotations: &[],
            };
            let v = generate("id1", r.path(), &p).unwrap();
            serde_json::from_value(v["process"]["env"].clone()).unwrap()
        };
        // What podman 4.3 puts in config.json, side by side.
        let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        assert_eq!(env(&[]), [path, "TERM=xterm", "container=berth", "HOME=/root", "HOSTNAME=h"]);
        assert_eq!(
            env(&["Z=1", "TERM=foo", "PATH=/x", "HOSTNAME=zz", "container=me"]),
            ["PATH=/x", "TERM=foo", "container=me", "Z=1", "HOSTNAME=zz", "HOME=/root"]
        );
    }
}
