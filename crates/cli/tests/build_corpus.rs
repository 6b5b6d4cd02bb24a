//! The build corpus: every directory of `crates/build/tests/corpus/` is a
//! Containerfile (or Dockerfile), the `context/` it is built in, and
//! `expect.toml`, what the image built must have. Each case is built with
//! berth and checked (config fields, history, files of the exported root
//! filesystem); where `compare_with_buildah`, built with buildah too and
//! compared (config fields, history, the exported file trees). Error cases
//! give the exit code and the words of the one-line error; `pending` cases
//! (features berth lacks yet) are skipped with a note.
//!
//! `expect.toml` (all optional but `description`):
//!
//! ```toml
//! description = "what the case is about"
//! compare_with_buildah = true
//! known_difference = "what buildah does otherwise, and where"
//! skip_buildah = ["created_by", "Cmd", "Files"]  # what not to compare with buildah
//! pending = "why berth cannot build it yet"
//! known_failures = ["file /x: owner"]  # berth bugs: problems starting so
//!                                      # are reported, not failed; one that
//!                                      # no longer shows up fails the case
//! build_args = { NAME = "value" }     # --build-arg NAME=value
//! args = ["--target", "x"]            # more flags for both builders
//!                                     # ({context}: the context directory)
//! absent_files = ["/path"]            # not in the exported tree
//!
//! [config]              # exact values of .Config fields (docker format)
//! Cmd = ["sh"]
//! absent = ["Entrypoint"]  # fields that must be missing (or null)
//!
//! [history]             # the build's own entries, the last ones
//! created_by = ["/bin/sh -c #(nop) COPY file:<hex> in / "]  # <hex>: a digest
//! empty_layer = [false]
//!
//! [[files]]             # in the exported root filesystem
//! path = "/a"
//! type = "file"         # file, dir, symlink
//! mode = "0644"
//! owner = "0:0"
//! content = "A\n"
//! target = "b"          # a symlink's
//!
//! [error]               # the build must fail
//! code = 125
//! message = "Containerfile:3: unknown instruction"  # in the one Error: line
//! ```
//!
//! `CORPUS_CASE=name` runs that case alone (in whatever group has it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::podman::Podman;
use common::*;
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/tests/corpus")
}

/// The keys an expect.toml may have at its top level.
const TOP_KEYS: &[&str] = &[
    "description",
    "compare_with_buildah",
    "known_difference",
    "skip_buildah",
    "pending",
    "known_failures",
    "build_args",
    "args",
    "absent_files",
    "config",
    "history",
    "files",
    "error",
];

/// The config fields compared with buildah's.
const COMPARED_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Labels",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// A case of the corpus.
struct Case {
    name: String,
    dir: PathBuf,
    expect: Value,
}

impl Case {
    fn load(name: &str) -> Case {
        let dir = corpus_dir().join(name);
        let text = std::fs::read_to_string(dir.join("expect.toml"))
            .unwrap_or_else(|e| panic!("{name}: reading expect.toml: {e}"));
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
        let expect = serde_json::to_value(table).unwrap();
        assert!(expect["description"].is_string(), "{name}/expect.toml: no description");
        // A misspelt key would check nothing.
        let known = |v: &Value, keys: &[&str], what: &str| {
            for k in v.as_object().into_iter().flat_map(|o| o.keys()) {
                assert!(keys.contains(&k.as_str()), "{name}/expect.toml: unknown key {k:?} in {what}");
            }
        };
        known(&expect, TOP_KEYS, "the top level");
        known(&expect["history"], &["created_by", "empty_layer"], "[history]");
        known(&expect["error"], &["code", "message"], "[error]");
        for f in expect["files"].as_array().into_iter().flatten() {
            known(f, &["path", "type", "mode", "owner", "content", "target"], "[[files]]");
        }
        Case { name: name.to_string(), dir, expect }
    }

    fn tag(&self) -> String {
        format!("localhost/corpus-{}", self.name.replace('_', "-"))
    }

