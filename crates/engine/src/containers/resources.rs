//! Resource limits and kernel settings from `create`/`run` flags (`-m`,
//! `--cpus`, `--pids-limit`, `--ulimit`, `--sysctl`, ...): checked with
//! podman's rules and messages, then written into the container's OCI
//! config (`linux.resources`, `process.rlimits`, `linux.sysctl`), where the
//! runtime applies them to the cgroup and the process.

use std::os::unix::fs::MetadataExt as _;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// podman's default `--pids-limit` (containers.conf's `pids_limit`).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// What the flags asked for (`None`: not given).
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub memory: Option<i64>,
    /// Memory plus swap; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// 0 or -1: unlimited; not given: [`DEFAULT_PIDS_LIMIT`].
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    /// `PATH:RATE` (bytes per second).
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<i32>,
    /// `NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `KEY=VALUE`.
    pub sysctls: Vec<String>,
}

/// A size as podman reads `-m` and friends (go-units' RAMInBytes): a
/// number, optionally with a decimal part, then b, k, m, g, t or p (powers
/// of 1024), optionally followed by `b` or `ib`.
pub fn parse_size(text: &str) -> Result<i64> {
    let bad = || Error::new(format!("invalid size: '{text}'"));
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty())).unwrap_or(&unit);
    let shift = match unit {
        "" | "b" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let bytes = num * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// The rlimits `--ulimit` knows, by docker's names.
const ULIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
];

/// `--ulimit NAME=SOFT[:HARD]` (-1: unlimited) as an OCI rlimit.
/// `name=soft:hard` checked (berth.conf's `default_ulimits`).
pub(crate) fn check_ulimit(text: &str) -> Result<()> {
    parse_ulimit(text).map(drop)
}

fn parse_ulimit(text: &str) -> Result<Value> {
    let bad =
        |why: String| Error::new(format!("ulimit option {text:?} requires name=SOFT:HARD, failed to be parsed: {why}"));
    let (name, values) = text.split_once('=').ok_or_else(|| bad("invalid ulimit argument".into()))?;
    let (_, oci) =
        ULIMITS.iter().find(|(n, _)| *n == name).ok_or_else(|| bad(format!("invalid ulimit type: {name}")))?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let number = |v: &str| -> Result<u64> {
        let n: i64 = v.parse().map_err(|_| bad(format!("strconv.ParseInt: parsing {v:?}: invalid syntax")))?;
        Ok(if n < 0 { u64::MAX } else { n as u64 })
    };
    let (soft, hard) = (number(soft)?, number(hard)?);
    if soft > hard {
        return Err(bad(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")));
    }
    Ok(json!({"type": oci, "soft": soft, "hard": hard}))
}

/// The sysctls a container may set (podman's list: namespaced ones only;
/// `net.*` with a network namespace of its own, which berth containers
/// have until `--network host` exists).
fn sysctl_allowed(key: &str) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&key) || key.starts_with("fs.mqueue.") || key.starts_with("net.")
}

/// `--device-read-bps PATH:RATE`: the device's numbers and the rate.
fn throttle(text: &str) -> Result<Value> {
    let (path, rate) = text.rsplit_once(':').ok_or_else(|| Error::new(format!("bad format: {text}")))?;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::new(format!("could not parse throttle device at {path}: {}", crate::error::go_text(&e))))?;
    use std::os::unix::fs::FileTypeExt as _;
    if !meta.file_type().is_block_device() {
        return Err(Error::new(format!("{path} is not a block device")));
    }
    let rdev = meta.rdev();
    let rate = parse_size(rate).map_err(|e| Error::new(format!("invalid rate for device: {text}: {e}")))?;
    Ok(json!({"major": rustix::fs::major(rdev), "minor": rustix::fs::minor(rdev), "rate": rate}))
}

