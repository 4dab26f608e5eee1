//! Policy file types, loading and validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::PolicyIssue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::action::tools::{ArgKind, ArgPattern, BlastRadius, Builtin};
use crate::check::host::HttpConfig;
use crate::check::path::WorkspaceConfig;
use crate::check::sql::SqlConfig;
use crate::classify::InputConfig;
use crate::scan::SecretRulesConfig;
use crate::scan::pii::PiiConfig;

/// The embedded default policy text.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../policy/default.toml");

/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Largest custom tool schema file accepted, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// The whole policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Size and depth limits on untrusted input.
    pub limits: Limits,
    /// The workspace root for path arguments.
    pub workspace: WorkspaceConfig,
    /// The URL/host allowlist.
    pub http: HttpConfig,
    /// The SQL read-only check.
    pub sql: SqlConfig,
    /// Secret scanning of arguments.
    pub secrets: SecretsConfig,
    /// PII recognizers for tool output.
    pub pii: PiiConfig,
    /// Screening of untrusted input: heuristics, and the classifier when a model is set.
    pub input: InputConfig,
    /// What happens to calls of high-blast-radius tools.
    pub review: ReviewConfig,
    /// Per-tool settings; built-in tools are present unless disabled here.
    pub tools: BTreeMap<String, ToolConfig>,
    /// The second-stage judge for `review` calls (none unless an endpoint is set).
    pub judge: crate::judge::JudgeConfig,
}

/// Limits on untrusted model output. Hitting one is a deny, never a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest model output screened, in bytes (default 1 MiB).
    pub max_input_bytes: usize,
    /// Deepest JSON nesting accepted (default 32).
    pub max_json_depth: usize,
    /// Most tool calls in one output (default 16).
    pub max_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 1 << 20,
            max_json_depth: 32,
            max_calls: 16,
        }
    }
}

/// Secret scanning of string arguments.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Scan every string argument (and its decoded views) for credentials (default true).
    pub scan_arguments: bool,
    /// The rule pack: the built-in rules plus your files and inline rules, minus disabled ids.
    /// Rule files are read relative to the policy file.
    pub rules: SecretRulesConfig,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            scan_arguments: true,
            rules: SecretRulesConfig::default(),
        }
    }
}

/// What a structurally sound call to a high-blast-radius tool gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HighBlastRadius {
    /// `review`: a second stage (judge or human) decides (default).
    Review,
    /// `deny`: refused outright.
    Deny,
    /// `allow`: no second stage.
    Allow,
}

/// Second-stage routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Decision for high-blast-radius tools (default `review`).
    pub high_blast_radius: HighBlastRadius,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            high_blast_radius: HighBlastRadius::Review,
        }
    }
}

/// Settings for one tool.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolConfig {
    /// Whether the tool is allowlisted (default true).
    pub enabled: bool,
    /// Blast radius; built-in default: `read_file` low, the rest high; custom tools: high.
    pub blast_radius: Option<BlastRadius>,
    /// Custom tools only: JSON Schema file, relative to the policy file.
    pub schema: Option<PathBuf>,
    /// Custom tools only: argument name or JSON pointer (`*` matches any key/index) → kind.
    /// String arguments not listed are free text.
    pub args: BTreeMap<String, ArgKind>,
    /// The schema file's content, read at load time.
    #[serde(skip)]
    pub loaded_schema: Option<Value>,
}

impl Default for ToolConfig {
    fn default() -> Self {
        ToolConfig {
            enabled: true,
            blast_radius: None,
            schema: None,
            args: BTreeMap::new(),
            loaded_schema: None,
        }
    }
}

/// A policy that could not be loaded or compiled: every issue found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy{}: {}", source_name.as_deref().map(|s| format!(" `{s}`")).unwrap_or_default(), issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    /// The file, when loaded from one.
    pub source_name: Option<String>,
    /// Every problem.
    pub issues: Vec<PolicyIssue>,
}

impl PolicyError {
    /// An error with the given issues.
    pub fn new(issues: Vec<PolicyIssue>) -> Self {
        PolicyError {
            source_name: None,
            issues,
        }
    }

    fn single(key: &str, message: impl Into<String>) -> Self {
        PolicyError::new(vec![PolicyIssue::new(key, message)])
    }

    fn named(mut self, path: &Path) -> Self {
        self.source_name = Some(path.display().to_string());
        self
    }
}

