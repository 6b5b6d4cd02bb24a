//! Compiled seccomp filters, cached on disk.
//!
//! libseccomp turns a profile into BPF on every load; for Docker's default
//! profile (three x86 ABIs, ~1000 instructions) that costs ~12 ms, the
//! biggest single cost of starting a container. The BPF only depends on the
//! profile and the libseccomp version, so the runtime compiles it once, keeps
//! it under `<root>/.seccomp-cache/`, and the container's init loads the raw
//! program with seccomp(2). The program cached is libseccomp's made shorter
//! ([`super::compact`]), which the kernel JIT-compiles faster at each load.
//!
//! An entry stores the exact profile JSON it was compiled from next to the
//! program and is used only when that JSON is byte-identical to the current
//! one: the file name is a (non-cryptographic) hash for lookup, never the
//! proof of a match. Profiles whose loading needs more than a program and
//! flags (user notification, whose listener fd libseccomp manages) are never
//! cached; they take the normal libseccomp path.

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::Path;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};

use crate::error::{Error, Result};

/// The cache's directory under the runtime's state root (a name no
/// container ID can have).
pub const DIR: &str = ".seccomp-cache";

/// Bumped when the entry layout or the compilation changes (v3: compacted).
const FORMAT: &str = "berth-seccomp-cache-v3";
/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
const INSN_SIZE: usize = sys::seccomp::INSTRUCTION_SIZE;

/// A filter compiled to classic BPF, ready for seccomp(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<u8>,
    flags: u64,
}

impl Program {
    /// Its length in instructions.
    pub fn instructions(&self) -> usize {
        self.insns.len() / INSN_SIZE
    }
}

/// The compiled program for `cfg`, from the cache or compiled now and
/// cached. `None` when `cfg` must go through libseccomp at load time, or
/// when anything about the cache fails (the caller then does exactly what
/// it did without a cache).
pub fn program(cfg: &LinuxSeccomp, cache_dir: &Path) -> Option<Program> {
    let flags = cacheable_flags(cfg)?;
    let key = key_bytes(cfg)?;
    let path = cache_dir.join(format!("{:016x}.bpf", hash(&key)));
    if let Some(insns) = read_entry(&path, &key) {
        return Some(Program { insns, flags });
    }
    let insns = match compile(cfg) {
        Ok(i) => i,
        Err(e) => {
            // Let the normal path report the error in context.
            tracing::debug!("seccomp cache: not compiled: {e}");
            return None;
        }
    };
    if !valid_program(&insns) {
        return None;
    }
    if let Err(e) = write_entry(cache_dir, &path, &key, &insns) {
        tracing::debug!("seccomp cache: not saved: {e}");
    }
    Some(Program { insns, flags })
}

/// The program for `cfg`: libseccomp's, made shorter where
/// [`super::compact`] can (same verdicts, half the length for Docker's
/// default profile: that much less for the kernel to JIT at each start).
fn compile(cfg: &LinuxSeccomp) -> Result<Vec<u8>> {
    let insns = export(&super::build(cfg)?)?;
    Ok(super::compact::compact(&insns).unwrap_or(insns))
}

/// The BPF libseccomp would load for `ctx` (through a memfd: the in-memory
/// export needs libseccomp 2.6, Debian 12 has 2.5).
fn export(ctx: &libseccomp::ScmpFilterContext) -> Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let fd = rustix::fs::memfd_create("seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| Error::Seccomp(format!("memfd for the filter: {}", std::io::Error::from(e))))?;
    let mut f = fs::File::from(fd);
    ctx.export_bpf(&f).map_err(|e| Error::Seccomp(format!("exporting the filter: {e}")))?;
    let mut insns = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut insns))
        .map_err(|e| Error::Seccomp(format!("reading the exported filter: {e}")))?;
    Ok(insns)
}

/// seccomp(2) flags for a profile loadable as a bare program, or `None`.
fn cacheable_flags(cfg: &LinuxSeccomp) -> Option<u64> {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    if notify(cfg.default_action()) || cfg.syscalls().iter().flatten().any(|r| notify(r.action())) {
        return None;
    }
    let mut flags = 0;
    for f in cfg.flags().iter().flatten() {
        flags |= match f {
            // Ignored, as in `build`: init is single-threaded when it loads.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => sys::seccomp::FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => sys::seccomp::FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => return None,
        };
    }
    Some(flags)
}

