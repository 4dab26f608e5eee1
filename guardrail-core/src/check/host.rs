//! Host allowlist check for URL arguments (SSRF).
// INTERFACE (filled in by the host-check work):
//
// #[derive(Debug, Clone, Deserialize, Serialize)] #[serde(deny_unknown_fields)]
// pub struct HttpConfig { pub schemes: Vec<String>, pub allow: Vec<String>,
//                         pub max_url_bytes: usize, pub resolve_dns: bool }
// impl Default for HttpConfig  // schemes ["https","http"], allow [], 8192, false
// pub struct HostChecker { .. }
// impl HostChecker {
//     pub fn new(cfg: &HttpConfig) -> Result<Self, Vec<PolicyIssue>>;
//     pub fn check(&self, url: &str) -> Result<CheckedUrl, HostError>;
// }
// pub enum HostError { .. }  // thiserror, impl Coded
