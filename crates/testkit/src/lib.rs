//! Fixtures shared by berth's integration tests (a dev-dependency only):
//! a private registry, a flaky proxy to put in front of it, a busybox rootfs.
//! Tests build everything locally: there is no internet on these machines.

pub mod mounts;
pub mod proxy;
pub mod registry;
pub mod rootfs;
pub mod token;
