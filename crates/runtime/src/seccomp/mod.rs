//! Seccomp filters from the OCI `linux.seccomp` config, with runc's semantics.
//!
//! # Use from the container's init process
//!
//! 1. [`build`] the filter early (it is pure: no syscall is filtered until
//!    [`load`]), so config errors surface before anything irreversible and no
//!    allocation-heavy work is left for after the filter is active.
//! 2. [`load`] it as late as possible, ideally the very last thing before
//!    `execve`, so that the runtime's own syscalls need not be allowed by the
//!    container's profile. The filter is built with libseccomp's `CtlNnp` off:
//!    the runtime sets `no_new_privs` itself when `process.noNewPrivileges`
//!    asks for it. Without `no_new_privs` the kernel only lets a process with
//!    `CAP_SYS_ADMIN` install a filter, so in that case load *before* dropping
//!    capabilities and switching user (runc does the same); with
//!    `no_new_privs`, load after the capability drop, right before `execve`.
//! 3. If [`load`] returns a listener fd (some rule uses `SCMP_ACT_NOTIFY`),
//!    pass it to the runtime process over an already-open socket and close it;
//!    the runtime then calls [`send_listener`]. The syscalls used for that
//!    handoff run under the filter, so they must not be `SCMP_ACT_NOTIFY`
//!    themselves (nobody would answer). Calling [`send_listener`] from init
//!    also works if the profile allows `socket`/`connect`/`sendmsg`.
//!
//! Architectures whose syscalls hit a filter that does not list them get
//! libseccomp's default bad-arch action (`SCMP_ACT_KILL`, i.e. kill the
//! thread), as in runc; `architectures` in the config widens the set.

pub mod cache;
mod compact;
mod listener;
#[cfg(test)]
mod tests;

pub use listener::{send_listener, send_listener_on};

use crate::error::{Error, Result};
use libseccomp::error::SeccompErrno;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall, ScmpVersion};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use rustix::io::Errno;
use std::os::fd::{FromRawFd, OwnedFd};

/// Highest syscall argument index seccomp can inspect (six arguments).
const MAX_ARG_INDEX: u32 = 5;

/// Build the filter described by `cfg` without loading it.
///
/// Syscall names libseccomp cannot resolve (e.g. newer than the installed
/// libseccomp) are skipped with a debug log, as runc does. Rules whose action
/// equals the default action are skipped too: they are redundant and
/// libseccomp rejects them.
pub fn build(cfg: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = scmp_action(cfg.default_action(), cfg.default_errno_ret())
        .map_err(|e| Error::Seccomp(format!("defaultAction: {e}")))?;
    if default == ScmpAction::Notify {
        // Every syscall would wait for an agent that can never be told about
        // the listener, since handing the fd over needs syscalls too.
        return Err(Error::Seccomp("SCMP_ACT_NOTIFY cannot be used as defaultAction".into()));
    }

    let mut ctx = ScmpFilterContext::new(default).map_err(lib_err("creating filter"))?;
    // The runtime decides about no_new_privs (process.noNewPrivileges).
    ctx.set_ctl_nnp(false).map_err(lib_err("clearing the no_new_privs attribute"))?;
    // Report the kernel's errno from seccomp_load instead of a generic
    // ECANCELED, so a missing CAP_SYS_ADMIN shows up as EACCES.
    if let Err(e) = ctx.set_api_sysrawrc(true) {
        tracing::debug!("libseccomp cannot report raw load errors: {e}");
    }
    if let Err(e) = ctx.set_ctl_optimize(2) {
        tracing::debug!("libseccomp cannot build a binary tree: {e}");
    }

    for &arch in cfg.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch)).map_err(|e| {
            let why = match e.errno() {
                // One BPF program cannot serve both byte orders.
                Some(SeccompErrno::EDOM) => "its byte order differs from the native one".into(),
                _ => format!("libseccomp {} does not support it: {e}", libseccomp_version()),
            };
            Error::Seccomp(format!("cannot add architecture {}: {why}", name(&arch)))
        })?;
    }

    for &flag in cfg.flags().iter().flatten() {
        let set = match flag {
            // TSYNC syncs the filter to the process's other threads; init is
            // single-threaded when it loads, and runc ignores it the same way.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => continue,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        };
        set.map_err(|e| Error::Seccomp(format!("flag {} is not supported: {e}", name(&flag))))?;
    }

    for rule in cfg.syscalls().iter().flatten() {
        add_rule(&mut ctx, rule, default)?;
    }
    Ok(ctx)
}

