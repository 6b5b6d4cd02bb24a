//! RUN's here-documents wherever the command has them (`RUN cat <<EOF >
//! /x`, several in one command), as BuildKit takes them. parse-dockerfile
//! only knows one, first in the command: before it parses the file, this
//! pass finds each RUN's markers and documents and blanks them out of the
//! text it is given (spaces, byte for byte, so every offset it reports is
//! the original text's), and the builder's RUN gets them from here.

use crate::containerfile::HereDoc;

/// One RUN with here-documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDocs {
    /// 1-based line of its keyword.
    pub line: usize,
    /// Offset just past its last delimiter line's delimiter: its script
    /// (the command, then each document and delimiter) ends there.
    pub end: usize,
    pub docs: Vec<HereDoc>,
}

/// A `<<` marker in a command.
#[derive(Debug, PartialEq, Eq)]
struct Marker {
    /// Offset of its `<<` in the text given to [`markers`].
    at: usize,
    name: String,
    /// `<<-`: leading tabs are stripped from the body and the delimiter.
    strip_tabs: bool,
    /// The delimiter was quoted: no variables are substituted in it.
    quoted: bool,
}

/// `text` with RUN's here-documents blanked out, and those RUNs.
pub fn blank_run_docs(text: &str, escape: char) -> (String, Vec<RunDocs>) {
    let mut out = text.as_bytes().to_vec();
    let mut runs = Vec::new();
    // Lines with their offsets.
    let mut lines = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        lines.push((at, l));
        at += l.len();
    }
    let mut i = 0;
    while i < lines.len() {
        let (start, line) = lines[i];
        let t = line.trim_start();
        if t.trim().is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        // The instruction's lines: continued while one ends with the
        // escape character (comment lines inside are skipped).
        let first = i;
        while i + 1 < lines.len() && continues(lines[i].1, escape) {
            i += 1;
        }
        let end_of_instruction = lines[i].0 + lines[i].1.len();
        let instruction = &text[start..end_of_instruction];
        let keyword = t.split(|c: char| c.is_whitespace()).next().unwrap_or("").to_ascii_uppercase();
        let found = markers(instruction, escape);
        i += 1;
        if found.is_empty() || !matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            continue;
        }
        // The documents follow, one after another.
        let mut docs = Vec::new();
        let mut j = i;
        let mut complete = true;
        for m in &found {
            let mut body = String::new();
            loop {
                let Some(&(_, l)) = lines.get(j) else {
                    complete = false;
                    break;
                };
                j += 1;
                let content = l.trim_end_matches(['\n', '\r']);
                let content = if m.strip_tabs { content.trim_start_matches('\t') } else { content };
                if content == m.name {
                    break;
                }
                body.push_str(content);
                body.push('\n');
            }
            docs.push(HereDoc { name: m.name.clone(), body, expand: !m.quoted });
        }
        // An unterminated document, or a COPY's (the parser has those):
        // the parser says what it makes of them.
        if !complete || keyword != "RUN" {
            i = j.max(i);
            continue;
        }
        for m in &found {
            out[start + m.at..start + m.at + 2].copy_from_slice(b"  ");
        }
        for &(off, l) in &lines[i..j] {
            for b in &mut out[off..off + l.trim_end_matches(['\n', '\r']).len()] {
                *b = b' ';
            }
        }
        let (last_off, last) = lines[j - 1];
        runs.push(RunDocs {
            line: text[..lines[first].0].matches('\n').count() + 1,
            end: last_off + last.trim_end_matches(['\n', '\r']).len(),
            docs,
        });
        i = j;
    }
    (String::from_utf8(out).unwrap_or_else(|_| text.to_string()), runs)
}

/// Whether `line` ends with the escape character (a continuation).
fn continues(line: &str, escape: char) -> bool {
    let t = line.trim_end_matches(['\n', '\r', ' ', '\t']);
    t.ends_with(escape) && !t.trim_start().starts_with('#')
}

