//! `load`, `save` and `import`: images in and out of archives and tarballs.

use std::fs::File;
use std::io::{IsTerminal as _, Read};
use std::path::PathBuf;
use std::time::SystemTime;

use image::archive::{ArchiveImage, Format};
use serde_json::{json, Map, Value};

use super::out;
use crate::error::{CliError, Context as _, Result};
use engine::events::{self, Status};
use engine::{images, Engine};

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from specified archive file (default: stdin)
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the output
    #[arg(short, long)]
    quiet: bool,
}

pub fn load(engine: &Engine, a: &LoadArgs) -> Result<u8> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::new("cannot read from terminal, use command-line redirection or the --input flag"));
    }
    let loaded = engine.load(a.input.as_deref())?;
    let from = a.input.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
    events::image(engine.runroot(), Status::LoadFromArchive, "", &from);
    // `-q` quiets progress only (berth prints none): podman prints what was
    // loaded either way, and scripts read it.
    let mut text = String::new();
    for (reference, id) in loaded {
        match reference {
            Some(r) => text.push_str(&format!("Loaded image: {r}\n")),
            None => text.push_str(&format!("Loaded image: {id}\n")),
        }
    }
    out(&text)?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct SaveArgs {
    /// Write to a specified file (default: stdout, which must be redirected)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive", "oci-dir"])]
    format: String,
    /// Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)
    #[arg(short, long = "multi-image-archive")]
    multi_image_archive: bool,
    /// Compress tarball image layers when saving to a directory using the 'dir' transport (accepted for compatibility)
    #[arg(long)]
    compress: bool,
    /// Suppress the output
    #[arg(short, long)]
    quiet: bool,
    /// The image (by name or ID), then more names for it in the archive; with -m, more images
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

/// podman's `save`: without `-m` the first argument is the image and the
/// others more names for it in a docker-archive; with `-m` every argument is
/// an image, which only docker-archive can hold several of.
pub fn save(engine: &Engine, a: &SaveArgs) -> Result<u8> {
    if a.images.is_empty() {
        return Err(CliError::usage("need at least 1 argument"));
    }
    let format: Format = a.format.parse()?;
    let (images, tags) = match a.multi_image_archive {
        true => (&a.images[..], &[][..]),
        false => a.images.split_at(1),
    };
    if images.len() > 1 && format != Format::DockerArchive {
        return Err(CliError::new(format!(
            "unsupported format {:?} for saving multiple images (only docker-archive)",
            a.format
        )));
    }
    let tags = tags.iter().map(|t| images::new_name(t)).collect::<engine::Result<Vec<_>>>()?;
    let mut list = Vec::new();
    let mut ids = Vec::new();
    for name in images {
        let img = engine.get(name)?;
        ids.push(img.id.to_string());
        // By name the archive records that name; by ID, none (as podman).
        let reference = img.name_used(name);
        list.push(ArchiveImage::new(reference, img.manifest.clone()));
    }
    if format == Format::DockerArchive {
        if let Some(first) = list.first().cloned() {
            list.extend(tags.into_iter().map(|t| ArchiveImage::new(Some(t), first.manifest.clone())));
        }
    }
    match &a.output {
        // The errors name the output themselves, in podman's words.
        Some(path) => engine.save(&list, format, path)?,
        None => {
            if format == Format::OciDir {
                return Err(CliError::new("oci-dir needs a directory: use --output"));
            }
            if std::io::stdout().is_terminal() {
                return Err(CliError::new("refusing to save to terminal. Use -o flag or redirect"));
            }
            let w = std::io::BufWriter::new(std::io::stdout().lock());
            let w = engine.save_to(&list, format, w).ctx(|| "saving to stdout".into())?;
            let _stdout = w.into_inner().map_err(|e| CliError::new(format!("writing to stdout: {}", e.error())))?;
        }
    }
    // podman's event names the archive (its path; empty for stdout).
    let to = a.output.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
    for id in &ids {
        events::image(engine.runroot(), Status::Save, id, &to);
    }
    Ok(0)
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Apply the following possible instructions to the created image:
    /// CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Suppress output
    #[arg(short, long)]
    quiet: bool,
    /// Tarball of a root filesystem, or `-` for stdin
    #[arg(value_name = "PATH")]
    path: String,
    /// Name for the new image
    #[arg(value_name = "REFERENCE")]
    reference: Option<String>,
}

pub fn import(engine: &Engine, a: &ImportArgs) -> Result<u8> {
    // Validate everything before touching the store.
    let reference = a.reference.as_deref().map(images::new_name).transpose()?;
    let mut config = Map::new();
    for c in &a.change {
        apply_change(&mut config, c)?;
    }
    let reader: Box<dyn Read> = if a.path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&a.path).ctx(|| format!("opening {}", a.path))?)
    };
    let created = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    // podman's words when no message is given.
    let message = a.message.as_deref().unwrap_or("imported from tarball");
    let img = engine.create_from_layer(reader, |diff_id| {
        let mut history = json!({
            "created": created,
            "created_by": format!("/bin/sh -c #(nop) ADD file:{} in /", diff_id.hex()),
        });
        if !message.is_empty() {
            history["comment"] = json!(message);
        }
        let mut cfg = json!({
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": Value::Object(config),
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            "history": [history],
        });
        if !message.is_empty() {
            cfg["comment"] = json!(message);
        }
        cfg
    })?;
    events::image(engine.runroot(), Status::Import, &img.id.to_string(), &a.path);
    if let Some(r) = reference {
        engine.tag(&img, &r)?;
    }
    // As podman: `-q` quiets progress, the ID is printed either way
    // (`ID=$(berth import -q ...)`).
    out(&format!("{}\n", img.id))?;
    Ok(0)
}

