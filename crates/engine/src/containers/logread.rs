//! Reading a container's log (`logs`): its rotated files oldest first, then
//! the live one; with `follow`, what is written later too, across
//! rotations. Only the monitor rotates; a reader never changes the files.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::logfile::{self, Entry};
use super::Container;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// A reader of container `c`'s log, for [`Engine::poll_log`]: its
    /// entries, in order, then `None` once what the log held is read; with
    /// `follow`, then also the entries written later, until the container
    /// no longer runs (or, with `until`, that time passed). A container
    /// that never logged (created only) has an empty log; one with the
    /// `none` driver has none, in podman's words.
    pub fn log_reader(&self, c: &Container, follow: bool, until: Option<SystemTime>) -> Result<LogReader> {
        let Some(path) = self.log_file(c) else {
            return Err(Error::new(
                "this container is using the 'none' log driver, cannot read logs: this container is not logging output",
            ));
        };
        Ok(LogReader {
            id: c.id.clone(),
            path,
            follow,
            until,
            live: Live { file: None, pending: Vec::new(), buf: vec![0u8; 64 << 10] },
            started: false,
            caught_up: false,
        })
    }

    /// Pass what `r`'s log has now to `each` (see [`Engine::log_reader`]);
    /// whether to poll again later (it follows a container that runs).
    /// One thread can follow several logs, polling each in turn.
    pub fn poll_log(&self, r: &mut LogReader, each: &mut impl FnMut(Option<&Entry>) -> Result<()>) -> Result<bool> {
        let path = r.path.clone();
        let live = &mut r.live;
        if !r.started {
            r.started = true;
            let mut all = logfile::files(&path);
            all.pop();
            for old in &all {
                read_whole(old, each)?;
            }
            live.file = open(&path)?;
        }
        loop {
            // Whether it still runs, asked before reading: what it wrote up
            // to its exit is then in the file when we read it.
            let running = r.follow && r.until.is_none_or(|u| SystemTime::now() <= u) && self.still_live(&r.id);
            if live.file.is_none() && r.follow {
                live.file = open(&path)?;
            }
            live.drain(&path, each)?;
            if !r.caught_up {
                r.caught_up = true;
                each(None)?;
            }
            if !running {
                return Ok(false);
            }
            if !live.rotated(&path) {
                return Ok(true);
            }
            // Ours is now one of the rotated files (or gone): read it to its
            // end, then the files rotated after it, then the new one.
            live.drain(&path, each)?;
            let ours = live.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| (m.dev(), m.ino()));
            let mut rotated = logfile::files(&path);
            rotated.pop();
            let at = rotated.iter().position(|p| std::fs::metadata(p).is_ok_and(|m| Some((m.dev(), m.ino())) == ours));
            // Not found: rotated out of existence, so all are newer.
            let newer = at.map_or(0, |i| i + 1);
            for p in &rotated[newer..] {
                read_whole(p, each)?;
            }
            live.file = open(&path)?;
            live.pending.clear();
        }
    }
}

impl Engine {
    /// Whether container `id` runs (or is paused), its record brought up
    /// to date: one record read, not all (`logs -f` asks often).
    fn still_live(&self, id: &str) -> bool {
        let Ok(db) = self.db() else { return false };
        match db.get(id) {
            Ok(Some(c)) => self.refresh(&db, c).ok().flatten().is_some_and(|c| c.state.is_live()),
            _ => false,
        }
    }
}

/// Where a reader of one container's log is.
pub struct LogReader {
    id: String,
    path: PathBuf,
    follow: bool,
    until: Option<SystemTime>,
    live: Live,
    /// The rotated files were read, the live one opened.
    started: bool,
    /// `None` was passed on.
    caught_up: bool,
}

/// The file being read and what it has of a line not yet complete.
struct Live {
    file: Option<File>,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl Live {
    /// Read what the file has and pass on its complete lines.
    fn drain(&mut self, path: &Path, each: &mut impl FnMut(Option<&Entry>) -> Result<()>) -> Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        loop {
            let n = match f.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::caused(format_args!("reading {}", path.display()), e)),
            };
            if n == 0 {
                return Ok(());
            }
            self.pending.extend_from_slice(&self.buf[..n]);
            // Complete lines only: the writer may be mid-line.
            if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
                for line in self.pending[..end].split(|b| *b == b'\n') {
                    if let Some(e) = Entry::parse(line) {
                        each(Some(&e))?;
                    }
                }
                self.pending.drain(..=end);
            }
        }
    }

    /// Whether `path` is no longer the file we read: the monitor rotated it.
    fn rotated(&self, path: &Path) -> bool {
        let Some(f) = &self.file else { return false };
        let ours = f.metadata().ok().map(|m| (m.dev(), m.ino()));
        let now = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        ours.is_some() && ours != now
    }
}

/// `path` opened for reading; `None` if it is not there (yet).
fn open(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::caused(format_args!("opening {}", path.display()), e)),
    }
}

/// Every entry of a rotated file (gone meanwhile: none).
fn read_whole(path: &Path, each: &mut impl FnMut(Option<&Entry>) -> Result<()>) -> Result<()> {
    let mut live = Live { file: open(path)?, pending: Vec::new(), buf: vec![0u8; 64 << 10] };
    live.drain(path, each)
}
