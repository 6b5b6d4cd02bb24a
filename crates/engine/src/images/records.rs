//! Image records: `<root>/image-records/<id hex>.json`, one file per image
//! ID (the config digest), as podman keys its images.
//!
//! A record says "this image is present" whether or not a name points at it
//! (podman lists unnamed images as `<none>`), and every manifest (and index)
//! digest the image was pulled or loaded under: pulling, saving and loading
//! the same image through other formats adds digests to one record instead
//! of making a second image. Names stay in the blob store's index (name ->
//! the digest the name was pulled or loaded as); an image's names are the
//! ones pointing at any of its digests, so each digest belongs to at most
//! one record (see [`Records::add`]).
//!
//! Read-modify-write updates happen under an exclusive flock on
//! `image-records/records.lock`; each file is replaced atomically, so readers
//! need no lock. Stores written before the ID keying have one
//! `<manifest hex>.json` per manifest holding `{top, manifest}`:
//! [`Records::legacy`] finds those and the engine converts them on open,
//! then marks the directory converted so that later opens skip the search.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use image::digest::Digest;
use serde::{Deserialize, Serialize};
use sys::fs::{Durability, FileLock};

use crate::error::{Context as _, Error, Result};

/// What a record on disk says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The image ID: its config digest.
    pub(crate) id: Digest,
    /// The image manifest describing the image (the one added last).
    pub(crate) manifest: Digest,
    /// What the image's names were last pulled or loaded as for `manifest`:
    /// an index for multi-platform images, else `manifest` itself.
    pub(crate) top: Digest,
    /// Every manifest and index digest the image came under, oldest first
    /// (`manifest` and `top` included).
    pub(crate) digests: Vec<Digest>,
}

impl Record {
    pub(crate) fn new(id: Digest, top: Digest, manifest: Digest) -> Record {
        let mut r = Record { id, manifest: manifest.clone(), top: top.clone(), digests: Vec::new() };
        r.note(&top, &manifest);
        r
    }

    /// The image came (again) as `top` -> `manifest`: those become its
    /// current digests, the newest in the list.
    pub(crate) fn note(&mut self, top: &Digest, manifest: &Digest) {
        for d in [manifest, top] {
            self.digests.retain(|x| x != d);
            self.digests.push(d.clone());
        }
        self.manifest = manifest.clone();
        self.top = top.clone();
    }
}

/// A record from before images were keyed by ID.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LegacyRecord {
    pub(crate) top: Digest,
    pub(crate) manifest: Digest,
}

/// The record directory.
pub(crate) struct Records {
    dir: PathBuf,
}

/// Name of the lock file in the record directory (not a `.json`: never listed).
const LOCK: &str = "records.lock";

/// Present once the directory holds no legacy record (not a `.json` either):
/// from then on no command reads every record to look for one.
const KEYED_BY_ID: &str = "keyed-by-id";

impl Records {
    pub(crate) fn at(root: &Path) -> Records {
        Records { dir: root.join("image-records") }
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Create the directory (closed to other users: what the records name
    /// is content from strangers) and fix the mode of an older one.
    pub(crate) fn create(&self) -> Result<()> {
        sys::fs::create_private_dir(&self.dir, 0o700).ctx(|| format!("creating {}", self.dir.display()))
    }

    /// Whether every record is known to be current ([`mark_converted`](Self::mark_converted)).
    pub(crate) fn converted(&self) -> bool {
        self.dir.join(KEYED_BY_ID).exists()
    }

    /// Say that no legacy record is left (what berth writes never is one).
    pub(crate) fn mark_converted(&self) -> Result<()> {
        let p = self.dir.join(KEYED_BY_ID);
        sys::fs::write_atomic(&p, b"", 0o600, Durability::Durable).ctx(|| format!("writing {}", p.display()))
    }

    /// Hold for a read-modify-write of records. Records are written only
    /// under this lock, so a temp file found while holding it is what a
    /// killed writer left: removed here.
    pub(crate) fn lock(&self) -> Result<FileLock> {
        self.create()?;
        let p = self.dir.join(LOCK);
        let lock = FileLock::exclusive(&p).ctx(|| format!("locking {}", p.display()))?;
        sys::fs::atomic::remove_stale_temps(&self.dir)
            .ctx(|| format!("removing stale temp files in {}", self.dir.display()))?;
        Ok(lock)
    }

    fn path(&self, id: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", id.hex()))
    }

    /// The `.json` files in the directory (a missing directory has none).
    fn files(&self) -> Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::new(format!("listing {}: {e}", self.dir.display()))),
        };
        let mut out = Vec::new();
        for e in entries {
            let path = e.ctx(|| format!("listing {}", self.dir.display()))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") && !name.starts_with('.') {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// Every current record. Legacy ones are skipped (see [`legacy`](Self::legacy)).
    pub(crate) fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for path in self.files()? {
            // A record removed by a concurrent rmi between listing and reading is just gone.
            let Ok(data) = fs::read(&path) else { continue };
            match parse(&data).ctx(|| format!("corrupt image record {}", path.display()))? {
                Parsed::Current(r) => out.push(r),
                Parsed::Legacy(_) => {}
            }
        }
        Ok(out)
    }

