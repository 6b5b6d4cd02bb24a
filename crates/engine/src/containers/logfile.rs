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
//! text without its newline;
//!
//! or, with the `json-file` driver, docker's format (podman 4.3 takes the
//! name and writes k8s-file; berth deliberately writes docker's):
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-12-04T02:55:25.123456789Z"}
//! ```
//!
//! where a part of a line is an entry whose text does not end in `\n`.
//! Readers tell the two apart by the first byte (`{`). The file rotates
//! as the container's `LogConfig` says (see `logconfig`).

use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::logconfig::{LogConfig, LogDriver};

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

/// Appends what the container writes to its log file, and rotates it.
pub struct LogWriter {
    file: File,
    path: PathBuf,
    json: bool,
    /// Bytes in the live file.
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

impl LogWriter {
    /// Open `path` for appending (created 0600: output may hold secrets),
    /// to write as `config` says.
    pub fn open(path: &Path, config: &LogConfig) -> io::Result<LogWriter> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
            json: config.driver == LogDriver::JsonFile,
            size,
            max_size: config.max_size,
            max_file: config.max_file.unwrap_or(1).max(1),
        })
    }

    /// Log `data`, as read from `stream` now: one entry per line, the last
    /// one partial unless `data` ends in a newline. One write per call
    /// (unless the file rotates in between), so entries of the two streams
    /// never interleave within a line.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let now = SystemTime::now();
        let time = if self.json { crate::units::rfc3339_nanos(now) } else { timestamp(now) };
        let mut out = Vec::with_capacity(data.len() + 48);
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let start = out.len();
            if self.json {
                json_entry(&mut out, stream, piece, &time);
            } else {
                let (text, tag) = match piece.strip_suffix(b"\n") {
                    Some(text) => (text, "F"),
                    None => (piece, "P"),
                };
                out.extend_from_slice(format!("{time} {} {tag} ", stream.as_str()).as_bytes());
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            // Rotate between entries, never within one: what is written
            // before this entry goes to the old file.
            let entry = (out.len() - start) as u64;
            if self.max_size.is_some_and(|max| self.size + start as u64 + entry > max && self.size + start as u64 > 0) {
                self.file.write_all(&out[..start])?;
                self.rotate()?;
                out.drain(..start);
            }
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    /// The live file becomes `<path>.1` (`.1` becomes `.2`..., keeping
    /// max-file files in all) and a new one starts; with max-file 1 the old
    /// one goes. A rename and a new file, not a truncation: `logs -f`
    /// still holding the old one reads it to its end, then moves on.
    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file <= 1 {
            std::fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.max_file - 1).rev() {
                match std::fs::rename(rotated(&self.path, i), rotated(&self.path, i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(path)
}

/// `<path>.<n>`: the log file `n` rotations ago.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

/// A log's files, oldest first: the rotated ones, then the live one.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    for n in 1.. {
        let p = rotated(path, n);
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out.reverse();
    out
}

/// One line of docker's json-file log (its field order).
#[derive(Serialize, Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// `piece` (a line with its newline, or a part without) as docker's
/// json-file writes it, newline-terminated, onto `out`. Text that is not
/// UTF-8 gets U+FFFD, and `<`, `>`, `&`, U+2028 and U+2029 are escaped,
/// as docker's encoder does.
fn json_entry(out: &mut Vec<u8>, stream: Stream, piece: &[u8], time: &str) {
    let line = JsonLine { log: String::from_utf8_lossy(piece), stream: stream.as_str().into(), time: time.into() };
    let text = serde_json::to_string(&line).unwrap_or_default();
    // The characters can only be inside strings, so replacing them keeps the JSON intact.
    for ch in text.chars() {
        match ch {
            '<' => out.extend_from_slice(b"\\u003c"),
            '>' => out.extend_from_slice(b"\\u003e"),
            '&' => out.extend_from_slice(b"\\u0026"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'\n');
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
        if line.starts_with(b"{") {
            return Entry::parse_json(line);
        }
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

    /// A line of docker's json-file format.
    fn parse_json(line: &[u8]) -> Option<Entry> {
        let l: JsonLine = serde_json::from_slice(line).ok()?;
        let stream = match &*l.stream {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            _ => return None,
        };
        let (text, partial) = match l.log.strip_suffix('\n') {
            Some(t) => (t, false),
            None => (&*l.log, true),
        };
        Some(Entry { time: l.time.into_owned(), stream, partial, text: text.as_bytes().to_vec() })
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
        let mut w = LogWriter::open(&path, &LogConfig::default()).unwrap();
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

    fn read_all(path: &Path) -> Vec<Entry> {
        let mut out = Vec::new();
        for f in files(path) {
            let text = std::fs::read(&f).unwrap();
            out.extend(text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| Entry::parse(l).unwrap()));
        }
        out
    }

    #[test]
    fn json_file_is_dockers_format() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ctr.log");
        let config = LogConfig { driver: LogDriver::JsonFile, ..LogConfig::default() };
        let mut w = LogWriter::open(&path, &config).unwrap();
        w.write(Stream::Stdout, b"a <b> & \"c\"\npart").unwrap();
        w.write(Stream::Stderr, b"\xffx\n").unwrap();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(r#"{"log":"a \u003cb\u003e \u0026 \"c\"\n","stream":"stdout","time":""#),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with(r#"{"log":"part","stream":"stdout","time":"2"#), "{}", lines[1]);
        let v: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(v["log"], "\u{fffd}x\n");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let shown: Vec<(Stream, bool, Vec<u8>)> =
            read_all(&path).into_iter().map(|e| (e.stream, e.partial, e.text)).collect();
        assert_eq!(
            shown,
            vec![
                (Stream::Stdout, false, b"a <b> & \"c\"".to_vec()),
                (Stream::Stdout, true, b"part".to_vec()),
                (Stream::Stderr, false, "\u{fffd}x".as_bytes().to_vec()),
            ]
        );
        assert!(read_all(&path)[0].when().is_some());
    }

    #[test]
    fn rotation_keeps_max_file_files_under_max_size() {
        for driver in [LogDriver::K8sFile, LogDriver::JsonFile] {
            let t = tempfile::tempdir().unwrap();
            let path = t.path().join("ctr.log");
            let config = LogConfig { driver, max_size: Some(300), max_file: Some(3), ..LogConfig::default() };
            let mut w = LogWriter::open(&path, &config).unwrap();
            for i in 0..40 {
                w.write(Stream::Stdout, format!("line {i}\nline {i}b\n").as_bytes()).unwrap();
            }
            let fs = files(&path);
            assert_eq!(fs.len(), 3, "{fs:?}");
            for f in &fs {
                assert!(std::fs::metadata(f).unwrap().len() <= 300, "{f:?}");
            }
            let texts: Vec<String> =
                read_all(&path).iter().map(|e| String::from_utf8(e.text.clone()).unwrap()).collect();
            assert_eq!(texts.last().unwrap(), "line 39b");
            // The newest lines, in order, with none missing in between.
            let first: usize = texts[0].split(' ').nth(1).unwrap().trim_end_matches('b').parse().unwrap();
            let want: Vec<String> = (first..40).flat_map(|i| [format!("line {i}"), format!("line {i}b")]).collect();
            assert!(want.ends_with(&texts) && texts.len() >= want.len() - 1, "{texts:?}");
            assert!(!rotated(&path, 3).exists());
        }
        // max-file 1: the file starts over.
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ctr.log");
        let config = LogConfig { max_size: Some(100), ..LogConfig::default() };
        let mut w = LogWriter::open(&path, &config).unwrap();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(files(&path), vec![path.clone()]);
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert_eq!(read_all(&path).last().unwrap().text, b"line 19");
    }

    use std::os::unix::fs::PermissionsExt as _;
}
