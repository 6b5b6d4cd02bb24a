//! Loading and validating a bundle's config.json.
//!
//! oci-spec does the parsing (unknown fields are ignored, as the runtime spec
//! asks); this module adds the checks whose failure would otherwise surface
//! half-way through container creation, where it is harder to clean up.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// A parsed config.json together with the bundle it came from.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// config.json's text, which the container's state keeps (see
    /// [`crate::state::SavedSpec`]).
    pub json: Box<serde_json::value::RawValue>,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Read `<dir>/config.json` and check it describes a container we can create.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir =
            std::fs::canonicalize(dir).map_err(|e| Error::InvalidConfig(format!("bundle {}: {e}", dir.display())))?;
        let path = dir.join("config.json");
        let text = std::fs::read(&path).map_err(|e| Error::InvalidConfig(format!("{}: {e}", path.display())))?;
        let json: Box<serde_json::value::RawValue> =
            serde_json::from_slice(&text).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        let spec = parse(json.get().as_bytes())?;
        let root = spec.root().as_ref().ok_or_else(|| Error::InvalidConfig("root is required".into()))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { dir.join(root.path()) };
        let rootfs = std::fs::canonicalize(&rootfs)
            .map_err(|e| Error::InvalidConfig(format!("root.path {}: {e}", rootfs.display())))?;
        if !rootfs.is_dir() {
            return Err(Error::InvalidConfig(format!("root.path {} is not a directory", rootfs.display())));
        }
        Ok(Bundle { dir, spec, json, rootfs })
    }
}

/// Parse config.json text and validate what creation relies on.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let spec: Spec = serde_json::from_slice(text).map_err(|e| Error::InvalidConfig(e.to_string()))?;
    validate(&spec)?;
    Ok(spec)
}

fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    if !(version.starts_with("1.") || version == "1") {
        return Err(Error::InvalidConfig(format!("unsupported ociVersion {version:?}: this runtime implements 1.x")));
    }
    let process = spec.process().as_ref().ok_or_else(|| Error::InvalidConfig("process is required".into()))?;
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return Err(Error::InvalidConfig("process.args must not be empty".into())),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::InvalidConfig(format!("process.cwd {:?} must be an absolute path", process.cwd())));
    }
    crate::lsm::check_supported(process)?;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::InvalidConfig("linux section is required".into()))?;
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        if seen.contains(&ns.typ()) {
            return Err(Error::InvalidConfig(format!("namespace {:?} listed twice", ns.typ())));
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::InvalidConfig(format!("namespace path {p:?} must be absolute")));
            }
        }
    }
    let has_userns = seen.contains(&LinuxNamespaceType::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_maps && !has_userns {
        return Err(Error::InvalidConfig("uidMappings/gidMappings given without a user namespace".into()));
    }
    let new_userns =
        linux.namespaces().iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if new_userns && !has_maps {
        return Err(Error::InvalidConfig("a new user namespace needs uidMappings and gidMappings".into()));
    }
    if linux.time_offsets().is_some() && !seen.contains(&LinuxNamespaceType::Time) {
        return Err(Error::InvalidConfig("timeOffsets given without a time namespace".into()));
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            if key.contains("..") || key.starts_with('/') || key.is_empty() {
                return Err(Error::InvalidConfig(format!("invalid sysctl name {key:?}")));
            }
        }
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(Error::InvalidConfig(format!("mount destination {:?} must be absolute", m.destination())));
        }
    }
    Ok(())
}

/// Namespace types in the order the runtime must join existing ones: the user
/// namespace first (it grants the rights to join the others), mount last so
/// that paths under /proc stay reachable while joining.
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.3.0",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["true"], "cwd": "/"},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
            "someFutureField": {"x": 1}
        })
    }

    #[test]
    fn accepts_newer_minor_versions_and_unknown_fields() {
        parse(minimal().to_string().as_bytes()).unwrap();
    }

    #[test]
    fn rejects_other_major_version() {
        let mut v = minimal();
        v["ociVersion"] = "2.0.0".into();
        let e = parse(v.to_string().as_bytes()).unwrap_err().to_string();
        assert!(e.contains("unsupported ociVersion"), "{e}");
    }

    #[test]
    fn rejects_unknown_namespace() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        let e = parse(v.to_string().as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with("invalid config.json:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn rejects_missing_process_args_and_relative_cwd() {
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!([]);
        assert!(parse(v.to_string().as_bytes()).is_err());
        let mut v = minimal();
        v["process"]["cwd"] = "tmp".into();
        assert!(parse(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn rejects_malformed_json() {
        let e = parse(b"{\"ociVersion\": ").unwrap_err().to_string();
        assert!(e.starts_with("invalid config.json:"), "{e}");
    }

    #[test]
    fn userns_needs_mappings() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]);
        assert!(parse(v.to_string().as_bytes()).is_err());
    }
}
