//! `cp`: podman's (docker's) rules for what goes where, on top of the tar
//! halves in `copy.rs`.
//!
//! A source directory `d` is copied as `d` into an existing directory, or
//! becomes the destination when that does not exist yet; `d/.` copies what
//! is in it. A file goes into an existing directory, over an existing
//! file, or to a new name whose parent exists. A tar on stdin is unpacked
//! into an existing directory; a copy to stdout is a tar named after the
//! source. Into a container, files get its user's uid/gid (`--archive`,
//! the default) or keep the source's; out of one, they are ours.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fstat, FileType, Mode, OFlags};

use super::copy::{self, Extract, Owner};
use super::rootfs::{base_name, ContainerRoot};
use super::Container;
use crate::error::{Error, Result};
use crate::Engine;

/// One end of a copy.
pub enum CpEnd {
    /// A path on the host, as given.
    Host(String),
    /// A path in a container; `name` is the container as the user named it.
    Container { container: Box<Container>, name: String, path: String },
    /// A tar on stdin (source) or stdout (destination).
    Stream,
}

#[derive(Debug, Clone, Copy)]
pub struct CpOptions {
    /// Files copied into a container get its user's uid/gid (podman's default).
    pub archive: bool,
    /// A directory may replace a non-directory and the other way round.
    pub overwrite: bool,
}

/// A resolved end: the root its path is under, the path there, and how
/// the user named it (for messages).
struct End<'e> {
    /// Before the guard: closed before it unmounts.
    root: OwnedFd,
    _guard: Option<ContainerRoot<'e>>,
    path: PathBuf,
    given: String,
    place: String,
}

