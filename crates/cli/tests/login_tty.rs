//! `berth login` on a terminal, driven through a real pty against a
//! docker-registry with basic auth: podman 4.3's prompts, the password never
//! echoed, a saved username offered, saved credentials checked first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, OwnedFd};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, Env};
use regharness::*;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcgetattr, LocalModes};

/// berth running with a new pty as its stdin and stdout (stderr apart).
struct OnPty {
    master: File,
    slave_path: std::path::PathBuf,
    child: Child,
    seen: Vec<u8>,
}

impl OnPty {
    fn spawn(env: &Env, args: &[&str]) -> OnPty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave_path = std::path::PathBuf::from(ptsname(&master, Vec::new()).unwrap().into_string().unwrap());
        let slave: OwnedFd = File::options().read(true).write(true).open(&slave_path).unwrap().into();
        let mut cmd = berth(env, args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap())).stdout(Stdio::from(slave)).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        // `cmd` holds the parent's copies of the slave until dropped.
        drop(cmd);
        OnPty { master: File::from(master), slave_path, child, seen: Vec::new() }
    }

    /// Read what berth wrote until `want` has appeared (10 s at most).
    fn expect(&mut self, want: &str) {
        let start = Instant::now();
        while !String::from_utf8_lossy(&self.seen).contains(want) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "waited for {want:?}, got {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            let timeout = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
            if poll(&mut fds, Some(&timeout)).unwrap() == 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => break, // EIO: berth closed the terminal
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// berth's exit status (20 s at most, then it is killed and the test fails).
    fn wait(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("berth did not end; the terminal shows {:?}", String::from_utf8_lossy(&self.seen));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_in(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// Wait for berth to end; returns its exit code and everything it wrote
    /// on the terminal (`\r\n` as the tty writes newlines).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.wait();
        let mut rest = Vec::new();
        loop {
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            if poll(&mut fds, Some(&Timespec { tv_sec: 0, tv_nsec: 50_000_000 })).unwrap() == 0 {
                break;
            }
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
        self.seen.extend(rest);
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status.code(), String::from_utf8_lossy(&self.seen).into_owned(), err)
    }
}

fn saved_auth(env: &Env, host: &str) -> Option<String> {
    let text = std::fs::read_to_string(env.path("auth.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["auths"][host]["auth"].as_str().map(String::from)
}

fn b64(s: &str) -> String {
    // Tiny base64 for the expected auth.json entries.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn login_prompts_on_the_terminal_like_podman() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let host = reg.host();
    let env = Env::new();

    // Nothing saved: both prompts; the password is not echoed.
    let mut t = OnPty::spawn(&env, &["login", "--tls-verify=false", &host]);
    t.expect("Username: ");
    t.type_in(b"alice\n");
    t.expect("Password: ");
    t.type_in(b"s3cret\n");
    let (code, screen, err) = t.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(screen, "Username: alice\r\nPassword: \r\nLogin Succeeded!\r\n");
    assert_eq!(saved_auth(&env, &host), Some(b64("alice:s3cret")));

    // Saved and still valid: no prompt at all.
    let t = OnPty::spawn(&env, &["login", "--tls-verify=false", &host]);
    let (code, screen, err) = t.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        screen,
        format!(
            "Authenticating with existing credentials for {host}\r\nExisting credentials are valid. Already logged in to {host}\r\n"
        )
    );

    // Saved but no longer valid: the saved username is offered; Enter takes it.
    let auth = env.path("auth.json");
    std::fs::write(&auth, format!(r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#, b64("alice:old"))).unwrap();
    let mut t = OnPty::spawn(&env, &["login", "--tls-verify=false", &host]);
    t.expect("Username (alice): ");
    t.type_in(b"\n");
    t.expect("Password: ");
    t.type_in(b"s3cret\r");
    let (code, screen, err) = t.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        screen,
        format!(
            "Authenticating with existing credentials for {host}\r\nExisting credentials are invalid, please enter valid username and password\r\nUsername (alice): \r\nPassword: \r\nLogin Succeeded!\r\n"
        )
    );
    assert_eq!(saved_auth(&env, &host), Some(b64("alice:s3cret")));

    // `-u` given: only the password is asked; a wrong one saves nothing.
    let other = Env::new();
    let mut t = OnPty::spawn(&other, &["login", "--tls-verify=false", "-u", "alice", &host]);
    t.expect("Password: ");
    t.type_in(b"wrong\n");
    let (code, screen, err) = t.finish();
    assert_eq!(code, Some(125));
    assert_eq!(screen, "Password: \r\n");
    assert_eq!(err, format!("Error: logging into \"{host}\": invalid username/password\n"));
    assert_eq!(saved_auth(&other, &host), None);

    // --get-login.
    assert_eq!(ok(&env, &["login", "--get-login", &host]).0, "alice\n");
    let e = fails(&other, &["login", "--get-login", &host]);
    assert_eq!(e, format!("Error: not logged into {host}\n"));
}

/// Ctrl-c at the password prompt ends berth by SIGINT, as at the shell, and
/// the terminal echoes again afterwards.
#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let mut t = OnPty::spawn(&env, &["login", "--tls-verify=false", "-u", "alice", &reg.host()]);
    t.expect("Password: ");
    let slave_path = t.slave_path.clone();
    // Keep the terminal open past berth's exit, to look at its modes.
    let slave = File::options().read(true).write(true).open(&slave_path).unwrap();
    assert!(!tcgetattr(slave.as_fd()).unwrap().local_modes.contains(LocalModes::ECHO), "echo is off while asking");
    t.type_in(b"half\x03");
    let status = t.wait();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(2), "{status}");
    let modes = tcgetattr(slave.as_fd()).unwrap().local_modes;
    assert!(modes.contains(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG), "{modes:?}");
    assert_eq!(saved_auth(&env, &reg.host()), None);
}

/// Not a terminal: podman's error, never a password read with echo.
#[test]
fn no_terminal_for_the_password_is_podmans_error() {
    let reg = TestRegistry::start_with_auth("alice", "s3cret");
    let env = Env::new();
    let o = berth(&env, &["login", "--tls-verify=false", "-u", "alice", &reg.host()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "Error: getting username and password: reading password: inappropriate ioctl for device\n");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Password: ");
    let e = fails(&env, &["login", "--password-stdin", &reg.host()]);
    assert_eq!(e, "Error: Must provide --username with --password-stdin\n");
}
