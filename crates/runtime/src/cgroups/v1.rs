//! Writing limits through cgroup v1 controller files.
//!
//! Each function takes the container's directory in the one hierarchy that
//! holds that controller. `None` fields are left untouched so the same code
//! serves `create` and `update`. Like runc, a 0 for memory/swap/quota/period
//! means "unset" (runc's config has no other way to say so).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxPids};

use super::fs;
use crate::error::{Error, Result};

const MEM_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().filter(|v| *v != 0);
    let mut swap = m.swap().filter(|v| *v != 0);
    // Unlimited memory with swap left alone means unlimited swap too,
    // otherwise the old memsw limit would still cap the container.
    if limit == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    let has_memsw = fs::exists(dir, MEMSW_LIMIT);
    if let Some(s) = swap {
        if !has_memsw {
            if s == -1 {
                // Unlimited is what we get anyway without swap accounting.
                swap = None;
            } else {
                return Err(Error::Cgroup(format!(
                    "memory swap limit requested but {} is missing: the kernel has no swap \
                     accounting (boot with swapaccount=1)",
                    dir.join(MEMSW_LIMIT).display()
                )));
            }
        }
    }

    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel insists memory.limit <= memsw.limit at every step,
            // so the order depends on whether the limits grow or shrink.
            let cur = fs::read_u64_opt(dir, MEM_LIMIT)?.unwrap_or(0);
            if swap_first(cur, s) {
                fs::write(dir, MEMSW_LIMIT, &s.to_string())?;
                fs::write(dir, MEM_LIMIT, &l.to_string())?;
            } else {
                fs::write(dir, MEM_LIMIT, &l.to_string())?;
                fs::write(dir, MEMSW_LIMIT, &s.to_string())?;
            }
        }
        (Some(l), None) => fs::write(dir, MEM_LIMIT, &l.to_string())?,
        (None, Some(s)) => fs::write(dir, MEMSW_LIMIT, &s.to_string())?,
        (None, None) => {}
    }

    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fs::write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if m.kernel().is_some() {
        // Kernel memory limits are deprecated and gone in kernel >= 6.x;
        // runc ignores them too.
        tracing::debug!("ignoring linux.resources.memory.kernel (deprecated)");
    }
    if let Some(t) = m.kernel_tcp().filter(|v| *v != 0) {
        fs::write(dir, "memory.kmem.tcp.limit_in_bytes", &t.to_string())?;
    }
    if let Some(sw) = m.swappiness() {
        if sw > 100 {
            return Err(Error::Cgroup(format!("invalid memory swappiness {sw}: must be between 0 and 100")));
        }
        fs::write(dir, "memory.swappiness", &sw.to_string())?;
    }
    if let Some(d) = m.disable_oom_killer() {
        fs::write(dir, "memory.oom_control", if d { "1" } else { "0" })?;
    }
    Ok(())
}

