//! A Containerfile (or Dockerfile), parsed: its parser directives, the
//! ARGs before the first FROM, and its stages of steps, each with the line
//! it starts on and its text as written.
//!
//! The syntax is parse-dockerfile's (instructions in any case, flags,
//! exec and shell forms, heredocs, directives, line continuations). What
//! the arguments mean is the builder's: arguments that docker expands
//! variables in are kept as written (continuations joined, quotes kept),
//! for `expand` to substitute and split once the stage's variables are
//! known.

use parse_dockerfile as pd;

/// Where a step is and what it says, for errors and `STEP n/m:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of its keyword.
    pub line: usize,
    /// The instruction as written, continuations joined and comment lines
    /// inside them dropped (what `STEP n/m:` prints).
    pub text: String,
    pub instruction: Instruction,
}

/// `--name=value` (or `--name`) of an instruction, value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// RUN, CMD, ENTRYPOINT and HEALTHCHECK's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The JSON form: run as is, no shell, no variables.
    Exec(Vec<String>),
    /// The shell form: given to the stage's SHELL.
    Shell(String),
}

/// A here-document (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HereDoc {
    /// Its delimiter (`EOF`): a COPY source's file name, and what ends
    /// it when a RUN's shell reads it.
    pub name: String,
    pub body: String,
    /// Variables are substituted in it (its delimiter was not quoted).
    pub expand: bool,
}

/// A COPY or ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// As written: expanded and split by the builder.
    Path(String),
    HereDoc(HereDoc),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run {
        flags: Vec<Flag>,
        command: Command,
        here_docs: Vec<HereDoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    /// ADD and COPY: `add` says which.
    Copy {
        add: bool,
        flags: Vec<Flag>,
        sources: Vec<Source>,
        dest: String,
    },
    /// The `KEY=VALUE ...` text of ENV, LABEL and ARG, as written.
    Env(String),
    Label(String),
    Arg(String),
    /// As written (ports, and volumes in the shell form).
    Expose(String),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Stopsignal(String),
    Shell(Vec<String>),
    /// `None`: HEALTHCHECK NONE.
    Healthcheck {
        flags: Vec<Flag>,
        command: Option<Command>,
    },
    /// The trigger's text, stored in the image's config as written.
    Onbuild(String),
    Maintainer(String),
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Copy { add: true, .. } => "ADD",
            Instruction::Copy { add: false, .. } => "COPY",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg(_) => "ARG",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Shell(_) => "SHELL",
            Instruction::Healthcheck { .. } => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// A FROM and the steps up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 1-based line of its FROM.
    pub line: usize,
    /// The FROM as written.
    pub text: String,
    /// The base as written (`scratch`, an image, an earlier stage's name,
    /// or with `$ARG`s to expand with the global ARGs).
    pub base: String,
    /// `AS name`, lower-cased as docker does.
    pub name: Option<String>,
    /// `--platform=...` as written.
    pub platform: Option<String>,
    pub steps: Vec<Step>,
}

/// The file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containerfile {
    /// `# escape=` (default `\`).
    pub escape: char,
    /// `# syntax=`, which berth reads but does not follow (its own
    /// frontend is the only one).
    pub syntax: Option<String>,
    /// The ARGs before the first FROM: what FROM lines may use.
    pub global_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

