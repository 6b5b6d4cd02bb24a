//! Content digests (`sha256:<64 lowercase hex>`) and readers/writers that hash what
//! flows through them so content can be verified without a second pass.
//!
//! Only sha256 is supported: it is the only algorithm Docker and the OCI
//! registries use in practice, and accepting others we cannot verify would let
//! unverified content into the store.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const SHA256_PREFIX: &str = "sha256:";

/// A verified-syntax sha256 digest. Always lowercase hex, 64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`; any other algorithm is rejected.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((algo, hex)) = s.split_once(':') else {
            return Err(Error::InvalidDigest(format!("{s}: missing algorithm prefix (want sha256:<hex>)")));
        };
        if algo != "sha256" {
            return Err(Error::InvalidDigest(format!("{s}: unsupported algorithm {algo:?} (only sha256)")));
        }
        Self::from_hex(hex).map_err(|_| Error::InvalidDigest(format!("{s}: want 64 lowercase hex characters")))
    }

    /// Build from the bare hex part (64 lowercase hex characters).
    pub fn from_hex(hex: &str) -> Result<Self> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(Error::InvalidDigest(format!("{hex}: want 64 lowercase hex characters")));
        }
        Ok(Digest { hex: hex.to_string() })
    }

    /// The digest of a byte slice.
    pub fn of_bytes(data: &[u8]) -> Self {
        Digest { hex: hex::encode(Sha256::digest(data)) }
    }

    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The hex part, used as a file name in blob directories.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Short form for display (first 12 hex characters, like docker's image IDs).
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// Compare against an expected digest; `what` names the content in the error.
    pub fn verify(&self, expected: &Digest, what: &str) -> Result<()> {
        if self == expected {
            Ok(())
        } else {
            Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: expected.to_string(),
                actual: self.to_string(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256_PREFIX}{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        #[allow(clippy::expect_used)]
        let sha = oci_spec::image::Sha256Digest::from_str(d.hex())
            // INVARIANT: `Digest` only ever holds 64 lowercase hex characters,
            // exactly the grammar oci-spec's Sha256Digest accepts.
            .expect("valid sha256 hex");
        sha.into()
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self> {
        Digest::parse(d.as_ref())
    }
}

/// Running sha256 over a byte stream.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> (Digest, u64) {
        (Digest { hex: hex::encode(self.inner.finalize()) }, self.len)
    }
}

/// A reader that hashes everything read through it.
pub struct DigestReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> DigestReader<R> {
    pub fn new(inner: R) -> Self {
        DigestReader { inner, hasher: Hasher::new() }
    }

    /// Digest and size of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        self.hasher.finish()
    }

    /// The inner reader back, with digest and size of what was read.
    pub fn into_parts(self) -> (R, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }

    /// Drain the rest of the stream, then check digest (and size, when given).
    /// Draining matters: a caller that stops early must not get a pass on bytes it
    /// never looked at.
    pub fn verify(mut self, expected: &Digest, expected_size: Option<u64>, what: &str) -> Result<u64> {
        io::copy(&mut self, &mut io::sink())
            .map_err(|source| Error::Io { context: format!("reading {what}"), source })?;
        let (actual, size) = self.finish();
        actual.verify(expected, what)?;
        if let Some(want) = expected_size {
            if want != size {
                return Err(Error::DigestMismatch {
                    what: format!("{what} (size)"),
                    expected: format!("{want} bytes"),
                    actual: format!("{size} bytes"),
                });
            }
        }
        Ok(size)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestWriter { inner, hasher: Hasher::new() }
    }

    /// Flush, then return the inner writer with the digest and size written.
    pub fn finish(mut self) -> io::Result<(W, Digest, u64)> {
        self.inner.flush()?;
        let (d, n) = self.hasher.finish();
        Ok((self.inner, d, n))
    }

    /// Finish and check the digest; `what` names the content in the error.
    pub fn verify(self, expected: &Digest, what: &str) -> Result<(W, u64)> {
        let (w, actual, n) =
            self.finish().map_err(|source| Error::Io { context: format!("writing {what}"), source })?;
        actual.verify(expected, what)?;
        Ok((w, n))
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so partial writes stay exact.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_display() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::of_bytes(b""), d);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha512:abcd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidDigest(_)), "{bad}: {e}");
        }
        let e = Digest::parse("sha512:abcd").unwrap_err().to_string();
        assert!(e.contains("only sha256"), "{e}");
    }

    #[test]
    fn serde_roundtrip_and_oci_conversion() {
        let d = Digest::of_bytes(b"hello");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&j).unwrap(), d);
        let o: oci_spec::image::Digest = (&d).into();
        assert_eq!(o.to_string(), d.to_string());
        assert_eq!(Digest::try_from(&o).unwrap(), d);
    }

    #[test]
    fn reader_verifies() {
        let data = b"some content".to_vec();
        let want = Digest::of_bytes(&data);
        let r = DigestReader::new(&data[..]);
        assert_eq!(r.verify(&want, Some(12), "blob").unwrap(), 12);
        let r = DigestReader::new(&b"other"[..]);
        let e = r.verify(&want, None, "blob").unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        let r = DigestReader::new(&data[..]);
        assert!(r.verify(&want, Some(11), "blob").is_err(), "size checked");
    }

    #[test]
    fn writer_verifies() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (buf, n) = w.verify(&Digest::of_bytes(b"abc"), "x").unwrap();
        assert_eq!((buf.as_slice(), n), (&b"abc"[..], 3));
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"abd").unwrap();
        assert!(matches!(w.verify(&Digest::of_bytes(b"abc"), "x"), Err(Error::DigestMismatch { .. })));
    }
}
