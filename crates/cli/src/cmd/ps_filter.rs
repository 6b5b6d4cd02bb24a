//! `ps --filter` and `--sort`, with podman 4.3's semantics: values of one
//! key are alternatives (any may match), different keys must all match,
//! except `label`, every one of which must match.

use std::time::SystemTime;

use engine::containers::{mounts::Mount, Container, State};
use engine::Engine;

use crate::error::{CliError, Result};

/// One `--filter KEY=VALUE`, parsed and checked.
enum Filter {
    /// ID prefixes.
    Id(Vec<String>),
    /// Regular expressions on the name (Go's `regexp.MatchString`; a bad
    /// pattern compares literally, as podman's `StringMatchRegexp`).
    Name(Vec<Pattern>),
    /// `key` or `key=value`: all must hold.
    Label(Vec<(String, Option<String>)>),
    /// podman's state names (`stopped` is `exited`, `configured` is `created`).
    Status(Vec<String>),
    /// The image's full ID, its name as recorded, or that name without a
    /// `:latest` tag.
    Ancestor(Vec<String>),
    /// Exit codes of exited containers.
    Exited(Vec<i32>),
    /// Created before / after the named container.
    Before(Vec<SystemTime>),
    Since(Vec<SystemTime>),
    /// `NAME|SOURCE[:DEST]`: a volume's name or a bind mount's source.
    Volume(Vec<(String, Option<String>)>),
    /// The healthcheck's status (`healthy`, `unhealthy`, `starting`); any
    /// other word matches nothing, as with podman.
    Health(Vec<String>),
}

enum Pattern {
    Regex(regex::Regex),
    Literal(String),
}

impl Pattern {
    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Regex(r) => r.is_match(s),
            Pattern::Literal(l) => l == s,
        }
    }
}

/// podman's container states, which `status=` accepts.
const STATES: &[&str] =
    &["unknown", "configured", "created", "running", "stopped", "paused", "exited", "removing", "stopping"];

pub struct Filters(Vec<Filter>);

