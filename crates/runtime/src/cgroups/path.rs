//! Turn the OCI `linux.cgroupsPath` into a concrete directory per hierarchy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::layout::CgroupMount;
use crate::error::{Error, Result};

/// Where the container's cgroup sits, before it is mapped onto a hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupPath {
    /// Relative to each hierarchy's root ("/a/b", or the default).
    Absolute(String),
    /// Relative to the calling process's own cgroup in each hierarchy.
    Relative(String),
}

/// Parent used when the config gives no cgroupsPath, so every container
/// lands under one tree that is easy to find and clean up.
pub const DEFAULT_PARENT: &str = "/berth";

pub fn parse_cgroups_path(p: Option<&str>, id: &str) -> Result<CgroupPath> {
    match p {
        None | Some("") => Ok(CgroupPath::Absolute(format!("{DEFAULT_PARENT}/{id}"))),
        Some(p) if p.starts_with('/') => Ok(CgroupPath::Absolute(p.to_string())),
        // "slice:prefix:name" is the systemd driver's syntax; a path
        // relative to our own cgroup never legitimately contains ':'.
        Some(p) if p.contains(':') => {
            Err(Error::Cgroup(format!("systemd cgroup path {p:?} requires --systemd-cgroup")))
        }
        Some(p) => Ok(CgroupPath::Relative(p.to_string())),
    }
}

/// The caller's own cgroup per hierarchy, from /proc/self/cgroup.
#[derive(Clone, Debug, Default)]
pub struct SelfCgroup {
    /// v1: controller (or "name=...") -> path.
    pub v1: BTreeMap<String, String>,
    /// The "0::/path" line.
    pub unified: Option<String>,
}

pub fn parse_self_cgroup(text: &str) -> SelfCgroup {
    let mut out = SelfCgroup::default();
    for line in text.lines() {
        // "hierarchy-id:controller-list:path"; the path may contain ':'.
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            out.unified = Some(path.to_string());
            continue;
        }
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.v1.insert(c.to_string(), path.to_string());
        }
    }
    out
}

/// Lexically normalise `path` as an absolute path: "." and ".." are
/// resolved and ".." never climbs above "/". This keeps a hostile
/// cgroupsPath from escaping the hierarchy's mount point.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The concrete directory for `cg` in the hierarchy mounted at `mount`.
/// `own` is the caller's cgroup in that hierarchy (needed for relative paths).
pub fn resolve(mount: &CgroupMount, own: Option<&str>, cg: &CgroupPath) -> Result<PathBuf> {
    let inside = match cg {
        CgroupPath::Absolute(p) => normalize(p),
        CgroupPath::Relative(p) => {
            let own = own.ok_or_else(|| {
                Error::Cgroup(format!(
                    "relative cgroup path {p:?}: own cgroup for {} not found in /proc/self/cgroup",
                    mount.mount_point.display()
                ))
            })?;
            // /proc/self/cgroup paths are relative to the hierarchy root,
            // while the mount may expose only a sub-tree (mount root): strip
            // it so the result is relative to the mount point.
            let own = normalize(own);
            let root = normalize(&mount.root);
            let own_in_mount = if root == "/" {
                own
            } else if own == root {
                "/".to_string()
            } else if let Some(rest) = own.strip_prefix(&format!("{root}/")) {
                format!("/{rest}")
            } else {
                // Own cgroup is outside the visible sub-tree (e.g. cgroup
                // namespace already rooted us): take it as mount-relative.
                own
            };
            normalize(&format!("{own_in_mount}/{p}"))
        }
    };
    Ok(mount.mount_point.join(inside.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(root: &str) -> CgroupMount {
        CgroupMount {
            root: root.into(),
            mount_point: PathBuf::from("/sys/fs/cgroup/memory"),
            controllers: vec!["memory".into()],
        }
    }

    #[test]
    fn cgroups_path_kinds() {
        assert_eq!(parse_cgroups_path(None, "c1").unwrap(), CgroupPath::Absolute("/berth/c1".into()));
        assert_eq!(parse_cgroups_path(Some("a/b"), "c1").unwrap(), CgroupPath::Relative("a/b".into()));
        let err = parse_cgroups_path(Some("system.slice:berth:c1"), "c1").unwrap_err();
        assert!(err.to_string().contains("requires --systemd-cgroup"), "{err}");
    }

    #[test]
    fn self_cgroup() {
        let s = parse_self_cgroup("4:memory:/x/y\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/u\n");
        assert_eq!(s.v1["memory"], "/x/y");
        assert_eq!(s.v1["cpuacct"], "/");
        assert_eq!(s.v1["name=systemd"], "/s");
        assert_eq!(s.unified.as_deref(), Some("/u"));
    }

    #[test]
    fn resolve_paths() {
        let m = mount("/");
        let abs = CgroupPath::Absolute("/a/../../b/./c".into());
        assert_eq!(resolve(&m, None, &abs).unwrap(), PathBuf::from("/sys/fs/cgroup/memory/b/c"));
        let rel = CgroupPath::Relative("c1".into());
        assert_eq!(resolve(&m, Some("/x/y"), &rel).unwrap(), PathBuf::from("/sys/fs/cgroup/memory/x/y/c1"));
        // Mount exposing only /docker/abc of the hierarchy.
        let m = mount("/docker/abc");
        assert_eq!(resolve(&m, Some("/docker/abc/sub"), &rel).unwrap(), PathBuf::from("/sys/fs/cgroup/memory/sub/c1"));
        assert!(resolve(&m, None, &rel).is_err());
    }
}
