//! podman 4.3 beside berth: the same command on both, each with a storage
//! of its own (the peers' configuration from `podman-env.sh`, this test's
//! `--root`/`--runroot`). A test that needs podman fails loudly without it.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::Env;

pub const PODMAN_ENV: &str = "/work/shared/peers/podman-env.sh";

/// podman with `args`, its stdin from `stdin`.
pub fn podman_with_input(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    assert!(Path::new(PODMAN_ENV).exists(), "missing {PODMAN_ENV}: the podman peer is needed here");
    assert!(Path::new("/usr/bin/podman").exists(), "podman is not installed: apt-get install podman");
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(". {PODMAN_ENV} && exec podman --root \"$0\" --runroot \"$1\" --storage-driver vfs \"${{@:2}}\""))
        .arg(env.path("podman-root"))
        .arg(env.path("podman-run"))
        .args(args)
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
