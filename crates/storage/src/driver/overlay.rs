//! The overlay driver: each layer's `diff/` holds only what the layer changed
//! (whiteouts as overlayfs markers); a container's root filesystem is an
//! overlay mount of the image's layers (read-only, shared by every container
//! and image using them) with a per-container upper and work dir.
//!
//! Deep images: the classic mount(2) data is limited to one page, which full
//! layer paths exceed long before 100 layers. We use the new mount API, where
//! each `lowerdir+` is its own fsconfig call with no overall limit (Linux 6.8+).
//! Older kernels (Debian 12's 6.1, Ubuntu 22.04's 5.15) get the classic call with
//! short names: every layer has a link `<root>/l/<short>` and the lowerdir
//! names `/proc/self/fd/<fd of l>/<short>`, about 30 bytes a layer, without a
//! process-wide chdir. Which form works is learnt once per process
//! ([`FormCache`]).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use image::layer::{self, Applied, Mode, Source};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags, FsOpenFlags,
    MountAttrFlags, MountFlags, MoveMountFlags,
};

use super::mount_points::{self, MountPoint};
use super::{Driver, LayerDirs, Writes};
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
        crate::store::private_dir(&links)?;
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

    fn create_container(
        &self,
        dir: &Path,
        layers: &[LayerDirs],
        mount_points: &[MountPoint],
    ) -> Result<Option<String>> {
        let upper = dir.join("upper");
        // `work` (and `empty`, the lower of an image without layers) are
        // opened by the kernel as root only; `upper` is the container's `/`
        // and gets the image's root mode below. No `empty` for an image
        // with layers: an inode less to make and delete on every `run`.
        crate::store::private_dir(&dir.join("work"))?;
        if layers.is_empty() {
            crate::store::private_dir(&dir.join("empty"))?;
        }
        fs::create_dir(&upper).context(|| format!("create {}", upper.display()))?;
        fs::set_permissions(&upper, fs::Permissions::from_mode(0o755))
            .context(|| format!("chmod {}", upper.display()))?;
        // The mount's root directory takes its owner and mode from the upper
        // dir: give it the image's.
        if let Some(top) = layers.last() {
            let md = fs::metadata(&top.diff).context(|| format!("stat {}", top.diff.display()))?;
            std::os::unix::fs::chown(&upper, Some(md.uid()), Some(md.gid()))
                .context(|| format!("chown {}", upper.display()))?;
            fs::set_permissions(&upper, fs::Permissions::from_mode(md.mode() & 0o7777))
                .context(|| format!("chmod {}", upper.display()))?;
        }
        let tops: Vec<&Path> = layers.iter().rev().map(|l| l.diff.as_path()).collect();
        match layers.last() {
            // Recorded with the container, not linked from its directory:
            // an inode less to make and delete on every `run`.
            Some(top) if !mount_points.is_empty() => self.shared_mount_points(top, &tops, mount_points).map(Some),
            _ => mount_points::make(&upper, &tops, mount_points).map(|()| None),
        }
    }

    fn mount(
        &self,
        dir: &Path,
        layers: &[LayerDirs],
        shared: Option<&str>,
        target: &Path,
        writes: Writes,
    ) -> Result<()> {
        let what = || format!("mount overlay ({} layers) at {}", layers.len(), target.display());
        let volatile = writes == Writes::Volatile;
        let (upper, work, empty) = (dir.join("upper"), dir.join("work"), dir.join("empty"));
        let shared = SharedMountPoints::of(dir, layers, shared);
        {
            // A volatile mount leaves this marker, and the kernel refuses to
            // mount the upper dir again while it exists, since a crash may
            // have lost writes. Not mounted now, the last mount ended; the
            // container is one to throw away (`--rm`, or a build step's
            // mounted so by `Store::mount_unsynced`) whatever it lost.
            let marker = work.join("work/incompat/volatile");
            sys::fs::ignore_missing(fs::remove_dir_all(&marker)).context(|| format!("remove {}", marker.display()))?;
        }
        // Overlayfs needs at least one lower layer; an image without layers
        // gets an empty one.
        let links = self.links();
        let mut lowers = if layers.is_empty() {
            // Made with the container; here too for one made with layers
            // then mounted without (tests).
            crate::store::private_dir(&empty)?;
            Lowers { paths: vec![&empty], links: &empty, names: vec![".".into()] }
        } else {
            Lowers {
                paths: layers.iter().rev().map(|l| l.diff.as_path()).collect(),
                links: &links,
                names: layers.iter().rev().map(|l| l.short.clone()).collect(),
            }
        };
        if let (Some(shared), Some(top)) = (&shared, layers.last()) {
            lowers.paths.insert(0, &shared.path);
            lowers.names.insert(0, format!("{}/../{}", top.short, shared.name));
        }
        let forms = if self.legacy { &LEGACY_ONLY } else { &FORM };
        match mount_overlay(forms, &lowers, &upper, &work, target, volatile) {
            Ok(_) => Ok(()),
            // Linux before 5.10 has no `volatile`: synced, then.
            Err(e) if volatile && e.kind() == io::ErrorKind::InvalidInput => {
                tracing::debug!("overlay: volatile refused ({e}); mounting without it");
                mount_overlay(forms, &lowers, &upper, &work, target, false).map(drop).context(what)
            }
            Err(e) => Err(e).context(what),
        }
    }

    fn mount_view(&self, layers: &[LayerDirs], target: &Path) -> Result<()> {
        // Without an upper dir overlayfs wants two lowers at least; one
        // layer is the whole tree anyway.
        if let [one] = layers {
            return super::read_only_bind(&one.diff, target);
        }
        let what = || format!("mount overlay ({} layers, read-only) at {}", layers.len(), target.display());
        let names: Vec<&str> = layers.iter().rev().map(|l| l.short.as_str()).collect();
        mount_lowerdir(&self.links(), &names, None, target).context(what)
    }

    fn diff(&self, dir: &Path, layers: &[LayerDirs], shared: Option<&str>, out: &mut dyn Write) -> Result<()> {
        let upper = dir.join("upper");
        let mut w = layer::LayerWriter::new(out);
        layer::append_tree(&upper, Source::OverlayUpper, &mut w)?;
        if let Some(shared) = SharedMountPoints::of(dir, layers, shared) {
            mount_points::append_unshadowed(&shared.path, &upper, &mut w)?;
        }
        w.finish()?;
        Ok(())
    }

    fn take_changes(&self, dir: &Path, diff: &Path) -> Result<bool> {
        let upper = dir.join("upper");
        fs::rename(&upper, diff).context(|| format!("move {} to {}", upper.display(), diff.display()))?;
        Ok(true)
    }

    fn give_back_changes(&self, dir: &Path, diff: &Path) -> Result<()> {
        let upper = dir.join("upper");
        fs::rename(diff, &upper).context(|| format!("move {} back to {}", diff.display(), upper.display()))
    }

    fn changes_to_layer(&self, diff: &Path) -> Result<bool> {
        super::adopt::upper_to_layer(diff)
    }

    /// podman's keys, plus which form of mount this kernel takes (a trial
    /// mount: the process may not have mounted anything yet).
    fn status(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("Native Overlay Diff", "true".to_string()),
            ("Supports d_type", "true".to_string()),
            ("Using metacopy", "false".to_string()),
        ];
        match probe(&self.root) {
            Ok(form) => out.push(("Lower Layers", form.describe().to_string())),
            Err(why) => out.push(("Overlay Unusable", why)),
        }
        out
    }
}

