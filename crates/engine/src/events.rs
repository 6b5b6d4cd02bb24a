//! The events log: what happened to containers, images, volumes and
//! networks, in `<runroot>/events/events.log` (the directory 0700), one
//! JSON object per line in the shape podman's `events --format json`
//! prints (podman's file backend lives in /run too: events belong to this
//! boot).
//!
//! Whichever berth process causes an event appends it (a CLI command, a
//! container's monitor, a healthcheck). Writers open the log once per
//! process, lazily, with O_APPEND, and write each line with one `write`
//! while holding an flock on `events.lock`: O_APPEND alone makes the
//! offset atomic, but a write can still come back short (a signal, a
//! full disk) and the size check and rotation below must not race another
//! writer's line. The time is taken under the lock, so the file's order is
//! the events' order. The lock is on a file of its own, not on the log,
//! because rotation replaces the log's inode.
//!
//! The log is bounded (berth.conf's `[engine] events_logfile_max_size`,
//! podman's key; [`MAX_LOG_SIZE`] by default): a line that would take it
//! past the limit first renames it to `events.log.1`
//! (replacing the one before) under the same lock; writers holding the
//! old file notice its inode is no longer the path's and reopen. Readers
//! read `events.log.1` then `events.log`, skip lines they cannot parse,
//! ignore a trailing line without its newline (a writer killed mid-line:
//! the next writer ends it first, so it never swallows a whole line), and
//! when following drain the old file before moving to the new one.
//!
//! Writing an event never fails what caused it: an error is a warning.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::containers::Container;
use crate::error::Context as _;
use crate::Result;

/// The log's size past which it is rotated when berth.conf's
/// `[engine] events_logfile_max_size` does not say (podman's default, 1
/// MB). At most twice the size is kept.
pub const MAX_LOG_SIZE: u64 = 1_000_000;

const LOG: &str = "events.log";
const OLD_LOG: &str = "events.log.1";
const LOCK: &str = "events.lock";

/// What an event is about (podman's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Container,
    Image,
    Volume,
    Network,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Container => "container",
            Type::Image => "image",
            Type::Volume => "volume",
            Type::Network => "network",
        }
    }
}

/// What happened (podman's `Status`, with its names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Attach,
    Build,
    Checkpoint,
    Cleanup,
    Commit,
    Connect,
    Create,
    Died,
    Disconnect,
    Exec,
    ExecDied,
    HealthStatus,
    Import,
    Init,
    Kill,
    LoadFromArchive,
    Mount,
    Oom,
    Pause,
    Prune,
    Pull,
    Push,
    Remove,
    Rename,
    Restart,
    Save,
    Start,
    Stop,
    Tag,
    Unmount,
    Unpause,
    Untag,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Attach => "attach",
            Status::Build => "build",
            Status::Checkpoint => "checkpoint",
            Status::Cleanup => "cleanup",
            Status::Commit => "commit",
            Status::Connect => "connect",
            Status::Create => "create",
            Status::Died => "died",
            Status::Disconnect => "disconnect",
            Status::Exec => "exec",
            Status::ExecDied => "exec_died",
            Status::HealthStatus => "health_status",
            Status::Import => "import",
            Status::Init => "init",
            Status::Kill => "kill",
            // podman 4.3's name for `load`.
            Status::LoadFromArchive => "loadfromarchive",
            Status::Mount => "mount",
            Status::Oom => "oom",
            Status::Pause => "pause",
            Status::Prune => "prune",
            Status::Pull => "pull",
            Status::Push => "push",
            Status::Remove => "remove",
            Status::Rename => "rename",
            Status::Restart => "restart",
            Status::Save => "save",
            Status::Start => "start",
            Status::Stop => "stop",
            Status::Tag => "tag",
            Status::Unmount => "unmount",
            Status::Unpause => "unpause",
            Status::Untag => "untag",
        }
    }
}

/// One event, as a line of the log (podman's `events.Event`, its JSON
/// keys and their order; empty fields left out as podman's `omitempty`
/// does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Left out when 0 too, as Go's `omitempty` leaves out a zero int.
    #[serde(rename = "ContainerExitCode", default, skip_serializing_if = "is_zero")]
    pub exit_code: Option<i32>,
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "Image", default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Network", default, skip_serializing_if = "String::is_empty")]
    pub network: String,
    #[serde(rename = "Status")]
    pub status: String,
    /// RFC 3339 with nanoseconds, UTC.
    #[serde(rename = "Time")]
    pub time: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "health_status", default, skip_serializing_if = "String::is_empty")]
    pub health_status: String,
    /// A container's labels (podman prints `{}` for a container without
    /// any, `null` for other types).
    #[serde(rename = "Attributes", default)]
    pub attributes: Option<BTreeMap<String, String>>,
}

