//! `images` / `image ls`: one row per name (or one `<none>` row), filters,
//! `--format` templates and podman's default table.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};
use engine::{Engine, Image};

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Change the output format to JSON or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Display only image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not print column headings
    #[arg(short, long)]
    noheading: bool,
    /// Show images matching this reference
    #[arg(value_name = "IMAGE")]
    reference: Option<String>,
}

/// What a row shows, field name -> column title (podman's headers).
const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("Created", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Size", "SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("Dangling", "DANGLING"),
    ("Labels", "LABELS"),
    ("Names", "NAMES"),
];

pub fn images(engine: &Engine, a: &ImagesArgs) -> Result<u8> {
    let mut all = engine.images()?;
    if !a.all {
        let hidden: HashSet<image::digest::Digest> =
            all.iter().filter(|i| is_intermediate(i, &all)).map(|i| i.id.clone()).collect();
        all.retain(|i| !hidden.contains(&i.id));
    }
    let mut filters = a.filter.iter().map(|f| Filter::parse(f, engine)).collect::<Result<Vec<_>>>()?;
    if let Some(r) = &a.reference {
        filters.push(Filter::Reference(r.clone()));
    }
    let mut rows = Vec::new();
    let mut seen_ids = HashSet::new();
    for img in all.iter().filter(|i| filters.iter().all(|f| f.matches(i))) {
        if a.quiet {
            if seen_ids.insert(img.id.clone()) {
                rows.push(row(img, None, a.no_trunc));
            }
            continue;
        }
        if img.names.is_empty() {
            rows.push(row(img, None, a.no_trunc));
        }
        for n in img.names.iter().filter(|n| filters.iter().all(|f| f.matches_name(&n.to_string()))) {
            rows.push(row(img, Some(n.to_string()), a.no_trunc));
        }
    }
    if a.format.as_deref().is_some_and(format::is_json) {
        let mut list = Vec::new();
        for img in all.iter().filter(|i| filters.iter().all(|f| f.matches(i))) {
            list.push(summary_json(engine, img)?);
        }
        out(&pretty_json(&list)?)?;
        return Ok(0);
    }
    let headers: HashMap<&str, &str> = HEADERS.iter().copied().collect();
    let template = match (&a.format, a.quiet) {
        (Some(f), _) => f.clone(),
        (None, true) => "{{.ID}}".to_string(),
        (None, false) => {
            let mut t = String::from("table {{.Repository}}\t{{.Tag}}\t");
            if a.digests {
                t.push_str("{{.Digest}}\t");
            }
            t.push_str("{{.ID}}\t{{.Created}}\t{{.Size}}");
            t
        }
    };
    let fmt = Format::parse(&template)?.named("images", "images.imageReporter").heading(!a.noheading);
    out(&fmt.render(&rows, &headers)?)?;
    Ok(0)
}

/// An image without names that another image was made from (a build
/// step's): podman's `images` leaves those out without `--all`. Made from
/// it: the other's layers start with all of its, and its history with
/// more entries.
fn is_intermediate(img: &Image, all: &[Image]) -> bool {
    let history = |i: &Image| i.config["history"].as_array().map_or(0, Vec::len);
    img.names.is_empty()
        && all.iter().any(|o| o.id != img.id && o.diff_ids.starts_with(&img.diff_ids) && history(o) > history(img))
}

/// podman's `images --format json` entry for one image (its ImageSummary,
/// field for field and in its order; `RepoTags` is null in podman 4.3).
fn summary_json(engine: &Engine, img: &Image) -> Result<Value> {
    let mut m = serde_json::Map::new();
    let labels = img.labels();
    let names: Vec<String> = img.names.iter().map(|n| n.to_string()).collect();
    m.insert("Id".into(), json!(img.id.hex()));
    m.insert("ParentId".into(), json!(""));
    m.insert("RepoTags".into(), Value::Null);
    m.insert("RepoDigests".into(), json!(img.repo_digests()));
    m.insert("Size".into(), json!(img.size));
    m.insert("SharedSize".into(), json!(0));
    m.insert("VirtualSize".into(), json!(img.size));
    m.insert("Labels".into(), if labels.is_empty() { Value::Null } else { Value::Object(labels) });
    m.insert("Containers".into(), json!(engine.containers_using(img)?.len()));
    if names.is_empty() {
        m.insert("Dangling".into(), json!(true));
    } else {
        m.insert("Names".into(), json!(names));
    }
    m.insert("Digest".into(), json!(img.top.to_string()));
    if !names.is_empty() {
        m.insert("History".into(), json!(names));
    }
    let created = img.created();
    let secs = created.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
    m.insert("Created".into(), json!(secs));
    m.insert("CreatedAt".into(), json!(format::rfc3339_seconds(created)));
    Ok(Value::Object(m))
}

