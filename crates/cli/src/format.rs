//! Output the way podman prints it: Go templates (`--format`), tables
//! aligned like Go's tabwriter, human sizes and durations.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gtmpl::{Context, FuncError, Template, Value};
use serde_json::Value as Json;

use crate::error::{CliError, Result};

/// A parsed `--format`: a Go template, and whether it asked for a table.
pub struct Format {
    table: bool,
    /// Print the header row of a table (`--noheading` turns it off; the
    /// columns stay aligned).
    heading: bool,
    /// The template as parsed (after podman's rewriting of `table` formats,
    /// before ours), to locate a failing field the way Go reports it.
    body: String,
    template: Template,
    /// podman's template name and the Go type of its rows, for errors.
    name: &'static str,
    go_type: &'static str,
    /// Columns before the user's text on the first line: [`RANGE_PREFIX`]
    /// for listings, none where podman runs the template on one value.
    prefix: usize,
}

/// The function every printing action is piped through (see [`route_prints`]).
const PRINT_FUNC: &str = "berthGoPrint";

/// podman runs a format as `{{range .}}FORMAT{{end}}`: Go's error positions
/// on the first line count this prefix.
const RANGE_PREFIX: usize = "{{range .}}".len();

/// Whether a `--format` asks for the whole result as JSON (`json` or
/// `{{json .}}`, as podman's `report.IsJSON` decides).
pub fn is_json(format: &str) -> bool {
    let f: String = format.chars().filter(|c| !c.is_whitespace()).collect();
    f == "json" || f == "{{json.}}"
}