fn is_zero(code: &Option<i32>) -> bool {
    code.unwrap_or(0) == 0
}

impl Event {
    pub fn new(kind: Type, status: Status) -> Event {
        Event { kind: kind.as_str().into(), status: status.as_str().into(), ..Event::default() }
    }

    /// When it happened (`None` for a time that does not parse).
    pub fn time(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339(&self.time).ok()
    }

    /// An event about container `c`: its ID, name, image and labels.
    pub fn container(status: Status, c: &Container) -> Event {
        Event {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image_name.clone(),
            attributes: Some(c.labels.clone()),
            ..Event::new(Type::Container, status)
        }
    }
}

/// Record that `status` happened to container `c`.
pub fn container(runroot: &Path, status: Status, c: &Container) {
    emit(runroot, Event::container(status, c));
}

/// Record that container `c`'s process ended with `exit_code`.
pub fn container_died(runroot: &Path, c: &Container, exit_code: i32) {
    emit(runroot, Event { exit_code: Some(exit_code), ..Event::container(Status::Died, c) });
}

/// Record that an exec session's process in container `c` ended with
/// `exit_code`.
pub fn exec_died(runroot: &Path, c: &Container, exit_code: i32) {
    emit(runroot, Event { exit_code: Some(exit_code), ..Event::container(Status::ExecDied, c) });
}

/// Record container `c`'s health after a check (`healthy`...).
pub fn container_health(runroot: &Path, c: &Container, health: &str) {
    emit(runroot, Event { health_status: health.into(), ..Event::container(Status::HealthStatus, c) });
}

/// Record `status` of image `id` (hex or `sha256:` digest; may be empty,
/// as podman leaves a pull's) under `name`.
pub fn image(runroot: &Path, status: Status, id: &str, name: &str) {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    emit(runroot, Event { id: id.into(), name: name.into(), ..Event::new(Type::Image, status) });
}

/// Record `status` of volume `name`.
pub fn volume(runroot: &Path, status: Status, name: &str) {
    emit(runroot, Event { name: name.into(), ..Event::new(Type::Volume, status) });
}

/// Record `status` (create, remove) of network `name`.
pub fn network(runroot: &Path, status: Status, id: &str, name: &str) {
    emit(runroot, Event { id: id.into(), network: name.into(), ..Event::new(Type::Network, status) });
}

/// Record container `c` connected to or disconnected from network `name`
/// (podman's event: the container's ID and name, the network's name).
pub fn network_of(runroot: &Path, status: Status, c: &Container, name: &str) {
    let e = Event {
        id: c.id.clone(),
        name: c.name.clone(),
        image: c.image_name.clone(),
        network: name.into(),
        ..Event::new(Type::Network, status)
    };
    emit(runroot, e);
}

/// The writer of this process, opened on first use.
static WRITER: Mutex<Option<Writer>> = Mutex::new(None);

/// Append `event` to the log of the store whose runroot is `runroot`
/// (its time is set now); a failure is a warning, never an error.
pub fn emit(runroot: &Path, event: Event) {
    let dir = runroot.join("events");
    // A panic elsewhere while the mutex was held leaves the writer as
    // sound as it was (every write is whole or re-checked under the flock).
    let mut guard = WRITER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // A fork (a healthcheck's checker, an exec's keeper) shares its
    // parent's open files, and with them the flock: it opens its own.
    let pid = rustix::process::getpid();
    if guard.as_ref().is_none_or(|w| w.dir != dir || w.pid != pid) {
        match Writer::open(&dir, max_size()) {
            Ok(w) => *guard = Some(w),
            Err(e) => {
                tracing::warn!("recording event {} {}: {e}", event.kind, event.status);
                return;
            }
        }
    }
    if let Some(w) = guard.as_mut() {
        if let Err(e) = w.append(event.clone()) {
            tracing::warn!("recording event {} {}: {e}", event.kind, event.status);
        }
    }
}

