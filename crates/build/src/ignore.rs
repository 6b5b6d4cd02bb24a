//! `.dockerignore` / `.containerignore`: which files of the build context
//! the builder sees, with docker's rules (moby/patternmatcher, as BuildKit's
//! context transfer applies them).
//!
//! Docker's rules are not gitignore's, which is why no ignore crate is used
//! here (`ignore` and `globset` implement gitignore/shell globbing):
//!
//! - a pattern is anchored at the context root and matches the whole path:
//!   `foo` excludes `foo` (and everything under it) but not `a/foo`; only
//!   `**/foo` reaches down;
//! - a pattern that matches a directory excludes everything under it, and
//!   the last pattern that matches a path or one of its parents decides,
//!   `!` exceptions re-including;
//! - the syntax is Go's `filepath.Match` (`*`, `?`, `[...]` with `^` for
//!   negation, `\` escapes) plus `**`, and a pattern's path is cleaned like
//!   Go's `filepath.Clean` first.
//!
//! Excluding the Containerfile or the ignore file itself is allowed: docker
//! still sends both to the builder, and the caller is the one that does so
//! (`included` just reports what the patterns say).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A bad ignore file. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The pattern is not valid Go `filepath.Match` syntax (an unclosed or
    /// empty `[...]`, a bad range, a trailing `\`).
    #[error("ignore file line {line}: syntax error in pattern {pattern:?}")]
    BadPattern { line: usize, pattern: String },
    /// A `!` with nothing after it (docker refuses it too).
    #[error("ignore file line {line}: illegal exclusion pattern \"!\"")]
    EmptyException { line: usize },
}

/// The patterns of an ignore file, in the file's order (order matters: the
/// last pattern that matches decides).
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    list: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`: re-includes what it matches.
    exception: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// A pattern `**<literal>`. moby/patternmatcher matches these with a
    /// plain suffix test rather than its regular expression, so `**.txt`
    /// matches `a/b.txt` (the expression would want `a/.txt`). BuildKit uses
    /// that fast path, so we do too: the same files must be sent.
    Suffix(String),
    Tokens(Vec<Token>),
}

#[derive(Debug, Clone)]
enum Token {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` (its `/` eaten) before more pattern: zero or more whole
    /// directories, i.e. nothing, or anything that ends with `/`.
    AnyDirs,
    /// `**` at the end: anything at all, `/` included.
    AnyRest,
    Class(Class),
}

/// `[...]`: Go's classes. `^` negates (Go's `filepath.Match` has no `!`
/// negation: `[!a]` is `!` or `a`), and a class may match `/`, as in Go.
#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl Patterns {
    /// Parses an ignore file's text (docker's ignorefile.ReadAll then
    /// patternmatcher.New): one pattern per line; lines starting with `#`
    /// are comments (only at the very start of the line: `  #x` is a
    /// pattern); blank lines are skipped; surrounding whitespace is trimmed;
    /// a leading `!` (whitespace after it allowed) makes an exception; paths
    /// are cleaned as Go's `filepath.Clean` (`./a//b/../c` is `a/c`) and a
    /// leading `/` dropped (it means the context root). A UTF-8 BOM at the
    /// start is skipped. Backslashes are escapes, not separators.
    pub fn parse(text: &str) -> Result<Patterns, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut list = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(Error::EmptyException { line: number });
            }
            let cleaned = clean(body);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => cleaned,
            };
            let matcher =
                compile(&cleaned).ok_or_else(|| Error::BadPattern { line: number, pattern: body.to_string() })?;
            list.push(Pattern { exception, matcher });
        }
        Ok(Patterns { list })
    }

    /// Whether there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded. The last pattern that matches the path or one of its parent
    /// directories decides (moby's MatchesOrParentMatches): an exclude
    /// excludes, an exception re-includes. The root itself is never
    /// excluded. A leading `./` or `/` is tolerated.
    pub fn excluded(&self, path: &str) -> bool {
        let path = normalize(path);
        if path == "." {
            return false;
        }
        self.list.iter().rev().find(|p| p.matches_or_parent(&path)).is_some_and(|p| !p.exception)
    }

    /// Whether a walk must still descend into the excluded directory `dir`
    /// because an exception could re-include something below it. Only the
    /// exceptions after the last pattern that matched `dir` count (an
    /// earlier one is overridden below `dir` too), and only if they can
    /// match some path under `dir`. False positives are possible (the walk
    /// then finds nothing), false negatives are not: BuildKit walks every
    /// excluded directory as soon as there are exceptions, and we must send
    /// the same files, only faster.
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir = normalize(dir);
        if dir == "." {
            return self.list.iter().any(|p| p.exception);
        }
        let after = self.list.iter().rposition(|p| p.matches_or_parent(&dir)).map_or(0, |i| i + 1);
        self.list[after..].iter().any(|p| p.exception && p.may_match_under(&dir))
    }
}

