//! Directories closed to other host users.
//!
//! berth runs as root and stores content from strangers: image layers carry
//! setuid binaries and device nodes. A store directory another host user can
//! walk into hands them those (moby's CVE-2021-41091), so every directory
//! berth creates is 0700, or 0711 where a container's user must traverse it.
//! Stores made by older versions are fixed when opened ([`restrict_dir`]).

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use rustix::fs::{fchmod, fstat, Mode, OFlags};

/// Create `path` and any missing parents with `mode` (exactly; the umask does
/// not widen or narrow it), and make an existing `path` no more open than
/// `mode` (see [`restrict_dir`]).
pub fn create_private_dir(path: &Path, mode: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    restrict_dir(path, mode)
}

/// If directory `path` grants any permission bit that `mode` does not (or has
/// setuid/setgid/sticky bits), set its mode to `mode`. Done on an fd opened
/// without following a symlink, so a link planted at `path` is refused
/// (ENOTDIR/ELOOP) rather than having its target's mode changed.
pub fn restrict_dir(path: &Path, mode: u32) -> io::Result<()> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let current = fstat(&fd)?.st_mode & 0o7777;
    if current & !mode != 0 {
        fchmod(&fd, Mode::from_raw_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_and_old_dirs_end_up_private() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b/c");
        create_private_dir(&deep, 0o700).unwrap();
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let old = t.path().join("old");
        std::fs::create_dir(&old).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&old, 0o711).unwrap();
        assert_eq!(mode(&old), 0o711);
        // Already stricter than asked: left alone.
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o700)).unwrap();
        restrict_dir(&old, 0o711).unwrap();
        assert_eq!(mode(&old), 0o700);
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&target, t.path().join("link")).unwrap();
        assert!(restrict_dir(&t.path().join("link"), 0o700).is_err());
        assert_eq!(mode(&target), 0o755);
    }
}
