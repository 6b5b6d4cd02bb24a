//! `rm`, `stop`, `kill` with `--cidfile`, `--filter`, `--latest`,
//! `--depend`, and `wait --condition/--interval`: what they act on, and
//! podman 4.3's output, words and exit codes beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::containers::Cleanup;
use common::podman::{masked, Podman};
use common::*;

/// One side's way to run a command line.
type Side<'a> = dyn Fn(&[&str]) -> std::process::Output + 'a;

#[test]
fn cidfile_filter_latest_and_depend_beside_podman() {
    require_root();
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let podman = Podman::beside(&env);
    let (bdir, pdir) = (env.path("b"), env.path("p"));
    std::fs::create_dir_all(&bdir).unwrap();
    std::fs::create_dir_all(&pdir).unwrap();
    // Each side its own files: `{cid}` below is the side's directory.
    let sides: [(&Side, &std::path::Path); 2] =
        [(&|args: &[&str]| env.run(args), &bdir), (&|args: &[&str]| podman.run(args, None), &pdir)];
    let run = |side: usize, args: &[&str]| {
        let (f, dir) = sides[side];
        let args: Vec<String> = args.iter().map(|a| a.replace("{cid}", dir.to_str().unwrap())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = f(&args);
        let err = stderr(&o).lines().next().unwrap_or("").replace("podman", "berth");
        (o.status.code().unwrap(), masked(&stdout(&o)), masked(&err.replace(dir.to_str().unwrap(), "{cid}")))
    };
    let both = |args: &[&str]| {
        let (b, p) = (run(0, args), run(1, args));
        assert_eq!(b, p, "{args:?}");
        b
    };
    for args in [
        &["run", "-d", "--pull=never", "--cidfile", "{cid}/up", "--name", "up", "localhost/bb", "sleep", "100"][..],
        &[
            "run",
            "-d",
            "--pull=never",
            "--cidfile",
            "{cid}/up2",
            "--name",
            "up2",
            "-l",
            "k=v",
            "localhost/bb",
            "sleep",
            "100",
        ],
        &["create", "--pull=never", "--cidfile", "{cid}/made", "--name", "made", "localhost/bb", "true"],
    ] {
        assert_eq!(run(0, args).0, 0);
        assert_eq!(run(1, args).0, 0);
    }
    // Errors first, while everything is there.
    for args in [
        &["rm", "-a", "--cidfile", "{cid}/made"][..],
        &["rm", "--latest", "made"],
        &["rm", "--filter", "name=made", "made"],
        &["rm", "--filter", "bogus=1"],
        &["rm", "--cidfile", "{cid}/nothere"],
        &["rm", "--ignore", "--cidfile", "{cid}/nothere"],
        &["stop", "-a", "--cidfile", "{cid}/up"],
        &["stop", "--cidfile", "{cid}/up", "up"],
        &["kill", "--cidfile", "{cid}/made"],
        &["kill", "-l", "-a"],
        &["wait", "--condition", "bogus", "made"],
        &["wait", "--condition", "healthy", "made"],
        &["wait", "-i", "bogus", "made"],
    ] {
        let (code, _, err) = both(args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.starts_with("Error: "), "{args:?}: {err}");
    }
    // What they act on, printed as podman prints it.
    assert_eq!(both(&["wait", "--condition", "created", "made"]), (0, "-1\n".into(), String::new()));
    assert_eq!(both(&["wait", "--condition", "running", "-i", "10", "up"]), (0, "-1\n".into(), String::new()));
    assert_eq!(both(&["kill", "--cidfile", "{cid}/up"]), (0, "<id>\n".into(), String::new()));
    assert_eq!(
        both(&["wait", "--condition", "created", "--condition", "exited", "up"]),
        (0, "137\n".into(), String::new())
    );
    assert_eq!(both(&["stop", "-t", "0", "--filter", "label=k=v"]), (0, "<id>\n".into(), String::new()));
    assert_eq!(both(&["stop", "--filter", "name=nomatch"]), (0, String::new(), String::new()));
    assert_eq!(
        both(&["ps", "-a", "--format", "{{.Names}} {{.Exited}} {{.ExitCode}}"]).1,
        "up true 137\nup2 true 137\nmade false 0\n"
    );
    assert_eq!(both(&["rm", "--depend", "--cidfile", "{cid}/up"]), (0, "<id>\n".into(), String::new()));
    assert_eq!(both(&["rm", "--filter", "label=k"]), (0, "<id>\n".into(), String::new()));
    assert_eq!(both(&["rm", "--latest"]), (0, "made\n".replace("made", "<id>"), String::new()));
    assert_eq!(both(&["ps", "-a", "--format", "{{.Names}}"]).1, "");
    // podman leaves the files; a second rm of the file's ID finds nothing.
    assert!(bdir.join("up").exists());
    assert_eq!(both(&["rm", "--cidfile", "{cid}/up"]).0, 1);
    assert_eq!(both(&["rm", "--ignore", "--cidfile", "{cid}/up"]), (0, String::new(), String::new()));
}

#[test]
fn wait_for_a_state_polls_at_the_interval() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["create", "--name", "later", "bb", "sleep", "100"]);
    // Waits until it runs: start it from another thread a moment later.
    let started = Instant::now();
    let waiter = std::thread::scope(|s| {
        let w = s.spawn(|| env.ok(&["wait", "--condition", "running", "--interval", "20ms", "later"]));
        std::thread::sleep(Duration::from_millis(500));
        env.ok(&["start", "later"]);
        w.join().unwrap()
    });
    assert_eq!(waiter, "-1\n");
    assert!(started.elapsed() >= Duration::from_millis(500));
    // Paused, then its exit code once killed.
    env.ok(&["pause", "later"]);
    assert_eq!(env.ok(&["wait", "--condition", "paused", "later"]), "-1\n");
    env.ok(&["kill", "later"]);
    assert_eq!(env.ok(&["wait", "--condition=stopped", "later"]), "137\n");
    assert_eq!(env.ok(&["wait", "--condition", "running,exited", "later"]), "137\n");
}

#[test]
fn kill_all_and_stop_all_act_on_the_running_ones() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    let a = env.ok(&["run", "-d", "--name", "a", "bb", "sleep", "100"]);
    let b = env.ok(&["run", "-d", "--name", "b", "bb", "sleep", "100"]);
    env.ok(&["create", "--name", "c", "bb", "true"]);
    let mut killed: Vec<String> = env.ok(&["kill", "-a"]).lines().map(String::from).collect();
    killed.sort();
    let mut want = vec![a.trim().to_string(), b.trim().to_string()];
    want.sort();
    assert_eq!(killed, want);
    assert_eq!(env.ok(&["wait", "a", "b"]), "137\n137\n");
    // Nothing runs now: stop -a has nothing to do; --ignore skips the missing.
    assert_eq!(env.ok(&["stop", "-a"]), "");
    assert_eq!(env.ok(&["stop", "--ignore", "nothere", "c"]), "c\n");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}} {{.ExitCode}}"]), "a 137\nb 137\nc 0\n");
}