/// A file that does not parse: its line, and docker's words where the
/// parser has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl Containerfile {
    pub fn parse(text: &str) -> Result<Containerfile, ParseError> {
        // RUN's here-documents are found first (the parser knows only one,
        // first in the command); it gets the text without them.
        let (blanked, run_docs) = crate::heredoc::blank_run_docs(text, escape_directive(text));
        let parsed = pd::parse(&blanked).map_err(|e| {
            // Its message ends with "at line L column C": the line is ours.
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            ParseError { line: e.line(), message }
        })?;
        let escape = parsed.parser_directives.escape.as_ref().map_or('\\', |d| d.value.value);
        let syntax = parsed.parser_directives.syntax.as_ref().map(|d| d.value.value.to_string());
        let src = Text { text, escape, run_docs: &run_docs };
        let starts: Vec<usize> = parsed.instructions.iter().map(|i| src.keyword_start(i)).collect();
        let mut out = Containerfile { escape, syntax, global_args: Vec::new(), stages: Vec::new() };
        for (n, instruction) in parsed.instructions.iter().enumerate() {
            let start = starts[n];
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            let line = line_of(text, start);
            let written = src.written(start, end);
            if let pd::Instruction::From(from) = instruction {
                out.stages.push(Stage {
                    line,
                    text: written,
                    base: from.image.value.to_string(),
                    name: from.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                    platform: from
                        .options
                        .iter()
                        .find(|f| f.name.value == "platform")
                        .and_then(|f| f.value.as_ref().map(|v| v.value.to_string())),
                    steps: Vec::new(),
                });
                for f in &from.options {
                    if f.name.value != "platform" {
                        return Err(ParseError { line, message: format!("unknown flag: --{}", f.name.value) });
                    }
                }
                continue;
            }
            let step = Step { line, text: written, instruction: src.instruction(instruction, line)? };
            match out.stages.last_mut() {
                Some(stage) => stage.steps.push(step),
                None => out.global_args.push(step),
            }
        }
        Ok(out)
    }

    /// The stage named `name` (case-insensitive, as docker), or the one at
    /// index `name`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&lower))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < self.stages.len()))
    }
}

/// The `# escape=` parser directive's character (`\\` without): read
/// ahead of the parser, which the here-document pass runs before.
fn escape_directive(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else { break };
        let Some((key, value)) = directive.split_once('=') else { break };
        if key.trim().eq_ignore_ascii_case("escape") {
            return value.trim().chars().next().unwrap_or('\\');
        }
    }
    '\\'
}

fn unsupported(line: usize) -> ParseError {
    ParseError { line, message: "an instruction of a form berth does not know".into() }
}

/// 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The file's text, read through its escape character.
struct Text<'t> {
    text: &'t str,
    escape: char,
    /// The RUNs with here-documents (the parser was given them blanked).
    run_docs: &'t [crate::heredoc::RunDocs],
}

