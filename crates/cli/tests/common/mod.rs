//! Shared harness: each test gets its own --root/--runroot in a tempdir and
//! builds busybox image archives by hand (no registry, no network).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod containers;
pub mod podman;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use image::digest::Digest;
use serde_json::json;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub runroot: PathBuf,
    /// The network namespace berth runs in (`Env::in_own_netns`): bridges,
    /// firewall rules and published ports of the test's own, gone with it.
    pub netns: Option<String>,
}

/// What a test left working on its store (a container still running, a
/// monitor still tearing down the `--rm` container it just reported) ends
/// before the directory goes: a mount left under it would stop its removal
/// halfway and leave the rest behind.
impl Drop for Env {
    fn drop(&mut self) {
        if containers::store_in_use(self) {
            containers::end_everything(self);
        }
        remove_tree(self.dir.path());
        if let Some(ns) = &self.netns {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

/// Remove `dir` whole, as the TempDir's own drop would, without giving up
/// at the first error: a process that outlived the test (a monitor
/// finishing a teardown) may hold a mount under it for a moment more, and
/// one failed removal left the rest of the store behind (a directory per
/// CI run in /var/tmp).
fn remove_tree(dir: &Path) {
    for _ in 0..50 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {
                unmount_under(dir);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Detach every mount under `dir`, the deepest first.
fn unmount_under(dir: &Path) {
    let mut points = mount_points_starting(&format!("{}/", dir.display()));
    points.sort_unstable_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH);
    }
}

/// This process's mount points whose path starts with `prefix`, in
/// mountinfo's order (parents before what is mounted on them).
pub fn mount_points_starting(prefix: &str) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| p.starts_with(prefix)).map(String::from).collect()
}

impl Env {
    pub fn new() -> Env {
        assert!(Path::new("/bin/busybox").exists(), "missing /bin/busybox: apt-get install busybox-static");
        let dir = tempfile::Builder::new().prefix("berth-cli-test").tempdir_in("/var/tmp").expect("tempdir");
        let root = dir.path().join("root");
        let runroot = dir.path().join("run");
        let env = Env { dir, root, runroot, netns: None };
        // The host's network is every test's: a container joins no network
        // unless its test asks (tests of networks run in a namespace of
        // their own, `in_own_netns`, with berth's defaults).
        env.set_config("netns = \"none\"", "");
        // The settings berth shares with podman come from the test's own
        // (empty) containers.conf and storage.conf, never the host's; so do
        // registries.conf (the host's drop-ins alias short names to Docker
        // Hub) and the auth file. Tests write their own over these.
        env.set_containers_conf("");
        std::fs::write(env.path("registries.conf"), "").unwrap();
        std::fs::create_dir_all(env.path("registries.conf.d")).unwrap();
        env
    }

    /// This env's containers.conf (`CONTAINERS_CONF` of every command).
    pub fn containers_conf(&self) -> PathBuf {
        self.dir.path().join("containers.conf")
    }

    pub fn set_containers_conf(&self, text: &str) {
        std::fs::write(self.containers_conf(), text).unwrap();
    }

    /// This env's storage.conf (`CONTAINERS_STORAGE_CONF`; none until written).
    pub fn storage_conf(&self) -> PathBuf {
        self.dir.path().join("storage.conf")
    }

    /// This env's berth.conf (`BERTH_CONFIG` of every command it runs).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("berth.conf")
    }

    /// Write this env's berth.conf: `containers` and `network`, lines of
    /// those sections, and always the env's own network directories (the
    /// host's are every store's: a test's networks stay its own).
    pub fn set_config(&self, containers: &str, network: &str) {
        let text = format!(
            "[containers]\n{containers}\n[network]\nnetwork_dir = \"{}\"\nnetwork_run_dir = \"{}\"\n{network}\n",
            self.network_dir().display(),
            self.network_run_dir().display()
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// Its berth.conf's `network_dir`: the records of its networks.
    pub fn network_dir(&self) -> PathBuf {
        self.dir.path().join("networks")
    }

    /// Its berth.conf's `network_run_dir`: addresses, the name server's files.
    pub fn network_run_dir(&self) -> PathBuf {
        self.dir.path().join("network-run")
    }

    /// This env, its berth run in a network namespace of its own (a named
    /// one, `ip netns`, with `lo` up): what berth makes there (bridges,
    /// nftables rules, veth pairs) never meets the host's or another
    /// test's, and goes with the namespace.
    pub fn in_own_netns(mut self) -> Env {
        let name = format!("berth-test-{}", self.dir.path().file_name().unwrap().to_string_lossy());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("running ip");
        assert!(ok.success(), "ip netns add {name} failed");
        Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]).status().expect("running ip");
        self.netns = Some(name);
        // berth's defaults: a container without --network joins the
        // default network, whose bridge is this namespace's own.
        self.set_config("", "");
        self
    }

