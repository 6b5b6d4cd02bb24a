//! `top`: the processes of a running container, as psgo (podman's top)
//! reads them: every process of its cgroup, from the host's /proc, with
//! pids as the container's pid namespace numbers them and users named by
//! the container's /etc/passwd.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{spec, Container, State};
use crate::error::{Error, Result};
use crate::Engine;

/// One process of a container.
#[derive(Debug, Clone)]
pub struct Process {
    /// Its pid in the container (the last of /proc's NSpid).
    pub pid: i32,
    /// Its pid on the host.
    pub host_pid: i32,
    /// Its parent's pid in the container; 0 when the parent is outside
    /// (the container's init, an exec'd process).
    pub ppid: i32,
    /// Its process group in the container (0 outside).
    pub pgid: i32,
    /// Real and effective user and group, with the names the container's
    /// account files give them (else the number).
    pub ruser: String,
    pub user: String,
    pub uid: u32,
    pub rgroup: String,
    pub group: String,
    /// Supplementary groups, named, and their ids.
    pub groups: Vec<String>,
    pub group_ids: Vec<u32>,
    /// Host user and group names of the effective ids (the host's files).
    pub huser: String,
    pub hgroup: String,
    /// The command line (`/proc/PID/cmdline`, split at NULs: the last
    /// element is empty, as psgo has it).
    pub cmdline: Vec<String>,
    pub comm: String,
    /// State letter (`S`, `R`...).
    pub state: String,
    pub nice: i64,
    /// When it started, to the second (boot time + start ticks).
    pub started: SystemTime,
    /// User + system CPU time, in whole seconds as psgo counts it.
    pub cpu: Duration,
    /// Its controlling terminal (`pts/0`), `?` for none.
    pub tty: String,
    pub vsz_kib: u64,
    pub rss_kib: u64,
    /// Capability masks (hex, as /proc shows them): ambient, inheritable,
    /// permitted, effective, bounding.
    pub caps: [u64; 5],
    /// Seccomp mode (0 off, 1 strict, 2 filter).
    pub seccomp: u8,
}

impl Engine {
    /// The processes of running container `c`, by pid in the container.
    pub fn container_processes(&self, c: &Container) -> Result<Vec<Process>> {
        let current = self.container(&c.id)?;
        if current.state != State::Running || !self.init_alive(&c.id) {
            return Err(Error::new("top can only be used on running containers"));
        }
        let host_pids = self.container_pids(&c.id)?;
        let rootfs = self.rootfs_of(&c.id);
        let (users, groups) = rootfs.as_deref().map(spec::account_names).unwrap_or_default();
        let (host_users, host_groups) = spec::account_names(Path::new("/"));
        let ticks = rustix::param::clock_ticks_per_second().max(1);
        let boot = boot_time().unwrap_or(0);
        let mut raw: Vec<Raw> = host_pids.into_iter().filter_map(read_raw).collect();
        raw.sort_by_key(|r| r.ns_pid);
        // Host pid -> pid in the container, for parents and groups.
        let in_ns: HashMap<i32, i32> = raw.iter().map(|r| (r.host_pid, r.ns_pid)).collect();
        let name = |names: &HashMap<u32, String>, id: u32| names.get(&id).cloned().unwrap_or_else(|| id.to_string());
        Ok(raw
            .into_iter()
            .map(|r| Process {
                pid: r.ns_pid,
                host_pid: r.host_pid,
                ppid: in_ns.get(&r.ppid).copied().unwrap_or(0),
                pgid: in_ns.get(&r.pgrp).copied().unwrap_or(0),
                ruser: name(&users, r.uids[0]),
                user: name(&users, r.uids[1]),
                uid: r.uids[1],
                rgroup: name(&groups, r.gids[0]),
                group: name(&groups, r.gids[1]),
                groups: r.groups.iter().map(|g| name(&groups, *g)).collect(),
                group_ids: r.groups.clone(),
                huser: name(&host_users, r.uids[1]),
                hgroup: name(&host_groups, r.gids[1]),
                cmdline: r.cmdline,
                comm: r.comm,
                state: r.state,
                nice: r.nice,
                started: UNIX_EPOCH + Duration::from_secs(boot + r.start_ticks / ticks),
                cpu: Duration::from_secs((r.utime + r.stime) / ticks),
                tty: tty_name(r.tty_nr),
                vsz_kib: r.vsize / 1024,
                rss_kib: r.rss_kib,
                caps: r.caps,
                seccomp: r.seccomp,
            })
            .collect())
    }

