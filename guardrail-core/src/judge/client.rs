//! The HTTP client: blocking `ureq`, rustls for `https`.

use std::time::Duration;

use super::{JudgeConfig, JudgeError, Transport};
use crate::policy::PolicyIssue;

/// Sends chat-completions requests to `{endpoint}/v1/chat/completions`.
///
/// One deadline (`timeout_ms`) covers connect to last body byte; redirects are refused (they
/// would carry the request, and perhaps the key, elsewhere); proxies from the environment are
/// not used. Any non-2xx status is an error.
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    authorization: Option<String>,
    timeout_ms: u64,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<set>"),
            )
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A client for the endpoint of `config`. Reads the bearer token from `api_key_env`.
    pub fn new(config: &JudgeConfig) -> Result<HttpTransport, Vec<PolicyIssue>> {
        let Some(url) = config.completions_url() else {
            return Err(vec![PolicyIssue::new(
                "judge.endpoint",
                "a judge needs an endpoint",
            )]);
        };
        let authorization = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() && !key.chars().any(char::is_control) => {
                    Some(format!("Bearer {key}"))
                }
                _ => {
                    return Err(vec![PolicyIssue::new(
                        "judge.api_key_env",
                        format!("environment variable `{var}` is not set to a usable key"),
                    )]);
                }
            },
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.timeout_ms)))
            .max_redirects(0)
            .proxy(None)
            .http_status_as_error(true)
            .user_agent("guardrail-judge")
            .build()
            .new_agent();
        Ok(HttpTransport {
            agent,
            url,
            authorization,
            timeout_ms: config.timeout_ms,
        })
    }

    fn map_error(&self, e: ureq::Error, max_bytes: usize) -> JudgeError {
        match e {
            ureq::Error::StatusCode(status) => JudgeError::Status { status },
            ureq::Error::Timeout(_) => JudgeError::Timeout {
                ms: self.timeout_ms,
            },
            ureq::Error::BodyExceedsLimit(_) => JudgeError::ResponseTooLarge { limit: max_bytes },
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                JudgeError::Timeout {
                    ms: self.timeout_ms,
                }
            }
            other => JudgeError::Transport(other.to_string()),
        }
    }
}

impl Transport for HttpTransport {
    fn complete(&self, body: &[u8], max_bytes: usize) -> Result<Vec<u8>, JudgeError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth);
        }
        let mut response = request
            .send(body)
            .map_err(|e| self.map_error(e, max_bytes))?;
        response
            .body_mut()
            .with_config()
            .limit(u64::try_from(max_bytes).unwrap_or(u64::MAX))
            .read_to_vec()
            .map_err(|e| self.map_error(e, max_bytes))
    }
}