impl Format {
    /// Parse a user's format as podman does: a leading `table` prints a
    /// header row and aligns columns (and, as podman's formatter does, a
    /// space between actions separates columns like a tab); `\t` and `\n`
    /// typed literally on the shell mean tab and newline.
    pub fn parse(text: &str) -> Result<Format> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, text.to_string()),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let body = if table { spaces_to_tabs(&body) } else { body };
        // If the rewritten text does not parse, parse the user's own text:
        // its error is the one to report, and should it parse after all (a
        // template the rewrite got wrong), gtmpl's own printing beats failing.
        let template = match new_template(&route_prints(&body)) {
            Ok(t) => t,
            Err(_) => new_template(&body)?,
        };
        Ok(Format {
            table,
            heading: true,
            body,
            template,
            name: "format",
            go_type: "interface {}",
            prefix: RANGE_PREFIX,
        })
    }

    /// Name the template and its rows' Go type as podman does (`images`,
    /// `images.imageReporter`), for errors worded as Go words them.
    pub fn named(mut self, name: &'static str, go_type: &'static str) -> Format {
        self.name = name;
        self.go_type = go_type;
        self
    }

    /// The template runs on one value (podman's `info`), not on each row
    /// of a list: Go's error positions then count no `{{range .}}`.
    pub fn one_value(mut self) -> Format {
        self.prefix = 0;
        self
    }

    /// Leave out a table's header row (`--noheading`).
    pub fn heading(mut self, on: bool) -> Format {
        self.heading = on;
        self
    }

    /// Render every row (and with `table`, a header whose cells come from
    /// `headers`: field name -> column title; a field without one is titled
    /// by its name in capitals, words split, as podman does).
    pub fn render(&self, rows: &[Json], headers: &HashMap<&str, &str>) -> Result<String> {
        self.render_rows(rows, None, headers)
    }

    /// Render rows whose template values differ from their JSON (`rows`:
    /// what the template sees, Go's text for times, say; `twins`: the
    /// JSON, which `{{json ...}}` prints the matching part of).
    pub fn render_twins(&self, rows: &[(Json, Json)]) -> Result<String> {
        let (views, twins): (Vec<Json>, Vec<Json>) = rows.iter().cloned().unzip();
        self.render_rows(&views, Some(&twins), &HashMap::new())
    }

    /// [`Format::render_twins`] with a table's column titles (see [`Format::render`]).
    pub fn render_twins_titled(&self, rows: &[(Json, Json)], headers: &HashMap<&str, &str>) -> Result<String> {
        let (views, twins): (Vec<Json>, Vec<Json>) = rows.iter().cloned().unzip();
        self.render_rows(&views, Some(&twins), headers)
    }

    fn render_rows(&self, rows: &[Json], twins: Option<&[Json]>, headers: &HashMap<&str, &str>) -> Result<String> {
        let mut lines = Vec::new();
        if self.table && self.heading {
            let mut head = serde_json::Map::new();
            for r in rows.iter().take(1) {
                for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
                    head.insert(k.clone(), Json::String(column_title(k)));
                }
            }
            for (k, v) in headers {
                head.insert((*k).to_string(), Json::String((*v).to_string()));
            }
            lines.push(self.render_header(head, rows)?);
        }
        for (i, r) in rows.iter().enumerate() {
            match self.render_one(r, twins.and_then(|t| t.get(i))) {
                Ok(line) => lines.push(line),
                // Go's template writes as it goes: what came before the
                // failing action is printed (a table's cells are not).
                Err((partial, e)) if !self.table => {
                    return Err(e.with_output(lines.concat_lines() + &partial));
                }
                Err((_, e)) => return Err(e),
            }
        }
        let mut out = if self.table { tabwrite(&lines) } else { lines.concat_lines() };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }

    /// The header row. podman runs the template on a Go map of titles,
    /// where a field without a title prints `<no value>` rather than failing
    /// (so an empty listing still prints its header); a mistake in the
    /// template is then reported by the first row, as podman reports it.
    fn render_header(&self, head: serde_json::Map<String, Json>, rows: &[Json]) -> Result<String> {
        let titles = head.into_iter().map(|(k, v)| (k, to_gtmpl(&v))).collect();
        let mut text = Vec::new();
        match self.template.execute(&mut text, &Context::from(Value::Map(titles))) {
            Ok(()) => Ok(String::from_utf8_lossy(&text).into_owned()),
            Err(e) => {
                for r in rows {
                    self.render_one(r, None).map_err(|(_, e)| e)?;
                }
                Err(CliError::new(self.exec_error(&e)))
            }
        }
    }

    /// One row's text; on failure, what was written before it as well.
    /// `json`: the row's JSON twin, if it has one (see [`Format::render_twins`]).
    fn render_one(&self, row: &Json, json: Option<&Json>) -> std::result::Result<String, (String, CliError)> {
        ROW.with_borrow_mut(|r| *r = Some((json.unwrap_or(row).clone(), json.is_some())));
        let mut text = Vec::new();
        let res = self.template.execute(&mut text, &Context::from(to_gtmpl(row)));
        ROW.with_borrow_mut(|r| *r = None);
        let text = String::from_utf8_lossy(&text).into_owned();
        match res {
            Ok(()) => Ok(text),
            Err(e) => Err((text, CliError::new(self.exec_error(&e)))),
        }
    }

    /// An execution error as Go's text/template words it, on one line:
    /// `template: images:1:13: executing "images" at <.Foo>: can't evaluate
    /// field Foo in type images.imageReporter`. gtmpl says only which field
    /// was missing (with a debug dump of the row, never shown): where it is
    /// comes from the template text.
    fn exec_error(&self, e: &gtmpl::error::ExecError) -> String {
        let name = self.name;
        if let gtmpl::error::ExecError::NoFiledFor(field, _) = e {
            if let Some((pos, node, first)) = field_node(&self.body, field) {
                let before = &self.body[..pos];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => pos - nl - 1,
                    None => pos + self.prefix,
                };
                let ty = if first { self.go_type } else { "interface {}" };
                return format!(
                    "template: {name}:{line}:{col}: executing \"{name}\" at <{node}>: can't evaluate field {field} in type {ty}"
                );
            }
            return format!(
                "template: {name}: executing \"{name}\": can't evaluate field {field} in type {}",
                self.go_type
            );
        }
        let text = e.to_string();
        format!("template: {name}: executing \"{name}\": {}", text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// podman's table formats separate columns by spaces as well as tabs:
/// spaces outside actions become tabs (inside an action they may be part of
/// a string, which podman's plain replacement would change too).
fn spaces_to_tabs(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open].replace(' ', "\t"));
        let end = action_end(rest.as_bytes(), open + 2).map_or(rest.len(), |e| e + 2).min(rest.len());
        out.push_str(&rest[open..end]);
        rest = &rest[end..];
    }
    out.push_str(&rest.replace(' ', "\t"));
    out
}

