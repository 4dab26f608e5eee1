//! The `[judge]` policy table.

use serde::{Deserialize, Serialize};

use crate::policy::PolicyIssue;

/// What the second stage does when the judge gives no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// `deny`: refuse the action (default).
    Deny,
    /// `review`: send the action to a person.
    Review,
}

/// How the k sample scores become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// `mean` (default). With counterbalanced option orders a pure position effect adds the
    /// same amount to the samples that show one order as it takes from the others, so the mean
    /// cancels it exactly, and it keeps the resolution thresholds are fitted on.
    Mean,
    /// `median`: robust to one wild sample; for even k the mean of the middle two.
    Median,
}

/// How the request asks for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `json_schema` (default): `response_format` with a strict JSON Schema whose `choice`
    /// enumerates the two labels of the sample (OpenAI, vLLM, llama.cpp and others).
    JsonSchema,
    /// `json_object`: for servers that only know JSON mode.
    JsonObject,
    /// `none`: no `response_format`; the prompt alone asks for the JSON object.
    None,
}

/// The second-stage judge: an OpenAI-compatible chat-completions endpoint that scores a
/// structurally sound, high-blast-radius action for the task at hand.
///
/// Without an `endpoint` there is no judge and `review` calls go to a person. The defaults for
/// the thresholds are those of an uncalibrated judge: it can deny (`deny_at = 50`) but never
/// allows (`allow_below = 0`); `guardrail judge calibrate` fits both on a labeled set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {
    /// Base URL of the server (`http` or `https`, no credentials, query or fragment); requests
    /// go to `{endpoint}/v1/chat/completions`. Default: none (no judge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Model name sent in every request. Required with an endpoint. Default: empty.
    pub model: String,
    /// Name of the environment variable holding the bearer token (the token itself never
    /// appears in the policy). Default: none (no `Authorization` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Deadline for one request, connect to last byte, in milliseconds (default 10000,
    /// 1..=600000). Samples run in parallel, so this bounds the whole stage.
    pub timeout_ms: u64,
    /// Samples per action, each with its own option order and labels (default 4, 1..=16).
    pub samples: u32,
    /// How samples are combined (default `mean`).
    pub aggregate: Aggregate,
    /// Aggregated score at or above which the action is denied (default 50, 0..=100).
    pub deny_at: f64,
    /// Aggregated score below which the action is allowed (default 0: never; 0..=`deny_at`).
    /// Scores in between go to a person.
    pub allow_below: f64,
    /// What a timeout, HTTP error, malformed, contradictory or refused answer leads to
    /// (default `deny`). Never `allow`.
    pub on_error: OnError,
    /// `max_tokens` of each request (default 256, 16..=4096).
    pub max_tokens: u32,
    /// `temperature` of each request (default 0, 0..=2).
    pub temperature: f64,
    /// How structured output is requested (default `json_schema`).
    pub response_format: ResponseFormat,
    /// Ask for log-probabilities and, when the server returns them for the chosen label,
    /// score by the probability of the "block" label instead of the stated score
    /// (default false).
    pub use_logprobs: bool,
    /// Largest response body read, in bytes (default 65536, 1024..=16777216); a larger one is
    /// an error.
    pub max_response_bytes: usize,
    /// Largest task context plus action put in a prompt, in bytes (default 524288,
    /// 1024..=16777216); a larger one is an error.
    pub max_input_bytes: usize,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            endpoint: None,
            model: String::new(),
            api_key_env: None,
            timeout_ms: 10_000,
            samples: 4,
            aggregate: Aggregate::Mean,
            deny_at: 50.0,
            allow_below: 0.0,
            on_error: OnError::Deny,
            max_tokens: 256,
            temperature: 0.0,
            response_format: ResponseFormat::JsonSchema,
            use_logprobs: false,
            max_response_bytes: 64 << 10,
            max_input_bytes: 512 << 10,
        }
    }
}

impl JudgeConfig {
    /// Whether an endpoint is configured.
    pub fn enabled(&self) -> bool {
        self.endpoint.is_some()
    }

