//! A container's volumes and mounts: `-v`, `--mount`, `--tmpfs` and the
//! image's `VOLUME`s, parsed with podman's rules, recorded with the
//! container (so `volume rm` knows who uses a volume), and written into its
//! OCI config, where the runtime mounts them inside the root without
//! following links out of it. A volume new to its data is first filled
//! from the image's content at its mount point (podman's copy-up).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Context as _, Error, Result};
use crate::volumes::Volume;
use crate::Engine;

/// One mount of a container, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    /// A host path.
    Bind { source: String, destination: String, options: Vec<String> },
    /// A named (or anonymous: `name` None until created) volume.
    Volume { name: Option<String>, destination: String, options: Vec<String>, anonymous: bool },
    /// A fresh tmpfs.
    Tmpfs { destination: String, options: Vec<String> },
}

impl Mount {
    /// The volume it mounts, if any.
    pub fn volume(&self) -> Option<&str> {
        match self {
            Mount::Volume { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    pub fn destination(&self) -> &str {
        match self {
            Mount::Bind { destination, .. } | Mount::Volume { destination, .. } | Mount::Tmpfs { destination, .. } => {
                destination
            }
        }
    }

    pub(super) fn options(&self) -> &[String] {
        match self {
            Mount::Bind { options, .. } | Mount::Volume { options, .. } | Mount::Tmpfs { options, .. } => options,
        }
    }

    /// Mounted read-only (`ro`).
    pub fn read_only(&self) -> bool {
        self.options().iter().any(|o| o == "ro")
    }
}

/// The options `-v` takes after the paths (podman's list; `z`/`Z` relabel
/// for SELinux, which these hosts lack: accepted and ignored).
const VOLUME_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "O",
    "U",
    "nocopy",
    "copy",
    "rbind",
    "bind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "noexec",
    "exec",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "atime",
    "noatime",
    "relatime",
    "strictatime",
    "nodiratime",
];

fn absolute(dest: &str) -> Result<String> {
    if dest.starts_with('/') {
        Ok(dest.to_string())
    } else {
        Err(Error::new(format!("invalid container path {dest:?}, must be an absolute path")))
    }
}

fn options(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for o in text.split(',').filter(|o| !o.is_empty()) {
        // `idmap`: podman 4.3 takes it; without a user namespace the
        // container's ids are the host's, so the mount is a plain one.
        // `idmap=uids=A-B-N;gids=...`: idmapped through a user namespace of
        // its own, by the runtime (`rootfs/idmap.rs`), as crun does.
        if o == "idmap" || o.starts_with("idmap=") {
            out.push(o.to_string());
            continue;
        }
        if !VOLUME_OPTIONS.contains(&o) {
            return Err(Error::new(format!("invalid option type {o:?}")));
        }
        if o == "O" {
            return Err(Error::new(format!("the {o:?} volume option is not supported by berth yet")));
        }
        out.push(o.to_string());
    }
    Ok(out)
}

/// `-v DEST`, `-v SOURCE:DEST[:OPTIONS]`: an anonymous volume (no source),
/// a host path (absolute or `./`-relative source) or a named volume.
pub fn parse_volume_flag(text: &str) -> Result<Mount> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, dest, opts) = match parts.as_slice() {
        [dest] => (None, *dest, ""),
        // Two parts are always SOURCE:DEST (podman: `/ctr:ro` is an error).
        [a, b] => (Some(*a), *b, ""),
        [a, b, opts] => (Some(*a), *b, *opts),
        _ => {
            return Err(Error::new(format!("incorrect volume format {text:?}, should be [host-dir:]ctr-dir[:option]")))
        }
    };
    let destination = absolute(dest)?;
    let options = options(opts)?;
    Ok(match source {
        Some(s) if s.starts_with('/') || s.starts_with('.') => {
            let source = std::path::absolute(s).map_err(|e| Error::caused(format_args!("{s}"), e))?;
            Mount::Bind { source: source.to_string_lossy().into_owned(), destination, options }
        }
        Some(name) => {
            crate::volumes::validate_name(name)?;
            Mount::Volume { name: Some(name.to_string()), destination, options, anonymous: false }
        }
        None => Mount::Volume { name: None, destination, options, anonymous: true },
    })
}