/// Where Go places the field chain naming `field` in `body` (inside an
/// action), the chain's text (`.Config.Foo`) and whether `field` is its first
/// field (so the row's own type is the one that lacks it).
fn field_node(body: &str, field: &str) -> Option<(usize, String, bool)> {
    let b = body.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let needle = format!(".{field}");
    let mut from = 0;
    while let Some(off) = body[from..].find(&needle) {
        let at = from + off;
        from = at + 1;
        let after = at + needle.len();
        if b.get(after).is_some_and(|c| ident(*c)) {
            continue;
        }
        // Inside an action: an opening `{{` after the last `}}`.
        let before = &body[..at];
        if before.rfind("{{").is_none_or(|o| before.rfind("}}").is_some_and(|c| c > o)) {
            continue;
        }
        let mut start = at;
        while start > 0 && (ident(b[start - 1]) || b[start - 1] == b'.' || b[start - 1] == b'$') {
            start -= 1;
        }
        let mut end = after;
        while end < b.len() && (ident(b[end]) || b[end] == b'.') {
            end += 1;
        }
        // Go's parser places a chain `.A.B` at its second field.
        let pos = match body[start + 1..end].find('.') {
            Some(dot) => start + 1 + dot,
            None => start,
        };
        return Some((pos, body[start..end].to_string(), start == at));
    }
    None
}

/// podman's default column title for a field: `VirtualSize` -> `VIRTUAL SIZE`.
fn column_title(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if i > 0 && c.is_uppercase() && (chars[i - 1].is_lowercase() || next_lower) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

fn new_template(text: &str) -> Result<Template> {
    let mut template = Template::default();
    template.add_func("json", json_func);
    template.add_func("index", index_func);
    template.add_func("upper", upper_func);
    template.add_func("lower", lower_func);
    template.add_func("print", print_func);
    template.add_func("println", println_func);
    template.add_func("printf", printf_func);
    template.add_func(PRINT_FUNC, go_print_func);
    template.parse(text).map_err(|e| CliError::new(format!("invalid --format template: {e}")))?;
    Ok(template)
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

// Printing values the way Go does.
//
// Go's text/template prints an action's value with fmt's `%v`: lists as
// `[a b c]`, maps as `map[k1:v1 k2:v2]` (keys sorted), `<no value>` for nil.
// gtmpl prints with `Display for Value`, which uses Rust's `Debug` for
// arrays and maps (`[String("sh")]`), and has no hook to change that: the
// printing is a private method, `Value` is a foreign enum whose `Display`
// we cannot override, and the parsed tree cannot be edited from outside
// (its node types live in a private module). Converting lists to strings
// before rendering is not an option either: `range`, `index`, `len` and
// `json` need them as lists. So the template text is rewritten before
// parsing: every action that prints (`{{.Config.Cmd}}`, `{{.A | upper}}`)
// gets `| berthGoPrint` appended, and that function renders its argument
// as Go's fmt would. Control actions (`if`, `range`, `end`, ...),
// variable declarations and comments print nothing and are left alone.
// print, println and printf are replaced for the same reason.

/// Rewrite `text` so that every printing action pipes its value through
/// [`PRINT_FUNC`]. Scans actions the way Go's lexer delimits them: `{{`,
/// an optional `- ` trim marker, then up to the first `}}` outside a quoted
/// string, raw string or character constant (before an optional ` -`).
fn route_prints(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 32);
    let mut done = 0;
    while let Some(off) = text[done..].find("{{") {
        let open = done + off;
        let mut start = open + 2;
        if b.get(start) == Some(&b'-') && b.get(start + 1).is_some_and(|c| is_go_space(*c)) {
            start += 2;
        }
        if text[start..].starts_with("/*") {
            // A comment: copied as it is.
            let body = start + 2;
            let close = text[body..].find("*/").and_then(|c| text[body + c..].find("}}").map(|d| body + c + d));
            // Unterminated: leave the rest for the parser to complain about.
            let Some(close) = close else { break };
            out.push_str(&text[done..close + 2]);
            done = close + 2;
            continue;
        }
        let Some(close) = action_end(b, start) else { break };
        let mut end = close;
        if close >= start + 2 && b[close - 1] == b'-' && is_go_space(b[close - 2]) {
            end = close - 2;
        }
        out.push_str(&text[done..end]);
        if prints(&text[start..end]) {
            out.push_str(" | ");
            out.push_str(PRINT_FUNC);
        }
        out.push_str(&text[end..close + 2]);
        done = close + 2;
    }
    out.push_str(&text[done..]);
    out
}

fn is_go_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Index of the `}}` closing the action whose body starts at `i`.
fn action_end(b: &[u8], mut i: usize) -> Option<usize> {
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Whether an action with this body prints its value: not a control
/// keyword, not a variable declaration or assignment, not empty.
fn prints(body: &str) -> bool {
    const KEYWORDS: [&str; 10] =
        ["if", "else", "end", "range", "with", "template", "define", "block", "break", "continue"];
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let s = body.trim_start();
    if s.is_empty() {
        return false;
    }
    let word = s.split(|c: char| !ident(c)).next().unwrap_or("");
    if KEYWORDS.contains(&word) {
        return false;
    }
    // `$x := ...`, `$x = ...`, `$i, $e := ...`
    let mut rest = s;
    for first in [true, false] {
        let Some(r) = rest.strip_prefix('$') else { return true };
        rest = r.trim_start_matches(ident).trim_start();
        match rest.strip_prefix(',') {
            Some(r) if first => rest = r.trim_start(),
            _ => break,
        }
    }
    !(rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("==")))
}

/// `{{X}}` is rewritten to `{{X | berthGoPrint}}`: the value as Go prints it.
fn go_print_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    match args {
        [v] => Ok(Value::String(go_print(v, true))),
        _ => Err(FuncError::ExactlyXArgs(PRINT_FUNC.into(), 1)),
    }
}

