//! The overlay driver: each layer's `diff/` holds only what the layer changed
//! (whiteouts as overlayfs markers); a container's root filesystem is an
//! overlay mount of the image's layers (read-only, shared by every container
//! and image using them) with a per-container upper and work dir.
//!
//! Deep images: the classic mount(2) data is limited to one page, which full
//! layer paths exceed long before 100 layers. We use the new mount API, where
//! each `lowerdir+` is its own fsconfig call with no overall limit (Linux 6.8).
//! Older kernels get the classic call with short names: every layer has a link
//! `<root>/l/<short>` and the lowerdir names `/proc/self/fd/<fd of l>/<short>`,
//! about 30 bytes a layer, without a process-wide chdir.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::layer::{self, Applied, Mode, Source};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags, FsOpenFlags, MountAttrFlags,
    MountFlags, MoveMountFlags,
};

use super::{Driver, LayerDirs};
use crate::error::{Context, Error, Result};

/// Features we never want: they make the upper dir hold xattr redirects
/// instead of real files, which a diff of the upper dir could not express.
const OPTIONS: &[(&str, &str)] = &[("index", "off"), ("redirect_dir", "off"), ("metacopy", "off")];

pub(crate) struct Overlay {
    /// `<root>/overlay`
    root: PathBuf,
    /// Use the classic mount(2) even when the new API works (tests).
    legacy: bool,
}

impl Overlay {
    pub(crate) fn new(root: PathBuf) -> Self {
        Overlay { root, legacy: false }
    }

    fn links(&self) -> PathBuf {
        self.root.join("l")
    }
}