    /// `args` run inside this env's network namespace (the host's without one).
    pub fn host_cmd(&self, args: &[&str]) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).args(args);
                c
            }
            None => {
                let mut c = Command::new(args[0]);
                c.args(&args[1..]);
                c
            }
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.host_cmd(&[BIN]);
        c.env("BERTH_CONFIG", self.config());
        c.env("CONTAINERS_CONF", self.containers_conf()).env("CONTAINERS_STORAGE_CONF", self.storage_conf());
        c.env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("CONTAINERS_REGISTRIES_CONF_DIR", self.path("registries.conf.d"))
            .env_remove("REGISTRIES_CONFIG_PATH")
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"));
        c.arg("--root").arg(&self.root).arg("--runroot").arg(&self.runroot).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Run berth; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running berth")
    }

    /// Run berth, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "berth {args:?} failed ({:?}): {}", o.status.code(), stderr(&o));
        stdout(&o)
    }

    /// Run berth expecting failure with `code` and a one-line `Error: `
    /// message (a usage error adds podman's "See 'berth COMMAND --help'").
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(code), "berth {args:?}: stdout {} stderr {}", stdout(&o), stderr(&o));
        let e = stderr(&o);
        let lines: Vec<&str> = e.trim_end().lines().collect();
        let see = |l: &str| l.starts_with("See 'berth ") && l.ends_with(" --help'");
        assert!(
            e.starts_with("Error: ") && (lines.len() == 1 || lines.len() == 2 && see(lines[1])),
            "want one error line, got {e:?}"
        );
        e
    }

    /// Storage layer directories (chain ID hex), whatever the driver.
    pub fn layer_dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["overlay", "vfs"] {
            if let Ok(rd) = std::fs::read_dir(self.root.join(d).join("layers")) {
                out.extend(rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
            }
        }
        out.sort();
        out
    }
}

impl Env {
    /// A fresh env (the caller must be root: this runs containers) with
    /// busybox loaded as `localhost/bb:latest`; returns its image ID too.
    pub fn with_busybox() -> (Env, String) {
        require_root();
        let env = Env::new();
        let (archive, id) = busybox_archive(&env, "bb.tar", "localhost/bb:latest");
        env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
        (env, id)
    }
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Fail loudly (never skip) without root: these tests run containers,
/// mount, and switch to other users.
pub fn require_root() {
    assert!(is_root(), "these tests run containers and mount filesystems: run them as root");
}

/// The uid and gid of `nobody`.
pub const NOBODY: u32 = 65534;

/// `cmd` as nobody, with no supplementary groups (std drops them when root
/// sets a uid).
pub fn as_nobody(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    cmd.uid(NOBODY).gid(NOBODY)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub use testkit::rootfs::make_busybox_rootfs as make_rootfs;

/// A layer tar of `dir` (deterministic: fixed mtime, sorted by tar crate walk).
pub fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

/// A layer tar with one small file.
pub fn tar_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

/// The busybox base layer, built once per test process.
pub fn busybox_layer() -> &'static Vec<u8> {
    static L: OnceLock<Vec<u8>> = OnceLock::new();
    L.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        make_rootfs(t.path());
        tar_dir(t.path())
    })
}

/// Write an oci-archive of an image made of `layers` (uncompressed) named
/// `name`; returns the image ID (config digest hex).
pub fn write_oci_archive(out: &Path, name: Option<&str>, layers: &[&[u8]], labels: serde_json::Value) -> String {
    write_oci_archive_config(out, name, layers, json!({"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": labels}))
}

/// [`write_oci_archive`] with the image config's `config` object given
/// whole (a HEALTHCHECK, a STOPSIGNAL...).
pub fn write_oci_archive_config(out: &Path, name: Option<&str>, layers: &[&[u8]], config: serde_json::Value) -> String {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of_bytes(l).to_string()).collect();
    let history: Vec<_> = (0..layers.len())
        .map(|i| json!({"created": "2024-01-02T03:04:05Z", "created_by": format!("/bin/sh -c #(nop) layer {i}")}))
        .collect();
    let config = json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = Digest::of_bytes(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::of_bytes(l).to_string(), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let md = Digest::of_bytes(&manifest);
    let mut desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len()});
    if let Some(n) = name {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": n});
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    add(&format!("blobs/sha256/{}", md.hex()), &manifest);
    add(&format!("blobs/sha256/{}", cd.hex()), &config);
    for l in layers {
        add(&format!("blobs/sha256/{}", Digest::of_bytes(l).hex()), l);
    }
    b.finish().unwrap();
    cd.hex().to_string()
}

/// A busybox image archive named `name`; returns its ID.
pub fn busybox_archive(env: &Env, file: &str, name: &str) -> (PathBuf, String) {
    let p = env.path(file);
    let id = write_oci_archive(&p, Some(name), &[busybox_layer()], json!({"org.example": "yes"}));
    (p, id)
}

/// A context directory of the env's with `files` (path, content) and the
/// Containerfile `text`.
pub fn context(env: &Env, text: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Containerfile"), text).unwrap();
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// `berth build ARGS... CTX`, which must succeed: its stdout.
pub fn build(env: &Env, args: &[&str], ctx: &Path) -> String {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(ctx.to_str().unwrap());
    env.ok(&all)
}
