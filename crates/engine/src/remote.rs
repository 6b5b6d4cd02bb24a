//! Images from and to registries: what a name the user typed means
//! (registries.conf's aliases and search registries, found as podman finds
//! them), pull (verified blobs, layers unpacked as they arrive, everything
//! undone on failure) and push. The protocol is the `registry` crate's;
//! progress goes to the caller's callback.

use std::collections::HashSet;

use image::digest::Digest;
use image::manifest::{descriptor_digest, is_config_media_type, layer_compression, Manifest, PlatformSpec};
use image::reference::registries::RegistriesConf;
use image::reference::Reference;
pub use registry::Event;
use registry::{PullOptions, PushOptions};
use storage::ChainId;

use crate::error::{Context as _, Error, Result};
use crate::login::{AuthFile, Credentials};
use crate::{Engine, Image};

/// How to reach registries: what the front end's flags say.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// `false` allows plain http and unverified TLS (`--tls-verify=false`).
    pub tls_verify: bool,
    /// Use these rather than saved ones (`--creds`).
    pub credentials: Option<Credentials>,
    /// The auth file; `None` means podman's default location.
    pub auth_file: Option<AuthFile>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions { tls_verify: true, credentials: None, auth_file: None }
    }
}

/// The registries configuration podman would use here.
pub fn registries_conf() -> Result<RegistriesConf> {
    Ok(RegistriesConf::load_default()?)
}

impl Engine {
    /// Pull what a user typed (`pull`, and `run` for an image it lacks): a
    /// short name through registries.conf's aliases or each
    /// unqualified-search registry in turn until one has it. `note` gets
    /// podman's status lines (`Resolved "x" as an alias (file)`, `Trying to
    /// pull ...`). Everything that can be refused without the network is
    /// refused first.
    pub fn pull_named(
        &self,
        input: &str,
        remote: &RemoteOptions,
        platform: Option<PlatformSpec>,
        note: &dyn Fn(&str),
        progress: &dyn Fn(Event),
    ) -> Result<Image> {
        let conf = registries_conf()?;
        let candidates = conf.candidates(input)?;
        if let Some(origin) = &candidates.alias_origin {
            note(&format!("Resolved {:?} as an alias ({origin})", short_name(input)));
        }
        let opts = PullOptions {
            platform,
            tls_verify: remote.tls_verify,
            registries_conf: Some(conf),
            credentials: remote.credentials.clone(),
            auth_file: remote.auth_file.clone(),
            ..PullOptions::default()
        };
        let refs = &candidates.references;
        let mut errors = Vec::new();
        for r in refs {
            note(&format!("Trying to pull {r}..."));
            match self.pull(r, &opts, progress) {
                Ok(img) => return Ok(img),
                Err(e) if refs.len() == 1 => return Err(Error::new(format!("pulling {r}: {e}"))),
                Err(e) => errors.push(format!("{r}: {e}")),
            }
        }
        Err(Error::new(format!("pulling {input}: {}", errors.join("; "))))
    }

    /// Push `img` to `dest` (the whole index when every platform is here,
    /// else the image's manifest), as stored, byte for byte.
    pub fn push(&self, img: &Image, dest: &Reference, remote: &RemoteOptions, progress: &dyn Fn(Event)) -> Result<()> {
        let what = self.push_target(img)?;
        // The registry crate pushes what a name resolves to; a digest
        // reference resolves to itself and works for unnamed images too.
        let local = Reference::from_parts(dest.name().clone(), None, Some(what))?;
        let opts = PushOptions {
            tls_verify: remote.tls_verify,
            registries_conf: Some(registries_conf()?),
            credentials: remote.credentials.clone(),
            auth_file: remote.auth_file.clone(),
            ..PushOptions::default()
        };
        registry::push(&self.blobs, &local, dest, &opts, progress)
            .map_err(|e| Error::new(format!("pushing {dest}: {e}")))?;
        crate::events::image(self.runroot(), crate::events::Status::Push, &img.id.to_string(), &dest.to_string());
        Ok(())
    }

    /// Pull one fully qualified reference and unpack it. On any failure the
    /// store is put back as it was: no name, no new blobs, no new layers.
    pub fn pull(&self, r: &Reference, opts: &PullOptions, progress: &dyn Fn(Event)) -> Result<Image> {
        let before = Snapshot::take(self, r)?;
        // Layers are unpacked as their blobs arrive, while the rest download;
        // they become visible only when `add_platform_image` commits them.
        let (pulled, staged) = self.unpack_while(|feed| {
            registry::pull(&self.blobs, r, opts, &|e| {
                match &e {
                    Event::ImageManifest { bytes, .. } => feed.manifest(bytes.clone()),
                    Event::BlobDone { digest } | Event::BlobSkipped { digest } => feed.blob_ready(digest.clone()),
                    _ => {}
                }
                progress(e)
            })
        })?;
        let res = pulled.map_err(|e| Error::new(e.to_string())).and_then(|manifest| {
            // The name now points at what the registry served (an index for
            // multi-platform images); a digest reference names that itself.
            let top = match r.digest() {
                Some(d) => d.clone(),
                None => self.blobs.resolve(r)?.unwrap_or_else(|| manifest.clone()),
            };
            check_media_types(self, &manifest)?;
            self.add_platform_image(&top, &manifest, staged)
        });
        match &res {
            Ok(img) => {
                crate::events::image(self.runroot(), crate::events::Status::Pull, &img.id.to_string(), &r.to_string())
            }
            Err(_) => before.restore(self),
        }
        res
    }

