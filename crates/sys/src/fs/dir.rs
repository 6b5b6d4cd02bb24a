//! Directories closed to other host users.
//!
//! berth runs as root and stores content from strangers: image layers carry
//! setuid binaries and device nodes. A store directory another host user can
//! walk into hands them those (moby's CVE-2021-41091), so every directory
//! berth creates is 0700, or 0711 where a container's user must traverse it.
//! Stores made by older versions are fixed when opened ([`restrict_dir`]).

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{fchmod, fstat, mkdir, Mode, OFlags};
use rustix::io::Errno;

/// Create `path` and any missing parents with `mode` (exactly; the umask does
/// not widen or narrow it), and make an existing `path` no more open than
/// `mode` (see [`restrict_dir`]). Parents that exist are left as they are.
pub fn create_private_dir(path: &Path, mode: u32) -> io::Result<()> {
    match mkdir(path, Mode::from_raw_mode(mode)) {
        // mkdir's mode went through the umask, which may have narrowed it
        // (0711 under umask 077 is 0700: a container's user could not
        // traverse): set it exactly, on the directory just made.
        Ok(()) => set_mode(path, mode),
        Err(Errno::EXIST) => restrict_dir(path, mode),
        Err(Errno::NOENT) => {
            let parent =
                path.parent().filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| io::Error::from(Errno::NOENT))?;
            create_private_dir(parent, mode)?;
            match mkdir(path, Mode::from_raw_mode(mode)) {
                Ok(()) => set_mode(path, mode),
                // Made meanwhile by another process.
                Err(Errno::EXIST) => restrict_dir(path, mode),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Set directory `path`'s mode to `mode`, through an fd opened without
/// following a symlink.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fchmod(open_dir(path)?, Mode::from_raw_mode(mode))?;
    Ok(())
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

/// If directory `path` grants any permission bit that `mode` does not (or has
/// setuid/setgid/sticky bits), set its mode to `mode`. Done on an fd opened
/// without following a symlink, so a link planted at `path` is refused
/// (ENOTDIR/ELOOP) rather than having its target's mode changed.
pub fn restrict_dir(path: &Path, mode: u32) -> io::Result<()> {
    let fd = open_dir(path)?;
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

    /// The umask narrows neither the new directory nor its new parents; a
    /// parent that existed keeps its mode. In a forked child: the umask is
    /// the whole process's.
    #[test]
    fn the_umask_does_not_narrow_the_mode() {
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        let deep = t.path().join("a/b");
        // SAFETY: the child sets the umask, makes two directories and exits.
        match unsafe { crate::process::fork() }.unwrap() {
            crate::process::Forked::Child => {
                rustix::process::umask(Mode::from_raw_mode(0o077));
                let ok = create_private_dir(&deep, 0o711).is_ok();
                crate::process::exit_immediately(if ok { 0 } else { 1 })
            }
            crate::process::Forked::Parent(pid) => {
                let (_, st) =
                    rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).unwrap().unwrap();
                assert_eq!(st.exit_status(), Some(0));
            }
        }
        assert_eq!((mode(&t.path().join("a")), mode(&deep)), (0o711, 0o711));
        assert_eq!(mode(t.path()), 0o750, "an existing parent is left alone");
        // A relative path whose parent is the current directory.
        assert!(create_private_dir(Path::new(""), 0o700).is_err());
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
