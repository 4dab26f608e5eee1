//! Secret scanning of arguments and tool output, with span-exact redaction.
//!
//! # API
//! - [`SecretScanner`]: the rule pack ([`SecretRulesConfig`], the built-in pack in
//!   `guardrail-core/rules/secrets.toml`) compiled once; share it across threads.
//!   - [`SecretScanner::scan`]`(&[u8]) -> Vec<Finding>`: byte spans of secrets, merged so that no
//!     two findings overlap.
//!   - [`SecretScanner::scan_with_decodings`]: the same plus base64 (standard and URL-safe), hex
//!     and percent-encoded views of the text; a secret found in a view is reported at the span
//!     of the encoded text that carries it. This is the call for tool-call arguments.
//! - [`StreamScanner`]: tool output of any size, in chunks of any size, in constant memory;
//!   returns findings (absolute byte offsets) and the redacted bytes that are ready to emit. A
//!   secret split across chunks is found and redacted exactly once, and the concatenated output
//!   equals [`redact`] applied to the whole text.
//! - [`redact`] with a [`Redaction`]: `[REDACTED:<rule>]`, or a keyed deterministic placeholder
//!   `[REDACTED:<rule>:<12 hex of HMAC-SHA256(key, secret)>]`.
//! - [`SeenSecrets`]: a session's set of secrets seen in tool output, stored as keyed hashes
//!   (never plaintext), so that a later action carrying one of them, plainly or encoded, is
//!   caught by [`SeenSecrets::contains_any`].
//!
//! A [`Finding`] never holds secret text: a rule id, a type, a span and a score. To deny a call,
//! turn it into a [`Reason`] with [`Finding::to_reason`]
//! ([`ReasonCode::SecretInArgument`]).
//!
//! # How the scan works
//! One pass reads the text 64 bytes at a time against a 256-entry table that marks each
//! keyword's *anchor* (its rarest byte; lowercase letters only when a keyword has nothing else)
//! and the assignment operators `=`, `:`, `>`, `,`. Blocks without a marked byte are skipped;
//! prose has few, so it streams at table speed.
//! - At an anchor, only the keywords anchored on that byte whose neighbouring byte matches are
//!   compared; a *pattern* rule owning a found keyword runs its regex in a window from at most
//!   `before` bytes before the keyword to `max_len` bytes after it (literal prefixes such as
//!   `ghp_`, `xoxb-`, `AKIA` have `before = 0`). Captures run only over the match the DFA found.
//! - At an operator, the identifier it assigns to is parsed back (`K = v`, `K: v`,
//!   `"K" => "v"`, `K := v`, `<K>v</K>`, `f("K", "v")`, `var K string = v`), its hashed
//!   trigrams are checked against the *assignment* rules' keywords, and only then the keywords
//!   filed under the trigrams it holds are compared to find which rules apply (keywords must
//!   sit at identifier-word boundaries: `etsy` is not in `SetSysctl`); each rule's anchored
//!   value regex is tested at the value's first byte. Common words (`token`, `password`)
//!   therefore cost nothing unless something is assigned to an identifier made of them. A bare
//!   `--flag value` is not an assignment.
//!
//! Overlapping findings are merged; the merged finding keeps the rule of its highest-scoring
//! part.
//!
//! # Untrusted input
//! Any bytes are accepted (not only UTF-8) and scanning never panics. Work is linear in the
//! input: every keyword hit searches a window bounded by the rule's maximum match length (rules
//! whose regex is unbounded must declare `max_len`, at most [`MAX_RULE_LEN`]), and the total of
//! all windows is capped at 64 bytes per input byte plus 1 MiB; past that cap the rest of the
//! input is reported as one finding of rule `scan-budget-exceeded` (fail closed). Decoded views
//! are capped at [`MAX_VIEWS`] per input, [`MAX_DECODED_BYTES`] decoded bytes in total, and a
//! depth of 2 (an encoding inside an encoding). Rule packs are limited to
//! [`MAX_RULE_FILE_BYTES`] per file and [`MAX_RULES`] rules; each regex to 1 MiB compiled.
//! [`StreamScanner`] holds at most its carried tail ([`SecretScanner::reach`] bytes, about
//! 13 KiB with the built-in pack) plus one batch of 64 KiB. [`SeenSecrets`] holds at most
//! [`MAX_SEEN`] secrets; past that the oldest are not evicted and new ones are not added.

mod anchor;
mod decode;
pub mod pii;
mod redact;
pub mod secrets;
mod session;
mod stream;

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::verdict::{Reason, ReasonCode};

pub use decode::{Encoding, MAX_DECODED_BYTES, MAX_VIEWS};
pub use redact::{Redaction, RedactionKey, placeholder, redact};
pub use secrets::{
    Checksum, MAX_RULE_FILE_BYTES, MAX_RULE_LEN, MAX_RULES, RuleDef, SecretRulesConfig,
    SecretScanner, Validator,
};
pub use session::{MAX_SEEN, SeenMatch, SeenSecrets};
pub use stream::{StreamOutput, StreamScanner};

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A credential, key or token.
    Secret,
    /// Personal data ([`pii`]); the rule is the Presidio entity type.
    Pii,
}

