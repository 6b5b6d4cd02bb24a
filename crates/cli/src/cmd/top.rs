//! `top`: the processes of a running container, in psgo's descriptors
//! (podman's `top`), or, given ps(1) options psgo does not know, as the
//! container's own ps(1) prints them.

use std::time::SystemTime;

use engine::containers::{ExecSpec, Process};
use engine::Engine;

use super::out;
use crate::error::{CliError, Result};
use crate::format;

#[derive(clap::Args)]
pub struct TopArgs {
    /// Act on the latest container berth is aware of
    #[arg(short, long)]
    latest: bool,
    /// The container (unless --latest), then format descriptors (user pid ppid pcpu etime tty time args comm...) or ps(1) options
    #[arg(trailing_var_arg = true, num_args = 0..,
          value_name = "CONTAINER [FORMAT-DESCRIPTORS|ARGS...]")]
    container_and_descriptors: Vec<String>,
}

/// psgo's default: `ps -ef`'s columns.
const DEFAULT: &[&str] = &["user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args"];

pub fn top(engine: &Engine, a: &TopArgs) -> Result<u8> {
    let (target, args) = match (a.latest, a.container_and_descriptors.split_first()) {
        (true, _) => (None, a.container_and_descriptors.as_slice()),
        (false, Some((c, rest))) => (Some(c.as_str()), rest),
        (false, None) => return Err(CliError::usage("you must provide the name or id of a running container")),
    };
    let c = match target {
        Some(name) => engine.container(name)?,
        None => engine.containers()?.pop().ok_or_else(|| CliError::new("no containers to act on"))?,
    };
    // Descriptors may come as separate words or comma-separated (podman).
    let words: Vec<&str> = args.iter().flat_map(|a| a.split(',')).filter(|s| !s.is_empty()).collect();
    let words = if words.is_empty() { DEFAULT.to_vec() } else { words };
    let columns: Option<Vec<&Column>> = words.iter().map(|w| column(w.trim())).collect();
    let Some(columns) = columns else {
        return container_ps(engine, &c, args);
    };
    let procs = engine.container_processes(&c)?;
    let now = SystemTime::now();
    let mut lines = vec![columns.iter().map(|c| c.header).collect::<Vec<_>>().join("\t")];
    for p in &procs {
        lines.push(columns.iter().map(|c| (c.value)(p, now)).collect::<Vec<_>>().join("\t"));
    }
    out(&format::tabwrite(&lines))?;
    Ok(0)
}

/// What psgo does not know, podman hands to ps(1) in the container: its
/// output is the answer.
fn container_ps(engine: &Engine, c: &engine::containers::Container, args: &[String]) -> Result<u8> {
    let mut command = vec!["ps".to_string()];
    command.extend(args.iter().cloned());
    let spec = ExecSpec { command, ..Default::default() };
    let fail = |why: String| CliError::new(format!("executing ps(1) in the container: {why}"));
    match engine.exec_attached(c, &spec) {
        Ok(0) => Ok(0),
        Ok(code) => Err(fail(format!("ps(1) failed with exit code {code}"))),
        Err(e) => Err(fail(e.msg)),
    }
}

/// One descriptor: its names (AIX code, long name), its title, its text.
struct Column {
    code: &'static str,
    normal: &'static str,
    header: &'static str,
    value: fn(&Process, SystemTime) -> String,
}

fn column(word: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.normal == word || (!c.code.is_empty() && c.code == word))
}

fn elapsed(p: &Process, now: SystemTime) -> std::time::Duration {
    now.duration_since(p.started).unwrap_or_default()
}

/// A capability mask as psgo shows it: `full`, `none`, or the names.
fn caps(mask: u64) -> String {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    const FULL: u64 = (1 << NAMES.len()) - 1;
    if mask == FULL {
        return "full".into();
    }
    let mut names: Vec<&str> =
        (0..64).filter(|i| mask >> i & 1 == 1).map(|i| NAMES.get(i).copied().unwrap_or("unknown")).collect();
    if names.is_empty() {
        return "none".into();
    }
    names.sort_unstable();
    names.join(",")
}

