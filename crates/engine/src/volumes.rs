//! Named volumes, as podman keeps them: `<root>/volumes/<name>/_data` is
//! what containers mount, `<root>/volumes/<name>/volume.json` what `volume
//! inspect` shows. Creating and removing happen under `<root>/volumes.lock`
//! (exclusive), so two creates of one name cannot both win and a volume is
//! not removed while a container is being recorded with it (containers
//! take it shared while they resolve their volumes; see `containers::mounts`).
//! The directories are 0700 (a volume's own `_data` keeps the mode the
//! image's content or the user gives it, behind them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sys::fs::{Durability, FileLock, LockMode};

use crate::error::{Context as _, Error, ErrorKind, Result};
use crate::events::{self, Status};
use crate::Engine;

/// One volume as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// Always "local": the only driver.
    pub driver: String,
    pub created: SystemTime,
    pub labels: BTreeMap<String, String>,
    /// `-o` options of the local driver (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Made for one container's anonymous volume (`-v /path`, an image's
    /// VOLUME): removed with it by `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
    /// Still to be filled from the image's content at its mount point, on
    /// first use by a container (podman's NeedsCopyUp).
    #[serde(default)]
    pub needs_copy_up: bool,
}

impl Volume {
    /// What containers mount.
    pub fn data(&self, root: &Path) -> PathBuf {
        volume_dir(root, &self.name).join("_data")
    }
}

fn volume_dir(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name)
}

/// podman's rule for volume names (the container name rule).
pub fn validate_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        Ok(())
    } else {
        Err(Error::new(format!("volume name {name:?} must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")))
    }
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!("no volume with name \"{name}\" found: no such volume"))
}

impl Engine {
    /// `<root>/volumes.lock`, in `mode`.
    pub(crate) fn volumes_lock(&self, mode: LockMode) -> Result<FileLock> {
        let p = self.root.join("volumes.lock");
        FileLock::acquire(&p, mode).ctx(|| format!("locking {}", p.display()))
    }

    /// Create a volume (a random 64-hex name when `name` is `None`).
    pub fn volume_create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let _lock = self.volumes_lock(LockMode::Exclusive)?;
        self.volume_create_locked(name, labels, options, false)
    }

    /// [`Engine::volume_create`] with the volumes lock held (exclusive).
    pub(crate) fn volume_create_locked(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        for key in options.keys() {
            if !["type", "device", "o"].contains(&key.as_str()) {
                return Err(Error::new(format!("invalid mount option {key} for driver 'local': invalid argument")));
            }
        }
        let name = match name {
            Some(n) => {
                validate_name(n)?;
                n.to_string()
            }
            None => crate::containers::new_id()?,
        };
        let dir = volume_dir(&self.root, &name);
        if dir.join("volume.json").exists() {
            let mut e = Error::new(format!("volume with name {name} already exists: volume already exists"));
            e.kind = ErrorKind::InUse;
            return Err(e);
        }
        for d in [self.root.join("volumes"), dir.clone()] {
            sys::fs::create_private_dir(&d, 0o700).ctx(|| format!("creating {}", d.display()))?;
        }
        let data = dir.join("_data");
        match std::fs::create_dir(&data) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::caused(format_args!("creating {}", data.display()), e)),
        }
        // A bind or tmpfs volume is mounted over `_data`: nothing to copy up.
        let needs_copy_up = options.is_empty();
        let v = Volume {
            name,
            driver: "local".into(),
            created: SystemTime::now(),
            labels,
            options,
            anonymous,
            needs_copy_up,
        };
        self.save_volume(&v)?;
        events::volume(self.runroot(), Status::Create, &v.name);
        Ok(v)
    }

    pub(crate) fn save_volume(&self, v: &Volume) -> Result<()> {
        let path = volume_dir(&self.root, &v.name).join("volume.json");
        let bytes = serde_json::to_vec_pretty(v).ctx(|| "encoding volume.json".into())?;
        sys::fs::write_atomic(&path, &bytes, 0o600, Durability::Durable).ctx(|| format!("writing {}", path.display()))
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let dir = self.root.join("volumes");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::caused(format_args!("listing {}", dir.display()), e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            if let Some(v) = e.file_name().to_str().and_then(|n| self.volume(n).ok()) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One volume by its name.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        if validate_name(name).is_err() {
            return Err(not_found(name));
        }
        let path = volume_dir(&self.root, name).join("volume.json");
        let bytes = match sys::fs::read_regular(&path, 1 << 20) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(name)),
            Err(e) => return Err(Error::caused(format_args!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes).ctx(|| format!("reading {}", path.display()))
    }

    /// The containers whose mounts name volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<crate::containers::Container>> {
        Ok(self
            .container_records()?
            .into_iter()
            .filter(|c| c.mounts.iter().any(|m| m.volume() == Some(name)))
            .collect())
    }

    /// Remove volume `name`: refused while a container uses it, unless
    /// `force`, which removes those containers first (podman's rule).
    pub fn volume_remove(&self, name: &str, force: bool, stop_timeout: std::time::Duration) -> Result<()> {
        let v = self.volume(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            if !force {
                let ids: Vec<&str> = users.iter().map(|c| c.id.as_str()).collect();
                return Err(Error::in_use(format!(
                    "volume {name} is being used by the following container(s): {}: volume is being used",
                    ids.join(", ")
                )));
            }
            for c in &users {
                self.remove_container(c, true, stop_timeout, false)?;
            }
        }
        let _lock = self.volumes_lock(LockMode::Exclusive)?;
        // Checked again under the lock: a container recorded meanwhile wins.
        if !force && !self.volume_users(name)?.is_empty() {
            return Err(Error::in_use(format!("volume {name} is being used: volume is being used")));
        }
        self.remove_volume_locked(&v)
    }

    pub(crate) fn remove_volume_locked(&self, v: &Volume) -> Result<()> {
        let dir = volume_dir(&self.root, &v.name);
        // The record first: a crash then leaves a directory no listing shows.
        match std::fs::remove_file(dir.join("volume.json")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&v.name)),
            Err(e) => return Err(Error::caused(format_args!("removing {}", dir.display()), e)),
        }
        std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))?;
        events::volume(self.runroot(), Status::Remove, &v.name);
        Ok(())
    }

    /// Remove every volume no container uses; their names.
    pub fn volume_prune(&self) -> Result<Vec<String>> {
        self.volume_prune_where(|_| true)
    }

    /// [`Engine::volume_prune`] of the volumes `pick` takes (`system prune`'s filters).
    pub fn volume_prune_where(&self, pick: impl Fn(&Volume) -> bool) -> Result<Vec<String>> {
        let _lock = self.volumes_lock(LockMode::Exclusive)?;
        let used: std::collections::HashSet<String> = self
            .container_records()?
            .iter()
            .flat_map(|c| c.mounts.iter().filter_map(|m| m.volume().map(String::from)))
            .collect();
        let mut removed = Vec::new();
        for v in self.volumes()? {
            if !used.contains(&v.name) && pick(&v) {
                self.remove_volume_locked(&v)?;
                events::volume(self.runroot(), Status::Prune, &v.name);
                removed.push(v.name);
            }
        }
        Ok(removed)
    }
}