impl End<'_> {
    fn not_found(&self) -> Error {
        Error::new(format!("{:?} could not be found {}: no such file or directory", self.given, self.place))
    }

    /// What the path is now (following a final symlink inside the root).
    fn kind(&self, path: &Path) -> Result<Option<FileType>> {
        match sys::fs::open_rerooted(self.root.as_fd(), path, OFlags::PATH) {
            Ok(fd) => {
                let st = fstat(&fd).map_err(|e| Error::caused(format_args!("stat {}", self.given), e))?;
                Ok(Some(FileType::from_raw_mode(st.st_mode)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => Ok(None),
            Err(e) => Err(Error::caused(format_args!("resolving {:?}", self.given), e)),
        }
    }
}

impl Engine {
    /// Copy `from` to `to` (see the module docs); `stdin`/`stdout` serve a
    /// [`CpEnd::Stream`].
    pub fn copy(
        &self,
        from: CpEnd,
        to: CpEnd,
        opts: CpOptions,
        stdin: &mut dyn Read,
        stdout: &mut dyn Write,
    ) -> Result<()> {
        let ours = Some((rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw()));
        let src = match &from {
            CpEnd::Stream => None,
            end => Some(self.end(end)?),
        };
        // What the destination's files are owned by.
        let owner: Owner = match &to {
            CpEnd::Container { container, .. } if opts.archive => Some(self.container_owner(container)?),
            CpEnd::Container { .. } => None,
            _ => ours,
        };
        // The source: a tree to archive, with how its top entry is named.
        let source = match &src {
            None => None,
            Some(s) => {
                let kind = s.kind(&s.path)?.ok_or_else(|| s.not_found())?;
                let is_dir = kind == FileType::Directory;
                // `dir/.` (and `/`) copy what is in the directory.
                let contents = is_dir && (s.given.ends_with("/.") || s.given == "." || base_name(&s.path).is_none());
                let top: Option<OsString> =
                    if contents { None } else { Some(base_name(&s.path).map_or_else(|| ".".into(), |b| b.to_owned())) };
                Some((s, is_dir, top))
            }
        };
        let dst = match &to {
            CpEnd::Stream => {
                let Some((s, _, top)) = &source else {
                    return Err(Error::new("copying from stdin to stdout is not supported"));
                };
                copy::archive(s.root.as_fd(), &s.path, top.as_deref(), owner, stdout)?;
                return Ok(());
            }
            end => self.end(end)?,
        };
        let trailing_slash = dst.given.ends_with('/');
        let extract = |into: &Path, rename: Option<(OsString, OsString)>, reader: &mut dyn Read| {
            let opts = Extract { owner, overwrite: opts.overwrite, rename, mode: None };
            copy::extract(dst.root.as_fd(), into, reader, &opts)
        };
        let Some((s, src_is_dir, top)) = source else {
            // A tar from stdin: into an existing directory only.
            if dst.kind(&dst.path)? != Some(FileType::Directory) {
                return Err(Error::new("destination must be a directory when copying from stdin"));
            }
            return extract(&dst.path, None, stdin);
        };
        match dst.kind(&dst.path)? {
            Some(FileType::Directory) => pipe(s, top.as_deref(), owner, |r| extract(&dst.path, None, r)),
            Some(_) if src_is_dir => Err(Error::new("destination must be a directory when copying a directory")),
            Some(_) if trailing_slash => Err(Error::new(format!("{:?} is not a directory", dst.given))),
            existing => {
                if existing.is_none() && trailing_slash {
                    return Err(dst.not_found());
                }
                let parent = dst.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
                if dst.kind(&parent)? != Some(FileType::Directory) {
                    return Err(dst.not_found());
                }
                let name = base_name(&dst.path).ok_or_else(|| dst.not_found())?.to_owned();
                match top {
                    Some(top) => {
                        let rename = Some((top.clone(), name));
                        pipe(s, Some(&top), owner, |r| extract(&parent, rename, r))
                    }
                    None => {
                        // `dir/.` to a new name: the directory, then what is in it.
                        sys::fs::ensure_rerooted(dst.root.as_fd(), &dst.path, sys::fs::Kind::Dir)
                            .map_err(|e| Error::caused(format_args!("creating {:?}", dst.given), e))?;
                        pipe(s, None, owner, |r| extract(&dst.path, None, r))
                    }
                }
            }
        }
    }

    fn end<'e>(&'e self, end: &CpEnd) -> Result<End<'e>> {
        match end {
            CpEnd::Host(p) => {
                let root = rustix::fs::open("/", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| Error::caused("opening /", e))?;
                let abs = std::env::current_dir().map_err(|e| Error::caused("current directory", e))?.join(p);
                Ok(End { _guard: None, root, path: abs, given: p.clone(), place: "on the host".into() })
            }
            CpEnd::Container { container, name, path } => {
                let guard = self.container_root(container)?;
                let (root, rel) = guard.locate(Path::new(path))?;
                let mut rel = rel;
                // `dir/.` keeps its meaning (lexical resolution dropped it).
                if path.ends_with("/.") {
                    rel.push(".");
                }
                Ok(End {
                    _guard: Some(guard),
                    root,
                    path: rel,
                    given: path.clone(),
                    place: format!("on container {name}"),
                })
            }
            CpEnd::Stream => Err(Error::new("internal error: a stream is not a path")),
        }
    }

    /// The uid/gid of the user container `c` runs as, in its own
    /// /etc/passwd and /etc/group.
    fn container_owner(&self, c: &Container) -> Result<(u32, u32)> {
        let root = self.container_root(c)?;
        let user = super::spec::resolve_user(&sys::fs::fd_path(root.fd()), &c.user)?;
        Ok((user.uid, user.gid))
    }
}

/// Archive `s` on one thread while `consume` reads it on this one.
fn pipe(
    s: &End,
    top: Option<&std::ffi::OsStr>,
    owner: Owner,
    consume: impl FnOnce(&mut dyn Read) -> Result<()>,
) -> Result<()> {
    let root: BorrowedFd = s.root.as_fd();
    let path = s.path.clone();
    let (produced, consumed) = copy::through_pipe(
        move |writer| copy::archive(root, &path, top, owner, writer).map(drop),
        |mut reader| consume(&mut reader),
    )?;
    // The reader's error says more than the producer's broken pipe.
    consumed.and(produced)
}
