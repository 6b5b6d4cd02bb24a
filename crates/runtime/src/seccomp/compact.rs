//! A shorter program with libseccomp's verdicts.
//!
//! libseccomp compares the syscall number with each listed syscall in turn
//! (a tree of `jeq`s): Docker's default profile, over the three x86 ABIs,
//! is ~1300 instructions. The kernel converts and JIT-compiles every one of
//! them at each container start (~0.35 ms here, more than any other part of
//! loading a container's config), and each syscall of the container walks
//! ~16 of them. But the ~300 syscalls a profile allows per ABI are mostly
//! neighbours: 64 runs of equal verdicts on x86_64. This module rewrites
//! libseccomp's program as a binary search over those runs, half its length
//! for that profile, with libseccomp's own instructions kept for the
//! syscalls whose verdict depends on their arguments.
//!
//! Hand-written because no crate does this (libseccomp 2.6's "binary tree"
//! optimisation still tests syscalls one by one), and kept safe by
//! construction rather than by care:
//! - the verdict of every (architecture, syscall number) pair is read off
//!   libseccomp's program itself, by following it over whole intervals of
//!   both values at once ([`partition`]): it only ever compares them with
//!   constants, so each interval it distinguishes has one outcome;
//! - what comes after (argument checks) is libseccomp's code, copied
//!   instruction for instruction;
//! - before the new program is used, both are run ([`run`]) on every
//!   interval's ends with several argument sets, and any difference, or any
//!   instruction this module does not know, keeps libseccomp's program.

use std::collections::{BTreeMap, BTreeSet};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

// The opcodes the walk follows (classic BPF, linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;

/// The kernel's limit on a program's length (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
/// Steps the partition may take before giving up on a program (libseccomp's
/// largest take a few thousand).
const WALK_BUDGET: usize = 1_000_000;

/// Where libseccomp's program leads for a region of (arch, nr) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leaf {
    /// A verdict.
    Ret(u32),
    /// Its instructions from this index on (they test the arguments).
    Enter(usize),
}

/// An inclusive interval of u32 values.
type Span = (u32, u32);
/// Where a region of (arch, nr) pairs leads.
type Region = (Span, Span, Leaf);
/// The leaves of an arch's syscall numbers, by span.
type NrSpans = Vec<(Span, Leaf)>;
/// The parts of a span where a comparison holds, or does not.
type Parts = [Option<Span>; 2];

/// `insns` (raw `sock_filter`s) as a shorter program with the same verdict
/// for every syscall, or `None` where this module cannot tell (then use
/// `insns` as they are).
pub fn compact(insns: &[u8]) -> Option<Vec<u8>> {
    let prog = decode(insns)?;
    let regions = partition(&prog)?;
    let arches = by_arch(&regions)?;
    let out = emit(&prog, &arches)?;
    (out.len() < prog.len() && out.len() <= MAX_INSNS && same_verdicts(&prog, &out, &arches)).then(|| encode(&out))
}

/// The size of a `sock_filter`, as [`decode`] and [`encode`] lay it out.
const INSN_SIZE: usize = sys::seccomp::INSTRUCTION_SIZE;

fn decode(bytes: &[u8]) -> Option<Vec<Insn>> {
    if bytes.is_empty() || bytes.len() % INSN_SIZE != 0 {
        return None;
    }
    let word = |b: &[u8]| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    Some(
        bytes
            .chunks_exact(INSN_SIZE)
            .map(|b| Insn { code: u16::from_ne_bytes([b[0], b[1]]), jt: b[2], jf: b[3], k: word(&b[4..]) })
            .collect(),
    )
}

fn encode(prog: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * INSN_SIZE);
    for i in prog {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// What the accumulator holds while the walk follows the program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acc {
    Unknown,
    Nr,
    Arch,
}

