//! config.json features, each proven with a real container: what the
//! process observes inside, and what the host sees from outside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

// ---- helpers (local to this file) ----

/// Run a shell script on the host; asserts success and returns stdout.
#[track_caller]
fn host_sh(script: &str) -> String {
    ok(&run_capture(Command::new("/bin/sh").args(["-c", script])))
}

/// Run the container in the foreground; asserts exit 0 and returns stdout.
#[track_caller]
fn run_ok(e: &mut Env, script: &str) -> String {
    e.sh(script);
    ok(&e.run())
}

/// A line of /proc/<pid>/status ("Key:\tvalue") -> "value".
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in status:\n{status}"))
        .trim()
        .to_string()
}

/// Start the container with `script`, whose output goes to the host through a
/// bind-mounted dir; the process then stays alive (sleep) so the host can look
/// at it. Returns (host pid, what the script printed).
#[track_caller]
fn observe(e: &mut Env, script: &str) -> (i32, String) {
    let out = e.share("/berth-out");
    // Writable for any container user.
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // Made here: root of a user namespace cannot create it in a host-owned rootfs.
    std::fs::create_dir_all(e.rootfs().join("berth-out")).unwrap();
    e.sh(&format!("{{ {script} ; }} >/berth-out/o.tmp 2>&1; mv /berth-out/o.tmp /berth-out/o; exec sleep 60"));
    e.start_running();
    let f = out.join("o");
    assert!(wait_until(Duration::from_secs(5), || f.exists()), "container never wrote its observations");
    (e.pid(), std::fs::read_to_string(f).unwrap())
}

fn host_status(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap()
}

fn cap_mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | (1u64 << c)))
}

const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_CHROOT: u32 = 18;
const CAP_AUDIT_WRITE: u32 = 29;

// ---- process ----

#[test]
fn process_args_env_cwd() {
    let mut e = Env::new("args");
    e.args(&["sh", "-c", "printf '%s|' \"$@\"; echo; echo \"$FOO/$BAR\"; pwd", "arg0", "one two", "three"]);
    e.config["process"]["env"] = json!(["PATH=/bin", "FOO=foo value", "BAR=x=y"]);
    e.config["process"]["cwd"] = json!("/tmp");
    let out = ok(&e.run());
    assert_eq!(out, "one two|three|\nfoo value/x=y\n/tmp\n");
}

#[test]
fn process_env_seen_from_host() {
    let mut e = Env::new("envh");
    e.config["process"]["env"] = json!(["PATH=/bin", "MARK=berth-env-mark"]);
    let (pid, out) = observe(&mut e, "echo $MARK");
    assert_eq!(out, "berth-env-mark\n");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
    assert!(vars.contains(&&b"MARK=berth-env-mark"[..]), "host environ: {:?}", String::from_utf8_lossy(&environ));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0060\x00");
}

#[test]
fn process_missing_cwd_is_created() {
    let mut e = Env::new("cwd");
    // root.readonly is on in the default config: the cwd must still be made.
    e.config["process"]["cwd"] = json!("/work/deep/dir");
    let out = run_ok(&mut e, "pwd");
    assert_eq!(out, "/work/deep/dir\n");
    assert!(e.rootfs().join("work/deep/dir").is_dir(), "cwd not created in the rootfs");
}

#[test]
fn process_user_ids() {
    let mut e = Env::new("user");
    e.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 2000]});
    let (pid, out) = observe(&mut e, "id -u; id -g; id -G");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["1001", "2000", "5"]);
    let st = host_status(pid);
    assert_eq!(status_field(&st, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&st, "Gid"), "1001\t1001\t1001\t1001");
    assert_eq!(status_field(&st, "Groups"), "5 2000");
}

#[test]
fn process_umask() {
    let mut e = Env::new("umask");
    e.config["process"]["user"]["umask"] = json!(0o077);
    let out = run_ok(&mut e, "umask; touch /dev/shm/f; mkdir /dev/shm/d; stat -c %a /dev/shm/f /dev/shm/d");
    assert_eq!(out, "0077\n600\n700\n");
}

#[test]
fn process_capabilities_root_default() {
    let mut e = Env::new("capr");
    let (pid, out) = observe(&mut e, "grep ^Cap /proc/self/status");
    let want = cap_mask(&[CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE]);
    for (set, val) in [
        ("CapInh", "0000000000000000"),
        ("CapPrm", &want),
        ("CapEff", &want),
        ("CapBnd", &want),
        ("CapAmb", "0000000000000000"),
    ] {
        assert_eq!(status_field(&out, set), val, "{set} inside");
        assert_eq!(status_field(&host_status(pid), set), val, "{set} from host");
    }
}

