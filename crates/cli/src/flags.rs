//! podman's flag conventions (Go's pflag and cobra), applied once to the
//! whole clap command tree by [`apply`], so that every command, now and
//! later, has them without repeating attributes on each argument:
//!
//! - a boolean flag is `--flag` or `--flag=VALUE`, VALUE in Go's
//!   `strconv.ParseBool` spellings, never a separate word (so `-it` and
//!   `--rm IMAGE` parse as with podman);
//! - an integer flag reads its value as Go's `strconv.ParseInt`/`ParseUint`
//!   (base prefixes included) and fails with their words;
//! - a repeated single-value flag takes the last value (list flags collect);
//! - a command given more positional arguments than it takes is told so in
//!   cobra's words (`usage.rs`), which needs them parsed: [`EXTRA`];
//! - a flag's value is the next word, whatever it starts with (`--time -1`
//!   is a bad number, not an unknown flag `-1`);
//! - `--help` is a boolean flag of every command (`-h` too, unless the
//!   command has its own `-h`, as `run -h/--hostname`), rendered by
//!   `help.rs`; `-v/--version` is one of the root; `help [COMMAND]` a command.
//!
//! Clap's own help, version and "missing subcommand" handling are turned
//! off: `main.rs` does what podman does instead.

use std::any::TypeId;

use clap::{Arg, ArgAction, Command};

/// Id of the global `-h/--help` flag.
pub const HELP: &str = "help";
/// Id of the root's `-v/--version` flag.
pub const VERSION: &str = "version";
/// Name of the `help [COMMAND]` command.
pub const HELP_COMMAND: &str = "help";
/// Id of the hidden positional that collects the arguments a command does
/// not take, so they can be counted as cobra counts them.
pub const EXTRA: &str = "extra arguments";

/// The tree of `root` with podman's conventions (see the module's comment).
pub fn apply(root: Command) -> Command {
    let root = root
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .arg(Arg::new(VERSION).short('v').long("version").action(ArgAction::SetTrue).help("Version for berth"))
        .subcommand(
            Command::new(HELP_COMMAND)
                .about("Help about any command")
                .after_help("berth help run\nberth help image list")
                .arg(
                    Arg::new("command")
                        .num_args(0..)
                        .value_name("COMMAND")
                        .help("The command (and subcommand) to describe"),
                ),
        );
    walk(root)
}

fn walk(cmd: Command) -> Command {
    let help = Arg::new(HELP).long("help").action(ArgAction::SetTrue).help(format!("Help for {}", cmd.get_name()));
    let help = if cmd.get_arguments().any(|a| a.get_short() == Some('h')) { help } else { help.short('h') };
    let cmd = cmd
        .arg(help)
        .disable_help_flag(true)
        .args_override_self(true)
        .subcommand_required(false)
        .arg_required_else_help(false)
        .mut_args(podman_flag);
    if cmd.has_subcommands() {
        return cmd.mut_subcommands(walk);
    }
    let positionals: Vec<&Arg> = cmd.get_positionals().collect();
    if positionals.iter().any(|a| takes_many(a)) {
        // Takes any number: nothing can be extra.
        return cmd;
    }
    cmd.arg(Arg::new(EXTRA).num_args(1..).action(ArgAction::Append).hide(true).allow_hyphen_values(false))
}

/// Whether a positional takes any number of values.
pub fn takes_many(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::Append)
        || a.get_num_args().is_some_and(|n| n.max_values() > 1)
        || a.is_trailing_var_arg_set()
}

/// One flag made podman's: booleans and integers parse as Go's do.
fn podman_flag(arg: Arg) -> Arg {
    if arg.is_positional() {
        return arg;
    }
    let ty = arg.get_value_parser().type_id();
    if matches!(arg.get_action(), ArgAction::SetTrue) || ty == TypeId::of::<bool>() {
        // SetTrue's implicit default ("false") comes at build time; one set
        // here (`default_value_t = true`) stays.
        let default = arg.get_default_values().first().cloned().unwrap_or_else(|| "false".into());
        return arg
            .action(ArgAction::Set)
            .num_args(0..=1)
            .require_equals(true)
            .default_value(default)
            .default_missing_value("true")
            .value_parser(go_bool);
    }
    // pflag takes the next word as the value, dash or not.
    let arg = if arg.get_action().takes_values() { arg.allow_hyphen_values(true) } else { arg };
    macro_rules! go_ints {
        ($($t:ty => $f:expr),* $(,)?) => {
            $(if ty == TypeId::of::<$t>() {
                return arg.value_parser(|s: &str| -> Result<$t, String> { $f(s) });
            })*
        };
    }
    go_ints! {
        i64 => go_int::<i64>, i32 => go_int::<i32>, isize => go_int::<isize>,
        u64 => go_uint::<u64>, u32 => go_uint::<u32>, u16 => go_uint::<u16>, usize => go_uint::<usize>,
        f64 => go_float,
    }
    arg
}

