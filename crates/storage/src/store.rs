//! The layer store: layers by chain ID, each unpacked once and shared, and
//! container root filesystems made from them.
//!
//! On disk, below `<root>/<driver>/`:
//! - `layers/<chain hex>/{diff/,layer.json}`: a layer; the directory appears
//!   by one rename from `staging/`, so it is complete or absent;
//! - `staging/`: unpacks and removals in progress (flocked by their owner;
//!   unlocked ones are crash leftovers, removed on open);
//! - `containers/<id>/`: per-container driver data + `container.json`;
//! - `refs.json`: which holders (images) use which layers; containers' use
//!   is their `container.json` (see [`Store::holders`]);
//! - `store.lock`: flock serialising every metadata change across processes;
//! - overlay only: `l/<short>` links to layer diffs for short mount options.
//!
//! Below `<runroot>/<driver>/`: `containers/<id>/rootfs` mount points and,
//! beside each, `mounts` (its mount count, see `mounts`); `staging/`: removed
//! containers' mounts until they are unmounted (as `staging/` above: unlocked
//! ones, left by a crash, are unmounted and removed on open).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use image::digest::{Digest, DigestWriter};
use serde::{Deserialize, Serialize};
use sys::fs::{Durability, FileLock};

use crate::chain::ChainId;
use crate::driver::{self, Driver, LayerDirs, MountPoint, Writes};
use crate::error::{Context, Error, Result};
use crate::meta;
use crate::mounts::{self, Count};
use crate::staging::{self, Staging};

/// What the store knows about a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub chain_id: ChainId,
    pub diff_id: Digest,
    pub parent: Option<ChainId>,
    /// Uncompressed tar size.
    pub size: u64,
    /// Digest of the blob as it was given (compressed or not).
    pub compressed_digest: Digest,
    /// Name of the layer's link in `<root>/overlay/l`.
    pub short_id: String,
}

/// A layer unpacked by [`Store::stage_layer`] and not yet visible; dropping
/// it removes its staging dir.
pub struct StagedLayer {
    stage: Staging,
    info: LayerInfo,
}

impl StagedLayer {
    pub fn info(&self) -> &LayerInfo {
        &self.info
    }
}

/// A container's changes taken as a new layer's content by
/// [`Store::adopt_container_layer`], not yet visible: its tar goes to the
/// blob store through [`AdoptedLayer::write_tar`], then
/// [`Store::commit_adopted`] makes it a layer. Dropping it removes it (and
/// with it the container's changes).
pub struct AdoptedLayer {
    stage: Staging,
    parent: Option<ChainId>,
    /// The tar's digest (the layer's diff_id) and size, once written.
    written: Option<(Digest, u64)>,
}

impl AdoptedLayer {
    /// The layer it goes on top of: the container's image's top layer.
    pub fn parent(&self) -> Option<&ChainId> {
        self.parent.as_ref()
    }

    /// Write the layer's tar (uncompressed, what [`Store::container_diff`]
    /// writes for the container it came from) to `out`; returns its
    /// digest, the layer's diff_id, and size.
    pub fn write_tar(&mut self, out: impl Write) -> Result<(Digest, u64)> {
        let diff = self.stage.path().join("diff");
        let out = image::layer::create(&diff, image::layer::Source::OverlayUpper, DigestWriter::new(out))?;
        let (_, digest, size) = out.finish().context(|| "write the layer tar".into())?;
        self.written = Some((digest.clone(), size));
        Ok((digest, size))
    }
}

impl std::fmt::Debug for AdoptedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoptedLayer").field("path", &self.stage.path()).field("parent", &self.parent).finish()
    }
}

impl std::fmt::Debug for StagedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedLayer").field("path", &self.stage.path()).field("info", &self.info).finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerMeta {
    id: String,
    layers: Vec<ChainId>,
    /// Absent in containers made before it existed.
    #[serde(default)]
    writes: Writes,
    /// What the driver made for it to share with other containers
    /// ([`Driver::create_container`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shared: Option<String>,
}

/// holder -> layers it uses.
type Refs = BTreeMap<String, Vec<ChainId>>;

pub struct Store {
    /// `<root>/<driver>`
    root: PathBuf,
    /// `<runroot>/<driver>`
    runroot: PathBuf,
    driver: Box<dyn Driver>,
}

impl Store {
    /// Open (creating if needed) the store under `root` and `runroot`.
    /// `driver`: "overlay" or "vfs"; `None` keeps the driver the store was
    /// made with, or picks overlay when a probe mount works, else vfs.
    /// Leftovers of crashed unpacks are removed.
    pub fn open(root: &Path, runroot: &Path, driver: Option<&str>) -> Result<Store> {
        let choice = driver::choose(root, driver)?;
        let driver = choice.driver;
        let store = Store { root: root.join(driver.name()), runroot: runroot.join(driver.name()), driver };
        // A store made before its directories were private has an open
        // driver root: close everything it made, once.
        let old = [&store.root, &store.runroot].into_iter().any(|d| is_open(d));
        for d in [
            &store.root,
            &store.layers_dir(),
            &store.staging_dir(),
            &store.root.join("containers"),
            &store.runroot,
            &store.runroot.join("containers"),
            &store.run_staging_dir(),
        ] {
            private_dir(d)?;
        }
        let _g = store.lock()?;
        if old {
            store.close_old_dirs()?;
        }
        if let Some(why) = &choice.overlay_unusable {
            meta::write_json(&store.root.join(OVERLAY_UNUSABLE), why, Durability::Durable)?;
        }
        // Mounts first: the directories below use them.
        // A discarded container's runroot dir, staged itself (or, before,
        // as `run` in a staging dir).
        staging::clean_stale(&store.run_staging_dir(), |stage| {
            unmount_all(&stage.join("rootfs"))?;
            unmount_all(&stage.join(OLD_RUN).join("rootfs"))
        })?;
        staging::clean_stale(&store.staging_dir(), |_| Ok(()))?;
        // Every write to them happens under the store lock: none is in progress.
        for d in [&store.root, &store.runroot] {
            sys::fs::atomic::remove_stale_temps(d).context(|| format!("remove stale temp files in {}", d.display()))?;
        }
        store.driver.clean()?;
        Ok(store)
    }

