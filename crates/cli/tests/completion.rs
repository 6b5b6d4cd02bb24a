//! `berth completion SHELL`: the scripts load in their shells and, at a
//! Tab, offer the store's container, image, volume and network names where
//! a command takes them (bash's function called as bash calls it, fish's
//! `complete -C`); zsh's and fish's scripts parse; `--no-desc`, `-f`; a
//! completion never makes a store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

/// What bash's completion of berth offers for `words` (the last one being
/// completed), with the script `berth completion bash` wrote.
fn bash_offers(env: &Env, words: &[&str]) -> Vec<String> {
    let script = env.ok(&["completion", "bash"]);
    let path = env.path("berth.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = format!(
        "source {}; COMP_WORDS=(berth --root '{}' {}); COMP_CWORD=${{#COMP_WORDS[@]}}; COMP_CWORD=$((COMP_CWORD-1)); \
         _clap_complete_berth berth \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        env.root.display(),
        quoted.join(" ")
    );
    let o = Command::new("bash")
        .args(["--norc", "-c", &line])
        .env("BERTH_CONFIG", env.config())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(String::from).collect()
}

#[test]
fn bash_completes_the_names_in_the_store() {
    let (env, _) = Env::with_busybox();
    env.ok(&["create", "--name", "webserver", "bb", "true"]);
    env.ok(&["volume", "create", "datavol"]);
    env.ok(&["network", "create", "backnet"]);

    // An empty word: the names alone, as podman offers them; a dash: the flags.
    assert_eq!(bash_offers(&env, &["start", ""]), ["webserver"]);
    assert!(bash_offers(&env, &["start", "--"]).contains(&"--attach".into()));
    // cp: a container's name leads a path in it.
    assert_eq!(bash_offers(&env, &["cp", "web"]), ["webserver:"]);
    // A file's path (load -i FILE), from the shell's directory.
    assert_eq!(bash_offers(&env, &["load", "-i", "bb.t"]), ["bb.tar"]);
    // What was typed narrows it.
    assert_eq!(bash_offers(&env, &["rm", "web"]), ["webserver"]);
    assert_eq!(bash_offers(&env, &["container", "rm", "w"]), ["webserver"]);

    assert_eq!(bash_offers(&env, &["run", "--rm", ""]), ["localhost/bb:latest"]);
    assert_eq!(bash_offers(&env, &["image", "rm", "local"]), ["localhost/bb:latest"]);
    // After run's image comes the command, not another image.
    let offers = bash_offers(&env, &["run", "-d", "--name", "x", "localhost/bb", ""]);
    assert!(!offers.contains(&"localhost/bb:latest".into()), "{offers:?}");

    assert_eq!(bash_offers(&env, &["volume", "inspect", "d"]), ["datavol"]);
    assert_eq!(bash_offers(&env, &["network", "rm", "back"]), ["backnet"]);
    // A flag's value too: run --network NETWORK.
    assert_eq!(bash_offers(&env, &["run", "--network", "back"]), ["backnet"]);

    // Commands and subcommands from the tree, `help`'s topics too.
    assert_eq!(bash_offers(&env, &["imag"]), ["image", "images"]);
    assert_eq!(bash_offers(&env, &["help", "ru"]), ["run"]);
    let topics = bash_offers(&env, &["help", "system", ""]);
    assert!(topics.contains(&"boot".into()) && topics.iter().all(|t| !t.starts_with('-')), "{topics:?}");
    let offers = bash_offers(&env, &["volume", ""]);
    assert!(offers.contains(&"prune".into()) && !offers.contains(&"--help".into()), "{offers:?}");
}

#[test]
fn completion_reads_no_store_into_being() {
    let env = Env::new();
    assert!(!env.root.exists());
    let offers = bash_offers(&env, &["start", ""]);
    assert!(offers.iter().all(|o| o.starts_with('-')), "no names without a store: {offers:?}");
    assert!(!env.root.exists(), "completion made {}", env.root.display());
    assert!(!env.runroot.exists(), "completion made {}", env.runroot.display());
}

#[test]
fn zsh_and_fish_scripts_parse_and_fish_completes() {
    let (env, _) = Env::with_busybox();
    env.ok(&["create", "--name", "webserver", "bb", "true"]);
    for (shell, check) in [("zsh", "zsh"), ("fish", "fish")] {
        let script = env.path(&format!("berth.{shell}"));
        env.ok(&["completion", shell, "-f", script.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&script).unwrap(), env.ok(&["completion", shell]));
        let o = Command::new(check)
            .arg("-n")
            .arg(&script)
            .output()
            .expect("zsh and fish: scripts/install.sh installs them");
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
    }
    let fish = |flags: &[&str], line: &str| {
        let script = env.path("berth-fish");
        let mut args = vec!["completion", "fish", "-f", script.to_str().unwrap()];
        args.extend_from_slice(flags);
        env.ok(&args);
        // Only this script: the one scripts/install.sh put in fish's
        // vendor directory (another berth's, with descriptions) would be
        // autoloaded beside it and answer too.
        let cmd = format!("set -g fish_complete_path; source {}; complete -C '{line}'", script.display());
        let o = Command::new("fish").args(["-c", &cmd]).env("BERTH_CONFIG", env.config()).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let root = env.root.display().to_string();
    assert_eq!(fish(&[], &format!("berth --root {root} start web")), "webserver\n");
    assert_eq!(fish(&[], &format!("berth --root {root} start ")), "webserver\n");
    let flags = fish(&[], &format!("berth --root {root} start --all"));
    assert!(flags.starts_with("--all\tStart all containers"), "{flags}");
    // --no-desc: the values alone.
    assert_eq!(fish(&["--no-desc"], &format!("berth --root {root} start --all")), "--all\n");
}

#[test]
fn powershell_script_and_podmans_errors() {
    let env = Env::new();
    assert!(env.ok(&["completion", "powershell"]).contains("Register-ArgumentCompleter"));
    let o = env.run(&["completion", "tcsh"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "Error: invalid argument \"tcsh\" for \"berth completion\"\n");
    assert_eq!(env.run(&["completion"]).status.code(), Some(125));
    assert!(!env.root.exists(), "completion opened a store");
}
