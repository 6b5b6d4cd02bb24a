//! Sizes as podman's flags read them (`--shm-size`, later `--memory`...):
//! docker/go-units' `RAMInBytes` of the version podman 4.3 carries, whose
//! grammar is the pattern `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`:
//! a number, one optional space, an optional binary unit (k = 1024), then
//! an optional `i` and an optional `b` that change nothing (`5`, `5b`,
//! `5i`, `5mib` and `5 M` are all fine). Fractions are truncated after the
//! multiplication (`1.5` is 1 byte).

/// The bytes `text` stands for, or go-units' message (`invalid size: '...'`,
/// or strconv's for a number with two dots, which the pattern lets through).
pub fn ram_in_bytes(text: &str) -> Result<u64, String> {
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
    let bytes = value * 1024f64.powi(power);
    // Go turns a float past int64 into a negative size the mount then
    // refuses; refusing it here says why.
    if bytes >= 9_223_372_036_854_775_808.0 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

/// go-units' `HumanSize`: decimal units, `%.4g`, no space (`487.4kB`).
pub fn human_size(n: u64) -> String {
    human_size_with_precision(n, 4)
}

/// go-units' `HumanSizeWithPrecision` (podman's `ps --size` uses 3).
pub fn human_size_with_precision(n: u64, precision: usize) -> String {
    scaled(n, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"], precision)
}

/// go-units' `BytesSize`: binary units, `%.4g` (`476KiB`).
pub fn bytes_size(n: u64) -> String {
    scaled(n, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"], 4)
}

fn scaled(n: u64, base: f64, units: &[&str], precision: usize) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", go_g(v, precision.max(1)), units[i])
}

/// Go's `%.Ng` for a non-negative value: N significant digits, trailing
/// zeros dropped, the exponent form from 1eN on and below 1e-4.
fn go_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.*e}", precision - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let p = i64::try_from(precision).unwrap_or(i64::MAX);
    if exp < -4 || exp >= p {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = usize::try_from(p - 1 - exp).unwrap_or(0);
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units_prints_them() {
        assert_eq!(human_size(487_424), "487.4kB");
        assert_eq!(human_size(25_276_071_936), "25.28GB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4096), "4.096kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size_with_precision(1_982_359, 3), "1.98MB");
        assert_eq!(human_size_with_precision(12, 3), "12B");
        assert_eq!(human_size_with_precision(999_999, 3), "1e+03kB");
        assert_eq!(bytes_size(487_424), "476KiB");
        assert_eq!(bytes_size(25_276_071_936), "23.54GiB");
        assert_eq!(bytes_size(1023), "1023B");
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
}
