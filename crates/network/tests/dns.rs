//! The containers' name server over UDP and TCP, for real, in a network
//! namespace of the test's own (answering on 127.0.0.1, an upstream on
//! 127.0.0.2 that only speaks TCP).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use network::dns;

fn query(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 42;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

fn addresses(reply: &[u8]) -> Vec<String> {
    let m = Message::from_vec(reply).unwrap();
    m.answers.iter().filter_map(|r| if let RData::A(a) = &r.data { Some(a.0.to_string()) } else { None }).collect()
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(msg.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

fn read_framed(conn: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut msg).unwrap();
    msg
}

/// An upstream resolver over TCP only: `upstream.test` is 192.0.2.7.
fn tcp_upstream(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let q = Message::from_vec(&read_framed(&mut conn)).unwrap();
            let mut reply = Message::response(q.metadata.id, q.metadata.op_code);
            reply.metadata.message_type = MessageType::Response;
            let name = q.queries[0].name().clone();
            reply.add_query(q.queries[0].clone());
            reply.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 7))));
            conn.write_all(&framed(&reply.to_vec().unwrap())).unwrap();
        }
    });
}

#[test]
fn names_are_answered_over_udp_and_tcp_and_tcp_questions_go_upstream_over_tcp() {
    in_new_netns(|| {
        run(&["ip", "link", "set", "lo", "up"]);
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let entry = dns::Entry {
            id: "c".repeat(64),
            names: vec!["web".into(), "www".into()],
            addresses: vec!["10.90.0.5".parse().unwrap()],
        };
        dns::add_entry(dir.path(), "lan", &[lo], &entry).unwrap();
        let upstream: SocketAddr = "127.0.0.2:53".parse().unwrap();
        tcp_upstream(upstream);
        let served = dir.path().to_path_buf();
        std::thread::spawn(move || dns::serve(&served, vec![upstream], Duration::from_secs(30)));

        // TCP: two questions on one connection, one of ours, one upstream's.
        let start = Instant::now();
        let mut conn = loop {
            match TcpStream::connect("127.0.0.1:53") {
                Ok(c) => break c,
                Err(e) if start.elapsed() < Duration::from_secs(5) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the server never listened on TCP: {e}"),
            }
        };
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(&framed(&query("www.dns.berth."))).unwrap();
        assert_eq!(addresses(&read_framed(&mut conn)), ["10.90.0.5"]);
        conn.write_all(&framed(&query("upstream.test."))).unwrap();
        assert_eq!(addresses(&read_framed(&mut conn)), ["192.0.2.7"]);

        // UDP still answers.
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        udp.send_to(&query("web."), "127.0.0.1:53").unwrap();
        let mut buf = [0u8; 512];
        let n = udp.recv(&mut buf).unwrap();
        assert_eq!(addresses(&buf[..n]), ["10.90.0.5"]);
    });
}
