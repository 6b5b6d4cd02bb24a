//! The directories berth keeps containers in are closed to other host users
//! (security defect 1, the containers' part): a container's config.json
//! carries its environment, and the runtime state and locks are root's.
//! Checked as `nobody`, with every directory above them opened up, so only
//! berth's own modes stand in the way; and a store left open by an older
//! version is closed when berth next opens it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn open_up(p: &Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Run `cmd` as nobody; returns (success, stderr).
fn run_as_nobody(cmd: &[&str]) -> (bool, String) {
    let o = as_nobody(Command::new(cmd[0]).args(&cmd[1..])).output().unwrap();
    (o.status.success(), stderr(&o))
}

fn assert_closed_to_nobody(dir: &Path) {
    let d = dir.to_str().unwrap();
    let (listed, err) = run_as_nobody(&["ls", d]);
    assert!(!listed && err.contains("Permission denied"), "nobody listed {d}: {err}");
    let (entered, _) = run_as_nobody(&["sh", "-c", &format!("cd {d}")]);
    assert!(!entered, "nobody entered {d}");
}

#[test]
fn container_dirs_are_closed_to_other_users() {
    let (env, _) = Env::with_busybox();
    let id = env.ok(&["create", "-e", "SECRET=hunter2", "bb", "true"]).trim().to_string();
    env.ok(&["run", "--rm", "bb", "true"]);

    let data = env.root.join("container-data");
    let own = data.join(&id);
    let userdata = env.runroot.join("userdata");
    let private: Vec<PathBuf> = vec![
        data.clone(),
        own.clone(),
        env.runroot.clone(),
        env.runroot.join("runtime"),
        env.runroot.join("locks"),
        userdata.clone(),
        userdata.join(&id),
    ];
    for d in &private {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&own.join("config.json")), 0o600);
    assert_eq!(mode(&env.root.join("containers.db")) & 0o077, 0, "the database is readable by others");
    assert!(std::fs::read_to_string(own.join("config.json")).unwrap().contains("SECRET=hunter2"));

    // Open everything above them (the test's tempdir is 0700 and the store
    // root is not ours to judge here): only berth's own modes are left.
    for d in [env.dir.path(), &env.root] {
        open_up(d);
    }
    for d in &private {
        assert_closed_to_nobody(d);
    }
    let (read, err) = run_as_nobody(&["cat", own.join("config.json").to_str().unwrap()]);
    assert!(!read && err.contains("Permission denied"), "{err}");
    // A control: nobody can reach what is open, so the refusals above are
    // the modes' doing.
    let (listed, err) = run_as_nobody(&["ls", env.root.to_str().unwrap()]);
    assert!(listed, "nobody cannot even list the opened-up root: {err}");
}

#[test]
fn an_old_store_is_closed_on_open() {
    let (env, _) = Env::with_busybox();
    let id = env.ok(&["create", "bb", "true"]).trim().to_string();
    let data = env.root.join("container-data");
    let own = data.join(&id);
    let dirs = [own.clone(), data.clone(), env.runroot.clone(), env.runroot.join("runtime")];
    // As a version before this fix left them.
    for d in &dirs {
        open_up(d);
    }
    std::fs::set_permissions(env.root.join("containers.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(&["ps", "-a"]);
    for d in &dirs {
        assert_eq!(mode(d), 0o700, "{} not closed", d.display());
    }
    assert_eq!(mode(&env.root.join("containers.db")), 0o600);
    // And the container still runs.
    assert_eq!(env.ok(&["ps", "-a", "-q", "--no-trunc"]).trim(), id);
    env.ok(&["run", "--rm", "bb", "true"]);
}

/// Relative `--root` and `--runroot` mean the directories under the current
/// one, as podman takes them: the container, its monitor and its runtime,
/// which work elsewhere, all find them.
#[test]
fn relative_store_paths_work() {
    let (env, _) = Env::with_busybox();
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(common::BIN);
        c.current_dir(env.dir.path()).env("BERTH_CONFIG", env.config());
        c.args(["--root", "root", "--runroot", "run"]).args(args);
        c.stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    let o = run(&["run", "--rm", "bb", "echo", "hi"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(common::stdout(&o), "hi\n");
    let id = common::stdout(&run(&["run", "-d", "bb", "sleep", "60"])).trim().to_string();
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]).trim(), id, "the same store as the absolute paths");
    let o = run(&["rm", "-f", "-t", "0", &id]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}