impl Filters {
    /// Parse `--filter` values in podman's words for what is wrong.
    pub fn parse(engine: &Engine, flags: &[String]) -> Result<Filters> {
        // Keys in the order first given, each with its values.
        let mut by_key: Vec<(String, Vec<String>)> = Vec::new();
        for f in flags {
            let Some((k, v)) = f.split_once('=') else {
                return Err(CliError::new(format!("invalid filter {f:?}")));
            };
            match by_key.iter_mut().find(|(key, _)| key == k) {
                Some((_, vals)) => vals.push(v.to_string()),
                None => by_key.push((k.to_string(), vec![v.to_string()])),
            }
        }
        let created_of = |name: &str| -> Result<SystemTime> { Ok(engine.container(name)?.created) };
        let mut out = Vec::new();
        for (key, vals) in by_key {
            out.push(match key.as_str() {
                "id" => Filter::Id(vals),
                "name" => Filter::Name(
                    vals.into_iter()
                        .map(|v| match regex::Regex::new(&v) {
                            Ok(r) => Pattern::Regex(r),
                            Err(_) => Pattern::Literal(v),
                        })
                        .collect(),
                ),
                "label" => Filter::Label(
                    vals.into_iter()
                        .map(|v| match v.split_once('=') {
                            Some((k, v)) => (k.to_string(), Some(v.to_string())),
                            None => (v, None),
                        })
                        .collect(),
                ),
                "status" => {
                    if let Some(bad) = vals.iter().find(|v| !STATES.contains(&v.as_str())) {
                        return Err(CliError::new(format!("unknown container state: {bad}: invalid argument")));
                    }
                    Filter::Status(vals)
                }
                "ancestor" => Filter::Ancestor(vals),
                "exited" => Filter::Exited(
                    vals.iter()
                        .map(|v| {
                            v.parse::<i32>().map_err(|_| {
                                // podman quotes a NUL rune it never filled in.
                                CliError::new(format!(
                                    "exited code out of range '\\x00': strconv.ParseInt: parsing {v:?}: invalid syntax"
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                ),
                "before" => Filter::Before(vals.iter().map(|v| created_of(v)).collect::<Result<_>>()?),
                "since" => Filter::Since(vals.iter().map(|v| created_of(v)).collect::<Result<_>>()?),
                "volume" => Filter::Volume(
                    vals.into_iter()
                        .map(|v| match v.split_once(':') {
                            Some((s, d)) => (s.to_string(), Some(d.to_string())),
                            None => (v, None),
                        })
                        .collect(),
                ),
                "health" => Filter::Health(vals),
                _ => return Err(CliError::new(format!("{key} is an invalid filter"))),
            });
        }
        Ok(Filters(out))
    }

    /// A `status=` filter was given: without `--all` it replaces podman's
    /// implicit `status=running`.
    pub fn has_status(&self) -> bool {
        self.0.iter().any(|f| matches!(f, Filter::Status(_)))
    }

    pub fn matches(&self, c: &Container) -> bool {
        self.0.iter().all(|f| matches(f, c))
    }
}

fn matches(f: &Filter, c: &Container) -> bool {
    match f {
        Filter::Id(ids) => ids.iter().any(|i| c.id.starts_with(i.as_str())),
        Filter::Name(pats) => pats.iter().any(|p| p.matches(&c.name)),
        Filter::Health(words) => words.iter().any(|w| c.health_status.as_deref() == Some(w.as_str())),
        Filter::Label(labels) => labels.iter().all(|(k, v)| match (c.labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        }),
        Filter::Status(states) => {
            let state = match c.state {
                State::Configured | State::Created => "created",
                s => s.as_str(),
            };
            states.iter().any(|s| if s == "stopped" { state == "exited" } else { s == state })
        }
        Filter::Ancestor(images) => {
            let id = c.image_id.trim_start_matches("sha256:");
            let without_latest = c.image_name.strip_suffix(":latest");
            images.iter().any(|i| i == id || *i == c.image_name || Some(i.as_str()) == without_latest)
        }
        Filter::Exited(codes) => c.state == State::Exited && codes.iter().any(|x| Some(*x) == c.exit_code),
        Filter::Before(times) => times.iter().any(|t| c.created < *t),
        Filter::Since(times) => times.iter().any(|t| c.created > *t),
        Filter::Volume(wanted) => wanted.iter().any(|(source, dest)| {
            c.mounts.iter().any(|m| {
                let from = match m {
                    Mount::Bind { source, .. } => Some(source.as_str()),
                    Mount::Volume { .. } => m.volume(),
                    Mount::Tmpfs { .. } => None,
                };
                from == Some(source.as_str()) && dest.as_deref().is_none_or(|d| d == m.destination())
            })
        }),
    }
}

/// podman's `--sort` choices.
pub const SORT_KEYS: &[&str] = &["command", "created", "id", "image", "names", "runningfor", "size", "status"];

/// Check a `--sort` value as podman's flag does.
pub fn check_sort(key: &str) -> Result<()> {
    if SORT_KEYS.contains(&key) {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "invalid argument {key:?} for \"--sort\" flag: {key:?} is not a valid value.  Choose from: \"{}\"",
        SORT_KEYS.join(", ")
    )))
}

/// Sort `list` (with its sizes, when known) by `key`, ascending and
/// stable; `created` oldest first, `runningfor` by start, as podman lists them.
pub fn sort(list: &mut [(Container, Option<(u64, u64)>)], key: &str) {
    match key {
        "command" => list.sort_by_key(|(c, _)| c.args.join(" ")),
        "id" => list.sort_by(|a, b| a.0.id.cmp(&b.0.id)),
        "image" => list.sort_by(|a, b| a.0.image_name.cmp(&b.0.image_name)),
        "names" => list.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        "status" => list.sort_by_key(|(c, _)| c.state.as_str()),
        "size" => list.sort_by_key(|(_, size)| size.map(|(rw, root)| (root, rw))),
        // Never started (None) first.
        "runningfor" => list.sort_by_key(|(c, _)| c.started_at),
        _ => list.sort_by_key(|(c, _)| c.created),
    }
}