/// The prefix of the name of the directory of mount points an image's
/// `run` containers share (see [`Overlay::shared_mount_points`]); also the
/// name of the link to it in the directory of a container made before
/// containers recorded it.
const MOUNT_POINTS_LINK: &str = "mount-points";

/// A container's shared mount points, as its mount names them.
struct SharedMountPoints {
    /// The directory (or, in an older container's directory, the link to
    /// it, which the kernel follows).
    path: PathBuf,
    /// The directory's name, beside the top layer's `diff`.
    name: String,
}

impl SharedMountPoints {
    /// Those of the container in `dir` made from `layers`, if it has them:
    /// `recorded` with it, else (an older container) linked from `dir`.
    fn of(dir: &Path, layers: &[LayerDirs], recorded: Option<&str>) -> Option<SharedMountPoints> {
        match recorded {
            // A name of ours (`shared_mount_points`), never a path.
            Some(name) if name.starts_with(MOUNT_POINTS_LINK) && !name.contains('/') => {
                let path = layers.last()?.diff.parent()?.join(name);
                Some(SharedMountPoints { path, name: name.to_string() })
            }
            Some(_) => None,
            None => {
                let link = dir.join(MOUNT_POINTS_LINK);
                let target = fs::read_link(&link).ok()?;
                let name = target.file_name()?.to_str()?.to_string();
                Some(SharedMountPoints { path: link, name })
            }
        }
    }
}