    /// The whole index when every platform is here (an image loaded that way),
    /// else the one platform image we have, as podman does after a pull.
    pub fn push_target(&self, img: &Image) -> Result<Digest> {
        if img.top == img.manifest {
            return Ok(img.top.clone());
        }
        let m = Manifest::parse(&self.blobs.get(&img.top)?, None)?;
        let complete = m.references().iter().all(|d| descriptor_digest(d).is_ok_and(|d| self.blobs.exists(&d)));
        Ok(if complete { img.top.clone() } else { img.manifest.clone() })
    }

    /// Config digests of a manifest (each child's for an index): the progress
    /// lines call those "config", not "blob".
    pub fn config_digests(&self, top: &Digest) -> Result<HashSet<Digest>> {
        let mut out = HashSet::new();
        match Manifest::parse(&self.blobs.get(top)?, None)? {
            Manifest::Image(_, m) => {
                out.insert(descriptor_digest(m.config())?);
            }
            Manifest::Index(_, idx) => {
                for d in idx.manifests() {
                    out.extend(self.config_digests(&descriptor_digest(d)?)?);
                }
            }
        }
        Ok(out)
    }
}

/// `name` of `name:tag` as typed.
fn short_name(input: &str) -> &str {
    let no_digest = input.split('@').next().unwrap_or(input);
    match no_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => no_digest,
    }
}

/// Only container images are unpacked: an OCI artifact (a Helm chart, a
/// signature) or an unknown layer type is refused rather than guessed at.
fn check_media_types(engine: &Engine, manifest: &Digest) -> Result<()> {
    let Manifest::Image(_, m) = Manifest::parse(&engine.blobs.get(manifest)?, None)? else {
        return Err(Error::new(format!("{manifest}: not an image manifest")));
    };
    if !is_config_media_type(m.config().media_type()) {
        return Err(Error::new(format!(
            "unsupported media type {} for the config of {manifest}: not a container image",
            m.config().media_type()
        )));
    }
    for l in m.layers() {
        layer_compression(l.media_type()).ctx(|| format!("layer {} of {manifest}", l.digest()))?;
    }
    Ok(())
}

/// What a pull may change, recorded before it starts so a failed pull can
/// be undone: blobs and layers are content-addressed, so "new since the
/// snapshot" is exactly what this pull wrote (a concurrent pull of the same
/// content would lose its blobs too and have to fetch them again; nothing
/// it named can break, since names are written only after the content).
struct Snapshot {
    name: Option<Reference>,
    named: Option<Digest>,
    blobs: HashSet<Digest>,
    layers: HashSet<ChainId>,
}

impl Snapshot {
    fn take(engine: &Engine, r: &Reference) -> Result<Snapshot> {
        let name = match r.tag() {
            Some(t) => Some(Reference::from_parts(r.name().clone(), Some(t), None)?),
            None => None,
        };
        let named = match &name {
            Some(n) => engine.blobs.resolve(n)?,
            None => None,
        };
        let blobs = engine.blobs.list()?.into_iter().collect();
        let layers = engine.layers()?.layers()?.into_iter().map(|l| l.chain_id).collect();
        Ok(Snapshot { name, named, blobs, layers })
    }

    /// Best effort: the pull's own error is what the user needs to see.
    fn restore(&self, engine: &Engine) {
        if let Some(name) = &self.name {
            let res = match &self.named {
                Some(d) => engine.blobs.tag(name, d).map(|_| ()),
                None => engine.blobs.untag(name).map(|_| ()),
            };
            if let Err(e) = res {
                tracing::debug!("restoring {name}: {e}");
            }
        }
        if let Ok(now) = engine.blobs.list() {
            for d in now.iter().filter(|d| !self.blobs.contains(d)) {
                if let Err(e) = engine.blobs.delete(d) {
                    tracing::warn!("removing blob {d} of the failed pull: {e}");
                }
            }
        }
        let Ok(layers) = engine.layers() else { return };
        let mut new: Vec<ChainId> = match layers.layers() {
            Ok(ls) => ls.into_iter().map(|l| l.chain_id).filter(|c| !self.layers.contains(c)).collect(),
            Err(_) => return,
        };
        // Children before parents: retry until a pass removes nothing.
        while !new.is_empty() {
            let before = new.len();
            new.retain(|c| layers.remove_layer(c).is_err());
            if new.len() == before {
                tracing::warn!("{} layers of the failed pull are still in use", new.len());
                break;
            }
        }
    }
}
