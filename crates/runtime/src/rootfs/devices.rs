//! Device nodes in the container's /dev: the default set every container
//! gets (as runc and crun give it) plus linux.devices, and the usual symlinks.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Mount, Spec};
use rustix::fs::{chownat, makedev, mknodat, symlinkat, unlinkat, AtFlags, FileType, Mode};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};
use sys::fs::{ensure_rerooted, Kind};

use super::attach::{Change, Mount as DetachedMount};
use crate::error::{Context, Error, Result};

pub struct Dev {
    pub path: String,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// /dev/null, zero, full, random, urandom, tty: what runc creates by default.
pub fn defaults() -> Vec<Dev> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(n, ma, mi)| Dev {
            path: format!("/dev/{n}"),
            kind: FileType::CharacterDevice,
            major: ma,
            minor: mi,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// A device path must name something below /dev by its letters alone:
/// absolute, `/dev/` first, no `..` anywhere. (Path::starts_with compares
/// components, so "/dev/../etc/shadow" starts with "/dev": checking that
/// alone let a config create nodes anywhere in the rootfs.)
fn check_device_path(path: &Path) -> Result<()> {
    let mut comps = path.components();
    let under_dev = comps.next() == Some(Component::RootDir)
        && comps.next() == Some(Component::Normal("dev".as_ref()))
        && comps.clone().any(|c| matches!(c, Component::Normal(_)))
        && !comps.any(|c| matches!(c, Component::ParentDir));
    if under_dev {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!("device path {path:?} must be a path under /dev without \"..\"")))
    }
}

pub fn from_spec(spec: &Spec) -> Result<Vec<Dev>> {
    let mut out = Vec::new();
    for d in spec.linux().as_ref().and_then(|l| l.devices().as_ref()).into_iter().flatten() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => {
                return Err(Error::InvalidConfig(format!("device {:?}: type \"a\" is not a node", d.path())))
            }
        };
        check_device_path(d.path())?;
        let number = |n: i64, what: &str| {
            u32::try_from(n).map_err(|_| Error::InvalidConfig(format!("device {:?}: bad {what} number {n}", d.path())))
        };
        out.push(Dev {
            path: d.path().to_string_lossy().into_owned(),
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Create the default devices and linux.devices inside the rootfs.
pub fn create(root: &OwnedFd, spec: &Spec, userns: bool) -> Result<()> {
    let mut devs = defaults();
    for d in from_spec(spec)? {
        devs.retain(|x| x.path != d.path);
        devs.push(d);
    }
    // The modes are the config's, exactly: no umask. The init is single-threaded.
    let old = rustix::process::umask(Mode::empty());
    let res = devs.iter().try_for_each(|d| make(root, d, userns));
    rustix::process::umask(old);
    res
}

fn make(root: &OwnedFd, d: &Dev, userns: bool) -> Result<()> {
    let path = Path::new(&d.path);
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path.file_name().ok_or_else(|| Error::InvalidConfig(format!("bad device path {}", d.path)))?;
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node instead.
        let target = ensure_rerooted(root.as_fd(), path, Kind::File).context(|| format!("create {}", d.path))?;
        return DetachedMount::clone_path(path, false)
            .and_then(|node| node.attach(target.as_fd(), &Change::default()))
            .map(drop)
            .context(|| format!("bind device {}", d.path));
    }
    // An O_PATH directory fd, resolved inside the root, serves as dirfd below.
    let dir = ensure_rerooted(root.as_fd(), parent, Kind::Dir).context(|| format!("create {}", parent.display()))?;
    // Replace whatever the image has at that name (a file, a stale node).
    match unlinkat(&dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io::Error::from(e)).context(|| format!("remove {}", d.path)),
    }
    // mknodat and fchownat(AT_SYMLINK_NOFOLLOW) act on the name in `dir`, never through a link.
    mknodat(&dir, name, d.kind, Mode::from_raw_mode(d.mode), makedev(d.major, d.minor))
        .map_err(io::Error::from)
        .context(|| format!("mknod {}", d.path))?;
    chownat(&dir, name, Some(Uid::from_raw(d.uid)), Some(Gid::from_raw(d.gid)), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(io::Error::from)
        .context(|| format!("chown {}", d.path))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx -> pts/ptmx.
pub fn symlinks(root: &OwnedFd, mounts: &[Mount]) -> Result<()> {
    let dev = ensure_rerooted(root.as_fd(), Path::new("/dev"), Kind::Dir).context(|| "resolve /dev".into())?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    let has_devpts = mounts.iter().any(|m| m.destination() == Path::new("/dev/pts"));
    if has_devpts {
        // A ptmx node the image may have is replaced by the link; none is fine.
        let _ = unlinkat(&dev, "ptmx", AtFlags::empty());
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io::Error::from(e)).context(|| format!("symlink /dev/{name}")),
        }
    }
    Ok(())
}