/// Load `ctx` into the calling thread; returns the user-notification listener
/// fd when some rule uses `SCMP_ACT_NOTIFY`.
///
/// See the module docs for where to call this: without `no_new_privs` the
/// caller needs `CAP_SYS_ADMIN`.
pub fn load(ctx: &ScmpFilterContext) -> Result<Option<OwnedFd>> {
    ctx.load().map_err(|e| match e.sysrawrc() {
        Some(rc) => load_error(Errno::from_raw_os_error(-rc)),
        None => Error::Seccomp(format!("loading filter: {e}")),
    })?;
    // libseccomp keeps the listener the kernel returned at load; it reports an
    // error (fd -1) when the filter had no NOTIFY rule. `build` guarantees the
    // API level this call needs whenever NOTIFY is used, so an error here
    // means "no listener", not "listener lost".
    match ctx.get_notify_fd() {
        // SAFETY: the fd was just created by seccomp(2) for this process and
        // nothing else owns it: libseccomp only remembers the number and
        // closes it solely in seccomp_reset(NULL), which we never call.
        Ok(fd) if fd >= 0 => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
        _ => Ok(None),
    }
}

/// The kernel refused a filter (through libseccomp or as a cached program).
fn load_error(errno: Errno) -> Error {
    let hint = if errno == Errno::ACCESS {
        " (without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load before dropping capabilities)"
    } else {
        ""
    };
    Error::Seccomp(format!("loading filter: {}{hint}", std::io::Error::from(errno)))
}

/// The `linux.seccomp` object of the OCI `features.json`.
pub fn features() -> serde_json::Value {
    let known_flags = FLAGS.iter().map(name).collect::<Vec<_>>();
    let supported_flags = FLAGS.iter().filter(|f| flag_supported(**f)).map(name).collect::<Vec<_>>();
    serde_json::json!({
        "enabled": true,
        "actions": ACTIONS.iter().map(name).collect::<Vec<_>>(),
        "operators": OPERATORS.iter().map(name).collect::<Vec<_>>(),
        "archs": supported_archs(),
        "knownFlags": known_flags,
        "supportedFlags": supported_flags,
    })
}

/// Add the libseccomp rules for one `syscalls[]` entry.
fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> Result<()> {
    let names = rule.names().join(",");
    let action =
        scmp_action(rule.action(), rule.errno_ret()).map_err(|e| Error::Seccomp(format!("syscalls {names}: {e}")))?;
    if action == default {
        tracing::debug!("seccomp: rule for {names} repeats the default action, skipped");
        return Ok(());
    }
    if action == ScmpAction::Notify {
        // Below this level libseccomp can add NOTIFY rules but the crate will
        // not hand out the listener fd, which would leave the container hanging.
        let ok = libseccomp::check_api(6, ScmpVersion::from((2, 5, 0))).unwrap_or(false);
        if !ok {
            return Err(Error::Seccomp(format!(
                "syscalls {names}: SCMP_ACT_NOTIFY needs libseccomp >= 2.5.0 with API level 6 \
                 (have {}, API level {})",
                libseccomp_version(),
                libseccomp::get_api()
            )));
        }
    }

    let conds = rule
        .args()
        .iter()
        .flatten()
        .map(condition)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Seccomp(format!("syscalls {names}: {e}")))?;
    // libseccomp allows each argument only once per rule. When an index
    // repeats, runc adds every condition as a rule of its own, which turns the
    // conditions' AND into an OR; profiles written for runc expect that.
    let repeats = rule
        .args()
        .iter()
        .flatten()
        .enumerate()
        .any(|(i, a)| rule.args().iter().flatten().skip(i + 1).any(|b| b.index() == a.index()));
    let groups: Vec<&[ScmpArgCompare]> =
        if repeats { conds.iter().map(std::slice::from_ref).collect() } else { vec![&conds] };

    for syscall in rule.names() {
        let Ok(nr) = ScmpSyscall::from_name(syscall) else {
            tracing::debug!("seccomp: unknown syscall {syscall:?} ignored");
            continue;
        };
        for group in &groups {
            ctx.add_rule_conditional(action, nr, group)
                .map_err(|e| Error::Seccomp(format!("adding rule {action:?} for syscall {syscall}: {e}")))?;
        }
    }
    Ok(())
}

