//! containers-registries.conf(5) version 2: where to pull a reference from.
//!
//! ```toml
//! unqualified-search-registries = ["docker.io", "quay.io"]
//! [[registry]]
//! prefix = "docker.io"            # defaults to `location`
//! location = "registry.example"   # replaces the matched prefix
//! insecure = false                # allow http / unverified TLS
//! blocked = false                 # refuse to pull at all
//! mirror-by-digest-only = false   # mirrors only for name@digest pulls
//! [[registry.mirror]]
//! location = "mirror.example/dockerhub"
//! insecure = true
//! ```
//!
//! The most specific (longest) matching prefix wins. A prefix matches the full
//! normalised reference when it is followed by nothing, `/`, `:` or `@`, so
//! `example.com/foo` matches `example.com/foo/bar` but not `example.com/foobar`.
//! `*.example.com` matches any host under example.com.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{has_registry, Reference};
use crate::error::{Context as _, Error, Result};

/// Where `/etc/containers` keeps the system-wide file and its drop-ins.
pub const SYSTEM_CONF: &str = "/etc/containers/registries.conf";
pub const SYSTEM_CONF_DIR: &str = "/etc/containers/registries.conf.d";

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawConf {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    /// Present only in the unsupported v1 format; detected to give a clear error.
    registries: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRegistry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawMirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    /// "all" | "digest-only" | "tag-only"
    pull_from_mirror: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MirrorUse {
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Clone, Debug)]
struct Mirror {
    location: String,
    insecure: bool,
    pull_from: MirrorUse,
}

#[derive(Clone, Debug)]
struct Registry {
    prefix: String,
    /// `None` only for wildcard prefixes without a location: the matched host is kept.
    location: Option<String>,
    insecure: bool,
    blocked: bool,
    mirror_by_digest_only: bool,
    mirrors: Vec<Mirror>,
}

/// One place to try pulling from, in order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The reference rewritten for this endpoint (its registry is the host to contact).
    pub reference: Reference,
    /// Plain http or unverified TLS is acceptable.
    pub insecure: bool,
    /// This is a mirror, not the primary location.
    pub mirror: bool,
}

/// A parsed registries.conf (possibly merged from several files).
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    search: Vec<String>,
    /// Keyed by prefix so drop-in files override earlier entries.
    registries: BTreeMap<String, Registry>,
}

impl RegistriesConf {
    /// Parse one file's TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut conf = RegistriesConf::default();
        conf.merge_text(text)?;
        Ok(conf)
    }

    /// Parse a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).map_err(|e| Error::RegistriesConf(format!("{}: {}", path.display(), strip_prefix(&e))))
    }

    /// The system configuration: `/etc/containers/registries.conf` then every
    /// `registries.conf.d/*.conf` in name order; missing files are fine.
    pub fn load_system() -> Result<Self> {
        Self::load_layers(Path::new(SYSTEM_CONF), Path::new(SYSTEM_CONF_DIR))
    }

    /// `main` then the `*.conf` drop-ins in `dir`, later files overriding earlier ones.
    pub fn load_layers(main: &Path, dir: &Path) -> Result<Self> {
        let mut files = Vec::new();
        if main.exists() {
            files.push(main.to_path_buf());
        }
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut dropins: Vec<_> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            dropins.sort();
            files.extend(dropins);
        }
        let mut conf = RegistriesConf::default();
        for f in files {
            let text = std::fs::read_to_string(&f).context(|| format!("reading {}", f.display()))?;
            conf.merge_text(&text)
                .map_err(|e| Error::RegistriesConf(format!("{}: {}", f.display(), strip_prefix(&e))))?;
        }
        Ok(conf)
    }

    fn merge_text(&mut self, text: &str) -> Result<()> {
        let raw: RawConf = toml::from_str(text).map_err(|e| Error::RegistriesConf(one_line(&e.to_string())))?;
        if raw.registries.is_some() {
            return Err(Error::RegistriesConf("version 1 format ([registries.*] tables) is not supported".into()));
        }
        if let Some(search) = raw.unqualified_search_registries {
            for s in &search {
                check_host(s)?;
            }
            self.search = search;
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in raw.registry {
            let reg = Registry::from_raw(r)?;
            if !seen.insert(reg.prefix.clone()) {
                return Err(Error::RegistriesConf(format!("duplicate [[registry]] prefix {:?}", reg.prefix)));
            }
            self.registries.insert(reg.prefix.clone(), reg);
        }
        Ok(())
    }

    /// Registries tried, in order, for short names.
    pub fn unqualified_search_registries(&self) -> &[String] {
        &self.search
    }

    /// Candidate references for user input: a name with a registry is used as
    /// is; a short name is tried against each unqualified-search registry.
    pub fn expand_short_name(&self, input: &str) -> Result<Vec<Reference>> {
        if has_registry(input) {
            return Ok(vec![Reference::parse(input)?]);
        }
        // Validate the short name itself first so syntax errors name the user's input.
        Reference::parse(input)?;
        if self.search.is_empty() {
            return Err(Error::InvalidReference(
                input.to_string(),
                "short name and no unqualified-search-registries are configured".into(),
            ));
        }
        self.search.iter().map(|reg| Reference::parse(&format!("{reg}/{input}"))).collect()
    }

    /// Endpoints to try for a reference: mirrors first, then the (possibly
    /// rewritten) primary location. Blocked registries are an error.
    pub fn endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>> {
        let full = reference.to_string();
        let Some((reg, matched)) = self.find(&full) else {
            return Ok(vec![Endpoint { reference: reference.clone(), insecure: false, mirror: false }]);
        };
        if reg.blocked {
            return Err(Error::BlockedRegistry(full));
        }
        let rest = &full[matched.len()..];
        let by_digest = reference.digest().is_some();
        let mut out = Vec::new();
        // mirror-by-digest-only: tag pulls skip the mirrors.
        if !reg.mirror_by_digest_only || by_digest {
            for m in &reg.mirrors {
                let usable = match m.pull_from {
                    MirrorUse::All => true,
                    MirrorUse::DigestOnly => by_digest,
                    MirrorUse::TagOnly => !by_digest,
                };
                if usable {
                    out.push(Endpoint { reference: rewrite(&m.location, rest)?, insecure: m.insecure, mirror: true });
                }
            }
        }
        let primary = match &reg.location {
            Some(loc) => rewrite(loc, rest)?,
            None => reference.clone(),
        };
        out.push(Endpoint { reference: primary, insecure: reg.insecure, mirror: false });
        Ok(out)
    }

    /// Whether plain http / unverified TLS is allowed for a registry host.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.find(host).is_some_and(|(r, _)| r.insecure)
    }

    /// Longest matching registry and the prefix text it matched in `full`.
    fn find(&self, full: &str) -> Option<(&Registry, String)> {
        self.registries.values().filter_map(|r| r.matches(full).map(|m| (r, m))).max_by_key(|(_, m)| m.len())
    }
}