    fn strings(&self, key: &str) -> Vec<String> {
        self.expect[key]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    /// The build flags both builders get: `args` (`{context}` in them is
    /// the context directory `ctx`) and `build_args`.
    fn flags(&self, ctx: &Path) -> Vec<String> {
        let mut flags: Vec<String> =
            self.strings("args").iter().map(|a| a.replace("{context}", &ctx.display().to_string())).collect();
        if let Some(args) = self.expect["build_args"].as_object() {
            for (k, v) in args {
                flags.push("--build-arg".into());
                flags.push(format!("{k}={}", v.as_str().unwrap()));
            }
        }
        flags
    }

    /// The case copied to a context directory of `env`'s: `context/`'s
    /// files (modes made 0644, or 0755 where executable, directories 0755:
    /// a checkout's umask is not the case's) and the Containerfile. A file
    /// `outside.txt` is beside the context, for cases that reach out.
    fn context(&self, env: &Env) -> PathBuf {
        let parent = env.path(&format!("cases/{}", self.name));
        let ctx = parent.join("context");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(parent.join("outside.txt"), "outside the context\n").unwrap();
        if self.dir.join("context").is_dir() {
            copy_tree(&self.dir.join("context"), &ctx);
        }
        for file in ["Containerfile", "Dockerfile"] {
            if self.dir.join(file).exists() {
                std::fs::copy(self.dir.join(file), ctx.join(file)).unwrap();
                set_mode(&ctx.join(file), 0o644);
            }
        }
        ctx
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    set_mode(to, 0o755);
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&src, &dst);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
            let exec = e.metadata().unwrap().permissions().mode() & 0o111 != 0;
            set_mode(&dst, if exec { 0o755 } else { 0o644 });
        }
    }
}

/// Every case's name, sorted.
fn all_cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One entry of an exported root filesystem.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    owner: String,
    size: u64,
    link: String,
    content: Option<Vec<u8>>,
}

impl Entry {
    /// What a comparison of two builders' trees looks at (times and
    /// contents aside: sizes stand for them).
    fn describe(&self) -> String {
        format!("{} {:o} {} {} {}", self.kind, self.mode, self.owner, self.size, self.link)
    }
}

/// An export's entries by absolute path.
fn tree(export: &[u8]) -> BTreeMap<String, Entry> {
    use std::io::Read as _;
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(export);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let t = h.entry_type();
        let kind = if t.is_dir() {
            "dir"
        } else if t.is_symlink() {
            "symlink"
        } else if t.is_hard_link() {
            "hardlink"
        } else if t.is_file() {
            "file"
        } else {
            "other"
        };
        let size = if t.is_file() { h.size().unwrap() } else { 0 };
        let content = if t.is_file() && size <= 1 << 16 {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            Some(v)
        } else {
            None
        };
        let owner = format!("{}:{}", h.uid().unwrap(), h.gid().unwrap());
        let entry = Entry { kind, mode: h.mode().unwrap() & 0o7777, owner, size, link, content };
        out.insert(format!("/{}", path.trim_start_matches('/')), entry);
    }
    out
}

/// What each runtime leaves as mount points of RUN's and the exporting
/// container (empty files and directories): not the image's content.
fn runtime_made(p: &str) -> bool {
    matches!(
        p,
        "/etc/hosts" | "/etc/hostname" | "/etc/resolv.conf" | "/run" | "/run/.containerenv" | "/proc" | "/sys" | "/dev"
    ) || p.starts_with("/dev/")
}

/// `Output` as a result: stdout, or the failure's words.
fn succeeded(what: &str, o: &Output) -> Result<String, String> {
    if o.status.success() {
        Ok(stdout(o))
    } else {
        Err(format!("{what} failed ({:?}):\n{}{}", o.status.code(), stdout(o), stderr(o)))
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or(Value::Null)
}

/// A missing field, null, and an empty string, list or map are the same
/// absence.
fn is_absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Whether `got` is `want` where each `<hex>` of `want` stands for a run of
/// hex digits (a digest).
fn matches_pattern(want: &str, got: &str) -> bool {
    let mut parts = want.split("<hex>");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = got.strip_prefix(first) else { return false };
    for part in parts {
        let n = rest.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len());
        if n < 12 {
            return false;
        }
        let Some(r) = rest[n..].strip_prefix(part) else { return false };
        rest = r;
    }
    rest.is_empty()
}

