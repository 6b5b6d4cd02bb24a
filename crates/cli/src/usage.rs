//! From the command line to a command to run, or to what podman prints
//! instead: help, the version, or a usage error in pflag's and cobra's
//! words (one `Error:` line, then "See 'berth COMMAND --help'"; a misspelt
//! command gets podman's "Did you mean this?" block). Never clap's own
//! multi-line errors. Usage errors exit 125, as podman's do.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command, FromArgMatches as _};

use crate::cli::Cli;
use crate::error::ENGINE;
use crate::flags::{go_quote, takes_many, EXTRA, HELP, HELP_COMMAND, VERSION};
use crate::help;

/// What to do with a command line.
pub enum Parsed {
    /// Run this command; `path` is its full name (`berth image list`).
    Run { cli: Box<Cli>, path: String },
    /// Print and exit, without running anything.
    Exit { stdout: String, stderr: String, code: u8 },
}

impl Parsed {
    fn show(stdout: String) -> Parsed {
        Parsed::Exit { stdout, stderr: String::new(), code: 0 }
    }

    fn fail(stderr: String) -> Parsed {
        Parsed::Exit { stdout: String::new(), stderr, code: ENGINE as u8 }
    }
}

/// The line podman ends a usage error with.
pub fn see_help(path: &str) -> String {
    format!("See '{path} --help'")
}

/// Parse `args` (program name first) against the command tree.
pub fn parse(args: &[OsString]) -> Parsed {
    // Parsed in place, which changes the tree (clap finishes building what
    // it walks through): help and error messages are made from a fresh one,
    // built only when needed. Parsing a clone instead cost every command
    // more than half a millisecond.
    // Most command lines go through their command's branch alone; help,
    // errors and other commands through the whole tree.
    if let Some(mut branch) = first_words(args).first().and_then(|w| crate::cli::branch(w)) {
        if let Ok(m) = branch.try_get_matches_from_mut(args) {
            return parsed(&branch, &m);
        }
    }
    let mut tree = crate::cli::command();
    match tree.try_get_matches_from_mut(args) {
        Ok(m) => parsed(&tree, &m),
        Err(e) => refused(&crate::cli::command(), args, &e),
    }
}

/// The first two words of a command line that are neither options nor the
/// values of berth's global options: a guess at its command, before parsing.
pub fn first_words(args: &[OsString]) -> Vec<&str> {
    const GLOBAL_VALUES: [&str; 5] = ["--root", "--runroot", "--storage-driver", "--log-level", "--runtime"];
    let mut words = Vec::new();
    let mut iter = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    while let Some(a) = iter.next() {
        if GLOBAL_VALUES.contains(&a) {
            iter.next();
        } else if !a.starts_with('-') {
            words.push(a);
            if words.len() == 2 {
                break;
            }
        }
    }
    words
}

/// The subcommand names and the matches of the deepest one.
fn deepest(m: &ArgMatches) -> (Vec<String>, &ArgMatches) {
    let mut path = Vec::new();
    let mut leaf = m;
    while let Some((name, sub)) = leaf.subcommand() {
        path.push(name.to_string());
        leaf = sub;
    }
    (path, leaf)
}

fn flag(m: &ArgMatches, id: &str) -> bool {
    m.try_get_one::<bool>(id).ok().flatten().copied().unwrap_or(false)
}

/// Whether `--help` was given to the command at the end of `m`'s chain or
/// any before it (`berth --help rm` is rm's help).
fn wants_help(m: &ArgMatches) -> bool {
    flag(m, HELP) || m.subcommand().is_some_and(|(_, sub)| wants_help(sub))
}