/// The (arch span, nr span, leaf) regions `prog` sends every pair of
/// values to: it is followed from its start with both values unknown
/// within their spans, and each comparison of one with a constant splits
/// its span in the parts where the comparison holds and where it does not.
/// A leaf is the first instruction that is neither such a comparison, a
/// load of one of the two, nor a jump.
fn partition(prog: &[Insn]) -> Option<Vec<Region>> {
    let mut out = Vec::new();
    let mut todo = vec![(0usize, (0, u32::MAX), (0, u32::MAX), Acc::Unknown)];
    let mut steps = 0;
    while let Some((pc, arch, nr, acc)) = todo.pop() {
        steps += 1;
        if steps > WALK_BUDGET {
            return None;
        }
        let i = *prog.get(pc)?;
        match i.code {
            LD_W_ABS if i.k == NR => todo.push((pc + 1, arch, nr, Acc::Nr)),
            LD_W_ABS if i.k == ARCH => todo.push((pc + 1, arch, nr, Acc::Arch)),
            JMP_JA => todo.push((pc.checked_add(1)?.checked_add(i.k as usize)?, arch, nr, acc)),
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let span = match acc {
                    Acc::Nr => nr,
                    Acc::Arch => arch,
                    Acc::Unknown => return None,
                };
                let (yes, no) = split(i.code, i.k, span);
                for (taken, parts) in [(i.jt, yes), (i.jf, no)] {
                    for part in parts.into_iter().flatten() {
                        let (a, n) = if acc == Acc::Nr { (arch, part) } else { (part, nr) };
                        todo.push((pc + 1 + taken as usize, a, n, acc));
                    }
                }
            }
            RET_K => out.push((arch, nr, Leaf::Ret(i.k))),
            // Argument (or instruction pointer) loads start libseccomp's
            // argument checks, which need nothing from before.
            LD_W_ABS if i.k >= 8 => out.push((arch, nr, Leaf::Enter(pc))),
            _ => return None,
        }
    }
    Some(out)
}

/// The parts of `span` where comparison `code` with `k` holds, and where it
/// does not (each at most two spans).
fn split(code: u16, k: u32, (lo, hi): Span) -> (Parts, Parts) {
    let part = |a: u32, b: u32| (a <= b).then_some((a, b));
    // The values >= `from`, and those below it.
    let at_least = |from: Option<u32>| match from {
        Some(f) if f <= lo => (part(lo, hi), None),
        Some(f) if f <= hi => (part(f, hi), part(lo, f - 1)),
        _ => (None, part(lo, hi)),
    };
    match code {
        JMP_JEQ_K if (lo..=hi).contains(&k) => (
            [part(k, k), None],
            [k.checked_sub(1).and_then(|b| part(lo, b)), k.checked_add(1).and_then(|a| part(a, hi))],
        ),
        JMP_JEQ_K => ([None, None], [part(lo, hi), None]),
        JMP_JGT_K => {
            let (yes, no) = at_least(k.checked_add(1));
            ([yes, None], [no, None])
        }
        _ => {
            let (yes, no) = at_least(Some(k));
            ([yes, None], [no, None])
        }
    }
}

