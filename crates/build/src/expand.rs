//! Variable substitution in Containerfile arguments, with docker's
//! (BuildKit's `shell.Lex`) rules, and the `KEY=VALUE` words of ENV, LABEL
//! and ARG.
//!
//! The builder substitutes variables in the arguments of ADD, COPY, ENV,
//! EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG (and those
//! instructions under ONBUILD), never in RUN, CMD or ENTRYPOINT: the shell in
//! the container does that, with its own rules.
//!
//! What is understood, as BuildKit does:
//!
//! - `$NAME` and `${NAME}`; an unset variable is empty. A name is a letter or
//!   `_` then letters, digits and `_`; `$` followed by digits reads all the
//!   digits (`$12`), and `$` followed by one of `@ * # ? - $ !` reads that
//!   one character: like BuildKit, these are looked up as variables (so they
//!   are empty unless someone set a variable by that name), they do not stay
//!   literal. A `$` followed by anything else (`$.`, `$/`, a space, the end)
//!   stays a `$`.
//! - `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`,
//!   `${NAME:?message}`, `${NAME?message}`: with `:` an empty value counts as
//!   unset. The word is itself substituted (`${A:-${B:-c}}`), and quotes in
//!   it are read as anywhere else, even when the `${...}` is inside double
//!   quotes (`"${A:-'x'}"` gives `x`, as in BuildKit).
//! - `${NAME#pattern}`, `${NAME##pattern}` (shortest, longest prefix
//!   removed), `${NAME%pattern}`, `${NAME%%pattern}` (suffix), and
//!   `${NAME/pattern/replacement}`, `${NAME//pattern/replacement}` (first,
//!   every leftmost-longest match replaced). Patterns are shell globs: `*`,
//!   `?`, and `[...]` classes (`[a-z]`, `[!x]`, `[^x]`).
//! - Single quotes keep everything literal; double quotes substitute, and in
//!   them the escape character escapes only `$`, `"` and itself (elsewhere
//!   it stays, as in `"C:\dir"`, and before a newline too: line
//!   continuations are the parser's business); outside quotes it escapes any
//!   character. Quotes and escapes are removed from the result. An escape
//!   character at the very end of the text is dropped.
//! - The escape character is `\`, or `` ` `` with the `# escape=`` ` ``
//!   parser directive (then `\` is an ordinary character: `C:\path`).
//!
//! Where we knowingly differ from BuildKit (each a case where BuildKit's
//! behaviour is an accident of its implementation, and ours is the shell's):
//!
//! - In a pattern, quoted or escaped `*`, `?`, `[` are literal characters
//!   (BuildKit removes the quotes first, then treats them as wildcards).
//!   Inside a variable's value used in a pattern, the escape character
//!   quotes the next character (BuildKit's `NEEDLE='\*'` case behaves the
//!   same).
//! - `[...]` classes are supported (BuildKit matches `[` literally).
//! - For [`Lexer::words`], quoted text in a `${NAME:-"a b"}` word stays one
//!   word (BuildKit splits everything a `${...}` produces); a value's own
//!   spaces split, as in BuildKit.
//! - `${}`-forms without a name (`${/a/b}`) are a bad substitution, and `${A`
//!   at the end of the text is "missing '}'" (BuildKit calls it an
//!   unsupported modifier). `${A:#x}` and `${A:%x}` are read as `${A#x}`,
//!   `${A%x}`, as BuildKit does.
//! - A pair whose key is blank, as written or once substituted, is refused
//!   for ARG too (`ARG names can not be blank`).
//!
//! Kept as BuildKit does, although the shell differs: the replacement of
//! `${NAME/pattern/replacement}` keeps its escape characters
//! (`${P//\//\/}` turns `/a/b` into `\/a\/b`, BuildKit tests exactly that),
//! and `/#`, `/%` anchors are not understood (they are literal `#`, `%`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

/// Where variable values come from (the stage's ENV and ARGs, in the
/// builder): `None` for unset. An empty string is set-but-empty, which the
/// `:` forms (`${A:-x}`) tell apart from unset.
pub trait Lookup {
    /// The value of `name`, or `None` if it is not set.
    fn get(&self, name: &str) -> Option<String>;
}

impl<S: BuildHasher> Lookup for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Lookup for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// A list of pairs, as an image's `Env` is: the last pair of a name wins,
/// as in BuildKit's `BuildEnvs`.
impl<K: AsRef<str>, V: AsRef<str>> Lookup for [(K, V)] {
    fn get(&self, name: &str) -> Option<String> {
        last_value(self, name)
    }
}

fn last_value<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)], name: &str) -> Option<String> {
    pairs.iter().rev().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref().to_string())
}

impl<K: AsRef<str>, V: AsRef<str>> Lookup for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<String> {
        last_value(self, name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Lookup for [(K, V); N] {
    fn get(&self, name: &str) -> Option<String> {
        last_value(self, name)
    }
}

/// A slice cannot be a `&dyn Lookup` itself (it is unsized): `&slice` can.
impl<K: AsRef<str>, V: AsRef<str>> Lookup for &[(K, V)] {
    fn get(&self, name: &str) -> Option<String> {
        last_value(self, name)
    }
}

/// A closure, for a builder that layers several sources (build args over
/// ARG defaults, ENV over both) without merging them into one map.
impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Nothing is set: what [`Lexer::names_used`] substitutes with.
struct Unset;

impl Lookup for Unset {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// Which instruction a `KEY=VALUE` line belongs to: their forms differ
/// (ENV and LABEL have the legacy `KEY value` form, ARG has `NAME` alone)
/// and the errors name the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// `ENV A=1 B=2`, or the legacy `ENV A the rest of the line`.
    Env,
    /// `LABEL a=1 "b.c"=2`, or the legacy `LABEL a the rest of the line`.
    Label,
    /// `ARG NAME`, `ARG NAME=default`, several per line.
    Arg,
}

impl fmt::Display for PairKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairKind::Env => "ENV",
            PairKind::Label => "LABEL",
            PairKind::Arg => "ARG",
        })
    }
}