impl Pattern {
    /// Whether the pattern matches `path` or one of its parent directories.
    fn matches_or_parent(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Suffix(suffix) => {
                let hit = |p: &str| p.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| s == p);
                hit(path) || path.match_indices('/').any(|(i, _)| hit(&path[..i]))
            }
            Matcher::Tokens(tokens) => {
                let mut nfa = Nfa::new(tokens);
                for c in path.chars() {
                    // Just before a `/`: what was read is a parent directory.
                    if c == '/' && nfa.accepts() {
                        return true;
                    }
                    nfa.step(c);
                    if nfa.dead() {
                        return false;
                    }
                }
                nfa.accepts()
            }
        }
    }

    /// Whether the pattern could match some path strictly under `dir`.
    fn may_match_under(&self, dir: &str) -> bool {
        match &self.matcher {
            // `dir/<anything>` can end with any suffix.
            Matcher::Suffix(_) => true,
            Matcher::Tokens(tokens) => {
                let mut nfa = Nfa::new(tokens);
                for c in dir.chars().chain(['/']) {
                    nfa.step(c);
                    if nfa.dead() {
                        return false;
                    }
                }
                // Some of the pattern is left to match what follows `dir/`.
                nfa.pending()
            }
        }
    }
}

/// The pattern run as a small automaton over a path's characters: all the
/// ways the pattern can be part-way through at once, so no backtracking
/// (no blow-up on `*a*a*a*`), and one pass answers for every parent of the
/// path as well as the path.
struct Nfa<'a> {
    tokens: &'a [Token],
    /// `at[t]`: tokens before `t` matched what was read; `at[len]` accepts.
    at: Vec<bool>,
    /// `inside[t]`: within the `.*/` of the `AnyDirs` at `t`.
    inside: Vec<bool>,
}

