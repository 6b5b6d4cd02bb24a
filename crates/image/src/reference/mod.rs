//! Image references with Docker's grammar and normalisation.
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component { "/" path-component }
//! domain    := host [ ":" port ]        (host: dot-separated alnum/dash labels)
//! path-component := [a-z0-9]+ { separator [a-z0-9]+ }, separator := "." | "_" | "__" | "-"+
//! tag       := [\w][\w.-]{0,127}
//! ```
//!
//! Normalisation follows Docker: the first component is a registry only if it
//! contains `.` or `:`, is `localhost`, or has uppercase letters (a repository
//! component never can); otherwise the registry is `docker.io`, and single-name
//! Docker Hub images live under `library/`. Without tag or digest the tag is `latest`.

pub mod registries;

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

pub use registries::{Endpoint, RegistriesConf};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// Namespace of Docker Hub's official images.
const OFFICIAL_NAMESPACE: &str = "library/";
/// Default tag when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Docker caps the full name (registry + path) at 255 bytes.
const NAME_MAX: usize = 255;

/// A repository name without tag or digest: `registry/path`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    registry: String,
    path: String,
}

impl Name {
    /// Parse and normalise a name that must not carry a tag or digest.
    pub fn parse(s: &str) -> Result<Self> {
        let r = parse_parts(s)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(invalid(s, "expected a repository name without tag or digest"));
        }
        Ok(r.name)
    }

    /// Build from a registry (`host[:port]`) and repository path, validating both.
    pub fn new(registry: &str, path: &str) -> Result<Self> {
        let full = format!("{registry}/{path}");
        validate_registry(registry).map_err(|why| invalid(&full, &why))?;
        validate_path(path).map_err(|why| invalid(&full, &why))?;
        let name = Name { registry: registry.to_string(), path: path.to_string() };
        if name.to_string().len() > NAME_MAX {
            return Err(invalid(&full, "repository name longer than 255 characters"));
        }
        Ok(name)
    }

    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path inside the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Docker's short display form: `docker.io/library/x` -> `x`, `docker.io/a/b` -> `a/b`.
    pub fn familiar(&self) -> String {
        if self.registry != DOCKER_HUB {
            return self.to_string();
        }
        match self.path.strip_prefix(OFFICIAL_NAMESPACE) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

/// A normalised image reference: name plus tag and/or digest.
///
/// Invariant: at least one of tag or digest is set (parsing adds `latest`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    name: Name,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalise (`busybox` -> `docker.io/library/busybox:latest`).
    pub fn parse(s: &str) -> Result<Self> {
        let mut r = parse_parts(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Assemble from parts; a missing tag and digest means `latest`.
    pub fn from_parts(name: Name, tag: Option<&str>, digest: Option<Digest>) -> Result<Self> {
        if let Some(t) = tag {
            validate_tag(t).map_err(|why| invalid(&format!("{name}:{t}"), &why))?;
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Reference { name, tag, digest })
    }

    pub fn name(&self) -> &Name {
        &self.name
    }
    pub fn registry(&self) -> &str {
        self.name.registry()
    }
    pub fn path(&self) -> &str {
        self.name.path()
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Split into name, tag and digest.
    pub fn into_parts(self) -> (Name, Option<String>, Option<Digest>) {
        (self.name, self.tag, self.digest)
    }

    /// Same repository with a different tag (the digest is dropped: it would pin
    /// the old content and make the tag meaningless).
    pub fn with_tag(&self, tag: &str) -> Result<Self> {
        Self::from_parts(self.name.clone(), Some(tag), None)
    }

    /// Same repository pinned to a digest (the tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference { name: self.name.clone(), tag: None, digest: Some(digest) }
    }

    /// Short display form: `docker.io/library/busybox:latest` -> `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.name.familiar();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name.to_string();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether `s` names its registry explicitly (`quay.io/x`, `localhost/x`) rather
/// than being a short name that registries.conf search registries expand.
pub fn has_registry(s: &str) -> bool {
    match s.split_once('/') {
        Some((first, _)) => is_registry_component(first),
        None => false,
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(t) = tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

fn invalid(s: &str, why: &str) -> Error {
    Error::InvalidReference(s.to_string(), why.to_string())
}

fn is_registry_component(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase())
}

/// Parse without adding the default tag.
fn parse_parts(s: &str) -> Result<Reference> {
    if s.is_empty() {
        return Err(invalid(s, "empty reference"));
    }
    if s.contains("://") {
        return Err(invalid(s, "must not contain a URL scheme"));
    }
    let (rest, digest) = match s.rsplit_once('@') {
        Some((rest, d)) => {
            let d = Digest::parse(d).map_err(|e| invalid(s, &e.to_string()))?;
            (rest, Some(d))
        }
        None => (s, None),
    };
    // A tag colon comes after the last '/'; a colon before it is a registry port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        None => (rest, None),
    };
    if let Some(t) = tag {
        validate_tag(t).map_err(|why| invalid(s, &why))?;
    }
    if name.is_empty() {
        return Err(invalid(s, "missing repository name"));
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if is_registry_component(first) => {
            let reg = if first == "index.docker.io" { DOCKER_HUB } else { first };
            (reg, rest.to_string())
        }
        _ => (DOCKER_HUB, name.to_string()),
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') { format!("{OFFICIAL_NAMESPACE}{path}") } else { path };
    validate_registry(registry).map_err(|why| invalid(s, &why))?;
    validate_path(&path).map_err(|why| invalid(s, &why))?;
    let name = Name { registry: registry.to_string(), path };
    if name.to_string().len() > NAME_MAX {
        return Err(invalid(s, "repository name longer than 255 characters"));
    }
    Ok(Reference { name, tag: tag.map(str::to_string), digest })
}

fn validate_tag(t: &str) -> std::result::Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    match chars.next() {
        None => return Err("empty tag".into()),
        Some(c) if !word(c) => return Err(format!("tag {t:?} must start with a letter, digit or '_'")),
        _ => {}
    }
    if t.len() > 128 {
        return Err(format!("tag {t:?} longer than 128 characters"));
    }
    if let Some(c) = chars.find(|&c| !(word(c) || c == '.' || c == '-')) {
        return Err(format!("tag {t:?} contains invalid character {c:?}"));
    }
    Ok(())
}

fn validate_registry(reg: &str) -> std::result::Result<(), String> {
    if reg.starts_with('[') {
        return Err("IPv6 registry addresses are not supported".into());
    }
    let (host, port) = match reg.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (reg, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return Err(format!("invalid registry port {p:?}"));
        }
    }
    if host.is_empty() {
        return Err("empty registry host".into());
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("invalid registry host {host:?}"));
        }
    }
    Ok(())
}

