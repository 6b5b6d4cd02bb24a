//! Layer store and container root filesystems.
//!
//! - `store`: [`Store`], layers by chain ID (unpacked once, shared, reference
//!   counted), container filesystems, mount counts, cross-process locking
//! - `chain`: OCI chain IDs
//! - `driver`: `overlay` (overlayfs, copy-on-write) and `vfs` (full copies)
//! - `changes`: a vfs container's changes as a layer tar
//! - `compare`: the changes between two whole trees (`diff A B`)
//! - `staging`, `meta`, `mounts`: crash safety and bookkeeping (atomic
//!   writes and locks come from `sys::fs`)

mod chain;
mod changes;
pub mod compare;
mod driver;
mod error;
mod listing;
mod meta;
mod mounts;
mod squash;
mod staging;
mod store;

pub use chain::ChainId;
pub use driver::{MountPoint, Writes};
pub use error::{Error, Result};
pub use listing::{Change, ChangeKind};
pub use store::{AdoptedLayer, Discarded, ImageView, LayerInfo, StagedLayer, Store};
