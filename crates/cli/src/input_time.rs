//! Times as podman's flags read them (`logs --since/--until`): its
//! `util.ParseInputTime`, tried in its order:
//!
//! 1. a timestamp: `2006-01-02T15:04:05.999999999Z07:00` with or without
//!    the fraction or the zone (no zone: UTC), or a date alone
//!    (`2006-01-02`, `2006-01-02Z07:00`);
//! 2. Unix seconds, with a fraction (`1700000000.5`);
//! 3. a Go duration (`10m`, `1h30m`, `1.5s`): before now for `--since`,
//!    after now for `--until` (podman 4.3 adds it to now).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `text` as a time; `since` says which way a duration goes. The error
/// is podman's ("unable to interpret time value").
pub fn parse(text: &str, since: bool) -> Result<SystemTime, String> {
    if let Some(t) = timestamp(text) {
        return Ok(t);
    }
    if let Some(t) = unix_seconds(text) {
        return Ok(t);
    }
    let (negative, d) = go_duration(text).ok_or_else(|| "unable to interpret time value".to_string())?;
    let now = SystemTime::now();
    // since: now - d; until: now + d (a negative duration flips it).
    let back = since != negative;
    Ok(if back { now.checked_sub(d).unwrap_or(UNIX_EPOCH) } else { now.checked_add(d).unwrap_or(now) })
}

/// An RFC 3339 timestamp, or a date, as Go's layouts podman tries read it.
fn timestamp(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&b[..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &b[10..];
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0u32);
    if let Some(time) = rest.strip_prefix(b"T") {
        if time.len() < 8 || time[2] != b':' || time[5] != b':' {
            return None;
        }
        (h, mi, s) = (num(&time[..2])?, num(&time[3..5])?, num(&time[6..8])?);
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        rest = &time[8..];
        if let Some(frac) = rest.strip_prefix(b".") {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return None;
            }
            nanos = u32::try_from(num(&frac[..n])? * 10i64.pow(9 - n as u32)).ok()?;
            rest = &frac[n..];
        }
    }
    let offset = match rest {
        b"" | b"Z" => 0,
        [sign @ (b'+' | b'-'), zh @ ..] if zh.len() == 5 && zh[2] == b':' => {
            let secs = num(&zh[..2])? * 3600 + num(&zh[3..])? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + s - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `strconv.ParseFloat` of Unix seconds, split as podman does.
fn unix_seconds(text: &str) -> Option<SystemTime> {
    let v: f64 = text.parse().ok()?;
    // Go's ParseFloat takes "inf" and "nan" too; they make no time.
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let whole = v.trunc();
    let frac = ((v - whole) * 1e9) as u32;
    Some(UNIX_EPOCH + Duration::new(whole as u64, frac.min(999_999_999)))
}

/// Go's `time.ParseDuration`: an optional sign, then numbers (a fraction
/// allowed) each with a unit (`ns us µs ms s m h`), or `0` alone. Returns
/// whether it was negative, and its length.
fn go_duration(text: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..n];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos_per = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * nanos_per;
    }
    if total > 9.2e18 {
        return None;
    }
    Some((negative, Duration::from_nanos(total as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(t: SystemTime) -> f64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
    }

    #[test]
    fn timestamps_in_podmans_layouts() {
        let at = |s: &str| unix(parse(s, true).unwrap());
        assert_eq!(at("2026-12-04T06:52:37Z"), 1_796_367_157.0);
        assert_eq!(at("2026-12-04T06:52:37"), 1_796_367_157.0);
        assert_eq!(at("2026-12-04T08:52:37+02:00"), 1_796_367_157.0);
        assert_eq!(at("2026-12-04T06:52:37.5Z"), 1_796_367_157.5);
        assert_eq!(at("2026-12-04"), 1_796_342_400.0);
        assert_eq!(at("2026-12-04Z"), 1_796_342_400.0);
        assert_eq!(at("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(at("1796367157"), 1_796_367_157.0);
        assert_eq!(at("1796367157.25"), 1_796_367_157.25);
    }

    #[test]
    fn durations_count_from_now() {
        let now = unix(SystemTime::now());
        let since = unix(parse("10m", true).unwrap());
        assert!((now - 600.0 - since).abs() < 5.0, "{since}");
        let until = unix(parse("1h30m", false).unwrap());
        assert!((now + 5400.0 - until).abs() < 5.0, "{until}");
        let ms = unix(parse("1500ms", true).unwrap());
        assert!((now - 1.5 - ms).abs() < 5.0);
        assert!(parse("0", true).is_ok());
    }

    #[test]
    fn nonsense_is_refused_in_podmans_words() {
        for bad in ["bogus", "", "10", "10x", "2026-13-01", "2026-12-04T25:00:00Z", "m", "1.2.3s"] {
            if bad == "10" {
                // Unix seconds, not an error.
                assert!(parse(bad, true).is_ok());
                continue;
            }
            assert_eq!(parse(bad, true).unwrap_err(), "unable to interpret time value", "{bad}");
        }
    }
}
