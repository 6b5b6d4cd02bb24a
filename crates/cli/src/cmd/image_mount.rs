//! `image mount` and `image unmount` (`umount`): an image's root
//! filesystem, read-only, for the host to read; as podman 4.3's, whose
//! top-level `mount` takes containers only (so does berth's).

use engine::{Engine, Image};
use serde_json::{json, Value};

use super::filesystem::indented;
use super::out;
use crate::error::{CliError, Result};
use crate::format::tabwrite;

/// podman's words for `--all` with names.
const ALL_AND_NAMES: &str = "when using the --all switch, you may not pass any image names or IDs";

#[derive(clap::Args)]
pub struct ImageMountArgs {
    /// Mount all images
    #[arg(short, long)]
    all: bool,
    /// Print the mounted images in specified format (json)
    #[arg(long)]
    format: Option<String>,
    /// The images to mount
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn mount(engine: &Engine, a: &ImageMountArgs) -> Result<u8> {
    if a.all && !a.images.is_empty() {
        return Err(CliError::new(ALL_AND_NAMES));
    }
    // Checked before anything is mounted (podman mounts, then refuses the
    // format, leaving the mounts counted with nobody to undo them).
    if let Some(f) = a.format.as_deref().filter(|f| !crate::format::is_json(f)) {
        return Err(CliError::new(format!("unknown --format argument: {f:?}")));
    }
    let mounted: Vec<(Image, std::path::PathBuf)> = if a.all {
        let mut done = Vec::new();
        for img in engine.images()? {
            let at = engine.mount_image(&img)?;
            done.push((img, at));
        }
        done
    } else if a.images.is_empty() {
        engine.mounted_images()?
    } else {
        let mut done = Vec::new();
        for name in &a.images {
            let img = find(engine, name)?;
            let at = engine.mount_image(&img)?;
            done.push((img, at));
        }
        done
    };
    // One image named: its mount point alone.
    if let ([_], [(_, at)], None) = (a.images.as_slice(), mounted.as_slice(), &a.format) {
        out(&format!("{}\n", at.display()))?;
        return Ok(0);
    }
    if a.format.is_some() {
        let rows: Vec<Value> = mounted
            .iter()
            .map(|(img, at)| {
                json!({
                    "id": img.id.hex(),
                    "Names": img.digests.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    "Repositories": img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                    "mountpoint": at.display().to_string(),
                })
            })
            .collect();
        out(&format!("{}\n", indented(&Value::Array(rows), " ")?))?;
        return Ok(0);
    }
    // An image by its first name (its ID without one), as podman lists them.
    let lines: Vec<String> = mounted
        .iter()
        .map(|(img, at)| {
            let name = img.names.first().map_or_else(|| img.id.hex().to_string(), |n| n.to_string());
            format!("{name}\t{}", at.display())
        })
        .collect();
    out(&tabwrite(&lines))?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct ImageUnmountArgs {
    /// Unmount all of the currently mounted images
    #[arg(short, long)]
    all: bool,
    /// Force the complete unmount of the specified mounted images
    #[arg(short, long)]
    force: bool,
    /// The images to unmount
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// Each image unmounted (one mount dropped) is printed by its ID; one not
/// mounted is no error and prints nothing (podman's way).
pub fn unmount(engine: &Engine, a: &ImageUnmountArgs) -> Result<u8> {
    if a.all && !a.images.is_empty() {
        return Err(CliError::new(ALL_AND_NAMES));
    }
    let images: Vec<Image> = if a.all {
        engine.mounted_images()?.into_iter().map(|(img, _)| img).collect()
    } else if a.images.is_empty() {
        return Err(CliError::new("image name or ID must be specified"));
    } else {
        a.images.iter().map(|n| find(engine, n)).collect::<Result<_>>()?
    };
    for img in &images {
        if engine.unmount_image(img, a.force)? {
            out(&format!("{}\n", img.id.hex()))?;
        }
    }
    Ok(0)
}

/// The image `name` names, or podman's error (exit 125, not rmi's 1).
fn find(engine: &Engine, name: &str) -> Result<Image> {
    engine.find(name)?.ok_or_else(|| CliError::new(format!("{name}: image not known")))
}
