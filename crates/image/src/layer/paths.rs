//! Validation of entry names from a tar: what is refused before touching disk.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Turn a tar path into a clean relative path (`.` components and a leading
/// `./` dropped). The empty path names the target directory itself.
///
/// Absolute paths and `..` are refused outright rather than re-rooted: no tool
/// that makes layers writes them, so seeing one means a crafted archive.
pub(crate) fn clean(raw: &[u8]) -> Result<PathBuf, String> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let p = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("absolute path".into()),
            Component::ParentDir => return Err("path contains '..'".into()),
        }
    }
    Ok(out)
}

/// Split a clean path into (parent, file name); `None` for the root itself.
pub(crate) fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
    let name = rel.file_name()?;
    Some((rel.parent().unwrap_or(Path::new("")), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_refuses() {
        assert_eq!(clean(b"./a/./b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(clean(b"./").unwrap(), PathBuf::new());
        assert!(clean(b"/etc/passwd").unwrap_err().contains("absolute"));
        assert!(clean(b"a/../../x").unwrap_err().contains(".."));
        assert!(clean(b"a\0b").is_err());
        assert_eq!(split(Path::new("a/b")), Some((Path::new("a"), OsStr::new("b"))));
        assert_eq!(split(Path::new("a")), Some((Path::new(""), OsStr::new("a"))));
        assert_eq!(split(Path::new("")), None);
    }
}