#[test]
fn process_capabilities_all_five_sets() {
    // As a non-root user the kernel keeps exactly what we set across execve:
    // permitted = effective = ambient, inheritable and bounding as given.
    let mut e = Env::new("cap5");
    e.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    e.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    let (pid, out) = observe(&mut e, "grep ^Cap /proc/self/status");
    let amb = cap_mask(&[CAP_NET_BIND_SERVICE]);
    let inh = cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE]);
    let bnd = cap_mask(&[CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT]);
    for (set, val) in [("CapInh", &inh), ("CapPrm", &amb), ("CapEff", &amb), ("CapBnd", &bnd), ("CapAmb", &amb)] {
        assert_eq!(status_field(&out, set), *val, "{set} inside: {out}");
        assert_eq!(status_field(&host_status(pid), set), *val, "{set} from host");
    }
}

#[test]
fn process_rlimits() {
    let mut e = Env::new("rlim");
    e.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 2345},
        {"type": "RLIMIT_NPROC", "soft": 555, "hard": 666},
    ]);
    let (pid, out) = observe(&mut e, "ulimit -n; ulimit -Hn; grep -E 'open files|processes' /proc/self/limits");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1234");
    assert_eq!(lines[1], "2345");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    for text in [out.as_str(), limits.as_str()] {
        let files = text.lines().find(|l| l.starts_with("Max open files")).unwrap();
        assert_eq!(files.split_whitespace().collect::<Vec<_>>()[3..5], ["1234", "2345"], "{text}");
        let procs = text.lines().find(|l| l.starts_with("Max processes")).unwrap();
        assert_eq!(procs.split_whitespace().collect::<Vec<_>>()[2..4], ["555", "666"], "{text}");
    }
}

#[test]
fn process_no_new_privileges() {
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut e = Env::new("nnp");
        e.config["process"]["noNewPrivileges"] = json!(nnp);
        let (pid, out) = observe(&mut e, "grep NoNewPrivs /proc/self/status");
        assert_eq!(status_field(&out, "NoNewPrivs"), want);
        assert_eq!(status_field(&host_status(pid), "NoNewPrivs"), want);
    }
}

#[test]
fn process_oom_score_adj() {
    let mut e = Env::new("oom");
    e.config["process"]["oomScoreAdj"] = json!(432);
    let (pid, out) = observe(&mut e, "cat /proc/self/oom_score_adj");
    assert_eq!(out, "432\n");
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap(), "432\n");
}

// ---- root, hostname, domainname ----

#[test]
fn root_readonly_with_writable_tmpfs() {
    let mut e = Env::new("rootro");
    e.config["root"]["readonly"] = json!(true);
    e.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    let out = run_ok(&mut e, "touch /x 2>&1; echo rc=$?; echo hi > /tmp/y && cat /tmp/y");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1\nhi\n"), "{out}");
    assert!(!e.rootfs().join("x").exists());
    assert!(!e.rootfs().join("tmp/y").exists(), "/tmp write went to the rootfs, not the tmpfs");

    // And writable when readonly is false: the write lands in the rootfs.
    e.config["root"]["readonly"] = json!(false);
    e.id = unique_id("rootrw");
    run_ok(&mut e, "touch /x");
    assert!(e.rootfs().join("x").exists());
}

#[test]
fn hostname_and_domainname() {
    let mut e = Env::new("uts");
    e.config["hostname"] = json!("berth-host-x");
    e.config["domainname"] = json!("berth.example");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let (pid, out) = observe(&mut e, "uname -n; cat /proc/sys/kernel/domainname; hostname");
    assert_eq!(out, "berth-host-x\nberth.example\nberth-host-x\n");
    assert_eq!(
        host_sh(&format!("nsenter -t {pid} -u cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname")),
        "berth-host-x\nberth.example\n"
    );
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host_name);
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), host_domain);
}

// ---- mounts ----

/// A host mount made by a test; lazily unmounted (recursively) on drop.
struct HostMount(std::path::PathBuf);

impl HostMount {
    /// Mount a tmpfs at `path` (created) on the host.
    fn tmpfs(path: &Path) -> HostMount {
        std::fs::create_dir_all(path).unwrap();
        host_sh(&format!("mount -t tmpfs berth-test {}", path.display()));
        HostMount(path.to_path_buf())
    }