/// JSON indented by four spaces, as podman's listings print it.
pub fn pretty_json(v: &impl serde::Serialize) -> Result<String> {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    v.serialize(&mut ser).map_err(|e| CliError::new(format!("encoding JSON: {e}")))?;
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    Ok(s)
}

/// The fields `--format` can use for one row.
fn row(img: &Image, name: Option<String>, no_trunc: bool) -> Value {
    let (repo, tag) = match &name {
        Some(n) => split_name(n),
        None => ("<none>".to_string(), "<none>".to_string()),
    };
    let id = if no_trunc { img.id.to_string() } else { img.short_id().to_string() };
    let created = img.created();
    let labels: serde_json::Map<String, Value> = img.labels();
    json!({
        "Repository": repo,
        "Tag": tag,
        "ID": id,
        "Id": img.id.hex(),
        "Digest": img.top.to_string(),
        "Created": format::human_since(created),
        "CreatedSince": format::human_since(created),
        "CreatedAt": format::go_time(created),
        "Size": format::human_size(img.size),
        "VirtualSize": img.size,
        "Labels": if labels.is_empty() { Value::Null } else { Value::Object(labels) },
        "Names": img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "Dangling": img.names.is_empty(),
    })
}

/// `registry/repo:tag` -> (`registry/repo`, `tag`); the colon of a
/// registry port is not a tag separator.
pub(super) fn split_name(n: &str) -> (String, String) {
    match n.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (n.to_string(), "<none>".to_string()),
    }
}

enum Filter {
    Dangling(bool),
    Reference(String),
    Label(String, Option<String>),
    Before(Option<std::time::SystemTime>),
    Since(Option<std::time::SystemTime>),
}

impl Filter {
    fn parse(f: &str, engine: &Engine) -> Result<Filter> {
        let (k, v) = f.split_once('=').ok_or_else(|| CliError::new(format!("invalid filter {f:?}: want key=value")))?;
        Ok(match k {
            "dangling" => match v {
                "true" => Filter::Dangling(true),
                "false" => Filter::Dangling(false),
                _ => return Err(CliError::new(format!("invalid filter {f:?}: dangling wants true or false"))),
            },
            "reference" => Filter::Reference(v.to_string()),
            "label" => match v.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                None => Filter::Label(v.to_string(), None),
            },
            "before" => Filter::Before(engine.get(v)?.created()),
            "since" => Filter::Since(engine.get(v)?.created()),
            _ => return Err(CliError::new(format!("invalid filter {k:?}"))),
        })
    }

    fn matches(&self, img: &Image) -> bool {
        match self {
            Filter::Dangling(want) => img.names.is_empty() == *want,
            Filter::Reference(_) => img.names.iter().any(|n| self.matches_name(&n.to_string())),
            Filter::Label(k, v) => img.labels().get(k).is_some_and(|have| match v {
                None => true,
                Some(v) => have.as_str() == Some(v.as_str()),
            }),
            Filter::Before(t) => img.created() < *t,
            Filter::Since(t) => img.created() > *t,
        }
    }

    /// Whether one name of an image passes (only the reference filter looks at names).
    fn matches_name(&self, name: &str) -> bool {
        let Filter::Reference(pattern) = self else { return true };
        let (repo, _) = split_name(name);
        let familiar =
            name.strip_prefix("docker.io/library/").or_else(|| name.strip_prefix("docker.io/")).unwrap_or(name);
        let (frepo, _) = split_name(familiar);
        let last = repo.rsplit('/').next().unwrap_or(&repo).to_string();
        let last_tagged = name.rsplit('/').next().unwrap_or(name).to_string();
        let want_tag = pattern.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
        let cands: Vec<&str> = if want_tag { vec![name, familiar, &last_tagged] } else { vec![&repo, &frepo, &last] };
        cands.iter().any(|c| glob(pattern.as_bytes(), c.as_bytes()))
    }
}

/// Shell-style `*` / `?` matching, as Go's `path.Match` for these patterns.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_globs() {
        assert_eq!(split_name("localhost:5000/a/b:v1"), ("localhost:5000/a/b".into(), "v1".into()));
        assert!(glob(b"foo*", b"foobar"));
        assert!(!glob(b"foo*", b"foo/bar"));
        let f = Filter::Reference("busy*".into());
        assert!(f.matches_name("docker.io/library/busybox:latest"));
        assert!(!f.matches_name("localhost/foo:latest"));
        let f = Filter::Reference("localhost/foo:latest".into());
        assert!(f.matches_name("localhost/foo:latest"));
    }
}
