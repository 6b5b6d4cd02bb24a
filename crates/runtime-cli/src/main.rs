//! berth-runtime: a runc-compatible OCI runtime.

mod cli;
mod commands;
mod log;

use std::sync::Arc;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let logger = match log::Logger::new(cli.log.as_deref(), cli.log_format == "json", cli.debug) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("berth-runtime: open log {}: {e}", cli.log.as_deref().unwrap_or(""));
            std::process::exit(1);
        }
    };
    let _ = tracing::subscriber::set_global_default(logger.clone());
    let logs_to_file = cli.log.as_deref().is_some_and(|p| !p.is_empty() && p != "-");
    match commands::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = e.to_string();
            logger.log(tracing::Level::ERROR, &msg);
            // With a log file, callers read the error there; stderr gets it too
            // so a person at a terminal sees it (runc does the same).
            if logs_to_file {
                eprintln!("berth-runtime: {msg}");
            }
            std::process::exit(1);
        }
    }
}
