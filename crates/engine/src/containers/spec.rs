//! The OCI runtime config (`config.json`) for a container: the image's
//! config merged with what the user asked for, on top of the defaults
//! Docker gives every container (capabilities, mounts, masked paths).

use std::fs::File;
use std::io::Read as _;
use std::os::fd::AsFd as _;
use std::path::Path;

use serde_json::{json, Value};

use super::seccomp;
use crate::error::{Error, Result};

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

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the container runs and as whom, already merged with the image.
pub struct ProcessSpec<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a str,
    pub hostname: &'a str,
    pub terminal: bool,
}

/// Build config.json for a container whose root filesystem is mounted at
/// `rootfs` (the user named in `p.user` is looked up there).
pub fn generate(id: &str, rootfs: &Path, p: &ProcessSpec) -> Result<Value> {
    let user = resolve_user(rootfs, p.user)?;
    let mut env: Vec<String> = Vec::new();
    if !p.env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.into());
    }
    env.extend(p.env.iter().cloned());
    if p.terminal && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env.push(format!("HOSTNAME={}", p.hostname));
    let caps = DEFAULT_CAPS;
    Ok(json!({
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
        "root": {"path": rootfs, "readonly": false},
        "hostname": p.hostname,
        "mounts": default_mounts(),
        "linux": {
            // Relative: under the runtime's own parent cgroup, per container.
            "cgroupsPath": format!("/berth/{id}"),
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp::default_profile(caps),
        },
    }))
}

fn default_mounts() -> Value {
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ])
}

#[derive(Debug, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Resolve a Docker `USER` value (`""`, `uid`, `uid:gid`, `name`,
/// `name:group`) against the container's /etc/passwd and /etc/group, read
/// inside `rootfs` (symlinks there cannot lead to the host's files).
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(rootfs, "/etc/passwd");
    let group = read_in_root(rootfs, "/etc/group");
    let (uid, mut gid, name) = if user_part.is_empty() {
        (0, 0, Some("root".to_string()))
    } else if let Ok(uid) = user_part.parse::<u32>() {
        let entry = passwd_entries(&passwd).find(|e| e.1 == uid);
        (uid, entry.as_ref().map_or(0, |e| e.2), entry.map(|e| e.0))
    } else {
        let entry = passwd_entries(&passwd).find(|e| e.0 == user_part).ok_or_else(|| {
            Error::new(format!("unable to find user {user_part}: no matching entries in passwd file"))
        })?;
        (entry.1, entry.2, Some(entry.0))
    };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(&group)
                .find(|e| e.0 == g)
                .map(|e| e.1)
                .ok_or_else(|| Error::new(format!("unable to find group {g}: no matching entries in group file")))?,
        };
    }
    // Supplementary groups as Docker sets them: every group listing the
    // user by name (only when no group was forced).
    let mut groups = Vec::new();
    if group_part.is_none() {
        if let Some(n) = &name {
            groups = group_entries(&group).filter(|e| e.2.iter().any(|m| m == n) && e.1 != gid).map(|e| e.1).collect();
        }
    }
    Ok(User { uid, gid, groups })
}

fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = File::open(rootfs) else { return String::new() };
    let Ok(fd) = runtime::safe_path::open_in_root(root.as_fd(), Path::new(path), libc::O_RDONLY) else {
        return String::new();
    };
    let mut s = String::new();
    let _ = File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}

/// (name, uid, gid) from passwd lines.
fn passwd_entries(text: &str) -> impl Iterator<Item = (String, u32, u32)> + '_ {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
    })
}

/// (name, gid, members) from group lines.
fn group_entries(text: &str) -> impl Iterator<Item = (String, u32, Vec<String>)> + '_ {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect());
        Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members.unwrap_or_default()))
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

    #[test]
    fn users_resolve_like_docker() {
        let r = rootfs();
        let p = r.path();
        assert_eq!(resolve_user(p, "").unwrap(), User { uid: 0, gid: 0, groups: vec![] });
        assert_eq!(resolve_user(p, "web").unwrap(), User { uid: 33, gid: 33, groups: vec![4] });
        assert_eq!(resolve_user(p, "33").unwrap(), User { uid: 33, gid: 33, groups: vec![4] });
        assert_eq!(resolve_user(p, "web:root").unwrap(), User { uid: 33, gid: 0, groups: vec![] });
        assert_eq!(resolve_user(p, "1000:1000").unwrap(), User { uid: 1000, gid: 1000, groups: vec![] });
        assert!(resolve_user(p, "nobody").unwrap_err().to_string().contains("unable to find user nobody"));
        assert!(resolve_user(p, "web:nogroup").unwrap_err().to_string().contains("unable to find group nogroup"));
    }

    #[test]
    fn passwd_is_read_inside_the_rootfs() {
        // A symlink to the host's /etc/passwd resolves inside the rootfs.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/../../../etc/shadow", d.path().join("etc/passwd")).unwrap();
        assert!(resolve_user(d.path(), "root").is_err());
    }

    #[test]
    fn generated_config_parses_as_an_oci_spec() {
        let r = rootfs();
        let args = vec!["sh".to_string()];
        let p = ProcessSpec { args: &args, env: &[], cwd: "", user: "web", hostname: "abc", terminal: false };
        let v = generate("id1", r.path(), &p).unwrap();
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
        let proc = spec.process().as_ref().unwrap();
        assert_eq!(proc.user().uid(), 33);
        assert_eq!(proc.cwd().to_str(), Some("/"));
        assert!(proc.env().as_ref().unwrap().iter().any(|e| e.starts_with("PATH=")));
        assert_eq!(spec.hostname().as_deref(), Some("abc"));
    }
}
