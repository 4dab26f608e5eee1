//! The compiled policy in force, and the per-request host grants it permits.
//!
//! A request may ask for extra hosts (`allow_hosts`). Only entries listed in the policy's
//! `http.grantable` or the server's `--grantable-hosts` are granted; anything else refuses the whole request
//! with `PERMISSION_DENIED`, so a compromised caller cannot widen the policy. A grant is
//! screened by a guard compiled from the policy with the granted entries added to
//! `http.allow`; those guards are cached per set of grants (at most [`MAX_GRANT_GUARDS`]).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use guardrail_core::classify::InputScreener;
use guardrail_core::scan::SecretScanner;
use guardrail_core::scan::pii::PiiScanner;
use guardrail_core::{Guard, Policy, PolicyError, PolicyIssue};
use tonic::Status;

/// Most distinct grant sets kept compiled; past that the cache starts over.
pub const MAX_GRANT_GUARDS: usize = 64;

/// A policy, compiled: the action guard, the input screener and the secret scanner it
/// configures. A reload builds a new engine and swaps it in whole.
#[derive(Debug)]
pub struct Engine {
    guard: Guard,
    grantable: BTreeSet<String>,
    granted: Mutex<HashMap<Vec<String>, Guard>>,
    inputs: Arc<InputScreener>,
    secrets: Arc<SecretScanner>,
    pii: Arc<PiiScanner>,
    model_hash: String,
}

impl Engine {
    /// Loads the policy (`None`: the embedded default) and compiles it, checking that every
    /// grantable host is a valid `http.allow` entry for it.
    pub fn load(config: Option<&Path>, grantable: &[String]) -> Result<Engine, PolicyError> {
        Engine::load_after(config, grantable, None)
    }

    /// [`Engine::load`] for a reload: the input screener of `previous` is kept when the
    /// `[input]` settings did not change (its model is pinned by hash, so the same settings
    /// load the same model), so a reload does not load the model again.
    pub fn load_after(
        config: Option<&Path>,
        grantable: &[String],
        previous: Option<&Engine>,
    ) -> Result<Engine, PolicyError> {
        let policy = match config {
            Some(path) => Policy::from_file(path)?,
            None => Policy::builtin(),
        };
        // What the policy lets callers grant, plus what the server's flag adds.
        let grantable: BTreeSet<String> = grantable
            .iter()
            .chain(&policy.http.grantable)
            .map(|h| normalize(h))
            .collect();
        if !grantable.is_empty() {
            let mut widest = policy.clone();
            widest.http.allow.extend(grantable.iter().cloned());
            Guard::new(widest).map_err(|e| {
                PolicyError::new(
                    e.issues
                        .into_iter()
                        .map(|i| {
                            PolicyIssue::new(format!("grantable-hosts ({})", i.key), i.message)
                        })
                        .collect(),
                )
            })?;
        }
        let inputs = match previous {
            Some(p) if p.guard.policy().input == policy.input => p.inputs.clone(),
            _ => Arc::new(InputScreener::new(policy.input.clone()).map_err(PolicyError::new)?),
        };
        let secrets = SecretScanner::new(&policy.secrets.rules).map_err(PolicyError::new)?;
        let pii = Arc::new(PiiScanner::new(&policy.pii).map_err(PolicyError::new)?);
        let model_hash = policy
            .input
            .classifier
            .as_ref()
            .map(|c| c.sha256.clone())
            .or_else(|| policy.input.model.as_ref().map(|m| m.sha256sums.clone()))
            .unwrap_or_default();
        let guard = Guard::new(policy)?;
        // The secret rules' regexes compile on first use unless asked now: a server compiles
        // them (for arguments and for outputs, side by side) before it serves, so that no
        // request pays for a compile.
        std::thread::scope(|scope| {
            let beside =
                std::thread::Builder::new().spawn_scoped(scope, || secrets.compile_rules());
            guard.prepare();
            if beside.is_err() {
                secrets.compile_rules();
            }
        });
        let secrets = Arc::new(secrets);
        Ok(Engine {
            guard,
            grantable,
            granted: Mutex::new(HashMap::new()),
            inputs,
            secrets,
            pii,
            model_hash,
        })
    }

    /// Input screening under this policy.
    pub fn inputs(&self) -> &Arc<InputScreener> {
        &self.inputs
    }

    /// Secret scanning of tool output under this policy.
    pub fn secrets(&self) -> &Arc<SecretScanner> {
        &self.secrets
    }

    /// PII recognizers under this policy (`ScanOutput` with `pii`).
    pub fn pii(&self) -> &Arc<PiiScanner> {
        &self.pii
    }