/// Every run of 12 or more hex digits as `<hex>`.
fn mask_hex(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().map(Some).chain([None]) {
        if let Some(c) = c.filter(char::is_ascii_hexdigit) {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 12 { "<hex>" } else { &run });
        run.clear();
        out.extend(c);
    }
    out
}

/// The problems of berth's image of `case` against its expectations.
fn check_expectations(env: &Env, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let tag = case.tag();
    let e = &case.expect;
    let config = json_of(&env.ok(&["image", "inspect", "--format", "{{json .Config}}", &tag]));
    if !config.is_object() {
        return vec![format!("no config: {config}")];
    }
    if let Some(want) = e["config"].as_object() {
        for (field, value) in want {
            if field == "absent" {
                for f in value.as_array().unwrap() {
                    let f = f.as_str().unwrap();
                    if !is_absent(config.get(f)) {
                        problems.push(format!("config {f}: want none, got {}", config[f]));
                    }
                }
            } else if &config[field] != value {
                problems.push(format!("config {field}: want {value}, got {}", config[field]));
            }
        }
    }
    if let Some(want) = e["history"].as_object() {
        let history: Vec<Value> =
            serde_json::from_value(json_of(&env.ok(&["image", "inspect", "--format", "{{json .History}}", &tag])))
                .unwrap_or_default();
        if let Some(created) = want.get("created_by").and_then(Value::as_array) {
            let n = created.len();
            if history.len() < n {
                problems.push(format!("history: want at least {n} entries, got {history:?}"));
            } else {
                for (w, h) in created.iter().zip(&history[history.len() - n..]) {
                    let (w, got) = (w.as_str().unwrap(), h["created_by"].as_str().unwrap_or_default());
                    if !matches_pattern(w, got) {
                        problems.push(format!("history created_by: want {w:?}, got {got:?}"));
                    }
                }
            }
        }
        if let Some(empty) = want.get("empty_layer").and_then(Value::as_array) {
            let n = empty.len();
            let got: Vec<bool> =
                history.iter().rev().take(n).rev().map(|h| h["empty_layer"].as_bool().unwrap_or(false)).collect();
            let want: Vec<bool> = empty.iter().map(|v| v.as_bool().unwrap()).collect();
            if got != want {
                problems.push(format!("history empty_layer: want {want:?}, got {got:?}"));
            }
        }
    }
    let wants_files = e["files"].is_array() || e["absent_files"].is_array();
    if wants_files {
        match export(|a| env.run(a), &tag) {
            Err(err) => problems.push(err),
            Ok(tree) => problems.extend(check_files(case, &tree)),
        }
    }
    problems
}

fn check_files(case: &Case, tree: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut problems = Vec::new();
    for f in case.expect["files"].as_array().into_iter().flatten() {
        let path = f["path"].as_str().unwrap();
        let Some(got) = tree.get(path) else {
            problems.push(format!("file {path}: not in the image"));
            continue;
        };
        let mut want = |what: &str, w: Option<String>, g: String| {
            if let Some(w) = w {
                if w != g {
                    problems.push(format!("file {path}: {what} want {w:?}, got {g:?}"));
                }
            }
        };
        let s = |k: &str| f[k].as_str().map(String::from);
        want("type", s("type"), got.kind.to_string());
        want(
            "mode",
            s("mode").map(|m| format!("{:o}", u32::from_str_radix(&m, 8).unwrap())),
            format!("{:o}", got.mode),
        );
        want("owner", s("owner"), got.owner.clone());
        want("target", s("target"), got.link.clone());
        let content = got.content.as_ref().map(|c| String::from_utf8_lossy(c).into_owned()).unwrap_or_default();
        want("content", s("content"), content);
    }
    for path in case.strings("absent_files") {
        if tree.contains_key(&path) {
            problems.push(format!("file {path}: want none, got {:?}", tree[&path]));
        }
    }
    problems
}

/// The root filesystem of a container of `image` (created, never
/// started), by `run` (berth's or podman's command line).
fn export(run: impl Fn(&[&str]) -> Output, image: &str) -> Result<BTreeMap<String, Entry>, String> {
    let id = succeeded("create", &run(&["create", image, "true"]))?;
    let out = run(&["export", id.trim()]);
    let _ = run(&["rm", "-f", id.trim()]);
    succeeded("export", &out)?;
    Ok(tree(&out.stdout))
}

