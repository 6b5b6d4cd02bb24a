//! `berth generate-man DIR` (hidden): a man page per command, from the
//! clap tree (clap_mangen): `berth.1`, `berth-run.1`,
//! `berth-container-run.1`... with each command's examples; an alias's
//! page includes its command's. A command of
//! berth itself rather than an xtask or a build script: the pages are then
//! always those of the binary installed (`scripts/install.sh` runs it),
//! and the tree lives in this binary crate, which nothing else can link.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Arg, Command};
use clap_mangen::Man;

use crate::error::{Context as _, Result};
use crate::flags::{HELP, HELP_COMMAND};
use crate::help;

#[derive(clap::Args)]
pub struct GenerateManArgs {
    /// Directory to write the pages to (made if missing)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn generate_man(a: &GenerateManArgs) -> Result<u8> {
    std::fs::create_dir_all(&a.dir).ctx(|| format!("creating {}", a.dir.display()))?;
    let mut root = crate::cli::command();
    // Names each subcommand's page and synopsis: `berth-run`, `berth run`.
    root.build();
    write_pages(&root, &root, &a.dir, None)?;
    Ok(0)
}

/// The page of `cmd` (below `root`) and those of the commands below it.
fn write_pages(root: &Command, cmd: &Command, dir: &Path, parent: Option<&str>) -> Result<()> {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name()).to_string();
    let path = dir.join(format!("{name}.1"));
    let page = render(root, cmd, parent).ctx(|| format!("rendering {}", path.display()))?;
    std::fs::write(&path, page).ctx(|| format!("writing {}", path.display()))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != HELP_COMMAND) {
        write_pages(root, sub, dir, Some(&name))?;
        // An alias's page is the command's (`man berth-image-ls`), by
        // roff's include, as distributions link podman's.
        let page = sub.get_display_name().unwrap_or_else(|| sub.get_name());
        for alias in sub.get_visible_aliases() {
            let path = dir.join(format!("{name}-{alias}.1"));
            std::fs::write(&path, format!(".so man1/{page}.1\n")).ctx(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// clap_mangen's title, name, description and command list; the synopsis
/// and options as `--help` shows them (podman's words: `[options]`,
/// `--name string`, not clap's `--detach[=<DETACH>]`); the examples; a SEE
/// ALSO naming the parent's page.
fn render(root: &Command, cmd: &Command, parent: Option<&str>) -> std::io::Result<Vec<u8>> {
    let is_root = parent.is_none();
    let man = Man::new(cmd.clone().mut_subcommands(|s| {
        let hidden = s.is_hide_set() || s.get_name() == HELP_COMMAND;
        s.hide(hidden)
    }));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    let full = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let usage = help::usage_line(cmd, full, is_root);
    let rest = usage.strip_prefix(full).unwrap_or(&usage);
    let mut s = format!(".SH SYNOPSIS\n\\fB{}\\fR{}\n", roff_text(full), roff_text(rest));
    out.extend_from_slice(s.as_bytes());
    man.render_description_section(&mut out)?;
    s.clear();
    let positionals: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    if !positionals.is_empty() {
        s.push_str(".SH ARGUMENTS\n");
        for a in positionals {
            let name =
                a.get_value_names().and_then(|n| n.first()).map_or_else(|| a.get_id().to_string(), |n| n.to_string());
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            let _ = writeln!(s, ".TP\n\\fI{}\\fR\n{}", roff_text(&name), roff_text(&help));
        }
    }
    let own: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| is_root || (!a.is_global_set() && a.get_id() != HELP))
        .collect();
    options_section(&mut s, "OPTIONS", &own);
    if !is_root {
        let global: Vec<&Arg> = root.get_arguments().filter(|a| a.is_global_set() && !a.is_hide_set()).collect();
        options_section(&mut s, "GLOBAL OPTIONS", &global);
    }
    out.extend_from_slice(s.as_bytes());
    if cmd.get_subcommands().any(|c| !c.is_hide_set() && c.get_name() != HELP_COMMAND) {
        man.render_subcommands_section(&mut out)?;
    }
    s.clear();
    if let Some(examples) = cmd.get_after_help() {
        s.push_str(".SH EXAMPLES\n");
        for line in examples.to_string().lines() {
            let _ = writeln!(s, ".PP\n{}", roff_text(line));
        }
    }
    if let Some(parent) = parent {
        let _ = writeln!(s, ".SH \"SEE ALSO\"\n\\fB{}\\fR(1)", roff_text(parent));
    }
    out.extend_from_slice(s.as_bytes());
    Ok(out)
}

/// An options section: each option as its `--help` row, its description
/// below.
fn options_section(s: &mut String, title: &str, args: &[&Arg]) {
    if args.is_empty() {
        return;
    }
    let _ = writeln!(s, ".SH \"{title}\"");
    for (flag, help) in help::option_rows(args) {
        let _ = writeln!(s, ".TP\n\\fB{}\\fR\n{}", roff_text(flag.trim_start()), roff_text(&help));
    }
}

/// A line as roff text: backslashes and dashes escaped, and no leading
/// `.` or `'` (which would make it a request).
fn roff_text(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
