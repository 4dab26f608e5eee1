//! The compiled policy in force, and the per-request host grants it permits.
//!
//! A request may ask for extra hosts (`allow_hosts`). Only entries listed in the server's
//! grantable set (`--grantable-hosts`) are granted; anything else refuses the whole request
//! with `PERMISSION_DENIED`, so a compromised caller cannot widen the policy. A grant is
//! screened by a guard compiled from the policy with the granted entries added to
//! `http.allow`; those guards are cached per set of grants (at most [`MAX_GRANT_GUARDS`]).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

use guardrail_core::{Guard, Policy, PolicyError, PolicyIssue};
use tonic::Status;

/// Most distinct grant sets kept compiled; past that the cache starts over.
pub const MAX_GRANT_GUARDS: usize = 64;

/// A policy, compiled.
#[derive(Debug)]
pub struct Engine {
    guard: Guard,
    grantable: BTreeSet<String>,
    granted: Mutex<HashMap<Vec<String>, Guard>>,
}

impl Engine {
    /// Loads the policy (`None`: the embedded default) and compiles it, checking that every
    /// grantable host is a valid `http.allow` entry for it.
    pub fn load(config: Option<&Path>, grantable: &[String]) -> Result<Engine, PolicyError> {
        let policy = match config {
            Some(path) => Policy::from_file(path)?,
            None => Policy::builtin(),
        };
        let grantable: BTreeSet<String> = grantable.iter().map(|h| normalize(h)).collect();
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
        Ok(Engine {
            guard: Guard::new(policy)?,
            grantable,
            granted: Mutex::new(HashMap::new()),
        })
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
                 entries listed in --grantable-hosts"
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

    #[test]
    fn grants_only_grantable_hosts() {
        let engine = Engine::load(None, &["API.Example.com".to_owned()]).unwrap();
        let raw = br#"{"tool":"http_get","args":{"url":"https://api.example.com/x"}}"#;
        assert_eq!(
            engine
                .guard()
                .screen_action(raw)
                .primary_code()
                .map(|c| c.as_str()),
            Some("host_not_allowed")
        );
        let (guard, granted) = engine.guard_with(&["api.example.com".to_owned()]).unwrap();
        assert_eq!(granted, vec!["api.example.com".to_owned()]);
        assert_ne!(
            guard.screen_action(raw).decision,
            guardrail_core::Decision::Deny
        );
        let err = engine.guard_with(&["evil.example".to_owned()]).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn invalid_grantable_hosts_fail_to_load() {
        let err = Engine::load(None, &["https://not a host/".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("grantable-hosts"), "{err}");
    }
}
