//! podman 4.3 beside berth: the same command on both, each with a storage
//! of its own. podman gets the settings `/work/shared/peers/podman-env.sh`
//! gives it on these machines (cgroupfs, events to a file, no search
//! registries), written into this test's own directory: that script
//! rewrites shared files each time it is sourced, which races when tests
//! (and other users of the machine) source it at once. A test that needs
//! podman fails loudly without it.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::Env;

/// podman with `args`, its stdin from `stdin`.
pub fn podman_with_input(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    assert!(Path::new("/usr/bin/podman").exists(), "podman is not installed: apt-get install podman");
    let dir = env.path("podman");
    let containers_conf = dir.join("containers.conf");
    if !containers_conf.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &containers_conf,
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\n",
                dir.join("events.log").display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                dir.join("run").display(),
                dir.join("root").display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
        std::fs::create_dir_all(dir.join("registries.conf.d")).unwrap();
    }
    let mut c = Command::new("podman");
    c.args(args)
        .env("CONTAINERS_CONF", &containers_conf)
        .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
        .env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"))
        .env("CONTAINERS_REGISTRIES_CONF_DIR", dir.join("registries.conf.d"))
        .env("TMPDIR", &dir)
        .env_remove("REGISTRIES_CONFIG_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn().unwrap();
    if let Some(data) = stdin {
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), data).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// podman with `args` and no input: (exit code, stdout, stderr).
pub fn podman(env: &Env, args: &[&str]) -> (i32, String, String) {
    let o = podman_with_input(env, args, None);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