    /// Make `path` a shared mount point of its own (the host's / is private).
    fn shared(path: &Path) -> HostMount {
        std::fs::create_dir_all(path).unwrap();
        host_sh(&format!("mount --bind {0} {0} && mount --make-shared {0}", path.display()));
        HostMount(path.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = run_capture(Command::new("umount").args(["-R", "-l"]).arg(&self.0));
    }
}

fn add_mount(e: &mut Env, m: serde_json::Value) {
    e.config["mounts"].as_array_mut().expect("mounts").push(m);
}

/// The mountinfo line of mount point `dest` (the last one: the top mount).
fn mountinfo_line(mountinfo: &str, dest: &str) -> String {
    mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(dest))
        .unwrap_or_else(|| panic!("{dest} is not a mount point:\n{mountinfo}"))
        .to_string()
}

#[test]
fn mount_bind_reads_and_writes_host_dir() {
    let mut e = Env::new("bind");
    let host = e.share("/data");
    std::fs::write(host.join("from-host"), "hello from host\n").unwrap();
    let out = run_ok(&mut e, "cat /data/from-host; echo from container > /data/from-ctr");
    assert_eq!(out, "hello from host\n");
    assert_eq!(std::fs::read_to_string(host.join("from-ctr")).unwrap(), "from container\n");
}

#[test]
fn mount_rbind_brings_submounts_and_bind_does_not() {
    let mut e = Env::new("rbind");
    let src = e.dir.path().join("src");
    let _sub = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(src.join("sub/in-submount"), "sub\n").unwrap();
    add_mount(&mut e, json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind"]}));
    add_mount(&mut e, json!({"destination": "/b", "type": "bind", "source": src, "options": ["bind"]}));
    let out = run_ok(&mut e, "cat /r/sub/in-submount; ls -A /b/sub | wc -l");
    assert_eq!(out, "sub\n0\n");
}

#[test]
fn mount_ro_bind_refuses_writes() {
    let mut e = Env::new("robind");
    let host = e.dir.path().join("ro");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "keep\n").unwrap();
    add_mount(&mut e, json!({"destination": "/ro", "type": "bind", "source": host, "options": ["rbind", "ro"]}));
    let (pid, out) = observe(&mut e, "cat /ro/f; echo x > /ro/f; echo rc=$?; touch /ro/new; echo rc=$?");
    assert!(out.starts_with("keep\n"), "{out}");
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert!(out.contains("rc=1\n") && !out.contains("rc=0"), "{out}");
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "keep\n");
    assert!(!host.join("new").exists());
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let line = mountinfo_line(&mi, "/ro");
    assert!(line.split_whitespace().nth(5).unwrap().split(',').any(|o| o == "ro"), "{line}");
}

