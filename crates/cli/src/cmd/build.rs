//! `build` (also `image build`, `buildx build`): an image from a
//! Containerfile or Dockerfile (the `build` crate does the work).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use engine::Engine;

use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Argument=value pairs for the build's ARGs (a name alone takes its value from the environment)
    #[arg(long = "build-arg", value_name = "argument=value")]
    build_arg: Vec<String>,
    /// Containerfile or Dockerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile; - reads stdin)
    #[arg(short, long, value_name = "pathname or URL of a Dockerfile")]
    file: Vec<String>,
    /// Format of the built image's manifest and metadata
    #[arg(long, default_value = "oci", value_name = "format")]
    format: String,
    /// Write the image ID to the file
    #[arg(long, value_name = "file")]
    iidfile: Option<PathBuf>,
    /// Set metadata for an image (default [])
    #[arg(long, value_name = "label")]
    label: Vec<String>,
    /// Cache intermediate images during the build process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    layers: bool,
    /// Network mode for RUN steps (berth.conf's default without)
    #[arg(long, value_name = "mode")]
    network: Vec<String>,
    /// Do not use existing cached images for the container build
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Pull image policy: missing, always, never (true: always, false: missing)
    #[arg(long, default_value = "missing", num_args = 0..=1, default_missing_value = "always", value_name = "policy")]
    pull: String,
    /// Always pull the image and throw an error if the pull fails
    #[arg(long = "pull-always")]
    pull_always: bool,
    /// Do not pull the image, use the image present in store if available
    #[arg(long = "pull-never")]
    pull_never: bool,
    #[command(flatten)]
    remote: super::registry::RemoteArgs,
    /// Refrain from announcing build instructions and image read/write progress
    #[arg(short, long)]
    quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers after a build, even if the build is unsuccessful
    #[arg(long = "force-rm", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    force_rm: bool,
    /// Tagged name to apply to the built image
    #[arg(short, long, value_name = "name")]
    tag: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "target")]
    target: Option<String>,
    /// The build context: a directory
    #[arg(value_name = "CONTEXT")]
    context: Option<PathBuf>,
}

pub fn build(engine: &Engine, a: &BuildArgs) -> Result<u8> {
    let docker_format = super::commit::is_docker_format(&a.format)?;
    let context = a.context.clone().unwrap_or_else(|| PathBuf::from("."));
    if !context.is_dir() {
        return Err(CliError::new(format!("the build context {} is not a directory", context.display())));
    }
    let (file_name, text) = containerfile(&context, &a.file)?;
    let containerfile = (file_name != "stdin").then(|| PathBuf::from(&file_name));
    let mut build_args = BTreeMap::new();
    for arg in &a.build_arg {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // A name alone: the environment's value, if it has one.
            None => match std::env::var(arg) {
                Ok(v) => build_args.insert(arg.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let labels = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    // Names are checked before anything is built.
    for t in &a.tag {
        engine::images::new_name(t).map_err(|_| CliError::new(format!("tag {t}: invalid reference format")))?;
    }
    let opts = build::builder::Options {
        file_name,
        containerfile,
        context,
        tags: a.tag.clone(),
        build_args,
        target: a.target.clone(),
        labels,
        quiet: a.quiet,
        docker_format,
        networks: a.network.clone(),
        no_cache: a.no_cache,
    };
    let policy = match (a.pull_always, a.pull_never, a.pull.as_str()) {
        (true, _, _) | (_, _, "always" | "true") => "always",
        (_, true, _) | (_, _, "never") => "never",
        (_, _, "missing" | "false" | "ifmissing") => "missing",
        (_, _, other) => return Err(CliError::new(format!("invalid pull policy {other:?}"))),
    };
    // Base images as `run` finds them: pulled when missing (podman
    // build's default), always, or never.
    let resolve = |name: &str| -> engine::Result<engine::Image> {
        let local = if policy == "always" { None } else { engine.find(name)? };
        match local {
            Some(img) => Ok(img),
            None if policy == "never" => Err(engine::Error::new(format!("{name}: image not known"))),
            None => super::registry::pull_image(engine, name, &a.remote, None, a.quiet)
                .map_err(|e| engine::Error::new(e.to_string())),
        }
    };
    let mut stdout = std::io::stdout().lock();
    let image = match build::builder::build(engine, &text, &opts, &resolve, &mut stdout) {
        Ok(image) => image,
        Err(e) => return Err(CliError::with_code(i32::from(e.exit_code()), e.to_string())),
    };
    if let Some(path) = &a.iidfile {
        std::fs::write(path, image.id.to_string())
            .map_err(|e| CliError::new(format!("writing {}: {e}", path.display())))?;
    }
    Ok(0)
}

/// The Containerfile's name (as errors show it) and text: `-f` (`-` for
/// stdin), else the context's Containerfile, else its Dockerfile.
fn containerfile(context: &Path, given: &[String]) -> Result<(String, String)> {
    let path = match given {
        [] => ["Containerfile", "Dockerfile"]
            .iter()
            .map(|n| context.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| CliError::new(format!("no Containerfile or Dockerfile specified or found in context directory, {}: no such file or directory", context.display())))?,
        [one] if one == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::new(format!("reading the Containerfile from stdin: {e}")))?;
            return Ok(("stdin".into(), text));
        }
        [one] => PathBuf::from(one),
        _ => return Err(CliError::new("berth builds one Containerfile per build: give -f once")),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))?;
    Ok((path.display().to_string(), text))
}
