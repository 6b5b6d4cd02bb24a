//! `login` / `logout`: check credentials against a registry, then remember
//! or forget them in the auth file.
//!
//! The check is done with reqwest directly: oci-client's `auth()` never
//! sends basic credentials to a registry using basic auth (it stores them
//! for later requests), so it cannot tell a wrong password from a right one,
//! and its token request always carries a repository scope, which a login
//! (no repository yet) does not have.

use image::reference::Name;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;

use crate::auth::{AuthFile, Credentials};
use crate::error::{error_chain, Error, Result};
use crate::transport::{http_client, runtime, scheme_for};

/// Verify `creds` for `registry` (`host[:port]`) and save them in `auth_file`
/// (default location if `None`). Nothing is written if the registry refuses.
pub fn login(registry: &str, creds: &Credentials, tls_verify: bool, auth_file: Option<&AuthFile>) -> Result<()> {
    check_login(registry, creds, tls_verify)?;
    auth_file.cloned().unwrap_or_else(AuthFile::default_location).set(registry, creds)
}

/// Whether `registry` (`host[:port]`) accepts `creds`, saving nothing: a
/// refusal is [`Error::Unauthorized`].
pub fn check_login(registry: &str, creds: &Credentials, tls_verify: bool) -> Result<()> {
    // Validate the host syntax before any network traffic.
    Name::new(registry, "x")?;
    runtime()?.block_on(verify(registry, creds, !tls_verify))
}

/// The credentials saved for `registry`: in `auth_file` (default location if
/// `None`), else in docker's config, as pulls find them.
pub fn saved_credentials(registry: &str, auth_file: Option<&AuthFile>) -> Result<Option<Credentials>> {
    crate::auth::resolve(registry, None, auth_file)
}

/// Forget the credentials for `registry`. Returns whether there were any.
pub fn logout(registry: &str, auth_file: Option<&AuthFile>) -> Result<bool> {
    auth_file.cloned().unwrap_or_else(AuthFile::default_location).remove(registry)
}

async fn verify(registry: &str, creds: &Credentials, insecure: bool) -> Result<()> {
    let transport = |e: reqwest::Error| Error::Transport { registry: registry.to_string(), why: error_chain(&e) };
    let refused = |why: &str| Error::Unauthorized { registry: registry.to_string(), why: why.to_string() };
    // Docker Hub's API lives on another host than its name.
    let host = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
    let client = http_client(insecure)?;
    let url = format!("{}://{host}/v2/", scheme_for(host, insecure).await?);

    let probe = client.get(&url).send().await.map_err(transport)?;
    let challenge = probe.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let response = match challenge.as_deref().and_then(bearer_params) {
        // Token auth: valid credentials get a token from the realm.
        Some((realm, service)) => {
            let mut query = vec![("account", creds.username.as_str())];
            if let Some(s) = service.as_deref() {
                query.push(("service", s));
            }
            client
                .get(&realm)
                .query(&query)
                .basic_auth(&creds.username, Some(&creds.password))
                .send()
                .await
                .map_err(transport)?
        }
        // Basic auth (or none): the same endpoint must accept the credentials.
        None => client.get(&url).basic_auth(&creds.username, Some(&creds.password)).send().await.map_err(transport)?,
    };
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(refused("invalid username/password")),
        s => Err(Error::Registry { registry: registry.to_string(), why: format!("login check answered {s}") }),
    }
}

/// `Bearer realm="...",service="..."` -> (realm, service).
fn bearer_params(header: &str) -> Option<(String, Option<String>)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (key, value) in auth_params(rest) {
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some((realm?, service))
}

/// `k="v",k2=v2` pairs; commas inside quotes (scopes list several actions) do not split.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            },
            None => match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            },
        };
        out.push((key, value));
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let h =
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull,push""#;
        assert_eq!(bearer_params(h), Some(("https://auth.example/token".into(), Some("registry.example".into()))));
        assert_eq!(bearer_params(r#"Basic realm="basic""#), None);
        assert_eq!(bearer_params("Bearer realm=https://x/t"), Some(("https://x/t".into(), None)));
    }

    #[test]
    fn bad_registry_name_fails_before_network() {
        let e = login("not a host", &Credentials::new("u", "p"), true, None).unwrap_err();
        assert!(e.to_string().contains("invalid reference"), "{e}");
    }
}
