//! Streaming an async download into the synchronous, verifying `Store::put`.
//!
//! The download runs on the async side and hands chunks over a bounded
//! channel to `put` on the blocking pool, so a layer is never held in memory
//! and the store's own verification (temp file, digest check, rename) is the
//! only way bytes become visible. An aborted download must not look like a
//! short blob, so the reader reports end-of-data only after an explicit `End`.

use std::io::{self, Read};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use image::digest::Digest;
use image::store::Store;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Chunks in flight per blob: bounds memory at a few hundred KiB per download.
const CHANNEL_DEPTH: usize = 16;

enum Chunk {
    Data(Bytes),
    End,
}

/// Blocking reader over the channel.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.current = b,
                Some(Chunk::End) => self.ended = true,
                None => return Err(io::Error::other("download aborted")),
            }
        }
        let mut n = 0;
        loop {
            let k = (buf.len() - n).min(self.current.len());
            buf[n..n + k].copy_from_slice(&self.current.split_to(k));
            n += k;
            // Fill large buffers from the chunks already here, without waiting.
            if n == buf.len() || self.ended {
                return Ok(n);
            }
            match self.rx.try_recv() {
                Ok(Chunk::Data(b)) => self.current = b,
                Ok(Chunk::End) => self.ended = true,
                // Empty, or aborted: the next read waits or reports it.
                Err(_) => return Ok(n),
            }
        }
    }
}

/// Store the bytes of `stream` (downloaded from `registry`) as blob
/// `digest`, reporting bytes done. Nothing is stored unless every byte
/// arrived and hashes to `digest`.
pub(crate) async fn put_stream<S>(
    store: &Store,
    registry: &str,
    digest: &Digest,
    size: u64,
    mut stream: S,
    mut on_bytes: impl FnMut(u64),
) -> Result<()>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let (store2, want) = (store.clone(), digest.clone());
    let writer = tokio::task::spawn_blocking(move || {
        store2.put(ChannelReader { rx, current: Bytes::new(), ended: false }, Some(&want))
    });
    let mut done = 0u64;
    let mut failed = None;
    while let Some(item) = stream.next().await {
        let chunk = match item {
            Ok(c) => c,
            Err(e) => {
                failed = Some(stream_error(e, registry, digest));
                break;
            }
        };
        done += chunk.len() as u64;
        if done > size {
            let why = format!("blob {digest} is larger than the {size} bytes its descriptor says");
            failed = Some(Error::Registry { registry: registry.to_string(), why });
            break;
        }
        // A closed channel means `put` already failed; its error is reported below.
        if tx.send(Chunk::Data(chunk)).await.is_err() {
            break;
        }
        on_bytes(done);
    }
    if failed.is_none() {
        let _ = tx.send(Chunk::End).await;
    }
    // Dropping the sender without `End` makes `put` fail and discard its temp file.
    drop(tx);
    let stored = writer.await.map_err(|e| Error::Other(format!("blob writer: {e}")))?;
    match (failed, stored) {
        (Some(e), _) => Err(e),
        (None, Ok(_)) => Ok(()),
        (None, Err(e)) => Err(e.into()),
    }
}

/// oci-client verifies blob streams too and ends a bad one with a digest
/// error; report that as the mismatch it is, anything else as transport.
fn stream_error(e: io::Error, registry: &str, digest: &Digest) -> Error {
    use oci_client::errors::DigestError;
    if let Some(DigestError::VerificationError { expected, actual }) =
        e.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>())
    {
        return Error::DigestMismatch {
            what: format!("blob {digest}"),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    Error::Transport { registry: registry.to_string(), why: crate::error::error_chain(&e) }
}
