//! What `container inspect` shows of a container beyond its record: the
//! OCI config it runs with, where its files are, its image's digest, its
//! cgroup while it runs and, when asked, the size of its changes.

use std::io::{self, Write};
use std::path::PathBuf;

use serde_json::Value;

use super::{Container, State};
use crate::error::{Context as _, Result};
use crate::Engine;

/// A container with everything inspect reports of it.
#[derive(Debug, Clone)]
pub struct Details {
    pub container: Container,
    /// Its config.json (`null` if it was never written: a `configured`
    /// container that a crash left half made).
    pub config: Value,
    /// `<root>/container-data/<id>`: config.json, the log.
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    /// `<runroot>/userdata/<id>`: the files bound over its /etc/hostname,
    /// /etc/hosts, /etc/resolv.conf and /run/.containerenv.
    pub userdata_dir: PathBuf,
    /// Its log file (empty with the `none` log driver).
    pub log_path: PathBuf,
    /// The storage driver (`overlay`, `vfs`).
    pub driver: String,
    /// The manifest digest of its image, if the image is still here.
    pub image_digest: Option<String>,
    /// Its cgroup, while it runs, as the runtime made it.
    pub cgroup_path: Option<String>,
    /// With `size`: bytes its changes take (SizeRw) and its whole root
    /// filesystem, image included (SizeRootFs).
    pub size: Option<(u64, u64)>,
    /// Where each of its volumes is on the host, by name.
    pub volume_paths: std::collections::BTreeMap<String, PathBuf>,
    /// Its health as last recorded, when it has a healthcheck.
    pub health: Option<super::health::HealthState>,
}

impl Engine {
    /// Everything inspect shows of `c` (current: read again).
    pub fn inspect_container(&self, c: &Container, size: bool) -> Result<Details> {
        let mut c = self.container(&c.id)?;
        // A monitor that was killed looks after nothing (it left the
        // container running; see `refresh`).
        if !self.monitor_alive(&c.id) {
            c.monitor_pid = None;
        }
        let data_dir = self.bundle_dir(&c.id);
        let config_path = data_dir.join("config.json");
        let config = match std::fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).ctx(|| format!("decoding {}", config_path.display()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Value::Null,
            Err(e) => return Err(crate::Error::caused(format_args!("reading {}", config_path.display()), e)),
        };
        let layers = self.layers()?;
        let image = self.find(&c.image_id).ok().flatten();
        let cgroup_path = if c.state.is_live() { self.container_cgroup_path(&c.id) } else { None };
        let size = if size {
            let rw = self.changes_size(&c)?;
            Some((rw, rw + image.as_ref().map_or(0, |i| i.size)))
        } else {
            None
        };
        let volume_paths = c
            .mounts
            .iter()
            .filter_map(|m| m.volume())
            .filter_map(|n| self.volume(n).ok().map(|v| (v.name.clone(), v.data(&self.root))))
            .collect();
        Ok(Details {
            health: self.health(&c),
            volume_paths,
            log_path: self.log_file(&c).unwrap_or_default(),
            driver: layers.driver_name().to_string(),
            image_digest: image.map(|i| i.top.to_string()),
            cgroup_path,
            size,
            config,
            config_path,
            userdata_dir: self.userdata_dir(&c.id),
            data_dir,
            container: c,
        })
    }

    /// The bytes of the files container `c` added or changed (what a
    /// commit would hold); 0 for a container without a filesystem.
    pub(super) fn changes_size(&self, c: &Container) -> Result<u64> {
        if c.state == State::Configured {
            return Ok(0);
        }
        let mut count = TarSizes::default();
        match self.layers()?.container_diff(&c.id, &mut count) {
            Ok(()) => Ok(count.files),
            Err(storage::Error::ContainerNotKnown(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

/// A writer that reads a tar stream as it goes by and adds up the sizes
/// of its entries' contents (regular files), without keeping it.
#[derive(Default)]
struct TarSizes {
    /// What is left of the current 512-byte header.
    header: Vec<u8>,
    /// Bytes of entry data (and padding) still to skip.
    skip: u64,
    files: u64,
}

impl Write for TarSizes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.skip > 0 {
                let n = rest.len().min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                rest = &rest[n..];
                continue;
            }
            let n = rest.len().min(512 - self.header.len());
            self.header.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.header.len() == 512 {
                let size = octal(&self.header[124..136]);
                // Regular files only: long names and pax headers are
                // entries too, whose data is not the container's.
                if matches!(self.header[156], b'0' | 0 | b'7') {
                    self.files += size;
                }
                self.skip = size.div_ceil(512) * 512;
                self.header.clear();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A tar header's octal number (NUL- or space-terminated; GNU's base-256
/// form for big sizes too).
fn octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return field[1..].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    }
    field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .fold(0u64, |n, b| n * 8 + u64::from(b - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_sizes_add_up_file_contents() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, len) in [("a", 10usize), ("dir/b", 1000), (&"x".repeat(150), 3)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(len as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, vec![7u8; len].as_slice()).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        let mut count = TarSizes::default();
        // In odd pieces, as a writer gets them.
        for chunk in bytes.chunks(77) {
            count.write_all(chunk).unwrap();
        }
        assert_eq!(count.files, 1013);
    }
}
