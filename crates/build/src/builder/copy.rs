//! COPY and ADD: sources of the context (its ignore file applied), of an
//! earlier stage or an image (`--from`), or here-documents, written into a
//! never-started container of the stage's image, then committed; the
//! content's digest is part of the step's cache key.

use std::os::fd::AsFd as _;
use std::path::{Component, Path, PathBuf};

use engine::containers::build_copy::{self, CopyItem, CopyOptions, Ignore};
use rustix::fs::OFlags;

use super::{open_dir, refuse_flags, Builder, Result, StageState};
use crate::containerfile::{self, Flag, Source, Step};
use crate::ignore;

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy(
        &mut self,
        state: &mut StageState,
        step: &Step,
        add: bool,
        flags: &[Flag],
        sources: &[Source],
        dest: &str,
        final_step: bool,
    ) -> Result<()> {
        let line = step.line;
        let what = if add { "ADD" } else { "COPY" };
        refuse_flags(self, line, what, flags, &["chmod", "chown", "from", "link", "parents"])?;
        let vars = state.vars();
        let chown = self.flag_value(line, flags, "chown", &vars)?;
        let chmod = match self.flag_value(line, flags, "chmod", &vars)? {
            None => None,
            Some(v) => {
                let mode = u32::from_str_radix(&v, 8).ok().filter(|m| *m <= 0o7777);
                Some(mode.ok_or_else(|| self.at(line, format!("{what} --chmod={v}: not an octal mode")))?)
            }
        };
        let from = self.flag_value(line, flags, "from", &vars)?;
        // `--parents` (Dockerfile 1.7's): the sources keep their paths.
        let parents = match self.flag_value(line, flags, "parents", &vars)?.as_deref() {
            None => flags.iter().any(|f| f.name == "parents"),
            Some("" | "true") => true,
            Some("false") => false,
            Some(other) => return Err(self.at(line, format!("{what} --parents={other}: not true or false"))),
        };
        // Here-documents: files of their delimiters' names, written in a
        // private directory the copy reads as its source.
        let docs: Vec<&containerfile::HereDoc> =
            sources.iter().filter_map(|s| if let Source::HereDoc(d) = s { Some(d) } else { None }).collect();
        if !docs.is_empty() {
            if from.is_some() {
                return Err(self.at(line, format!("{what} --from: here-documents are not sources of an image")));
            }
            let dir = tempfile::Builder::new().prefix("heredoc").tempdir_in(self.scratch)?;
            let mut named = Vec::new();
            for d in &docs {
                if d.name.is_empty() || d.name.contains('/') {
                    return Err(self.at(line, format!("{what}: here-document name {:?} is not a file name", d.name)));
                }
                // An unquoted delimiter: the stage's variables are
                // substituted in the body (quotes and escapes stay).
                let body = if d.expand {
                    self.lexer.heredoc(&d.body, &vars).map_err(|e| self.at(line, e.to_string()))?
                } else {
                    d.body.clone()
                };
                std::fs::write(dir.path().join(&d.name), body)?;
                named.push(Source::Path(d.name.clone()));
            }
            let opts = CopyOptions { chown, chmod };
            if docs.len() == sources.len() {
                return self.copy_sources(
                    state,
                    step,
                    add,
                    &named,
                    None,
                    dest,
                    opts,
                    Some(dir.path()),
                    false,
                    final_step,
                );
            }
            // Documents and context paths at once: the paths from the
            // context, the documents from their directory, one step.
            let paths: Vec<Source> = sources.iter().filter(|s| matches!(s, Source::Path(_))).cloned().collect();
            let docs = Some((dir.path(), named.as_slice()));
            return self.copy_sources(state, step, add, &paths, docs, dest, opts, None, false, final_step);
        }
        // `--from`: an earlier stage's image or another image, read
        // through a container of it (mounted, never started).
        let source = match &from {
            None => None,
            Some(name) => {
                let image = self.image_named(line, &format!("{what} --from={name}"), name)?;
                let c = self.container_of(&image, vec!["true".into()], Vec::new())?;
                match self.engine.mount_container(&c) {
                    Ok(root) => Some((c, root)),
                    Err(e) => {
                        self.remove(&c);
                        return Err(e.into());
                    }
                }
            }
        };
        let copied = self.copy_sources(
            state,
            step,
            add,
            sources,
            None,
            dest,
            CopyOptions { chown, chmod },
            source.as_ref().map(|(_, r)| r.as_path()),
            parents,
            final_step,
        );
        if let Some((c, _)) = &source {
            if let Err(e) = self.engine.unmount_container(c, false) {
                tracing::warn!("unmounting build container {}: {e}", c.id);
            }
            self.remove(c);
        }
        copied
    }

    /// COPY/ADD's work: `sources` under `root` (an image's, for
    /// `--from`) or else the context, to `dest`; with `docs`, here-documents
    /// written in directory `docs.0` (named `docs.1`) are copied too, into
    /// the same directory.
    #[allow(clippy::too_many_arguments)]
    fn copy_sources(
        &mut self,
        state: &mut StageState,
        step: &Step,
        add: bool,
        sources: &[Source],
        docs: Option<(&Path, &[Source])>,
        dest: &str,
        opts: CopyOptions,
        root: Option<&Path>,
        parents: bool,
        final_step: bool,
    ) -> Result<()> {
        let line = step.line;
        let what = if add { "ADD" } else { "COPY" };
        let vars = state.vars();
        let dest = self.lexer.word(dest, &vars).map_err(|e| self.at(line, e.to_string()))?;
        let workdir = state.cfg["config"]["WorkingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or("/").to_string();
        let dest_path = sys::fs::lexical(&Path::new(&workdir).join(&dest));
        let context = open_dir(root.unwrap_or(&self.opts.context))
            .map_err(|e| self.at(line, format!("opening the build context: {e}")))?;
        // The ignore file is the context's: not an image's.
        let ignore = if root.is_none() { self.ignore.clone() } else { None };
        let place = if root.is_none() { "the build context" } else { "the image" };
        // The sources, wildcards matched (what the ignore file excludes
        // does not match); with `--parents`, the path each keeps (below a
        // `/./` in it, else all of it).
        let mut rels: Vec<(String, PathBuf)> = Vec::new();
        let mut kept: Vec<PathBuf> = Vec::new();
        for s in sources {
            let Source::Path(p) = s else {
                return Err(self.at(line, format!("{what} with here-documents is not supported yet")));
            };
            let p = self.lexer.word(p, &vars).map_err(|e| self.at(line, e.to_string()))?;
            if add && (p.starts_with("http://") || p.starts_with("https://") || p.starts_with("git@")) {
                return Err(self.at(line, format!("ADD {p}: remote sources are not supported (berth builds offline)")));
            }
            let rel = in_context(&p)
                .ok_or_else(|| self.at(line, format!("{what} {p}: forbidden path outside the build context")))?;
            if p.contains(['*', '?', '[']) {
                let matched = glob(context.as_fd(), &rel, ignore.as_ref())
                    .map_err(|e| self.at(line, format!("{what} {p}: {e}")))?;
                if matched.is_empty() {
                    return Err(self
                        .at(line, format!("{what} {p}: no source files were specified (nothing in {place} matches)")));
                }
                let pivot = pivot_of(&p);
                for m in matched {
                    kept.push(m.strip_prefix(&pivot).map(Path::to_path_buf).unwrap_or_else(|_| m.clone()));
                    rels.push((m.display().to_string(), m));
                }
                continue;
            }
            let excluded = ignore.as_ref().is_some_and(|i| i.excluded(&rel.to_string_lossy()));
            if excluded && rel != Path::new(".") {
                return Err(self.at(line, format!("{what} {p}: excluded by the context's ignore file")));
            }
            kept.push(rel.strip_prefix(pivot_of(&p)).map(Path::to_path_buf).unwrap_or_else(|_| rel.clone()));
            rels.push((p, rel));
        }
        let doc_count = docs.map_or(0, |(_, named)| named.len());
        let into_dir = dest.ends_with('/') || rels.len() + doc_count > 1 || parents;
        if rels.len() + doc_count > 1 && !dest.ends_with('/') && !parents {
            return Err(self.at(
                line,
                format!("{what}: with more than one source file, the destination must be a directory and end with a /"),
            ));
        }
        let mut items = Vec::new();
        for ((p, rel), kept) in rels.into_iter().zip(kept) {
            // `--parents`: into the destination under the path kept.
            let dest_path =
                if parents { dest_path.join(kept.parent().unwrap_or(Path::new(""))) } else { dest_path.clone() };
            let fd = sys::fs::open_rerooted(context.as_fd(), &rel, OFlags::PATH)
                .map_err(|e| self.at(line, format!("{what} {p}: no such file or directory in {place} ({e})")))?;
            let is_dir =
                rustix::fs::fstat(&fd).is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
            let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
            // ADD unpacks a local tar archive into the destination (a
            // directory).
            let unpack = if add && !is_dir && root.is_none() {
                build_copy::add_archive(context.as_fd(), &rel).map_err(|e| self.at(line, e.to_string()))?
            } else {
                None
            };
            let item = |dest: PathBuf, contents: bool| CopyItem { source: rel.clone(), dest, contents, unpack: None };
            let item = if unpack.is_some() {
                CopyItem { unpack, ..item(dest_path.clone(), false) }
            } else if is_dir && parents {
                item(dest_path.join(&name), true)
            } else if is_dir {
                item(dest_path.clone(), true)
            } else if into_dir {
                item(dest_path.join(&name), false)
            } else {
                item(dest_path.clone(), false)
            };
            items.push(item);
        }
        let patterns = ignore;
        let excluded = |p: &Path| patterns.as_ref().is_some_and(|i| i.excluded(&p.to_string_lossy()));
        let reinclude = |p: &Path| patterns.as_ref().is_some_and(|i| i.may_reinclude_under(&p.to_string_lossy()));
        let filter = Ignore { excluded: &excluded, may_reinclude_under: &reinclude };
        // What it copies, known first: the cache keys on it.
        // The documents: files of their directory, into the destination.
        let docs_dir = match docs {
            Some((dir, _)) => Some(open_dir(dir)?),
            None => None,
        };
        let doc_items: Vec<CopyItem> = docs
            .map(|(_, named)| named)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| if let Source::Path(name) = s { Some(name) } else { None })
            .map(|name| CopyItem {
                source: PathBuf::from(name),
                dest: dest_path.join(name),
                contents: false,
                unpack: None,
            })
            .collect();
        let mut digest = self
            .engine
            .copy_digest(context.as_fd(), &items, Some(&filter))
            .map_err(|e| self.at(line, e.to_string()))?;
        if let Some(dir) = &docs_dir {
            let of_docs =
                self.engine.copy_digest(dir.as_fd(), &doc_items, None).map_err(|e| self.at(line, e.to_string()))?;
            digest = image::digest::Digest::of_bytes(format!("{digest}{of_docs}").as_bytes());
        }
        let key = self.key(state, step, digest.hex());
        if self.reuse_cached(state, &key, final_step)? {
            return Ok(());
        }
        let c = self.container(state, vec!["true".into()], Vec::new())?;
        let mut copied = self.engine.copy_into_container(&c, context.as_fd(), &items, &opts, Some(&filter));
        if let (Ok(()), Some(dir)) = (&copied, &docs_dir) {
            copied = self.engine.copy_into_container(&c, dir.as_fd(), &doc_items, &opts, None);
        }
        if let Err(e) = copied {
            self.remove(&c);
            return Err(self.at(line, e.to_string()));
        }
        // docker's (and buildah's) words: `file:` or `dir:` for one
        // source, `multi:` for several; the destination as given.
        let kind = match (items.as_slice(), doc_items.len()) {
            ([one], 0) if one.contents => "dir",
            ([_], 0) => "file",
            _ => "multi",
        };
        let shown = &dest;
        let created_by = format!("/bin/sh -c #(nop) {what} {kind}:{} in {shown} ", digest.hex());
        let cfg = self.with_history(state, created_by, false);
        let committed = self.commit(state, Some(&c), cfg, final_step);
        self.remove(&c);
        self.made(state, &key, committed?)
    }
}

