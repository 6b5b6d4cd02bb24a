//! The byte streams under a layer: compression detection by magic number and
//! hashing readers that give the blob digest and the diff_id in one pass.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;
use zstd::stream::read::Decoder as ZstdDecoder;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// The compression a layer stream was found to use (the same type the
/// manifest's media type maps to).
pub use crate::manifest::Compression;

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

/// The compression the first bytes of a stream announce; `Err` names a
/// compression we recognise but do not read (xz, bzip2). Anything else is
/// taken as uncompressed, for the tar reader to judge.
pub fn sniff(head: &[u8]) -> std::result::Result<Compression, &'static str> {
    if head.starts_with(GZIP_MAGIC) {
        Ok(Compression::Gzip)
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(Compression::Zstd)
    } else if head.starts_with(XZ_MAGIC) {
        Err("xz")
    } else if head.starts_with(BZIP2_MAGIC) && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        // "BZh" and the block size digit: a tar whose first member's name
        // starts with "BZh" is not taken for bzip2.
        Err("bzip2")
    } else {
        Ok(Compression::None)
    }
}

/// A reader of the uncompressed bytes of `raw`, compressed as `compression` says.
///
/// Gzip and zstd are read across concatenated members / frames, as Go's
/// readers (docker, containerd, containers/image) do. A stream that ends
/// inside a zstd frame fails with `UnexpectedEof`; every zstd error says
/// "zstd" so the one-line message tells what broke. zstd frames may ask for
/// a window of up to 128 MiB (libzstd's default limit, as the zstd CLI):
/// a hostile layer cannot make us allocate more.
pub fn decoder<'a, R: Read + 'a>(compression: Compression, raw: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(Labelled { inner: ZstdDecoder::new(raw)?, label: "zstd" }),
    })
}

/// Prefixes I/O errors with the codec's name (libzstd's own messages, such as
/// "incomplete frame" or "Unknown frame descriptor", do not say zstd).
struct Labelled<R> {
    inner: R,
    label: &'static str,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                format!("truncated {} stream ({e})", self.label)
            } else {
                format!("{}: {e}", self.label)
            };
            io::Error::new(e.kind(), what)
        })
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
    let compression =
        sniff(head).map_err(|name| Error::InvalidLayer(format!("{name}-compressed layers are not supported")))?;
    let rejoined = Cursor::new(head.to_vec()).chain(raw);
    let reader = decoder(compression, rejoined)
        .map_err(|e| Error::Io { context: format!("starting the {compression:?} decoder"), source: e })?;
    Ok((compression, reader))
}