    /// Directories made by versions that left them 0755: each layer's and
    /// container's own dir (never their content: a layer's `diff/` and a
    /// container's upper carry the image's root mode, which overlay gives
    /// the container's `/`; a mounted rootfs is the container's `/`).
    fn close_old_dirs(&self) -> Result<()> {
        let mut dirs = Vec::new();
        for parent in [self.layers_dir(), self.root.join("containers"), self.runroot.join("containers")] {
            let entries = fs::read_dir(&parent).context(|| format!("list {}", parent.display()))?;
            dirs.extend(entries.flatten().map(|e| e.path()));
        }
        // overlay's per-container work dir and empty lower.
        let containers: Vec<PathBuf> = fs::read_dir(self.root.join("containers"))
            .context(|| format!("list {}", self.root.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.extend(containers.iter().flat_map(|c| [c.join("work"), c.join("empty")]));
        dirs.push(self.root.join("l"));
        for d in dirs {
            match sys::fs::restrict_dir(&d, PRIVATE) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { context: format!("restrict {}", d.display()), source: e }),
            }
        }
        tracing::info!(root = %self.root.display(), "closed the directories of a store made by an older berth");
        Ok(())
    }

    pub fn driver_name(&self) -> &'static str {
        self.driver.name()
    }

    /// podman's `graphStatus` (for `info`): the backing filesystem, the
    /// driver's own entries, and for a store that got vfs because overlay
    /// failed its probe, why (`Overlay Unusable`).
    pub fn graph_status(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("Backing Filesystem", backing_fs(&self.root))];
        out.extend(self.driver.status());
        if let Ok(Some(why)) = meta::read_json::<String>(&self.root.join(OVERLAY_UNUSABLE)) {
            out.push(("Overlay Unusable", why));
        }
        out
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }
    /// Removed containers' mounts, until they are unmounted (see `Discarded`).
    fn run_staging_dir(&self) -> PathBuf {
        self.runroot.join("staging")
    }
    fn layer_dir(&self, chain: &ChainId) -> PathBuf {
        self.layers_dir().join(chain.hex())
    }
    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }
    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }
    fn lock(&self) -> Result<FileLock> {
        let path = self.root.join("store.lock");
        FileLock::exclusive(&path).context(|| format!("lock {}", path.display()))
    }

    /// Where container `id`'s root filesystem is mounted.
    pub fn mountpoint(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id).join("rootfs")
    }

    /// Container `id`'s mount references, beside its mount point.
    fn mount_refs(&self, id: &str) -> Count {
        Count::of(&self.runroot.join("containers").join(id))
    }

    /// The content directory of a layer (read-only for callers).
    pub fn layer_path(&self, chain: &ChainId) -> PathBuf {
        self.layer_dir(chain).join("diff")
    }

    pub fn layer(&self, chain: &ChainId) -> Result<Option<LayerInfo>> {
        meta::read_json(&self.layer_dir(chain).join("layer.json"))
    }

    fn known_layer(&self, chain: &ChainId) -> Result<LayerInfo> {
        self.layer(chain)?.ok_or_else(|| Error::LayerNotKnown(chain.to_string()))
    }

    /// Every layer in the store, in chain-ID order.
    pub fn layers(&self) -> Result<Vec<LayerInfo>> {
        let dir = self.layers_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).context(|| format!("list {}", dir.display()))? {
            let e = e.context(|| format!("list {}", dir.display()))?;
            if let Some(info) = meta::read_json::<LayerInfo>(&e.path().join("layer.json"))? {
                out.push(info);
            }
        }
        out.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
        Ok(out)
    }

    fn dirs(&self, info: &LayerInfo) -> LayerDirs {
        LayerDirs { diff: self.layer_path(&info.chain_id), short: info.short_id.clone() }
    }

    /// Unpack the layer tar (plain, gzip or zstd) on top of `parent` and store it
    /// under its chain ID. A layer already stored is reused: the result is the
    /// same whoever wins a race, and only one copy is kept.
    pub fn put_layer(&self, parent: Option<&ChainId>, tar: impl Read) -> Result<LayerInfo> {
        self.put(parent, None, tar)
    }

    /// [`put_layer`](Self::put_layer) when the diff_id is known (from the
    /// image config): a layer already stored is returned without reading
    /// `tar` at all, and a tar whose content does not match is refused
    /// before it becomes visible.
    pub fn put_layer_with_diff_id(
        &self,
        parent: Option<&ChainId>,
        diff_id: &Digest,
        tar: impl Read,
    ) -> Result<LayerInfo> {
        if let Some(existing) = self.layer(&ChainId::of(parent, diff_id))? {
            return Ok(existing);
        }
        self.put(parent, Some(diff_id), tar)
    }

    /// Store a stack of layers on top of `parent` (bottom to top), each given
    /// with its diff_id (from the image config) and a reader of its blob;
    /// returns one [`LayerInfo`] per layer. Layers already stored are reused
    /// without reading their blob. With a driver whose layers do not depend
    /// on their parent's content (overlay), the missing layers are unpacked
    /// concurrently, each into its own staging dir, and committed bottom to
    /// top; a failure commits nothing above the failed layer.
    pub fn put_layers_with_diff_ids<R: Read + Send>(
        &self,
        parent: Option<&ChainId>,
        layers: Vec<(Digest, R)>,
    ) -> Result<Vec<LayerInfo>> {
        let diff_ids: Vec<&Digest> = layers.iter().map(|(d, _)| d).collect();
        let mut chains: Vec<ChainId> = Vec::with_capacity(layers.len());
        for d in &diff_ids {
            let next = ChainId::of(chains.last().or(parent), d);
            chains.push(next);
        }
        if !self.driver.parallel_apply() {
            let mut out = Vec::with_capacity(layers.len());
            let mut below = parent.cloned();
            for (diff_id, tar) in layers {
                let info = self.put_layer_with_diff_id(below.as_ref(), &diff_id, tar)?;
                below = Some(info.chain_id.clone());
                out.push(info);
            }
            return Ok(out);
        }
        if let Some(p) = parent {
            self.known_layer(p)?;
        }
        // What is missing gets a job; the rest is reused as it is.
        let mut existing: Vec<Option<LayerInfo>> = Vec::with_capacity(layers.len());
        let mut jobs = Vec::new();
        for (i, (diff_id, tar)) in layers.into_iter().enumerate() {
            let have = self.layer(&chains[i])?;
            if have.is_none() {
                let below = if i == 0 { parent.cloned() } else { Some(chains[i - 1].clone()) };
                jobs.push((i, below, diff_id, tar));
            }
            existing.push(have);
        }
        let staged = self.stage_parallel(jobs);
        let mut staged: Vec<Option<Result<(Staging, LayerInfo)>>> = {
            let mut v: Vec<Option<Result<(Staging, LayerInfo)>>> = (0..existing.len()).map(|_| None).collect();
            for (i, r) in staged {
                v[i] = Some(r);
            }
            v
        };
        let mut out = Vec::with_capacity(existing.len());
        for (i, have) in existing.into_iter().enumerate() {
            let info = match have {
                Some(info) => info,
                None => {
                    // Every missing layer got a job, and every job a result.
                    let result = staged[i].take().ok_or_else(|| Error::Io {
                        context: format!("unpack layer {i}"),
                        source: std::io::Error::other("no result from its worker"),
                    })?;
                    let (stage, info) = result?;
                    self.commit(stage, info)?
                }
            };
            out.push(info);
        }
        Ok(out)
    }

    /// Whether [`stage_layer`](Self::stage_layer) works: the driver unpacks a
    /// layer without its parent's content (overlay), so the layers of a stack
    /// can be unpacked in any order, e.g. as their blobs arrive.
    pub fn stages_independently(&self) -> bool {
        self.driver.parallel_apply()
    }

    /// Unpack one layer of a stack into a private staging dir, before its
    /// parent need exist (only where [`stages_independently`]). Nothing is
    /// visible until [`commit_layer`]; dropping the result removes the dir, and
    /// a crash leaves only a staging leftover that the next open removes. A
    /// tar whose content is not `diff_id` is refused.
    ///
    /// [`stages_independently`]: Self::stages_independently
    /// [`commit_layer`]: Self::commit_layer
    pub fn stage_layer(&self, parent: Option<&ChainId>, diff_id: &Digest, tar: impl Read) -> Result<StagedLayer> {
        if !self.stages_independently() {
            return Err(Error::Invalid {
                what: "staging a layer",
                value: self.driver_name().to_string(),
                why: "this driver unpacks a layer on top of its parent's content".into(),
            });
        }
        let (stage, info) = self.stage(parent, None, Some(diff_id), tar)?;
        Ok(StagedLayer { stage, info })
    }

    /// Put a staged layer on top of another parent (it was staged before its
    /// place in the stack was known). Content is unaffected: only for drivers
    /// that [`stage independently`](Self::stages_independently).
    pub fn restage_onto(&self, mut staged: StagedLayer, parent: Option<&ChainId>) -> Result<StagedLayer> {
        if staged.info.parent.as_ref() == parent {
            return Ok(staged);
        }
        let chain_id = ChainId::of(parent, &staged.info.diff_id);
        staged.info.short_id = Digest::of_bytes(format!("short {chain_id}").as_bytes()).hex()[..12].to_string();
        staged.info.chain_id = chain_id;
        staged.info.parent = parent.cloned();
        meta::write_json(&staged.stage.path().join("layer.json"), &staged.info, Durability::Durable)?;
        Ok(staged)
    }

    /// Make a staged layer visible; its parent must be stored by now (commit
    /// a stack bottom to top). An equal layer stored meanwhile wins and the
    /// staged one is dropped.
    pub fn commit_layer(&self, staged: StagedLayer) -> Result<LayerInfo> {
        self.commit(staged.stage, staged.info)
    }

    /// Take container `id`'s changes as the content of a new layer on top
    /// of its image's, moving them (one rename) instead of copying them:
    /// for a container removed next (a build step's), which is left
    /// without its changes: it can still be removed (not mounted again).
    /// `None`, with nothing changed, where that cannot be done: a driver
    /// that keeps no separate changes (vfs), a container mounted or holding
    /// mount references, one whose layer has shared mount points (its tar
    /// adds them), or changes its tar would say otherwise (see
    /// `driver::adopt`): the caller then stores the tar of
    /// [`container_diff`](Self::container_diff) as before.
    ///
    /// The changes sit in a staging dir of their own until
    /// [`commit_adopted`](Self::commit_adopted): a crash in between leaves
    /// a staging leftover, which the next open removes, and the container
    /// without its changes.
    pub fn adopt_container_layer(&self, id: &str) -> Result<Option<AdoptedLayer>> {
        let (stage, parent) = {
            let _g = self.lock()?;
            let meta = self.container_meta(id)?;
            if meta.shared.is_some() || self.mount_refs(id).get() > 0 || mounts::is_mount_point(&self.mountpoint(id)) {
                return Ok(None);
            }
            let stage = Staging::new(&self.staging_dir(), "layer-")?;
            // Under the lock: a mount of the container waits for it, then
            // finds no changes to mount rather than changes being moved.
            if !self.driver.take_changes(&self.container_dir(id), &stage.path().join("diff"))? {
                return Ok(None);
            }
            (stage, meta.layers.last().cloned())
        };
        let diff = stage.path().join("diff");
        let made = self.driver.changes_to_layer(&diff);
        if !matches!(made, Ok(true)) {
            let _g = self.lock()?;
            self.driver.give_back_changes(&self.container_dir(id), &diff)?;
            return made.map(|_| None);
        }
        Ok(Some(AdoptedLayer { stage, parent, written: None }))
    }

    /// Make an adopted layer visible, its tar written (see
    /// [`adopt_container_layer`](Self::adopt_container_layer)). An equal
    /// layer stored meanwhile wins and the adopted one is dropped.
    pub fn commit_adopted(&self, adopted: AdoptedLayer) -> Result<LayerInfo> {
        let Some((diff_id, size)) = adopted.written.clone() else {
            return Err(Error::Invalid {
                what: "adopted layer",
                value: adopted.stage.path().display().to_string(),
                why: "its tar was not written".into(),
            });
        };
        let chain_id = ChainId::of(adopted.parent.as_ref(), &diff_id);
        let short_id = Digest::of_bytes(format!("short {chain_id}").as_bytes()).hex()[..12].to_string();
        let info = LayerInfo {
            chain_id,
            // Uncompressed: the blob is the tar itself.
            compressed_digest: diff_id.clone(),
            diff_id,
            parent: adopted.parent.clone(),
            size,
            short_id,
        };
        meta::write_json(&adopted.stage.path().join("layer.json"), &info, Durability::Durable)?;
        self.commit(adopted.stage, info)
    }

    /// Unpack each job into its own staging dir, on up to
    /// `available_parallelism` threads; results come back with their index.
    #[allow(clippy::type_complexity)]
    fn stage_parallel<R: Read + Send>(
        &self,
        jobs: Vec<(usize, Option<ChainId>, Digest, R)>,
    ) -> Vec<(usize, Result<(Staging, LayerInfo)>)> {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(jobs.len());
        if workers <= 1 {
            return jobs
                .into_iter()
                .map(|(i, below, diff_id, tar)| (i, self.stage(below.as_ref(), None, Some(&diff_id), tar)))
                .collect();
        }
        let queue = std::sync::Mutex::new(jobs.into_iter());
        let results = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((i, below, diff_id, tar)) = job else { break };
                    let r = self.stage(below.as_ref(), None, Some(&diff_id), tar);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
                });
            }
        });
        results.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, parent: Option<&ChainId>, expected: Option<&Digest>, tar: impl Read) -> Result<LayerInfo> {
        let parent_info = parent.map(|p| self.known_layer(p)).transpose()?;
        let parent_diff = parent_info.as_ref().map(|p| self.layer_path(&p.chain_id));
        let (stage, info) = self.stage(parent, parent_diff.as_deref(), expected, tar)?;
        self.commit(stage, info)
    }

    /// Unpack `tar` into a new staging dir as a child of `parent` (whose
    /// content is at `parent_diff`, for drivers that need it) and write its
    /// layer.json there. Runs without the store lock.
    fn stage(
        &self,
        parent: Option<&ChainId>,
        parent_diff: Option<&Path>,
        expected: Option<&Digest>,
        mut tar: impl Read,
    ) -> Result<(Staging, LayerInfo)> {
        let stage = {
            let _g = self.lock()?;
            Staging::new(&self.staging_dir(), "layer-")?
        };
        let diff = stage.path().join("diff");
        fs::create_dir(&diff).context(|| format!("create {}", diff.display()))?;
        // A layer's root (and so a container's `/`) is podman's 0555 root:root
        // (containers/storage's defaultPerms): layers do not set it.
        fs::set_permissions(&diff, fs::Permissions::from_mode(LAYER_ROOT_MODE))
            .context(|| format!("chmod {}", diff.display()))?;
        // Unpacking is the slow part and runs without the store lock.
        let applied = self.driver.apply(parent_diff, &mut tar, &diff)?;
        if let Some(want) = expected {
            applied.diff_id.verify(want, "layer diff_id")?;
        }
        let chain_id = ChainId::of(parent, &applied.diff_id);
        let short_id = Digest::of_bytes(format!("short {chain_id}").as_bytes()).hex()[..12].to_string();
        let info = LayerInfo {
            chain_id,
            diff_id: applied.diff_id,
            parent: parent.cloned(),
            size: applied.size,
            compressed_digest: applied.digest,
            short_id,
        };
        meta::write_json(&stage.path().join("layer.json"), &info, Durability::Durable)?;
        Ok((stage, info))
    }

    /// Make a staged layer visible (one rename under the store lock), unless
    /// an equal one got there first. Its parent must still be there.
    fn commit(&self, stage: Staging, info: LayerInfo) -> Result<LayerInfo> {
        let _g = self.lock()?;
        if let Some(existing) = self.layer(&info.chain_id)? {
            return Ok(existing); // someone else stored it first; ours is dropped
        }
        if let Some(p) = &info.parent {
            self.known_layer(p)?; // removed while we were unpacking
        }
        let dest = self.layer_dir(&info.chain_id);
        self.driver.layer_added(&self.dirs(&info))?;
        fs::rename(stage.path(), &dest).context(|| format!("rename layer into {}", dest.display()))?;
        stage.keep();
        meta::sync_parent(&dest)?;
        Ok(info)
    }

    /// Remove a layer nothing uses (no holder, no child layer).
    pub fn remove_layer(&self, chain: &ChainId) -> Result<()> {
        let _g = self.lock()?;
        let info = self.known_layer(chain)?;
        if let Some((holder, _)) = self.holders()?.into_iter().find(|(_, ls)| ls.contains(chain)) {
            return Err(Error::LayerInUse { layer: chain.to_string(), by: holder });
        }
        if let Some(child) = self.layers()?.into_iter().find(|l| l.parent.as_ref() == Some(chain)) {
            return Err(Error::LayerInUse { layer: chain.to_string(), by: format!("layer {}", child.chain_id) });
        }
        // Out of `layers/` in one rename, then deleted at leisure: a crash
        // mid-delete leaves a staging leftover, not a half layer.
        let stage = Staging::new(&self.staging_dir(), "remove-")?;
        let dir = self.layer_dir(chain);
        fs::rename(&dir, stage.path().join("layer")).context(|| format!("remove {}", dir.display()))?;
        self.driver.layer_removed(&self.dirs(&info))?;
        drop(stage);
        Ok(())
    }

    /// Record that `holder` (e.g. `image:<id>`) uses `chains`, replacing what
    /// it held before. Held layers cannot be removed.
    pub fn retain_layers(&self, holder: &str, chains: &[ChainId]) -> Result<()> {
        let _g = self.lock()?;
        for c in chains {
            self.known_layer(c)?;
        }
        self.update_refs(|refs| {
            refs.insert(holder.to_string(), chains.to_vec());
        })
    }

    /// `holder` no longer uses any layer.
    pub fn release_layers(&self, holder: &str) -> Result<()> {
        let _g = self.lock()?;
        self.update_refs(|refs| {
            refs.remove(holder);
        })
    }

    fn update_refs(&self, f: impl FnOnce(&mut Refs)) -> Result<()> {
        let path = self.refs_path();
        let mut refs: Refs = meta::read_json(&path)?.unwrap_or_default();
        // Versions before containers' use was read from their container.json
        // recorded it here too; those entries go with the next update.
        refs.retain(|h, _| !h.starts_with(CONTAINER_HOLDER));
        f(&mut refs);
        meta::write_json(&path, &refs, Durability::Durable)
    }

    /// Every holder of layers and the layers it uses: those in refs.json
    /// (images) and each container, from its `container.json`. Containers
    /// are not recorded in refs.json: a container's own directory appears
    /// and goes in one rename, so it is the record, and a `run --rm` then
    /// rewrites (and fsyncs) no shared file. Read only to remove a layer.
    fn holders(&self) -> Result<Vec<(String, Vec<ChainId>)>> {
        let refs: Refs = meta::read_json(&self.refs_path())?.unwrap_or_default();
        let mut out: Vec<(String, Vec<ChainId>)> =
            refs.into_iter().filter(|(h, _)| !h.starts_with(CONTAINER_HOLDER)).collect();
        let dir = self.root.join("containers");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::Io { context: format!("list {}", dir.display()), source: e }),
        };
        for entry in entries {
            let entry = entry.context(|| format!("list {}", dir.display()))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            match self.container_meta(&id) {
                Ok(meta) => out.push((holder(&meta.id), meta.layers)),
                // Not a container's directory (or one a crash left without
                // its metadata): it holds nothing.
                Err(Error::ContainerNotKnown(_) | Error::Invalid { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Make container `id`'s root filesystem from `layers` (bottom to top,
    /// each the parent of the next) and mount it; returns the mount point.
    /// Every mount of it syncs its writes or not, as `writes` says. Its own
    /// layer gets `mount_points` the image lacks (see `MountPoint`).
    pub fn create_container_fs(
        &self,
        id: &str,
        layers: &[ChainId],
        writes: Writes,
        mount_points: &[MountPoint],
    ) -> Result<PathBuf> {
        self.create_container_fs_mounted(id, layers, writes, mount_points, writes)
    }

    /// [`create_container_fs`](Self::create_container_fs), this first
    /// mount made as `mounted` says (later ones as `writes`): a mount the
    /// caller only reads through and unmounts next need not sync the
    /// host's filesystem at its unmount (`Writes::Volatile`).
    pub fn create_container_fs_mounted(
        &self,
        id: &str,
        layers: &[ChainId],
        writes: Writes,
        mount_points: &[MountPoint],
        mounted: Writes,
    ) -> Result<PathBuf> {
        validate_id(id)?;
        let _g = self.lock()?;
        let dir = self.container_dir(id);
        if dir.exists() {
            return Err(Error::ContainerExists(id.into()));
        }
        let dirs = self.chain_dirs(layers)?;
        let stage = Staging::new(&self.staging_dir(), "container-")?;
        let shared = self.driver.create_container(stage.path(), &dirs, mount_points)?;
        let meta = ContainerMeta { id: id.into(), layers: layers.to_vec(), writes, shared };
        // The file's data now; its name with the rename below, whose
        // directory fsync makes the container (and its hold on `layers`,
        // see `holders`) durable. Neither for a volatile one.
        let durability = writes.durability();
        meta::write_json(&stage.path().join("container.json"), &meta, durability.batched())?;
        fs::rename(stage.path(), &dir).context(|| format!("create {}", dir.display()))?;
        stage.keep();
        if durability == Durability::Durable {
            meta::sync_parent(&dir)?;
        }
        self.mount_locked(id, Some(mounted))
    }

    /// The layers' dirs, checking they exist and form one chain.
    fn chain_dirs(&self, layers: &[ChainId]) -> Result<Vec<LayerDirs>> {
        let mut out = Vec::with_capacity(layers.len());
        for (i, c) in layers.iter().enumerate() {
            let info = self.known_layer(c)?;
            let want = i.checked_sub(1).map(|j| &layers[j]);
            if info.parent.as_ref() != want {
                return Err(Error::Invalid {
                    what: "layer list",
                    value: c.to_string(),
                    why: "each layer must be the parent of the next".into(),
                });
            }
            out.push(self.dirs(&info));
        }
        Ok(out)
    }

    fn container_meta(&self, id: &str) -> Result<ContainerMeta> {
        validate_id(id)?;
        meta::read_json(&self.container_dir(id).join("container.json"))?
            .ok_or_else(|| Error::ContainerNotKnown(id.into()))
    }

    /// Mount container `id`'s root filesystem (again): each call needs its
    /// own [`unmount`](Self::unmount).
    pub fn mount(&self, id: &str) -> Result<PathBuf> {
        let _g = self.lock()?;
        self.mount_locked(id, None)
    }

    /// [`mount`](Self::mount), but a mount made here is
    /// [`Writes::Volatile`] whatever the container's own: its unmount
    /// does not sync the host's filesystem. For a container whose changes
    /// a crash may lose (a build step's, adopted as a layer or removed
    /// next).
    pub fn mount_unsynced(&self, id: &str) -> Result<PathBuf> {
        let _g = self.lock()?;
        self.mount_locked(id, Some(Writes::Volatile))
    }

    /// [`mount`](Self::mount) for a user that takes over a reference taken
    /// before (a container's run, its create's or `init`'s): mounted
    /// again only if none is left (a user's `unmount -f` took it). The
    /// reference count is then unchanged, unless none was left.
    pub fn mount_taking_over(&self, id: &str) -> Result<PathBuf> {
        let _g = self.lock()?;
        let target = self.mountpoint(id);
        if self.mount_refs(id).get() > 0 && mounts::is_mount_point(&target) {
            self.container_meta(id)?;
            return Ok(target);
        }
        self.mount_locked(id, None)
    }

    fn mount_locked(&self, id: &str, writes: Option<Writes>) -> Result<PathBuf> {
        let meta = self.container_meta(id)?;
        let target = self.mountpoint(id);
        let mounted = mounts::is_mount_point(&target);
        if !mounted {
            // The mount point only: once mounted, `target` is the container's
            // `/`, whose mode is the image's (restricting it to 0700 locked
            // every user but root out of the container's whole tree).
            private_dir(&target)?;
        }
        let refs = self.mount_refs(id);
        let n = refs.get();
        if n == 0 || !mounted {
            let dirs = self.chain_dirs(&meta.layers)?;
            let writes = writes.unwrap_or(meta.writes);
            self.driver.mount(&self.container_dir(id), &dirs, meta.shared.as_deref(), &target, writes)?;
        }
        refs.set(n + 1)?;
        Ok(target)
    }

    /// Drop one mount reference; the last one unmounts. Returns whether the
    /// filesystem was unmounted.
    pub fn unmount(&self, id: &str) -> Result<bool> {
        let _g = self.lock()?;
        self.container_meta(id)?;
        let target = self.mountpoint(id);
        let refs = self.mount_refs(id);
        let n = refs.get();
        if n > 1 {
            refs.set(n - 1)?;
            return Ok(false);
        }
        if mounts::is_mount_point(&target) {
            unmount_when_free(&target)?;
        }
        refs.set(0)?;
        Ok(true)
    }

    /// How many mount references container `id`'s filesystem holds (0:
    /// not mounted).
    pub fn mount_count(&self, id: &str) -> Result<u32> {
        let _g = self.lock()?;
        self.container_meta(id)?;
        if !mounts::is_mount_point(&self.mountpoint(id)) {
            return Ok(0);
        }
        Ok(self.mount_refs(id).get().max(1))
    }

    /// Drop container `id`'s mount references down to `keep` (unmounted at
    /// 0); fewer already is fine.
    pub fn unmount_to(&self, id: &str, keep: u32) -> Result<()> {
        let _g = self.lock()?;
        self.container_meta(id)?;
        let target = self.mountpoint(id);
        let refs = self.mount_refs(id);
        if refs.get() <= keep && (keep > 0 || !mounts::is_mount_point(&target)) {
            return Ok(());
        }
        if keep == 0 {
            while mounts::is_mount_point(&target) {
                unmount_when_free(&target)?;
            }
        }
        refs.set(keep)
    }

    /// Image `id`'s run directory (`image mount`): its mount point
    /// (`rootfs`) and mount references (`mounts`), in the runroot so that
    /// a reboot clears both with the mount itself.
    fn image_run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("images").join(id)
    }

    /// Mount image `id`, of `layers` (bottom to top), read-only (again):
    /// each call needs its own [`unmount_image`](Self::unmount_image).
    /// Returns the mount point. The count is kept beside it under the
    /// store lock, so every process sees one count. A mount a crash left
    /// uncounted (or a count left without its mount) is made right here.
    pub fn mount_image(&self, id: &str, layers: &[ChainId]) -> Result<PathBuf> {
        validate_id(id)?;
        let _g = self.lock()?;
        let run = self.image_run_dir(id);
        let target = run.join("rootfs");
        let refs = Count::of(&run);
        let mounted = mounts::is_mount_point(&target);
        let n = if mounted { refs.get() } else { 0 };
        if !mounted {
            for d in [&self.runroot.join("images"), &run, &target] {
                private_dir(d)?;
            }
            let dirs = self.chain_dirs(layers)?;
            self.driver.mount_view(&dirs, &target)?;
        }
        refs.set(n + 1)?;
        Ok(target)
    }

    /// Drop one of image `id`'s mount references (all of them with
    /// `force`); the last one unmounts. Returns whether it was mounted.
    pub fn unmount_image(&self, id: &str, force: bool) -> Result<bool> {
        validate_id(id)?;
        let _g = self.lock()?;
        let run = self.image_run_dir(id);
        let target = run.join("rootfs");
        let refs = Count::of(&run);
        let mounted = mounts::is_mount_point(&target);
        let n = refs.get();
        if mounted && n > 1 && !force {
            refs.set(n - 1)?;
            return Ok(true);
        }
        while mounts::is_mount_point(&target) {
            unmount_when_free(&target)?;
        }
        refs.set(0)?;
        // Empty now; a leftover directory is harmless.
        let _ = fs::remove_dir(&target);
        let _ = fs::remove_dir(&run);
        Ok(mounted)
    }

    /// Whether image `id` is mounted (`image mount`).
    pub fn image_mounted(&self, id: &str) -> bool {
        validate_id(id).is_ok() && mounts::is_mount_point(&self.image_run_dir(id).join("rootfs"))
    }

    /// The images mounted (`image mount`), by id, with their mount points.
    pub fn mounted_images(&self) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.runroot.join("images");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { context: format!("list {}", dir.display()), source: e }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.context(|| format!("list {}", dir.display()))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            let target = entry.path().join("rootfs");
            if mounts::is_mount_point(&target) {
                out.push((id, target));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The root filesystem of an image of `layers` (bottom to top), mounted
    /// read-only in a directory of its own under the runroot until the view
    /// is dropped (`diff IMAGE IMAGE`). A view a crash left behind (its
    /// flock free) is unmounted by the next one.
    pub fn image_view(&self, layers: &[ChainId]) -> Result<ImageView> {
        let parent = self.runroot.join("views");
        private_dir(&parent)?;
        sweep_views(&parent);
        let dir = tempfile::Builder::new()
            .prefix("view-")
            .tempdir_in(&parent)
            .context(|| format!("create a view in {}", parent.display()))?
            .keep();
        // Held while the view lives (a lock on the directory itself would
        // be on the mount point, under the mount).
        let lock_path = view_lock(&dir);
        let lock = FileLock::exclusive(&lock_path).context(|| format!("lock {}", lock_path.display()))?;
        let mut view = ImageView { dir, mounted: false, _lock: lock };
        if !layers.is_empty() {
            let dirs = {
                let _g = self.lock()?;
                self.chain_dirs(layers)?
            };
            self.driver.mount_view(&dirs, &view.dir)?;
            view.mounted = true;
        }
        Ok(view)
    }

    /// The content dirs of the layers under container `id` (bottom to top).
    pub(crate) fn image_dirs(&self, id: &str) -> Result<Vec<PathBuf>> {
        let _g = self.lock()?;
        let meta = self.container_meta(id)?;
        Ok(self.chain_dirs(&meta.layers)?.into_iter().map(|d| d.diff).collect())
    }

    /// Unmount (whatever the count) and delete container `id`'s filesystem.
    pub fn remove_container_fs(&self, id: &str) -> Result<()> {
        self.discard_container_fs(id).map(drop)
    }

    /// [`Store::remove_container_fs`], but the unmounting and deleting (a
    /// millisecond or more) happen when the returned value is dropped: a
    /// caller can report the container gone first. It is gone already: its
    /// layers are free and its id can be made again.
    pub fn discard_container_fs(&self, id: &str) -> Result<Discarded> {
        let _g = self.lock()?;
        self.container_meta(id)?;
        // Its mount point and mount references, moved out whole: the mount
        // goes with its directory.
        // (None if never made: a create killed before it mounted.)
        let run = self.runroot.join("containers").join(id);
        let run_stage = Staging::adopt(&run, &self.run_staging_dir(), "remove-")?;
        let dir = self.container_dir(id);
        let stage =
            Staging::adopt(&dir, &self.staging_dir(), "remove-")?.ok_or_else(|| Error::ContainerNotKnown(id.into()))?;
        Ok(Discarded { run: run_stage, stage: Some(stage), renamed_from: dir, taken: 0 })
    }

    /// Write container `id`'s changes as a layer tar (for commit). With
    /// overlay this reads the upper dir; with vfs it compares against the
    /// top layer.
    pub fn container_diff(&self, id: &str, mut out: impl Write) -> Result<()> {
        let (meta, dirs) = {
            let _g = self.lock()?;
            let meta = self.container_meta(id)?;
            let dirs = self.chain_dirs(&meta.layers)?;
            (meta, dirs)
        };
        self.driver.diff(&self.container_dir(&meta.id), &dirs, meta.shared.as_deref(), &mut out)
    }
}

/// A removed container's directory and mount point, moved out of the store
/// but not yet unmounted and deleted (see [`Store::discard_container_fs`]);
/// both happen on drop. A crash before then leaves staging directories,
/// which the next open unmounts and deletes.
pub struct Discarded {
    /// The container's runroot dir (its mount point in it), staged.
    run: Option<Staging>,
    stage: Option<Staging>,
    renamed_from: PathBuf,
    /// How many directories [`Discarded::take`] moved in.
    taken: usize,
}

impl Discarded {
    /// Delete `dir` with the container's files, once this is dropped: moved
    /// in with them now (a rename, so `dir` must be on the store's
    /// filesystem; if it cannot move, it is deleted at once).
    pub fn take(&mut self, dir: &Path) -> std::io::Result<()> {
        let into = self.stage.as_ref().map(|s| s.path().join(format!("taken-{}", self.taken)));
        self.taken += 1;
        match into.map(|into| fs::rename(dir, into)) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            _ => sys::fs::ignore_missing(fs::remove_dir_all(dir)),
        }
    }
}

impl Drop for Discarded {
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            match unmount_all(&run.path().join("rootfs")) {
                Ok(()) => drop(run),
                // Never deleted while mounted: that would delete the
                // container's files through the mount. The next open retries.
                Err(e) => {
                    tracing::warn!("{e}");
                    run.keep();
                }
            }
        }
        // Durably gone first: a container directory back after a crash
        // would hold its layers with no container to remove.
        if let Err(e) = meta::sync_parent(&self.renamed_from) {
            tracing::warn!("{e}");
        }
        drop(self.stage.take());
    }
}

