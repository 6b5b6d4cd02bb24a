//! The commands that act on an existing container: start, state, kill,
//! delete, pause, resume, ps, list, update, stats.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{self, Dir, State, Status};

/// Open and lock a container, returning its state and current status.
pub fn load(root: &Path, id: &str) -> Result<(Dir, sys::fs::FileLock, State, Status)> {
    let dir = Dir::open(root, id)?;
    let lock = dir.lock()?;
    let st = dir.load()?;
    let status = st.status(&dir);
    Ok((dir, lock, st, status))
}

/// Container `id`'s status alone (see [`Dir::status`]): what listings ask
/// of every container.
pub fn status(root: &Path, id: &str) -> Result<Status> {
    Dir::at(root, id)?.status()
}

fn wrong(id: &str, status: Status, what: &str) -> Error {
    Error::WrongState { id: id.into(), status: status.to_string(), what: what.into() }
}

pub fn start(root: &Path, id: &str) -> Result<()> {
    let (dir, _lock, mut st, status) = load(root, id)?;
    start_loaded(&dir, &mut st, status)
}

/// [`start`] for the caller that made the container in this process: its
/// state as [`super::create`] returned it, not read back and parsed again
/// (its config, seccomp profile included, is most of state.json).
pub fn start_created(created: &mut super::Created) -> Result<()> {
    let _lock = created.dir.lock()?;
    let status = created.state.status(&created.dir);
    start_loaded(&created.dir, &mut created.state, status)
}

fn start_loaded(dir: &Dir, st: &mut State, status: Status) -> Result<()> {
    match status {
        Status::Created => {}
        Status::Stopped => return Err(wrong(&dir.id, status, "cannot start a container that has stopped")),
        _ => return Err(wrong(&dir.id, status, "cannot start a container that has already been started")),
    }
    release(dir)?;
    st.started = true;
    dir.save(st)?;
    if let Some(h) = st.config.hooks() {
        hooks::run_warn(h.poststart().as_deref().unwrap_or(&[]), &st.hook_json(Status::Running));
    }
    Ok(())
}

/// Let the init go: write one byte to the exec fifo it is reading.
fn release(dir: &Dir) -> Result<()> {
    use std::io::Write;
    // O_NONBLOCK: if the init is gone there is no reader and open fails (ENXIO)
    // instead of blocking forever.
    let fd = rustix::fs::open(dir.fifo(), OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()).map_err(
        |e| match e {
            Errno::NXIO => Error::Other(format!("container \"{}\" init is not waiting to start", dir.id)),
            e => Error::Io { context: "open exec fifo".into(), source: e.into() },
        },
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(b"0").context(|| "write exec fifo".into())?;
    drop(f);
    std::fs::remove_file(dir.fifo()).context(|| "remove exec fifo".into())
}

pub fn state_json(root: &Path, id: &str) -> Result<serde_json::Value> {
    let (_dir, _lock, st, status) = load(root, id)?;
    Ok(st.oci_json(status))
}

pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let (_dir, _lock, st, status) = load(root, id)?;
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(wrong(id, status, "container is not running"));
    }
    if all {
        if let Some(cg) = &st.cgroup {
            return cg.kill_all(sig);
        }
    }
    let pid = Pid::from_raw(st.pid).ok_or_else(|| Error::Other(format!("container \"{id}\" has no init pid")))?;
    rustix::process::kill_process(pid, sig).context(|| format!("kill {}", st.pid))
}

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = Dir::open(root, id)?;
    let _lock = dir.lock()?;
    let st = match dir.load() {
        Ok(st) => st,
        // No state.json: a create that crashed before recording anything.
        Err(_) if !dir.path.join(state::STATE_FILE).exists() => return dir.remove(),
        Err(e) if force => {
            tracing::warn!("{e}; removing anyway");
            return dir.remove();
        }
        Err(e) => return Err(e),
    };
    let status = st.status(&dir);
    match status {
        Status::Stopped | Status::Creating => {}
        // A created container never ran anything of the user's: delete kills it (as runc).
        Status::Created => kill_and_wait(&st)?,
        Status::Running | Status::Paused if force => kill_and_wait(&st)?,
        _ => return Err(wrong(id, status, "cannot delete a container that is not stopped (use --force)")),
    }
    destroy(&dir, &st)
}

