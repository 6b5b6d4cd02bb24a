//! seccomp(2), which rustix does not wrap: installing a classic BPF program
//! compiled ahead of time, and asking which filter flags the kernel knows.

use std::io;

/// `SECCOMP_FILTER_FLAG_TSYNC`
pub const FILTER_FLAG_TSYNC: u64 = libc::SECCOMP_FILTER_FLAG_TSYNC;
/// `SECCOMP_FILTER_FLAG_LOG`
pub const FILTER_FLAG_LOG: u64 = libc::SECCOMP_FILTER_FLAG_LOG;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`
pub const FILTER_FLAG_SPEC_ALLOW: u64 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
pub const FILTER_FLAG_WAIT_KILLABLE_RECV: u64 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

/// Size of one classic BPF instruction (`struct sock_filter`).
pub const INSTRUCTION_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, program)` on the calling thread.
/// `program` is a sequence of `struct sock_filter` in native byte order (as
/// libseccomp exports it). Without no_new_privs the caller needs
/// CAP_SYS_ADMIN.
pub fn set_mode_filter(program: &[u8], flags: u64) -> io::Result<()> {
    let len = program.len() / INSTRUCTION_SIZE;
    if program.is_empty() || program.len() % INSTRUCTION_SIZE != 0 || len > usize::from(u16::MAX) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a BPF program"));
    }
    let prog = libc::sock_fprog {
        len: len as libc::c_ushort,
        // The kernel only reads (copies) the program.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` whole instructions that live in
    // `program` for the duration of the call.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Does the running kernel know filter flag `flag`? (Asked with a null
/// program: EFAULT means the flag passed validation.)
pub fn kernel_knows_filter_flag(flag: u64) -> bool {
    // SAFETY: a null program is never dereferenced; the kernel checks the
    // flags first and fails with EFAULT (known) or EINVAL (unknown).
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flag, std::ptr::null::<libc::c_void>())
    };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Syscalls made raw, for tests of seccomp filters: each returns the errno
/// the kernel (or the filter) answered, 0 on success. libc's and rustix's
/// wrappers would make other syscalls (`mkdirat` for mkdir) or not report
/// an error at all (uname, getpid), which is what a filter test looks at.
pub mod probe {
    use std::ffi::CStr;

    fn errno(rc: libc::c_long) -> i32 {
        if rc == -1 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        }
    }

    /// `uname(2)` into a buffer of ours.
    pub fn uname() -> i32 {
        let mut buf = std::mem::MaybeUninit::<libc::utsname>::uninit();
        // SAFETY: uname writes one utsname into the buffer we own.
        errno(unsafe { libc::syscall(libc::SYS_uname, buf.as_mut_ptr()) })
    }

    /// `getpid(2)`.
    pub fn getpid() -> i32 {
        // SAFETY: no arguments.
        errno(unsafe { libc::syscall(libc::SYS_getpid) })
    }

    /// `getppid(2)`.
    pub fn getppid() -> i32 {
        // SAFETY: no arguments.
        errno(unsafe { libc::syscall(libc::SYS_getppid) })
    }

    /// `personality(2)`: 0xffffffff only queries; other values change the
    /// calling process's execution domain.
    pub fn personality(persona: u64) -> i32 {
        // SAFETY: a plain integer argument.
        errno(unsafe { libc::syscall(libc::SYS_personality, persona) })
    }

    /// `mkdir(2)` (not mkdirat).
    pub fn mkdir(path: &CStr, mode: u32) -> i32 {
        // SAFETY: mkdir reads the NUL-terminated path, which outlives the call.
        errno(unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), mode) })
    }

    /// `kexec_load(2)` with no segments and an architecture no kernel has
    /// (0xdead in the arch bits): the kernel always refuses it (EINVAL; EPERM
    /// without CAP_SYS_BOOT; ENOSYS when built without kexec), so only a
    /// filter can answer anything else. It
    /// never loads or unloads a kexec image.
    pub fn kexec_load_invalid() -> i32 {
        const NO_SUCH_ARCH: u64 = 0xdead_0000;
        // SAFETY: no segments, so no pointer is read.
        errno(unsafe { libc::syscall(libc::SYS_kexec_load, 0u64, 0u64, std::ptr::null::<u8>(), NO_SUCH_ARCH) })
    }

    /// `clone3(2)` with no argument structure (size 0): the kernel always
    /// refuses it (EINVAL) before making anything, so only a filter can
    /// answer anything else.
    pub fn clone3_invalid() -> i32 {
        // SAFETY: a null pointer with size 0, refused before any read.
        errno(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_bad_programs() {
        assert!(kernel_knows_filter_flag(FILTER_FLAG_LOG));
        assert!(!kernel_knows_filter_flag(1 << 30));
        assert_eq!(set_mode_filter(&[0; 7], 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(set_mode_filter(&[], 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    /// Without a filter the kernel refuses the invalid probes itself.
    #[test]
    fn invalid_probes_are_refused_by_the_kernel() {
        assert_eq!(probe::clone3_invalid(), libc::EINVAL);
        let kexec = probe::kexec_load_invalid();
        // ENOSYS: a kernel built without kexec.
        assert!([libc::EINVAL, libc::EPERM, libc::ENOSYS].contains(&kexec), "kexec_load: errno {kexec}");
        assert_eq!(probe::getpid(), 0);
        assert_eq!(probe::personality(0xffff_ffff), 0);
    }

    /// ENOSYS for every syscall but exit_group, loaded in a forked child.
    #[test]
    fn a_program_is_loaded() {
        fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Vec<u8> {
            let mut v = code.to_ne_bytes().to_vec();
            v.extend_from_slice(&[jt, jf]);
            v.extend_from_slice(&k.to_ne_bytes());
            v
        }
        let prog: Vec<u8> = [
            insn(0x20, 0, 0, 0),                                 // ld [nr]
            insn(0x15, 0, 1, libc::SYS_exit_group as u32),       // jeq exit_group
            insn(0x06, 0, 0, 0x7fff_0000),                       // ret ALLOW
            insn(0x06, 0, 0, 0x0005_0000 | libc::ENOSYS as u32), // ret ERRNO(ENOSYS)
        ]
        .concat();
        // SAFETY: the child makes syscalls only and exits.
        match unsafe { crate::process::fork() }.unwrap() {
            crate::process::Forked::Child => {
                let ok = rustix::thread::set_no_new_privs(true).is_ok()
                    && set_mode_filter(&prog, 0).is_ok()
                    && rustix::fs::open("/", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).err()
                        == Some(rustix::io::Errno::NOSYS);
                crate::process::exit_immediately(if ok { 0 } else { 1 })
            }
            crate::process::Forked::Parent(pid) => {
                let (_, st) =
                    rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).unwrap().unwrap();
                assert_eq!(st.exit_status(), Some(0));
            }
        }
    }
}