/// psgo's descriptors, in its order.
static COLUMNS: &[Column] = &[
    Column {
        code: "%C",
        normal: "pcpu",
        header: "%CPU",
        value: |p, now| {
            let secs = elapsed(p, now).as_secs_f64();
            let pcpu = if secs > 0.0 { 100.0 * p.cpu.as_secs_f64() / secs } else { 0.0 };
            format!("{pcpu:.3}")
        },
    },
    Column { code: "%G", normal: "group", header: "GROUP", value: |p, _| p.group.clone() },
    Column { code: "", normal: "groups", header: "GROUPS", value: |p, _| p.groups.join(",") },
    Column { code: "%P", normal: "ppid", header: "PPID", value: |p, _| p.ppid.to_string() },
    Column { code: "%U", normal: "user", header: "USER", value: |p, _| p.user.clone() },
    Column { code: "", normal: "uid", header: "UID", value: |p, _| p.uid.to_string() },
    Column {
        code: "%a",
        normal: "args",
        header: "COMMAND",
        value: |p, _| match p.cmdline.first() {
            Some(first) if !first.is_empty() => p.cmdline.join(" "),
            _ => format!("[{}]", p.comm),
        },
    },
    Column { code: "%c", normal: "comm", header: "COMMAND", value: |p, _| p.comm.clone() },
    Column { code: "%g", normal: "rgroup", header: "RGROUP", value: |p, _| p.rgroup.clone() },
    Column { code: "%n", normal: "nice", header: "NI", value: |p, _| p.nice.to_string() },
    Column { code: "%p", normal: "pid", header: "PID", value: |p, _| p.pid.to_string() },
    Column { code: "%r", normal: "pgid", header: "PGID", value: |p, _| p.pgid.to_string() },
    Column { code: "%t", normal: "etime", header: "ELAPSED", value: |p, now| format::go_duration(elapsed(p, now)) },
    Column { code: "%u", normal: "ruser", header: "RUSER", value: |p, _| p.ruser.clone() },
    Column { code: "%x", normal: "time", header: "TIME", value: |p, _| format::go_duration(p.cpu) },
    Column { code: "%y", normal: "tty", header: "TTY", value: |p, _| p.tty.clone() },
    Column { code: "%z", normal: "vsz", header: "VSZ", value: |p, _| p.vsz_kib.to_string() },
    Column { code: "", normal: "capamb", header: "AMBIENT CAPS", value: |p, _| caps(p.caps[0]) },
    Column { code: "", normal: "capinh", header: "INHERITED CAPS", value: |p, _| caps(p.caps[1]) },
    Column { code: "", normal: "capprm", header: "PERMITTED CAPS", value: |p, _| caps(p.caps[2]) },
    Column { code: "", normal: "capeff", header: "EFFECTIVE CAPS", value: |p, _| caps(p.caps[3]) },
    Column { code: "", normal: "capbnd", header: "BOUNDING CAPS", value: |p, _| caps(p.caps[4]) },
    Column {
        code: "",
        normal: "seccomp",
        header: "SECCOMP",
        value: |p, _| {
            match p.seccomp {
                0 => "disabled",
                1 => "strict",
                2 => "filter",
                _ => "?",
            }
            .into()
        },
    },
    // No LSM labels on berth's containers (the host's, if any).
    Column { code: "", normal: "label", header: "LABEL", value: |_, _| String::new() },
    Column { code: "", normal: "hpid", header: "HPID", value: |p, _| p.host_pid.to_string() },
    Column { code: "", normal: "huser", header: "HUSER", value: |p, _| p.huser.clone() },
    Column { code: "", normal: "huid", header: "HUID", value: |p, _| p.uid.to_string() },
    Column { code: "", normal: "hgroup", header: "HGROUP", value: |p, _| p.hgroup.clone() },
    Column {
        code: "",
        normal: "hgroups",
        header: "HGROUPS",
        value: |p, _| p.group_ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
    },
    Column { code: "", normal: "rss", header: "RSS", value: |p, _| p.rss_kib.to_string() },
    Column { code: "", normal: "state", header: "STATE", value: |p, _| p.state.clone() },
    Column {
        code: "",
        normal: "stime",
        header: "STIME",
        value: |p, _| {
            // Go's `time.Time.String()` of a whole-second time.
            format::go_time(Some(p.started))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_as_psgo_names_them() {
        assert_eq!(caps(0), "none");
        assert_eq!(caps((1 << 41) - 1), "full");
        assert_eq!(caps(0b100001), "CHOWN,KILL");
        assert_eq!(caps(1 << 50), "unknown");
    }

    #[test]
    fn descriptors_by_either_name() {
        assert_eq!(column("%C").map(|c| c.header), Some("%CPU"));
        assert_eq!(column("pcpu").map(|c| c.header), Some("%CPU"));
        assert!(column("-eo").is_none());
        assert!(column("").is_none());
    }
}