/// A discarded container's runroot dir, as the layout before this one
/// staged it (in a staging dir of its own): a crash may have left one.
const OLD_RUN: &str = "run";

/// Unmount `target`, waiting a little while it is busy: a container that
/// just exited may still hold it for a moment (its mount namespace's last
/// references are dropped after its processes are reaped), and a
/// container another thread or process is starting copies it into its
/// new namespace for as long as that takes.
fn unmount_when_free(target: &Path) -> Result<()> {
    let mut waited = std::time::Duration::ZERO;
    let step = std::time::Duration::from_millis(10);
    loop {
        match rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()) {
            Err(rustix::io::Errno::BUSY) if waited < std::time::Duration::from_secs(2) => {
                std::thread::sleep(step);
                waited += step;
            }
            r => return r.map_err(std::io::Error::from).context(|| format!("unmount {}", target.display())),
        }
    }
}

/// Unmount every filesystem stacked on `target` (none is fine). Detached:
/// a process still using one cannot stop its removal.
fn unmount_all(target: &Path) -> Result<()> {
    while mounts::is_mount_point(target) {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
            .context(|| format!("unmount {}", target.display()))?;
    }
    Ok(())
}

/// Every directory the store makes: layers hold setuid binaries and device
/// nodes from images, so no other host user may reach them (see
/// `sys::fs::dir`). Nothing below needs 0711: containers reach their layers
/// through the overlay (or bind) mount, whose lowers and upper the kernel
/// opens with the mounter's (root's) credentials, and a container's process
/// starts inside its root, never walking the store's paths.
pub(crate) const PRIVATE: u32 = 0o700;
/// The mode of every layer's root directory (see `stage`).
pub(crate) const LAYER_ROOT_MODE: u32 = 0o555;

