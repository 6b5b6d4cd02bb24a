//! A verified handle on procfs.
//!
//! Writes to /proc (uid maps, oom_score_adj, sysctls, timens offsets, LSM
//! exec attributes) go through a directory fd that was checked to be a real
//! procfs and are opened beneath it without following symlinks or crossing
//! mounts. A container image or config that over-mounts or symlinks part of
//! /proc cannot redirect those writes (the CVE-2019-16884 / CVE-2025-52881
//! family).

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstatfs, open, readlinkat, Mode, OFlags, PROC_SUPER_MAGIC};

use crate::error::{Context, Error, Result};

#[derive(Debug)]
pub struct Proc {
    dir: OwnedFd,
}

impl Proc {
    /// Open the procfs mounted at `path` (normally "/proc") and verify it is one.
    pub fn open(path: &Path) -> Result<Proc> {
        let dir = open_dir(path)?;
        let fs = fstatfs(&dir).map_err(std::io::Error::from).context(|| format!("statfs {}", path.display()))?;
        if fs.f_type != PROC_SUPER_MAGIC {
            return Err(Error::Other(format!(
                "{} is not a procfs mount: refusing to write through it",
                path.display()
            )));
        }
        Ok(Proc { dir })
    }

    /// TEST ONLY: a `Proc` on an ordinary directory standing in for procfs,
    /// so a test can see what is written where (e.g. `<dir>/<pid>/attr/exec`).
    /// Lay it out as procfs is: `self` a symlink to the pid's directory name,
    /// everything on one filesystem. Never compiled outside tests.
    #[cfg(test)]
    pub(crate) fn stand_in(dir: &Path) -> Result<Proc> {
        Ok(Proc { dir: open_dir(dir)? })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Write `data` to `rel` (e.g. "self/oom_score_adj", "sys/net/core/somaxconn").
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        let fd = self.open_beneath(rel, OFlags::WRONLY)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(data).context(|| format!("write /proc/{rel}"))
    }

    /// Write to a file of the calling process ("oom_score_adj", "timens_offsets").
    /// "/proc/self" is a symlink, which the safe open refuses, so resolve it to
    /// the pid as this procfs numbers it (the host's pid before pivot_root).
    pub fn write_self(&self, file: &str, data: &[u8]) -> Result<()> {
        let pid = readlinkat(self.fd(), "self", Vec::new())
            .map_err(std::io::Error::from)
            .context(|| "readlink /proc/self".into())?;
        self.write(&format!("{}/{file}", pid.to_string_lossy()), data)
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        let fd = self.open_beneath(rel, OFlags::RDONLY)?;
        std::io::read_to_string(std::fs::File::from(fd)).context(|| format!("read /proc/{rel}"))
    }

    fn open_beneath(&self, rel: &str, flags: OFlags) -> Result<OwnedFd> {
        sys::fs::open_beneath_no_symlinks(self.fd(), Path::new(rel), flags | OFlags::NOCTTY)
            .context(|| format!("open /proc/{rel}"))
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(std::io::Error::from)
        .context(|| format!("open {}", path.display()))
}

/// The fields after the command of /proc/PID/stat, read through the host's
/// verified procfs. Field 2 (comm) may contain spaces and parentheses: the
/// rest starts after the last ')'.
fn stat_fields(pid: i32) -> Option<String> {
    let stat = Proc::open(Path::new("/proc")).ok()?.read(&format!("{pid}/stat")).ok()?;
    Some(stat.get(stat.rfind(')')? + 2..)?.to_string())
}

/// The start time (clock ticks since boot) of `pid`, from /proc/PID/stat: with
/// the pid it identifies a process uniquely, so a recycled pid is never
/// mistaken for the container's init.
pub fn start_time(pid: i32) -> Option<u64> {
    start_and_state(pid).map(|(start, _)| start)
}

/// The start time and the one-letter state (R, S, Z, ...) of `pid`, if it
/// exists, from one read.
pub fn start_and_state(pid: i32) -> Option<(u64, char)> {
    let fields = stat_fields(pid)?;
    Some((fields.split(' ').nth(19)?.parse().ok()?, fields.chars().next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_procfs() {
        let t = tempfile::tempdir().unwrap();
        let e = Proc::open(t.path()).unwrap_err();
        assert!(e.to_string().contains("is not a procfs mount"), "{e}");
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        // Some thread of ours runs, but the main thread may be sleeping (S).
        assert!(matches!(start_and_state(me).map(|(_, s)| s), Some('R' | 'S')));
        assert_eq!(start_and_state(i32::MAX), None);
        let p = Proc::open(Path::new("/proc")).unwrap();
        assert!(p.read(&format!("{me}/status")).unwrap().contains("Pid:"));
        // symlinks are refused: /proc/self is one.
        assert!(p.read("self/status").is_err());
        p.write_self("comm", b"procfs-test").unwrap();
    }

    #[test]
    fn stand_in_shows_what_is_written_where_and_refuses_links_out() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("42/attr")).unwrap();
        std::fs::write(t.path().join("42/attr/exec"), b"").unwrap();
        std::os::unix::fs::symlink("42", t.path().join("self")).unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("42/attr/current")).unwrap();
        let p = Proc::stand_in(t.path()).unwrap();
        p.write_self("attr/exec", b"exec label").unwrap();
        assert_eq!(std::fs::read(t.path().join("42/attr/exec")).unwrap(), b"exec label");
        assert!(p.write_self("attr/current", b"x").is_err(), "a symlink is never followed");
        assert_eq!(std::fs::read(outside.path()).unwrap(), b"");
    }
}
