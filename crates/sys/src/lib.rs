//! berth's one syscall layer and its filesystem primitives.
//!
//! Every berth crate makes system calls through [`rustix`] (re-exported here
//! so all crates use the same version and features). The few calls rustix
//! does not wrap live in this crate and nowhere else, each behind a safe
//! function: [`mount::mount_setattr`] (rustix#975 is still open),
//! [`process`] (fork, clone into namespaces, execve, close-on-exec for every
//! fd, personality, session keyring), [`signal`] (names, sigwait),
//! [`seccomp`] (loading a precompiled filter) and [`net`] (an interface's
//! flags, the host's addresses). [`fdpass`]: an fd sent over a unix socket
//! with its data, in one place for every crate.
//!
//! On top of the syscalls, the primitives every crate needs, written once:
//! - [`fs::resolve`]: open a path under a root without leaving it, in the two
//!   semantics there are: *re-rooted* (symlinks and `..` are interpreted as if
//!   the root were `/`, as docker and `chroot` do) and *beneath* (anything that
//!   would leave the root is refused);
//! - [`fs::atomic`]: replace a file atomically, with or without fsync;
//! - [`fs::lock`]: flock-based locks across processes;
//! - [`fs::dir`]: directories closed to other host users;
//! - [`fs::read`]: read a small regular file safely (no FIFO hangs, bounded).

pub mod fdpass;
pub mod fs;
pub mod memory;
pub mod mount;
pub mod net;
pub mod process;
pub mod seccomp;
pub mod signal;

pub use rustix;
