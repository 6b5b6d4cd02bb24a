//! Connecting to one registry endpoint: the async runtime, http vs https,
//! credentials, and translating our references into oci-client's.

use std::sync::Once;
use std::time::Duration;

use image::reference::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use crate::auth::Credentials;
use crate::error::{error_chain, from_oci, Error, Result};

/// How long to wait for a TCP/TLS connection before giving up on an endpoint
/// (a dead mirror must not stall a pull for minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The https probe of an insecure endpoint: a server that accepts TCP but
/// never speaks TLS must not hang the pull.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A current-thread runtime: the work is network-bound and the blocking
/// writes into the store run on tokio's blocking pool, so one scheduler
/// thread keeps up, and the caller's (non-`Send`) progress callback can be
/// called from inside the futures.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("starting async runtime: {e}")))
}

/// reqwest is built without a compiled-in crypto provider (ring instead of
/// aws-lc-rs keeps the static build free of cmake/C++), so install ring as
/// the process default once. Losing the race to another installer is fine.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A plain reqwest client with our TLS policy, for the requests oci-client has no API for.
pub(crate) fn http_client(insecure: bool) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| Error::Other(format!("building HTTP client: {}", error_chain(&e))))
}

/// The scheme to reach `host` with. Secure endpoints are always https. For
/// insecure ones (registries.conf `insecure`, `--tls-verify=false`) https
/// without verification is tried first and plain http if no TLS server
/// answers, as containers/image does.
pub(crate) async fn scheme_for(host: &str, insecure: bool) -> Result<&'static str> {
    if !insecure {
        return Ok("https");
    }
    let probe = http_client(true)?;
    match probe.get(format!("https://{host}/v2/")).timeout(PROBE_TIMEOUT).send().await {
        Ok(_) => Ok("https"),
        Err(_) => Ok("http"),
    }
}

/// An authenticated connection to one registry host.
pub(crate) struct Remote {
    pub client: oci_client::Client,
    pub auth: RegistryAuth,
    pub registry: String,
    pub had_credentials: bool,
}

impl Remote {
    /// Connect to the registry of `reference` and authenticate for `op`
    /// (fetches a bearer token when the registry uses token auth).
    pub async fn connect(
        reference: &Reference,
        insecure: bool,
        creds: Option<Credentials>,
        op: RegistryOperation,
    ) -> Result<Remote> {
        install_crypto_provider();
        let registry = reference.registry().to_string();
        let http = scheme_for(&registry, insecure).await? == "http";
        let config = ClientConfig {
            protocol: if http { ClientProtocol::Http } else { ClientProtocol::Https },
            accept_invalid_certificates: insecure,
            // One PUT per blob with the size known up front: fewer round trips
            // than chunked PATCHes, and every registry supports it.
            use_monolithic_push: true,
            connect_timeout: Some(CONNECT_TIMEOUT),
            // We choose the platform ourselves (image::manifest::select).
            platform_resolver: None,
            ..ClientConfig::default()
        };
        // `Client::new` silently falls back to defaults on a bad config
        // (losing e.g. http); try_from reports it instead.
        let client = oci_client::Client::try_from(config).map_err(|e| from_oci(e, &registry, "client", false))?;
        let had_credentials = creds.is_some();
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        let remote = Remote { client, auth, registry, had_credentials };
        let target = oci_ref(reference);
        remote.client.auth(&target, &remote.auth, op).await.map_err(|e| remote.err(e, "authentication"))?;
        Ok(remote)
    }

    /// Map an oci-client error about `what` on this registry.
    pub fn err(&self, e: oci_client::errors::OciDistributionError, what: &str) -> Error {
        from_oci(e, &self.registry, what, self.had_credentials)
    }
}

/// Our reference as oci-client's (same registry/path/tag/digest, no re-parsing).
pub(crate) fn oci_ref(r: &Reference) -> oci_client::Reference {
    let (reg, repo) = (r.registry().to_string(), r.path().to_string());
    match (r.tag(), r.digest()) {
        (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(reg, repo, t.to_string(), d.to_string()),
        (None, Some(d)) => oci_client::Reference::with_digest(reg, repo, d.to_string()),
        (Some(t), None) => oci_client::Reference::with_tag(reg, repo, t.to_string()),
        // Unreachable by Reference's invariant; `latest` is what it would mean.
        (None, None) => oci_client::Reference::with_tag(reg, repo, "latest".to_string()),
    }
}