    /// Records in the format from before ID keying, with their paths.
    pub(crate) fn legacy(&self) -> Result<Vec<(PathBuf, LegacyRecord)>> {
        let mut out = Vec::new();
        for path in self.files()? {
            let Ok(data) = fs::read(&path) else { continue };
            if let Ok(Parsed::Legacy(l)) = parse(&data) {
                out.push((path, l));
            }
        }
        Ok(out)
    }

    pub(crate) fn get(&self, id: &Digest) -> Result<Option<Record>> {
        let path = self.path(id);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::new(format!("reading {}: {e}", path.display()))),
        };
        match parse(&data).ctx(|| format!("corrupt image record {}", path.display()))? {
            Parsed::Current(r) => Ok(Some(r)),
            Parsed::Legacy(_) => Ok(None),
        }
    }

    /// Replace the record for `r.id` (under [`lock`](Self::lock)).
    pub(crate) fn write(&self, r: &Record) -> Result<()> {
        self.create()?;
        let data = serde_json::to_vec(r).ctx(|| "encoding image record".into())?;
        let dest = self.path(&r.id);
        sys::fs::write_atomic(&dest, &data, 0o600, Durability::Durable).ctx(|| format!("writing {}", dest.display()))
    }

    /// Record that image `id` came as `top` -> `manifest`, under the lock:
    /// merged into its record (made if new). An index digest names one
    /// platform's image at a time, so `top` leaves any other record holding
    /// it, as a tag moves to the image pulled last. Returns the record.
    pub(crate) fn add(&self, id: &Digest, top: &Digest, manifest: &Digest) -> Result<Record> {
        let _l = self.lock()?;
        if top != manifest {
            for mut other in self.list()?.into_iter().filter(|o| o.id != *id && o.digests.contains(top)) {
                other.digests.retain(|d| d != top);
                if other.top == *top {
                    other.top = other.manifest.clone();
                }
                self.write(&other)?;
            }
        }
        let record = match self.get(id)? {
            Some(mut r) => {
                r.note(top, manifest);
                r
            }
            None => Record::new(id.clone(), top.clone(), manifest.clone()),
        };
        self.write(&record)?;
        Ok(record)
    }

    /// Remove the record of `id`; a missing one is fine.
    pub(crate) fn remove(&self, id: &Digest) -> Result<()> {
        remove_file(&self.path(id))
    }
}

pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new(format!("removing {}: {e}", path.display()))),
    }
}

enum Parsed {
    Current(Record),
    Legacy(LegacyRecord),
}

fn parse(data: &[u8]) -> serde_json::Result<Parsed> {
    let v: serde_json::Value = serde_json::from_slice(data)?;
    if v.get("id").is_some() {
        serde_json::from_value(v).map(Parsed::Current)
    } else {
        serde_json::from_value(v).map(Parsed::Legacy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(s.as_bytes())
    }

    #[test]
    fn one_record_per_id_collects_digests() {
        let t = tempfile::tempdir().unwrap();
        let r = Records::at(t.path());
        r.add(&d("id"), &d("m1"), &d("m1")).unwrap();
        r.add(&d("id"), &d("m2"), &d("m2")).unwrap();
        r.add(&d("id"), &d("m1"), &d("m1")).unwrap();
        let all = r.list().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].digests, [d("m2"), d("m1")]);
        assert_eq!((&all[0].manifest, &all[0].top), (&d("m1"), &d("m1")));
    }

    #[test]
    fn an_index_digest_moves_to_the_image_pulled_last() {
        let t = tempfile::tempdir().unwrap();
        let r = Records::at(t.path());
        r.add(&d("arm"), &d("index"), &d("m-arm")).unwrap();
        r.add(&d("amd"), &d("index"), &d("m-amd")).unwrap();
        let arm = r.get(&d("arm")).unwrap().unwrap();
        assert_eq!(arm.digests, [d("m-arm")]);
        assert_eq!(arm.top, d("m-arm"));
        assert_eq!(r.get(&d("amd")).unwrap().unwrap().digests, [d("m-amd"), d("index")]);
    }

    #[test]
    fn temp_files_of_killed_writers_go_with_the_next_update() {
        let t = tempfile::tempdir().unwrap();
        let r = Records::at(t.path());
        r.create().unwrap();
        let left = r.dir().join(format!(".{}.json{}abc123", d("id").hex(), sys::fs::atomic::TEMP_INFIX));
        fs::write(&left, b"{\"id\":").unwrap();
        r.add(&d("id"), &d("m"), &d("m")).unwrap();
        assert!(!left.exists());
        assert_eq!(r.list().unwrap().len(), 1);
    }

    #[test]
    fn legacy_records_are_told_apart() {
        let t = tempfile::tempdir().unwrap();
        let r = Records::at(t.path());
        r.create().unwrap();
        let old = format!(r#"{{"top":"{}","manifest":"{}"}}"#, d("m"), d("m"));
        fs::write(r.dir().join(format!("{}.json", d("m").hex())), old).unwrap();
        r.add(&d("id"), &d("x"), &d("x")).unwrap();
        assert_eq!(r.list().unwrap().len(), 1);
        let legacy = r.legacy().unwrap();
        assert_eq!(legacy.len(), 1);
        assert_eq!(legacy[0].1.manifest, d("m"));
    }
}
