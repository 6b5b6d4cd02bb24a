//! Fixtures shared by berth's integration tests (a dev-dependency only):
//! a private registry, a flaky proxy to put in front of it, a busybox rootfs.
//! Tests build everything locally: there is no internet on these machines.
//!
//! Test code, as the workspace lints see it: a fixture that cannot be set up
//! fails the test by panicking, so unwrap/expect are allowed here (and only
//! here, outside tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod mounts;
pub mod proxy;
pub mod registry;
pub mod rootfs;
pub mod token;
