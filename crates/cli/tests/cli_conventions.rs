//! podman's command-line conventions, the ones every command follows (the
//! issue's "podman's CLI conventions, for every command now and later"):
//! one table, a rule per block of rows, each rule tried on container, image
//! and info commands. Every row runs against berth and against podman 4.3
//! (each with its own store holding the same busybox image as
//! `localhost/bb`, and a created container `c1`) and must give the same
//! exit code and the same output shape; usage errors must also end with
//! "See 'berth COMMAND --help'" on berth, as the issue asks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::podman::{compare, ErrorLine, Podman, Row, Stdout};
use common::*;
use serde_json::json;

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().nth(1));
    assert_eq!(euid, Some("0"), "these tests create containers: run them as root");
}

/// Both sides with `localhost/bb` (busybox, CMD sh) imported from the same
/// tarball and a container `c1` made with `--name first --name c1`; in the
/// shared directory, that tarball (`bb.tar`) and an oci-archive of
/// `localhost/loaded` (`loaded.tar`).
fn setup() -> (Env, Podman) {
    require_root();
    let env = Env::new();
    let podman = Podman::beside(&env);
    write_oci_archive(&env.path("loaded.tar"), Some("localhost/loaded:latest"), &[busybox_layer()], json!(null));
    let create = ["create", "--pull=never", "--name", "first", "--name", "c1", "localhost/bb", "true"];
    env.ok(&create);
    podman.ok(&create);
    (env, podman)
}

const fn row(args: &'static [&'static str], code: i32, stdout: &'static str) -> Row {
    Row::new(args, code, stdout)
}

/// A usage error: podman's first line, and berth's See line after it.
const fn usage(args: &'static [&'static str], see: &'static [&'static str]) -> Row {
    Row { berth_stderr: see, ..Row::new(args, 125, "") }
}

/// A flag error: pflag's two lines, the same on both.
const fn flag_error(args: &'static [&'static str]) -> Row {
    Row { error: ErrorLine::All, ..Row::new(args, 125, "") }
}

const fn shaped(args: &'static [&'static str], stdout: Stdout) -> Row {
    Row::shaped(args, 0, stdout)
}