/// The paths under directory `root` that wildcard `pattern` (relative,
/// `/`-separated, Go's filepath.Match per component, as docker's COPY)
/// matches, sorted; `ignore` excludes some. Read through fds under
/// `root`: a symlinked directory on the way is not followed out.
fn glob(
    root: std::os::fd::BorrowedFd,
    pattern: &Path,
    ignore: Option<&ignore::Patterns>,
) -> std::io::Result<Vec<PathBuf>> {
    let comps: Vec<String> = pattern.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let mut current = vec![PathBuf::new()];
    for depth in 0..comps.len() {
        // The pattern down to this depth, as an ignore pattern: docker's
        // anchored matching.
        let upto = ignore::Patterns::parse(&comps[..=depth].join("/"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut next = Vec::new();
        for dir in &current {
            let at = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
            let Ok(fd) = sys::fs::open_rerooted(root, at, OFlags::RDONLY | OFlags::DIRECTORY) else { continue };
            for entry in rustix::fs::Dir::read_from(&fd)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == "." || name == ".." {
                    continue;
                }
                let path = dir.join(&name);
                let shown = path.to_string_lossy();
                if upto.excluded(&shown) && !ignore.is_some_and(|i| i.excluded(&shown)) {
                    next.push(path);
                }
            }
        }
        current = next;
    }
    current.sort();
    Ok(current)
}

/// The part of COPY `--parents` source `p` its copy does not keep: what
/// comes before a `/./` in it (BuildKit's pivot), else nothing.
fn pivot_of(p: &str) -> PathBuf {
    match p.find("/./") {
        Some(at) => in_context(&p[..at]).filter(|r| r != Path::new(".")).unwrap_or_default(),
        None => PathBuf::new(),
    }
}

/// A COPY source as a path relative to the context, or `None` if it
/// climbs out of it (docker refuses those rather than re-rooting them).
pub(super) fn in_context(p: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    Some(out)
}
