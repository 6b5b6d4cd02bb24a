//! Image bookkeeping across the blob store (`image`) and the layer store
//! (`storage`): load/import an image and unpack its layers, find an image by
//! name or ID, remove it and the layers only it used.
//!
//! This is engine logic, not command-line logic; it lives here only until the
//! `engine` crate exists and moves there unchanged.
//!
//! On disk (beside the `image` store's files under `--root`):
//! `image-records/<manifest hex>.json` says "this image is present", whether
//! or not any name points at it. The name index alone cannot hold an image
//! with no name (a dangling image after its tag moved, an unnamed import), and
//! podman lists those as `<none>`. One file per image, written atomically, so
//! concurrent loads of different images never contend.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use image::archive::{self, ArchiveImage};
use image::digest::Digest;
use image::manifest::{self, Manifest, PlatformSpec};
use image::reference::{self, Reference};
use oci_spec::image::{Descriptor, ImageManifest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storage::ChainId;

use crate::error::{CliError, Context as _, Result};

/// Where berth keeps things when the user does not say.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUNROOT: &str = "/run/berth";

/// The `--root`/`--runroot`/`--storage-driver` every command honours.
pub struct Engine {
    pub blobs: image::store::Store,
    root: PathBuf,
    runroot: PathBuf,
    driver: Option<String>,
    layers: std::cell::OnceCell<storage::Store>,
}

/// What a record on disk says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// The digest names point at (an index for multi-platform images).
    top: Digest,
    /// The image manifest whose layers were unpacked.
    manifest: Digest,
}

