//! The registry crate's errors. Each renders as one line; front ends prefix
//! the operation (`Error: pull <ref>: <this>`).

use oci_client::errors::{OciDistributionError, OciErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reference syntax, store and manifest errors from the image crate
    /// (including `DigestMismatch` from the verified blob store).
    #[error(transparent)]
    Image(#[from] image::Error),
    /// The registry wants credentials and we had none for it.
    #[error("{registry}: authentication required")]
    AuthRequired { registry: String },
    /// The registry rejected the credentials we sent (or denied access).
    #[error("{registry}: unauthorized: {why}")]
    Unauthorized { registry: String, why: String },
    /// The blob or manifest received does not hash to the digest asked for.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{0}: manifest unknown")]
    NotFound(String),
    /// Could not talk to the registry at all (connection, TLS, timeouts).
    #[error("{registry}: {why}")]
    Transport { registry: String, why: String },
    /// The registry (or a proxy before it) answered 5xx or 429: it may
    /// answer properly a moment later.
    #[error("{registry}: {why}")]
    Unavailable { registry: String, why: String },
    /// Any other protocol-level failure reported by the registry.
    #[error("{registry}: {why}")]
    Registry { registry: String, why: String },
    #[error("auth file {path}: {why}")]
    AuthFile { path: String, why: String },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Worth trying again: the connection failed or the registry was
    /// momentarily unable to answer. Refusals, missing content, digest
    /// mismatches and bad manifests would fail the same way again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Unavailable { .. })
    }

    /// A transient failure of `what` that outlived its `attempts`: say what
    /// failed (the error alone names at most a URL) and how often.
    pub(crate) fn gave_up(self, what: &str, attempts: usize) -> Error {
        let why = |why: String| match attempts {
            1 => format!("{what}: {why}"),
            n => format!("{what}: {why} (gave up after {n} attempts)"),
        };
        match self {
            Error::Transport { registry, why: w } => Error::Transport { registry, why: why(w) },
            Error::Unavailable { registry, why: w } => Error::Unavailable { registry, why: why(w) },
            other => other,
        }
    }
}

/// 5xx and 429 (too many requests): the server may answer a retry.
fn transient_status(code: u16) -> bool {
    code >= 500 || code == 429
}

/// "HTTP 503 Service Unavailable[: reason from the body]".
fn status_text(code: u16, body: &str) -> String {
    let reason = reqwest::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let mut text = format!("HTTP {code} {reason}").trim_end().to_string();
    if let Some(why) = body_reason(body) {
        text.push_str(": ");
        text.push_str(&why);
    }
    text
}

/// Translate an oci-client error for a request to `registry`.
/// `had_credentials` separates "log in first" from "your login was refused".
pub(crate) fn from_oci(e: OciDistributionError, registry: &str, what: &str, had_credentials: bool) -> Error {
    let registry = registry.to_string();
    let denied = |registry: String, why: String| {
        if had_credentials {
            Error::Unauthorized { registry, why }
        } else {
            Error::AuthRequired { registry }
        }
    };
    match e {
        OciDistributionError::UnauthorizedError { .. } => denied(registry, "invalid username/password".into()),
        // The token server refused (oci-client hands over its response body).
        OciDistributionError::AuthenticationFailure(body) => denied(registry, token_refusal(&body)),
        // The body is the registry's JSON error envelope: keep its words only.
        OciDistributionError::ServerError { code: 401 | 403, message, .. } => {
            denied(registry, body_reason(&message).unwrap_or_else(|| "access denied".into()))
        }
        OciDistributionError::ServerError { code, message, .. } if transient_status(code) => {
            Error::Unavailable { registry, why: status_text(code, &message) }
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let msg = envelope.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
            if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                denied(registry, msg)
            } else if codes.iter().any(|c| matches!(c, OciErrorCode::Toomanyrequests)) {
                Error::Unavailable { registry, why: format!("too many requests: {}", one_line(&msg)) }
            } else if codes.iter().any(|c| {
                matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound)
            }) {
                Error::NotFound(what.to_string())
            } else {
                Error::Registry { registry, why: one_line(&msg) }
            }
        }
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) => {
            Error::DigestMismatch { what: what.to_string(), expected, actual }
        }
        // Some oci-client calls (blob HEAD) surface HTTP statuses as reqwest errors.
        OciDistributionError::RequestError(e) => match e.status().map(|s| s.as_u16()) {
            Some(401 | 403) => denied(registry, "invalid username/password".into()),
            Some(code) if transient_status(code) => Error::Unavailable { registry, why: status_text(code, "") },
            Some(_) => Error::Registry { registry, why: error_chain(&e) },
            None => Error::Transport { registry, why: error_chain(&e) },
        },
        OciDistributionError::IoError(e) => Error::Transport { registry, why: error_chain(&e) },
        other => Error::Registry { registry, why: one_line(&error_chain(&other)) },
    }
}

/// An error and its causes on one line: reqwest's own message ("error
/// sending request") says nothing without the cause (connection refused...).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    one_line(&out)
}

