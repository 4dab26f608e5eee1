//! The policy: one typed, validated structure, loaded from TOML.

use serde::Serialize;

/// One problem found while loading or compiling a policy. Loading reports all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyIssue {
    /// Dotted key of the offending setting, e.g. `http.allow[2]`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl PolicyIssue {
    /// A new issue for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyIssue { key: key.into(), message: message.into() }
    }
}

impl std::fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}