/// `v` as Go's `fmt.Sprint` prints it (`%v`). `top`: the value an action
/// prints, where text/template shows nil as `<no value>`; inside a list or
/// map (and as a function's argument) fmt shows it as `<nil>`. JSON objects
/// print as Go maps: the rows are JSON, so which objects were Go structs
/// (printed `{v1 v2}` by podman) is not known here.
fn go_print(v: &Value, top: bool) -> String {
    let mut s = String::new();
    write_go(&mut s, v, top);
    s
}

fn write_go(s: &mut String, v: &Value, top: bool) {
    match v {
        Value::NoValue | Value::Nil => s.push_str(if top { "<no value>" } else { "<nil>" }),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::String(t) => s.push_str(t),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => s.push_str(&u.to_string()),
            (_, Some(i), _) => s.push_str(&i.to_string()),
            (_, _, Some(f)) => s.push_str(&go_float(f)),
            _ => s.push_str(&n.to_string()),
        },
        Value::Array(a) => {
            s.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                write_go(s, e, false);
            }
            s.push(']');
        }
        Value::Object(m) | Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            s.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push(':');
                write_go(s, &m[k], false);
            }
            s.push(']');
        }
        Value::Function(_) => s.push_str("<func>"),
    }
}

/// A float as Go's `%v` prints it (`%g`, shortest representation: the
/// exponent form below 1e-4 and from 1e6 on), except that integral values
/// print as integers (`1e6` -> `1000000`, where Go would print `1e+06`):
/// the numbers in rows are counts and sizes, which podman keeps in integer
/// fields.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// Go's `print` (`fmt.Sprint`): a space between operands when neither is a string.
fn print_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let mut s = String::new();
    for (i, v) in args.iter().enumerate() {
        let string = |v: &Value| matches!(v, Value::String(_));
        if i > 0 && !string(v) && !string(&args[i - 1]) {
            s.push(' ');
        }
        write_go(&mut s, v, false);
    }
    Ok(Value::String(s))
}

/// Go's `println` (`fmt.Sprintln`): spaces between all operands, then a newline.
fn println_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let mut s = args.iter().map(|v| go_print(v, false)).collect::<Vec<_>>().join(" ");
    s.push('\n');
    Ok(Value::String(s))
}

/// gtmpl's `printf`, with lists, maps and nil first turned into the text Go's
/// `%v` (and `%s`) would print for them.
fn printf_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let args: Vec<Value> = args
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Array(_) | Value::Object(_) | Value::Map(_) | Value::Nil | Value::NoValue if i > 0 => {
                Value::String(go_print(v, false))
            }
            _ => v.clone(),
        })
        .collect();
    gtmpl::funcs::printf(&args)
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

/// Template value -> JSON; object keys sorted (gtmpl's maps have no order).
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
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Json::Object(keys.into_iter().map(|k| (k.clone(), from_gtmpl(&o[k]))).collect())
        }
    }
}

// `{{json .}}` prints fields in the order the command built the row, which
// follows podman's struct order (serde_json is built with `preserve_order`,
// so a row's objects keep their insertion order). The template only sees
// gtmpl values, whose maps are HashMaps, and `json` is a plain `fn` that
// gets nothing but that value. So the row being rendered is kept in a
// thread-local, and `json` prints the part of it its argument came from:
// `.`, `.Config`, an element reached with `range` or `index`. A value that
// is nowhere in the row (made by a function) prints with sorted keys.
// A row with a JSON twin (`render_twins`) is kept as its twin, and its
// values found there by `same` modulo what the template view changed.
thread_local! {
    static ROW: RefCell<Option<(Json, bool)>> = const { RefCell::new(None) };
}

