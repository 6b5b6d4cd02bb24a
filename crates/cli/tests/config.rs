//! berth.conf's defaults, and the settings read from podman's
//! containers.conf and storage.conf: each takes effect on a container (or
//! store) made without the flag, the flag always wins, and a bad value is
//! one error line naming its file (exit 125).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use common::containers::Cleanup;
use common::podman::Podman;
use common::*;

/// `ulimit -n` soft and hard, and the effective capability mask, as the
/// container sees them.
const PROBE: &str = "echo $(ulimit -Sn) $(ulimit -Hn) $(grep CapEff /proc/self/status | cut -f2)";

fn probe(env: &Env, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb", "sh", "-c", PROBE]);
    env.ok(&args).trim().to_string()
}

fn inspect(env: &Env, id: &str, format: &str) -> String {
    env.ok(&["inspect", "--format", format, id]).trim().to_string()
}

/// CHOWN (bit 0) and KILL (bit 5).
const CHOWN_KILL: &str = "0000000000000021";
/// Those and NET_RAW (bit 13).
const CHOWN_KILL_NET_RAW: &str = "0000000000002021";

#[test]
fn berth_conf_defaults_take_effect_and_flags_win() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // berth's own defaults: docker's 14 capabilities, the host's limits.
    let plain = probe(&env, &[]);
    assert!(plain.ends_with("00000000a80425fb"), "{plain}");
    env.set_config(
        "netns = \"none\"\ndefault_ulimits = [\"nofile=1024:2048\"]\ndefault_capabilities = [\"CHOWN\", \"CAP_KILL\"]\n\
         log_driver = \"json-file\"\nlog_size_max = \"2k\"\nlog_max_files = 5",
        "[engine]\nruntime = \"runc\"",
    );
    assert_eq!(probe(&env, &[]), format!("1024 2048 {CHOWN_KILL}"));
    assert_eq!(
        probe(&env, &["--ulimit", "nofile=500:600", "--cap-add", "net_raw"]),
        format!("500 600 {CHOWN_KILL_NET_RAW}")
    );
    // Recorded at create: what inspect shows.
    env.ok(&["create", "--name", "dflt", "bb", "true"]);
    assert_eq!(
        inspect(&env, "dflt", "{{.OCIRuntime}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}}"),
        "runc json-file 2kB"
    );
    assert_eq!(
        inspect(&env, "dflt", "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}} {{end}}"),
        "RLIMIT_NOFILE=1024:2048"
    );
    assert_eq!(inspect(&env, "dflt", "{{.EffectiveCaps}}"), "[CAP_CHOWN CAP_KILL]");
    env.ok(&[
        "create",
        "--name",
        "flags",
        "--runtime",
        "crun",
        "--log-driver",
        "k8s-file",
        "--log-opt",
        "max-size=3k",
        "bb",
        "true",
    ]);
    assert_eq!(
        inspect(&env, "flags", "{{.OCIRuntime}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}}"),
        "crun k8s-file 3kB"
    );
    // A container keeps what it was created with when the file changes.
    env.set_config("netns = \"none\"", "");
    assert_eq!(inspect(&env, "dflt", "{{.OCIRuntime}} {{.HostConfig.LogConfig.Size}}"), "runc 2kB");
    env.ok(&["create", "--name", "later", "bb", "true"]);
    assert_eq!(inspect(&env, "later", "{{.OCIRuntime}} {{.HostConfig.LogConfig.Size}}"), "berth-runtime 10MB");
}

#[test]
fn podmans_containers_conf_is_read_for_shared_settings_and_berth_conf_wins() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    // What a podman host may have: a log driver berth lacks (passed over),
    // settings berth does not share (netns: the test's berth.conf keeps
    // "none"; a network berth would join otherwise).
    env.set_containers_conf(
        "[containers]\ndefault_ulimits = [\"nofile=300:400\"]\nlog_size_max = 5000\nlog_driver = \"journald\"\n\
         default_capabilities = [\"CHOWN\", \"KILL\"]\nnetns = \"bridge\"\n\
         [engine]\nruntime = \"myrunc\"\ncgroup_manager = \"systemd\"\n[engine.runtimes]\nmyrunc = [\"/nonexistent/runc\", \"/usr/sbin/runc\"]\n",
    );
    env.ok(&["create", "--name", "c", "bb", "true"]);
    assert_eq!(
        inspect(
            &env,
            "c",
            "{{.OCIRuntime}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}} {{.HostConfig.NetworkMode}}"
        ),
        "myrunc k8s-file 5kB none"
    );
    assert_eq!(probe(&env, &[]), format!("300 400 {CHOWN_KILL}"));
    // berth.conf over it, key by key: the size changes, the ulimits stay.
    env.set_config("netns = \"none\"\nlog_size_max = \"7k\"", "[engine]\nruntime = \"\"");
    env.ok(&["create", "--name", "d", "bb", "true"]);
    assert_eq!(inspect(&env, "d", "{{.OCIRuntime}} {{.HostConfig.LogConfig.Size}}"), "berth-runtime 7kB");
    assert_eq!(probe(&env, &[]), format!("300 400 {CHOWN_KILL}"));
}