impl Registry {
    fn from_raw(r: RawRegistry) -> Result<Self> {
        let location = r.location.filter(|l| !l.is_empty());
        let prefix = match (r.prefix.filter(|p| !p.is_empty()), &location) {
            (Some(p), _) => p,
            (None, Some(l)) => l.clone(),
            (None, None) => return Err(Error::RegistriesConf("[[registry]] needs a prefix or a location".into())),
        };
        if let Some(host) = prefix.strip_prefix("*.") {
            check_host(host)?;
        } else {
            check_prefix(&prefix)?;
            if location.is_none() {
                return Err(Error::RegistriesConf(format!("[[registry]] {prefix:?}: missing location")));
            }
        }
        if let Some(l) = &location {
            check_prefix(l)?;
        }
        let mut mirrors = Vec::new();
        for m in r.mirror {
            check_prefix(&m.location)?;
            let pull_from = match m.pull_from_mirror.as_deref() {
                None | Some("all") | Some("") => MirrorUse::All,
                Some("digest-only") => MirrorUse::DigestOnly,
                Some("tag-only") => MirrorUse::TagOnly,
                Some(other) => {
                    return Err(Error::RegistriesConf(format!(
                        "mirror {:?}: bad pull-from-mirror {other:?}",
                        m.location
                    )))
                }
            };
            mirrors.push(Mirror { location: m.location, insecure: m.insecure, pull_from });
        }
        Ok(Registry {
            prefix,
            location,
            insecure: r.insecure,
            blocked: r.blocked,
            mirror_by_digest_only: r.mirror_by_digest_only,
            mirrors,
        })
    }

    /// The matched leading part of `full`, if this registry's prefix applies.
    fn matches(&self, full: &str) -> Option<String> {
        if let Some(domain) = self.prefix.strip_prefix("*.") {
            // Wildcards match on the host only (the text up to the first '/').
            let host = full.split('/').next().unwrap_or(full);
            let bare = host.split(':').next().unwrap_or(host);
            let under = bare.len() > domain.len() + 1
                && bare.ends_with(domain)
                && bare[..bare.len() - domain.len()].ends_with('.');
            return under.then(|| host.to_string());
        }
        let rest = full.strip_prefix(self.prefix.as_str())?;
        matches!(rest.chars().next(), None | Some('/' | ':' | '@')).then(|| self.prefix.clone())
    }
}

fn rewrite(location: &str, rest: &str) -> Result<Reference> {
    Reference::parse(&format!("{location}{rest}"))
        .map_err(|e| Error::RegistriesConf(format!("location {location:?} gives an invalid reference: {e}")))
}

fn check_host(h: &str) -> Result<()> {
    super::validate_registry(h).map_err(|why| Error::RegistriesConf(format!("{h:?}: {why}")))
}

