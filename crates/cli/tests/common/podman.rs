//! podman 4.3 beside berth: the same command line on both, each with a store
//! of its own, and the table of rows every side-by-side test runs.
//!
//! podman gets, in a directory of its own, the settings
//! `/work/shared/peers/podman-env.sh` gives it on these machines (cgroupfs,
//! the rlimits this machine allows, no search registries), plus runc (Debian's
//! crun refuses this machine's hybrid cgroups), vfs (nothing left mounted),
//! no network, and a directory of its own for the networks it makes (not
//! the host's /etc/cni/net.d). The script itself is not sourced: it
//! rewrites shared files each time, which races when tests run at once. A
//! test that needs podman fails loudly without it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{stderr, stdout, Env};

/// podman with its configuration and store under one directory.
pub struct Podman {
    dir: PathBuf,
    /// Set when this owns the directory: its containers go on drop.
    owned: Option<tempfile::TempDir>,
    driver: &'static str,
}

impl Podman {
    /// A podman of its own, in a new directory; its containers (and their
    /// mounts) are removed when it is dropped.
    pub fn new() -> Podman {
        let owned = tempfile::Builder::new().prefix("berth-podman").tempdir_in("/var/tmp").unwrap();
        Podman { dir: owned.path().to_path_buf(), owned: Some(owned), driver: "vfs" }
    }

    /// [`Podman::new`], and the same busybox tarball imported into it and
    /// into `env`'s store as `localhost/bb` (CMD sh): the two sides alike.
    pub fn beside(env: &Env) -> Podman {
        let podman = Podman::new();
        let rootfs = env.path("bb.tar");
        std::fs::write(&rootfs, super::busybox_layer()).unwrap();
        let import = ["import", "-q", "--change", "CMD [\"sh\"]", rootfs.to_str().unwrap(), "localhost/bb"];
        env.ok(&import);
        podman.ok(&import);
        podman
    }

    /// [`Podman::new`] with another storage driver (`overlay` to compare
    /// what `info` says of it).
    pub fn with_driver(driver: &'static str) -> Podman {
        let mut p = Podman::new();
        p.driver = driver;
        p
    }

    /// podman whose configuration and store live in `dir` (written on first
    /// use), for tests that only handle images.
    pub fn at(dir: PathBuf) -> Podman {
        Podman { dir, owned: None, driver: "vfs" }
    }

    fn configure(&self) {
        let d = &self.dir;
        let containers_conf = d.join("containers.conf");
        if containers_conf.exists() {
            return;
        }
        std::fs::create_dir_all(d.join("registries.conf.d")).unwrap();
        std::fs::write(
            &containers_conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\nnetns = \"none\"\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\n\
                 runtime = \"runc\"\n\
                 [network]\nnetwork_config_dir = \"{}\"\n",
                d.join("events.log").display(),
                d.join("networks").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"{}\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                self.driver,
                d.join("run").display(),
                d.join("root").display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
    }

    /// `podman ARGS`, stdin /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        assert!(Path::new("/usr/bin/podman").exists(), "podman 4.3 is the reference: apt-get install podman runc");
        self.tool("podman", args)
    }

    /// `buildah ARGS` on the same store and configuration, stdin /dev/null.
    pub fn buildah(&self, args: &[&str]) -> Command {
        assert!(
            Path::new("/usr/bin/buildah").exists(),
            "buildah 1.28 is the builds' reference: apt-get install buildah"
        );
        self.tool("buildah", args)
    }

    fn tool(&self, tool: &str, args: &[&str]) -> Command {
        self.configure();
        let d = &self.dir;
        let mut c = Command::new(tool);
        c.args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .env("CONTAINERS_REGISTRIES_CONF_DIR", d.join("registries.conf.d"))
            .env("TMPDIR", d)
            .env_remove("REGISTRIES_CONFIG_PATH")
            .stdin(Stdio::null());
        c
    }

    /// `podman ARGS`, which must succeed: its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, None);
        assert!(o.status.success(), "podman {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    /// `podman ARGS` with `stdin` as its input (or /dev/null).
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_with_input(self.cmd(args), stdin)
    }
}

