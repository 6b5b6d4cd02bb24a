//! One module per command group; each parses nothing and decides nothing
//! beyond turning arguments into `engine` calls and results into output.

pub mod archive;
pub mod container_inspect;
pub mod containers;
pub mod control;
pub mod exec;
pub mod info;
pub mod inspect;
pub mod list;
pub mod manage;
pub mod names;
pub mod pause;
pub mod registry;
pub mod restart;
pub mod top;
pub mod volumes;

use std::io::Write;

use crate::error::{Context as _, Result};

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