impl Limits {
    /// Check the flags together, as podman does, with its messages.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = self.memory {
            if m != 0 && m < 6 * 1024 * 1024 {
                return Err(Error::new("minimum memory limit allowed is 6MB"));
            }
        }
        match (self.memory, self.memory_swap) {
            (None, Some(s)) if s != 0 => {
                return Err(Error::new("you should always set a memory limit when using a memoryswap limit, see usage"))
            }
            (Some(m), Some(s)) if s > 0 && s < m => {
                return Err(Error::new("minimum memoryswap limit should be larger than memory limit, see usage"))
            }
            _ => {}
        }
        if let (Some(m), Some(r)) = (self.memory, self.memory_reservation) {
            if m > 0 && r > m {
                return Err(Error::new("minimum memory limit cannot be less than memory reservation limit, see usage"));
            }
        }
        if self.cpus.is_some() && (self.cpu_quota.is_some() || self.cpu_period.is_some()) {
            return Err(Error::new("--cpus and --cpu-period/--cpu-quota cannot be set as the same time"));
        }
        if let Some(w) = self.blkio_weight {
            if w != 0 && !(10..=1000).contains(&w) {
                return Err(Error::new("invalid --blkio-weight: can only be 0 or between 10 and 1000"));
            }
        }
        if let Some(adj) = self.oom_score_adj {
            if !(-1000..=1000).contains(&adj) {
                return Err(Error::new(format!("invalid value {adj}, range for oom score adj is [-1000, 1000]")));
            }
        }
        for u in &self.ulimits {
            parse_ulimit(u)?;
        }
        for s in &self.sysctls {
            let Some((key, _)) = s.split_once('=') else {
                return Err(Error::new(format!("{s} is invalid, sysctl values must be in the form of KEY=VALUE")));
            };
            if !sysctl_allowed(key) {
                return Err(Error::new(format!("sysctl '{key}' is not allowed")));
            }
        }
        for d in self.device_read_bps.iter().chain(&self.device_write_bps) {
            throttle(d)?;
        }
        Ok(())
    }

    /// Write them into an OCI config (after [`Limits::validate`]).
    pub fn apply(&self, config: &mut Value) -> Result<()> {
        let mut memory = Map::new();
        if let Some(m) = self.memory.filter(|m| *m > 0) {
            memory.insert("limit".into(), json!(m));
            // podman's default: as much swap as memory.
            let swap = match self.memory_swap {
                Some(s) if s != 0 => s,
                _ => m.saturating_mul(2),
            };
            memory.insert("swap".into(), json!(swap));
        }
        if let Some(r) = self.memory_reservation.filter(|r| *r > 0) {
            memory.insert("reservation".into(), json!(r));
        }
        if self.oom_kill_disable {
            memory.insert("disableOOMKiller".into(), json!(true));
        }
        let mut cpu = Map::new();
        if let Some(cpus) = self.cpus.filter(|c| *c > 0.0) {
            let period = 100_000u64;
            cpu.insert("period".into(), json!(period));
            cpu.insert("quota".into(), json!((cpus * period as f64).round() as i64));
        }
        if let Some(q) = self.cpu_quota.filter(|q| *q != 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = self.cpu_period.filter(|p| *p != 0) {
            cpu.insert("period".into(), json!(p));
        }
        if let Some(s) = self.cpu_shares.filter(|s| *s != 0) {
            cpu.insert("shares".into(), json!(s));
        }
        if let Some(c) = &self.cpuset_cpus {
            cpu.insert("cpus".into(), json!(c));
        }
        if let Some(m) = &self.cpuset_mems {
            cpu.insert("mems".into(), json!(m));
        }
        let mut resources = Map::new();
        if !memory.is_empty() {
            resources.insert("memory".into(), Value::Object(memory));
        }
        if !cpu.is_empty() {
            resources.insert("cpu".into(), Value::Object(cpu));
        }
        match self.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT) {
            n if n > 0 => {
                resources.insert("pids".into(), json!({"limit": n}));
            }
            _ => {}
        }
        let mut blkio = Map::new();
        if let Some(w) = self.blkio_weight.filter(|w| *w != 0) {
            blkio.insert("weight".into(), json!(w));
        }
        let read: Vec<Value> = self.device_read_bps.iter().map(|d| throttle(d)).collect::<Result<_>>()?;
        let write: Vec<Value> = self.device_write_bps.iter().map(|d| throttle(d)).collect::<Result<_>>()?;
        if !read.is_empty() {
            blkio.insert("throttleReadBpsDevice".into(), Value::Array(read));
        }
        if !write.is_empty() {
            blkio.insert("throttleWriteBpsDevice".into(), Value::Array(write));
        }
        if !blkio.is_empty() {
            resources.insert("blockIO".into(), Value::Object(blkio));
        }
        if !resources.is_empty() {
            config["linux"]["resources"] = Value::Object(resources);
        }
        if !self.ulimits.is_empty() {
            let rlimits: Vec<Value> = self.ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<_>>()?;
            config["process"]["rlimits"] = Value::Array(rlimits);
        }
        if let Some(adj) = self.oom_score_adj {
            config["process"]["oomScoreAdj"] = json!(adj);
        }
        if !self.sysctls.is_empty() {
            let map: Map<String, Value> =
                self.sysctls.iter().filter_map(|s| s.split_once('=')).map(|(k, v)| (k.to_string(), json!(v))).collect();
            config["linux"]["sysctl"] = Value::Object(map);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("10b").unwrap(), 10);
        assert_eq!(parse_size("1x").unwrap_err().to_string(), "invalid size: '1x'");
        assert!(parse_size("-1").is_err() && parse_size("").is_err() && parse_size("m").is_err());
    }

    #[test]
    fn podmans_checks() {
        let err = |l: Limits| l.validate().unwrap_err().to_string();
        assert_eq!(
            err(Limits { memory_swap: Some(1 << 30), ..Default::default() }),
            "you should always set a memory limit when using a memoryswap limit, see usage"
        );
        assert_eq!(
            err(Limits { memory: Some(512 << 20), memory_swap: Some(256 << 20), ..Default::default() }),
            "minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(err(Limits { memory: Some(4 << 20), ..Default::default() }), "minimum memory limit allowed is 6MB");
        assert_eq!(
            err(Limits { sysctls: vec!["kernel.x=1".into()], ..Default::default() }),
            "sysctl 'kernel.x' is not allowed"
        );
        assert_eq!(
            err(Limits { sysctls: vec!["x".into()], ..Default::default() }),
            "x is invalid, sysctl values must be in the form of KEY=VALUE"
        );
        assert_eq!(
            err(Limits { ulimits: vec!["bogus=1:2".into()], ..Default::default() }),
            "ulimit option \"bogus=1:2\" requires name=SOFT:HARD, failed to be parsed: invalid ulimit type: bogus"
        );
        assert_eq!(
            err(Limits { ulimits: vec!["nofile=x".into()], ..Default::default() }),
            "ulimit option \"nofile=x\" requires name=SOFT:HARD, failed to be parsed: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert!(Limits { sysctls: vec!["net.ipv4.ip_forward=1".into()], ..Default::default() }.validate().is_ok());
    }

    #[test]
    fn written_into_the_config() {
        let mut config = json!({"process": {}, "linux": {}});
        let l = Limits {
            memory: Some(64 << 20),
            cpus: Some(1.5),
            ulimits: vec!["nofile=100:200".into()],
            sysctls: vec!["kernel.shmmax=1000".into()],
            oom_score_adj: Some(100),
            ..Default::default()
        };
        l.validate().unwrap();
        l.apply(&mut config).unwrap();
        let r = &config["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": 128 << 20}));
        assert_eq!(r["cpu"], json!({"period": 100000, "quota": 150000}));
        assert_eq!(r["pids"], json!({"limit": DEFAULT_PIDS_LIMIT}));
        assert_eq!(config["process"]["rlimits"], json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]));
        assert_eq!(config["process"]["oomScoreAdj"], json!(100));
        assert_eq!(config["linux"]["sysctl"], json!({"kernel.shmmax": "1000"}));
        // Unlimited pids: no pids section.
        let mut config = json!({"process": {}, "linux": {}});
        Limits { pids_limit: Some(-1), ..Default::default() }.apply(&mut config).unwrap();
        assert!(config["linux"].get("resources").is_none());
    }
}