/// Whether memsw must be written before memory.limit_in_bytes. The kernel
/// requires limit <= memsw at every step: when the new memsw is above the
/// current limit (growing), raise memsw first; otherwise (shrinking) lower
/// the limit first. Same rule as runc's setMemoryAndSwap.
pub fn swap_first(cur_limit: u64, new_swap: i64) -> bool {
    new_swap == -1 || cur_limit < new_swap as u64
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        fs::write(dir, "cpu.shares", &s.to_string())?;
    }
    let quota = c.quota().filter(|v| *v != 0);
    let mut pending_period = None;
    if let Some(p) = c.period().filter(|v| *v != 0) {
        if let Err(e) = fs::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            // A smaller period can be rejected (EINVAL) while the old quota
            // would exceed the parent's limit; retry after the quota is set.
            if !is_einval(&e) || quota.is_none() {
                return Err(e);
            }
            pending_period = Some(p);
        }
    }
    if let Some(q) = quota {
        fs::write(dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = pending_period {
            fs::write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = c.burst() {
        fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    // The runtime's budget must fit in the period, so set the period first.
    if let Some(p) = c.realtime_period().filter(|v| *v != 0) {
        fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|v| *v != 0) {
        fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn is_einval(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()))
}

pub fn set_cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// A new v1 cpuset starts with empty cpus/mems, and no task can join it in
/// that state; copy the parent's values into every level that is empty, top
/// down (as runc does). Levels are the directories below the mount point.
pub fn init_cpuset(mount: &Path, levels: &[PathBuf]) -> Result<()> {
    let mut parent = mount.to_path_buf();
    for level in levels {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let Some(cur) = fs::read_opt(level, file)? else {
                // Not cgroupfs (fake tree without the file): nothing to fix.
                continue;
            };
            if cur.is_empty() {
                let from_parent = fs::read(&parent, file)?;
                fs::write(level, file, &from_parent)?;
            }
        }
        parent = level.clone();
    }
    Ok(())
}

pub fn set_pids(dir: &Path, p: &LinuxPids) -> Result<()> {
    fs::write(dir, "pids.max", &pids_value(p.limit()))
}

/// OCI uses 0 or -1 for "no limit"; the kernel spells it "max".
pub fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

pub fn set_blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // CFQ exposed blkio.weight; with BFQ (the only proportional scheduler
    // in current kernels) the file is blkio.bfq.weight.
    let weight_prefix = if fs::exists(dir, "blkio.weight") { "blkio." } else { "blkio.bfq." };
    let need_weight = |what: &str| -> Result<()> {
        if fs::exists(dir, &format!("{weight_prefix}weight")) {
            Ok(())
        } else {
            Err(Error::Cgroup(format!(
                "blkio {what} requested but neither blkio.weight nor blkio.bfq.weight exists in {} \
                 (no proportional I/O scheduler)",
                dir.display()
            )))
        }
    };
    if let Some(w) = b.weight().filter(|v| *v != 0) {
        need_weight("weight")?;
        fs::write(dir, &format!("{weight_prefix}weight"), &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|v| *v != 0) {
        fs::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            need_weight("weightDevice")?;
            let v = format!("{}:{} {}", wd.major(), wd.minor(), w);
            fs::write(dir, &format!("{weight_prefix}weight_device"), &v)?;
        }
        if let Some(w) = wd.leaf_weight() {
            let v = format!("{}:{} {}", wd.major(), wd.minor(), w);
            fs::write(dir, "blkio.leaf_weight_device", &v)?;
        }
    }
    let throttles = [
        ("blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
        ("blkio.throttle.write_bps_device", b.throttle_write_bps_device()),
        ("blkio.throttle.read_iops_device", b.throttle_read_iops_device()),
        ("blkio.throttle.write_iops_device", b.throttle_write_iops_device()),
    ];
    for (file, list) in throttles {
        for td in list.iter().flatten() {
            fs::write(dir, file, &format!("{}:{} {}", td.major(), td.minor(), td.rate()))?;
        }
    }
    Ok(())
}

pub fn set_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = super::checked_page_size(l.page_size())?;
        fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &l.limit().to_string())?;
    }
    Ok(())
}

/// The kernel's rule syntax: "c 1:3 rwm", with "*" for a wildcard number.
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let typ = d.typ().map(|t| t.as_str().to_string()).unwrap_or_else(|| "a".into());
    let access = d.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()))
}

/// Start from deny-all, then apply the rules in order (later rules win, as
/// the OCI spec says). The caller must include the default device rules
/// (/dev/null, /dev/zero, ...) in `rules`; nothing is implied here.
pub fn set_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    fs::write(dir, "devices.deny", "a")?;
    // Each run of rules to the same file through one open (podman's
    // defaults are a deny and a dozen allows), in the given order.
    let mut rest = rules;
    while let Some(first) = rest.first() {
        let run = rest.iter().take_while(|d| d.allow() == first.allow()).count();
        let file = if first.allow() { "devices.allow" } else { "devices.deny" };
        let values: Vec<String> = rest[..run].iter().map(device_rule).collect();
        fs::write_each(dir, file, &values)?;
        rest = &rest[run..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_format() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#).unwrap();
        assert_eq!(device_rule(&d), "c 1:3 rwm");
        let d: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(device_rule(&d), "a *:* rwm");
        let d: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":true,"type":"c","major":136,"minor":-1}"#).unwrap();
        assert_eq!(device_rule(&d), "c 136:* rwm");
    }

    #[test]
    fn memory_swap_order() {
        // Growing from 64M to 256M+512M: memsw first.
        assert!(swap_first(64 << 20, 512 << 20));
        // Shrinking from 1G to 64M+128M: limit first.
        assert!(!swap_first(1 << 30, 128 << 20));
        assert!(swap_first(1 << 30, -1));
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_value(20), "20");
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(-1), "max");
    }
}