/// `--mount type=bind|volume|tmpfs,source=...,destination=...,...`.
pub fn parse_mount_flag(text: &str) -> Result<Mount> {
    let mut kind = "volume";
    let (mut source, mut dest) = (None, None);
    let mut opts: Vec<String> = Vec::new();
    for field in text.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (k, v) {
            ("type", Some(t)) => kind = t,
            ("source" | "src", Some(s)) => source = Some(s.to_string()),
            ("destination" | "dst" | "target", Some(d)) => dest = Some(d.to_string()),
            ("ro" | "readonly", None | Some("true")) => opts.push("ro".into()),
            ("ro" | "readonly", Some("false")) | ("rw", None) => opts.push("rw".into()),
            ("bind-propagation", Some(p)) => opts.extend(options(p)?),
            ("tmpfs-size", Some(s)) => opts.push(format!("size={s}")),
            ("tmpfs-mode", Some(m)) => opts.push(format!("mode={m}")),
            ("z" | "Z" | "relabel" | "consistency", _) => {}
            ("volume-nocopy", None | Some("true")) => opts.push("nocopy".into()),
            ("U", None | Some("true")) | ("chown", Some("true")) => opts.push("U".into()),
            ("U", Some("false")) | ("chown", Some("false")) => {}
            ("idmap", None) => opts.push("idmap".into()),
            ("idmap", Some(m)) => opts.push(format!("idmap={m}")),
            _ => return Err(Error::new(format!("unknown mount option {field:?}: invalid mount option"))),
        }
    }
    let destination = absolute(&dest.ok_or_else(|| Error::new("must set target path for mount: invalid argument"))?)?;
    Ok(match kind {
        "bind" => {
            let s = source.ok_or_else(|| Error::new("must set source path for bind mount: invalid argument"))?;
            Mount::Bind { source: absolute(&s)?, destination, options: opts }
        }
        "volume" => match source {
            Some(name) => {
                crate::volumes::validate_name(&name)?;
                Mount::Volume { name: Some(name), destination, options: opts, anonymous: false }
            }
            None => Mount::Volume { name: None, destination, options: opts, anonymous: true },
        },
        "tmpfs" => Mount::Tmpfs { destination, options: opts },
        other => return Err(Error::new(format!("invalid filesystem type {other:?}"))),
    })
}

/// `--tmpfs DEST[:OPTIONS]` (podman's default options: rw,noexec,nosuid,nodev).
pub fn parse_tmpfs_flag(text: &str) -> Result<Mount> {
    let (dest, opts) = text.split_once(':').unwrap_or((text, ""));
    let options = if opts.is_empty() {
        ["rw", "noexec", "nosuid", "nodev"].map(String::from).to_vec()
    } else {
        opts.split(',').map(String::from).collect()
    };
    Ok(Mount::Tmpfs { destination: absolute(dest)?, options })
}

impl Engine {
    /// The container's mounts, ready to record: the user's, then an
    /// anonymous volume for each image `VOLUME` nothing else covers; named
    /// volumes that do not exist yet are created, anonymous ones made.
    /// Called holding the volumes lock exclusively until the container is
    /// recorded (so a prune cannot take a volume in between).
    pub(crate) fn resolve_mounts(&self, user: &[Mount], image_volumes: &[String]) -> Result<Vec<Mount>> {
        let mut out: Vec<Mount> = Vec::new();
        for m in user {
            if out.iter().any(|o| o.destination() == m.destination()) {
                return Err(Error::new(format!("duplicate mount destination {:?}", m.destination())));
            }
            out.push(m.clone());
        }
        for dest in image_volumes {
            if !out.iter().any(|o| o.destination() == dest) {
                out.push(Mount::Volume { name: None, destination: dest.clone(), options: Vec::new(), anonymous: true });
            }
        }
        for m in &mut out {
            match m {
                Mount::Bind { source, .. } => {
                    if let Err(e) = std::fs::metadata(&*source) {
                        return Err(Error::new(format!("statfs {source}: {}", crate::error::go_text(&e))));
                    }
                }
                Mount::Volume { name, anonymous, .. } => {
                    let exists = name.as_deref().is_some_and(|n| self.volume(n).is_ok());
                    if !exists {
                        let v =
                            self.volume_create_locked(name.as_deref(), BTreeMap::new(), BTreeMap::new(), *anonymous)?;
                        *name = Some(v.name);
                    }
                }
                Mount::Tmpfs { .. } => {}
            }
        }
        Ok(out)
    }

