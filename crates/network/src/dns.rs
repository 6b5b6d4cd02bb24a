//! Name resolution for containers on a network (podman's aardvark-dns, in
//! berth): a small DNS server that answers the names of a network's
//! containers (name, short ID, aliases) to the containers of that network,
//! and forwards every other question to the host's resolvers.
//!
//! One server per host (per directory: the engine keeps it in its
//! host-wide network run directory, every store's) serves every network, on
//! each network's gateway addresses (port 53). It keeps no state of its own: a directory holds,
//! per network, `<network>.listen` (the addresses to answer on) and
//! `<network>.hosts` (a line per container: `ID NAME,ALIAS... IP,IP...`),
//! written by the monitors as containers start and end (`add_entry`,
//! `remove_entry`, under the directory's lock, each file replaced whole),
//! and read again by the server when it changed. The server holds
//! `server.lock` while it runs, so at most one runs, and ends once no
//! network has a container left.
//!
//! Messages are parsed and built with hickory-proto; the server itself is
//! a blocking loop over UDP sockets and TCP listeners (a thread per
//! forwarded question and per TCP connection), as small as what it does:
//! no async runtime, no cache. A question over TCP is forwarded over TCP.

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The search domain containers get, under which their names resolve too
/// (podman's is `dns.podman`).
pub const DOMAIN: &str = "dns.berth";

/// How long answers about containers may be cached (aardvark's: none to
/// speak of; containers come and go).
const TTL: u32 = 60;

/// One container, as a network's DNS knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its full ID: what `remove_entry` finds it by.
    pub id: String,
    /// Its name, short ID and aliases.
    pub names: Vec<String>,
    pub addresses: Vec<IpAddr>,
}

impl Entry {
    fn line(&self) -> String {
        let addrs: Vec<String> = self.addresses.iter().map(IpAddr::to_string).collect();
        format!("{} {} {}\n", self.id, self.names.join(","), addrs.join(","))
    }

    fn parse(line: &str) -> Option<Entry> {
        let mut words = line.split_whitespace();
        let id = words.next()?.to_string();
        let names = words.next()?.split(',').filter(|n| !n.is_empty()).map(str::to_lowercase).collect();
        let addresses = words.next()?.split(',').filter_map(|a| a.parse().ok()).collect();
        Some(Entry { id, names, addresses })
    }
}

fn hosts_path(dir: &Path, network: &str) -> PathBuf {
    dir.join(format!("{network}.hosts"))
}

fn listen_path(dir: &Path, network: &str) -> PathBuf {
    dir.join(format!("{network}.listen"))
}

/// Add (or replace) container `entry` on `network`, answered on `listen`.
pub fn add_entry(dir: &Path, network: &str, listen: &[IpAddr], entry: &Entry) -> io::Result<()> {
    sys::fs::create_private_dir(dir, 0o700)?;
    let _lock = sys::fs::FileLock::exclusive(&dir.join("entries.lock"))?;
    let mut entries: Vec<Entry> = read_entries(&hosts_path(dir, network))?;
    entries.retain(|e| e.id != entry.id);
    entries.push(entry.clone());
    write_entries(dir, network, &entries)?;
    let text: String = listen.iter().map(|a| format!("{a}\n")).collect();
    sys::fs::write_atomic(&listen_path(dir, network), text.as_bytes(), 0o600, sys::fs::Durability::ReplaceOnly)
}

/// Forget container `id` on `network`.
pub fn remove_entry(dir: &Path, network: &str, id: &str) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let _lock = sys::fs::FileLock::exclusive(&dir.join("entries.lock"))?;
    let mut entries = read_entries(&hosts_path(dir, network))?;
    let before = entries.len();
    entries.retain(|e| e.id != id);
    if entries.len() != before {
        write_entries(dir, network, &entries)?;
    }
    Ok(())
}

/// Forget every entry but those of `live` containers (full IDs), and the
/// files of networks not in `networks`: what a crash left. The IDs it
/// dropped.
pub fn keep_only(dir: &Path, networks: &[&str], live: &[&str]) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let _lock = sys::fs::FileLock::exclusive(&dir.join("entries.lock"))?;
    let mut dropped = Vec::new();
    for e in entries {
        let file = e?.file_name();
        let Some(network) = file.to_str().and_then(|f| f.strip_suffix(".hosts")) else { continue };
        let known = networks.contains(&network);
        let (kept, gone): (Vec<Entry>, Vec<Entry>) =
            read_entries(&hosts_path(dir, network))?.into_iter().partition(|e| known && live.contains(&e.id.as_str()));
        dropped.extend(gone.iter().map(|e| e.id.clone()));
        if !known {
            std::fs::remove_file(hosts_path(dir, network))?;
            match std::fs::remove_file(listen_path(dir, network)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        } else if !gone.is_empty() {
            write_entries(dir, network, &kept)?;
        }
    }
    Ok(dropped)
}