/// What to do with a command line clap took; `parsed_tree` is the tree it
/// was parsed with, good for looking names up, not for messages.
fn parsed(parsed_tree: &Command, m: &ArgMatches) -> Parsed {
    let (path, leaf) = deepest(m);
    if wants_help(m) {
        return Parsed::show(help::render(&crate::cli::command(), &path));
    }
    if path.is_empty() && flag(m, VERSION) {
        return Parsed::show(format!("berth version {}\n", parsed_tree.get_version().unwrap_or_default()));
    }
    if path.first().map(String::as_str) == Some(HELP_COMMAND) {
        let root = crate::cli::command();
        let topic: Vec<String> = leaf.get_many::<String>("command").map(|v| v.cloned().collect()).unwrap_or_default();
        // cobra's: the deepest command the words name (`help run extra`
        // is run's help), unknown only if the first names none.
        let known = (0..=topic.len()).rev().find(|n| help::find(&root, &topic[..*n]).is_some()).unwrap_or(0);
        if known > 0 || topic.is_empty() {
            return Parsed::show(help::render(&root, &topic[..known]));
        }
        // podman's words and the root's usage (its help from Usage: on),
        // on stderr, and still a success.
        let shown = topic.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" ");
        let full = help::render(&root, &[]);
        let usage = full.find("Usage:").map_or(full.as_str(), |at| &full[at..]);
        let stderr = format!("Unknown help topic [{shown}]\n{usage}");
        return Parsed::Exit { stdout: String::new(), stderr, code: 0 };
    }
    let full = help::command_path(parsed_tree, &path);
    let Some(cmd) = help::find(parsed_tree, &path) else {
        return Parsed::fail(format!("Error: unrecognized command `{full}`\n"));
    };
    if cmd.has_subcommands() {
        // podman: the group's help on stdout, then the error.
        return Parsed::Exit {
            stdout: help::render(&crate::cli::command(), &path),
            stderr: format!("Error: missing command '{full} COMMAND'\n"),
            code: ENGINE as u8,
        };
    }
    if given(leaf, EXTRA) > 0 {
        let root = crate::cli::command();
        let cmd = help::find(&root, &path).unwrap_or(&root);
        return Parsed::fail(format!("Error: {}\n{}\n", arity_message(cmd, leaf, &full), see_help(&full)));
    }
    match Cli::from_arg_matches(m) {
        Ok(cli) => Parsed::Run { cli: Box::new(cli), path: full },
        Err(e) => Parsed::fail(format!("Error: {}\n{}\n", first_line(&e), see_help(&full))),
    }
}

/// How many positional arguments a command takes: (at least, at most).
fn arity(cmd: &Command) -> (usize, Option<usize>) {
    let mut min = 0;
    let mut max = Some(0);
    for a in cmd.get_positionals().filter(|a| a.get_id() != EXTRA) {
        let n = a.get_num_args();
        if a.is_required_set() {
            min += n.map_or(1, |n| n.min_values().max(1));
        }
        max = if takes_many(a) { None } else { max.map(|m| m + n.map_or(1, |n| n.max_values())) };
    }
    (min, max)
}

/// How many positional arguments the command line gave.
fn received(cmd: &Command, m: &ArgMatches) -> usize {
    cmd.get_positionals().map(|a| given(m, a.get_id().as_str())).sum()
}

/// How many values the command line gave `id` (none when the command has
/// no such argument).
fn given(m: &ArgMatches, id: &str) -> usize {
    match m.try_get_raw(id) {
        Ok(Some(values)) if m.value_source(id) == Some(ValueSource::CommandLine) => values.len(),
        _ => 0,
    }
}

/// cobra's (and podman's) words for the wrong number of arguments.
fn arity_message(cmd: &Command, m: &ArgMatches, full: &str) -> String {
    let got = received(cmd, m);
    match arity(cmd) {
        (0, Some(0)) => format!("`{full}` takes no arguments"),
        (min, None) => format!("requires at least {min} arg(s), only received {got}"),
        (0, Some(max)) => format!("accepts at most {max} arg(s), received {got}"),
        (min, Some(max)) if min == max => format!("accepts {min} arg(s), received {got}"),
        (min, Some(max)) => format!("accepts between {min} and {max} arg(s), received {got}"),
    }
}

fn context(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// clap's message without its "error: " and anything after the first line.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or("invalid usage").trim_start_matches("error: ").to_string()
}

