//! Idmapped bind mounts (Linux 5.12): a bind whose files show their owners
//! through a user namespace's map, without chown-ing anything on disk.
//!
//! What asks for one (the first that applies):
//! - a mount's `uidMappings`/`gidMappings` (runtime-spec 1.1);
//! - crun's option `idmap=uids=A-B-N[#A-B-N...];gids=...`, which podman
//!   writes for `-v SRC:DST:idmap=uids=...;gids=...` (so berth's own
//!   config.json works with crun too);
//! - the option `idmap` or `ridmap` alone: the container's own user
//!   namespace's maps, and none (a plain bind) without one, since the
//!   container's ids are then the host's.
//!
//! Each map `A B N` is written as a user namespace's `uid_map` line is, as
//! runc and crun write it: a file whose owner is A+i on disk shows as B+i in
//! the mount, and one made through the mount by B+i is A+i on disk; an owner
//! the map does not cover shows as the overflow id (65534).
//!
//! The runtime makes each such bind before it clones the init: a user
//! namespace with the maps (they name the host's ids, which only the host
//! side can write), a detached copy of the source idmapped through it. The
//! init attaches the copy where the mount goes, as it attaches any bind.

use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder, Mount, Spec};
use rustix::fs::OFlags;
use rustix::thread::UnshareFlags;
use sys::process::Forked;

use super::options;
use crate::error::{Context as _, Error, Result};
use crate::procfs::Proc;

/// A user namespace's uid and gid maps.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub uids: Vec<LinuxIdMapping>,
    pub gids: Vec<LinuxIdMapping>,
}

/// Each of `spec`'s idmapped binds, made ready by the runtime before it
/// clones the init, in config.json's order (`None` for other mounts): a
/// detached copy of its source (`open_tree`), idmapped. Idmapping takes
/// privilege over the source's filesystem, which an init in a user
/// namespace of its own no longer has; it attaches the copy (as runc does).
pub fn prepare(spec: &Spec, proc: &Proc) -> Result<Vec<Option<OwnedFd>>> {
    let mounts: &[Mount] = spec.mounts().as_deref().unwrap_or(&[]);
    let mut out = Vec::with_capacity(mounts.len());
    for m in mounts {
        let Some(maps) = maps_of(m, spec)? else {
            out.push(None);
            continue;
        };
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        let (src, dest) = (m.source().as_deref().unwrap_or(std::path::Path::new("")), m.destination());
        let ns = userns(&maps, proc)?;
        let tree = super::attach::Mount::clone_path(src, opts.recursive_bind)
            .map_err(|e| Error::InvalidConfig(format!("mount source {}: {e}", src.display())))?;
        let recursive = opts.recursive_bind && opts.idmap.as_ref().is_some_and(|i| i.recursive);
        sys::mount::set_idmap(tree.fd(), &ns, recursive)
            .context(|| format!("idmap the bind of {} to {}", src.display(), dest.display()))?;
        out.push(Some(tree.into_fd()));
    }
    Ok(out)
}

/// The maps mount `m` is idmapped with, if it is (see the module's comment).
pub fn maps_of(m: &Mount, spec: &Spec) -> Result<Option<Maps>> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    // Only binds are idmapped here.
    if !opts.bind && m.typ().as_deref() != Some("bind") {
        return Ok(None);
    }
    let given = (m.uid_mappings().as_deref(), m.gid_mappings().as_deref());
    let maps = match (given, &opts.idmap) {
        ((None, None), None) => return Ok(None),
        ((None, None), Some(options::Idmap { maps: Some(text), .. })) => parse_crun(text)
            .map_err(|why| Error::InvalidConfig(format!("mount {}: idmap={text}: {why}", m.destination().display())))?,
        ((None, None), Some(_)) => {
            let linux = spec.linux().as_ref();
            let ns = |v: Option<&Vec<LinuxIdMapping>>| v.cloned().unwrap_or_default();
            let maps = Maps {
                uids: ns(linux.and_then(|l| l.uid_mappings().as_ref())),
                gids: ns(linux.and_then(|l| l.gid_mappings().as_ref())),
            };
            if maps.uids.is_empty() && maps.gids.is_empty() {
                return Ok(None);
            }
            maps
        }
        ((uids, gids), _) => Maps {
            uids: uids.map(<[_]>::to_vec).unwrap_or_default(),
            gids: gids.map(<[_]>::to_vec).unwrap_or_default(),
        },
    };
    if maps.uids.is_empty() || maps.gids.is_empty() {
        // The kernel refuses a namespace with one map only (EINVAL).
        return Err(Error::InvalidConfig(format!(
            "mount {}: an idmapped mount needs both uid and gid mappings",
            m.destination().display()
        )));
    }
    Ok(Some(maps))
}

