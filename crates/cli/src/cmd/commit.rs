//! `commit`: a new image from a container's changes.

use engine::containers::CommitSpec;
use engine::{images, Engine};
use serde_json::{json, Map, Value};

use super::out;
use crate::error::{CliError, Context as _, Result};

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Set the author for the image committed
    #[arg(short, long)]
    author: Option<String>,
    /// Apply the following possible instructions to the created image (default []): CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short, long)]
    change: Vec<String>,
    /// Format of the image manifest and metadata
    #[arg(short, long, default_value = "oci", value_name = "Format")]
    format: String,
    /// file to write the image ID to
    #[arg(long, value_name = "file")]
    iidfile: Option<String>,
    /// Include container volumes as image volumes
    #[arg(long = "include-volumes")]
    include_volumes: bool,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long)]
    pause: bool,
    /// Suppress output
    #[arg(short, long)]
    quiet: bool,
    /// squash newly built layers into a single new layer
    #[arg(short, long)]
    squash: bool,
    /// The container to commit
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Name for the new image
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
}

/// `--format oci|docker` (commit's and build's): whether it asks for
/// Docker's manifest and config.
pub(super) fn is_docker_format(format: &str) -> Result<bool> {
    match format {
        "oci" => Ok(false),
        "docker" => Ok(true),
        other => Err(CliError::new(format!("unrecognized image format {other:?}"))),
    }
}

pub fn commit(engine: &Engine, a: &CommitArgs) -> Result<u8> {
    let docker = is_docker_format(&a.format)?;
    let name = a
        .image
        .as_deref()
        .map(|n| images::new_name(n).map_err(|_| CliError::new("invalid reference format")))
        .transpose()?;
    // Checked before anything is written.
    let mut edits = Map::new();
    let mut onbuild = Vec::new();
    for c in &a.change {
        let trimmed = c.trim_start();
        let (word, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
        if word.eq_ignore_ascii_case("ONBUILD") {
            if docker {
                onbuild.push(rest.trim().to_string());
            } else {
                tracing::warn!(
                    "ONBUILD is not supported for OCI image format, {} will be ignored. Must use `docker` format",
                    rest.trim()
                );
            }
            continue;
        }
        super::archive::apply_change(&mut edits, c)?;
    }
    let c = engine.container(&a.container)?;
    let spec = CommitSpec {
        message: a.message.clone(),
        author: a.author.clone(),
        pause: a.pause,
        squash: a.squash,
        docker,
        include_volumes: a.include_volumes,
    };
    let img = engine.commit_container(&c, &spec, |config| {
        for (k, v) in edits {
            match (k.as_str(), v, config.get_mut(&k)) {
                // Additions to the container's own.
                ("Env", Value::Array(new), Some(Value::Array(old))) => {
                    for e in new {
                        let key = e.as_str().and_then(|s| s.split_once('=')).map(|(k, _)| format!("{k}="));
                        old.retain(|o| key.as_deref().is_none_or(|k| !o.as_str().is_some_and(|s| s.starts_with(k))));
                        old.push(e);
                    }
                }
                ("Labels" | "ExposedPorts" | "Volumes", Value::Object(new), Some(Value::Object(old))) => {
                    old.extend(new);
                }
                (_, v, _) => {
                    config.insert(k, v);
                }
            }
        }
        if !onbuild.is_empty() {
            config.insert("OnBuild".into(), json!(onbuild));
        }
        Ok(())
    })?;
    if let Some(n) = name {
        engine.tag(&img, &n)?;
    }
    engine::events::container(engine.runroot(), engine::events::Status::Commit, &c);
    let id = img.id.hex().to_string();
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).ctx(|| format!("writing {f}"))?;
    }
    out(&format!("{id}\n"))?;
    Ok(0)
}
