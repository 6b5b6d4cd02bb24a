//! Registry credentials for the front ends: check and save a login, what is
//! saved, log out. The protocol and the auth.json format are the `registry`
//! crate's; nothing here needs the image store.

pub use registry::{AuthFile, Credentials};

use crate::error::{Error, Result};

/// The auth file to use: `path` when given, else podman's default location.
pub fn auth_file(path: Option<&std::path::Path>) -> AuthFile {
    path.map(AuthFile::at).unwrap_or_else(AuthFile::default_location)
}

/// Whether `registry` accepts `creds` (nothing is saved). A refusal reads
/// "invalid username/password", as podman says it.
pub fn check(registry: &str, creds: &Credentials, tls_verify: bool) -> Result<()> {
    registry::check_login(registry, creds, tls_verify).map_err(login_error)
}

/// Check `creds` against `registry`, then save them in `file`; nothing is
/// saved if the registry refuses.
pub fn login(registry: &str, creds: &Credentials, tls_verify: bool, file: &AuthFile) -> Result<()> {
    check(registry, creds, tls_verify)?;
    file.set(registry, creds).map_err(|e| Error::new(e.to_string()))
}

/// The credentials a pull would use for `registry`: from `file`, else from
/// docker's config.
pub fn saved(registry: &str, file: &AuthFile) -> Result<Option<Credentials>> {
    registry::saved_credentials(registry, Some(file)).map_err(|e| Error::new(e.to_string()))
}

/// Forget `registry` in `file`; returns whether it was there.
pub fn logout(registry: &str, file: &AuthFile) -> Result<bool> {
    registry::logout(registry, Some(file)).map_err(|e| Error::new(e.to_string()))
}

/// The registries `file` holds credentials for.
pub fn logged_in(file: &AuthFile) -> Result<Vec<String>> {
    file.registries().map_err(|e| Error::new(e.to_string()))
}

fn login_error(e: registry::Error) -> Error {
    match e {
        registry::Error::Unauthorized { .. } => Error::new("invalid username/password"),
        e => Error::new(e.to_string()),
    }
}
