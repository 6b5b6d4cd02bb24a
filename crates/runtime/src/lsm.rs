//! Linux security module labels of the container's process:
//! `process.apparmorProfile` and `process.selinuxLabel`.
//!
//! As runc does, the label is not switched to at once: it is written to the
//! thread's *exec* attribute, which the kernel applies at the next execve, so
//! the runtime's own last steps run unconfined and the container's program
//! starts confined. The write goes through the verified procfs handle
//! ([`crate::procfs::Proc`]) with no symlink followed and no mount crossed,
//! so a config or image that over-mounts or symlinks part of /proc cannot
//! redirect it (CVE-2019-16884). It is done just before execve, after the
//! startContainer hooks: hooks spawned after the write would inherit it.
//!
//! A host without the module cannot honour a label, and running the
//! container unconfined while the caller believes it confined would be worse
//! than failing: such configs are refused ([`check_supported`]).

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use oci_spec::runtime::Process;
use rustix::fs::OFlags;

use crate::error::{Context, Error, Result};

/// A label for the process's next execve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecLabel {
    /// An AppArmor profile name.
    AppArmor(String),
    /// An SELinux context (`user:role:type:level`).
    SeLinux(String),
}

/// The labels `p` asks for (empty strings mean none).
pub fn exec_labels(p: &Process) -> Vec<ExecLabel> {
    let mut labels = Vec::new();
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        labels.push(ExecLabel::AppArmor(profile.to_string()));
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        labels.push(ExecLabel::SeLinux(label.to_string()));
    }
    labels
}

