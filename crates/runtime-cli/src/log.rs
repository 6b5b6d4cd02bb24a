//! The runtime's log, as runc writes it: `--log FILE` (default stderr),
//! `--log-format text|json`. Callers such as conmon and containerd read the
//! last "error" line of a json log to report why a command failed.
//!
//! A tiny tracing subscriber instead of tracing-subscriber: we need exactly
//! runc's line shapes ({"level","msg","time"} / logrus text), nothing more,
//! and every millisecond of start-up counts for a runtime.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};

pub struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    json: bool,
    max: Level,
}

impl Logger {
    pub fn new(path: Option<&str>, json: bool, debug: bool) -> std::io::Result<Logger> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) if !p.is_empty() && p != "-" => Box::new(File::options().create(true).append(true).open(p)?),
            _ => Box::new(std::io::stderr()),
        };
        Ok(Logger { out: Mutex::new(out), json, max: if debug { Level::DEBUG } else { Level::WARN } })
    }

    pub fn log(&self, level: Level, msg: &str) {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let lvl = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            _ => "debug",
        };
        let line = if self.json {
            serde_json::json!({"level": lvl, "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={lvl} msg={}", serde_json::Value::from(msg))
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl tracing::Subscriber for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut m = Message(String::new());
        e.record(&mut m);
        self.log(*e.metadata().level(), &m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