/// What went wrong, in docker's words where docker has them; one line, no
/// trailing newline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A word could not be substituted; BuildKit's message shape, naming
    /// the text (`failed to process "${A": syntax error: missing '}'`).
    #[error("failed to process {text:?}: {reason}")]
    Process {
        /// The text as written.
        text: String,
        /// Why.
        reason: Reason,
    },
    /// `ENV =x`, `LABEL ""=x`, `ARG =x`.
    #[error("{0} names can not be blank")]
    BlankName(PairKind),
    /// `ENV A=1 B`: once one word has `=`, every word must.
    #[error("Syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    MissingEquals {
        /// The word without `=`, as written.
        word: String,
    },
    /// The legacy form with a key and no value: `ENV A`.
    #[error("{0} must have two arguments")]
    TwoArguments(PairKind),
    /// Nothing after the instruction.
    #[error("{0} requires at least one argument")]
    NoArguments(PairKind),
}

/// Why a word could not be substituted (inside [`Error::Process`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// `${A`, `${A:-x`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:a}`, `${{a}}`, `${/a/b}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${A/x}`: the pattern has no end.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${A=x}`, `${A:x}`, `${A!}`...
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `'abc`.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// `"abc`.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// `${A?message}` with A unset, `${A:?message}` with A unset or empty:
    /// the message, or the shell's default one.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// Its word, or "is not allowed to be unset" / "... empty".
        message: String,
    },
}

