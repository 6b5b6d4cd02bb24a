//! Persistent container state: `<root>/<id>/state.json`, written atomically.
//!
//! The status is never stored as truth; it is derived each time from what
//! the kernel says (is the init alive and the same process, does the exec
//! fifo still exist, is the cgroup frozen), so a crash at any moment leaves
//! state that the next command reads correctly.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};
use sys::fs::{Durability, FileLock, LockMode};

use crate::cgroups;
use crate::error::{Context, Error, Result};
use crate::procfs;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What is saved for each container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init; 0 while creating.
    pub pid: i32,
    /// /proc/PID/stat start time of that init, to detect pid reuse.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    pub cgroup: Option<cgroups::Manager>,
    pub config: SavedSpec,
    /// Set once `start` has released the init.
    #[serde(default)]
    pub started: bool,
}

/// The OCI config in a container's state, with its JSON text.
///
/// A config with a seccomp profile is most of state.json (podman's profile
/// alone is ~8 KB), and the state is saved three times on a container's way
/// to running: the text is kept (from the bundle's config.json, or from
/// state.json when loaded) and written again as it is, not encoded anew each
/// time. Changing the config through [`SavedSpec::spec_mut`] drops the text.
#[derive(Debug, Clone)]
pub struct SavedSpec {
    spec: Spec,
    json: Option<Box<serde_json::value::RawValue>>,
}

impl SavedSpec {
    /// `spec`, whose JSON is `json` when given (the text it was parsed from).
    pub fn new(spec: Spec, json: Option<Box<serde_json::value::RawValue>>) -> SavedSpec {
        SavedSpec { spec, json }
    }

    pub fn spec_mut(&mut self) -> &mut Spec {
        self.json = None;
        &mut self.spec
    }
}

impl std::ops::Deref for SavedSpec {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.spec
    }
}

impl Serialize for SavedSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.json {
            Some(text) => text.serialize(s),
            None => self.spec.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SavedSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<SavedSpec, D::Error> {
        let text = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let spec = serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?;
        Ok(SavedSpec { spec, json: Some(text) })
    }
}

/// A container's state directory.
#[derive(Debug, Clone)]
pub struct Dir {
    pub path: PathBuf,
    pub id: String,
}

/// Mode of the state root and of every container's directory. Nothing but
/// the runtime (root) looks inside: the init opens the exec fifo while it
/// still has host root's credentials, and the console socket and bundle are
/// the caller's paths. Other host users get nothing (no listing, no
/// traversal: state.json holds the whole config).
const PRIVATE: u32 = 0o700;

/// Make the state root (`create`), and close an existing one made by an
/// older version (0711). A root given as a symlink is fixed at its target.
fn prepare_root(root: &Path, create: bool) -> Result<()> {
    // An existing root (or a symlink to one) is only restricted, below.
    if create && std::fs::symlink_metadata(root).is_err() {
        sys::fs::create_private_dir(root, PRIVATE).context(|| format!("create state root {}", root.display()))?;
    }
    let real = match std::fs::canonicalize(root) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(()),
        Err(e) => return Err(e).context(|| format!("state root {}", root.display())),
    };
    sys::fs::restrict_dir(&real, PRIVATE).context(|| format!("restrict state root {}", root.display()))
}

pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