impl Overlay {
    /// The directory of `points` the image (`layers`, top first, `top` the
    /// topmost) lacks, shared as the topmost lower layer by every container
    /// made with them from this image: its name, beside the top layer's
    /// `diff`.
    ///
    /// Made in each container's own layer, they were a dozen inodes to
    /// create, and later delete, on the path of every `run` (ext4's inode
    /// allocator is slow with many recently deleted ones), for entries no
    /// container changes: the runtime mounts over them. It lives in the top
    /// layer's directory, so it goes with the layer; made under the store
    /// lock, complete before its rename.
    fn shared_mount_points(&self, top: &LayerDirs, layers: &[&Path], points: &[MountPoint]) -> Result<String> {
        let layer_dir = top.diff.parent().ok_or_else(|| Error::Corrupt {
            path: top.diff.display().to_string(),
            why: "a layer's diff without a parent directory".into(),
        })?;
        let listed: String = points.iter().map(|p| format!("{}:{}\n", p.path, p.dir)).collect();
        let name = format!("{MOUNT_POINTS_LINK}-{}", &image::digest::Digest::of_bytes(listed.as_bytes()).hex()[..16]);
        let path = layer_dir.join(&name);
        if !path.is_dir() {
            let tmp = layer_dir.join(format!("{name}.tmp"));
            // A crash's leftover: nobody else makes it while we hold the lock.
            sys::fs::ignore_missing(fs::remove_dir_all(&tmp)).context(|| format!("remove {}", tmp.display()))?;
            fs::create_dir(&tmp).context(|| format!("create {}", tmp.display()))?;
            // Its root is never seen (a mount's `/` is the upper dir's):
            // closed, as the store's own directories are; what is in it is
            // image content, with the modes the container sees.
            fs::set_permissions(&tmp, fs::Permissions::from_mode(crate::store::PRIVATE))
                .context(|| format!("chmod {}", tmp.display()))?;
            mount_points::make(&tmp, layers, points)?;
            fs::rename(&tmp, &path).context(|| format!("create {}", path.display()))?;
        }
        Ok(name)
    }
}

/// The lower layers of one mount (top first), in both forms the kernel may take.
struct Lowers<'a> {
    /// Full paths, one `lowerdir+` each (new mount API).
    paths: Vec<&'a Path>,
    /// For the classic `lowerdir=` option: `names` are relative to `links`
    /// (the short `l/` links), so deep images fit in one page of options.
    links: &'a Path,
    names: Vec<String>,
}

/// How an overlay was mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// fsopen/fsconfig with one `lowerdir+` per layer (Linux 6.8+: no limit
    /// on the number of layers).
    LowerdirPlus,
    /// mount(2) with `lowerdir=` naming the short links (any kernel; about
    /// 120 layers fit).
    Legacy,
}

impl Form {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Form::LowerdirPlus => "lowerdir+ (new mount API)",
            Form::Legacy => "lowerdir= (mount(2), short layer links)",
        }
    }
}

/// Which form this kernel takes, learnt by the first mount of the process so
/// later mounts do not retry a form that cannot work.
///
/// Kernels before 6.8 lack `lowerdir+`, and before 6.5 overlayfs has no
/// fs_context of its own: fsconfig then stores every key, `lowerdir+`
/// included, as a legacy option string (at most one page of them), and only
/// the final create step (fill_super) rejects it. So the new form is not
/// known to work until a whole mount succeeded, and any failing step sends
/// the mount to the classic form.
pub(crate) struct FormCache(AtomicU8);

const UNKNOWN: u8 = 0;
const NEW_WORKS: u8 = 1;
const LEGACY_ONLY_WORKS: u8 = 2;

