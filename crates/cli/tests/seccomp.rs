//! Docker's default seccomp profile, seen from inside real containers (run
//! as root): the filter is on, what it refuses fails with EPERM, and what
//! ordinary programs do (busybox's applets) still works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// `berth run --rm bb sh -c script`: (exit code, stdout, stderr).
fn sh(env: &Env, script: &str) -> (i32, String, String) {
    let o = env.run(&["run", "--rm", "bb", "sh", "-c", script]);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// Run `script`, which must succeed; returns its stdout.
fn sh_ok(env: &Env, script: &str) -> String {
    let (code, out, err) = sh(env, script);
    assert_eq!(code, 0, "{script}\nstdout: {out}\nstderr: {err}");
    out
}

#[test]
fn the_container_runs_under_a_seccomp_filter() {
    let env = Env::with_busybox().0;
    let out = sh_ok(&env, "grep -E '^Seccomp(_filters)?:' /proc/self/status");
    let fields: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    // Mode 2 is "filter"; exactly one filter (ours) is stacked.
    assert_eq!(fields, vec![vec!["Seccomp:", "2"], vec!["Seccomp_filters:", "1"]], "{out}");

    // The profile is in the bundle's config.json, as runc-style runtimes expect.
    let id = env.ok(&["create", "bb", "true"]).trim().to_string();
    let config = std::fs::read_to_string(env.root.join("container-data").join(&id).join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let seccomp = &config["linux"]["seccomp"];
    assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ERRNO", "{seccomp}");
    assert_eq!(seccomp["defaultErrnoRet"], 1);
    env.ok(&["rm", &id]);
}

#[test]
fn namespaces_mounts_and_other_privileged_calls_are_refused() {
    let env = Env::with_busybox().0;
    for cmd in [
        // A user namespace needs no capability: only seccomp stops it.
        "unshare -U true",
        "unshare -m true",
        "unshare -n true",
        "mount -t tmpfs x /tmp",
        "umount /proc",
        "swapoff /tmp",
        "reboot -f",
        // ADDR_NO_RANDOMIZE is not one of the allowed personalities.
        "linux64 -R true",
    ] {
        let (code, out, err) = sh(&env, &format!("{cmd}; echo status=$?"));
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(!out.contains("status=0"), "{cmd} succeeded: {out} {err}");
        // busybox mount words EPERM its own way.
        let eperm = if cmd.starts_with("mount") { "permission denied" } else { "Operation not permitted" };
        assert!(err.contains(eperm), "{cmd}: stdout {out} stderr {err}");
    }
    // Nothing happened to the container's mounts.
    let out = sh_ok(&env, "grep -c ' /tmp ' /proc/mounts || true");
    assert_eq!(out.trim(), "0");
}

#[test]
fn everyday_commands_work() {
    let env = Env::with_busybox().0;
    let out = sh_ok(&env, "echo ok; ls /; date; sleep 0.1");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("ok"));
    assert!(out.lines().any(|l| l == "bin"), "{out}");

    // A tour of busybox applets and shell features over the syscalls
    // programs commonly use: files, xattr-free metadata, pipes, fifos,
    // signals, job control, timers, /proc, scheduling, sockets.
    let script = r#"
set -e
cd /tmp
echo hello > a; cp a b; mv b c; ln -s c d; ln c e; cat d e | wc -l
mkdir -p x/y/z; touch -d '2020-01-02 03:04:05' x/y/z/f; find x -type f
stat -c '%s %a' a; chmod 600 a; chown 1:1 a; stat -c '%a %u' a
truncate -s 4096 big; dd if=/dev/zero of=big bs=512 count=2 conv=notrunc 2>/dev/null; stat -c %s big
fallocate -l 8192 big2 && stat -c %s big2
tar -cf t.tar x a; tar -tf t.tar | sort | head -n 1; gzip -k t.tar; zcat t.tar.gz | md5sum | cut -c1-8
sha256sum a | cut -c1-8; seq 1 1000 | sort -rn | head -n 1; seq 10 | xargs -n 5 echo | tail -n 1
printf 'b\na\n' | sort | uniq | tr a-z A-Z | paste -s -d,
mkfifo p; (echo via-fifo > p &); cat p
mknod nul c 1 3 && echo null-node
sleep 5 & pid=$!; kill $pid; wait $pid || echo killed=$?
trap 'echo trapped' USR1; kill -USR1 $$
timeout 1 sleep 3 || echo timeout=$?
renice -n 2 $$ >/dev/null && echo niced
taskset -p $$ >/dev/null && echo affinity
ionice -c 2 -n 4 true && echo ioniced
linux32 uname -m; linux64 uname -m
chroot / true && echo chrooted
ps -o pid,comm | grep -c sh
free >/dev/null && uptime >/dev/null && nproc >/dev/null && df / >/dev/null && du -s /bin >/dev/null && echo sysinfo
ip link show lo | head -n 1 | cut -d' ' -f2
id -u; whoami; hostname >/dev/null; uname -s; env | grep -c PATH
awk 'BEGIN { print 6 * 7 }'; echo 'x=1' | sed 's/1/2/'; expr 2 + 3
(echo sub; exit 3) || echo sub=$?
yes | head -n 2 | wc -l
sync; rm -rf x a c d e t.tar t.tar.gz big big2 p nul
echo done
"#;
    let out = sh_ok(&env, script);
    let expected = "2\nx/y/z/f\n6 644\n600 1\n4096\n8192\na\n";
    assert!(out.starts_with(expected), "{out}");
    for want in [
        "via-fifo",
        "null-node",
        "killed=143",
        "trapped",
        "timeout=143",
        "niced",
        "affinity",
        "ioniced",
        "i686",
        "x86_64",
        "chrooted",
        "sysinfo",
        "lo:",
        "Linux",
        "42",
        "x=2",
        "5",
        "sub=3",
        "A,B",
        "1000",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in:\n{out}");
    }
    assert!(out.ends_with("done\n"), "{out}");
}