/// `{{json .}}`: the value as compact JSON.
/// Go's `index`: a key a map lacks gives the map's zero value (podman's
/// maps in templates hold strings: `""`), where gtmpl fails on an object.
fn index_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let Some((first, keys)) = args.split_first().filter(|(_, k)| !k.is_empty()) else {
        return Err(FuncError::AtLeastXArgs("index".into(), 2));
    };
    let mut col = first.clone();
    for key in keys {
        col = match (&col, key) {
            (Value::Object(o) | Value::Map(o), Value::String(k)) => {
                o.get(k).cloned().unwrap_or_else(|| Value::String(String::new()))
            }
            _ => gtmpl::funcs::index(&[col.clone(), key.clone()])?,
        };
    }
    Ok(col)
}

fn json_func(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let [v] = args else { return Err(FuncError::ExactlyXArgs("json".into(), 1)) };
    let ordered = has_object(v)
        .then(|| {
            ROW.with_borrow(|row| row.as_ref().and_then(|(r, twin)| find_in(r, v, *twin)).map(serde_json::to_string))
        })
        .flatten();
    ordered
        .unwrap_or_else(|| serde_json::to_string(&from_gtmpl(v)))
        .map(Value::String)
        .map_err(|e| FuncError::Generic(e.to_string()))
}

/// Whether key order matters when printing `v`.
fn has_object(v: &Value) -> bool {
    match v {
        Value::Object(_) | Value::Map(_) => true,
        Value::Array(a) => a.iter().any(has_object),
        _ => false,
    }
}

/// The part of `row` that `v` was made from: `row` itself or the first
/// nested value equal to it (`twin`: `v` comes from the row's template
/// view, see [`same`]).
fn find_in<'a>(row: &'a Json, v: &Value, twin: bool) -> Option<&'a Json> {
    if same(row, v, twin) {
        return Some(row);
    }
    match row {
        Json::Array(a) => a.iter().find_map(|j| find_in(j, v, twin)),
        Json::Object(o) => o.values().find_map(|j| find_in(j, v, twin)),
        _ => None,
    }
}

/// Whether `v` is `j` converted by [`to_gtmpl`]. With `twin`, `v` may come
/// from `j`'s template view instead: a time as Go prints it, `{}` or `[]`
/// for null, and objects as [`same_fields`] compares them.
fn same(j: &Json, v: &Value, twin: bool) -> bool {
    match (j, v) {
        (Json::Null, Value::Nil) => true,
        (Json::Null, Value::Object(m) | Value::Map(m)) => twin && m.is_empty(),
        (Json::Null, Value::Array(a)) => twin && a.is_empty(),
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::String(a), Value::String(b)) => a == b || twin && go_time_from_rfc3339(a).as_ref() == Some(b),
        (Json::Number(_), Value::Number(_)) => to_gtmpl(j) == *v,
        (Json::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(j, v)| same(j, v, twin)),
        (Json::Object(a), Value::Object(b) | Value::Map(b)) if twin => same_fields(a, b),
        (Json::Object(a), Value::Object(b) | Value::Map(b)) => {
            a.len() == b.len() && a.iter().all(|(k, j)| b.get(k).is_some_and(|v| same(j, v, false)))
        }
        _ => false,
    }
}

/// Whether a template view's object `view` shows the JSON object `json`:
/// every JSON field is in the view, under its own name or its Go field's
/// (`network_interface` as `NetworkInterface`, `Id` as `ID` too), and
/// every other field of the view is one of those or a zero value (a field
/// Go's `omitempty` leaves out of the JSON).
fn same_fields(json: &serde_json::Map<String, Json>, view: &HashMap<String, Value>) -> bool {
    let shows = |vk: &str, v: &Value| json.iter().any(|(k, j)| go_field_is(vk, k) && same(j, v, true));
    json.iter().all(|(k, j)| view.iter().any(|(vk, v)| go_field_is(vk, k) && same(j, v, true)))
        && view.iter().all(|(vk, v)| json.contains_key(vk) || shows(vk, v) || is_zero(v))
}

/// Whether Go field `field` is the one JSON names `key`: the same letters,
/// case and underscores aside.
fn go_field_is(field: &str, key: &str) -> bool {
    let letters = |s: &str| s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect::<String>();
    field == key || letters(field) == letters(key)
}

/// Go's zero values, which `omitempty` leaves out.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) | Value::Map(m) => m.is_empty(),
        Value::Function(_) => false,
    }
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

