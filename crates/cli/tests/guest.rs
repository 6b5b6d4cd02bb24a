//! berth on a host like most users': cgroup v2 only, Debian 12's kernel
//! (6.1), booted once in QEMU by `shared/vm/run-in-v2-guest.sh` (see its
//! README), running tests/guest/checks.sh: berth-runtime's v2 limits,
//! freezer, update, stats and delete; `berth load` + `run` of a
//! multi-layer image on the overlay driver (which needs the `lowerdir=`
//! fallback there); and networking on 6.1's nf_tables: a bridge network
//! (bridge, gateway, veth pair), a container reached by name and by
//! `--network-alias` through berth-dns from another one, its published
//! port from the guest (127.0.0.1 and the gateway address) with its DNAT
//! chain in `nft list table inet berth`, and what removing the container
//! and the network leaves (no veth, chain or bridge). Every other container
//! there is on the default network (berth0), so the firewall is on every
//! check's path.
//!
//! What it relies on:
//! - `berth-runtime` built next to this test's `berth` (the same target dir):
//!   `cargo test --workspace` builds every workspace binary first; with
//!   `cargo test -p berth-cli`, build it too (`cargo build -p berth-runtime`).
//!   `berth-monitor` and `berth-dns` are this crate's: cargo builds them.
//! - The host's `/usr/sbin/nft` (Debian's nftables package, as berth's
//!   network tests need) and `ldd`: nft is dynamically linked, so it is
//!   staged with every library ldd lists and the dynamic loader, at the same
//!   paths in the guest (berth's own binaries are static).
//! - `run-in-v2-guest.sh` in a `shared/vm/` beside the repository (or in
//!   `BERTH_V2VM`), and what it needs: the Debian packages qemu-system-x86,
//!   busybox-static and cpio (scripts/install.sh installs them; the script
//!   installs them itself when missing) and, on its first run, apt access to
//!   download Debian's kernel package. Its guest loads the bridge, veth,
//!   br_netfilter and nf_tables NAT modules, not nf_conntrack_netlink (berth's
//!   conntrack cleanup then only warns), and has a bare devtmpfs: checks.sh
//!   adds the /dev/stdin links a real host's init makes (nft reads `-f -`
//!   from /dev/stdin).
//!
//! One boot (~35-40 s under TCG, ~6 s of it the network checks) for every
//! check. A guest that cannot boot fails the test with what is missing; it
//! never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;
use serde_json::json;

const CHECKS: &str = include_str!("../../../tests/guest/checks.sh");

fn vm_script() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_V2VM") {
        return PathBuf::from(p);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = here.ancestors().map(|a| a.join("shared/vm/run-in-v2-guest.sh")).find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "cannot boot the v2 guest: no shared/vm/run-in-v2-guest.sh in any parent of {} (set BERTH_V2VM to it)",
            here.display()
        )
    })
}

/// `berth-runtime`, built into the same directory as `berth`.
fn runtime_bin() -> PathBuf {
    let p = Path::new(BIN).with_file_name("berth-runtime");
    assert!(
        p.is_file(),
        "{} is missing: `cargo test --workspace` builds it; otherwise run `cargo build -p berth-runtime` first",
        p.display()
    );
    p
}

/// Copy a binary without its debug info when `strip` is there (the guest
/// loads everything into RAM under full emulation: 160 MB of debug info
/// cost seconds), as it is otherwise.
fn install_bin(src: &Path, dst: &Path) {
    let stripped = Command::new("strip").arg("--strip-debug").arg("-o").arg(dst).arg(src).status();
    if !stripped.is_ok_and(|s| s.success()) {
        std::fs::copy(src, dst).unwrap();
    }
}

