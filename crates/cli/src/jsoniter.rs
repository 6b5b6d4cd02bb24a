//! JSON as podman prints it where it encodes with json-iterator (`volume
//! ls --format json`): indented like Go's `MarshalIndent`, except that an
//! empty object spans three lines (`{`, a line holding only the next
//! level's indent, `}`), and `<`, `>` and `&` escaped as Go escapes them.

use serde_json::Value;

/// `v` indented by `indent` per level, json-iterator's way.
pub fn pretty(v: &Value, indent: &str) -> String {
    let mut out = String::new();
    write(&mut out, v, indent, 0);
    out
}

fn write(out: &mut String, v: &Value, indent: &str, depth: usize) {
    let pad = |n: usize| indent.repeat(n);
    match v {
        Value::Object(o) if o.is_empty() => {
            out.push_str(&format!("{{\n{}\n{}}}", pad(depth + 1), pad(depth)));
        }
        Value::Object(o) => {
            out.push_str("{\n");
            for (i, (k, e)) in o.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&scalar(&Value::String(k.clone())));
                out.push_str(": ");
                write(out, e, indent, depth + 1);
                out.push_str(if i + 1 < o.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, e) in a.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write(out, e, indent, depth + 1);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        _ => out.push_str(&scalar(v)),
    }
}

/// A string, number, bool or null; strings with Go's HTML escapes.
fn scalar(v: &Value) -> String {
    let text = v.to_string();
    match v {
        Value::String(_) => text.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_objects_span_three_lines() {
        let v = json!([{"A": {}, "B": {"k": "<v>"}, "C": [], "D": 1}]);
        let want = "[\n  {\n    \"A\": {\n      \n    },\n    \"B\": {\n      \"k\": \"\\u003cv\\u003e\"\n    },\n    \"C\": [],\n    \"D\": 1\n  }\n]";
        assert_eq!(pretty(&v, "  "), want);
    }
}