/// Go's `time.Duration.String()`: `0s`, `1.5ms`, `16.093135539s`, `2m3s`,
/// `1h0m5s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    // `whole.fraction` of `v / div`, the fraction without trailing zeros.
    let frac = |v: u128, div: u128| {
        let width = div.to_string().len() - 1;
        let digits = format!("{:0width$}", v % div);
        let digits = digits.trim_end_matches('0');
        if digits.is_empty() {
            (v / div).to_string()
        } else {
            format!("{}.{digits}", v / div)
        }
    };
    match ns {
        0 => "0s".into(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{}µs", frac(ns, 1_000)),
        1_000_000..=999_999_999 => format!("{}ms", frac(ns, 1_000_000)),
        _ => {
            let secs = ns / 1_000_000_000;
            let (h, m) = (secs / 3600, secs / 60 % 60);
            let s = frac(ns % 60_000_000_000, 1_000_000_000);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
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

/// A JSON time (RFC 3339, as Go encodes a `time.Time`) as Go's
/// `time.Time.String()` prints it; Go's zero time too.
pub fn go_time_from_rfc3339(s: &str) -> Option<String> {
    if s == "0001-01-01T00:00:00Z" {
        return Some("0001-01-01 00:00:00 +0000 UTC".into());
    }
    let bytes = s.as_bytes();
    // Only full timestamps (`2006-01-02T15:04:05...`), in UTC.
    if bytes.len() < 20 || bytes.get(10) != Some(&b'T') || !s.ends_with('Z') {
        return None;
    }
    humantime::parse_rfc3339(s).ok().map(|t| go_time(Some(t)))
}

/// Go's `time.RFC3339` in UTC, whole seconds: `2024-01-02T03:04:05Z`.
pub fn rfc3339_seconds(t: Option<SystemTime>) -> String {
    let Some(t) = t else { return String::new() };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction dropped).
pub fn rfc3339_nanos(t: Option<SystemTime>) -> String {
    t.map(engine::units::rfc3339_nanos).unwrap_or_default()
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
    fn podmans_table_and_json_rules() {
        assert!(is_json("json") && is_json(" {{ json . }} ") && !is_json("{{json .ID}}"));
        assert_eq!(spaces_to_tabs(r#"{{.A}} x {{if eq .B "a b"}}y{{end}}"#), "{{.A}}\tx\t{{if eq .B \"a b\"}}y{{end}}");
        assert_eq!(column_title("VirtualSize"), "VIRTUAL SIZE");
        assert_eq!(column_title("ID"), "ID");
        assert_eq!(column_title("CreatedAt"), "CREATED AT");
        let rows = [serde_json::json!({"A": "x", "Long": "yyyyyyyyyyyyyyyyyy"})];
        let f = Format::parse("table {{.A}} {{.Long}}").unwrap().heading(false);
        assert_eq!(f.render(&rows, &HashMap::new()).unwrap(), "x           yyyyyyyyyyyyyyyyyy\n");
        let f = Format::parse("table {{.A}} {{.Long}}").unwrap();
        assert_eq!(f.render(&rows, &HashMap::new()).unwrap(), "A           LONG\nx           yyyyyyyyyyyyyyyyyy\n");
    }

    #[test]
    fn an_empty_table_prints_its_header_as_podman_does() {
        let f = Format::parse("table {{.ID}} {{.VirtualSize}} {{.Nope}}").unwrap();
        let titles = HashMap::from([("ID", "IMAGE ID"), ("VirtualSize", "VIRTUAL SIZE")]);
        assert_eq!(f.render(&[], &titles).unwrap(), "IMAGE ID    VIRTUAL SIZE  <no value>\n");
        // With rows, the unknown field is the user's mistake, reported.
        let row = serde_json::json!({"ID": "x", "VirtualSize": 1});
        assert!(f.render(&[row], &titles).is_err());
    }

    #[test]
    fn missing_fields_are_reported_as_go_does() {
        let err = |t: &str| {
            Format::parse(t)
                .unwrap()
                .named("images", "images.imageReporter")
                .render(&[row_a()], &HashMap::new())
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            err("{{.Foo}}"),
            "template: images:1:13: executing \"images\" at <.Foo>: can't evaluate field Foo in type images.imageReporter"
        );
        assert_eq!(
            err("{{.A}}\\n  {{.Foo.Bar}}"),
            "template: images:2:8: executing \"images\" at <.Foo.Bar>: can't evaluate field Foo in type images.imageReporter"
        );
        // `.Foo` inside text or another name is not the field.
        assert_eq!(
            err(".Foo {{.Food}}{{.Foo}}"),
            "template: images:1:27: executing \"images\" at <.Foo>: can't evaluate field Food in type images.imageReporter"
                .replace("<.Foo>", "<.Food>")
                .replace("1:27", "1:18")
        );
    }

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
    fn go_durations_print_as_go() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(10)), "10ns");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(16_093_135_539)), "16.093135539s");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3605)), "1h0m5s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
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

    /// Render `template` against one row.
    fn one(template: &str, row: Json) -> String {
        Format::parse(template).unwrap().render(&[row], &HashMap::new()).unwrap()
    }

    #[test]
    fn lists_print_like_go() {
        let row = serde_json::json!({"Cmd": ["sh", "-c", "echo hi"], "Empty": [], "Names": ["localhost/a:1"]});
        assert_eq!(one("{{.Cmd}}", row.clone()), "[sh -c echo hi]\n");
        assert_eq!(one("{{.Empty}}|{{.Names}}", row.clone()), "[]|[localhost/a:1]\n");
        // Lists stay lists for everything but printing.
        assert_eq!(
            one("{{range .Cmd}}<{{.}}>{{end}} {{len .Cmd}} {{index .Cmd 1}}", row.clone()),
            "<sh><-c><echo hi> 3 -c\n"
        );
        assert_eq!(one("{{range $i, $c := .Cmd}}{{$i}}={{$c}},{{end}}", row.clone()), "0=sh,1=-c,2=echo hi,\n");
        assert_eq!(one("{{$c := .Cmd}}{{if $c}}{{$c}}{{end}}", row.clone()), "[sh -c echo hi]\n");
        assert_eq!(one("{{with .Cmd}}{{.}}{{end}}", row), "[sh -c echo hi]\n");
    }

    #[test]
    fn nested_lists_print_like_go() {
        let row = serde_json::json!({"L": [[1, 2], ["a", [true, false]], [], [null], [{"k": "v"}]]});
        assert_eq!(one("{{.L}}", row), "[[1 2] [a [true false]] [] [<nil>] [map[k:v]]]\n");
    }

    #[test]
    fn maps_print_like_go() {
        let row = serde_json::json!({
            "Labels": {"b": "two", "a": "1", "c": {"z": [1], "y": null}},
            "Empty": {},
        });
        assert_eq!(one("{{.Labels}}", row.clone()), "map[a:1 b:two c:map[y:<nil> z:[1]]]\n");
        assert_eq!(one("{{.Empty}}|{{.Labels.a}}", row), "map[]|1\n");
    }

    #[test]
    fn scalars_print_like_go() {
        let row = serde_json::json!({
            "Nil": null, "T": true, "F": false, "N": -3, "Big": 18_446_744_073_709_551_615u64,
            "Whole": 2.0, "Half": 1.5, "Tiny": 0.00001, "Small": 0.0001, "Huge": 1_234_567.5,
        });
        assert_eq!(
            one("{{.Nil}}|{{.T}}|{{.F}}|{{.N}}|{{.Big}}", row.clone()),
            "<no value>|true|false|-3|18446744073709551615\n"
        );
        assert_eq!(
            one("{{.Whole}}|{{.Half}}|{{.Tiny}}|{{.Small}}|{{.Huge}}", row),
            "2|1.5|1e-05|0.0001|1.2345675e+06\n"
        );
    }

    #[test]
    fn print_functions_like_go() {
        let row = serde_json::json!({"Cmd": ["sh", "-c"], "M": {"a": 1}, "Nil": null});
        assert_eq!(one(r#"{{print .Cmd 1 2 "a" .M}}"#, row.clone()), "[sh -c] 1 2amap[a:1]\n"); // Go: no space next to a string
        assert_eq!(one(r#"{{println .Cmd "x"}}"#, row.clone()), "[sh -c] x\n");
        assert_eq!(one(r#"{{printf "%v/%s/%v/%d" .Cmd .M .Nil 7}}"#, row), "[sh -c]/map[a:1]/<nil>/7\n");
    }

    #[test]
    fn only_printing_actions_are_rewritten() {
        let r = route_prints;
        assert_eq!(r("{{.A}}"), "{{.A | berthGoPrint}}");
        assert_eq!(r("x{{- .A -}} y"), "x{{- .A | berthGoPrint -}} y");
        assert_eq!(r("{{.A | upper}}"), "{{.A | upper | berthGoPrint}}");
        assert_eq!(r(r#"{{printf "}}" .A}}"#), r#"{{printf "}}" .A | berthGoPrint}}"#);
        assert_eq!(r("{{printf `}}\n` '}'}}"), "{{printf `}}\n` '}' | berthGoPrint}}");
        assert_eq!(r(r#"{{printf "\"}}" .A}}"#), r#"{{printf "\"}}" .A | berthGoPrint}}"#);
        assert_eq!(r("{{$x := .A}}{{$x}}{{$x = 1}}"), "{{$x := .A}}{{$x | berthGoPrint}}{{$x = 1}}");
        assert_eq!(r("{{range $i, $e := .A}}{{end}}"), "{{range $i, $e := .A}}{{end}}");
        assert_eq!(r("{{if .A}}{{else if .B}}{{else}}{{end}}"), "{{if .A}}{{else if .B}}{{else}}{{end}}");
        assert_eq!(r("{{with .A}}{{template \"t\" .}}{{end}}"), "{{with .A}}{{template \"t\" .}}{{end}}");
        assert_eq!(r("{{/* {{.A}} */}}{{- /* c */ -}}{{.B}}"), "{{/* {{.A}} */}}{{- /* c */ -}}{{.B | berthGoPrint}}");
        assert_eq!(r("{{.A"), "{{.A");
        assert_eq!(r("{{-3}}"), "{{-3 | berthGoPrint}}");
        // Keywords only as whole words.
        assert_eq!(r("{{.end}}{{endx}}"), "{{.end | berthGoPrint}}{{endx | berthGoPrint}}");
    }

    #[test]
    fn rewriting_only_ever_adds_the_pipe() {
        // Every string up to 5 characters over the lexer's special characters:
        // no panic, and nothing but ` | berthGoPrint` is added.
        let alphabet: Vec<char> = "{}-/*\"'`\\ $=.a".chars().collect();
        let mut strings = vec![String::new()];
        for _ in 0..5 {
            strings = strings.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            for s in &strings {
                assert_eq!(route_prints(s).replace(" | berthGoPrint", ""), *s, "{s:?}");
            }
        }
    }

    #[test]
    fn templates_keep_working() {
        let row = serde_json::json!({"A": "x", "N": 0, "L": [1]});
        assert_eq!(one("{{if .N}}yes{{else}}no{{end}} {{.A | upper}}{{/* c */}}", row.clone()), "no X\n");
        assert_eq!(one("{{- .A -}}  \n", row.clone()), "x\n");
        assert_eq!(one(r#"{{define "t"}}<{{.}}>{{end}}{{template "t" .L}}"#, row), "<[1]>\n");
        assert!(Format::parse("{{.A").is_err());
        assert!(Format::parse("{{if}}").is_err());
        let err = Format::parse("{{nosuchfunc .A}}").err().unwrap();
        assert!(!err.to_string().contains("berthGoPrint"), "{err}");
        // Missing fields are errors, as for podman's structs.
        assert!(Format::parse("{{.Nope}}").unwrap().render(&[row_a()], &HashMap::new()).is_err());
    }

    fn row_a() -> Json {
        serde_json::json!({"A": 1})
    }

    #[test]
    fn json_keeps_the_row_order() {
        // The order the command built the row in, not sorted.
        let row = serde_json::json!({"Zeta": 1, "Alpha": [3, 1], "Mid": {"z": true, "a": null}, "Beta": "b"});
        assert_eq!(
            one("{{json .}}", row.clone()),
            r#"{"Zeta":1,"Alpha":[3,1],"Mid":{"z":true,"a":null},"Beta":"b"}"#.to_string() + "\n"
        );
        // Scalars and lists.
        assert_eq!(one("{{json .Beta}} {{json .Alpha}} {{json .Mid.a}}", row), "\"b\" [3,1] null\n");
    }

    #[test]
    fn nested_json_keeps_the_row_order() {
        let row = serde_json::json!({
            "Config": {"Env": ["A=1"], "Cmd": ["sh"], "Labels": {"z": "1", "a": "2"}},
            "History": [{"created": "t", "by": "x"}, {"created": "u", "by": "y"}],
        });
        assert_eq!(
            one("{{json .Config}}", row.clone()),
            r#"{"Env":["A=1"],"Cmd":["sh"],"Labels":{"z":"1","a":"2"}}"#.to_string() + "\n"
        );
        assert_eq!(one("{{json .Config.Labels}}", row.clone()), "{\"z\":\"1\",\"a\":\"2\"}\n");
        assert_eq!(
            one("{{json .History}}|{{range .History}}{{json .}}{{end}}|{{json (index .History 1)}}", row),
            r#"[{"created":"t","by":"x"},{"created":"u","by":"y"}]|{"created":"t","by":"x"}{"created":"u","by":"y"}|{"created":"u","by":"y"}"#
                .to_string()
                + "\n"
        );
    }
}