/// crun's `uids=A-B-N[#A-B-N...];gids=A-B-N[#...]`.
fn parse_crun(text: &str) -> std::result::Result<Maps, String> {
    let mut maps = Maps { uids: Vec::new(), gids: Vec::new() };
    for part in text.split(';').filter(|p| !p.is_empty()) {
        let (which, list) = part.split_once('=').ok_or_else(|| format!("{part:?} is not uids=... or gids=..."))?;
        let into = match which {
            "uids" => &mut maps.uids,
            "gids" => &mut maps.gids,
            _ => return Err(format!("unknown {which:?}: only uids and gids")),
        };
        for range in list.split('#') {
            let n: Vec<u32> = range
                .split('-')
                .map(str::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| format!("invalid mapping {range:?}: three numbers FROM-TO-COUNT"))?;
            let [from, to, count] = n[..] else {
                return Err(format!("invalid mapping {range:?}: three numbers FROM-TO-COUNT"));
            };
            let m = LinuxIdMappingBuilder::default().container_id(from).host_id(to).size(count).build();
            into.push(m.map_err(|e| e.to_string())?);
        }
    }
    Ok(maps)
}

/// A user namespace with `maps`: made by a child born in it, which waits
/// until the namespace is open, then exits.
fn userns(maps: &Maps, proc: &Proc) -> Result<OwnedFd> {
    let (hold_r, hold_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(std::io::Error::from)
        .context(|| "create a pipe".into())?;
    // SAFETY: the runtime is single-threaded when it starts a process (see
    // lib.rs); the child only reads a pipe and exits.
    let child = match unsafe { sys::process::clone_into_namespaces(UnshareFlags::NEWUSER) }
        .context(|| "clone into a new user namespace".into())?
    {
        Forked::Child => {
            drop(hold_w);
            let _ = rustix::io::read(&hold_r, &mut [0u8; 1]);
            sys::process::exit_immediately(0)
        }
        Forked::Parent(pid) => pid,
    };
    drop(hold_r);
    let pid = child.as_raw_nonzero().get();
    let made = crate::namespaces::write_id_map(proc, child, "uid_map", &maps.uids)
        .and_then(|()| crate::namespaces::write_id_map(proc, child, "gid_map", &maps.gids))
        .and_then(|()| {
            // `ns/user` is a magic link, which only the last step may follow.
            sys::fs::open_beneath_no_symlinks(
                proc.fd(),
                std::path::Path::new(&format!("{pid}/ns")),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            )
            .and_then(|ns| {
                rustix::fs::openat(&ns, "user", OFlags::RDONLY | OFlags::CLOEXEC, rustix::fs::Mode::empty())
                    .map_err(std::io::Error::from)
            })
            .context(|| format!("open /proc/{pid}/ns/user"))
        });
    // Its end of the pipe closes: it exits.
    drop(hold_w);
    let _ = rustix::process::waitpid(Some(child), rustix::process::WaitOptions::empty());
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default().container_id(c).host_id(h).size(n).build().unwrap()
    }

    #[test]
    fn reads_cruns_idmap_option() {
        let maps = parse_crun("uids=0-1000-10#20-3000-5;gids=0-1000-10").unwrap();
        assert_eq!(maps, Maps { uids: vec![m(0, 1000, 10), m(20, 3000, 5)], gids: vec![m(0, 1000, 10)] });
        for bad in ["uids=bad", "uids=1-2", "uids=1-2-3-4", "users=1-2-3", "uids"] {
            assert!(parse_crun(bad).is_err(), "{bad}");
        }
    }
}
