//! The byte streams under a layer: compression detection by magic number and
//! hashing readers that give the blob digest and the diff_id in one pass.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// The compression a layer stream was found to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// A reader that hashes what passes through and remembers whether it reached
/// the end of its input: the tar reader treats a clean EOF at a header boundary
/// as the end of the archive, which is how a truncated tar would look.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Hasher,
    hit_eof: bool,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Hashing { inner, hasher: Hasher::new(), hit_eof: false }
    }

    pub(crate) fn hit_eof(&self) -> bool {
        self.hit_eof
    }

    /// Read the rest of the stream (hashing it) and return digest and length.
    pub(crate) fn drain(mut self, what: &str) -> Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| Error::InvalidLayer(format!("{what}: {e}")))?;
        Ok(self.hasher.finish())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Sniff the compression of `raw` and return a reader of the uncompressed tar.
pub(crate) fn decompress<'a, R: Read + 'a>(mut raw: R) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let mut magic = [0u8; 6];
    let mut have = 0;
    while have < magic.len() {
        match raw.read(&mut magic[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io { context: "reading layer".into(), source: e }),
        }
    }
    let head = &magic[..have];
    let rejoined = Cursor::new(head.to_vec()).chain(raw);
    if head.starts_with(GZIP_MAGIC) {
        // Multi-member: concatenated gzip streams are valid gzip, and Go's
        // reader (docker, containerd) accepts them.
        Ok((Compression::Gzip, Box::new(MultiGzDecoder::new(rejoined))))
    } else if head.starts_with(ZSTD_MAGIC) {
        Err(Error::InvalidLayer("zstd-compressed layers are not supported".into()))
    } else if head.starts_with(XZ_MAGIC) || head.starts_with(BZIP2_MAGIC) {
        Err(Error::InvalidLayer("xz/bzip2-compressed layers are not supported".into()))
    } else {
        Ok((Compression::None, Box::new(rejoined)))
    }
}
