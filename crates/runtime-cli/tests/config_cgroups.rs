//! linux.resources and linux.cgroupsPath, observed in the host's cgroup files
//! (this host is hybrid: v1 controllers, hugetlb alone on the unified cgroup2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// Create and start `sh -c script` (which must keep running); wait until
/// the script has written /berth-out/ready, return its contents.
fn start_script(e: &mut Env, script: &str) -> String {
    let out = e.share("/berth-out");
    e.sh(&format!("{{ {script} ; }} >/berth-out/o.tmp 2>&1; mv /berth-out/o.tmp /berth-out/ready; exec sleep 60"));
    e.start_running();
    let f = out.join("ready");
    assert!(wait_until(Duration::from_secs(5), || f.exists()), "container never got ready");
    std::fs::read_to_string(f).unwrap()
}

const V1: [&str; 7] = ["memory", "cpu", "cpuset", "pids", "devices", "blkio", "freezer"];

#[test]
fn memory_cpu_cpuset_limits() {
    let mut e = Env::new("cgres");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["memory"] =
        json!({"limit": 134217728, "reservation": 67108864, "swap": 268435456, "swappiness": 20});
    e.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
    let inside = start_script(
        &mut e,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus; \
         grep Cpus_allowed_list /proc/self/status",
    );
    assert_eq!(inside, "134217728\n512\n0\nCpus_allowed_list:\t0\n");
    let mem = cgroup_v1_dir("memory", &path);
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "134217728");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "67108864");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "268435456");
    assert_eq!(read(&mem, "memory.swappiness"), "20");
    let cpu = cgroup_v1_dir("cpu", &path);
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    let cpuset = cgroup_v1_dir("cpuset", &path);
    assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(read(&cpuset, "cpuset.mems"), "0");
    let pid = e.pid();
    for c in V1 {
        assert!(cgroup_procs(c, &path).contains(&pid), "{pid} not in the {c} cgroup {path}");
    }
    // The cgroup goes away with the container, on every hierarchy.
    ok(&e.rt(&["delete", "--force", &e.id]));
    for c in V1 {
        assert!(!cgroup_v1_dir(c, &path).exists(), "{c} cgroup {path} left after delete");
    }
    assert!(!Path::new(&format!("/sys/fs/cgroup/unified{path}")).exists());
}

#[test]
fn pids_limit_stops_forks() {
    let mut e = Env::new("pids");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    // A subshell forks until it cannot (and may die of it); its children end soon,
    // so the outer shell can fork again to report.
    let inside =
        start_script(&mut e, "(i=0; while [ $i -lt 30 ]; do sleep 1 & i=$((i+1)); done; wait) 2>&1; echo after");
    assert!(inside.contains("can't fork"), "30 forks under pids.max=10 all worked: {inside}");
    assert!(inside.ends_with("after\n"), "{inside}");
    let dir = cgroup_v1_dir("pids", &path);
    assert_eq!(read(&dir, "pids.max"), "10");
    let current: u64 = read(&dir, "pids.current").parse().unwrap();
    assert!((1..=10).contains(&current), "pids.current {current}");
    let events = read(&dir, "pids.events");
    let max: u64 = events.strip_prefix("max ").unwrap().parse().unwrap();
    assert!(max > 0, "{events}");
}

#[test]
fn blkio_weight_unsupported_is_a_clear_error() {
    let mut e = Env::new("blkio");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["blockIO"] = json!({"weight": 500});
    // Whether the weight is supported depends on the I/O scheduler (BFQ shows
    // blkio.bfq.weight in non-root cgroups only): either it lands, or create
    // fails saying why. It must never be dropped silently.
    e.args(&["sleep", "60"]);
    let out = e.create();
    if out.status.success() {
        let d = cgroup_v1_dir("blkio", &path);
        let f = if d.join("blkio.weight").exists() { "blkio.weight" } else { "blkio.bfq.weight" };
        assert!(read(&d, f).split_whitespace().last() == Some("500"), "{f}: {}", read(&d, f));
    } else {
        fails_with(&out, "blkio weight requested but neither blkio.weight nor blkio.bfq.weight exists");
        assert!(!e.root.join(&e.id).exists());
        assert!(!cgroup_v1_dir("blkio", &path).exists(), "cgroup left behind");
    }
}

