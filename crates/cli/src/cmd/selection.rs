//! The containers `rm`, `stop` and `kill` act on when given `--cidfile`
//! or `--filter`: podman's `CheckAllLatestAndCIDFile` checks, its words,
//! and the IDs read from the files or matched by the filters.

use engine::Engine;

use super::ps_filter::Filters;
use crate::error::{CliError, Result};

/// What a command was asked to act on.
pub struct Selection<'a> {
    pub names: &'a [String],
    pub all: bool,
    pub latest: bool,
    pub cidfiles: &'a [String],
    /// `--filter` values (rm and stop have the flag).
    pub filters: &'a [String],
}

impl Selection<'_> {
    /// Whether this needs [`Selection::resolve`]: otherwise the command's
    /// own handling of names, `--all` and `--latest` applies.
    pub fn wanted(&self) -> bool {
        !self.cidfiles.is_empty() || !self.filters.is_empty()
    }

    /// The containers meant, as the inputs to print: each file's ID, or the
    /// full ID of every container the filters match (podman's
    /// `ps -a --filter`, no implicit `status=running`).
    pub fn resolve(&self, engine: &Engine) -> Result<Vec<String>> {
        if !self.filters.is_empty() && !self.names.is_empty() {
            return Err(CliError::new("--filter takes no arguments"));
        }
        self.check_exclusive()?;
        check(self.names.len(), self.all, self.latest, !self.cidfiles.is_empty())?;
        let mut out = Vec::new();
        for path in self.cidfiles {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::new(format!("reading CIDFile: open {path}: {}", super::io_words(&e))))?;
            out.push(text.trim().to_string());
        }
        if !self.filters.is_empty() {
            let filters = Filters::parse(engine, self.filters)?;
            out.extend(engine.containers()?.into_iter().filter(|c| filters.matches(c)).map(|c| c.id));
        }
        Ok(out)
    }
}

impl Selection<'_> {
    /// The first of podman's checks, which hold whatever else is given:
    /// `--all`, `--latest` and `--cidfile` exclude one another.
    pub fn check_exclusive(&self) -> Result<()> {
        if !self.cidfiles.is_empty() && (self.all || self.latest) {
            return Err(CliError::new("--all, --latest, and --cidfile cannot be used together"));
        }
        if self.all && self.latest {
            return Err(CliError::new("--all and --latest cannot be used together"));
        }
        Ok(())
    }
}

/// The rest of podman's `validate.CheckAllLatestAndCIDFile` for a command
/// with `--cidfile`.
fn check(args: usize, all: bool, latest: bool, cidfile: bool) -> Result<()> {
    if args > 0 && all {
        return Err(CliError::new("no arguments are needed with --all"));
    }
    if args > 0 && latest {
        return Err(CliError::new("--latest and containers cannot be used together"));
    }
    if args > 0 && cidfile {
        return Err(CliError::new("no arguments are needed with --latest or --cidfile"));
    }
    Ok(())
}
