//! Detect which cgroup hierarchies are mounted, and where, from mountinfo.
//!
//! Three layouts exist in the wild: pure v1 (one mount per controller or
//! co-mounted groups like "cpu,cpuacct"), pure v2 (/sys/fs/cgroup is
//! cgroup2) and hybrid (v1 controllers plus a cgroup2 mount, usually
//! /sys/fs/cgroup/unified, that may hold the controllers no v1 hierarchy
//! took, e.g. hugetlb). A controller can be attached to only one hierarchy
//! at a time, so "is it mounted as v1?" decides which files drive it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fs;
use crate::error::{Error, Result};

/// Controllers that can appear as cgroup v1 mount options. Anything else in
/// the super options (rw, relatime, clone_children, ...) is not a controller.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

/// One cgroup mount as seen in mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup path (inside the hierarchy) that is visible at the mount
    /// point; "/" on a host, a sub-path inside some containers.
    pub root: String,
    /// Where it is mounted, already rebased onto the caller's fs root.
    pub mount_point: PathBuf,
    /// v1: controllers and "name=..." options; empty for cgroup2.
    pub controllers: Vec<String>,
}

/// What is mounted: v1 hierarchies by controller name (a co-mounted
/// "cpu,cpuacct" appears under both keys) and the cgroup2 mount, if any.
#[derive(Clone, Debug)]
pub struct Layout {
    pub mode: Mode,
    pub v1: BTreeMap<String, CgroupMount>,
    pub unified: Option<CgroupMount>,
    /// Controllers to drive through the unified hierarchy: all of
    /// cgroup.controllers on pure v2, those not taken by v1 on hybrid.
    pub v2_controllers: BTreeSet<String>,
}

/// Undo mountinfo's octal escapes (space is "\040", etc.).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let parsed = std::str::from_utf8(&b[i + 1..i + 4]).ok().and_then(|oct| u8::from_str_radix(oct, 8).ok());
            if let Some(v) = parsed {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Join an absolute path from mountinfo onto `fs_root` (which is "/" in
/// production and a tempdir in tests).
pub fn rebase(fs_root: &Path, abs: &str) -> PathBuf {
    fs_root.join(abs.trim_start_matches('/'))
}

/// Parse the cgroup and cgroup2 mounts out of mountinfo text.
pub fn parse_mountinfo(fs_root: &Path, text: &str) -> Vec<(String, CgroupMount)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if sep < 5 || fields.len() < sep + 3 {
            continue;
        }
        let fstype = fields[sep + 1];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let controllers = if fstype == "cgroup" {
            fields[sep + 3]
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push((
            fstype.to_string(),
            CgroupMount { root: unescape(fields[3]), mount_point: rebase(fs_root, &unescape(fields[4])), controllers },
        ));
    }
    out
}

/// Work out the layout. `fs_root` is only used to read the unified mount's
/// cgroup.controllers.
pub fn detect(fs_root: &Path, mountinfo: &str) -> Result<Layout> {
    let mut v1: BTreeMap<String, CgroupMount> = BTreeMap::new();
    let mut unified: Option<CgroupMount> = None;
    for (fstype, m) in parse_mountinfo(fs_root, mountinfo) {
        if fstype == "cgroup2" {
            // The first cgroup2 mount wins; later ones are usually bind
            // mounts into containers.
            if unified.is_none() {
                unified = Some(m);
            }
            continue;
        }
        for c in &m.controllers {
            v1.entry(c.clone()).or_insert_with(|| m.clone());
        }
    }

    let has_v1_controller = v1.keys().any(|k| !k.starts_with("name="));
    let mode = match (has_v1_controller, &unified) {
        (true, Some(_)) => Mode::Hybrid,
        (true, None) => Mode::V1,
        (false, Some(_)) => Mode::V2,
        (false, None) => {
            return Err(Error::Cgroup(
                "no cgroup filesystem is mounted (no cgroup or cgroup2 entry in mountinfo)".into(),
            ))
        }
    };

    let mut v2_controllers = BTreeSet::new();
    if let Some(u) = &unified {
        // In hybrid mode an unreadable cgroup.controllers just means "no
        // controllers there"; on pure v2 it is fatal because nothing works.
        match fs::read(&u.mount_point, "cgroup.controllers") {
            Ok(s) => {
                for c in s.split_whitespace() {
                    if !v1.contains_key(c) {
                        v2_controllers.insert(c.to_string());
                    }
                }
            }
            Err(e) if mode == Mode::V2 => return Err(e),
            Err(e) => tracing::debug!("hybrid cgroup2 mount has no readable controllers: {e}"),
        }
    }
    if mode == Mode::V2 {
        // A pure v2 host has no v1 hierarchies we should touch (a stray
        // name=systemd mount would be a leftover, not a hierarchy to use).
        v1.clear();
    }

    Ok(Layout { mode, v1, unified, v2_controllers })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:1 - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn parses_and_rebases() {
        let mounts = parse_mountinfo(Path::new("/tmp/x"), HYBRID);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[0].1.mount_point, PathBuf::from("/tmp/x/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[0].1.controllers, vec!["cpu"]);
        assert_eq!(mounts[3].1.controllers, vec!["name=systemd"]);
        assert_eq!(mounts[4].0, "cgroup2");
    }

    #[test]
    fn comounted_and_escaped() {
        let text = "1 0 0:1 /docker/abc /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu,cpuacct\n";
        let m = parse_mountinfo(Path::new("/"), text);
        assert_eq!(m[0].1.root, "/docker/abc");
        assert_eq!(m[0].1.mount_point, PathBuf::from("/sys/fs/cgroup/cpu x"));
        assert_eq!(m[0].1.controllers, vec!["cpu", "cpuacct"]);
    }

    #[test]
    fn hybrid_without_unified_controllers_file() {
        let l = detect(Path::new("/nonexistent-root"), HYBRID).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert!(l.v2_controllers.is_empty());
        assert!(l.v1.contains_key("cpu") && l.v1.contains_key("name=systemd"));
    }

    #[test]
    fn nothing_mounted_is_an_error() {
        assert!(detect(Path::new("/"), "1 0 0:1 / / rw - ext4 /dev/sda rw\n").is_err());
    }
}
