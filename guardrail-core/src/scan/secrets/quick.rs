//! A whole-text precheck for short texts (tool-call arguments): one automaton pass over all
//! keywords proves, for most arguments, that no rule can match.
//!
//! For a short text the anchor scan pays per marked byte, and arguments (paths, URLs, SQL)
//! are dense in marked bytes. The precheck instead runs one ASCII-case-insensitive automaton
//! over every keyword, pattern and identifier alike, and reports the text clean when:
//! - every pattern keyword found lacks, in the window its rules search, all the bytes its
//!   rules require (a rule whose regex requires no rare byte makes any occurrence fail the
//!   precheck);
//! - no identifier keyword occurs, or the text has no assignment operator (an assignment
//!   rule needs both);
//! - no decoded view can exist (see [`decode::may_have_views`](super::decode)).
//!
//! Otherwise the full scan runs; the precheck never changes a result, only skips work.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use super::anchor::Keyword;
use super::{Kind, Rule, has_any};

/// What a keyword of the automaton stands for.
#[derive(Debug)]
enum Role {
    /// An identifier keyword of assignment rules.
    Ident,
    /// A pattern keyword whose rules all require a rare byte: one of `set` must occur from
    /// `before` bytes before the keyword to `after` bytes after it.
    Required {
        set: Box<[u8]>,
        before: usize,
        after: usize,
    },
    /// A pattern keyword some rule of which requires nothing rare: finding it ends the
    /// precheck.
    Unconditional,
}

/// The precheck automaton and the role of each of its patterns.
#[derive(Debug)]
pub(super) struct Quick {
    dfa: DFA,
    roles: Vec<Role>,
}

/// Largest byte set a keyword's requirement may have.
const MAX_SET: usize = 3;

impl Quick {
    /// The precheck over `keywords` (pattern rules, owning `rules`) and `ident` keywords;
    /// `None` when the automaton cannot be built (the full scan then always runs).
    pub(super) fn new(keywords: &[Keyword], rules: &[Rule], ident: &[Vec<u8>]) -> Option<Self> {
        let mut patterns: Vec<&[u8]> = Vec::with_capacity(keywords.len() + ident.len());
        let mut roles = Vec::with_capacity(keywords.len() + ident.len());
        for kw in keywords {
            patterns.push(&kw.bytes);
            roles.push(role(kw, rules));
        }
        for k in ident {
            patterns.push(k);
            roles.push(Role::Ident);
        }
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(patterns)
            .ok()?;
        Some(Quick { dfa, roles })
    }

    /// Walks `text` once: `None` when a keyword in it may lead to a finding; otherwise the
    /// sum of `lanes` over its bytes and whether an identifier keyword occurs (which matters
    /// only if the text holds an assignment operator).
    pub(super) fn walk(&self, text: &[u8], lanes: &[u64; 256]) -> Option<(u64, bool)> {
        // The automaton's own loop, without its iterator: every state lists all the
        // keywords that end at it (standard semantics), so each occurrence is seen.
        let dfa = &self.dfa;
        let mut sid = dfa.start_state(Anchored::No).ok()?;
        let (mut sum, mut ident, mut end) = (0u64, false, 0usize);
        for &b in text {
            end += 1;
            sum = sum.wrapping_add(lanes.get(usize::from(b)).copied().unwrap_or(0));
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) {
                ident |= self.harmless_state(sid, end, text)?;
            }
        }
        Some((sum, ident))
    }

    /// Whether a keyword ending at `end` in special state `sid` is an identifier keyword;
    /// `None` when one may lead to a finding.
    #[inline(never)]
    fn harmless_state(
        &self,
        sid: aho_corasick::automaton::StateID,
        end: usize,
        text: &[u8],
    ) -> Option<bool> {
        if self.dfa.is_dead(sid) {
            return None;
        }
        if !self.dfa.is_match(sid) {
            return Some(false);
        }
        let mut ident = false;
        for k in 0..self.dfa.match_len(sid) {
            let pid = self.dfa.match_pattern(sid, k);
            let start = end.saturating_sub(self.dfa.pattern_len(pid));
            match self.roles.get(pid.as_usize()) {
                Some(Role::Ident) => ident = true,
                Some(Role::Required { set, before, after }) => {
                    let from = start.saturating_sub(*before);
                    let to = text.len().min(end.saturating_add(*after));
                    if has_any(text.get(from..to).unwrap_or(&[]), set) {
                        return None;
                    }
                }
                Some(Role::Unconditional) | None => return None,
            }
        }
        Some(ident)
    }
}

/// The role of a pattern keyword: the union of its rules' required bytes over the union of
/// their windows, when every rule requires a byte and the union stays small.
fn role(kw: &Keyword, rules: &[Rule]) -> Role {
    let mut set: Vec<u8> = Vec::new();
    let (mut before, mut after) = (0usize, 0usize);
    for &ri in &kw.rules {
        let Some(Kind::Pattern {
            require,
            before: b,
            max_len,
            ..
        }) = rules.get(ri as usize).map(|r| &r.kind)
        else {
            return Role::Unconditional;
        };
        if require.is_empty() {
            return Role::Unconditional;
        }
        set.extend_from_slice(require);
        before = before.max(*b);
        after = after.max(max_len.saturating_add(1));
    }
    set.sort_unstable();
    set.dedup();
    if set.is_empty() || set.len() > MAX_SET {
        return Role::Unconditional;
    }
    Role::Required {
        set: set.into_boxed_slice(),
        before,
        after,
    }
}
