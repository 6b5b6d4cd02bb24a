//! A built image squashed (`build --squash`, `--squash-all`): its first
//! `keep` layers as they are, and everything the rest make as one new
//! layer.

use image::digest::Digest;
use serde_json::Value;

use super::copy::{buffered, through_pipe, PIPE_BUFFER};
use crate::error::{Context as _, Error, Result};
use crate::{Engine, Image};

impl Engine {
    /// `image` with its layers from the `keep`th on made one, under config
    /// `cfg` (the caller's, history included; `rootfs` is set here). With
    /// nothing to squash (no layers past `keep`), the image gets no new
    /// layer.
    pub fn squash_image(&self, image: &Image, keep: usize, cfg: Value, docker: bool) -> Result<Image> {
        if keep > image.layers.len() {
            return Err(Error::new(format!("squashing {}: it has fewer than {keep} layers", image.id)));
        }
        let chains = image.chain_ids();
        if keep == image.layers.len() {
            return self.write_image(&image.layers, &image.diff_ids, None, cfg, docker);
        }
        let layers = self.layers()?;
        let (produced, put) = through_pipe(
            |writer| {
                let mut out = std::io::BufWriter::with_capacity(PIPE_BUFFER, writer);
                layers.diff_between(&chains[..keep], &chains, &mut out)?;
                std::io::Write::flush(&mut out).ctx(|| "writing the squashed layer".into())
            },
            |mut reader| Ok(self.blobs.put(&mut reader as &mut dyn std::io::Read, None)?),
        )?;
        produced?;
        let (blob, size): (Digest, u64) = put?;
        self.layers()?
            .put_layer_with_diff_id(chains[..keep].last(), &blob, buffered(self.blobs.open_blob(&blob)?))
            .ctx(|| "storing the squashed layer".into())?;
        self.write_image(&image.layers[..keep], &image.diff_ids[..keep], Some((blob, size)), cfg, docker)
    }
}
