//! `commit`: a new image from a container, podman's way: the image's
//! layers, then one layer of the container's changes (its diff tar, with
//! OCI whiteouts for what it deleted; `--squash`: one layer of the whole
//! filesystem instead), and a config that runs what the container ran
//! (its entrypoint, command, environment, user, working directory and
//! labels), with the caller's `--change`s on top and a history entry.

use std::io::Read;
use std::time::SystemTime;

use image::digest::Digest;
use image::manifest::media_types as mt;
use serde_json::{json, Map, Value};

use super::copy::{buffered, PIPE_BUFFER};
use super::Container;
use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

/// What `commit` was asked for beyond the container.
#[derive(Debug, Default, Clone)]
pub struct CommitSpec {
    pub message: Option<String>,
    pub author: Option<String>,
    /// Freeze the container while its changes are read.
    pub pause: bool,
    /// One layer for the whole filesystem.
    pub squash: bool,
    /// A Docker schema2 manifest and config instead of OCI ones.
    pub docker: bool,
    /// The container's volumes become the image's VOLUMEs.
    pub include_volumes: bool,
}

impl Engine {
    /// Commit container `c` as a new image; `change` edits the image's
    /// `config` object last (`--change`). Returns the image (not tagged).
    pub fn commit_container(
        &self,
        c: &Container,
        spec: &CommitSpec,
        change: impl FnOnce(&mut Map<String, Value>) -> Result<()>,
    ) -> Result<Image> {
        let base = self.get(&c.image_id)?;
        let paused = spec.pause && c.state == super::State::Running;
        if paused {
            self.pause_container(c)?;
        }
        let layer = self.store_container_layer(c, spec.squash);
        if paused {
            if let Err(e) = self.unpause_container(c) {
                tracing::warn!("unpausing {} after the commit: {e}", c.id);
            }
        }
        let (blob, size) = layer?;
        // Uncompressed: the blob's digest is its diff_id.
        let parent = if spec.squash { None } else { base.chain_ids().last().cloned() };
        self.layers()?
            .put_layer_with_diff_id(parent.as_ref(), &blob, buffered(self.blobs.open_blob(&blob)?))
            .ctx(|| "storing the new layer".into())?;

        let mut cfg = base.config.clone();
        let mut config = cfg.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
        self.container_config_into(c, spec, &mut config);
        change(&mut config)?;
        let created = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let mut history: Vec<Value> = if spec.squash {
            Vec::new()
        } else {
            cfg.get("history").and_then(Value::as_array).cloned().unwrap_or_default()
        };
        // podman's (buildah's) words for a commit.
        let mut entry = json!({"created": created, "created_by": "/bin/sh"});
        if let Some(a) = spec.author.as_deref().filter(|a| !a.is_empty()) {
            entry["author"] = json!(a);
            cfg["author"] = json!(a);
        }
        match spec.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => {
                entry["comment"] = json!(m);
                cfg["comment"] = json!(m);
            }
            None => entry["comment"] = json!(format!("FROM {}", c.image_name)),
        }
        history.push(entry);
        cfg["created"] = json!(created);
        cfg["config"] = Value::Object(config);
        cfg["history"] = Value::Array(history);
        let base_layers = if spec.squash { &[][..] } else { &base.layers[..] };
        let base_diff_ids = if spec.squash { &[][..] } else { &base.diff_ids[..] };
        self.write_image(base_layers, base_diff_ids, Some((blob, size)), cfg, spec.docker)
    }

    /// A build step's image: `base`'s layers, plus container `changes`'
    /// layer when given, under image config `cfg` (the caller's whole
    /// config, its history included; `rootfs` is set here).
    pub fn commit_step(&self, base: &Image, changes: Option<&Container>, cfg: Value, docker: bool) -> Result<Image> {
        let layer = match changes {
            Some(c) => {
                let parent = base.chain_ids().last().cloned();
                match self.adopt_step_layer(c, parent.as_ref())? {
                    Some(layer) => Some(layer),
                    None => {
                        let (blob, size) = self.store_container_layer(c, false)?;
                        self.layers()?
                            .put_layer_with_diff_id(parent.as_ref(), &blob, buffered(self.blobs.open_blob(&blob)?))
                            .ctx(|| "storing the new layer".into())?;
                        Some((blob, size))
                    }
                }
            }
            None => None,
        };
        self.write_image(&base.layers, &base.diff_ids, layer, cfg, docker)
    }

    /// A build step's layer made of container `c`'s changes where they
    /// are (`storage::Store::adopt_container_layer`): its tar is read once,
    /// into the blob store, instead of being unpacked again into a new
    /// layer (for a 50 MB COPY, 50 MB less to write and, with the
    /// container's removal, a tree less to delete). Consumes the
    /// container's changes: only for a container removed next. `None`
    /// where the store cannot, with the container as it was.
    fn adopt_step_layer(&self, c: &Container, parent: Option<&storage::ChainId>) -> Result<Option<(Digest, u64)>> {
        let layers = self.layers()?;
        let Some(mut adopted) = layers.adopt_container_layer(&c.id)? else {
            return Ok(None);
        };
        if adopted.parent() != parent {
            return Err(Error::new(format!("container {} is not of the image being built on", c.id)));
        }
        let mut tar_digest = None;
        let (written, put) = super::copy::through_pipe(
            |writer| {
                // Buffered: the tar writer writes each header and file
                // tail apart, a syscall each on a bare pipe.
                let mut out = std::io::BufWriter::with_capacity(PIPE_BUFFER, writer);
                tar_digest = Some(adopted.write_tar(&mut out)?.0);
                std::io::Write::flush(&mut out).ctx(|| "writing the layer".into())
            },
            |mut reader| Ok(self.blobs.put(&mut reader as &mut dyn Read, None)?),
        )?;
        written?;
        let (blob, size) = put?;
        // The blob store hashed what it read of the tar the layer's digest
        // is of: they differ only if the pipe lost bytes.
        let diff_id = tar_digest.ok_or_else(|| Error::new("the adopted layer's tar was not written"))?;
        diff_id.verify(&blob, "the adopted layer's tar")?;
        layers.commit_adopted(adopted).ctx(|| "storing the new layer".into())?;
        Ok(Some((blob, size)))
    }

    /// An image with no layers and an empty config for this host's
    /// platform: what a build's `FROM scratch` starts from.
    pub fn empty_image(&self, docker: bool) -> Result<Image> {
        let host = image::manifest::PlatformSpec::host();
        let mut cfg = json!({"architecture": host.architecture, "os": host.os, "config": {}, "history": []});
        if let Some(v) = host.variant {
            cfg["variant"] = json!(v);
        }
        self.write_image(&[], &[], None, cfg, docker)
    }

    /// Write an image: layers `base_layers` (their diff IDs `base_diff_ids`)
    /// and the uncompressed layer `new` on top, config `cfg` (its `rootfs`
    /// set here; Docker's record of a build container dropped), as an OCI
    /// or Docker manifest. The image is added to the store, untagged.
    pub(crate) fn write_image(
        &self,
        base_layers: &[oci_spec::image::Descriptor],
        base_diff_ids: &[Digest],
        new: Option<(Digest, u64)>,
        mut cfg: Value,
        docker: bool,
    ) -> Result<Image> {
        let mut diff_ids: Vec<String> = base_diff_ids.iter().map(Digest::to_string).collect();
        diff_ids.extend(new.iter().map(|(blob, _)| blob.to_string()));
        cfg["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        if let Some(obj) = cfg.as_object_mut() {
            // Docker's record of the build container; this one is not it.
            obj.remove("container_config");
            obj.remove("container");
        }
        let mut layers = Vec::new();
        for d in base_layers {
            let media = layer_media_type(d.media_type().as_ref(), docker)?;
            layers.push(json!({"mediaType": media, "digest": d.digest().to_string(), "size": d.size()}));
        }
        if let Some((blob, size)) = new {
            let plain = if docker { mt::DOCKER_LAYER } else { mt::OCI_LAYER };
            layers.push(json!({"mediaType": plain, "digest": blob.to_string(), "size": size}));
        }
        let cfg_bytes = serde_json::to_vec(&cfg).ctx(|| "encoding image config".into())?;
        let (cfg_digest, cfg_size) = self.blobs.put_bytes(&cfg_bytes, None)?;
        let (manifest_type, config_type) =
            if docker { (mt::DOCKER_MANIFEST, mt::DOCKER_CONFIG) } else { (mt::OCI_MANIFEST, mt::OCI_CONFIG) };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": cfg_digest.to_string(), "size": cfg_size},
            "layers": layers,
        });
        let m_bytes = serde_json::to_vec(&manifest).ctx(|| "encoding manifest".into())?;
        let (m_digest, _) = self.blobs.put_bytes(&m_bytes, None)?;
        self.add(&m_digest)
    }

    /// The container's changes (or, squashed, its whole filesystem) as an
    /// uncompressed layer blob: (digest, size).
    fn store_container_layer(&self, c: &Container, squash: bool) -> Result<(Digest, u64)> {
        let layers = self.layers()?;
        let mounted = if squash { Some(layers.mount(&c.id)?) } else { None };
        let stored = super::copy::through_pipe(
            |writer| {
                // Buffered: the tar writer writes each header and file
                // tail apart, a syscall each on a bare pipe.
                let mut out = std::io::BufWriter::with_capacity(PIPE_BUFFER, writer);
                match &mounted {
                    Some(root) => image::layer::create(root, image::layer::Source::Full, &mut out).map(drop)?,
                    None => layers.container_diff(&c.id, &mut out)?,
                }
                std::io::Write::flush(&mut out).ctx(|| "writing the layer".into())
            },
            |mut reader| Ok(self.blobs.put(&mut reader as &mut dyn Read, None)?),
        )
        .and_then(|(produced, put)| produced.and(put));
        if mounted.is_some() {
            if let Err(e) = layers.unmount(&c.id) {
                tracing::warn!("unmounting the storage of {}: {e}", c.id);
            }
        }
        stored
    }

    /// What the container runs, as image config (podman's commit): its
    /// environment, entrypoint, command, user, working directory, labels.
    fn container_config_into(&self, c: &Container, spec: &CommitSpec, config: &mut Map<String, Value>) {
        if let Some(env) = &c.env {
            config.insert("Env".into(), json!(env));
        }
        // Records made before entrypoint and command were kept have neither.
        if !c.entrypoint.is_empty() || !c.command.is_empty() {
            for (key, value) in [("Entrypoint", &c.entrypoint), ("Cmd", &c.command)] {
                if value.is_empty() {
                    config.remove(key);
                } else {
                    config.insert(key.into(), json!(value));
                }
            }
        }
        if !c.user.is_empty() {
            config.insert("User".into(), json!(c.user));
        }
        let bundle = self.bundle_dir(&c.id).join("config.json");
        let cwd = sys::fs::read_regular(&bundle, 16 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["process"]["cwd"].as_str().map(String::from));
        if let Some(cwd) = cwd {
            config.insert("WorkingDir".into(), json!(cwd));
        }
        if !c.labels.is_empty() {
            config.insert("Labels".into(), json!(c.labels));
        }
        if spec.include_volumes {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            for m in &c.mounts {
                vols[m.destination()] = json!({});
            }
        }
    }
}

/// A base layer's media type in the manifest format being written.
fn layer_media_type(given: &str, docker: bool) -> Result<&'static str> {
    let oci = image::manifest::to_oci_media_type(&given.into());
    let compression = image::manifest::layer_compression(&oci)?;
    use image::manifest::Compression as C;
    Ok(match (compression, docker) {
        (C::None, false) => mt::OCI_LAYER,
        (C::Gzip, false) => mt::OCI_LAYER_GZIP,
        (C::Zstd, false) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (C::None, true) => mt::DOCKER_LAYER,
        (C::Gzip, true) => mt::DOCKER_LAYER_GZIP,
        (C::Zstd, true) => return Err(Error::new("a zstd-compressed layer cannot be part of a docker format image")),
    })
}