/// Apply one Dockerfile-style `--change` instruction to the config's `config` object.
pub(crate) fn apply_change(cfg: &mut Map<String, Value>, change: &str) -> Result<()> {
    // podman's (libimage's) words.
    let bad = |why: &str| CliError::new(format!("invalid change {change:?} - {why}"));
    let trimmed = change.trim();
    let (word, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(bad("must be formatted as KEY VALUE"));
    }
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            cfg.insert("Cmd".into(), json!(exec_form(rest).map_err(|e| bad(&e))?));
        }
        "ENTRYPOINT" => {
            cfg.insert("Entrypoint".into(), json!(exec_form(rest).map_err(|e| bad(&e))?));
        }
        "ENV" => {
            let pairs = key_values(rest).map_err(|e| bad(&e))?;
            let env = cfg.entry("Env").or_insert_with(|| json!([]));
            if let Value::Array(list) = env {
                for (k, v) in pairs {
                    let prefix = format!("{k}=");
                    list.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                    list.push(json!(format!("{k}={v}")));
                }
            }
        }
        "LABEL" => {
            let pairs = key_values(rest).map_err(|e| bad(&e))?;
            let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
            for (k, v) in pairs {
                labels[k] = json!(v);
            }
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" => {
            if rest.is_empty() {
                return Err(bad("needs an argument"));
            }
            let key = match word.to_ascii_uppercase().as_str() {
                "WORKDIR" => "WorkingDir",
                "USER" => "User",
                _ => "StopSignal",
            };
            cfg.insert(key.into(), json!(rest));
        }
        "EXPOSE" => {
            let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in words(rest).map_err(|e| bad(&e))? {
                let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                ports[p] = json!({});
            }
        }
        "VOLUME" => {
            let list = if rest.starts_with('[') {
                exec_form(rest).map_err(|e| bad(&e))?
            } else {
                words(rest).map_err(|e| bad(&e))?
            };
            let vols = cfg.entry("Volumes").or_insert_with(|| json!({}));
            for v in list {
                vols[v] = json!({});
            }
        }
        _ => return Err(bad(&format!("invalid instruction {word}"))),
    }
    Ok(())
}

/// `["a", "b"]` (JSON) or shell form, which runs under `/bin/sh -c`.
fn exec_form(rest: &str) -> std::result::Result<Vec<String>, String> {
    if rest.starts_with('[') {
        return serde_json::from_str(rest).map_err(|e| format!("not a JSON array of strings: {e}"));
    }
    if rest.is_empty() {
        return Err("needs an argument".into());
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// `k=v k2="v 2"` or the legacy single `k v`.
fn key_values(rest: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let ws = words(rest)?;
    let Some(first) = ws.first() else { return Err("needs an argument".into()) };
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).ok_or("want key=value")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    ws.into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{w:?}: want key=value"))
        })
        .collect()
}

/// Split on whitespace, honouring double and single quotes and backslashes.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.extend(chars.next()),
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = Map::new();
        for ch in [
            "CMD [\"sh\"]",
            "ENV A=1 B=\"two words\"",
            "ENV C 3",
            "WORKDIR /w",
            "LABEL x=y",
            "EXPOSE 80 53/udp",
            "ENTRYPOINT echo hi",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(
            Value::Object(c),
            json!({"Cmd": ["sh"], "Env": ["A=1", "B=two words", "C=3"], "WorkingDir": "/w", "Labels": {"x": "y"},
                   "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Entrypoint": ["/bin/sh", "-c", "echo hi"]})
        );
        assert!(apply_change(&mut Map::new(), "FROM x").is_err());
        assert!(apply_change(&mut Map::new(), "CMD [oops").is_err());
    }
}
