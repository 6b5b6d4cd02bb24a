//! Choosing one image out of an index / manifest list by platform.
//!
//! Names follow Go's GOOS/GOARCH (what images use), normalised like
//! containerd: arm64 `v8` and amd64 `v1` are the default variants and compare
//! equal to no variant; 32-bit arm without a variant means `v7`.

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex, Platform};

use crate::error::{Error, Result};

/// `os/arch[/variant]`, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Build and normalise (aliases like `x86_64`/`aarch64` accepted).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalize_arch(&architecture.to_ascii_lowercase(), variant);
        PlatformSpec { os, architecture, variant }
    }

    /// The platform this process runs on, in GOOS/GOARCH terms.
    pub fn host() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let (arch, variant) = host_arch(std::env::consts::ARCH);
        Self::new(os, arch, variant)
    }

    /// Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`).
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::Other(format!("invalid platform {s:?}: want os/arch[/variant]"));
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    /// The platform an index entry describes.
    pub fn of(p: &Platform) -> Self {
        Self::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
    }

    /// Whether an entry for `other` can run where `self` is wanted. A wanted
    /// variant must match; without one any variant of the architecture does.
    pub fn accepts(&self, other: &PlatformSpec) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Rust's `std::env::consts::ARCH` -> GOARCH (+ default variant).
fn host_arch(rust_arch: &str) -> (&str, Option<&str>) {
    let little = cfg!(target_endian = "little");
    match rust_arch {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "powerpc64" if little => ("ppc64le", None),
        "powerpc64" => ("ppc64", None),
        "powerpc" => ("ppc", None),
        "mips" if little => ("mipsle", None),
        "mips64" if little => ("mips64le", None),
        "loongarch64" => ("loong64", None),
        "s390x" | "riscv64" | "mips" | "mips64" | "sparc64" => (rust_arch, None),
        other => (other, None),
    }
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant.map(str::to_ascii_lowercase).filter(|v| !v.is_empty());
    let (arch, variant) = match (arch, variant.as_deref()) {
        ("x86_64" | "x86-64" | "amd64", Some("v1")) | ("x86_64" | "x86-64", None) => ("amd64", None),
        ("x86_64" | "x86-64", v) => ("amd64", v.map(str::to_string)),
        ("i386" | "i686", _) => ("386", None),
        ("aarch64" | "arm64", Some("v8") | None) => ("arm64", None),
        ("aarch64", v) => ("arm64", v.map(str::to_string)),
        ("armhf", _) => ("arm", Some("v7".to_string())),
        ("armel", _) => ("arm", Some("v6".to_string())),
        ("arm", None) => ("arm", Some("v7".to_string())),
        ("arm", Some(v)) => ("arm", Some(v.trim_start_matches("arm").to_string())),
        (a, v) => (a, v.map(str::to_string)),
    };
    (arch.to_string(), variant)
}

/// Pick the entry of `index` for `want`: an exact variant match first, then
/// any acceptable one. No match -> `NoMatchingPlatform` listing what exists.
pub fn select<'a>(index: &'a ImageIndex, want: &PlatformSpec) -> Result<&'a Descriptor> {
    let candidates: Vec<(&Descriptor, PlatformSpec)> =
        index.manifests().iter().filter_map(|d| d.platform().as_ref().map(|p| (d, PlatformSpec::of(p)))).collect();
    let exact = candidates.iter().find(|(_, p)| p == want);
    let any = || candidates.iter().find(|(_, p)| want.accepts(p));
    if let Some((d, _)) = exact.or_else(any) {
        return Ok(d);
    }
    let available: Vec<String> = candidates.iter().map(|(_, p)| p.to_string()).collect();
    let available = if available.is_empty() { "none".to_string() } else { available.join(", ") };
    Err(Error::NoMatchingPlatform(format!("{want} (available: {available})")))
}
