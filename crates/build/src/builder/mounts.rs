//! A RUN step's `--mount`s made real: each [`MountSpec`] becomes a mount
//! of the step's container, with what it needs held until the step has
//! run; and the mount points the runtime had to make in the image for them
//! are taken out again before the step is committed (a secret's name, an
//! empty `/cache`, are not the image's content).

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use engine::containers::build_copy::{CopyItem, Ignore};
use engine::containers::mounts::Mount;
use engine::containers::Container;
use rustix::fs::{AtFlags, OFlags};

use super::{in_context, open_dir, Builder, Result};
use crate::run_mounts::{Kind, MountSpec};

/// A RUN step's mounts, and what they hold until the step has run.
#[derive(Default)]
pub(super) struct RunMounts {
    pub mounts: Vec<Mount>,
    /// `NAME=value` for secrets asked for as environment variables.
    pub env: Vec<String>,
    /// Bind sources, staged: each resolved inside its root to an fd, cloned
    /// from that fd (open_tree) and attached at a private mount point the
    /// runtime binds from, so it mounts exactly what was resolved, whatever
    /// happens to the path meanwhile. Unmounted when the step is done.
    staged: Vec<PathBuf>,
    /// Containers of the stages and images binds read from (mounted).
    sources: Vec<Container>,
    /// Private directories: secrets' files, copies for binds of the
    /// context that may be written or that its ignore file trims.
    scratch: Vec<tempfile::TempDir>,
}

impl RunMounts {
    /// The targets, for [`MountPoints`].
    pub fn targets(&self) -> Vec<PathBuf> {
        self.mounts.iter().map(|m| PathBuf::from(m.destination())).collect()
    }
}

