//! Freezing and thawing, waiting until the kernel reports the new state.
//!
//! Freezing is asynchronous in both versions: v1's freezer.state passes
//! through FREEZING, v2 sets "frozen 1" in cgroup.events once every task
//! stopped. Callers (pause, kill_all) rely on the state having settled.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::fs;
use crate::error::{Error, Result};

/// How long a v1 thaw or a v2 freeze/thaw may take to settle before we give
/// up (v1 freezing has its own retry budget, see `v1_freeze`). Tasks in
/// uninterruptible sleep can delay a v2 freeze noticeably.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(1);

pub fn v1_set(dir: &Path, freeze: bool) -> Result<()> {
    if freeze {
        v1_freeze(dir)
    } else {
        v1_thaw(dir)
    }
}

/// v1 can stay in FREEZING forever: e.g. a shell's vfork child gets frozen
/// before it execs while the parent waits for it unfreezably (seen on this
/// 6.x kernel with dash running `sleep`). Like runc, keep re-asking and now
/// and then thaw briefly so such pairs can make progress, then give up and
/// leave the cgroup thawed. v2's freezer doesn't have this problem.
fn v1_freeze(dir: &Path) -> Result<()> {
    let mut state = String::new();
    for i in 0..1000 {
        if i % 50 == 49 {
            fs::write(dir, "freezer.state", "THAWED")?;
            sleep(Duration::from_millis(10));
        }
        fs::write(dir, "freezer.state", "FROZEN")?;
        if i % 25 == 24 {
            // Helps very slow systems catch up before we look.
            sleep(Duration::from_micros(10));
        }
        state = fs::read(dir, "freezer.state")?;
        match state.as_str() {
            "FROZEN" => return Ok(()),
            "FREEZING" => continue,
            other => {
                return Err(Error::Cgroup(format!(
                    "{}: unexpected state {other} after writing FROZEN",
                    dir.join("freezer.state").display()
                )))
            }
        }
    }
    // Don't leave the container half-frozen.
    let _ = fs::write(dir, "freezer.state", "THAWED");
    Err(Error::Cgroup(format!("{}: unable to freeze (stuck in {state})", dir.display())))
}

fn v1_thaw(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    fs::write(dir, "freezer.state", "THAWED")?;
    loop {
        let state = fs::read(dir, "freezer.state")?;
        if state == "THAWED" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Cgroup(format!(
                "{}: state is {state} after {:?}, wanted THAWED",
                dir.join("freezer.state").display(),
                SETTLE_TIMEOUT
            )));
        }
        sleep(POLL);
    }
}

pub fn v1_is_frozen(dir: &Path) -> Result<bool> {
    Ok(fs::read(dir, "freezer.state")? == "FROZEN")
}

/// The "frozen" value from cgroup.events.
fn v2_events_frozen(dir: &Path) -> Result<bool> {
    let events = fs::read(dir, "cgroup.events")?;
    Ok(events.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["frozen", "1"]))
}

pub fn v2_set(dir: &Path, freeze: bool) -> Result<()> {
    fs::write(dir, "cgroup.freeze", if freeze { "1" } else { "0" })?;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        if v2_events_frozen(dir)? == freeze {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if freeze {
                let _ = fs::write(dir, "cgroup.freeze", "0");
            }
            return Err(Error::Cgroup(format!(
                "{}: frozen state did not become {} within {:?}",
                dir.join("cgroup.events").display(),
                u8::from(freeze),
                SETTLE_TIMEOUT
            )));
        }
        sleep(POLL);
    }
}

pub fn v2_is_frozen(dir: &Path) -> Result<bool> {
    // cgroup.freeze is the requested state; report frozen only once the
    // kernel confirms it, so a half-frozen container reads as running.
    Ok(fs::read(dir, "cgroup.freeze")? == "1" && v2_events_frozen(dir)?)
}
