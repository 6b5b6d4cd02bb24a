//! Small file helpers for cgroupfs: one-shot writes, tolerant reads, and
//! directory creation/removal with the retries the kernel needs.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use crate::error::{Context, Error, Result};

/// Write `value` to `dir/file` in a single write(2).
///
/// cgroupfs parses each write as one command, so the value must go out in
/// one call. The file is never created: a missing file means the kernel (or
/// the mounted controller) does not support that knob, and the caller should
/// see ENOENT rather than us silently making a regular file.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    write_each(dir, file, &[value])
}

/// Write each of `values` to `dir/file`, one write(2) per value (one
/// command each, as [`write`]), through one open: v1's device rules are a
/// dozen commands to one file.
pub fn write_each<S: AsRef<str>>(dir: &Path, file: &str, values: &[S]) -> Result<()> {
    let path = dir.join(file);
    let mut f = match OpenOptions::new().write(true).truncate(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let value = values.first().map_or("", |v| v.as_ref());
            // Say which of the two usual reasons applies.
            return Err(Error::Cgroup(if dir.is_dir() {
                format!(
                    "cannot set {file}={value}: {} does not exist (not supported by this kernel, \
                     or the controller is not enabled for this cgroup)",
                    path.display()
                )
            } else {
                format!("cannot set {file}={value}: cgroup {} does not exist", dir.display())
            }));
        }
        Err(e) => return Err(Error::Io { context: format!("open {} for writing", path.display()), source: e }),
    };
    for value in values {
        let value = value.as_ref();
        f.write_all(value.as_bytes()).context(|| format!("write {value:?} to {}", path.display()))?;
    }
    Ok(())
}

/// Read `dir/file` with surrounding whitespace trimmed.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    let s = fs::read_to_string(&path).context(|| format!("read {}", path.display()))?;
    Ok(s.trim().to_string())
}

/// Like [`read`], but a missing file is `None` (stats tolerate absent knobs,
/// e.g. memory.memsw.* without swap accounting).
pub fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io { context: format!("read {}", path.display()), source: e }),
    }
}

/// Read a single unsigned number; "max" (v2) maps to `u64::MAX`.
pub fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(dir, file)? {
        None => Ok(None),
        Some(s) => parse_u64(&s)
            .map(Some)
            .ok_or_else(|| Error::Cgroup(format!("{}: cannot parse {s:?} as a number", dir.join(file).display()))),
    }
}

/// Parse a cgroup number: "max" is unlimited, and negative numbers (v1
/// reports some limits as -1) are clamped to 0 like runc's ParseUint.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    if let Ok(v) = s.parse::<u64>() {
        return Some(v);
    }
    match s.parse::<i64>() {
        Ok(v) if v < 0 => Some(0),
        _ => None,
    }
}

pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// mkdir every missing component between `mount` (exclusive) and `dir`
/// (inclusive), returning the levels in top-down order (existing ones too),
/// so callers can initialise each level (cpuset, subtree_control) in order.
pub fn mkdir_levels(mount: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let rel = dir
        .strip_prefix(mount)
        .map_err(|_| Error::Cgroup(format!("{} is not under its hierarchy {}", dir.display(), mount.display())))?;
    let mut levels = Vec::new();
    let mut cur = mount.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        match fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::Io { context: format!("create cgroup {}", cur.display()), source: e }),
        }
        levels.push(cur.clone());
    }
    Ok(levels)
}

/// True when `path` is on a real cgroup filesystem (v1 or v2).
///
/// Removal differs: cgroupfs directories are removed with a bare rmdir even
/// though they "contain" control files, whereas a fake tree in a tempdir
/// (tests) has real files that must be deleted first.
pub fn is_cgroupfs(path: &Path) -> bool {
    // <linux/magic.h>; rustix does not name these two.
    const CGROUP_SUPER_MAGIC: rustix::fs::FsWord = 0x0027_e0eb;
    const CGROUP2_SUPER_MAGIC: rustix::fs::FsWord = 0x6367_7270;
    match rustix::fs::statfs(path) {
        Ok(st) => {
            let t = st.f_type;
            t == CGROUP_SUPER_MAGIC || t == CGROUP2_SUPER_MAGIC
        }
        Err(_) => false,
    }
}

