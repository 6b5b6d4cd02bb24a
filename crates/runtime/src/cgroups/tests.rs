//! Manager tests: fake v2, v1 and hybrid trees in a tempdir (the "kernel"
//! is a set of plain files, so each assertion reads what we last wrote),
//! the real mountinfo of this machine, and one end-to-end run against the
//! real cgroupfs when running as root.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::*;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// Create `dir` with the given files, like the kernel populates a new cgroup.
fn populate(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

// ------------------------------------------------------------------ v2

const V2_MOUNTINFO: &str = "\
25 1 253:1 / / rw,relatime - ext4 /dev/vda1 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

fn v2_leaf_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cgroup.controllers", "cpuset cpu io memory hugetlb pids"),
        ("cgroup.subtree_control", ""),
        ("cgroup.procs", ""),
        ("cgroup.freeze", "0\n"),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
        ("memory.max", "max\n"),
        ("memory.low", "0\n"),
        ("memory.high", "max\n"),
        ("memory.swap.max", "max\n"),
        ("cpu.max", "max 100000\n"),
        ("cpu.weight", "100\n"),
        ("cpu.idle", "0\n"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("pids.max", "max\n"),
        ("io.max", ""),
        ("io.weight", "default 100\n"),
        ("hugetlb.2MB.max", "max\n"),
        ("hugetlb.2MB.rsvd.max", "max\n"),
    ]
}