/// Why a token server refused, from its response body.
fn token_refusal(body: &str) -> String {
    match body_reason(body) {
        Some(reason) => format!("authentication failed: {reason}"),
        None => "authentication failed".to_string(),
    }
}

/// The reason in an error response body, on one line: Docker Hub's token
/// server sends `{"details": ...}`, OAuth2 servers `{"error_description" |
/// "error": ...}`, registries `{"errors": [{"message": ...}]}`; anything else
/// is taken as text (cut short: it may be a proxy's HTML page).
fn body_reason(body: &str) -> Option<String> {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = json.as_ref().and_then(|v| {
        let field = ["details", "error_description", "message", "error"]
            .iter()
            .find_map(|k| v.get(k).and_then(|m| m.as_str()).filter(|m| !m.trim().is_empty()));
        let errors = || {
            let msgs: Vec<&str> =
                v.get("errors")?.as_array()?.iter().filter_map(|e| e.get("message")?.as_str()).collect();
            (!msgs.is_empty()).then(|| msgs.join("; "))
        };
        field.map(str::to_string).or_else(errors)
    });
    let mut reason = one_line(&from_json.unwrap_or_else(|| body.to_string()));
    if let Some((cut, _)) = reason.char_indices().nth(200) {
        reason.truncate(cut);
        reason.push_str("...");
    }
    (!reason.is_empty()).then_some(reason)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::{body_reason, from_oci, token_refusal, Error};
    use oci_client::errors::{DigestError, OciDistributionError as Oci, OciEnvelope, OciError, OciErrorCode};

    fn mapped(e: Oci) -> Error {
        from_oci(e, "reg.example", "blob sha256:ab", true)
    }

    fn server(code: u16, message: &str) -> Oci {
        Oci::ServerError { code, url: "http://reg.example/v2/".into(), message: message.into() }
    }

    fn envelope(code: OciErrorCode) -> Oci {
        let errors = vec![OciError { code, message: "slow down".into(), detail: serde_json::Value::Null }];
        Oci::RegistryError { envelope: OciEnvelope { errors }, url: "http://reg.example/v2/".into() }
    }

    #[test]
    fn only_connection_failures_5xx_and_429_are_transient() {
        for code in [500, 502, 503, 504, 429] {
            assert!(mapped(server(code, "")).is_transient(), "{code}");
        }
        let e = mapped(server(503, r#"{"errors":[{"code":"UNAVAILABLE","message":"back soon"}]}"#));
        assert_eq!(e.to_string(), "reg.example: HTTP 503 Service Unavailable: back soon");
        assert!(mapped(envelope(OciErrorCode::Toomanyrequests)).is_transient());
        assert!(mapped(Oci::IoError(std::io::Error::from(std::io::ErrorKind::ConnectionReset))).is_transient());

        for code in [400, 401, 403, 404, 405] {
            assert!(!mapped(server(code, "")).is_transient(), "{code}");
        }
        assert!(!mapped(Oci::UnauthorizedError { url: "u".into() }).is_transient());
        assert!(!mapped(envelope(OciErrorCode::ManifestUnknown)).is_transient());
        assert!(!mapped(envelope(OciErrorCode::BlobUnknown)).is_transient());
        let mismatch = DigestError::VerificationError { expected: "sha256:ab".into(), actual: "sha256:cd".into() };
        assert!(!mapped(Oci::DigestError(mismatch)).is_transient());
        assert!(!mapped(Oci::ManifestParsingError("bad".into())).is_transient());
    }

    #[test]
    fn giving_up_says_what_and_how_often() {
        let e = mapped(server(503, "")).gave_up("blob sha256:ab", 4);
        assert_eq!(
            e.to_string(),
            "reg.example: blob sha256:ab: HTTP 503 Service Unavailable (gave up after 4 attempts)"
        );
        let e = Error::Transport { registry: "r".into(), why: "reset".into() }.gave_up("blob x", 1);
        assert_eq!(e.to_string(), "r: blob x: reset");
        let e = Error::NotFound("x".into()).gave_up("blob x", 4);
        assert_eq!(e.to_string(), "x: manifest unknown");
    }

    #[test]
    fn token_refusals_read_as_one_line() {
        let hub = r#"{"details":"incorrect username or password"}"#;
        assert_eq!(token_refusal(hub), "authentication failed: incorrect username or password");
        let oauth = r#"{"error":"invalid_grant","error_description":"bad password"}"#;
        assert_eq!(token_refusal(oauth), "authentication failed: bad password");
        let dist =
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"access to the requested resource is not authorized"}]}"#;
        assert_eq!(token_refusal(dist), "authentication failed: access to the requested resource is not authorized");
        assert_eq!(token_refusal("Auth failed.\n"), "authentication failed: Auth failed.");
        assert_eq!(token_refusal(""), "authentication failed");
        let long = token_refusal(&"x".repeat(500));
        assert!(long.ends_with("...") && long.len() < 250, "{long}");
        let envelope = r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(body_reason(envelope).as_deref(), Some("requested access to the resource is denied"));
        assert_eq!(body_reason(" \n"), None);
    }
}
