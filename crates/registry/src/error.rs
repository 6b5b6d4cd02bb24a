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
        OciDistributionError::AuthenticationFailure(why) => denied(registry, one_line(&why)),
        OciDistributionError::ServerError { code: 401 | 403, message, .. } => denied(registry, one_line(&message)),
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