/// What a case's berth build and buildah build disagree on.
fn compare_with_buildah(env: &Env, podman: &Podman, case: &Case, ctx: &Path) -> Vec<String> {
    let tag = case.tag();
    let skip = case.strings("skip_buildah");
    let mut problems = Vec::new();
    let mut bud: Vec<String> = ["bud", "--network", "none", "--layers", "--format", "docker", "-t", &tag]
        .iter()
        .map(|s| s.to_string())
        .collect();
    bud.extend(case.flags(ctx));
    bud.push(ctx.display().to_string());
    let bud: Vec<&str> = bud.iter().map(String::as_str).collect();
    if let Err(e) = succeeded("buildah bud", &podman.buildah(&bud).output().unwrap()) {
        return vec![e];
    }
    // buildah's own view of the image: its Docker config and history as
    // they are (podman's inspect shows the OCI fields, a healthcheck apart).
    let o = podman.buildah(&["inspect", "--type", "image", &tag]).output().unwrap();
    let theirs = match succeeded("buildah inspect", &o) {
        Ok(text) => json_of(&text)["Docker"].clone(),
        Err(e) => return vec![e],
    };
    let ours = json_of(&env.ok(&["image", "inspect", "--format", "{{json .Config}}", &tag]));
    if !ours.is_object() || !theirs["config"].is_object() {
        return vec![format!("no config to compare: berth {ours}, buildah {theirs}")];
    }
    for field in COMPARED_FIELDS.iter().filter(|f| !skip.iter().any(|s| s == *f)) {
        let mut t = theirs["config"].get(*field).cloned().unwrap_or(Value::Null);
        if *field == "Labels" {
            if let Some(l) = t.as_object_mut() {
                l.remove("io.buildah.version");
            }
        }
        let o = ours.get(*field).cloned().unwrap_or(Value::Null);
        let same = o == t || is_absent(Some(&o)) && is_absent(Some(&t));
        if !same {
            problems.push(format!("buildah {field}: berth {o}, buildah {t}"));
        }
    }
    // History: as many entries, with a layer at the same places; and the
    // same words (digests masked) unless the case says they differ.
    let ours_h: Vec<Value> =
        serde_json::from_value(json_of(&env.ok(&["image", "inspect", "--format", "{{json .History}}", &tag])))
            .unwrap_or_default();
    let theirs_h: Vec<Value> = serde_json::from_value(theirs["history"].clone()).unwrap_or_default();
    let layers =
        |h: &[Value]| -> Vec<bool> { h.iter().map(|e| !e["empty_layer"].as_bool().unwrap_or(false)).collect() };
    let words = |h: &[Value]| -> Vec<String> {
        h.iter().map(|e| mask_hex(e["created_by"].as_str().unwrap_or_default())).collect()
    };
    if ours_h.is_empty() || layers(&ours_h) != layers(&theirs_h) {
        problems.push(format!(
            "buildah history layers (true: a layer): berth {:?}, buildah {:?}",
            layers(&ours_h),
            layers(&theirs_h)
        ));
    }
    if !skip.iter().any(|s| s == "created_by") && words(&ours_h) != words(&theirs_h) {
        let (o, t) = (words(&ours_h), words(&theirs_h));
        for i in 0..o.len().max(t.len()) {
            if o.get(i) != t.get(i) {
                problems.push(format!("buildah history[{i}] created_by: berth {:?}, buildah {:?}", o.get(i), t.get(i)));
            }
        }
    }
    if !skip.iter().any(|s| s == "Files") {
        let ours = export(|a| env.run(a), &tag);
        let theirs = export(|a| podman.cmd(a).output().unwrap(), &tag);
        match (ours, theirs) {
            (Ok(o), Ok(t)) => {
                let view = |t: &BTreeMap<String, Entry>| -> BTreeMap<String, String> {
                    t.iter().filter(|(p, _)| !runtime_made(p)).map(|(p, e)| (p.clone(), e.describe())).collect()
                };
                let (o, t) = (view(&o), view(&t));
                for (p, d) in &o {
                    if t.get(p) != Some(d) {
                        problems.push(format!("tree {p}: berth {d}, buildah {:?}", t.get(p)));
                    }
                }
                for (p, d) in &t {
                    if !o.contains_key(p) {
                        problems.push(format!("tree {p}: berth none, buildah {d}"));
                    }
                }
            }
            (o, t) => problems.push(format!("exports: berth {:?}, buildah {:?}", o.err(), t.err())),
        }
    }
    problems
}

