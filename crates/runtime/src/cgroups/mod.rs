//! cgroup management for containers: create the container's cgroup, write
//! its limits, move processes in, freeze/thaw, signal, collect stats and
//! remove it again.
//!
//! Hand-written rather than built on an existing cgroups crate: those don't
//! handle the hybrid layout (v1 controllers plus a cgroup2 mount holding
//! e.g. hugetlb; crun 1.8 even refuses it) and drag in large dependency
//! trees. This module needs only std, rustix, serde and oci-spec.
//!
//! Layout support: pure v1, pure v2 and hybrid. For each resource group the
//! rule is the same: if its controller is mounted as v1, the v1 files are
//! used; otherwise, if the unified hierarchy has it, the v2 files are.
//!
//! Module map: `layout` (what is mounted where), `path` (cgroupsPath to
//! directories), `fs` (file/dir helpers), `v1`/`v2` (writing limits),
//! `entry` (new processes into the cgroup without the slow cgroup.procs
//! write), `freezer`, `stats`.

mod entry;
mod freezer;
mod fs;
mod layout;
pub mod mount;
mod path;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use rustix::io::Errno;
use rustix::process::{kill_process, Pid, Signal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use entry::Entry;
pub use layout::Mode;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, IntelRdt, Memory, MemoryEntry, Pids, Stats, Throttling,
};

/// One hierarchy's mount point and the container's directory inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub dir: PathBuf,
}

/// The container's cgroup across all hierarchies. Plain data (paths and
/// which controller lives where) so it can be saved in state.json and
/// reloaded by later commands without re-reading mountinfo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    mode: Mode,
    /// v1 hierarchies by controller name, including "name=systemd". A
    /// co-mounted "cpu,cpuacct" appears under both names with the same dir.
    v1: BTreeMap<String, Hierarchy>,
    /// The cgroup2 hierarchy: everything on v2, the extra mount on hybrid.
    unified: Option<Hierarchy>,
    /// Controllers driven through `unified` (all on v2, the leftovers that
    /// no v1 hierarchy took on hybrid).
    v2_controllers: BTreeSet<String>,
}

/// Where a resource group is controlled.
enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
    Missing,
}

/// Page size names go into file names; refuse anything that could escape.
fn checked_page_size(size: &str) -> Result<&str> {
    if size.is_empty() || size.contains('/') || size.contains('.') {
        return Err(Error::Cgroup(format!("invalid hugepage size {size:?}")));
    }
    Ok(size)
}

impl Manager {
    /// Resolve the container's cgroup using this machine's mounts and the
    /// caller's own cgroup.
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Manager> {
        use crate::error::Context;
        let mountinfo =
            std::fs::read_to_string("/proc/self/mountinfo").context(|| "read /proc/self/mountinfo".to_string())?;
        let self_cgroup =
            std::fs::read_to_string("/proc/self/cgroup").context(|| "read /proc/self/cgroup".to_string())?;
        Self::with_mountinfo(Path::new("/"), &mountinfo, &self_cgroup, cgroups_path, id)
    }

    /// Like [`Manager::new`] with the filesystem rooted at `fs_root` and the
    /// mountinfo / /proc/self/cgroup texts given (tests use a fake tree).
    pub fn with_mountinfo(
        fs_root: &Path,
        mountinfo: &str,
        self_cgroup: &str,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Manager> {
        let cg = path::parse_cgroups_path(cgroups_path, id)?;
        let layout = layout::detect(fs_root, mountinfo)?;
        let own = path::parse_self_cgroup(self_cgroup);

        let mut v1 = BTreeMap::new();
        for (ctrl, m) in &layout.v1 {
            let dir = path::resolve(m, own.v1.get(ctrl).map(String::as_str), &cg)?;
            v1.insert(ctrl.clone(), Hierarchy { mount: m.mount_point.clone(), dir });
        }
        let unified = match &layout.unified {
            Some(m) => {
                Some(Hierarchy { mount: m.mount_point.clone(), dir: path::resolve(m, own.unified.as_deref(), &cg)? })
            }
            None => None,
        };
        Ok(Manager { mode: layout.mode, v1, unified, v2_controllers: layout.v2_controllers })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The v1 directory holding `ctrl`, if that controller is mounted as v1.
    fn v1_dir(&self, ctrl: &str) -> Option<&Path> {
        self.v1.get(ctrl).map(|h| h.dir.as_path())
    }

    fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_ref().map(|h| h.dir.as_path())
    }

    /// v1 controller name first, then the v2 name (they differ for blkio/io).
    fn target(&self, v1_name: &str, v2_name: &str) -> Target<'_> {
        if let Some(d) = self.v1_dir(v1_name) {
            return Target::V1(d);
        }
        match self.unified_dir() {
            Some(d) if self.v2_controllers.contains(v2_name) => Target::V2(d),
            _ => Target::Missing,
        }
    }

