//! RUN: a container of the stage's image runs the command attached, with
//! the step's mounts, the build args (and proxy args) as its environment;
//! its changes are committed as the step's layer, the mount points it
//! lacked taken out first.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use engine::containers::Container;
use engine::Image;
use rustix::fs::{Mode, OFlags};

use super::{mounts, Builder, Error, Result, StageState};
use crate::containerfile::{self, Command, Step};
use crate::run_mounts::MountSpec;

impl Builder<'_> {
    pub(super) fn run_command(
        &mut self,
        state: &mut StageState,
        step: &Step,
        run: RunSpec<'_>,
        final_step: bool,
    ) -> Result<Image> {
        let argv = match (run.command, run.here_docs) {
            (Command::Exec(argv), []) => argv.clone(),
            // `RUN <<EOF` alone: the document is the script (BuildKit's
            // rule). Else the shell reads the documents from the script.
            (Command::Shell(text), [doc])
                if text.lines().next().is_some_and(|l| l.trim() == format!("<<{}", doc.name)) =>
            {
                let mut argv = state.shell.clone();
                argv.push(doc.body.clone());
                argv
            }
            (Command::Shell(text), _) => {
                let mut argv = state.shell.clone();
                argv.push(text.clone());
                argv
            }
            (Command::Exec(_), _) => {
                return Err(self.at(step.line, "RUN in the exec form takes no here-document".into()));
            }
        };
        // History as buildah (and docker's classic builder) writes it: the
        // build args in scope (`|N NAME=value ...`), the shell (`/bin/sh
        // -c` for the exec form), then the instruction's text as written,
        // flags included.
        let shell = match run.command {
            Command::Exec(_) => "/bin/sh -c".to_string(),
            Command::Shell(_) => state.shell.join(" "),
        };
        let written = step.text.trim_start();
        let rest = written.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim_start());
        let args = if state.args.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = state.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} ", pairs.len(), pairs.join(" "))
        };
        let created_by = format!("{args}{shell} {rest}");
        // Build args are the command's environment, not the image's.
        let env_keys: Vec<String> = state.env().into_iter().map(|(k, _)| k).collect();
        let mut env: Vec<String> =
            state.args.iter().filter(|(k, _)| !env_keys.contains(k)).map(|(k, v)| format!("{k}={v}")).collect();
        for (k, v) in self.opts.build_args.iter().filter(|(k, _)| PROXY_ARGS.contains(&k.as_str())) {
            if !state.args.contains_key(k) && !env_keys.contains(k) {
                env.push(format!("{k}={v}"));
            }
        }
        let mounts = self.prepare_mounts(step.line, run.mounts)?;
        env.extend(mounts.env.iter().cloned());
        let made = self.container_with(&state.image, argv, env, mounts.mounts.clone(), &run.networks);
        let result = match made {
            Ok(c) => {
                let mut targets = mounts.targets();
                targets.extend(RUNTIME_MOUNT_POINTS.iter().map(PathBuf::from));
                let ran = self.run_container(state, step, &c, &targets, created_by, final_step);
                self.remove(&c);
                ran
            }
            Err(e) => Err(e),
        };
        self.release_mounts(mounts);
        result
    }

    /// Run step container `c` attached and commit what it changed; mount
    /// points it lacked for `targets` are not part of that.
    fn run_container(
        &mut self,
        state: &StageState,
        step: &Step,
        c: &Container,
        targets: &[PathBuf],
        created_by: String,
        final_step: bool,
    ) -> Result<Image> {
        // Mounted meanwhile, when there are mount points to look at: which
        // it lacks is seen before it starts, and what is left of them after.
        let root = if targets.is_empty() { None } else { Some(self.engine.mount_container(c)?) };
        let ran = self.run_mounted(step, c, root.as_deref(), targets);
        // Unmounted before the commit, which reads the container's layer.
        if root.is_some() {
            if let Err(e) = self.engine.unmount_container(c, false) {
                tracing::warn!("unmounting build container {}: {e}", c.id);
            }
        }
        ran?;
        let cfg = self.with_history(state, created_by, false);
        self.commit(state, Some(c), cfg, final_step)
    }

    /// Run `c`; then take out the mount points (of `targets`) it lacked,
    /// under its root `root` (mounted).
    fn run_mounted(&mut self, step: &Step, c: &Container, root: Option<&Path>, targets: &[PathBuf]) -> Result<()> {
        let points = match root {
            Some(root) => Some(mounts::MountPoints::before(root, targets)?),
            None => None,
        };
        self.out.flush()?;
        let opts = engine::containers::attached::AttachOptions {
            stdin: false,
            tty: false,
            sig_proxy: true,
            detach_keys: Vec::new(),
        };
        // `-q`: the command's output is not shown (its errors are), as
        // podman's: our stdout points at /dev/null while it runs.
        let quiet = if self.opts.quiet && self.silence_runs { Some(Silenced::stdout()?) } else { None };
        let mut c = c.clone();
        let attached = self.engine.run_attached(&mut c, &opts);
        drop(quiet);
        let code = match attached? {
            engine::containers::attached::Attached::Exited(code) => code,
            _ => -1,
        };
        if code != 0 {
            return Err(Error::Run { step: step.text.clone(), code });
        }
        if let (Some(points), Some(root)) = (points, root) {
            points.remove(root)?;
        }
        Ok(())
    }
}

/// Where the runtime mounts things in every RUN container (the kernel's
/// filesystems, the files it writes for the network, podman's
/// `.containerenv`): made in the step's layer when the image lacks them,
/// taken out again as BuildKit does, so the image has only what the
/// step made.
const RUNTIME_MOUNT_POINTS: &[&str] =
    &["/proc", "/sys", "/dev", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"];

/// What a RUN step runs, and how.
pub(super) struct RunSpec<'a> {
    pub(super) command: &'a Command,
    pub(super) here_docs: &'a [containerfile::HereDoc],
    pub(super) mounts: &'a [MountSpec],
    /// `--network` of the build, or the step's own.
    pub(super) networks: Vec<String>,
}

/// Build args a RUN sees without an ARG for them (docker's predefined
/// proxy args); they are left out of cache keys and history.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// This process's stdout sent to /dev/null until dropped (a RUN step's
/// output under `-q`: the engine relays it to our stdout).
pub(super) struct Silenced {
    saved: OwnedFd,
}

impl Silenced {
    pub(super) fn stdout() -> Result<Silenced> {
        let saved = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3).map_err(std::io::Error::from)?;
        let null = rustix::fs::open("/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(std::io::Error::from)?;
        rustix::stdio::dup2_stdout(&null).map_err(std::io::Error::from)?;
        Ok(Silenced { saved })
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        if let Err(e) = rustix::stdio::dup2_stdout(&self.saved) {
            tracing::warn!("restoring stdout: {e}");
        }
    }
}