const ROWS: &[Row] = &[
    // Flag letters and names are podman's.
    row(&["ps", "-a", "-n", "1", "--format", "{{.Names}}"], 0, "c1\n"),
    row(&["container", "exists", "c1"], 0, ""),
    row(&["container", "exists", "nosuch"], 1, ""),
    row(&["container", "inspect", "-f", "{{.Name}} {{.State.Status}}", "c1"], 0, "c1 created\n"),
    row(&["inspect", "-t", "container", "-f", "{{.Config.Cmd}}", "c1"], 0, "[true]\n"),
    row(&["exec", "c1", "true"], 255, ""),
    row(&["images", "-n", "--format", "table {{.Repository}} {{.Tag}}"], 0, "localhost/bb  latest\n"),
    row(&["rm", "--ignore", "-v", "-f=false", "nosuch"], 0, ""),
    row(
        &["history", "-H=false", "--no-trunc", "--format", "{{.Comment}}", "localhost/bb"],
        0,
        "imported from tarball\n",
    ),
    // Boolean flags take =true|false in Go's spellings, and refuse others
    // in pflag's words.
    row(&["ps", "--all=true", "--format", "{{.Names}}"], 0, "c1\n"),
    row(&["ps", "-a=0", "--format", "{{.Names}}"], 0, ""),
    row(&["images", "--quiet=F", "--noheading=T", "--format", "table {{.Repository}}"], 0, "localhost/bb\n"),
    Row { stdout: Stdout::Same, ..row(&["history", "--quiet=true", "localhost/bb"], 0, "") },
    flag_error(&["images", "--noheading=maybe"]),
    flag_error(&["rm", "-f=yes", "c1"]),
    flag_error(&["history", "-H=2", "localhost/bb"]),
    flag_error(&["pull", "--tls-verify=nope", "localhost/bb"]),
    // Everything after IMAGE goes to the container, `--` included.
    row(&["run", "--rm", "--pull=never", "localhost/bb", "echo", "--", "x"], 0, "-- x\n"),
    // A repeated single-value flag takes the last value (global ones too).
    row(&["ps", "-a", "--format", "{{.ID}}", "--format", "{{.Names}}"], 0, "c1\n"),
    row(&["images", "--format", "{{.ID}}", "--format", "{{.Repository}}"], 0, "localhost/bb\n"),
    row(&["image", "inspect", "--format", "{{.Id}}", "--format", "{{.Os}}", "localhost/bb"], 0, "linux\n"),
    row(&["info", "--format", "{{.Host.OS}}", "--format", "{{.Host.Arch}}"], 0, "amd64\n"),
    row(
        &["run", "--rm", "--pull=always", "--pull=never", "-w", "/bin", "-w", "/tmp", "localhost/bb", "pwd"],
        0,
        "/tmp\n",
    ),
    row(&["--log-level=debug", "--log-level=error", "images", "--format", "{{.Repository}}"], 0, "localhost/bb\n"),
    // A missing argument says what is missing (cobra's and podman's words),
    // and berth adds the See line.
    usage(&["tag"], &["See 'berth tag --help'"]),
    usage(&["tag", "localhost/bb"], &["See 'berth tag --help'"]),
    usage(&["image", "tag"], &["See 'berth image tag --help'"]),
    usage(&["history"], &["See 'berth history --help'"]),
    usage(&["image", "exists"], &["See 'berth image exists --help'"]),
    usage(&["import"], &["See 'berth import --help'"]),
    usage(&["pull"], &["See 'berth pull --help'"]),
    usage(&["push"], &["See 'berth push --help'"]),
    usage(&["create"], &["See 'berth create --help'"]),
    usage(&["run", "--rm"], &["See 'berth run --help'"]),
    usage(&["rm"], &["See 'berth rm --help'"]),
    usage(&["rmi"], &["See 'berth rmi --help'"]),
    usage(&["image", "rm"], &["See 'berth image rm --help'"]),
    usage(&["save"], &["See 'berth save --help'"]),
    usage(&["image", "inspect"], &["See 'berth image inspect --help'"]),
    // ... and so do too many.
    usage(&["ps", "c1"], &["See 'berth ps --help'"]),
    usage(&["info", "x"], &["See 'berth info --help'"]),
    usage(&["images", "a", "b"], &["See 'berth images --help'"]),
    usage(&["history", "a", "b", "c"], &["See 'berth history --help'"]),
    usage(&["image", "prune", "x"], &["See 'berth image prune --help'"]),
    usage(&["image", "exists", "a", "b"], &["See 'berth image exists --help'"]),
    usage(&["exec"], &["See 'berth exec --help'"]),
    usage(&["top"], &["See 'berth top --help'"]),
    usage(&["pause"], &["See 'berth pause --help'"]),
    usage(&["unpause"], &["See 'berth unpause --help'"]),
    usage(&["restart"], &["See 'berth restart --help'"]),
    usage(&["pause", "-a", "c1"], &["See 'berth pause --help'"]),
    usage(&["restart", "-a", "c1"], &["See 'berth restart --help'"]),
    usage(&["stop", "-a", "c1"], &["See 'berth stop --help'"]),
    usage(&["kill", "-a", "c1"], &["See 'berth kill --help'"]),
    usage(&["init", "-a", "c1"], &["See 'berth init --help'"]),
    usage(&["container", "cleanup", "-a", "c1"], &["See 'berth container cleanup --help'"]),
    usage(&["start", "--all", "c1"], &["See 'berth start --help'"]),
    usage(&["rename", "c1"], &["See 'berth rename --help'"]),
    usage(&["inspect"], &["See 'berth inspect --help'"]),
    usage(&["container", "inspect"], &["See 'berth container inspect --help'"]),
    usage(&["container", "exists"], &["See 'berth container exists --help'"]),
    usage(&["container", "prune", "x"], &["See 'berth container prune --help'"]),
    // ... and so do flags that exclude each other or the arguments (registry
    // on loopback: neither side gets as far as contacting it).
    usage(&["logout", "--all", "127.0.0.1:9"], &["See 'berth logout --help'"]),
    usage(&["login", "-p", "x", "--password-stdin", "127.0.0.1:9"], &["See 'berth login --help'"]),
    // A misspelt command gets "Did you mean this?" (podman lists its own
    // commands too: where it has more, the first line is compared).
    Row { error: ErrorLine::All, ..row(&["imgaes"], 125, "") },
    Row { error: ErrorLine::All, ..row(&["strat"], 125, "") },
    Row { error: ErrorLine::All, ..row(&["netwrk", "ls"], 125, "") },
    Row { error: ErrorLine::All, ..row(&["image", "l"], 125, "") },
    Row { error: ErrorLine::All, ..row(&["image", "hist"], 125, "") },
    Row { error: ErrorLine::All, ..row(&["image", "lss"], 125, "") },
    row(&["pul"], 125, ""),
    row(&["rn", "c1"], 125, ""),
    Row { error: ErrorLine::All, ..row(&["completion", "tcsh"], 125, "") },
    // Flag errors: pflag's words, then the See line.
    flag_error(&["--foo", "ps"]),
    flag_error(&["-z", "images"]),
    flag_error(&["ps", "--foo"]),
    flag_error(&["rm", "-fz", "c1"]),
    flag_error(&["images", "-z"]),
    flag_error(&["info", "--bar"]),
    flag_error(&["history", "--noheading", "localhost/bb"]),
    flag_error(&["exec", "--foo", "c1", "true"]),
    flag_error(&["top", "--foo", "c1"]),
    flag_error(&["container", "inspect", "--foo", "c1"]),
    flag_error(&["load", "-i"]),
    flag_error(&["images", "--format"]),
    flag_error(&["info", "--format"]),
    flag_error(&["ps", "--last=x"]),
    flag_error(&["rm", "--time", "-1", "c1"]),
    // An unknown --format field is one line, in Go's words.
    flag_error(&["ps", "-a", "--format", "{{.Foo}}"]),
    flag_error(&["images", "--format", "{{.Foo}}"]),
    flag_error(&["history", "--format", "{{.Foo}}", "localhost/bb"]),
    flag_error(&["image", "inspect", "--format", "{{.Foo}}", "localhost/bb"]),
    flag_error(&["info", "--format", "{{.Foo}}"]),
    // (what the template printed before the failing action stays printed, as Go's does)
    Row { stdout: Stdout::Is("c1 "), ..flag_error(&["ps", "-a", "--format", "{{.Names}} {{.Foo}}"]) },
    Row { stdout: Stdout::Same, ..flag_error(&["images", "--format", "{{.ID}} {{.Foo}}"]) },
    Row { stdout: Stdout::Same, ..flag_error(&["history", "--format", "{{.ID}}\\n{{.Foo}}", "localhost/bb"]) },
    Row { stdout: Stdout::Same, ..flag_error(&["image", "inspect", "--format", "{{.ID}} {{.Foo}}", "localhost/bb"]) },
    Row { stdout: Stdout::Is("amd64"), ..flag_error(&["info", "--format", "{{.Host.Arch}}{{.Foo}}"]) },
    // Bare `berth` (and a bare command group) prints the help, then the error.
    Row { error: ErrorLine::All, ..Row::shaped(&[], 125, Stdout::Headings) },
    Row { error: ErrorLine::All, ..Row::shaped(&["image"], 125, Stdout::Headings) },
    // Help: podman's sections, in podman's order; `-h` and `help COMMAND` too.
    shaped(&["--help"], Stdout::Headings),
    shaped(&["rm", "--help"], Stdout::Headings),
    shaped(&["ps", "-h"], Stdout::Headings),
    shaped(&["run", "--help"], Stdout::Headings),
    // (run and create have -h/--hostname, as podman.)
    flag_error(&["run", "-h"]),
    shaped(&["images", "--help"], Stdout::Headings),
    shaped(&["image", "list", "--help"], Stdout::Headings),
    shaped(&["image", "ls", "--help"], Stdout::Headings),
    shaped(&["image", "--help"], Stdout::Headings),
    shaped(&["info", "--help"], Stdout::Headings),
    shaped(&["help", "tag"], Stdout::Headings),
    shaped(&["help", "image", "prune"], Stdout::Headings),
    shaped(&["tag", "--help"], Stdout::Headings),
    // --format json and {{json .}}: podman's JSON, for every listing and inspect.
    shaped(&["ps", "-a", "--format", "json"], Stdout::JsonShape),
    shaped(&["ps", "-a", "--format", "{{json .}}"], Stdout::JsonShape),
    shaped(&["images", "--format", "json"], Stdout::JsonShape),
    shaped(&["images", "--format", "{{ json . }}"], Stdout::JsonShape),
    shaped(&["history", "--format", "json", "localhost/bb"], Stdout::JsonShape),
    shaped(&["history", "--format", "{{json .}}", "localhost/bb"], Stdout::JsonShape),
    shaped(&["image", "inspect", "--format", "json", "localhost/bb"], Stdout::JsonShape),
    shaped(&["image", "inspect", "localhost/bb"], Stdout::JsonShape),
    shaped(&["info", "--format", "json"], Stdout::JsonSubset),
    shaped(&["info", "--format", "{{json .}}"], Stdout::JsonSubset),
    // -q prints what podman prints.
    shaped(&["ps", "-a", "-q"], Stdout::Same),
    shaped(&["images", "-q"], Stdout::Same),
    shaped(&["history", "-q", "localhost/bb"], Stdout::Same),
    // Tables stay aligned, with and without their heading, and with custom
    // `table` templates (spaces between fields separate columns).
    row(
        &["ps", "-a", "--format", "table {{.Names}} {{.Image}}"],
        0,
        "NAMES       IMAGE\nc1          localhost/bb:latest\n",
    ),
    row(
        &["ps", "-a", "--noheading", "--format", "table {{.Names}}\\t{{.Image}}"],
        0,
        "c1          localhost/bb:latest\n",
    ),
    row(&["images", "--format", "table {{.Repository}} {{.Tag}}"], 0, "REPOSITORY    TAG\nlocalhost/bb  latest\n"),
    row(&["images", "--noheading", "--format", "table {{.Repository}}\\t{{.Tag}}"], 0, "localhost/bb  latest\n"),
    // Environment: -e VAR copies, -e =x is refused; --entrypoint JSON.
    row(&["run", "--rm", "--pull=never", "-e", "=x", "localhost/bb", "true"], 125, ""),
    row(&["run", "--rm", "--pull=never", "--entrypoint", "[\"/bin/echo\",\"a\"]", "localhost/bb", "b"], 0, "a b\n"),
    // image prune asks first unless -f (here, nothing to prune either way).
    Row {
        stdin: Some("n\n"),
        ..row(
            &["image", "prune"],
            0,
            "WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] ",
        )
    },
    row(&["image", "prune", "-f"], 0, ""),
    // Last, as they add images: import -q and load -q print what podman does.
    shaped(&["import", "-q", "{dir}/bb.tar", "localhost/imported"], Stdout::Same),
    shaped(&["load", "-q", "-i", "{dir}/loaded.tar"], Stdout::Same),
    row(&["images", "--format", "{{.Repository}}", "localhost/loaded"], 0, "localhost/loaded\n"),
];

