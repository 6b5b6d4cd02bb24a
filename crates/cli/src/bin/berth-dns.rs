//! `berth-dns`: the name server of containers' networks (`network::dns`),
//! one per host. A monitor starts it (`berth-dns DIR`, DIR being
//! `<network_run_dir>/dns`, every store's) when a container joins a network with DNS and none
//! runs; it answers on the networks' gateways, forwards other names to the
//! host's resolvers, and exits once no network has a container for a while.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long it stays without containers to answer for.
const IDLE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir] = args.as_slice() else {
        eprintln!("berth-dns: only berth's monitors start it, with its directory");
        return ExitCode::from(125);
    };
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut upstreams = network::dns::host_upstreams(&resolv);
    // Tests give their own resolver (debug builds only).
    if cfg!(debug_assertions) {
        if let Some(up) = std::env::var("BERTH_TEST_DNS_UPSTREAM").ok().and_then(|u| u.parse().ok()) {
            upstreams = vec![up];
        }
    }
    match network::dns::serve(Path::new(dir), upstreams, IDLE) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-dns: {e}");
            ExitCode::from(1)
        }
    }
}