pub(crate) fn private_dir(path: &Path) -> Result<()> {
    sys::fs::create_private_dir(path, PRIVATE).context(|| format!("create {}", path.display()))
}

/// Whether an existing `path` grants group or other anything.
fn is_open(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 != 0)
}

/// Where a store that fell back to vfs keeps why overlay was not used.
const OVERLAY_UNUSABLE: &str = "overlay-unusable.json";

/// The filesystem `path` is on, named as containers/storage names it.
fn backing_fs(path: &Path) -> String {
    let Ok(st) = rustix::fs::statfs(path) else { return "unknown".into() };
    #[allow(clippy::unnecessary_cast)] // f_type is i64 or u32 depending on the libc
    let magic = st.f_type as u64;
    match magic {
        0xef53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0x0102_1994 => "tmpfs",
        0x8584_58f6 => "ramfs",
        0x794c_7630 => "overlayfs",
        0x2fc1_2fc1 => "zfs",
        0x6969 => "nfs",
        0xf2f5_2010 => "f2fs",
        _ => return format!("unknown (0x{magic:x})"),
    }
    .into()
}

/// An image's root filesystem, read-only, from [`Store::image_view`].
pub struct ImageView {
    dir: PathBuf,
    mounted: bool,
    /// On `<dir>.lock`: a view whose lock nobody holds is a crash's leftover.
    _lock: FileLock,
}

