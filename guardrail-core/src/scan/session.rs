//! A session's seen secrets, stored as keyed hashes.
//!
//! # Design
//! A secret that appeared in a tool output must block a later action that carries it, even when
//! no rule would match it on its own (a password printed by a tool, then pasted into a URL)
//! and even when the action carries it encoded. The set never holds plaintext:
//!
//! - **Exact set**: 128-bit truncations of HMAC-SHA256(key, secret), one per secret.
//! - **Window index**: for secrets of at least [`WINDOW`] bytes, a 32-bit keyed fingerprint of
//!   their first `WINDOW` bytes (a polynomial rolling hash modulo 2^61-1 whose base is derived
//!   from the key), mapped to the secret lengths that start with it. 32 bits of a keyed hash of
//!   a 16-byte window cannot be inverted and do not identify the secret without the key.
//!
//! [`SeenSecrets::contains_any`] hashes every finding the scanner reports in the new text (and
//! in its decoded views) and looks it up in the exact set; then it rolls the fingerprint over
//! every `WINDOW`-byte window of the text and of its decoded views, and, where a fingerprint
//! is known, checks each recorded length with the HMAC. Fingerprint collisions cost one HMAC
//! and never produce a false match. Secrets shorter than `WINDOW` bytes are caught only when a
//! rule finds them again.

use std::collections::{HashMap, HashSet};

use super::redact::RedactionKey;
use super::secrets::{Raw, SecretScanner};
use super::{Encoding, Finding};

/// Most secrets one session records; further secrets are not recorded.
pub const MAX_SEEN: usize = 65_536;
/// Window length of the rolling fingerprint.
const WINDOW: usize = 16;
const P: u64 = (1 << 61) - 1;
const FILTER_BITS: usize = 1 << 16;

/// Where a previously seen secret occurs in new text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenMatch {
    /// First byte (of the encoded text, when found in a decoded view).
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Set when found in a decoded view.
    pub encoding: Option<Encoding>,
}

/// Secrets seen in a session, as keyed hashes. See the module docs for the design.
#[derive(Debug)]
pub struct SeenSecrets {
    key: RedactionKey,
    exact: HashSet<[u8; 16]>,
    windows: HashMap<u32, Vec<u32>>,
    filter: Vec<u64>,
    base: u64,
    top: u64,
    salt: u64,
}

fn mulmod(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(P)) as u64
}

impl SeenSecrets {
    /// An empty set hashing under `key` (keep one key per session; the redaction key will do).
    pub fn new(key: RedactionKey) -> Self {
        let seed = key.mac(b"guardrail seen-secrets rolling base");
        let word = |i: usize| {
            let mut w = [0u8; 8];
            if let Some(s) = seed.get(i..i + 8) {
                w.copy_from_slice(s);
            }
            u64::from_le_bytes(w)
        };
        let base = word(0) % (P - 3) + 2;
        let salt = word(8);
        let mut top = 1u64;
        for _ in 1..WINDOW {
            top = mulmod(top, base);
        }
        SeenSecrets {
            key,
            exact: HashSet::new(),
            windows: HashMap::new(),
            filter: vec![0u64; FILTER_BITS / 64],
            base,
            top,
            salt,
        }
    }