impl Builder<'_> {
    /// The mounts `specs` (of the RUN at `line`) ask for.
    pub(super) fn prepare_mounts(&mut self, line: usize, specs: &[MountSpec]) -> Result<RunMounts> {
        let mut out = RunMounts::default();
        for spec in specs {
            if let Err(e) = self.prepare_mount(line, spec, &mut out) {
                self.release_mounts(out);
                return Err(e);
            }
        }
        Ok(out)
    }

    fn prepare_mount(&mut self, line: usize, spec: &MountSpec, out: &mut RunMounts) -> Result<()> {
        let target = spec.target.clone().unwrap_or_default();
        let access = if spec.readonly { "ro" } else { "rw" };
        match spec.kind {
            Kind::Tmpfs => {
                let mut options: Vec<String> = ["rw", "nosuid", "nodev"].map(String::from).to_vec();
                if let Some(size) = &spec.size {
                    options.push(format!("size={size}"));
                }
                out.mounts.push(Mount::Tmpfs { destination: target, options });
            }
            Kind::Cache => {
                let id = spec.id.clone().unwrap_or_else(|| target.clone());
                let name = image::digest::Digest::of_bytes(id.as_bytes()).hex()[..32].to_string();
                let parent = self.engine.root().join("build-cache-mounts");
                let dir = parent.join(name);
                sys::fs::create_private_dir(&parent, 0o700)?;
                if !dir.is_dir() {
                    sys::fs::create_private_dir(&dir, spec.mode.unwrap_or(0o755))?;
                    if spec.uid.is_some() || spec.gid.is_some() {
                        let (uid, gid) = (spec.uid.unwrap_or(0), spec.gid.unwrap_or(0));
                        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
                    }
                }
                let source = dir.display().to_string();
                out.mounts.push(Mount::Bind { source, destination: target, options: vec![access.into()] });
            }
            Kind::Secret => {
                let id = spec.id.clone().unwrap_or_default();
                let Some(value) = self.opts.secrets.get(&id) else {
                    if spec.required {
                        return Err(self.at(
                            line,
                            format!("RUN --mount=type=secret: secret {id:?} was not given (--secret id={id},src=PATH)"),
                        ));
                    }
                    return Ok(());
                };
                if let Some(var) = &spec.env {
                    let text = String::from_utf8(value.clone())
                        .map_err(|_| self.at(line, format!("secret {id:?} is not text: it cannot be {var}")))?;
                    out.env.push(format!("{var}={text}"));
                }
                if spec.target.is_some() {
                    // A copy in the build's scratch directory (on the
                    // runroot, a tmpfs): the secret's mode and owner are the mount's,
                    // not the file the user named.
                    let dir = tempfile::Builder::new().prefix("secret").tempdir_in(self.scratch)?;
                    let file = dir.path().join("secret");
                    sys::fs::write_new(&file, value, spec.mode.unwrap_or(0o400))?;
                    std::os::unix::fs::chown(&file, Some(spec.uid.unwrap_or(0)), Some(spec.gid.unwrap_or(0)))?;
                    let source = file.display().to_string();
                    out.mounts.push(Mount::Bind { source, destination: target, options: vec!["ro".into()] });
                    out.scratch.push(dir);
                }
            }
            Kind::Bind => self.prepare_bind(line, spec, target, out)?,
        }
        Ok(())
    }

    /// A bind of the context (or of `from`'s root): the source resolved
    /// inside it, held by an fd. A writable bind of the context, or one its
    /// ignore file trims, is of a private copy: writes never reach the
    /// user's files, and ignored files stay out of the build.
    fn prepare_bind(&mut self, line: usize, spec: &MountSpec, target: String, out: &mut RunMounts) -> Result<()> {
        let source = spec.source.clone().unwrap_or_else(|| ".".into());
        let rel = in_context(&source).unwrap_or_else(|| PathBuf::from("."));
        let what = format!("RUN --mount=type=bind,source={source}");
        let (root, place) = match &spec.from {
            None => (self.opts.context.clone(), "the build context".to_string()),
            Some(from) => {
                let image = self.image_named(line, &format!("RUN --mount=from={from}"), from)?;
                let c = self.container_of(&image, vec!["true".into()], Vec::new())?;
                let mounted = self.engine.mount_container(&c);
                out.sources.push(c);
                // A writable bind writes into that container's own layer,
                // thrown away with it.
                (mounted?, from.clone())
            }
        };
        let root_fd = open_dir(&root).map_err(|e| self.at(line, format!("{what}: opening {place}: {e}")))?;
        let copy = spec.from.is_none() && (!spec.readonly || self.ignore.is_some());
        let found = sys::fs::open_rerooted(root_fd.as_fd(), &rel, OFlags::PATH)
            .map_err(|e| self.at(line, format!("{what}: no such file or directory in {place} ({e})")))?;
        let fd: OwnedFd = if copy {
            let dir = tempfile::Builder::new().prefix("bind").tempdir_in(self.scratch)?;
            let item = CopyItem { source: rel.clone(), dest: PathBuf::from("/copy"), contents: false, unpack: None };
            let patterns = self.ignore.clone();
            let excluded = |p: &Path| patterns.as_ref().is_some_and(|i| i.excluded(&p.to_string_lossy()));
            let reinclude = |p: &Path| patterns.as_ref().is_some_and(|i| i.may_reinclude_under(&p.to_string_lossy()));
            let filter = Ignore { excluded: &excluded, may_reinclude_under: &reinclude };
            self.engine
                .copy_into_dir(dir.path(), root_fd.as_fd(), &[item], Some(&filter))
                .map_err(|e| self.at(line, format!("{what}: {e}")))?;
            let fd =
                rustix::fs::open(dir.path().join("copy"), OFlags::PATH | OFlags::CLOEXEC, rustix::fs::Mode::empty());
            out.scratch.push(dir);
            fd.map_err(|e| self.at(line, format!("{what}: {e}")))?
        } else {
            found
        };
        let staged = self.stage_bind(&fd).map_err(|e| self.at(line, format!("{what}: {e}")))?;
        out.staged.push(staged.clone());
        let access = if spec.readonly { "ro" } else { "rw" };
        out.mounts.push(Mount::Bind {
            source: staged.display().to_string(),
            destination: target,
            options: vec![access.into()],
        });
        Ok(())
    }

    /// The file or directory `fd` holds, bound (a clone of it, through the
    /// fd) at a new mount point of the build's scratch directory: a path the
    /// runtime can bind from in its own mount namespace, which a path
    /// through `/proc/self/fd` would not be.
    fn stage_bind(&self, fd: &OwnedFd) -> std::io::Result<PathBuf> {
        use rustix::mount::{MoveMountFlags, OpenTreeFlags};
        let parent = self.scratch.join("binds");
        let is_dir = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode).is_dir();
        let point = tempfile::Builder::new().prefix("bind").tempfile_in(&parent)?.into_temp_path().keep()?;
        if is_dir {
            std::fs::remove_file(&point)?;
            std::fs::create_dir(&point)?;
        }
        let tree = rustix::mount::open_tree(
            fd,
            "",
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_EMPTY_PATH
                | OpenTreeFlags::AT_RECURSIVE,
        );
        let attached = tree.and_then(|t| {
            rustix::mount::move_mount(t.as_fd(), "", rustix::fs::CWD, &point, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        });
        if let Err(e) = attached {
            let _ = if is_dir { std::fs::remove_dir(&point) } else { std::fs::remove_file(&point) };
            return Err(e.into());
        }
        Ok(point)
    }

    /// Let go of what `mounts` held: the source containers go.
    pub(super) fn release_mounts(&self, mounts: RunMounts) {
        for point in &mounts.staged {
            if let Err(e) = rustix::mount::unmount(point, rustix::mount::UnmountFlags::DETACH) {
                tracing::warn!("unmounting {}: {e}", point.display());
            }
            let _ = std::fs::remove_dir(point).or_else(|_| std::fs::remove_file(point));
        }
        for c in &mounts.sources {
            if let Err(e) = self.engine.unmount_container(c, false) {
                tracing::warn!("unmounting build container {}: {e}", c.id);
            }
            self.remove(c);
        }
    }
}