/// Prefixes and locations are `host[:port][/path]`.
fn check_prefix(p: &str) -> Result<()> {
    let (host, path) = match p.split_once('/') {
        Some((h, rest)) => (h, Some(rest)),
        None => (p, None),
    };
    check_host(host)?;
    if let Some(path) = path {
        super::validate_path(path).map_err(|why| Error::RegistriesConf(format!("{p:?}: {why}")))?;
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Drop the "registries.conf: " prefix when re-wrapping an error with a file name.
fn strip_prefix(e: &Error) -> String {
    match e {
        Error::RegistriesConf(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "digests.example.com"
pull-from-mirror = "digest-only"

[[registry]]
location = "insecure.local:5000"
insecure = true

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"

[[registry]]
prefix = "example.com/foo/secret"
location = "example.com/foo/secret"
blocked = true

[[registry]]
prefix = "*.corp.net"
insecure = true
"#;

    fn conf() -> RegistriesConf {
        RegistriesConf::parse(CONF).unwrap()
    }

    fn refs(eps: &[Endpoint]) -> Vec<(String, bool, bool)> {
        eps.iter().map(|e| (e.reference.to_string(), e.insecure, e.mirror)).collect()
    }

    #[test]
    fn mirrors_first_then_location() {
        let c = conf();
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            refs(&c.endpoints(&r).unwrap()),
            vec![
                ("mirror.local:5000/hub/library/busybox:latest".into(), true, true),
                ("docker.io/library/busybox:latest".into(), false, false),
            ]
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(c.endpoints(&r).unwrap().len(), 3, "digest-only mirror used for digests");
    }

    #[test]
    fn prefix_rewrite_and_longest_match() {
        let c = conf();
        let r = Reference::parse("example.com/foo/app:1").unwrap();
        assert_eq!(refs(&c.endpoints(&r).unwrap()), vec![("internal.example.com/bar/app:1".into(), false, false)]);
        // `example.com/foobar` does not match prefix `example.com/foo`.
        let r = Reference::parse("example.com/foobar").unwrap();
        assert_eq!(refs(&c.endpoints(&r).unwrap()), vec![("example.com/foobar:latest".into(), false, false)]);
        let r = Reference::parse("example.com/foo/secret/x").unwrap();
        assert!(matches!(c.endpoints(&r), Err(Error::BlockedRegistry(_))));
    }

    #[test]
    fn insecure_and_wildcards() {
        let c = conf();
        let r = Reference::parse("insecure.local:5000/app").unwrap();
        assert_eq!(refs(&c.endpoints(&r).unwrap()), vec![("insecure.local:5000/app:latest".into(), true, false)]);
        assert!(c.is_insecure("insecure.local:5000"));
        assert!(!c.is_insecure("insecure.local"));
        assert!(c.is_insecure("reg.corp.net"));
        assert!(!c.is_insecure("corp.net"));
        let r = Reference::parse("a.corp.net:5000/x/y").unwrap();
        assert_eq!(refs(&c.endpoints(&r).unwrap()), vec![("a.corp.net:5000/x/y:latest".into(), true, false)]);
    }

    #[test]
    fn short_names_expand_against_search_registries() {
        let c = conf();
        let got: Vec<_> = c.expand_short_name("foo:1").unwrap().iter().map(|r| r.to_string()).collect();
        assert_eq!(got, vec!["docker.io/library/foo:1", "quay.io/foo:1"]);
        let got = c.expand_short_name("ghcr.io/x/y").unwrap();
        assert_eq!(got.len(), 1);
        assert!(matches!(c.expand_short_name("Foo"), Err(Error::InvalidReference(..))));
        let empty = RegistriesConf::parse("").unwrap();
        let e = empty.expand_short_name("foo").unwrap_err().to_string();
        assert!(e.contains("unqualified-search-registries"), "{e}");
    }

    #[test]
    fn bad_files_are_rejected_clearly() {
        for (text, why) in [
            ("unqualified-search-registries = [", "registries.conf"),
            ("[registries.search]\nregistries = []", "version 1"),
            ("[[registry]]\ninsecure = true", "prefix or a location"),
            ("[[registry]]\nlocation = \"a.io\"\n[[registry]]\nlocation = \"a.io\"", "duplicate"),
            ("[[registry]]\nlocation = \"a.io\"\nfrobnicate = 1", "unknown field"),
            ("[[registry]]\nlocation = \"a.io/UP\"", "lowercase"),
        ] {
            let e = RegistriesConf::parse(text).unwrap_err();
            assert!(matches!(e, Error::RegistriesConf(_)), "{text}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(why), "{text}: {msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn drop_ins_override() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        std::fs::write(&main, CONF).unwrap();
        let d = dir.path().join("registries.conf.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("50-x.conf"),
            "unqualified-search-registries = [\"r.io\"]\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
        )
        .unwrap();
        let c = RegistriesConf::load_layers(&main, &d).unwrap();
        assert_eq!(c.unqualified_search_registries(), ["r.io"]);
        assert!(matches!(c.endpoints(&Reference::parse("busybox").unwrap()), Err(Error::BlockedRegistry(_))));
        // Keeps entries the drop-in did not mention.
        assert!(c.is_insecure("insecure.local:5000"));
    }
}
