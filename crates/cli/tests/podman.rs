//! Interoperability with podman (Debian's, with its own --root per test):
//! archives podman writes load into berth with the same image ID (config
//! digest), and archives berth writes load into podman with the same ID.

mod common;

use common::*;

#[test]
fn podman_archives_load_into_berth_and_back() {
    let env = Env::new();
    let podman = Podman::new("vfs");
    let rootfs = env.path("rootfs.tar");
    std::fs::write(&rootfs, busybox_layer()).unwrap();
    podman.ok(&["import", "--change", "CMD [\"sh\"]", rootfs.to_str().unwrap(), "localhost/pi:latest"]);
    let id = podman.ok(&["images", "-q", "--no-trunc"]).trim().to_string();

    for format in ["docker-archive", "oci-archive"] {
        let file = env.path(&format!("podman-{format}.tar"));
        podman.ok(&["save", "--format", format, "-o", file.to_str().unwrap(), "localhost/pi:latest"]);
        let berth = Env::new();
        assert_eq!(
            berth.ok(&["load", "-i", file.to_str().unwrap()]),
            "Loaded image: localhost/pi:latest\n",
            "{format}"
        );
        assert_eq!(berth.ok(&["images", "-q", "--no-trunc"]).trim(), id, "{format}: same config digest");
        assert_eq!(berth.ok(&["image", "inspect", "--format", "{{index .Config.Cmd 0}}", "pi"]), "sh\n");

        // And berth's own save of it goes back into a fresh podman.
        let back = env.path(&format!("berth-{format}.tar"));
        berth.ok(&["save", "--format", format, "-o", back.to_str().unwrap(), "pi"]);
        let p2 = Podman::new("vfs");
        p2.ok(&["load", "-i", back.to_str().unwrap()]);
        assert_eq!(p2.ok(&["images", "-q", "--no-trunc"]).trim(), id, "{format}: podman loads berth's archive");
        assert!(p2.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains("localhost/pi:latest"));
    }
}

#[test]
fn berth_import_loads_into_podman() {
    let env = Env::new();
    let rootfs = env.path("rootfs.tar");
    std::fs::write(&rootfs, busybox_layer()).unwrap();
    let id = env.ok(&["import", "-c", "CMD [\"sh\"]", rootfs.to_str().unwrap(), "mine"]).trim().to_string();
    let file = env.path("o.tar");
    env.ok(&["save", "--format", "oci-archive", "-o", file.to_str().unwrap(), "mine"]);
    let podman = Podman::new("vfs");
    podman.ok(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(podman.ok(&["images", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(podman.ok(&["image", "inspect", "--format", "{{.Config.Cmd}}", "localhost/mine"]).trim(), "[sh]");
}
