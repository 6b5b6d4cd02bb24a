//! A flaky TCP proxy on 127.0.0.1 in front of a registry: it forwards bytes
//! both ways and injects failures into chosen HTTP requests, so retry logic
//! is tested against real connections being cut, not against mocks.
//!
//! Requests are recognised by their request line at the start of a
//! client-to-server chunk (HTTP/1.1 clients write a request's head in one
//! go and send the next request only after the previous response). Every
//! request line seen is recorded; each `Rule` counts the requests it matches
//! and applies its `Fault` to the first `times` of them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};

/// What happens to a request a rule picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Drop the request and close the connection both ways, answering nothing.
    Close,
    /// Answer with this HTTP status (and a short text body) without
    /// forwarding the request, then close.
    Status(u16),
    /// Forward the request, pass on only this many bytes of the response
    /// (head included), then close: a download cut half-way.
    CloseAfter(usize),
    /// Forward the request, pass on this many bytes of the response (head
    /// included), then send nothing more but keep the connection open until
    /// the proxy is dropped: a download stalled half-way, so a test can kill
    /// the client mid-transfer.
    StallAfter(usize),
}

/// Which requests get a fault, and how many of them.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Request methods that match.
    pub methods: Vec<&'static str>,
    /// Strings that must all occur in the request target.
    pub path_contains: Vec<String>,
    /// How many matching requests get the fault (the first ones);
    /// `usize::MAX` for all of them.
    pub times: usize,
    pub fault: Fault,
}

impl Rule {
    /// Blob downloads: `GET /v2/<name>/blobs/<digest>`.
    pub fn blob_get(times: usize, fault: Fault) -> Rule {
        Rule::new(&["GET"], &["/v2/", "/blobs/sha256:"], times, fault)
    }

    /// Blob uploads: the POST that opens a session, the PATCH/PUT that send data.
    pub fn blob_upload(times: usize, fault: Fault) -> Rule {
        Rule::new(&["POST", "PATCH", "PUT"], &["/v2/", "/blobs/uploads/"], times, fault)
    }

    /// Manifest downloads: `GET /v2/<name>/manifests/<tag or digest>`.
    pub fn manifest_get(times: usize, fault: Fault) -> Rule {
        Rule::new(&["GET"], &["/v2/", "/manifests/"], times, fault)
    }