#[test]
fn conventions_hold_for_every_command_as_podman() {
    let (env, podman) = setup();
    compare(ROWS, env.dir.path(), &|a| env.cmd(a), &|a| podman.cmd(a));
}

/// The commands berth has, as its help lists them, at every depth (`run`,
/// `image list`, `system boot`...): what any helper adds is walked too.
fn all_commands(env: &Env) -> Vec<Vec<String>> {
    fn listed(help: &str) -> Vec<String> {
        help.lines()
            .skip_while(|l| *l != "Available Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect()
    }
    fn walk(env: &Env, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let subs = listed(&env.ok(&args));
        if subs.is_empty() {
            out.push(path);
            return;
        }
        for sub in subs {
            let mut next = path.clone();
            next.push(sub);
            walk(env, next, out);
        }
    }
    let mut out = Vec::new();
    walk(env, Vec::new(), &mut out);
    out
}

/// Every command's help, in podman's layout: what it does, Usage, its
/// examples, every positional argument described, its own options apart
/// from the global ones; `help COMMAND` says the same.
#[test]
fn every_command_has_podmans_help_layout() {
    let env = Env::new();
    let commands = all_commands(&env);
    assert!(commands.len() >= 25, "{commands:?}");
    const GLOBAL: [&str; 4] = ["--root", "--runroot", "--storage-driver", "--log-level"];
    for path in &commands {
        let name = path.join(" ");
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = env.ok(&args);
        let section = |title: &str| -> Vec<String> {
            help.lines().skip_while(|l| *l != title).skip(1).take_while(|l| !l.is_empty()).map(String::from).collect()
        };
        let first = help.lines().next().unwrap_or_default();
        assert!(!first.is_empty() && !first.ends_with(':'), "{name}: a summary first\n{help}");
        assert_eq!(
            section("Usage:").first().map(|u| u.starts_with(&format!("  berth {name}"))),
            Some(true),
            "{name}\n{help}"
        );
        let examples = section("Examples:");
        assert!(!examples.is_empty(), "{name}: no examples\n{help}");
        assert!(examples.iter().all(|e| e.starts_with("  berth ") || e.starts_with("  cat ")), "{name}\n{help}");
        // Every positional in the usage line is described.
        let usage = section("Usage:").concat();
        let described = section("Arguments:");
        for word in usage.split_whitespace().skip(1 + path.len()) {
            let word = word.trim_matches(|c| c == '[' || c == ']' || c == '.');
            if word == "options" || word.is_empty() {
                continue;
            }
            // `  NAME   description`: the name column holds the word.
            let row = described.iter().filter_map(|l| l.trim_start().split_once("   ")).find(|(n, _)| n.contains(word));
            assert!(row.is_some_and(|(_, d)| !d.trim().is_empty()), "{name}: {word} has no description\n{help}");
        }
        // Own options and global ones apart.
        let own = section("Options:").concat();
        let global = section("Global Options:").concat();
        for g in GLOBAL {
            assert!(!own.contains(&format!("{g} ")), "{name}: {g} among the command's own options\n{help}");
            assert!(global.contains(&format!("{g} ")), "{name}: {g} missing from Global Options\n{help}");
        }
        let mut again: Vec<&str> = vec!["help"];
        again.extend(path.iter().map(String::as_str));
        assert_eq!(env.ok(&again), help, "help {name}");
    }
}

/// What podman has no twin for: `-v` prints the version, exit 0; an unknown
/// help topic is podman's line (exit 0); bare `berth` puts its help on
/// stdout and one line on stderr.
#[test]
fn version_help_topics_and_bare_berth() {
    let env = Env::new();
    let o = env.run(&["-v"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), format!("berth version {}\n", env!("CARGO_PKG_VERSION"))));
    assert_eq!(env.ok(&["--version"]), stdout(&o));
    let o = env.run(&["help", "nosuch"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).starts_with("Unknown help topic [`nosuch`]\nUsage:\n  berth [options] [command]\n"),
        "{}",
        stderr(&o)
    );
    // cobra's endings: the root's help at its last option, a command's
    // with an empty line after.
    assert!(stderr(&o).ends_with("Version for berth\n"), "{}", stderr(&o));
    assert!(env.ok(&["--help"]).ends_with("Version for berth\n"));
    assert!(env.ok(&["run", "--help"]).ends_with("containers\n\n"));
    // cobra's: the deepest command named, whatever follows.
    assert_eq!(env.ok(&["help", "run", "extra"]), env.ok(&["run", "--help"]));
    assert_eq!(env.ok(&["help", "image", "nosuch"]), env.ok(&["image", "--help"]));
    let o = env.run(&[]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stdout(&o).starts_with("Manage containers and images\n\nUsage:\n  berth [options] [command]\n"));
    assert_eq!(stderr(&o), "Error: missing command 'berth COMMAND'\n");
    // A help flag after a bad one: the flag error, not the help.
    let o = Command::new(BIN).args(["ps", "--foo", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
}

/// `login`/`logout` without a registry mean the first unqualified-search
/// registry of registries.conf, as in podman; with none there, podman's
/// error. Both read a registries.conf of the test's own.
#[test]
fn login_and_logout_default_to_the_first_search_registry() {
    let env = Env::new();
    let podman = Podman::new();
    let none = env.path("none.conf");
    std::fs::write(&none, "unqualified-search-registries = []\n").unwrap();
    let one = env.path("one.conf");
    std::fs::write(&one, "unqualified-search-registries = [\"127.0.0.1:9\"]\n").unwrap();
    let auth = env.path("auth.json");
    std::fs::write(&auth, "{}").unwrap();
    let auth = auth.to_str().unwrap();
    for (conf, args) in [
        (&none, vec!["login"]),
        (&none, vec!["logout"]),
        (&one, vec!["logout", "--authfile", auth]),
        (&one, vec!["login", "--get-login", "--authfile", auth]),
    ] {
        let b = env.cmd(&args).env("CONTAINERS_REGISTRIES_CONF", conf).stdin(Stdio::null()).output().unwrap();
        let p = podman.cmd(&args).env("CONTAINERS_REGISTRIES_CONF", conf).stdin(Stdio::null()).output().unwrap();
        assert_eq!(b.status.code(), p.status.code(), "{args:?}: {} / {}", stderr(&b), stderr(&p));
        assert_eq!(stderr(&b).lines().next(), stderr(&p).lines().next(), "{args:?}");
    }
}