/// The device cgroup rules a container gets: config.json's own rules, then
/// the default devices and linux.devices allowed (as runc appends them), so
/// that mknod of those nodes and their use work under a "deny all" rule. A
/// linux.devices node the config has a rule for keeps that rule's access
/// (podman's `--device /dev/x:r` writes one).
pub fn cgroup_rules(spec: &Spec) -> Result<Vec<LinuxDeviceCgroup>> {
    let mut rules: Vec<LinuxDeviceCgroup> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some("rwm".into()));
        r
    };
    for d in defaults() {
        rules.push(rule(LinuxDeviceType::C, Some(i64::from(d.major)), Some(i64::from(d.minor))));
    }
    // /dev/console, /dev/ptmx, /dev/pts/*, /dev/net/tun: what runc allows by default.
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(1)));
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(2)));
    rules.push(rule(LinuxDeviceType::C, Some(136), None));
    rules.push(rule(LinuxDeviceType::C, Some(10), Some(200)));
    let own = rules.len();
    for d in from_spec(spec)? {
        // A FIFO is no device: the device cgroup has no rule type for it
        // (cgroup v1 rejects "p"), and none is needed to use it (as runc).
        let typ = match d.kind {
            FileType::Fifo => continue,
            FileType::BlockDevice => LinuxDeviceType::B,
            _ => LinuxDeviceType::C,
        };
        let (major, minor) = (Some(i64::from(d.major)), Some(i64::from(d.minor)));
        // A rule of the config's own for this very device says what access
        // it gets (podman's `--device /dev/x:r`): not widened to rwm here.
        let ruled = rules[..own].iter().any(|r| r.typ() == Some(typ) && r.major() == major && r.minor() == minor);
        if !ruled {
            rules.push(rule(typ, major, minor));
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_must_be_lexically_under_dev() {
        for ok in ["/dev/fuse", "/dev/net/tun", "/dev/./kvm"] {
            check_device_path(Path::new(ok)).unwrap();
        }
        for bad in
            ["/dev/../etc/shadow", "/dev/net/../../etc/passwd", "/dev", "/dev/", "/devices/x", "dev/null", "/etc/dev"]
        {
            let e = check_device_path(Path::new(bad)).unwrap_err();
            assert!(e.to_string().contains("must be a path under /dev"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_devices_own_rule_is_not_widened() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {
                "devices": [
                    {"path": "/dev/k", "type": "c", "major": 1, "minor": 11},
                    {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                ],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"},
                ]},
            },
        }))
        .unwrap();
        let rules = cgroup_rules(&spec).unwrap();
        let has = |major: i64, minor: i64, access: &str| {
            rules.iter().any(|r| {
                r.allow()
                    && r.major() == Some(major)
                    && r.minor() == Some(minor)
                    && r.access().as_deref() == Some(access)
            })
        };
        // /dev/k keeps its `w`; /dev/fuse, without a rule of its own, gets rwm.
        assert!(has(1, 11, "w") && !has(1, 11, "rwm"), "{rules:?}");
        assert!(has(10, 229, "rwm"), "{rules:?}");
    }
}