impl FindingKind {
    /// `secret` or `pii`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Secret => "secret",
            FindingKind::Pii => "pii",
        }
    }
}

/// `secrets` (sorted, non-overlapping, as [`SecretScanner::scan`] returns them) together with
/// the PII that `pii` finds in `text`, sorted by start; a PII finding that overlaps a secret is
/// dropped (the secret's placeholder covers it). In text that is not UTF-8, every valid stretch
/// between invalid bytes is scanned for PII. The result can go to [`redact`].
pub fn with_pii(secrets: Vec<Finding>, pii: &pii::PiiScanner, text: &[u8]) -> Vec<Finding> {
    let mut secrets = secrets;
    secrets.sort_by_key(|f| (f.start, f.end));
    let mut all = Vec::with_capacity(secrets.len());
    for f in pii.scan_bytes(text) {
        // Sorted and non-overlapping: only the last secret starting before this PII ends can
        // reach into it.
        let before = secrets.partition_point(|s| s.start < f.end);
        if before
            .checked_sub(1)
            .and_then(|i| secrets.get(i))
            .is_some_and(|s| s.end > f.start)
        {
            continue;
        }
        all.push(Finding {
            rule: Arc::from(f.entity_type),
            kind: FindingKind::Pii,
            start: f.start,
            end: f.end,
            score: f.score,
            encoding: None,
        });
    }
    all.append(&mut secrets);
    all.sort_by_key(|f| (f.start, f.end));
    all
}

/// One secret in a text: which rule, where, how sure. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule id, e.g. `github-pat`.
    #[serde(serialize_with = "ser_arc_str")]
    pub rule: Arc<str>,
    /// The kind of finding (serialized as `type`).
    #[serde(rename = "type")]
    pub kind: FindingKind,
    /// First byte of the secret (or of the encoded text that carries it).
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Confidence in `0.0..=1.0`: the rule's score, raised to 0.99 when a checksum validates.
    pub score: f32,
    /// Set when the secret was found in a decoded view of the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl Finding {
    /// Length of the span in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the span is empty (never for findings the scanner returns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A [`ReasonCode::SecretInArgument`] reason carrying the rule id and the span.
    pub fn to_reason(&self) -> Reason {
        let how = match self.encoding {
            Some(e) => format!(" ({} encoded)", e.as_str()),
            None => String::new(),
        };
        Reason::new(
            ReasonCode::SecretInArgument,
            format!(
                "secret matching rule `{}` at bytes {}..{}{how}",
                self.rule, self.start, self.end
            ),
        )
        .with_span(self.start, self.end)
    }
}

fn ser_arc_str<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pii_joins_secrets_without_overlap() {
        let secrets = SecretScanner::builtin().unwrap();
        let pii = pii::PiiScanner::new(&pii::PiiConfig::default()).unwrap();
        let text = b"mail a.b@example.com key ghp_R8fLq2ZxT4vN9bKc7WmJ3sYh6PdA1eGu5XoQ end";
        let all = with_pii(secrets.scan(text), &pii, text);
        let got: Vec<(&str, FindingKind)> = all.iter().map(|f| (&*f.rule, f.kind)).collect();
        assert_eq!(
            got,
            [
                ("EMAIL_ADDRESS", FindingKind::Pii),
                ("github-pat", FindingKind::Secret)
            ]
        );
        assert_eq!(
            redact(text, &all, &Redaction::Label),
            b"mail [REDACTED:EMAIL_ADDRESS] key [REDACTED:github-pat] end".to_vec()
        );
        // A PII span inside a secret is left to the secret; an invalid byte does not end the
        // PII scan.
        let url = b"postgres://app:Xk9vQ2mZ7pL4wR8tYb3N@db.example.com/x a@b.example.org \xff c@d.example.org";
        let all = with_pii(secrets.scan(url), &pii, url);
        let got: Vec<(&str, usize, usize)> =
            all.iter().map(|f| (&*f.rule, f.start, f.end)).collect();
        assert_eq!(
            got,
            [
                ("url-credentials", 15, 35),
                ("EMAIL_ADDRESS", 53, 68),
                ("EMAIL_ADDRESS", 71, 86)
            ],
            "the e-mail look-alike over the password is dropped; the one after the invalid byte is not"
        );
        let led = b"\xff mail alice.smith@example.com ssn 536-22-1234";
        assert_eq!(
            redact(
                led,
                &with_pii(secrets.scan(led), &pii, led),
                &Redaction::Label
            ),
            b"\xff mail [REDACTED:EMAIL_ADDRESS] ssn [REDACTED:US_SSN]".to_vec()
        );
    }
}
