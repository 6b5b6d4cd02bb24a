//! berth on a pseudo-terminal: what the `-t` tests drive it through.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustix::pty::OpenptFlags;

use super::Env;

/// berth on a pseudo-terminal of its own, as its controlling terminal (so
/// it gets SIGWINCH), with what it shows collected as it comes.
pub struct OnPty {
    pub master: File,
    child: Child,
    pub shown: String,
}

impl OnPty {
    pub fn spawn(env: &Env, args: &[&str], rows: u16, cols: u16) -> OnPty {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
        let slave: OwnedFd = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        set_size(&master, rows, cols);
        let mut cmd = env.cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls
        // (setsid, ioctl), touching nothing of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        rustix::io::ioctl_fionbio(&master, true).unwrap();
        OnPty { master: File::from(master), child, shown: String::new() }
    }

    pub fn type_in(&mut self, text: &[u8]) {
        self.master.write_all(text).unwrap();
    }

    /// Wait (bounded) until the terminal showed `what`.
    pub fn expect(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        while !self.shown.contains(what) {
            assert!(Instant::now() < deadline, "never showed {what:?}; showed {:?}", self.shown);
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => self.shown.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        set_size(self.master.as_fd(), rows, cols);
    }

    /// Wait (bounded) for berth to exit, collecting what it still shows:
    /// its exit code.
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = self.master.read(&mut buf) {
                self.shown.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "berth did not exit; showed {:?}", self.shown);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub fn set_size(fd: impl std::os::fd::AsFd, rows: u16, cols: u16) {
    let ws = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(fd, ws).unwrap();
}