    /// Fill new volumes from the image's content at their mount points
    /// (under the container's mounted root `rootfs`), then never again.
    pub(crate) fn copy_up(&self, rootfs: &Path, mounts: &[Mount]) -> Result<()> {
        for m in mounts {
            let Mount::Volume { name: Some(name), destination, options, .. } = m else { continue };
            let mut v = self.volume(name)?;
            if !v.needs_copy_up {
                continue;
            }
            if !options.iter().any(|o| o == "nocopy") {
                copy_from_image(rootfs, destination, &v.data(&self.root))?;
            }
            v.needs_copy_up = false;
            self.save_volume(&v)?;
        }
        Ok(())
    }

    /// Remove the anonymous volumes of container `c` (just removed) that no
    /// other container uses; best effort.
    pub(crate) fn remove_anonymous_volumes(&self, c: &super::Container) {
        let Ok(_lock) = self.volumes_lock(sys::fs::LockMode::Exclusive) else { return };
        for m in &c.mounts {
            let Mount::Volume { name: Some(name), anonymous: true, .. } = m else { continue };
            if self.volume_users(name).is_ok_and(|u| u.is_empty()) {
                if let Err(e) = self.volume(name).and_then(|v| self.remove_volume_locked(&v)) {
                    tracing::warn!("removing volume {name}: {e}");
                }
            }
        }
    }

    /// The OCI config's entries for `mounts`.
    pub(crate) fn oci_mounts(&self, mounts: &[Mount]) -> Result<Vec<Value>> {
        mounts.iter().map(|m| self.oci_mount(m)).collect()
    }

    fn oci_mount(&self, m: &Mount) -> Result<Value> {
        let with = |base: &[&str], user: &[String]| -> Vec<String> {
            let mut o: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            // Ours to act on, not mount options (`U`: `chown_volume.rs`).
            // `idmap=...` goes on to the runtime, as podman passes it to crun.
            let ours = |u: &str| ["z", "Z", "nocopy", "copy", "U", "idmap"].contains(&u);
            o.extend(user.iter().filter(|u| !ours(u)).cloned());
            o
        };
        Ok(match m {
            Mount::Bind { source, destination, options } => json!({
                "destination": destination, "type": "bind", "source": source,
                "options": with(&["rbind", "rprivate"], options),
            }),
            Mount::Volume { name, destination, options, .. } => {
                let name = name.as_deref().ok_or_else(|| Error::new("internal error: an unnamed volume"))?;
                let v: Volume = self.volume(name)?;
                match v.options.get("type").map(String::as_str) {
                    // A local volume with a filesystem of its own: mounted as such.
                    // podman's `-o type=none,o=bind,device=PATH` (any type with a
                    // `bind` option) is a bind mount of PATH.
                    Some(fs) if fs != "bind" && !binds(&v) => {
                        let mut o: Vec<String> =
                            v.options.get("o").map(|o| o.split(',').map(String::from).collect()).unwrap_or_default();
                        o.extend(with(&[], options));
                        json!({
                            "destination": destination, "type": fs,
                            "source": v.options.get("device").cloned().unwrap_or_else(|| fs.to_string()),
                            "options": o,
                        })
                    }
                    Some(_) => json!({
                        "destination": destination, "type": "bind",
                        "source": v.options.get("device").cloned().unwrap_or_default(),
                        "options": with(&["rbind", "rprivate"], options),
                    }),
                    None => json!({
                        "destination": destination, "type": "bind", "source": v.data(&self.root),
                        "options": with(&["rbind", "rprivate", "nosuid", "nodev"], options),
                    }),
                }
            }
            Mount::Tmpfs { destination, options } => json!({
                "destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options,
            }),
        })
    }
}

/// Whether a local volume's `o` options make it a bind mount of its device.
fn binds(v: &Volume) -> bool {
    v.options.get("o").is_some_and(|o| o.split(',').any(|o| o == "bind" || o == "rbind"))
}

