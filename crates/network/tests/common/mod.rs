//! Network namespaces of the tests' own: the helpers the network crate's
//! integration tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::{AsFd as _, OwnedFd};
use std::process::{Command, Output};

use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Run `f` on a thread in a new network namespace (only `lo`, down).
pub fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: only the network namespace is unshared (no CLONE_FILES or
        // CLONE_FS), which changes nothing else this process shares.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }.unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// Run `f` on a thread in namespace `ns`.
pub fn in_netns<T: Send + 'static>(ns: &OwnedFd, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.try_clone().unwrap();
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A new network namespace, kept alive by the fd alone.
pub fn new_netns() -> OwnedFd {
    in_new_netns(|| {
        rustix::fs::open("/proc/thread-self/ns/net", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).unwrap()
    })
}

/// Run `args` in the calling thread's namespace; its stdout, failing the
/// test on an error exit.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`run`] in namespace `ns`.
pub fn run_in(ns: &OwnedFd, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    in_netns(ns, move || run(&args.iter().map(String::as_str).collect::<Vec<_>>()))
}

/// `args` run in namespace `ns`, whatever their exit.
pub fn output_in(ns: &OwnedFd, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    in_netns(ns, move || Command::new(&args[0]).args(&args[1..]).output().unwrap())
}
