//! Output the way podman prints it: Go templates (`--format`), tables
//! aligned like Go's tabwriter, human sizes and durations.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gtmpl::{Context, FuncError, Template, Value};
use serde_json::Value as Json;

use crate::error::{CliError, Result};

/// A parsed `--format`: a Go template, and whether it asked for a table.
pub struct Format {
    table: bool,
    template: Template,
}

impl Format {
    /// Parse a user's format as podman does: a leading `table` prints a
    /// header row and aligns columns; `\t` and `\n` typed literally on the
    /// shell mean tab and newline.
    pub fn parse(text: &str) -> Result<Format> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, text),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut template = Template::default();
        template.add_func("json", json_func);
        template.add_func("upper", upper_func);
        template.add_func("lower", lower_func);
        template.parse(body).map_err(|e| CliError::new(format!("invalid --format template: {e}")))?;
        Ok(Format { table, template })
    }

    /// Render every row (and with `table`, a header whose cells come from
    /// `headers`: field name -> column title).
    pub fn render(&self, rows: &[Json], headers: &HashMap<&str, &str>) -> Result<String> {
        let mut lines = Vec::new();
        if self.table {
            let mut head = serde_json::Map::new();
            for (k, v) in headers {
                head.insert((*k).to_string(), Json::String((*v).to_string()));
            }
            lines.push(self.render_one(&Json::Object(head))?);
        }
        for r in rows {
            lines.push(self.render_one(r)?);
        }
        let mut out = if self.table { tabwrite(&lines) } else { lines.concat_lines() };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }

    fn render_one(&self, row: &Json) -> Result<String> {
        self.template
            .render(&Context::from(to_gtmpl(row)))
            .map_err(|e| CliError::new(format!("rendering --format template: {e}")))
    }
}

trait ConcatLines {
    fn concat_lines(&self) -> String;
}

impl ConcatLines for Vec<String> {
    fn concat_lines(&self) -> String {
        let mut s = String::new();
        for l in self {
            s.push_str(l);
            if !l.ends_with('\n') {
                s.push('\n');
            }
        }
        s
    }
}

/// JSON -> template value. Objects become `Object` so `.Field` works.
pub fn to_gtmpl(v: &Json) -> Value {
    match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (_, Some(i)) => Value::from(i),
            _ => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        Json::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect()),
    }
}

fn from_gtmpl(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Json::from(u),
            (_, Some(i), _) => Json::from(i),
            (_, _, Some(f)) => Json::from(f),
            _ => Json::Null,
        },
        Value::Array(a) => Json::Array(a.iter().map(from_gtmpl).collect()),
        Value::Object(o) | Value::Map(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), from_gtmpl(v))).collect()),
    }
}

/// `{{json .}}`: the value as compact JSON (keys sorted).
fn json_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let [v] = args else { return Err(FuncError::ExactlyXArgs("json".into(), 1)) };
    serde_json::to_string(&from_gtmpl(v)).map(Value::String).map_err(|e| FuncError::Generic(e.to_string()))
}

fn upper_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    match args {
        [Value::String(s)] => Ok(Value::String(s.to_uppercase())),
        _ => Err(FuncError::ExactlyXArgs("upper".into(), 1)),
    }
}

fn lower_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    match args {
        [Value::String(s)] => Ok(Value::String(s.to_lowercase())),
        _ => Err(FuncError::ExactlyXArgs("lower".into(), 1)),
    }
}

/// Align tab-separated cells like Go's `tabwriter.NewWriter(w, 12, 2, 2, ' ', 0)`,
/// which podman uses: every column but the last is as wide as its widest
/// cell plus 2, and at least 12.
pub fn tabwrite(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.trim_end_matches('\n').split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = (c.chars().count() + 2).max(12);
            if widths.len() <= i {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        let last = r.len().saturating_sub(1);
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i < last {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{} {}", sig3(v), UNITS[i])
}

/// `%.3g` without the exponent form (values here are below 1000).
fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Go's `units.HumanDuration` + " ago", as podman's CREATED column.
pub fn human_since(t: Option<SystemTime>) -> String {
    let Some(t) = t else { return "N/A".into() };
    let d = SystemTime::now().duration_since(t).unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(d))
}

pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// Go's `time.Time.String()` in UTC: `2024-01-02 03:04:05.123 +0000 UTC`,
/// what podman's `{{.CreatedAt}}` prints.
pub fn go_time(t: Option<SystemTime>) -> String {
    let Some(t) = t else { return String::new() };
    let Ok(d) = t.duration_since(UNIX_EPOCH) else { return String::new() };
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86400) as i64);
    let rem = secs % 86400;
    let mut frac = format!("{:09}", d.subsec_nanos());
    while frac.ends_with('0') {
        frac.pop();
    }
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    format!("{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}{frac} +0000 UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 -> (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(1_987_649), "1.99 MB");
        assert_eq!(human_size(868), "868 B");
        assert_eq!(human_size(1000), "1 kB");
        assert_eq!(human_size(12_345_678), "12.3 MB");
        assert_eq!(human_size(0), "0 B");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
        assert_eq!(human_duration(Duration::from_secs(3 * 365 * 86400)), "3 years");
    }

    #[test]
    fn go_time_string() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000);
        assert_eq!(go_time(Some(t)), "2023-11-14 22:13:20.5 +0000 UTC");
    }

    #[test]
    fn table_alignment_matches_tabwriter() {
        let out = tabwrite(&["REPOSITORY\tTAG\tSIZE".into(), "localhost/foo\tlatest\t1.99 MB".into()]);
        assert_eq!(out, "REPOSITORY     TAG         SIZE\nlocalhost/foo  latest      1.99 MB\n");
    }

    #[test]
    fn templates() {
        let f = Format::parse("{{.A}}:{{.B}}").unwrap();
        let rows = [serde_json::json!({"A": "x", "B": 1})];
        assert_eq!(f.render(&rows, &HashMap::new()).unwrap(), "x:1\n");
        let f = Format::parse("{{json .}}").unwrap();
        assert_eq!(f.render(&rows, &HashMap::new()).unwrap(), "{\"A\":\"x\",\"B\":1}\n");
    }
}
