//! A busybox root filesystem from Debian's busybox-static.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

fn applets() -> &'static Vec<String> {
    static A: OnceLock<Vec<String>> = OnceLock::new();
    A.get_or_init(|| {
        let out = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    })
}

/// busybox, one symlink per applet, /etc/passwd and /etc/group, a 1777 /tmp.
/// Panics (the test fails loudly) when busybox-static is missing.
pub fn make_busybox_rootfs(rootfs: &Path) {
    assert!(Path::new("/bin/busybox").exists(), "missing /bin/busybox: apt-get install busybox-static");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "sbin"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in applets() {
        let p = rootfs.join("bin").join(a);
        if !p.exists() {
            std::os::unix::fs::symlink("busybox", p).unwrap();
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}
