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
//! `[aliases]` map short names to full ones (`"fedora" =
//! "registry.fedoraproject.org/fedora"`); an empty value in a later file
//! removes an alias. Files are found as podman finds them ([`ConfPaths`]).
//!
//! The most specific (longest) matching prefix wins. A prefix matches the full
//! normalised reference when it is followed by nothing, `/`, `:` or `@`, so
//! `example.com/foo` matches `example.com/foo/bar` but not `example.com/foobar`.
//! `*.example.com` matches any host under example.com.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{has_registry, Reference};
use crate::error::{Context as _, Error, Result};

/// Where `/etc/containers` keeps the system-wide file and its drop-ins.
pub const SYSTEM_CONF: &str = "/etc/containers/registries.conf";
pub const SYSTEM_CONF_DIR: &str = "/etc/containers/registries.conf.d";
/// The user's file and drop-ins, under `$HOME`.
const USER_CONF: &str = ".config/containers/registries.conf";
const USER_CONF_DIR: &str = ".config/containers/registries.conf.d";

/// Which files make up the configuration, found as podman (containers/image's
/// `sysregistriesv2`) finds them:
/// - `$CONTAINERS_REGISTRIES_CONF` (or the older `$REGISTRIES_CONFIG_PATH`)
///   names the main file, which must then exist; drop-ins are read from the
///   system's and the user's directories;
/// - else `$HOME/.config/containers/registries.conf` if it exists, with the
///   user's drop-ins only;
/// - else `/etc/containers/registries.conf` (missing is fine), with the
///   system's drop-ins, then the user's.
///
/// `$CONTAINERS_REGISTRIES_CONF_DIR` (read by newer podman versions) replaces
/// the drop-in directories with itself: the way to keep the host's
/// drop-ins (and their aliases) out, as tests must. Drop-ins are the `*.conf`
/// files of each directory in name order, later ones overriding earlier
/// settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfPaths {
    pub main: PathBuf,
    /// The main file was asked for by name: its absence is an error.
    pub main_required: bool,
    pub dirs: Vec<PathBuf>,
}

impl ConfPaths {
    /// podman's lookup in this process's environment.
    pub fn from_env() -> ConfPaths {
        let named = ["CONTAINERS_REGISTRIES_CONF", "REGISTRIES_CONFIG_PATH"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
            .map(PathBuf::from);
        let named_dir = std::env::var_os("CONTAINERS_REGISTRIES_CONF_DIR").filter(|p| !p.is_empty()).map(PathBuf::from);
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let mut paths = Self::lookup(named, home.as_deref());
        if let Some(dir) = named_dir {
            paths.dirs = vec![dir];
        }
        paths
    }

    /// The lookup, given the named file (if any) and the home directory.
    pub fn lookup(named: Option<PathBuf>, home: Option<&Path>) -> ConfPaths {
        let user_dir = home.map(|h| h.join(USER_CONF_DIR));
        if let Some(main) = named {
            return ConfPaths {
                main,
                main_required: true,
                dirs: std::iter::once(PathBuf::from(SYSTEM_CONF_DIR)).chain(user_dir).collect(),
            };
        }
        if let Some(user) = home.map(|h| h.join(USER_CONF)).filter(|p| p.exists()) {
            return ConfPaths { main: user, main_required: false, dirs: user_dir.into_iter().collect() };
        }
        ConfPaths {
            main: PathBuf::from(SYSTEM_CONF),
            main_required: false,
            dirs: std::iter::once(PathBuf::from(SYSTEM_CONF_DIR)).chain(user_dir).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawConf {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    /// Present only in the unsupported v1 format; detected to give a clear error.
    registries: Option<toml::Value>,
    aliases: Option<BTreeMap<String, String>>,
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

/// A `[[registry]]` table as a reader outside sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySummary {
    pub prefix: String,
    /// Empty for a wildcard prefix without one.
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirror_by_digest_only: bool,
    pub mirrors: Vec<MirrorSummary>,
}

/// One of its `[[registry.mirror]]`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorSummary {
    pub location: String,
    pub insecure: bool,
    /// `pull-from-mirror`: "", "digest-only" or "tag-only".
    pub pull_from_mirror: &'static str,
}

/// A parsed registries.conf (possibly merged from several files).
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    search: Vec<String>,
    /// The file that set `search` (for messages), else the main file.
    search_origin: String,
    /// Keyed by prefix so drop-in files override earlier entries.
    registries: BTreeMap<String, Registry>,
    /// Short name -> (full name, or `None` where a later file reset it; the
    /// file that said so).
    aliases: BTreeMap<String, (Option<Reference>, String)>,
}

/// What a name a user typed may mean remotely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidates {
    /// To be tried in this order.
    pub references: Vec<Reference>,
    /// The file whose `[aliases]` resolved a short name (the one candidate).
    pub alias_origin: Option<String>,
}

impl RegistriesConf {
    /// Parse one file's TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut conf = RegistriesConf { search_origin: "registries.conf".into(), ..RegistriesConf::default() };
        conf.merge_text(text, "registries.conf")?;
        Ok(conf)
    }

