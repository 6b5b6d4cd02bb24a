//! A verified handle on procfs.
//!
//! Writes to /proc (uid maps, oom_score_adj, sysctls, timens offsets) go
//! through a directory fd that was checked to be a real procfs and are
//! opened beneath it without following symlinks or crossing mounts. A
//! container image or config that over-mounts or symlinks part of /proc
//! cannot redirect those writes (the CVE-2019-16884 / CVE-2025-52881 family).

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::error::{Context, Error, Result};
use crate::safe_path;

#[derive(Debug)]
pub struct Proc {
    dir: OwnedFd,
}

impl Proc {
    /// Open the procfs mounted at `path` (normally "/proc") and verify it is one.
    pub fn open(path: &Path) -> Result<Proc> {
        let dir = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context(|| format!("open {}", path.display()))?;
        let fs = fstatfs(&dir).context(|| format!("statfs {}", path.display()))?;
        if fs.filesystem_type() != PROC_SUPER_MAGIC {
            return Err(Error::Other(format!(
                "{} is not a procfs mount: refusing to write through it",
                path.display()
            )));
        }
        Ok(Proc { dir })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Write `data` to `rel` (e.g. "self/oom_score_adj", "sys/net/core/somaxconn").
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<()> {
        let fd = safe_path::open_beneath_no_xdev(self.fd(), Path::new(rel), libc::O_WRONLY)
            .context(|| format!("open /proc/{rel}"))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(data).context(|| format!("write /proc/{rel}"))
    }

    /// Write to a file of the calling process ("oom_score_adj", "timens_offsets").
    /// "/proc/self" is a symlink, which the safe open refuses, so resolve it to
    /// the pid as this procfs numbers it (the host's pid before pivot_root).
    pub fn write_self(&self, file: &str, data: &[u8]) -> Result<()> {
        let pid = nix::fcntl::readlinkat(self.fd(), "self").context(|| "readlink /proc/self".into())?;
        self.write(&format!("{}/{file}", pid.to_string_lossy()), data)
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        let fd = safe_path::open_beneath_no_xdev(self.fd(), Path::new(rel), libc::O_RDONLY)
            .context(|| format!("open /proc/{rel}"))?;
        std::io::read_to_string(std::fs::File::from(fd)).context(|| format!("read /proc/{rel}"))
    }
}

/// The start time (clock ticks since boot) of `pid`, from /proc/PID/stat: with
/// the pid it identifies a process uniquely, so a recycled pid is never
/// mistaken for the container's init.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 (comm) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// The one-letter state of `pid` (R, S, Z, ...), if it exists.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_procfs() {
        let t = tempfile::tempdir().unwrap();
        assert!(Proc::open(t.path()).is_err());
    }

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        // Some thread of ours runs, but the main thread may be sleeping (S).
        assert!(matches!(state(me), Some('R' | 'S')));
        let p = Proc::open(Path::new("/proc")).unwrap();
        assert!(p.read(&format!("{me}/status")).unwrap().contains("Pid:"));
        // symlinks are refused: /proc/self is one.
        assert!(p.read("self/status").is_err());
        p.write_self("comm", b"procfs-test").unwrap();
    }
}
