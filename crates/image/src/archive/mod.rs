//! Image archives: read and write `oci-dir`, `oci-archive` and `docker-archive`.
//!
//! Loading detects the format (directory vs tar, `oci-layout` vs
//! `manifest.json`, gzip or zstd by magic), verifies every blob against its
//! digest and only then copies into the store and tags, so a bad archive
//! leaves the store's images untouched. Saving writes tar output to a temp
//! file renamed into place, so a failed save leaves no half archive behind.

mod plan;
mod read_docker;
mod read_oci;
mod sink;
mod source;
mod write_docker;
mod write_oci;

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Context as _, Error, Result};
use crate::reference::Reference;
use crate::store::Store;

use plan::Plan;
use sink::{DirSink, Sink, TarSink};
use source::Source;

/// OCI annotation naming an image in index.json.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd / docker's full image name annotation.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout directory.
    OciDir,
    /// A tar of an OCI image layout.
    OciArchive,
    /// `docker save` format.
    DockerArchive,
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "oci-dir" | "oci" => Ok(Format::OciDir),
            "oci-archive" => Ok(Format::OciArchive),
            "docker-archive" => Ok(Format::DockerArchive),
            other => Err(Error::Other(format!(
                "unknown archive format {other:?} (want oci-dir, oci-archive or docker-archive)"
            ))),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::OciDir => "oci-dir",
            Format::OciArchive => "oci-archive",
            Format::DockerArchive => "docker-archive",
        })
    }
}

/// An image in an archive: its name (if it has one) and manifest digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveImage {
    pub reference: Option<Reference>,
    pub manifest: Digest,
}

impl ArchiveImage {
    pub fn new(reference: Option<Reference>, manifest: Digest) -> Self {
        ArchiveImage { reference, manifest }
    }
}

/// Called while a tar archive is extracted, once per regular file member as
/// soon as it is complete: the extracted file's path and its sha256 (computed
/// on the way in). Later members are still to come, and nothing is verified
/// against the archive's metadata yet; the file stays readable (open it now:
/// it is moved into the store once the whole archive is verified).
pub type MemberHook<'a> = &'a mut dyn FnMut(&Path, &Digest);

/// Load every image from an archive path (directory or tar file, maybe gzip'd or zstd'd).
/// Named images are tagged in the store; one entry per name (or one unnamed).
pub fn load(path: &Path, store: &Store) -> Result<Vec<ArchiveImage>> {
    load_with(path, store, &mut |_, _| {})
}

/// [`load`], calling `hook` for each member extracted from a tar (see [`MemberHook`]).
pub fn load_with(path: &Path, store: &Store, hook: MemberHook<'_>) -> Result<Vec<ArchiveImage>> {
    if path.is_dir() {
        return load_source(&Source::dir(path), store);
    }
    let f = File::open(path).context(|| format!("opening {}", path.display()))?;
    load_reader_with(f, store, hook)
}

/// Load from a tar stream (e.g. stdin), maybe gzip'd or zstd'd.
pub fn load_reader(reader: impl Read, store: &Store) -> Result<Vec<ArchiveImage>> {
    load_reader_with(reader, store, &mut |_, _| {})
}

/// [`load_reader`], calling `hook` for each extracted member (see [`MemberHook`]).
pub fn load_reader_with(reader: impl Read, store: &Store, hook: MemberHook<'_>) -> Result<Vec<ArchiveImage>> {
    let src = Source::tar_with(reader, store, hook)?;
    load_source(&src, store)
}

/// Which format a loaded source is in. OCI wins when both are present (docker
/// 25+ writes both): it preserves the original manifests and their digests.
fn detect(src: &Source) -> Result<Format> {
    if src.exists("oci-layout") && src.exists("index.json") {
        Ok(Format::OciArchive)
    } else if src.exists("manifest.json") {
        Ok(Format::DockerArchive)
    } else {
        Err(Error::InvalidArchive(
            "neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)".into(),
        ))
    }
}

