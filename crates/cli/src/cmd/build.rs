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
    /// Files of argument=value lines for the build's ARGs (--build-arg overrides them)
    #[arg(long = "build-arg-file", value_name = "argfile.conf")]
    build_arg_file: Vec<PathBuf>,
    /// Set the ARCH of the image (this host's only)
    #[arg(long, value_name = "arch")]
    arch: Option<String>,
    /// Set the OS of the image (this host's only)
    #[arg(long, value_name = "os")]
    os: Option<String>,
    /// Set the variant of the image (this host's only)
    #[arg(long, value_name = "variant")]
    variant: Option<String>,
    /// Set the OS/ARCH[/VARIANT] of the image (this host's only)
    #[arg(long, value_name = "os/arch[/variant]", value_delimiter = ',')]
    platform: Vec<String>,
    /// Secret file to expose to the build: id=ID,src=PATH (or env=VAR, type=env)
    #[arg(long, value_name = "id=id,src=path")]
    secret: Vec<String>,
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
    /// Add an annotation (key=value) to the image's manifest
    #[arg(long, value_name = "annotation")]
    annotation: Vec<String>,
    /// Remote repository to use as a source of cached step images
    #[arg(long = "cache-from", value_name = "repository")]
    cache_from: Option<String>,
    /// Remote repository to push cached step images to
    #[arg(long = "cache-to", value_name = "repository")]
    cache_to: Option<String>,
    /// How many stages to build at once
    #[arg(long, default_value_t = 1, value_name = "int")]
    jobs: usize,
    /// Squash the build's new layers into one new layer (the base image's are kept)
    #[arg(long)]
    squash: bool,
    /// Squash all layers into a single layer
    #[arg(long = "squash-all")]
    squash_all: bool,
    /// Tagged name to apply to the built image
    #[arg(short, long, value_name = "name")]
    tag: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "target")]
    target: Option<String>,
    /// The build context: a directory, a tar archive, or - (a tar archive, or a Containerfile alone, on stdin)
    #[arg(value_name = "CONTEXT")]
    context: Option<PathBuf>,
}

pub fn build(engine: &Engine, a: &BuildArgs) -> Result<u8> {
    let docker_format = super::commit::is_docker_format(&a.format)?;
    host_platform_only(a)?;
    let secrets = secrets(&a.secret)?;
    let given = a.context.clone().unwrap_or_else(|| PathBuf::from("."));
    // A context that is not a directory is unpacked into a private one.
    let scratch = build::scratch::Scratch::new(engine.runroot())
        .map_err(|e| CliError::new(format!("making the build's scratch directory: {e}")))?;
    let (unpacked, stdin_file) = unpack_context(scratch.path(), &given)?;
    let context = unpacked.as_ref().map_or_else(|| given.clone(), |d| d.path().to_path_buf());
    let (file_name, text) = match stdin_file {
        Some(text) if a.file.is_empty() => ("stdin".to_string(), text),
        Some(_) => return Err(CliError::new("the Containerfile came on stdin as the context: -f names no other")),
        None => containerfile(&context, &a.file)?,
    };
    let containerfile = (file_name != "stdin").then(|| PathBuf::from(&file_name));
    let mut build_args = BTreeMap::new();
    let mut lines = Vec::new();
    for path in &a.build_arg_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("reading build arg file {}: {e}", path.display())))?;
        lines.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    for arg in lines.iter().chain(&a.build_arg) {
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
        single_layer: !a.layers,
        secrets,
        scratch: Some(scratch.path().to_path_buf()),
        annotations: annotations(&a.annotation, docker_format)?,
        // podman: 0 means as many as there are stages.
        jobs: if a.jobs == 0 { usize::MAX } else { a.jobs },
        cache_from: repository("--cache-from", a.cache_from.as_deref())?,
        cache_to: repository("--cache-to", a.cache_to.as_deref())?,
        remote: Some(a.remote.options()?),
        squash: match (a.squash, a.squash_all) {
            (_, true) => build::builder::Squash::All,
            (true, false) => build::builder::Squash::New,
            (false, false) => build::builder::Squash::No,
        },
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
    // Named (`-t`) once built: its names as the store has them now.
    let named = engine.find(&image.id.to_string()).ok().flatten();
    let name = named.and_then(|i| i.names.first().map(ToString::to_string)).unwrap_or_default();
    engine::events::image(engine.runroot(), engine::events::Status::Build, &image.id.to_string(), &name);
    if let Some(path) = &a.iidfile {
        std::fs::write(path, image.id.to_string())
            .map_err(|e| CliError::new(format!("writing {}: {e}", path.display())))?;
    }
    Ok(0)
}

/// `--annotation key=value`s; a docker format image has none (podman
/// warns and builds it without).
fn annotations(given: &[String], docker_format: bool) -> Result<Vec<(String, String)>> {
    if docker_format && !given.is_empty() {
        eprintln!("WARN annotations are not supported for the docker format: the image is built without them");
        return Ok(Vec::new());
    }
    given
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::new(format!("--annotation {a:?}: want key=value"))),
        })
        .collect()
}

