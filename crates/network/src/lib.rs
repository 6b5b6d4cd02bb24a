//! Networks for containers: what a container's network namespace is wired
//! to, and the host-side state that goes with it.
//!
//! - `netlink`: the kernel's routing interface (links, addresses, routes),
//!   over a blocking socket (the monitor runs no async runtime)
//! - `ipam`: subnets, gateways and the address a container gets
//! - `firewall`: berth's own nftables table (NAT, forwarding, published ports)
//! - `dns`: the name server that answers containers' names on a network
//! - `conntrack`: forgetting a gone container's tracked connections
//! - `cni`: running CNI plugins on networks defined by CNI configurations
//!
//! Nothing here knows about containers' records or the command line: the
//! engine decides which network a container joins and keeps the
//! allocations in its database; this crate does what the kernel needs.

pub mod cni;
pub mod conntrack;
pub mod dns;
mod error;
pub mod firewall;
pub mod ipam;
pub mod netlink;

pub use error::{Error, Result};
