//! `events`: the store's events log (`engine::events`), printed as podman
//! 4.3 prints it, past events first, then (`--stream`, the default) the
//! new ones as other berth processes write them, until `--until` passes or
//! a signal ends it.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use engine::events::{Event, Reader};
use engine::Engine;
use serde_json::{json, Value as Json};

use super::out;
use crate::error::{CliError, Result};
use crate::format::{self, Format};

#[derive(clap::Args)]
pub struct EventsArgs {
    /// filter output
    #[arg(short, long, value_name = "FILTER")]
    filter: Vec<String>,
    /// format the output using a Go template
    #[arg(long)]
    format: Option<String>,
    /// do not truncate the output
    #[arg(long = "no-trunc", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    no_trunc: bool,
    /// show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// stream new events; for testing only
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", hide = true)]
    stream: bool,
    /// show all events until timestamp
    #[arg(long)]
    until: Option<String>,
}

pub fn events(engine: &Engine, a: &EventsArgs) -> Result<u8> {
    let filters = Filters::parse(&a.filter)?;
    let time = |flag: &str, v: &Option<String>, since: bool| -> Result<Option<SystemTime>> {
        v.as_deref()
            .map(|t| {
                crate::input_time::parse(t, since).map_err(|e| CliError::new(format!("parsing {flag} {t:?}: {e}")))
            })
            .transpose()
    };
    let since = time("--since", &a.since, true)?;
    let until = time("--until", &a.until, false)?;
    let printer = Printer::new(a.format.as_deref(), !a.no_trunc)?;
    let wanted = |e: &Event| {
        let t = e.time();
        since.is_none_or(|s| t.is_some_and(|t| t >= s))
            && until.is_none_or(|u| t.is_some_and(|t| t <= u))
            && filters.matches(e)
    };
    let mut reader = Reader::open(engine.runroot())?;
    let past: Vec<Event> = reader.past()?.into_iter().filter(|e| wanted(e)).collect();
    printer.print(&past)?;
    if !a.stream {
        return Ok(0);
    }
    // `--until` as a deadline on this machine's monotonic clock.
    let deadline = until.map(|u| match u.duration_since(SystemTime::now()) {
        Ok(left) => Instant::now() + left,
        Err(_) => Instant::now(),
    });
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
        let new: Vec<Event> = reader.next(deadline)?.into_iter().filter(|e| wanted(e)).collect();
        printer.print(&new)?;
    }
}

/// `--filter KEY=VALUE`s, by key: values of one key are ORed, keys ANDed
/// (podman's rule).
struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    fn parse(list: &[String]) -> Result<Filters> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in list {
            let (key, value) = f.split_once('=').ok_or_else(|| CliError::new(format!("invalid filter {f:?}")))?;
            // podman reads keys in any case.
            let key = key.to_lowercase();
            let key = if key == "status" { "event".to_string() } else { key };
            if !["container", "event", "image", "label", "network", "pod", "type", "volume"].contains(&key.as_str()) {
                return Err(CliError::new(format!("{key} is an invalid filter")));
            }
            by_key.entry(key).or_default().push(value.to_string());
        }
        Ok(Filters(by_key))
    }

    fn matches(&self, e: &Event) -> bool {
        self.0.iter().all(|(key, values)| values.iter().any(|v| one_matches(key, v, e)))
    }
}

/// Whether event `e` passes filter `key=v`.
fn one_matches(key: &str, v: &str, e: &Event) -> bool {
    let kind = e.kind.as_str();
    match key {
        // By name, or by ID or its prefix.
        "container" => kind == "container" && (e.name == v || (!v.is_empty() && e.id.starts_with(v))),
        "event" => e.status == v,
        "type" => kind == v,
        "image" => match kind {
            "image" => (!v.is_empty() && e.id.starts_with(v)) || same_image(&e.name, v),
            "container" => same_image(&e.image, v),
            _ => false,
        },
        "volume" => kind == "volume" && e.name == v,
        "network" => kind == "network" && (e.network == v || (!v.is_empty() && e.id.starts_with(v))),
        "label" => {
            let attrs = e.attributes.as_ref();
            match v.split_once('=') {
                Some((k, val)) => attrs.and_then(|a| a.get(k)).is_some_and(|x| x == val),
                None => attrs.is_some_and(|a| a.contains_key(v)),
            }
        }
        // berth has no pods.
        _ => false,
    }
}

/// Whether image name `name` (`localhost/bb:latest`) is what the user
/// typed (`localhost/bb:latest`, `localhost/bb`, `bb`, `bb:latest`).
fn same_image(name: &str, typed: &str) -> bool {
    if name.is_empty() || typed.is_empty() {
        return false;
    }
    let strip_tag = |n: &str| -> String {
        let slash = n.rfind('/').map_or(0, |i| i + 1);
        match n[slash..].rfind(':') {
            Some(i) if n[slash..][i + 1..] == *"latest" => n[..slash + i].to_string(),
            _ => n.to_string(),
        }
    };
    let (name, typed) = (strip_tag(name), strip_tag(typed));
    name == typed || name.ends_with(&format!("/{typed}"))
}

/// How events are printed: podman's line, JSON, or a Go template.
enum Printer {
    Text { truncate: bool },
    Json,
    Template(Box<Format>),
}

