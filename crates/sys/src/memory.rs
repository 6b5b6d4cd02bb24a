//! Giving memory back, for a long-lived process that did much more at its
//! start than it does after: berth's container monitor runs the engine to
//! start its container (the store, the database, the runtime), then only
//! copies output for the container's whole life, and would keep every page
//! that start-up touched (code, the free part of its heap) though it needs
//! few of them. This costs one pass over our own mappings.

use std::io;

/// Drop what this process holds but does not need: free heap memory goes
/// back to the kernel, and pages of read-only file mappings never written
/// to (program code and constants, which fault back in from the file when
/// used) leave our resident set. Returns the bytes of mappings released.
pub fn release_unused() -> io::Result<usize> {
    // SAFETY: malloc_trim has no preconditions; it only returns free memory.
    unsafe { libc::malloc_trim(0) };
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = 0;
    for m in mappings(&smaps) {
        if !m.droppable() {
            continue;
        }
        // SAFETY: `m` is one of our own mappings, read-only, backed by a
        // file, and holds no anonymous (written) page: dropping its pages
        // only makes them fault in again, unchanged, from the file.
        let rc = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if rc == 0 {
            released += m.end - m.start;
        }
    }
    Ok(released)
}

/// One mapping of `/proc/self/smaps`, as much of it as we look at.
#[derive(Debug, PartialEq, Eq)]
struct Mapping<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    path: &'a str,
    /// Its pages that are private copies (written to, or relocated and then
    /// made read-only: RELRO): those would be lost, not re-read.
    anonymous_kb: u64,
}

impl Mapping<'_> {
    fn droppable(&self) -> bool {
        !self.perms.contains('w') && self.path.starts_with('/') && self.anonymous_kb == 0
    }
}

fn mappings(smaps: &str) -> Vec<Mapping<'_>> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if let Some(m) = out.last_mut() {
                m.anonymous_kb = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(u64::MAX);
            }
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else { continue };
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else {
            continue;
        };
        // offset, device, inode, then the path (which may hold spaces).
        let path = f.nth(3).map(|first| &line[line.find(first).unwrap_or(line.len())..]).unwrap_or("");
        // Until its Anonymous line says otherwise, assume it has some.
        out.push(Mapping { start, end, perms, path, anonymous_kb: u64::MAX });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        let smaps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:01 123 /usr/bin/berth x
Anonymous:             0 kB
55d0c0100000-55d0c0200000 r--p 00100000 fe:01 123 /usr/bin/berth x
Anonymous:            12 kB
55d0c0200000-55d0c0300000 rw-p 00200000 fe:01 123 /usr/bin/berth x
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:01 9 /lib/x.so
";
        let m = mappings(smaps);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].path, "/usr/bin/berth x");
        let dropped: Vec<bool> = m.iter().map(Mapping::droppable).collect();
        // The last has no Anonymous line: not known clean, kept.
        assert_eq!(dropped, [true, false, false, false, false, false]);
    }

    #[test]
    fn releasing_keeps_this_process_working() {
        // The test binary's code and constants are clean file mappings.
        let released = release_unused().unwrap();
        assert!(released > 0);
        // They fault back in: code runs, constants read, the heap works.
        let v: Vec<String> = (0..1000).map(|i| format!("{i:04}")).collect();
        assert_eq!(v[999], "0999");
        assert!(std::fs::read_to_string("/proc/self/status").unwrap().contains("VmRSS"));
    }
}