/// The `<<WORD` markers of `command`, outside quotes: `<<` then `-`
/// optionally, then a word that starts with a letter or `_` (quoted or
/// not). `<<<` (a here-string) is not one.
fn markers(command: &str, escape: char) -> Vec<Marker> {
    let b = command.as_bytes();
    let mut out = Vec::new();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == escape && !single {
            i += 2;
            continue;
        }
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            // A here-string: not a document.
            '<' if !single && !double && command[i..].starts_with("<<<") => {
                i += 3;
                continue;
            }
            '<' if !single && !double && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                if let Some((m, len)) = marker_at(command, i) {
                    out.push(m);
                    i += len;
                    continue;
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The marker whose `<<` is at `at` in `s`, and its length.
fn marker_at(s: &str, at: usize) -> Option<(Marker, usize)> {
    let mut rest = &s[at + 2..];
    let strip_tabs = rest.starts_with('-');
    if strip_tabs {
        rest = &rest[1..];
    }
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    if let Some(q) = quote {
        rest = &rest[1..];
        let close = rest.find(q)?;
        let name = &rest[..close];
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let len = 2 + usize::from(strip_tabs) + 1 + close + 1;
        return ok.then(|| (Marker { at, name: name.to_string(), strip_tabs, quoted: true }, len));
    }
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let len = 2 + usize::from(strip_tabs) + name.len();
    Some((Marker { at, name, strip_tabs, quoted: false }, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_anywhere_in_the_command() {
        let m = markers("RUN cat <<EOF > /x && cat <<-'RAW' >> /y", '\\');
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].name.as_str(), m[0].strip_tabs, m[0].quoted), ("EOF", false, false));
        assert_eq!((m[1].name.as_str(), m[1].strip_tabs, m[1].quoted), ("RAW", true, true));
        for none in
            ["RUN echo '<<EOF'", "RUN echo \"<<EOF\"", "RUN cat <<<word", "RUN echo $((1<<2))", "RUN echo \\<<EOF"]
        {
            assert!(markers(none, '\\').is_empty(), "{none}");
        }
    }

    #[test]
    fn documents_are_blanked_byte_for_byte() {
        let text = "FROM x\nRUN cat <<EOF > /a && cat <<-\"B\" > /b\nhello $X\nEOF\n\tbody\n\tB\nRUN true\n";
        let (blanked, runs) = blank_run_docs(text, '\\');
        assert_eq!(blanked.len(), text.len());
        assert_eq!(blanked.lines().nth(1), Some("RUN cat   EOF > /a && cat   -\"B\" > /b"));
        assert!(blanked.lines().skip(2).take(4).all(|l| l.trim().is_empty()), "{blanked}");
        assert_eq!(blanked.lines().nth(6), Some("RUN true"));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].line, 2);
        assert_eq!(&text[..runs[0].end], "FROM x\nRUN cat <<EOF > /a && cat <<-\"B\" > /b\nhello $X\nEOF\n\tbody\n\tB");
        assert_eq!(runs[0].docs[0], HereDoc { name: "EOF".into(), body: "hello $X\n".into(), expand: true });
        assert_eq!(runs[0].docs[1], HereDoc { name: "B".into(), body: "body\n".into(), expand: false });
    }

    #[test]
    fn continued_commands_and_other_instructions() {
        let text = "RUN --mount=type=cache,target=/c \\\n  cat <<EOF > /x\nline\nEOF\nCOPY <<A /a\nRUN not a run\nA\n";
        let (blanked, runs) = blank_run_docs(text, '\\');
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].line, 1);
        // A COPY's documents are the parser's, and skipped here.
        assert!(blanked.contains("COPY <<A /a\nRUN not a run\nA\n"));
        // An unterminated document is left for the parser to refuse.
        let (same, none) = blank_run_docs("RUN cat <<EOF\nno end\n", '\\');
        assert_eq!((same.as_str(), none.len()), ("RUN cat <<EOF\nno end\n", 0));
    }
}
