//! Device nodes in the container's /dev: the default set every container
//! gets (as runc and crun give it) plus linux.devices, and the usual symlinks.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path};

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, SFlag};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Mount, Spec};

use crate::error::{Context, Error, Result};
use crate::safe_path::{ensure_in_root, fd_path, Kind};

pub struct Dev {
    pub path: String,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
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
            kind: SFlag::S_IFCHR,
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
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::InvalidConfig(format!("device {:?}: type \"a\" is not a node", d.path())))
            }
        };
        check_device_path(d.path())?;
        out.push(Dev {
            path: d.path().to_string_lossy().into_owned(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
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
    // SAFETY: umask is process-wide and always succeeds; restored below.
    let old = unsafe { libc::umask(0) };
    let res = devs.iter().try_for_each(|d| make(root, d, userns));
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    res
}

fn make(root: &OwnedFd, d: &Dev, userns: bool) -> Result<()> {
    let path = Path::new(&d.path);
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path.file_name().ok_or_else(|| Error::InvalidConfig(format!("bad device path {}", d.path)))?;
    // An O_PATH directory fd serves as dirfd for the *at calls below.
    let dir = ensure_in_root(root.as_fd(), parent, Kind::Dir)?;
    let cname = CString::new(name.as_encoded_bytes()).map_err(|_| Error::InvalidConfig("NUL in device path".into()))?;
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node instead.
        let target = ensure_in_root(root.as_fd(), path, Kind::File)?;
        return mount(Some(path), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .context(|| format!("bind device {}", d.path));
    }
    // Replace whatever the image has at that name (a file, a stale node).
    // SAFETY: valid dir fd, NUL-terminated name; failure (ENOENT) is fine.
    unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) };
    let mode = d.kind.bits() | d.mode;
    // SAFETY: valid dir fd and name; mknodat does not follow symlinks.
    if unsafe { libc::mknodat(dir.as_raw_fd(), cname.as_ptr(), mode, makedev(d.major, d.minor)) } != 0 {
        return Err(std::io::Error::last_os_error()).context(|| format!("mknod {}", d.path));
    }
    // SAFETY: as above; AT_SYMLINK_NOFOLLOW keeps chown on the node we made.
    if unsafe { libc::fchownat(dir.as_raw_fd(), cname.as_ptr(), d.uid, d.gid, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(std::io::Error::last_os_error()).context(|| format!("chown {}", d.path));
    }
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx -> pts/ptmx.
pub fn symlinks(root: &OwnedFd, mounts: &[Mount]) -> Result<()> {
    let dev = ensure_in_root(root.as_fd(), Path::new("/dev"), Kind::Dir)?;
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
        // SAFETY: valid dir fd; removing a possibly existing ptmx node.
        unsafe { libc::unlinkat(dev.as_raw_fd(), c"ptmx".as_ptr(), 0) };
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).context(|| format!("symlink /dev/{name}")),
        }
    }
    Ok(())
}

/// The device cgroup rules a container gets: config.json's own rules, then
/// the default devices and linux.devices allowed (as runc appends them), so
/// that mknod of those nodes and their use work under a "deny all" rule.
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
        rules.push(rule(LinuxDeviceType::C, Some(d.major as i64), Some(d.minor as i64)));
    }
    // /dev/console, /dev/ptmx, /dev/pts/*, /dev/net/tun: what runc allows by default.
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(1)));
    rules.push(rule(LinuxDeviceType::C, Some(5), Some(2)));
    rules.push(rule(LinuxDeviceType::C, Some(136), None));
    rules.push(rule(LinuxDeviceType::C, Some(10), Some(200)));
    for d in from_spec(spec)? {
        // A FIFO is no device: the device cgroup has no rule type for it
        // (cgroup v1 rejects "p"), and none is needed to use it (as runc).
        let typ = if d.kind == SFlag::S_IFIFO {
            continue;
        } else if d.kind == SFlag::S_IFBLK {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        rules.push(rule(typ, Some(d.major as i64), Some(d.minor as i64)));
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
}