impl Policy {
    /// The embedded secure default: built-in tools, no hosts, `/workspace/`, read-only SQL.
    pub fn builtin() -> Policy {
        // The embedded text is covered by a test; an error here would be a build defect, and the
        // fallback (serde defaults) is the same secure policy.
        Policy::from_toml_str(DEFAULT_POLICY_TOML, None).unwrap_or_default()
    }

    /// Parses a policy from TOML. Custom tool schemas are read relative to `base_dir`
    /// (required when the policy declares custom tools).
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::single(
                "",
                format!("larger than {MAX_POLICY_BYTES} bytes"),
            ));
        }
        let mut policy: Policy = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| format!("byte {}", s.start))
                .unwrap_or_default();
            PolicyError::single(&key, e.message().to_owned())
        })?;
        let mut issues = policy.validate();
        policy.load_schemas(base_dir, &mut issues);
        if let Some(base) = base_dir {
            policy.input.resolve_paths(base);
            for file in &mut policy.secrets.rules.extra_files {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        policy.secrets.rules.load_files();
        if issues.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError::new(issues))
        }
    }

    /// Reads and parses a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        Policy::from_file_with_text(path).map(|(policy, _)| policy)
    }

    /// [`Policy::from_file`], also returning the file's text (for tools that edit the file,
    /// such as `judge calibrate` writing thresholds into it).
    pub fn from_file_with_text(path: &Path) -> Result<(Policy, String), PolicyError> {
        let text = read_limited(path, MAX_POLICY_BYTES)
            .map_err(|e| PolicyError::single("", e).named(path))?;
        let policy = Policy::from_toml_str(&text, Some(path.parent().unwrap_or(Path::new("."))))
            .map_err(|e| e.named(path))?;
        Ok((policy, text))
    }

    fn validate(&self) -> Vec<PolicyIssue> {
        let mut issues = Vec::new();
        let l = &self.limits;
        if l.max_input_bytes == 0 || l.max_input_bytes > 64 << 20 {
            issues.push(PolicyIssue::new(
                "limits.max_input_bytes",
                "must be 1..=67108864",
            ));
        }
        if l.max_json_depth < 3 || l.max_json_depth > 256 {
            issues.push(PolicyIssue::new("limits.max_json_depth", "must be 3..=256"));
        }
        if l.max_calls == 0 || l.max_calls > 1024 {
            issues.push(PolicyIssue::new("limits.max_calls", "must be 1..=1024"));
        }
        issues.extend(self.judge.validate("judge"));
        for (name, tool) in &self.tools {
            let key = format!("tools.{name}");
            let builtin = Builtin::ALL.iter().any(|b| b.name() == name);
            if !valid_tool_name(name) {
                issues.push(PolicyIssue::new(
                    &key,
                    "tool names are 1-64 characters of [A-Za-z0-9_.-]",
                ));
            }
            if builtin {
                if tool.schema.is_some() {
                    issues.push(PolicyIssue::new(
                        format!("{key}.schema"),
                        "built-in tools use their embedded schema",
                    ));
                }
                if !tool.args.is_empty() {
                    issues.push(PolicyIssue::new(
                        format!("{key}.args"),
                        "built-in tools have fixed argument kinds",
                    ));
                }
            } else if tool.enabled && tool.schema.is_none() {
                issues.push(PolicyIssue::new(
                    format!("{key}.schema"),
                    "a custom tool needs a JSON Schema file",
                ));
            }
            for pattern in tool.args.keys() {
                if let Err(e) = ArgPattern::parse(pattern) {
                    issues.push(PolicyIssue::new(format!("{key}.args.{pattern}"), e));
                }
            }
        }
        issues
    }

    fn load_schemas(&mut self, base_dir: Option<&Path>, issues: &mut Vec<PolicyIssue>) {
        for (name, tool) in &mut self.tools {
            let Some(rel) = tool.schema.as_ref().filter(|_| tool.enabled) else {
                continue;
            };
            let key = format!("tools.{name}.schema");
            let Some(base) = base_dir else {
                issues.push(PolicyIssue::new(
                    key,
                    "schema files need a policy loaded from a file",
                ));
                continue;
            };
            let path = base.join(rel);
            match read_limited(&path, MAX_SCHEMA_BYTES).and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("`{}`: {e}", path.display()))
            }) {
                Ok(value) => tool.loaded_schema = Some(value),
                Err(e) => issues.push(PolicyIssue::new(key, e)),
            }
        }
    }

    /// The blast radius the policy gives a tool.
    pub fn blast_radius(&self, name: &str) -> BlastRadius {
        let configured = self.tools.get(name).and_then(|t| t.blast_radius);
        let builtin = Builtin::ALL
            .iter()
            .find(|b| b.name() == name)
            .map(|b| b.default_blast_radius());
        configured.or(builtin).unwrap_or(BlastRadius::High)
    }

    /// SHA-256 over the policy's canonical JSON form (custom schemas and the secret rule
    /// files' text included), hex. Audit lines carry it so a decision can be tied to the exact
    /// policy that made it.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        if let Ok(bytes) = serde_json::to_vec(self) {
            hasher.update(&bytes);
        }
        for (name, tool) in &self.tools {
            if let Some(schema) = &tool.loaded_schema {
                hasher.update(name.as_bytes());
                hasher.update(schema.to_string().as_bytes());
            }
        }
        for (path, text) in self.secrets.rules.loaded_files() {
            let text = match text {
                Ok(t) | Err(t) => t,
            };
            for part in [path.to_string_lossy().as_bytes(), text.as_bytes()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        }
        hex::encode(hasher.finalize())
    }
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn read_limited(path: &Path, limit: usize) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
    let bytes =
        crate::open::read_bounded(file, u64::try_from(limit).unwrap_or(u64::MAX)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                format!("`{}` is larger than {limit} bytes", path.display())
            } else {
                format!("cannot read `{}`: {e}", path.display())
            }
        })?;
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "cannot read `{}`: stream did not contain valid UTF-8",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let policy = Policy::from_toml_str(DEFAULT_POLICY_TOML, None).unwrap();
        assert!(policy.http.allow.is_empty());
        assert_eq!(policy.blast_radius("read_file"), BlastRadius::Low);
        assert_eq!(policy.blast_radius("write_file"), BlastRadius::High);
        assert_eq!(policy.hash().len(), 64);
    }

    #[test]
    fn every_issue_is_reported() {
        let text = r#"
            [limits]
            max_calls = 0
            max_json_depth = 1
            [tools."bad name"]
            enabled = true
            [tools.custom]
            blast_radius = "low"
            [tools.read_file]
            args = { path = "url" }
        "#;
        let err = Policy::from_toml_str(text, None).unwrap_err();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"limits.max_calls"), "{keys:?}");
        assert!(keys.contains(&"limits.max_json_depth"), "{keys:?}");
        assert!(keys.contains(&"tools.bad name"), "{keys:?}");
        assert!(keys.contains(&"tools.custom.schema"), "{keys:?}");
        assert!(keys.contains(&"tools.read_file.args"), "{keys:?}");
    }

    #[test]
    fn secret_rule_files_are_read_once_and_hashed() {
        let dir = std::env::temp_dir().join(format!("guardrail-rulefile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rule = |kw: &str| {
            format!(
                "[[rule]]\nid = \"acme\"\ndescription = \"d\"\nkeywords = [\"{kw}_\"]\npattern = '{kw}_(?P<secret>[a-z0-9]{{24}})'\n"
            )
        };
        std::fs::write(dir.join("rules.toml"), rule("acme")).unwrap();
        let text = "[secrets.rules]\nextra_files = [\"rules.toml\"]\n";
        let first = Policy::from_toml_str(text, Some(&dir)).unwrap();
        std::fs::write(dir.join("rules.toml"), rule("zeta")).unwrap();
        let second = Policy::from_toml_str(text, Some(&dir)).unwrap();
        assert_ne!(
            first.hash(),
            second.hash(),
            "the file's text is part of the hash"
        );
        // A scanner built from the first policy now still compiles what that policy read.
        let scanner = crate::scan::SecretScanner::new(&first.secrets.rules).unwrap();
        let token = "acme_q8x2m4k7p1z9w3v6n5b0c8d2";
        assert_eq!(scanner.scan(token.as_bytes()).len(), 1);
        assert!(scanner.scan(b"zeta_q8x2m4k7p1z9w3v6n5b0c8d2").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Policy::from_toml_str("[http]\nalow = []\n", None).unwrap_err();
        assert!(err.to_string().contains("alow"), "{err}");
    }
}