impl Drop for Podman {
    /// Everything podman made goes, mounts included, before the directory.
    fn drop(&mut self) {
        if self.owned.is_none() || !self.dir.join("containers.conf").exists() {
            return;
        }
        let _ = self.cmd(&["rm", "-a", "-f", "-t", "0"]).output();
        let dir = self.dir.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ours = super::mount_points_starting(&dir);
            // conmon and the `podman container cleanup` it starts after its
            // container's exit: one still running after the directory went
            // made its store again, left behind in /var/tmp.
            if ours.is_empty() && !super::containers::a_process_names(&dir) {
                break;
            }
            if Instant::now() > deadline {
                for m in ours.iter().rev() {
                    let _ = Command::new("umount").arg("-l").arg(m).status();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Write at `path` a wrapper that runs `crun` as ../shared/peers/crun-nsw
/// does: in a mount namespace of its own without a hybrid host's cgroup2
/// mount, which crun 1.8 refuses. Returns `path`, for `--runtime`.
pub fn crun_wrapper(crun: &Path, path: &Path) -> PathBuf {
    let text = format!(
        "#!/bin/sh\nexec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec {} \"$@\"' crun \"$@\"\n",
        crun.display()
    );
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// podman with `args` and `stdin`, its store under `env` (`env/podman`).
pub fn podman_with_input(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    Podman::at(env.path("podman")).run(args, stdin)
}

/// podman with `args` and no input, its store under `env`: (exit code, stdout, stderr).
pub fn podman(env: &Env, args: &[&str]) -> (i32, String, String) {
    let o = podman_with_input(env, args, None);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// Run `c` with `stdin` as its input (else what `c` has), capturing its output.
pub fn run_with_input(mut c: Command, stdin: Option<&[u8]>) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// A command line run on both sides, and what must hold.
pub struct Row {
    pub args: &'static [&'static str],
    pub stdin: Option<&'static str>,
    /// The exit code both must give.
    pub code: i32,
    pub stdout: Stdout,
    pub error: ErrorLine,
    /// Lines berth's stderr must hold besides (the See line podman leaves
    /// out of some errors, which the issue asks for everywhere).
    pub berth_stderr: &'static [&'static str],
}

/// What a row checks of stdout.
#[derive(Clone, Copy, Debug)]
pub enum Stdout {
    /// Exactly this, on both.
    Is(&'static str),
    /// The same on both once IDs (runs of 12+ hex digits) are masked and
    /// "podman" reads "berth".
    Same,
    /// Help: podman's section headings appear in berth's, in podman's
    /// order (berth adds Arguments and Global Options).
    Headings,
    /// JSON with the same shape: the same keys in the same order and the
    /// same types, down to the first element of every list.
    JsonShape,
    /// JSON whose every key (at any depth) podman has too, with the same type:
    /// for documents berth fills only in part (`info`).
    JsonSubset,
}

/// What a row checks of stderr.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ErrorLine {
    /// The first `Error:` line, word for word ("podman" read as "berth").
    Same,
    /// All of stderr, word for word ("podman" read as "berth").
    All,
    /// Not compared: the words are another program's (a runtime's, say).
    Differs,
}

impl Row {
    /// A row that must print `stdout` and the same error line on both.
    pub const fn new(args: &'static [&'static str], code: i32, stdout: &'static str) -> Row {
        Row { args, stdin: None, code, stdout: Stdout::Is(stdout), error: ErrorLine::Same, berth_stderr: &[] }
    }

    /// A row whose stdout is compared as `stdout` says.
    pub const fn shaped(args: &'static [&'static str], code: i32, stdout: Stdout) -> Row {
        Row { args, stdin: None, code, stdout, error: ErrorLine::Same, berth_stderr: &[] }
    }
}

/// `{dir}` in a row's arguments: a directory both sides read from.
pub const DIR: &str = "{dir}";

/// Run every row on both sides; panic listing every row that does not hold.
pub fn compare(rows: &[Row], dir: &Path, berth: &dyn Fn(&[&str]) -> Command, podman: &dyn Fn(&[&str]) -> Command) {
    let mut failures = Vec::new();
    for r in rows {
        let args: Vec<String> = r.args.iter().map(|a| a.replace(DIR, &dir.to_string_lossy())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let b = run_with_input(berth(&args), r.stdin.map(str::as_bytes));
        let p = run_with_input(podman(&args), r.stdin.map(str::as_bytes));
        let problems = check(r, &b, &p);
        if !problems.is_empty() {
            failures.push(format!("{:?}:\n  {}", r.args, problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

fn check(r: &Row, b: &Output, p: &Output) -> Vec<String> {
    let mut problems = Vec::new();
    let (bout, pout, berr, perr) = (stdout(b), stdout(p), stderr(b), as_berth(&stderr(p)));
    for (tool, o, err) in [("berth", b, &berr), ("podman", p, &perr)] {
        if o.status.code() != Some(r.code) {
            problems.push(format!("{tool} exited {:?}, want {}: {err}", o.status.code(), r.code));
        }
    }
    match r.stdout {
        Stdout::Is(want) => {
            for (tool, got) in [("berth", &bout), ("podman", &pout)] {
                if got != want {
                    problems.push(format!("{tool} printed {got:?}, want {want:?}"));
                }
            }
        }
        Stdout::Same => {
            if masked(&bout) != masked(&as_berth(&pout)) {
                problems.push(format!("stdout differs:\nberth:\n{bout}\npodman:\n{pout}"));
            }
        }
        Stdout::Headings => {
            let ours = headings(&bout);
            let theirs = headings(&pout);
            let mut rest = ours.iter();
            if !theirs.iter().all(|h| rest.any(|o| o == h)) {
                problems.push(format!("help sections: berth {ours:?}, podman {theirs:?}"));
            }
        }
        Stdout::JsonShape | Stdout::JsonSubset => match (serde_json::from_str(&bout), serde_json::from_str(&pout)) {
            (Ok(bj), Ok(pj)) => {
                if let Err(e) = same_shape(&bj, &pj, matches!(r.stdout, Stdout::JsonSubset), "") {
                    problems.push(format!("JSON differs at {e}"));
                }
            }
            (bj, pj) => problems.push(format!("not JSON: berth {:?} podman {:?}", bj.err(), pj.err())),
        },
    }
    let error_line = |s: &str| s.lines().find(|l| l.starts_with("Error: ")).map(String::from);
    if r.code >= 125 && error_line(&berr).is_none() {
        problems.push(format!("berth printed no Error: line: {berr:?}"));
    }
    match r.error {
        ErrorLine::Same if error_line(&berr) != error_line(&perr) => {
            problems.push(format!("error lines differ: berth {:?}, podman {:?}", error_line(&berr), error_line(&perr)));
        }
        ErrorLine::All if berr != perr => problems.push(format!("stderr differs:\nberth:\n{berr}\npodman:\n{perr}")),
        _ => {}
    }
    for line in r.berth_stderr {
        if !berr.lines().any(|l| l == *line) {
            problems.push(format!("berth's stderr lacks {line:?}: {berr:?}"));
        }
    }
    problems
}

/// podman's text as berth would say it.
/// `args` fail alike on berth and podman: the same exit code and the same
/// first line on stderr (podman's name read as berth's).
pub fn same_failure(env: &Env, podman: &Podman, args: &[&str]) {
    let (b, p) = (env.run(args), podman.run(args, None));
    assert_eq!(b.status.code(), p.status.code(), "{args:?}");
    let first = |s: &str| s.lines().next().unwrap_or("").to_string();
    assert_eq!(first(&stderr(&b)), first(&as_berth(&stderr(&p))), "{args:?}");
}

fn as_berth(s: &str) -> String {
    s.replace("podman", "berth")
}

/// Every run of 12 or more lowercase hex digits as `<id>`.
pub fn masked(s: &str) -> String {
    let mut out = String::new();
    let mut hex = String::new();
    let flush = |hex: &mut String, out: &mut String| {
        out.push_str(if hex.len() >= 12 { "<id>" } else { hex });
        hex.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            hex.push(c);
        } else {
            flush(&mut hex, &mut out);
            out.push(c);
        }
    }
    flush(&mut hex, &mut out);
    out
}

/// A help text's section headings (`Usage:`, `Options:`...).
fn headings(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.ends_with(':') && l.starts_with(|c: char| c.is_ascii_uppercase()) && !l.contains("  "))
        .map(String::from)
        .collect()
}

/// Whether `b` has the shape of `p` (with `subset`, only what `b` has).
/// Maps whose keys are data (`info`'s graphStatus, which each storage
/// driver fills in its own way) are compared as maps only.
fn same_shape(b: &Value, p: &Value, subset: bool, at: &str) -> Result<(), String> {
    match (b, p) {
        (Value::Object(_), Value::Object(_)) if at.ends_with(".graphStatus") => Ok(()),
        (Value::Object(bo), Value::Object(po)) => {
            if !subset && bo.keys().ne(po.keys()) {
                return Err(format!(
                    "{at}: keys berth {:?} podman {:?}",
                    bo.keys().collect::<Vec<_>>(),
                    po.keys().collect::<Vec<_>>()
                ));
            }
            for (k, bv) in bo {
                let pv = po.get(k).ok_or_else(|| format!("{at}.{k}: podman has no such key"))?;
                same_shape(bv, pv, subset, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(ba), Value::Array(pa)) => match (ba.first(), pa.first()) {
            (Some(bf), Some(pf)) => same_shape(bf, pf, subset, &format!("{at}[0]")),
            _ if ba.is_empty() == pa.is_empty() => Ok(()),
            _ => Err(format!("{at}: berth has {} elements, podman {}", ba.len(), pa.len())),
        },
        _ if std::mem::discriminant(b) == std::mem::discriminant(p) => Ok(()),
        _ => Err(format!("{at}: berth {b}, podman {p}")),
    }
}
