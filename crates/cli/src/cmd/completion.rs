//! Shell completion: `berth completion SHELL` writes a small script that,
//! at each Tab, runs berth again with the words typed so far, as podman's
//! scripts run its hidden `__complete` command. berth answers from the
//! clap tree itself (clap_complete's dynamic engine: subcommands, flags,
//! their fixed values), and with the names in the store where an argument
//! names a container, an image, a volume or a network: the args whose
//! value name says so (`CONTAINER`, `IMAGE`, `VOLUME`, `NETWORK`, and
//! `NAME|ID` for either of the first two; `--network`; `cp`'s
//! `[CONTAINER:]PATH`), found by walking the tree, so
//! commands added later complete names with no more work.
//!
//! Names are read without opening the store (`engine::completion`), from
//! the `--root` among the words typed, else the default.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Command;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate, ValueCompleter};
use clap_complete::env::{Bash, CompleteEnv, EnvCompleter, Fish, Powershell, Shells, Zsh};
use engine::completion::NameKind;

use crate::error::{CliError, Context as _, Result};
use crate::flags::HELP_COMMAND;

/// The variable the scripts set when they run berth for candidates (a
/// name no one sets by accident: clap's default, `COMPLETE`, is common).
const REQUEST: &str = "_BERTH_COMPLETE";
/// The same, from a script made with `--no-desc`: candidates without
/// their descriptions.
const REQUEST_NO_DESC: &str = "_BERTH_COMPLETE_NO_DESC";

#[derive(clap::Args)]
pub struct CompletionArgs {
    /// Output the completion to file rather than stdout.
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Don't include descriptions in the completion output.
    #[arg(long = "no-desc")]
    no_desc: bool,
    /// The shell to complete in
    #[arg(value_name = "{bash|zsh|fish|powershell}")]
    shell: String,
}

/// `berth completion SHELL`: the script that registers berth's completion.
pub fn completion(a: &CompletionArgs) -> Result<u8> {
    let shell: &dyn EnvCompleter = match a.shell.as_str() {
        "bash" => &Bash,
        "zsh" => &Zsh,
        "fish" => &Fish,
        "powershell" => &Powershell,
        other => return Err(CliError::new(format!("invalid argument {other:?} for \"berth completion\""))),
    };
    // The script runs this very binary for candidates: the berth a user
    // installed (or built) and generated it with.
    let exe = std::env::current_exe().ctx(|| "finding the berth binary".into())?;
    let var = if a.no_desc { REQUEST_NO_DESC } else { REQUEST };
    let mut script = Vec::new();
    shell
        .write_registration(var, "berth", "berth", &exe.to_string_lossy(), &mut script)
        .ctx(|| "writing the completion script".into())?;
    match &a.file {
        Some(path) => std::fs::write(path, &script).ctx(|| format!("writing {}", path.display()))?,
        None => super::out(&String::from_utf8_lossy(&script))?,
    }
    Ok(0)
}

/// Answer a completion script's request, if this run is one: true when
/// answered (the process then exits 0).
pub fn answer_request(args: &[OsString]) -> bool {
    let (var, descriptions) = if std::env::var_os(REQUEST).is_some() {
        (REQUEST, true)
    } else if std::env::var_os(REQUEST_NO_DESC).is_some() {
        (REQUEST_NO_DESC, false)
    } else {
        return false;
    };
    let _ = ROOT.set(root_among(args));
    let _ = WORDS.set(args.iter().skip_while(|a| *a != "--").skip(1).cloned().collect());
    let factory = move || {
        let tree = with_name_completers(crate::cli::command());
        if descriptions {
            tree
        } else {
            without_descriptions(tree)
        }
    };
    // Relative paths (`-f FILE`, cp's) complete from where the user is.
    let cwd = std::env::current_dir().ok();
    // clap_complete prints its own error and exits non-zero on failure.
    CompleteEnv::with_factory(factory)
        .var(var)
        .shells(Shells(SHELLS))
        .try_complete(args, cwd.as_deref())
        .unwrap_or(true)
}

/// The shells a script may ask for.
const SHELLS: &[&dyn EnvCompleter] =
    &[&NamesFirst(&Bash), &NamesFirst(&Zsh), &NamesFirst(&Fish), &NamesFirst(&Powershell)];

