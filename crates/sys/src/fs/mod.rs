//! Filesystem primitives shared by every berth crate. They return
//! `std::io::Error`; callers add what they were doing.

pub mod atomic;
pub mod dir;
pub mod lock;
pub mod new_file;
pub mod read;
pub mod resolve;

pub use atomic::{write_atomic, Durability};
pub use dir::{create_private_dir, restrict_dir};
pub use lock::{FileLock, LockMode};
pub use new_file::write_new;
pub use read::{read_regular, read_regular_rerooted};
pub use resolve::{
    ensure_rerooted, fd_path, lexical, open_beneath, open_beneath_no_symlinks, open_rerooted,
    open_rerooted_no_symlinks, Kind,
};

/// `r`, with "it is not there" taken as done (removing what may be gone).
pub fn ignore_missing(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
