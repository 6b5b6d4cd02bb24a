//! Fixtures shared by berth's integration tests (a dev-dependency only).
//! Tests build everything locally: there is no internet on these machines.

pub mod registry;
pub mod rootfs;
pub mod token;
