//! Container operations, one module per concern.

mod child;
mod create;
mod exec;
pub mod foreground;
mod init;
mod lifecycle;
mod spawn;

pub use create::{create, CreateOptions, Created, Stdio};
pub use exec::{exec, ExecOptions, Execed};
pub use lifecycle::{
    delete, destroy, kill, list, load, oom_kills, pause, pids, resume, start, start_created, state_json, stats, status,
    update,
};