fn write_entries(dir: &Path, network: &str, entries: &[Entry]) -> io::Result<()> {
    let text: String = entries.iter().map(Entry::line).collect();
    sys::fs::write_atomic(&hosts_path(dir, network), text.as_bytes(), 0o600, sys::fs::Durability::ReplaceOnly)
}

fn read_entries(path: &Path) -> io::Result<Vec<Entry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(Entry::parse).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What the server answers a question `query` (a whole DNS message) from
/// a container of a network whose containers are `entries`: their
/// addresses for their names (bare or under [`DOMAIN`]), `None` for
/// anything else (to be forwarded). A malformed message gets FORMERR.
pub fn answer(query: &[u8], entries: &[Entry]) -> Option<Vec<u8>> {
    let msg = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) => {
            // The ID, if there is one, so the client can match the error.
            let id = query.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr).to_vec().ok();
        }
    };
    let q = msg.queries.first()?;
    let asked = q.name().to_ascii().trim_end_matches('.').to_lowercase();
    let bare = asked.strip_suffix(&format!(".{DOMAIN}")).unwrap_or(&asked);
    let entry = entries.iter().find(|e| e.names.iter().any(|n| n == bare))?;
    let mut reply = Message::response(msg.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = msg.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(q.clone());
    let name: Name = q.name().clone();
    for addr in &entry.addresses {
        let rdata = match (q.query_type(), addr) {
            (RecordType::A, IpAddr::V4(v4)) => RData::A(A(*v4)),
            (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        reply.add_answer(Record::from_rdata(name.clone(), TTL, rdata));
    }
    // A name of ours without an address of the type asked: NOERROR with no
    // answer (NODATA), never a forward that would say it does not exist.
    reply.to_vec().ok()
}

/// Ask `upstreams` in turn (UDP, 2 s each) and return the first answer.
fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().ok()?;
        let Ok(sock) = UdpSocket::bind(bind) else { continue };
        let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
        if sock.connect(up).and_then(|()| sock.send(query)).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = sock.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// SERVFAIL for `query` (no upstream answered).
fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let id = query.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    let mut m = Message::error_msg(id, OpCode::Query, ResponseCode::ServFail);
    m.metadata.message_type = MessageType::Response;
    m.to_vec().ok()
}

/// The host's resolvers, from its /etc/resolv.conf (port 53). The server
/// runs in the host's network namespace: loopback resolvers work too.
pub fn host_upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Ask `upstreams` in turn over TCP (a question that came over TCP, whose
/// answer may not fit a datagram) and return the first answer.
fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    upstreams.iter().find_map(|up| {
        let mut conn = TcpStream::connect_timeout(up, Duration::from_secs(2)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write_framed(&mut conn, query).ok()?;
        read_framed(&mut conn).ok()
    })
}

/// A DNS message over TCP: two bytes of length, then the message (RFC 1035
/// 4.2.2).
fn read_framed(conn: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut msg)?;
    Ok(msg)
}

fn write_framed(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    conn.write_all(&framed)
}

/// One TCP client: its questions answered in turn until it closes or is
/// idle for 10 s (RFC 7766's advice for servers).
fn serve_tcp(mut conn: TcpStream, hosts: PathBuf, upstreams: Vec<SocketAddr>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    while let Ok(query) = read_framed(&mut conn) {
        let entries = read_entries(&hosts).unwrap_or_default();
        let reply = answer(&query, &entries).or_else(|| forward_tcp(&query, &upstreams)).or_else(|| servfail(&query));
        if reply.is_none_or(|r| write_framed(&mut conn, &r).is_err()) {
            return;
        }
    }
}

/// One network the server answers on, at one address: UDP and TCP (which
/// a client falls back to for a truncated answer, and some always use).
struct Served {
    network: String,
    socket: UdpSocket,
    listener: Option<TcpListener>,
}

/// The server: answer on every network's addresses in `dir` until no
/// network has a container for `idle` (then return). Returns at once if
/// another server holds the directory.
pub fn serve(dir: &Path, upstreams: Vec<SocketAddr>, idle: Duration) -> io::Result<()> {
    let Some(_held) = sys::fs::FileLock::try_acquire(&dir.join("server.lock"), sys::fs::LockMode::Exclusive)? else {
        return Ok(());
    };
    let mut served: Vec<Served> = Vec::new();
    let mut entries: HashMap<String, (SystemTime, Vec<Entry>)> = HashMap::new();
    let mut last_busy = Instant::now();
    let mut last_scan = Instant::now() - Duration::from_secs(60);
    let mut buf = vec![0u8; 4096];
    loop {
        if last_scan.elapsed() >= Duration::from_millis(500) {
            last_scan = Instant::now();
            rescan(dir, &mut served)?;
            let busy = served.iter().any(|s| std::fs::metadata(hosts_path(dir, &s.network)).is_ok_and(|m| m.len() > 0));
            if busy {
                last_busy = Instant::now();
            } else if last_busy.elapsed() >= idle {
                return Ok(());
            }
        }
        // Each served address's UDP socket, then its TCP listener.
        let mut fds: Vec<rustix::event::PollFd> = Vec::new();
        for s in &served {
            fds.push(rustix::event::PollFd::new(&s.socket, rustix::event::PollFlags::IN));
            if let Some(l) = &s.listener {
                fds.push(rustix::event::PollFd::new(l, rustix::event::PollFlags::IN));
            }
        }
        let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 200_000_000 };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let mut ready = ready.into_iter();
        for s in &served {
            let udp = ready.next().unwrap_or(false);
            let tcp = s.listener.is_some() && ready.next().unwrap_or(false);
            if let Some(l) = s.listener.as_ref().filter(|_| tcp) {
                // A thread per connection: a client that says nothing
                // holds up no one else.
                if let Ok((conn, _)) = l.accept() {
                    let (hosts, ups) = (hosts_path(dir, &s.network), upstreams.clone());
                    let _ = conn.set_nonblocking(false);
                    std::thread::spawn(move || serve_tcp(conn, hosts, ups));
                }
            }
            if !udp {
                continue;
            }
            let Ok((n, from)) = s.socket.recv_from(&mut buf) else { continue };
            let query = buf[..n].to_vec();
            let known = current_entries(dir, &s.network, &mut entries);
            match answer(&query, known) {
                Some(reply) => {
                    let _ = s.socket.send_to(&reply, from);
                }
                None => {
                    // Forwarded on a thread of its own: a slow upstream
                    // holds up no other question.
                    let Ok(socket) = s.socket.try_clone() else { continue };
                    let ups = upstreams.clone();
                    std::thread::spawn(move || {
                        if let Some(reply) = forward(&query, &ups).or_else(|| servfail(&query)) {
                            let _ = socket.send_to(&reply, from);
                        }
                    });
                }
            }
        }
    }
}