/// OCI action plus errnoRet to the libseccomp action, with runc's defaults.
/// Errors are bare messages; callers say which rule they belong to.
fn scmp_action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, String> {
    // ERRNO and TRACE carry a 16-bit value; EPERM when unset (runc's choice).
    let ret = || match errno_ret {
        None => Ok(Errno::PERM.raw_os_error() as u16),
        Some(v) => u16::try_from(v).map_err(|_| format!("errnoRet {v} is out of range (0-{})", u16::MAX)),
    };
    Ok(match action {
        // SCMP_ACT_KILL predates KILL_PROCESS and has always meant the thread.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// One `args[]` entry as a libseccomp comparison (errors as in `scmp_action`).
fn condition(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare, String> {
    let index = u32::try_from(arg.index())
        .ok()
        .filter(|&i| i <= MAX_ARG_INDEX)
        .ok_or_else(|| format!("argument index {} is out of range (0-{MAX_ARG_INDEX})", arg.index()))?;
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // As in runc/libseccomp: `value` is the mask, `valueTwo` what the
        // masked argument must equal ((arg & value) == valueTwo).
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(arg.value()), arg.value_two().unwrap_or(0))
        }
    };
    Ok(ScmpArgCompare::new(index, op, datum))
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

const ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActAllow,
];

const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

/// Every concrete architecture (not "native") the config can name.
const ARCHS: [Arch; 23] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// The architectures the installed libseccomp knows (older versions lack
/// e.g. loongarch64, m68k and sh). Whether one can join the native arch in a
/// filter also depends on byte order, which `build` reports.
fn supported_archs() -> Vec<String> {
    let known = |arch: Arch| {
        // A fresh filter without the native arch, so byte order can't clash.
        let mut probe = ScmpFilterContext::new(ScmpAction::Allow)?;
        probe.remove_arch(ScmpArch::Native)?;
        probe.add_arch(scmp_arch(arch)).map(|_| ())
    };
    ARCHS.iter().filter(|a| known(**a).is_ok()).map(name).collect()
}

/// Whether both libseccomp and the kernel can apply `flag`.
fn flag_supported(flag: LinuxSeccompFilterFlag) -> bool {
    // (libseccomp API level, version, kernel flag bit); TSYNC needs no
    // libseccomp support because `build` accepts it as a no-op.
    let (api, version, bit) = match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => (0, (0, 0, 0), sys::seccomp::FILTER_FLAG_TSYNC),
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => (3, (2, 4, 0), sys::seccomp::FILTER_FLAG_LOG),
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => (4, (2, 5, 0), sys::seccomp::FILTER_FLAG_SPEC_ALLOW),
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            (7, (2, 6, 0), sys::seccomp::FILTER_FLAG_WAIT_KILLABLE_RECV)
        }
    };
    let lib_ok = libseccomp::check_api(api, ScmpVersion::from(version)).unwrap_or(false);
    // The way runc asks the kernel (see `sys::seccomp::kernel_knows_filter_flag`).
    lib_ok && sys::seccomp::kernel_knows_filter_flag(bit)
}

/// The config spelling of an OCI enum value, e.g. "SCMP_ACT_ERRNO".
fn name<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}"),
    }
}

fn libseccomp_version() -> String {
    match ScmpVersion::current() {
        Ok(v) => v.to_string(),
        Err(_) => "(unknown version)".into(),
    }
}

fn lib_err(what: &'static str) -> impl Fn(libseccomp::error::SeccompError) -> Error {
    move |e| Error::Seccomp(format!("{what}: {e}"))
}
