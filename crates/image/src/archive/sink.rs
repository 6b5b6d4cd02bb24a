//! Where an archive is written: a directory, or a tar stream.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error, Result};

pub(crate) trait Sink {
    /// Add a file of exactly `size` bytes read from `src`.
    fn add_file(&mut self, rel: &str, src: &mut dyn Read, size: u64) -> Result<()>;

    fn add_bytes(&mut self, rel: &str, data: &[u8]) -> Result<()> {
        self.add_file(rel, &mut &data[..], data.len() as u64)
    }
}

/// Writes members as files under a directory.
pub(crate) struct DirSink {
    root: PathBuf,
}

impl DirSink {
    /// The directory must be new or empty: mixing with foreign content would
    /// produce a layout whose index.json does not describe its blobs.
    pub(crate) fn create(root: &Path) -> Result<Self> {
        if root.exists() {
            let mut rd = fs::read_dir(root).context(|| format!("reading {}", root.display()))?;
            if rd.next().is_some() {
                return Err(Error::Other(format!("output directory {} is not empty", root.display())));
            }
        }
        fs::create_dir_all(root).context(|| format!("creating {}", root.display()))?;
        Ok(DirSink { root: root.to_path_buf() })
    }
}

impl Sink for DirSink {
    fn add_file(&mut self, rel: &str, src: &mut dyn Read, size: u64) -> Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
        }
        let mut f = File::create(&path).context(|| format!("creating {}", path.display()))?;
        let n = io::copy(src, &mut f).context(|| format!("writing {}", path.display()))?;
        if n != size {
            return Err(Error::Other(format!("{rel}: wrote {n} bytes, expected {size}")));
        }
        f.sync_all().context(|| format!("syncing {}", path.display()))
    }
}

/// Writes members into a tar stream with fixed metadata (root-owned, 0644,
/// mtime 0) so the same images always give the same archive bytes.
pub(crate) struct TarSink<W: Write> {
    builder: tar::Builder<W>,
    dirs: std::collections::BTreeSet<String>,
}

impl<W: Write> TarSink<W> {
    pub(crate) fn new(w: W) -> Self {
        TarSink { builder: tar::Builder::new(w), dirs: Default::default() }
    }

    /// Emit parent directory entries once each, for tools that expect them.
    fn ensure_parents(&mut self, rel: &str) -> Result<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push_str(part);
            prefix.push('/');
            if self.dirs.insert(prefix.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                self.builder.append_data(&mut h, &prefix, io::empty()).context(|| format!("writing {prefix}"))?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<W> {
        self.builder.into_inner().context(|| "finishing tar".into())
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

impl<W: Write> Sink for TarSink<W> {
    fn add_file(&mut self, rel: &str, src: &mut dyn Read, size: u64) -> Result<()> {
        self.ensure_parents(rel)?;
        let mut h = header(tar::EntryType::Regular, 0o644, size);
        // `take` guards against a source growing under us; the tar crate pads a short one with an error.
        self.builder.append_data(&mut h, rel, src.take(size)).context(|| format!("writing {rel}"))
    }
}
