//! Facts about a rule's regex that let the scan skip work: bytes every match must contain,
//! and whether the secret group spans the whole match.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Largest byte set kept as a requirement (searched with `memchr3`).
const MAX_SET: usize = 3;

/// The regex of a rule as the scanner compiles it (bytes, Unicode off unless `(?u)`).
pub(super) fn parse(src: &str) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(src)
        .map_err(|e| e.to_string())
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

/// The index of the capture group called `name`.
pub(super) fn named_group(h: &Hir, name: &str) -> Option<usize> {
    // An explicit stack: a rule's regex is untrusted policy input.
    let mut stack = vec![h];
    while let Some(h) = stack.pop() {
        match h.kind() {
            HirKind::Capture(c) => {
                if c.name.as_deref() == Some(name) {
                    return usize::try_from(c.index).ok();
                }
                stack.push(&c.sub);
            }
            HirKind::Repetition(r) => stack.push(&r.sub),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => stack.extend(hs.iter()),
            HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
        }
    }
    None
}

/// Whether every match starts with one of `keywords` (compared ignoring ASCII case): then a
/// match can only start where a keyword does, and a search anchored at each keyword hit finds
/// every match. Decided from the pattern's prefix literals; false when they are not known
/// exactly enough.
pub(super) fn starts_with_keyword(hir: &Hir, keywords: &[String]) -> bool {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    let Some(literals) = seq.literals() else {
        return false;
    };
    !literals.is_empty()
        && literals.iter().all(|lit| {
            let bytes = lit.as_bytes();
            keywords.iter().any(|k| {
                !k.is_empty()
                    && bytes
                        .get(..k.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(k.as_bytes()))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(pattern: &str, keywords: &[&str]) -> bool {
        let kws: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        starts_with_keyword(&parse(pattern).unwrap(), &kws)
    }

    #[test]
    fn anchorable_when_every_prefix_literal_begins_with_a_keyword() {
        assert!(starts(r"\b(ghp_[A-Za-z0-9]{36})\b", &["ghp_"]));
        assert!(starts(
            r"\b(pscale_(?:tkn|oauth|pw)_[A-Za-z0-9=._-]{32,64})",
            &["pscale_tkn_", "pscale_oauth_", "pscale_pw_"]
        ));
        assert!(starts(r"(?i)\b(ghp_[a-z0-9]{36})", &["ghp_"]));
        // Context before the keyword, a keyword inside, a class first: search unanchored.
        assert!(!starts(
            r"(?i:heroku)[ :=]{1,4}([0-9a-f]{32})",
            &["[0-9a-f]"]
        ));
        assert!(!starts(r"([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})", &["AZDO"]));
        assert!(!starts(
            r"(?:^|[^A-Za-z0-9_-])(ey[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_/-]{8,})",
            &[".ey"]
        ));
        // Only one branch starts with the keyword.
        assert!(!starts(r"(?:ghp_|token=)[A-Za-z0-9]{36}", &["ghp_"]));
        // A prefix shorter than the keyword proves nothing.
        assert!(!starts(r"gh[A-Za-z0-9_]{36}", &["ghp_"]));
    }
}
