//! Forgetting a container's connections: the kernel's connection tracking
//! keeps an entry per flow (NAT'd ones included) in the host's namespace
//! long after the container is gone (days, for an established TCP flow),
//! and a new container given the same address would inherit them.
//!
//! ctnetlink through netlink-packet-netfilter's message types over a
//! blocking netlink socket: one dump of the table per address family, then
//! a delete of each flow from, to, or DNAT'd to one of the addresses (the
//! kernel has no delete-by-filter). In-process: running conntrack-tools'
//! `conntrack -D` three times per address cost ~15 ms of CPU each time,
//! which back-to-back `run --rm`s paid for.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage, IPTuple, Tuple};
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// Delete every tracked flow from, to, or NAT'd to one of `addresses`, in
/// the calling thread's namespace; how many. A flow that went meanwhile is
/// not an error.
pub fn forget(addresses: &[IpAddr]) -> io::Result<usize> {
    if addresses.is_empty() {
        return Ok(0);
    }
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut seq = 0;
    let mut deleted = 0;
    for (family, v4) in [(NetfilterProtoFamily::IPv4, true), (NetfilterProtoFamily::IPv6, false)] {
        if !addresses.iter().any(|a| a.is_ipv4() == v4) {
            continue;
        }
        seq += 1;
        let flows = request(&socket, seq, NLM_F_DUMP, family, ConntrackMessage::Get(Vec::new())).map_err(|e| {
            // What nfnetlink answers when no conntrack subsystem is
            // registered with it (and the kernel could not load one).
            if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
                io::Error::new(
                    e.kind(),
                    "the kernel's conntrack netlink interface is missing (nf_conntrack_netlink is not loaded)",
                )
            } else {
                e
            }
        })?;
        for flow in flows {
            let ConntrackMessage::New(attrs) = flow else { continue };
            if !involves(&attrs, addresses) {
                continue;
            }
            let Some(orig) = attrs.iter().find(|a| matches!(a, ConntrackAttribute::CtaTupleOrig(_))).cloned() else {
                continue;
            };
            seq += 1;
            match request(&socket, seq, NLM_F_ACK, family, ConntrackMessage::Delete(vec![orig])) {
                Ok(_) => deleted += 1,
                // Gone by itself since the dump.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// Whether a flow's original source or destination, or its reply's
/// source (where a DNAT'd flow really goes), is one of `addresses`.
fn involves(attrs: &[ConntrackAttribute], addresses: &[IpAddr]) -> bool {
    let ips = |tuple: &[Tuple], want_src: bool, want_dst: bool| -> Vec<IpAddr> {
        tuple
            .iter()
            .filter_map(|t| match t {
                Tuple::Ip(ip) => Some(ip),
                _ => None,
            })
            .flatten()
            .filter_map(|ip| match ip {
                IPTuple::SourceAddress(a) if want_src => Some(*a),
                IPTuple::DestinationAddress(a) if want_dst => Some(*a),
                _ => None,
            })
            .collect()
    };
    attrs.iter().any(|a| {
        let found = match a {
            ConntrackAttribute::CtaTupleOrig(t) => ips(t, true, true),
            ConntrackAttribute::CtaTupleReply(t) => ips(t, true, false),
            _ => Vec::new(),
        };
        found.iter().any(|ip| addresses.contains(ip))
    })
}

/// Send one ctnetlink request and read its replies (to the ack or the end
/// of the dump).
fn request(
    socket: &Socket,
    seq: u32,
    flags: u16,
    family: NetfilterProtoFamily,
    msg: ConntrackMessage,
) -> io::Result<Vec<ConntrackMessage>> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | flags;
    hdr.sequence_number = seq;
    let mut packet =
        NetlinkMessage::new(hdr, NetlinkPayload::from(NetfilterMessage::new(NetfilterHeader::new(family, 0, 0), msg)));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut replies = Vec::new();
    loop {
        let (data, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < data.len() {
            let reply = <NetlinkMessage<NetfilterMessage>>::deserialize(&data[offset..])
                .map_err(|e| io::Error::other(e.to_string()))?;
            offset += (reply.header.length as usize).max(1).next_multiple_of(4);
            if reply.header.sequence_number != seq {
                continue;
            }
            match reply.payload {
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(replies),
                        Some(_) => Err(e.to_io()),
                    }
                }
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::InnerMessage(NetfilterMessage {
                    inner: NetfilterMessageInner::Conntrack(m), ..
                }) => replies.push(m),
                _ => {}
            }
        }
    }
}
