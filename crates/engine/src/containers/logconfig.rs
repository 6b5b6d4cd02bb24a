//! How a container logs (`--log-driver`, `--log-opt`), as recorded with it:
//! the format its monitor writes, where, and when it rotates the file.
//!
//! - `k8s-file` (podman's default): conmon's format (see `logfile`).
//! - `json-file`: docker's format, one JSON object a line. podman 4.3
//!   accepts the name but writes k8s-file; berth deliberately writes what
//!   docker writes, so tools that read docker's logs read berth's.
//! - `none`: nothing is written; `logs` says so.
//!
//! Rotation (`max-size`, `max-file`) follows docker's json-file for both
//! formats: past max-size the file becomes `<path>.1` (the older ones move
//! up, the oldest beyond max-file go) and a new one starts. With max-file 1
//! the file starts over empty, which is what podman does. Without the
//! options a container gets berth.conf's `log_size_max` and
//! `log_max_files`: 10MB and 3 files unless set (see `config`), where
//! podman and docker let a log fill the disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the monitor writes the container's output as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    #[default]
    K8sFile,
    JsonFile,
    None,
}

impl LogDriver {
    /// The name podman shows (HostConfig.LogConfig.Type).
    pub fn as_str(self) -> &'static str {
        match self {
            LogDriver::K8sFile => "k8s-file",
            LogDriver::JsonFile => "json-file",
            LogDriver::None => "none",
        }
    }
}

/// A container's logging, as `create` was asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(default)]
    pub driver: LogDriver,
    /// `path=`: the log file, instead of `ctr.log` in the container's data
    /// directory. The user's file: `rm` leaves it, as podman does.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `max-size=`: bytes past which the file rotates.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// `max-file=`: how many files (the live one included) rotation keeps.
    #[serde(default)]
    pub max_file: Option<u32>,
    /// `tag=`: kept and shown by inspect.
    #[serde(default)]
    pub tag: Option<String>,
}