#[test]
fn mount_propagation_from_host() {
    let mut e = Env::new("prop");
    let src = e.dir.path().join("shared-src");
    let _shared = HostMount::shared(&src);
    for (dest, prop) in [("/p-rshared", "rshared"), ("/p-rslave", "rslave"), ("/p-rprivate", "rprivate")] {
        add_mount(&mut e, json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", prop]}));
    }
    let (pid, _) = observe(&mut e, "true");
    // Mounted on the host after the container started.
    let _late = HostMount::tmpfs(&src.join("late"));
    std::fs::write(src.join("late/marker"), "late\n").unwrap();
    let seen = host_sh(&format!(
        "nsenter -t {pid} -m -r sh -c 'for d in /p-rshared /p-rslave /p-rprivate; do \
         if [ -e $d/late/marker ]; then echo $d yes; else echo $d no; fi; done'"
    ));
    assert_eq!(seen, "/p-rshared yes\n/p-rslave yes\n/p-rprivate no\n");
    // The other way: with the default rslave rootfs nothing mounted inside reaches the host.
    std::fs::create_dir_all(src.join("from-ctr")).unwrap();
    host_sh(&format!("nsenter -t {pid} -m -r mount -t tmpfs from-ctr /p-rshared/from-ctr"));
    assert!(!host_mounted(&src.join("from-ctr")), "a container mount leaked to the host");
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(mountinfo_line(&mi, "/p-rslave").contains("master:"), "{mi}");
    assert!(mountinfo_line(&mi, "/p-rshared").contains("shared:"), "{mi}");
    let private = mountinfo_line(&mi, "/p-rprivate");
    assert!(!private.contains("shared:") && !private.contains("master:"), "{private}");
}

#[test]
fn mount_tmpfs_size_and_mode() {
    let mut e = Env::new("tmpfs");
    add_mount(
        &mut e,
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=2m", "mode=1770"]}),
    );
    let (pid, out) = observe(&mut e, "df -k /scratch | tail -1 | awk '{print $2}'; stat -c %a /scratch");
    assert_eq!(out, "2048\n1770\n");
    let line = mountinfo_line(&std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap(), "/scratch");
    assert!(line.contains(" - tmpfs ") && line.contains("size=2048k") && line.contains("mode=1770"), "{line}");
    assert!(line.split_whitespace().nth(5).unwrap().contains("nosuid"), "{line}");
}

#[test]
fn mount_nested_missing_destination_is_created() {
    let mut e = Env::new("nested");
    e.config["root"]["readonly"] = json!(false);
    add_mount(&mut e, json!({"destination": "/a/b/c/d", "type": "tmpfs", "source": "tmpfs"}));
    let out = run_ok(&mut e, "grep ' /a/b/c/d ' /proc/self/mounts | cut -d' ' -f3");
    assert_eq!(out, "tmpfs\n");
    assert!(e.rootfs().join("a/b/c/d").is_dir());
}

#[test]
fn mount_special_filesystems() {
    let mut e = Env::new("specialfs");
    let (pid, out) = observe(
        &mut e,
        "awk '{print $2, $3, substr($4, 1, 2)}' /proc/self/mounts | grep -E '^/(proc|sys|dev/pts|dev/mqueue|dev/shm|dev) '; \
         ls /dev/pts/ptmx; readlink /dev/ptmx; touch /sys/x 2>&1; cat /proc/1/comm",
    );
    for want in [
        "/proc proc rw",
        "/dev tmpfs rw",
        "/dev/pts devpts rw",
        "/dev/shm tmpfs rw",
        "/dev/mqueue mqueue rw",
        "/sys sysfs ro",
        "/dev/pts/ptmx",
        "pts/ptmx",
        "touch: /sys/x: Read-only file system",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in:\n{out}");
    }
    // In a new pid namespace the process is pid 1 of its own /proc.
    assert!(out.ends_with("sh\n"), "{out}");
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(mountinfo_line(&mi, "/dev/pts").contains("ptmxmode=666"), "{mi}");
    assert!(mountinfo_line(&mi, "/dev/mqueue").contains(" - mqueue "), "{mi}");
}

#[test]
fn mount_cgroup_with_cgroupns() {
    let mut e = Env::new("cgns");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let (pid, out) = observe(
        &mut e,
        "ls /sys/fs/cgroup; echo ---; cat /proc/self/cgroup; echo ---; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
         ls /sys/fs/cgroup/memory | grep -c berth-test",
    );
    let parts: Vec<&str> = out.split("---\n").collect();
    for c in ["memory", "cpu", "pids", "devices", "blkio"] {
        assert!(parts[0].lines().any(|l| l == c), "no {c} in /sys/fs/cgroup: {}", parts[0]);
    }
    for l in parts[1].lines() {
        assert!(l.ends_with(":/"), "cgroupns: /proc/self/cgroup line {l:?} is not the namespace root");
    }
    assert_eq!(parts[2], "67108864\n0\n");
    // From the host the process is in its own cgroup.
    let host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(host.lines().any(|l| l.ends_with(&format!(":memory:{path}"))), "{host}");
}

#[test]
fn mount_cgroup_without_cgroupns() {
    let mut e = Env::new("nocgns");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    e.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "cgroup");
    let out = run_ok(
        &mut e,
        "ls /sys/fs/cgroup; echo ---; grep :memory: /proc/self/cgroup; echo ---; \
         cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/fs/cgroup/memory | grep -c berth-test || true",
    );
    let parts: Vec<&str> = out.split("---\n").collect();
    for c in ["memory", "cpu", "pids", "devices"] {
        assert!(parts[0].lines().any(|l| l == c), "no {c} in /sys/fs/cgroup: {}", parts[0]);
    }
    // Without a cgroup namespace the full host path shows...
    assert!(parts[1].trim_end().ends_with(&format!(":memory:{path}")), "{}", parts[1]);
    // ...but the mount holds only the container's own cgroup, no siblings.
    assert_eq!(parts[2], "67108864\n0\n");
}

/// Is anything mounted at `path` in the host's mount namespace?
fn host_mounted(path: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines().any(|l| l.split_whitespace().nth(4) == Some(path.to_str().unwrap()))
}

#[test]
fn mount_propagation_back_to_host_needs_shared_rootfs() {
    // Default rootfsPropagation (rslave): nothing the container mounts reaches the host.
    for (rootfs_prop, want_on_host) in [(None, false), (Some("rshared"), true)] {
        let mut e = Env::new("propback");
        let src = e.dir.path().join("shared-src");
        let _shared = HostMount::shared(&src);
        std::fs::create_dir_all(src.join("inner")).unwrap();
        if let Some(p) = rootfs_prop {
            e.config["linux"]["rootfsPropagation"] = json!(p);
        }
        add_mount(&mut e, json!({"destination": "/p", "type": "bind", "source": src, "options": ["rbind", "rshared"]}));
        let (pid, _) = observe(&mut e, "true");
        host_sh(&format!("nsenter -t {pid} -m -r mount -t tmpfs from-ctr /p/inner"));
        let inner = src.join("inner");
        let _cleanup = HostMount(inner.clone());
        assert_eq!(host_mounted(&inner), want_on_host, "rootfsPropagation {rootfs_prop:?}");
    }
}