    pub fn new(methods: &[&'static str], path_contains: &[&str], times: usize, fault: Fault) -> Rule {
        Rule {
            methods: methods.to_vec(),
            path_contains: path_contains.iter().map(|s| s.to_string()).collect(),
            times,
            fault,
        }
    }

    /// Narrow the rule to targets that also contain `s` (e.g. one digest).
    pub fn only(mut self, s: impl std::fmt::Display) -> Rule {
        self.path_contains.push(s.to_string());
        self
    }

    /// Narrow the rule to these methods.
    pub fn methods(mut self, methods: &[&'static str]) -> Rule {
        self.methods = methods.to_vec();
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.methods.contains(&method) && self.path_contains.iter().all(|s| target.contains(s.as_str()))
    }
}

struct State {
    upstream: u16,
    rules: Vec<(Rule, AtomicUsize)>,
    requests: Mutex<Vec<String>>,
    faults: AtomicUsize,
    stop: AtomicBool,
    conns: Mutex<Vec<Weak<TcpStream>>>,
}

pub struct FlakyProxy {
    pub port: u16,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

impl FlakyProxy {
    /// Listen on a free 127.0.0.1 port and forward to 127.0.0.1:`upstream`,
    /// applying `rules` (the first rule that matches a request decides).
    pub fn start(upstream: u16, rules: Vec<Rule>) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            upstream,
            rules: rules.into_iter().map(|r| (r, AtomicUsize::new(0))).collect(),
            requests: Mutex::new(Vec::new()),
            faults: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = thread::spawn(move || {
            for client in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", st.upstream)) else { continue };
                let (client, server) = (Arc::new(client), Arc::new(server));
                st.conns.lock().unwrap().extend([Arc::downgrade(&client), Arc::downgrade(&server)]);
                let budget = Arc::new(Budget { bytes: AtomicUsize::new(usize::MAX), stall: AtomicBool::new(false) });
                let (c, s, b, st2) = (client.clone(), server.clone(), budget.clone(), st.clone());
                thread::spawn(move || server_to_client(&st2, &s, &c, &b));
                let st = st.clone();
                thread::spawn(move || client_to_server(&st, &client, &server, &budget));
            }
        });
        FlakyProxy { port, state, accept: Some(accept) }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<proxy port>/<repo_tag>`
    pub fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// Every request seen, as "METHOD target", oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How many requests rule number `rule` matched (faulted or not).
    pub fn matched(&self, rule: usize) -> usize {
        self.state.rules[rule].1.load(Ordering::SeqCst)
    }

    /// How many faults were injected, all rules together.
    pub fn faults(&self) -> usize {
        self.state.faults.load(Ordering::SeqCst)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for conn in self.state.conns.lock().unwrap().iter().filter_map(Weak::upgrade) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// "METHOD target" if `chunk` starts with an HTTP/1.x request line.
fn request_line(chunk: &[u8]) -> Option<(String, String)> {
    let end = chunk.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&chunk[..end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    (is_method && version.starts_with("HTTP/1.") && parts.next().is_none())
        .then(|| (method.to_string(), target.to_string()))
}

/// How much of the current response still goes to the client, and whether
/// the connection then stalls (rather than closes).
struct Budget {
    bytes: AtomicUsize,
    stall: AtomicBool,
}

fn cut(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

fn client_to_server(st: &State, client: &TcpStream, server: &TcpStream, budget: &Budget) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match (&*client).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((method, target)) = request_line(&buf[..n]) {
            st.requests.lock().unwrap().push(format!("{method} {target}"));
            let rule = st.rules.iter().find(|(r, _)| r.matches(&method, &target));
            if let Some((rule, seen)) = rule {
                if seen.fetch_add(1, Ordering::SeqCst) < rule.times {
                    st.faults.fetch_add(1, Ordering::SeqCst);
                    match rule.fault {
                        Fault::Close => return cut(client, server),
                        Fault::Status(code) => {
                            let body = format!("injected {code} from FlakyProxy\n");
                            // One write, so a client sees the whole response at once.
                            let response = format!(
                                "HTTP/1.1 {code} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                reason(code),
                                body.len()
                            );
                            let _ = (&*client).write_all(response.as_bytes());
                            return cut(client, server);
                        }
                        Fault::CloseAfter(bytes) => budget.bytes.store(bytes, Ordering::SeqCst),
                        Fault::StallAfter(bytes) => {
                            budget.stall.store(true, Ordering::SeqCst);
                            budget.bytes.store(bytes, Ordering::SeqCst);
                        }
                    }
                }
            }
        }
        if (&*server).write_all(&buf[..n]).is_err() {
            break;
        }
    }
    cut(client, server);
}

fn server_to_client(st: &State, server: &TcpStream, client: &TcpStream, budget: &Budget) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match (&*server).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let left = budget.bytes.load(Ordering::SeqCst);
        let send = n.min(left);
        if (&*client).write_all(&buf[..send]).is_err() {
            break;
        }
        if left != usize::MAX {
            if send == left {
                if budget.stall.load(Ordering::SeqCst) {
                    while !st.stop.load(Ordering::SeqCst) {
                        thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
                break;
            }
            budget.bytes.store(left - send, Ordering::SeqCst);
        }
    }
    cut(client, server);
}

fn reason(code: u16) -> &'static str {
    match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::http_status;

    /// An upstream that answers every request with 200 and a 100-byte body.
    fn upstream() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n{}", "x".repeat(100));
            }
        });
        port
    }

    fn get(port: u16, path: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // One write: the proxy matches a request line that arrives whole.
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    #[test]
    fn request_lines() {
        assert_eq!(request_line(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"), Some(("GET".into(), "/v2/".into())));
        assert_eq!(request_line(b"\x1f\x8b GET /v2/ HTTP/1.1\r\n"), None);
        assert_eq!(request_line(b"GET /v2/ HTTP/1.1"), None);
        assert_eq!(request_line(b"get /v2/ HTTP/1.1\r\n"), None);
    }

    #[test]
    fn faults_apply_to_the_first_matching_requests_only() {
        let up = upstream();
        let proxy = FlakyProxy::start(
            up,
            vec![
                Rule::blob_get(1, Fault::Status(503)).only("sha256:aa"),
                Rule::blob_get(2, Fault::Close),
                Rule::manifest_get(usize::MAX, Fault::CloseAfter(30)),
            ],
        );
        let blob_a = "/v2/r/blobs/sha256:aa";
        assert_eq!(http_status(proxy.port, blob_a), Some(503));
        assert_eq!(http_status(proxy.port, blob_a), Some(200));
        assert_eq!(get(proxy.port, "/v2/r/blobs/sha256:bb"), b"");
        assert_eq!(get(proxy.port, "/v2/r/blobs/sha256:bb"), b"");
        assert_eq!(get(proxy.port, "/v2/r/blobs/sha256:bb").len(), 140); // head 40 + body 100
        assert_eq!(get(proxy.port, "/v2/r/manifests/1").len(), 30);
        assert_eq!(http_status(proxy.port, "/v2/"), Some(200));
        assert_eq!((proxy.matched(0), proxy.matched(1), proxy.matched(2)), (2, 3, 1));
        assert_eq!(proxy.faults(), 4);
        assert_eq!(proxy.requests().len(), 7);
        assert_eq!(proxy.requests()[0], format!("GET {blob_a}"));
    }
}
