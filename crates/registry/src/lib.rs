//! Distribution API v2 client: pull images from registries into the image
//! store, push them back, and manage registry credentials.
//!
//! - `pull`: mirrors and rewrites from registries.conf, platform choice,
//!   parallel verified blob downloads, tag only when complete
//! - `push`: blobs the registry lacks, then the manifest byte-for-byte
//! - `retry`: transient failures (cut connections, 5xx, 429) retried with backoff
//! - `auth`: the containers auth.json file podman, skopeo and docker read
//! - `login`: verify credentials against a registry, then save / forget them
//!
//! The HTTP work is done by `oci-client` on a tokio runtime private to each
//! call; the API is blocking, so callers need no async runtime.

pub mod auth;
pub mod error;
mod login;
pub mod progress;
mod pull;
mod push;
mod retry;
mod sink;
mod transport;

pub use auth::{AuthFile, Credentials};
pub use error::{Error, Result};
pub use login::{check_login, login, logout, saved_credentials};
pub use progress::Event;
pub use pull::{pull, PullOptions, DEFAULT_CONCURRENCY};
pub use push::{push, PushOptions};
pub use retry::DEFAULT_RETRY_DELAYS;
