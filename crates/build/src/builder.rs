//! The builder: a Containerfile's stages run step by step through the
//! engine, as buildah does with `--layers` (podman build's default). Every
//! step makes an image: a RUN or COPY the previous image plus one layer of
//! what it changed (a container of the previous image, run or written
//! into, then committed), any other step the same layers under a new
//! config. Those intermediate images stay, untagged, as buildah's do.
//!
//! Output is podman's: `STEP n/m: INSTRUCTION`, a RUN's output as it
//! comes, `--> ID` (eleven hex digits, as podman prints them) after each
//! step, `COMMIT name` before the last one, `Successfully tagged NAME` and
//! the image ID.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use engine::containers::mounts::Mount;
use engine::containers::{Container, CreateSpec};
use engine::{images, Engine, Image};
use rustix::fs::{Mode, OFlags};
use serde_json::{json, Map, Value};

use crate::containerfile::{Command, Containerfile, Flag, Instruction, Step};
use crate::expand::{Lexer, PairKind};
use crate::ignore;
use crate::run_mounts::MountSpec;

mod copy;
mod mounts;
mod parallel;
mod run;

use copy::in_context;
use run::{RunSpec, Silenced};

/// What `berth build` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The Containerfile's path, for errors (`-f`, or the one found).
    pub file_name: String,
    /// Its path when it is a file (its own ignore file may be beside it).
    pub containerfile: Option<PathBuf>,
    /// The build context (a directory).
    pub context: PathBuf,
    /// `-t`: names for the image.
    pub tags: Vec<String>,
    /// `--build-arg NAME=VALUE` (a `NAME` alone takes the environment's).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (the last without).
    pub target: Option<String>,
    /// `--label`: set on the image built.
    pub labels: Vec<(String, String)>,
    /// `-q`: only the image ID is printed.
    pub quiet: bool,
    /// `--format docker`: Docker schema2 manifest and config.
    pub docker_format: bool,
    /// `--network` for RUN steps (empty: berth.conf's default, as `run`).
    pub networks: Vec<String>,
    /// `--no-cache`: run every step (what they make is still cached).
    pub no_cache: bool,
    /// `--layers=false` (buildah's default, not podman build's): no cache
    /// is read or written, the build's steps make one layer over the
    /// base's, and no image of a step is kept.
    pub single_layer: bool,
    /// `--secret id=ID,src=PATH|env=VAR`: each secret's content, for RUN
    /// `--mount=type=secret` (never in a layer, nor in a cache key).
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// `--squash`, `--squash-all`.
    pub squash: Squash,
    /// The build's scratch directory ([`crate::scratch::Scratch`]) when the
    /// caller made one (it unpacked the context there); else the build
    /// makes its own.
    pub scratch: Option<PathBuf>,
    /// `--annotation`: on the built image's (OCI) manifest.
    pub annotations: Vec<(String, String)>,
    /// `--jobs`: how many stages may be built at once (1: one after
    /// another; stages that need each other always wait).
    pub jobs: usize,
    /// `--cache-from`: a registry repository whose `REPO:KEY` images are
    /// steps' cached images, pulled when the store has none.
    pub cache_from: Option<String>,
    /// `--cache-to`: a registry repository each step's image is pushed to,
    /// as `REPO:KEY`.
    pub cache_to: Option<String>,
    /// How the registries of `cache_from` and `cache_to` are reached
    /// (`--tls-verify`, `--creds`, `--authfile`).
    pub remote: Option<engine::remote::RemoteOptions>,
}

/// What the built image's layers become.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Squash {
    /// One per step that changes files.
    #[default]
    No,
    /// The base image's, and one for all the build's steps (`--squash`).
    New,
    /// One for the whole filesystem (`--squash-all`).
    All,
}

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file, at a line.
    #[error("{file}:{line}: {message}")]
    At { file: String, line: usize, message: String },
    /// The ignore file does not parse.
    #[error("{file}: {message}")]
    Ignore { file: String, message: String },
    /// A RUN step's command exited non-zero: the build exits with its code,
    /// as podman's does.
    #[error("building at STEP \"{step}\": while running runtime: exit status {code}")]
    Run { step: String, code: i32 },
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The exit code podman gives: a failed RUN's own, else 125.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Run { code, .. } => u8::try_from(*code).unwrap_or(125),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// Where a base image (FROM, COPY --from) comes from: the front end's
/// pull policy (podman build's `--pull`), given the name as written.
pub type Resolve<'a> = &'a dyn Fn(&str) -> engine::Result<Image>;