impl Dir {
    /// Make a new, empty state directory and lock it (see [`Dir::lock`]);
    /// fails if the id is taken. The caller holds the lock for the whole of
    /// `create`, so no other command sees the container half-made.
    pub fn create(root: &Path, id: &str) -> Result<(Dir, FileLock)> {
        validate_id(id)?;
        prepare_root(root, true)?;
        let path = root.join(id);
        // Not create_private_dir: an existing directory is a taken id. (The
        // umask can only narrow PRIVATE.)
        match std::fs::DirBuilder::new().mode(PRIVATE).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::AlreadyExists(id.into())),
            Err(e) => return Err(e).context(|| format!("create {}", path.display())),
        }
        let dir = Dir { path, id: id.into() };
        // Between the mkdir and the lock, a `delete` of this id may have taken
        // the (empty) directory away: then the lock is refused and this
        // create fails, having made nothing else.
        let lock = dir.lock().map_err(|e| match e {
            Error::NotFound(_) => Error::Other(format!("container \"{id}\" was deleted while it was being created")),
            e => e,
        })?;
        Ok((dir, lock))
    }

    pub fn open(root: &Path, id: &str) -> Result<Dir> {
        validate_id(id).map_err(|_| Error::NotFound(id.into()))?;
        prepare_root(root, false)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(Error::NotFound(id.into()));
        }
        // Made by an older version (0711): close it.
        match sys::fs::restrict_dir(&path, PRIVATE) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(id.into())),
            Err(e) => return Err(e).context(|| format!("restrict {}", path.display())),
        }
        Ok(Dir { path, id: id.into() })
    }

    /// Take an exclusive lock on the container for the life of the guard, so
    /// that two commands on the same container (two `start`s, `delete` during
    /// `kill`, anything during `create`) serialize. If the directory was
    /// removed (or replaced) while we waited, the container we locked is gone:
    /// `NotFound`.
    pub fn lock(&self) -> Result<FileLock> {
        let fd = rustix::fs::open(
            &self.path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT => Error::NotFound(self.id.clone()),
            e => Error::Io { context: format!("open {}", self.path.display()), source: e.into() },
        })?;
        let lock =
            FileLock::on(File::from(fd), LockMode::Exclusive).context(|| format!("lock {}", self.path.display()))?;
        let held = rustix::fs::fstat(&lock).map_err(std::io::Error::from).context(|| "fstat lock".into())?;
        match rustix::fs::lstat(&self.path) {
            Ok(now) if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) => Ok(lock),
            _ => Err(Error::NotFound(self.id.clone())),
        }
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<State> {
        self.read_state()
    }

    /// state.json decoded as `T` (the whole state, or what a reader needs).
    fn read_state<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let p = self.path.join(STATE_FILE);
        let text = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Other(format!("container \"{}\" has no state (its creation did not finish); delete it", self.id))
            } else {
                Error::Io { context: format!("read {}", p.display()), source: e }
            }
        })?;
        serde_json::from_slice(&text).map_err(|e| Error::Other(format!("corrupt state {}: {e}", p.display())))
    }

    /// Replace state.json atomically. Without fsync: the state never has to
    /// outlive a crash of the machine (its processes do not), and runc and
    /// crun do not sync either; on a disk-backed --root each fsync cost
    /// 0.5-10 ms on the path from `create` to the container running.
    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state).map_err(|e| Error::Other(e.to_string()))?;
        let path = self.path.join(STATE_FILE);
        sys::fs::write_atomic(&path, &data, 0o600, Durability::ReplaceOnly)
            .context(|| format!("write {}", path.display()))
    }

    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("remove {}", self.path.display())),
        }
    }
}

/// The init `pid` started at `pid_start` is still that live process.
fn init_alive(pid: i32, pid_start: u64) -> bool {
    pid > 0 && procfs::start_and_state(pid).is_some_and(|(start, s)| start == pid_start && s != 'Z' && s != 'X')
}

/// A container's status, derived from the kernel: whether its init lives,
/// whether it still waits on the exec fifo, whether its cgroup is frozen.
fn status(pid: i32, pid_start: u64, started: bool, cgroup: Option<&cgroups::Manager>, dir: &Dir) -> Status {
    if pid == 0 {
        return Status::Creating;
    }
    if !init_alive(pid, pid_start) {
        return Status::Stopped;
    }
    if !started && dir.fifo().exists() {
        return Status::Created;
    }
    if cgroup.is_some_and(|cg| cg.is_frozen().unwrap_or(false)) {
        return Status::Paused;
    }
    Status::Running
}

/// What [`Dir::status`] reads of state.json: all but the OCI config, which is
/// most of it and costs the most to decode.
#[derive(Deserialize)]
struct Brief {
    pid: i32,
    pid_start: u64,
    cgroup: Option<cgroups::Manager>,
    #[serde(default)]
    started: bool,
}

impl Dir {
    /// The directory of container `id` under `root`, for reading only: no
    /// check or repair of the root's and directory's modes (see [`Dir::open`]).
    pub fn at(root: &Path, id: &str) -> Result<Dir> {
        validate_id(id).map_err(|_| Error::NotFound(id.into()))?;
        Ok(Dir { path: root.join(id), id: id.into() })
    }

    /// The container's status, for listings: state.json is read without the
    /// container's lock (it is replaced atomically, never half-written) and
    /// without decoding the OCI config.
    pub fn status(&self) -> Result<Status> {
        let b: Brief = self.read_state()?;
        Ok(status(b.pid, b.pid_start, b.started, b.cgroup.as_ref(), self))
    }
}