impl Text<'_> {
    fn keyword_start(&self, i: &pd::Instruction<'_>) -> usize {
        use pd::Instruction as I;
        let span = match i {
            I::Add(x) => &x.add.span,
            I::Arg(x) => &x.arg.span,
            I::Cmd(x) => &x.cmd.span,
            I::Copy(x) => &x.copy.span,
            I::Entrypoint(x) => &x.entrypoint.span,
            I::Env(x) => &x.env.span,
            I::Expose(x) => &x.expose.span,
            I::From(x) => &x.from.span,
            I::Healthcheck(x) => &x.healthcheck.span,
            I::Label(x) => &x.label.span,
            I::Maintainer(x) => &x.maintainer.span,
            I::Onbuild(x) => &x.onbuild.span,
            I::Run(x) => &x.run.span,
            I::Shell(x) => &x.shell.span,
            I::Stopsignal(x) => &x.stopsignal.span,
            I::User(x) => &x.user.span,
            I::Volume(x) => &x.volume.span,
            I::Workdir(x) => &x.workdir.span,
            _ => return 0,
        };
        span.start
    }

    /// `text[start..end]` as one line: the instruction up to the next one,
    /// trailing blank and comment lines dropped, continuations joined.
    fn written(&self, start: usize, end: usize) -> String {
        let mut lines: Vec<&str> = self.text[start..end].lines().collect();
        while lines.last().is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            lines.pop();
        }
        self.join(&lines.join("\n"))
    }

    /// Docker's line continuations: an escape character ending a line (it
    /// and the newline go; trailing blanks after it are allowed), and
    /// comment lines inside the continued instruction dropped. A heredoc's
    /// body is not continued (the parser gives it apart).
    fn join(&self, raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut lines = raw.split('\n').peekable();
        let mut first = true;
        while let Some(line) = lines.next() {
            if !first && line.trim_start().starts_with('#') {
                continue;
            }
            first = false;
            let trimmed = line.trim_end_matches([' ', '\t', '\r']);
            match trimmed.strip_suffix(self.escape) {
                // An escaped escape (`\\`) at the end does not continue.
                Some(rest) if lines.peek().is_some() && !rest.ends_with(self.escape) => out.push_str(rest),
                _ => {
                    out.push_str(line.trim_end_matches('\r'));
                    if lines.peek().is_some() {
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    fn flags(&self, options: &[pd::Flag<'_>]) -> Vec<Flag> {
        options
            .iter()
            .map(|f| Flag { name: f.name.value.to_string(), value: f.value.as_ref().map(|v| v.value.to_string()) })
            .collect()
    }

    fn command(&self, c: &pd::Command<'_>, line: usize) -> Result<Command, ParseError> {
        Ok(match c {
            pd::Command::Exec(args) => Command::Exec(args.value.iter().map(|a| a.value.to_string()).collect()),
            pd::Command::Shell(s) => Command::Shell(self.join(s.value)),
            // (The parser's enums may grow.)
            _ => return Err(unsupported(line)),
        })
    }

    /// A COPY/ADD path: in the JSON form its decoded value (its span is
    /// inside the quotes), in the shell form its text as written.
    fn word(&self, w: &pd::UnescapedString<'_>) -> String {
        if self.text[..w.span.start].ends_with('"') {
            w.value.to_string()
        } else {
            self.raw(&w.span)
        }
    }

    /// The text of `span`, joined.
    fn raw(&self, span: &pd::Span) -> String {
        self.join(&self.text[span.clone()])
    }

    fn instruction(&self, i: &pd::Instruction<'_>, line: usize) -> Result<Instruction, ParseError> {
        use pd::Instruction as I;
        let here_doc = |h: &pd::HereDoc<'_>| {
            // The parser gives the body; the delimiter is the line after it.
            let after = self.text.get(h.span.end..).unwrap_or("");
            let name = after.lines().next().unwrap_or("").trim().to_string();
            HereDoc { name, body: h.value.to_string(), expand: h.expand }
        };
        let sources = |src: &[pd::Source<'_>]| {
            src.iter()
                .map(|s| match s {
                    pd::Source::Path(p) => Ok(Source::Path(self.word(p))),
                    pd::Source::HereDoc(h) => Ok(Source::HereDoc(here_doc(h))),
                    _ => Err(unsupported(line)),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match i {
            I::Run(r) if self.run_docs.iter().any(|d| d.line == line) => {
                // The shell gets the script as written: the command with
                // its `<<EOF` markers, then each document and its
                // delimiter.
                let docs = self.run_docs.iter().find(|d| d.line == line).map(|d| (d.docs.clone(), d.end));
                let (docs, end) = docs.unwrap_or_default();
                let start = r.options.last().map_or(r.run.span.end, |f| f.span().end);
                let script = self.text.get(start..end).unwrap_or("").trim().to_string();
                Instruction::Run { flags: self.flags(&r.options), command: Command::Shell(script), here_docs: docs }
            }
            I::Run(r) => Instruction::Run {
                flags: self.flags(&r.options),
                command: self.command(&r.arguments, line)?,
                here_docs: Vec::new(),
            },
            I::Cmd(c) => Instruction::Cmd(self.command(&c.arguments, line)?),
            I::Entrypoint(e) => Instruction::Entrypoint(self.command(&e.arguments, line)?),
            I::Copy(c) => Instruction::Copy {
                add: false,
                flags: self.flags(&c.options),
                sources: sources(&c.src)?,
                dest: self.word(&c.dest),
            },
            I::Add(a) => Instruction::Copy {
                add: true,
                flags: self.flags(&a.options),
                sources: sources(&a.src)?,
                dest: self.word(&a.dest),
            },
            I::Env(e) => Instruction::Env(self.raw(&e.arguments.span)),
            I::Label(l) => Instruction::Label(self.raw(&l.arguments.span)),
            I::Arg(a) => Instruction::Arg(self.raw(&a.arguments.span)),
            I::Expose(e) => {
                let (first, last) = (e.arguments.first(), e.arguments.last());
                match (first, last) {
                    (Some(f), Some(l)) => Instruction::Expose(self.raw(&(f.span.start..l.span.end))),
                    _ => Instruction::Expose(String::new()),
                }
            }
            I::Volume(v) => Instruction::Volume(match &v.arguments {
                pd::JsonOrStringArray::Json(j) => j.value.iter().map(|s| s.value.to_string()).collect(),
                pd::JsonOrStringArray::String(words) => words.iter().map(|s| self.raw(&s.span)).collect(),
            }),
            I::User(u) => Instruction::User(self.raw(&u.arguments.span)),
            I::Workdir(w) => Instruction::Workdir(self.raw(&w.arguments.span)),
            I::Stopsignal(s) => Instruction::Stopsignal(self.raw(&s.arguments.span)),
            I::Shell(s) => Instruction::Shell(s.arguments.iter().map(|a| a.value.to_string()).collect()),
            I::Healthcheck(h) => Instruction::Healthcheck {
                flags: self.flags(&h.options),
                command: match &h.arguments {
                    pd::HealthcheckArguments::Cmd { arguments, .. } => Some(self.command(arguments, line)?),
                    _ => None,
                },
            },
            I::Onbuild(o) => {
                let start = self.keyword_start(&o.instruction);
                let end = self.text[start..].find('\n').map_or(self.text.len(), |n| start + n);
                // The trigger runs in the child's build: it must be a step
                // of a stage there (docker's refusals).
                match o.instruction.as_ref() {
                    I::From(_) | I::Maintainer(_) | I::Onbuild(_) => {
                        return Err(ParseError {
                            line,
                            message: "ONBUILD instruction cannot be used with FROM, MAINTAINER or ONBUILD".into(),
                        })
                    }
                    _ => Instruction::Onbuild(self.written(start, end.max(start))),
                }
            }
            I::Maintainer(m) => Instruction::Maintainer(self.raw(&m.name.span)),
            I::From(_) => return Err(ParseError { line, message: "FROM is not a step".into() }),
            _ => return Err(unsupported(line)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<Step> {
        Containerfile::parse(text).unwrap().stages.remove(0).steps
    }

    #[test]
    fn continuations_join_and_comments_inside_them_go() {
        let s = steps("FROM busybox\nRUN echo a \\\n  b && \\\n # a comment\n  echo c\n\n# after\nCMD x\n");
        assert_eq!(
            s[0].instruction,
            Instruction::Run {
                flags: vec![],
                command: Command::Shell("echo a   b &&   echo c".into()),
                here_docs: vec![]
            }
        );
        assert_eq!(s[0].text, "RUN echo a   b &&   echo c");
        assert_eq!((s[0].line, s[1].line), (2, 8));
        assert_eq!(s[1].text, "CMD x");
    }

    #[test]
    fn the_escape_directive_changes_the_continuation() {
        let f = Containerfile::parse("# escape=`\nFROM busybox\nRUN echo C:\\dir `\n  done\n").unwrap();
        assert_eq!(f.escape, '`');
        assert_eq!(
            f.stages[0].steps[0].instruction,
            Instruction::Run {
                flags: vec![],
                command: Command::Shell("echo C:\\dir   done".into()),
                here_docs: vec![]
            }
        );
    }

    #[test]
    fn exec_forms_heredocs_and_flags() {
        let s = steps(
            "FROM busybox\nrun [\"echo\", \"a b\"]\nRUN --mount=type=cache,target=/c <<EOF\necho hi\nEOF\nCOPY --chown=1:2 a b /dst/\nCOPY [\"a b\", \"/d\"]\n",
        );
        assert_eq!(
            s[0].instruction,
            Instruction::Run {
                flags: vec![],
                command: Command::Exec(vec!["echo".into(), "a b".into()]),
                here_docs: vec![]
            }
        );
        let Instruction::Run { flags, here_docs, command } = &s[1].instruction else { panic!("{:?}", s[1]) };
        assert_eq!(command, &Command::Shell("<<EOF\necho hi\nEOF".into()));
        assert_eq!(flags, &[Flag { name: "mount".into(), value: Some("type=cache,target=/c".into()) }]);
        assert_eq!(here_docs, &[HereDoc { name: "EOF".into(), body: "echo hi\n".into(), expand: true }]);
        let Instruction::Copy { add: false, flags, sources, dest } = &s[2].instruction else { panic!() };
        assert_eq!(flags[0].name, "chown");
        assert_eq!(sources, &[Source::Path("a".into()), Source::Path("b".into())]);
        assert_eq!(dest, "/dst/");
        // (Whitespace in a path needs the JSON form, as docker says.)
        let Instruction::Copy { sources, dest, .. } = &s[3].instruction else { panic!() };
        assert_eq!((sources.as_slice(), dest.as_str()), (&[Source::Path("a b".into())][..], "/d"));
    }

    #[test]
    fn stages_global_args_and_names() {
        let f = Containerfile::parse(
            "ARG BASE=busybox\nFROM $BASE AS Build\nRUN true\nFROM --platform=linux/amd64 build\nCOPY --from=build /a /b\n",
        )
        .unwrap();
        assert_eq!(f.global_args.len(), 1);
        assert_eq!(f.global_args[0].instruction, Instruction::Arg("BASE=busybox".into()));
        assert_eq!(f.stages[0].base, "$BASE");
        assert_eq!(f.stages[0].name.as_deref(), Some("build"));
        assert_eq!(f.stages[1].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(f.stage_index("BUILD"), Some(0));
        assert_eq!(f.stage_index("1"), Some(1));
        assert_eq!(f.stage_index("2"), None);
    }

    #[test]
    fn key_value_instructions_keep_their_text() {
        let s = steps("FROM busybox\nENV A=1 B=\"two words\" \\\n    C=$A\nLABEL \"com.x\"=y\nEXPOSE 80/tcp 8080\nVOLUME /a /b\nVOLUME [\"/c\"]\nUSER ${U:-1000}\nWORKDIR /w\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/ash\", \"-c\"]\nONBUILD RUN echo x\nHEALTHCHECK --interval=5s CMD true\nHEALTHCHECK NONE\n");
        let want = [
            Instruction::Env("A=1 B=\"two words\"     C=$A".into()),
            Instruction::Label("\"com.x\"=y".into()),
            Instruction::Expose("80/tcp 8080".into()),
            Instruction::Volume(vec!["/a".into(), "/b".into()]),
            Instruction::Volume(vec!["/c".into()]),
            Instruction::User("${U:-1000}".into()),
            Instruction::Workdir("/w".into()),
            Instruction::Stopsignal("SIGTERM".into()),
            Instruction::Shell(vec!["/bin/ash".into(), "-c".into()]),
            Instruction::Onbuild("RUN echo x".into()),
            Instruction::Healthcheck {
                flags: vec![Flag { name: "interval".into(), value: Some("5s".into()) }],
                command: Some(Command::Shell("true".into())),
            },
            Instruction::Healthcheck { flags: vec![], command: None },
        ];
        let got: Vec<Instruction> = s.into_iter().map(|s| s.instruction).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Containerfile::parse("FROM busybox\n\nBOGUS x\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown instruction"), "{e}");
        assert_eq!(e.to_string().lines().count(), 1);
        let e = Containerfile::parse("RUN true\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        let e = Containerfile::parse("FROM a\nONBUILD FROM b\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Containerfile::parse("FROM --bogus=1 a\n").unwrap_err();
        assert!(e.message.contains("unknown flag: --bogus"), "{e}");
        let e = Containerfile::parse("FROM a AS x\nFROM b AS x\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
