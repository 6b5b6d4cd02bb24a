//! The addresses containers hold on berth's networks, for every store
//! (`--root`) on the host: one SQLite database,
//! `<network_run_dir>/addresses.db`, as netavark keeps one IPAM database
//! under /run/containers/networks for every podman store.
//!
//! Networks are the host's (their records, bridges and rules are shared by
//! every store, see `networks`), so their addresses must be too: with a
//! database per store, two stores' containers on one network got the same
//! address. Each row names the network, the address, and the store and
//! container holding it; a container's monitor gives its rows back when it
//! ends. Rows a crash left are swept by the next allocation of the same
//! store (its container no longer recorded) or of any store (the holder's
//! store gone). The database lives in the runtime directory (a tmpfs): after
//! a reboot no container runs, and nothing holds an address.

use std::net::IpAddr;
use std::path::Path;

use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

use crate::error::{Context as _, Error, Result};

/// The schema [`Addresses::open`] makes (`user_version`).
const SCHEMA: i64 = 1;

/// A connection to the host's address database.
pub(crate) struct Addresses {
    conn: Connection,
}

/// One container of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// The store's root (absolute, as `Engine::open` makes it).
    pub store: String,
    pub container: String,
}

impl Addresses {
    /// The database in directory `dir` (berth.conf's `network_run_dir`,
    /// made private by the caller).
    pub fn open(dir: &Path) -> Result<Addresses> {
        let path = dir.join("addresses.db");
        let conn = crate::containers::db::open_private(&path, SCHEMA, |conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS addresses (
                     network TEXT NOT NULL,
                     address TEXT NOT NULL,
                     store TEXT NOT NULL,
                     container TEXT NOT NULL,
                     PRIMARY KEY (network, address)
                 );
                 CREATE INDEX IF NOT EXISTS holders ON addresses (store, container);",
            )
            .ctx(|| format!("initialising {}", path.display()))
        })?;
        Ok(Addresses { conn })
    }

    /// An address in `subnet` of `network` for container `holder`: the one
    /// it has there already, else `choose`'s pick among those free (it is
    /// given the taken ones). One writer at a time (an immediate
    /// transaction), so no two containers of any stores get one address.
    /// First, rows a crash left go: those of `holder`'s store whose
    /// container `recorded` says is gone, and those of stores that are gone.
    pub fn allocate(
        &self,
        network: &str,
        subnet: &ipnet::IpNet,
        holder: &Holder,
        recorded: impl Fn(&str) -> Result<bool>,
        choose: impl FnOnce(&[IpAddr]) -> Result<IpAddr>,
    ) -> Result<IpAddr> {
        let what = || format!("allocating an address on network {network}");
        // Immediate: the write lock first, then what is taken is read.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).ctx(what)?;
        for stale in self.stale(&tx, holder, &recorded)? {
            tx.execute(
                "DELETE FROM addresses WHERE store = ?1 AND container = ?2",
                params![stale.store, stale.container],
            )
            .ctx(what)?;
        }
        let taken: Vec<(String, String, String)> = {
            let mut stmt =
                tx.prepare("SELECT address, store, container FROM addresses WHERE network = ?1").ctx(what)?;
            let rows = stmt.query_map(params![network], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).ctx(what)?;
            rows.collect::<Result<_, _>>().ctx(what)?
        };
        let mine = taken
            .iter()
            .filter(|(_, s, c)| *s == holder.store && *c == holder.container)
            .filter_map(|(a, _, _)| a.parse().ok());
        if let Some(a) = mine.into_iter().find(|a: &IpAddr| subnet.contains(a)) {
            return Ok(a);
        }
        let used: Vec<IpAddr> = taken.iter().filter_map(|(a, _, _)| a.parse().ok()).collect();
        let address = choose(&used)?;
        tx.execute(
            "INSERT INTO addresses (network, address, store, container) VALUES (?1, ?2, ?3, ?4)",
            params![network, address.to_string(), holder.store, holder.container],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => Error::in_use(format!(
                "IPAM error: requested ip address {address} is already allocated to another container"
            )),
            e => Error::caused(what(), e),
        })?;
        tx.commit().ctx(what)?;
        Ok(address)
    }

    /// Holders whose rows a crash left: containers of `holder`'s store that
    /// `recorded` no longer knows, and every container of a store whose
    /// database is gone.
    fn stale(&self, tx: &Connection, holder: &Holder, recorded: &impl Fn(&str) -> Result<bool>) -> Result<Vec<Holder>> {
        let what = || "reading the addresses' holders".to_string();
        let mut stmt = tx.prepare("SELECT DISTINCT store, container FROM addresses").ctx(what)?;
        let rows = stmt.query_map([], |r| Ok(Holder { store: r.get(0)?, container: r.get(1)? })).ctx(what)?;
        let all: Vec<Holder> = rows.collect::<Result<_, _>>().ctx(what)?;
        let mut out = Vec::new();
        for h in all {
            let gone = if h.store == holder.store {
                h.container != holder.container && !recorded(&h.container)?
            } else {
                !Path::new(&h.store).join("containers.db").exists()
            };
            if gone {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Give back every address of `holder`.
    pub fn release(&self, holder: &Holder) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM addresses WHERE store = ?1 AND container = ?2",
                params![holder.store, holder.container],
            )
            .ctx(|| format!("releasing the addresses of {}", holder.container))?;
        Ok(())
    }

    /// Give back `holder`'s addresses on `network` alone.
    pub fn release_on(&self, network: &str, holder: &Holder) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM addresses WHERE network = ?1 AND store = ?2 AND container = ?3",
                params![network, holder.store, holder.container],
            )
            .ctx(|| format!("releasing the addresses of {} on network {network}", holder.container))?;
        Ok(())
    }

    /// The containers of stores other than `store` holding addresses (on
    /// `network`, or on any): another store's running containers, whose
    /// rules and names a repair must leave, and whose network must stay.
    pub fn others(&self, store: &str, network: Option<&str>) -> Result<Vec<Holder>> {
        let what = || "reading the addresses' holders".to_string();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT store, container FROM addresses
                 WHERE store != ?1 AND (?2 IS NULL OR network = ?2) ORDER BY store, container",
            )
            .ctx(what)?;
        let rows = stmt
            .query_map(params![store, network], |r| Ok(Holder { store: r.get(0)?, container: r.get(1)? }))
            .ctx(what)?;
        let out: Vec<Holder> = rows.collect::<Result<_, _>>().ctx(what)?;
        // A container its store no longer records, or of a store that is
        // gone, holds nothing: its rows wait for the next allocation's
        // sweep (a removed container's monitor may still be giving them
        // back).
        Ok(out.into_iter().filter(still_recorded).collect())
    }
}