#[test]
fn hugetlb_limit_on_unified() {
    let sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(sizes.iter().any(|s| s == "hugepages-2048kB"), "no 2MB huge pages here: {sizes:?}");
    let mut e = Env::new("hugetlb");
    let path = e.set_cgroups_path();
    e.config["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}]);
    e.args(&["sleep", "60"]);
    ok(&e.create());
    let dir = PathBuf::from(format!("/sys/fs/cgroup/unified{path}"));
    assert_eq!(read(&dir, "hugetlb.2MB.max"), "4194304");
    assert!(read(&dir, "cgroup.procs").lines().any(|l| l == e.pid().to_string()));
    ok(&e.rt(&["delete", "--force", &e.id]));
    assert!(!dir.exists(), "unified cgroup left after delete");
}

#[test]
fn relative_cgroups_path_is_under_the_runtimes_cgroup() {
    let mut e = Env::new("relcg");
    let rel = format!("rel-berth-test/{}", e.id);
    e.config["linux"]["cgroupsPath"] = json!(rel);
    e.args(&["sleep", "60"]);
    ok(&e.create());
    let pid = e.pid();
    // The runtime ran in our cgroups (we spawned it): per controller, ours + rel.
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut dirs = Vec::new();
    for c in ["memory", "pids", "cpu"] {
        let find = |text: &str| {
            text.lines()
                .find_map(|l| {
                    l.splitn(3, ':').nth(2).filter(|_| l.split(':').nth(1).unwrap().split(',').any(|x| x == c))
                })
                .unwrap_or_else(|| panic!("no {c} in {text}"))
                .to_string()
        };
        let base = find(&ours);
        let want = format!("{}/{rel}", base.trim_end_matches('/'));
        assert_eq!(find(&theirs), want, "{c}");
        assert!(cgroup_v1_dir(c, &want).is_dir());
        dirs.push(cgroup_v1_dir(c, &want));
    }
    ok(&e.rt(&["delete", "--force", &e.id]));
    for d in &dirs {
        assert!(!d.exists(), "relative cgroup {} left after delete", d.display());
    }
    // On every hierarchy: nothing of the container left; the intermediate
    // dir we named is ours to remove (the runtime keeps parents).
    for l in ours.lines() {
        let mut f = l.splitn(3, ':');
        let (ctrls, base) = (f.nth(1).unwrap(), f.next().unwrap().trim_end_matches('/'));
        for c in ctrls.split(',') {
            let mount = if c.is_empty() { "unified" } else { c.trim_start_matches("name=") };
            let parent = PathBuf::from(format!("/sys/fs/cgroup/{mount}{base}/rel-berth-test"));
            assert!(!parent.join(&e.id).exists(), "{} left after delete", parent.join(&e.id).display());
            let _ = std::fs::remove_dir(&parent);
        }
    }
}

/// The init and an exec'd process each enter the container's cgroup in every
/// hierarchy: born in the cgroup2 one (clone3 CLONE_INTO_CGROUP), moving
/// themselves into the v1 ones (a write of "0" to `tasks`), so the runtime
/// never writes cgroup.procs. Both show in every cgroup.procs.
#[test]
fn the_init_and_an_exec_process_are_in_every_hierarchy() {
    init_and_exec_in_every_hierarchy(false);
}

/// The same where clone3 cannot put a process in its cgroup (kernels before
/// 5.7): the process writes the cgroup2 cgroup.procs itself, through an fd
/// the runtime opened.
#[test]
fn the_init_and_an_exec_process_join_every_hierarchy_without_clone_into_cgroup() {
    init_and_exec_in_every_hierarchy(true);
}

fn init_and_exec_in_every_hierarchy(without_clone3: bool) {
    let mut e = Env::new("joincg");
    let path = e.set_cgroups_path();
    e.args(&["sleep", "60"]);
    e.write_config();
    let rt = |args: &[&str]| {
        let mut c = e.cmd();
        if without_clone3 {
            c.env("BERTH_RUNTIME_TEST_NO_CLONE_INTO_CGROUP", "1");
        }
        run_capture(c.args(args))
    };
    ok(&rt(&["create", "--bundle", e.bundle.to_str().unwrap(), &e.id]));
    ok(&rt(&["start", &e.id]));
    let pidfile = e.root.join("exec.pid");
    ok(&rt(&["exec", "-d", "--pid-file", pidfile.to_str().unwrap(), &e.id, "sleep", "31"]));
    let exec_pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    for pid in [e.pid(), exec_pid] {
        for c in V1 {
            assert!(cgroup_procs(c, &path).contains(&pid), "{pid} not in the {c} cgroup {path}");
        }
        let unified = PathBuf::from(format!("/sys/fs/cgroup/unified{path}"));
        assert!(read(&unified, "cgroup.procs").lines().any(|l| l == pid.to_string()), "{pid} not in {path} (cgroup2)");
    }
    ok(&e.rt(&["delete", "--force", &e.id]));
}