    fn missing(what: &str) -> Error {
        Error::Cgroup(format!("{what} limits requested but the {what} controller is not available"))
    }

    /// Distinct v1 hierarchy directories (co-mounted controllers share one).
    fn v1_hierarchies(&self) -> Vec<(&str, &Hierarchy)> {
        let mut seen = BTreeSet::new();
        self.v1.iter().filter(|(_, h)| seen.insert(h.dir.clone())).map(|(k, h)| (k.as_str(), h)).collect()
    }

    /// The cgroup as a path from the root of its hierarchy (`/berth/ID`),
    /// as /proc/PID/cgroup shows it: the cgroup2 one, else the first v1
    /// hierarchy's.
    pub fn cgroup_path(&self) -> Option<String> {
        let h = self.unified.as_ref().or_else(|| self.v1_hierarchies().first().map(|(_, h)| *h))?;
        let rel = h.dir.strip_prefix(&h.mount).ok()?;
        Some(format!("/{}", rel.display()))
    }

    /// Every concrete directory, v1 first, then unified.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.v1_hierarchies().into_iter().map(|(_, h)| h.dir.clone()).collect();
        out.extend(self.unified.iter().map(|h| h.dir.clone()));
        out
    }

    /// The directory whose cgroup.procs is authoritative for "which
    /// processes belong to the container".
    fn procs_dir(&self) -> Option<&Path> {
        if self.mode == Mode::V2 {
            return self.unified_dir();
        }
        ["pids", "freezer", "devices", "memory", "cpu", "cpuacct", "cpuset", "blkio"]
            .iter()
            .find_map(|c| self.v1_dir(c))
            .or_else(|| self.v1_dir("name=systemd"))
    }

    pub fn exists(&self) -> bool {
        self.procs_dir().is_some_and(Path::exists)
    }

    /// The cgroup of container `id` under `cgroups_path`, made now
    /// ([`Manager::new`], [`Manager::create`]): what an engine does ahead of
    /// a create, beside other work (`CreateOptions::made_cgroup`).
    pub fn made_for(cgroups_path: &str, id: &str) -> Result<Manager> {
        let m = Manager::new(Some(cgroups_path), id)?;
        if let Err(e) = m.create() {
            let _ = m.destroy();
            return Err(e);
        }
        Ok(m)
    }

    /// Create the directory in every hierarchy (mkdir -p).
    pub fn create(&self) -> Result<()> {
        for (ctrl, h) in self.v1_hierarchies() {
            // name=systemd only tracks processes; failing to create it must
            // not stop the container (runc treats it the same way).
            let levels = match fs::mkdir_levels(&h.mount, &h.dir) {
                Ok(l) => l,
                Err(e) if ctrl.starts_with("name=") => {
                    tracing::warn!("skipping {ctrl} hierarchy: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if self.v1.get("cpuset").is_some_and(|c| c.dir == h.dir) {
                v1::init_cpuset(&h.mount, &levels)?;
            }
        }
        if let Some(u) = &self.unified {
            match fs::mkdir_levels(&u.mount, &u.dir) {
                Ok(levels) => v2::enable_controllers(&u.mount, &levels, &self.v2_controllers),
                // On hybrid the unified tree is optional (it only matters
                // for controllers that live there, whose limits then fail
                // with a clear error); on pure v2 it is everything.
                Err(e) if self.mode == Mode::Hybrid => {
                    tracing::warn!("skipping unified hierarchy: {e}")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Write every limit present in `r`. `None` fields are not touched, so
    /// `update` passes just the fields it changes.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            match self.target("memory", "memory") {
                Target::V1(d) => v1::set_memory(d, m)?,
                Target::V2(d) => v2::set_memory(d, m)?,
                Target::Missing => return Err(Self::missing("memory")),
            }
        }
        if let Some(c) = r.cpu() {
            let wants_cpu = c.shares().is_some()
                || c.quota().is_some()
                || c.period().is_some()
                || c.burst().is_some()
                || c.realtime_period().is_some()
                || c.realtime_runtime().is_some()
                || c.idle().is_some();
            if wants_cpu {
                match self.target("cpu", "cpu") {
                    Target::V1(d) => v1::set_cpu(d, c)?,
                    Target::V2(d) => v2::set_cpu(d, c)?,
                    Target::Missing => return Err(Self::missing("cpu")),
                }
            }
            if c.cpus().is_some() || c.mems().is_some() {
                match self.target("cpuset", "cpuset") {
                    Target::V1(d) | Target::V2(d) => v1::set_cpuset(d, c)?,
                    Target::Missing => return Err(Self::missing("cpuset")),
                }
            }
        }
        if let Some(p) = r.pids() {
            match self.target("pids", "pids") {
                Target::V1(d) => v1::set_pids(d, p)?,
                Target::V2(d) => v2::set_pids(d, p.limit())?,
                Target::Missing => return Err(Self::missing("pids")),
            }
        }
        if let Some(b) = r.block_io() {
            match self.target("blkio", "io") {
                Target::V1(d) => v1::set_blkio(d, b)?,
                Target::V2(d) => v2::set_io(d, b)?,
                Target::Missing => return Err(Self::missing("blkio")),
            }
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            match self.target("hugetlb", "hugetlb") {
                Target::V1(d) => v1::set_hugetlb(d, h)?,
                Target::V2(d) => v2::set_hugetlb(d, h)?,
                Target::Missing => return Err(Self::missing("hugetlb")),
            }
        }
        if let Some(devs) = r.devices() {
            match self.v1_dir("devices") {
                Some(d) => v1::set_devices(d, devs)?,
                // v2 device control needs an eBPF program: out of scope.
                None => tracing::debug!("skipping {} device cgroup rules: no v1 devices controller", devs.len()),
            }
        }
        if r.network().is_some() {
            tracing::debug!("ignoring linux.resources.network (net_cls/net_prio not supported)");
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            match self.unified_dir() {
                Some(d) if self.mode != Mode::V1 => v2::set_unified(d, u)?,
                _ => {
                    return Err(Error::Cgroup(format!(
                        "linux.resources.unified ({}) requires cgroup v2, but this host has only cgroup v1",
                        u.keys().cloned().collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
        Ok(())
    }

    /// Move `pid` into the container's cgroup in every hierarchy. Tests
    /// only: the runtime's processes enter their cgroup through [`Entry`].
    #[cfg(test)]
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for (ctrl, h) in self.v1_hierarchies() {
            if ctrl.starts_with("name=") && !h.dir.exists() {
                continue;
            }
            fs::write_pid(&h.dir, pid)?;
        }
        if let Some(u) = &self.unified {
            // On hybrid the unified dir may legitimately be missing (see
            // create); on v2 a missing dir is a real error from write_pid.
            if self.mode == Mode::V2 || u.dir.exists() {
                fs::write_pid(&u.dir, pid)?;
            }
        }
        Ok(())
    }

    /// v1 freezer if mounted, else the v2 core freezer (cgroup.freeze).
    fn freezer(&self) -> Result<Target<'_>> {
        if let Some(d) = self.v1_dir("freezer") {
            return Ok(Target::V1(d));
        }
        match self.unified_dir() {
            Some(d) if d.join("cgroup.freeze").exists() => Ok(Target::V2(d)),
            Some(d) => Err(Error::Cgroup(format!(
                "cannot freeze: no v1 freezer controller and no {}",
                d.join("cgroup.freeze").display()
            ))),
            None => Err(Error::Cgroup("cannot freeze: no v1 freezer controller and no cgroup v2 hierarchy".into())),
        }
    }

    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Target::V1(d) => freezer::v1_set(d, true),
            Target::V2(d) => freezer::v2_set(d, true),
            Target::Missing => Ok(()),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Target::V1(d) => freezer::v1_set(d, false),
            Target::V2(d) => freezer::v2_set(d, false),
            Target::Missing => Ok(()),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        match self.freezer()? {
            Target::V1(d) => freezer::v1_is_frozen(d),
            Target::V2(d) => freezer::v2_is_frozen(d),
            Target::Missing => Ok(false),
        }
    }

    /// Every pid in the container's cgroup and its sub-cgroups. A cgroup
    /// that no longer exists has no pids.
    pub fn pids(&self) -> Result<Vec<i32>> {
        match self.procs_dir() {
            Some(d) if d.exists() => fs::procs_recursive(d),
            _ => Ok(Vec::new()),
        }
    }

    /// Send `sig` to every process in the container.
    ///
    /// SIGKILL uses cgroup.kill when the kernel has it (atomic, no race with
    /// forks). Otherwise, like runc's signalAllProcesses, the cgroup is
    /// frozen first so nothing can fork while we walk the pid list, then
    /// thawed so the signals are delivered. A container that was already
    /// paused stays paused (its signals are delivered on resume), except for
    /// SIGKILL, where it is thawed so the processes actually die.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::KILL {
            if let Some(d) = self.unified_dir().filter(|d| d.join("cgroup.kill").exists()) {
                fs::write(d, "cgroup.kill", "1")?;
                // On hybrid hosts the freezer is v1's, which holds even
                // SIGKILLed tasks until thawed (v2's lets them die): thaw a
                // paused container or `delete --force` waits on it forever.
                if self.is_frozen().unwrap_or(false) {
                    self.thaw()?;
                }
                return Ok(());
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let frozen = match self.freeze() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("signalling without freezing: {e}");
                false
            }
        };
        let result = self.signal_each(sig);
        if frozen && (!was_frozen || sig == Signal::KILL) {
            self.thaw()?;
        }
        result
    }

    fn signal_each(&self, sig: Signal) -> Result<()> {
        let me = std::process::id() as i32;
        for pid in self.pids()? {
            // Never signal ourselves, even if a misconfigured path put the
            // runtime in the container's cgroup.
            if pid == me {
                continue;
            }
            let Some(target) = Pid::from_raw(pid) else { continue };
            match kill_process(target, sig) {
                Ok(()) | Err(Errno::SRCH) => {}
                Err(e) => return Err(Error::Io { context: format!("send {sig:?} to pid {pid}"), source: e.into() }),
            }
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats> {
        if !self.exists() {
            return Err(Error::Cgroup(format!(
                "cgroup {} does not exist",
                self.procs_dir().map(|d| d.display().to_string()).unwrap_or_default()
            )));
        }
        let mut s = Stats::default();
        match (self.v1_dir("cpuacct"), self.unified_dir()) {
            (Some(d), _) => stats::v1_cpuacct(d, &mut s.cpu)?,
            (None, Some(d)) => stats::v2_cpu(d, &mut s.cpu)?,
            (None, None) => {}
        }
        match self.target("cpu", "cpu") {
            Target::V1(d) => stats::v1_cpu_throttling(d, &mut s.cpu)?,
            // v2_cpu already read throttling from the same cpu.stat.
            Target::V2(_) | Target::Missing => {}
        }
        match self.target("cpuset", "cpuset") {
            Target::V1(d) => stats::v1_cpuset(d, &mut s.cpuset)?,
            Target::V2(d) => stats::v2_cpuset(d, &mut s.cpuset)?,
            Target::Missing => {}
        }
        match self.target("memory", "memory") {
            Target::V1(d) => stats::v1_memory(d, &mut s.memory)?,
            Target::V2(d) => stats::v2_memory(d, &mut s.memory)?,
            Target::Missing => {}
        }
        match self.target("pids", "pids") {
            Target::V1(d) | Target::V2(d) => stats::pids(d, &mut s.pids)?,
            Target::Missing => {}
        }
        match self.target("blkio", "io") {
            Target::V1(d) => stats::v1_blkio(d, &mut s.blkio)?,
            Target::V2(d) => stats::v2_io(d, &mut s.blkio)?,
            Target::Missing => {}
        }
        match self.target("hugetlb", "hugetlb") {
            Target::V1(d) => stats::v1_hugetlb(d, &mut s.hugetlb)?,
            Target::V2(d) => stats::v2_hugetlb(d, &mut s.hugetlb)?,
            Target::Missing => {}
        }
        Ok(s)
    }

    /// How many of the cgroup's processes the kernel's OOM killer killed
    /// (v2 `memory.events`, v1 `memory.oom_control`: the `oom_kill` key).
    pub fn oom_kills(&self) -> Result<u64> {
        let file = match self.target("memory", "memory") {
            Target::V1(d) => d.join("memory.oom_control"),
            Target::V2(d) => d.join("memory.events"),
            Target::Missing => return Ok(0),
        };
        let (dir, name) = match (file.parent(), file.file_name().and_then(|n| n.to_str())) {
            (Some(d), Some(n)) => (d.to_path_buf(), n.to_string()),
            _ => return Ok(0),
        };
        Ok(stats::flat_keyed_file(&dir, &name)?.get("oom_kill").copied().unwrap_or(0))
    }

    /// Remove the container's cgroup (and any sub-cgroups) everywhere.
    /// Missing directories are fine; every hierarchy is attempted and the
    /// first error is returned.
    pub fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for dir in self.paths() {
            if let Err(e) = fs::remove_cgroup_tree(&dir) {
                tracing::warn!("{e}");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
