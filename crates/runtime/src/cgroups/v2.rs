//! Writing limits through cgroup v2 (unified) files, converting the OCI
//! spec's v1-shaped values the way runc does.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::fs;
use crate::error::{Error, Result};

/// v2 spells "unlimited" as "max"; OCI uses -1 (any negative).
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// runc's ConvertCPUSharesToCgroupV2Value: maps v1 shares [2, 262144]
/// linearly onto v2 weight [1, 10000]; 0 means "unset".
///
/// (runc >= 1.3.2 / opencontainers/cgroups switched to a log-quadratic
/// curve so that 1024 maps to 100; we keep the long-standing linear one
/// that crun 1.8 and earlier runc use.)
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// runc's ConvertBlkIOToIOWeightValue: [10, 1000] -> [1, 10000].
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// runc's ConvertMemorySwapToCgroupV2Value: OCI swap is memory+swap, v2's
/// memory.swap.max is swap alone. Returns None for "leave unchanged".
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<Option<i64>> {
    if memory == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    if swap == -1 {
        return Ok(Some(-1));
    }
    if swap == 0 {
        return Ok(None);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::Cgroup("unable to set swap limit without memory limit".into()));
    }
    if memory < 0 {
        return Err(Error::Cgroup(format!("invalid memory value: {memory}")));
    }
    if swap < memory {
        return Err(Error::Cgroup("memory+swap limit should be >= memory limit".into()));
    }
    Ok(Some(swap - memory))
}

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = match swap_to_v2(m.swap().unwrap_or(0), limit)? {
        Some(s) if !fs::exists(dir, "memory.swap.max") => {
            if s == -1 {
                // Unlimited is the default without swap accounting anyway.
                None
            } else {
                return Err(Error::Cgroup(format!(
                    "memory swap limit requested but {} is missing (no swap accounting in this kernel)",
                    dir.join("memory.swap.max").display()
                )));
            }
        }
        s => s,
    };
    // v2 limits are independent of each other, so no ordering dance.
    if let Some(s) = swap {
        fs::write(dir, "memory.swap.max", &max_or(s))?;
    }
    if limit != 0 {
        fs::write(dir, "memory.max", &max_or(limit))?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fs::write(dir, "memory.low", &max_or(r))?;
    }
    if m.swappiness().is_some() || m.disable_oom_killer().is_some() || m.kernel().is_some() {
        tracing::debug!("ignoring memory swappiness/disableOOMKiller/kernel: no cgroup v2 equivalent");
    }
    Ok(())
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::Cgroup("cpu realtimeRuntime/realtimePeriod are not supported on cgroup v2".into()));
    }
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        fs::write(dir, "cpu.weight", &cpu_shares_to_weight(s).to_string())?;
    }
    let quota = c.quota().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let line = match (quota, period) {
        (Some(q), Some(p)) => Some(format!("{} {p}", max_or(q))),
        // The kernel keeps the current period when only one number is given.
        (Some(q), None) => Some(max_or(q)),
        (None, Some(p)) => {
            // cpu.max needs the quota in front of the period: keep the
            // current one so an update of only the period doesn't lift it.
            let cur = fs::read_opt(dir, "cpu.max")?.unwrap_or_default();
            let cur_quota = cur.split_whitespace().next().unwrap_or("max").to_string();
            Some(format!("{cur_quota} {p}"))
        }
        (None, None) => None,
    };
    if let Some(line) = line {
        fs::write(dir, "cpu.max", &line)?;
    }
    if let Some(b) = c.burst() {
        fs::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

pub fn set_pids(dir: &Path, limit: i64) -> Result<()> {
    fs::write(dir, "pids.max", &super::v1::pids_value(limit))
}

pub fn set_io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // BFQ takes blkio-style weights [1, 1000] as-is; io.weight (the
    // generic io.cost controller) needs the [1, 10000] conversion.
    let bfq = fs::exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|v| *v != 0) {
        if bfq {
            fs::write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            fs::write(dir, "io.weight", &blkio_weight_to_io_weight(w).to_string())?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            if bfq {
                fs::write(dir, "io.bfq.weight", &format!("{}:{} {w}", wd.major(), wd.minor()))?;
            } else {
                let v = blkio_weight_to_io_weight(w);
                fs::write(dir, "io.weight", &format!("{}:{} {v}", wd.major(), wd.minor()))?;
            }
        }
    }
    if b.leaf_weight().is_some() || b.weight_device().iter().flatten().any(|w| w.leaf_weight().is_some()) {
        tracing::debug!("ignoring blockIO leafWeight: no cgroup v2 equivalent");
    }

    // One io.max line per device carrying all its limits, devices in the
    // order they first appear in the spec.
    let mut order: Vec<(i64, i64)> = Vec::new();
    let mut keys: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for td in list.iter().flatten() {
            let dev = (td.major(), td.minor());
            if !keys.contains_key(&dev) {
                order.push(dev);
            }
            keys.entry(dev).or_default().push(format!("{key}={}", td.rate()));
        }
    }
    for dev in order {
        let parts = keys.get(&dev).map(|v| v.join(" ")).unwrap_or_default();
        fs::write(dir, "io.max", &format!("{}:{} {parts}", dev.0, dev.1))?;
    }
    Ok(())
}

pub fn set_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = super::checked_page_size(l.page_size())?;
        fs::write(dir, &format!("hugetlb.{size}.max"), &max_or(l.limit()))?;
    }
    Ok(())
}

/// linux.resources.unified: "file name -> value", written verbatim.
pub fn set_unified(dir: &Path, unified: &HashMap<String, String>) -> Result<()> {
    // Sorted so that the outcome does not depend on HashMap order.
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for k in keys {
        if k.is_empty() || k.contains('/') || k == "." || k == ".." {
            return Err(Error::Cgroup(format!("invalid unified resource key {k:?}")));
        }
        fs::write(dir, k, &unified[k]).map_err(|e| {
            Error::Cgroup(format!("unified resource {k:?}: {e} (is its controller enabled for this cgroup?)"))
        })?;
    }
    Ok(())
}

/// Enable `wanted` controllers for the children of every level between the
/// mount point and the leaf, so the leaf gets their files. Failures are
/// logged, not fatal: a controller that cannot be delegated (e.g. the
/// "no internal processes" rule) surfaces later as a missing file, and only
/// if a limit for it is actually requested.
pub fn enable_controllers(mount: &Path, levels: &[PathBuf], wanted: &BTreeSet<String>) {
    let mut parents = vec![mount.to_path_buf()];
    // Every level except the leaf is a parent of the next one.
    if let Some((_, upper)) = levels.split_last() {
        parents.extend(upper.iter().cloned());
    }
    for dir in parents {
        let available = fs::read_opt(&dir, "cgroup.controllers").ok().flatten().unwrap_or_default();
        let enabled = fs::read_opt(&dir, "cgroup.subtree_control").ok().flatten().unwrap_or_default();
        let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
        for c in available.split_whitespace() {
            if !wanted.contains(c) || enabled.contains(c) {
                continue;
            }
            if let Err(e) = fs::write(&dir, "cgroup.subtree_control", &format!("+{c}")) {
                tracing::debug!("cannot enable controller {c} in {}: {e}", dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(0, -1).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(-1, 100).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(0, 100).unwrap(), None);
        assert_eq!(swap_to_v2(300, 100).unwrap(), Some(200));
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }
}