impl<'a> Nfa<'a> {
    fn new(tokens: &'a [Token]) -> Nfa<'a> {
        let mut nfa = Nfa { tokens, at: vec![false; tokens.len() + 1], inside: vec![false; tokens.len()] };
        nfa.at[0] = true;
        nfa.close();
        nfa
    }

    /// Follows the moves that read nothing (`*`, `**` matching nothing).
    /// They only go forward, so one pass in order reaches them all.
    fn close(&mut self) {
        for (t, token) in self.tokens.iter().enumerate() {
            if !self.at[t] {
                continue;
            }
            match token {
                Token::Star | Token::AnyRest => self.at[t + 1] = true,
                Token::AnyDirs => {
                    self.at[t + 1] = true;
                    self.inside[t] = true;
                }
                Token::Lit(_) | Token::One | Token::Class(_) => {}
            }
        }
    }

    fn step(&mut self, c: char) {
        let mut at = vec![false; self.at.len()];
        let mut inside = vec![false; self.inside.len()];
        for (t, token) in self.tokens.iter().enumerate() {
            if self.at[t] {
                match token {
                    Token::Lit(l) if *l == c => at[t + 1] = true,
                    Token::One if c != '/' => at[t + 1] = true,
                    Token::Class(class) if class.matches(c) => at[t + 1] = true,
                    Token::Star if c != '/' => at[t] = true,
                    Token::AnyRest => at[t] = true,
                    _ => {}
                }
            }
            if self.inside[t] {
                inside[t] = true;
                if c == '/' {
                    at[t + 1] = true;
                }
            }
        }
        self.at = at;
        self.inside = inside;
        self.close();
    }

    fn accepts(&self) -> bool {
        self.at.last().copied().unwrap_or(false)
    }

    fn dead(&self) -> bool {
        !self.at.iter().chain(&self.inside).any(|&b| b)
    }

    /// Whether some way through has pattern left to match.
    fn pending(&self) -> bool {
        let len = self.tokens.len();
        self.at[..len].iter().chain(&self.inside).any(|&b| b)
    }
}

/// A path as `excluded` compares it: cleaned, relative.
fn normalize(path: &str) -> String {
    let cleaned = clean(path);
    match cleaned.strip_prefix('/') {
        Some("") => ".".to_string(),
        Some(rest) => rest.to_string(),
        None => cleaned,
    }
}

/// Go's `filepath.Clean` with `/` as the separator: repeated slashes
/// become one, `.` elements go, `x/..` goes, `..` at the root goes, a
/// trailing slash goes; nothing left is `.`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            name => parts.push(name),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Compiles a cleaned pattern; None if Go's `filepath.Match` would call it
/// a bad pattern (docker checks patterns that way).
fn compile(pattern: &str) -> Option<Matcher> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        let token = match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    Token::AnyRest
                } else {
                    Token::AnyDirs
                }
            }
            '*' => Token::Star,
            '?' => Token::One,
            '\\' => {
                let escaped = *chars.get(i)?;
                i += 1;
                Token::Lit(escaped)
            }
            '[' => {
                let (class, next) = class(&chars, i)?;
                i = next;
                Token::Class(class)
            }
            other => Token::Lit(other),
        };
        tokens.push(token);
    }
    if let Some(rest) = pattern.strip_prefix("**") {
        if !rest.contains(['*', '?', '[', ']', '\\']) {
            return Some(Matcher::Suffix(rest.to_string()));
        }
    }
    Some(Matcher::Tokens(tokens))
}

/// Parses a class whose `[` is just before `chars[i]`, as Go does: an
/// optional `^`, then at least one character or range (`\` escaping, a bare
/// `-` or `]` refused), then `]`. Returns the class and where it ends.
fn class(chars: &[char], mut i: usize) -> Option<(Class, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Class { negated, ranges }, i + 1));
        }
        let lo = class_char(chars, &mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(chars, &mut i)?;
        }
        ranges.push((lo, hi));
    }
}

/// One character of a class (Go's getEsc): not `-` or `]`, `\` escapes,
/// and the class must go on after it.
fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let mut c = *chars.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i)?;
    }
    *i += 1;
    if *i >= chars.len() {
        return None;
    }
    Some(c)
}

/// Where the ignore file of a build is, None when there is none:
/// `<containerfile>.containerignore` or `<containerfile>.dockerignore`
/// beside the Containerfile wins, wherever that file is (BuildKit's rule for
/// `<Dockerfile>.dockerignore`; podman's preference for the `.containerignore`
/// name first), else the context's `.containerignore`, else its
/// `.dockerignore` (podman reads both, `.containerignore` first).
///
/// `containerfile` is the file the build actually uses, as the caller
/// resolved it (pass the default `Containerfile`/`Dockerfile` too, so its
/// own ignore file is found).
pub fn find_ignore_file(context: &Path, containerfile: Option<&Path>) -> Option<PathBuf> {
    let beside = containerfile.into_iter().flat_map(|file| {
        [".containerignore", ".dockerignore"].map(|ext| {
            let mut name = OsString::from(file.as_os_str());
            name.push(ext);
            PathBuf::from(name)
        })
    });
    let in_context = [".containerignore", ".dockerignore"].map(|name| context.join(name));
    beside.chain(in_context).find(|path| path.is_file())
}

