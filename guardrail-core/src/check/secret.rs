//! The secret check on string arguments: a pluggable stage.
//!
//! Any [`SecretDetector`] can sit here; the guard uses the full rule pack of
//! [`crate::scan::SecretScanner`], decoded views included (an encoded secret in a URL is still
//! exfiltration). A finding becomes [`ReasonCode::SecretInArgument`] with the rule id and the
//! byte span, never the secret.

use crate::verdict::{Reason, ReasonCode};

/// One secret found in a string argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHit {
    /// Rule id, e.g. `aws-access-key-id`.
    pub rule: String,
    /// Byte span of the secret (or of the encoded text carrying it) in the argument.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Most secrets [`SecretCheck::scrub`] replaces one by one in a text.
pub const MAX_SCRUBBED: usize = 16;

/// Finds secrets in argument text.
pub trait SecretDetector: Send + Sync + std::fmt::Debug {
    /// The first secret in `text`, if any.
    fn find(&self, text: &str) -> Option<SecretHit>;

    /// Does ahead of time whatever the detector would otherwise do on first use (a service
    /// calls this at start so that no request pays for it). Default: nothing.
    fn prepare(&self) {}
}

/// The secret stage of argument screening.
#[derive(Debug)]
pub struct SecretCheck {
    detector: Box<dyn SecretDetector>,
}

impl SecretCheck {
    /// A stage around any detector.
    pub fn new(detector: Box<dyn SecretDetector>) -> Self {
        SecretCheck { detector }
    }

    /// [`SecretDetector::prepare`] of the detector.
    pub fn prepare(&self) {
        self.detector.prepare();
    }

    /// `text` with each secret the detector finds replaced by `[REDACTED:<rule>]`; `None` when
    /// it finds none. Past [`MAX_SCRUBBED`] secrets the whole text is replaced.
    pub fn scrub(&self, text: &str) -> Option<String> {
        let mut hit = self.detector.find(text)?;
        let mut out = text.to_owned();
        for _ in 0..MAX_SCRUBBED {
            let label = format!("[REDACTED:{}]", hit.rule);
            match out.get(hit.start..hit.end) {
                Some(_) => out.replace_range(hit.start..hit.end, &label),
                None => break,
            }
            match self.detector.find(&out) {
                None => return Some(out),
                Some(next) => hit = next,
            }
        }
        Some("[REDACTED: text holding secrets]".to_owned())
    }

    /// Refuses text that carries a secret.
    pub fn check(&self, text: &str) -> Result<(), Reason> {
        match self.detector.find(text) {
            None => Ok(()),
            Some(hit) => Err(Reason::new(
                ReasonCode::SecretInArgument,
                format!(
                    "secret matching rule `{}` at bytes {}..{}",
                    hit.rule, hit.start, hit.end
                ),
            )
            .with_span(hit.start, hit.end)),
        }
    }
}

impl SecretDetector for crate::scan::SecretScanner {
    fn prepare(&self) {
        self.compile_rules();
    }

    fn find(&self, text: &str) -> Option<SecretHit> {
        let finding = self
            .scan_with_decodings(text.as_bytes())
            .into_iter()
            .next()?;
        Some(SecretHit {
            rule: finding.rule.to_string(),
            start: finding.start,
            end: finding.end,
        })
    }
}
