//! What `pull` and `push` show while blobs move, the way podman shows it:
//! one progress bar per blob when stderr is a terminal, otherwise plain lines
//! a log can keep ("Copying blob sha256:... done"), and nothing with `-q`.
//! Everything goes to stderr: stdout carries only the result (the image ID).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal as _, Write as _};

use engine::remote::Event;
use engine::Engine;
use image::digest::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Bars,
}

impl Mode {
    /// Bars only on a terminal: redirected output must stay readable text.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        }
    }
}

/// Turns registry events into output. Interior mutability because the
/// registry takes a `&dyn Fn(Event)` (called from one thread only).
pub struct Reporter<'a> {
    mode: Mode,
    engine: &'a Engine,
    /// Config digests, when known before the transfer (push). Events do not
    /// say whether a blob is a config, and podman words that line differently.
    configs: RefCell<HashSet<Digest>>,
    /// Plain lines held back until the manifest says which blob is the config
    /// (pull: the manifest is only in the store once the blobs are).
    pending: RefCell<Vec<(Digest, &'static str)>>,
    defer: bool,
    multi: MultiProgress,
    bars: RefCell<HashMap<Digest, ProgressBar>>,
}

impl<'a> Reporter<'a> {
    /// `configs`: the config digests if already known; `None` defers the
    /// plain lines to the end of each image.
    pub fn new(mode: Mode, engine: &'a Engine, configs: Option<HashSet<Digest>>) -> Self {
        let known = configs.is_some();
        let multi = MultiProgress::with_draw_target(if mode == Mode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Reporter {
            mode,
            engine,
            configs: RefCell::new(configs.unwrap_or_default()),
            pending: RefCell::new(Vec::new()),
            defer: !known,
            multi,
            bars: RefCell::new(HashMap::new()),
        }
    }

    /// A status line ("Trying to pull ...") in every mode but quiet.
    pub fn line(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        if self.mode == Mode::Bars {
            // Printed above the bars, which keep redrawing below.
            let _ = self.multi.println(text);
        } else {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{text}");
        }
    }

    pub fn event(&self, e: Event) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => self.plain(e),
            Mode::Bars => self.bar(e),
        }
    }

    fn plain(&self, e: Event) {
        match e {
            Event::BlobSkipped { digest } => self.blob_line(digest, "skipped: already exists"),
            Event::BlobDone { digest } => self.blob_line(digest, "done"),
            Event::EndpointFailed { endpoint, error } => self.line(&format!("Error pulling from {endpoint}: {error}")),
            Event::ManifestDone { digest } => {
                self.learn_configs(&digest);
                let pending = std::mem::take(&mut *self.pending.borrow_mut());
                // Layers first, config last: the order podman prints them in.
                let (configs, layers): (Vec<_>, Vec<_>) =
                    pending.into_iter().partition(|(d, _)| self.configs.borrow().contains(d));
                for (d, what) in layers.into_iter().chain(configs) {
                    self.line(&self.blob_text(&d, what));
                }
                self.line("Writing manifest to image destination");
            }
            Event::Resolved { .. } => {
                // Lines held for an endpoint or search registry that failed are stale.
                self.pending.borrow_mut().clear();
                self.line("Getting image source signatures");
            }
            Event::BlobStarted { .. } | Event::BlobProgress { .. } | Event::ImageManifest { .. } => {}
        }
    }

    fn blob_line(&self, digest: Digest, what: &'static str) {
        if self.defer {
            self.pending.borrow_mut().push((digest, what));
        } else {
            self.line(&self.blob_text(&digest, what));
        }
    }

    fn blob_text(&self, digest: &Digest, what: &str) -> String {
        let kind = if self.configs.borrow().contains(digest) { "config" } else { "blob" };
        format!("Copying {kind} {digest} {what}")
    }

    /// Read which blobs are configs from a manifest now in the store.
    fn learn_configs(&self, manifest: &Digest) {
        if let Ok(configs) = self.engine.config_digests(manifest) {
            self.configs.borrow_mut().extend(configs);
        }
    }

    fn bar(&self, e: Event) {
        match e {
            Event::BlobStarted { digest, size } => {
                let pb = self.multi.add(ProgressBar::new(size));
                pb.set_style(style("{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}"));
                pb.set_prefix(self.bar_label(&digest));
                self.bars.borrow_mut().insert(digest, pb);
            }
            Event::BlobProgress { digest, done, .. } => {
                if let Some(pb) = self.bars.borrow().get(&digest) {
                    pb.set_position(done);
                }
            }
            Event::BlobDone { digest } => {
                if let Some(pb) = self.bars.borrow().get(&digest) {
                    pb.set_style(style("{prefix} {msg}"));
                    pb.finish_with_message("done");
                }
            }
            Event::BlobSkipped { digest } => {
                let pb = self.multi.add(ProgressBar::new(0));
                pb.set_style(style("{prefix} {msg}"));
                pb.set_prefix(self.bar_label(&digest));
                pb.finish_with_message("skipped: already exists");
                self.bars.borrow_mut().insert(digest, pb);
            }
            Event::EndpointFailed { endpoint, error } => self.line(&format!("Error pulling from {endpoint}: {error}")),
            Event::ManifestDone { digest } => {
                // The config was labelled as a blob if it was not known yet.
                self.learn_configs(&digest);
                // Dropping the finished bars leaves them on screen as plain
                // text, so the next line prints below them, not above.
                // indicatif leaves the cursor at the end of the last bar.
                let mut drawn = false;
                for (d, pb) in self.bars.borrow_mut().drain() {
                    pb.set_prefix(self.bar_label(&d));
                    pb.tick();
                    drawn = true;
                }
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{}Writing manifest to image destination", if drawn { "\n" } else { "" });
            }
            Event::Resolved { .. } => self.line("Getting image source signatures"),
            Event::ImageManifest { .. } => {}
        }
    }

    fn bar_label(&self, digest: &Digest) -> String {
        let kind = if self.configs.borrow().contains(digest) { "config" } else { "blob  " };
        format!("Copying {kind} {}", &digest.hex()[..12])
    }
}

/// A bar style; the templates are constants, so failure would be our bug,
/// shown as indicatif's default rather than a panic.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}