/// Build `case` with berth in `env` (docker format: HEALTHCHECK, ONBUILD
/// and SHELL are kept, as buildah keeps them only there).
fn berth_build(env: &Env, case: &Case, ctx: &Path, extra: &[&str]) -> Output {
    let tag = case.tag();
    let flags = case.flags(ctx);
    let mut args = vec!["build", "--format", "docker", "-t", &tag];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    env.run(&args)
}

/// Run `case`: its problems, or none. A pending case is skipped (`None`).
fn run_case(env: &Env, podman: &Podman, case: &Case) -> Option<Vec<String>> {
    if let Some(why) = case.expect["pending"].as_str() {
        eprintln!("corpus {}: pending ({why}): skipped", case.name);
        return None;
    }
    let start = std::time::Instant::now();
    let ctx = case.context(env);
    let o = berth_build(env, case, &ctx, &[]);
    let mut problems = Vec::new();
    if let Some(err) = case.expect.get("error").filter(|e| e.is_object()) {
        let code = err["code"].as_i64().unwrap() as i32;
        let e = stderr(&o);
        if o.status.code() != Some(code) {
            problems.push(format!("exit code: want {code}, got {:?}: {e}", o.status.code()));
        }
        let lines: Vec<&str> = e.trim_end().lines().collect();
        if lines.len() != 1 || !lines[0].starts_with("Error: ") {
            problems.push(format!("want one Error: line, got {e:?}"));
        }
        let m = err["message"].as_str().unwrap();
        if !e.contains(m) {
            problems.push(format!("error: want {m:?} in {e:?}"));
        }
        if m_file_line(m) && !e.contains(&ctx.display().to_string()) {
            problems.push(format!("error: want the Containerfile's path in {e:?}"));
        }
        if env.run(&["image", "exists", &case.tag()]).status.code() != Some(1) {
            problems.push("a failed build tagged its image".into());
        }
    } else {
        match succeeded("berth build", &o) {
            Err(e) => problems.push(e),
            Ok(_) => {
                problems.extend(check_expectations(env, case));
                if case.expect["compare_with_buildah"].as_bool().unwrap_or(false) {
                    problems.extend(compare_with_buildah(env, podman, case, &ctx));
                }
                if let Some(k) = case.expect["known_difference"].as_str() {
                    eprintln!("corpus {}: known difference: {k}", case.name);
                }
            }
        }
    }
    let problems = known_failures_apart(case, problems);
    eprintln!("corpus {}: {} problem(s), {:.1}s", case.name, problems.len(), start.elapsed().as_secs_f32());
    Some(problems)
}

/// `problems` without those the case lists as `known_failures` (printed:
/// they are berth's bugs, not yet fixed), and a problem for each known
/// failure that no longer shows (the bug is fixed: the case should say so).
fn known_failures_apart(case: &Case, problems: Vec<String>) -> Vec<String> {
    let known = case.strings("known_failures");
    let (expected, mut rest): (Vec<String>, Vec<String>) =
        problems.into_iter().partition(|p| known.iter().any(|k| p.starts_with(k.as_str())));
    for p in &expected {
        eprintln!("corpus {}: known failure: {p}", case.name);
    }
    for k in &known {
        if !expected.iter().any(|p| p.starts_with(k.as_str())) {
            rest.push(format!("known failure {k:?} no longer fails: take it out of known_failures"));
        }
    }
    rest
}

/// Whether an expected message names the file (`Containerfile:N:`).
fn m_file_line(m: &str) -> bool {
    m.starts_with("Containerfile:") || m.starts_with("Dockerfile:")
}