/// A command line clap refused, in podman's words.
fn refused(root: &Command, args: &[OsString], e: &clap::Error) -> Parsed {
    // Parsed again, leniently, for what the error does not say: which
    // command it is about and what was given.
    let lenient = root.clone().ignore_errors(true).try_get_matches_from(args).ok();
    let (path, leaf) = match &lenient {
        Some(m) => {
            let (path, leaf) = deepest(m);
            (path, Some(leaf))
        }
        None => (Vec::new(), None),
    };
    let full = help::command_path(root, &path);
    let cmd = help::find(root, &path).unwrap_or(root);
    let fail = |msg: String| Parsed::fail(format!("Error: {msg}\n{}\n", see_help(&full)));
    let arg = context(e, ContextKind::InvalidArg).unwrap_or_default();
    let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            let (Some(leaf), Some(all)) = (leaf, &lenient) else { return fail(first_line(e)) };
            // cobra shows the help before it checks the arguments.
            if wants_help(all) {
                return Parsed::show(help::render(root, &path));
            }
            if received(cmd, leaf) < arity(cmd).0 {
                return fail(arity_message(cmd, leaf, &full));
            }
            // Required unless some flag is given (`logout REGISTRY|--all`).
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.join(", "),
                _ => String::new(),
            };
            fail(format!("missing argument: {}", missing.replace(['<', '>'], "")))
        }
        ErrorKind::InvalidSubcommand => {
            unknown_command(root, &path, &context(e, ContextKind::InvalidSubcommand).unwrap_or_default())
        }
        ErrorKind::UnknownArgument if !arg.starts_with('-') || arg == "-" => unknown_command(root, &path, &arg),
        ErrorKind::UnknownArgument => match arg.strip_prefix("--") {
            Some(long) => fail(format!("unknown flag: --{}", long.split('=').next().unwrap_or(long))),
            None => {
                let c = arg.chars().nth(1).unwrap_or('-');
                fail(format!("unknown shorthand flag: '{c}' in -{}", shorthands(args, c)))
            }
        },
        // A flag that takes a value given none.
        ErrorKind::InvalidValue if value.is_empty() => {
            let last = args.last().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
            match last.strip_prefix("--") {
                Some(long) => fail(format!("flag needs an argument: --{long}")),
                None => {
                    let c = last.chars().last().unwrap_or('-');
                    fail(format!("flag needs an argument: '{c}' in -{c}"))
                }
            }
        }
        ErrorKind::InvalidValue => {
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) => v.join(", "),
                _ => String::new(),
            };
            fail(format!(
                "invalid argument {} for \"{}\" flag: must be one of: {valid}",
                go_quote(&value),
                flag_names(root, cmd, &arg)
            ))
        }
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e).map(ToString::to_string).unwrap_or_default();
            fail(format!("invalid argument {} for \"{}\" flag: {why}", go_quote(&value), flag_names(root, cmd, &arg)))
        }
        ErrorKind::ArgumentConflict => {
            let prior = context(e, ContextKind::PriorArg).unwrap_or_default();
            let name = |shown: &str| shown.split(['[', ' ', '=']).next().unwrap_or(shown).to_string();
            match (name(&arg), name(&prior)) {
                // podman's words (logout --all NAME, login -p with --password-stdin).
                (a, p) if !p.starts_with('-') => fail(format!("{a} takes no arguments")),
                (a, p) if !a.starts_with('-') => fail(format!("{p} takes no arguments")),
                (a, p) => fail(format!("Can't specify both {p} and {a}")),
            }
        }
        _ => fail(first_line(e)),
    }
}

/// pflag's "in -xyz": the short-flag group from the unknown letter on.
fn shorthands(args: &[OsString], c: char) -> String {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .filter(|a| a.starts_with('-') && !a.starts_with("--"))
        .find_map(|a| a.find(c).map(|i| a[i..].to_string()))
        .unwrap_or_else(|| c.to_string())
}

/// pflag's name of a flag in errors: `-n, --noheading` or `--format`.
fn flag_names(root: &Command, cmd: &Command, shown: &str) -> String {
    let long: String =
        shown.trim_start_matches('-').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let found = cmd.get_arguments().chain(root.get_arguments()).find(|a| {
        a.get_long() == Some(long.as_str()) || (long.chars().count() == 1 && a.get_short() == long.chars().next())
    });
    match found {
        Some(a) => match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}"),
            (None, Some(l)) => format!("--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, None) => shown.to_string(),
        },
        None => shown.to_string(),
    }
}

/// podman's unknown command: at the top, the commands within two edits or
/// starting with what was typed; below it (cobra's default distance of 0
/// there), only those starting with it.
fn unknown_command(root: &Command, path: &[String], typed: &str) -> Parsed {
    let group = help::find(root, path).unwrap_or(root);
    let full = help::command_path(root, path);
    let max_distance = if path.is_empty() { 2 } else { 0 };
    let typed_lower = typed.to_lowercase();
    let suggestions: Vec<&str> = group
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != HELP_COMMAND)
        .map(|c| c.get_name())
        .filter(|name| {
            let name = name.to_lowercase();
            strsim::levenshtein(&typed_lower, &name) <= max_distance || name.starts_with(&typed_lower)
        })
        .collect();
    let mut msg = format!("Error: unrecognized command `{full} {typed}`\n");
    if !suggestions.is_empty() {
        msg.push_str(&format!("\nDid you mean this?\n\t{}\n\n", suggestions.join("\n\t")));
    }
    msg.push_str(&format!("Try '{full} --help' for more information\n"));
    Parsed::fail(msg)
}