fn load_source(src: &Source, store: &Store) -> Result<Vec<ArchiveImage>> {
    let mut plan = Plan::for_source(src);
    match detect(src)? {
        Format::DockerArchive => read_docker::read(src, &mut plan)?,
        Format::OciDir | Format::OciArchive => read_oci::read(src, &mut plan)?,
    }
    plan.import(store)
}

/// Save images to `out`: a directory for `OciDir`, a file otherwise.
///
/// A file is written to a temp file beside it (mode 0644, as podman's) and
/// renamed into place, so a failed save leaves no half archive and no
/// temp file; errors name `out`, never the temp file. A path that is not a
/// regular file (`/dev/stdout`, a FIFO) is written to as it is: renaming over
/// it would replace the device node. A symlink to a file is followed, as an
/// open would.
pub fn save(store: &Store, images: &[ArchiveImage], format: Format, out: &Path) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Other("no images to save".into()));
    }
    if format == Format::OciDir {
        return write_to(store, images, format, &mut DirSink::create(out)?);
    }
    let opening = |e: &std::io::Error| {
        Error::Other(format!("opening file {:?}: open {}: {}", out.display().to_string(), out.display(), os_text(e)))
    };
    let target = match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => return Err(opening(&rustix::io::Errno::ISDIR.into())),
        Ok(m) if !m.is_file() => {
            let f = std::fs::OpenOptions::new().write(true).open(out).map_err(|e| opening(&e))?;
            save_to_writer(store, images, format, f)?;
            return Ok(());
        }
        // As podman's docker-archive transport: an archive already there is
        // refused rather than replaced (an empty file is fine).
        Ok(m) if format == Format::DockerArchive && m.len() > 0 => {
            return Err(Error::Other("docker-archive doesn't support modifying existing images".into()))
        }
        Ok(_) => std::fs::canonicalize(out).map_err(|e| opening(&e))?,
        Err(_) => out.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".berth-save-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| opening(&e))?;
    // tempfile's mode is subject to the umask: set it exactly.
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| opening(&e))?;
    let file = save_to_writer(store, images, format, tmp.as_file())?;
    file.sync_all().context(|| format!("syncing {}", out.display()))?;
    tmp.persist(&target).map_err(|e| Error::Other(format!("writing {}: {}", out.display(), os_text(&e.error))))?;
    Ok(())
}

/// An OS error as Go (and so podman) words it: "no such file or
/// directory", without Rust's "(os error 2)" or a path a wrapper added
/// (tempfile's errors carry the temp file's name and no OS error code: their
/// kind says it).
fn os_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    if let Some(n) = e.raw_os_error() {
        let text = std::io::Error::from_raw_os_error(n).to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        return match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
    }
    match e.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::AlreadyExists => "file exists",
        K::IsADirectory => "is a directory",
        K::NotADirectory => "not a directory",
        K::ReadOnlyFilesystem => "read-only file system",
        K::StorageFull => "no space left on device",
        K::QuotaExceeded => "disk quota exceeded",
        _ => "input/output error",
    }
    .to_string()
}

/// Write a tar format (`OciArchive` or `DockerArchive`) to a stream.
pub fn save_to_writer<W: Write>(store: &Store, images: &[ArchiveImage], format: Format, w: W) -> Result<W> {
    if format == Format::OciDir {
        return Err(Error::Other("oci-dir is a directory; use save() with a path".into()));
    }
    let mut sink = TarSink::new(w);
    write_to(store, images, format, &mut sink)?;
    sink.finish()
}

fn write_to(store: &Store, images: &[ArchiveImage], format: Format, sink: &mut dyn Sink) -> Result<()> {
    match format {
        Format::DockerArchive => write_docker::write(store, images, sink),
        Format::OciDir | Format::OciArchive => write_oci::write(store, images, sink),
    }
}

#[cfg(test)]
mod tests;
