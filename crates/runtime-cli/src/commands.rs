//! What each command does: translate flags into library calls and print
//! results the way runc prints them.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxPids, LinuxResources, Process};
use runtime::container::{self, CreateOptions, ExecOptions};
use runtime::{Error, Result};
use sys::signal::Signal;

use crate::cli::{Cli, Command, CreateArgs, ExecArgs, UpdateArgs};

/// Run the command; Ok(exit code).
pub fn run(cli: Cli) -> Result<i32> {
    let root = cli.root.clone();
    match cli.command {
        Command::Create(a) => {
            container::create(&create_options(&root, &a, false, cli.systemd_cgroup))?;
            Ok(0)
        }
        Command::Start { id } => container::start(&root, &id).map(|_| 0),
        Command::Run(a) => run_container(&root, &a.create, a.detach, a.keep, cli.systemd_cgroup),
        Command::State { id } => {
            let v = container::state_json(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(0)
        }
        Command::Kill { all, id, signal } => container::kill(&root, &id, parse_signal(&signal)?, all).map(|_| 0),
        Command::Delete { force, id } => delete(&root, &id, force),
        Command::Exec(a) => exec(&root, a),
        Command::Pause { id } => container::pause(&root, &id).map(|_| 0),
        Command::Resume { id } => container::resume(&root, &id).map(|_| 0),
        Command::Ps { format, id, ps_args } => ps(&root, &id, &format, &ps_args),
        Command::List { format, quiet } => list(&root, &format, quiet),
        Command::Update(a) => update(&root, a),
        Command::Events { stats, interval, id } => events(&root, &id, stats, &interval),
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&runtime::features::features()).unwrap_or_default());
            Ok(0)
        }
        Command::Spec { bundle } => spec(&bundle, cli.rootless.as_deref() == Some("true")),
    }
}

fn create_options(root: &Path, a: &CreateArgs, foreground: bool, systemd: bool) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground,
        systemd_cgroup: systemd,
        stdio: None,
        close_in_init: Vec::new(),
        loopback_up: false,
        made_cgroup: None,
    }
}

fn run_container(root: &Path, a: &CreateArgs, detach: bool, keep: bool, systemd: bool) -> Result<i32> {
    let created = container::create(&create_options(root, a, !detach, systemd))?;
    if let Err(e) = container::start(root, &a.id) {
        let _ = container::delete(root, &a.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = container::foreground::wait(created.state.pid, created.terminal);
    if !keep {
        container::delete(root, &a.id, true)?;
    }
    Ok(code)
}

fn delete(root: &Path, id: &str, force: bool) -> Result<i32> {
    match container::delete(root, id, force) {
        // runc: deleting a missing container with --force is not an error.
        Err(Error::NotFound(_)) if force => Ok(0),
        other => other.map(|_| 0),
    }
}

pub fn parse_signal(s: &str) -> Result<Signal> {
    sys::signal::parse(s).ok_or_else(|| Error::Other(format!("unknown signal {s:?}")))
}

fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    let process = exec_process(root, &a)?;
    if process.terminal().unwrap_or(false) && a.detach && a.console_socket.is_none() {
        return Err(Error::InvalidConfig("exec -t -d needs --console-socket to receive the terminal".into()));
    }
    let opts = ExecOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        stdio: None,
    };
    let done = container::exec(&opts)?;
    if a.detach {
        return Ok(0);
    }
    Ok(container::foreground::wait(done.pid, done.terminal))
}

/// The process to exec: --process file, or the container's own process with
/// the flags' overrides (as runc builds it).
fn exec_process(root: &Path, a: &ExecArgs) -> Result<Process> {
    if let Some(p) = &a.process {
        let text = std::fs::read(p).map_err(|e| Error::InvalidConfig(format!("process file {}: {e}", p.display())))?;
        return serde_json::from_slice(&text)
            .map_err(|e| Error::InvalidConfig(format!("process file {}: {e}", p.display())));
    }
    if a.command.is_empty() {
        return Err(Error::InvalidConfig("exec needs a command (or --process)".into()));
    }
    let st = runtime::state::Dir::open(root, &a.id)?.load()?;
    let mut p = st.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| Error::InvalidConfig(format!("invalid --user {u:?}: numeric uid[:gid] expected")))?,
        );
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| Error::InvalidConfig(format!("invalid --user {u:?}")))?);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_else(empty_caps);
        for c in &a.cap {
            let name = if c.starts_with("CAP_") { c.clone() } else { format!("CAP_{}", c.to_ascii_uppercase()) };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error::InvalidConfig(format!("unknown capability {c:?}")))?;
            let add = |set: &Option<std::collections::HashSet<Capability>>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    // runc's --apparmor and --process-label: the exec'd process's LSM labels.
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