/// What an entry must match: format, libseccomp version, architecture and
/// the profile itself.
fn key_bytes(cfg: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut key = format!("{FORMAT}\n{}\n{}\n", super::libseccomp_version(), std::env::consts::ARCH).into_bytes();
    key.extend(serde_json::to_vec(cfg).ok()?);
    Some(key)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn valid_program(insns: &[u8]) -> bool {
    !insns.is_empty() && insns.len() % INSN_SIZE == 0 && insns.len() / INSN_SIZE <= MAX_INSNS
}

/// Entry layout: key length (u64 LE), key, program.
fn read_entry(path: &Path, key: &[u8]) -> Option<Vec<u8>> {
    let data = fs::read(path).ok()?;
    let len = u64::from_le_bytes(data.get(..8)?.try_into().ok()?) as usize;
    let stored = data.get(8..8usize.checked_add(len)?)?;
    if stored != key {
        return None;
    }
    let insns = data[8 + len..].to_vec();
    valid_program(&insns).then_some(insns)
}

/// Durable, although it is a cache: entries are rare (one per distinct
/// profile, and compiling costs more than the fsync), the root may be on a
/// disk, and a program torn by a crash but still ending in a valid
/// instruction would be loaded as the container's filter (the stored key
/// guards the profile, not the program bytes).
fn write_entry(dir: &Path, path: &Path, key: &[u8], insns: &[u8]) -> std::io::Result<()> {
    sys::fs::create_private_dir(dir, 0o700)?;
    let mut entry = Vec::with_capacity(8 + key.len() + insns.len());
    entry.extend_from_slice(&(key.len() as u64).to_le_bytes());
    entry.extend_from_slice(key);
    entry.extend_from_slice(insns);
    // Concurrent writers produce identical entries; the last rename wins.
    sys::fs::write_atomic(path, &entry, 0o600, sys::fs::Durability::Durable)
}

/// Install `p` on the calling thread. Same rules as [`super::load`]: without
/// no_new_privs the caller needs CAP_SYS_ADMIN.
pub fn load(p: &Program) -> Result<()> {
    sys::seccomp::set_mode_filter(&p.insns, p.flags).map_err(|e| match e.raw_os_error() {
        Some(errno) => super::load_error(rustix::io::Errno::from_raw_os_error(errno)),
        None => Error::Seccomp(format!("loading filter: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(extra: &str) -> LinuxSeccomp {
        serde_json::from_str(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}}{extra}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn compiles_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = profile("");
        let first = program(&cfg, dir.path()).expect("cacheable");
        let direct = compile(&cfg).unwrap();
        assert_eq!(first.insns, direct);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A second call reads the entry (poison the compiler's answer to prove it).
        let entry = fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let mut data = fs::read(&entry).unwrap();
        let n = data.len();
        data[n - 1] ^= 0xff;
        fs::write(&entry, &data).unwrap();
        let second = program(&cfg, dir.path()).unwrap();
        assert_ne!(second.insns, direct, "the cached entry was not used");
    }

    #[test]
    fn entries_only_serve_their_exact_profile() {
        let dir = tempfile::tempdir().unwrap();
        let a = program(&profile(""), dir.path()).unwrap();
        let other = profile(r#",{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}"#);
        // Same file name, different profile: the stored key must not match.
        let key_a = key_bytes(&profile("")).unwrap();
        let path_b = dir.path().join(format!("{:016x}.bpf", hash(&key_bytes(&other).unwrap())));
        write_entry(dir.path(), &path_b, &key_a, &a.insns).unwrap();
        let b = program(&other, dir.path()).unwrap();
        assert_eq!(b.insns, compile(&other).unwrap());
        assert_ne!(a.insns, b.insns);
        // Garbage entries are ignored and replaced.
        fs::write(&path_b, b"junk").unwrap();
        assert_eq!(program(&other, dir.path()).unwrap(), b);
    }

    #[test]
    fn notify_profiles_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        assert!(program(&profile(r#",{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}"#), dir.path()).is_none());
        let mut cfg = profile("");
        cfg.set_flags(Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog]));
        assert_eq!(program(&cfg, dir.path()).unwrap().flags, sys::seccomp::FILTER_FLAG_LOG);
    }

    /// A profile shaped like Docker's default (three x86 ABIs, most
    /// syscalls allowed in runs, some by their arguments) compiles to a
    /// program half as long as libseccomp's, with its verdict for every
    /// syscall number of every ABI (and others), with arguments that pass
    /// and fail each check.
    #[test]
    fn compacted_programs_give_libseccomp_verdicts() {
        let x86_64 = libseccomp::ScmpArch::X8664;
        let names: Vec<String> = (0..460)
            .filter(|nr| nr % 9 != 4 && nr % 31 != 7)
            .filter_map(|nr| libseccomp::ScmpSyscall::from(nr).get_name_by_arch(x86_64).ok())
            .filter(|n| !["personality", "clone", "socket"].contains(&n.as_str()))
            .collect();
        let cfg: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295u32, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"}
            ]
        }))
        .unwrap();
        let theirs = export(&super::super::build(&cfg).unwrap()).unwrap();
        let ours = compile(&cfg).unwrap();
        assert!(kernel_takes(&ours), "the kernel refused the compacted program");
        // 887 against 1234 (gaps every 9 and 31 syscalls: more runs than Docker's).
        assert!(ours.len() * 4 < theirs.len() * 3, "{} instructions, libseccomp {}", ours.len() / 8, theirs.len() / 8);
        let args: [[u64; 6]; 5] =
            [[0; 6], [8, 1, 2, 3, 4, 5], [0xffff_ffff; 6], [40, 0, 0, 0, 0, 0], [0x7e02_0000, 0, 0, 0, 0, 0]];
        let arches = [0xc000_003e, 0x4000_0003, 0x4000_00b7, 0];
        for arch in arches {
            let x32 = (0x4000_0000..0x4000_0000 + 600).chain([0x3fff_ffff, 0x8000_0000, u32::MAX]);
            for nr in (0..600).chain(x32) {
                for a in &args {
                    let want = super::super::compact::verdict(&theirs, arch, nr, a);
                    assert!(want.is_some());
                    assert_eq!(
                        super::super::compact::verdict(&ours, arch, nr, a),
                        want,
                        "arch {arch:#x} nr {nr:#x} {a:?}"
                    );
                }
            }
        }
    }

    /// In a child: `p` installed (no_new_privs first), then `body`; the
    /// child's exit code (2 if the kernel refused `p`). `body` must only
    /// make syscalls: what it needs is allocated before.
    fn in_filtered_child(p: &Program, body: impl FnOnce() -> i32) -> Option<i32> {
        // SAFETY: the child only makes syscalls and exits without unwinding.
        match unsafe { sys::process::fork() }.unwrap() {
            sys::process::Forked::Child => {
                let loaded = rustix::thread::set_no_new_privs(true).is_ok() && load(p).is_ok();
                sys::process::exit_immediately(if loaded { body() } else { 2 })
            }
            sys::process::Forked::Parent(child) => {
                let (_, st) =
                    rustix::process::waitpid(Some(child), rustix::process::WaitOptions::empty()).unwrap().unwrap();
                st.exit_status()
            }
        }
    }

    /// Whether seccomp(2) installs `insns`.
    fn kernel_takes(insns: &[u8]) -> bool {
        in_filtered_child(&Program { insns: insns.to_vec(), flags: 0 }, || 0) == Some(0)
    }

    /// A deny list (allowed by default, a few syscalls refused, one traced,
    /// one logged) keeps libseccomp's verdicts too, on the native ABI alone.
    #[test]
    fn compacted_deny_lists_give_libseccomp_verdicts() {
        let cfg: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mount", "umount2", "pivot_root", "kexec_load", "reboot", "swapon", "swapoff"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
                {"names": ["uname"], "action": "SCMP_ACT_LOG"},
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }))
        .unwrap();
        let theirs = export(&super::super::build(&cfg).unwrap()).unwrap();
        let ours = compile(&cfg).unwrap();
        assert!(ours.len() <= theirs.len());
        assert!(kernel_takes(&ours), "the kernel refused the compacted program");
        for arch in [0xc000_003e, 0x4000_0003, 0] {
            for nr in (0..600).chain([0x4000_0000, 0x4000_0010, u32::MAX]) {
                for a in [[0u64; 6], [0x1000_0000, 0, 0, 0, 0, 0], [u64::MAX; 6]] {
                    let want = super::super::compact::verdict(&theirs, arch, nr, &a);
                    assert_eq!(super::super::compact::verdict(&ours, arch, nr, &a), want, "arch {arch:#x} nr {nr}");
                }
            }
        }
    }

    /// The cached program filters like the libseccomp-loaded one.
    #[test]
    fn loaded_program_filters() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = profile(r#",{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":38}"#);
        let p = program(&cfg, dir.path()).unwrap();
        // Nothing allocates once the filter is in: the buffer is made before.
        let buf = Vec::with_capacity(4096);
        let code = in_filtered_child(&p, || {
            // getcwd -> errnoRet 38 (ENOSYS); openat -> the default (EPERM).
            let cwd = rustix::process::getcwd(buf).err();
            let open = rustix::fs::open("/", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).err();
            if (cwd, open) == (Some(rustix::io::Errno::NOSYS), Some(rustix::io::Errno::PERM)) {
                0
            } else {
                3
            }
        });
        assert_eq!(code, Some(0));
    }
}