/// The process's cache.
static FORM: FormCache = FormCache(AtomicU8::new(UNKNOWN));
/// For tests of the classic form on kernels that have the new one.
static LEGACY_ONLY: FormCache = FormCache(AtomicU8::new(LEGACY_ONLY_WORKS));

impl FormCache {
    /// Mount with the form this kernel takes: the new one unless it is known
    /// not to work; the classic one when the new one fails at any step.
    fn mount(&self, new: impl FnOnce() -> io::Result<()>, legacy: impl FnOnce() -> io::Result<()>) -> io::Result<Form> {
        if self.0.load(Ordering::Relaxed) == LEGACY_ONLY_WORKS {
            return legacy().map(|()| Form::Legacy);
        }
        let new_err = match new() {
            Ok(()) => {
                let _ = self.0.compare_exchange(UNKNOWN, NEW_WORKS, Ordering::Relaxed, Ordering::Relaxed);
                return Ok(Form::LowerdirPlus);
            }
            Err(e) => e,
        };
        match legacy() {
            Ok(()) => {
                if self.0.compare_exchange(UNKNOWN, LEGACY_ONLY_WORKS, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                    tracing::debug!(error = %new_err, "overlay: lowerdir+ does not mount here; using lowerdir=");
                }
                Ok(Form::Legacy)
            }
            // The new form's error carries the kernel's explanation.
            Err(e) => Err(io::Error::new(new_err.kind(), format!("{new_err}; with lowerdir=: {e}"))),
        }
    }
}

fn mount_overlay(
    forms: &FormCache,
    l: &Lowers,
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> io::Result<Form> {
    forms.mount(
        || mount_fsconfig(&l.paths, upper, work, target, volatile),
        || {
            let names: Vec<&str> = l.names.iter().map(String::as_str).collect();
            mount_lowerdir(l.links, &names, Some((upper, work, volatile)), target)
        },
    )
}

fn mount_fsconfig(lowers: &[&Path], upper: &Path, work: &Path, target: &Path, volatile: bool) -> io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    // The kernel explains fsconfig failures in messages read from the fs fd.
    let with_log = |e: Errno| sys::mount::fs_context_error(&fs, e);
    for lower in lowers {
        fsconfig_set_string(&fs, "lowerdir+", *lower).map_err(with_log)?;
    }
    fsconfig_set_string(&fs, "upperdir", upper).map_err(with_log)?;
    fsconfig_set_string(&fs, "workdir", work).map_err(with_log)?;
    for (k, v) in OPTIONS {
        fsconfig_set_string(&fs, *k, *v).map_err(with_log)?;
    }
    if volatile {
        fsconfig_set_flag(&fs, "volatile").map_err(with_log)?;
    }
    fsconfig_create(&fs).map_err(with_log)?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty()).map_err(with_log)?;
    move_mount(mnt.as_fd(), "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?;
    Ok(())
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

/// mount(2) of an overlay with `lowerdir=` naming `names` (top first, the
/// short links in `dir`), and, given `upper`, its upper and work dirs (and
/// whether it is volatile); with none the kernel makes it read-only.
fn mount_lowerdir(dir: &Path, names: &[&str], upper: Option<(&Path, &Path, bool)>, target: &Path) -> io::Result<()> {
    let dir = File::open(dir)?;
    let base = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let lower: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();
    let mut data = format!("lowerdir={}", lower.join(":"));
    if let Some((upper, work, volatile)) = upper {
        data.push_str(&format!(",upperdir={},workdir={}", escape(upper), escape(work)));
        for (k, v) in OPTIONS {
            data.push_str(&format!(",{k}={v}"));
        }
        if volatile {
            data.push_str(",volatile");
        }
    }
    // mount(2) copies at most one page of options; longer data would be cut.
    if data.len() >= rustix::param::page_size() {
        return Err(io::Error::other(format!(
            "{} layers do not fit in the mount options of this kernel (Linux 6.8+ has no limit)",
            names.len()
        )));
    }
    let data = std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = if upper.is_some() { MountFlags::empty() } else { MountFlags::RDONLY };
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())?;
    Ok(())
}

