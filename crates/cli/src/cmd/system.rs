//! `system df`, `system prune`, `system reset`, `system migrate` and
//! `system renumber` (`system info` is `info`), in podman 4.3's words and
//! shapes. The sizes are the engine's `disk_usage` model: bytes on disk,
//! and RECLAIMABLE what `system prune --all --volumes` frees.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{json, Value as Json};

use super::manage::Filter;
use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};
use crate::units::human_size;
use engine::disk_usage::DiskUsage;
use engine::prune::{Item, PruneOptions};
use engine::Engine;

#[derive(clap::Args)]
pub struct DfArgs {
    /// Pretty-print images using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on disk usage
    #[arg(short, long)]
    verbose: bool,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused data
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation.  The default is false
    #[arg(short, long)]
    force: bool,
    /// Prune volumes
    #[arg(long)]
    volumes: bool,
}

#[derive(clap::Args)]
pub struct ResetArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// Specify a new runtime for all containers
    #[arg(long = "new-runtime")]
    new_runtime: Option<String>,
}

#[derive(clap::Args)]
pub struct RenumberArgs {}

// ---- df ----

pub fn df(engine: &Engine, a: &DfArgs) -> Result<u8> {
    let usage = engine.disk_usage()?;
    if a.verbose {
        return df_verbose(&usage, a.format.as_deref());
    }
    let rows = summary(&usage);
    let text = match a.format.as_deref() {
        // podman 4.3 prints the word `json` once per row here (its
        // summary lacks the JSON case); the rows as a JSON array, as later
        // podman prints them, is what a script asking for JSON wants.
        Some(f) if f.trim() == "json" => pretty_json(&Json::Array(rows.iter().map(|r| r.1.clone()).collect()))?,
        // Each row's JSON, sizes in bytes, as podman prints it.
        Some(f) if format::is_json(f) => rows.iter().map(|r| format!("{}\n", r.1)).collect(),
        Some(f) => Format::parse(f)?.named("df", "*system.dfSummary").render_twins(&rows)?,
        None => {
            let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];
            for (view, _) in &rows {
                let cell = |k: &str| match &view[k] {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                lines.push(["Type", "Total", "Active", "Size", "Reclaimable"].map(cell).join("\t"));
            }
            format::tabwrite(&lines)
        }
    };
    out(&text)?;
    Ok(0)
}

/// podman's three summary rows: what templates see (sizes human, raw ones
/// as `RawSize`, `RawReclaimable`) and their JSON (sizes in bytes).
fn summary(u: &DiskUsage) -> Vec<(Json, Json)> {
    let (images_reclaimable, containers_reclaimable, volumes_reclaimable) = u.reclaimable();
    // As podman counts them: a row per image name (one for a dangling
    // image), active when the image has containers.
    let image_rows: Vec<usize> =
        u.images.iter().flat_map(|i| std::iter::repeat_n(i.containers, i.image.names.len().max(1))).collect();
    let running = u.containers.iter().filter(|c| c.container.state == engine::containers::State::Running).count();
    let rows = [
        (
            "Images",
            image_rows.len(),
            image_rows.iter().filter(|&&n| n > 0).count(),
            u.images_size(),
            images_reclaimable,
        ),
        ("Containers", u.containers.len(), running, u.containers.iter().map(|c| c.size).sum(), containers_reclaimable),
        (
            "Local Volumes",
            u.volumes.len(),
            u.volumes.iter().map(|v| v.links).sum(),
            u.volumes.iter().map(|v| v.size).sum(),
            volumes_reclaimable,
        ),
    ];
    rows.into_iter()
        .map(|(kind, total, active, size, reclaimable): (&str, usize, usize, u64, u64)| {
            let percent = if size > 0 { (reclaimable as f64 / size as f64 * 100.0).round() as u64 } else { 0 };
            let view = json!({
                "Type": kind,
                "Total": total,
                "Active": active,
                "Size": human_size(size),
                "Reclaimable": format!("{} ({percent}%)", human_size(reclaimable)),
                "RawSize": size,
                "RawReclaimable": reclaimable,
            });
            let twin =
                json!({"Type": kind, "Total": total, "Active": active, "Size": size, "Reclaimable": reclaimable});
            (view, twin)
        })
        .collect()
}

