//! Resource limits from `run`/`create` flags, as the container sees them and
//! as the kernel enforces them: the values in its cgroup (v1 here, v2 in the
//! guest), a process over its memory limit OOM-killed (exit 137), a fork over
//! the pids limit refused, rlimits, sysctls and the OOM score inside; bad
//! values refused with podman's words, nothing left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// The first of `files` (v1 or v2 name) that the container can read.
fn cgroup_value(files: &[&str]) -> String {
    let reads: Vec<String> = files.iter().map(|f| format!("cat /sys/fs/cgroup/{f} 2>/dev/null")).collect();
    format!("({}) | head -1", reads.join(" || "))
}

#[test]
fn limits_reach_the_cgroup_and_the_process() {
    let (env, _) = Env::with_busybox();
    let script = [
        cgroup_value(&["memory/memory.limit_in_bytes", "memory.max"]),
        cgroup_value(&["cpu/cpu.cfs_quota_us", "cpu.max"]),
        cgroup_value(&["pids/pids.max", "pids.max"]),
        cgroup_value(&["cpu/cpu.shares", "cpu.weight"]),
        "ulimit -n; ulimit -Hn; cat /proc/sys/kernel/shmmax /proc/self/oom_score_adj".to_string(),
    ]
    .join("; ");
    let out = env.ok(&[
        "run",
        "--rm",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "100",
        "--cpu-shares",
        "512",
        "--ulimit",
        "nofile=100:200",
        "--sysctl",
        "kernel.shmmax=123456",
        "--oom-score-adj",
        "200",
        "bb",
        "sh",
        "-c",
        &script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "67108864", "{out}");
    assert!(lines[1] == "150000" || lines[1] == "150000 100000", "{out}");
    assert_eq!(lines[2], "100", "{out}");
    // v1 shares, or v2 weight as the runtime converts them.
    assert!(lines[3] == "512" || lines[3] == "20", "{out}");
    assert_eq!(&lines[4..], ["100", "200", "123456", "200"], "{out}");
    // inspect reports them as podman does.
    let id = env.ok(&["create", "-m", "64m", "--cpus", "1.5", "--pids-limit", "100", "bb", "true"]);
    let f = env.ok(&[
        "inspect", "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.PidsLimit}}",
        id.trim(),
    ]);
    assert_eq!(f, format!("{} {} 1500000000 150000 100\n", 64 << 20, 128 << 20));
    env.ok(&["rm", id.trim()]);
    // podman's default pids limit.
    let out = env.ok(&["run", "--rm", "bb", "sh", "-c", &cgroup_value(&["pids/pids.max", "pids.max"])]);
    assert_eq!(out.trim(), "2048");
}

#[test]
fn limits_are_enforced() {
    let (env, _) = Env::with_busybox();
    // Memory: a shell doubling a string until the OOM killer ends it.
    let o = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "bb",
        "sh",
        "-c",
        "x=aaaaaaaa; while :; do x=$x$x; done",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    // The monitor saw the OOM kill in the cgroup, as podman's inspect says it.
    let f = env.ok(&[
        "inspect",
        "--format",
        "{{.State.OOMKilled}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
        "hog",
    ]);
    assert_eq!(f, format!("true {} {}\n", 16 << 20, 16 << 20));
    // pids: with 5 allowed, the sixth process cannot be forked.
    let o = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait",
    ]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("can't fork") || all.contains("Resource temporarily unavailable"), "{all}");
    env.ok(&["rm", "hog"]);
}

#[test]
fn bad_values_are_refused_in_podmans_words_and_leave_nothing() {
    let (env, _) = Env::with_busybox();
    for (args, msg) in [
        (vec!["-m", "1x"], "Error: invalid value for memory: invalid size: '1x'\n"),
        (vec!["--memory-swap", "1g"], "Error: you should always set a memory limit when using a memoryswap limit, see usage\n"),
        (vec!["-m", "512m", "--memory-swap", "256m"], "Error: minimum memoryswap limit should be larger than memory limit, see usage\n"),
        (vec!["--sysctl", "kernel.x=1"], "Error: sysctl 'kernel.x' is not allowed\n"),
        (vec!["--sysctl", "x"], "Error: x is invalid, sysctl values must be in the form of KEY=VALUE\n"),
        (vec!["--ulimit", "bogus=1:2"], "Error: ulimit option \"bogus=1:2\" requires name=SOFT:HARD, failed to be parsed: invalid ulimit type: bogus\n"),
        (vec!["--device-read-bps", "/dev/nope:1mb"], "Error: could not parse throttle device at /dev/nope: no such file or directory\n"),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend(&args);
        all.extend(["bb", "true"]);
        assert_eq!(env.fails(&all, 125), msg, "{args:?}");
    }
    let e = env.fails(&["run", "--cpus", "x", "bb", "true"], 125);
    assert!(
        e.starts_with(
            "Error: invalid argument \"x\" for \"--cpus\" flag: strconv.ParseFloat: parsing \"x\": invalid syntax"
        ),
        "{e}"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
}