#[test]
fn rootfs_propagation_modes() {
    for (prop, want) in [("shared", "shared:"), ("rshared", "shared:"), ("private", ""), ("rprivate", "")] {
        let mut e = Env::new("rootprop");
        e.config["linux"]["rootfsPropagation"] = json!(prop);
        let (pid, out) = observe(&mut e, "awk '$5 == \"/\"' /proc/self/mountinfo");
        let fields: Vec<&str> = out.split(" - ").next().unwrap().split_whitespace().skip(6).collect();
        match want {
            "" => assert!(fields.is_empty(), "{prop}: / has propagation {fields:?}"),
            w => assert!(fields.iter().any(|f| f.starts_with(w)), "{prop}: / is not {w}: {out}"),
        }
        // The rootfs itself never becomes a peer of a host mount.
        let root_line = mountinfo_line(&std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap(), "/");
        assert!(!root_line.contains("master:"), "{prop}: {root_line}");
    }
}

// ---- namespaces ----

fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn namespaces_new_ones_differ_from_host() {
    let mut e = Env::new("ns");
    e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    let (pid, out) = observe(
        &mut e,
        "echo $$; ps -o pid,args | awk 'NR>1 {print $1, $2}'; ls /sys/class/net; grep -c : /proc/net/dev",
    );
    // pid: the process is pid 1 of its own namespace; ps shows only this container.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    assert!(lines.contains(&"1 sh"), "{out}");
    // net: only the loopback device.
    assert_eq!(&lines[lines.len() - 2..], ["lo", "1"], "{out}");
    let nspid = status_field(&host_status(pid), "NSpid");
    assert_eq!(nspid, format!("{pid}\t1"));
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "time"] {
        assert_ne!(ns_link(&pid.to_string(), ns), ns_link("self", ns), "{ns} namespace is the host's");
    }
    // Not asked for: the host's user namespace.
    assert_eq!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
}

#[test]
fn namespaces_left_out_are_the_hosts() {
    let mut e = Env::new("nohostns");
    e.config["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid"}]);
    e.config.as_object_mut().unwrap().remove("hostname");
    let (pid, out) = observe(&mut e, "ls /sys/class/net | grep -vc '^lo$'; uname -n");
    assert_ne!(out.lines().next().unwrap(), "0", "no host network devices seen: {out}");
    assert_eq!(out.lines().nth(1).unwrap(), std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim());
    for ns in ["net", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(ns_link(&pid.to_string(), ns), ns_link("self", ns), "{ns} namespace is not the host's");
    }
    assert_ne!(ns_link(&pid.to_string(), "mnt"), ns_link("self", "mnt"));
}

#[test]
fn namespace_time_offsets() {
    let mut e = Env::new("timens");
    e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    let offset = 10 * 86400;
    e.config["linux"]["timeOffsets"] =
        json!({"monotonic": {"secs": offset, "nanosecs": 0}, "boottime": {"secs": offset, "nanosecs": 0}});
    let host_before: f64 =
        std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let (pid, out) = observe(&mut e, "cut -d' ' -f1 /proc/uptime");
    let inside: f64 = out.trim().parse().unwrap();
    let host_after: f64 =
        std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        inside >= host_before + offset as f64 - 1.0 && inside <= host_after + offset as f64 + 1.0,
        "uptime inside {inside}, host {host_before}..{host_after}, offset {offset}"
    );
    let offsets = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    let offsets: Vec<Vec<&str>> = offsets.lines().map(|l| l.split_whitespace().collect()).collect();
    let off = offset.to_string();
    assert!(
        offsets.contains(&vec!["monotonic", &off, "0"]) && offsets.contains(&vec!["boottime", &off, "0"]),
        "{offsets:?}"
    );
}