impl ImageView {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = rustix::mount::unmount(&self.dir, rustix::mount::UnmountFlags::DETACH) {
                tracing::warn!("unmounting {}: {e}", self.dir.display());
                return;
            }
        }
        remove_view(&self.dir);
    }
}

fn view_lock(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// rmdir (never a recursive removal: whatever is still there stays) and
/// the lock file.
fn remove_view(dir: &Path) {
    let _ = fs::remove_dir(dir);
    let _ = fs::remove_file(view_lock(dir));
}

/// Unmount and remove the views in `parent` nobody holds (a crash's).
fn sweep_views(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let lock_path = entry.path();
        let Some(dir) = lock_path.to_str().and_then(|p| p.strip_suffix(".lock")).map(PathBuf::from) else {
            continue;
        };
        let Ok(Some(_held)) = FileLock::try_acquire(&lock_path, sys::fs::LockMode::Exclusive) else { continue };
        let _ = rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::DETACH);
        remove_view(&dir);
    }
}

/// How `holders` names a container.
const CONTAINER_HOLDER: &str = "container:";

fn holder(id: &str) -> String {
    format!("{CONTAINER_HOLDER}{id}")
}

/// Container IDs become directory names: keep them plain.
fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            what: "container id",
            value: id.into(),
            why: "want [A-Za-z0-9_.-], not starting with '.'".into(),
        })
    }
}