fn validate_path(path: &str) -> std::result::Result<(), String> {
    for comp in path.split('/') {
        validate_component(comp)?;
    }
    Ok(())
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn validate_component(c: &str) -> std::result::Result<(), String> {
    if c.is_empty() {
        return Err("empty path component".into());
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(format!("repository name component {c:?} must be lowercase"));
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut need_alnum = true;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            need_alnum = false;
            i += 1;
            continue;
        }
        if need_alnum {
            return Err(format!("component {c:?}: separators must sit between letters or digits"));
        }
        // Measure the separator run and check it is one of the allowed forms.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!("component {c:?} has invalid separator or character {sep:?}"));
        }
        need_alnum = true;
    }
    if need_alnum {
        return Err(format!("component {c:?} must end with a letter or digit"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("foo/bar"), "docker.io/foo/bar:latest");
        assert_eq!(full("foo/bar:1.0"), "docker.io/foo/bar:1.0");
        assert_eq!(full("index.docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("docker.io/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(full("quay.io/podman/stable"), "quay.io/podman/stable:latest");
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(full("localhost:5000/a/b/c:v2"), "localhost:5000/a/b/c:v2");
        assert_eq!(full("myreg:5000/app"), "myreg:5000/app:latest");
        assert_eq!(full(&format!("busybox@{D}")), format!("docker.io/library/busybox@{D}"));
        assert_eq!(full(&format!("busybox:1@{D}")), format!("docker.io/library/busybox:1@{D}"));
        assert_eq!(full("a.b-c__d_e---f.g"), "docker.io/library/a.b-c__d_e---f.g:latest");
    }

    #[test]
    fn parts_and_familiar() {
        let r = Reference::parse("localhost:5000/ns/app:v1").unwrap();
        assert_eq!((r.registry(), r.path(), r.tag(), r.digest()), ("localhost:5000", "ns/app", Some("v1"), None));
        assert_eq!(r.familiar(), "localhost:5000/ns/app:v1");
        assert_eq!(Reference::parse("busybox").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::parse("foo/bar:x").unwrap().familiar(), "foo/bar:x");
        assert_eq!(Reference::parse("docker.io/library/a/b").unwrap().familiar(), "library/a/b:latest");
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        let (name, tag, digest) = r.clone().into_parts();
        assert_eq!(name.to_string(), "docker.io/library/busybox");
        assert_eq!((tag, digest.is_some()), (None, true));
        assert_eq!(r.with_tag("2").unwrap().to_string(), "docker.io/library/busybox:2");
        assert_eq!(Name::parse("busybox").unwrap().familiar(), "busybox");
        assert!(Name::parse("busybox:1").is_err());
        let n = Name::new("example.com:443", "a/b").unwrap();
        let r = Reference::from_parts(n, None, None).unwrap();
        assert_eq!(r.to_string(), "example.com:443/a/b:latest");
    }

    #[test]
    fn rejects_bad_syntax_with_reason() {
        let cases = [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("foo/Bar", "lowercase"),
            ("busybox:", "empty tag"),
            ("busybox:.x", "must start"),
            ("busybox:a+b", "invalid character"),
            ("-foo", "separators"),
            ("foo-", "end with"),
            ("foo..bar", "separator"),
            ("foo___bar", "separator"),
            ("foo//bar", "empty path"),
            ("busybox@sha256:abc", "64"),
            ("busybox@sha512:abc", "sha256"),
            ("https://docker.io/x", "scheme"),
            ("localhost:99999/x", "port"),
            ("[::1]:5000/x", "IPv6"),
            ("bad_host.com/x", "registry host"),
        ];
        for (s, why) in cases {
            match Reference::parse(s) {
                Err(Error::InvalidReference(got, reason)) => {
                    assert_eq!(got, s);
                    assert!(reason.contains(why), "{s:?}: reason {reason:?} lacks {why:?}");
                }
                other => panic!("{s:?}: expected InvalidReference, got {other:?}"),
            }
        }
        let long_tag = format!("x:{}", "a".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        assert!(Reference::parse(&format!("x:{}", "a".repeat(128))).is_ok());
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn uppercase_first_component_is_a_registry() {
        // Docker: an uppercase first component cannot be a repository, so it is a host.
        let r = Reference::parse("Example/app").unwrap();
        assert_eq!(r.registry(), "Example");
        assert!(has_registry("Example/app"));
        assert!(has_registry("quay.io/x"));
        assert!(!has_registry("foo/bar"));
        assert!(!has_registry("busybox"));
    }

    #[test]
    fn serde_uses_full_form() {
        let r = Reference::parse("busybox").unwrap();
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, "\"docker.io/library/busybox:latest\"");
        assert_eq!(serde_json::from_str::<Reference>("\"busybox\"").unwrap(), r);
    }
}