/// berth.conf's limit, else the default (a bad file is the command's
/// error to report, not the event's).
fn max_size() -> u64 {
    crate::config::get().ok().and_then(|c| c.engine.events_logfile_max_size.bytes().ok()).unwrap_or(MAX_LOG_SIZE)
}

/// An open log to append to.
pub struct Writer {
    dir: PathBuf,
    /// The process that opened it.
    pid: rustix::process::Pid,
    lock: File,
    log: File,
    max_size: u64,
}

impl Writer {
    /// Open (making them) the directory, its lock and its log; rotate past
    /// `max_size` bytes.
    pub fn open(dir: &Path, max_size: u64) -> io::Result<Writer> {
        sys::fs::create_private_dir(dir, 0o700)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(dir.join(LOCK))?;
        let log = open_log(dir)?;
        Ok(Writer { dir: dir.to_path_buf(), pid: rustix::process::getpid(), lock, log, max_size })
    }

    /// Append `event` as one line, its time set now (under the lock).
    pub fn append(&mut self, mut event: Event) -> io::Result<()> {
        rustix::fs::flock(&self.lock, rustix::fs::FlockOperation::LockExclusive)?;
        let result = self.append_locked(&mut event);
        // Closing would release it too; the file stays open for the next.
        let _ = rustix::fs::flock(&self.lock, rustix::fs::FlockOperation::Unlock);
        result
    }

    fn append_locked(&mut self, event: &mut Event) -> io::Result<()> {
        event.time = crate::units::rfc3339_nanos(SystemTime::now());
        let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
        line.push(b'\n');
        // Another writer rotated it: write where readers look.
        let path = self.dir.join(LOG);
        let current = self.log.metadata()?;
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.ino() == current.ino() && m.dev() == current.dev() => {}
            _ => self.log = open_log(&self.dir)?,
        }
        let mut size = self.log.metadata()?.len();
        if size > 0 && size + line.len() as u64 > self.max_size {
            std::fs::rename(&path, self.dir.join(OLD_LOG))?;
            self.log = open_log(&self.dir)?;
            size = 0;
        }
        // A writer killed mid-line left it unended: end it, so this line
        // stays whole (readers skip the broken one).
        if size > 0 {
            let mut last = [0u8];
            self.log.read_exact_at(&mut last, size - 1)?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        self.log.write_all(&line)
    }
}

fn open_log(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(dir.join(LOG))
}

/// Reads a store's log: what is there, then (following) what comes.
pub struct Reader {
    dir: PathBuf,
    /// The log being read, its inode, and the bytes of a line not yet ended.
    file: Option<File>,
    ino: u64,
    partial: Vec<u8>,
    inotify: Option<rustix::fd::OwnedFd>,
}

impl Reader {
    /// A reader of the log of the store whose runroot is `runroot` (its
    /// directory made if missing, so a follower can watch it).
    pub fn open(runroot: &Path) -> Result<Reader> {
        let dir = runroot.join("events");
        sys::fs::create_private_dir(&dir, 0o700).ctx(|| format!("creating {}", dir.display()))?;
        Ok(Reader { dir, file: None, ino: 0, partial: Vec::new(), inotify: None })
    }

