//! `berth-monitor`: a container's monitor (conmon's job) and nothing else.
//! berth launches it for every container it starts (`launch_monitor` in the
//! engine), from a read-only copy, with the command line `monitor_main`
//! takes. Only that code is linked in: about half berth's size, so each
//! start maps, relocates and faults in half as much. Without it beside
//! berth, monitors run from berth itself, which takes the same command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match engine::containers::monitor_main(&args) {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("berth-monitor: only berth starts it, for a container");
            ExitCode::from(125)
        }
    }
}
