//! The runtime's mount and device code, attacked and fed bad input for real:
//! a renamer racing a read-only bind in a shared volume, device paths that
//! leave /dev, FIFOs in linux.devices, a mount label on a host without
//! SELinux, and what `features` claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

fn add_mount(e: &mut Env, m: Value) {
    e.config["mounts"].as_array_mut().expect("mounts").push(m);
}

/// mountinfo as mount id => (mount point, per-mount options, super options).
fn mounts_by_id(text: &str) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() >= 6 && post.len() >= 3 {
            out.insert(pre[0].to_string(), (pre[4].to_string(), pre[5].to_string(), post[2].to_string()));
        }
    }
    out
}

fn host_mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Nothing of `e`'s container remains: state dir, cgroup, mounts of the bundle.
#[track_caller]
fn assert_nothing_left(e: &Env, cgroups_path: &str) {
    assert!(!e.root.join(&e.id).exists(), "state dir of {} left behind", e.id);
    for ctrl in ["memory", "pids", "freezer", "devices", "unified"] {
        let d = cgroup_v1_dir(ctrl, cgroups_path);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let bundle = e.bundle.to_str().unwrap();
    assert!(!host_mountinfo().lines().any(|l| l.contains(bundle)), "a mount of {bundle} left behind");
}

// ------------------------------------------------- CVE-2021-30465 class

/// A read-only bind whose destination goes through `d`, an entry of a volume
/// that the container shares with others, while a racer keeps turning `d`
/// from a link into the volume ("real", where the destination should be)
/// into a link to somewhere else: an absolute host path that, inside the
/// container, names the mount point of a tmpfs. A runtime that binds, then
/// looks the destination up again to make it read-only, sometimes remounts
/// that tmpfs read-only and leaves the volume's bind writable (or, on the
/// host, would touch the host's directory). berth must leave the source
/// read-only wherever the bind landed, change nothing else, and nothing on
/// the host.
///
/// The entry flips between two symlinks with rename(2): that is the atomic
/// form of the dir <-> symlink swap (rename cannot replace a directory by a
/// symlink in one step, and a moment without `d` would only make the runtime
/// create a fresh directory there).
#[test]
fn ro_bind_through_a_racing_renamer_stays_read_only_and_changes_nothing_else() {
    const RUNS: usize = 120;
    let mut e = Env::new("race");
    let base = e.dir.path().to_path_buf();
    let vol = base.join("vol");
    std::fs::create_dir_all(vol.join("real/ro")).unwrap();
    // Elsewhere: a host directory, and (the same absolute path) a tmpfs mount point in the container.
    let elsewhere = base.join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("ro")).unwrap();
    let src = base.join("ro-src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("marker"), "source").unwrap();
    std::os::unix::fs::symlink("real", vol.join("d")).unwrap();

    let ew = elsewhere.to_str().unwrap();
    add_mount(&mut e, json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rw"]}));
    add_mount(
        &mut e,
        json!({"destination": format!("{ew}/ro"), "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}),
    );
    add_mount(&mut e, json!({"destination": "/vol/d/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
    // Wherever the source landed it is read-only; every other candidate stays writable.
    e.sh(&format!(
        "for l in /vol/real/ro {ew}/ro; do \
           if [ -e $l/marker ]; then echo at $l; \
             if touch $l/probe 2>/dev/null; then echo SOURCE-WRITABLE $l; fi; \
           elif touch $l/probe; then rm -f $l/probe; else echo OTHER-READ-ONLY $l; fi; \
         done"
    ));
    e.config["root"]["readonly"] = json!(false);

    let before = mounts_by_id(&host_mountinfo());
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let racer = {
        let (stop, flips, vol, ew) = (stop.clone(), flips.clone(), vol.clone(), ew.to_string());
        std::thread::spawn(move || {
            let tmp = vol.join("d.tmp");
            while !stop.load(Ordering::Relaxed) {
                for target in [ew.as_str(), "real"] {
                    let _ = std::fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(target, &tmp).unwrap();
                    std::fs::rename(&tmp, vol.join("d")).unwrap();
                    flips.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut failures = Vec::new();
    let mut landed_elsewhere = 0;
    let (at_real, at_elsewhere) = ("at /vol/real/ro".to_string(), format!("at {ew}/ro"));
    for i in 0..RUNS {
        e.id = unique_id("race");
        let out = e.run();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        let text = text.trim_end();
        if !out.status.success() || (text != at_real && text != at_elsewhere) {
            failures.push(format!("run {i}: {:?}: {text}", out.status));
        }
        landed_elsewhere += usize::from(text == at_elsewhere);
        // Neither host side of the race was mounted on or made read-only.
        assert!(std::fs::write(elsewhere.join("ro/host-probe"), "x").is_ok(), "host {ew}/ro became read-only");
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    let flips = flips.load(Ordering::Relaxed);
    assert!(flips > RUNS * 10, "the racer flipped only {flips} times: no race was run");
    assert!(failures.is_empty(), "{} of {RUNS} runs went wrong:\n{}", failures.len(), failures.join("\n"));

    // The host: no mount under the test's directory, and no mount that
    // existed before had its flags changed. (Mounts in scratch places are
    // other tests' business: they come and go while this one runs.)
    let after_text = host_mountinfo();
    let base_s = base.to_str().unwrap();
    assert!(!after_text.lines().any(|l| l.contains(base_s)), "a host mount under {base_s}:\n{after_text}");
    let after = mounts_by_id(&after_text);
    let scratch = ["/tmp/", "/var/tmp/", "/run/", "/var/lib/containers/", "/work/"];
    let mut compared = 0;
    for (id, was) in before.iter().filter(|(_, (point, _, _))| !scratch.iter().any(|s| point.starts_with(s))) {
        if let Some(now) = after.get(id) {
            assert_eq!(now, was, "host mount {id} changed");
            compared += 1;
        }
    }
    assert!(compared >= 5, "only {compared} host mounts compared");
    eprintln!("{RUNS} runs, {flips} flips, source reached through the other link {landed_elsewhere} times");
}

/// A proc mount whose destination goes through `d`, an entry of a shared
/// volume that a racer keeps exchanging (renameat2 RENAME_EXCHANGE: atomic)
/// between a real directory and a symlink to `/alt`. proc must land on a
/// real directory reached through no symlink: in the volume, or not at all
/// (refused). A runtime that checks the path for symlinks, then looks it up
/// again to mount, sometimes mounts a second, unmasked procfs at `/alt/p`.
#[test]
fn proc_destination_through_a_racing_renamer_never_lands_elsewhere() {
    const RUNS: usize = 60;
    let mut e = Env::new("procrace");
    let vol = e.dir.path().join("vol");
    std::fs::create_dir_all(vol.join("d/p")).unwrap();
    std::os::unix::fs::symlink("/alt", vol.join("link")).unwrap();
    std::fs::create_dir_all(e.rootfs().join("alt/p")).unwrap();
    add_mount(&mut e, json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "rw"]}));
    add_mount(&mut e, json!({"destination": "/vol/d/p", "type": "proc", "source": "proc"}));
    // Where procfs is mounted, from the mount table (the racer still runs:
    // a path through the volume may not lead where it did at mount time).
    e.sh("grep ' - proc ' /proc/self/mountinfo | cut -d' ' -f5 | grep -v '^/proc' | sed 's,^/vol/.*,in-volume,'");

    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let racer = {
        let (stop, flips, vol) = (stop.clone(), flips.clone(), vol.clone());
        std::thread::spawn(move || {
            let (d, link) = (vol.join("d"), vol.join("link"));
            while !stop.load(Ordering::Relaxed) {
                let cwd = rustix::fs::CWD;
                rustix::fs::renameat_with(cwd, &d, cwd, &link, rustix::fs::RenameFlags::EXCHANGE).unwrap();
                flips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let (mut escaped, mut in_volume, mut refused) = (Vec::new(), 0, 0);
    for i in 0..RUNS {
        e.id = unique_id("procrace");
        let out = e.run();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if out.status.success() && text.trim() == "in-volume" {
            in_volume += 1;
        } else if !out.status.success() && text.contains("goes through symlink") {
            refused += 1;
        } else {
            escaped.push(format!("run {i}: {:?}: {}", out.status, text.trim()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    let flips = flips.load(Ordering::Relaxed);
    assert!(flips > RUNS * 10, "the racer flipped only {flips} times: no race was run");
    assert!(
        escaped.is_empty(),
        "proc landed elsewhere ({in_volume} in the volume, {refused} refused):\n{}",
        escaped.join("\n")
    );
    assert!(in_volume > 0 && refused > 0, "no race seen: {in_volume} in the volume, {refused} refused");
    eprintln!("{RUNS} runs, {flips} flips: {in_volume} in the volume, {refused} refused");
}

/// A bind whose source a racer keeps exchanging between a directory and a
/// file (renameat2 RENAME_EXCHANGE): the destination is made to match what
/// was bound, whichever it was. A runtime that looks the source up once to
/// decide and again to bind sometimes makes a directory and binds a file
/// onto it, or the reverse, and fails.
#[test]
fn bind_source_swapped_between_dir_and_file_always_binds() {
    const RUNS: usize = 40;
    let mut e = Env::new("srcrace");
    let base = e.dir.path().to_path_buf();
    std::fs::create_dir(base.join("src")).unwrap();
    std::fs::write(base.join("src/marker"), "in-dir").unwrap();
    std::fs::write(base.join("other"), "a-file").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let racer = {
        let (stop, flips, base) = (stop.clone(), flips.clone(), base.clone());
        std::thread::spawn(move || {
            let (src, other) = (base.join("src"), base.join("other"));
            while !stop.load(Ordering::Relaxed) {
                let cwd = rustix::fs::CWD;
                rustix::fs::renameat_with(cwd, &src, cwd, &other, rustix::fs::RenameFlags::EXCHANGE).unwrap();
                flips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut failures = Vec::new();
    let mounts = e.config["mounts"].clone();
    for i in 0..RUNS {
        // A fresh destination each run: what one run made must not decide the next.
        e.config["mounts"] = mounts.clone();
        let dest = format!("/b{i}");
        add_mount(
            &mut e,
            json!({"destination": dest, "type": "bind", "source": base.join("src"), "options": ["bind"]}),
        );
        e.sh(&format!("cat {dest}/marker 2>/dev/null || cat {dest}"));
        e.id = unique_id("srcrace");
        let out = e.run();
        let text = stdout(&out);
        if !out.status.success() || !matches!(text.trim(), "in-dir" | "a-file") {
            failures.push(format!("run {i}: {:?}: {}{}", out.status, text.trim(), stderr(&out).trim()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    let flips = flips.load(Ordering::Relaxed);
    assert!(flips > RUNS * 10, "the racer flipped only {flips} times: no race was run");
    assert!(failures.is_empty(), "{} of {RUNS} runs failed:\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------- devices

#[test]
fn device_path_leaving_dev_is_refused_and_nothing_is_made() {
    for (bad, inside) in
        [("/dev/../etc/shadow", "etc/shadow"), ("/dev/net/../../etc/berth-dev-escape", "etc/berth-dev-escape")]
    {
        let mut e = Env::new("devesc");
        let target = e.rootfs().join(inside);
        let before = std::fs::symlink_metadata(&target).ok().map(|m| (m.file_type(), m.len()));
        let cg = e.set_cgroups_path();
        e.config["linux"]["devices"] = json!([{"path": bad, "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
        fails_with(&e.create(), "must be a path under /dev");
        let after = std::fs::symlink_metadata(&target).ok().map(|m| (m.file_type(), m.len()));
        assert_eq!(before, after, "{} was touched", target.display());
        assert!(!Path::new("/etc/berth-dev-escape").exists());
        assert_nothing_left(&e, &cg);
    }
}

#[test]
fn fifo_device_is_created_and_gets_no_cgroup_rule() {
    let mut e = Env::new("fifo");
    let cg = e.set_cgroups_path();
    e.config["linux"]["devices"] =
        json!([{"path": "/dev/myfifo", "type": "p", "major": 8, "minor": 666, "fileMode": 420}]);
    e.sh("test -p /dev/myfifo && stat -c '%a %F' /dev/myfifo && cat /sys/fs/cgroup/devices/devices.list");
    let out = ok(&e.run());
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("644 fifo"), "{out}");
    // The default rules are there (the cgroup was written), none for the FIFO.
    let rules: Vec<&str> = lines.collect();
    assert!(rules.contains(&"c 1:3 rwm"), "{out}");
    assert!(!rules.iter().any(|r| r.starts_with('p') || r.contains("8:666")), "{out}");
    assert!(!cgroup_v1_dir("devices", &cg).exists());
}

// ------------------------------------------------------------- SELinux

#[test]
fn mount_label_without_selinux_is_refused_and_leaves_nothing() {
    assert!(!Path::new("/sys/fs/selinux/enforce").exists(), "this test expects a host without SELinux");
    let mut e = Env::new("mntlabel");
    let cg = e.set_cgroups_path();
    e.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    fails_with(&e.create(), "SELinux is not enabled on this host");
    assert_nothing_left(&e, &cg);
}

#[test]
fn features_report_what_berth_applies() {
    require_root();
    let out = run_capture(std::process::Command::new(BIN).arg("features"));
    let f: Value = serde_json::from_str(&ok(&out)).unwrap();
    let linux = &f["linux"];
    // This host has neither module: berth refuses labels and profiles here,
    // so it must not claim to apply them.
    assert!(!Path::new("/sys/kernel/security/apparmor").exists() && !Path::new("/sys/fs/selinux/enforce").exists());
    assert_eq!(linux["selinux"], json!({"enabled": false}));
    assert_eq!(linux["apparmor"], json!({"enabled": false}));
    assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], json!(true));
    let opts: Vec<&str> = f["mountOptions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let want = [
        "async",
        "atime",
        "bind",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "idmap",
        "loud",
        "mand",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "nomand",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "private",
        "rbind",
        "relatime",
        "remount",
        "ridmap",
        "ro",
        "rprivate",
        "rshared",
        "rslave",
        "runbindable",
        "rw",
        "shared",
        "silent",
        "slave",
        "strictatime",
        "suid",
        "sync",
        "unbindable",
    ];
    assert_eq!(opts, want);
}

/// Every per-mount option `features` advertises works on a real bind.
#[test]
fn advertised_bind_options_apply() {
    let mut e = Env::new("bindopts");
    let src = e.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for (dest, opts) in [
        ("/o1", json!(["rbind", "ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"])),
        ("/o2", json!(["bind", "rw", "suid", "dev", "exec", "strictatime", "diratime", "rprivate"])),
        ("/o3", json!(["rbind", "relatime", "runbindable"])),
    ] {
        add_mount(&mut e, json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    e.sh("for d in /o1 /o2 /o3; do grep \" $d \" /proc/self/mountinfo | cut -d' ' -f6-7; done");
    let out = ok(&e.run());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let opts = |l: &str| l.split(' ').next().unwrap().split(',').map(String::from).collect::<Vec<_>>();
    let o1 = opts(lines[0]);
    for f in ["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"] {
        assert!(o1.iter().any(|o| o == f), "/o1 lacks {f}: {out}");
    }
    let o2 = opts(lines[1]);
    assert!(o2.iter().any(|o| o == "rw") && !o2.iter().any(|o| o.starts_with("no") || o == "relatime"), "/o2: {out}");
    assert!(opts(lines[2]).iter().any(|o| o == "relatime"), "/o3: {out}");
    assert!(lines[2].ends_with("unbindable"), "/o3 propagation: {out}");
}

/// A host mount, unmounted when dropped.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn tmpfs(at: &Path, options: &str) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        let st = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(at).status();
        assert!(st.unwrap().success(), "mount tmpfs on {}", at.display());
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// In a user namespace the kernel locks the flags a bind inherits from the
/// host (nosuid, nodev, noexec here). A read-only bind keeps them (only
/// what the config sets is changed); a config that asks to clear one is
/// refused in one line, as runc refuses it.
#[test]
fn bind_in_a_user_namespace_keeps_locked_flags_and_refuses_to_clear_them() {
    for (opts, want) in
        [(json!(["rbind", "ro"]), None), (json!(["rbind", "ro", "suid"]), Some("Operation not permitted"))]
    {
        let mut e = Env::new("locked");
        let src = HostMount::tmpfs(&e.dir.path().join("locked-src"), "nosuid,nodev,noexec,mode=755");
        // The container's root cannot create it in the (host root's) rootfs.
        std::fs::create_dir(e.rootfs().join("locked")).unwrap();
        e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        e.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        e.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        add_mount(&mut e, json!({"destination": "/locked", "type": "bind", "source": src.0, "options": opts}));
        e.sh("grep ' /locked ' /proc/self/mountinfo | cut -d' ' -f6");
        let out = e.run();
        match want {
            None => {
                let flags: Vec<String> = ok(&out).trim().split(',').map(String::from).collect();
                for f in ["ro", "nosuid", "nodev", "noexec"] {
                    assert!(flags.iter().any(|x| x == f), "{opts}: /locked lacks {f}: {flags:?}");
                }
            }
            Some(why) => fails_with(&out, why),
        }
    }
}

// ------------------------------------------------------- idmapped binds

/// Idmapped binds, asked for the three ways there are: a mount's
/// `uidMappings`/`gidMappings` (runtime-spec 1.1), crun's
/// `idmap=uids=...;gids=...` option (what podman writes), and `idmap` alone
/// in a container with a user namespace (its maps). An owner A+i on disk
/// shows as B+i for a map `A B N`, one outside it as 65534; what the
/// container makes through the mount lands mapped back on disk. A mount
/// with one map only is refused in one line, and nothing is left.
#[test]
fn idmapped_binds_show_and_make_owners_through_their_maps() {
    let map = |c: u32, h: u32, n: u32| json!([{"containerID": c, "hostID": h, "size": n}]);
    let cases = [
        (json!({"options": ["rbind"], "uidMappings": map(0, 1000, 10), "gidMappings": map(0, 2000, 10)}), false),
        (json!({"options": ["rbind", "idmap=uids=0-1000-10;gids=0-2000-10"]}), false),
        (json!({"options": ["rbind", "idmap"]}), true),
    ];
    for (extra, userns) in cases {
        let mut e = Env::new("idmap");
        let src = e.dir.path().join("idsrc");
        std::fs::create_dir(&src).unwrap();
        for (name, uid, gid) in [("zero", 0, 0), ("five", 5, 7), ("far", 1005, 2007)] {
            std::fs::write(src.join(name), name).unwrap();
            std::os::unix::fs::chown(src.join(name), Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let mut m = json!({"destination": "/idm", "type": "bind", "source": src});
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        add_mount(&mut e, m);
        if userns {
            // The container's own maps: 0-9 inside are 1000-1009 / 2000-2009 outside.
            std::fs::create_dir(e.rootfs().join("idm")).unwrap();
            e.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
            e.config["linux"]["uidMappings"] = map(0, 1000, 10);
            e.config["linux"]["gidMappings"] = map(0, 2000, 10);
        }
        e.sh("stat -c '%n %u:%g' /idm/zero /idm/five /idm/far && touch /idm/made");
        if !userns {
            // Who makes a file shows as 1005:2007 on it: 5:7 on disk.
            e.config["process"]["user"] = json!({"uid": 1005, "gid": 2007});
        }
        let out = ok(&e.run());
        let made = std::fs::metadata(src.join("made")).unwrap();
        if userns {
            // With the container's own maps, the disk's ids are the
            // container's: its root owns the disk's root files, and makes them.
            assert_eq!(out, "/idm/zero 0:0\n/idm/five 5:7\n/idm/far 65534:65534\n");
            assert_eq!((made.uid(), made.gid()), (0, 0));
        } else {
            assert_eq!(out, "/idm/zero 1000:2000\n/idm/five 1005:2007\n/idm/far 65534:65534\n", "{extra}");
            assert_eq!((made.uid(), made.gid()), (5, 7), "{extra}");
        }
    }
    let mut e = Env::new("idmap1");
    let src = e.dir.path().join("idsrc");
    std::fs::create_dir(&src).unwrap();
    add_mount(
        &mut e,
        json!({"destination": "/idm", "type": "bind", "source": src, "options": ["rbind"], "uidMappings": map(0, 1000, 10)}),
    );
    e.sh("true");
    fails_with(&e.run(), "an idmapped mount needs both uid and gid mappings");
}

// ------------------------------------------- kernels without mount_setattr

/// A classic BPF program answering ENOSYS to mount_setattr(2) and allowing
/// everything else: what a kernel before 5.12 answers.
fn no_mount_setattr_filter() -> Vec<u8> {
    // x86_64's syscall number (the test suite runs there).
    const SYS_MOUNT_SETATTR: u32 = 442;
    let insn = |code: u16, jt: u8, jf: u8, k: u32| {
        let mut v = code.to_ne_bytes().to_vec();
        v.extend_from_slice(&[jt, jf]);
        v.extend_from_slice(&k.to_ne_bytes());
        v
    };
    let enosys = rustix::io::Errno::NOSYS.raw_os_error() as u32;
    [
        insn(0x20, 0, 0, 0),                    // ld [nr]
        insn(0x15, 0, 1, SYS_MOUNT_SETATTR),    // jeq mount_setattr
        insn(0x06, 0, 0, 0x0005_0000 | enosys), // ret ERRNO(ENOSYS)
        insn(0x06, 0, 0, 0x7fff_0000),          // ret ALLOW
    ]
    .concat()
}

/// On kernels without mount_setattr (before 5.12) every mount still gets its
/// flags and propagation, through the fallback (attach, then mount(2) on the
/// mount's own fd): the runtime runs under a filter that answers ENOSYS to
/// mount_setattr. A read-only bind with propagation, the read-only and
/// masked paths, a read-only root, rootfsPropagation "rshared"; and the same
/// without a /proc in the container.
#[cfg(target_arch = "x86_64")]
#[test]
fn without_mount_setattr_every_mount_still_gets_its_flags() {
    use std::os::unix::process::CommandExt;
    let filter = no_mount_setattr_filter();
    for with_proc in [true, false] {
        let mut e = Env::new("nosetattr");
        let src = e.dir.path().join("ro-src");
        std::fs::create_dir(&src).unwrap();
        add_mount(
            &mut e,
            json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro", "rprivate"]}),
        );
        e.config["root"]["readonly"] = json!(true);
        e.config["linux"]["rootfsPropagation"] = json!("rshared");
        let script = if with_proc {
            // The masked kcore is /dev/null (empty); /proc/sys is read-only.
            "touch /ro/x 2>/dev/null && echo RO-WRITABLE; touch /x 2>/dev/null && echo ROOT-WRITABLE; \
             [ -s /proc/kcore ] && echo KCORE-UNMASKED; \
             echo x 2>/dev/null > /proc/sys/kernel/domainname && echo PROC-SYS-WRITABLE; \
             awk '$5 == \"/\"' /proc/self/mountinfo | grep -q ' shared:' || echo ROOT-NOT-SHARED; echo done"
        } else {
            "touch /ro/x 2>/dev/null && echo RO-WRITABLE; touch /x 2>/dev/null && echo ROOT-WRITABLE; echo done"
        };
        e.sh(script);
        if !with_proc {
            let mounts = e.config["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != "/proc");
            e.config["linux"]["maskedPaths"] = json!([]);
            e.config["linux"]["readonlyPaths"] = json!([]);
        }
        e.write_config();
        let mut cmd = e.cmd();
        cmd.args(["run", "--bundle", e.bundle.to_str().unwrap(), &e.id]);
        let prog = filter.clone();
        // SAFETY: between fork and exec the child only makes the seccomp(2)
        // call (no allocation: the program is already built).
        unsafe {
            cmd.pre_exec(move || sys::seccomp::set_mode_filter(&prog, 0));
        }
        let out = run_capture(&mut cmd);
        assert_eq!(ok(&out).trim(), "done", "with /proc: {with_proc}: {}", stderr(&out));
    }
}