/// The arch spans, each with the leaf of every nr span (sorted, adjacent
/// spans with equal leaves merged, covering every value), adjacent arch
/// spans with equal nr leaves merged. `None` if the regions do not cover
/// every pair exactly once.
fn by_arch(regions: &[Region]) -> Option<Vec<(Span, NrSpans)>> {
    let mut cuts: BTreeSet<u32> = BTreeSet::new();
    for &((lo, hi), _, _) in regions {
        cuts.insert(lo);
        if let Some(next) = hi.checked_add(1) {
            cuts.insert(next);
        }
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    let mut out: Vec<(Span, NrSpans)> = Vec::new();
    for (n, &lo) in cuts.iter().enumerate() {
        let hi = cuts.get(n + 1).map_or(u32::MAX, |next| next - 1);
        let mut nrs: BTreeMap<u32, (u32, Leaf)> = BTreeMap::new();
        for &((alo, ahi), (nlo, nhi), leaf) in regions {
            if alo <= lo && hi <= ahi && nrs.insert(nlo, (nhi, leaf)).is_some() {
                return None;
            }
        }
        let nrs = merged(nrs)?;
        match out.last_mut() {
            Some((span, prev)) if *prev == nrs => span.1 = hi,
            _ => out.push(((lo, hi), nrs)),
        }
    }
    (out.first()?.0 .0 == 0).then_some(out)
}

/// `spans` (by start) as a cover of every u32 with adjacent equal leaves
/// merged; `None` on a gap or overlap.
fn merged(spans: BTreeMap<u32, (u32, Leaf)>) -> Option<NrSpans> {
    let mut out: NrSpans = Vec::new();
    let mut next = Some(0u32);
    for (lo, (hi, leaf)) in spans {
        if Some(lo) != next {
            return None;
        }
        next = hi.checked_add(1);
        match out.last_mut() {
            Some((span, prev)) if *prev == leaf => span.1 = hi,
            _ => out.push(((lo, hi), leaf)),
        }
    }
    next.is_none().then_some(out)
}

/// An instruction of the new program, or a jump to one of libseccomp's,
/// placed once the new dispatch's length is known.
#[derive(Clone, Copy)]
enum Op {
    Insn(Insn),
    Enter(usize),
}

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Op {
    Op::Insn(Insn { code, jt, jf, k })
}

/// The new program: a binary search over the arch spans, in each a binary
/// search over its nr spans, whose leaves return or jump to the copies of
/// libseccomp's instructions reachable from the `Enter` leaves.
fn emit(prog: &[Insn], arches: &[(Span, NrSpans)]) -> Option<Vec<Insn>> {
    let leaf = |l: Leaf| match l {
        Leaf::Ret(k) => vec![insn(RET_K, 0, 0, k)],
        Leaf::Enter(pc) => vec![Op::Enter(pc)],
    };
    let blocks: Vec<(u32, Vec<Op>)> = arches
        .iter()
        .map(|((lo, _), nrs)| {
            let block = match nrs.as_slice() {
                [(_, only)] => leaf(*only),
                _ => {
                    let mut b = vec![insn(LD_W_ABS, 0, 0, NR)];
                    b.extend(search(nrs.iter().map(|((lo, _), l)| (*lo, leaf(*l))).collect())?);
                    b
                }
            };
            Some((*lo, block))
        })
        .collect::<Option<_>>()?;
    let mut ops = vec![insn(LD_W_ABS, 0, 0, ARCH)];
    ops.extend(search(blocks)?);

    // libseccomp's instructions the leaves enter, and all they reach, in
    // their order: every jump among them still goes forward, no further.
    let mut kept = BTreeSet::new();
    let mut todo: Vec<usize> =
        ops.iter().filter_map(|o| if let Op::Enter(pc) = o { Some(*pc) } else { None }).collect();
    while let Some(pc) = todo.pop() {
        if pc >= prog.len() || !kept.insert(pc) {
            continue;
        }
        let i = prog[pc];
        match i.code & 0x07 {
            // BPF_RET
            0x06 => {}
            // BPF_JMP
            0x05 if i.code == JMP_JA => todo.push(pc + 1 + i.k as usize),
            0x05 => todo.extend([pc + 1 + i.jt as usize, pc + 1 + i.jf as usize]),
            _ => todo.push(pc + 1),
        }
    }
    let kept: Vec<usize> = kept.into_iter().collect();
    let start = ops.len();
    let at = |pc: usize| kept.binary_search(&pc).ok().map(|n| start + n);
    let mut out = Vec::with_capacity(start + kept.len());
    for (n, op) in ops.iter().enumerate() {
        out.push(match *op {
            Op::Insn(i) => i,
            Op::Enter(pc) => Insn { code: JMP_JA, jt: 0, jf: 0, k: u32::try_from(at(pc)? - n - 1).ok()? },
        });
    }
    for (n, &pc) in kept.iter().enumerate() {
        let mut i = prog[pc];
        let here = start + n;
        let to = |off: usize| at(pc + 1 + off).map(|t| t - here - 1);
        if i.code == JMP_JA {
            i.k = u32::try_from(to(i.k as usize)?).ok()?;
        } else if i.code & 0x07 == 0x05 {
            i.jt = u8::try_from(to(i.jt as usize)?).ok()?;
            i.jf = u8::try_from(to(i.jf as usize)?).ok()?;
        }
        out.push(i);
    }
    Some(out)
}

/// A binary search over `spans` (by start, the first at 0): the code that
/// runs the block of the span holding the accumulator's value.
fn search(spans: Vec<(u32, Vec<Op>)>) -> Option<Vec<Op>> {
    if spans.len() <= 1 {
        return spans.into_iter().next().map(|(_, block)| block);
    }
    let mut spans = spans;
    let right = spans.split_off(spans.len() / 2);
    let boundary = right[0].0;
    let left = search(spans)?;
    let right = search(right)?;
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        // >= boundary: over the left half.
        Ok(n) => out.push(insn(JMP_JGE_K, n, 0, boundary)),
        // Too far for a conditional jump: through a `ja`.
        Err(_) => {
            out.push(insn(JMP_JGE_K, 0, 1, boundary));
            out.push(insn(JMP_JA, 0, 0, u32::try_from(left.len()).ok()?));
        }
    }
    out.extend(left);
    out.extend(right);
    Some(out)
}