/// One image with everything the commands show about it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the config digest (podman's and docker's ID).
    pub id: Digest,
    pub top: Digest,
    pub manifest: Digest,
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
        hex.len() >= 3 && (self.id.hex().starts_with(hex) || self.manifest.hex() == hex)
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

    fn holder(&self) -> String {
        holder(&self.manifest)
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

fn holder(manifest: &Digest) -> String {
    format!("image:{}", manifest.hex())
}

impl Engine {
    pub fn open(root: &Path, runroot: &Path, driver: Option<&str>) -> Result<Engine> {
        let blobs = image::store::Store::open(root).ctx(|| format!("opening image store {}", root.display()))?;
        Ok(Engine {
            blobs,
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            driver: driver.map(String::from),
            layers: std::cell::OnceCell::new(),
        })
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

    fn records_dir(&self) -> PathBuf {
        self.root.join("image-records")
    }

    // ---- adding images ----

    /// Load an archive (path, or stdin when `None`), unpack each image's
    /// layers and record it. Returns each name the archive gave (or `None`
    /// for an unnamed image) with the image's ID.
    pub fn load(&self, input: Option<&Path>) -> Result<Vec<(Option<Reference>, Digest)>> {
        let loaded = match input {
            Some(p) => archive::load(p, &self.blobs),
            None => archive::load_reader(std::io::stdin().lock(), &self.blobs),
        }
        .ctx(|| "loading image".into())?;
        let mut ids = std::collections::HashMap::new();
        let mut out = Vec::new();
        for ArchiveImage { reference, manifest } in loaded {
            let id = match ids.get(&manifest) {
                Some(id) => Clone::clone(id),
                None => {
                    let id = self.add(&manifest)?.id;
                    ids.insert(manifest, id.clone());
                    id
                }
            };
            out.push((reference, id));
        }
        Ok(out)
    }

    /// Unpack the image `top` points at and record it. Idempotent.
    pub fn add(&self, top: &Digest) -> Result<Image> {
        let manifest = self.platform_manifest(top)?;
        let img = self.describe(&Record { top: top.clone(), manifest })?;
        self.unpack(&img)?;
        self.layers()?.retain_layers(&img.holder(), &img.chain_ids())?;
        self.write_record(&Record { top: img.top.clone(), manifest: img.manifest.clone() })?;
        Ok(img)
    }

    /// Unpack an image's layers into the layer store (concurrently where the
    /// driver allows; layers already there are reused).
    fn unpack(&self, img: &Image) -> Result<()> {
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
    pub fn add_platform_image(&self, top: &Digest, manifest: &Digest) -> Result<Image> {
        if self.platform_manifest(top).ok().as_ref() == Some(manifest) {
            return self.add(top);
        }
        let img = self.describe(&Record { top: top.clone(), manifest: manifest.clone() })?;
        self.unpack(&img)?;
        self.layers()?.retain_layers(&img.holder(), &img.chain_ids())?;
        self.write_record(&Record { top: img.top.clone(), manifest: img.manifest.clone() })?;
        Ok(img)
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

    fn write_record(&self, r: &Record) -> Result<()> {
        let dir = self.records_dir();
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let data = serde_json::to_vec(r).ctx(|| "encoding image record".into())?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .ctx(|| format!("creating temp file in {}", dir.display()))?;
        tmp.write_all(&data).ctx(|| "writing image record".into())?;
        tmp.as_file().sync_all().ctx(|| "syncing image record".into())?;
        let dest = dir.join(format!("{}.json", r.manifest.hex()));
        tmp.persist(&dest).ctx(|| format!("writing {}", dest.display()))?;
        Ok(())
    }

    fn records(&self) -> Result<Vec<Record>> {
        let dir = self.records_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CliError::new(format!("listing {}: {e}", dir.display()))),
        };
        let mut out = Vec::new();
        for e in entries {
            let path = e.ctx(|| format!("listing {}", dir.display()))?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            // A record removed by a concurrent rmi between listing and reading is just gone.
            let Ok(data) = fs::read(&path) else { continue };
            let r: Record = serde_json::from_slice(&data).ctx(|| format!("corrupt image record {}", path.display()))?;
            out.push(r);
        }
        Ok(out)
    }

    /// Everything shown about the image a record names.
    fn describe(&self, r: &Record) -> Result<Image> {
        let raw = self.blobs.get(&r.manifest)?;
        let Manifest::Image(kind, m) = Manifest::parse(&raw, None)? else {
            return Err(CliError::new(format!("{}: not an image manifest", r.manifest)));
        };
        let m: &ImageManifest = &m;
        let id = manifest::descriptor_digest(m.config())?;
        let config_bytes = self.blobs.get(&id)?;
        let parsed = manifest::parse_config(&config_bytes)?;
        let diff_ids = manifest::diff_ids(&parsed)?;
        if diff_ids.len() != m.layers().len() {
            return Err(CliError::new(format!("image {}: manifest and config disagree on the layer count", id.hex())));
        }
        let config: Value = serde_json::from_slice(&config_bytes).ctx(|| format!("image config {id}"))?;
        let size = self.layers_size(&diff_ids).unwrap_or_else(|| m.layers().iter().map(|l| l.size()).sum());
        Ok(Image {
            id,
            top: r.top.clone(),
            manifest: r.manifest.clone(),
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
        let mut out = Vec::new();
        for r in self.records()? {
            let mut img = match self.describe(&r) {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!("skipping image {}: {e}", r.manifest);
                    continue;
                }
            };
            img.names = index.names_for(&img.top);
            out.push(img);
        }
        out.sort_by(|a, b| b.created().cmp(&a.created()).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Find one image the way podman does: full or short ID (with or without
    /// `sha256:`), a manifest digest, or a name, short names matching any
    /// registry (`foo` finds `localhost/foo:latest` and `docker.io/library/foo`).
    pub fn find(&self, input: &str) -> Result<Option<Image>> {
        let images = self.images()?;
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if hex.len() >= 3 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Image> =
                images.iter().filter(|i| i.id.hex().starts_with(hex) || i.manifest.hex() == hex).collect();
            if hits.len() == 1 {
                return Ok(hits.first().map(|i| (*i).clone()));
            }
            let ids: HashSet<&Digest> = hits.iter().map(|i| &i.id).collect();
            if ids.len() > 1 {
                return Err(CliError::new(format!("{input}: short ID is ambiguous")));
            }
            if let Some(i) = hits.first() {
                return Ok(Some((*i).clone()));
            }
        }
        let candidates = lookup_candidates(input)?;
        for want in &candidates {
            if let Some(img) = images.iter().find(|i| i.names.iter().any(|n| n == want) || digest_match(i, want)) {
                return Ok(Some(img.clone()));
            }
        }
        // A short name also matches a name in any registry with that path.
        if !reference::has_registry(input) {
            if let Some(want) = candidates.first() {
                let img = images.iter().find(|i| {
                    i.names.iter().any(|n| {
                        n.tag() == want.tag()
                            && (n.path() == want.path() || n.path().ends_with(&format!("/{}", want.path())))
                    })
                });
                return Ok(img.cloned());
            }
        }
        Ok(None)
    }

    /// [`find`](Self::find), failing with podman's message when absent.
    pub fn get(&self, input: &str) -> Result<Image> {
        self.find(input)?.ok_or_else(|| CliError::new(format!("{input}: image not known")))
    }

    // ---- removing images ----

    /// Remove an image: its names, its record, its layers and blobs that no
    /// other image uses.
    pub fn remove(&self, img: &Image) -> Result<()> {
        // Names first: a crash after this leaves a dangling image, which
        // `image prune` removes, never a name pointing at missing content.
        self.blobs.update_index(|idx| {
            idx.remove_digest(&img.top);
            Ok(())
        })?;
        let rec = self.records_dir().join(format!("{}.json", img.manifest.hex()));
        match fs::remove_file(&rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::new(format!("removing {}: {e}", rec.display()))),
        }
        let layers = self.layers()?;
        layers.release_layers(&img.holder())?;
        // Top down: a layer is removable only once its children are gone;
        // a layer another image still holds stays (shared base layers).
        for c in img.chain_ids().iter().rev() {
            match layers.remove_layer(c) {
                Ok(()) => {}
                Err(storage::Error::LayerInUse { .. } | storage::Error::LayerNotKnown(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.delete_unused_blobs(img)
    }

    fn delete_unused_blobs(&self, img: &Image) -> Result<()> {
        let mut used = HashSet::new();
        for other in self.images()? {
            used.extend([other.top.clone(), other.manifest.clone(), other.id.clone()]);
            for l in &other.layers {
                used.extend(manifest::descriptor_digest(l).ok());
            }
        }
        let mut mine = vec![img.top.clone(), img.manifest.clone(), img.id.clone()];
        mine.extend(img.layers.iter().filter_map(|l| manifest::descriptor_digest(l).ok()));
        if img.top != img.manifest {
            // The other platforms' manifests of an index go with it.
            if let Ok(Manifest::Index(_, idx)) = Manifest::parse(&self.blobs.get(&img.top)?, None) {
                mine.extend(idx.manifests().iter().filter_map(|d| manifest::descriptor_digest(d).ok()));
            }
        }
        for d in mine.iter().filter(|d| !used.contains(*d)) {
            self.blobs.delete(d)?;
        }
        Ok(())
    }

    // ---- creating images ----

    /// Store a new single-layer image (`import`): the layer blob as given,
    /// its config and an OCI manifest. Returns the new image.
    pub fn create_from_layer(&self, tar: impl Read, config: impl FnOnce(&Digest) -> Value) -> Result<Image> {
        let (blob, blob_size) = self.blobs.put(tar, None).ctx(|| "storing layer".into())?;
        let f = self.blobs.open_blob(&blob)?;
        let info = self.layers()?.put_layer(None, f).ctx(|| "unpacking layer".into())?;
        let media_type = if info.diff_id == blob {
            "application/vnd.oci.image.layer.v1.tar"
        } else if is_zstd(&self.blobs, &blob) {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        } else {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        };
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

fn is_zstd(store: &image::store::Store, blob: &Digest) -> bool {
    let mut magic = [0u8; 4];
    store
        .open_blob(blob)
        .and_then(|mut f| f.read_exact(&mut magic).map_err(|e| image::Error::Other(e.to_string())))
        .is_ok()
        && magic == [0x28, 0xb5, 0x2f, 0xfd]
}

fn digest_match(img: &Image, want: &Reference) -> bool {
    want.digest().is_some_and(|d| *d == img.top || *d == img.manifest)
}

/// The references a user's image name may mean, in preference order: for a
/// short name podman's `localhost/` first, then Docker Hub's normalisation.
pub fn lookup_candidates(input: &str) -> Result<Vec<Reference>> {
    let parsed = Reference::parse(input).map_err(|e| CliError::new(e.to_string()))?;
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
    let r = Reference::parse(&full).map_err(|e| CliError::new(e.to_string()))?;
    if r.digest().is_some() {
        return Err(CliError::new(format!("{input}: a tag cannot contain a digest")));
    }
    Ok(r)
}
