//! A bearer-token server for `TestRegistry::start_with_token`: what Docker
//! Hub and most registries do. The registry answers 401 with
//! `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the client
//! asks the realm (here, this server) for a token, with basic credentials or
//! none, and sends it back as `Authorization: Bearer <JWT>`.
//!
//! The JWT is what distribution 2.8 (`registry/auth/token`) verifies: issuer,
//! audience = service, exp/nbf, the `access` claim, and an ES256 signature
//! by the key of the `x5c` certificate, which must be in the registry's
//! `rootcertbundle`. The certificate and its key are made per server.
//!
//! Plain HTTP/1.1 on 127.0.0.1, one request per connection, a thread each.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// The `service` of the registry's challenge, and the tokens' audience.
pub const SERVICE: &str = "berth-test-registry";
/// The tokens' issuer, which the registry is configured to trust.
pub const ISSUER: &str = "berth-testkit-token-server";
/// Lifetime of a token in seconds.
const TOKEN_TTL: u64 = 300;

/// Who gets which actions (`pull`, `push`, ...) on any repository.
#[derive(Clone, Debug, Default)]
pub struct TokenAuth {
    users: Vec<(String, String, Vec<String>)>,
    anonymous: Vec<String>,
    untrusted: bool,
}

impl TokenAuth {
    /// Nobody yet; anonymous requests get a token granting nothing (Docker
    /// Hub's answer for a private repository), so the registry refuses them.
    pub fn new() -> Self {
        Self::default()
    }

    /// A user with `password`, granted `actions` on every repository.
    pub fn user(mut self, name: &str, password: &str, actions: &[&str]) -> Self {
        self.users.push((name.into(), password.into(), actions.iter().map(|a| a.to_string()).collect()));
        self
    }

