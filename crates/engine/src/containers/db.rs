//! Container records in one SQLite database (`<root>/containers.db`).
//!
//! SQLite gives what hand-written JSON files would need locks and renames
//! for: atomic updates, a UNIQUE name (two `create --name x` at once: one
//! wins, the other gets a clear error), and readers that never see half a
//! write, across processes and crashes. Each row holds the indexed columns
//! plus the whole record as JSON, so adding a field needs no migration.
//!
//! Updates are compare-and-swap: every write bumps the row's `version`, and
//! an update names the version it was decided on. A writer holding a stale
//! copy (another process changed the record since it read it) is told so
//! and must reload and decide again; nothing is ever overwritten blindly.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::Container;
use crate::error::{Context as _, Error, Result};

pub struct Db {
    conn: Connection,
}

/// The schema [`Db::open`] makes, in the database's `user_version`: a
/// database that says so needs no setup. Bump it with any change to the
/// setup (an upgrade runs once, under the setup lock).
const SCHEMA: i64 = 3;

/// A connection to the database at `path`, configured as every berth
/// process uses it.
fn connect(path: &Path) -> Result<Connection> {
    let what = || format!("opening {}", path.display());
    let conn = Connection::open(path).ctx(what)?;
    // Other berth processes may hold the write lock for a moment.
    conn.busy_timeout(Duration::from_secs(30)).ctx(what)?;
    // Closing does not checkpoint: each berth command closes its
    // connection, and a checkpoint then (two fsyncs, the WAL deleted and
    // made again by the next) cost every command. SQLite checkpoints
    // when the WAL reaches `wal_autocheckpoint` pages instead: 100, not
    // the default 1000, because each command's first open of the
    // database reads the whole WAL back (its index lives in shared
    // memory that goes with the last connection), and a `run --rm`
    // writes ~9 pages: a checkpoint every ~10 runs, and at most 400 KB
    // read per open instead of 4 MB.
    conn.pragma_update(None, "synchronous", "NORMAL").ctx(what)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).ctx(what)?;
    conn.pragma_update(None, "wal_autocheckpoint", 100).ctx(what)?;
    Ok(conn)
}

/// A connection to the SQLite database at `path`, set up once (closed to
/// other users, WAL, then `setup`, then `user_version` = `schema`): a
/// database that says `schema` already is only connected to.
pub(crate) fn open_private(
    path: &Path,
    schema: i64,
    setup: impl FnOnce(&mut Connection) -> Result<()>,
) -> Result<Connection> {
    // Set up already (the usual case), and closed to other users: nothing
    // to make or check.
    let private = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o077 == 0);
    if private {
        let conn = connect(path)?;
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx(|| format!("reading {}", path.display()))?;
        if version == schema {
            return Ok(conn);
        }
    }
    // Setting up a database (WAL mode, the tables, an upgrade) is not
    // covered by SQLite's busy handler: a first use by several processes
    // at once got "database is locked". One at a time, under a flock.
    let lock_path = path.with_extension("db.lock");
    let _setup = sys::fs::FileLock::exclusive(&lock_path).ctx(|| format!("locking {}", lock_path.display()))?;
    private_file(path).ctx(|| format!("creating {}", path.display()))?;
    let mut conn = connect(path)?;
    conn.pragma_update(None, "journal_mode", "WAL").ctx(|| format!("initialising {}", path.display()))?;
    setup(&mut conn)?;
    // Last: from now on opens take the path above.
    conn.pragma_update(None, "user_version", schema).ctx(|| format!("initialising {}", path.display()))?;
    Ok(conn)
}