    /// SHA-256 pin of the classifier model (of its `SHA256SUMS` for a model directory); empty
    /// without one.
    pub fn model_hash(&self) -> &str {
        &self.model_hash
    }

    /// The guard for the policy as written.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The guard for a request that asks for `hosts`, and the grants made (sorted, deduplicated).
    pub fn guard_with(&self, hosts: &[String]) -> Result<(Guard, Vec<String>), Status> {
        if hosts.is_empty() {
            return Ok((self.guard.clone(), Vec::new()));
        }
        let mut wanted: Vec<String> = hosts.iter().map(|h| normalize(h)).collect();
        wanted.sort();
        wanted.dedup();
        if let Some(refused) = wanted.iter().find(|h| !self.grantable.contains(*h)) {
            return Err(Status::permission_denied(format!(
                "host `{refused}` may not be granted per request: the server grants only the \
                 entries in the policy's http.grantable and --grantable-hosts"
            )));
        }
        let mut cache = self
            .granted
            .lock()
            .map_err(|_| Status::internal("grant cache poisoned"))?;
        if let Some(guard) = cache.get(&wanted) {
            return Ok((guard.clone(), wanted));
        }
        let mut policy = self.guard.policy().clone();
        policy.http.allow.extend(wanted.iter().cloned());
        let guard = Guard::new(policy).map_err(|e| {
            tracing::error!(error = %e, "a grantable host set failed to compile");
            Status::internal("the granted hosts could not be compiled into the policy")
        })?;
        if cache.len() >= MAX_GRANT_GUARDS {
            cache.clear();
        }
        cache.insert(wanted.clone(), guard.clone());
        Ok((guard, wanted))
    }
}

fn normalize(host: &str) -> String {
    host.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test and the path of a policy file in it.
    fn policy_path(test: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("guardrail-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("policy.toml");
        (dir, path)
    }

    #[test]
    fn reload_keeps_an_unchanged_input_screener() {
        let (dir, path) = policy_path("engine");
        std::fs::write(&path, "[http]\nallow = [\"a.example.com\"]\n").unwrap();
        let first = Engine::load(Some(&path), &[]).unwrap();
        std::fs::write(&path, "[http]\nallow = [\"b.example.com\"]\n").unwrap();
        let same_input = Engine::load_after(Some(&path), &[], Some(&first)).unwrap();
        assert!(Arc::ptr_eq(first.inputs(), same_input.inputs()));
        assert_ne!(
            first.guard().policy_hash(),
            same_input.guard().policy_hash()
        );
        std::fs::write(&path, "[input]\ndeny_at = 0.8\n").unwrap();
        let new_input = Engine::load_after(Some(&path), &[], Some(&same_input)).unwrap();
        assert!(!Arc::ptr_eq(same_input.inputs(), new_input.inputs()));
        assert_eq!(new_input.inputs().config().deny_at, 0.8);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `api.example.com` is grantable in `engine` but not allowed; nothing else is grantable.
    fn assert_grants_api_only(engine: &Engine) {
        let raw = br#"{"tool":"http_get","args":{"url":"https://api.example.com/x"}}"#;
        assert_eq!(
            engine
                .guard()
                .screen_action(raw)
                .primary_code()
                .map(|c| c.as_str()),
            Some("host_not_allowed"),
            "grantable is not allowed until granted"
        );
        let (guard, granted) = engine.guard_with(&["API.example.com".to_owned()]).unwrap();
        assert_eq!(granted, ["api.example.com"]);
        assert_ne!(
            guard.screen_action(raw).decision,
            guardrail_core::Decision::Deny
        );
        let refused = engine.guard_with(&["evil.example".to_owned()]).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn the_policy_names_what_may_be_granted() {
        let (dir, path) = policy_path("grant");
        std::fs::write(&path, "[http]\ngrantable = [\"api.example.com\"]\n").unwrap();
        assert_grants_api_only(&Engine::load(Some(&path), &[]).unwrap());
        std::fs::write(&path, "[http]\ngrantable = [\"https://x\"]\n").unwrap();
        let err = Engine::load(Some(&path), &[]).unwrap_err();
        assert!(err.to_string().contains("http.grantable[0]"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_server_flag_adds_grantable_hosts() {
        assert_grants_api_only(&Engine::load(None, &["API.Example.com".to_owned()]).unwrap());
    }

    #[test]
    fn invalid_grantable_hosts_fail_to_load() {
        let err = Engine::load(None, &["https://not a host/".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("grantable-hosts"), "{err}");
    }
}