impl Printer {
    fn new(format: Option<&str>, truncate: bool) -> Result<Printer> {
        Ok(match format {
            None | Some("") => Printer::Text { truncate },
            Some(f) if format::is_json(f) => Printer::Json,
            // podman runs the template on each event, not in a range.
            Some(f) => Printer::Template(Box::new(Format::parse(f)?.named("events", "*events.Event").one_value())),
        })
    }

    fn print(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let text = match self {
            Printer::Text { truncate } => {
                events.iter().map(|e| format!("{}\n", text_line(e, *truncate))).collect::<String>()
            }
            Printer::Json => {
                let mut s = String::new();
                for e in events {
                    let line =
                        serde_json::to_string(e).map_err(|e| CliError::new(format!("encoding an event: {e}")))?;
                    s.push_str(&line);
                    s.push('\n');
                }
                s
            }
            Printer::Template(f) => {
                let rows: Vec<(Json, Json)> = events.iter().map(|e| (template_view(e), json!(e))).collect();
                f.render_twins(&rows)?
            }
        };
        out(&text)
    }
}

/// podman 4.3's line for an event (`Event.ToHumanReadable`); a container's
/// labels follow its name, sorted (Go's map order is random).
fn text_line(e: &Event, truncate: bool) -> String {
    let time = format::go_time(e.time());
    let id = if truncate { &e.id[..12.min(e.id.len())] } else { e.id.as_str() };
    let (kind, status) = (&e.kind, &e.status);
    match kind.as_str() {
        "container" | "pod" => {
            let mut s = format!("{time} {kind} {status} {id} (image={}, name={}", e.image, e.name);
            if !e.health_status.is_empty() {
                s.push_str(&format!(", health_status={}", e.health_status));
            }
            for (k, v) in e.attributes.iter().flatten() {
                s.push_str(&format!(", {k}={v}"));
            }
            s.push(')');
            s
        }
        "network" => format!("{time} {kind} {status} {id} (container={id}, name={})", e.network),
        "image" => format!("{time} {kind} {status} {id} {}", e.name),
        "volume" => format!("{time} {kind} {status} {}", e.name),
        _ => format!("{time} {kind} {status} {id} {}", e.name),
    }
}

/// An event as a template sees podman's `events.Event`: every field, Go's
/// zero values for those left out, its time as Go prints a `time.Time`.
fn template_view(e: &Event) -> Json {
    // A Go map, nil or not, prints as `map[...]`.
    let attributes = json!(e.attributes.clone().unwrap_or_default());
    json!({
        "ContainerExitCode": e.exit_code.unwrap_or(0),
        "ID": e.id,
        "Image": e.image,
        "Name": e.name,
        "Network": e.network,
        "Status": e.status,
        "Time": format::go_time(e.time()),
        "Type": e.kind,
        "HealthStatus": e.health_status,
        "Details": {"PodID": "", "Attributes": attributes},
        "PodID": "",
        "Attributes": attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_event(status: &str) -> Event {
        Event {
            id: "0123456789abcdef".into(),
            name: "c1".into(),
            image: "localhost/bb:latest".into(),
            status: status.into(),
            kind: "container".into(),
            time: "2026-12-06T04:40:52.05318755Z".into(),
            attributes: Some([("foo".to_string(), "bar".to_string())].into()),
            ..Event::default()
        }
    }

    #[test]
    fn lines_as_podman_prints_them() {
        let e = container_event("create");
        assert_eq!(
            text_line(&e, false),
            "2026-12-06 04:40:52.05318755 +0000 UTC container create 0123456789abcdef (image=localhost/bb:latest, name=c1, foo=bar)"
        );
        assert!(text_line(&e, true).contains(" 0123456789ab (image="));
        let v = Event { name: "v1".into(), ..Event { kind: "volume".into(), ..container_event("remove") } };
        assert_eq!(text_line(&v, false), "2026-12-06 04:40:52.05318755 +0000 UTC volume remove v1");
        let i = Event {
            kind: "image".into(),
            name: "/tmp/s.tar".into(),
            id: String::new(),
            ..container_event("loadfromarchive")
        };
        assert_eq!(text_line(&i, false), "2026-12-06 04:40:52.05318755 +0000 UTC image loadfromarchive  /tmp/s.tar");
    }

    #[test]
    fn filters_or_within_a_key_and_across_keys() {
        let f = Filters::parse(&["event=create".into(), "event=remove".into(), "container=c1".into()]).unwrap();
        assert!(f.matches(&container_event("create")));
        assert!(f.matches(&container_event("remove")));
        assert!(!f.matches(&container_event("start")));
        let f = Filters::parse(&["container=0123".into(), "label=foo=bar".into(), "image=bb".into()]).unwrap();
        assert!(f.matches(&container_event("start")));
        let f = Filters::parse(&["label=foo=baz".into()]).unwrap();
        assert!(!f.matches(&container_event("start")));
        assert!(Filters::parse(&["bogus=1".into()]).is_err());
        assert!(Filters::parse(&["type".into()]).is_err());
    }

    #[test]
    fn image_names_match_as_typed() {
        assert!(same_image("localhost/bb:latest", "bb"));
        assert!(same_image("localhost/bb:latest", "localhost/bb"));
        assert!(same_image("localhost/bb:two", "bb:two"));
        assert!(!same_image("localhost/bb:two", "bb"));
        assert!(!same_image("localhost/bbb:latest", "bb"));
    }
}