/// Whether `h`'s store still records its container; yes when that cannot
/// be read (a database busy or of another version): a running container's
/// rules must not go on a guess.
fn still_recorded(h: &Holder) -> bool {
    let path = Path::new(&h.store).join("containers.db");
    if !path.exists() {
        return false;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let found = Connection::open_with_flags(&path, flags).and_then(|conn| {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.prepare("SELECT 1 FROM containers WHERE id = ?1")?.exists(params![h.container])
    });
    found.unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(store: &Path, container: &str) -> Holder {
        Holder { store: store.display().to_string(), container: container.into() }
    }

    fn first_free(used: &[IpAddr]) -> Result<IpAddr> {
        (2..255u8)
            .map(|i| IpAddr::from([10, 0, 0, i]))
            .find(|a| !used.contains(a))
            .ok_or_else(|| Error::new("full".to_string()))
    }

    #[test]
    fn two_stores_never_get_one_address_and_sweep_only_their_own() {
        let t = tempfile::tempdir().unwrap();
        let (one, two) = (t.path().join("one"), t.path().join("two"));
        for s in [&one, &two] {
            std::fs::create_dir(s).unwrap();
            std::fs::write(s.join("containers.db"), "").unwrap();
        }
        let db = Addresses::open(t.path()).unwrap();
        let subnet: ipnet::IpNet = "10.0.0.0/24".parse().unwrap();
        let yes = |_: &str| Ok(true);
        let no = |_: &str| Ok(false);
        let a = db.allocate("n", &subnet, &holder(&one, "a"), yes, first_free).unwrap();
        let b = db.allocate("n", &subnet, &holder(&two, "b"), yes, first_free).unwrap();
        assert_ne!(a, b);
        // Asked again: the same.
        assert_eq!(db.allocate("n", &subnet, &holder(&one, "a"), yes, first_free).unwrap(), a);
        assert_eq!(db.others(&one.display().to_string(), Some("n")).unwrap(), [holder(&two, "b")]);
        assert!(db.others(&one.display().to_string(), Some("m")).unwrap().is_empty());
        // Store one forgot `a` (removed while its monitor was killed): its
        // next allocation frees a's address, never b's.
        let c = db.allocate("n", &subnet, &holder(&one, "c"), no, first_free).unwrap();
        assert_eq!(c, a, "a's address is free again");
        assert_eq!(db.others(&one.display().to_string(), None).unwrap(), [holder(&two, "b")]);
        // Store two is gone: its rows go with the next allocation.
        std::fs::remove_dir_all(&two).unwrap();
        assert!(db.others(&one.display().to_string(), None).unwrap().is_empty());
        let d = db.allocate("n", &subnet, &holder(&one, "d"), yes, first_free).unwrap();
        assert_eq!(d, b);
        db.release(&holder(&one, "c")).unwrap();
        db.release_on("n", &holder(&one, "d")).unwrap();
        let e = db.allocate("n", &subnet, &holder(&one, "e"), yes, first_free).unwrap();
        assert_eq!(e, a);
    }
}