/// Substitutes variables with docker's rules; holds the escape character:
/// `\` by default, `` ` `` with `# escape=`` ` ``.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer with this escape character (docker allows `\` and `` ` ``;
    /// the parser directive is checked where it is read, not here).
    pub fn new(escape: char) -> Lexer {
        Lexer { escape }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// One word: `text` with variables substituted, quotes removed and
    /// escapes resolved, spaces kept as they are. What docker does for
    /// WORKDIR, USER, FROM, STOPSIGNAL, and each key and value of ENV,
    /// LABEL, ARG.
    pub fn word(&self, text: &str, vars: &dyn Lookup) -> Result<String, Error> {
        let pieces =
            Scanner::new(self.escape, text, vars, false).top().map_err(|reason| process_error(text, reason))?;
        Ok(pieces.iter().map(|p| p.ch).collect())
    }

    /// A here-document's body (COPY's, its delimiter unquoted): variables
    /// substituted, quotes and escapes kept as written (BuildKit's
    /// `RawQuotes` and `RawEscapes`); single quotes still keep a `$` as is.
    pub fn heredoc(&self, text: &str, vars: &dyn Lookup) -> Result<String, Error> {
        let mut scanner = Scanner::new(self.escape, text, vars, false);
        scanner.raw_quotes = true;
        let pieces = scanner.until(None, true).map_err(|reason| process_error(text, reason))?;
        Ok(pieces.iter().map(|p| p.ch).collect())
    }

    /// Several words: `text` substituted, then split on whitespace that was
    /// neither quoted nor escaped, for COPY/ADD sources, EXPOSE, VOLUME in
    /// shell form. As in BuildKit's `ProcessWords`, an unquoted `$VAR` whose
    /// value has spaces splits into several words (`"$VAR"` stays one), and
    /// empty words vanish (`""` alone gives no word).
    pub fn words(&self, text: &str, vars: &dyn Lookup) -> Result<Vec<String>, Error> {
        let pieces =
            Scanner::new(self.escape, text, vars, false).top().map_err(|reason| process_error(text, reason))?;
        let mut words = Vec::new();
        let mut current = String::new();
        for piece in pieces {
            if piece.kind != Kind::Quoted && piece.ch.is_whitespace() {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            } else {
                current.push(piece.ch);
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
        Ok(words)
    }

    /// The variables `text` refers to, in the order they appear, once each:
    /// the build cache keys a step on the build args it uses. Names inside
    /// modifiers count (`${A:-$B}` uses A and B); names in single quotes or
    /// after an escaped `$` do not. Text with a syntax error gives the names
    /// before the error (the substitution itself reports the error).
    pub fn names_used(&self, text: &str) -> Vec<String> {
        let mut scanner = Scanner::new(self.escape, text, &Unset, true);
        // An error only ends the scan early; the names seen so far are
        // still the ones the text uses.
        let _ = scanner.top();
        scanner.seen
    }

    /// The `KEY=VALUE` pairs of an ENV, LABEL or ARG line as written:
    /// split into words (quotes and escapes kept, so a quoted or escaped
    /// space does not split), each word cut at its first `=`. Nothing is
    /// substituted: ARG needs this, since a `--build-arg` replaces a
    /// default before it is ever substituted, and ARGs before the first
    /// FROM see the ones before them on the same line. For ENV and LABEL,
    /// a first word without `=` is the legacy form: the key, then the rest
    /// of the line as one value. ARG's `NAME` alone gives `None`; ENV and
    /// LABEL always give `Some`.
    pub fn split_pairs(&self, text: &str, kind: PairKind) -> Result<Vec<(String, Option<String>)>, Error> {
        let text = text.trim();
        let words = raw_words(text, self.escape);
        let Some(first) = words.first() else {
            return Err(Error::NoArguments(kind));
        };
        if kind != PairKind::Arg && !first.contains('=') {
            // Legacy `ENV KEY value with spaces`: docker cuts the line at
            // the first run of blanks, not at a word's end.
            let blank = |c: char| matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r' | '\n');
            let Some(at) = text.find(blank) else {
                return Err(Error::TwoArguments(kind));
            };
            let key = &text[..at];
            let value = text[at..].trim_start_matches(blank);
            return Ok(vec![(key.to_string(), Some(value.to_string()))]);
        }
        let mut pairs = Vec::with_capacity(words.len());
        for word in words {
            match word.split_once('=') {
                Some(("", _)) => return Err(Error::BlankName(kind)),
                Some((key, value)) => pairs.push((key.to_string(), Some(value.to_string()))),
                None if kind == PairKind::Arg => pairs.push((word, None)),
                None => return Err(Error::MissingEquals { word }),
            }
        }
        Ok(pairs)
    }

    /// The pairs of [`Lexer::split_pairs`], keys and values substituted with
    /// [`Lexer::word`] (quotes removed, so LABEL keys may be quoted).
    ///
    /// Every pair is substituted with `vars` as it was before the line:
    /// docker's rule for ENV (`ENV A=1 B=$A` gives B the A from before
    /// the line, not 1) and for LABEL and ARG inside a stage. A key that
    /// substitutes to nothing (`ENV $UNSET=x`) is refused as blank (docker
    /// only checks the key as written, and would set a nameless variable).
    pub fn pairs(&self, text: &str, vars: &dyn Lookup, kind: PairKind) -> Result<Vec<(String, Option<String>)>, Error> {
        let mut pairs = Vec::new();
        for (key, value) in self.split_pairs(text, kind)? {
            let key = self.word(&key, vars)?;
            if key.is_empty() {
                return Err(Error::BlankName(kind));
            }
            let value = match value {
                Some(value) => Some(self.word(&value, vars)?),
                None => None,
            };
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

fn process_error(text: &str, reason: Reason) -> Error {
    Error::Process { text: text.to_string(), reason }
}

/// Splits a line into words as docker's parser does before ENV, LABEL and
/// ARG see it: on whitespace outside quotes, keeping quotes and escapes in
/// the words (they are resolved when each key and value is substituted).
/// An escape character at the end of the line is dropped.
fn raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        // The escape character keeps the next one (a quote, a space) in
        // the word, except in single quotes where nothing escapes.
        if c == escape && quote != Some('\'') {
            match chars.next() {
                Some(next) => {
                    word.push(c);
                    word.push(next);
                }
                None => quote = None,
            }
            continue;
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// How a character of a substituted word came to be: it decides whether
/// whitespace splits words and whether `*`, `?`, `[` are wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Written unquoted: splits, is a wildcard in a pattern.
    Plain,
    /// From an unquoted variable's value: splits, is a wildcard, and the
    /// escape character in it quotes the next one in a pattern.
    Value,
    /// Quoted or escaped: literal everywhere.
    Quoted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    ch: char,
    kind: Kind,
}

fn pieces(text: &str, kind: Kind) -> impl Iterator<Item = Piece> + '_ {
    text.chars().map(move |ch| Piece { ch, kind })
}

fn text_of(pieces: &[Piece]) -> String {
    pieces.iter().map(|p| p.ch).collect()
}

/// One pass over a text: substitutes as it reads, recording the names it
/// looks up (for [`Lexer::names_used`]).
struct Scanner<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a dyn Lookup,
    /// Keep escape characters in the output (with the character they
    /// escape): BuildKit's rule for the replacement of `${A/p/r}`.
    raw_escapes: bool,
    /// Keep quotes in the output (a here-document's body).
    raw_quotes: bool,
    /// Reading for names only: `${A?}` does not fail.
    names_only: bool,
    seen: Vec<String>,
}

impl<'a> Scanner<'a> {
    fn new(escape: char, text: &str, vars: &'a dyn Lookup, names_only: bool) -> Scanner<'a> {
        Scanner {
            chars: text.chars().collect(),
            pos: 0,
            escape,
            vars,
            raw_escapes: false,
            raw_quotes: false,
            names_only,
            seen: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn get(&mut self, name: &str) -> Option<String> {
        if !self.seen.iter().any(|n| n == name) {
            self.seen.push(name.to_string());
        }
        self.vars.get(name)
    }

    /// The whole text.
    fn top(&mut self) -> Result<Vec<Piece>, Reason> {
        self.until(None, false)
    }

    /// Reads up to `stop` (consumed; unquoted, unescaped), or to the end
    /// of the text when `stop` is `None`. A missing `stop` is an error:
    /// `}` ends a `${...}`, `/` a `${A/pattern/...}`.
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<Vec<Piece>, Reason> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<Vec<Piece>, Reason> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '$' => out.extend(self.dollar()?),
                '\'' => out.extend(self.single_quoted()?),
                '"' => out.extend(self.double_quoted()?),
                c if c == self.escape => {
                    self.pos += 1;
                    if self.raw_escapes {
                        out.push(Piece { ch: c, kind: Kind::Quoted });
                    }
                    // At the end of the text the escape character is
                    // dropped (docker's line continuation leftovers).
                    let Some(next) = self.next() else { break };
                    out.push(Piece { ch: next, kind: Kind::Quoted });
                }
                c => {
                    self.pos += 1;
                    out.push(Piece { ch: c, kind: Kind::Plain });
                }
            }
        }
        match stop {
            None => Ok(out),
            Some('/') => Err(Reason::MissingSlash),
            Some(_) => Err(Reason::MissingBrace),
        }
    }

    /// `'...'`: everything literal, no way to escape a `'`.
    fn single_quoted(&mut self) -> Result<Vec<Piece>, Reason> {
        self.pos += 1;
        let mut out = Vec::new();
        if self.raw_quotes {
            out.push(Piece { ch: '\'', kind: Kind::Quoted });
        }
        loop {
            match self.next() {
                None => return Err(Reason::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.raw_quotes {
                        out.push(Piece { ch: '\'', kind: Kind::Quoted });
                    }
                    return Ok(out);
                }
                Some(ch) => out.push(Piece { ch, kind: Kind::Quoted }),
            }
        }
    }

    /// `"..."`: substitutes; the escape character escapes only `$`, `"`
    /// and itself, and stays before anything else.
    fn double_quoted(&mut self) -> Result<Vec<Piece>, Reason> {
        self.pos += 1;
        let mut out = Vec::new();
        let quoted = |ch| Piece { ch, kind: Kind::Quoted };
        if self.raw_quotes {
            out.push(quoted('"'));
        }
        loop {
            match self.peek() {
                None => return Err(Reason::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push(quoted('"'));
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.extend(value.iter().map(|p| quoted(p.ch)));
                }
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        if self.raw_escapes {
                            out.push(quoted(c));
                        }
                        match self.peek() {
                            // Dropped; the loop then reports the quote as
                            // unterminated.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                out.push(quoted(next));
                                continue;
                            }
                            Some(_) => {}
                        }
                        if self.raw_escapes {
                            continue;
                        }
                    }
                    out.push(quoted(c));
                }
            }
        }
    }

    /// A name after `$` or `${`: digits alone (`$1`), one special
    /// character (`$@`, `$?`...), or a letter or `_` then letters, digits
    /// and `_`. Empty when none of these follows.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                name.push(c);
            }
            _ => {
                while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                    self.pos += 1;
                    name.push(c);
                }
            }
        }
        name
    }

    /// At a `$`: what it stands for.
    fn dollar(&mut self) -> Result<Vec<Piece>, Reason> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok(vec![Piece { ch: '$', kind: Kind::Plain }]);
            }
            let value = self.get(&name).unwrap_or_default();
            return Ok(pieces(&value, Kind::Value).collect());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(Reason::MissingBrace),
            Some('{' | '}' | ':') => return Err(Reason::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        if name.is_empty() {
            return Err(Reason::BadSubstitution);
        }
        match self.next() {
            None => Err(Reason::MissingBrace),
            Some('}') => {
                let value = self.get(&name).unwrap_or_default();
                Ok(pieces(&value, Kind::Value).collect())
            }
            Some(':') => match self.next() {
                None => Err(Reason::MissingBrace),
                Some(op @ ('-' | '+' | '?' | '#' | '%')) => self.modifier(&name, op, true),
                Some(other) => Err(Reason::UnsupportedModifier(format!(":{other}"))),
            },
            Some(op @ ('-' | '+' | '?' | '#' | '%')) => self.modifier(&name, op, false),
            Some('/') => self.replace(&name),
            Some(other) => Err(Reason::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${NAME<op>word}`, after the op; `colon`: an empty value counts as
    /// unset.
    fn modifier(&mut self, name: &str, op: char, colon: bool) -> Result<Vec<Piece>, Reason> {
        let longest = (op == '#' || op == '%') && self.peek() == Some(op);
        if longest {
            self.pos += 1;
        }
        // Looked up before the word is read, so names come out in the
        // order they are written.
        let value = self.get(name);
        let word = self.until(Some('}'), false)?;
        let unset = match &value {
            None => true,
            Some(v) => colon && v.is_empty(),
        };
        let value_pieces = |v: &str| pieces(v, Kind::Value).collect::<Vec<_>>();
        match op {
            '-' if unset => Ok(word),
            '+' if unset => Ok(Vec::new()),
            '+' => Ok(word),
            '?' if unset && !self.names_only => {
                let message = if !word.is_empty() {
                    text_of(&word)
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(Reason::Required { name: name.to_string(), message })
            }
            '#' | '%' => {
                let value: Vec<char> = value.unwrap_or_default().chars().collect();
                let pattern = Pattern::new(&word, self.escape);
                let kept = if op == '#' {
                    pattern.strip_prefix(&value, longest)
                } else {
                    pattern.strip_suffix(&value, longest)
                };
                Ok(kept.iter().map(|&ch| Piece { ch, kind: Kind::Value }).collect())
            }
            _ => Ok(value_pieces(&value.unwrap_or_default())),
        }
    }

    /// `${NAME/pattern/replacement}` or `${NAME//...}`, after the first `/`.
    fn replace(&mut self, name: &str) -> Result<Vec<Piece>, Reason> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let value: Vec<char> = self.get(name).unwrap_or_default().chars().collect();
        let pattern = self.until(Some('/'), false)?;
        let replacement = text_of(&self.until(Some('}'), true)?);
        let pattern = Pattern::new(&pattern, self.escape);
        let replaced = pattern.replace(&value, &replacement, all);
        Ok(pieces(&replaced, Kind::Value).collect())
    }
}

/// One element of a shell glob; each but `Star` matches one character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Char(char),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Glob {
    fn matches(&self, c: char) -> bool {
        match self {
            Glob::Char(x) => *x == c,
            Glob::Any => true,
            Glob::Star => false,
            Glob::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

/// A shell pattern of `${A#p}`, `${A%p}`, `${A/p/r}`, matched against a
/// value's characters by walking all match positions at once (no
/// backtracking, so no pathological patterns).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    globs: Vec<Glob>,
}

impl Pattern {
    fn new(word: &[Piece], escape: char) -> Pattern {
        let mut globs = Vec::new();
        let mut i = 0;
        while let Some(piece) = word.get(i) {
            i += 1;
            match piece.kind {
                Kind::Quoted => globs.push(Glob::Char(piece.ch)),
                Kind::Value if piece.ch == escape && i < word.len() => {
                    globs.push(Glob::Char(word[i].ch));
                    i += 1;
                }
                _ => match piece.ch {
                    '*' => globs.push(Glob::Star),
                    '?' => globs.push(Glob::Any),
                    '[' => match class(&word[i..]) {
                        Some((glob, used)) => {
                            globs.push(glob);
                            i += used;
                        }
                        None => globs.push(Glob::Char('[')),
                    },
                    c => globs.push(Glob::Char(c)),
                },
            }
        }
        Pattern { globs }
    }

    fn reversed(&self) -> Pattern {
        Pattern { globs: self.globs.iter().rev().cloned().collect() }
    }

    /// The shortest and longest prefixes of `s` the pattern matches whole,
    /// as lengths.
    fn prefix_matches(&self, s: &[char]) -> Option<(usize, usize)> {
        let n = self.globs.len();
        let mut states = vec![false; n + 1];
        states[0] = true;
        self.close(&mut states);
        let mut found: Option<(usize, usize)> = None;
        let mut record = |len: usize, states: &[bool]| {
            if states[n] {
                found = Some(match found {
                    None => (len, len),
                    Some((shortest, _)) => (shortest, len),
                });
            }
        };
        record(0, &states);
        for (k, &c) in s.iter().enumerate() {
            let mut next = vec![false; n + 1];
            for (t, glob) in self.globs.iter().enumerate() {
                if !states[t] {
                    continue;
                }
                if *glob == Glob::Star {
                    next[t] = true;
                } else if glob.matches(c) {
                    next[t + 1] = true;
                }
            }
            self.close(&mut next);
            if !next.iter().any(|&s| s) {
                break;
            }
            states = next;
            record(k + 1, &states);
        }
        found
    }

    /// A `*` may match nothing: being before it is being after it too.
    fn close(&self, states: &mut [bool]) {
        for (t, glob) in self.globs.iter().enumerate() {
            if states[t] && *glob == Glob::Star {
                states[t + 1] = true;
            }
        }
    }

    fn strip_prefix<'v>(&self, value: &'v [char], longest: bool) -> &'v [char] {
        match self.prefix_matches(value) {
            Some((shortest, long)) => &value[if longest { long } else { shortest }..],
            None => value,
        }
    }

    /// A suffix is a prefix of the reversed value, for the reversed pattern.
    fn strip_suffix<'v>(&self, value: &'v [char], longest: bool) -> &'v [char] {
        let reversed: Vec<char> = value.iter().rev().copied().collect();
        match self.reversed().prefix_matches(&reversed) {
            Some((shortest, long)) => &value[..value.len() - if longest { long } else { shortest }],
            None => value,
        }
    }

    /// Replaces the leftmost-longest match, or every one; an empty match
    /// right where the previous match ended is skipped (as Go's regexp
    /// `ReplaceAll`, which BuildKit uses, does).
    fn replace(&self, value: &[char], replacement: &str, all: bool) -> String {
        let mut out = String::new();
        let mut previous_end = None;
        let mut i = 0;
        while i <= value.len() {
            if let Some((_, len)) = self.prefix_matches(&value[i..]) {
                if !(len == 0 && previous_end == Some(i)) {
                    out.push_str(replacement);
                    previous_end = Some(i + len);
                    if !all {
                        out.extend(&value[i + len..]);
                        return out;
                    }
                    if len > 0 {
                        i += len;
                        continue;
                    }
                }
            }
            if let Some(&c) = value.get(i) {
                out.push(c);
            }
            i += 1;
        }
        out
    }
}

