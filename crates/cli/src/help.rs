//! Help text in podman's layout (cobra's template, pflag's option table):
//! summary, Description, Usage, Aliases, Arguments, Examples, Available
//! Commands, Options, and the global options apart in Global Options.
//! Rendered here from the clap tree rather than by clap, whose layout and
//! `--flag[=<FLAG>]` placeholders are not podman's.

use std::any::TypeId;
use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command};

use crate::flags::{takes_many, EXTRA, HELP};

/// The help of the command at `path` (names below the root) of `root`.
pub fn render(root: &Command, path: &[String]) -> String {
    let cmd = find(root, path).unwrap_or(root);
    let full = command_path(root, path);
    let mut s = String::new();
    let about = text(cmd.get_about());
    let _ = writeln!(s, "{about}\n");
    let description = description(cmd);
    if !path.is_empty() && !description.is_empty() {
        let _ = writeln!(s, "Description:\n{}\n", indent(&description, "  "));
    }
    let _ = writeln!(s, "Usage:\n  {}\n", usage_line(cmd, &full, path.is_empty()));
    let aliases: Vec<&str> = cmd.get_visible_aliases().collect();
    if !aliases.is_empty() {
        let _ = writeln!(s, "Aliases:\n  {}, {}\n", cmd.get_name(), aliases.join(", "));
    }
    let positionals: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    if !positionals.is_empty() {
        let rows: Vec<(String, String)> =
            positionals.iter().map(|a| (positional_name(a), text(a.get_help()))).collect();
        let _ = writeln!(s, "Arguments:\n{}", table(&rows));
    }
    if let Some(examples) = cmd.get_after_help() {
        let _ = writeln!(s, "Examples:\n{}\n", indent(&examples.to_string(), "  "));
    }
    let subs: Vec<&Command> = {
        let mut v: Vec<&Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
        v.sort_by_key(|c| c.get_name());
        v
    };
    if !subs.is_empty() {
        let width = subs.iter().map(|c| c.get_name().len()).max().unwrap_or(0).max(11);
        let _ = writeln!(s, "Available Commands:");
        for c in &subs {
            let _ = writeln!(s, "  {:width$} {}", c.get_name(), text(c.get_about()));
        }
        s.push('\n');
    }
    let own: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| path.is_empty() || !a.is_global_set())
        // cobra lists --help in the root's options only.
        .filter(|a| path.is_empty() || a.get_id() != HELP)
        .collect();
    if !own.is_empty() {
        let _ = writeln!(s, "Options:\n{}", options(&own));
    }
    if !path.is_empty() {
        let global: Vec<&Arg> = root.get_arguments().filter(|a| a.is_global_set() && !a.is_hide_set()).collect();
        let _ = writeln!(s, "Global Options:\n{}", options(&global));
    } else if s.ends_with("\n\n") {
        // cobra's root help ends with its last option's line; a command's,
        // with an empty line after its global options.
        s.pop();
    }
    s
}

/// The command at `path` below `root`, aliases allowed.
pub fn find<'a>(root: &'a Command, path: &[String]) -> Option<&'a Command> {
    path.iter().try_fold(root, |c, name| c.find_subcommand(name))
}

/// `berth image list`: the canonical names, whatever alias was typed.
pub fn command_path(root: &Command, path: &[String]) -> String {
    let mut out = vec![root.get_name().to_string()];
    let mut cmd = root;
    for name in path {
        match cmd.find_subcommand(name) {
            Some(c) => {
                out.push(c.get_name().to_string());
                cmd = c;
            }
            None => out.push(name.clone()),
        }
    }
    out.join(" ")
}

/// Doc-comment text as a terminal shows it: `code` marks dropped (pflag
/// would take a quoted word for the value's name; these are prose).
fn text(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string().replace('`', "")).unwrap_or_default()
}

/// The long description without the summary line the derive puts first.
fn description(cmd: &Command) -> String {
    let about = text(cmd.get_about());
    let long = text(cmd.get_long_about());
    let rest = long.strip_prefix(&about).map_or(long.as_str(), str::trim_start);
    rest.trim_end().to_string()
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("{by}{l}") }).collect::<Vec<_>>().join("\n")
}

