//! `stats`: the numbers come from the container's cgroup (checked against
//! the files themselves), in podman 4.3's columns, units and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::containers::{eventually, Cleanup};
use common::podman::Podman;
use common::*;

/// A file of the cgroup process `pid` is in for `controller`: the v1
/// hierarchy holding it, else the cgroup2 one.
fn cgroup_file(pid: &str, controller: &str, file: &str) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            return std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{file}")).unwrap();
        }
    }
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let unified = if std::path::Path::new("/sys/fs/cgroup/unified").is_dir() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    std::fs::read_to_string(format!("{unified}{path}/{file}")).unwrap()
}

fn number(text: &str) -> u64 {
    text.trim().parse().unwrap()
}

/// `487.4kB` -> 487400: go-units' decimal sizes back to bytes.
fn bytes_of(human: &str) -> f64 {
    let split = human.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = human.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other}"),
    };
    n.parse::<f64>().unwrap() * scale
}

#[test]
fn stats_numbers_match_the_cgroup_files() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    // sh, three sleeps, dd holding a 30 MB buffer it cannot write, and the
    // sleep that never reads it: 6 processes, 30 MB of anonymous memory.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "256m",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3; do sleep 1000 & done; dd if=/dev/zero bs=30M count=1 | sleep 1000",
    ]);
    env.ok(&["create", "--name", "made", "bb", "true"]);
    let pid = env.ok(&["inspect", "--format", "{{.State.Pid}}", "busy"]).trim().to_string();
    eventually("6 processes", || number(&cgroup_file(&pid, "pids", "pids.current")) == 6);
    // v1: memory.usage_in_bytes; v2: memory.stat's anon (podman 4.3's choice).
    let memory = || match std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap().contains(":memory:") {
        true => number(&cgroup_file(&pid, "memory", "memory.usage_in_bytes")),
        false => cgroup_file(&pid, "memory", "memory.stat")
            .lines()
            .find_map(|l| l.strip_prefix("anon ").map(number))
            .unwrap(),
    };
    eventually("dd's 30 MB", || memory() >= 30 << 20);
    let cpu = || match std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap().contains("cpuacct") {
        true => number(&cgroup_file(&pid, "cpuacct", "cpuacct.usage")),
        false => {
            cgroup_file(&pid, "cpu", "cpu.stat")
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec ").map(number))
                .unwrap()
                * 1000
        }
    };

    let (mem_before, cpu_before) = (memory(), cpu());
    let row = env.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.PIDs}}|{{.PIDS}}|{{.MemUsage}}|{{.MemLimit}}|{{.CPUNano}}|{{.NetIO}}|{{.BlockInput}}|{{.UpTime}}",
        "busy",
    ]);
    let (mem_after, cpu_after) = (memory(), cpu());
    let f: Vec<&str> = row.trim().split('|').collect();
    assert_eq!(&f[..2], ["6", "6"], "{row}");
    assert_eq!(number(&cgroup_file(&pid, "pids", "pids.current")), 6);
    let (usage, limit) = f[2].split_once(" / ").unwrap();
    assert_eq!(limit, "268.4MB", "{row}");
    assert_eq!(f[3], "268435456");
    // Four significant digits of a number between the two readings.
    let usage = bytes_of(usage);
    assert!(
        usage >= mem_before.min(mem_after) as f64 * 0.999 && usage <= mem_before.max(mem_after) as f64 * 1.001,
        "{usage} not within {mem_before}..{mem_after}"
    );
    let cpu_nanos = number(f[4]);
    assert!((cpu_before..=cpu_after).contains(&cpu_nanos), "{cpu_nanos} not within {cpu_before}..={cpu_after}");
    // No interface but lo (--network none): podman's 0B / 0B.
    assert_eq!(f[5], "0B / 0B");
    // Block I/O: what the cgroup's files add up to (read bytes).
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let read_bytes: u64 = if cgroups.contains(":blkio:") {
        cgroup_file(&pid, "blkio", "blkio.throttle.io_service_bytes_recursive")
            .lines()
            .filter_map(|l| l.split_once(" Read ").map(|(_, n)| number(n)))
            .sum()
    } else {
        cgroup_file(&pid, "io", "io.stat")
            .split_whitespace()
            .filter_map(|kv| kv.strip_prefix("rbytes=").map(number))
            .sum()
    };
    assert_eq!(number(f[6]), read_bytes, "{row}");
    assert!(f[7].ends_with('s'), "a Go duration: {row}");

    // The default table: podman's header, and (as podman 4.3 does, with or
    // without --all) every container.
    let table = env.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>().join(" "),
        "ID NAME CPU % MEM USAGE / LIMIT MEM % NET IO BLOCK IO PIDS CPU TIME AVG CPU %"
    );
    assert!(lines.iter().any(|l| l.contains(" busy ") && l.contains("/ 268.4MB")), "{table}");
    // A container that does not run: a row of zeros (with -a, or named).
    let made = env.ok(&["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}} {{.CPUPerc}}"]);
    assert!(made.lines().any(|l| l == "made 0 0B / 0B 0.00%"), "{made}");
    assert_eq!(made.lines().count(), 2);
    assert_eq!(env.ok(&["stats", "--no-stream", "-l", "--format", "{{.Name}}"]), "made\n");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["stats", "--no-stream", "--format", "json"])).unwrap();
    let busy = json.as_array().unwrap().iter().find(|r| r["name"] == "busy").unwrap();
    assert_eq!(busy["pids"], "6");
    assert_eq!(
        busy.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
        ["id", "name", "cpu_time", "cpu_percent", "avg_cpu", "mem_usage", "mem_percent", "net_io", "block_io", "pids"]
    );
}

