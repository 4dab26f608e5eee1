//! Facts about a rule's regex that let the scan skip work: bytes every match must contain,
//! and whether the secret group spans the whole match.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Largest byte set kept as a requirement (searched with `memchr3`).
const MAX_SET: usize = 3;

/// The regex of a rule as the scanner compiles it (bytes, Unicode off unless `(?u)`).
pub(super) fn parse(src: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(src)
        .ok()
}

/// Byte sets of which every match holds at least one byte each (only sets of at most three
/// bytes are reported; a pattern may have more requirements than these).
pub(super) fn required_bytes(hir: &Hir) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    collect(hir, &mut out);
    out
}

fn collect(hir: &Hir, out: &mut Vec<Vec<u8>>) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => {
            for &b in lit.0.iter() {
                push(out, vec![b]);
            }
        }
        HirKind::Class(class) => {
            if let Some(set) = small_class(class) {
                push(out, set);
            }
        }
        HirKind::Repetition(rep) => {
            if rep.min >= 1 {
                collect(&rep.sub, out);
            }
        }
        HirKind::Capture(cap) => collect(&cap.sub, out),
        HirKind::Concat(subs) => {
            for sub in subs {
                collect(sub, out);
            }
        }
        HirKind::Alternation(subs) => {
            // Every match takes one branch, so the union of one requirement per branch is
            // a requirement.
            let mut union: Vec<u8> = Vec::new();
            for sub in subs {
                let mut reqs = Vec::new();
                collect(sub, &mut reqs);
                let Some(smallest) = reqs.into_iter().min_by_key(Vec::len) else {
                    return;
                };
                union.extend(smallest);
                union.sort_unstable();
                union.dedup();
                if union.len() > MAX_SET {
                    return;
                }
            }
            push(out, union);
        }
    }
}

fn push(out: &mut Vec<Vec<u8>>, mut set: Vec<u8>) {
    set.sort_unstable();
    set.dedup();
    if !set.is_empty() && set.len() <= MAX_SET && !out.contains(&set) {
        out.push(set);
    }
}

fn small_class(class: &Class) -> Option<Vec<u8>> {
    let mut set = Vec::new();
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set.push(b);
                    if set.len() > MAX_SET {
                        return None;
                    }
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    let b = u8::try_from(u32::from(ch)).ok().filter(u8::is_ascii)?;
                    set.push(b);
                    if set.len() > MAX_SET {
                        return None;
                    }
                }
            }
        }
    }
    Some(set)
}

/// Whether capture group `group` always spans the whole match: the pattern is that group,
/// with only zero-width assertions around it.
pub(super) fn group_spans_match(hir: &Hir, group: usize) -> bool {
    match hir.kind() {
        HirKind::Capture(cap) => cap.index as usize == group,
        HirKind::Concat(subs) => {
            let mut groups = 0;
            for sub in subs {
                match sub.kind() {
                    HirKind::Look(_) => {}
                    _ if group_spans_match(sub, group) => groups += 1,
                    _ => return false,
                }
            }
            groups == 1
        }
        _ => false,
    }
}