fn empty_caps() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_permitted(None);
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let pids = container::pids(root, id)?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out =
        std::process::Command::new("ps").args(&args).output().map_err(|e| Error::Other(format!("run ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::Other(format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Other("ps output has no PID column".into()))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok()) {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(0)
}

fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let all = container::list(root)?;
    if quiet {
        for (st, _) in &all {
            println!("{}", st.id);
        }
        return Ok(0);
    }
    if format == "json" {
        let v: Vec<_> = all.iter().map(|(st, s)| st.oci_json(*s)).collect();
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return Ok(0);
    }
    let rows: Vec<[String; 6]> =
        std::iter::once(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from))
            .chain(all.iter().map(|(st, s)| {
                let pid = if *s == runtime::state::Status::Stopped { 0 } else { st.pid };
                [
                    st.id.clone(),
                    pid.to_string(),
                    s.to_string(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    owner(&st.owner),
                ]
            }))
            .collect();
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i] + 3)).collect();
        println!("{}", line.concat().trim_end());
    }
    Ok(0)
}

fn owner(o: &str) -> String {
    if o.is_empty() {
        "root".into()
    } else {
        o.into()
    }
}

fn update(root: &Path, a: UpdateArgs) -> Result<i32> {
    let mut r: LinuxResources = match a.resources.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| Error::Other(format!("read stdin: {e}")))?;
            serde_json::from_str(&s).map_err(|e| Error::InvalidConfig(format!("resources: {e}")))?
        }
        Some(f) => {
            let s = std::fs::read(f).map_err(|e| Error::InvalidConfig(format!("resources file {f}: {e}")))?;
            serde_json::from_slice(&s).map_err(|e| Error::InvalidConfig(format!("resources file {f}: {e}")))?
        }
        None => LinuxResources::default(),
    };
    let mut mem = r.memory().unwrap_or_default();
    let mut touched_mem = false;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_size(m)?));
        touched_mem = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_size(m)?));
        touched_mem = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_size(m)?));
        touched_mem = true;
    }
    if touched_mem {
        r.set_memory(Some(mem));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let mut touched_cpu = false;
    macro_rules! set_cpu {
        ($field:expr, $setter:ident) => {
            if let Some(v) = $field.clone() {
                cpu.$setter(Some(v));
                touched_cpu = true;
            }
        };
    }
    set_cpu!(a.cpu_shares, set_shares);
    set_cpu!(a.cpu_period, set_period);
    set_cpu!(a.cpu_quota, set_quota);
    set_cpu!(a.cpu_rt_period, set_realtime_period);
    set_cpu!(a.cpu_rt_runtime, set_realtime_runtime);
    set_cpu!(a.cpuset_cpus, set_cpus);
    set_cpu!(a.cpuset_mems, set_mems);
    if touched_cpu {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    container::update(root, &a.id, &r)?;
    Ok(0)
}

/// "64m", "1g", "1024" (bytes), "-1" (unlimited), like runc's units.RAMInBytes.
pub fn parse_size(s: &str) -> Result<i64> {
    let bad = || Error::InvalidConfig(format!("invalid size {s:?}"));
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<i32> {
    let every = humantime::parse_duration(interval)
        .map_err(|e| Error::InvalidConfig(format!("--interval {interval:?}: {e}")))?;
    if every.is_zero() {
        return Err(Error::InvalidConfig("--interval must be greater than 0".into()));
    }
    loop {
        let stats = match container::stats(root, id) {
            Ok(s) => s,
            Err(e) if !once => {
                tracing::debug!("events: {e}");
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let ev = serde_json::json!({"type": "stats", "id": id, "data": stats});
        println!("{ev}");
        if once {
            return Ok(0);
        }
        std::thread::sleep(every.max(Duration::from_millis(10)));
    }
}

fn spec(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Other(format!("{} exists: remove it first", path.display())));
    }
    let mut v = runtime::features::default_spec();
    if rootless {
        return Err(Error::Unsupported("spec --rootless is not supported yet".into()));
    }
    v["linux"]["resources"] = serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]});
    let text = serde_json::to_string_pretty(&v).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| Error::Other(format!("write {}: {e}", path.display())))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Signal::KILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::KILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::TERM);
        assert!(parse_signal("NOPE").is_err());
    }
}
