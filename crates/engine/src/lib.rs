//! The library every berth front end calls: images (in the blob store and
//! unpacked in the layer store) and containers (records, root filesystems,
//! OCI bundles, running them through the in-process runtime). Nothing here
//! knows the command line exists.

pub mod build_cache;
pub mod completion;
pub mod config;
pub mod containers;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod images;
pub mod login;
pub mod networks;
pub mod prune;
pub mod remote;
pub mod units;
pub mod volumes;

use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use error::{Error, ErrorKind, Result};
pub use images::Image;

use crate::error::Context as _;

/// Where berth keeps things when the user does not say.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUNROOT: &str = "/run/berth";

/// The `--root`/`--runroot`/`--storage-driver` every command honours.
pub struct Engine {
    pub blobs: image::store::Store,
    root: PathBuf,
    runroot: PathBuf,
    driver: Option<String>,
    layers: OnceCell<storage::Store>,
    /// The container database, opened once per process (see `Engine::db`).
    db: RefCell<Option<(u32, Rc<containers::db::Db>)>>,
}

/// An engine's store, to open another engine on in another thread.
#[derive(Debug, Clone)]
pub struct Handle {
    root: PathBuf,
    runroot: PathBuf,
    driver: Option<String>,
}

impl Handle {
    /// An engine on the store. The image store is not swept again, as
    /// [`Engine::open`] does: this process's other threads may be writing
    /// to it.
    pub fn engine(&self) -> Engine {
        Engine::with_blobs(image::store::Store::existing(&self.root), &self.root, &self.runroot, self.driver.as_deref())
    }
}

impl Engine {
    pub fn open(root: &Path, runroot: &Path, driver: Option<&str>) -> Result<Engine> {
        // Absolute, as podman makes them: containers' configs, monitors and
        // runtimes are handed these paths and run from other directories.
        let root = &std::path::absolute(root).ctx(|| format!("resolving {}", root.display()))?;
        let runroot = &std::path::absolute(runroot).ctx(|| format!("resolving {}", runroot.display()))?;
        let blobs = image::store::Store::open(root).ctx(|| format!("opening image store {}", root.display()))?;
        containers::private_dirs(root, runroot)?;
        let engine = Engine::with_blobs(blobs, root, runroot, driver);
        engine.convert_legacy_records()?;
        Ok(engine)
    }

    fn with_blobs(blobs: image::store::Store, root: &Path, runroot: &Path, driver: Option<&str>) -> Engine {
        Engine {
            blobs,
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            driver: driver.map(String::from),
            layers: OnceCell::new(),
            db: RefCell::new(None),
        }
    }

    /// What opens another engine on this one's store in another thread (an
    /// engine is not shared between threads: a build's parallel stages
    /// each use one).
    pub fn handle(&self) -> Handle {
        Handle { root: self.root.clone(), runroot: self.runroot.clone(), driver: self.driver.clone() }
    }

    /// The engine of a container's monitor, which the berth that started it
    /// opened just before (`open` made the directories and swept the image
    /// store): it reads no image, so that is not done again on its way to
    /// starting the container.
    pub(crate) fn open_for_monitor(root: &Path, runroot: &Path, driver: Option<&str>) -> Engine {
        Engine::with_blobs(image::store::Store::existing(root), root, runroot, driver)
    }

    /// The layer store, opened on first use: listing names needs no driver
    /// probe, and opening cleans crash leftovers, which only writers need.
    pub fn layers(&self) -> Result<&storage::Store> {
        if let Some(s) = self.layers.get() {
            return Ok(s);
        }
        let s = storage::Store::open(&self.root, &self.runroot, self.driver.as_deref())
            .ctx(|| format!("opening layer store {}", self.root.display()))?;
        Ok(self.layers.get_or_init(|| s))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }
}