    /// The chat-completions URL, when an endpoint is configured.
    pub fn completions_url(&self) -> Option<String> {
        self.endpoint
            .as_deref()
            .map(|e| format!("{}/v1/chat/completions", e.trim_end_matches('/')))
    }

    /// Every problem with these settings, keyed under `key` (e.g. `judge`).
    pub fn validate(&self, key: &str) -> Vec<PolicyIssue> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, message: &str| {
            issues.push(PolicyIssue::new(format!("{key}.{field}"), message));
        };
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) => {
                    if !matches!(u.scheme(), "http" | "https") {
                        issue("endpoint", "must be an http or https URL");
                    }
                    if !u.username().is_empty() || u.password().is_some() {
                        issue("endpoint", "must not carry credentials; use `api_key_env`");
                    }
                    if u.query().is_some() || u.fragment().is_some() {
                        issue("endpoint", "must not have a query or fragment");
                    }
                    if u.host().is_none() {
                        issue("endpoint", "must name a host");
                    }
                }
                Err(_) => issue("endpoint", "is not a valid URL"),
            }
            if self.model.trim().is_empty() {
                issue("model", "is required when an endpoint is set");
            }
        }
        if self.model.len() > 256 || self.model.chars().any(char::is_control) {
            issue(
                "model",
                "must be at most 256 bytes without control characters",
            );
        }
        if let Some(var) = &self.api_key_env {
            let valid = !var.is_empty()
                && var.len() <= 128
                && var
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                issue(
                    "api_key_env",
                    "must be an environment variable name of [A-Z0-9_]",
                );
            }
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            issue("timeout_ms", "must be 1..=600000");
        }
        if !(1..=16).contains(&self.samples) {
            issue("samples", "must be 1..=16");
        }
        if !self.deny_at.is_finite() || !(0.0..=100.0).contains(&self.deny_at) {
            issue("deny_at", "must be 0..=100");
        }
        if !self.allow_below.is_finite() || !(0.0..=100.0).contains(&self.allow_below) {
            issue("allow_below", "must be 0..=100");
        } else if self.allow_below > self.deny_at {
            issue("allow_below", "must not be above `deny_at`");
        }
        if !(16..=4096).contains(&self.max_tokens) {
            issue("max_tokens", "must be 16..=4096");
        }
        if !self.temperature.is_finite() || !(0.0..=2.0).contains(&self.temperature) {
            issue("temperature", "must be 0..=2");
        }
        if !(1024..=16 << 20).contains(&self.max_response_bytes) {
            issue("max_response_bytes", "must be 1024..=16777216");
        }
        if !(1024..=16 << 20).contains(&self.max_input_bytes) {
            issue("max_input_bytes", "must be 1024..=16777216");
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_never_allow() {
        let c = JudgeConfig::default();
        assert!(c.validate("judge").is_empty());
        assert!(!c.enabled());
        assert_eq!(c.allow_below, 0.0);
        assert_eq!(c.on_error, OnError::Deny);
    }

    #[test]
    fn every_problem_is_reported() {
        let c: JudgeConfig = toml::from_str(
            r#"
            endpoint = "https://user:pw@judge.example/?x=1"
            timeout_ms = 0
            samples = 0
            deny_at = 40
            allow_below = 60
            api_key_env = "lower"
            max_tokens = 1
            "#,
        )
        .unwrap();
        let keys: Vec<String> = c.validate("judge").into_iter().map(|i| i.key).collect();
        for k in [
            "judge.endpoint",
            "judge.model",
            "judge.timeout_ms",
            "judge.samples",
            "judge.allow_below",
            "judge.api_key_env",
            "judge.max_tokens",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        assert!(toml::from_str::<JudgeConfig>("api_key = \"sk-123\"").is_err());
    }

    #[test]
    fn completions_url_joins_the_path() {
        let c = JudgeConfig {
            endpoint: Some("http://127.0.0.1:8000/".into()),
            ..JudgeConfig::default()
        };
        assert_eq!(
            c.completions_url().as_deref(),
            Some("http://127.0.0.1:8000/v1/chat/completions")
        );
    }
}