#[test]
fn stats_beside_podman() {
    require_root();
    let env = Env::new();
    let _cleanup = Cleanup(&env);
    let podman = Podman::beside(&env);
    for args in [
        &["run", "-d", "--pull=never", "--name", "three", "localhost/bb", "sh", "-c", "sleep 1000 & sleep 1000 & wait"]
            [..],
        &["create", "--pull=never", "--name", "made", "localhost/bb", "true"],
    ] {
        env.ok(args);
        podman.ok(args);
    }
    let pids = |out: String| out.trim() == "three 3";
    eventually("3 processes in berth's", || {
        pids(env.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "three"]))
    });
    eventually("3 processes in podman's", || {
        pids(podman.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "three"]))
    });
    // The same text on both sides (podman lists by ID, which differ: sorted).
    let sorted = |out: String| {
        let mut l: Vec<String> = out.lines().map(String::from).collect();
        l.sort();
        l
    };
    for args in [
        &["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "three"][..],
        &["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.PIDS}} {{.NetIO}} {{.BlockIO}} {{.MemLimit}}"],
        &["stats", "--no-stream", "--format", "table {{.Name}} {{.PIDs}}"],
        &["stats", "--no-stream", "--format", "table {{.Name}}\t{{.NetIO}}\t{{.BlockIO}}", "made"],
        &["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.CPUPerc}} {{.UpTime}}", "made"],
    ] {
        assert_eq!(sorted(env.ok(args)), sorted(podman.ok(args)), "{args:?}");
    }
    // The default table's header, title for title (the widths follow the
    // CPU times, which differ).
    let header = |out: String| -> Vec<String> {
        out.lines().next().unwrap().split("  ").map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
    };
    assert_eq!(header(env.ok(&["stats", "--no-stream"])), header(podman.ok(&["stats", "--no-stream"])));
    // JSON: the same keys in the same order, one-space indents.
    let keys = |out: String| -> Vec<String> {
        out.lines().filter(|l| l.starts_with("  \"")).map(|l| l.split(':').next().unwrap().to_string()).collect()
    };
    assert_eq!(
        keys(env.ok(&["stats", "--no-stream", "--format", "json"])),
        keys(podman.ok(&["stats", "--no-stream", "--format", "json"]))
    );
    // A container that does not run: the whole JSON alike, IDs aside.
    let made = ["stats", "--no-stream", "--format", "json", "made"];
    assert_eq!(common::podman::masked(&env.ok(&made)), common::podman::masked(&podman.ok(&made)));
    // Errors: podman's words and exit codes.
    for args in [
        &["stats", "--no-stream", "nothere"][..],
        &["stats", "--no-stream", "-i", "0"],
        &["stats", "--no-stream", "-a", "three"],
        &["stats", "--no-stream", "--format", "{{.Foo}}", "three"],
    ] {
        common::podman::same_failure(&env, &podman, args);
    }
}

#[test]
fn stats_streams_a_report_per_interval() {
    require_root();
    let (env, _) = Env::with_busybox();
    let _cleanup = Cleanup(&env);
    env.ok(&["run", "-d", "--name", "ticker", "bb", "sleep", "100"]);
    // Reports at once, then every second, until stopped (podman's shape in a
    // pipe: no screen resets).
    let mut child = env
        .cmd(&["stats", "-i", "1", "--format", "{{.Name}} {{.PIDs}}", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    let out = stdout(&child.wait_with_output().unwrap());
    // Two or three reports (the first waits for berth to start), alike.
    assert!((2..=3).contains(&out.lines().count()), "{out:?}");
    assert!(out.lines().all(|l| l == "ticker 1"), "{out:?}");
}
