//! podman's CLI conventions for the image commands, each rule run against
//! berth and against podman 4.3 side by side (same tarball imported into
//! both), asserting the same exit code and the same output (IDs and times,
//! which differ between the two stores, replaced by placeholders).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::Stdio;

use common::podman::{masked, podman_with_input};
use common::*;
use serde_json::Value;

/// The two sides, each with `x:1` imported from the same busybox tarball
/// (with a commit message) and nothing else.
struct Sides {
    berth: Env,
    podman: Env,
    tarball: std::path::PathBuf,
}

impl Sides {
    fn new() -> Sides {
        let berth = Env::new();
        let podman = Env::new();
        let tarball = berth.path("rootfs.tar");
        std::fs::write(&tarball, busybox_layer()).unwrap();
        let s = Sides { berth, podman, tarball };
        let t = s.tarball.to_str().unwrap().to_string();
        let (a, b) = s.both(&["import", "-q", "-m", "a message", &t, "x:1"], None);
        assert_eq!((a.0, b.0), (0, 0), "import: berth {a:?} podman {b:?}");
        s
    }

    /// Run on both: (code, stdout, stderr) each.
    fn both(&self, args: &[&str], stdin: Option<&[u8]>) -> ((i32, String, String), (i32, String, String)) {
        let mut c = self.berth.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().unwrap();
        if let Some(data) = stdin {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        let b = (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o));
        let o = podman_with_input(&self.podman, args, stdin);
        let p = (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o));
        (b, p)
    }

    /// Same code and the same stdout and stderr once `norm` has run over them.
    fn same(&self, args: &[&str], stdin: Option<&[u8]>, norm: impl Fn(&str) -> String) -> (i32, String, String) {
        let (b, p) = self.both(args, stdin);
        let nb = (b.0, norm(&b.1), norm(&b.2));
        let np = (p.0, norm(&p.1), norm(&p.2));
        assert_eq!(nb, np, "berth {args:?} differs from podman (left berth, right podman)");
        nb
    }
}

/// [`masked`], with "N minutes ago"-style ages and RFC 3339 dates as
/// `<ago>` and `<time>`, and column gaps as two spaces: the two sides did
/// not import at the same instant, and a column of ages is as wide as its
/// widest age (alignment is checked where no time is shown).
fn timeless(s: &str) -> String {
    let mut out = String::new();
    for word in s.split_inclusive([' ', '\n']) {
        let w = word.trim_end();
        if w.len() == 20 && w.ends_with('Z') && humantime::parse_rfc3339(w).is_ok() {
            out.push_str("<time>");
            out.push_str(&word[w.len()..]);
        } else {
            out.push_str(word);
        }
    }
    let mut out = masked(&out);
    for ago in ["Less than a second ago", "About a minute ago", "About an hour ago"] {
        out = out.replace(ago, "<ago>");
    }
    for unit in ["seconds", "second", "minutes", "hours"] {
        for n in (1..=59).rev() {
            out = out.replace(&format!("{n} {unit} ago"), "<ago>");
        }
    }
    while out.contains("   ") {
        out = out.replace("   ", "  ");
    }
    out
}

fn same_text(s: &str) -> String {
    s.to_string()
}

#[test]
fn import_and_load_quiet_print_what_podman_prints() {
    let s = Sides::new();
    let t = s.tarball.to_str().unwrap().to_string();
    let (code, out, _) = s.same(&["import", "-q", &t, "y:1"], None, masked);
    assert_eq!((code, out.as_str()), (0, "sha256:<id>\n"));
    let archive = s.berth.path("x.tar");
    s.berth.ok(&["save", "-o", archive.to_str().unwrap(), "x:1"]);
    let (code, out, _) = s.same(&["load", "-q", "-i", archive.to_str().unwrap()], None, same_text);
    assert_eq!((code, out.as_str()), (0, "Loaded image: localhost/x:1\n"));
    // So that scripts work.
    let id = s.berth.ok(&["import", "-q", &t]);
    assert!(id.trim().starts_with("sha256:") && id.trim().len() == 71, "{id:?}");
}

