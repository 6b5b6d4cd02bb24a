//! Link berth's binaries with the functions the commonest commands run next
//! to each other (`symbol-order.txt`, made by `scripts/symbol-order.sh`
//! from a profile of `run --rm`, `run -d`, `ps`, `rm`, `create` and
//! `images`): a start then faults in and maps a fraction of the code pages,
//! and an exit unmaps as few. lld reads the list (Rust's default linker for
//! this target since 1.90; with an older Rust the order is left as it is);
//! names it does not know (code that changed since the profile) are skipped.

use std::process::Command;

/// The first Rust release that links x86_64 Linux binaries with lld.
const LLD_DEFAULT_SINCE: (u32, u32) = (1, 90);

fn main() {
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if !links_with_lld() {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Whether rustc links this target with lld by default: an x86_64 Linux
/// target, a rustc from 1.90 on, and no linker chosen by hand.
fn links_with_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let chosen = flags.contains("linker")
        || std::env::vars().any(|(k, _)| k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER"));
    if target != "x86_64-unknown-linux-gnu" || chosen {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else { return false };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().nth(1).unwrap_or_default().split('.').map(|n| n.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= LLD_DEFAULT_SINCE,
        _ => false,
    }
}