/// Whether `a` and `b` give the same verdict at both ends of every span of
/// `arches` (arch and nr), with argument sets made of the constants the
/// programs compare with.
fn same_verdicts(a: &[Insn], b: &[Insn], arches: &[(Span, NrSpans)]) -> bool {
    let mut values: BTreeSet<u32> = [0, 1, u32::MAX].into();
    for i in a.iter().filter(|i| i.code & 0x07 == 0x05 || i.code & 0x07 == 0x04) {
        values.extend([i.k, i.k.wrapping_add(1), i.k.wrapping_sub(1), !i.k]);
    }
    let values: Vec<u32> = values.into_iter().collect();
    // Argument sets: all words alike, then each value in turn in every word
    // with its neighbours elsewhere (a few hundred programs' worth).
    let mut arg_sets: Vec<[u32; 14]> = values.iter().map(|&v| [v; 14]).collect();
    for (n, &v) in values.iter().enumerate() {
        let mut words = [values[(n + 1) % values.len()]; 14];
        words[n % 14] = v;
        arg_sets.push(words);
    }
    for ((alo, ahi), nrs) in arches {
        for arch in [*alo, *ahi] {
            for ((nlo, nhi), leaf) in nrs {
                let sets: &[[u32; 14]] = if matches!(leaf, Leaf::Enter(_)) { &arg_sets } else { &arg_sets[..1] };
                for nr in [*nlo, *nhi] {
                    for words in sets {
                        let data = Data { nr, arch, words: *words };
                        match (run(a, &data), run(b, &data)) {
                            (Some(x), Some(y)) if x == y => {}
                            _ => return false,
                        }
                    }
                }
            }
        }
    }
    true
}

/// A `struct seccomp_data`: nr, arch, then the instruction pointer and the
/// six arguments as 32-bit words.
struct Data {
    nr: u32,
    arch: u32,
    words: [u32; 14],
}

impl Data {
    fn load(&self, off: u32) -> Option<u32> {
        match off {
            NR => Some(self.nr),
            ARCH => Some(self.arch),
            _ if off % 4 == 0 && (8..64).contains(&off) => Some(self.words[(off as usize - 8) / 4]),
            _ => None,
        }
    }
}