/// `df -v`: podman's three tables; `--format json`, podman's report
/// (`entities.SystemDfReport`). podman 4.3 prints the tables whatever
/// the format; so does this for a template.
fn df_verbose(u: &DiskUsage, format: Option<&str>) -> Result<u8> {
    let (images, containers, volumes) = verbose_rows(u);
    if format.is_some_and(format::is_json) {
        let strip = |rows: &[(Vec<String>, Json)]| Json::Array(rows.iter().map(|r| r.1.clone()).collect());
        let report = json!({
            "ImagesSize": u.images_size(),
            "Images": strip(&images),
            "Containers": strip(&containers),
            "Volumes": strip(&volumes),
        });
        out(&pretty_json(&report)?)?;
        return Ok(0);
    }
    let table = |head: &str, rows: &[(Vec<String>, Json)]| {
        let mut lines = vec![head.to_string()];
        lines.extend(rows.iter().map(|r| r.0.join("\t")));
        format::tabwrite(&lines)
    };
    let text = format!(
        "Images space usage:\n\n{}\nContainers space usage:\n\n{}\nLocal Volumes space usage:\n\n{}",
        table("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS", &images),
        table("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES", &containers),
        table("VOLUME NAME\tLINKS\tSIZE", &volumes),
    );
    out(&text)?;
    Ok(0)
}

type Rows = Vec<(Vec<String>, Json)>;

/// Each table's rows: their cells, and their JSON (podman's field names).
fn verbose_rows(u: &DiskUsage) -> (Rows, Rows, Rows) {
    let since = |t: Option<SystemTime>| match t {
        Some(t) => format::human_duration(SystemTime::now().duration_since(t).unwrap_or_default()),
        None => "N/A".into(),
    };
    let mut images = Vec::new();
    for i in &u.images {
        let img = &i.image;
        let names: Vec<(String, String)> = if img.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.names.iter().map(|n| super::list::split_name(&n.to_string())).collect()
        };
        for (repo, tag) in names {
            let cells = vec![
                repo.clone(),
                tag.clone(),
                img.short_id().to_string(),
                since(img.created()),
                human_size(i.size),
                human_size(i.shared),
                human_size(i.size - i.shared),
                i.containers.to_string(),
            ];
            let j = json!({
                "Repository": repo,
                "Tag": tag,
                "ImageID": img.id.hex(),
                "Created": format::rfc3339_nanos(img.created()),
                "Size": i.size,
                "SharedSize": i.shared,
                "UniqueSize": i.size - i.shared,
                "Containers": i.containers,
            });
            images.push((cells, j));
        }
    }
    let mut containers = Vec::new();
    // Newest first, as podman lists them.
    for c in u.containers.iter().rev() {
        let ct = &c.container;
        let image = ct.image_id.strip_prefix("sha256:").unwrap_or(&ct.image_id);
        let cells = vec![
            ct.id[..12.min(ct.id.len())].to_string(),
            image[..12.min(image.len())].to_string(),
            ct.args.join(" "),
            c.volumes.to_string(),
            human_size(c.size),
            since(Some(ct.created)),
            ct.state.as_str().to_string(),
            ct.name.clone(),
        ];
        let j = json!({
            "ContainerID": ct.id,
            "Image": image,
            "Command": ct.args,
            "LocalVolumes": c.volumes,
            "Size": c.size + c.image_size,
            "RWSize": c.size,
            "Created": format::rfc3339_nanos(Some(ct.created)),
            "Status": ct.state.as_str(),
            "Names": ct.name,
        });
        containers.push((cells, j));
    }
    let volumes = u
        .volumes
        .iter()
        .map(|v| {
            let cells = vec![v.volume.name.clone(), v.links.to_string(), human_size(v.size)];
            let reclaimable = if v.links == 0 { v.size } else { 0 };
            let j =
                json!({"VolumeName": v.volume.name, "Links": v.links, "Size": v.size, "ReclaimableSize": reclaimable});
            (cells, j)
        })
        .collect();
    (images, containers, volumes)
}

