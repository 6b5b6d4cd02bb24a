//! Parsing a config.json mount entry's options: per-mount flags (what
//! `mount_setattr`/`fsmount` take), superblock flags, propagation, and the
//! filesystem's own parameters.

use rustix::mount::{MountAttrFlags, MountFlags, MountPropagationFlags};
use sys::mount::MountAttr;

/// A mount entry's options, split the way the mount API wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Flags to set, as mount(2) names them (MS_RDONLY, MS_NOSUID, ...).
    pub flags: MountFlags,
    /// Flags the config clears explicitly ("rw", "suid", ...): cleared on a
    /// bind; every other flag of the source is kept, as runc keeps it.
    pub cleared: MountFlags,
    /// Propagation changes in the order given ("rslave" is SLAVE|REC).
    pub propagation: Vec<MountPropagationFlags>,
    /// Filesystem parameters ("mode=755", "size=64m", "newinstance", ...).
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive_bind: bool,
    /// "remount": change an existing mount at the destination (mount(2) semantics).
    pub remount: bool,
    /// "idmap", "ridmap" or crun's "idmap=uids=...;gids=..." (see `idmap.rs`).
    pub idmap: Option<Idmap>,
}

/// An idmap option of a bind mount.
#[derive(Debug, Clone, PartialEq)]
pub struct Idmap {
    /// "ridmap": every mount of a recursive bind, not just its top.
    pub recursive: bool,
    /// crun's maps text after "idmap=".
    pub maps: Option<String>,
}

/// option name -> (clear?, flag)
const FLAGS: &[(&str, bool, MountFlags)] = &[
    ("ro", false, MountFlags::RDONLY),
    ("rw", true, MountFlags::RDONLY),
    ("nosuid", false, MountFlags::NOSUID),
    ("suid", true, MountFlags::NOSUID),
    ("nodev", false, MountFlags::NODEV),
    ("dev", true, MountFlags::NODEV),
    ("noexec", false, MountFlags::NOEXEC),
    ("exec", true, MountFlags::NOEXEC),
    ("sync", false, MountFlags::SYNCHRONOUS),
    ("async", true, MountFlags::SYNCHRONOUS),
    ("dirsync", false, MountFlags::DIRSYNC),
    ("mand", false, MountFlags::PERMIT_MANDATORY_FILE_LOCKING),
    ("nomand", true, MountFlags::PERMIT_MANDATORY_FILE_LOCKING),
    ("atime", true, MountFlags::NOATIME),
    ("noatime", false, MountFlags::NOATIME),
    ("diratime", true, MountFlags::NODIRATIME),
    ("nodiratime", false, MountFlags::NODIRATIME),
    ("relatime", false, MountFlags::RELATIME),
    ("norelatime", true, MountFlags::RELATIME),
    ("strictatime", false, MountFlags::STRICTATIME),
    ("nostrictatime", true, MountFlags::STRICTATIME),
    ("silent", false, MountFlags::SILENT),
    ("loud", true, MountFlags::SILENT),
];

const PROPAGATION: &[(&str, MountPropagationFlags)] = &[
    ("private", MountPropagationFlags::PRIVATE),
    ("rprivate", MountPropagationFlags::PRIVATE.union(MountPropagationFlags::REC)),
    ("shared", MountPropagationFlags::SHARED),
    ("rshared", MountPropagationFlags::SHARED.union(MountPropagationFlags::REC)),
    ("slave", MountPropagationFlags::DOWNSTREAM),
    ("rslave", MountPropagationFlags::DOWNSTREAM.union(MountPropagationFlags::REC)),
    ("unbindable", MountPropagationFlags::UNBINDABLE),
    ("runbindable", MountPropagationFlags::UNBINDABLE.union(MountPropagationFlags::REC)),
];

/// Every option name `parse` understands (for `features`).
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).chain(PROPAGATION.iter().map(|(n, _)| *n)).collect();
    v.extend(["bind", "rbind", "remount", "idmap", "ridmap"]);
    v.sort_unstable();
    v
}

