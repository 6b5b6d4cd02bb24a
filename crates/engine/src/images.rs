//! Image bookkeeping across the blob store (`image`) and the layer store
//! (`storage`): load/import an image and unpack its layers, find an image by
//! name or ID, remove it and the layers only it used.
//!
//! An image is its config digest (its ID), as in podman: `records` keeps one
//! record per ID with every manifest digest the image came under, and its
//! names are those of the blob store's index that point at any of them.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::SystemTime;

use image::archive::{self, ArchiveImage};
use image::digest::Digest;
use image::manifest::{self, Manifest, PlatformSpec};
use image::reference::{self, Reference};
use oci_spec::image::{Descriptor, ImageManifest};
use serde_json::Value;
use storage::ChainId;

use crate::error::{Context as _, Error, Result};
use crate::events::{self, Status};
use crate::Engine;

mod annotate;
mod mounts;
mod records;

use records::{Record, Records};

/// One image with everything the commands show about it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the config digest (podman's and docker's ID).
    pub id: Digest,
    /// What the image's names were last pulled or loaded as: an index for
    /// multi-platform images, else `manifest`.
    pub top: Digest,
    /// The image manifest describing it (the one it came under last).
    pub manifest: Digest,
    /// Every manifest and index digest it was pulled or loaded under, oldest
    /// first (podman's `Digests`; `manifest` and `top` included).
    pub digests: Vec<Digest>,
    pub manifest_media_type: String,
    /// The config blob as JSON (kept raw so Docker-only fields survive).
    pub config: Value,
    pub names: Vec<Reference>,
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
}

impl Image {
    pub fn short_id(&self) -> &str {
        &self.id.hex()[..12]
    }

    /// `created` from the config, as an RFC 3339 string.
    pub fn created_str(&self) -> Option<&str> {
        self.config.get("created").and_then(Value::as_str)
    }

    pub fn created(&self) -> Option<SystemTime> {
        self.created_str().and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok())
    }

    pub fn labels(&self) -> serde_json::Map<String, Value> {
        self.config.pointer("/config/Labels").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    pub fn chain_ids(&self) -> Vec<ChainId> {
        ChainId::chain(&self.diff_ids)
    }

    /// Whether `input` names this image by ID rather than by a name.
    pub fn is_id(&self, input: &str) -> bool {
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        hex.len() >= 3 && (self.id.hex().starts_with(hex) || self.digests.iter().any(|d| d.hex() == hex))
    }

    /// `name@digest` for each name and digest, sorted (podman's `RepoDigests`).
    pub fn repo_digests(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.names.iter().flat_map(|n| self.digests.iter().map(move |d| format!("{}@{d}", n.name()))).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Which of this image's names `input` means (`None` for an ID).
    pub fn name_used(&self, input: &str) -> Option<Reference> {
        if self.is_id(input) {
            return None;
        }
        let candidates = lookup_candidates(input).ok()?;
        if let Some(n) = candidates.iter().find(|c| self.names.contains(c)) {
            return Some(n.clone());
        }
        let want = candidates.first()?;
        self.names
            .iter()
            .find(|n| {
                n.tag() == want.tag() && (n.path() == want.path() || n.path().ends_with(&format!("/{}", want.path())))
            })
            .cloned()
    }

    /// What holds the image's layers in the layer store.
    fn holder(&self) -> String {
        format!("image:{}", self.id.hex())
    }

    /// Holders of stores written before images were keyed by ID, which held
    /// layers per manifest: released with the image.
    fn legacy_holders(&self) -> impl Iterator<Item = String> + '_ {
        self.digests.iter().map(|d| format!("image:{}", d.hex()))
    }
}

/// A layer blob opened on first read: layers already unpacked are never opened.
struct LazyBlob<'a> {
    store: &'a image::store::Store,
    digest: Digest,
    file: Option<fs::File>,
}

impl Read for LazyBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let f = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                self.store
                    .open_blob(&self.digest)
                    .map_err(|e| std::io::Error::other(format!("layer {}: {e}", self.digest)))?,
            ),
        };
        f.read(buf)
    }
}

/// What a pull tells [`Engine::unpack_while`] as it goes.
pub struct LayerFeed {
    tx: mpsc::Sender<Feed>,
    staged: Arc<AtomicUsize>,
}

enum Feed {
    Manifest(Vec<u8>),
    Blob(Digest),
}

impl LayerFeed {
    /// The (verified) image manifest being pulled, before its blobs are all there.
    pub fn manifest(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(Feed::Manifest(bytes));
    }

    /// A blob is verified and in the blob store (downloaded or already there).
    pub fn blob_ready(&self, digest: Digest) {
        let _ = self.tx.send(Feed::Blob(digest));
    }

    /// How many layers have been unpacked so far.
    pub fn staged(&self) -> usize {
        self.staged.load(Ordering::SeqCst)
    }
}

/// Layers unpacked ahead of their image by [`Engine::unpack_while`], not yet
/// visible; dropping this removes them.
#[derive(Default)]
pub struct Staged(HashMap<ChainId, storage::StagedLayer>);

