//! One module per command group; each parses nothing and decides nothing
//! beyond turning arguments into `engine` calls and results into output.

pub mod archive;
pub mod boot;
pub mod build;
pub mod commit;
pub mod completion;
pub mod container_inspect;
pub mod containers;
pub mod control;
pub mod cp;
pub mod events;
pub mod exec;
pub mod filesystem;
pub mod health;
pub mod image_mount;
pub mod info;
pub mod inspect;
pub mod isolation;
pub mod list;
pub mod logs;
pub mod manage;
pub mod manpages;
pub mod names;
pub mod networks;
pub mod pause;
pub mod ps_filter;
pub mod registry;
pub mod restart;
pub mod selection;
pub mod stats;
pub mod system;
pub mod top;
pub mod volumes;
pub mod wait;

use std::io::Write;

use crate::error::{Context as _, Result};

/// `rm` of containers or volumes, as podman does it: try each of `inputs`,
/// print each one removed, report the first error with podman's code (1
/// for one that does not exist, 2 for one in use, else 125; later errors go
/// to stderr at once); with `ignore_missing`, one that does not exist is
/// no error.
pub fn remove_each(
    inputs: &[String],
    ignore_missing: bool,
    mut remove: impl FnMut(&str) -> engine::Result<()>,
) -> Result<u8> {
    let mut first: Option<crate::error::CliError> = None;
    for input in inputs {
        match remove(input) {
            Ok(()) => out(&format!("{input}\n"))?,
            Err(e) if ignore_missing && e.kind == engine::ErrorKind::NotFound => {}
            Err(e) => {
                let code = match e.kind {
                    engine::ErrorKind::NotFound => 1,
                    engine::ErrorKind::InUse => 2,
                    _ => crate::error::ENGINE,
                };
                let err = crate::error::CliError::with_code(code, e.msg);
                match &first {
                    None => first = Some(err),
                    Some(_) => eprintln!("Error: {err}"),
                }
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// Write to stdout; a closed pipe (`| head`) is not worth a panic.
pub fn out(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes()).and_then(|()| o.flush()).ctx(|| "writing output".into())
}

/// An I/O error in Go's words, as podman prints them: `no such file or
/// directory` (the system's text in lower case, without Rust's
/// `(os error 2)`).
pub fn io_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.to_lowercase()
}