#[test]
fn namespaces_joined_by_path() {
    let mut a = Env::new("joina");
    a.args(&["sleep", "60"]);
    a.start_running();
    let apid = a.pid();
    let mut b = Env::new("joinb");
    b.config.as_object_mut().unwrap().remove("hostname");
    b.config["linux"]["namespaces"] = json!([
        {"type": "mount"},
        {"type": "network", "path": format!("/proc/{apid}/ns/net")},
        {"type": "ipc", "path": format!("/proc/{apid}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{apid}/ns/uts")},
        {"type": "pid", "path": format!("/proc/{apid}/ns/pid")},
        {"type": "cgroup", "path": format!("/proc/{apid}/ns/cgroup")},
    ]);
    let (bpid, out) = observe(&mut b, "uname -n; echo $$");
    assert_eq!(out.lines().next().unwrap(), "berth", "B does not see A's hostname: {out}");
    assert_ne!(out.lines().nth(1).unwrap(), "1", "B is not in A's pid namespace: {out}");
    for ns in ["net", "ipc", "uts", "pid", "cgroup"] {
        assert_eq!(ns_link(&bpid.to_string(), ns), ns_link(&apid.to_string(), ns), "{ns} not joined");
    }
    assert_ne!(ns_link(&bpid.to_string(), "mnt"), ns_link(&apid.to_string(), "mnt"));
    // A sees B's process in its ps.
    let ps = ok(&a.rt(&["exec", &a.id, "ps", "-o", "pid,args"]));
    assert!(
        ps.lines().any(|l| l.contains("sleep 60")) && ps.lines().filter(|l| l.contains("sleep 60")).count() == 2,
        "{ps}"
    );
}

#[test]
fn user_namespace_with_mappings() {
    let mut e = Env::new("userns");
    e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    e.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    e.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (pid, out) = observe(
        &mut e,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /berth-out/made-inside; cat /etc/passwd | head -1",
    );
    let maps: Vec<Vec<&str>> = out.lines().take(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(maps, [["0", "100000", "65536"], ["0", "100000", "65536"]], "{out}");
    assert_eq!(out.lines().nth(2), Some("0"), "{out}");
    // The rootfs belongs to host root (unmapped) but is world-readable.
    assert_eq!(out.lines().nth(3), Some("root:x:0:0:root:/root:/bin/sh"), "{out}");
    let made = e.dir.path().join("share_berth-out/made-inside");
    let meta = std::fs::metadata(&made).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
    let st = host_status(pid);
    assert_eq!(status_field(&st, "Uid"), "100000\t100000\t100000\t100000");
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
}

// ---- devices ----

#[test]
fn devices_from_config_and_defaults() {
    let mut e = Env::new("dev");
    let path = e.set_cgroups_path();
    e.config["process"]["capabilities"]["bounding"].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
    e.config["process"]["capabilities"]["effective"].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
    e.config["process"]["capabilities"]["permitted"].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
    e.config["linux"]["devices"] =
        json!([{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 5}]);
    add_mount(&mut e, json!({"destination": "/devtest", "type": "tmpfs", "source": "tmpfs"}));
    let (_pid, out) = observe(
        &mut e,
        "stat -c '%n %t:%T %a %g %F' /dev/mydev; head -c 4 /dev/mydev | wc -c; \
         for d in null zero full random urandom tty; do stat -c '%n %t:%T %F' /dev/$d; done; \
         head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; echo x 2>&1 > /dev/full; \
         mknod /devtest/sda b 8 0 2>&1 && head -c 1 /devtest/sda 2>&1; echo done",
    );
    let want = [
        "/dev/mydev 1:5 640 5 character special file",
        "4",
        "/dev/null 1:3 character special file",
        "/dev/zero 1:5 character special file",
        "/dev/full 1:7 character special file",
        "/dev/random 1:8 character special file",
        "/dev/urandom 1:9 character special file",
        "/dev/tty 5:0 character special file",
        "4",
        "null-ok",
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..want.len()], want, "{out}");
    assert!(lines[want.len()].contains("No space left on device"), "{out}");
    assert!(lines[want.len() + 1].contains("Operation not permitted"), "block device 8:0 was usable: {out}");
    let list = std::fs::read_to_string(cgroup_v1_dir("devices", &path).join("devices.list")).unwrap();
    for rule in ["c 1:5 rwm", "c 1:3 rwm", "c 1:9 rwm"] {
        assert!(list.lines().any(|l| l == rule), "no {rule:?} in devices.list:\n{list}");
    }
    assert!(!list.lines().any(|l| l.starts_with("a ") || l.starts_with("b 8:")), "devices.list too wide:\n{list}");
}

// ---- masked/readonly paths, sysctl, personality, annotations ----

