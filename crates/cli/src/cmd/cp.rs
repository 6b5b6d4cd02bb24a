//! `cp`: files between a container and the host, or a tar on stdin/stdout.

use engine::containers::{CpEnd, CpOptions};
use engine::Engine;

use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct CpArgs {
    /// Chown copied files to the primary uid/gid of the destination container.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    archive: bool,
    /// Allow to overwrite directories with non-directories and vice versa
    #[arg(long)]
    overwrite: bool,
    /// What to copy: a host path, CONTAINER:PATH, or - for a tar on stdin
    #[arg(value_name = "[CONTAINER:]SRC_PATH")]
    src: String,
    /// Where to copy it: a host path, CONTAINER:PATH, or - for a tar on stdout
    #[arg(value_name = "[CONTAINER:]DEST_PATH")]
    dest: String,
}

/// podman's split of `[CONTAINER:]PATH`: a colon makes a container path
/// unless what precedes it looks like a path (has a `/` or starts with `.`).
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg == "-" {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.contains('/') && !c.starts_with('.')).then_some((c, p))
}

pub fn cp(engine: &Engine, a: &CpArgs) -> Result<u8> {
    let (src, dest) = (split(&a.src), split(&a.dest));
    match (src, dest) {
        // podman's words for "one side must be a container".
        (None, None) => return Err(CliError::new("name or ID cannot be empty")),
        // podman 4.3 hangs here; docker's words.
        (Some(_), Some(_)) => return Err(CliError::new("copying between containers is not supported")),
        _ => {}
    }
    let lookup = |name: &str| {
        engine.container(name).map_err(|e| match e.kind {
            engine::ErrorKind::NotFound => CliError::new(format!("container {name:?} does not exist")),
            _ => e.into(),
        })
    };
    let from_container = src.map(|(c, _)| lookup(c)).transpose()?;
    let to_container = dest.map(|(c, _)| lookup(c)).transpose()?;
    let end = |arg: &str, parts: Option<(&str, &str)>, c: Option<&engine::containers::Container>| match (parts, c) {
        (Some((name, path)), Some(container)) => {
            CpEnd::Container { container: Box::new(container.clone()), name: name.to_string(), path: path.to_string() }
        }
        _ if arg == "-" => CpEnd::Stream,
        _ => CpEnd::Host(arg.to_string()),
    };
    let from = end(&a.src, src, from_container.as_ref());
    let to = end(&a.dest, dest, to_container.as_ref());
    let opts = CpOptions { archive: a.archive, overwrite: a.overwrite };
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    engine.copy(from, to, opts, &mut stdin, &mut stdout)?;
    std::io::Write::flush(&mut stdout).map_err(|e| CliError::new(format!("writing to stdout: {e}")))?;
    Ok(0)
}
