//! One module per command group; each parses nothing and decides nothing
//! beyond turning arguments into `engine` calls and results into output.

pub mod archive;
pub mod containers;
pub mod control;
pub mod info;
pub mod inspect;
pub mod list;
pub mod names;
pub mod registry;
pub mod volumes;

use std::io::Write;

use crate::error::{Context as _, Result};

/// Write to stdout; a closed pipe (`| head`) is not worth a panic.
pub fn out(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes()).and_then(|()| o.flush()).ctx(|| "writing output".into())
}
