//! `tag`, `rmi`, `image exists` and `image prune`: names and removal.

use super::out;
use crate::error::{CliError, Result};
use engine::{images, Engine};

#[derive(clap::Args)]
pub struct TagArgs {
    /// The image to name, by name or (short) ID
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The new names (`[REGISTRY/]REPOSITORY[:TAG]`)
    #[arg(required = true, value_name = "TARGET_NAME")]
    targets: Vec<String>,
}

pub fn tag(engine: &Engine, a: &TagArgs) -> Result<u8> {
    // Parse every new name before tagging any, so a bad one changes nothing.
    let targets = a.targets.iter().map(|t| images::new_name(t)).collect::<engine::Result<Vec<_>>>()?;
    let img = engine.get(&a.image)?;
    for t in &targets {
        engine.tag(&img, t)?;
    }
    Ok(0)
}

#[derive(clap::Args)]
pub struct RmiArgs {
    /// Remove all images
    #[arg(short, long)]
    all: bool,
    /// Force removal of the image (an image with several names given by ID); ignore missing images
    #[arg(short, long)]
    force: bool,
    /// The images to remove (by ID, with all their names) or untag (by name)
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn rmi(engine: &Engine, a: &RmiArgs) -> Result<u8> {
    if a.all && !a.images.is_empty() {
        return Err(CliError::usage("when using the --all switch, you may not pass any images names or IDs"));
    }
    if !a.all && a.images.is_empty() {
        return Err(CliError::usage("image name or ID must be specified"));
    }
    let mut text = String::new();
    let mut first_err: Option<CliError> = None;
    let inputs: Vec<String> =
        if a.all { engine.images()?.into_iter().map(|i| i.id.hex().to_string()).collect() } else { a.images.clone() };
    // Like podman: go through every image, report the first error at the end.
    for input in &inputs {
        // `--all` removes images with several names too, as podman does.
        if let Err(e) = rmi_one(engine, input, a.force, a.all, &mut text) {
            tracing::debug!("rmi {input}: {e}");
            first_err.get_or_insert(e);
        }
    }
    out(&text)?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// Remove one image: by one of several names only that name goes; by ID (or
/// its last name) the image goes with all its names, refused by ID for an
/// image with several names unless forced (podman's rule and message).
fn rmi_one(engine: &Engine, input: &str, force: bool, all: bool, text: &mut String) -> Result<()> {
    let Some(img) = engine.find(input)? else {
        return if force { Ok(()) } else { Err(CliError::not_known(input)) };
    };
    if img.names.len() > 1 {
        if let Some(name) = img.name_used(input) {
            // One of several names: only that name goes.
            engine.untag(&name)?;
            text.push_str(&format!("Untagged: {name}\n"));
            return Ok(());
        }
        if !force && !all {
            let names: Vec<String> = img.names.iter().map(|n| n.to_string()).collect();
            return Err(CliError::new(format!(
                "unable to delete image {:?} by ID with more than one tag ([{}]): please force removal",
                img.id.hex(),
                names.join(" ")
            )));
        }
    }
    engine.remove_image(&img, force).map_err(|e| match e.kind {
        // podman exits 2 when the image is in use.
        engine::ErrorKind::InUse => CliError::with_code(2, e.msg),
        _ => e.into(),
    })?;
    for n in &img.names {
        text.push_str(&format!("Untagged: {n}\n"));
    }
    text.push_str(&format!("Deleted: {}\n", img.id.hex()));
    Ok(())
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    /// The image, by name or (short) ID
    #[arg(value_name = "IMAGE")]
    image: String,
}

/// Exit 0 when the image exists, 1 when not; 125 only for real errors.
pub fn exists(engine: &Engine, a: &ExistsArgs) -> Result<u8> {
    Ok(if engine.find(&a.image)?.is_some() { 0 } else { 1 })
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all images not in use by containers, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// podman's `image prune`: asks first (on stdout, the answer from stdin;
/// anything but y/Y... removes nothing), then lists what it removed.
pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<u8> {
    if !a.force && !confirm(a.all)? {
        return Ok(0);
    }
    let mut text = String::new();
    for img in engine.images()?.into_iter().filter(|i| a.all || i.names.is_empty()) {
        // Images containers were made from stay.
        if !engine.remove_if_unused(&img)? {
            continue;
        }
        text.push_str(&format!("{}\n", img.id.hex()));
    }
    out(&text)?;
    Ok(0)
}

/// podman's prompt, word for word; end of input is an error ("EOF", as Go
/// says it), an empty or other answer a no.
fn confirm(all: bool) -> Result<bool> {
    let what = if all { "images without at least one container associated with them" } else { "dangling images" };
    confirm_with(&format!("WARNING! This command removes all {what}.\n"))
}

/// `warning`, then podman's question; the answer as [`confirm`] reads it.
pub(super) fn confirm_with(warning: &str) -> Result<bool> {
    use std::io::BufRead as _;
    out(&format!("{warning}Are you sure you want to continue? [y/N] "))?;
    let mut answer = String::new();
    let n = std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::new(e.to_string()))?;
    if n == 0 || !answer.ends_with('\n') {
        return Err(CliError::new("EOF"));
    }
    Ok(answer.starts_with(['y', 'Y']))
}