#[test]
fn masked_and_readonly_paths() {
    let mut e = Env::new("mask");
    std::fs::write(e.rootfs().join("etc/secret"), "top secret\n").unwrap();
    std::fs::create_dir_all(e.rootfs().join("secretdir")).unwrap();
    std::fs::write(e.rootfs().join("secretdir/f"), "x").unwrap();
    e.config["linux"]["maskedPaths"].as_array_mut().unwrap().extend([json!("/etc/secret"), json!("/secretdir")]);
    e.config["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/dev/shm"));
    let (pid, out) = observe(
        &mut e,
        "wc -c < /etc/secret; wc -c < /proc/keys; ls -A /secretdir | wc -l; ls -A /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/shm_rmid_forced; touch /dev/shm/x; echo end",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], ["0", "0", "0", "0"], "{out}");
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert_eq!(std::fs::read_to_string(e.rootfs().join("etc/secret")).unwrap(), "top secret\n");
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let sys = mountinfo_line(&mi, "/proc/sys");
    assert!(sys.split_whitespace().nth(5).unwrap().split(',').any(|o| o == "ro"), "{sys}");
}

#[test]
fn sysctl_inside_only() {
    let mut e = Env::new("sysctl");
    e.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"});
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let (pid, out) = observe(&mut e, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced");
    assert_eq!(out, "1\n1\n");
    assert_eq!(
        host_sh(&format!("nsenter -t {pid} -n -i cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced")),
        "1\n1\n"
    );
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), host_fwd);
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(), host_shm);
}

#[test]
fn personality_linux32() {
    let mut e = Env::new("pers");
    e.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let (pid, out) = observe(&mut e, "uname -m");
    assert_eq!(out, "i686\n");
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/personality")).unwrap(), "00000008\n");
}

#[test]
fn annotations_in_state() {
    let mut e = Env::new("annot");
    e.config["annotations"] = json!({"org.berth.test": "yes", "com.example/key": "v=1"});
    e.args(&["sleep", "60"]);
    ok(&e.create());
    let st = e.state();
    assert_eq!(st["annotations"], json!({"org.berth.test": "yes", "com.example/key": "v=1"}));
    assert_eq!(st["bundle"], e.bundle_str());
}

// ---- hooks ----

/// A hook running `sh -c` (at `sh`, the host's or the container's) that logs
/// its name, its first argument, $HOOK_ENV and the state from stdin as one line.
fn log_hook(sh: &str, name: &str, log: &str) -> serde_json::Value {
    // One write per hook: startContainer and poststart run concurrently.
    let script = format!("s=$(cat); printf '%s %s %s %s\\n' {name} \"$1\" \"$HOOK_ENV\" \"$s\" >> {log}");
    json!({"path": sh, "args": ["sh", "-c", script, "argv0", format!("arg-{name}")], "env": [format!("HOOK_ENV=env-{name}")]})
}

#[test]
fn hooks_all_six_in_order_with_state_args_env() {
    let mut e = Env::new("hooks");
    let logdir = e.share("/hooklog");
    let host_log = logdir.join("log");
    let hl = host_log.to_str().unwrap();
    e.config["hooks"] = json!({
        "prestart": [log_hook("/bin/sh", "prestart", hl)],
        "createRuntime": [log_hook("/bin/sh", "createRuntime", hl)],
        "createContainer": [log_hook("/bin/sh", "createContainer", hl)],
        // Runs inside the container: its path and the log are the container's.
        "startContainer": [log_hook("/bin/sh", "startContainer", "/hooklog/log")],
        "poststart": [log_hook("/bin/sh", "poststart", hl)],
        "poststop": [log_hook("/bin/sh", "poststop", hl)],
    });
    e.args(&["sleep", "60"]);
    ok(&e.create());
    let pid = e.pid();
    let names = |log: &str| log.lines().map(|l| l.split(' ').next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&std::fs::read_to_string(&host_log).unwrap()), ["prestart", "createRuntime", "createContainer"]);
    ok(&e.rt(&["start", &e.id]));
    assert!(wait_until(Duration::from_secs(3), || names(&std::fs::read_to_string(&host_log).unwrap()).len() == 5));
    ok(&e.rt(&["kill", &e.id, "KILL"]));
    e.wait_status("stopped");
    ok(&e.rt(&["delete", &e.id]));
    let log = std::fs::read_to_string(&host_log).unwrap();
    let got = names(&log);
    assert_eq!(got[..3], ["prestart", "createRuntime", "createContainer"], "{log}");
    // startContainer (in the container, after the fifo) and poststart (in `start`) may interleave.
    let mut mid = got[3..5].to_vec();
    mid.sort();
    assert_eq!(mid, ["poststart", "startContainer"], "{log}");
    assert_eq!(got[5..], ["poststop"], "{log}");
    for line in log.lines() {
        let mut parts = line.splitn(4, ' ');
        let (name, arg, env, state) =
            (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(arg, format!("arg-{name}"));
        assert_eq!(env, format!("env-{name}"));
        let st: serde_json::Value =
            serde_json::from_str(state).unwrap_or_else(|err| panic!("{name}: state {state:?}: {err}"));
        assert_eq!(st["id"], e.id.as_str(), "{name}");
        assert_eq!(st["bundle"], e.bundle_str(), "{name}");
        assert!(st["status"].is_string(), "{name}: {st}");
        assert!(st["ociVersion"].is_string(), "{name}: {st}");
        if name != "poststop" {
            assert_eq!(st["pid"], pid, "{name}: {st}");
        } else {
            assert_eq!(st["status"], "stopped");
        }
    }
}