#[test]
fn history_human_quiet_and_no_trunc() {
    let s = Sides::new();
    // Dates: podman 4.3 prints RFC 3339 with -H=false and "... ago" otherwise.
    let rfc = timeless;
    for args in [
        vec!["history", "x:1"],
        vec!["history", "-H=false", "x:1"],
        vec!["history", "--human=false", "--no-trunc", "x:1"],
        vec!["history", "-q", "x:1"],
        vec!["history", "-q", "--no-trunc", "x:1"],
    ] {
        let (code, out, _) = s.same(&args, None, rfc);
        assert_eq!(code, 0, "{args:?}");
        assert!(!out.is_empty(), "{args:?}");
    }
    let h = s.berth.ok(&["history", "-H=false", "x:1"]);
    let row = h.lines().nth(1).unwrap();
    let created = row.split_whitespace().nth(1).unwrap();
    assert!(humantime::parse_rfc3339(created).is_ok(), "{row}");
}

#[test]
fn json_formats_are_podmans() {
    let s = Sides::new();
    let keys = |text: &str| -> Vec<Vec<String>> {
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v.as_array().unwrap().iter().map(|o| o.as_object().unwrap().keys().cloned().collect()).collect()
    };
    for args in [
        ["images", "--format", "json"],
        ["images", "--format", "{{json .}}"],
        ["history", "--format", "json"],
        ["history", "--format", "{{ json . }}"],
    ] {
        let mut args = args.to_vec();
        if args[0] == "history" {
            args.push("x:1");
        }
        let (b, p) = s.both(&args, None);
        assert_eq!((b.0, p.0), (0, 0), "{args:?}: {b:?} {p:?}");
        assert_eq!(keys(&b.1), keys(&p.1), "{args:?}: same fields in the same order");
        // Same layout (indentation, one line or many), values aside.
        let shape = |t: &str| t.lines().map(|l| l.len() - l.trim_start().len()).collect::<Vec<_>>();
        assert_eq!(shape(&b.1), shape(&p.1), "{args:?}");
    }
    let v: Value = serde_json::from_str(&s.berth.ok(&["images", "--format", "json"])).unwrap();
    assert_eq!(v[0]["Names"][0], "localhost/x:1");
    // inspect: `json` and `{{json .}}` are its default output.
    let default = s.berth.ok(&["image", "inspect", "x:1"]);
    assert_eq!(s.berth.ok(&["image", "inspect", "--format", "{{json .}}", "x:1"]), default);
    assert_eq!(s.berth.ok(&["image", "inspect", "--format", "json", "x:1"]), default);
    let (b, p) = s.both(&["image", "inspect", "x:1"], None);
    assert_eq!(masked(&b.1).lines().next(), masked(&p.1).lines().next());
    assert_eq!(b.1.lines().nth(1), p.1.lines().nth(1), "podman's indentation");
    // `{{json .Field}}` is one compact value.
    let (code, out, _) = s.same(&["images", "--format", "{{json .ID}}"], None, masked);
    assert_eq!((code, out.as_str()), (0, "\"<id>\"\n"));
}

