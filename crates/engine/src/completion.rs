//! The names shell completion offers (containers, images, volumes,
//! networks), read without opening an [`Engine`](crate::Engine): a
//! completion runs at every Tab, so it must be quick, and must never make
//! or change a store (no directories made, no sweeping, no record
//! refreshed, no database created). No store, no names; any error, no
//! names: a completion has nowhere to report one.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// What kind of object an argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Container,
    Image,
    Volume,
    Network,
}

/// The names of `kind` in the store at `root`, sorted.
pub fn names(root: &Path, kind: NameKind) -> Vec<String> {
    let mut out = match kind {
        NameKind::Container => container_names(root),
        NameKind::Image => image_names(root),
        NameKind::Volume => volume_names(root),
        NameKind::Network => network_names(),
    };
    out.sort();
    out.dedup();
    out
}

fn container_names(root: &Path) -> Vec<String> {
    let path = root.join("containers.db");
    if !path.is_file() {
        return Vec::new();
    }
    // Read-only: no database is created, nor a schema upgraded.
    let Ok(conn) =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
    else {
        return Vec::new();
    };
    let rows = conn
        .prepare("SELECT name FROM containers")
        .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0)).map(|rows| rows.flatten().collect::<Vec<_>>()));
    rows.unwrap_or_default()
}

fn image_names(root: &Path) -> Vec<String> {
    // The index's lock file is there once a store is.
    if !root.join("store.lock").is_file() {
        return Vec::new();
    }
    let store = image::store::Store::existing(root);
    store.images().map(|all| all.iter().map(|(name, _)| name.to_string()).collect()).unwrap_or_default()
}

fn volume_names(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("volumes")) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.path().join("volume.json").is_file())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect()
}

/// The default network, berth's own (`network_dir`) and CNI's, as
/// berth.conf names their places.
fn network_names() -> Vec<String> {
    let Ok(config) = crate::config::get() else { return Vec::new() };
    let mut out = vec![config.network.default_network.clone()];
    if let Ok(entries) = std::fs::read_dir(&config.network.network_dir) {
        out.extend(
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(String::from)),
        );
    }
    if let Ok(nets) = network::cni::load_dir(&config.network.network_config_dir) {
        out.extend(nets.iter().map(|n| n.name.clone()));
    }
    out
}