impl Db {
    pub fn open(root: &Path) -> Result<Db> {
        let path = root.join("containers.db");
        let conn = open_private(&path, SCHEMA, |conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS containers (
                     id TEXT PRIMARY KEY,
                     name TEXT NOT NULL UNIQUE,
                     image_id TEXT NOT NULL,
                     record TEXT NOT NULL,
                     version INTEGER NOT NULL DEFAULT 0
                 );
                 DROP TABLE IF EXISTS addresses;",
            )
            .ctx(|| format!("initialising {}", path.display()))?;
            // (`addresses`, schema 2, moved to the host-wide
            // `networks::addresses`.) Databases made before versions
            // existed: add the column, checked again in an immediate
            // transaction so two processes opening an old database at once
            // upgrade it once.
            let has_version = |c: &Connection| {
                c.prepare("SELECT 1 FROM pragma_table_info('containers') WHERE name = 'version'")?.exists([])
            };
            if !has_version(conn).ctx(|| format!("reading {}", path.display()))? {
                let upgrade = conn.transaction_with_behavior(TransactionBehavior::Immediate).and_then(|tx| {
                    if !has_version(&tx)? {
                        tx.execute("ALTER TABLE containers ADD COLUMN version INTEGER NOT NULL DEFAULT 0", [])?;
                    }
                    tx.commit()
                });
                upgrade.ctx(|| format!("upgrading {}", path.display()))?;
            }
            Ok(())
        })?;
        Ok(Db { conn })
    }

    /// Add a new container; fails if its name is taken.
    pub fn insert(&self, c: &Container) -> Result<()> {
        let record = serde_json::to_string(c).ctx(|| "encoding container record".into())?;
        match self.conn.execute(
            "INSERT INTO containers (id, name, image_id, record, version) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.id, c.name, c.image_id, record, c.version],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
                let holder = self.by_name(&c.name)?.map(|o| o.id).unwrap_or_default();
                Err(Error::in_use(format!(
                    "the container name \"{}\" is already in use by {holder}. You have to remove that container to be able to reuse that name: that name is already in use",
                    c.name
                )))
            }
            Err(e) => Err(Error::caused(format_args!("recording container {}", c.name), e)),
        }
    }

    /// Write `c` if its record is still at `c.version` (and bump both);
    /// [`Written::Stale`] if another write came first or it is gone.
    pub fn update(&self, c: &mut Container) -> Result<Written> {
        let record = serde_json::to_string(c).ctx(|| "encoding container record".into())?;
        let n = self
            .conn
            .execute(
                "UPDATE containers SET record = ?2, version = version + 1 WHERE id = ?1 AND version = ?3",
                params![c.id, record, c.version],
            )
            .ctx(|| format!("updating container {}", c.name))?;
        if n == 0 {
            return Ok(Written::Stale);
        }
        c.version += 1;
        Ok(Written::Done)
    }

    /// Give `c` (its record at `c.version`) the name `name`: [`Written::Stale`]
    /// as [`Db::update`]; a name another container has is an error.
    pub fn rename(&self, c: &mut Container, name: &str) -> Result<Written> {
        let mut renamed = c.clone();
        renamed.name = name.to_string();
        let record = serde_json::to_string(&renamed).ctx(|| "encoding container record".into())?;
        let n = match self.conn.execute(
            "UPDATE containers SET name = ?2, record = ?3, version = version + 1 WHERE id = ?1 AND version = ?4",
            params![c.id, name, record, c.version],
        ) {
            Ok(n) => n,
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
                return Err(Error::in_use(format!(
                    "renaming container {}: name {name} already in use, cannot rename container {}: container already exists",
                    c.id, c.id
                )));
            }
            Err(e) => return Err(Error::caused(format_args!("renaming container {}", c.name), e)),
        };
        if n == 0 {
            return Ok(Written::Stale);
        }
        *c = renamed;
        c.version += 1;
        Ok(Written::Done)
    }

    /// The current record of container `id`.
    pub fn get(&self, id: &str) -> Result<Option<Container>> {
        self.one("SELECT record, version FROM containers WHERE id = ?1", id)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        // Its addresses, should its monitor not have given them back, are
        // free from now on: `networks::addresses` frees those of
        // containers no longer recorded (no write there on `run --rm`'s
        // path).
        self.conn.execute("DELETE FROM containers WHERE id = ?1", params![id]).ctx(|| format!("removing {id}"))?;
        Ok(())
    }

    fn by_name(&self, name: &str) -> Result<Option<Container>> {
        self.one("SELECT record, version FROM containers WHERE name = ?1", name)
    }

    fn one(&self, sql: &str, arg: &str) -> Result<Option<Container>> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(sql, params![arg], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .ctx(|| "reading containers".into())?;
        row.map(|(t, v)| decode(&t, v)).transpose()
    }

    /// Every container, oldest first.
    pub fn all(&self) -> Result<Vec<Container>> {
        self.select("SELECT record, version FROM containers", &[])
    }

    /// The containers made from image `image_id`.
    pub fn using_image(&self, image_id: &str) -> Result<Vec<Container>> {
        self.select("SELECT record, version FROM containers WHERE image_id = ?1", &[image_id])
    }

    fn select(&self, sql: &str, args: &[&str]) -> Result<Vec<Container>> {
        let mut stmt = self.conn.prepare(sql).ctx(|| "reading containers".into())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .ctx(|| "reading containers".into())?;
        let mut out = Vec::new();
        for r in rows {
            let (text, version) = r.ctx(|| "reading containers".into())?;
            out.push(decode(&text, version)?);
        }
        out.sort_by_key(|c: &Container| c.created);
        Ok(out)
    }
}

