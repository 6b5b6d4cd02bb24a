//! `--jobs N`: stages that do not need each other are built at once, up to
//! N, each on a thread of its own with an engine of its own (an engine is
//! not shared between threads). A stage starts once the stages it uses
//! are built. The images stages name that are not stages are found (pulled
//! if the policy says so) first, on this thread: the threads only look
//! them up. Each stage's progress lines are printed when it is done, whole;
//! what its RUN steps print comes as it comes.

use std::collections::BTreeMap;
use std::sync::mpsc;

use engine::Image;

use super::{Builder, Error, Result, Silenced};

/// A stage's outcome, from its thread: the image (or why not), its
/// progress lines, its base image, the images its steps made.
type Done = (usize, Result<Image>, Vec<u8>, Option<Image>, Vec<Image>);

impl Builder<'_> {
    /// Whether the stages in `needed` can be built at once: every source
    /// they name is known before any is built (a name with a variable is
    /// known only once its stage runs), and no registry cache is used.
    pub(super) fn parallel_possible(&self, needed: &[usize]) -> bool {
        // A registry cache is reached through this thread's engine only.
        let remote = self.opts.cache_from.is_some() || self.opts.cache_to.is_some();
        !remote && needed.iter().all(|&i| self.names_used_by(i).iter().skip(1).all(|n| !n.contains('$')))
    }

    /// Build the stages `needed` (`target` last), `self.opts.jobs` at once.
    pub(super) fn build_parallel(&mut self, needed: &[usize], target: usize) -> Result<()> {
        let images = self.resolve_sources(needed)?;
        let mut offsets = BTreeMap::new();
        let mut at = 0;
        for &i in needed {
            offsets.insert(i, at);
            at += 1 + self.file.stages[i].steps.len();
        }
        let deps: BTreeMap<usize, Vec<usize>> = needed.iter().map(|&i| (i, self.depends_on(i))).collect();
        let mut waiting: Vec<usize> = needed.to_vec();
        // `-q`: stdout is /dev/null for the whole while (per RUN, as one
        // stage alone does it, threads would restore each other's).
        let quiet = if self.opts.quiet { Some(Silenced::stdout()?) } else { None };
        let (opts, file, lexer, steps, jobs) = (self.opts, self.file, self.lexer, self.steps, self.opts.jobs);
        let ignore = self.ignore.clone();
        let scratch = self.scratch;
        let handle = self.engine.handle();
        let stages = self.file.stages.len();
        let result = std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = mpsc::channel::<Done>();
            let mut running = 0;
            let mut failed: Option<Error> = None;
            loop {
                while failed.is_none() && running < jobs {
                    let ready = waiting.iter().position(|i| deps[i].iter().all(|d| self.built[*d].is_some()));
                    let Some(pos) = ready else { break };
                    let i = waiting.remove(pos);
                    let (tx, handle, ignore, images, built) =
                        (tx.clone(), handle.clone(), ignore.clone(), &images, self.built.clone());
                    let step = offsets[&i];
                    scope.spawn(move || {
                        let engine = handle.engine();
                        let mut out = Vec::new();
                        let lookup = |name: &str| -> engine::Result<Image> {
                            match images.get(name) {
                                Some(Ok(image)) => Ok(image.clone()),
                                Some(Err(message)) => Err(engine::Error::new(message.clone())),
                                None => Err(engine::Error::new(format!("{name}: image not known"))),
                            }
                        };
                        let mut b = Builder {
                            engine: &engine,
                            opts,
                            resolve: &lookup,
                            file,
                            lexer,
                            ignore,
                            out: &mut out,
                            step,
                            steps,
                            built,
                            bases: vec![None; stages],
                            silence_runs: false,
                            made: Vec::new(),
                            scratch,
                        };
                        let image = b.stage(i, i == target);
                        let base = b.bases[i].take();
                        let made = std::mem::take(&mut b.made);
                        // The receiver outlives every thread of the scope.
                        let _ = tx.send((i, image, out, base, made));
                    });
                    running += 1;
                }
                if running == 0 {
                    break;
                }
                let Ok((i, image, out, base, made)) = rx.recv() else { break };
                running -= 1;
                self.made.extend(made);
                if let Err(e) = self.out.write_all(&out).and_then(|()| self.out.flush()) {
                    failed.get_or_insert(e.into());
                }
                match image {
                    Ok(image) => {
                        self.built[i] = Some(image);
                        self.bases[i] = base;
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            match failed {
                Some(e) => Err(e),
                None if waiting.is_empty() => Ok(()),
                None => Err(self.at(1, "internal error: stages left waiting on each other".into())),
            }
        });
        drop(quiet);
        result
    }

    /// The images (not stages, not `scratch`) the stages `needed` name,
    /// each found once: the image, or the error its lookup gave (reported
    /// by the step that names it, as without `--jobs`).
    fn resolve_sources(&self, needed: &[usize]) -> Result<BTreeMap<String, std::result::Result<Image, String>>> {
        let globals = self.global_args()?;
        let mut images = BTreeMap::new();
        for &i in needed {
            let def = &self.file.stages[i];
            let base = self.lexer.word(&def.base, &globals).map_err(|e| self.at(def.line, e.to_string()))?;
            let names =
                std::iter::once((true, base)).chain(self.names_used_by(i).into_iter().skip(1).map(|n| (false, n)));
            for (is_base, name) in names {
                // FROM names an earlier stage or else an image (docker's
                // rule); COPY --from and mounts never look a stage's name
                // up as an image (a later stage's is the step's error).
                let stage = match self.file.stage_index(&name) {
                    Some(j) => !is_base || j < i,
                    None => false,
                };
                if stage || name.eq_ignore_ascii_case("scratch") || images.contains_key(&name) {
                    continue;
                }
                let found = (self.resolve)(&name).map_err(|e| e.to_string());
                images.insert(name, found);
            }
        }
        Ok(images)
    }
}
