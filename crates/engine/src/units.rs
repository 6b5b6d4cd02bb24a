//! Sizes as podman's flags read them: docker/go-units' `RAMInBytes`
//! (binary: `--memory`, `--shm-size`...) and `FromHumanSize` (decimal:
//! `--log-opt max-size`) of the version podman 4.3 carries. Both share the
//! grammar `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`: a number, one
//! optional space, an optional unit, then an optional `i` and an optional
//! `b` that change nothing (`5`, `5b`, `5i`, `5mib` and `5 M` are all
//! fine). Fractions are truncated after the multiplication (`1.5` is 1
//! byte).
//!
//! And times as podman's Go code writes them (`rfc3339_nanos`).

use std::time::SystemTime;

/// Go's `time.RFC3339Nano` in UTC, the fraction's trailing zeros dropped
/// (`2026-12-04T02:55:25.1234Z`): docker's json-file log stamps, podman's
/// event times and inspect's.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_nanos(t).to_string();
    match s.strip_suffix('Z').and_then(|s| s.split_once('.')) {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{frac}Z")
            }
        }
        None => s,
    }
}

/// `RAMInBytes`: `k` is 1024.
pub fn ram_in_bytes(text: &str) -> Result<u64, String> {
    parse_size(text, 1024.0)
}

/// `FromHumanSize`: `k` is 1000 (`1KiB` too: the `i` changes nothing).
pub fn from_human_size(text: &str) -> Result<u64, String> {
    parse_size(text, 1000.0)
}

/// go-units' `parseSize`: the bytes `text` stands for with units of
/// `unit`, or go-units' message (`invalid size: '...'`, or strconv's for a
/// number with two dots, which the pattern lets through).
fn parse_size(text: &str, unit: f64) -> Result<u64, String> {
    let invalid = || format!("invalid size: '{text}'");
    let digits_end = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    // The number: digits, then any number of `.digits`.
    let mut end = digits_end(text);
    if end == 0 {
        return Err(invalid());
    }
    while let Some(frac) = text[end..].strip_prefix('.') {
        let n = digits_end(frac);
        if n == 0 {
            return Err(invalid());
        }
        end += 1 + n;
    }
    let (number, rest) = text.split_at(end);
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut suffix = rest.chars().peekable();
    let power = match suffix.peek().map(char::to_ascii_lowercase).and_then(|u| "kmgtp".find(u)) {
        Some(i) => {
            suffix.next();
            i as i32 + 1
        }
        None => 0,
    };
    suffix.next_if(|c| c.eq_ignore_ascii_case(&'i'));
    suffix.next_if(|c| c.eq_ignore_ascii_case(&'b'));
    if suffix.next().is_some() {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| format!("strconv.ParseFloat: parsing \"{number}\": invalid syntax"))?;
    let bytes = value * unit.powi(power);
    // Go turns a float past int64 into a negative size the mount then
    // refuses; refusing it here says why.
    if bytes >= 9_223_372_036_854_775_808.0 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nanos_drops_the_fractions_trailing_zeros() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |nanos| super::rfc3339_nanos(UNIX_EPOCH + Duration::new(1_700_000_000, nanos));
        assert_eq!(at(0), "2023-11-14T22:13:20Z");
        assert_eq!(at(120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(at(123_456_789), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn sizes_as_podman_reads_them() {
        // What `podman run --shm-size X` gave (the tmpfs's size) for each.
        let ok = [
            ("64m", 64 << 20),
            ("1g", 1 << 30),
            ("1000", 1000),
            ("1k", 1024),
            ("1K", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("1.5m", 1536 << 10),
            ("0", 0),
            ("5 m", 5 << 20),
            ("5M", 5 << 20),
            ("5mib", 5 << 20),
            ("5i", 5),
            ("5ib", 5),
            ("5B", 5),
            ("1.5", 1),
            ("0.5k", 512),
            ("1t", 1 << 40),
            ("2p", 2 << 50),
        ];
        for (text, want) in ok {
            assert_eq!(ram_in_bytes(text), Ok(want), "{text}");
        }
        for bad in ["-1", "abc", "10x", "", " 5m", "5  m", "5m ", "5bi", "1.", ".5", "5kk", "99999999999999999999"] {
            assert_eq!(ram_in_bytes(bad), Err(format!("invalid size: '{bad}'")), "{bad}");
        }
        assert_eq!(ram_in_bytes("1.2.3"), Err("strconv.ParseFloat: parsing \"1.2.3\": invalid syntax".into()));
    }

    #[test]
    fn human_sizes_are_decimal() {
        assert_eq!(from_human_size("1k"), Ok(1000));
        assert_eq!(from_human_size("1.5KiB"), Ok(1500));
        for bad in ["xx", "", "1x", "k", "1..2", "1kk"] {
            assert_eq!(from_human_size(bad), Err(format!("invalid size: '{bad}'")));
        }
    }
}
