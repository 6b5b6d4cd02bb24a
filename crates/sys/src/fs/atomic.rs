//! Replacing a file atomically: readers see the old content or the new,
//! never a torn write.
//!
//! The new content goes to a temp file with a unique random name in the same
//! directory, created with O_CREAT|O_EXCL (which never follows a symlink, so a
//! planted link cannot redirect the write), then renamed over the target
//! (rename replaces a symlink at the target rather than following it).

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Whether the new content must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after: for
    /// anything persistent (configs, records, indexes under `--root`).
    Durable,
    /// fsync the file, not the directory: for a batch of files in one
    /// directory whose last write is `Durable` (its directory fsync makes
    /// every rename before it durable too). One directory fsync instead of
    /// one per file.
    DataThenBatch,
    /// Atomic for readers only: for state that dies with its processes
    /// anyway (runtime state under `--runroot`, pid files). Each fsync costs
    /// 0.5-10 ms on a disk-backed root.
    ReplaceOnly,
}

impl Durability {
    /// For a file written before the last of a batch in one directory
    /// whose last write is `self`: `DataThenBatch` if that one is
    /// `Durable`, else as it is.
    pub fn batched(self) -> Durability {
        match self {
            Durability::Durable => Durability::DataThenBatch,
            other => other,
        }
    }
}

/// Prefix of the temp files [`write_atomic`] makes (`.<name>.tmp-XXXXXX`), so
/// sweeps can tell them from real entries.
pub const TEMP_INFIX: &str = ".tmp-";

/// The prefix of the temp files [`write_atomic`] makes for a file named
/// `name`: `.<name>.tmp-`.
pub fn temp_prefix(name: &OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(TEMP_INFIX);
    prefix
}

/// Whether `name` (a file name, no directory) is that of a temp file
/// [`write_atomic`] makes: it starts with `.` and carries [`TEMP_INFIX`].
pub fn is_temp_name(name: &OsStr) -> bool {
    let (name, infix) = (name.as_encoded_bytes(), TEMP_INFIX.as_bytes());
    name.starts_with(b".") && name.windows(infix.len()).any(|w| w == infix)
}

/// Remove the temp files [`write_atomic`] calls killed midway left in `dir`
/// (see [`is_temp_name`]; a missing `dir` has none, and one removed
/// meanwhile is fine). Only for a caller that holds the lock every writer
/// into `dir` takes: a live writer's temp file looks the same.
pub fn remove_stale_temps(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if is_temp_name(&entry.file_name()) {
            match std::fs::remove_file(entry.path()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Replace `path` with `data`, file mode `mode` (exactly: the umask does not apply).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, durability: Durability) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file name", path.display())))?;
    let mut tmp = tempfile::Builder::new().prefix(&temp_prefix(name)).tempfile_in(dir)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(data)?;
    if matches!(durability, Durability::Durable | Durability::DataThenBatch) {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durability == Durability::Durable {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_and_sets_mode() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f.json");
        write_atomic(&p, b"one", 0o600, Durability::Durable).unwrap();
        write_atomic(&p, b"two", 0o644, Durability::ReplaceOnly).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn stale_temps_go_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let keep = ["f.json", ".hidden", "x.tmp-1", "refs.json.tmp"];
        for name in keep.iter().chain(&[".f.json.tmp-abc123", ".tmp-x"]) {
            std::fs::write(t.path().join(name), b"x").unwrap();
        }
        remove_stale_temps(t.path()).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want = keep.map(String::from).to_vec();
        want.sort();
        assert_eq!(left, want);
        remove_stale_temps(&t.path().join("missing")).unwrap();
    }

    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let p = t.path().join("pidfile");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write_atomic(&p, b"123", 0o644, Durability::ReplaceOnly).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&p).unwrap().is_file());
    }
}