    /// Where container `id`'s root filesystem is mounted (config.json's
    /// root.path).
    fn rootfs_of(&self, id: &str) -> Option<std::path::PathBuf> {
        let text = std::fs::read(self.bundle_dir(id).join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&text).ok()?;
        config.pointer("/root/path").and_then(|p| p.as_str()).map(std::path::PathBuf::from)
    }
}

/// What /proc says of one process.
struct Raw {
    host_pid: i32,
    ns_pid: i32,
    ppid: i32,
    pgrp: i32,
    uids: [u32; 2],
    gids: [u32; 2],
    groups: Vec<u32>,
    cmdline: Vec<String>,
    comm: String,
    state: String,
    nice: i64,
    start_ticks: u64,
    utime: u64,
    stime: u64,
    tty_nr: u64,
    vsize: u64,
    rss_kib: u64,
    caps: [u64; 5],
    seccomp: u8,
}

/// Read process `pid`'s stat, status and cmdline; `None` if it is gone.
fn read_raw(pid: i32) -> Option<Raw> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // The name is in parentheses and may hold anything, spaces included.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let f: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
    // Fields from the state (field 3 of stat) on: f[0] is field 3.
    let n = |i: usize| f.get(i - 3).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let u = |i: usize| f.get(i - 3).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("");
    let ids = |key: &str| -> Vec<u32> { field(key).split_whitespace().filter_map(|s| s.parse().ok()).collect() };
    let pair = |v: Vec<u32>| [v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0)];
    let cap = |key: &str| u64::from_str_radix(field(key), 16).unwrap_or(0);
    let ns_pid = field("NSpid:").split_whitespace().last().and_then(|s| s.parse().ok()).unwrap_or(pid);
    let rss_kib = field("VmRSS:").split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(Raw {
        host_pid: pid,
        ns_pid,
        ppid: n(4) as i32,
        pgrp: n(5) as i32,
        uids: pair(ids("Uid:")),
        gids: pair(ids("Gid:")),
        groups: ids("Groups:"),
        cmdline: String::from_utf8_lossy(&cmdline).split('\0').map(String::from).collect(),
        comm,
        state: f.first().map_or("?", |s| s).to_string(),
        nice: n(19),
        start_ticks: u(22),
        utime: u(14),
        stime: u(15),
        tty_nr: u(7),
        vsize: u(23),
        rss_kib,
        caps: [cap("CapAmb:"), cap("CapInh:"), cap("CapPrm:"), cap("CapEff:"), cap("CapBnd:")],
        seccomp: field("Seccomp:").parse().unwrap_or(0),
    })
}

/// The host's boot time, seconds since the epoch (/proc/stat's btime).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|s| s.trim().parse().ok())
}

/// A terminal's name from stat's tty_nr (major in bits 8-15 and 20-31,
/// minor in 0-7 and 20-31 above): the names under /dev that psgo finds.
fn tty_name(nr: u64) -> String {
    if nr == 0 {
        return "?".into();
    }
    let major = (nr >> 8) & 0xfff;
    let minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
    match major {
        // Unix98 ptys: majors 136-143.
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        5 if minor == 0 => "tty".into(),
        5 if minor == 1 => "console".into(),
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_by_number() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        assert_eq!(tty_name((137 << 8) | 1), "pts/257");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
        assert_eq!(tty_name((5 << 8) | 1), "console");
    }

    #[test]
    fn our_own_process_reads() {
        let me = std::process::id() as i32;
        let r = read_raw(me).unwrap();
        assert_eq!(r.host_pid, me);
        assert_eq!(r.ns_pid, me);
        assert!(r.start_ticks > 0);
        assert!(!r.cmdline.is_empty());
        assert_eq!(r.cmdline.last().map(String::as_str), Some(""));
    }
}