#[test]
fn tables_stay_aligned_with_noheading_and_custom_templates() {
    let s = Sides::new();
    let (a, b) = s.both(&["tag", "x:1", "a-much-longer-name:v2"], None);
    assert_eq!((a.0, b.0), (0, 0), "{a:?} {b:?}");
    let (code, _, _) = s.same(&["images", "--noheading"], None, timeless);
    assert_eq!(code, 0);
    // Without times, the very same bytes.
    for args in [
        vec!["images", "--format", "table {{.Repository}} {{.Tag}}"],
        vec!["images", "--format", "table {{.Repository}} {{.Tag}}", "--noheading"],
        vec!["images", "--format", "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.Size}}"],
        vec!["images", "--format", "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}", "--noheading"],
        vec!["images", "--format", "{{.Repository}} {{.Tag}}"],
    ] {
        let (code, out, _) = s.same(&args, None, masked);
        assert_eq!(code, 0, "{args:?}");
        assert!(!out.is_empty());
    }
    // Aligned: the second column starts at the same place on every line.
    let out = s.berth.ok(&["images", "--noheading"]);
    let starts: Vec<usize> =
        out.lines().map(|l| l.find("  ").unwrap() + l[l.find("  ").unwrap()..].find(|c| c != ' ').unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{out}");
}

#[test]
fn image_prune_asks_first_as_podman_does() {
    let s = Sides::new();
    let t = s.tarball.to_str().unwrap().to_string();
    let (a, b) = s.both(&["import", "-q", &t], None); // a dangling image on each side
    assert_eq!((a.0, b.0), (0, 0));
    let prompt = "WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] ";
    // No: nothing removed, exit 0.
    for answer in [&b"n\n"[..], b"\n", b"nope\n"] {
        let (code, out, err) = s.same(&["image", "prune"], Some(answer), masked);
        assert_eq!((code, out.as_str(), err.as_str()), (0, prompt, ""));
    }
    assert_eq!(s.berth.ok(&["images", "-q"]).lines().count(), 2);
    // No answer at all.
    let (code, out, err) = s.same(&["image", "prune"], Some(b""), masked);
    assert_eq!((code, out.as_str(), err.as_str()), (125, prompt, "Error: EOF\n"));
    // -a words it otherwise.
    let (code, out, _) = s.same(&["image", "prune", "-a"], Some(b"n\n"), masked);
    assert_eq!(code, 0);
    assert!(out.contains("removes all images without at least one container associated with them"), "{out}");
    // Yes: removed, listed after the prompt.
    let (code, out, _) = s.same(&["image", "prune"], Some(b"y\n"), masked);
    assert_eq!((code, out.as_str()), (0, format!("{prompt}<id>\n").as_str()));
    assert_eq!(s.berth.ok(&["images", "-q"]).lines().count(), 1);
    // -f: no question.
    let (code, out, _) = s.same(&["image", "prune", "-f"], None, masked);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn unknown_format_fields_are_one_line_in_gos_words() {
    let s = Sides::new();
    for args in [
        vec!["images", "--format", "{{.Foo}}"],
        vec!["images", "--format", "{{.ID}} {{.Foo}}"],
        vec!["images", "--format", "{{.ID}}\\n{{.Foo}}"],
        vec!["images", "--format", "table {{.ID}} {{.Nope.Deeper}}"],
        vec!["history", "--format", "{{.Foo}}", "x:1"],
        vec!["image", "inspect", "--format", "{{.Foo}}", "x:1"],
    ] {
        let (b, p) = s.both(&args, None);
        assert_eq!(b.0, 125, "{args:?}");
        assert_eq!(b.0, p.0, "{args:?}: berth {b:?} podman {p:?}");
        assert_eq!(b.2, p.2, "{args:?}: berth's error is podman's");
        assert_eq!(b.2.lines().count(), 1, "{args:?}");
        assert!(!b.2.contains("String(") && !b.2.contains("Object("), "no debug dump: {}", b.2);
    }
}

#[test]
fn an_empty_listing_prints_podmans_header() {
    let s = Sides::new();
    let (a, b) = s.both(&["rmi", "x:1"], None);
    assert_eq!((a.0, b.0), (0, 0), "{a:?} {b:?}");
    for args in [
        vec!["images"],
        vec!["images", "--format", "table {{.ID}} {{.VirtualSize}} {{.Dangling}} {{.Repository}}"],
        // A field podman's header has no title for prints Go's `<no value>`.
        vec!["images", "--format", "table {{.ID}} {{.Nope}}"],
        vec!["ps", "-a", "--format", "table {{.ID}} {{.Names}} {{.State}} {{.ExitCode}}"],
    ] {
        let (code, out, err) = s.same(&args, None, masked);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
    }
}