/// The verdict of classic BPF program `prog` on `data`, as the kernel's
/// interpreter gives it; `None` for anything seccomp would not run.
fn run(prog: &[Insn], data: &Data) -> Option<u32> {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0;
    loop {
        let i = *prog.get(pc)?;
        pc += 1;
        let src = if i.code & 0x08 != 0 { x } else { i.k };
        match i.code & 0x07 {
            // BPF_LD / BPF_LDX: immediate, seccomp_data word, scratch, length.
            0x00 | 0x01 => {
                let v = match i.code {
                    0x00 | 0x01 => i.k,
                    0x20 => data.load(i.k)?,
                    0x60 | 0x61 => *mem.get(i.k as usize)?,
                    0x80 | 0x81 => 64,
                    _ => return None,
                };
                if i.code & 0x01 == 0 {
                    a = v;
                } else {
                    x = v;
                }
            }
            0x02 => *mem.get_mut(i.k as usize)? = a, // BPF_ST
            0x03 => *mem.get_mut(i.k as usize)? = x, // BPF_STX
            // BPF_ALU
            0x04 => {
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src)?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src)?,
                    0xa0 => a ^ src,
                    _ => return None,
                }
            }
            // BPF_JMP
            0x05 => {
                let taken = match i.code & 0xf0 {
                    0x00 => {
                        pc = pc.checked_add(i.k as usize)?;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return None,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            // BPF_RET
            0x06 => return Some(if i.code & 0x18 == 0x10 { a } else { i.k }),
            // BPF_MISC: TAX, TXA
            _ => match i.code {
                0x07 => x = a,
                0x87 => a = x,
                _ => return None,
            },
        }
    }
}