/// All directories under `dir` (inclusive), deepest first, so they can be
/// removed bottom-up.
pub fn subdirs_post_order(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_post_order(dir, &mut out)?;
    Ok(out)
}

fn collect_post_order(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        // Raced with another remover, or never created: nothing to do.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::Io { context: format!("list {}", dir.display()), source: e }),
    };
    for entry in entries {
        let entry = entry.context(|| format!("list {}", dir.display()))?;
        let ft = entry.file_type().context(|| format!("stat {}", entry.path().display()))?;
        if ft.is_dir() {
            collect_post_order(&entry.path(), out)?;
        }
    }
    out.push(dir.to_path_buf());
    Ok(())
}

/// Remove a cgroup directory and all its descendants.
///
/// The kernel answers EBUSY while tasks are still leaving (a just-killed
/// process is removed from its cgroup asynchronously), so each rmdir is
/// retried with a growing delay (~1.3 s in total), as runc does.
pub fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    // The usual case first, in one syscall: a cgroup without children or
    // tasks goes with its rmdir (cgroupfs takes its control files along).
    // Children, tasks still leaving (EBUSY) or a fake tree (tests) take the
    // careful way below.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    if !dir.exists() {
        return Ok(());
    }
    let real = is_cgroupfs(dir);
    for d in subdirs_post_order(dir)? {
        if real {
            rmdir_retry(&d)?;
        } else {
            // A fake tree (tests): control files are ordinary files here.
            match fs::remove_dir_all(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { context: format!("remove {}", d.display()), source: e }),
            }
        }
    }
    Ok(())
}

fn rmdir_retry(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_millis(10);
    let mut attempt = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) && attempt < 7 => {
                attempt += 1;
                sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(Error::Io { context: format!("remove cgroup {}", dir.display()), source: e }),
        }
    }
}

/// Pids listed in `dir/cgroup.procs` and in every descendant's.
pub fn procs_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    for d in subdirs_post_order(dir)? {
        let Some(text) = read_opt(&d, "cgroup.procs")? else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let pid = line
                .parse::<i32>()
                .map_err(|_| Error::Cgroup(format!("{}/cgroup.procs: bad pid {line:?}", d.display())))?;
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Move `pid` into the cgroup at `dir`.
///
/// EINVAL can mean the task is still in TASK_NEW (just forked); runc retries
/// a few times for that reason, and so do we. Tests only (see `add_pid`).
#[cfg(test)]
pub fn write_pid(dir: &Path, pid: i32) -> Result<()> {
    let value = pid.to_string();
    let mut attempt = 0;
    loop {
        match write(dir, "cgroup.procs", &value) {
            Ok(()) => return Ok(()),
            Err(Error::Io { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) && attempt < 5 =>
            {
                attempt += 1;
                sleep(Duration::from_millis(30));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_numbers() {
        assert_eq!(parse_u64("42\n"), Some(42));
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), Some(0));
        assert_eq!(parse_u64("x"), None);
    }

    #[test]
    fn write_never_creates() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(write(tmp.path(), "memory.max", "1").is_err());
        fs::write(tmp.path().join("memory.max"), "max\n").unwrap();
        write(tmp.path(), "memory.max", "1").unwrap();
        assert_eq!(read(tmp.path(), "memory.max").unwrap(), "1");
    }

    #[test]
    fn levels_and_removal() {
        let tmp = tempfile::tempdir().unwrap();
        let leaf = tmp.path().join("a/b/c");
        let levels = mkdir_levels(tmp.path(), &leaf).unwrap();
        assert_eq!(levels, vec![tmp.path().join("a"), tmp.path().join("a/b"), leaf.clone()]);
        fs::write(leaf.join("cgroup.procs"), "1\n2\n").unwrap();
        fs::create_dir(leaf.join("sub")).unwrap();
        fs::write(leaf.join("sub/cgroup.procs"), "3\n").unwrap();
        assert_eq!(procs_recursive(&leaf).unwrap(), vec![1, 2, 3]);
        remove_cgroup_tree(&leaf).unwrap();
        assert!(!leaf.exists());
        assert!(tmp.path().join("a/b").exists());
        // Removing again is fine.
        remove_cgroup_tree(&leaf).unwrap();
    }
}