/// `network`'s entries, read again if its file changed.
fn current_entries<'a>(
    dir: &Path,
    network: &str,
    cache: &'a mut HashMap<String, (SystemTime, Vec<Entry>)>,
) -> &'a [Entry] {
    let path = hosts_path(dir, network);
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    let stale = cache.get(network).is_none_or(|(t, _)| *t != modified);
    if stale {
        let list = read_entries(&path).unwrap_or_default();
        cache.insert(network.to_string(), (modified, list));
    }
    cache.get(network).map_or(&[], |(_, l)| l.as_slice())
}

/// Bind the addresses the directory lists that are not bound yet; drop
/// those of networks that went.
fn rescan(dir: &Path, served: &mut Vec<Served>) -> io::Result<()> {
    let mut wanted: Vec<(String, IpAddr)> = Vec::new();
    // A runroot removed whole (its networks with it): nothing to serve.
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            served.clear();
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(network) = name.strip_suffix(".listen") else { continue };
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        wanted.extend(text.lines().filter_map(|l| l.parse().ok()).map(|a| (network.to_string(), a)));
    }
    served
        .retain(|s| s.socket.local_addr().is_ok_and(|a| wanted.iter().any(|(n, ip)| *n == s.network && *ip == a.ip())));
    for (network, ip) in wanted {
        let bound = served.iter().any(|s| s.socket.local_addr().is_ok_and(|a| a.ip() == ip));
        if bound {
            continue;
        }
        // The bridge's address may not be there yet (or any more).
        match UdpSocket::bind(SocketAddr::new(ip, 53)) {
            Ok(socket) => {
                // TCP as well where it can be had (UDP is what matters).
                let listener = TcpListener::bind(SocketAddr::new(ip, 53))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .inspect_err(|e| tracing::debug!("answering on {ip} over TCP: {e}"))
                    .ok();
                served.push(Served { network, socket, listener });
            }
            Err(e) => tracing::debug!("answering on {ip}: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 7;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        m.to_vec().unwrap()
    }

    fn entries() -> Vec<Entry> {
        vec![Entry {
            id: "abc".into(),
            names: vec!["web".into(), "www".into()],
            addresses: vec!["10.89.0.2".parse().unwrap(), "fd00::2".parse().unwrap()],
        }]
    }

    fn addresses(reply: &[u8]) -> Vec<String> {
        let m = Message::from_vec(reply).unwrap();
        m.answers
            .iter()
            .map(|r| match &r.data {
                RData::A(a) => a.0.to_string(),
                RData::AAAA(a) => a.0.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn names_aliases_and_the_search_domain_answer() {
        let e = entries();
        assert_eq!(addresses(&answer(&query("web.", RecordType::A), &e).unwrap()), vec!["10.89.0.2"]);
        assert_eq!(addresses(&answer(&query("WWW.dns.berth.", RecordType::A), &e).unwrap()), vec!["10.89.0.2"]);
        assert_eq!(addresses(&answer(&query("web.", RecordType::AAAA), &e).unwrap()), vec!["fd00::2"]);
        // Ours, another type: no answer, not a forward.
        let mx = answer(&query("web.", RecordType::MX), &e).unwrap();
        assert!(addresses(&mx).is_empty());
        assert_eq!(Message::from_vec(&mx).unwrap().metadata.id, 7);
        // Not ours: forwarded.
        assert!(answer(&query("example.org.", RecordType::A), &e).is_none());
        // Garbage: FORMERR.
        let bad = answer(&[0, 9, 1], &e).unwrap();
        assert_eq!(Message::from_vec(&bad).unwrap().metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn keep_only_drops_gone_containers_and_networks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let gw: Vec<IpAddr> = vec!["10.90.0.1".parse().unwrap()];
        let e = |id: &str| Entry { id: id.into(), names: vec![id.into()], addresses: gw.clone() };
        add_entry(d, "lan", &gw, &e("live")).unwrap();
        add_entry(d, "lan", &gw, &e("dead")).unwrap();
        add_entry(d, "gone", &gw, &e("live")).unwrap();
        let mut dropped = keep_only(d, &["lan"], &["live"]).unwrap();
        dropped.sort();
        assert_eq!(dropped, ["dead", "live"]);
        assert_eq!(read_entries(&hosts_path(d, "lan")).unwrap(), vec![e("live")]);
        assert!(!hosts_path(d, "gone").exists() && !listen_path(d, "gone").exists());
        assert!(keep_only(d, &["lan"], &["live"]).unwrap().is_empty());
        assert!(keep_only(&d.join("none"), &[], &[]).unwrap().is_empty());
    }

    #[test]
    fn entries_are_added_replaced_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("dns");
        let gw: Vec<IpAddr> = vec!["10.89.0.1".parse().unwrap()];
        let mut e = entries().remove(0);
        add_entry(&dir, "lan", &gw, &e).unwrap();
        e.addresses = vec!["10.89.0.3".parse().unwrap()];
        add_entry(&dir, "lan", &gw, &e).unwrap();
        let read = read_entries(&hosts_path(&dir, "lan")).unwrap();
        assert_eq!(read, vec![e.clone()]);
        assert_eq!(std::fs::read_to_string(listen_path(&dir, "lan")).unwrap(), "10.89.0.1\n");
        remove_entry(&dir, "lan", "abc").unwrap();
        assert!(read_entries(&hosts_path(&dir, "lan")).unwrap().is_empty());
        remove_entry(&dir, "other", "abc").unwrap();
    }

    #[test]
    fn the_hosts_resolvers() {
        let conf = "# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch a\nnameserver 127.0.0.53\n";
        let ups: Vec<String> = host_upstreams(conf).iter().map(|a| a.to_string()).collect();
        assert_eq!(ups, vec!["192.0.2.53:53", "[fe80::1]:53", "127.0.0.53:53"]);
    }
}