    /// A reader of what is logged from now on (the past skipped).
    pub fn from_now(runroot: &Path) -> Result<Reader> {
        let mut r = Reader::open(runroot)?;
        r.watch()?;
        match File::open(r.dir.join(LOG)) {
            Ok(mut f) => {
                let at =
                    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).ctx(|| "reading the events log".into())?;
                r.ino = f.metadata().ctx(|| "reading the events log".into())?.ino();
                // Mid-line (a writer killed there): its end is no event.
                if at > 0 {
                    let mut last = [0u8];
                    f.read_exact_at(&mut last, at - 1).ctx(|| "reading the events log".into())?;
                    if last[0] != b'\n' {
                        r.partial.push(b'x');
                    }
                }
                r.file = Some(f);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::caused("opening the events log", e)),
        }
        Ok(r)
    }

    /// Wait until an event `found` accepts is logged, until `deadline`;
    /// whether one was.
    pub fn wait_for(&mut self, found: impl Fn(&Event) -> bool, deadline: Instant) -> bool {
        loop {
            match self.next(Some(deadline)) {
                Ok(events) if events.iter().any(&found) => return true,
                Ok(events) if events.is_empty() => return false,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("waiting for an event: {e}");
                    return false;
                }
            }
        }
    }

    /// Every event logged so far, oldest first.
    pub fn past(&mut self) -> Result<Vec<Event>> {
        // Watch before reading, so nothing written in between is missed.
        self.watch()?;
        let mut events = Vec::new();
        // The log first: should it be rotated while the old one is read,
        // its lines are still in this open file.
        let log = match File::open(self.dir.join(LOG)) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(crate::Error::caused(format!("opening {}", self.dir.join(LOG).display()), e)),
        };
        match File::open(self.dir.join(OLD_LOG)) {
            Ok(mut old) => {
                let same = log.as_ref().and_then(|l| l.metadata().ok()).map(|m| m.ino());
                // Rotated between the two opens: `log` is this very file.
                if same != old.metadata().ok().map(|m| m.ino()) {
                    let mut rest = Vec::new();
                    read_lines(&mut old, &mut rest, &mut events).ctx(|| "reading the events log".into())?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::caused(format!("opening {}", self.dir.join(OLD_LOG).display()), e)),
        }
        if let Some(mut f) = log {
            self.ino = f.metadata().ctx(|| "reading the events log".into())?.ino();
            read_lines(&mut f, &mut self.partial, &mut events).ctx(|| "reading the events log".into())?;
            self.file = Some(f);
        }
        Ok(events)
    }

    /// Wait for events logged after the last read, until `deadline`; an
    /// empty list when it passed. Sleeps on inotify between writes.
    pub fn next(&mut self, deadline: Option<Instant>) -> Result<Vec<Event>> {
        self.watch()?;
        loop {
            let mut events = Vec::new();
            self.catch_up(&mut events).ctx(|| "reading the events log".into())?;
            if !events.is_empty() {
                return Ok(events);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    None => return Ok(events),
                    Some(left) => Some(
                        rustix::event::Timespec::try_from(left)
                            .unwrap_or(rustix::event::Timespec { tv_sec: i64::MAX, tv_nsec: 0 }),
                    ),
                },
            };
            let Some(inotify) = &self.inotify else { return Ok(events) };
            let mut fds = [rustix::event::PollFd::new(inotify, rustix::event::PollFlags::IN)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(crate::Error::caused("waiting for events", io::Error::from(e))),
            }
            drain_inotify(inotify);
        }
    }

    /// Read what the current log gained; if it was rotated, what the old
    /// one gained before, then the new one from its start.
    fn catch_up(&mut self, events: &mut Vec<Event>) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            read_lines(f, &mut self.partial, events)?;
        }
        let now = match std::fs::metadata(self.dir.join(LOG)) {
            Ok(m) => m.ino(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if self.file.is_none() || now != self.ino {
            // Rotated: every write to the old file ended before the rename
            // (both under the lock), and was read above.
            self.partial.clear();
            let mut f = File::open(self.dir.join(LOG))?;
            self.ino = f.metadata()?.ino();
            read_lines(&mut f, &mut self.partial, events)?;
            self.file = Some(f);
        }
        Ok(())
    }

    fn watch(&mut self) -> Result<()> {
        if self.inotify.is_some() {
            return Ok(());
        }
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| crate::Error::caused("watching the events log", io::Error::from(e)))?;
        let what = inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO;
        inotify::add_watch(&fd, &self.dir, what)
            .map_err(|e| crate::Error::caused(format!("watching {}", self.dir.display()), io::Error::from(e)))?;
        self.inotify = Some(fd);
        Ok(())
    }
}

