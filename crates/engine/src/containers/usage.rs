//! `stats`: what a container uses, read from its cgroup (the runtime's
//! reader of the v1 and v2 files) and its network namespace, in the
//! quantities podman 4.3's `GetContainerStats` reports.

use std::time::SystemTime;

use super::Container;
use crate::error::Result;
use crate::Engine;

/// One sample of a container's resource use. All zero for a container
/// that does not run (podman prints such a row too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// CPU time of every process, user + system, in nanoseconds.
    pub cpu_nanos: u64,
    /// The system part of it.
    pub cpu_system_nanos: u64,
    /// CPU time per CPU (v1 only; empty on v2, as runc has it).
    pub per_cpu: Vec<u64>,
    /// Memory in use: v1 `memory.usage_in_bytes`, v2 `memory.stat`'s
    /// `anon` (what podman 4.3's cgroup reader takes for each).
    pub mem_usage: u64,
    /// Its memory limit, or the host's RAM when unlimited or above it.
    pub mem_limit: u64,
    /// Processes (`pids.current`).
    pub pids: u64,
    /// Bytes read and written by its block I/O.
    pub block_read: u64,
    pub block_write: u64,
    /// Bytes received and sent on its interfaces other than `lo`.
    pub net_rx: u64,
    pub net_tx: u64,
    /// When it was read.
    pub at: Option<SystemTime>,
}

impl Engine {
    /// A sample of what container `c` uses now: zeros unless it runs or is
    /// paused (or if it ended meanwhile).
    pub fn container_usage(&self, c: &Container) -> Result<Usage> {
        let now = SystemTime::now();
        if !c.state.is_live() || !self.init_alive(&c.id) {
            return Ok(Usage { at: Some(now), ..Usage::default() });
        }
        let read = match self.external_cgroup(&c.id) {
            Some(cg) => cg.stats().map_err(crate::Error::from),
            None => runtime::container::stats(&self.runtime_root(), &c.id).map_err(crate::Error::from),
        };
        let stats = match read {
            Ok(s) => s,
            // It stopped between the check and the read.
            Err(e) if !self.init_alive(&c.id) => {
                tracing::debug!("stats of {}: {e}", c.id);
                return Ok(Usage { at: Some(now), ..Usage::default() });
            }
            Err(e) => return Err(e),
        };
        let (net_rx, net_tx) = c.pid.map(net_bytes).unwrap_or_default();
        Ok(from_stats(&stats, host_ram(), net_rx, net_tx, now))
    }
}

impl Engine {
    /// What `ps --size` shows of `c`: the bytes of the files it added or
    /// changed, and of its whole root filesystem (its image's too).
    pub fn container_sizes(&self, c: &Container) -> Result<(u64, u64)> {
        let rw = self.changes_size(c)?;
        let image = self.find(&c.image_id).ok().flatten().map_or(0, |i| i.size);
        Ok((rw, rw + image))
    }
}

/// The figures of one cgroup reading, podman's way.
fn from_stats(s: &runtime::cgroups::Stats, ram: u64, net_rx: u64, net_tx: u64, at: SystemTime) -> Usage {
    // v2's memory.stat has `anon`, v1's has `rss` and `total_*` instead.
    let mem_usage = match s.memory.raw.get("anon") {
        Some(anon) => *anon,
        None => s.memory.usage.usage,
    };
    let limit = s.memory.usage.limit;
    let mem_limit = if limit == 0 || limit > ram { ram } else { limit };
    let mut block_read = 0;
    let mut block_write = 0;
    for e in &s.blkio.io_service_bytes_recursive {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => block_read += e.value,
            "write" => block_write += e.value,
            _ => {}
        }
    }
    Usage {
        cpu_nanos: s.cpu.usage.total,
        cpu_system_nanos: s.cpu.usage.kernel,
        per_cpu: s.cpu.usage.percpu.clone(),
        mem_usage,
        mem_limit,
        pids: s.pids.current,
        block_read,
        block_write,
        net_rx,
        net_tx,
        at: Some(at),
    }
}

/// The host's RAM in bytes.
fn host_ram() -> u64 {
    let info = rustix::system::sysinfo();
    info.totalram.saturating_mul(u64::from(info.mem_unit.max(1)))
}

/// Bytes received and sent on every interface but `lo` of the network
/// namespace process `pid` is in (`/proc/PID/net/dev`). Zero when it is
/// gone.
fn net_bytes(pid: i32) -> (u64, u64) {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev")).map(|t| parse_net_dev(&t)).unwrap_or_default()
}

/// Sums of /proc/net/dev's receive and transmit bytes, `lo` left out.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0u64;
    let mut tx = 0u64;
    // Two header lines, then `  name: rx_bytes packets ... (8 fields) tx_bytes ...`.
    for line in text.lines().skip(2) {
        let Some((name, fields)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = fields.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if f.len() >= 9 {
            rx = rx.saturating_add(f[0]);
            tx = tx.saturating_add(f[8]);
        }
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_sums_all_but_lo() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
 lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0\n  \
 eth0:    1000       5    0    0    0     0          0         0      200       2    0    0    0     0       0          0\n  \
 eth1:      24       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), (1024, 206));
    }

    #[test]
    fn memory_is_v1_usage_or_v2_anon_and_limit_capped_by_ram() {
        let mut s = runtime::cgroups::Stats::default();
        s.memory.usage.usage = 5000;
        s.memory.usage.limit = u64::MAX;
        s.memory.raw.insert("rss".into(), 100);
        let u = from_stats(&s, 1 << 30, 0, 0, SystemTime::UNIX_EPOCH);
        assert_eq!((u.mem_usage, u.mem_limit), (5000, 1 << 30));
        s.memory.raw.insert("anon".into(), 4096);
        s.memory.usage.limit = 1 << 20;
        let u = from_stats(&s, 1 << 30, 0, 0, SystemTime::UNIX_EPOCH);
        assert_eq!((u.mem_usage, u.mem_limit), (4096, 1 << 20));
    }
}