/// The image being pulled, as far as its manifest and config are known.
struct Plan {
    config: Digest,
    layers: Vec<Digest>,
    /// The layers' chain IDs (with their diff_ids), once the config is there.
    chains: Option<Vec<(ChainId, Digest)>>,
}

impl Plan {
    /// `None` for anything we would not unpack (an index, an artifact, an
    /// unknown layer type): the checks after the pull refuse it.
    fn parse(bytes: &[u8]) -> Option<Plan> {
        let Ok(Manifest::Image(_, m)) = Manifest::parse(bytes, None) else { return None };
        if !manifest::is_config_media_type(m.config().media_type()) {
            return None;
        }
        let mut layers = Vec::with_capacity(m.layers().len());
        for l in m.layers() {
            manifest::layer_compression(l.media_type()).ok()?;
            layers.push(manifest::descriptor_digest(l).ok()?);
        }
        Some(Plan { config: manifest::descriptor_digest(m.config()).ok()?, layers, chains: None })
    }

    /// Read the diff_ids from the config blob; `false` if they do not fit.
    fn learn_config(&mut self, blobs: &image::store::Store) -> bool {
        let diff_ids = blobs
            .get(&self.config)
            .ok()
            .and_then(|b| manifest::parse_config(&b).ok())
            .and_then(|c| manifest::diff_ids(&c).ok());
        match diff_ids {
            Some(d) if d.len() == self.layers.len() => {
                self.chains = Some(ChainId::chain(&d).into_iter().zip(d).collect());
                true
            }
            _ => false,
        }
    }
}

struct StageJob {
    chain: ChainId,
    parent: Option<ChainId>,
    diff_id: Digest,
    blob: Digest,
}