/// Refuse labels this host's kernel cannot apply.
pub fn check_supported(p: &Process) -> Result<()> {
    for label in exec_labels(p) {
        match label {
            ExecLabel::AppArmor(profile) if !crate::features::apparmor_enabled() => {
                return Err(Error::Unsupported(format!(
                    "apparmor profile {profile:?} requested but AppArmor is not enabled on this host"
                )))
            }
            ExecLabel::SeLinux(label) if !crate::features::selinux_enabled() => {
                return Err(Error::Unsupported(format!(
                    "selinux label {label:?} requested but SELinux is not enabled on this host"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Write `label` as the calling thread's exec attribute, under `proc`: the
/// root of a procfs (the verified host /proc handle; a plain directory laid
/// out the same way in tests).
///
/// AppArmor: `exec <profile>` to `thread-self/attr/apparmor/exec`, or to
/// `thread-self/attr/exec` on kernels before 5.8 which lack the per-module
/// directory. SELinux: the context to `thread-self/attr/exec`.
pub fn set_exec_label(proc: BorrowedFd, label: &ExecLabel) -> Result<()> {
    let me = thread_self(proc)?;
    let (candidates, value) = match label {
        ExecLabel::AppArmor(profile) => {
            (vec![me.join("attr/apparmor/exec"), me.join("attr/exec")], format!("exec {profile}"))
        }
        ExecLabel::SeLinux(context) => (vec![me.join("attr/exec")], context.clone()),
    };
    let mut last = None;
    for path in &candidates {
        match sys::fs::open_beneath_no_symlinks(proc, path, OFlags::WRONLY) {
            Ok(fd) => {
                return std::fs::File::from(fd)
                    .write_all(value.as_bytes())
                    .context(|| format!("apply {label}: write /proc/{}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last = Some((path, e)),
            Err(e) => return Err(e).context(|| format!("apply {label}: open /proc/{}", path.display())),
        }
    }
    match last {
        Some((path, e)) => Err(e).context(|| format!("apply {label}: open /proc/{}", path.display())),
        None => Err(Error::Other(format!("apply {label}: no attribute file"))),
    }
}

/// `<pid>/task/<tid>` of the calling thread as `proc` numbers it, from its
/// `thread-self` link (which the no-symlink open refuses to follow).
fn thread_self(proc: BorrowedFd) -> Result<PathBuf> {
    let link = rustix::fs::readlinkat(proc, "thread-self", Vec::new())
        .map_err(std::io::Error::from)
        .context(|| "readlink /proc/thread-self".into())?;
    let text = link.to_string_lossy().into_owned();
    // Only "<digits>/task/<digits>": nothing else may steer the write.
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split('/').collect::<Vec<_>>()[..] {
        [pid, "task", tid] if digits(pid) && digits(tid) => Ok(PathBuf::from(text)),
        _ => Err(Error::Other(format!("/proc/thread-self points at {text:?}, not at a thread"))),
    }
}

impl std::fmt::Display for ExecLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecLabel::AppArmor(p) => write!(f, "apparmor profile {p:?}"),
            ExecLabel::SeLinux(l) => write!(f, "selinux label {l:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A procfs stand-in: `thread-self` -> `42/task/42`, with the attr files
    /// a kernel with (`per_module`) or without the per-module directory has.
    fn fake_proc(per_module: bool) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let me = t.path().join("42/task/42/attr");
        std::fs::create_dir_all(&me).unwrap();
        std::fs::write(me.join("exec"), b"").unwrap();
        if per_module {
            std::fs::create_dir(me.join("apparmor")).unwrap();
            std::fs::write(me.join("apparmor/exec"), b"").unwrap();
        }
        std::os::unix::fs::symlink("42/task/42", t.path().join("thread-self")).unwrap();
        t
    }

    fn read(t: &tempfile::TempDir, rel: &str) -> String {
        std::fs::read_to_string(t.path().join(rel)).unwrap()
    }

    fn apply(t: &tempfile::TempDir, label: &ExecLabel) -> Result<()> {
        let dir = std::fs::File::open(t.path()).unwrap();
        set_exec_label(dir.as_fd(), label)
    }

    #[test]
    fn apparmor_goes_to_the_per_module_attribute() {
        let t = fake_proc(true);
        apply(&t, &ExecLabel::AppArmor("berth-default".into())).unwrap();
        assert_eq!(read(&t, "42/task/42/attr/apparmor/exec"), "exec berth-default");
        assert_eq!(read(&t, "42/task/42/attr/exec"), "", "the shared attribute is left alone");
    }

    #[test]
    fn apparmor_falls_back_to_the_shared_attribute_on_old_kernels() {
        let t = fake_proc(false);
        apply(&t, &ExecLabel::AppArmor("berth-default".into())).unwrap();
        assert_eq!(read(&t, "42/task/42/attr/exec"), "exec berth-default");
    }

    #[test]
    fn selinux_goes_to_the_exec_attribute() {
        let t = fake_proc(true);
        apply(&t, &ExecLabel::SeLinux("system_u:system_r:container_t:s0:c1,c2".into())).unwrap();
        assert_eq!(read(&t, "42/task/42/attr/exec"), "system_u:system_r:container_t:s0:c1,c2");
        assert_eq!(read(&t, "42/task/42/attr/apparmor/exec"), "");
    }

    /// A symlink anywhere below thread-self (an over-mounted or tampered
    /// /proc) is refused, never followed to write somewhere else.
    #[test]
    fn symlinks_below_thread_self_are_refused() {
        let t = fake_proc(false);
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::fs::remove_file(t.path().join("42/task/42/attr/exec")).unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("42/task/42/attr/exec")).unwrap();
        assert!(apply(&t, &ExecLabel::SeLinux("x".into())).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn thread_self_must_name_a_thread() {
        let t = fake_proc(true);
        std::fs::remove_file(t.path().join("thread-self")).unwrap();
        std::os::unix::fs::symlink("../etc", t.path().join("thread-self")).unwrap();
        let e = apply(&t, &ExecLabel::AppArmor("p".into())).unwrap_err();
        assert!(e.to_string().contains("not at a thread"), "{e}");
    }

    /// On the real /proc of this host the path is found (the attribute
    /// files exist whether or not a module is loaded).
    #[test]
    fn real_procfs_has_our_thread() {
        let p = crate::procfs::Proc::open(std::path::Path::new("/proc")).unwrap();
        let me = thread_self(p.fd()).unwrap();
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        assert!(me.ends_with(format!("task/{tid}")), "{}", me.display());
    }

    #[test]
    fn labels_from_the_config() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"],
            "apparmorProfile": "prof", "selinuxLabel": ""
        }))
        .unwrap();
        assert_eq!(exec_labels(&p), vec![ExecLabel::AppArmor("prof".into())]);
    }
}
