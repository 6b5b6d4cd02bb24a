//! Writing a file that must not exist yet, in a directory of our own just
//! made: no temp file and rename (see `atomic`), for files whose reader is
//! ready for a torn one.

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Write a file that must not exist yet (in a directory of our own, just
/// made): no temp file and rename, so a crash can leave it empty or short,
/// which its reader must be ready for. Never through a symlink; `mode`
/// exactly, whatever the umask.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn new_files_are_new() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("hosts");
        write_new(&p, b"one", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(write_new(&p, b"two", 0o644).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        std::os::unix::fs::symlink("/nonexistent-target", t.path().join("link")).unwrap();
        assert!(write_new(&t.path().join("link"), b"x", 0o644).is_err());
        assert!(!Path::new("/nonexistent-target").exists());
    }
}