/// A `[...]` class, read after its `[`: the glob and how many pieces it
/// took, or `None` without a closing `]` (then `[` is a plain character).
fn class(rest: &[Piece]) -> Option<(Glob, usize)> {
    let special = |i: usize, c: char| rest.get(i).is_some_and(|p| p.ch == c && p.kind != Kind::Quoted);
    let mut i = 0;
    let negated = special(0, '!') || special(0, '^');
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    loop {
        let piece = rest.get(i)?;
        // A `]` first in the class is a member, not its end.
        if special(i, ']') && i > first {
            return Some((Glob::Class { negated, ranges }, i + 1));
        }
        match rest.get(i + 2) {
            Some(hi) if special(i + 1, '-') && !special(i + 2, ']') => {
                ranges.push((piece.ch, hi.ch));
                i += 3;
            }
            _ => {
                ranges.push((piece.ch, piece.ch));
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn env() -> HashMap<String, String> {
        vars(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", ""), ("SPACED", "a b  c")])
    }

    fn word(text: &str) -> String {
        Lexer::default().word(text, &env()).unwrap()
    }

    fn word_err(text: &str) -> String {
        Lexer::default().word(text, &env()).unwrap_err().to_string()
    }

    fn words(text: &str) -> Vec<String> {
        Lexer::default().words(text, &env()).unwrap()
    }

    fn pairs(text: &str, kind: PairKind) -> Vec<(String, Option<String>)> {
        Lexer::default().pairs(text, &env(), kind).unwrap()
    }

    fn pair(k: &str, v: &str) -> (String, Option<String>) {
        (k.to_string(), Some(v.to_string()))
    }

    #[test]
    fn plain_and_braced_names() {
        assert_eq!(word("he$PWD"), "he/home");
        assert_eq!(word("he${PWD}x"), "he/homex");
        assert_eq!(word("$PWD.$SHELL"), "/home.bash");
        assert_eq!(word("he$pwd."), "he.");
        assert_eq!(word("${UNSET}x$UNSET"), "x");
        assert_eq!(word("$NULL|"), "|");
    }

    #[test]
    fn dollar_without_a_name_stays() {
        assert_eq!(word("he$.x"), "he$.x");
        assert_eq!(word("a$"), "a$");
        assert_eq!(word("$ x $/"), "$ x $/");
        assert_eq!(word("\"a$\""), "a$");
    }

    #[test]
    fn positional_and_special_are_looked_up_as_buildkit_does() {
        // BuildKit reads `$1`, `$12`, `$@`, `$$` as names: unset, empty.
        assert_eq!(word("he$1x"), "hex");
        assert_eq!(word("a$12b"), "ab");
        assert_eq!(word("a$@b$$c$?d"), "abcd");
        let set = vars(&[("1", "one")]);
        assert_eq!(Lexer::default().word("$1", &set).unwrap(), "one");
    }

    #[test]
    fn default_and_alternative() {
        assert_eq!(word("he${XXX:-000}xx"), "he000xx");
        assert_eq!(word("he${PWD:-000}xx"), "he/homexx");
        assert_eq!(word("${NULL:-d}|${NULL-d}|${XXX-d}"), "d||d");
        assert_eq!(word("he${PWD:+${PWD}:}xx"), "he/home:xx");
        assert_eq!(word("${NULL:+a}|${NULL+a}|${XXX+a}"), "|a|");
        assert_eq!(word("${XXX:-}"), "");
    }

    #[test]
    fn nested_words() {
        assert_eq!(word("he${XXX:-$PWD}xx"), "he/homexx");
        assert_eq!(word("he${XXX:-${PWD:-yyy}}xx"), "he/homexx");
        assert_eq!(word("he${XXX:-${YYY:-yyy}}xx"), "heyyyxx");
        assert_eq!(word("${XXX:-\"a }\"}"), "a }");
        assert_eq!(word("${XXX:-a\\}b}"), "a}b");
    }

    #[test]
    fn required() {
        assert_eq!(word("he${PWD?}"), "he/home");
        assert_eq!(word("he${PWD:?}"), "he/home");
        assert_eq!(word("he${NULL?}"), "he");
        assert_eq!(word_err("${NULL:?}"), "failed to process \"${NULL:?}\": NULL: is not allowed to be empty");
        assert_eq!(word_err("${XXX?}"), "failed to process \"${XXX?}\": XXX: is not allowed to be unset");
        assert_eq!(
            word_err("${XXX:?need it for $SHELL}"),
            "failed to process \"${XXX:?need it for $SHELL}\": XXX: need it for bash"
        );
    }

    #[test]
    fn prefix_and_suffix_removal() {
        let v = vars(&[("F", "xxyy"), ("P", "/usr/lib/x.tar.gz"), ("E", "")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${F#x}|${F##*x}|${F#*}|${F#}|${F##}"), "xyy|yy|xxyy|xxyy|xxyy");
        assert_eq!(w("${F%y}|${F%%y*}|${F%}|${F%z}"), "xxy|xx|xxyy|xxyy");
        assert_eq!(w("${P##*/}|${P#*/}|${P%.*}|${P%%.*}"), "x.tar.gz|usr/lib/x.tar.gz|/usr/lib/x.tar|/usr/lib/x");
        assert_eq!(w("${P%/*}|${F#$E}|${F#?x}"), "/usr/lib|xxyy|yy");
        assert_eq!(w("${UNSET#x}"), "");
    }

    #[test]
    fn pattern_classes() {
        let v = vars(&[("V", "v1.2.3-rc1"), ("B", "]a-b")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${V#[vV]}"), "1.2.3-rc1");
        assert_eq!(w("${V%%-[a-z]*}"), "v1.2.3");
        assert_eq!(w("${V//[!0-9]/}"), "1231");
        assert_eq!(w("${V//[^.]/_}"), "__._._____");
        assert_eq!(w("${B#[]]}|${B//[-]/+}"), "a-b|]a+b");
        // No closing bracket: a plain `[`.
        assert_eq!(w("${V#[v}"), "v1.2.3-rc1");
    }

    #[test]
    fn quoted_and_escaped_wildcards_are_literal() {
        let v = vars(&[("F", "a***yy*"), ("Q", "???y"), ("N", "\\*/"), ("S", "/foo*/*/*.txt")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${F%%\\**\\*}"), "a");
        assert_eq!(w("${Q#?\\?}"), "?y");
        assert_eq!(w("${Q#\"??\"}|${Q#'?'}"), "?y|??y");
        // An escape inside a value used as a pattern quotes too (BuildKit).
        assert_eq!(w("${S/$N/.} - ${S//$N/.}"), "/foo.*/*.txt - /foo..*.txt");
        // Regex characters mean nothing special.
        let re = vars(&[("R", "()[]{}^$.*?|\\x")]);
        let text = "${R#()[]{\\}^$.\\*\\?|\\\\}";
        assert_eq!(Lexer::default().word(text, &re).unwrap(), "x");
    }

    #[test]
    fn replacement() {
        let v = vars(&[("F", "/tmp/tmp/bar.txt"), ("N", "/tmp"), ("U", "http://google.de"), ("X", "xxyy"), ("E", "")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${F/$N/} - ${F//$N/}"), "/tmp/bar.txt - /bar.txt");
        assert_eq!(w("${U/http:\\/\\//https://}"), "https://google.de");
        assert_eq!(w("${F/\\/?/+}|${F//t*p/T}"), "+mp/tmp/bar.txt|/T/bar.txt");
        assert_eq!(w("${X/$E/ww}|${X///}|${UNSET///}"), "wwxxyy|xxyy|");
        assert_eq!(w("${X//y/${U:+z}}|${X/\"x\"x/-}"), "xxzz|-yy");
        assert_eq!(w("${X//*/w}"), "w");
    }

    #[test]
    fn replacement_keeps_escapes_as_buildkit_does() {
        let v = vars(&[("F", "/tmp/foo.txt")]);
        assert_eq!(Lexer::default().word("${F//\\//\\/}", &v).unwrap(), "\\/tmp\\/foo.txt");
    }

    #[test]
    fn substitution_errors() {
        let cases = [
            ("he${PWD", "syntax error: missing '}'"),
            ("${", "syntax error: missing '}'"),
            ("${XXX:-x", "syntax error: missing '}'"),
            ("${}", "syntax error: bad substitution"),
            ("${:x}", "syntax error: bad substitution"),
            ("${{x}}", "syntax error: bad substitution"),
            ("${/a/b}", "syntax error: bad substitution"),
            ("he${PWD:=000}xx", "unsupported modifier (:=) in substitution"),
            ("${PWD=x}", "unsupported modifier (=) in substitution"),
            ("he${XXX:YYY}", "unsupported modifier (:Y) in substitution"),
            ("${F/ww}", "syntax error: missing '/' in ${}"),
            ("${F//}", "syntax error: missing '/' in ${}"),
            ("${F/a/b", "syntax error: missing '}'"),
        ];
        for (text, reason) in cases {
            assert_eq!(word_err(text), format!("failed to process {text:?}: {reason}"), "{text}");
        }
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(word("'he$PWD'"), "he$PWD");
        assert_eq!(word("'a\\b' x"), "a\\b x");
        assert_eq!(word("a'${\"}'b"), "a${\"}b");
        assert_eq!(
            word_err("'abc"),
            "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote"
        );
    }

    #[test]
    fn double_quotes_substitute() {
        assert_eq!(word("\"he$PWD\""), "he/home");
        assert_eq!(word("\"he\\$PWD\""), "he$PWD");
        assert_eq!(word("\"a\\\"b\\\\c\""), "a\"b\\c");
        // Other escapes stay, as in sh.
        assert_eq!(word("\"C:\\dir\\n\""), "C:\\dir\\n");
        assert_eq!(word("\"it's\" 'say \"hi\"'"), "it's say \"hi\"");
        assert_eq!(
            word_err("\"abc\\\""),
            "failed to process \"\\\"abc\\\\\\\"\": unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn escapes_outside_quotes() {
        assert_eq!(word("he\\$PWD"), "he$PWD");
        assert_eq!(word("he\\\\$PWD"), "he\\/home");
        assert_eq!(word("a\\ b\\'c\\\"d\\x"), "a b'c\"dx");
        // A trailing escape is dropped.
        assert_eq!(word("abc\\"), "abc");
    }

    #[test]
    fn backtick_escape() {
        let lexer = Lexer::new('`');
        let env = env();
        assert_eq!(lexer.word("C:\\path\\$SHELL", &env).unwrap(), "C:\\path\\bash");
        assert_eq!(lexer.word("`$PWD a`'b", &env).unwrap(), "$PWD a'b");
        assert_eq!(lexer.word("\"x`\"y``z`q\"", &env).unwrap(), "x\"y`z`q");
        assert_eq!(lexer.words("C:\\a` b c", &env).unwrap(), ["C:\\a b", "c"]);
        let v = vars(&[("P", "C:\\dir\\file.txt")]);
        assert_eq!(lexer.word("${P%\\*}", &v).unwrap(), "C:\\dir");
        assert_eq!(lexer.word("${P//\\//}", &v).unwrap(), "C:/dir/file.txt");
    }

    #[test]
    fn unicode_passes_through() {
        assert_eq!(word("안녕${KOREAN}"), "안녕한국어");
        assert_eq!(word("\"é $KOREAN\" 'ü'"), "é 한국어 ü");
        assert_eq!(word("$KOREAN안녕"), "");
        let v = vars(&[("E", "🖖🚀👽"), ("이름", "값")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${E#?}|${E%?}|${E/🚀/-}"), "🚀👽|🖖🚀|🖖-👽");
        assert_eq!(w("$이름"), "값");
    }

    #[test]
    fn words_split_on_unquoted_whitespace() {
        assert_eq!(words("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(words("'a b' \"c $PWD\" d\\ e"), ["a b", "c /home", "d e"]);
        assert_eq!(words("x\"\"y \"\" '' z"), ["xy", "z"]);
        assert_eq!(words("a'b c'd"), ["ab cd"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn words_split_unquoted_values_as_buildkit_does() {
        assert_eq!(words("$SPACED"), ["a", "b", "c"]);
        assert_eq!(words("x$SPACED"), ["xa", "b", "c"]);
        assert_eq!(words("\"$SPACED\""), ["a b  c"]);
        assert_eq!(words("${XXX:-one two}"), ["one", "two"]);
        assert_eq!(words("${XXX:-\"one two\"} three"), ["one two", "three"]);
        assert_eq!(words("$NULL $XXX"), Vec::<String>::new());
    }

    #[test]
    fn word_keeps_spaces() {
        assert_eq!(word("  a  $SPACED "), "  a  a b  c ");
    }

    #[test]
    fn names_used_in_order_once() {
        let l = Lexer::default();
        assert_eq!(
            l.names_used("$A ${B} $A ${C:-$D} ${E#$F} ${G/$H/$I}"),
            ["A", "B", "C", "D", "E", "F", "G", "H", "I"]
        );
        assert_eq!(l.names_used("'$A' \\$B \"$C\" \"\\$D\" $"), ["C"]);
        assert_eq!(l.names_used("${A:?${B}} ${C?}"), ["A", "B", "C"]);
        assert_eq!(l.names_used("${A:+${B:-${C}}}"), ["A", "B", "C"]);
        assert_eq!(l.names_used("$A ${B"), ["A"]);
        assert_eq!(Lexer::new('`').names_used("`$A \\$B"), ["B"]);
        assert!(l.names_used("no vars, C:\\x").is_empty());
    }

    #[test]
    fn lookups() {
        let list = vec![("A".to_string(), "1".to_string()), ("A".to_string(), "2".to_string())];
        assert_eq!(Lexer::default().word("$A", &list).unwrap(), "2");
        let slice: &[(&str, &str)] = &[("B", "b")];
        assert_eq!(Lexer::default().word("$B", &slice).unwrap(), "b");
        let array = [("C", "c")];
        assert_eq!(Lexer::default().word("$C", &array).unwrap(), "c");
        let tree: BTreeMap<String, String> = [("T".to_string(), "t".to_string())].into();
        assert_eq!(Lexer::default().word("$T", &tree).unwrap(), "t");
        let closure = |n: &str| (n == "D").then(|| "d".to_string());
        assert_eq!(Lexer::default().word("$D$E", &closure).unwrap(), "d");
    }

    #[test]
    fn env_pairs() {
        assert_eq!(
            pairs("A=1 B=\"two words\" C=three\\ words", PairKind::Env),
            [pair("A", "1"), pair("B", "two words"), pair("C", "three words")]
        );
        assert_eq!(
            pairs("A= B=\"\" C='' D=$PWD E=\"$SHELL x\" F='$PWD'", PairKind::Env),
            [pair("A", ""), pair("B", ""), pair("C", ""), pair("D", "/home"), pair("E", "bash x"), pair("F", "$PWD")]
        );
        assert_eq!(pairs("A=b=c", PairKind::Env), [pair("A", "b=c")]);
        assert_eq!(pairs("PATH=$PATH:/x", PairKind::Env), [pair("PATH", ":/x")]);
    }

    #[test]
    fn env_pairs_see_the_line_before() {
        // docker: `ENV PWD=x OTHER=$PWD` sets OTHER from the old PWD.
        assert_eq!(pairs("PWD=/new OTHER=$PWD", PairKind::Env), [pair("PWD", "/new"), pair("OTHER", "/home")]);
    }

    #[test]
    fn env_legacy_form() {
        assert_eq!(pairs("A hello   world", PairKind::Env), [pair("A", "hello   world")]);
        assert_eq!(pairs("  A \t \"x y\" $SHELL  ", PairKind::Env), [pair("A", "x y bash")]);
        assert_eq!(pairs("A b=c", PairKind::Env), [pair("A", "b=c")]);
        assert_eq!(pairs("desc some text", PairKind::Label), [pair("desc", "some text")]);
        let err = Lexer::default().pairs("A", &env(), PairKind::Env).unwrap_err();
        assert_eq!(err.to_string(), "ENV must have two arguments");
    }

    #[test]
    fn pair_errors() {
        let l = Lexer::default();
        let e = |t: &str, k| l.pairs(t, &env(), k).unwrap_err().to_string();
        assert_eq!(e("=value", PairKind::Env), "ENV names can not be blank");
        assert_eq!(e("A=1 =2", PairKind::Label), "LABEL names can not be blank");
        assert_eq!(e("=x", PairKind::Arg), "ARG names can not be blank");
        assert_eq!(e("$UNSET=x", PairKind::Env), "ENV names can not be blank");
        assert_eq!(e("A=1 B", PairKind::Env), "Syntax error - can't find = in \"B\". Must be of the form: name=value");
        assert_eq!(
            e("A=1 'B C'", PairKind::Label),
            "Syntax error - can't find = in \"'B C'\". Must be of the form: name=value"
        );
        assert_eq!(e("  ", PairKind::Arg), "ARG requires at least one argument");
        assert_eq!(
            e("A=\"x", PairKind::Env),
            "failed to process \"\\\"x\": unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn label_pairs_with_quoted_keys() {
        assert_eq!(
            pairs("\"com.example.key\"=\"v 1\" 'b'=2 c\\ d=3", PairKind::Label),
            [pair("com.example.key", "v 1"), pair("b", "2"), pair("c d", "3")]
        );
        assert_eq!(pairs("\"x\"=\"a\\\"b\"", PairKind::Label), [pair("x", "a\"b")]);
    }

    #[test]
    fn arg_pairs() {
        assert_eq!(
            pairs("NAME V=1 W= X=\"$SHELL x\"", PairKind::Arg),
            [("NAME".to_string(), None), pair("V", "1"), pair("W", ""), pair("X", "bash x")]
        );
        // No legacy form for ARG: two names.
        assert_eq!(pairs("A B", PairKind::Arg), [("A".to_string(), None), ("B".to_string(), None)]);
    }

    #[test]
    fn split_pairs_keeps_the_text_as_written() {
        let l = Lexer::default();
        assert_eq!(
            l.split_pairs("A=\"$B c\" D E=f\\ g", PairKind::Arg).unwrap(),
            [pair("A", "\"$B c\""), ("D".to_string(), None), pair("E", "f\\ g")]
        );
        assert_eq!(l.split_pairs("K a \"b\"", PairKind::Env).unwrap(), [pair("K", "a \"b\"")]);
        // Escaped and single-quoted quotes do not open a quote.
        assert_eq!(
            l.split_pairs("A=x\\\"y B='\\' C=\"\\\"z\"", PairKind::Env).unwrap(),
            [pair("A", "x\\\"y"), pair("B", "'\\'"), pair("C", "\"\\\"z\"")]
        );
    }

    #[test]
    fn pairs_with_backtick_escape() {
        let l = Lexer::new('`');
        assert_eq!(
            l.pairs("P=C:\\dir Q=a` b", &env(), PairKind::Env).unwrap(),
            [pair("P", "C:\\dir"), pair("Q", "a b")]
        );
    }

    #[test]
    fn a_variable_in_a_pattern_is_a_glob_unless_quoted() {
        let v = vars(&[("F", "a/b/c"), ("P", "*/")]);
        let w = |t: &str| Lexer::default().word(t, &v).unwrap();
        assert_eq!(w("${F#$P}|${F##$P}|${F#\"$P\"}"), "b/c|c|a/b/c");
    }

    #[test]
    fn colon_before_hash_and_percent_is_accepted_as_buildkit_does() {
        assert_eq!(word("${PWD:#/}|${PWD:%me}"), "home|/ho");
    }

    #[test]
    fn quotes_inside_braces_in_double_quotes() {
        // BuildKit reads a `${...}` word the same way inside double quotes.
        assert_eq!(word("\"${XXX:-'q'}\""), "q");
        assert_eq!(words("\"${XXX:-a b} $SPACED\" c"), ["a b a b  c", "c"]);
    }

    #[test]
    fn escaped_newlines_follow_buildkit() {
        assert_eq!(word("a\\\nb"), "a\nb");
        assert_eq!(word("\"a\\\nb\""), "a\\\nb");
        assert_eq!(words("a\\\nb c\nd"), ["a\nb", "c", "d"]);
    }

    #[test]
    fn errors_are_typed() {
        let err = Lexer::default().word("${XXX:?}", &env()).unwrap_err();
        assert_eq!(
            err,
            Error::Process {
                text: "${XXX:?}".to_string(),
                reason: Reason::Required { name: "XXX".to_string(), message: "is not allowed to be unset".to_string() },
            }
        );
        // The text is quoted Go-style, so a newline in it stays on one line.
        assert_eq!(word_err("${A\n"), "failed to process \"${A\\n\": unsupported modifier (\n) in substitution");
    }

    #[test]
    fn keys_are_substituted() {
        assert_eq!(pairs("$SHELL=1 \"${KOREAN}_x\"=2", PairKind::Label), [pair("bash", "1"), pair("한국어_x", "2")]);
        // Cut at the first `=` as written, as docker does, even inside `${}`.
        let err = Lexer::default().pairs("${A=x}=1", &env(), PairKind::Env).unwrap_err();
        assert_eq!(err.to_string(), "failed to process \"${A\": syntax error: missing '}'");
        let err = Lexer::default().pairs("${A!}=1", &env(), PairKind::Env).unwrap_err();
        assert_eq!(err.to_string(), "failed to process \"${A!}\": unsupported modifier (!) in substitution");
    }

    #[test]
    fn default_escape_is_backslash() {
        assert_eq!(Lexer::default().escape(), '\\');
        assert_eq!(Lexer::new('`').escape(), '`');
        assert_eq!(Lexer::default(), Lexer::new('\\'));
    }

    #[test]
    fn pattern_matching_is_linear() {
        // A pattern that backtracks exponentially in naive matchers.
        let value = "a".repeat(2000);
        let v = vars(&[("V", &value)]);
        let text = "${V%%*a*a*a*a*a*a*b}";
        assert_eq!(Lexer::default().word(text, &v).unwrap(), value);
    }

    #[test]
    fn heredoc_bodies_keep_quotes_and_escapes() {
        let vars: BTreeMap<String, String> = [("WHO".to_string(), "world".to_string())].into();
        let l = Lexer::default();
        assert_eq!(
            l.heredoc("say \"hi $WHO\" 'not $WHO' \\$WHO ${WHO:-x}\n", &vars).unwrap(),
            "say \"hi world\" 'not $WHO' \\$WHO world\n"
        );
    }
}
