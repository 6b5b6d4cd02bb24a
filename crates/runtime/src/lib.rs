//! berth's OCI runtime: turns a bundle (config.json + rootfs) into an
//! isolated process, per the OCI runtime spec 1.x. Synchronous by design:
//! the init is a forked copy of the caller, so no threads may exist when
//! `container::create` or `container::exec` run.

pub mod cgroups;
pub mod container;
pub mod error;
pub mod exe_guard;
pub mod features;
pub mod hooks;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sync;
pub mod tty;

pub use error::{Error, Result};

/// The runtime-spec version we implement and report.
pub const OCI_VERSION: &str = "1.2.0";