/// A shell's completion as clap_complete answers it, but an empty word
/// offers names alone where there are any, as podman's does (`start
/// <Tab>`: the containers, not every flag too); a `-` asks for the flags.
/// Done on the shell's own output, whose entries are separated by
/// `_CLAP_IFS` (bash, zsh) or lines (fish, powershell), each starting
/// with its value.
struct NamesFirst(&'static dyn EnvCompleter);

impl EnvCompleter for NamesFirst {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is(&self, name: &str) -> bool {
        self.0.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        self.0.write_registration(var, name, bin, completer, buf)
    }

    fn write_complete(
        &self,
        cmd: &mut Command,
        args: Vec<OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        // The word being completed: at the index bash and zsh pass, else
        // the last (none yet: empty).
        let index = std::env::var("_CLAP_COMPLETE_INDEX").ok().and_then(|i| i.parse::<usize>().ok());
        let current = match index {
            Some(i) => args.get(i),
            None => args.last(),
        };
        let empty = current.is_none_or(|w| w.is_empty());
        let mut out = Vec::new();
        self.0.write_complete(cmd, args, current_dir, &mut out)?;
        if !empty {
            return buf.write_all(&out);
        }
        let sep = std::env::var("_CLAP_IFS").unwrap_or_else(|_| "\n".into());
        let text = String::from_utf8_lossy(&out);
        let entries: Vec<&str> = text.split(sep.as_str()).collect();
        let names = entries.iter().any(|e| !e.is_empty() && !e.starts_with('-'));
        if !names {
            return buf.write_all(&out);
        }
        let kept: Vec<&str> = entries.into_iter().filter(|e| !e.starts_with('-')).collect();
        buf.write_all(kept.join(sep.as_str()).as_bytes())
    }
}

/// The store whose names are offered: the last `--root` typed.
static ROOT: OnceLock<PathBuf> = OnceLock::new();
/// The words typed, `berth` first, the one being completed last.
static WORDS: OnceLock<Vec<OsString>> = OnceLock::new();

/// Whether the words before the one being completed already give
/// positional `id` of the command they name a value (`run IMAGE` typed:
/// what follows is the command). Parsed leniently with the tree itself,
/// which alone knows which flags take a value.
fn already_given(id: &str) -> bool {
    let Some(words) = WORDS.get() else { return false };
    let before = &words[..words.len().saturating_sub(1)];
    let Ok(mut m) = crate::cli::command().ignore_errors(true).try_get_matches_from(before) else { return false };
    while let Some((_, sub)) = m.subcommand() {
        m = sub.clone();
    }
    m.try_get_raw(id).ok().flatten().is_some_and(|mut v| v.next().is_some())
}

/// The `--root` among the words a script passed (after `--`), else the
/// default.
fn root_among(args: &[OsString]) -> PathBuf {
    let words: Vec<&OsStr> = args.iter().skip_while(|a| *a != "--").skip(1).map(OsString::as_os_str).collect();
    let mut root = PathBuf::from(engine::DEFAULT_ROOT);
    for (i, w) in words.iter().enumerate() {
        let w = w.to_string_lossy();
        if w == "--root" {
            if let Some(next) = words.get(i + 1) {
                root = PathBuf::from(next);
            }
        } else if let Some(v) = w.strip_prefix("--root=") {
            root = PathBuf::from(v);
        }
    }
    root
}

/// What an argument names, by its value name (and `--network`, whose
/// value, MODE, is a network's name but for a few modes).
fn kinds_named(arg: &clap::Arg) -> &'static [NameKind] {
    if arg.get_long() == Some("network") {
        return &[NameKind::Network];
    }
    let name = arg.get_value_names().and_then(|n| n.first()).map(|n| n.as_str()).unwrap_or_default();
    match name.split(' ').next().unwrap_or_default() {
        "CONTAINER" => &[NameKind::Container],
        "IMAGE" => &[NameKind::Image],
        "VOLUME" => &[NameKind::Volume],
        "NETWORK" => &[NameKind::Network],
        "NAME|ID" => &[NameKind::Container, NameKind::Image],
        _ => &[],
    }
}

/// Offers the names of `kinds`; `first_only`: for the first value alone
/// (`IMAGE [COMMAND [ARG...]]`: what follows the image is a command).
struct Names {
    kinds: &'static [NameKind],
    /// The argument's id, when it takes its first value only.
    first_only: Option<String>,
}

impl ValueCompleter for Names {
    fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
        self.complete_at(0, current)
    }

    fn complete_at(&self, index: usize, current: &OsStr) -> Vec<CompletionCandidate> {
        if let Some(id) = &self.first_only {
            // (`index` is 0 for every word of a trailing argument.)
            if index > 0 || already_given(id) {
                return Vec::new();
            }
        }
        let root = ROOT.get().map_or(Path::new(engine::DEFAULT_ROOT), PathBuf::as_path);
        let typed = current.to_string_lossy();
        self.kinds
            .iter()
            .flat_map(|k| engine::completion::names(root, *k))
            .filter(|n| n.starts_with(typed.as_ref()))
            .map(CompletionCandidate::new)
            .collect()
    }
}

