//! Scripts written for podman read berth's output unchanged: `ps` (the
//! default table and `--format` fields), `inspect --format` and `volume
//! ls` (table and JSON) side by side with podman 4.3, on containers and
//! volumes made the same way on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::containers::Cleanup;
use common::podman::{masked, Podman};
use common::*;

/// Both sides: a running container with labels and a volume, one exited
/// with code 3, one created.
fn setup(env: &Env, podman: &Podman) {
    for args in [
        &["volume", "create", "--label", "k=v", "vol1"][..],
        &["volume", "create", "vol2"],
        &[
            "run",
            "-d",
            "--pull=never",
            "--name",
            "up",
            "-l",
            "a=1",
            "-l",
            "b=2",
            "-v",
            "vol1:/data",
            "localhost/bb",
            "sleep",
            "100",
        ],
        &[
            "create",
            "--pull=never",
            "--name",
            "made",
            "--restart",
            "no",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "--tmpfs",
            "/scratch",
            "-v",
            "{dir}:/host:ro",
            "localhost/bb",
            "echo",
            "hello world",
        ],
    ] {
        let dir = env.path("bind");
        std::fs::create_dir_all(&dir).unwrap();
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", dir.to_str().unwrap())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.ok(&args);
        podman.ok(&args);
    }
    let three = ["run", "--pull=never", "--name", "three", "localhost/bb", "sh", "-c", "exit 3"];
    assert_eq!(env.run(&three).status.code(), Some(3));
    assert_eq!(podman.run(&three, None).status.code(), Some(3));
}

/// Times and durations vary by a second between the sides: words that
/// are numbers of seconds or minutes become `N`.
fn timeless(s: &str) -> String {
    masked(s)
        .replace("Less than a second", "N seconds")
        .replace("About a minute", "N minutes")
        .split(' ')
        .map(|w| match w {
            "second" => "seconds",
            "minute" => "minutes",
            w if w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty() => "N",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ps_inspect_and_volume_ls_read_as_podman_s() {
    require_root();
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let podman = Podman::beside(&env);
    setup(&env, &podman);
    let mut differ = Vec::new();
    let mut compare = |args: &[&str], normalise: &dyn Fn(&str) -> String| {
        let (b, p) = (env.run(args), podman.run(args, None));
        let (b, p) = (stdout(&b) + &stderr(&b), stdout(&p) + &stderr(&p).replace("podman", "berth"));
        if normalise(&b) != normalise(&p) {
            differ.push(format!("{args:?}:\n  berth:  {b:?}\n  podman: {p:?}"));
        }
    };
    let exact = |s: &str| s.to_string();
    let ids = |s: &str| masked(s);
    // ps: the default table's columns (widths follow the times: cells
    // compared with runs of spaces as one).
    let cells = |s: &str| -> String {
        timeless(s)
            .lines()
            .map(|l| l.split("  ").filter(|c| !c.is_empty()).map(str::trim).collect::<Vec<_>>().join("|") + "\n")
            .collect()
    };
    compare(&["ps"], &cells);
    compare(&["ps", "-a"], &cells);
    compare(&["ps", "-a", "--no-trunc"], &cells);
    for fields in [
        "{{.Names}} {{.Image}} {{.Command}}",
        "{{.Names}} {{.Labels}}",
        "{{.Names}} {{.Exited}} {{.ExitCode}} {{.AutoRemove}}",
        "{{.Names}} {{.Ports}}|{{.Networks}}|{{.Pod}}|{{.PodName}}|{{.IsInfra}}",
        "{{.Names}} {{.Status}}",
        "{{.Names}} {{.State}}",
        "{{.Names}} {{.ID}} {{.ImageID}}",
        "table {{.Names}}\t{{.Image}}\t{{.Command}}",
        "{{.Names}} {{json .Labels}}",
    ] {
        compare(&["ps", "-a", "--format", fields], &|s| timeless(s));
    }
    // podman lists mounts in its maps' (random) order: compared as sets.
    let sorted_lists = |s: &str| -> String {
        s.lines()
            .map(|l| match l.split_once('[') {
                Some((head, list)) => {
                    let mut words: Vec<&str> = list.trim_end_matches(']').split(' ').collect();
                    words.sort();
                    format!("{head}[{}]\n", words.join(" "))
                }
                None => format!("{l}\n"),
            })
            .collect()
    };
    compare(&["ps", "-a", "--format", "{{.Names}} {{.Mounts}}"], &sorted_lists);
    compare(&["ps", "-a", "-q"], &ids);
    // inspect --format, fields scripts read.
    for fields in [
        "{{.Name}} {{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.RestartCount}}",
        "{{.Config.Cmd}} {{.Config.Entrypoint}} {{.Config.WorkingDir}} {{.Config.Labels}}",
        "{{.ImageName}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.AutoRemove}}",
        "{{.Config.Hostname}}|{{.Config.Tty}}|{{.Config.OpenStdin}}|{{.Config.StopSignal}}",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
        "{{index .Config.Labels \"a\"}} {{len .Config.Labels}}",
        "{{json .Config.Cmd}} {{json .State.Status}}",
        "{{.State.OOMKilled}} {{.State.Dead}} {{.State.Paused}} {{.State.Restarting}}",
    ] {
        for name in ["up", "made", "three"] {
            compare(&["inspect", "--format", fields, name], &|s| timeless(s));
        }
    }
    compare(&["inspect", "--format", "{{.Id}} {{.Image}}", "up"], &ids);
    // volume ls: the table and JSON.
    compare(&["volume", "ls"], &exact);
    compare(&["volume", "ls", "-q"], &exact);
    compare(&["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}"], &exact);
    compare(&["volume", "ls", "--format", "table {{.Name}}\t{{.Labels}}"], &exact);
    compare(&["volume", "ls", "--filter", "label=k=v", "--format", "{{.Name}}"], &exact);
    let json_keys = |s: &str| -> String {
        // Mountpoints and times differ; keys, order, nesting and the
        // whitespace of empty maps must not. NeedsCopyUp and NeedsChown
        // are left out: podman keeps NeedsCopyUp for a volume whose mount
        // point the image lacks, berth clears it on first use.
        s.lines()
            .filter(|l| !l.contains("\"NeedsCopyUp\"") && !l.contains("\"NeedsChown\""))
            .map(|l| match l.split_once("\": ") {
                Some((k, v)) if v.starts_with('"') => format!("{k}\": \"...\""),
                _ => l.trim_end_matches(',').to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    compare(&["volume", "ls", "--format", "json"], &json_keys);
    compare(&["volume", "ls", "--format", "{{json .}}"], &json_keys);
    assert!(differ.is_empty(), "{} differ:\n{}", differ.len(), differ.join("\n"));
}
