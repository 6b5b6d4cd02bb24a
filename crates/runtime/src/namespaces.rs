//! Which namespaces a container creates and which it joins.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType, UnshareFlags};

use crate::error::{Context, Error, Result};
use crate::procfs::Proc;

/// The CLONE_NEW* flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> UnshareFlags {
    match t {
        LinuxNamespaceType::Mount => UnshareFlags::NEWNS,
        LinuxNamespaceType::Cgroup => UnshareFlags::NEWCGROUP,
        LinuxNamespaceType::Uts => UnshareFlags::NEWUTS,
        LinuxNamespaceType::Ipc => UnshareFlags::NEWIPC,
        LinuxNamespaceType::User => UnshareFlags::NEWUSER,
        LinuxNamespaceType::Pid => UnshareFlags::NEWPID,
        LinuxNamespaceType::Network => UnshareFlags::NEWNET,
        LinuxNamespaceType::Time => UnshareFlags::NEWTIME,
    }
}

/// setns(2) `fd`, which must be a namespace of type `t`.
pub fn join(fd: impl AsFd, t: LinuxNamespaceType) -> rustix::io::Result<()> {
    let kind = match t {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    };
    move_into_link_name_space(fd.as_fd(), Some(kind))
}

/// NSFS_MAGIC (linux/magic.h; rustix does not name it).
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// Open a namespace file (`/proc/PID/ns/*`, or a bind mount of one). The
/// path is the config's: opened without blocking (a FIFO there would wait
/// for a writer forever) and refused unless it is a namespace file.
pub fn open(path: impl AsRef<Path>) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path.as_ref(), flags, Mode::empty())?;
    #[allow(clippy::unnecessary_cast)] // f_type is i64 or u32 depending on the libc
    let fs_type = rustix::fs::fstatfs(&fd)?.f_type as u64;
    if fs_type != NSFS_MAGIC {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a namespace file"));
    }
    Ok(fd)
}

/// The /proc/PID/ns file name of a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The namespaces config.json asks for, split into new ones and joined ones.
#[derive(Debug)]
pub struct Plan {
    /// New namespaces created directly by clone(2).
    pub clone: UnshareFlags,
    /// New cgroup namespace: unshared by init after it was put in its cgroup,
    /// so that the cgroup it sees as "/" is its own.
    pub new_cgroup: bool,
    /// New time namespace: unshared by init, which sets the offsets first.
    pub new_time: bool,
    /// Existing namespaces to join, in `spec::JOIN_ORDER`.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan { clone: UnshareFlags::empty(), new_cgroup: false, new_time: false, join: Vec::new() };
        let nss = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        let mut joins: Vec<(LinuxNamespaceType, PathBuf)> = Vec::new();
        for ns in nss.into_iter().flatten() {
            match ns.path() {
                Some(p) => joins.push((ns.typ(), p.clone())),
                None => match ns.typ() {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Time => plan.new_time = true,
                    t => plan.clone |= flag(t),
                },
            }
        }
        for t in crate::spec::JOIN_ORDER {
            if let Some((_, p)) = joins.iter().find(|(jt, _)| *jt == t) {
                let fd = open(p).map_err(|e| {
                    Error::InvalidConfig(format!("{} namespace path {}: {}", proc_name(t), p.display(), e))
                })?;
                plan.join.push((t, fd));
            }
        }
        Ok(plan)
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.clone.contains(flag(t))
            || (t == LinuxNamespaceType::Cgroup && self.new_cgroup)
            || (t == LinuxNamespaceType::Time && self.new_time)
            || self.join.iter().any(|(j, _)| *j == t)
    }

    pub fn new_userns(&self) -> bool {
        self.clone.contains(UnshareFlags::NEWUSER)
    }

    /// Join every namespace except pid (joined by the parent before clone,
    /// since setns on a pid namespace only affects children).
    pub fn join_all_but_pid(&self) -> Result<()> {
        for (t, fd) in &self.join {
            if *t == LinuxNamespaceType::Pid {
                continue;
            }
            join(fd, *t).context(|| format!("join {} namespace", proc_name(*t)))?;
        }
        Ok(())
    }

    pub fn pid_join(&self) -> Option<&OwnedFd> {
        self.join.iter().find(|(t, _)| *t == LinuxNamespaceType::Pid).map(|(_, fd)| fd)
    }
}

/// Create a new time namespace for the calling process with the offsets of
/// linux.timeOffsets: unshare (affects children only), write the offsets
/// while the namespace is still empty, then move ourselves into it.
pub fn enter_new_time_ns(spec: &Spec, proc: &Proc) -> Result<()> {
    sys::process::unshare_namespaces(UnshareFlags::NEWTIME).context(|| "unshare time namespace".into())?;
    if let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref()) {
        let mut text = String::new();
        for (clock, off) in offsets {
            let id = match clock.as_str() {
                "monotonic" => "monotonic",
                "boottime" => "boottime",
                other => return Err(Error::InvalidConfig(format!("unknown timeOffsets clock {other:?}"))),
            };
            text.push_str(&format!("{id} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
        }
        for line in text.lines() {
            proc.write_self("timens_offsets", line.as_bytes())?;
        }
    }
    let pid = rustix::fs::readlinkat(proc.fd(), "self", Vec::new()).context(|| "readlink /proc/self".into())?;
    // ns/* entries are magic links, which the no-symlink open refuses (ELOOP):
    // open the ns directory safely, then follow the one link we want from it.
    let ns_dir = sys::fs::open_beneath_no_symlinks(
        proc.fd(),
        Path::new(&format!("{}/ns", pid.to_string_lossy())),
        OFlags::PATH | OFlags::DIRECTORY,
    )
    .context(|| "open /proc/self/ns".into())?;
    let fd = rustix::fs::openat(&ns_dir, "time_for_children", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .context(|| "open time_for_children".into())?;
    join(&fd, LinuxNamespaceType::Time).context(|| "enter time namespace".into())
}

/// Make our future children start in the pid namespace `target` (setns on a
/// pid namespace only affects children). Returns our own pid namespace, to
/// give to `restore_pid_ns` once the child exists, so that later children
/// (hooks, for one) run in ours again.
pub fn pid_ns_for_children(target: Option<&OwnedFd>) -> Result<Option<OwnedFd>> {
    let Some(target) = target else { return Ok(None) };
    let own = open("/proc/self/ns/pid").context(|| "open own pid namespace".into())?;
    join(target, LinuxNamespaceType::Pid).context(|| "join the container's pid namespace".into())?;
    Ok(Some(own))
}

pub fn restore_pid_ns(own: Option<OwnedFd>) -> Result<()> {
    match own {
        Some(fd) => join(&fd, LinuxNamespaceType::Pid).context(|| "return to own pid namespace".into()),
        None => Ok(()),
    }
}

/// Write `maps` as `pid`'s `file` (`uid_map` or `gid_map`), a line
/// `containerID hostID size` each, from the host's side.
pub fn write_id_map(proc: &Proc, pid: rustix::process::Pid, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
    proc.write(&format!("{}/{file}", pid.as_raw_nonzero().get()), text.as_bytes())
}
