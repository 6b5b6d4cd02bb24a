//! Forgetting a container's connections: the kernel's connection tracking
//! keeps an entry per flow (NAT'd ones included) in the host's namespace
//! long after the container is gone (days, for an established TCP flow),
//! and a new container given the same address would inherit them.
//!
//! Through the `conntrack` tool of conntrack-tools (as `nft` for rules):
//! its deletion by filter dumps the table and deletes each match, which
//! ctnetlink has no single request for; a few milliseconds per address,
//! spent after the container's exit was told.

use std::net::IpAddr;
use std::process::{Command, Stdio};

/// Delete every tracked flow from, to, or NAT'd to one of `addresses`.
/// Best effort: a host without the tool keeps its entries (logged).
pub fn forget(addresses: &[IpAddr]) {
    for addr in addresses {
        let a = addr.to_string();
        // Its own flows out (original source), flows to it (original
        // destination), and flows DNAT'd to it from a published port
        // (reply source).
        for filter in ["-s", "-d", "-r"] {
            let status = Command::new("conntrack")
                .args(["-D", filter, &a])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(e) = status {
                tracing::debug!("conntrack -D {filter} {a}: {e} (conntrack-tools missing?)");
                return;
            }
        }
    }
}