#[test]
fn storage_driver_from_storage_conf_berth_conf_and_the_flag() {
    require_root();
    let driver = |env: &Env, flags: &[&str]| {
        let mut args = flags.to_vec();
        args.extend_from_slice(&["info", "--format", "{{.Store.GraphDriverName}}"]);
        env.ok(&args).trim().to_string()
    };
    // storage.conf's driver, never its graphroot: berth's store stays its own.
    let env = Env::new();
    let elsewhere = env.path("podman-storage");
    std::fs::write(
        env.storage_conf(),
        format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{0}\"\n", elsewhere.display()),
    )
    .unwrap();
    assert_eq!(driver(&env, &[]), "vfs");
    assert!(env.root.join("vfs").is_dir() && !elsewhere.exists());
    // berth.conf over storage.conf.
    let env = Env::new();
    std::fs::write(env.storage_conf(), "[storage]\ndriver = \"overlay\"\n").unwrap();
    env.set_config("netns = \"none\"", "[storage]\ndriver = \"vfs\"");
    assert_eq!(driver(&env, &[]), "vfs");
    // The flag over both.
    let env = Env::new();
    env.set_config("netns = \"none\"", "[storage]\ndriver = \"vfs\"");
    assert_eq!(driver(&env, &["--storage-driver", "overlay"]), "overlay");
    // A driver berth lacks in podman's file is passed over.
    let env = Env::new();
    std::fs::write(env.storage_conf(), "[storage]\ndriver = \"btrfs\"\n").unwrap();
    assert!(["overlay", "vfs"].contains(&driver(&env, &[]).as_str()));
}