    /// Parse a file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_paths(&ConfPaths { main: path.to_path_buf(), main_required: true, dirs: Vec::new() })
    }

    /// The configuration podman would use here (see [`ConfPaths::from_env`]).
    pub fn load_default() -> Result<Self> {
        Self::load_paths(&ConfPaths::from_env())
    }

    /// The main file then the drop-ins of each directory, later files
    /// overriding earlier ones.
    pub fn load_paths(paths: &ConfPaths) -> Result<Self> {
        let origin = paths.main.display().to_string();
        let mut conf = RegistriesConf { search_origin: origin, ..RegistriesConf::default() };
        let mut files = Vec::new();
        if paths.main_required || paths.main.exists() {
            files.push(paths.main.clone());
        }
        for dir in &paths.dirs {
            if let Ok(rd) = std::fs::read_dir(dir) {
                let mut dropins: Vec<_> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "conf") && !p.is_dir())
                    .collect();
                dropins.sort();
                files.extend(dropins);
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).context(|| format!("reading {}", f.display()))?;
            let origin = f.display().to_string();
            conf.merge_text(&text, &origin)
                .map_err(|e| Error::RegistriesConf(format!("{origin}: {}", strip_prefix(&e))))?;
        }
        Ok(conf)
    }

    fn merge_text(&mut self, text: &str, origin: &str) -> Result<()> {
        let raw: RawConf = toml::from_str(text).map_err(|e| Error::RegistriesConf(one_line(&e.to_string())))?;
        if raw.registries.is_some() {
            return Err(Error::RegistriesConf("version 1 format ([registries.*] tables) is not supported".into()));
        }
        if let Some(search) = raw.unqualified_search_registries {
            for s in &search {
                check_host(s)?;
            }
            self.search = search;
            self.search_origin = origin.to_string();
        }
        for (name, value) in raw.aliases.unwrap_or_default() {
            check_alias_name(&name)?;
            let value = match value.as_str() {
                "" => None,
                v => Some(alias_value(v)?),
            };
            self.aliases.insert(name, (value, origin.to_string()));
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

    /// Each `[[registry]]` table (drop-ins applied), by prefix: what
    /// podman's `info` shows as its `registries`.
    pub fn registries(&self) -> Vec<RegistrySummary> {
        self.registries
            .values()
            .map(|r| RegistrySummary {
                prefix: r.prefix.clone(),
                location: r.location.clone().unwrap_or_default(),
                insecure: r.insecure,
                blocked: r.blocked,
                mirror_by_digest_only: r.mirror_by_digest_only,
                mirrors: r
                    .mirrors
                    .iter()
                    .map(|m| MirrorSummary {
                        location: m.location.clone(),
                        insecure: m.insecure,
                        // Unset and "all" read the same: podman shows "".
                        pull_from_mirror: match m.pull_from {
                            MirrorUse::All => "",
                            MirrorUse::DigestOnly => "digest-only",
                            MirrorUse::TagOnly => "tag-only",
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    /// Candidate references for user input: a name with a registry is used as
    /// is; a short name with an alias means the alias (its tag or digest
    /// kept); any other short name is tried against each unqualified-search
    /// registry.
    pub fn expand_short_name(&self, input: &str) -> Result<Vec<Reference>> {
        Ok(self.candidates(input)?.references)
    }

    /// [`expand_short_name`](Self::expand_short_name), saying which file's alias was used.
    pub fn candidates(&self, input: &str) -> Result<Candidates> {
        if has_registry(input) {
            return Ok(Candidates { references: vec![Reference::parse(input)?], alias_origin: None });
        }
        // Validate the short name itself first so syntax errors name the user's input.
        let parsed = Reference::parse(input)?;
        let bare = short_name_part(input);
        if let Some((Some(full), origin)) = self.aliases.get(bare) {
            let r = Reference::from_parts(full.name().clone(), parsed.tag(), parsed.digest().cloned())?;
            return Ok(Candidates { references: vec![r], alias_origin: Some(origin.clone()) });
        }
        if self.search.is_empty() {
            return Err(Error::Other(format!(
                "short-name {bare:?} did not resolve to an alias and no unqualified-search registries are defined in {:?}",
                self.search_origin
            )));
        }
        let references =
            self.search.iter().map(|reg| Reference::parse(&format!("{reg}/{input}"))).collect::<Result<_>>()?;
        Ok(Candidates { references, alias_origin: None })
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

/// `name` of `name:tag` / `name@digest` as typed (before normalisation).
fn short_name_part(input: &str) -> &str {
    let no_digest = input.split('@').next().unwrap_or(input);
    match no_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => no_digest,
    }
}

/// An alias's left side: a short name, no tag or digest (podman's messages).
fn check_alias_name(name: &str) -> Result<()> {
    let bad = |why: &str| Error::RegistriesConf(format!("invalid short name {name:?}: {why}"));
    if has_registry(name) {
        return Err(bad("must not contain registry"));
    }
    if name.contains('@') {
        return Err(bad("must not contain digest"));
    }
    if short_name_part(name) != name {
        return Err(bad("must not contain tag"));
    }
    Reference::parse(name).map_err(|e| Error::RegistriesConf(format!("cannot parse short name: {name:?}: {e}")))?;
    Ok(())
}

/// An alias's right side: a full name with a registry, no tag or digest.
fn alias_value(v: &str) -> Result<Reference> {
    let bad = |why: &str| Error::RegistriesConf(format!("invalid alias {v:?}: {why}"));
    if v.contains('@') {
        return Err(bad("must not contain digest"));
    }
    if short_name_part(v) != v {
        return Err(bad("must not contain tag"));
    }
    if !has_registry(v) {
        return Err(bad("must contain registry and repository"));
    }
    Reference::parse(v).map_err(|e| Error::RegistriesConf(format!("parsing alias {v:?}: {e}")))
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
        let e = empty.expand_short_name("foo:1").unwrap_err().to_string();
        assert_eq!(
            e,
            "short-name \"foo\" did not resolve to an alias and no unqualified-search registries are defined in \"registries.conf\""
        );
    }

    #[test]
    fn aliases_win_over_search_and_can_be_reset() {
        let c = RegistriesConf::parse(
            "unqualified-search-registries = [\"a.io\"]\n[aliases]\n\"app\" = \"quay.io/team/app\"\n\"hub/x\" = \"docker.io/hub/x\"\n",
        )
        .unwrap();
        let got = c.candidates("app:2").unwrap();
        assert_eq!(got.references, [Reference::parse("quay.io/team/app:2").unwrap()]);
        assert_eq!(got.alias_origin.as_deref(), Some("registries.conf"));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(c.expand_short_name(&format!("app@{d}")).unwrap()[0].to_string(), format!("quay.io/team/app@{d}"));
        assert_eq!(c.expand_short_name("hub/x").unwrap()[0].to_string(), "docker.io/hub/x:latest");
        assert_eq!(c.expand_short_name("other").unwrap()[0].to_string(), "a.io/other:latest");
        for (text, why) in [
            ("[aliases]\n\"a.io/x\" = \"b.io/x\"", "must not contain registry"),
            ("[aliases]\n\"x:1\" = \"b.io/x\"", "must not contain tag"),
            ("[aliases]\n\"x\" = \"b.io/x:1\"", "must not contain tag"),
            ("[aliases]\n\"x\" = \"x\"", "must contain registry"),
        ] {
            let e = RegistriesConf::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
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
        std::fs::write(d.join("60-aliases.conf"), "[aliases]\n\"foo\" = \"\"\n\"bar\" = \"r.io/bar\"\n").unwrap();
        std::fs::write(main.with_file_name("x.conf"), "[aliases]\n\"foo\" = \"x.io/foo\"\n").unwrap();
        let paths =
            ConfPaths { main: main.clone(), main_required: true, dirs: vec![dir.path().join("none"), d.clone()] };
        let c = RegistriesConf::load_paths(&paths).unwrap();
        assert_eq!(c.unqualified_search_registries(), ["r.io"]);
        assert_eq!(c.candidates("bar").unwrap().alias_origin, Some(d.join("60-aliases.conf").display().to_string()));
        assert!(matches!(c.endpoints(&Reference::parse("busybox").unwrap()), Err(Error::BlockedRegistry(_))));
        // Keeps entries the drop-in did not mention.
        assert!(c.is_insecure("insecure.local:5000"));
        // A required main file must exist; the system one need not.
        let gone = ConfPaths { main: dir.path().join("gone.conf"), main_required: true, dirs: vec![] };
        assert!(RegistriesConf::load_paths(&gone).is_err());
        let optional = ConfPaths { main_required: false, ..gone };
        assert!(RegistriesConf::load_paths(&optional).unwrap().unqualified_search_registries().is_empty());
    }

    #[test]
    fn files_are_found_as_podman_finds_them() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let user_dir = h.join(".config/containers/registries.conf.d");
        // The variable names the file; both drop-in directories count.
        let named = ConfPaths::lookup(Some("/x/r.conf".into()), Some(h));
        assert_eq!(
            named,
            ConfPaths {
                main: "/x/r.conf".into(),
                main_required: true,
                dirs: vec![SYSTEM_CONF_DIR.into(), user_dir.clone()]
            }
        );
        // No user file: the system's, then both directories.
        let system = ConfPaths::lookup(None, Some(h));
        assert_eq!(system.main, PathBuf::from(SYSTEM_CONF));
        assert!(!system.main_required);
        assert_eq!(system.dirs, [PathBuf::from(SYSTEM_CONF_DIR), user_dir.clone()]);
        // A user file: it, and the user's drop-ins only.
        std::fs::create_dir_all(&user_dir).unwrap();
        std::fs::write(h.join(".config/containers/registries.conf"), "").unwrap();
        let user = ConfPaths::lookup(None, Some(h));
        assert_eq!(user.main, h.join(".config/containers/registries.conf"));
        assert_eq!(user.dirs, [user_dir]);
    }
}
