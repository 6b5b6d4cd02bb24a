//! linux.mountLabel: the SELinux context the container's own filesystems get,
//! applied where runc applies it (libcontainer/rootfs_linux.go):
//!
//! - as a `context="<label>"` mount option (go-selinux's FormatMountLabel) on
//!   the filesystems berth creates for the container: tmpfs (/dev, /dev/shm,
//!   the /sys/fs/cgroup tmpfs of v1 hosts, masked directories), devpts and
//!   any other type (overlay, ...);
//! - as the file label of the mount's root for mqueue, which takes no
//!   context option on older kernels (runc: label.SetFileLabel);
//! - not at all on proc, sysfs and cgroup filesystems (SELinux labels those
//!   itself) nor on binds (a bind has no mount options; relabelling the
//!   source is the engine's business).
//!
//! Where the host has no SELinux, a mountLabel is refused: silently dropping
//! it would run the container unconfined while the caller believes otherwise.

use std::os::fd::BorrowedFd;

use oci_spec::runtime::Spec;
use rustix::fs::XattrFlags;

use crate::error::{Context, Error, Result};

/// Where a filesystem type takes the mount label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A `context=` mount option.
    ContextOption,
    /// The `security.selinux` attribute of the mount's root.
    RootXattr,
    /// Nowhere.
    None,
}

pub fn placement(fstype: &str) -> Placement {
    match fstype {
        "proc" | "sysfs" | "cgroup" | "cgroup2" | "bind" => Placement::None,
        "mqueue" => Placement::RootXattr,
        _ => Placement::ContextOption,
    }
}

/// The mount option carrying `label`, quoted as go-selinux quotes it (an
/// MCS label has commas: "s0:c1,c2").
pub fn context_option(label: &str) -> String {
    format!("context=\"{label}\"")
}

/// The config's linux.mountLabel, if any; an error where SELinux is not
/// enabled on the host.
pub fn mount_label(spec: &Spec) -> Result<Option<&str>> {
    let label = spec.linux().as_ref().and_then(|l| l.mount_label().as_deref()).filter(|l| !l.is_empty());
    match label {
        Some(l) if !crate::features::selinux_enabled() => Err(Error::Unsupported(format!(
            "selinux mount label {l:?} requested but SELinux is not enabled on this host"
        ))),
        l => Ok(l),
    }
}

/// `data` (a mount entry's filesystem parameters) with the label added when
/// `fstype` takes it as an option.
pub fn with_context(data: &[String], fstype: &str, label: Option<&str>) -> Vec<String> {
    let mut out = data.to_vec();
    if let Some(l) = label {
        if placement(fstype) == Placement::ContextOption {
            out.push(context_option(l));
        }
    }
    out
}

/// Label the root of a just-made mount of `fstype` when that is where its
/// label goes (mqueue).
pub fn label_root(root: BorrowedFd, fstype: &str, label: Option<&str>) -> Result<()> {
    let Some(l) = label else { return Ok(()) };
    if placement(fstype) != Placement::RootXattr {
        return Ok(());
    }
    // An O_PATH fd takes no fsetxattr; its /proc/self/fd path names the same inode.
    rustix::fs::setxattr(sys::fs::fd_path(root), "security.selinux", l.as_bytes(), XattrFlags::empty())
        .map_err(std::io::Error::from)
        .context(|| format!("label {fstype} mount {l:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "system_u:object_r:container_file_t:s0:c1,c2";

    #[test]
    fn context_goes_where_runc_puts_it() {
        let data = vec!["mode=755".to_string(), "size=65536k".to_string()];
        for fstype in ["tmpfs", "devpts", "overlay"] {
            let d = with_context(&data, fstype, Some(LABEL));
            assert_eq!(
                d.last().map(String::as_str),
                Some(r#"context="system_u:object_r:container_file_t:s0:c1,c2""#),
                "{fstype}"
            );
            assert_eq!(d.len(), 3, "{fstype}");
        }
        for fstype in ["proc", "sysfs", "cgroup", "cgroup2", "mqueue", "bind"] {
            assert_eq!(with_context(&data, fstype, Some(LABEL)), data, "{fstype}");
        }
        assert_eq!(placement("mqueue"), Placement::RootXattr);
        assert_eq!(with_context(&data, "tmpfs", None), data);
    }

    #[test]
    fn the_quoted_label_reaches_fsconfig_whole() {
        let d = with_context(&["mode=1777".to_string()], "tmpfs", Some(LABEL));
        let params = super::super::options::fs_params(&d);
        assert_eq!(params[1], ("context".to_string(), Some(LABEL.to_string())));
    }

    #[test]
    fn refused_without_selinux() {
        assert!(!crate::features::selinux_enabled(), "this test expects a host without SELinux");
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_mount_label(Some(LABEL.into()));
        spec.set_linux(Some(linux.clone()));
        let e = mount_label(&spec).unwrap_err();
        assert!(e.to_string().contains("SELinux is not enabled"), "{e}");
        linux.set_mount_label(Some(String::new()));
        spec.set_linux(Some(linux));
        assert_eq!(mount_label(&spec).unwrap(), None);
    }
}