/// Throw away what inotify queued: it only says to look again.
fn drain_inotify(fd: &rustix::fd::OwnedFd) {
    let mut buf = [0u8; 4096];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Read `f` from where it is to its end: whole lines become events (those
/// that do not parse are skipped), an unended last line stays in `partial`.
fn read_lines(f: &mut File, partial: &mut Vec<u8>, events: &mut Vec<Event>) -> io::Result<()> {
    let start = partial.len();
    f.read_to_end(partial)?;
    if partial.len() == start {
        return Ok(());
    }
    let end = match partial.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => return Ok(()),
    };
    for line in partial[..end].split(|&b| b == b'\n') {
        if let Ok(e) = serde_json::from_slice::<Event>(line) {
            events.push(e);
        }
    }
    partial.drain(..end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume_event(name: &str) -> Event {
        Event { name: name.into(), ..Event::new(Type::Volume, Status::Create) }
    }

    #[test]
    fn lines_are_podmans_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), MAX_LOG_SIZE).unwrap();
        w.append(volume_event("v1")).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(text.starts_with(r#"{"Name":"v1","Status":"create","Time":""#), "{text}");
        assert!(text.ends_with("Z\",\"Type\":\"volume\",\"Attributes\":null}\n"), "{text}");
        let mode = std::fs::metadata(dir.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn rotation_keeps_every_line_for_readers() {
        let dir = tempfile::tempdir().unwrap();
        let runroot = dir.path();
        let mut w = Writer::open(&runroot.join("events"), 1000).unwrap();
        // A second writer opened before the rotation keeps writing where readers look.
        let mut other = Writer::open(&runroot.join("events"), 1000).unwrap();
        for i in 0..12 {
            w.append(volume_event(&format!("a{i}"))).unwrap();
        }
        assert!(runroot.join("events").join(OLD_LOG).exists(), "rotated");
        assert!(std::fs::metadata(runroot.join("events").join(LOG)).unwrap().len() <= 1000);
        other.append(volume_event("b")).unwrap();
        let mut r = Reader::open(runroot).unwrap();
        let names: Vec<String> = r.past().unwrap().into_iter().map(|e| e.name).collect();
        // One rotation at most here (~100 bytes a line, 1000 a file): all kept.
        let mut want: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
        want.push("b".into());
        assert_eq!(names, want);
        // A follower moves on to the new file after a rotation.
        for i in 0..12 {
            w.append(volume_event(&format!("c{i}"))).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 12 {
            let more = r.next(Some(Instant::now() + std::time::Duration::from_secs(5))).unwrap();
            assert!(!more.is_empty(), "follower stalled after {got:?}");
            got.extend(more.into_iter().map(|e| e.name));
        }
        let want: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_unended_line_is_ignored_then_ended_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let mut w = Writer::open(&events, MAX_LOG_SIZE).unwrap();
        w.append(volume_event("one")).unwrap();
        // A writer killed mid-line.
        let mut f = OpenOptions::new().append(true).open(events.join(LOG)).unwrap();
        f.write_all(br#"{"Name":"half","Sta"#).unwrap();
        let mut r = Reader::open(dir.path()).unwrap();
        let names: Vec<String> = r.past().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["one"]);
        w.append(volume_event("two")).unwrap();
        let more = r.next(Some(Instant::now() + std::time::Duration::from_secs(5))).unwrap();
        let names: Vec<String> = more.into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["two"], "the broken line is skipped, the next one whole");
        let mut r2 = Reader::open(dir.path()).unwrap();
        let names: Vec<String> = r2.past().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["one", "two"]);
    }

    #[test]
    fn an_exit_code_of_zero_is_left_out_as_go_does() {
        let died = |code| Event { exit_code: Some(code), ..Event::new(Type::Container, Status::Died) };
        assert!(!serde_json::to_string(&died(0)).unwrap().contains("ContainerExitCode"));
        assert!(serde_json::to_string(&died(3)).unwrap().starts_with(r#"{"ContainerExitCode":3,"#));
    }

    #[test]
    fn a_reader_from_now_sees_only_what_comes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&dir.path().join("events"), MAX_LOG_SIZE).unwrap();
        w.append(volume_event("old")).unwrap();
        let mut r = Reader::from_now(dir.path()).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        assert!(!r.wait_for(|e| e.name == "old", deadline), "the past is skipped");
        w.append(volume_event("new")).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        assert!(r.wait_for(|e| e.name == "new", deadline));
    }

    #[test]
    fn times_keep_their_order_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&dir.path().join("events"), MAX_LOG_SIZE).unwrap();
        for i in 0..5 {
            w.append(volume_event(&i.to_string())).unwrap();
        }
        let events = Reader::open(dir.path()).unwrap().past().unwrap();
        let times: Vec<SystemTime> = events.iter().map(|e| e.time().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }

    #[test]
    fn a_follower_waits_until_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Reader::open(dir.path()).unwrap();
        assert!(r.past().unwrap().is_empty());
        let start = Instant::now();
        let got = r.next(Some(start + std::time::Duration::from_millis(200))).unwrap();
        assert!(got.is_empty());
        assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    }
}
