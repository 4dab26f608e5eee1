//! Span-exact redaction.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Finding;

/// Key material for keyed placeholders and seen-secret hashes. `Debug` does not print it.
#[derive(Clone)]
pub struct RedactionKey(Vec<u8>);

impl RedactionKey {
    /// A key from bytes (any length; 32 random bytes is right).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        RedactionKey(bytes.into())
    }

    /// A fresh key from the process's hash randomness; good for one session.
    pub fn random() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut out = Vec::with_capacity(32);
        for i in 0..4u64 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            out.extend_from_slice(&h.finish().to_le_bytes());
        }
        RedactionKey(out)
    }

    /// HMAC-SHA256 of `data` under this key.
    pub(crate) fn mac(&self, data: &[u8]) -> [u8; 32] {
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().into()
            }
            // HMAC accepts keys of any length; this arm is unreachable in practice.
            Err(_) => [0u8; 32],
        }
    }
}

impl std::fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedactionKey(..)")
    }
}

/// How a secret is replaced.
#[derive(Debug, Clone)]
pub enum Redaction {
    /// `[REDACTED:<rule>]`.
    Label,
    /// `[REDACTED:<rule>:<first 12 hex of HMAC-SHA256(key, secret)>]`: the same secret maps to
    /// the same placeholder for as long as the key is kept (one session), and the placeholder
    /// reveals nothing about the secret without the key.
    Keyed {
        /// The session's key.
        key: RedactionKey,
    },
}

/// The placeholder for `secret` found by `rule`.
pub fn placeholder(rule: &str, secret: &[u8], how: &Redaction) -> Vec<u8> {
    let mut out = Vec::with_capacity(rule.len() + 26);
    out.extend_from_slice(b"[REDACTED:");
    out.extend_from_slice(rule.as_bytes());
    if let Redaction::Keyed { key } = how {
        out.push(b':');
        let mac = key.mac(secret);
        out.extend_from_slice(hex::encode(mac.get(..6).unwrap_or(&[])).as_bytes());
    }
    out.push(b']');
    out
}

/// `text` with every finding's span replaced by its placeholder. Findings may come in any
/// order; a finding that overlaps an earlier-starting one is folded into it.
pub fn redact(text: &[u8], findings: &[Finding], how: &Redaction) -> Vec<u8> {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .iter()
        .map(|f| (f.start.min(text.len()), f.end.min(text.len()), &*f.rule))
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut merged: Vec<(usize, usize, &str)> = Vec::with_capacity(spans.len());
    for (s, e, rule) in spans {
        if s >= e {
            continue;
        }
        match merged.last_mut() {
            Some(last) if s < last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e, rule)),
        }
    }
    let mut out = Vec::with_capacity(text.len());
    let mut pos = 0usize;
    for (s, e, rule) in merged {
        out.extend_from_slice(text.get(pos..s).unwrap_or(&[]));
        out.extend_from_slice(&placeholder(rule, text.get(s..e).unwrap_or(&[]), how));
        pos = e;
    }
    out.extend_from_slice(text.get(pos..).unwrap_or(&[]));
    out
}
