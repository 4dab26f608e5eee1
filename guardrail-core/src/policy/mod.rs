//! The policy: one typed, validated structure, loaded from TOML.
//!
//! Every section has a documented default, and the defaults are the secure ones: no hosts are
//! allowed, paths must be beneath `/workspace/`, SQL must be read-only, writes, HTTP and database
//! calls go to a second stage. [`Policy::builtin`] is that default (the file
//! `guardrail-core/policy/default.toml`, embedded). Loading reports every problem at once, with
//! the key it belongs to; compiling into a [`Guard`](crate::Guard) does the same for problems
//! only compilation can see (bad regexes, CIDRs, schemas).
//!
//! ```toml
//! [workspace]
//! root = "/workspace/"
//!
//! [http]
//! allow = ["api.github.com", "*.docs.example.com", "10.20.0.0/16", "internal.example:8443"]
//!
//! [sql]
//! dialect = "postgresql"
//!
//! [tools.write_file]
//! blast_radius = "high"
//!
//! [tools.search_issues]          # a custom tool
//! schema = "schemas/search_issues.json"
//! blast_radius = "low"
//! args = { repo_url = "url", "/filters/*/path" = "path" }
//! ```

use serde::Serialize;

mod file;
pub use file::*;

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
        PolicyIssue {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}