/// `help COMMAND...`: the commands below those already typed.
struct HelpTopics;

impl ValueCompleter for HelpTopics {
    fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
        let Some(words) = WORDS.get() else { return Vec::new() };
        let words: Vec<String> = words.iter().map(|w| w.to_string_lossy().into_owned()).collect();
        let Some(at) = words.iter().position(|w| w == HELP_COMMAND) else { return Vec::new() };
        let topic = &words[at + 1..words.len().saturating_sub(1)];
        let root = crate::cli::command();
        let Some(cmd) = crate::help::find(&root, topic) else { return Vec::new() };
        let typed = current.to_string_lossy();
        cmd.get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != HELP_COMMAND && c.get_name().starts_with(typed.as_ref()))
            .map(|c| CompletionCandidate::new(c.get_name()).help(c.get_about().cloned()))
            .collect()
    }
}

/// `cp`'s `[CONTAINER:]PATH`: the containers, as `NAME:`, and the host's
/// paths, as podman offers them.
struct ContainerOrPath;

impl ValueCompleter for ContainerOrPath {
    fn complete(&self, current: &OsStr) -> Vec<CompletionCandidate> {
        let root = ROOT.get().map_or(Path::new(engine::DEFAULT_ROOT), PathBuf::as_path);
        let typed = current.to_string_lossy();
        let mut out: Vec<CompletionCandidate> = engine::completion::names(root, NameKind::Container)
            .into_iter()
            .map(|n| format!("{n}:"))
            .filter(|n| n.starts_with(typed.as_ref()))
            .map(CompletionCandidate::new)
            .collect();
        out.extend(clap_complete::engine::PathCompleter::any().complete(current));
        out
    }
}

/// The tree with a name completer on every argument that names objects
/// (and `help`'s topics).
fn with_name_completers(cmd: Command) -> Command {
    if cmd.get_name() == HELP_COMMAND {
        return cmd.mut_arg("command", |a| a.add(ArgValueCompleter::new(HelpTopics)));
    }
    let cmd = cmd.mut_args(|a| {
        let value_name = a.get_value_names().and_then(|n| n.first()).map(|n| n.to_string()).unwrap_or_default();
        if value_name.starts_with("[CONTAINER:]") {
            return a.add(ArgValueCompleter::new(ContainerOrPath));
        }
        let kinds = kinds_named(&a);
        if kinds.is_empty() {
            return a;
        }
        let first_only = a.get_value_names().and_then(|n| n.first()).is_some_and(|n| n.contains(' '));
        let first_only = first_only.then(|| a.get_id().to_string());
        a.add(ArgValueCompleter::new(Names { kinds, first_only }))
    });
    cmd.mut_subcommands(with_name_completers)
}

/// The tree without summaries or help texts (`--no-desc`).
fn without_descriptions(cmd: Command) -> Command {
    let cmd =
        cmd.about(None::<&str>).long_about(None::<&str>).mut_args(|a| a.help(None::<&str>).long_help(None::<&str>));
    cmd.mut_subcommands(without_descriptions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_last_typed() {
        let args = |line: &str| -> Vec<OsString> { line.split(' ').map(OsString::from).collect() };
        assert_eq!(root_among(&args("/bin/berth -- berth ps ")), PathBuf::from(engine::DEFAULT_ROOT));
        assert_eq!(root_among(&args("/bin/berth -- berth --root /r start ")), PathBuf::from("/r"));
        assert_eq!(root_among(&args("/bin/berth -- berth --root=/a --root /b rm x")), PathBuf::from("/b"));
        // Before `--` are the script's own words.
        assert_eq!(root_among(&args("/bin/berth --root /x -- berth rm")), PathBuf::from(engine::DEFAULT_ROOT));
    }

    #[test]
    fn names_by_the_tree() {
        let tree = crate::cli::command();
        let arg = |path: &[&str], id: &str| {
            let cmd = crate::help::find(&tree, &path.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            kinds_named(cmd.get_arguments().find(|a| a.get_id() == id).unwrap())
        };
        assert_eq!(arg(&["start"], "containers"), [NameKind::Container]);
        assert_eq!(arg(&["volume", "rm"], "volumes"), [NameKind::Volume]);
        assert_eq!(arg(&["run"], "network"), [NameKind::Network]);
        assert!(arg(&["run"], "name").is_empty());
    }
}