/// A `--cache-from`/`--cache-to` repository: a name without tag or
/// digest (each step's image is its tag there).
fn repository(flag: &str, given: Option<&str>) -> Result<Option<String>> {
    let Some(repo) = given.filter(|r| !r.is_empty()) else { return Ok(None) };
    let repo = repo.strip_prefix("docker://").unwrap_or(repo);
    let parsed = engine::images::new_name(repo).map_err(|e| CliError::new(format!("{flag} {repo}: {e}")))?;
    if parsed.digest().is_some() || repo.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(CliError::new(format!("{flag} {repo}: a repository, without a tag or digest")));
    }
    Ok(Some(repo.to_string()))
}

/// Refuse a platform other than this host's: berth runs RUN steps
/// natively, with no emulation.
fn host_platform_only(a: &BuildArgs) -> Result<()> {
    use image::manifest::PlatformSpec;
    let host = PlatformSpec::host();
    let mut asked: Vec<PlatformSpec> = Vec::new();
    for p in a.platform.iter().filter(|p| !p.is_empty()) {
        asked.push(PlatformSpec::parse(p).map_err(|e| CliError::new(format!("--platform {p:?}: {e}")))?);
    }
    if a.arch.is_some() || a.os.is_some() || a.variant.is_some() {
        let os = a.os.as_deref().unwrap_or(&host.os);
        let arch = a.arch.as_deref().unwrap_or(&host.architecture);
        asked.push(PlatformSpec::new(os, arch, a.variant.as_deref().or(host.variant.as_deref())));
    }
    match asked.iter().find(|p| {
        p.os != host.os || p.architecture != host.architecture || (p.variant.is_some() && p.variant != host.variant)
    }) {
        Some(p) => Err(CliError::new(format!(
            "berth builds for this host's platform only ({}): {} would need emulation",
            show_platform(&host),
            show_platform(p)
        ))),
        None => Ok(()),
    }
}

fn show_platform(p: &image::manifest::PlatformSpec) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// `--secret id=ID,src=PATH` (or `env=VAR`, or `type=env`: the variable
/// named ID): each secret's content, read now.
fn secrets(given: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    // BuildKit's limit: a secret is a key or a token, not a file tree.
    const MAX: u64 = 500 << 10;
    let mut out = BTreeMap::new();
    for spec in given {
        let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", v @ ("file" | "env"))) => kind = Some(v.to_string()),
                _ => {
                    return Err(CliError::new(format!(
                        "--secret {spec}: {field:?} is not id=, src=, env= or type=file|env"
                    )))
                }
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| CliError::new(format!("--secret {spec}: an id= is required")))?;
        let value = match (src, env, kind.as_deref()) {
            (Some(path), None, None | Some("file")) => sys::fs::read_regular(std::path::Path::new(&path), MAX)
                .map_err(|e| CliError::new(format!("--secret {spec}: reading {path}: {e}")))?,
            (None, Some(var), None | Some("env")) | (Some(var), None, Some("env")) => std::env::var(&var)
                .map_err(|_| CliError::new(format!("--secret {spec}: the environment has no {var}")))?
                .into_bytes(),
            (None, None, Some("env")) => std::env::var(&id)
                .map_err(|_| CliError::new(format!("--secret {spec}: the environment has no {id}")))?
                .into_bytes(),
            _ => return Err(CliError::new(format!("--secret {spec}: give one of src=PATH and env=VAR"))),
        };
        out.insert(id, value);
    }
    Ok(out)
}

/// A context that is not a directory: a tar archive (plain, gzip or zstd),
/// from the file named or from stdin (`-`), unpacked into a directory of
/// the build's scratch directory; or, on stdin, a Containerfile alone (docker's
/// `build - < Dockerfile`: an empty context). A directory gives neither.
fn unpack_context(scratch: &Path, given: &Path) -> Result<(Option<tempfile::TempDir>, Option<String>)> {
    let stdin = given == Path::new("-");
    if !stdin && given.is_dir() {
        return Ok((None, None));
    }
    let dir = tempfile::Builder::new()
        .prefix("build-context")
        .tempdir_in(scratch)
        .map_err(|e| CliError::new(format!("making a directory for the build context: {e}")))?;
    if !stdin {
        let file = std::fs::File::open(given)
            .map_err(|e| CliError::new(format!("the build context {}: {e}", given.display())))?;
        engine::containers::build_copy::unpack_context(file, dir.path())
            .map_err(|e| CliError::new(format!("the build context {}: {e}", given.display())))?;
        return Ok((Some(dir), None));
    }
    let mut all = Vec::new();
    std::io::stdin()
        .read_to_end(&mut all)
        .map_err(|e| CliError::new(format!("reading the build context from stdin: {e}")))?;
    let archive = image::layer::sniff(&all).is_ok_and(|c| c != image::layer::Compression::None)
        || (all.len() >= 262 && &all[257..262] == b"ustar");
    if !archive {
        let text = String::from_utf8(all)
            .map_err(|_| CliError::new("stdin holds neither a tar archive nor a Containerfile"))?;
        return Ok((Some(dir), Some(text)));
    }
    engine::containers::build_copy::unpack_context(all.as_slice(), dir.path())
        .map_err(|e| CliError::new(format!("the build context on stdin: {e}")))?;
    Ok((Some(dir), None))
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
