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
    /// Any other protocol-level failure reported by the registry.
    #[error("{registry}: {why}")]
    Registry { registry: String, why: String },
    #[error("auth file {path}: {why}")]
    AuthFile { path: String, why: String },
    #[error("{0}")]
    Other(String),
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
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let msg = envelope.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
            if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                denied(registry, msg)
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
        OciDistributionError::RequestError(e) if e.status().is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403) => {
            denied(registry, "invalid username/password".into())
        }
        OciDistributionError::RequestError(e) => Error::Transport { registry, why: error_chain(&e) },
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
    use super::{body_reason, token_refusal};

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