/// Run the cases of `names` in one store (beside a podman whose buildah
/// builds the same), each reported by name.
fn run_group(names: &[&str]) {
    let only = std::env::var("CORPUS_CASE").ok();
    let (env, _) = Env::with_busybox();
    let podman = Podman::beside(&env);
    let mut failures = Vec::new();
    let mut ran = 0;
    for name in names.iter().filter(|n| only.as_deref().is_none_or(|o| o == **n)) {
        let case = Case::load(name);
        if let Some(problems) = run_case(&env, &podman, &case) {
            ran += 1;
            if !problems.is_empty() {
                failures.push(format!("{name} ({}):\n  {}", case.expect["description"], problems.join("\n  ")));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {ran} cases failed:\n{}", failures.len(), failures.join("\n\n"));
}

const INSTRUCTIONS: &[&str] = &[
    "config_instructions",
    "platform_args",
    "expose_protocol_case",
    "cmd_entrypoint_forms",
    "entrypoint_resets_inherited_cmd",
    "healthcheck_none",
    "shell_instruction",
    "run_forms",
    "run_heredoc",
    "escape_directive",
    "variable_modifiers",
    "variable_modifiers_buildkit",
    "arg_scoping",
    "workdir",
    "onbuild_kept",
    "onbuild_triggers",
];

const FILES: &[&str] = &[
    "copy_semantics",
    "copy_chown_chmod",
    "copy_heredoc",
    "add_archives",
    "multi_stage",
    "from_scratch",
    "dockerignore",
    "containerignore",
    "cache_rebuild",
    "cache_mount",
    "mount_bind",
    "mount_secret",
    "copy_parents",
];

const ERRORS: &[&str] = &[
    "error_unknown_instruction",
    "error_run_exit_code",
    "error_copy_outside_context",
    "error_missing_source",
    "error_unknown_stage",
    "error_unknown_target",
    "error_instruction_before_from",
    "error_blank_env_name",
    "error_required_variable",
    "error_bad_chmod",
    "error_excluded_source",
    "error_several_sources_need_dir",
    "error_bad_healthcheck_duration",
];

/// Features berth lacks yet (none now: a case is added here with its
/// `pending` reason while one is being built).
const PENDING: &[&str] = &[];

/// Every case of the corpus is in a group (a case no group names would
/// never run), once; every group's case is in the corpus.
#[test]
fn every_case_is_run() {
    let grouped: Vec<&str> = [INSTRUCTIONS, FILES, ERRORS, PENDING].concat();
    let all = all_cases();
    for name in &all {
        assert_eq!(grouped.iter().filter(|g| *g == name).count(), 1, "corpus case {name} is not in exactly one group");
        let case = Case::load(name);
        let pending = case.expect["pending"].is_string();
        assert_eq!(pending, PENDING.contains(&name.as_str()), "{name}: pending cases are the PENDING group");
        let is_error = case.expect["error"].is_object();
        assert_eq!(is_error, ERRORS.contains(&name.as_str()), "{name}: error cases are the ERRORS group");
        assert!(
            ["Containerfile", "Dockerfile"].iter().any(|f| case.dir.join(f).exists()),
            "{name}: no Containerfile or Dockerfile"
        );
        for skip in case.strings("skip_buildah") {
            let known = COMPARED_FIELDS.contains(&skip.as_str()) || skip == "created_by" || skip == "Files";
            assert!(known, "{name}: skip_buildah {skip:?} is nothing compared");
            assert!(case.expect["known_difference"].is_string(), "{name}: skip_buildah without a known_difference");
        }
        let checks = ["config", "history", "files", "absent_files", "error"];
        assert!(checks.iter().any(|k| !case.expect[k].is_null()), "{name}: expects nothing");
    }
    for name in &grouped {
        assert!(all.iter().any(|a| a == name), "group case {name} is not in the corpus");
    }
}

/// The cases about instructions and the config they make.
#[test]
fn corpus_instructions() {
    run_group(INSTRUCTIONS);
}

/// The cases about files: COPY, ADD, stages, ignore files.
#[test]
fn corpus_files() {
    run_group(FILES);
}

/// The cases that must fail, with their exit code and words.
#[test]
fn corpus_errors() {
    run_group(ERRORS);
}

/// Which steps of a build's output came from the cache: (the step's
/// text, whether `--> Using cache` followed it).
fn steps_cached(out: &str) -> Vec<(String, bool)> {
    let mut steps: Vec<(String, bool)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("STEP ") {
            let text = rest.split_once(": ").map(|(_, t)| t).unwrap_or(rest);
            steps.push((text.to_string(), false));
        } else if line.starts_with("--> Using cache ") {
            if let Some(last) = steps.last_mut() {
                last.1 = true;
            }
        }
    }
    steps
}

/// The cache on the `cache_rebuild` case: a rebuild hits at every step; a
/// touched file (same content) still hits; a changed copied file misses
/// from its COPY on; a changed build argument misses from the first RUN
/// (a RUN has them all in its environment: docker's rule).
#[test]
fn corpus_cache_hits_and_misses() {
    let (env, _) = Env::with_busybox();
    let case = Case::load("cache_rebuild");
    let ctx = case.context(&env);
    let build = |extra: &[&str]| {
        let o = berth_build(&env, &case, &ctx, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        steps_cached(&stdout(&o))
    };
    let hits = |steps: &[(String, bool)]| -> Vec<bool> { steps.iter().skip(1).map(|s| s.1).collect() };
    let first = build(&[]);
    assert_eq!(first.len(), 7, "{first:?}");
    assert_eq!(hits(&first), [false; 6], "a fresh store has no cache: {first:?}");
    let again = build(&[]);
    assert_eq!(hits(&again), [true; 6], "{again:?}");

    // Touched, same content: the content is what counts.
    let f = std::fs::File::options().write(true).open(ctx.join("copied.txt")).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(120)).unwrap();
    drop(f);
    assert_eq!(hits(&build(&[])), [true; 6]);

    std::fs::write(ctx.join("copied.txt"), "changed\n").unwrap();
    let changed = build(&[]);
    assert_eq!(hits(&changed), [true, true, false, false, false, false], "{changed:?}");
    assert_eq!(changed[3].0, "COPY copied.txt /copied.txt");
    let tree = export(|a| env.run(a), &case.tag()).unwrap();
    assert_eq!(tree["/copied.txt"].content.as_deref(), Some(&b"changed\n"[..]));

    let arg = build(&["--build-arg", "VERSION=2"]);
    assert_eq!(hits(&arg), [true, false, false, false, false, false], "{arg:?}");
    assert_eq!(arg[2].0, "RUN echo \"first run\" > /first.txt");
    let tree = export(|a| env.run(a), &case.tag()).unwrap();
    assert_eq!(tree["/version.txt"].content.as_deref(), Some(&b"version 2\n"[..]));
    // And back: the first value's steps are still cached.
    assert_eq!(hits(&build(&[])), [true; 6]);
}

/// The `cache_mount` case built twice with `--no-cache`: the cache mount
/// keeps what the first build left there (its log has two lines), and it
/// is in neither image.
#[test]
fn corpus_cache_mounts_persist() {
    let (env, _) = Env::with_busybox();
    let case = Case::load("cache_mount");
    let ctx = case.context(&env);
    for round in ["1\n", "2\n"] {
        let o = berth_build(&env, &case, &ctx, &["--no-cache"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let hits = steps_cached(&stdout(&o)).iter().filter(|s| s.1).count();
        assert_eq!(hits, 0, "--no-cache used the cache");
        let tree = export(|a| env.run(a), &case.tag()).unwrap();
        assert_eq!(tree["/builds.txt"].content.as_deref(), Some(round.as_bytes()), "round {round}");
        assert!(!tree.contains_key("/cache/log"), "the cache's content is in the image");
    }
}

#[test]
fn the_hex_pattern_matches_digests_only() {
    assert!(matches_pattern("COPY file:<hex> in / ", &format!("COPY file:{} in / ", "ab12".repeat(16))));
    assert!(!matches_pattern("COPY file:<hex> in / ", "COPY file:xyz in / "));
    assert!(!matches_pattern("COPY file:<hex> in / ", &format!("COPY file:{} in /x ", "ab12".repeat(16))));
    assert!(matches_pattern("plain", "plain") && !matches_pattern("plain", "plain!"));
    assert_eq!(mask_hex(&format!("a {} b", "0f".repeat(32))), "a <hex> b");
}