fn kill_and_wait(st: &State) -> Result<()> {
    if let Some(cg) = &st.cgroup {
        let _ = cg.kill_all(Signal::KILL);
    }
    if let Some(pid) = Pid::from_raw(st.pid).filter(|_| st.init_alive()) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while st.init_alive() {
        if Instant::now() > deadline {
            return Err(Error::Other(format!("container \"{}\" did not die after SIGKILL", st.id)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Remove everything of a stopped container: processes left in its cgroup,
/// the cgroup, poststop hooks, the state directory.
pub fn destroy(dir: &Dir, st: &State) -> Result<()> {
    if let Some(cg) = &st.cgroup {
        let _ = cg.thaw();
        let _ = cg.kill_all(Signal::KILL);
        cg.destroy()?;
    }
    if let Some(h) = st.config.hooks() {
        hooks::run_warn(h.poststop().as_deref().unwrap_or(&[]), &st.hook_json(Status::Stopped));
    }
    dir.remove()
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (_dir, _lock, st, status) = load(root, id)?;
    if status != Status::Running && status != Status::Created {
        return Err(wrong(id, status, "only a running container can be paused"));
    }
    cgroup(&st)?.freeze()
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (_dir, _lock, st, status) = load(root, id)?;
    if status != Status::Paused {
        return Err(wrong(id, status, "only a paused container can be resumed"));
    }
    cgroup(&st)?.thaw()
}

fn cgroup(st: &State) -> Result<&crate::cgroups::Manager> {
    st.cgroup.as_ref().ok_or_else(|| Error::Cgroup(format!("container \"{}\" has no cgroup", st.id)))
}

/// Host pids of every process in the container.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (_dir, _lock, st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Ok(vec![]);
    }
    cgroup(&st)?.pids()
}

/// Every container with its state, for `list`.
pub fn list(root: &Path) -> Result<Vec<(State, Status)>> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(dir) = Dir::open(root, &id) else {
            continue;
        };
        // A container being created or deleted right now may vanish or lack state: skip it.
        if let Ok(st) = dir.load() {
            let status = st.status(&dir);
            out.push((st, status));
        }
    }
    Ok(out)
}

/// Change the resources of a live container; the new values are saved so a
/// later `update` or `events` sees them.
pub fn update(root: &Path, id: &str, r: &LinuxResources) -> Result<()> {
    let (dir, _lock, mut st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(wrong(id, status, "cannot update a stopped container"));
    }
    cgroup(&st)?.apply(r)?;
    if let Some(linux) = st.config.spec_mut().linux_mut() {
        let merged = merge_resources(linux.resources().clone().unwrap_or_default(), r);
        linux.set_resources(Some(merged));
    }
    dir.save(&st)
}

fn merge_resources(mut base: LinuxResources, r: &LinuxResources) -> LinuxResources {
    if r.memory().is_some() {
        base.set_memory(*r.memory());
    }
    if r.cpu().is_some() {
        base.set_cpu(r.cpu().clone());
    }
    if r.pids().is_some() {
        base.set_pids(*r.pids());
    }
    if r.block_io().is_some() {
        base.set_block_io(r.block_io().clone());
    }
    if r.hugepage_limits().is_some() {
        base.set_hugepage_limits(r.hugepage_limits().clone());
    }
    if r.unified().is_some() {
        base.set_unified(r.unified().clone());
    }
    base
}

/// How many of container `id`'s processes the OOM killer killed (also once
/// it stopped, until it is deleted).
pub fn oom_kills(root: &Path, id: &str) -> Result<u64> {
    let (_dir, _lock, st, _status) = load(root, id)?;
    cgroup(&st)?.oom_kills()
}

pub fn stats(root: &Path, id: &str) -> Result<crate::cgroups::Stats> {
    let (_dir, _lock, st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(wrong(id, status, "container is not running"));
    }
    cgroup(&st)?.stats()
}