impl Driver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn apply(&self, _parent: Option<&Path>, tar: &mut dyn Read, diff: &Path) -> Result<Applied> {
        Ok(layer::apply(tar, diff, Mode::Overlay)?)
    }

    fn parallel_apply(&self) -> bool {
        true
    }

    fn layer_added(&self, l: &LayerDirs) -> Result<()> {
        let links = self.links();
        fs::create_dir_all(&links).context(|| format!("create {}", links.display()))?;
        let rel = l.diff.strip_prefix(&self.root).map_err(|_| Error::Corrupt {
            path: l.diff.display().to_string(),
            why: "layer outside the driver root".into(),
        })?;
        let target = Path::new("..").join(rel);
        let link = links.join(&l.short);
        match std::os::unix::fs::symlink(&target, &link) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && fs::read_link(&link).ok() == Some(target) => Ok(()),
            Err(e) => Err(Error::Io { context: format!("link {}", link.display()), source: e }),
        }
    }

    fn layer_removed(&self, l: &LayerDirs) -> Result<()> {
        match fs::remove_file(self.links().join(&l.short)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::Io { context: format!("remove link {}", l.short), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Links made for layers whose rename never happened (crash) dangle.
    fn clean(&self) -> Result<()> {
        let links = self.links();
        let Ok(entries) = fs::read_dir(&links) else { return Ok(()) };
        for e in entries.flatten() {
            if fs::metadata(e.path()).is_err() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    fn create_container(&self, dir: &Path, layers: &[LayerDirs]) -> Result<()> {
        let upper = dir.join("upper");
        for (d, mode) in [(&upper, 0o755), (&dir.join("work"), 0o700), (&dir.join("empty"), 0o755)] {
            fs::create_dir(d).context(|| format!("create {}", d.display()))?;
            fs::set_permissions(d, fs::Permissions::from_mode(mode)).context(|| format!("chmod {}", d.display()))?;
        }
        // The mount's root directory takes its owner and mode from the upper
        // dir: give it the image's.
        if let Some(top) = layers.last() {
            let md = fs::metadata(&top.diff).context(|| format!("stat {}", top.diff.display()))?;
            std::os::unix::fs::chown(&upper, Some(md.uid()), Some(md.gid()))
                .context(|| format!("chown {}", upper.display()))?;
            fs::set_permissions(&upper, fs::Permissions::from_mode(md.mode() & 0o7777))
                .context(|| format!("chmod {}", upper.display()))?;
        }
        Ok(())
    }

    fn mount(&self, dir: &Path, layers: &[LayerDirs], target: &Path) -> Result<()> {
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        // Overlayfs needs at least one lower layer; an image without layers
        // gets an empty one.
        let empty = [LayerDirs { diff: dir.join("empty"), short: String::new() }];
        let lowers: Vec<&LayerDirs> =
            if layers.is_empty() { empty.iter().collect() } else { layers.iter().rev().collect() };
        let what = || format!("mount overlay ({} layers) at {}", layers.len(), target.display());
        if !self.legacy {
            let diffs: Vec<&Path> = lowers.iter().map(|l| l.diff.as_path()).collect();
            match mount_fsconfig(&diffs, &upper, &work, target) {
                Err(MountError::Unsupported) => {}
                Err(MountError::Io(e)) => return Err(Error::Io { context: what(), source: e }),
                Ok(()) => return Ok(()),
            }
        }
        if layers.is_empty() {
            return mount_legacy(&dir.join("empty"), &["."], &upper, &work, target).context(what);
        }
        let shorts: Vec<&str> = lowers.iter().map(|l| l.short.as_str()).collect();
        mount_legacy(&self.links(), &shorts, &upper, &work, target).context(what)
    }

    fn diff(&self, dir: &Path, _layers: &[LayerDirs], out: &mut dyn Write) -> Result<()> {
        layer::create(&dir.join("upper"), Source::OverlayUpper, out)?;
        Ok(())
    }
}

enum MountError {
    /// No new mount API or no `lowerdir+` (before Linux 6.8).
    Unsupported,
    Io(io::Error),
}

fn mount_fsconfig(lowers: &[&Path], upper: &Path, work: &Path, target: &Path) -> Result<(), MountError> {
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(Errno::NOSYS) => return Err(MountError::Unsupported),
        Err(e) => return Err(MountError::Io(e.into())),
    };
    let with_log = |e: Errno| MountError::Io(kernel_message(&fs, e));
    for (i, lower) in lowers.iter().enumerate() {
        match fsconfig_set_string(&fs, "lowerdir+", *lower) {
            Ok(()) => {}
            // An unknown key is EINVAL: this kernel predates `lowerdir+`.
            Err(Errno::INVAL) if i == 0 => return Err(MountError::Unsupported),
            Err(e) => return Err(with_log(e)),
        }
    }
    fsconfig_set_string(&fs, "upperdir", upper).map_err(with_log)?;
    fsconfig_set_string(&fs, "workdir", work).map_err(with_log)?;
    for (k, v) in OPTIONS {
        fsconfig_set_string(&fs, *k, *v).map_err(with_log)?;
    }
    fsconfig_create(&fs).map_err(with_log)?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty()).map_err(with_log)?;
    move_mount(mnt.as_fd(), "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(|e| MountError::Io(e.into()))
}

/// The kernel explains fsconfig failures in messages read from the fs fd.
fn kernel_message(fs: &OwnedFd, e: Errno) -> io::Error {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
    }
    if msgs.is_empty() {
        e.into()
    } else {
        io::Error::new(io::Error::from(e).kind(), format!("{e} ({})", msgs.join("; ")))
    }
}

/// Escape what the overlay option parser treats specially.
fn escape(p: &Path) -> String {
    let mut s = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn mount_legacy(dir: &Path, names: &[&str], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    let dir = File::open(dir)?;
    let base = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let lower: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();
    let mut data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), escape(upper), escape(work));
    for (k, v) in OPTIONS {
        data.push_str(&format!(",{k}={v}"));
    }
    // mount(2) copies at most one page of options; longer data would be cut.
    if data.len() >= rustix::param::page_size() {
        return Err(io::Error::other(format!(
            "{} layers do not fit in the mount options of this kernel (Linux 6.8+ has no limit)",
            names.len()
        )));
    }
    let data = std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::mount::mount("overlay", target, "overlay", MountFlags::empty(), data.as_c_str())?;
    Ok(())
}

/// Whether overlay works under `root`: as root, on a filesystem that takes
/// trusted xattrs and can be an overlay upper (not overlayfs, not old tmpfs).
pub(crate) fn probe(root: &Path) -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("overlay needs root".into());
    }
    fs::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let t = tempfile::Builder::new().prefix(".overlay-probe-").tempdir_in(root).map_err(|e| e.to_string())?;
    let p = |n: &str| t.path().join(n);
    for d in ["lower", "upper", "work", "merged", "upper/d"] {
        fs::create_dir(p(d)).map_err(|e| e.to_string())?;
    }
    xattr::set(p("upper/d"), "trusted.overlay.opaque", b"y").map_err(|e| format!("trusted xattrs: {e}"))?;
    let lower = p("lower");
    let r = match mount_fsconfig(&[&lower], &p("upper"), &p("work"), &p("merged")) {
        Ok(()) => Ok(()),
        Err(MountError::Io(e)) => Err(e.to_string()),
        Err(MountError::Unsupported) => {
            mount_legacy(&lower, &["."], &p("upper"), &p("work"), &p("merged")).map_err(|e| e.to_string())
        }
    };
    if r.is_ok() {
        let _ = rustix::mount::unmount(p("merged"), rustix::mount::UnmountFlags::DETACH);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic mount(2) path (kernels before 6.8) still fits 120 layers.
    #[test]
    fn legacy_mount_fits_deep_images() {
        if !rustix::process::geteuid().is_root() {
            panic!("this test needs root: run it as root, as scripts/test.sh does");
        }
        let t = tempfile::tempdir().unwrap();
        let driver = Overlay { root: t.path().join("overlay"), legacy: true };
        let mut layers = Vec::new();
        for i in 0..120 {
            let diff = driver.root.join(format!("layers/{i:064x}/diff"));
            fs::create_dir_all(&diff).unwrap();
            fs::write(diff.join(format!("f{i}")), "x").unwrap();
            let l = LayerDirs { diff, short: format!("{i:012x}") };
            driver.layer_added(&l).unwrap();
            layers.push(l);
        }
        let (dir, target) = (t.path().join("c"), t.path().join("m"));
        fs::create_dir(&dir).unwrap();
        fs::create_dir(&target).unwrap();
        driver.create_container(&dir, &layers).unwrap();
        driver.mount(&dir, &layers, &target).unwrap();
        let count = fs::read_dir(&target).map(|d| d.count());
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
        assert_eq!(count.unwrap(), 120);
        // Without layers, the container's empty lower is used.
        driver.mount(&dir, &[], &target).unwrap();
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
    }
}
