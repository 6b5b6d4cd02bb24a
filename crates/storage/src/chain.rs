//! Chain IDs: the identity of a layer *in the context of the layers below it*.
//!
//! OCI image spec: `chainid(L0) = diffid(L0)`,
//! `chainid(Ln) = sha256(chainid(Ln-1) + " " + diffid(Ln))`. Two images that
//! share a base share its chain IDs, so the unpacked base is stored once.

use std::fmt;
use std::str::FromStr;

use image::digest::Digest;
use serde::{Deserialize, Serialize};

/// A layer's chain ID (`sha256:<hex>`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(Digest);

impl ChainId {
    /// The chain ID of a layer with `diff_id` on top of `parent`.
    pub fn of(parent: Option<&ChainId>, diff_id: &Digest) -> ChainId {
        match parent {
            None => ChainId(diff_id.clone()),
            Some(p) => ChainId(Digest::of_bytes(format!("{} {}", p.0, diff_id).as_bytes())),
        }
    }

    /// The chain IDs of every prefix of `diff_ids` (bottom to top).
    pub fn chain(diff_ids: &[Digest]) -> Vec<ChainId> {
        let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
        for d in diff_ids {
            let next = ChainId::of(out.last(), d);
            out.push(next);
        }
        out
    }

    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The hex part: the layer's directory name.
    pub fn hex(&self) -> &str {
        self.0.hex()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = image::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s).map(ChainId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_chain_ids() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        let chain = ChainId::chain(&[a.clone(), b.clone()]);
        assert_eq!(chain[0].digest(), &a);
        let want = Digest::of_bytes(format!("{a} {b}").as_bytes());
        assert_eq!(chain[1].digest(), &want);
        assert_eq!(chain[1], ChainId::of(Some(&chain[0]), &b));
    }
}