/// Debian's nft, which berth's firewall runs (`nft -j -f -`): dynamically
/// linked, so staged with every library `ldd` lists and the dynamic loader,
/// each at its own path under `root` (the guest's /lib and /lib64 are the
/// initramfs's own directories, so Debian's paths work as they are).
fn install_nft(root: &Path) {
    let nft = Path::new("/usr/sbin/nft");
    assert!(
        nft.is_file(),
        "{} is missing: the guest's network checks need it (apt-get install nftables)",
        nft.display()
    );
    let ldd = Command::new("ldd").arg(nft).output().unwrap();
    assert!(ldd.status.success(), "ldd {}: {}", nft.display(), stderr(&ldd));
    // "libx.so.1 => /lib/.../libx.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
    // and the vDSO, which has no file.
    let libs = stdout(&ldd)
        .lines()
        .filter_map(|l| l.rsplit("=> ").next()?.split_whitespace().next().map(PathBuf::from))
        .filter(|p| p.is_absolute())
        .collect::<Vec<_>>();
    assert!(
        libs.iter().any(|l| l.starts_with("/lib64")),
        "no dynamic loader in ldd's output for nft: {}",
        stdout(&ldd)
    );
    for file in std::iter::once(nft.to_path_buf()).chain(libs) {
        let dst = root.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        // The file itself, not a symlink to it (libc.so.6 is one).
        std::fs::copy(&file, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
    }
}

/// The runtime's bundle: busybox sleeping, with a limit of every kind the
/// checks read back (values repeated in checks.sh).
fn write_bundle(bundle: &Path) {
    make_rootfs(&bundle.join("rootfs"));
    let spec = Command::new(runtime_bin()).args(["spec", "-b"]).arg(bundle).output().unwrap();
    assert!(spec.status.success(), "berth-runtime spec: {}", stderr(&spec));
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/busybox", "sleep", "600"]);
    config["linux"]["cgroupsPath"] = json!("/berth-guest/c1");
    // A read-only bind (built detached: open_tree, mount_setattr, move_mount).
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": "/opt/guest/data", "options": ["rbind", "ro", "nosuid"]
    }));
    config["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67_108_864, "swap": 100_663_296},
        "cpu": {"quota": 50_000, "period": 100_000},
        "pids": {"limit": 64},
        "blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1_048_576}]
        }
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// A three-layer image: busybox; two files; one more file and a whiteout
/// of a file of the second layer.
fn write_image(out: &Path) {
    let layer = |entries: &[(&str, &str)]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            b.append_data(&mut h, name, content.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    };
    let two = layer(&[("etc/layer2", "from layer 2\n"), ("etc/gone", "removed by layer 3\n")]);
    let three = layer(&[("etc/layer3", "from layer 3\n"), ("etc/.wh.gone", "")]);
    write_oci_archive(out, Some("localhost/guest:latest"), &[busybox_layer(), &two, &three], json!({}));
}

#[test]
fn berth_on_a_cgroup_v2_guest_with_linux_6_1() {
    let script = vm_script();
    let dir = tempfile::Builder::new().prefix("berth-guest").tempdir_in("/var/tmp").unwrap();
    let root = dir.path().to_path_buf();
    let bin = root.join("usr/local/bin");
    let guest = root.join("opt/guest");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(guest.join("bundle")).unwrap();
    std::fs::create_dir_all(guest.join("data")).unwrap();
    std::fs::write(guest.join("data/file"), "host data\n").unwrap();
    install_bin(Path::new(BIN), &bin.join("berth"));
    install_bin(Path::new(env!("CARGO_BIN_EXE_berth-monitor")), &bin.join("berth-monitor"));
    install_bin(&runtime_bin(), &bin.join("berth-runtime"));
    // The monitor starts the networks' name server from beside berth.
    install_bin(Path::new(env!("CARGO_BIN_EXE_berth-dns")), &bin.join("berth-dns"));
    install_nft(&root);
    write_bundle(&guest.join("bundle"));
    write_image(&guest.join("image.tar"));
    std::fs::write(guest.join("checks.sh"), CHECKS).unwrap();

    let start = Instant::now();
    // A hung guest fails in minutes, not the script's default 10.
    let timeout = std::env::var("V2VM_TIMEOUT").unwrap_or_else(|_| "300".into());
    // Through bash: a copied shared/ may have lost its exec bits.
    let out = Command::new("bash")
        .arg(&script)
        .arg(&root)
        .arg("sh /opt/guest/checks.sh")
        .env("V2VM_TIMEOUT", timeout)
        .output()
        .unwrap();
    if std::env::var_os("BERTH_GUEST_KEEP").is_some() {
        println!("guest files kept in {}", dir.keep().display());
    }
    let (text, log) = (stdout(&out), stderr(&out));
    println!("{text}");
    println!("guest boot + checks: {:.1} s", start.elapsed().as_secs_f64());
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    if !text.lines().any(|l| l.starts_with("ok ")) {
        panic!(
            "the v2 guest did not run the checks (exit {:?}). It needs qemu-system-x86, busybox-static and cpio \
             (scripts/install.sh) and, once, apt access for Debian's kernel package. {}:\n{}",
            out.status.code(),
            script.display(),
            log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    assert!(
        failed.is_empty() && out.status.success(),
        "guest checks failed (exit {:?}):\n{}\n{}",
        out.status.code(),
        failed.join("\n"),
        log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
}