/// Build `file` (its text) with `opts`, base images found by `resolve`;
/// progress goes to `out`. Returns the image built, tagged.
pub fn build(engine: &Engine, text: &str, opts: &Options, resolve: Resolve<'_>, out: &mut dyn Write) -> Result<Image> {
    let file = Containerfile::parse(text).map_err(|e| Error::At {
        file: opts.file_name.clone(),
        line: e.line,
        message: e.message,
    })?;
    let ignore = match ignore::find_ignore_file(&opts.context, opts.containerfile.as_deref()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)?;
            let patterns = ignore::Patterns::parse(&text);
            Some(patterns.map_err(|e| Error::Ignore { file: path.display().to_string(), message: e.to_string() })?)
        }
        None => None,
    };
    let own = match &opts.scratch {
        Some(_) => None,
        None => Some(crate::scratch::Scratch::new(engine.runroot())?),
    };
    let scratch_dir = match (&opts.scratch, &own) {
        (Some(given), _) => given.clone(),
        (None, Some(own)) => own.path().to_path_buf(),
        (None, None) => unreachable!("made just above"),
    };
    Builder {
        engine,
        opts,
        resolve,
        lexer: Lexer::new(file.escape),
        file: &file,
        ignore,
        out,
        step: 0,
        steps: 0,
        built: Vec::new(),
        bases: Vec::new(),
        silence_runs: true,
        made: Vec::new(),
        scratch: &scratch_dir,
    }
    .run()
}

struct Builder<'a> {
    engine: &'a Engine,
    opts: &'a Options,
    resolve: Resolve<'a>,
    file: &'a Containerfile,
    lexer: Lexer,
    /// The context's ignore file (`.containerignore`, `.dockerignore`).
    ignore: Option<ignore::Patterns>,
    out: &'a mut dyn Write,
    /// The step being built, and how many the build has (`STEP n/m`).
    step: usize,
    steps: usize,
    /// Each stage's image once built (COPY --from and FROM name them).
    built: Vec<Option<Image>>,
    /// Each stage's base image, once known (`--squash` keeps its layers).
    bases: Vec<Option<Image>>,
    /// `-q` sends stdout to /dev/null while a RUN runs (not when stages
    /// are built at once: it is silenced for the whole while then).
    silence_runs: bool,
    /// The images this build's steps made (`--layers=false` removes them).
    made: Vec<Image>,
    /// The build's scratch directory.
    scratch: &'a Path,
}

/// A stage while it is built.
struct StageState {
    /// The image its last step made.
    image: Image,
    /// That image's config, edited by the steps.
    cfg: Value,
    /// The ARGs it declared, with their values.
    args: BTreeMap<String, String>,
    /// SHELL (`/bin/sh -c` without).
    shell: Vec<String>,
    /// CMD was set in this stage (an ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl StageState {
    /// What variables expand to in its steps: its ENV over its ARGs
    /// (docker's precedence).
    fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.args.clone();
        for (k, v) in self.env() {
            vars.insert(k, v);
        }
        vars
    }

    fn env(&self) -> Vec<(String, String)> {
        self.cfg["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|e| e.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn config(&mut self) -> &mut Map<String, Value> {
        let config = &mut self.cfg["config"];
        if !config.is_object() {
            *config = json!({});
        }
        let Value::Object(map) = config else { unreachable!("made an object just above") };
        map
    }
}

