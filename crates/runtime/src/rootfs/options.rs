//! Parsing mount options from config.json into mount(2) flags and data.

use nix::mount::MsFlags;

/// A mount entry's options, split the way mount(2) wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub flags: MsFlags,
    /// Flags cleared explicitly ("rw", "suid", ...): kept from being inherited
    /// on a bind remount.
    pub cleared: MsFlags,
    /// MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE (+MS_REC), applied after mounting.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options ("mode=755", "size=64m", "newinstance", ...).
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive_bind: bool,
}

/// option name -> (clear?, flag)
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("suid", true, MsFlags::MS_NOSUID),
    ("nodev", false, MsFlags::MS_NODEV),
    ("dev", true, MsFlags::MS_NODEV),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("atime", true, MsFlags::MS_NOATIME),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("silent", false, MsFlags::MS_SILENT),
    ("loud", true, MsFlags::MS_SILENT),
];

const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

pub fn parse(opts: &[String]) -> Options {
    let mut o = Options {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        recursive_bind: false,
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
        } else if !opt.is_empty() {
            o.data.push(opt.to_string());
        }
    }
    o
}

/// Parse a propagation mode name as used by linux.rootfsPropagation.
pub fn propagation(name: &str) -> Option<MsFlags> {
    PROPAGATION.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_data_and_propagation() {
        let o = parse(&["rbind".into(), "ro".into(), "rslave".into(), "mode=755".into(), "nosuid".into()]);
        assert!(o.bind && o.recursive_bind);
        assert_eq!(o.flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
    }

    #[test]
    fn later_options_win() {
        let o = parse(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }
}
