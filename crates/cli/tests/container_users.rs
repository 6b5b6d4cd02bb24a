//! Who a container runs as: `-u` in every form podman takes, resolved in the
//! image's own /etc/passwd and /etc/group (supplementary groups and HOME as
//! podman sets them), and an image whose /etc/passwd is a FIFO (security
//! defect 4: it hung `create` forever).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:33:33::/var/www:/bin/sh\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:33:\nlog:x:4:web,nobody\nextra:x:1234:nobody\n";

/// A layer tar with `etc/passwd` and `etc/group` as given (`None`: a FIFO).
fn accounts_layer(passwd: Option<&str>, group: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in [("etc/passwd", passwd), ("etc/group", group)] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        match content {
            Some(text) => {
                h.set_size(text.len() as u64);
                h.set_cksum();
                b.append_data(&mut h, name, text.as_bytes()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_size(0);
                h.set_cksum();
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// An Env with busybox plus `layer` loaded as `localhost/IMAGE:latest`.
fn env_with(images: &[(&str, Vec<u8>)]) -> Env {
    require_root();
    let env = Env::new();
    for (name, layer) in images {
        let archive = env.path(&format!("{name}.tar"));
        let full = format!("localhost/{name}:latest");
        write_oci_archive(&archive, Some(&full), &[busybox_layer().as_slice(), layer.as_slice()], json!({}));
        env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    }
    env
}

#[test]
fn user_forms_as_podman() {
    let env = env_with(&[("acc", accounts_layer(Some(PASSWD), Some(GROUP)))]);
    // What podman 4.3 prints for each, side by side with the same files
    // (`Groups:` is the kernel's sorted list of supplementary groups).
    let cases: &[(&[&str], &str)] = &[
        (&[], "0 0 [] /root"),
        (&["-u", "0"], "0 0 [0] /root"),
        (&["-u", "root"], "0 0 [0] /root"),
        (&["-u", "nobody"], "65534 65534 [4 1234 65534] /nonexistent"),
        (&["-u", "web"], "33 33 [4 33] /var/www"),
        (&["-u", "33"], "33 33 [4 33] /var/www"),
        (&["-u", "33:4"], "33 4 [4] /var/www"),
        (&["-u", "web:extra"], "33 1234 [1234] /var/www"),
        (&["-u", "nobody:0"], "65534 0 [0] /nonexistent"),
        (&["-u", "1000"], "1000 0 [0] /"),
        (&["-u", "1000:1000"], "1000 1000 [1000] /"),
        // An explicit HOME wins.
        (&["-u", "web", "-e", "HOME=/x"], "33 33 [4 33] /x"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[
            "acc",
            "sh",
            "-c",
            "echo $(id -u) $(id -g) [$(grep Groups /proc/self/status | cut -f2 | xargs)] $HOME",
        ]);
        assert_eq!(env.ok(&args), format!("{want}\n"), "{flags:?}");
    }
    let e = env.fails(&["create", "-u", "nosuch", "acc"], 125);
    assert_eq!(e, "Error: unable to find user nosuch: no matching entries in passwd file\n");
    let e = env.fails(&["create", "-u", "web:nosuch", "acc"], 125);
    assert_eq!(e, "Error: unable to find group nosuch: no matching entries in group file\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}

/// `berth ARGS`, killed and failed if it takes longer than 20 s.
fn within_timeout(env: &Env, args: &[&str]) -> std::process::Output {
    let mut child = env.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("berth {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_at_etc_passwd_is_one_error_line_not_a_hang() {
    let env =
        env_with(&[("fifopw", accounts_layer(None, Some(GROUP))), ("fifogr", accounts_layer(Some(PASSWD), None))]);
    for args in [&["create", "fifopw"][..], &["run", "--rm", "fifopw", "true"], &["create", "-u", "33:4", "fifopw"]] {
        let o = within_timeout(&env, args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert_eq!(stderr(&o), "Error: cannot read the image's /etc/passwd: /etc/passwd is not a regular file\n");
    }
    // The group file is read only when a lookup needs it.
    let o = within_timeout(&env, &["create", "-u", "web", "fifogr"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "Error: cannot read the image's /etc/group: /etc/group is not a regular file\n");
    let o = within_timeout(&env, &["run", "--rm", "-u", "33:4", "fifogr", "grep", "Groups", "/proc/self/status"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "Groups:\t4 \n"), "{}", stderr(&o));
    // Nothing was left behind by the failures.
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    for d in ["overlay/containers", "container-data"] {
        let n = std::fs::read_dir(env.root.join(d)).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{d} not empty");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root.to_str().unwrap()), "{mounts}");
}