impl Builder<'_> {
    fn run(mut self) -> Result<Image> {
        let target = match &self.opts.target {
            Some(t) => self.file.stage_index(t).ok_or_else(|| {
                self.at(self.file.stages.last().map_or(1, |s| s.line), format!("target stage \"{t}\" not found"))
            })?,
            None => self.file.stages.len().saturating_sub(1),
        };
        let needed = self.needed(target);
        self.steps = needed.iter().map(|&i| 1 + self.file.stages[i].steps.len()).sum();
        self.built = vec![None; self.file.stages.len()];
        self.bases = vec![None; self.file.stages.len()];
        if self.opts.jobs > 1 && needed.len() > 1 && self.parallel_possible(&needed) {
            self.build_parallel(&needed, target)?;
        } else {
            for &i in &needed {
                let image = self.stage(i, i == target)?;
                self.built[i] = Some(image);
            }
        }
        let image = self.built[target].clone().ok_or_else(|| self.at(1, "no stage to build".into()))?;
        let squash = match self.opts.squash {
            Squash::No if self.opts.single_layer => Squash::New,
            how => how,
        };
        let image = match squash {
            Squash::No => image,
            how => {
                let squashed = self.squash(&image, self.bases[target].as_ref(), how)?;
                self.say(&format!("--> {}", &squashed.id.hex()[..11]))?;
                squashed
            }
        };
        if self.opts.single_layer {
            self.remove_made(&image);
        }
        let image = self.engine.annotate_image(&image, &self.opts.annotations)?;
        for t in &self.opts.tags {
            let name = images::new_name(t)?;
            self.engine.tag(&image, &name)?;
            self.say(&format!("Successfully tagged {name}"))?;
        }
        writeln!(self.out, "{}", image.id.hex())?;
        Ok(image)
    }

    /// Remove the images this build's steps made but `keep` (`--layers=false`
    /// keeps none of them, as buildah; an image with a name stays).
    fn remove_made(&self, keep: &Image) {
        let mut seen = std::collections::BTreeSet::new();
        for image in &self.made {
            if image.id == keep.id || !seen.insert(image.id.clone()) {
                continue;
            }
            let current = match self.engine.get(&image.id.to_string()) {
                Ok(current) if current.names.is_empty() => current,
                _ => continue,
            };
            if let Err(e) = self.engine.remove(&current) {
                tracing::warn!("removing the build's image {}: {e}", image.id);
            }
        }
    }

    /// `image` squashed, as podman's `--squash` (the layers of `base`
    /// kept) or `--squash-all` (none): the history as podman writes it,
    /// every step's entry `empty_layer` but the last, which has the layer;
    /// `--squash-all` drops the base's entries.
    fn squash(&self, image: &Image, base: Option<&Image>, how: Squash) -> Result<Image> {
        let (keep, base_entries) = match (how, base) {
            (Squash::New, Some(b)) => (b.layers.len(), history_len(b)),
            (_, b) => (0, b.map_or(0, history_len)),
        };
        let mut cfg = image.config.clone();
        let mut history = cfg["history"].as_array().cloned().unwrap_or_default();
        let ours = history.split_off(base_entries.min(history.len()));
        let new_layer = image.layers.len() > keep;
        let count = ours.len();
        let ours = ours.into_iter().enumerate().map(|(n, mut entry)| {
            if n + 1 == count && new_layer {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("empty_layer");
                }
            } else {
                entry["empty_layer"] = json!(true);
            }
            entry
        });
        let history: Vec<Value> = if how == Squash::All {
            let mut all: Vec<Value> = ours.collect();
            // The whole filesystem is one layer: some entry must own it.
            if new_layer && all.is_empty() {
                all.push(json!({"created": cfg["created"].clone(), "created_by": "/bin/sh -c #(nop) squashed"}));
            }
            all
        } else {
            history.into_iter().chain(ours).collect()
        };
        cfg["history"] = Value::Array(history);
        Ok(self.engine.squash_image(image, keep, cfg, self.opts.docker_format)?)
    }

    /// The stages `target` needs (those its FROM names, recursively), in
    /// file order.
    fn needed(&self, target: usize) -> Vec<usize> {
        let mut need = vec![false; self.file.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut need[i], true) {
                continue;
            }
            todo.extend(self.depends_on(i));
        }
        (0..need.len()).filter(|&i| need[i]).collect()
    }

    /// The earlier stages stage `i` uses: its FROM, COPY --from=NAME, RUN
    /// --mount=...,from=NAME.
    fn depends_on(&self, i: usize) -> Vec<usize> {
        self.names_used_by(i).iter().filter_map(|name| self.file.stage_index(name).filter(|&j| j < i)).collect()
    }

    /// What stage `i` names as its base and as other sources (stages or
    /// images), as written.
    fn names_used_by(&self, i: usize) -> Vec<String> {
        let stage = &self.file.stages[i];
        let mut names = vec![stage.base.clone()];
        for s in &stage.steps {
            match &s.instruction {
                Instruction::Copy { flags, .. } => {
                    names.extend(flags.iter().filter(|f| f.name == "from").filter_map(|f| f.value.clone()))
                }
                Instruction::Run { flags, .. } => names.extend(
                    flags
                        .iter()
                        .filter(|f| f.name == "mount")
                        .filter_map(|f| f.value.as_deref())
                        .flat_map(|v| v.split(','))
                        .filter_map(|o| o.strip_prefix("from="))
                        .map(String::from),
                ),
                _ => {}
            }
        }
        names
    }

    fn at(&self, line: usize, message: String) -> Error {
        Error::At { file: self.opts.file_name.clone(), line, message }
    }

    /// A line of progress (none with `-q`).
    fn say(&mut self, line: &str) -> Result<()> {
        if !self.opts.quiet {
            writeln!(self.out, "{line}")?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn announce(&mut self, text: &str) -> Result<()> {
        self.step += 1;
        let line = format!("STEP {}/{}: {text}", self.step, self.steps);
        self.say(&line)
    }

    /// The global ARGs' values (FROM lines see them), over the platform
    /// args BuildKit predefines there (a stage sees those it declares).
    fn global_args(&self) -> Result<BTreeMap<String, String>> {
        let mut vars = platform_args();
        for step in &self.file.global_args {
            let Instruction::Arg(text) = &step.instruction else { continue };
            for (name, default) in
                self.lexer.split_pairs(text, PairKind::Arg).map_err(|e| self.at(step.line, e.to_string()))?
            {
                let value = match self.opts.build_args.get(&name) {
                    Some(v) => Some(v.clone()),
                    None => default
                        .map(|d| self.lexer.word(&d, &vars))
                        .transpose()
                        .map_err(|e| self.at(step.line, e.to_string()))?,
                };
                if let Some(v) = value {
                    vars.insert(name, v);
                }
            }
        }
        Ok(vars)
    }

    fn stage(&mut self, index: usize, last: bool) -> Result<Image> {
        let def = &self.file.stages[index];
        self.announce(&def.text)?;
        let globals = self.global_args()?;
        let base = self.lexer.word(&def.base, &globals).map_err(|e| self.at(def.line, e.to_string()))?;
        if let Some(platform) = &def.platform {
            // `FROM --platform=$BUILDPLATFORM` and the like: the host's is
            // the only one berth builds for.
            let asked = self.lexer.word(platform, &globals).map_err(|e| self.at(def.line, e.to_string()))?;
            let parsed = image::manifest::PlatformSpec::parse(&asked)
                .map_err(|e| self.at(def.line, format!("FROM --platform={asked}: {e}")))?;
            let host = image::manifest::PlatformSpec::host();
            let variant_differs = parsed.variant.is_some() && parsed.variant != host.variant;
            if parsed.os != host.os || parsed.architecture != host.architecture || variant_differs {
                return Err(self.at(
                    def.line,
                    format!(
                        "FROM --platform={asked}: berth builds for this host's platform only ({})",
                        platform_args()["TARGETPLATFORM"]
                    ),
                ));
            }
        }
        let image = match self.file.stage_index(&base).filter(|&j| j < index) {
            Some(j) => self.built[j].clone().ok_or_else(|| self.at(def.line, format!("stage {base} was not built")))?,
            None if base.eq_ignore_ascii_case("scratch") => self.engine.empty_image(self.opts.docker_format)?,
            None => (self.resolve)(&base).map_err(|e| self.at(def.line, e.to_string()))?,
        };
        self.bases[index] = Some(image.clone());
        let mut cfg = image.config.clone();
        if last && !self.opts.labels.is_empty() {
            let labels = cfg["config"]["Labels"].as_object().cloned().unwrap_or_default();
            let mut labels = labels;
            for (k, v) in &self.opts.labels {
                labels.insert(k.clone(), json!(v));
            }
            cfg["config"]["Labels"] = Value::Object(labels);
        }
        // buildah's rule: a base without PATH gets the usual one, so RUN
        // finds its commands.
        let env = cfg["config"]["Env"].as_array().cloned().unwrap_or_default();
        if !env.iter().filter_map(Value::as_str).any(|e| e.starts_with("PATH=")) {
            let mut env = env;
            env.insert(0, json!(DEFAULT_PATH));
            if !cfg["config"].is_object() {
                cfg["config"] = json!({});
            }
            cfg["config"]["Env"] = Value::Array(env);
        }
        let mut state = StageState {
            image,
            cfg,
            args: BTreeMap::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            cmd_set: false,
        };
        // The base's ONBUILD triggers run first, as steps of this stage
        // (docker's rule); the image built does not keep them.
        let triggers: Vec<String> = state.cfg["config"]["OnBuild"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        if let Some(config) = state.cfg["config"].as_object_mut() {
            config.remove("OnBuild");
        }
        let steps = &def.steps;
        if steps.is_empty() && triggers.is_empty() {
            // A FROM alone: the base under this build's config (labels,
            // PATH), as buildah commits it.
            let cfg = state.cfg.clone();
            return self.commit(&state, None, cfg, last);
        }
        for (n, trigger) in triggers.iter().enumerate() {
            let parsed = Containerfile::parse(&format!("FROM scratch\n{trigger}\n"))
                .map_err(|e| self.at(def.line, format!("the base image's ONBUILD {trigger:?}: {}", e.message)))?;
            let Some(mut step) = parsed.stages.into_iter().next().and_then(|s| s.steps.into_iter().next()) else {
                continue;
            };
            step.line = def.line;
            let final_step = last && steps.is_empty() && n + 1 == triggers.len();
            self.run_step(&mut state, &step, final_step)?;
        }
        for (n, step) in steps.iter().enumerate() {
            self.announce(&step.text)?;
            let final_step = last && n + 1 == steps.len();
            self.run_step(&mut state, step, final_step)?;
        }
        Ok(state.image)
    }

    /// Commit `state`'s image with `changes`, under config `cfg`; prints
    /// `COMMIT` for the build's last and `--> ID`.
    fn commit(
        &mut self,
        state: &StageState,
        changes: Option<&Container>,
        cfg: Value,
        final_step: bool,
    ) -> Result<Image> {
        let image = self.engine.commit_step(&state.image, changes, cfg, self.opts.docker_format)?;
        self.made.push(image.clone());
        self.say_done(&image, final_step)?;
        Ok(image)
    }

    /// A step's last lines, made or taken from the cache: `COMMIT name` for
    /// the build's last, then `--> ID` (podman's eleven hex digits).
    fn say_done(&mut self, image: &Image, final_step: bool) -> Result<()> {
        if final_step {
            let names = self.opts.tags.first().cloned().unwrap_or_default();
            self.say(format!("COMMIT {names}").trim_end())?;
            if self.squashing() {
                // The image is the squashed one, said once it is made.
                return Ok(());
            }
        }
        self.say(&format!("--> {}", &image.id.hex()[..11]))
    }

    /// Whether the built image is squashed (`--squash`, `--squash-all`,
    /// `--layers=false`).
    fn squashing(&self) -> bool {
        self.opts.squash != Squash::No || self.opts.single_layer
    }

    /// `state.cfg` with a history entry for `step` appended.
    fn with_history(&self, state: &StageState, created_by: String, empty: bool) -> Value {
        let mut cfg = state.cfg.clone();
        let created = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let mut entry = json!({"created": created, "created_by": created_by});
        if empty {
            entry["empty_layer"] = json!(true);
        }
        let mut history = cfg["history"].as_array().cloned().unwrap_or_default();
        history.push(entry);
        cfg["history"] = Value::Array(history);
        cfg["created"] = json!(created);
        cfg
    }

    /// A step's cache key: what it starts from (the parent image and the
    /// config the stage gives it), what it says, the build arguments it
    /// depends on, the stage's SHELL, and `extra` (what a COPY copies).
    fn key(&self, state: &StageState, step: &Step, extra: &str) -> String {
        // A RUN sees every build argument in scope (as its environment):
        // any change misses, docker's rule. Another step depends on those
        // its text names.
        let args: Vec<(&String, &String)> = match step.instruction {
            Instruction::Run { .. } => state.args.iter().collect(),
            _ => {
                let used = self.lexer.names_used(&step.text);
                state.args.iter().filter(|(k, _)| used.contains(k)).collect()
            }
        };
        let text = format!(
            "{}\n{}\n{}\n{:?}\n{:?}\n{extra}",
            state.image.id, state.cfg["config"], step.text, args, state.shell
        );
        image::digest::Digest::of_bytes(text.as_bytes()).hex().to_string()
    }

    /// Whether the cache has the image of the step of `key` (never with
    /// `--no-cache`): if so the stage goes on from it, its lines printed as
    /// podman prints a cache hit.
    fn reuse_cached(&mut self, state: &mut StageState, key: &str, final_step: bool) -> Result<bool> {
        if self.opts.no_cache || self.opts.single_layer {
            return Ok(false);
        }
        let image = match self.engine.build_cache_get(key)? {
            Some(image) => image,
            None => match self.remote_cached(key)? {
                Some(image) => image,
                None => return Ok(false),
            },
        };
        self.say(&format!("--> Using cache {}", image.id.hex()))?;
        self.say_done(&image, final_step)?;
        go_on_from(state, image);
        Ok(true)
    }

    /// The image of the step of `key` in `--cache-from`'s repository,
    /// pulled (and then in the store's cache); `None` when it has none.
    fn remote_cached(&self, key: &str) -> Result<Option<Image>> {
        let Some(repo) = &self.opts.cache_from else { return Ok(None) };
        let name = format!("{repo}:{key}");
        let remote = self.opts.remote.clone().unwrap_or_default();
        // A missing tag is a miss; so is a registry that cannot be
        // reached (the step is then built here, as buildah does).
        let image = match self.engine.pull_named(&name, &remote, None, &|_| {}, &|_| {}) {
            Ok(image) => image,
            Err(e) => {
                tracing::debug!("no cached image {name}: {e}");
                return Ok(None);
            }
        };
        // The pull named it: the cache needs no name.
        if let Ok(pulled) = images::new_name(&name) {
            let _ = self.engine.untag(&pulled);
        }
        self.engine.build_cache_put(key, &image)?;
        Ok(Some(image))
    }

    /// `image` is what the step of `key` made: the stage goes on from it.
    fn made(&mut self, state: &mut StageState, key: &str, image: Image) -> Result<()> {
        if self.opts.single_layer {
            go_on_from(state, image);
            return Ok(());
        }
        self.engine.build_cache_put(key, &image)?;
        if let Some(repo) = &self.opts.cache_to {
            let name = images::new_name(&format!("{repo}:{key}"))?;
            let remote = self.opts.remote.clone().unwrap_or_default();
            self.engine
                .push(&image, &name, &remote, &|_| {})
                .map_err(|e| Error::Engine(engine::Error::new(format!("pushing the cache to {name}: {e}"))))?;
        }
        go_on_from(state, image);
        Ok(())
    }

    fn run_step(&mut self, state: &mut StageState, step: &Step, final_step: bool) -> Result<()> {
        let line = step.line;
        let key = self.key(state, step, "");
        let vars = state.vars();
        let word = |b: &Self, text: &str| b.lexer.word(text, &vars).map_err(|e| b.at(line, e.to_string()));
        // The metadata steps: a new config, no layer (docker's "#(nop)").
        let nop = format!("/bin/sh -c #(nop) {}", step.text);
        match &step.instruction {
            Instruction::Run { flags, command, here_docs } => {
                refuse_flags(self, line, "RUN", flags, &["mount", "network", "security"])?;
                let mut mounts = Vec::new();
                for f in flags.iter().filter(|f| f.name == "mount") {
                    let spec = word(self, f.value.as_deref().unwrap_or_default())?;
                    mounts
                        .push(MountSpec::parse(&spec).map_err(|e| self.at(line, format!("RUN --mount={spec}: {e}")))?);
                }
                let networks = match self.flag_value(line, flags, "network", &vars)?.as_deref() {
                    None | Some("default") => self.opts.networks.clone(),
                    Some(mode @ ("none" | "host")) => vec![mode.to_string()],
                    Some(other) => {
                        return Err(
                            self.at(line, format!("RUN --network={other}: not a network mode (default, none, host)"))
                        )
                    }
                };
                match self.flag_value(line, flags, "security", &vars)?.as_deref() {
                    None | Some("sandbox") => {}
                    Some(other) => {
                        return Err(self.at(
                            line,
                            format!("RUN --security={other}: not allowed (berth runs build steps confined: sandbox)"),
                        ))
                    }
                }
                if self.reuse_cached(state, &key, final_step)? {
                    return Ok(());
                }
                let run = RunSpec { command, here_docs, mounts: &mounts, networks };
                let image = self.run_command(state, step, run, final_step)?;
                return self.made(state, &key, image);
            }
            Instruction::Copy { add, flags, sources, dest } => {
                return self.copy(state, step, *add, flags, sources, dest, final_step);
            }
            Instruction::Env(text) => {
                let pairs = self.lexer.pairs(text, &vars, PairKind::Env).map_err(|e| self.at(line, e.to_string()))?;
                let mut env = state.env();
                for (k, v) in pairs {
                    let v = v.unwrap_or_default();
                    match env.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(e) => e.1 = v,
                        None => env.push((k, v)),
                    }
                }
                state
                    .config()
                    .insert("Env".into(), json!(env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()));
            }
            Instruction::Label(text) => {
                let pairs = self.lexer.pairs(text, &vars, PairKind::Label).map_err(|e| self.at(line, e.to_string()))?;
                let config = state.config();
                let labels = config.entry("Labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                for (k, v) in pairs {
                    labels[k] = json!(v.unwrap_or_default());
                }
            }
            Instruction::Arg(text) => {
                let globals = self.global_args()?;
                for (name, default) in
                    self.lexer.split_pairs(text, PairKind::Arg).map_err(|e| self.at(line, e.to_string()))?
                {
                    let value = match self.opts.build_args.get(&name) {
                        Some(v) => Some(v.clone()),
                        None => match default {
                            Some(d) => Some(word(self, &d)?),
                            // `ARG NAME` in a stage: the global's value.
                            None => globals.get(&name).cloned(),
                        },
                    };
                    if let Some(v) = value {
                        state.args.insert(name, v);
                    }
                }
            }
            Instruction::Cmd(c) => {
                let argv = self.argv(state, c);
                state.config().insert("Cmd".into(), json!(argv));
                state.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let argv = self.argv(state, c);
                let cmd_set = state.cmd_set;
                let config = state.config();
                config.insert("Entrypoint".into(), json!(argv));
                if !cmd_set {
                    // The base image's CMD was for its own entrypoint.
                    config.remove("Cmd");
                }
            }
            Instruction::Workdir(text) => {
                let dir = word(self, text)?;
                let current = state.cfg["config"]["WorkingDir"].as_str().unwrap_or("/").to_string();
                let joined = sys::fs::lexical(&Path::new(&current).join(dir));
                state.config().insert("WorkingDir".into(), json!(joined.display().to_string()));
            }
            Instruction::User(text) => {
                let user = word(self, text)?;
                state.config().insert("User".into(), json!(user));
            }
            Instruction::Expose(text) => {
                let ports = self.lexer.words(text, &vars).map_err(|e| self.at(line, e.to_string()))?;
                let config = state.config();
                let exposed = config.entry("ExposedPorts").or_insert_with(|| json!({}));
                for p in ports {
                    let p = if p.contains('/') { p.to_lowercase() } else { format!("{p}/tcp") };
                    exposed[p] = json!({});
                }
            }
            Instruction::Volume(paths) => {
                let mut expanded = Vec::new();
                for p in paths {
                    expanded.push(word(self, p)?);
                }
                let config = state.config();
                let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
                for p in expanded {
                    volumes[p] = json!({});
                }
            }
            Instruction::Stopsignal(text) => {
                let signal = word(self, text)?;
                state.config().insert("StopSignal".into(), json!(signal));
            }
            Instruction::Shell(argv) => {
                state.shell = argv.clone();
                if self.opts.docker_format {
                    state.config().insert("Shell".into(), json!(argv));
                }
            }
            Instruction::Healthcheck { flags, command } => {
                let check = self.healthcheck(state, line, flags, command.as_ref())?;
                state.config().insert("Healthcheck".into(), check);
            }
            Instruction::Onbuild(trigger) => {
                let config = state.config();
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(trigger));
                }
            }
            Instruction::Maintainer(name) => {
                state.cfg["author"] = json!(name);
            }
        }
        // The config is made (and ARG, SHELL, CMD noted) whether or not the
        // cache has the image.
        if self.reuse_cached(state, &key, final_step)? {
            return Ok(());
        }
        let cfg = self.with_history(state, nop, true);
        let image = self.commit(state, None, cfg, final_step)?;
        self.made(state, &key, image)
    }

    /// CMD/ENTRYPOINT's argv: the exec form as is, the shell form through
    /// the stage's SHELL.
    fn argv(&self, state: &StageState, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(argv) => argv.clone(),
            Command::Shell(text) => {
                let mut argv = state.shell.clone();
                argv.push(text.clone());
                argv
            }
        }
    }

    fn healthcheck(&self, state: &StageState, line: usize, flags: &[Flag], command: Option<&Command>) -> Result<Value> {
        let Some(command) = command else { return Ok(json!({"Test": ["NONE"]})) };
        let test = match command {
            Command::Exec(argv) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(argv.iter().cloned());
                t
            }
            Command::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
        };
        let _ = state;
        let mut check = json!({"Test": test});
        for f in flags {
            let value = f.value.clone().unwrap_or_default();
            let duration = || {
                humantime::parse_duration(&value)
                    .map(|d| json!(d.as_nanos() as u64))
                    .map_err(|e| self.at(line, format!("HEALTHCHECK --{}={value}: {e}", f.name)))
            };
            match f.name.as_str() {
                "interval" => check["Interval"] = duration()?,
                "timeout" => check["Timeout"] = duration()?,
                "start-period" => check["StartPeriod"] = duration()?,
                "start-interval" => check["StartInterval"] = duration()?,
                "retries" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| self.at(line, format!("HEALTHCHECK --retries={value}: not a number")))?;
                    check["Retries"] = json!(n);
                }
                other => return Err(self.at(line, format!("unknown flag: --{other}"))),
            }
        }
        Ok(check)
    }

    /// A container of `state`'s image for a step, running `command` (not
    /// started here).
    fn container(&self, state: &StageState, command: Vec<String>, env: Vec<String>) -> Result<Container> {
        self.container_of(&state.image, command, env)
    }

    /// A container of `image` for a step (not started).
    fn container_of(&self, image: &Image, command: Vec<String>, env: Vec<String>) -> Result<Container> {
        self.container_with(image, command, env, Vec::new(), &self.opts.networks)
    }

    /// [`Builder::container_of`] with `mounts` (a RUN's `--mount`s).
    fn container_with(
        &self,
        image: &Image,
        command: Vec<String>,
        env: Vec<String>,
        mounts: Vec<Mount>,
        networks: &[String],
    ) -> Result<Container> {
        let mut spec = CreateSpec {
            command,
            // Exactly the command: no image ENTRYPOINT before it.
            entrypoint: Some(vec![String::new()]),
            env,
            mounts,
            ..Default::default()
        };
        let (mode, networks) = engine::containers::networking::parse_networks(networks)?;
        spec.isolation.network = mode;
        spec.isolation.networks = networks;
        Ok(self.engine.create_container(image, &image.id.to_string(), &spec)?)
    }

    /// The value of flag `--name` of the step at `line`, variables
    /// substituted with `vars`; `None` without it.
    fn flag_value(
        &self,
        line: usize,
        flags: &[Flag],
        name: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Option<String>> {
        let Some(value) = flags.iter().find(|f| f.name == name).and_then(|f| f.value.as_deref()) else {
            return Ok(None);
        };
        self.lexer.word(value, vars).map(Some).map_err(|e| self.at(line, e.to_string()))
    }

    /// What `--from=name` names at `line`: an earlier stage's image, else
    /// an image (the pull policy's); errors start with `what`.
    fn image_named(&self, line: usize, what: &str, name: &str) -> Result<Image> {
        match self.file.stage_index(name) {
            Some(j) => self
                .built
                .get(j)
                .cloned()
                .flatten()
                .ok_or_else(|| self.at(line, format!("{what}: stage {name} is not built before this one"))),
            None => (self.resolve)(name).map_err(|e| self.at(line, format!("{what}: {e}"))),
        }
    }

    fn remove(&self, c: &Container) {
        if let Err(e) = self.engine.remove_container(c, true, Duration::ZERO, true) {
            tracing::warn!("removing build container {}: {e}", c.id);
        }
    }
}

