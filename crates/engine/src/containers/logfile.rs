//! A container's log file, in podman's default `k8s-file` format (the one
//! conmon writes): one line per line the container wrote,
//!
//! ```text
//! 2026-12-04T02:55:25.123456789+00:00 stdout F hello
//! ```
//!
//! the time it was read, the stream, `F` for a full line or `P` for a part
//! of one (the text continues on the next entry of the same stream: output
//! that did not end in a newline, or a line longer than one read), and the
//! text without its newline.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::SystemTime;

/// Which of the container's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends what the container writes to its log file.
pub struct LogWriter {
    file: File,
}

impl LogWriter {
    /// Open `path` for appending (created 0600: output may hold secrets).
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::CLOEXEC.bits() as i32)
            .open(path)?;
        Ok(LogWriter { file })
    }

    /// Log `data`, as read from `stream` now: one entry per line, the last
    /// one partial unless `data` ends in a newline. One write per call, so
    /// entries of the two streams never interleave within a line.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let time = timestamp(SystemTime::now());
        let mut out = Vec::with_capacity(data.len() + 48);
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(text) => (text, "F"),
                None => (piece, "P"),
            };
            out.extend_from_slice(format!("{time} {} {tag} ", stream.as_str()).as_bytes());
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        self.file.write_all(&out)
    }
}

/// `t` as conmon stamps log lines: RFC 3339 with nanoseconds and a numeric
/// offset (UTC: the log must read the same whatever the reader's zone).
pub fn timestamp(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_nanos(t).to_string();
    match s.strip_suffix('Z') {
        Some(s) => format!("{s}+00:00"),
        None => s,
    }
}

/// One entry of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The time as written (RFC 3339).
    pub time: String,
    pub stream: Stream,
    /// The text goes on in the stream's next entry (no newline after it).
    pub partial: bool,
    pub text: Vec<u8>,
}

impl Entry {
    /// Parse one line of a log file (without its newline); `None` if it is
    /// not an entry (a line cut short by a crash).
    pub fn parse(line: &[u8]) -> Option<Entry> {
        let mut parts = line.splitn(4, |b| *b == b' ');
        let time = std::str::from_utf8(parts.next()?).ok()?.to_string();
        let stream = match parts.next()? {
            b"stdout" => Stream::Stdout,
            b"stderr" => Stream::Stderr,
            _ => return None,
        };
        let partial = match parts.next()? {
            b"F" => false,
            b"P" => true,
            _ => return None,
        };
        let text = parts.next().unwrap_or_default().to_vec();
        Some(Entry { time, stream, partial, text })
    }

    /// When it was logged.
    pub fn when(&self) -> Option<SystemTime> {
        let utc = self.time.strip_suffix("+00:00").map(|s| format!("{s}Z"));
        humantime::parse_rfc3339(utc.as_deref().unwrap_or(&self.time)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_entries_and_read_back() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ctr.log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(Stream::Stdout, b"one\ntwo\nthr").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"ee\n").unwrap();
        let text = std::fs::read(&path).unwrap();
        let entries: Vec<Entry> =
            text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).filter_map(Entry::parse).collect();
        let shown: Vec<(Stream, bool, &[u8])> = entries.iter().map(|e| (e.stream, e.partial, &e.text[..])).collect();
        assert_eq!(
            shown,
            vec![
                (Stream::Stdout, false, &b"one"[..]),
                (Stream::Stdout, false, b"two"),
                (Stream::Stdout, true, b"thr"),
                (Stream::Stderr, false, b"oops"),
                (Stream::Stdout, false, b"ee"),
            ]
        );
        let when = entries[0].when().unwrap();
        assert!(SystemTime::now().duration_since(when).unwrap().as_secs() < 60);
        assert!(entries[0].time.ends_with("+00:00"), "{}", entries[0].time);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn text_with_spaces_and_junk_lines() {
        let e = Entry::parse(b"2026-01-01T00:00:00.000000001+00:00 stderr F a b  c").unwrap();
        assert_eq!((e.stream, e.partial, &e.text[..]), (Stream::Stderr, false, &b"a b  c"[..]));
        assert_eq!(Entry::parse(b"2026-01-01T00:00:00+00:00 stdout F ").unwrap().text, b"");
        assert!(Entry::parse(b"garbage").is_none());
        assert!(Entry::parse(b"t stdin F x").is_none());
    }

    use std::os::unix::fs::PermissionsExt as _;
}