#[test]
fn the_users_berth_conf_unless_berth_config_names_one() {
    let (env, _) = Env::with_busybox();
    let _c = Cleanup(&env);
    let xdg = env.path("xdg");
    std::fs::create_dir_all(xdg.join("berth")).unwrap();
    // The env's own file with one setting more: the network directories
    // stay the test's.
    let text = std::fs::read_to_string(env.config())
        .unwrap()
        .replace("[containers]\n", "[containers]\nlog_size_max = \"3k\"\n");
    std::fs::write(xdg.join("berth/berth.conf"), text).unwrap();
    let size = |name: &str, named: bool| {
        let mut c = env.cmd(&["create", "--name", name, "bb", "true"]);
        c.env("XDG_CONFIG_HOME", &xdg);
        if !named {
            c.env_remove("BERTH_CONFIG");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        inspect(&env, name, "{{.HostConfig.LogConfig.Size}}")
    };
    assert_eq!(size("xdg", false), "3kB");
    assert_eq!(size("named", true), "10MB");
}

#[test]
fn a_bad_value_is_one_line_naming_its_file() {
    require_root();
    let env = Env::new();
    env.set_config("netns = \"none\"\ndefault_ulimits = [\"bogus=1:2\"]", "");
    let e = env.fails(&["ps"], 125);
    assert!(
        e.contains(&format!("{}: [containers] default_ulimits", env.config().display())) && e.contains("bogus"),
        "{e}"
    );
    env.set_config("netns = \"none\"", "[storage]\ndriver = \"btrfs\"");
    assert!(env.fails(&["images"], 125).contains("[storage] driver = \"btrfs\": want overlay or vfs"));
    env.set_config("netns = \"none\"", "");
    env.set_containers_conf("[containers]\nlog_size_max = \"huge\"\n");
    let e = env.fails(&["ps"], 125);
    assert!(e.contains(&format!("{}: [containers] log_driver, log_size_max", env.containers_conf().display())), "{e}");
    env.set_containers_conf("[engine]\nruntime = \"nosuchruntime\"\n");
    assert_eq!(env.fails(&["ps"], 125), "Error: default OCI runtime \"nosuchruntime\" not found: invalid argument\n");
    // CONTAINERS_CONF must name a file that exists, as podman requires.
    std::fs::remove_file(env.containers_conf()).unwrap();
    assert!(env.fails(&["ps"], 125).contains(&format!("reading {}", env.containers_conf().display())));
}

/// `info`'s `registries`: registries.conf's tables by prefix (drop-ins
/// applied) and its search list, printed as podman 4.3 prints them.
#[test]
fn info_shows_registries_as_podman_does() {
    require_root();
    let env = Env::new();
    std::fs::write(
        env.path("registries.conf"),
        "unqualified-search-registries = [\"docker.io\", \"quay.io\"]\n\
         [[registry]]\nprefix = \"example.com/foo\"\nlocation = \"mirror.example:5000/foo\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"m1.example\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"m2.example\"\npull-from-mirror = \"digest-only\"\n\
         [[registry]]\nlocation = \"blocked.example\"\nblocked = true\nmirror-by-digest-only = true\n",
    )
    .unwrap();
    let podman = Podman::new();
    let section = |yaml: &str| -> String {
        let start = yaml.find("\nregistries:\n").expect("a registries section");
        let rest = &yaml[start + 1..];
        let end = rest[1..].find("\n").map(|i| i + 2).unwrap_or(rest.len());
        let body: Vec<&str> = rest[end..].lines().take_while(|l| l.starts_with(' ')).collect();
        format!("{}{}", &rest[..end], body.join("\n"))
    };
    for format in [None, Some("{{json .Registries}}"), Some("{{.Registries.search}}")] {
        let args: Vec<&str> = match format {
            Some(f) => vec!["info", "--format", f],
            None => vec!["info"],
        };
        let b = env.ok(&args);
        let p = podman
            .cmd(&args)
            .env("CONTAINERS_REGISTRIES_CONF", env.path("registries.conf"))
            .env("CONTAINERS_REGISTRIES_CONF_DIR", env.path("registries.conf.d"))
            .output()
            .unwrap();
        assert!(p.status.success(), "{}", stderr(&p));
        let (b, p) = match format {
            None => (section(&b), section(&stdout(&p))),
            Some(_) => (b, stdout(&p)),
        };
        assert!(b.contains("blocked.example") || format.is_some_and(|f| f.contains("search")), "{b}");
        assert_eq!(b, p, "{format:?}");
    }
    // Drop-ins count too (podman 4.3 reads only the host's directory, so
    // this is berth's alone): a table of a prefix not seen before.
    std::fs::write(env.path("registries.conf.d/more.conf"), "[[registry]]\nlocation = \"more.example\"\n").unwrap();
    let b: serde_json::Value = serde_json::from_str(&env.ok(&["info", "--format", "{{json .Registries}}"])).unwrap();
    assert_eq!(b["more.example"]["Location"], "more.example");
    assert_eq!(b["blocked.example"]["Blocked"], true);
}

/// Credentials podman would find: after the auth file, the user's
/// `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then
/// docker's config.json.
#[test]
fn credentials_are_read_where_podman_reads_them() {
    let reg = regharness::TestRegistry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let archive = env.path("base.tar");
    write_oci_archive(&archive, Some("localhost/base:1"), &[&tar_file("base", b"base")], serde_json::json!({}));
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let name = reg.name("base:1");
    regharness::ok(&env, &["push", "-q", "--tls-verify=false", "--creds", "alice:s3cret", "localhost/base:1", &name]);
    let auth = format!("{{\"auths\":{{\"{}\":{{\"auth\":\"YWxpY2U6czNjcmV0\"}}}}}}", reg.host());
    let xdg = env.path("xdg");
    let pull = |with_xdg: bool| {
        let mut c = regharness::berth(&env, &["pull", "-q", "--tls-verify=false", &name]);
        if with_xdg {
            c.env("XDG_CONFIG_HOME", &xdg);
        }
        let o = c.output().unwrap();
        env.ok(&["rmi", "-a", "-f"]);
        (o.status.success(), stderr(&o))
    };
    let (ok, e) = pull(false);
    assert!(!ok && e.contains("authentication required"), "{e}");
    for (file, with_xdg) in [
        (env.path("home/.config/containers/auth.json"), false),
        (xdg.join("containers/auth.json"), true),
        (env.path("home/.docker/config.json"), false),
    ] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &auth).unwrap();
        let (ok, e) = pull(with_xdg);
        assert!(ok, "{}: {e}", file.display());
        std::fs::remove_file(&file).unwrap();
    }
}
