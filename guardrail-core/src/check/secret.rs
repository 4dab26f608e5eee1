//! The secret check on string arguments: a pluggable stage.
//!
//! Any [`SecretDetector`] can sit here; the guard uses the full rule pack from
//! [`crate::scan`]. A finding becomes [`ReasonCode::SecretInArgument`] with the rule id and the
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

/// Finds secrets in argument text.
pub trait SecretDetector: Send + Sync + std::fmt::Debug {
    /// The first secret in `text`, if any.
    fn find(&self, text: &str) -> Option<SecretHit>;
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

/// A minimal detector: a handful of unmistakable credential formats. The full rule pack in
/// [`crate::scan`] replaces it where available.
#[derive(Debug)]
pub struct MinimalDetector {
    set: regex::RegexSet,
    ids: Vec<&'static str>,
    patterns: Vec<regex::Regex>,
}

const MINIMAL_RULES: &[(&str, &str)] = &[
    ("aws-access-key-id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("private-key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    ("github-token", r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    (
        "anthropic-api-key",
        r"\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,}",
    ),
];

impl MinimalDetector {
    /// Compiles the minimal rules.
    pub fn new() -> Result<Self, regex::Error> {
        let set = regex::RegexSet::new(MINIMAL_RULES.iter().map(|(_, p)| *p))?;
        let patterns = MINIMAL_RULES
            .iter()
            .map(|(_, p)| regex::Regex::new(p))
            .collect::<Result<_, _>>()?;
        Ok(MinimalDetector {
            set,
            ids: MINIMAL_RULES.iter().map(|(id, _)| *id).collect(),
            patterns,
        })
    }
}

impl SecretDetector for MinimalDetector {
    fn find(&self, text: &str) -> Option<SecretHit> {
        let i = self.set.matches(text).into_iter().next()?;
        let m = self.patterns.get(i)?.find(text)?;
        Some(SecretHit {
            rule: (*self.ids.get(i)?).to_owned(),
            start: m.start(),
            end: m.end(),
        })
    }
}
