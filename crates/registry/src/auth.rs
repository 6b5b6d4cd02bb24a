//! Credentials in the containers auth.json format, which podman, skopeo,
//! buildah and docker (`config.json`) all read:
//!
//! ```json
//! {"auths": {"registry.example:5000": {"auth": "base64(user:password)"}}}
//! ```
//!
//! Other keys (`credHelpers`, `identitytoken`, ...) are preserved on write so
//! that sharing a file with other tools never loses their data.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};
use sys::fs::Durability;

use crate::error::{Error, Result};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Self {
        Credentials { username: username.to_string(), password: password.to_string() }
    }
}

// Never print the password, not even in debug logs.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// One auth.json file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        AuthFile { path: path.into() }
    }

    /// Where podman keeps credentials: `$REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json`.
    pub fn default_location() -> Self {
        if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
            return Self::at(p);
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
            return Self::at(Path::new(&dir).join("containers/auth.json"));
        }
        // The euid without libc: /proc/self is owned by it.
        let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        Self::at(format!("/run/containers/{uid}/auth.json"))
    }

    /// The user's own file, `$XDG_CONFIG_HOME/containers/auth.json`
    /// (`~/.config/containers/auth.json`): podman reads it, read-only,
    /// after its primary file and before docker's.
    pub fn user_config() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))?;
        Some(Self::at(dir.join("containers/auth.json")))
    }

    /// Docker's file, which podman also reads when its own has no entry.
    pub fn docker_config() -> Option<Self> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
        Some(Self::at(dir.join("config.json")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Credentials stored for `registry` (`host[:port]`); a missing file is no credentials.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let doc = self.read()?;
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        for (key, entry) in auths {
            if normalize_key(key) != normalize_key(registry) {
                continue;
            }
            let Some(encoded) = entry.get("auth").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                continue;
            };
            return self.decode(key, encoded).map(Some);
        }
        Ok(None)
    }

    /// The registries this file holds credentials for, as its keys say them.
    pub fn registries(&self) -> Result<Vec<String>> {
        let doc = self.read()?;
        Ok(doc.get("auths").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default())
    }

    /// Store credentials for `registry`, replacing any previous entry for it.
    pub fn set(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let mut doc = self.read()?;
        let auths = auths_mut(&mut doc, &self.path)?;
        auths.retain(|k, _| normalize_key(k) != normalize_key(registry));
        let encoded = B64.encode(format!("{}:{}", creds.username, creds.password));
        auths.insert(registry.to_string(), serde_json::json!({ "auth": encoded }));
        self.write(&doc)
    }

    /// Forget `registry`; returns whether there was an entry.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut doc = self.read()?;
        let auths = auths_mut(&mut doc, &self.path)?;
        let before = auths.len();
        auths.retain(|k, _| normalize_key(k) != normalize_key(registry));
        if auths.len() == before {
            return Ok(false);
        }
        self.write(&doc)?;
        Ok(true)
    }

    fn decode(&self, key: &str, encoded: &str) -> Result<Credentials> {
        let bad = |why: &str| self.err(format!("entry {key:?}: {why}"));
        let raw = B64.decode(encoded.trim()).map_err(|_| bad("auth is not base64"))?;
        let text = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| bad("auth is not user:password"))?;
        Ok(Credentials::new(user, pass))
    }

    fn read(&self) -> Result<Map<String, Value>> {
        let text = match fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(self.err(e.to_string())),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        serde_json::from_slice(&text).map_err(|e| self.err(format!("invalid JSON: {e}")))
    }

    /// Atomic, durable replace: a crash leaves the old file or the new one,
    /// never half of one. Mode 0600 and, when we make it, a 0700 parent,
    /// since the file holds passwords (an existing parent may be shared and
    /// someone else's: its mode is left alone).
    fn write(&self, doc: &Map<String, Value>) -> Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.exists() {
            sys::fs::create_private_dir(dir, 0o700)
                .map_err(|e| self.err(format!("creating {}: {e}", dir.display())))?;
        }
        let mut body = serde_json::to_vec_pretty(doc).map_err(|e| self.err(e.to_string()))?;
        body.push(b'\n');
        sys::fs::write_atomic(&self.path, &body, 0o600, Durability::Durable).map_err(|e| self.err(e.to_string()))
    }

    fn err(&self, why: String) -> Error {
        Error::AuthFile { path: self.path.display().to_string(), why }
    }
}

fn auths_mut<'a>(doc: &'a mut Map<String, Value>, path: &Path) -> Result<&'a mut Map<String, Value>> {
    doc.entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::AuthFile { path: path.display().to_string(), why: "\"auths\" is not an object".into() })
}

/// Reduce an auth.json key to the registry host: docker writes
/// `https://index.docker.io/v1/`, podman writes `docker.io`; both mean Docker Hub.
fn normalize_key(key: &str) -> String {
    let host = key.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Credentials for `registry`: `explicit` if given, else the auth file, else
/// the user's containers/auth.json, else docker's config (the order podman
/// uses; its last, docker's legacy `~/.dockercfg`, berth does not read).
pub(crate) fn resolve(
    registry: &str,
    explicit: Option<&Credentials>,
    file: Option<&AuthFile>,
) -> Result<Option<Credentials>> {
    if let Some(c) = explicit {
        return Ok(Some(c.clone()));
    }
    let primary = file.cloned().unwrap_or_else(AuthFile::default_location);
    if let Some(c) = primary.get(registry)? {
        return Ok(Some(c));
    }
    // A broken fallback file must not break pulls that never needed it.
    for fallback in [AuthFile::user_config(), AuthFile::docker_config()].into_iter().flatten() {
        if fallback != primary {
            if let Some(c) = fallback.get(registry).ok().flatten() {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_round_trip_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        let f = AuthFile::at(&path);
        assert_eq!(f.get("r:5000").unwrap(), None);
        f.set("r:5000", &Credentials::new("u", "p:w")).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["auths"]["r:5000"]["auth"], B64.encode("u:p:w"));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
        // Another tool's data survives our writes.
        let mut doc = doc.as_object().unwrap().clone();
        doc.insert("credHelpers".into(), serde_json::json!({"x.io": "helper"}));
        fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(f.get("r:5000").unwrap(), Some(Credentials::new("u", "p:w")));
        assert!(f.remove("r:5000").unwrap());
        assert!(!f.remove("r:5000").unwrap());
        assert_eq!(f.get("r:5000").unwrap(), None);
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["credHelpers"]["x.io"], "helper");
    }

    #[test]
    fn docker_style_keys_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let body = format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#, B64.encode("a:b"));
        fs::write(&path, body).unwrap();
        assert_eq!(AuthFile::at(&path).get("docker.io").unwrap(), Some(Credentials::new("a", "b")));
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        fs::write(&path, "{nope").unwrap();
        let e = AuthFile::at(&path).get("x").unwrap_err().to_string();
        assert!(e.contains("auth.json") && e.contains("invalid JSON"), "{e}");
        fs::write(&path, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        let e = AuthFile::at(&path).get("x").unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
    }
}
