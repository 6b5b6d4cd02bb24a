//! Retrying a request that failed for a reason that may pass by itself: a
//! cut or refused connection, a timeout, HTTP 5xx or 429 (`Error::is_transient`).
//! Podman retries such failures 3 times with backoff; so do we, for manifest
//! fetches, blob downloads and blob uploads. A refusal (401/403/404), a
//! digest mismatch or a bad manifest fails at once.
//!
//! Hand-written rather than `backon` or `tokio-retry`: the loop is a dozen
//! lines, the delays come from the caller's options as a plain list, and the
//! log line wants the attempt number, which those crates do not hand to
//! their callbacks (tokio-retry is also unmaintained).

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// Delays before the 2nd, 3rd and 4th attempts: 3 retries, doubling, 1.4 s in all.
pub const DEFAULT_RETRY_DELAYS: [Duration; 3] =
    [Duration::from_millis(200), Duration::from_millis(400), Duration::from_millis(800)];

/// Run `attempt` until it succeeds, fails for good, or has failed
/// transiently `delays.len() + 1` times; `delays[i]` is slept before retry
/// `i + 1`. Each call of `attempt` must start the work from scratch.
pub(crate) async fn retrying<T, F, Fut>(delays: &[Duration], what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = delays.len() + 1;
    let mut n = 0;
    loop {
        let err = match attempt().await {
            Err(e) if e.is_transient() => e,
            other => return other,
        };
        let Some(delay) = delays.get(n) else { return Err(err.gave_up(what, attempts)) };
        n += 1;
        tracing::warn!("{what}: attempt {n}/{attempts} failed, retrying in {delay:?}: {err}");
        tokio::time::sleep(*delay).await;
    }
}
