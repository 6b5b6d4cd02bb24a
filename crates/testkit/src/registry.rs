//! A private Debian `docker-registry` on 127.0.0.1 per test: its own free
//! port and storage directory, killed when the value is dropped, so tests
//! that push and pull run in parallel without sharing anything.
//!
//! Three kinds: open (`start`), basic auth from an htpasswd file
//! (`start_with_auth`), and bearer tokens from a token server of our own
//! (`start_with_token`, see `crate::token`).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::token::{TokenAuth, TokenRequest, TokenServer};

enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Token(TokenAuth),
}

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    token: Option<TokenServer>,
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(Auth::None)
    }

    /// A registry requiring basic auth with one user.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Basic(user, password))
    }

    /// A registry requiring bearer tokens from a token server run for it,
    /// which grants what `auth` says (see `token_requests` for what it saw).
    pub fn start_with_token(auth: TokenAuth) -> Self {
        Self::start_with(Auth::Token(auth))
    }

    fn start_with(auth: Auth) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-test-registry").tempdir_in("/var/tmp").unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        let mut token = None;
        match auth {
            Auth::None => {}
            Auth::Basic(user, password) => {
                let hash = bcrypt::hash(password, 4).unwrap();
                let htpasswd = dir.path().join("htpasswd");
                fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
                config.push_str(&format!("auth:\n  htpasswd:\n    realm: basic\n    path: {}\n", htpasswd.display()));
            }
            Auth::Token(auth) => {
                let server = TokenServer::start(auth, dir.path());
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm(),
                    crate::token::SERVICE,
                    crate::token::ISSUER,
                    server.root_cert_bundle.display()
                ));
                token = Some(server);
            }
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry not installed (apt-get install docker-registry)");
        let mut reg = TestRegistry { child, port, dir, token };
        reg.wait_ready();
        reg
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<repo_tag>`
    pub fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// The requests the token server answered, oldest first (empty unless
    /// started with `start_with_token`).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token.as_ref().map(TokenServer::requests).unwrap_or_default()
    }

    /// The registry's log (warnings and errors only).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry keeps a blob's bytes; `digest` prints as "sha256:<hex>".
    pub fn blob_data(&self, digest: impl std::fmt::Display) -> PathBuf {
        let digest = digest.to_string();
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest).to_string();
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited with {status}: {}", self.log());
            }
            if http_status(self.port, "/v2/").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry did not answer on port {}", self.port);
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (bound and released by us).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Status code of a plain HTTP/1.0 GET, or None if nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    // One write: `write!` on a TcpStream sends each piece separately, and
    // FlakyProxy recognises a request only when its line arrives whole.
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    // The status line may come in several reads.
    let mut head = Vec::new();
    let mut buf = [0u8; 64];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = std::str::from_utf8(&head).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}
