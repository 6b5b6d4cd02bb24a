//! Reading small files that an image or a user controls (`/etc/passwd`,
//! `/etc/group`, a config): only regular files, opened with O_NONBLOCK so a
//! FIFO or device planted at the name cannot hang the reader, and read up to
//! a bound so a huge file cannot exhaust memory.

use std::io::{self, Read};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstat, FileType, Mode, OFlags};

use super::resolve::open_rerooted;

const FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK).union(OFlags::NOCTTY).union(OFlags::CLOEXEC);

/// Read the regular file at `path` under `root` (re-rooted: the image's own
/// symlinks resolve as they would inside it), at most `max` bytes.
pub fn read_regular_rerooted(root: BorrowedFd, path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_fd(open_rerooted(root, path, FLAGS)?, path, max)
}

/// Read the regular file at `path`, at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_fd(rustix::fs::open(path, FLAGS, Mode::empty())?, path, max)
}

fn read_fd(fd: OwnedFd, path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let st = fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    let mut out = Vec::new();
    std::fs::File::from(fd).take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {max} bytes", path.display()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fifo_and_big_files_are_refused_without_hanging() {
        let t = tempfile::tempdir().unwrap();
        let etc = t.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, etc.join("passwd"), FileType::Fifo, Mode::from_raw_mode(0o644), 0)
            .unwrap();
        std::fs::write(etc.join("group"), vec![b'x'; 100]).unwrap();
        std::os::unix::fs::symlink("/etc/group", etc.join("link")).unwrap();
        let root = std::fs::File::open(t.path()).unwrap();
        let e = read_regular_rerooted(root.as_fd(), Path::new("/etc/passwd"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read_regular_rerooted(root.as_fd(), Path::new("/etc/group"), 99).unwrap_err();
        assert!(e.to_string().contains("larger than 99"), "{e}");
        assert_eq!(read_regular_rerooted(root.as_fd(), Path::new("/etc/link"), 100).unwrap().len(), 100);
        assert!(read_regular(&etc.join("passwd"), 10).is_err());
    }
}
