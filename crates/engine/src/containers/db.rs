//! Container records in one SQLite database (`<root>/containers.db`).
//!
//! SQLite gives what hand-written JSON files would need locks and renames
//! for: atomic updates, a UNIQUE name (two `create --name x` at once: one
//! wins, the other gets a clear error), and readers that never see half a
//! write, across processes and crashes. Each row holds the indexed columns
//! plus the whole record as JSON, so adding a field needs no migration.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use super::Container;
use crate::error::{Context as _, Error, Result};

pub struct Db {
    conn: Connection,
}

impl Db {
    pub fn open(root: &Path) -> Result<Db> {
        std::fs::create_dir_all(root).ctx(|| format!("creating {}", root.display()))?;
        let path = root.join("containers.db");
        let conn = Connection::open(&path).ctx(|| format!("opening {}", path.display()))?;
        // Other berth processes may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(30)).ctx(|| "setting busy timeout".into())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS containers (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 image_id TEXT NOT NULL,
                 record TEXT NOT NULL
             );",
        )
        .ctx(|| format!("initialising {}", path.display()))?;
        Ok(Db { conn })
    }

    /// Add a new container; fails if its name is taken.
    pub fn insert(&self, c: &Container) -> Result<()> {
        let record = serde_json::to_string(c).ctx(|| "encoding container record".into())?;
        match self.conn.execute(
            "INSERT INTO containers (id, name, image_id, record) VALUES (?1, ?2, ?3, ?4)",
            params![c.id, c.name, c.image_id, record],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
                let holder = self.by_name(&c.name)?.map(|o| o.id).unwrap_or_default();
                Err(Error::in_use(format!(
                    "the container name \"{}\" is already in use by {holder}. You have to remove that container to be able to reuse that name: that name is already in use",
                    c.name
                )))
            }
            Err(e) => Err(Error::new(format!("recording container {}: {e}", c.name))),
        }
    }

    /// Replace a container's record (state changes).
    pub fn update(&self, c: &Container) -> Result<()> {
        let record = serde_json::to_string(c).ctx(|| "encoding container record".into())?;
        self.conn
            .execute("UPDATE containers SET record = ?2 WHERE id = ?1", params![c.id, record])
            .ctx(|| format!("updating container {}", c.name))?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn.execute("DELETE FROM containers WHERE id = ?1", params![id]).ctx(|| format!("removing {id}"))?;
        Ok(())
    }

    fn by_name(&self, name: &str) -> Result<Option<Container>> {
        self.one("SELECT record FROM containers WHERE name = ?1", name)
    }

    fn one(&self, sql: &str, arg: &str) -> Result<Option<Container>> {
        let text: Option<String> =
            self.conn.query_row(sql, params![arg], |r| r.get(0)).optional().ctx(|| "reading containers".into())?;
        text.map(|t| decode(&t)).transpose()
    }

    /// Every container, oldest first.
    pub fn all(&self) -> Result<Vec<Container>> {
        self.select("SELECT record FROM containers", &[])
    }

    /// The containers made from image `image_id`.
    pub fn using_image(&self, image_id: &str) -> Result<Vec<Container>> {
        self.select("SELECT record FROM containers WHERE image_id = ?1", &[image_id])
    }

    fn select(&self, sql: &str, args: &[&str]) -> Result<Vec<Container>> {
        let mut stmt = self.conn.prepare(sql).ctx(|| "reading containers".into())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
            .ctx(|| "reading containers".into())?;
        let mut out = Vec::new();
        for r in rows {
            out.push(decode(&r.ctx(|| "reading containers".into())?)?);
        }
        out.sort_by_key(|c: &Container| c.created);
        Ok(out)
    }
}

fn decode(text: &str) -> Result<Container> {
    serde_json::from_str(text).ctx(|| "decoding container record".into())
}
