//! `image inspect` and `history`: what an image is made of.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::{json, Value};

use super::container_inspect::{Doc, Kind, Request};
use super::out;
use crate::error::{Context as _, Result};
use crate::format::{self, Format};
use engine::{Engine, Image};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long, default_value = "json")]
    format: String,
    /// The images, by name or (short) ID
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn inspect(engine: &Engine, a: &InspectArgs) -> Result<u8> {
    let req = Request { kind: Kind::Image, names: &a.images, latest: false, size: false, format: &a.format };
    super::container_inspect::run(engine, &req)
}

/// podman's `image inspect` document, fields in podman's order (a struct:
/// the field set and order are the contract).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectDoc {
    id: String,
    digest: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: Value,
    config: Value,
    version: String,
    author: String,
    architecture: String,
    os: String,
    size: u64,
    virtual_size: u64,
    graph_driver: Value,
    #[serde(rename = "RootFS")]
    root_fs: Value,
    labels: Value,
    annotations: Value,
    manifest_type: String,
    user: String,
    history: Value,
    /// The image's names (podman leaves the field out when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    names_history: Vec<String>,
}

/// `img`'s inspect document.
pub fn image_doc(engine: &Engine, img: &Image) -> Doc {
    let doc = inspect_doc(engine, img);
    Doc::new(serde_json::to_value(&doc).unwrap_or(Value::Null))
}

fn inspect_doc(engine: &Engine, img: &Image) -> InspectDoc {
    let c = &img.config;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let repo_digests = img.repo_digests();
    let labels = img.labels();
    let doc = InspectDoc {
        id: img.id.hex().to_string(),
        digest: img.top.to_string(),
        repo_tags: img.names.iter().map(|n| n.to_string()).collect(),
        repo_digests,
        parent: String::new(),
        comment: s("comment"),
        created: c.get("created").cloned().unwrap_or(Value::Null),
        config: c.get("config").cloned().unwrap_or_else(|| json!({})),
        version: s("docker_version"),
        author: s("author"),
        architecture: s("architecture"),
        os: s("os"),
        size: img.size,
        virtual_size: img.size,
        graph_driver: json!({"Name": engine.layers().map(|l| l.driver_name()).unwrap_or(""), "Data": null}),
        root_fs: json!({"Type": "layers", "Layers": img.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
        labels: if labels.is_empty() { Value::Null } else { Value::Object(labels) },
        annotations: Value::Object(engine.image_annotations(img)),
        manifest_type: img.manifest_media_type.clone(),
        user: c.pointer("/config/User").and_then(Value::as_str).unwrap_or("").to_string(),
        history: c.get("history").cloned().unwrap_or_else(|| json!([])),
        names_history: img.names.iter().map(|n| n.to_string()).collect(),
    };
    doc
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Change the output to JSON or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Display sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true)]
    human: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc", visible_alias = "notruncate")]
    no_trunc: bool,
    /// Display the numeric IDs only
    #[arg(short, long)]
    quiet: bool,
    /// The image, by name or (short) ID
    #[arg(value_name = "IMAGE")]
    image: String,
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Created", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub fn history(engine: &Engine, a: &HistoryArgs) -> Result<u8> {
    let img = engine.get(&a.image)?;
    let layers = history_layers(engine, &img);
    if a.format.as_deref().is_some_and(format::is_json) {
        out(&history_json(&layers)?)?;
        return Ok(0);
    }
    let rows: Vec<Value> = layers.iter().map(|l| l.row(a.no_trunc, a.human)).collect();
    let template = match (&a.format, a.quiet) {
        (Some(f), _) => f.clone(),
        (None, true) => "{{.ID}}".into(),
        (None, false) => "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into(),
    };
    let fmt = Format::parse(&template)?.named("history", "images.historyReporter");
    out(&fmt.render(&rows, &HISTORY_HEADERS.iter().copied().collect())?)?;
    Ok(0)
}

/// One entry of an image's history, newest first: the top one carries the
/// image ID, older ones `<missing>` (they are not images of their own here),
/// as podman shows them.
struct HistoryLayer {
    id: String,
    created: Option<SystemTime>,
    created_by: String,
    size: u64,
    comment: String,
}

impl HistoryLayer {
    fn row(&self, no_trunc: bool, human: bool) -> Value {
        let id = if no_trunc || self.id.len() < 12 { self.id.clone() } else { self.id[..12].to_string() };
        let by = &self.created_by;
        let by = if !no_trunc && by.chars().count() > 45 {
            format!("{}...", by.chars().take(42).collect::<String>())
        } else {
            by.clone()
        };
        json!({
            "ID": id,
            // -H=false: the date as Go's RFC 3339 (sizes stay human in podman 4.3).
            "Created": if human { format::human_since(self.created) } else { format::rfc3339_seconds(self.created) },
            "CreatedAt": format::go_time(self.created),
            "CreatedBy": by,
            "Size": format::human_size(self.size),
            "Comment": self.comment,
        })
    }
}

fn history_layers(engine: &Engine, img: &Image) -> Vec<HistoryLayer> {
    let layer_sizes = layer_sizes(engine, img);
    let entries = img.config.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut next_layer = 0;
    let mut out = Vec::new();
    for h in &entries {
        let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
        let size = if empty {
            0
        } else {
            next_layer += 1;
            layer_sizes.get(next_layer - 1).copied().unwrap_or(0)
        };
        let created: Option<SystemTime> = h
            .get("created")
            .and_then(Value::as_str)
            .and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok());
        out.push(HistoryLayer {
            id: "<missing>".into(),
            created,
            created_by: h.get("created_by").and_then(Value::as_str).unwrap_or("").to_string(),
            size,
            comment: h.get("comment").and_then(Value::as_str).unwrap_or("").to_string(),
        });
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = img.id.hex().to_string();
    }
    out
}

/// podman 4.3's `history --format json`: one compact line, each entry its
/// ImageHistoryLayer (empty fields left out) plus `Created` as RFC 3339.
fn history_json(layers: &[HistoryLayer]) -> Result<String> {
    let mut list = Vec::new();
    for l in layers {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(l.id));
        m.insert("created".into(), json!(format::rfc3339_nanos(l.created)));
        if !l.created_by.is_empty() {
            m.insert("CreatedBy".into(), json!(l.created_by));
        }
        m.insert("size".into(), json!(l.size));
        if !l.comment.is_empty() {
            m.insert("comment".into(), json!(l.comment));
        }
        m.insert("Created".into(), json!(format::rfc3339_seconds(l.created)));
        list.push(Value::Object(m));
    }
    let mut s = serde_json::to_string(&list).ctx(|| "encoding history".into())?;
    s.push('\n');
    Ok(s)
}

/// Each layer's uncompressed size from the layer store, else its blob size.
fn layer_sizes(engine: &Engine, img: &Image) -> Vec<u64> {
    let store = engine.layers().ok();
    img.chain_ids()
        .iter()
        .zip(&img.layers)
        .map(|(c, d)| store.and_then(|s| s.layer(c).ok().flatten()).map_or(d.size(), |l| l.size))
        .collect()
}