/// Whether overlay works under `root`: as root, on a filesystem that takes
/// trusted xattrs and can be an overlay upper (not overlayfs, not old tmpfs).
/// Returns the form of mount that worked, or why none did.
pub(crate) fn probe(root: &Path) -> Result<Form, String> {
    if !rustix::process::geteuid().is_root() {
        return Err("overlay needs root".into());
    }
    // The driver root (parents that exist are left alone); the probe dir
    // inside is 0700 too.
    crate::store::private_dir(root).map_err(|e| e.to_string())?;
    let t = tempfile::Builder::new()
        .prefix(".overlay-probe-")
        .permissions(fs::Permissions::from_mode(crate::store::PRIVATE))
        .tempdir_in(root)
        .map_err(|e| e.to_string())?;
    let p = |n: &str| t.path().join(n);
    for d in ["lower", "upper", "work", "merged", "upper/d"] {
        fs::create_dir(p(d)).map_err(|e| e.to_string())?;
    }
    xattr::set(p("upper/d"), "trusted.overlay.opaque", b"y").map_err(|e| format!("trusted xattrs: {e}"))?;
    let lower = p("lower");
    let lowers = Lowers { paths: vec![&lower], links: &lower, names: vec![".".into()] };
    let form =
        mount_overlay(&FORM, &lowers, &p("upper"), &p("work"), &p("merged"), false).map_err(|e| e.to_string())?;
    let _ = rustix::mount::unmount(p("merged"), rustix::mount::UnmountFlags::DETACH);
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Kernels before 6.5 take `lowerdir+` at fsconfig and refuse it only at
    /// the create step; whatever step fails, the classic form is used, and
    /// the process does not try the new form again.
    #[test]
    fn a_failing_new_form_falls_back_to_lowerdir_and_is_remembered() {
        let cache = FormCache(AtomicU8::new(UNKNOWN));
        let tried_new = Cell::new(0);
        let new = || {
            tried_new.set(tried_new.get() + 1);
            Err(io::Error::from_raw_os_error(Errno::INVAL.raw_os_error()))
        };
        assert_eq!(cache.mount(new, || Ok(())).unwrap(), Form::Legacy);
        assert_eq!(cache.mount(new, || Ok(())).unwrap(), Form::Legacy);
        assert_eq!(tried_new.get(), 1, "the new form is not retried once it failed");

        // Both failing: the error says both, and nothing is remembered.
        let cache = FormCache(AtomicU8::new(UNKNOWN));
        let e = cache.mount(new, || Err(io::Error::other("legacy broke"))).unwrap_err();
        assert!(e.to_string().contains("legacy broke") && e.to_string().contains("Invalid argument"), "{e}");
        assert_eq!(cache.0.load(Ordering::Relaxed), UNKNOWN);

        // A kernel with the new form keeps using it; a later failure of it
        // still gets the classic form as a second chance.
        let cache = FormCache(AtomicU8::new(UNKNOWN));
        assert_eq!(cache.mount(|| Ok(()), || panic!("not needed")).unwrap(), Form::LowerdirPlus);
        assert_eq!(cache.mount(new, || Ok(())).unwrap(), Form::Legacy);
        assert_eq!(cache.0.load(Ordering::Relaxed), NEW_WORKS);
    }

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
        assert_eq!(driver.create_container(&dir, &layers, &[]).unwrap(), None);
        driver.mount(&dir, &layers, None, &target, Writes::Synced).unwrap();
        let count = fs::read_dir(&target).map(|d| d.count());
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
        assert_eq!(count.unwrap(), 120);
        // The shared mount points, named through the top layer's link.
        let dir2 = driver.root.join("containers/c2");
        fs::create_dir_all(&dir2).unwrap();
        let shared = driver.create_container(&dir2, &layers, &[MountPoint { path: "proc", dir: true }]).unwrap();
        driver.mount(&dir2, &layers, shared.as_deref(), &target, Writes::Synced).unwrap();
        let seen = (target.join("proc").is_dir(), fs::read_dir(&target).map(|d| d.count()).unwrap());
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
        assert_eq!(seen, (true, 121));
        // Without layers, the container's empty lower is used.
        driver.mount(&dir, &[], None, &target, Writes::Synced).unwrap();
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
    }
}