pub fn parse(opts: &[String]) -> Options {
    let mut o = Options {
        flags: MountFlags::empty(),
        cleared: MountFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        recursive_bind: false,
        remount: false,
        idmap: None,
    };
    for opt in opts {
        let opt = opt.as_str();
        if let Some((_, clear, flag)) = FLAGS.iter().find(|(n, _, _)| *n == opt) {
            if *clear {
                o.flags.remove(*flag);
                o.cleared.insert(*flag);
            } else {
                o.flags.insert(*flag);
                o.cleared.remove(*flag);
            }
        } else if let Some((_, p)) = PROPAGATION.iter().find(|(n, _)| *n == opt) {
            o.propagation.push(*p);
        } else if opt == "bind" {
            o.bind = true;
        } else if opt == "rbind" {
            o.bind = true;
            o.recursive_bind = true;
        } else if opt == "remount" {
            o.remount = true;
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = Some(Idmap { recursive: opt == "ridmap", maps: None });
        } else if let Some(maps) = opt.strip_prefix("idmap=") {
            o.idmap = Some(Idmap { recursive: false, maps: Some(maps.to_string()) });
        } else if !opt.is_empty() {
            o.data.push(opt.to_string());
        }
    }
    o
}

/// Parse a propagation mode name as used by linux.rootfsPropagation.
pub fn propagation(name: &str) -> Option<MountPropagationFlags> {
    PROPAGATION.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Per-mount flags with their mount_setattr equivalent (the atime mode is
/// handled apart: it is one value, not independent bits).
const ATTRS: &[(MountFlags, MountAttrFlags)] = &[
    (MountFlags::RDONLY, MountAttrFlags::MOUNT_ATTR_RDONLY),
    (MountFlags::NOSUID, MountAttrFlags::MOUNT_ATTR_NOSUID),
    (MountFlags::NODEV, MountAttrFlags::MOUNT_ATTR_NODEV),
    (MountFlags::NOEXEC, MountAttrFlags::MOUNT_ATTR_NOEXEC),
    (MountFlags::NODIRATIME, MountAttrFlags::MOUNT_ATTR_NODIRATIME),
];

const ATIME: MountFlags = MountFlags::NOATIME.union(MountFlags::RELATIME).union(MountFlags::STRICTATIME);

impl Options {
    /// What `mount_setattr` must change on a bind of this entry: the flags the
    /// config sets, and those it clears explicitly. Flags it does not mention
    /// stay as the source has them: that keeps flags the kernel locks
    /// (nosuid/nodev/... inherited into a user namespace) untouched, and the
    /// atime mode changes only when the config names one.
    pub fn attr(&self) -> MountAttr {
        let mut a = MountAttr::default();
        for (ms, attr) in ATTRS {
            if self.flags.contains(*ms) {
                a.set |= *attr;
            } else if self.cleared.contains(*ms) {
                a.clear |= *attr;
            }
        }
        // mount(2)'s precedence: strictatime over noatime over relatime; an
        // atime option that only clears ("atime", "norelatime") means the
        // default, relatime.
        if self.flags.intersects(ATIME) || self.cleared.intersects(ATIME) {
            a.clear |= MountAttrFlags::MOUNT_ATTR__ATIME;
            a.set |= if self.flags.contains(MountFlags::STRICTATIME) {
                MountAttrFlags::MOUNT_ATTR_STRICTATIME
            } else if self.flags.contains(MountFlags::NOATIME) {
                MountAttrFlags::MOUNT_ATTR_NOATIME
            } else {
                MountAttrFlags::MOUNT_ATTR_RELATIME
            };
        }
        a
    }

    /// Superblock flags as fsconfig flag names (for a new filesystem).
    pub fn sb_flags(&self) -> Vec<&'static str> {
        [
            (MountFlags::RDONLY, "ro"),
            (MountFlags::SYNCHRONOUS, "sync"),
            (MountFlags::DIRSYNC, "dirsync"),
            (MountFlags::PERMIT_MANDATORY_FILE_LOCKING, "mand"),
        ]
        .into_iter()
        .filter(|(f, _)| self.flags.contains(*f))
        .map(|(_, n)| n)
        .collect()
    }
}

/// Split filesystem parameters into fsconfig (key, value) pairs: each config
/// option may itself hold several comma-separated ones (runc joins them into
/// one mount(2) data string), a comma inside double quotes does not split
/// (an SELinux context "s0:c1,c2"), and the quotes around a value are the
/// data string's, not the value's.
pub fn fs_params(data: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for opt in data {
        let mut cur = String::new();
        let mut quoted = false;
        let mut pieces = Vec::new();
        for c in opt.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    cur.push(c);
                }
                ',' if !quoted => pieces.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        pieces.push(cur);
        for p in pieces.into_iter().filter(|p| !p.is_empty()) {
            match p.split_once('=') {
                Some((k, v)) => {
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                    out.push((k.to_string(), Some(v.to_string())));
                }
                None => out.push((p, None)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_data_and_propagation() {
        let o = parse(&["rbind".into(), "ro".into(), "rslave".into(), "mode=755".into(), "nosuid".into()]);
        assert!(o.bind && o.recursive_bind);
        assert_eq!(o.flags, MountFlags::RDONLY | MountFlags::NOSUID);
        assert_eq!(o.propagation, vec![MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
    }

    #[test]
    fn later_options_win() {
        let o = parse(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MountFlags::RDONLY));
        assert!(o.cleared.contains(MountFlags::RDONLY));
    }

    #[test]
    fn attr_sets_requested_clears_only_explicit_and_keeps_the_rest() {
        let a = parse(&["ro".into(), "nosuid".into(), "dev".into()]).attr();
        assert_eq!(a.set, MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NOSUID);
        // noexec is not mentioned: not cleared (a locked noexec stays as it is).
        assert_eq!(a.clear, MountAttrFlags::MOUNT_ATTR_NODEV);
        assert!(parse(&["rbind".into()]).attr() == MountAttr::default());
    }

    #[test]
    fn atime_mode_follows_mount_precedence() {
        let mode = |opts: &[&str]| {
            let a = parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).attr();
            assert!(a.clear.contains(MountAttrFlags::MOUNT_ATTR__ATIME), "{opts:?}");
            a.set & (MountAttrFlags::MOUNT_ATTR_NOATIME | MountAttrFlags::MOUNT_ATTR_STRICTATIME)
        };
        assert_eq!(mode(&["noatime"]), MountAttrFlags::MOUNT_ATTR_NOATIME);
        assert_eq!(mode(&["noatime", "strictatime"]), MountAttrFlags::MOUNT_ATTR_STRICTATIME);
        assert_eq!(mode(&["relatime"]), MountAttrFlags::MOUNT_ATTR_RELATIME);
        assert_eq!(mode(&["atime"]), MountAttrFlags::MOUNT_ATTR_RELATIME);
    }

    #[test]
    fn fs_params_split_on_commas_outside_quotes() {
        let p = fs_params(&[
            "mode=755,size=65536k".into(),
            "newinstance".into(),
            r#"context="system_u:object_r:container_file_t:s0:c1,c2""#.into(),
        ]);
        let want: Vec<(String, Option<String>)> = vec![
            ("mode".into(), Some("755".into())),
            ("size".into(), Some("65536k".into())),
            ("newinstance".into(), None),
            ("context".into(), Some("system_u:object_r:container_file_t:s0:c1,c2".into())),
        ];
        assert_eq!(p, want);
    }

    #[test]
    fn names_cover_every_parsed_option() {
        for n in names() {
            let o = parse(&[n.to_string()]);
            assert!(o.data.is_empty(), "{n} was not recognised");
        }
    }
}