    /// What requests without credentials are granted.
    pub fn anonymous(mut self, actions: &[&str]) -> Self {
        self.anonymous = actions.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Sign tokens with a key the registry does not trust (a certificate
    /// missing from its rootcertbundle), to show that it checks signatures.
    pub fn untrusted_signer(mut self) -> Self {
        self.untrusted = true;
        self
    }
}

/// One request the token server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The basic-auth user sent, whether or not the password was right.
    pub user: Option<String>,
    /// The `service` query parameter.
    pub service: Option<String>,
    /// The `scope` query parameters, as sent (`repository:foo/bar:pull,push`).
    pub scopes: Vec<String>,
    /// 200, or 401 for unknown users and wrong passwords.
    pub status: u16,
    /// What the token grants, in scope syntax; only non-empty grants.
    pub granted: Vec<String>,
}

pub(crate) struct TokenServer {
    pub port: u16,
    /// The PEM certificate the registry trusts (`rootcertbundle`).
    pub root_cert_bundle: PathBuf,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    auth: TokenAuth,
    key: EcdsaKeyPair,
    /// Base64 (standard, not URL) DER of the certificate, for the `x5c` header.
    cert_b64: String,
    rng: SystemRandom,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    serial: AtomicU64,
}

impl TokenServer {
    /// Listen on a free 127.0.0.1 port; the certificate goes into `dir`.
    pub fn start(auth: TokenAuth, dir: &Path) -> Self {
        let (key_pair, cert) = self_signed();
        let root_cert_bundle = dir.join("token-root.pem");
        fs::write(&root_cert_bundle, cert.pem()).unwrap();
        // The registry trusts `cert`; an untrusted signer presents another.
        let (key_pair, cert) = if auth.untrusted { self_signed() } else { (key_pair, cert) };
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der(), &rng).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State {
            auth,
            key,
            cert_b64: B64.encode(cert.der()),
            rng,
            requests: requests.clone(),
            serial: AtomicU64::new(0),
        });
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = state.handle(conn);
                });
            }
        });
        TokenServer { port, root_cert_bundle, requests, stop, thread: Some(thread) }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl State {
    fn handle(&self, mut conn: TcpStream) -> io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let head = read_head(&mut conn)?;
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let (method, target) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
        let authorization = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.trim().to_string());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if method != "GET" || path != "/token" {
            return respond(&mut conn, "404 Not Found", &[], &json!({"details": "not found"}));
        }
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        let service = params.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone());
        let scopes: Vec<String> = params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
        let creds = authorization.as_deref().and_then(basic_credentials);

        let mut record = TokenRequest {
            user: creds.as_ref().map(|(u, _)| u.clone()),
            service: service.clone(),
            scopes: scopes.clone(),
            status: 401,
            granted: Vec::new(),
        };
        let allowed = match &creds {
            None => Some(&self.auth.anonymous),
            Some((user, password)) => {
                self.auth.users.iter().find(|(u, p, _)| u == user && p == password).map(|(_, _, actions)| actions)
            }
        };
        let Some(allowed) = allowed else {
            self.requests.lock().unwrap().push(record);
            // Docker Hub's answer to a wrong password.
            return respond(
                &mut conn,
                "401 Unauthorized",
                &["WWW-Authenticate: Basic realm=\"berth-testkit\""],
                &json!({"details": "incorrect username or password"}),
            );
        };
        if service.as_deref() != Some(SERVICE) {
            record.status = 400;
            self.requests.lock().unwrap().push(record);
            return respond(&mut conn, "400 Bad Request", &[], &json!({"details": "unknown service"}));
        }
        // Grant only what was asked for and is allowed.
        let mut access = Vec::new();
        for scope in &scopes {
            let Some((kind, rest)) = scope.split_once(':') else { continue };
            let Some((name, actions)) = rest.rsplit_once(':') else { continue };
            if kind != "repository" {
                continue;
            }
            let granted: Vec<&str> = actions.split(',').filter(|a| allowed.iter().any(|x| x == a)).collect();
            if granted.is_empty() {
                continue;
            }
            record.granted.push(format!("{kind}:{name}:{}", granted.join(",")));
            access.push(json!({"type": kind, "name": name, "actions": granted}));
        }
        let subject = creds.map(|(u, _)| u).unwrap_or_default();
        let token = self.sign(&subject, access);
        record.status = 200;
        self.requests.lock().unwrap().push(record);
        respond(&mut conn, "200 OK", &[], &json!({"token": token, "access_token": token, "expires_in": TOKEN_TTL}))
    }

    /// A compact ES256 JWT with the certificate in `x5c`.
    fn sign(&self, subject: &str, access: Vec<Value>) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.cert_b64]});
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + TOKEN_TTL,
            "nbf": now,
            "iat": now,
            "jti": format!("{now}-{}", self.serial.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let input = format!("{}.{}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()));
        let signature = self.key.sign(&self.rng, input.as_bytes()).unwrap();
        format!("{input}.{}", B64URL.encode(signature.as_ref()))
    }
}

/// An ECDSA P-256 key and a self-signed certificate for it.
fn self_signed() -> (rcgen::KeyPair, rcgen::Certificate) {
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "berth-testkit token signer");
    let cert = params.self_signed(&key_pair).unwrap();
    (key_pair, cert)
}

/// The request line and headers (the requests we serve have no body).
fn read_head(conn: &mut TcpStream) -> io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk)?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "incomplete request head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[&str], body: &Value) -> io::Result<()> {
    let body = body.to_string();
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    conn.write_all(out.as_bytes())?;
    conn.flush()
}

/// `Basic base64(user:password)` -> (user, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(B64.decode(value.trim()).ok()?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// application/x-www-form-urlencoded value -> text (`+` is a space).
fn form_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        assert_eq!(form_decode("repository%3Afoo%2Fbar%3Apull%2Cpush"), "repository:foo/bar:pull,push");
        assert_eq!(form_decode("a+b%2"), "a b%2");
        assert_eq!(form_decode("%zz"), "%zz");
    }

    #[test]
    fn parses_basic_credentials() {
        assert_eq!(basic_credentials("Basic YWxpY2U6czNjcmV0"), Some(("alice".into(), "s3cret".into())));
        assert_eq!(basic_credentials("Bearer abc"), None);
    }
}
