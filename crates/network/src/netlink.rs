//! The kernel's routing interface (rtnetlink): links, addresses and routes,
//! in the network namespace a [`Netlink`] socket was made in.
//!
//! Messages are netlink-packet-route's types, sent over a blocking
//! netlink-sys socket: what `ip link|addr|route` does, without running `ip`
//! (a process per call) and without rtnetlink's tokio request layer (the
//! monitor, which wires a container up and down, runs no async runtime).
//! Each request asks for an acknowledgement, so every error the kernel
//! reports (a name taken, a missing parent, no such module) comes back as
//! the request's own error.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd as _, BorrowedFd};

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoPortData, InfoPortKind, InfoVeth, IpVlanMode,
    LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Context as _, Error, Result};

/// A link, as a dump lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The bridge (or other controller) it is attached to.
    pub master: Option<u32>,
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// The largest IPv4 TCP segment it carries (Linux 6.3 on; `None`
    /// where the kernel does not say).
    pub gso_ipv4_max: Option<u32>,
}

/// How a macvlan link reaches its siblings on the same parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

/// A netlink socket, in the network namespace it was made in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).context(|| "opening a netlink socket".into())?;
        socket.bind_auto().context(|| "binding a netlink socket".into())?;
        socket.connect(&SocketAddr::new(0, 0)).context(|| "connecting a netlink socket".into())?;
        // Errors name what the kernel refused (extended acks), where it says.
        let _ = socket.set_ext_ack(true);
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace `ns` (an fd of `/proc/PID/ns/net`
    /// or a bind mount of one). A socket stays in the namespace it was made
    /// in: a thread of its own enters `ns`, makes it and ends, so nothing
    /// else of this process ever runs inside the other namespace.
    pub fn open_in(ns: BorrowedFd) -> Result<Netlink> {
        let ns = ns.try_clone_to_owned().context(|| "duplicating a namespace fd".into())?;
        let worker = std::thread::Builder::new()
            .name("netns".into())
            .spawn(move || {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .context(|| "entering a network namespace".into())?;
                Netlink::open()
            })
            .context(|| "starting a thread".into())?;
        worker.join().map_err(|_| Error::Invalid("opening a netlink socket: the thread panicked".into()))?
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "listing links")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    /// The link named `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, &format!("reading link {name}")) {
            Ok(replies) => Ok(replies.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })),
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc_enodev()) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Make bridge `name` (down); its index. An existing link of that name
    /// is an error (EEXIST): callers that share a bridge look it up first.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.create(msg, &format!("creating bridge {name}"))?;
        self.index_of(name)
    }

    /// Make a veth pair: `host` here, attached to `master` if given, and
    /// `peer` made directly in namespace `peer_ns` (so it never appears in
    /// this one, and no move can race a rename), both down.
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_ns: BorrowedFd,
        mtu: Option<u32>,
        master: Option<u32>,
    ) -> Result<()> {
        let mut inner = LinkMessage::default();
        inner.attributes.push(LinkAttribute::IfName(peer.into()));
        inner.attributes.push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.into()));
        if let Some(mtu) = mtu {
            inner.attributes.push(LinkAttribute::Mtu(mtu));
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(master) = master {
            msg.attributes.push(LinkAttribute::Controller(master));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(inner))),
        ]));
        self.create(msg, &format!("creating veth pair {host}/{peer}"))
    }

    /// Make macvlan link `name` on `parent` (an index in this namespace),
    /// directly in namespace `ns`.
    pub fn add_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        mode: MacvlanMode,
        ns: BorrowedFd,
        mtu: Option<u32>,
    ) -> Result<()> {
        let mode = match mode {
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
        };
        let info =
            vec![LinkInfo::Kind(InfoKind::MacVlan), LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)]))];
        self.create(on_parent(name, parent, ns, mtu, info), &format!("creating macvlan link {name}"))
    }

    /// Make ipvlan link `name` (L2 mode when `l3` is false) on `parent`,
    /// directly in namespace `ns`. A kernel built without ipvlan refuses
    /// the kind (EOPNOTSUPP): see [`kernel_has_ipvlan`].
    pub fn add_ipvlan(&mut self, name: &str, parent: u32, l3: bool, ns: BorrowedFd, mtu: Option<u32>) -> Result<()> {
        let mode = if l3 { IpVlanMode::L3 } else { IpVlanMode::L2 };
        let info =
            vec![LinkInfo::Kind(InfoKind::IpVlan), LinkInfo::Data(InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)]))];
        self.create(on_parent(name, parent, ns, mtu, info), &format!("creating ipvlan link {name}"))
    }

    /// Bring link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, &format!("bringing up link {index}")).map(drop)
    }

    /// Let link `index` carry (and coalesce) IPv4 TCP segments of up to
    /// `size` bytes, over the 64 KiB of old ("BIG TCP" for IPv4, Linux
    /// 6.3's attributes, which older kernels ignore). IPv6's own limit
    /// (`gso_max_size`) is left alone: IPv6 BIG TCP on the older kernels
    /// most hosts run is younger and less tried.
    pub fn set_gso_max(&mut self, index: u32, size: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.extend([LinkAttribute::GsoIpv4MaxSize(size), LinkAttribute::GroIpv4MaxSize(size)]);
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, &format!("setting the GSO size of link {index}"))
            .map(drop)
    }

    /// Turn hairpin mode on for bridge port `index`: what comes in by it
    /// may go out by it (a container reaching its own published port
    /// through the host's address).
    pub fn set_hairpin(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(true)])),
        ]));
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.send_with(hdr, RouteNetlinkMessage::NewLink(msg), &format!("setting hairpin mode on link {index}"))
            .map(drop)
    }

    /// Give link `index` the name `name` (it must be down).
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, &format!("renaming link {index} to {name}"))
            .map(drop)
    }

    /// Set link `index`'s MAC address.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, &format!("setting link {index}'s address")).map(drop)
    }

    /// Remove link `index` (a veth takes its peer with it).
    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(msg), NLM_F_ACK, &format!("removing link {index}")).map(drop)
    }

    /// Give link `index` address `addr` (its prefix says the subnet).
    pub fn add_address(&mut self, index: u32, addr: IpNet) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr.addr());
        msg.header.prefix_len = addr.prefix_len();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr.addr()));
        msg.attributes.push(AddressAttribute::Address(addr.addr()));
        match addr {
            IpNet::V4(v4) if v4.prefix_len() < 31 => {
                msg.attributes.push(AddressAttribute::Broadcast(v4.broadcast()));
            }
            // IPAM gave it out alone: no duplicate address detection to wait
            // for before it can be used (netavark's choice too).
            IpNet::V6(_) => msg.header.flags = AddressHeaderFlags::Nodad,
            _ => {}
        }
        self.create_addr(msg, &format!("adding address {addr} to link {index}"))
    }

    /// The addresses of link `index`, with their prefixes.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>> {
        let replies = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()), "listing addresses")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let ip = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(ip) => Some(*ip),
                        _ => None,
                    });
                    let ip = ip.or_else(|| {
                        a.attributes.iter().find_map(|at| match at {
                            AddressAttribute::Address(ip) => Some(*ip),
                            _ => None,
                        })
                    })?;
                    IpNet::new(ip, a.header.prefix_len).ok()
                }
                _ => None,
            })
            .collect())
    }

    /// Route everything not more specific through `gateway`.
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(gateway);
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(match gateway {
            IpAddr::V4(v4) => RouteAddress::Inet(v4),
            IpAddr::V6(v6) => RouteAddress::Inet6(v6),
        }));
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.send_with(hdr, RouteNetlinkMessage::NewRoute(msg), &format!("adding a default route via {gateway}"))
            .map(drop)
    }

    /// The index of link `name`; ENODEV if there is none.
    pub fn index_of(&mut self, name: &str) -> Result<u32> {
        self.link(name)?.map(|l| l.index).ok_or_else(|| Error::Io {
            context: format!("reading link {name}"),
            source: io::Error::from_raw_os_error(libc_enodev()),
        })
    }

    fn create(&mut self, msg: LinkMessage, what: &str) -> Result<()> {
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.send_with(hdr, RouteNetlinkMessage::NewLink(msg), what).map(drop)
    }

    fn create_addr(&mut self, msg: AddressMessage, what: &str) -> Result<()> {
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.send_with(hdr, RouteNetlinkMessage::NewAddress(msg), what).map(drop)
    }

    fn dump(&mut self, msg: RouteNetlinkMessage, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        self.request(msg, NLM_F_DUMP, what)
    }

    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        self.send_with(hdr, msg, what)
    }

    /// Send one request and read its replies: to the ack, the end of a dump,
    /// or the one reply of a plain get.
    fn send_with(
        &mut self,
        mut hdr: NetlinkHeader,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        hdr.sequence_number = self.seq;
        let multipart = hdr.flags & NLM_F_DUMP == NLM_F_DUMP;
        let acked = hdr.flags & NLM_F_ACK != 0;
        let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).context(|| what.to_string())?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full().context(|| what.to_string())?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = <NetlinkMessage<RouteNetlinkMessage>>::deserialize(&data[offset..])
                    .map_err(|e| Error::Io { context: what.to_string(), source: io::Error::other(e.to_string()) })?;
                let len = reply.header.length as usize;
                offset += len.max(1).next_multiple_of(4);
                // Replies to an earlier request (one that failed before
                // its ack was read) are not this one's.
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(Error::Io { context: what.to_string(), source: e.to_io() }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => {
                        replies.push(m);
                        if !multipart && !acked {
                            return Ok(replies);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Whether this kernel makes ipvlan links: tried for real, in a namespace
/// of a thread's own (an ipvlan needs a parent: one end of a veth pair made
/// there), which goes with the thread. Module autoloading, if the kernel
/// has ipvlan as a module, happens on the way.
pub fn kernel_has_ipvlan() -> Result<bool> {
    let probe = std::thread::Builder::new()
        .name("ipvlan-probe".into())
        .spawn(|| -> Result<bool> {
            // SAFETY: only the network namespace is unshared, by a thread that
            // ends after the probe; nothing else this process shares changes.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .context(|| "making a network namespace".into())?;
            let here = rustix::fs::open(
                "/proc/thread-self/ns/net",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .context(|| "opening a network namespace".into())?;
            let mut nl = Netlink::open()?;
            nl.add_veth("probe0", "probe1", std::os::fd::AsFd::as_fd(&here), None, None)?;
            let parent = nl.index_of("probe0")?;
            match nl.add_ipvlan("probe2", parent, false, std::os::fd::AsFd::as_fd(&here), None) {
                Ok(()) => Ok(true),
                Err(Error::Io { source, .. })
                    if source.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        })
        .context(|| "starting a thread".into())?;
    probe.join().map_err(|_| Error::Invalid("probing for ipvlan: the thread panicked".into()))?
}

/// A link `name` of kind `info` on `parent` (macvlan, ipvlan), made
/// directly in namespace `ns`.
fn on_parent(name: &str, parent: u32, ns: BorrowedFd, mtu: Option<u32>, info: Vec<LinkInfo>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::Link(parent));
    msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
    if let Some(mtu) = mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    msg
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn libc_enodev() -> i32 {
    rustix::io::Errno::NODEV.raw_os_error()
}

fn link_of(l: &LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        master: None,
        up: l.header.flags.contains(LinkFlags::Up),
        mtu: None,
        mac: None,
        gso_ipv4_max: None,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::Mtu(m) => link.mtu = Some(*m),
            LinkAttribute::Address(mac) => link.mac = <[u8; 6]>::try_from(mac.as_slice()).ok(),
            LinkAttribute::GsoIpv4MaxSize(n) => link.gso_ipv4_max = Some(*n),
            _ => {}
        }
    }
    link
}
