//! `berth generate-man DIR`: a page per command of the tree, each
//! rendered by man(1) without a warning from groff, with the synopsis,
//! options and examples `--help` shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

/// `man -l PAGE` as a terminal 200 columns wide shows it, in plain text
/// (its overstrikes for bold, `X\bX`, undone).
fn man(page: &std::path::Path) -> String {
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "200")
        .env_remove("MAN_KEEP_FORMATTING")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}: {}", page.display(), stderr(&o));
    let mut plain = String::new();
    for c in stdout(&o).chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn a_man_page_per_command() {
    let env = Env::new();
    let dir = env.path("man");
    env.ok(&["generate-man", dir.to_str().unwrap()]);
    assert!(!env.root.exists(), "generate-man opened a store");

    let run = man(&dir.join("berth-run.1"));
    assert!(run.contains("berth-run - Run a command in a new container"), "{run}");
    assert!(run.contains("berth run [options] IMAGE [COMMAND [ARG...]]"), "{run}");
    assert!(run.lines().any(|l| l.trim() == "-d, --detach"), "{run}");
    assert!(run.contains("Run container in background and print container ID"), "{run}");
    assert!(run.lines().any(|l| l.trim() == "--name string"), "{run}");
    assert!(run.contains("GLOBAL OPTIONS") && run.contains("--root string"), "{run}");
    assert!(run.contains("EXAMPLES") && run.contains("berth run --rm -e GREETING=hello alpine sh -c 'echo $GREETING'"));
    assert!(run.contains("SEE ALSO") && run.contains("berth(1)"), "{run}");

    let top = man(&dir.join("berth.1"));
    assert!(top.contains("berth-run(1)") && top.contains("berth-container(1)"), "{top}");

    // Every command of the tree, as help lists them, has its page
    // (aliases and `help` aside), and each renders cleanly.
    for path in all_commands(&env) {
        let page = dir.join(format!("berth-{}.1", path.join("-")));
        assert!(page.is_file(), "no page {}", page.display());
    }
    // An alias's page is its command's, as installed under man1/.
    assert_eq!(std::fs::read_to_string(dir.join("berth-image-ls.1")).unwrap(), ".so man1/berth-image-list.1\n");
    let man1 = env.path("share/man1");
    std::fs::create_dir_all(man1.parent().unwrap()).unwrap();
    std::fs::rename(&dir, &man1).unwrap();
    let o = Command::new("man")
        .env("MANPATH", env.path("share"))
        .env("MANWIDTH", "200")
        .arg("berth-image-ls")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("List images in local storage"), "{}", stdout(&o));
    let dir = man1;
    let mut pages = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if std::fs::read_to_string(e.path()).unwrap().starts_with(".so ") {
            continue;
        }
        pages += 1;
        let o = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(e.path()).output().unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "{}: {}", e.path().display(), stderr(&o));
    }
    assert!(pages > 80, "{pages} pages");
    assert!(!dir.join("berth-help.1").exists() && !dir.join("berth-generate-man.1").exists());
}

/// The commands berth's help lists, at every depth: `run`, `image list`...
fn all_commands(env: &Env) -> Vec<Vec<String>> {
    fn walk(env: &Env, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = env.ok(&args);
        let subs: Vec<String> = help
            .lines()
            .skip_while(|l| *l != "Available Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .filter(|s| s != "help")
            .collect();
        if !path.is_empty() {
            out.push(path.clone());
        }
        for s in subs {
            let mut next = path.clone();
            next.push(s);
            walk(env, next, out);
        }
    }
    let mut out = Vec::new();
    walk(env, Vec::new(), &mut out);
    out
}