/// The mount points a step's container lacked for its mounts: made by the
/// runtime in the container's own layer, they are removed again before
/// the commit (when still empty: what the step put there stays).
pub(super) struct MountPoints {
    /// For each target, itself and its ancestors that did not exist,
    /// deepest first.
    missing: Vec<PathBuf>,
}

impl MountPoints {
    /// Which of `targets` (and their parents) the container's root
    /// (`root`, mounted) lacks.
    pub fn before(root: &Path, targets: &[PathBuf]) -> std::io::Result<MountPoints> {
        let root = open_dir(root)?;
        let mut missing = Vec::new();
        for t in targets {
            let rel = sys::fs::resolve::relative(&sys::fs::lexical(t));
            let mut at = Some(rel.as_path());
            let mut chain = Vec::new();
            while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
                if sys::fs::open_rerooted(root.as_fd(), p, OFlags::PATH).is_ok() {
                    break;
                }
                chain.push(p.to_path_buf());
                at = p.parent();
            }
            missing.extend(chain);
        }
        Ok(MountPoints { missing })
    }

    /// Remove the mount points left under `root` that are still empty.
    pub fn remove(&self, root: &Path) -> std::io::Result<()> {
        let root = open_dir(root)?;
        for p in &self.missing {
            let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else { continue };
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            let Ok(dir) = sys::fs::open_rerooted(root.as_fd(), parent, OFlags::RDONLY | OFlags::DIRECTORY) else {
                continue;
            };
            let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
            match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                // A directory goes only if empty (rmdir says).
                rustix::fs::FileType::Directory => {
                    let _ = rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR);
                }
                rustix::fs::FileType::RegularFile if st.st_size == 0 => {
                    rustix::fs::unlinkat(&dir, name, AtFlags::empty())?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