/// The body of [`Engine::unpack_while`]'s helper thread: plan from what the
/// feed says, and unpack each layer on a worker once its blob is ready.
fn stage_as_ready(
    blobs: &image::store::Store,
    layers: &storage::Store,
    feed: mpsc::Receiver<Feed>,
    count: &AtomicUsize,
) -> Staged {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let (job_tx, job_rx) = mpsc::channel::<StageJob>();
    let job_rx = Mutex::new(job_rx);
    let done = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { break };
                let tar = LazyBlob { store: blobs, digest: job.blob.clone(), file: None };
                let started = std::time::Instant::now();
                match layers.stage_layer(job.parent.as_ref(), &job.diff_id, tar) {
                    Ok(staged) => {
                        tracing::debug!("unpacked layer {} during the pull in {:?}", job.blob, started.elapsed());
                        done.lock().unwrap_or_else(|e| e.into_inner()).insert(job.chain, staged);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => tracing::debug!("unpacking layer {} during the pull: {e}; retrying after it", job.blob),
                }
            });
        }
        let mut plan: Option<Plan> = None;
        let mut ready = HashSet::new();
        let mut queued = HashSet::new();
        for msg in feed {
            match msg {
                // A new manifest (the next endpoint after a failed mirror) replaces the plan.
                Feed::Manifest(bytes) => plan = Plan::parse(&bytes),
                Feed::Blob(d) => {
                    ready.insert(d);
                }
            }
            let Some(p) = &mut plan else { continue };
            if p.chains.is_none() && ready.contains(&p.config) && !p.learn_config(blobs) {
                plan = None;
                continue;
            }
            let Some(chains) = &p.chains else { continue };
            for (i, ((chain, diff_id), blob)) in chains.iter().zip(&p.layers).enumerate() {
                if !ready.contains(blob) || queued.contains(chain) || !matches!(layers.layer(chain), Ok(None)) {
                    continue;
                }
                queued.insert(chain.clone());
                tracing::debug!("layer {blob} is here: unpacking it");
                let parent = i.checked_sub(1).map(|j| chains[j].0.clone());
                let job = StageJob { chain: chain.clone(), parent, diff_id: diff_id.clone(), blob: blob.clone() };
                let _ = job_tx.send(job);
            }
        }
        drop(job_tx);
    });
    Staged(done.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Layers unpacked while their archive was extracted, by diff_id, on no parent yet.
type EarlyLayers = HashMap<Digest, storage::StagedLayer>;

/// An extracted archive member worth unpacking before the archive is read
/// through: an uncompressed tar (ustar magic) named `*.tar` or by its own
/// digest. Opened now, so it stays readable when it moves into the blob store.
fn layer_member(path: &Path, digest: &Digest) -> Option<fs::File> {
    use std::os::unix::fs::FileExt as _;
    let name = path.file_name()?.to_str()?;
    if !name.ends_with(".tar") && name != digest.hex() {
        return None;
    }
    let f = fs::File::open(path).ok()?;
    let mut magic = [0u8; 5];
    f.read_exact_at(&mut magic, 257).ok()?;
    (&magic == b"ustar").then_some(f)
}

impl Engine {
    fn records(&self) -> Records {
        Records::at(&self.root)
    }

    /// Turn records from before images were keyed by ID (one per manifest)
    /// into one per image ID; the layers they hold keep their old holders
    /// until the image is removed (see [`Image::legacy_holders`]).
    /// Also closes a record directory an older version left open.
    pub(crate) fn convert_legacy_records(&self) -> Result<()> {
        let records = self.records();
        records.create()?;
        // One stat per command, not a read of every record.
        if records.converted() {
            return Ok(());
        }
        let legacy = records.legacy()?;
        for (path, old) in legacy {
            let described = self.describe(&Record::new(old.manifest.clone(), old.top.clone(), old.manifest.clone()));
            match described {
                Ok(img) => {
                    records.add(&img.id, &old.top, &old.manifest)?;
                    tracing::info!("converted image record {} to image {}", path.display(), img.id);
                }
                // Its content is gone: there is no image to keep.
                Err(e) => tracing::warn!("dropping image record {}: {e}", path.display()),
            }
            records::remove_file(&path)?;
        }
        records.mark_converted()
    }

    // ---- adding images ----

    /// Load an archive (path, or stdin when `None`), unpack each image's
    /// layers and record it. Returns each name the archive gave (or `None`
    /// for an unnamed image) with the image's ID.
    pub fn load(&self, input: Option<&Path>) -> Result<Vec<(Option<Reference>, Digest)>> {
        let (loaded, mut early) = self.load_staging(input)?;
        let mut ids = std::collections::HashMap::new();
        let mut out = Vec::new();
        for ArchiveImage { reference, manifest } in loaded {
            let id = match ids.get(&manifest) {
                Some(id) => Clone::clone(id),
                None => {
                    let id = self.add_early(&manifest, &mut early)?.id;
                    ids.insert(manifest, id.clone());
                    id
                }
            };
            out.push((reference, id));
        }
        Ok(out)
    }

    /// Extract and verify an archive into the blob store while unpacking, on
    /// other threads, each member that is a layer tar named by its own sha256
    /// (`<hex>.tar`, `blobs/sha256/<hex>`) or a `*.tar` member, as soon as it
    /// is extracted: each goes into its own staging dir (its diff_id checked
    /// against the member's sha256), keyed by diff_id, on no parent yet.
    /// [`add_early`](Self::add_early) puts them in place once the archive's
    /// configs say which diff_ids make up each image; dropping the map (an
    /// error, a layer no image uses) removes them.
    fn load_staging(&self, input: Option<&Path>) -> Result<(Vec<ArchiveImage>, EarlyLayers)> {
        self.load_staging_with(|hook| match input {
            Some(p) => archive::load_with(p, &self.blobs, hook),
            None => archive::load_reader_with(std::io::stdin().lock(), &self.blobs, hook),
        })
    }

    /// [`load_staging`](Self::load_staging) with the archive read by `load`.
    fn load_staging_with(
        &self,
        load: impl FnOnce(archive::MemberHook<'_>) -> image::error::Result<Vec<ArchiveImage>>,
    ) -> Result<(Vec<ArchiveImage>, EarlyLayers)> {
        let layers = self.layers()?;
        let load = |hook: archive::MemberHook<'_>| load(hook).ctx(|| "loading image".into());
        if !layers.stages_independently() {
            return Ok((load(&mut |_, _| {})?, HashMap::new()));
        }
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
        let (tx, rx) = mpsc::channel::<(Digest, fs::File)>();
        let rx = Mutex::new(rx);
        let done = Mutex::new(HashMap::new());
        let loaded = std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((diff_id, file)) = job else { break };
                    let started = std::time::Instant::now();
                    match layers.stage_layer(None, &diff_id, file) {
                        Ok(staged) => {
                            tracing::debug!("unpacked layer {diff_id} during extraction in {:?}", started.elapsed());
                            done.lock().unwrap_or_else(|e| e.into_inner()).insert(diff_id, staged);
                        }
                        Err(e) => tracing::debug!("unpacking {diff_id} during extraction: {e}; retrying after it"),
                    }
                });
            }
            let mut hook = move |path: &Path, digest: &Digest| {
                if let Some(f) = layer_member(path, digest) {
                    let _ = tx.send((digest.clone(), f));
                }
            };
            let r = load(&mut hook);
            drop(hook); // closes the queue: the workers finish what is queued
            r
        })?;
        Ok((loaded, done.into_inner().unwrap_or_else(|e| e.into_inner())))
    }

    /// [`add`](Self::add), committing the layers [`load_staging`](Self::load_staging)
    /// unpacked early (taken from `early` by diff_id) instead of unpacking them again.
    fn add_early(&self, top: &Digest, early: &mut EarlyLayers) -> Result<Image> {
        let manifest = self.platform_manifest(top)?;
        let mut staged = Staged::default();
        if !early.is_empty() {
            let img = self.describe(&Record::new(top.clone(), top.clone(), manifest.clone()))?;
            let chains = img.chain_ids();
            for (i, (chain, diff_id)) in chains.iter().zip(&img.diff_ids).enumerate() {
                let Some(layer) = early.remove(diff_id) else { continue };
                let parent = i.checked_sub(1).map(|j| &chains[j]);
                let layer = self.layers()?.restage_onto(layer, parent).ctx(|| format!("staging layer {diff_id}"))?;
                staged.0.insert(chain.clone(), layer);
            }
        }
        self.add_staged(top, &manifest, staged)
    }

    /// Unpack the image `top` points at and record it. Idempotent.
    pub fn add(&self, top: &Digest) -> Result<Image> {
        let manifest = self.platform_manifest(top)?;
        self.add_staged(top, &manifest, Staged::default())
    }

    fn add_staged(&self, top: &Digest, manifest: &Digest, staged: Staged) -> Result<Image> {
        let img = self.describe(&Record::new(top.clone(), top.clone(), manifest.clone()))?;
        self.unpack(&img, staged)?;
        self.layers()?.retain_layers(&img.holder(), &img.chain_ids())?;
        let record = self.records().add(&img.id, top, manifest)?;
        let mut img = Image { digests: record.digests, ..img };
        img.names =
            self.blobs.index()?.iter().filter(|(_, d)| img.digests.contains(d)).map(|(n, _)| n.clone()).collect();
        Ok(img)
    }

    /// Unpack an image's layers into the layer store (concurrently where the
    /// driver allows; layers already there are reused). Layers in `staged`
    /// (unpacked while the image was pulled) are committed first, bottom to
    /// top, up to the first one missing; the rest are unpacked here.
    fn unpack(&self, img: &Image, mut staged: Staged) -> Result<()> {
        let layers = self.layers()?;
        for (chain, desc) in img.chain_ids().iter().zip(&img.layers) {
            if layers.layer(chain)?.is_some() {
                continue;
            }
            let Some(layer) = staged.0.remove(chain) else { break };
            layers.commit_layer(layer).ctx(|| format!("storing layer {}", desc.digest()))?;
        }
        drop(staged); // whatever was not committed (none, normally)
        let mut blobs = Vec::with_capacity(img.layers.len());
        for (desc, diff_id) in img.layers.iter().zip(&img.diff_ids) {
            let digest = manifest::descriptor_digest(desc)?;
            blobs.push((diff_id.clone(), LazyBlob { store: &self.blobs, digest, file: None }));
        }
        let layers = self.layers()?;
        layers.put_layers_with_diff_ids(None, blobs).ctx(|| {
            // Layers are committed bottom to top: the failed one is the lowest missing.
            let chains = img.chain_ids();
            let failed = chains.iter().zip(&img.layers).find(|(c, _)| !matches!(layers.layer(c), Ok(Some(_))));
            match failed.map(|(_, d)| d.digest()) {
                Some(d) => format!("unpacking layer {d}"),
                None => format!("unpacking the layers of image {}", img.id),
            }
        })?;
        Ok(())
    }

    /// [`add`](Self::add) when the caller already chose the platform
    /// (`pull --platform`): `top` may be an index whose host entry we do not
    /// have. Added for `pull`; the usual host case goes through `add`.
    /// Layers unpacked during the pull (see [`unpack_while`](Self::unpack_while))
    /// are committed rather than unpacked again.
    pub fn add_platform_image(&self, top: &Digest, manifest: &Digest, staged: Staged) -> Result<Image> {
        self.add_staged(top, manifest, staged)
    }

    /// Run `pull` while unpacking, on other threads, each layer of the image
    /// it reports through the [`LayerFeed`] as soon as the layer's blob is in
    /// the blob store (verified) and the config says its diff_id. Each layer
    /// goes into its own staging dir: nothing is visible until
    /// [`add_platform_image`](Self::add_platform_image) commits them bottom to
    /// top; dropping the [`Staged`] removes them. A layer that fails to unpack
    /// here is left to `add_platform_image`, which reports the error. Without
    /// a driver that unpacks layers independently of their parent, nothing is
    /// unpacked early.
    pub fn unpack_while<T>(&self, pull: impl FnOnce(&LayerFeed) -> T) -> Result<(T, Staged)> {
        let layers = self.layers()?;
        let (tx, rx) = mpsc::channel();
        let feed = LayerFeed { tx, staged: Arc::new(AtomicUsize::new(0)) };
        if !layers.stages_independently() {
            drop(rx); // the feed's sends then go nowhere
            return Ok((pull(&feed), Staged::default()));
        }
        let count = feed.staged.clone();
        let blobs = &self.blobs;
        Ok(std::thread::scope(|s| {
            let stager = s.spawn(move || stage_as_ready(blobs, layers, rx, &count));
            let out = pull(&feed);
            tracing::debug!("pull done with {} layers already unpacked", feed.staged());
            drop(feed); // ends the stager's input: it finishes what it started
            let staged = stager.join().unwrap_or_else(|_| {
                tracing::warn!("early layer unpacking panicked; unpacking after the pull");
                Staged::default()
            });
            (out, staged)
        }))
    }

    /// An index resolves to the host's platform (the only one we unpack).
    fn platform_manifest(&self, digest: &Digest) -> Result<Digest> {
        match Manifest::parse(&self.blobs.get(digest)?, None)? {
            Manifest::Image(..) => Ok(digest.clone()),
            Manifest::Index(_, idx) => {
                let d = manifest::descriptor_digest(manifest::select(&idx, &PlatformSpec::host())?)?;
                self.platform_manifest(&d)
            }
        }
    }

    /// Everything shown about the image a record names.
    /// (`r.id` is not trusted: the ID is read from the manifest.)
    fn describe(&self, r: &Record) -> Result<Image> {
        let raw = self.blobs.get(&r.manifest)?;
        let Manifest::Image(kind, m) = Manifest::parse(&raw, None)? else {
            return Err(Error::new(format!("{}: not an image manifest", r.manifest)));
        };
        let m: &ImageManifest = &m;
        let id = manifest::descriptor_digest(m.config())?;
        let config_bytes = self.blobs.get(&id)?;
        let parsed = manifest::parse_config(&config_bytes)?;
        let diff_ids = manifest::diff_ids(&parsed)?;
        if diff_ids.len() != m.layers().len() {
            return Err(Error::new(format!("image {}: manifest and config disagree on the layer count", id.hex())));
        }
        let config: Value = serde_json::from_slice(&config_bytes).ctx(|| format!("image config {id}"))?;
        let size = self.layers_size(&diff_ids).unwrap_or_else(|| m.layers().iter().map(|l| l.size()).sum());
        Ok(Image {
            id,
            top: r.top.clone(),
            manifest: r.manifest.clone(),
            digests: r.digests.clone(),
            manifest_media_type: kind.media_type().to_string(),
            config,
            names: Vec::new(),
            layers: m.layers().clone(),
            diff_ids,
            size,
        })
    }

    /// Uncompressed size from the layer store, when every layer is there.
    fn layers_size(&self, diff_ids: &[Digest]) -> Option<u64> {
        let layers = self.layers().ok()?;
        let mut total = 0;
        for c in ChainId::chain(diff_ids) {
            total += layers.layer(&c).ok()??.size;
        }
        Some(total)
    }

    /// Every recorded image with its names, newest first (podman's order).
    pub fn images(&self) -> Result<Vec<Image>> {
        let index = self.blobs.index()?;
        let mut out: Vec<Image> = self.records().list()?.iter().filter_map(|r| self.named(r, &index)).collect();
        newest_first(&mut out);
        Ok(out)
    }

    /// The image record `r` names, with its names from `index`; `None`
    /// (said) if it cannot be read.
    fn named(&self, r: &Record, index: &image::store::ImageIndex) -> Option<Image> {
        let mut img = match self.describe(r) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("skipping image {}: {e}", r.id);
                return None;
            }
        };
        img.names = index.iter().filter(|(_, d)| img.digests.contains(d)).map(|(n, _)| n.clone()).collect();
        // In the order they were given, as podman lists them.
        img.names.sort_by_key(|n| (index.added(n), n.clone()));
        Some(img)
    }

    /// Find one image the way podman does: full or short ID (with or without
    /// `sha256:`), a manifest digest, or a name, short names matching any
    /// registry (`foo` finds `localhost/foo:latest` and `docker.io/library/foo`).
    /// Only the image found is read whole (its manifest and config): the
    /// records and the names index say which it is.
    pub fn find(&self, input: &str) -> Result<Option<Image>> {
        let index = self.blobs.index()?;
        let records = self.records().list()?;
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if hex.len() >= 3 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Record> = records
                .iter()
                .filter(|r| r.id.hex().starts_with(hex) || r.digests.iter().any(|d| d.hex() == hex))
                .collect();
            // One record per ID.
            if hits.len() > 1 {
                return Err(Error::new(format!("{input}: short ID is ambiguous")));
            }
            if let Some(r) = hits.first() {
                return Ok(self.named(r, &index));
            }
        }
        let by_digest = |d: &Digest| records.iter().find(|r| r.digests.contains(d));
        let candidates = lookup_candidates(input)?;
        for want in &candidates {
            let hit = index.get(want).and_then(by_digest).or_else(|| want.digest().and_then(by_digest));
            if let Some(r) = hit {
                return Ok(self.named(r, &index));
            }
        }
        // A short name also matches a name in any registry with that path:
        // the newest image so named.
        if !reference::has_registry(input) {
            if let Some(want) = candidates.first() {
                let suffix = format!("/{}", want.path());
                let mut named: Vec<Image> = index
                    .iter()
                    .filter(|(n, _)| n.tag() == want.tag() && (n.path() == want.path() || n.path().ends_with(&suffix)))
                    .filter_map(|(_, d)| by_digest(d))
                    .filter_map(|r| self.named(r, &index))
                    .collect();
                newest_first(&mut named);
                named.dedup_by(|a, b| a.id == b.id);
                return Ok(named.into_iter().next());
            }
        }
        Ok(None)
    }

    /// [`find`](Self::find), failing with podman's message when absent.
    pub fn get(&self, input: &str) -> Result<Image> {
        self.find(input)?.ok_or_else(|| Error::new(format!("{input}: image not known")))
    }

    /// Taken shared while a container is recorded from an image and
    /// exclusive while an image is found unused and removed, so no
    /// container is ever recorded for an image `rmi` or `image prune` has
    /// just found unused (and then removes).
    pub(crate) fn image_use_lock(&self, mode: sys::fs::LockMode) -> Result<sys::fs::FileLock> {
        let p = self.root.join("image-use.lock");
        sys::fs::FileLock::acquire(&p, mode).ctx(|| format!("locking {}", p.display()))
    }

    /// Whether the image `id` is still recorded (not removed meanwhile).
    pub(crate) fn image_recorded(&self, id: &Digest) -> Result<bool> {
        Ok(self.records().get(id)?.is_some())
    }

    /// Remove `img` unless a container uses it (`image prune`): checked and
    /// done under the image-use lock. Returns whether it was removed.
    pub fn remove_if_unused(&self, img: &Image) -> Result<bool> {
        let _use = self.image_use_lock(sys::fs::LockMode::Exclusive)?;
        if !self.containers_using(img)?.is_empty() || self.layers()?.image_mounted(img.id.hex()) {
            return Ok(false);
        }
        self.remove(img)?;
        Ok(true)
    }

    // ---- removing images ----

    /// Remove an image: its names, its record, its layers and blobs that no
    /// other image uses.
    pub fn remove(&self, img: &Image) -> Result<()> {
        // Its layers stay while the host reads them through its mount.
        self.check_unmounted(img, false)?;
        // Names first: a crash after this leaves a dangling image, which
        // `image prune` removes, never a name pointing at missing content.
        self.blobs.update_index(|idx| {
            for d in &img.digests {
                idx.remove_digest(d);
            }
            Ok(())
        })?;
        let records = self.records();
        {
            let _l = records.lock()?;
            records.remove(&img.id)?;
        }
        let layers = self.layers()?;
        layers.release_layers(&img.holder())?;
        for h in img.legacy_holders() {
            layers.release_layers(&h)?;
        }
        // Top down: a layer is removable only once its children are gone;
        // a layer another image still holds stays (shared base layers).
        for c in img.chain_ids().iter().rev() {
            match layers.remove_layer(c) {
                Ok(()) => {}
                Err(storage::Error::LayerInUse { .. } | storage::Error::LayerNotKnown(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.delete_unused_blobs(img)?;
        let id = img.id.to_string();
        for name in &img.names {
            events::image(self.runroot(), Status::Untag, &id, &name.to_string());
        }
        let name = img.names.first().map(ToString::to_string).unwrap_or_default();
        events::image(self.runroot(), Status::Remove, &id, &name);
        Ok(())
    }

    /// Delete the blobs `img` reached that no remaining image reaches.
    fn delete_unused_blobs(&self, img: &Image) -> Result<()> {
        let mut used = HashSet::new();
        for other in self.records().list()?.iter().filter(|r| r.id != img.id) {
            used.insert(other.id.clone());
            self.blob_closure(&other.digests, &mut used);
        }
        let mut mine = HashSet::from([img.id.clone()]);
        self.blob_closure(&img.digests, &mut mine);
        for d in mine.iter().filter(|d| !used.contains(*d)) {
            self.blobs.delete(d)?;
        }
        Ok(())
    }

    /// Add to `out` the stored blobs the manifests `tops` reach: themselves,
    /// configs, layers, and for an index every platform's manifest here.
    pub(crate) fn blob_closure(&self, tops: &[Digest], out: &mut HashSet<Digest>) {
        let mut todo: Vec<Digest> = tops.to_vec();
        while let Some(d) = todo.pop() {
            if !out.insert(d.clone()) {
                continue;
            }
            let Ok(bytes) = self.blobs.get(&d) else { continue };
            match Manifest::parse(&bytes, None) {
                Ok(Manifest::Image(_, m)) => {
                    out.extend(
                        std::iter::once(m.config())
                            .chain(m.layers())
                            .filter_map(|l| manifest::descriptor_digest(l).ok()),
                    );
                }
                Ok(Manifest::Index(_, idx)) => {
                    todo.extend(idx.manifests().iter().filter_map(|c| manifest::descriptor_digest(c).ok()));
                }
                Err(_) => {}
            }
        }
    }

    // ---- names ----

    /// Give `img` the name `name` (moving it from any other image).
    pub fn tag(&self, img: &Image, name: &Reference) -> Result<()> {
        self.blobs.tag(name, &img.top)?;
        events::image(self.runroot(), Status::Tag, &img.id.to_string(), &name.to_string());
        Ok(())
    }

    /// Remove the name `name` (the image stays, maybe with no name left).
    pub fn untag(&self, name: &Reference) -> Result<()> {
        // The event names the image's ID, which the name no longer gives after.
        let id = self.find(&name.to_string()).ok().flatten().map(|img| img.id.to_string()).unwrap_or_default();
        self.blobs.untag(name)?;
        events::image(self.runroot(), Status::Untag, &id, &name.to_string());
        Ok(())
    }

    // ---- archives ----

    /// Write `images` as an archive at `out` (a directory for oci-dir): see
    /// [`image::archive::save`].
    pub fn save(&self, images: &[ArchiveImage], format: archive::Format, out: &Path) -> Result<()> {
        archive::save(&self.blobs, images, format, out).map_err(Error::from)
    }

    /// Write `images` as a tar archive to `w`.
    pub fn save_to<W: std::io::Write>(&self, images: &[ArchiveImage], format: archive::Format, w: W) -> Result<W> {
        archive::save_to_writer(&self.blobs, images, format, w).map_err(Error::from)
    }

    // ---- creating images ----

    /// How a stored layer blob is compressed, from its first bytes.
    fn layer_compression(&self, blob: &Digest) -> Result<manifest::Compression> {
        let mut head = Vec::with_capacity(8);
        self.blobs.open_blob(blob)?.take(8).read_to_end(&mut head).ctx(|| format!("reading layer {blob}"))?;
        image::layer::sniff(&head)
            .map_err(|c| Error::new(format!("layer {blob}: {c}-compressed layers are not supported")))
    }

    /// Store a new single-layer image (`import`): the layer blob as given,
    /// its config and an OCI manifest. Returns the new image.
    pub fn create_from_layer(&self, tar: impl Read, config: impl FnOnce(&Digest) -> Value) -> Result<Image> {
        let (blob, blob_size) = self.blobs.put(tar, None).ctx(|| "storing layer".into())?;
        let f = self.blobs.open_blob(&blob)?;
        let info = self.layers()?.put_layer(None, f).ctx(|| "unpacking layer".into())?;
        let media_type = self.layer_compression(&blob)?.oci_layer_media_type();
        let cfg = config(&info.diff_id);
        let cfg_bytes = serde_json::to_vec(&cfg).ctx(|| "encoding image config".into())?;
        let (cfg_digest, cfg_size) = self.blobs.put_bytes(&cfg_bytes, None)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": media_type, "digest": blob, "size": blob_size}],
        });
        let m_bytes = serde_json::to_vec(&manifest).ctx(|| "encoding manifest".into())?;
        let (m_digest, _) = self.blobs.put_bytes(&m_bytes, None)?;
        self.add(&m_digest)
    }
}

/// podman's order for images: newest first, then by ID.
fn newest_first(images: &mut [Image]) {
    images.sort_by(|a, b| b.created().cmp(&a.created()).then_with(|| a.id.cmp(&b.id)));
}

/// The references a user's image name may mean, in preference order: for a
/// short name podman's `localhost/` first, then Docker Hub's normalisation.
pub fn lookup_candidates(input: &str) -> Result<Vec<Reference>> {
    let parsed = Reference::parse(input).map_err(|e| Error::new(e.to_string()))?;
    if reference::has_registry(input) {
        return Ok(vec![parsed]);
    }
    let mut out = Vec::new();
    if let Ok(local) = Reference::parse(&format!("localhost/{input}")) {
        out.push(local);
    }
    out.push(parsed);
    Ok(out)
}

/// The reference a new name (`tag`, `import`) gets: short names go under
/// `localhost/`, as podman does, rather than pretending to be Docker Hub images.
pub fn new_name(input: &str) -> Result<Reference> {
    let full = if reference::has_registry(input) { input.to_string() } else { format!("localhost/{input}") };
    let r = Reference::parse(&full).map_err(|e| Error::new(e.to_string()))?;
    if r.digest().is_some() {
        return Err(Error::new(format!("{input}: a tag cannot contain a digest")));
    }
    Ok(r)
}

#[cfg(test)]
mod pipeline_tests {
    use std::os::unix::fs::MetadataExt as _;
    use std::time::{Duration, Instant};

    use super::*;

    fn layer_tar(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(name.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, name.as_bytes()).unwrap();
        b.into_inner().unwrap()
    }

    fn desc(media_type: &str, data: &[u8]) -> Value {
        serde_json::json!({"mediaType": media_type, "digest": Digest::of_bytes(data).to_string(), "size": data.len()})
    }

    /// An engine on a fresh overlay store (staging needs overlay, and root).
    fn overlay_engine() -> (tempfile::TempDir, Engine) {
        assert_eq!(
            fs::metadata("/proc/self").unwrap().uid(),
            0,
            "this test needs root: run it as scripts/test.sh does"
        );
        let t = tempfile::tempdir().unwrap();
        let engine = Engine::open(&t.path().join("root"), &t.path().join("run"), Some("overlay")).unwrap();
        assert!(
            engine.layers().unwrap().stages_independently(),
            "this test needs overlayfs, which could not be mounted here"
        );
        (t, engine)
    }

    /// Layer 0 is unpacked (staged, still invisible) before layer 1's blob
    /// exists at all; the final add commits both without unpacking again.
    #[test]
    fn layers_unpack_while_later_blobs_download() {
        let (t, engine) = overlay_engine();
        let tars = [layer_tar("a"), layer_tar("b")];
        let diff_ids: Vec<String> = tars.iter().map(|t| Digest::of_bytes(t).to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": tars.iter().map(|t| desc("application/vnd.oci.image.layer.v1.tar", t)).collect::<Vec<_>>(),
        }))
        .unwrap();

        let ((), staged) = engine
            .unpack_while(|feed| {
                feed.manifest(manifest.clone());
                feed.blob_ready(engine.blobs.put_bytes(&config, None).unwrap().0);
                feed.blob_ready(engine.blobs.put_bytes(&tars[0], None).unwrap().0);
                let start = Instant::now();
                while feed.staged() < 1 {
                    assert!(start.elapsed() < Duration::from_secs(30), "layer 0 was not unpacked early");
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert!(engine.layers().unwrap().layers().unwrap().is_empty(), "staged layers are invisible");
                // Only now does the last blob "finish downloading".
                feed.blob_ready(engine.blobs.put_bytes(&tars[1], None).unwrap().0);
            })
            .unwrap();
        assert_eq!(staged.0.len(), 2);
        let m = engine.blobs.put_bytes(&manifest, None).unwrap().0;
        let img = engine.add_platform_image(&m, &m, staged).unwrap();
        let stored: HashSet<ChainId> =
            engine.layers().unwrap().layers().unwrap().into_iter().map(|l| l.chain_id).collect();
        assert_eq!(stored, img.chain_ids().into_iter().collect());
        assert_eq!(fs::read_dir(t.path().join("root/overlay/staging")).unwrap().count(), 0);
    }

    /// A pull that fails after some layers were unpacked leaves nothing.
    #[test]
    fn dropped_staged_layers_leave_nothing() {
        if fs::metadata("/proc/self").unwrap().uid() != 0 {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let engine = Engine::open(&t.path().join("root"), &t.path().join("run"), Some("overlay")).unwrap();
        if !engine.layers().unwrap().stages_independently() {
            return;
        }
        let tar = layer_tar("a");
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [Digest::of_bytes(&tar).to_string()]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar", &tar)],
        }))
        .unwrap();
        let (res, staged) = engine
            .unpack_while(|feed| {
                feed.manifest(manifest.clone());
                feed.blob_ready(engine.blobs.put_bytes(&config, None).unwrap().0);
                feed.blob_ready(engine.blobs.put_bytes(&tar, None).unwrap().0);
                Err::<(), _>("the manifest download failed")
            })
            .unwrap();
        assert!(res.is_err());
        assert_eq!(staged.0.len(), 1, "the layer was unpacked before the failure");
        drop(staged);
        assert!(engine.layers().unwrap().layers().unwrap().is_empty());
        assert_eq!(fs::read_dir(t.path().join("root/overlay/staging")).unwrap().count(), 0);
    }

    /// Whether any layer has been unpacked into a staging dir under `dir`.
    fn some_layer_staged(dir: &Path) -> bool {
        let Ok(rd) = fs::read_dir(dir) else { return false };
        rd.flatten().any(|e| {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            (name.starts_with("layer-") && p.join("layer.json").is_file()) || (p.is_dir() && some_layer_staged(&p))
        })
    }

    /// Reads `data`, but once past `gate` waits (up to 30 s) for `ready()`,
    /// recording whether it came before the rest was read.
    struct Gated<'a, F: Fn() -> bool> {
        data: &'a [u8],
        pos: usize,
        gate: usize,
        ready: F,
        waited: Option<bool>,
    }

    impl<F: Fn() -> bool> Read for Gated<'_, F> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos >= self.gate && self.waited.is_none() {
                let start = Instant::now();
                while !(self.ready)() && start.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                self.waited = Some((self.ready)());
            }
            let end = if self.pos < self.gate { self.gate } else { self.data.len() };
            let n = buf.len().min(end - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// `load` unpacks a docker-archive's first layer (into a staging dir)
    /// while the rest of the archive (second layer, config, manifest.json) is
    /// still unread; the add then commits both without unpacking again.
    #[test]
    fn load_unpacks_a_layer_before_the_archive_is_extracted() {
        let (t, engine) = overlay_engine();
        let tars = [layer_tar("a"), layer_tar("b")];
        let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::of_bytes(t)).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        }))
        .unwrap();
        let names: Vec<String> = diff_ids.iter().map(|d| format!("{}.tar", d.hex())).collect();
        let config_name = format!("{}.json", Digest::of_bytes(&config).hex());
        let manifest =
            serde_json::to_vec(&serde_json::json!([{"Config": config_name, "RepoTags": ["early:1"], "Layers": names}]))
                .unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in names
            .iter()
            .zip(&tars)
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .chain([(config_name.as_str(), config.as_slice()), ("manifest.json", manifest.as_slice())])
        {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        }
        let archive = b.into_inner().unwrap();
        let root = t.path().join("root");
        let mut reader = Gated {
            data: &archive,
            pos: 0,
            gate: 512 + tars[0].len(),
            ready: || some_layer_staged(&root),
            waited: None,
        };
        let (loaded, mut early) =
            engine.load_staging_with(|hook| archive::load_reader_with(&mut reader, &engine.blobs, hook)).unwrap();
        assert_eq!(reader.waited, Some(true), "layer 0 was not unpacked while the archive was being read");
        assert_eq!(early.len(), 2);
        assert!(engine.layers().unwrap().layers().unwrap().is_empty(), "staged layers are invisible");
        let img = engine.add_early(&loaded[0].manifest, &mut early).unwrap();
        assert!(early.is_empty());
        let stored: HashSet<ChainId> =
            engine.layers().unwrap().layers().unwrap().into_iter().map(|l| l.chain_id).collect();
        assert_eq!(stored, img.chain_ids().into_iter().collect());
        assert!(!some_layer_staged(&root), "no staging leftovers");
    }
}