/// Copy what the image has at `dest` (resolved inside `rootfs`, links
/// re-rooted as the container sees them) into an empty `data`: its
/// directory's mode and owner, and its tree (directories, files, symlinks
/// as symlinks; special files are left out).
fn copy_from_image(rootfs: &Path, dest: &str, data: &Path) -> Result<()> {
    use rustix::fs::{Mode, OFlags};
    let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", rootfs.display()))?;
    let src = match sys::fs::open_rerooted(
        std::os::fd::AsFd::as_fd(&root),
        Path::new(dest),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
    ) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(_) => return Ok(()),
    };
    if std::fs::read_dir(data).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Ok(());
    }
    let src_path = sys::fs::fd_path(&src);
    copy_attrs(&src_path, data)?;
    copy_tree(&src_path, data)
}

fn copy_attrs(from: &Path, to: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(from).ctx(|| format!("reading {}", from.display()))?;
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid())).ctx(|| format!("chown {}", to.display()))?;
    if !m.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .ctx(|| format!("chmod {}", to.display()))?;
    }
    Ok(())
}

/// Copy the tree under `from` into `to`, following no symlink.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).ctx(|| format!("listing {}", from.display()))? {
        let entry = entry.ctx(|| format!("listing {}", from.display()))?;
        let (src, dst): (PathBuf, PathBuf) = (entry.path(), to.join(entry.file_name()));
        let t = entry.file_type().ctx(|| format!("reading {}", src.display()))?;
        if t.is_dir() {
            std::fs::create_dir(&dst).ctx(|| format!("creating {}", dst.display()))?;
            copy_tree(&src, &dst)?;
        } else if t.is_file() {
            std::fs::copy(&src, &dst).ctx(|| format!("copying {}", src.display()))?;
        } else if t.is_symlink() {
            let target = std::fs::read_link(&src).ctx(|| format!("reading {}", src.display()))?;
            std::os::unix::fs::symlink(&target, &dst).ctx(|| format!("creating {}", dst.display()))?;
        } else {
            tracing::debug!("copy-up: leaving out special file {}", src.display());
            continue;
        }
        copy_attrs(&src, &dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_as_podman() {
        assert_eq!(
            parse_volume_flag("/host:/ctr:ro,z").unwrap(),
            Mount::Bind { source: "/host".into(), destination: "/ctr".into(), options: vec!["ro".into(), "z".into()] }
        );
        assert_eq!(
            parse_volume_flag("data:/ctr").unwrap(),
            Mount::Volume { name: Some("data".into()), destination: "/ctr".into(), options: vec![], anonymous: false }
        );
        assert_eq!(
            parse_volume_flag("/ctr").unwrap(),
            Mount::Volume { name: None, destination: "/ctr".into(), options: vec![], anonymous: true }
        );
        assert_eq!(
            parse_volume_flag("/ctr:ro").unwrap_err().to_string(),
            "invalid container path \"ro\", must be an absolute path"
        );
        assert_eq!(
            parse_volume_flag("data:ctr").unwrap_err().to_string(),
            "invalid container path \"ctr\", must be an absolute path"
        );
        assert_eq!(parse_volume_flag("/a:/b:bogus").unwrap_err().to_string(), "invalid option type \"bogus\"");
        assert!(parse_volume_flag("a:/b:ro:x").is_err());
    }

    #[test]
    fn mount_and_tmpfs_flags() {
        assert_eq!(
            parse_mount_flag("type=bind,src=/h,dst=/c,ro").unwrap(),
            Mount::Bind { source: "/h".into(), destination: "/c".into(), options: vec!["ro".into()] }
        );
        assert_eq!(
            parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            Mount::Tmpfs { destination: "/t".into(), options: vec!["size=1m".into()] }
        );
        assert_eq!(
            parse_mount_flag("source=v,target=/v").unwrap(),
            Mount::Volume { name: Some("v".into()), destination: "/v".into(), options: vec![], anonymous: false }
        );
        assert!(parse_mount_flag("type=bind,target=/c").is_err());
        assert!(parse_mount_flag("type=nfs,target=/c").is_err());
        assert_eq!(
            parse_tmpfs_flag("/run").unwrap(),
            Mount::Tmpfs {
                destination: "/run".into(),
                options: ["rw", "noexec", "nosuid", "nodev"].map(String::from).to_vec()
            }
        );
    }
}
