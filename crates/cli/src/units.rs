//! Sizes as podman prints them: docker/go-units' `HumanSize` and
//! `BytesSize` (parsing is `engine::units`).

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
}