/// Write a pid file for `--pid-file` (a path the caller chose): replaced
/// atomically, never written through a symlink planted at the path, no
/// temp file left behind (see `sys::fs::write_atomic`).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    sys::fs::write_atomic(path, pid.to_string().as_bytes(), 0o644, Durability::ReplaceOnly)
        .context(|| format!("write pid file {}", path.display()))
}

impl State {
    /// Is the recorded init still the same live process?
    pub fn init_alive(&self) -> bool {
        init_alive(self.pid, self.pid_start)
    }

    pub fn status(&self, dir: &Dir) -> Status {
        status(self.pid, self.pid_start, self.started, self.cgroup.as_ref(), dir)
    }

    /// The OCI state JSON (runtime spec "state"), as `runc state` prints it.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if let Some(a) = self.config.annotations() {
            v["annotations"] = serde_json::to_value(a).unwrap_or_default();
        }
        v
    }

    /// The state passed to hooks on stdin: only the spec's fields.
    pub fn hook_json(&self, status: Status) -> Vec<u8> {
        let v = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "status": status.to_string(),
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.config.annotations().clone().unwrap_or_default(),
        });
        v.to_string().into_bytes()
    }
}

/// Every container id under `root` (directories only; order sorted).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    prepare_root(root, false)?;
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(e).context(|| format!("read {}", root.display())),
    };
    for entry in rd.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(name) = entry.file_name().to_str() {
                if validate_id(name).is_ok() {
                    ids.push(name.to_string());
                }
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// Current time as RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x").is_ok());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("-x").is_err());
        assert!(validate_id("a/b").is_err());
    }

    #[test]
    fn dirs_are_private_and_old_ones_are_closed() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/root");
        let (d, _lock) = Dir::create(&root, "c1").unwrap();
        assert_eq!((mode(&root), mode(&d.path)), (0o700, 0o700));
        for p in [&root, &d.path] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        Dir::open(&root, "c1").unwrap();
        assert_eq!((mode(&root), mode(&d.path)), (0o700, 0o700));
        // A root given as a symlink is closed at its target.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&root, t.path().join("link")).unwrap();
        assert_eq!(list_ids(&t.path().join("link")).unwrap(), vec!["c1".to_string()]);
        assert_eq!(mode(&root), 0o700);
    }

    /// The config's text is saved as it came (no re-encoding), loads back
    /// as the same config, and a change through `spec_mut` is what is saved.
    #[test]
    fn saved_config_keeps_its_text_until_changed() {
        let t = tempfile::tempdir().unwrap();
        let (d, _lock) = Dir::create(t.path(), "c1").unwrap();
        let mut spec = Spec::default();
        spec.set_hostname(Some("given".into()));
        // Spaced as no encoder writes it: seen again only if kept as it came.
        let text = serde_json::to_string_pretty(&spec).unwrap().replace('\n', "\n   ");
        let json: Box<serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
        let mut st = State {
            id: "c1".into(),
            pid: 0,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            owner: String::new(),
            cgroup: None,
            config: SavedSpec::new(spec, Some(json)),
            started: false,
        };
        d.save(&st).unwrap();
        let saved = std::fs::read_to_string(d.path.join(STATE_FILE)).unwrap();
        assert!(saved.contains(&text), "{saved}");
        let loaded = d.load().unwrap();
        assert_eq!(loaded.config.hostname().as_deref(), Some("given"));
        // Saved again after a load: still the same text.
        d.save(&loaded).unwrap();
        assert!(std::fs::read_to_string(d.path.join(STATE_FILE)).unwrap().contains(&text));
        st.config.spec_mut().set_hostname(Some("changed".into()));
        d.save(&st).unwrap();
        assert_eq!(d.load().unwrap().config.hostname().as_deref(), Some("changed"));
    }

    #[test]
    fn duplicate_create_fails() {
        let t = tempfile::tempdir().unwrap();
        let _first = Dir::create(t.path(), "c1").unwrap();
        let e = Dir::create(t.path(), "c1").unwrap_err();
        assert!(matches!(e, Error::AlreadyExists(_)));
        assert_eq!(list_ids(t.path()).unwrap(), vec!["c1".to_string()]);
    }
}