#[test]
fn hook_timeout_fails_create_and_leaves_nothing() {
    let mut e = Env::new("hooktimeout");
    let path = e.set_cgroups_path();
    e.config["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}]});
    e.args(&["sleep", "60"]);
    let t = std::time::Instant::now();
    let out = e.create();
    assert!(t.elapsed() < Duration::from_secs(4), "create waited for the hook: {:?}", t.elapsed());
    fails_with(&out, "timed out after 1s");
    assert!(!e.root.join(&e.id).exists(), "state left behind");
    assert!(!cgroup_v1_dir("memory", &path).exists(), "cgroup left behind");
    fails_with(&e.rt(&["state", &e.id]), "does not exist");
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    let mut e = Env::new("hookfail");
    let path = e.set_cgroups_path();
    let marker = e.dir.path().join("ran");
    e.config["hooks"] = json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())]}],
    });
    e.args(&["sleep", "60"]);
    let out = e.create();
    fails_with(&out, "/bin/sh");
    assert!(stderr(&out).contains("exit status: 3"), "{}", stderr(&out));
    assert!(!marker.exists(), "a hook after the failing one ran");
    assert!(!e.root.join(&e.id).exists(), "state left behind");
    assert!(!cgroup_v1_dir("pids", &path).exists(), "cgroup left behind");
    let ps = host_sh("ps -eo args");
    assert!(!ps.contains(&e.id), "a process of the container is left: {ps}");
}

#[test]
fn failing_poststart_and_poststop_hooks_only_warn() {
    let mut e = Env::new("hookwarn");
    e.config["hooks"] = json!({
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}],
    });
    e.args(&["sleep", "60"]);
    ok(&e.create());
    let out = e.rt(&["start", &e.id]);
    ok(&out);
    assert!(stderr(&out).contains("level=warning") && stderr(&out).contains("exit status: 4"), "{}", stderr(&out));
    assert_eq!(e.status(), "running");
    let out = e.rt(&["delete", "--force", &e.id]);
    ok(&out);
    assert!(stderr(&out).contains("exit status: 5"), "{}", stderr(&out));
    fails_with(&e.rt(&["state", &e.id]), "does not exist");
}

// ---- seccomp ----

#[test]
fn seccomp_errno_rules_and_arg_conditions() {
    let mut e = Env::new("seccomp");
    e.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
        ],
    });
    let (pid, out) = observe(
        &mut e,
        "mkdir /dev/shm/d 2>&1; touch /dev/shm/f; chmod 777 /dev/shm/f 2>&1; chmod 700 /dev/shm/f && stat -c %a /dev/shm/f; \
         grep Seccomp: /proc/self/status",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Operation not permitted"), "{out}");
    assert!(lines[1].contains("Permission denied"), "{out}");
    assert_eq!(lines[2], "700", "{out}");
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert_eq!(status_field(&host_status(pid), "Seccomp"), "2");
}

#[test]
fn seccomp_default_errno_ret() {
    let mut e = Env::new("seccompdef");
    // An allow list: everything else fails with defaultErrnoRet (EACCES), mkdir included.
    let allowed = [
        "read",
        "write",
        "open",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "stat",
        "lstat",
        "statx",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "access",
        "faccessat",
        "faccessat2",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "prlimit64",
        "fcntl",
        "dup",
        "dup2",
        "dup3",
        "wait4",
        "clone",
        "clone3",
        "fork",
        "vfork",
        "getcwd",
        "chdir",
        "uname",
        "readlink",
        "lseek",
        "pipe",
        "pipe2",
        "getdents64",
        "futex",
        "rseq",
        "capget",
        "capset",
        "setresuid",
        "setresgid",
        "setgroups",
        "setuid",
        "setgid",
        "prctl",
        "close_range",
        "getrandom",
        "sigaltstack",
        "getpgrp",
        "setpgid",
        "getpgid",
        "poll",
        "ppoll",
    ];
    e.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 13,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": allowed.to_vec(), "action": "SCMP_ACT_ALLOW"}],
    });
    let out = run_ok(&mut e, "mkdir /dev/shm/d 2>&1; echo still-running");
    assert!(out.contains("Permission denied"), "{out}");
    assert!(out.ends_with("still-running\n"), "{out}");
}