impl LogConfig {
    /// `--log-driver` and the `--log-opt`s (`key=value` each) over the
    /// configured defaults (berth.conf's `log_driver`, `log_size_max`,
    /// `log_max_files`).
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
        LogConfig::parse_over(crate::config::get()?.containers.log_defaults()?, driver, opts)
    }

    /// `--log-driver` and the `--log-opt`s over `base`, in podman's words
    /// where podman refuses the same. A relative `path=` is the caller's to
    /// resolve first.
    pub fn parse_over(base: LogConfig, driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
        let driver = match driver.filter(|d| !d.is_empty()) {
            None => base.driver,
            Some("k8s-file") => LogDriver::K8sFile,
            Some("json-file") => LogDriver::JsonFile,
            Some("none") => LogDriver::None,
            // podman 4.3 knows these; berth has no journal to write to and
            // passes no fds through.
            Some(known @ ("journald" | "passthrough")) => {
                return Err(Error::new(format!(
                    "running container create option: log driver {known} is not supported by berth \
                     (k8s-file, json-file, none): invalid argument"
                )))
            }
            _ => return Err(Error::new("running container create option: invalid log driver: invalid argument")),
        };
        let mut c = LogConfig { driver, ..base };
        for opt in opts {
            let Some((key, value)) = opt.split_once('=') else {
                return Err(Error::new(format!("invalid log option {opt:?}")));
            };
            match key {
                "path" => {
                    let p = Path::new(value);
                    if !p.is_absolute() {
                        return Err(Error::new(format!("log path {value:?} must be absolute")));
                    }
                    c.path = Some(p.to_path_buf());
                }
                // -1 (podman's "unlimited") or 0: no limit, over a default one.
                "max-size" if value == "-1" => c.max_size = None,
                "max-size" => {
                    c.max_size = Some(crate::units::from_human_size(value).map_err(Error::new)?).filter(|n| *n > 0)
                }
                "max-file" => match value.parse::<u32>() {
                    Ok(n) if n >= 1 => c.max_file = Some(n),
                    _ => return Err(Error::new(format!("invalid log option max-file={value}: not a number above 0"))),
                },
                "tag" => c.tag = Some(value.to_string()),
                // podman takes any other key and ignores it; so does berth,
                // so that command lines written for podman work.
                _ => {}
            }
        }
        Ok(c)
    }

    /// Check what can be checked before the container is recorded: a
    /// `path=` goes in a directory that exists (podman finds out at start).
    pub fn validate(&self) -> Result<()> {
        if let Some(dir) = self.path.as_deref().and_then(Path::parent) {
            if !dir.is_dir() {
                return Err(Error::new(format!(
                    "log path {}: directory {} does not exist",
                    self.path.as_deref().unwrap_or(dir).display(),
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// HostConfig.LogConfig.Size as podman shows it: go-units'
    /// `HumanSize` (decimal units, 4 significant digits, no space); `0B`
    /// when unlimited.
    pub fn size_text(&self) -> String {
        const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
        let mut v = self.max_size.unwrap_or(0) as f64;
        let mut i = 0;
        while v >= 1000.0 && i < UNITS.len() - 1 {
            v /= 1000.0;
            i += 1;
        }
        let decimals = if v >= 100.0 {
            1
        } else if v >= 10.0 {
            2
        } else {
            3
        };
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
        format!("{s}{}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_podman_reads_and_shows_them() {
        // What `podman create --log-opt max-size=X` showed as LogConfig.Size.
        for (text, shown) in [
            ("1m", "1MB"),
            ("10k", "10kB"),
            ("1536", "1.536kB"),
            ("2g", "2GB"),
            ("1kb", "1kB"),
            ("1.5k", "1.5kB"),
            ("1K", "1kB"),
            ("1KiB", "1kB"),
            ("1MB", "1MB"),
            ("0", "0B"),
        ] {
            let c = LogConfig::parse_over(LogConfig::default(), None, &[format!("max-size={text}")]).unwrap();
            assert_eq!(c.size_text(), shown, "{text}");
        }
    }

    #[test]
    fn drivers_and_options() {
        let c = LogConfig::parse_over(
            LogConfig::default(),
            Some("json-file"),
            &["path=/tmp/x.log".into(), "max-size=1k".into(), "max-file=3".into(), "tag=t".into(), "other=1".into()],
        )
        .unwrap();
        assert_eq!(c.driver, LogDriver::JsonFile);
        assert_eq!(
            (c.path.as_deref(), c.max_size, c.max_file, c.tag.as_deref()),
            (Some(Path::new("/tmp/x.log")), Some(1000), Some(3), Some("t"))
        );
        assert_eq!(LogConfig::parse_over(LogConfig::default(), None, &[]).unwrap(), LogConfig::default());
        assert_eq!(LogConfig::parse_over(LogConfig::default(), Some("none"), &[]).unwrap().driver, LogDriver::None);
        let msg = |d: &str, o: &[&str]| {
            let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
            LogConfig::parse_over(LogConfig::default(), Some(d), &o).unwrap_err().msg
        };
        assert_eq!(msg("bogus", &[]), "running container create option: invalid log driver: invalid argument");
        assert!(msg("journald", &[]).contains("journald is not supported"));
        assert_eq!(msg("k8s-file", &["nokey"]), "invalid log option \"nokey\"");
        assert!(msg("k8s-file", &["max-file=0"]).contains("max-file=0"));
        assert!(msg("k8s-file", &["path=rel.log"]).contains("absolute"));
        // Options over configured defaults: what is not given is kept, and
        // -1 or 0 lifts a default limit.
        let base =
            LogConfig { driver: LogDriver::JsonFile, max_size: Some(5), max_file: Some(4), ..LogConfig::default() };
        let c = LogConfig::parse_over(base.clone(), None, &["max-file=2".into()]).unwrap();
        assert_eq!((c.driver, c.max_size, c.max_file), (LogDriver::JsonFile, Some(5), Some(2)));
        let c = LogConfig::parse_over(base.clone(), Some("k8s-file"), &["max-size=-1".into()]).unwrap();
        assert_eq!((c.driver, c.max_size, c.max_file), (LogDriver::K8sFile, None, Some(4)));
        assert_eq!(LogConfig::parse_over(base, None, &["max-size=0".into()]).unwrap().max_size, None);
    }
}