fn pretty_json(v: &Json) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| CliError::new(format!("encoding JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}

// ---- prune ----

pub fn prune(engine: &Engine, a: &PruneArgs) -> Result<u8> {
    // podman asks before it reads the filters.
    if !a.force {
        let mut warning = String::from(
            "WARNING! This command removes:\n\t- all stopped containers\n\t- all networks not used by at least one container\n",
        );
        if a.volumes {
            warning.push_str("\t- all volumes not used by at least one container\n");
        }
        warning.push_str(if a.all {
            "\t- all images without at least one container associated with them\n\t- all build cache\n"
        } else {
            "\t- all dangling images\n\t- all dangling build cache\n"
        });
        warning.push('\n');
        if !super::names::confirm_with(&warning)? {
            return Ok(0);
        }
    }
    let filters = a.filter.iter().map(|f| Filter::parse(f)).collect::<Result<Vec<_>>>()?;
    let pick = |item: Item| filters.iter().all(|f| takes(f, &item));
    let report = engine.system_prune(PruneOptions { all: a.all, volumes: a.volumes }, &pick)?;
    let mut text = String::new();
    for (title, list) in [
        ("Deleted Containers", &report.containers),
        ("Deleted Volumes", &report.volumes),
        ("Deleted Images", &report.images),
        ("Deleted Networks", &report.networks),
    ] {
        if !list.is_empty() {
            text.push_str(title);
            text.push('\n');
            for x in list {
                text.push_str(x);
                text.push('\n');
            }
        }
    }
    text.push_str(&format!("Total reclaimed space: {}\n", human_size(report.reclaimed)));
    out(&text)?;
    Ok(0)
}

/// Whether `item` passes `filter`.
fn takes(filter: &Filter, item: &Item) -> bool {
    let (created, labels): (Option<SystemTime>, BTreeMap<String, String>) = match item {
        Item::Container(c) => (Some(c.created), c.labels.clone()),
        Item::Image(i) => (
            i.created(),
            i.labels().into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect(),
        ),
        Item::Volume(v) => (Some(v.created), v.labels.clone()),
        Item::Network(n) => (humantime::parse_rfc3339(&n.created).ok(), n.labels.clone()),
    };
    filter.matches(created, &labels)
}

// ---- reset, migrate, renumber ----

pub fn reset(engine: &Engine, a: &ResetArgs) -> Result<u8> {
    if !a.force {
        let warning = format!(
            "WARNING! This will remove:\n        - all containers\n        - all images\n        - all networks\n        - all build cache\n        - all volumes\n        - the graphRoot directory: {:?}\n        - the runRoot directory: {:?}\n",
            engine.root().display().to_string(),
            engine.runroot().display().to_string()
        );
        if !super::names::confirm_with(&warning)? {
            return Ok(0);
        }
    }
    engine.system_reset()?;
    Ok(0)
}

/// `system migrate`: berth's records need no migrating between versions
/// (each reads older ones as it goes), so, as podman with nothing to do,
/// it prints nothing (podman stops every running container even then;
/// berth leaves them be). `--new-runtime` gives every container that
/// runtime, stopping running ones first and saying so, as podman; one
/// that is not there is refused as podman does: on stdout, without
/// `Error:`, exit 125.
pub fn migrate(engine: &Engine, a: &MigrateArgs) -> Result<u8> {
    let Some(name) = &a.new_runtime else { return Ok(0) };
    // Found as `--runtime` finds one: berth.conf's `[engine.runtimes]`
    // first.
    let Ok(Some(runtime)) = engine::config::get()?.engine.find_runtime(Some(name)) else {
        out(&format!("change to runtime {name:?} requested but no such runtime is defined: invalid argument\n"))?;
        return Ok(crate::error::ENGINE as u8);
    };
    for id in engine.migrate_runtime(&runtime)? {
        out(&format!("stopped {id}\n"))?;
    }
    Ok(0)
}

/// `system renumber`: berth's locks are files named after what they lock,
/// not numbers from a fixed pool: nothing to renumber, and podman with
/// nothing to do prints nothing.
pub fn renumber(_engine: &Engine, _a: &RenumberArgs) -> Result<u8> {
    Ok(0)
}