    /// Number of recorded secrets.
    pub fn len(&self) -> usize {
        self.exact.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    fn tag(&self, secret: &[u8]) -> [u8; 16] {
        let mac = self.key.mac(secret);
        let mut t = [0u8; 16];
        if let Some(s) = mac.get(..16) {
            t.copy_from_slice(s);
        }
        t
    }

    fn fingerprint(&self, h: u64) -> u32 {
        ((h ^ self.salt) ^ ((h ^ self.salt) >> 32)) as u32
    }

    fn filter_hit(&self, fp: u32) -> bool {
        let bit = (fp as usize) & (FILTER_BITS - 1);
        self.filter
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }

    fn window_hash(&self, w: &[u8]) -> u64 {
        w.iter()
            .fold(0u64, |h, &b| (mulmod(h, self.base) + u64::from(b) + 1) % P)
    }

    /// Records one secret (its bytes as they would appear in a later action).
    pub fn insert(&mut self, secret: &[u8]) {
        if secret.is_empty() || self.exact.len() >= MAX_SEEN {
            return;
        }
        let tag = self.tag(secret);
        if !self.exact.insert(tag) {
            return;
        }
        if let (Some(head), Ok(len)) = (secret.get(..WINDOW), u32::try_from(secret.len())) {
            let fp = self.fingerprint(self.window_hash(head));
            let lens = self.windows.entry(fp).or_default();
            if !lens.contains(&len) {
                lens.push(len);
            }
            let bit = (fp as usize) & (FILTER_BITS - 1);
            if let Some(w) = self.filter.get_mut(bit / 64) {
                *w |= 1 << (bit % 64);
            }
        }
    }

    /// Records the secrets of findings made on `text` (plain findings only: for encoded ones,
    /// use [`observe`](Self::observe), which records the decoded secret). A fail-closed
    /// finding (`scan-budget-exceeded`) marks text that was not scanned, not a secret, and is
    /// not recorded.
    pub fn record(&mut self, text: &[u8], findings: &[Finding]) {
        for f in findings
            .iter()
            .filter(|f| f.encoding.is_none() && &*f.rule != super::secrets::BUDGET_RULE)
        {
            if let Some(s) = text.get(f.start..f.end) {
                self.insert(s);
            }
        }
    }

    /// Scans tool output `text` (with decoded views), records every secret found, and returns
    /// the findings.
    pub fn observe(&mut self, scanner: &SecretScanner, text: &[u8]) -> Vec<Finding> {
        let mut raw: Vec<Raw> = Vec::new();
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        scanner.collect_with_decodings(text, &mut raw, &mut |_, s| secrets.push(s.to_vec()));
        for s in &secrets {
            self.insert(s);
        }
        scanner.merge(raw)
    }

    /// The first place where `text` carries a recorded secret, plainly or in a decoded view.
    pub fn contains_any(&self, scanner: &SecretScanner, text: &[u8]) -> Option<SeenMatch> {
        if self.exact.is_empty() || text.is_empty() {
            return None;
        }
        let mut best: Option<SeenMatch> = None;
        let mut consider = |m: SeenMatch| {
            if best.is_none_or(|b| m.start < b.start) {
                best = Some(m);
            }
        };
        let mut raw = Vec::new();
        let views = scanner.collect_with_decodings(text, &mut raw, &mut |r, s| {
            if self.exact.contains(&self.tag(s)) {
                consider(SeenMatch {
                    start: r.start,
                    end: r.end,
                    encoding: r.encoding,
                });
            }
        });
        if !self.windows.is_empty() {
            if let Some((s, e)) = self.roll(text) {
                consider(SeenMatch {
                    start: s,
                    end: e,
                    encoding: None,
                });
            }
            // The views the rule scan decoded, not decoded again.
            for v in &views {
                if let Some((s, e)) = self.roll(&v.bytes)
                    && let Some((ms, me)) = v.map_span(s, e)
                {
                    consider(SeenMatch {
                        start: ms,
                        end: me,
                        encoding: Some(v.encoding),
                    });
                }
            }
        }
        best
    }

    /// First recorded secret of at least `WINDOW` bytes in `text`, by rolling fingerprint.
    fn roll(&self, text: &[u8]) -> Option<(usize, usize)> {
        let head = text.get(..WINDOW)?;
        let mut h = self.window_hash(head);
        let mut i = 0usize;
        loop {
            let fp = self.fingerprint(h);
            if self.filter_hit(fp)
                && let Some(lens) = self.windows.get(&fp)
            {
                for &len in lens {
                    let end = i.saturating_add(len as usize);
                    if let Some(cand) = text.get(i..end)
                        && self.exact.contains(&self.tag(cand))
                    {
                        return Some((i, end));
                    }
                }
            }
            let (Some(&out), Some(&inp)) = (text.get(i), text.get(i + WINDOW)) else {
                return None;
            };
            let drop = mulmod(u64::from(out) + 1, self.top);
            h = (mulmod((h + P - drop) % P, self.base) + u64::from(inp) + 1) % P;
            i += 1;
        }
    }
}