#[test]
fn fake_v2_apply_update_freeze_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sys/fs/cgroup");
    populate(&root, &[("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n"), ("cgroup.subtree_control", "")]);
    let m = Manager::with_mountinfo(tmp.path(), V2_MOUNTINFO, "0::/init.scope\n", None, "c1").unwrap();
    assert_eq!(m.mode(), Mode::V2);
    let leaf = root.join("berth/c1");
    assert_eq!(m.paths(), vec![leaf.clone()]);
    assert!(!m.exists());

    populate(&leaf, &v2_leaf_files());
    m.create().unwrap();
    assert!(m.exists());
    // The root delegates controllers to its children (the fake file keeps
    // only the last single-controller write).
    assert!(get(&root, "cgroup.subtree_control").starts_with('+'));

    m.apply(&res(r#"{
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432, "swappiness": 10},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0", "idle": 1},
        "pids": {"limit": 20},
        "blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "devices": [{"allow": false, "access": "rwm"}],
        "unified": {"memory.high": "50000000"}
    }"#))
        .unwrap();
    assert_eq!(get(&leaf, "memory.max"), "67108864");
    assert_eq!(get(&leaf, "memory.swap.max"), "67108864"); // swap minus limit
    assert_eq!(get(&leaf, "memory.low"), "33554432");
    assert_eq!(get(&leaf, "cpu.weight"), "39");
    assert_eq!(get(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(get(&leaf, "cpu.idle"), "1");
    assert_eq!(get(&leaf, "cpuset.cpus"), "0");
    assert_eq!(get(&leaf, "cpuset.mems"), "0");
    assert_eq!(get(&leaf, "pids.max"), "20");
    assert_eq!(get(&leaf, "io.weight"), "4950");
    assert_eq!(get(&leaf, "io.max"), "8:0 rbps=1048576 wiops=100");
    assert_eq!(get(&leaf, "hugetlb.2MB.max"), "4194304");
    assert_eq!(get(&leaf, "memory.high"), "50000000");

    // update: only the given fields change.
    m.apply(&res(r#"{"cpu": {"period": 200000}}"#)).unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "50000 200000");
    assert_eq!(get(&leaf, "memory.max"), "67108864");
    m.apply(&res(r#"{"cpu": {"quota": -1}, "pids": {"limit": -1}}"#)).unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "max");
    assert_eq!(get(&leaf, "pids.max"), "max");
    m.apply(&res(r#"{"memory": {"limit": -1}}"#)).unwrap();
    assert_eq!(get(&leaf, "memory.max"), "max");
    assert_eq!(get(&leaf, "memory.swap.max"), "max");
    // Swap below memory is rejected before touching anything.
    assert!(m.apply(&res(r#"{"memory": {"limit": 100, "swap": 50}}"#)).is_err());
    // v2 has no realtime knobs; unified keys must stay inside the dir.
    assert!(m.apply(&res(r#"{"cpu": {"realtimeRuntime": 100}}"#)).is_err());
    assert!(m.apply(&res(r#"{"unified": {"../x": "1"}}"#)).is_err());
    // A knob the kernel lacks is an error only when requested.
    let err = m.apply(&res(r#"{"unified": {"memory.oom.group": "1"}}"#)).unwrap_err();
    assert!(err.to_string().contains("memory.oom.group"), "{err}");

    // Freeze: the fake kernel reports "frozen 1" when asked.
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    m.freeze().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "1");
    assert!(m.is_frozen().unwrap());
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    m.thaw().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "0");
    assert!(!m.is_frozen().unwrap());

    // pids, recursively.
    fs::write(leaf.join("cgroup.procs"), "10\n11\n").unwrap();
    populate(&leaf.join("sub"), &[("cgroup.procs", "12\n")]);
    assert_eq!(m.pids().unwrap(), vec![10, 11, 12]);
    m.add_pid(42).unwrap();
    assert_eq!(get(&leaf, "cgroup.procs"), "42");

    // Stats from fake stat files.
    populate(
        &leaf,
        &[
            ("memory.stat", "anon 1000\nfile 2000\nkernel 300\n"),
            ("memory.current", "4096\n"),
            ("memory.max", "67108864\n"),
            ("memory.peak", "8192\n"),
            ("memory.events", "low 0\nhigh 0\nmax 5\noom 0\noom_kill 0\n"),
            ("memory.swap.current", "100\n"),
            ("memory.swap.max", "1000\n"),
            (
                "cpu.stat",
                "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 10\nnr_throttled 2\nthrottled_usec 50\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "20\n"),
            ("io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "2097152\n"),
            ("hugetlb.2MB.events", "max 1\n"),
            ("cpuset.cpus.effective", "0-1\n"),
            ("cpuset.mems.effective", "0\n"),
        ],
    );
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 1_000_000);
    assert_eq!(s.cpu.usage.user, 600_000);
    assert_eq!(s.cpu.usage.kernel, 400_000);
    assert_eq!(s.cpu.throttling.periods, 10);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.cpu.throttling.throttled_time, 50_000);
    assert_eq!(s.cpuset.cpus, vec![0, 1]);
    assert_eq!(s.memory.cache, 2000);
    assert_eq!(s.memory.usage, MemoryEntry { limit: 67108864, usage: 4096, max: 8192, failcnt: 5 });
    assert_eq!(s.memory.swap.usage, 4196);
    assert_eq!(s.memory.swap.limit, 67109864);
    assert_eq!(s.memory.raw["anon"], 1000);
    assert_eq!(s.pids, Pids { current: 3, limit: 20 });
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.blkio.io_service_bytes_recursive[1].op, "Write");
    assert_eq!(s.blkio.io_serviced_recursive[0].value, 1);
    assert_eq!(s.hugetlb.keys().collect::<Vec<_>>(), vec!["2MB"]);
    assert_eq!(s.hugetlb["2MB"].usage, 2097152);
    assert_eq!(s.hugetlb["2MB"].failcnt, 1);
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["blkio"]["ioServiceBytesRecursive"][0], serde_json::json!({"major": 8, "op": "Read", "value": 100}));
    assert_eq!(j["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(j["hugetlb"]["2MB"], serde_json::json!({"usage": 2097152, "failcnt": 1}));

    // The manager survives a state.json round trip.
    let saved = serde_json::to_string(&m).unwrap();
    let back: Manager = serde_json::from_str(&saved).unwrap();
    assert_eq!(back, m);

    m.destroy().unwrap();
    assert!(!leaf.exists());
    m.destroy().unwrap(); // already gone is fine
    assert!(m.pids().unwrap().is_empty());
}

// ------------------------------------------------------------------ v1

/// cpu and cpuacct co-mounted, as on most v1 hosts.
const V1_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb
41 31 0:38 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";

fn v1_fake(tmp: &Path, leaf_rel: &str) -> BTreeMap<&'static str, PathBuf> {
    let base = tmp.join("sys/fs/cgroup");
    let mut leafs = BTreeMap::new();
    let ctrl_files: &[(&str, &[(&str, &str)])] = &[
        (
            "cpu,cpuacct",
            &[
                ("cpu.shares", "1024\n"),
                ("cpu.cfs_period_us", "100000\n"),
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.rt_period_us", "1000000\n"),
                ("cpu.rt_runtime_us", "0\n"),
                ("cpu.stat", "nr_periods 7\nnr_throttled 3\nthrottled_time 12345\n"),
                ("cpuacct.usage", "5000\n"),
                ("cpuacct.usage_percpu", "3000 2000 \n"),
                ("cpuacct.usage_all", "cpu user system\n0 2500 500\n1 1500 500\n"),
                ("cpuacct.stat", "user 7\nsystem 3\n"),
            ],
        ),
        (
            "cpuset",
            &[
                ("cpuset.cpus", "\n"),
                ("cpuset.mems", "\n"),
                ("cpuset.cpu_exclusive", "0\n"),
                ("cpuset.sched_load_balance", "1\n"),
            ],
        ),
        (
            "memory",
            &[
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
                ("memory.swappiness", "60\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
                ("memory.usage_in_bytes", "8192\n"),
                ("memory.max_usage_in_bytes", "16384\n"),
                ("memory.failcnt", "1\n"),
                ("memory.memsw.usage_in_bytes", "9000\n"),
                ("memory.memsw.max_usage_in_bytes", "17000\n"),
                ("memory.memsw.failcnt", "0\n"),
                ("memory.stat", "cache 4096\nrss 4096\ntotal_cache 4096\n"),
            ],
        ),
        ("devices", &[("devices.allow", ""), ("devices.deny", ""), ("devices.list", "a *:* rwm\n")]),
        ("freezer", &[("freezer.state", "THAWED\n")]),
        (
            "blkio",
            &[
                ("blkio.bfq.weight", "100\n"),
                ("blkio.bfq.weight_device", ""),
                ("blkio.throttle.read_bps_device", ""),
                ("blkio.throttle.write_bps_device", ""),
                ("blkio.throttle.read_iops_device", ""),
                ("blkio.throttle.write_iops_device", ""),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 512\n8:0 Write 1024\n8:0 Total 1536\nTotal 1536\n",
                ),
                ("blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n"),
            ],
        ),
        ("pids", &[("pids.max", "max\n"), ("pids.current", "2\n")]),
        (
            "hugetlb",
            &[
                ("hugetlb.2MB.limit_in_bytes", "9223372036854771712\n"),
                ("hugetlb.2MB.usage_in_bytes", "0\n"),
                ("hugetlb.2MB.max_usage_in_bytes", "2097152\n"),
                ("hugetlb.2MB.failcnt", "4\n"),
            ],
        ),
        ("systemd", &[]),
    ];
    for (mnt, files) in ctrl_files {
        let root = base.join(mnt);
        let leaf = root.join(leaf_rel);
        // The root and the (pre-existing) parent of the leaf have cpusets.
        for dir in [&root, &leaf.parent().unwrap().to_path_buf()] {
            populate(dir, &[("cgroup.procs", ""), ("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")]);
        }
        let mut all = vec![("cgroup.procs", "")];
        all.extend_from_slice(files);
        populate(&leaf, &all);
        leafs.insert(*mnt, leaf);
    }
    leafs
}

#[test]
fn fake_v1_apply_update_freeze_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let leafs = v1_fake(tmp.path(), "test/c1");
    let m = Manager::with_mountinfo(tmp.path(), V1_MOUNTINFO, "", Some("/test/c1"), "c1").unwrap();
    assert_eq!(m.mode(), Mode::V1);
    // cpu and cpuacct share one directory, listed once.
    assert_eq!(m.paths().len(), 9);
    assert_eq!(m.v1["cpu"].dir, m.v1["cpuacct"].dir);
    m.create().unwrap();
    // An empty cpuset inherits the parent's cpus/mems.
    assert_eq!(get(&leafs["cpuset"], "cpuset.cpus"), "0-1");
    assert_eq!(get(&leafs["cpuset"], "cpuset.mems"), "0");

    m.apply(&res(r#"{
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432,
                   "swappiness": 10, "disableOOMKiller": true, "kernel": 1000},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000,
                "realtimePeriod": 1000000, "realtimeRuntime": 950000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 500,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"}
        ]
    }"#))
        .unwrap();
    let mem = &leafs["memory"];
    assert_eq!(get(mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(get(mem, "memory.memsw.limit_in_bytes"), "134217728"); // memory+swap
    assert_eq!(get(mem, "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(get(mem, "memory.swappiness"), "10");
    assert_eq!(get(mem, "memory.oom_control"), "1");
    let cpu = &leafs["cpu,cpuacct"];
    assert_eq!(get(cpu, "cpu.shares"), "512");
    assert_eq!(get(cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(get(cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(get(cpu, "cpu.rt_period_us"), "1000000");
    assert_eq!(get(cpu, "cpu.rt_runtime_us"), "950000");
    assert_eq!(get(&leafs["cpuset"], "cpuset.cpus"), "1");
    assert_eq!(get(&leafs["pids"], "pids.max"), "20");
    let blk = &leafs["blkio"];
    assert_eq!(get(blk, "blkio.bfq.weight"), "500");
    assert_eq!(get(blk, "blkio.bfq.weight_device"), "8:0 200");
    assert_eq!(get(blk, "blkio.throttle.read_bps_device"), "8:0 1048576");
    assert_eq!(get(blk, "blkio.throttle.write_iops_device"), "8:16 100");
    assert_eq!(get(&leafs["hugetlb"], "hugetlb.2MB.limit_in_bytes"), "4194304");
    // Deny-all first, then the rules in order (files keep the last open's
    // writes: the two allows went through one).
    assert_eq!(get(&leafs["devices"], "devices.deny"), "a *:* rwm");
    assert_eq!(get(&leafs["devices"], "devices.allow"), "c 1:3 rwmc *:* m");

    // update
    m.apply(&res(r#"{"memory": {"limit": -1}, "pids": {"limit": 0}}"#)).unwrap();
    assert_eq!(get(mem, "memory.limit_in_bytes"), "-1");
    assert_eq!(get(mem, "memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(get(&leafs["pids"], "pids.max"), "max");
    assert_eq!(get(cpu, "cpu.shares"), "512");
    // Bad swappiness, unified on v1, leafWeight without the file: errors.
    assert!(m.apply(&res(r#"{"memory": {"swappiness": 101}}"#)).is_err());
    let err = m.apply(&res(r#"{"unified": {"memory.high": "1"}}"#)).unwrap_err();
    assert!(err.to_string().contains("requires cgroup v2"), "{err}");
    assert!(m.apply(&res(r#"{"blockIO": {"leafWeight": 10}}"#)).is_err());
    // Without swap accounting, swap limits fail clearly; unlimited is fine.
    fs::remove_file(mem.join("memory.memsw.limit_in_bytes")).unwrap();
    let err = m.apply(&res(r#"{"memory": {"limit": 1000, "swap": 2000}}"#)).unwrap_err();
    assert!(err.to_string().contains("swap accounting"), "{err}");
    m.apply(&res(r#"{"memory": {"limit": 4096, "swap": -1}}"#)).unwrap();
    assert_eq!(get(mem, "memory.limit_in_bytes"), "4096");

    m.freeze().unwrap();
    assert_eq!(get(&leafs["freezer"], "freezer.state"), "FROZEN");
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(get(&leafs["freezer"], "freezer.state"), "THAWED");
    assert!(!m.is_frozen().unwrap());

    m.add_pid(4321).unwrap();
    for leaf in leafs.values() {
        assert_eq!(get(leaf, "cgroup.procs"), "4321", "{}", leaf.display());
    }
    assert_eq!(m.pids().unwrap(), vec![4321]);

    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 5000);
    assert_eq!(s.cpu.usage.percpu, vec![3000, 2000]);
    assert_eq!(s.cpu.usage.percpu_user, vec![2500, 1500]);
    assert_eq!(s.cpu.usage.percpu_kernel, vec![500, 500]);
    let tick = 1_000_000_000 / stats::clock_ticks();
    assert_eq!(s.cpu.usage.user, 7 * tick);
    assert_eq!(s.cpu.usage.kernel, 3 * tick);
    assert_eq!(s.cpu.throttling.throttled_time, 12345);
    assert_eq!(s.cpuset.cpus, vec![1]);
    assert_eq!(s.cpuset.sched_load_balance, 1);
    assert_eq!(s.memory.cache, 4096);
    assert_eq!(s.memory.usage.usage, 8192);
    assert_eq!(s.memory.usage.max, 16384);
    assert_eq!(s.memory.usage.failcnt, 1);
    assert_eq!(s.memory.usage.limit, 4096);
    assert_eq!(s.memory.swap.usage, 9000);
    assert_eq!(s.memory.kernel, MemoryEntry::default());
    assert_eq!(s.pids, Pids { current: 2, limit: 0 });
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 3);
    assert_eq!(s.blkio.io_serviced_recursive[1].op, "Write");
    assert_eq!(s.hugetlb["2MB"].max, 2097152);
    assert_eq!(s.hugetlb["2MB"].failcnt, 4);

    m.destroy().unwrap();
    for leaf in leafs.values() {
        assert!(!leaf.exists());
        assert!(leaf.parent().unwrap().exists(), "parents are left alone");
    }
}

#[test]
fn relative_and_systemd_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let own = "10:memory:/user.slice/sess\n9:cpu,cpuacct:/\n8:cpuset:/\n7:devices:/\n\
               6:freezer:/\n5:blkio:/\n4:pids:/\n3:hugetlb:/\n1:name=systemd:/user.slice/sess\n";
    let m = Manager::with_mountinfo(tmp.path(), V1_MOUNTINFO, own, Some("box/c1"), "c1").unwrap();
    let base = tmp.path().join("sys/fs/cgroup");
    assert_eq!(m.v1["memory"].dir, base.join("memory/user.slice/sess/box/c1"));
    assert_eq!(m.v1["cpu"].dir, base.join("cpu,cpuacct/box/c1"));
    assert_eq!(m.v1["name=systemd"].dir, base.join("systemd/user.slice/sess/box/c1"));
    // A hierarchy missing from /proc/self/cgroup cannot anchor a relative path.
    let partial = "10:memory:/user.slice/sess\n";
    assert!(Manager::with_mountinfo(tmp.path(), V1_MOUNTINFO, partial, Some("box/c1"), "c1").is_err());
    let err = Manager::with_mountinfo(tmp.path(), V1_MOUNTINFO, own, Some("system.slice:berth:c1"), "c1").unwrap_err();
    assert!(err.to_string().contains("requires --systemd-cgroup"), "{err}");
}

// ------------------------------------------------------------------ hybrid

/// This machine's layout: separate cpu and cpuacct mounts, hugetlb only in
/// the cgroup2 mount.
const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn fake_hybrid_uses_unified_for_hugetlb() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("sys/fs/cgroup");
    let leaf_rel = "berth/h1";
    for (mnt, files) in [
        ("cpu", vec![("cpu.cfs_quota_us", "-1"), ("cpu.cfs_period_us", "100000"), ("cpu.stat", "nr_periods 1\n")]),
        ("cpuacct", vec![("cpuacct.usage", "777"), ("cpuacct.stat", "user 1\nsystem 1\n")]),
        ("memory", vec![("memory.limit_in_bytes", "9223372036854771712")]),
        ("freezer", vec![("freezer.state", "THAWED")]),
        ("pids", vec![("pids.max", "max")]),
        ("systemd", vec![]),
        (
            "unified",
            vec![
                ("cgroup.controllers", "hugetlb"),
                ("cgroup.freeze", "0"),
                ("cgroup.events", "populated 0\nfrozen 0\n"),
                ("hugetlb.2MB.max", "max"),
                ("hugetlb.2MB.current", "0"),
                ("hugetlb.1GB.max", "max"),
                ("hugetlb.1GB.current", "0"),
            ],
        ),
    ] {
        populate(
            &base.join(mnt),
            &[("cgroup.procs", ""), ("cgroup.controllers", "hugetlb"), ("cgroup.subtree_control", "")],
        );
        let mut all = vec![("cgroup.procs", "")];
        all.extend(files);
        populate(&base.join(mnt).join(leaf_rel), &all);
    }
    let m = Manager::with_mountinfo(tmp.path(), HYBRID_MOUNTINFO, "0::/\n", None, "h1").unwrap();
    assert_eq!(m.mode(), Mode::Hybrid);
    let uleaf = base.join("unified").join(leaf_rel);
    assert_eq!(m.paths().last(), Some(&uleaf));
    assert_eq!(m.paths().len(), 7);
    m.create().unwrap();
    assert_eq!(get(&base.join("unified"), "cgroup.subtree_control"), "+hugetlb");

    m.apply(&res(r#"{
        "memory": {"limit": 67108864},
        "cpu": {"quota": 20000, "period": 100000},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}, {"pageSize": "1GB", "limit": -1}],
        "unified": {"hugetlb.1GB.max": "0"}
    }"#))
        .unwrap();
    assert_eq!(get(&base.join("memory").join(leaf_rel), "memory.limit_in_bytes"), "67108864");
    assert_eq!(get(&base.join("cpu").join(leaf_rel), "cpu.cfs_quota_us"), "20000");
    assert_eq!(get(&uleaf, "hugetlb.2MB.max"), "4194304");
    assert_eq!(get(&uleaf, "hugetlb.1GB.max"), "0"); // unified wins, applied last
                                                     // No v1 devices controller here: rules are skipped, not an error.
    m.apply(&res(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#)).unwrap();
    // Controllers that are neither v1 nor in cgroup.controllers fail clearly.
    let err = m.apply(&res(r#"{"blockIO": {"weight": 100}}"#)).unwrap_err();
    assert!(err.to_string().contains("blkio controller is not available"), "{err}");

    // The v1 freezer is preferred over cgroup.freeze.
    m.freeze().unwrap();
    assert_eq!(get(&base.join("freezer").join(leaf_rel), "freezer.state"), "FROZEN");
    assert_eq!(get(&uleaf, "cgroup.freeze"), "0");
    m.thaw().unwrap();

    m.add_pid(99).unwrap();
    assert_eq!(get(&uleaf, "cgroup.procs"), "99");
    assert_eq!(get(&base.join("systemd").join(leaf_rel), "cgroup.procs"), "99");

    fs::write(uleaf.join("hugetlb.2MB.current"), "2097152").unwrap();
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 777); // from the separate cpuacct mount
    assert_eq!(s.cpu.throttling.periods, 1);
    assert_eq!(s.hugetlb["2MB"].usage, 2097152);
    assert!(s.hugetlb.contains_key("1GB"));

    m.destroy().unwrap();
    assert!(m.paths().iter().all(|p| !p.exists()));
}

// ------------------------------------------------------------------ this machine

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn real_mountinfo_detection() {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let l = layout::detect(Path::new("/"), &text).unwrap();
    for (ctrl, mount) in &l.v1 {
        assert!(mount.mount_point.is_dir(), "{ctrl}: {}", mount.mount_point.display());
    }
    // The development machine: hybrid, cpu and cpuacct on separate mounts,
    // hugetlb only in the unified hierarchy.
    let hybrid_host = Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    if !hybrid_host {
        eprintln!("not the hybrid development host; only generic checks ran");
        return;
    }
    assert_eq!(l.mode, Mode::Hybrid);
    let cg = Path::new("/sys/fs/cgroup");
    assert_eq!(l.v1["cpu"].mount_point, cg.join("cpu"));
    assert_eq!(l.v1["cpuacct"].mount_point, cg.join("cpuacct"));
    assert_eq!(l.v1["memory"].mount_point, cg.join("memory"));
    assert_eq!(l.v1["name=systemd"].mount_point, cg.join("systemd"));
    assert_eq!(l.unified.as_ref().unwrap().mount_point, cg.join("unified"));
    let in_unified = fs::read_to_string(cg.join("unified/cgroup.controllers")).unwrap();
    for c in in_unified.split_whitespace() {
        assert!(l.v2_controllers.contains(c), "{c}");
        assert!(!l.v1.contains_key(c), "{c} in both hierarchies");
    }
}

/// Kills the child and removes the cgroup even when an assertion fails.
struct Cleanup {
    child: Option<std::process::Child>,
    manager: Manager,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.manager.thaw();
        let _ = self.manager.destroy();
    }
}

fn spawn_waiting_child() -> std::process::Child {
    // The child blocks on stdin until it has been moved into the cgroup,
    // then keeps forking so the cgroup accrues memory and cpu usage.
    std::process::Command::new("sh")
        .args(["-c", "read go; while :; do sleep 0.05; done"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn real_cgroup_end_to_end() {
    if !is_root() || !Path::new("/proc/self/mountinfo").exists() {
        panic!("this test needs root and a cgroup filesystem: run it as root, as scripts/test.sh does");
    }
    use std::io::Write;
    let name = format!("/berth-test-{}-e2e", std::process::id());
    let m = Manager::new(Some(&name), "e2e").unwrap();
    let mut guard = Cleanup { child: None, manager: m.clone() };
    m.create().unwrap();
    assert!(m.exists());

    let has_memsw = m.v1_dir("memory").is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
    let mut r = serde_json::json!({
        "memory": {"limit": 67108864},
        "pids": {"limit": 20},
        "cpu": {"quota": 50000, "period": 100000},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 7, "access": "rwm"}
        ]
    });
    if has_memsw {
        r["memory"]["swap"] = serde_json::json!(134217728);
    }
    let hugetlb_2mb = m.target("hugetlb", "hugetlb");
    let hugetlb_dir = match hugetlb_2mb {
        Target::V1(d) | Target::V2(d)
            if d.join("hugetlb.2MB.max").exists() || d.join("hugetlb.2MB.limit_in_bytes").exists() =>
        {
            Some(d.to_path_buf())
        }
        _ => None,
    };
    if hugetlb_dir.is_some() {
        r["hugepageLimits"] = serde_json::json!([{"pageSize": "2MB", "limit": 4194304}]);
    }
    m.apply(&res(&r.to_string())).unwrap();

    // Read the limits back from the real files.
    match m.mode() {
        Mode::V1 | Mode::Hybrid => {
            let mem = m.v1_dir("memory").unwrap();
            assert_eq!(fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap().trim(), "67108864");
            if has_memsw {
                assert_eq!(fs::read_to_string(mem.join("memory.memsw.limit_in_bytes")).unwrap().trim(), "134217728");
            }
            let pids = m.v1_dir("pids").unwrap();
            assert_eq!(fs::read_to_string(pids.join("pids.max")).unwrap().trim(), "20");
            let cpu = m.v1_dir("cpu").unwrap();
            assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap().trim(), "50000");
            assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_period_us")).unwrap().trim(), "100000");
            if let Some(dev) = m.v1_dir("devices") {
                // Each rule of a run written through one open still counts,
                // in order: three allowed, then two of them denied again.
                assert_eq!(fs::read_to_string(dev.join("devices.list")).unwrap().trim(), "c 1:3 rwm");
            }
            if let Some(cs) = m.v1_dir("cpuset") {
                assert!(!fs::read_to_string(cs.join("cpuset.cpus")).unwrap().trim().is_empty());
            }
        }
        Mode::V2 => {
            let d = m.unified_dir().unwrap();
            assert_eq!(fs::read_to_string(d.join("memory.max")).unwrap().trim(), "67108864");
            assert_eq!(fs::read_to_string(d.join("pids.max")).unwrap().trim(), "20");
            assert_eq!(fs::read_to_string(d.join("cpu.max")).unwrap().trim(), "50000 100000");
        }
    }
    if let Some(d) = &hugetlb_dir {
        let f = if d.join("hugetlb.2MB.max").exists() { "hugetlb.2MB.max" } else { "hugetlb.2MB.limit_in_bytes" };
        assert_eq!(fs::read_to_string(d.join(f)).unwrap().trim(), "4194304");
    }

    // update: raise the memory limit (and swap, exercising the write order).
    let mut up = serde_json::json!({"memory": {"limit": 134217728}});
    if has_memsw {
        up["memory"]["swap"] = serde_json::json!(268435456);
    }
    m.apply(&res(&up.to_string())).unwrap();
    // ...and lower it again.
    let mut down = serde_json::json!({"memory": {"limit": 67108864}});
    if has_memsw {
        down["memory"]["swap"] = serde_json::json!(100663296);
    }
    m.apply(&res(&down.to_string())).unwrap();

    let mut child = spawn_waiting_child();
    let pid = child.id() as i32;
    m.add_pid(pid).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    guard.child = Some(child);
    assert!(m.pids().unwrap().contains(&pid));

    // Let the child fork a few sleeps so usage is charged to the cgroup.
    let mut usage = 0;
    for _ in 0..100 {
        usage = m.stats().unwrap().memory.usage.usage;
        if usage > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(usage > 0, "memory usage stayed 0");
    let s = m.stats().unwrap();
    assert!(s.pids.current >= 1);
    assert_eq!(s.pids.limit, 20);
    assert_eq!(s.memory.usage.limit, 67108864);
    eprintln!(
        "mode {:?}, hugetlb via {:?}, memsw {has_memsw}\nstats: {}",
        m.mode(),
        hugetlb_dir,
        serde_json::to_string(&s).unwrap()
    );

    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    if let Some(fz) = m.v1_dir("freezer") {
        assert_eq!(fs::read_to_string(fz.join("freezer.state")).unwrap().trim(), "FROZEN");
    }
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());
    if let Some(fz) = m.v1_dir("freezer") {
        assert_eq!(fs::read_to_string(fz.join("freezer.state")).unwrap().trim(), "THAWED");
    }

    m.kill_all(Signal::KILL).unwrap();
    let mut child = guard.child.take().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(Signal::KILL.as_raw()));

    m.destroy().unwrap();
    for p in m.paths() {
        assert!(!p.exists(), "{} still exists", p.display());
    }
    assert!(!m.exists());
}

/// The freeze-signal-thaw path (non-SIGKILL signals never use cgroup.kill),
/// for a running and for a paused container.
#[test]
fn real_cgroup_kill_all_with_sigterm() {
    if !is_root() {
        panic!("this test needs root: run it as root, as scripts/test.sh does");
    }
    use std::os::unix::process::ExitStatusExt;
    let name = format!("/berth-test-{}-term", std::process::id());
    let m = Manager::new(Some(&name), "term").unwrap();
    let mut guard = Cleanup { child: None, manager: m.clone() };
    m.create().unwrap();
    for paused in [false, true] {
        let mut child = spawn_waiting_child();
        m.add_pid(child.id() as i32).unwrap();
        drop(child.stdin.take()); // "read" returns at EOF; the loop starts
        guard.child = Some(child);
        if paused {
            m.freeze().unwrap();
        }
        m.kill_all(Signal::TERM).unwrap();
        // A paused container stays paused; the signal lands on resume.
        assert_eq!(m.is_frozen().unwrap(), paused);
        if paused {
            m.thaw().unwrap();
        }
        let status = guard.child.take().unwrap().wait().unwrap();
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "paused={paused}");
    }
    // A sleep grandchild may outlive sh briefly; SIGKILL it too.
    m.kill_all(Signal::KILL).unwrap();
    m.destroy().unwrap();
    assert!(!m.exists());
}