/// The verdict of program `insns` (raw) for syscall `nr` of `arch` with
/// arguments `args`, as the kernel would give it.
#[cfg(test)]
pub(super) fn verdict(insns: &[u8], arch: u32, nr: u32, args: &[u64; 6]) -> Option<u32> {
    let mut words = [0u32; 14];
    for (n, a) in args.iter().enumerate() {
        // Little-endian seccomp_data: each argument's low word first.
        words[2 + 2 * n] = *a as u32;
        words[3 + 2 * n] = (*a >> 32) as u32;
    }
    run(&decode(insns)?, &Data { nr, arch, words })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: u32 = 0x7fff_0000;
    const X86_64: u32 = 0xc000_003e;

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// A program in libseccomp's shape: arch check, then nr by nr.
    fn one_by_one(allowed: &[u32]) -> Vec<Insn> {
        let mut p =
            vec![ins(LD_W_ABS, 0, 0, ARCH), ins(JMP_JEQ_K, 1, 0, X86_64), ins(RET_K, 0, 0, 0), ins(LD_W_ABS, 0, 0, NR)];
        for (n, &nr) in allowed.iter().enumerate() {
            // To the ALLOW at the end: past the remaining tests and the default.
            let past = (allowed.len() - n - 1) as u8 + 1;
            p.push(ins(JMP_JEQ_K, past, 0, nr));
        }
        p.push(ins(RET_K, 0, 0, 0x0005_0001)); // ERRNO(1)
        p.push(ins(RET_K, 0, 0, ALLOW));
        p
    }

    fn data(arch: u32, nr: u32) -> Data {
        Data { nr, arch, words: [0; 14] }
    }

    #[test]
    fn runs_of_syscalls_become_spans() {
        let allowed: Vec<u32> = (0..40).chain(50..60).chain([100]).collect();
        let prog = one_by_one(&allowed);
        let out = decode(&compact(&encode(&prog)).unwrap()).unwrap();
        // Arch: 2 tests, 2 verdicts; nr: 5 tests, 6 verdicts; 2 loads.
        assert_eq!(out.len(), 17, "{out:?}");
        for nr in 0..200 {
            let want = if allowed.contains(&nr) { ALLOW } else { 0x0005_0001 };
            assert_eq!(run(&out, &data(X86_64, nr)), Some(want), "nr {nr}");
        }
        assert_eq!(run(&out, &data(X86_64, u32::MAX)), Some(0x0005_0001));
        assert_eq!(run(&out, &data(0x4000_0003, 1)), Some(0), "other arches as before");
    }

    #[test]
    fn argument_checks_are_kept() {
        // nr 5: allowed only when the low word of arg 0 is 7; 10..50 allowed.
        let mut prog = vec![
            ins(LD_W_ABS, 0, 0, ARCH),
            ins(JMP_JEQ_K, 1, 0, X86_64),
            ins(RET_K, 0, 0, 0),
            ins(LD_W_ABS, 0, 0, NR),
            ins(JMP_JEQ_K, 0, 2, 5),
            ins(LD_W_ABS, 0, 0, 16),
            // To the ALLOW or the ERRNO at the end.
            ins(JMP_JEQ_K, 41, 40, 7),
        ];
        for nr in 10..50 {
            prog.push(ins(JMP_JEQ_K, 50 - nr as u8, 0, nr));
        }
        prog.extend([ins(RET_K, 0, 0, 0x0005_0001), ins(RET_K, 0, 0, ALLOW)]);
        let out = decode(&compact(&encode(&prog)).expect("compacted")).unwrap();
        assert!(out.len() < prog.len() / 2, "{out:?}");
        let with_arg =
            |nr, a0| run(&out, &Data { nr, arch: X86_64, words: [0, 0, a0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
        assert_eq!(with_arg(5, 7), Some(ALLOW));
        assert_eq!(with_arg(5, 8), Some(0x0005_0001));
        assert_eq!(with_arg(10, 8), Some(ALLOW));
        assert_eq!(with_arg(49, 8), Some(ALLOW));
        assert_eq!(with_arg(50, 7), Some(0x0005_0001));
        assert_eq!(with_arg(3, 7), Some(0x0005_0001));
        for nr in 0..100 {
            for a0 in [0, 7, 8] {
                assert_eq!(
                    with_arg(nr, a0),
                    run(&prog, &Data { nr, arch: X86_64, words: [0, 0, a0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] })
                );
            }
        }
    }

    #[test]
    fn far_halves_jump_through_ja() {
        // Every other nr: twice as many spans as syscalls, so not shorter
        // than one test per syscall: kept as it is ...
        let allowed: Vec<u32> = (0..120).map(|n| n * 2).collect();
        assert_eq!(compact(&encode(&one_by_one(&allowed))), None);
        // ... but a search over 600 spans, whose halves are longer than a
        // conditional jump reaches, is right.
        let spans: Vec<(u32, Vec<Op>)> =
            (0..600).map(|n| (n, vec![insn(RET_K, 0, 0, if n % 2 == 0 { ALLOW } else { 1 })])).collect();
        let mut code = vec![ins(LD_W_ABS, 0, 0, NR)];
        code.extend(search(spans).unwrap().into_iter().map(|o| match o {
            Op::Insn(i) => i,
            Op::Enter(_) => unreachable!(),
        }));
        assert!(code.iter().any(|i| i.code == JMP_JA));
        for nr in 0..700 {
            let want = if nr % 2 == 0 && nr < 600 { ALLOW } else { 1 };
            assert_eq!(run(&code, &data(0, nr)), Some(want), "nr {nr}");
        }
    }

    #[test]
    fn unknown_shapes_are_left_alone() {
        // A comparison before any load, and an instruction the walk does not follow.
        assert_eq!(compact(&encode(&[ins(JMP_JEQ_K, 0, 0, 1), ins(RET_K, 0, 0, ALLOW)])), None);
        assert_eq!(compact(&encode(&[ins(0x87, 0, 0, 0), ins(RET_K, 0, 0, ALLOW)])), None);
        assert_eq!(compact(&[1, 2, 3]), None);
    }
}