/// Go's `strconv.ParseBool`, which podman's boolean flags use.
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {}: invalid syntax", go_quote(s))),
    }
}

/// Go's `strconv.ParseInt(s, 0, bits)`, as pflag reads `int` flags.
fn go_int<T: TryFrom<i128>>(s: &str) -> Result<T, String> {
    let fail = |why: &str| format!("strconv.ParseInt: parsing {}: {why}", go_quote(s));
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_digits(digits).ok_or_else(|| fail("invalid syntax"))?;
    let value = magnitude.and_then(|m| i128::try_from(m).ok()).map(|m| if negative { -m } else { m });
    value.and_then(|v| T::try_from(v).ok()).ok_or_else(|| fail("value out of range"))
}

/// Go's `strconv.ParseFloat(s, 64)`, as pflag reads `float64` flags (Rust's
/// syntax is close enough: decimal, exponent, inf and nan).
fn go_float(s: &str) -> Result<f64, String> {
    s.parse::<f64>().map_err(|_| format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(s)))
}

/// Go's `strconv.ParseUint(s, 0, bits)`, as pflag reads `uint` flags.
fn go_uint<T: TryFrom<u128>>(s: &str) -> Result<T, String> {
    let fail = |why: &str| format!("strconv.ParseUint: parsing {}: {why}", go_quote(s));
    let magnitude = go_digits(s).ok_or_else(|| fail("invalid syntax"))?;
    magnitude.and_then(|m| T::try_from(m).ok()).ok_or_else(|| fail("value out of range"))
}

/// Unsigned digits in Go's base-0 syntax (`0x`, `0o`, `0b`, a leading `0`
/// for octal, `_` between digits): `None` when not a number, `Some(None)`
/// when too large for any integer.
fn go_digits(s: &str) -> Option<Option<u128>> {
    let lower = s.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    // Underscores only separate digits (and only in base-0 syntax, which is this).
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let mut value: Option<u128> = Some(0);
    for c in body.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix)?;
        value = value.and_then(|v| v.checked_mul(u128::from(radix))).and_then(|v| v.checked_add(u128::from(d)));
    }
    Some(value)
}

/// Go's `strconv.Quote` for the text of an error (Rust's escapes agree with
/// Go's for everything a command line carries).
pub fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_spellings() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_bool(f), Ok(false));
        }
        assert_eq!(go_bool("yes"), Err("strconv.ParseBool: parsing \"yes\": invalid syntax".into()));
        assert!(go_bool("tRUE").is_err());
    }

    #[test]
    fn go_integers() {
        assert_eq!(go_int::<i64>("-1"), Ok(-1));
        assert_eq!(go_int::<i64>("0x10"), Ok(16));
        assert_eq!(go_int::<i64>("010"), Ok(8));
        assert_eq!(go_int::<i64>("0b11"), Ok(3));
        assert_eq!(go_int::<i64>("1_000"), Ok(1000));
        assert_eq!(go_int::<i64>("0"), Ok(0));
        assert_eq!(go_int::<i64>("x"), Err("strconv.ParseInt: parsing \"x\": invalid syntax".into()));
        assert_eq!(go_int::<i64>(""), Err("strconv.ParseInt: parsing \"\": invalid syntax".into()));
        assert_eq!(go_int::<i64>("08"), Err("strconv.ParseInt: parsing \"08\": invalid syntax".into()));
        assert_eq!(
            go_int::<i64>("9223372036854775808"),
            Err("strconv.ParseInt: parsing \"9223372036854775808\": value out of range".into())
        );
        assert_eq!(go_int::<i64>("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(go_uint::<u64>("10"), Ok(10));
        assert_eq!(go_uint::<u64>("-1"), Err("strconv.ParseUint: parsing \"-1\": invalid syntax".into()));
        assert_eq!(
            go_uint::<u32>("4294967296"),
            Err("strconv.ParseUint: parsing \"4294967296\": value out of range".into())
        );
    }
}