/// cobra's use line: `berth rm [options] CONTAINER [CONTAINER...]`.
pub fn usage_line(cmd: &Command, full: &str, root: bool) -> String {
    if let Some(u) = cmd.get_overridden_usage() {
        return u.to_string();
    }
    if cmd.has_subcommands() {
        return if root { format!("{full} [options] [command]") } else { format!("{full} [command]") };
    }
    let mut line = full.to_string();
    if cmd.get_arguments().any(|a| !a.is_positional() && !a.is_hide_set() && !a.is_global_set() && a.get_id() != HELP) {
        line.push_str(" [options]");
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set() && a.get_id() != EXTRA) {
        line.push(' ');
        line.push_str(&positional_usage(a));
    }
    line
}

fn positional_name(a: &Arg) -> String {
    a.get_value_names().and_then(|n| n.first()).map_or_else(|| a.get_id().as_str().to_uppercase(), |n| n.to_string())
}

/// `IMAGE`, `[IMAGE]`, `IMAGE [IMAGE...]`, or a value name that already
/// says it all (`IMAGE [COMMAND [ARG...]]`).
fn positional_usage(a: &Arg) -> String {
    let name = positional_name(a);
    if name.contains(' ') {
        name
    } else if takes_many(a) {
        format!("{name} [{name}...]")
    } else if a.is_required_set() {
        name
    } else {
        format!("[{name}]")
    }
}

/// pflag's option table: `  -a, --all` or `      --format string`, the
/// descriptions in one column two spaces after the widest, sorted by
/// name, with the default when it is not the type's zero value.
fn options(args: &[&Arg]) -> String {
    table(&option_rows(args))
}

/// The rows of pflag's option table: (`-a, --all` or `    --format
/// string`, the description with its default), sorted by name.
pub fn option_rows(args: &[&Arg]) -> Vec<(String, String)> {
    let mut sorted: Vec<&&Arg> = args.iter().collect();
    sorted.sort_by_key(|a| a.get_long().map(str::to_string).unwrap_or_default());
    sorted
        .iter()
        .map(|a| {
            let mut left = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("-{s}, --{l}"),
                (None, Some(l)) => format!("    --{l}"),
                (Some(s), None) => format!("-{s}"),
                (None, None) => a.get_id().to_string(),
            };
            let kind = kind(a);
            if !kind.is_empty() {
                left.push(' ');
                left.push_str(kind);
            }
            let mut help = text(a.get_help());
            if let Some(d) = default(a, kind) {
                help.push_str(&format!(" (default {d})"));
            }
            (left, help)
        })
        .collect()
}

/// pflag's name for a flag's value type ("" for booleans).
fn kind(a: &Arg) -> &'static str {
    let ty = a.get_value_parser().type_id();
    if !a.get_action().takes_values() || ty == TypeId::of::<bool>() {
        return "";
    }
    if matches!(a.get_action(), ArgAction::Append) {
        return "stringArray";
    }
    if [TypeId::of::<i64>(), TypeId::of::<i32>(), TypeId::of::<isize>()].iter().any(|t| ty == *t) {
        return "int";
    }
    if [TypeId::of::<u64>(), TypeId::of::<u32>(), TypeId::of::<u16>(), TypeId::of::<usize>()].iter().any(|t| ty == *t) {
        return "uint";
    }
    "string"
}

/// The default as pflag shows it: only when not the zero value, strings quoted.
fn default(a: &Arg, kind: &str) -> Option<String> {
    let d = a.get_default_values().first()?.to_string_lossy().into_owned();
    match kind {
        "" if d == "false" => None,
        "int" | "uint" if d == "0" => None,
        "string" if d.is_empty() => None,
        "string" => Some(format!("{d:?}")),
        _ => Some(d),
    }
}

/// Two columns, the second starting three spaces after the widest first.
fn table(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (left, right) in rows {
        let pad = " ".repeat(width + 5);
        let right = right.replace('\n', &format!("\n{pad}"));
        let _ = writeln!(s, "  {left:width$}   {right}");
    }
    s
}