/// Create the database file 0600 (records carry containers' environment)
/// before SQLite does (it would use the umask), and close one that an older
/// version made readable. SQLite gives its -wal and -shm files the database
/// file's mode.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Whether [`Db::update`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Written {
    Done,
    /// The record changed (or went) since it was read: nothing was written.
    Stale,
}

fn decode(text: &str, version: i64) -> Result<Container> {
    let mut c: Container = serde_json::from_str(text).ctx(|| "decoding container record".into())?;
    c.version = version;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::State;

    fn record(id: &str, name: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            image_id: "sha256:x".into(),
            image_name: "x".into(),
            args: vec!["true".into()],
            entrypoint: Vec::new(),
            command: vec!["true".into()],
            env: None,
            user: String::new(),
            create_command: Vec::new(),
            created: std::time::SystemTime::now(),
            state: State::Created,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            terminal: false,
            interactive: false,
            auto_remove: false,
            restart: Default::default(),
            restart_count: 0,
            stopped_by_user: false,
            oom_killed: false,
            mounts: Vec::new(),
            stop_signal: None,
            stop_timeout: None,
            labels: Default::default(),
            log: Default::default(),
            healthcheck: None,
            init_path: None,
            health_status: None,
            isolation: Default::default(),
            version: 0,
            oci_runtime: None,
            exec_ids: Vec::new(),
            network_status: Vec::new(),
        }
    }

    #[test]
    fn a_stale_copy_never_overwrites() {
        let t = tempfile::tempdir().unwrap();
        let db = Db::open(t.path()).unwrap();
        db.insert(&record("a", "one")).unwrap();
        let mut runner = db.get("a").unwrap().unwrap();
        let mut poller = db.get("a").unwrap().unwrap();
        runner.state = State::Exited;
        runner.exit_code = Some(7);
        assert_eq!(db.update(&mut runner).unwrap(), Written::Done);
        poller.state = State::Exited;
        assert_eq!(db.update(&mut poller).unwrap(), Written::Stale);
        let now = db.get("a").unwrap().unwrap();
        assert_eq!((now.exit_code, now.version), (Some(7), 1));
        // A second writer with the fresh copy goes through.
        let mut again = now;
        assert_eq!(db.update(&mut again).unwrap(), Written::Done);
        db.delete("a").unwrap();
        assert_eq!(db.update(&mut again).unwrap(), Written::Stale, "gone is stale too");
    }

    #[test]
    fn old_databases_get_versions() {
        let t = tempfile::tempdir().unwrap();
        let conn = Connection::open(t.path().join("containers.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL, record TEXT NOT NULL);",
        )
        .unwrap();
        let old = serde_json::to_string(&record("b", "two")).unwrap();
        conn.execute("INSERT INTO containers VALUES ('b', 'two', 'sha256:x', ?1)", [old]).unwrap();
        drop(conn);
        let db = Db::open(t.path()).unwrap();
        let mut c = db.get("b").unwrap().unwrap();
        assert_eq!(c.version, 0);
        assert_eq!(db.update(&mut c).unwrap(), Written::Done);
        assert_eq!(Db::open(t.path()).unwrap().get("b").unwrap().unwrap().version, 1);
    }

    /// Set up once: later opens (the fast path) find the schema's version,
    /// and are configured as the first was.
    #[test]
    fn set_up_databases_open_configured() {
        let t = tempfile::tempdir().unwrap();
        let pragma = |db: &Db, name: &str| -> String {
            db.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        let first = Db::open(t.path()).unwrap();
        first.insert(&record("a", "one")).unwrap();
        let again = Db::open(t.path()).unwrap();
        assert_eq!(pragma(&again, "user_version"), format!("Integer({SCHEMA})"));
        assert_eq!(pragma(&again, "journal_mode"), "Text(\"wal\")");
        // NORMAL.
        assert_eq!(pragma(&again, "synchronous"), "Integer(1)");
        assert_eq!(pragma(&again, "wal_autocheckpoint"), "Integer(100)");
        assert!(again.get("a").unwrap().is_some());
    }
}