/// The files and directories of `context` a build sees, as relative
/// `/`-separated paths. Symlinks are not followed (a symlink is listed as
/// itself). A directory that is excluded but holds a re-included entry is
/// listed too, since that entry needs its parent; one that holds nothing
/// re-included is not, and is only walked at all when `may_reinclude_under`
/// says so. The order is docker's walk order: entries of a directory sorted
/// by name, each directory just before its contents (so `a`, `a/b`, `a.txt`:
/// paths sorted component by component, as `std::path::Path` orders them,
/// not as plain strings). A file name that is not UTF-8 is an error
/// (`InvalidData`), not skipped silently.
pub fn included(context: &Path, patterns: &Patterns) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(context, "", patterns, &mut out)?;
    Ok(out)
}

fn walk(root: &Path, rel: &str, patterns: &Patterns, out: &mut Vec<String>) -> io::Result<()> {
    let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    let mut entries = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().into_string().map_err(|name| {
            io::Error::new(io::ErrorKind::InvalidData, format!("file name is not UTF-8: {:?}", dir.join(name)))
        })?;
        // DirEntry::file_type does not follow symlinks.
        let is_dir = entry.file_type()?.is_dir();
        entries.push((name, is_dir));
    }
    entries.sort();
    for (name, is_dir) in entries {
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if !patterns.excluded(&path) {
            out.push(path.clone());
            if is_dir {
                walk(root, &path, patterns, out)?;
            }
        } else if is_dir && patterns.may_reinclude_under(&path) {
            let mark = out.len();
            out.push(path.clone());
            walk(root, &path, patterns, out)?;
            if out.len() == mark + 1 {
                out.pop();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(text: &str) -> Patterns {
        Patterns::parse(text).unwrap()
    }

    fn ex(text: &str, path: &str) -> bool {
        pats(text).excluded(path)
    }

    // --- parsing ---

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let p = pats("# a comment\n\n   \nfoo\n#bar\n");
        assert_eq!(p.list.len(), 1);
        assert!(p.excluded("foo"));
        assert!(!p.excluded("#bar"));
        assert!(!p.excluded("bar"));
    }

    #[test]
    fn hash_only_comments_at_line_start() {
        // Docker tests for `#` before trimming: an indented one is a pattern.
        let p = pats("  #keep");
        assert!(p.excluded("#keep"));
    }

    #[test]
    fn whitespace_trimmed_and_crlf() {
        let p = pats("  foo  \r\n\tbar\t\r\n");
        assert!(p.excluded("foo"));
        assert!(p.excluded("bar"));
        assert!(!p.excluded("foo  "));
    }

    #[test]
    fn bom_skipped() {
        assert!(ex("\u{feff}foo\n", "foo"));
    }

    #[test]
    fn dot_slash_and_leading_slash_dropped() {
        assert!(ex("./foo", "foo"));
        assert!(ex("/foo", "foo"));
        assert!(ex("//foo/bar", "foo/bar"));
        assert!(ex("!x\n/a\n! /a/b", "a"));
        assert!(!ex("a\n! /a/b", "a/b"));
    }

    #[test]
    fn paths_cleaned_like_go() {
        assert!(ex("./a//b/../c", "a/c"));
        assert!(!ex("./a//b/../c", "a/b"));
        assert!(ex("a/./b/", "a/b"));
        assert!(ex("a/b/c/../../d", "a/d"));
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../../a/.."), "../..");
        assert_eq!(clean(""), ".");
    }

    #[test]
    fn dotdot_above_the_root_matches_nothing() {
        let p = pats("../a\n/");
        assert!(!p.excluded("a"));
        assert!(!p.excluded("b"));
    }

    #[test]
    fn bare_bang_is_an_error() {
        assert_eq!(Patterns::parse("foo\n!\n").unwrap_err(), Error::EmptyException { line: 2 });
        assert!(Patterns::parse("!  ").is_err());
    }

    #[test]
    fn bad_patterns_are_errors() {
        for bad in ["[", "[]", "[]a]", "a\\", "[a-]", "[^]", "[z", "[-a]", "[a-b-c]", "x[\\"] {
            let err = Patterns::parse(&format!("ok\n{bad}\n")).unwrap_err();
            assert_eq!(err, Error::BadPattern { line: 2, pattern: bad.to_string() }, "{bad}");
            let msg = err.to_string();
            assert!(msg.contains("syntax error in pattern"), "{msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn backslash_is_not_a_separator() {
        // `a\b` is `a` then an escaped `b`: the name `ab`.
        assert!(ex("a\\b", "ab"));
        assert!(!ex("a\\b", "a/b"));
        assert!(ex("a\\\\b", "a\\b"));
    }

    // --- matching ---

    #[test]
    fn anchored_not_a_suffix() {
        assert!(ex("foo", "foo"));
        assert!(!ex("foo", "a/foo"));
        assert!(!ex("foo", "foobar"));
        assert!(!ex("*.txt", "d/a.txt"));
        assert!(ex("*.txt", "a.txt"));
    }

    #[test]
    fn parent_match_excludes_everything_below() {
        let p = pats("a");
        assert!(p.excluded("a/b/c"));
        assert!(p.excluded("a/b"));
        assert!(!p.excluded("ab/c"));
        assert!(ex("*/b", "x/b/c/d"));
    }

    #[test]
    fn star_stops_at_slash() {
        assert!(ex("a/*", "a/x"));
        assert!(ex("a/*", "a/x/y")); // via its parent a/x
        assert!(!ex("a*", "b/a"));
        assert!(ex("*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!ex("*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn question_mark_is_one_char_not_slash() {
        assert!(ex("a?c", "abc"));
        assert!(ex("a?c", "aéc"));
        assert!(!ex("a?c", "ac"));
        assert!(!ex("a?c", "a/c"));
    }

    #[test]
    fn doublestar_leading() {
        let p = pats("**/foo");
        assert!(p.excluded("foo"));
        assert!(p.excluded("a/b/foo"));
        assert!(p.excluded("a/foo/x"));
        assert!(!p.excluded("xfoo"));
        assert!(!p.excluded("a/xfoo"));
    }

    #[test]
    fn doublestar_trailing() {
        let p = pats("foo/**");
        assert!(p.excluded("foo/x"));
        assert!(p.excluded("foo/x/y"));
        assert!(!p.excluded("foo"));
        assert!(!p.excluded("foobar"));
    }

    #[test]
    fn doublestar_middle() {
        let p = pats("a/**/b");
        assert!(p.excluded("a/b"));
        assert!(p.excluded("a/x/y/b"));
        assert!(p.excluded("a/x/b/c"));
        assert!(!p.excluded("a/xb"));
        assert!(!p.excluded("b"));
    }

    #[test]
    fn doublestar_with_wildcards() {
        let p = pats("**/*.go");
        assert!(p.excluded("main.go"));
        assert!(p.excluded("x/y/main.go"));
        assert!(!p.excluded("x/y/main.rs"));
        assert!(ex("a**", "abc/d"));
        assert!(ex("**", "anything/at/all"));
    }

    #[test]
    fn doublestar_literal_suffix_like_moby() {
        // moby matches `**<literal>` by suffix (its fast path).
        let p = pats("**.txt");
        assert!(p.excluded("b.txt"));
        assert!(p.excluded("a/b.txt"));
        assert!(!p.excluded("a/b.txt.bak"));
        assert!(p.excluded("a.txt/inner")); // via the parent
    }

    #[test]
    fn classes_and_ranges() {
        let p = pats("[a-c]x\nf[0-9][0-9]");
        assert!(p.excluded("ax"));
        assert!(p.excluded("cx"));
        assert!(!p.excluded("dx"));
        assert!(p.excluded("f42"));
        assert!(!p.excluded("f4a"));
        assert!(ex("[*]", "*"));
        assert!(!ex("[*]", "x"));
        assert!(ex("x[\\]]", "x]"));
    }

    #[test]
    fn class_negation_is_caret_only() {
        let p = pats("[^a]b");
        assert!(p.excluded("cb"));
        assert!(!p.excluded("ab"));
        // Go has no `!` negation: `[!a]` is `!` or `a`.
        let p = pats("[!a]b");
        assert!(p.excluded("!b"));
        assert!(p.excluded("ab"));
        assert!(!p.excluded("cb"));
    }

    #[test]
    fn escapes() {
        let p = pats("\\*.txt\n\\[x]\nq\\?");
        assert!(p.excluded("*.txt"));
        assert!(!p.excluded("a.txt"));
        assert!(p.excluded("[x]"));
        assert!(!p.excluded("x"));
        assert!(p.excluded("q?"));
        assert!(!p.excluded("qa"));
        // An escaped leading `!` is a plain name.
        assert!(ex("\\!keep", "!keep"));
    }

    #[test]
    fn exceptions_reinclude() {
        let p = pats("*.md\n!README.md");
        assert!(p.excluded("CHANGES.md"));
        assert!(!p.excluded("README.md"));
    }

    #[test]
    fn later_exclude_wins_again() {
        let p = pats("*.md\n!README*.md\nREADME-secret.md");
        assert!(!p.excluded("README.md"));
        assert!(p.excluded("README-secret.md"));
        // Order reversed: the exclude comes first, the exception wins.
        let p = pats("README-secret.md\n*.md\n!README*.md");
        assert!(!p.excluded("README-secret.md"));
    }

    #[test]
    fn exception_of_a_parent_reincludes_below() {
        let p = pats("*\n!src");
        assert!(p.excluded("other"));
        assert!(!p.excluded("src"));
        assert!(!p.excluded("src/a/b.rs"));
    }

    #[test]
    fn dockerfile_and_ignore_file_may_be_excluded() {
        // Allowed; the caller still sends them to the builder.
        let p = pats("Dockerfile\n.dockerignore\n.containerignore");
        assert!(p.excluded("Dockerfile"));
        assert!(p.excluded(".dockerignore"));
        assert!(p.excluded(".containerignore"));
    }

    #[test]
    fn excluded_tolerates_dot_slash_and_root() {
        let p = pats("**");
        assert!(p.excluded("./a"));
        assert!(!p.excluded("."));
        assert!(!p.excluded(""));
        assert!(Patterns::default().is_empty());
        assert!(!Patterns::default().excluded("a"));
    }

    #[test]
    fn may_reinclude_under() {
        let p = pats("dir\nother\n!dir/keep.txt");
        assert!(p.may_reinclude_under("dir"));
        assert!(!p.may_reinclude_under("other"));
        assert!(!p.may_reinclude_under("dir/sub"));
        // Wildcard exceptions count.
        assert!(pats("dir\n!d*/keep").may_reinclude_under("dir"));
        assert!(pats("dir\n!**/keep").may_reinclude_under("dir/a/b"));
        assert!(pats("dir\n!**.keep").may_reinclude_under("dir"));
        assert!(pats("a\n!a/**/k").may_reinclude_under("a/x/y"));
        assert!(!pats("a\n!a/*/k").may_reinclude_under("a/x/y"));
        // An exception overridden by a later exclude does not.
        assert!(!pats("!dir/keep.txt\ndir").may_reinclude_under("dir"));
        // No exceptions at all.
        assert!(!pats("dir").may_reinclude_under("dir"));
        // An exception that cannot match anything below the directory.
        assert!(!pats("dir\n!dir?").may_reinclude_under("dir"));
    }

    // --- walking ---

    fn tree(files: &[&str], dirs: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for dir in dirs {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        for file in files {
            let path = root.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        root
    }

    #[test]
    fn included_lists_everything_without_patterns_in_walk_order() {
        let root = tree(&["a.txt", "a/b", "b", "a/c/d", "A"], &["empty"]);
        let got = included(root.path(), &Patterns::default()).unwrap();
        assert_eq!(got, ["A", "a", "a/b", "a/c", "a/c/d", "a.txt", "b", "empty"]);
    }

    #[test]
    fn included_drops_excluded_trees() {
        let root = tree(&["node_modules/x/y.js", "src/main.rs", "src/main.o"], &[]);
        let got = included(root.path(), &pats("node_modules\n**/*.o")).unwrap();
        assert_eq!(got, ["src", "src/main.rs"]);
    }

    #[test]
    fn included_nested_exception_lists_its_parent() {
        let root = tree(&["dir/keep.txt", "dir/drop.txt", "dir/sub/x", "top"], &[]);
        let got = included(root.path(), &pats("dir\n!dir/keep.txt")).unwrap();
        assert_eq!(got, ["dir", "dir/keep.txt", "top"]);
    }

    #[test]
    fn included_deep_wildcard_exception() {
        let root = tree(&["a/b/c/x.keep", "a/b/c/y", "a/z", "a/e/f"], &[]);
        let got = included(root.path(), &pats("a\n!**/*.keep")).unwrap();
        assert_eq!(got, ["a", "a/b", "a/b/c", "a/b/c/x.keep"]);
    }

    #[test]
    fn included_excluded_dir_with_nothing_reincluded_is_not_listed() {
        let root = tree(&["dir/a", "other/b"], &[]);
        let got = included(root.path(), &pats("*\n!other/b\n!dir/nothing")).unwrap();
        assert_eq!(got, ["other", "other/b"]);
    }

    #[test]
    fn included_lists_symlinks_without_following() {
        let root = tree(&["real/f"], &[]);
        std::os::unix::fs::symlink("real", root.path().join("link")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", root.path().join("dangling")).unwrap();
        let got = included(root.path(), &Patterns::default()).unwrap();
        assert_eq!(got, ["dangling", "link", "real", "real/f"]);
        // Excluding the target's tree leaves the link alone.
        let got = included(root.path(), &pats("real")).unwrap();
        assert_eq!(got, ["dangling", "link"]);
    }

    #[test]
    fn included_fails_on_missing_context() {
        let root = tempfile::tempdir().unwrap();
        assert!(included(&root.path().join("nope"), &Patterns::default()).is_err());
    }

    // --- finding the file ---

    #[test]
    fn find_ignore_file_none() {
        let root = tree(&["Containerfile"], &[]);
        let cf = root.path().join("Containerfile");
        assert_eq!(find_ignore_file(root.path(), Some(&cf)), None);
        assert_eq!(find_ignore_file(root.path(), None), None);
    }

    #[test]
    fn find_ignore_file_containerignore_before_dockerignore() {
        let root = tree(&[".dockerignore"], &[]);
        assert_eq!(find_ignore_file(root.path(), None), Some(root.path().join(".dockerignore")));
        fs::write(root.path().join(".containerignore"), "").unwrap();
        assert_eq!(find_ignore_file(root.path(), None), Some(root.path().join(".containerignore")));
    }

    #[test]
    fn find_ignore_file_containerfile_specific_wins() {
        let root = tree(&[".containerignore", ".dockerignore", "Dockerfile.dev"], &[]);
        let cf = root.path().join("Dockerfile.dev");
        fs::write(root.path().join("Dockerfile.dev.dockerignore"), "").unwrap();
        assert_eq!(find_ignore_file(root.path(), Some(&cf)), Some(root.path().join("Dockerfile.dev.dockerignore")));
        fs::write(root.path().join("Dockerfile.dev.containerignore"), "").unwrap();
        assert_eq!(find_ignore_file(root.path(), Some(&cf)), Some(root.path().join("Dockerfile.dev.containerignore")));
    }

    #[test]
    fn find_ignore_file_containerfile_outside_context() {
        let context = tree(&[".dockerignore"], &[]);
        let elsewhere = tree(&["build/Containerfile", "build/Containerfile.dockerignore"], &[]);
        let cf = elsewhere.path().join("build/Containerfile");
        assert_eq!(
            find_ignore_file(context.path(), Some(&cf)),
            Some(elsewhere.path().join("build/Containerfile.dockerignore"))
        );
        // A directory by the name is not an ignore file.
        let context = tree(&[], &[".containerignore"]);
        assert_eq!(find_ignore_file(context.path(), None), None);
    }
}