/// How many history entries `image`'s config has.
fn history_len(image: &Image) -> usize {
    image.config["history"].as_array().map_or(0, Vec::len)
}

/// The stage's image is `image` from now on.
fn go_on_from(state: &mut StageState, image: Image) {
    state.cfg = image.config.clone();
    state.image = image;
}

/// BuildKit's predefined platform args: the target's and the build
/// host's, which are one here (berth builds for its host only).
fn platform_args() -> BTreeMap<String, String> {
    let host = image::manifest::PlatformSpec::host();
    let variant = host.variant.clone().unwrap_or_default();
    let platform = match &host.variant {
        Some(v) => format!("{}/{}/{v}", host.os, host.architecture),
        None => format!("{}/{}", host.os, host.architecture),
    };
    let mut args = BTreeMap::new();
    for side in ["TARGET", "BUILD"] {
        args.insert(format!("{side}PLATFORM"), platform.clone());
        args.insert(format!("{side}OS"), host.os.clone());
        args.insert(format!("{side}ARCH"), host.architecture.clone());
        args.insert(format!("{side}VARIANT"), variant.clone());
    }
    args
}

/// The PATH a base image without one gets (buildah's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Flags of `instruction` other than `allowed`: an error that says berth
/// does not take them (yet), rather than a build that ignores them.
fn refuse_flags(b: &Builder<'_>, line: usize, instruction: &str, flags: &[Flag], allowed: &[&str]) -> Result<()> {
    match flags.iter().find(|f| !allowed.contains(&f.name.as_str())) {
        Some(f) => Err(b.at(line, format!("{instruction} --{}: not supported yet", f.name))),
        None => Ok(()),
    }
}

fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}
