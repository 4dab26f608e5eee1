//! Human approval for calls the second stage leaves in `review`.
//!
//! An approval is bound to one exact action: [`ApprovalStore::request`] hashes the canonical
//! JSON of the typed call (sorted keys, no whitespace) together with the task context, and
//! hands out a random id with an expiry. A person approves or denies the id; the dispatcher
//! then [`redeem`](ApprovalStore::redeem)s it with the call it is about to execute. Redeeming
//! succeeds once, only before the expiry, only after an approval, and only for the same call
//! and context: a replayed id, or an id presented with an altered call, is refused. Presenting
//! an approved id with a different call also revokes it, since someone is trying to swap the
//! action behind a reviewer's back.
//!
//! ```
//! use std::time::Duration;
//! use guardrail_core::action::tools::ToolCall;
//! use guardrail_core::approval::{ApprovalError, ApprovalStore};
//!
//! let store = ApprovalStore::new(1024);
//! let call = ToolCall::HttpGet { url: "https://api.github.com/repos/o/r".into() };
//! let ticket = store.request(&call, "triage issue 7", Duration::from_secs(600))?;
//! store.approve(&ticket.id, "alice")?;
//! let other = ToolCall::HttpGet { url: "https://api.github.com/repos/o/secret".into() };
//! assert_eq!(store.redeem(&ticket.id, &other, "triage issue 7"), Err(ApprovalError::ActionMismatch));
//! # Ok::<(), ApprovalError>(())
//! ```
//!
//! The store is in memory, thread-safe and bounded ([`ApprovalStore::new`]); a full store
//! refuses new requests (the call then stays unapproved) rather than dropping live ones.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::action::tools::ToolCall;
use crate::verdict::{Coded, ReasonCode};

/// Domain separation for the binding hash.
const BINDING_DOMAIN: &[u8] = b"guardrail approval v1\n";

/// Longest approver name accepted, in bytes.
pub const MAX_APPROVER_BYTES: usize = 256;

/// Longest time-to-live accepted for one approval request (one week).
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why an approval operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No request with this id (never issued, or purged after its expiry).
    #[error("unknown approval id")]
    UnknownId,
    /// The request expired before it was redeemed.
    #[error("the approval has expired")]
    Expired,
    /// The request is still waiting for a decision.
    #[error("the action has not been approved")]
    NotApproved,
    /// A person denied the action.
    #[error("the action was denied by a reviewer")]
    Denied,
    /// The approval was already redeemed once.
    #[error("the approval was already used")]
    AlreadyUsed,
    /// The request was already approved or denied.
    #[error("the approval request was already decided")]
    AlreadyDecided,
    /// The call or context presented differs from the one that was approved; the approval is
    /// revoked.
    #[error("the action or its context differs from the approved one; the approval is revoked")]
    ActionMismatch,
    /// The approval was revoked after a mismatched redeem.
    #[error("the approval was revoked")]
    Revoked,
    /// The store holds its maximum number of live requests.
    #[error("the approval store is full ({max} requests)")]
    StoreFull {
        /// The store's capacity.
        max: usize,
    },
    /// The approver name is empty, longer than 256 bytes or holds control characters.
    #[error("invalid approver name")]
    InvalidApprover,
    /// The time-to-live is zero or longer than a week.
    #[error("the time-to-live must be between 1 ms and one week")]
    InvalidTtl,
    /// The action could not be put in canonical form.
    #[error("the action cannot be serialized")]
    Unserializable,
}

impl Coded for ApprovalError {
    fn code(&self) -> ReasonCode {
        match self {
            ApprovalError::UnknownId
            | ApprovalError::Expired
            | ApprovalError::NotApproved
            | ApprovalError::Denied
            | ApprovalError::AlreadyUsed
            | ApprovalError::AlreadyDecided
            | ApprovalError::ActionMismatch
            | ApprovalError::Revoked
            | ApprovalError::InvalidApprover
            | ApprovalError::InvalidTtl => ReasonCode::ApprovalInvalid,
            ApprovalError::StoreFull { .. } | ApprovalError::Unserializable => {
                ReasonCode::InternalError
            }
        }
    }
}

/// What a reviewer is shown and what the dispatcher keeps: the id to approve and redeem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalTicket {
    /// Random id (32 hex digits).
    pub id: String,
    /// SHA-256 of the canonical action and its context, hex.
    pub binding: String,
    /// Expiry, milliseconds since the Unix epoch (for display; the store uses a monotonic
    /// clock).
    pub expires_at_unix_ms: u64,
}

/// A successful redeem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redeemed {
    /// Who approved the action.
    pub approver: String,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ApprovalState {
    /// Waiting for a person.
    Pending,
    /// Approved, not yet redeemed.
    Approved {
        /// Who approved it.
        approver: String,
    },
    /// Denied by a person.
    Denied,
    /// Redeemed once; cannot be redeemed again.
    Used,
    /// Revoked after someone presented it with a different action.
    Revoked,
}

#[derive(Debug)]
struct Entry {
    binding: [u8; 32],
    expires: Instant,
    state: ApprovalState,
}

/// In-memory, thread-safe, bounded store of approval requests.
#[derive(Debug)]
pub struct ApprovalStore {
    entries: Mutex<Entries>,
    max_entries: usize,
}

/// The requests, with what makes room cheaply when the store is full: an index by expiry
/// (purged from the front) and the number of settled (denied, used, revoked) requests (swept
/// only when there are some), so a store full of live requests refuses a new one without
/// scanning.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Entry>,
    by_expiry: BTreeSet<(Instant, String)>,
    settled: usize,
}

fn is_settled(state: &ApprovalState) -> bool {
    matches!(
        state,
        ApprovalState::Denied | ApprovalState::Used | ApprovalState::Revoked
    )
}

impl Entries {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn insert(&mut self, id: String, entry: Entry) {
        self.by_expiry.insert((entry.expires, id.clone()));
        if let Some(old) = self.map.insert(id, entry) {
            // Ids are 128 random bits; a collision only replaces the index entry.
            self.settled = self
                .settled
                .saturating_sub(usize::from(is_settled(&old.state)));
        }
    }

    /// Moves `id` to `state`, keeping the settled count.
    fn set_state(&mut self, id: &str, state: ApprovalState) -> Option<ApprovalState> {
        let entry = self.map.get_mut(id)?;
        let before = is_settled(&entry.state);
        let after = is_settled(&state);
        let old = std::mem::replace(&mut entry.state, state);
        self.settled = (self.settled + usize::from(after)).saturating_sub(usize::from(before));
        Some(old)
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.map.remove(id) {
            self.by_expiry.remove(&(e.expires, id.to_owned()));
            self.settled = self
                .settled
                .saturating_sub(usize::from(is_settled(&e.state)));
        }
    }

    /// Drops every request expired at `now`.
    fn purge_expired(&mut self, now: Instant) {
        while let Some((expires, _)) = self.by_expiry.first() {
            if *expires > now {
                break;
            }
            if let Some((_, id)) = self.by_expiry.pop_first()
                && let Some(e) = self.map.remove(&id)
            {
                self.settled = self
                    .settled
                    .saturating_sub(usize::from(is_settled(&e.state)));
            }
        }
    }

    /// Drops every settled request.
    fn purge_settled(&mut self) {
        if self.settled == 0 {
            return;
        }
        let settled: Vec<String> = self
            .map
            .iter()
            .filter(|(_, e)| is_settled(&e.state))
            .map(|(id, _)| id.clone())
            .collect();
        for id in settled {
            self.remove(&id);
        }
    }
}

impl Default for ApprovalStore {
    /// A store for [`ApprovalStore::DEFAULT_MAX_ENTRIES`] requests.
    fn default() -> Self {
        ApprovalStore::new(ApprovalStore::DEFAULT_MAX_ENTRIES)
    }
}

impl ApprovalStore {
    /// Default capacity: 10000 requests.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

    /// A store that holds at most `max_entries` requests (at least 1). Expired requests are
    /// purged when room is needed; decided and used ones are kept until they expire, so a
    /// replay is reported as such.
    pub fn new(max_entries: usize) -> ApprovalStore {
        ApprovalStore {
            entries: Mutex::new(Entries::default()),
            max_entries: max_entries.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // No code path panics while holding the lock, so a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests approval for `call` in `context`, valid for `ttl`.
    pub fn request(
        &self,
        call: &ToolCall,
        context: &str,
        ttl: Duration,
    ) -> Result<ApprovalTicket, ApprovalError> {
        self.request_action(&action_value(call), context, ttl)
    }

    /// Requests approval for an action given as `{"tool": NAME, "args": {...}}`.
    pub fn request_action(
        &self,
        action: &Value,
        context: &str,
        ttl: Duration,
    ) -> Result<ApprovalTicket, ApprovalError> {
        self.request_at(action, context, ttl, Instant::now())
    }

    fn request_at(
        &self,
        action: &Value,
        context: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<ApprovalTicket, ApprovalError> {
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(ApprovalError::InvalidTtl);
        }
        let binding = binding(action, context);
        let expires = now.checked_add(ttl).ok_or(ApprovalError::InvalidTtl)?;
        let mut rng = rand::rng();
        let id = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
        let mut entries = self.lock();
        if entries.len() >= self.max_entries {
            entries.purge_expired(now);
        }
        if entries.len() >= self.max_entries {
            entries.purge_settled();
        }
        if entries.len() >= self.max_entries {
            return Err(ApprovalError::StoreFull {
                max: self.max_entries,
            });
        }
        entries.insert(
            id.clone(),
            Entry {
                binding,
                expires,
                state: ApprovalState::Pending,
            },
        );
        drop(entries);
        let unix_ms = SystemTime::now()
            .checked_add(ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            });
        Ok(ApprovalTicket {
            id,
            binding: hex::encode(binding),
            expires_at_unix_ms: unix_ms,
        })
    }

    /// Approves a pending request.
    pub fn approve(&self, id: &str, approver: &str) -> Result<(), ApprovalError> {
        if approver.is_empty()
            || approver.len() > MAX_APPROVER_BYTES
            || approver.chars().any(char::is_control)
        {
            return Err(ApprovalError::InvalidApprover);
        }
        self.decide(
            id,
            ApprovalState::Approved {
                approver: approver.to_owned(),
            },
            Instant::now(),
        )
    }

    /// Denies a pending request.
    pub fn deny(&self, id: &str) -> Result<(), ApprovalError> {
        self.decide(id, ApprovalState::Denied, Instant::now())
    }

    fn decide(&self, id: &str, state: ApprovalState, now: Instant) -> Result<(), ApprovalError> {
        let mut entries = self.lock();
        let entry = entries.map.get(id).ok_or(ApprovalError::UnknownId)?;
        if entry.expires <= now {
            return Err(ApprovalError::Expired);
        }
        if entry.state != ApprovalState::Pending {
            return Err(ApprovalError::AlreadyDecided);
        }
        entries.set_state(id, state);
        Ok(())
    }

    /// Redeems an approval for the call about to run. Succeeds once, for the same call and
    /// context, before the expiry.
    pub fn redeem(
        &self,
        id: &str,
        call: &ToolCall,
        context: &str,
    ) -> Result<Redeemed, ApprovalError> {
        self.redeem_action(id, &action_value(call), context)
    }

    /// [`redeem`](ApprovalStore::redeem) for an action given as `{"tool": NAME, "args": {...}}`.
    pub fn redeem_action(
        &self,
        id: &str,
        action: &Value,
        context: &str,
    ) -> Result<Redeemed, ApprovalError> {
        self.redeem_at(id, action, context, Instant::now())
    }

    fn redeem_at(
        &self,
        id: &str,
        action: &Value,
        context: &str,
        now: Instant,
    ) -> Result<Redeemed, ApprovalError> {
        let presented = binding(action, context);
        let mut entries = self.lock();
        let entry = entries.map.get(id).ok_or(ApprovalError::UnknownId)?;
        if entry.expires <= now {
            return Err(ApprovalError::Expired);
        }
        match &entry.state {
            ApprovalState::Pending => return Err(ApprovalError::NotApproved),
            ApprovalState::Denied => return Err(ApprovalError::Denied),
            ApprovalState::Used => return Err(ApprovalError::AlreadyUsed),
            ApprovalState::Revoked => return Err(ApprovalError::Revoked),
            ApprovalState::Approved { .. } => {}
        }
        if entry.binding != presented {
            entries.set_state(id, ApprovalState::Revoked);
            return Err(ApprovalError::ActionMismatch);
        }
        let Some(ApprovalState::Approved { approver }) = entries.set_state(id, ApprovalState::Used)
        else {
            return Err(ApprovalError::NotApproved);
        };
        Ok(Redeemed { approver })
    }

    /// The state of a request, if the store still holds it.
    pub fn state(&self, id: &str) -> Option<ApprovalState> {
        self.lock().map.get(id).map(|e| e.state.clone())
    }

    /// Number of requests held (live, decided or used, until they expire and are purged).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The action a call stands for: `{"tool": NAME, "args": {...}}`.
pub fn action_value(call: &ToolCall) -> Value {
    let mut args = Map::new();
    match call {
        ToolCall::ReadFile { path } => {
            args.insert("path".into(), Value::String(path.clone()));
        }
        ToolCall::WriteFile { path, content } => {
            args.insert("path".into(), Value::String(path.clone()));
            args.insert("content".into(), Value::String(content.clone()));
        }
        ToolCall::HttpGet { url } => {
            args.insert("url".into(), Value::String(url.clone()));
        }
        ToolCall::DbQuery { sql } => {
            args.insert("sql".into(), Value::String(sql.clone()));
        }
        ToolCall::Custom { args: custom, .. } => args.clone_from(custom),
    }
    let mut action = Map::new();
    action.insert("tool".into(), Value::String(call.name().to_owned()));
    action.insert("args".into(), Value::Object(args));
    Value::Object(action)
}

/// Canonical JSON text: object keys sorted by UTF-16 code units (as RFC 8785 does), no
/// whitespace, strings escaped minimally. Independent of `serde_json`'s map ordering.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// SHA-256 binding of an action and its context: the canonical JSON of the action and the
/// context, each length-prefixed, after a domain tag.
pub fn binding(action: &Value, context: &str) -> [u8; 32] {
    let canonical = canonical_json(action);
    let mut hasher = Sha256::new();
    hasher.update(BINDING_DOMAIN);
    hasher.update((canonical.len() as u64).to_be_bytes());
    hasher.update(canonical.as_bytes());
    hasher.update((context.len() as u64).to_be_bytes());
    hasher.update(context.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(content: &str) -> ToolCall {
        ToolCall::WriteFile {
            path: "/workspace/notes.md".into(),
            content: content.into(),
        }
    }

    #[test]
    fn review_verdicts_carry_a_ticket_bound_to_the_exact_call() {
        let guard = crate::Guard::builtin().unwrap();
        let store = ApprovalStore::new(16);
        let ttl = Duration::from_secs(60);
        let raw = br#"{"tool":"write_file","args":{"path":"/workspace/a.md","content":"hi"}}"#;
        let mut verdict = guard.screen_action(raw);
        assert_eq!(verdict.decision, crate::Decision::Review);
        verdict.open_reviews(&store, "goal-1/task-1", ttl).unwrap();
        let ticket = verdict.calls[0].approval.clone().expect("a ticket");
        let json = serde_json::to_value(&verdict).unwrap();
        assert_eq!(json["calls"][0]["approval"]["id"], ticket.id.as_str());

        // An allow or a deny opens nothing.
        let mut denied = guard.screen_action(br#"{"tool":"read_file","path":"/etc/passwd"}"#);
        denied.open_reviews(&store, "goal-1/task-1", ttl).unwrap();
        assert!(denied.calls.iter().all(|c| c.approval.is_none()));

        let call = verdict.calls[0].call.clone().unwrap();
        store.approve(&ticket.id, "alice").unwrap();
        // The exact call in the same context redeems once; a replay is refused.
        store.redeem(&ticket.id, &call, "goal-1/task-1").unwrap();
        assert!(store.redeem(&ticket.id, &call, "goal-1/task-1").is_err());

        // An altered call, or the same call in another context, is refused (and burns the
        // approval, so a retry with the right call fails too).
        for (altered, context) in [
            (write("other"), "goal-1/task-1"),
            (call.clone(), "goal-1/task-2"),
        ] {
            let mut again = guard.screen_action(raw);
            again.open_reviews(&store, "goal-1/task-1", ttl).unwrap();
            let id = again.calls[0].approval.clone().unwrap().id;
            store.approve(&id, "alice").unwrap();
            assert!(store.redeem(&id, &altered, context).is_err());
            assert!(store.redeem(&id, &call, "goal-1/task-1").is_err());
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"z": [true, null, "x"], "y": 2.5}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"y":2.5,"z":[true,null,"x"]},"b":1}"#
        );
        // UTF-16 order puts U+1F600 (a surrogate pair, 0xD83D…) before U+E000, unlike the
        // UTF-8 order of Rust strings.
        let b = json!({"\u{1F600}": 1, "\u{E000}": 2});
        assert_eq!(canonical_json(&b), "{\"\u{1F600}\":1,\"\u{E000}\":2}");
    }

    #[test]
    fn binding_depends_on_action_and_context() {
        let call = action_value(&write("hello"));
        let base = binding(&call, "ctx");
        assert_eq!(base, binding(&call, "ctx"));
        assert_ne!(base, binding(&action_value(&write("hello!")), "ctx"));
        assert_ne!(base, binding(&call, "ctx2"));
        // Length prefixes: moving bytes between the parts changes the hash.
        assert_ne!(binding(&json!("ab"), "c"), binding(&json!("a"), "bc"));
    }

    #[test]
    fn expiry_is_enforced_at_every_step() {
        let store = ApprovalStore::new(8);
        let action = action_value(&write("x"));
        let t0 = Instant::now();
        let ticket = store
            .request_at(&action, "c", Duration::from_secs(10), t0)
            .unwrap();
        let late = t0 + Duration::from_secs(11);
        assert_eq!(
            store.decide(
                &ticket.id,
                ApprovalState::Approved {
                    approver: "a".into()
                },
                late
            ),
            Err(ApprovalError::Expired)
        );
        store.approve(&ticket.id, "alice").unwrap();
        assert_eq!(
            store.redeem_at(&ticket.id, &action, "c", late),
            Err(ApprovalError::Expired)
        );
        assert!(
            store
                .redeem_at(&ticket.id, &action, "c", t0 + Duration::from_secs(9))
                .is_ok()
        );
    }

    #[test]
    fn full_store_purges_expired_then_refuses() {
        let store = ApprovalStore::new(2);
        let action = action_value(&write("x"));
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        let a = store.request_at(&action, "c", ttl, t0).unwrap();
        store.request_at(&action, "c", ttl, t0).unwrap();
        assert_eq!(
            store.request_at(&action, "c", ttl, t0),
            Err(ApprovalError::StoreFull { max: 2 })
        );
        // A denied request makes room before its expiry; expired ones go first.
        store.deny(&a.id).unwrap();
        store.request_at(&action, "c", ttl, t0).unwrap();
        assert_eq!(store.len(), 2);
        store
            .request_at(&action, "c", ttl, t0 + Duration::from_secs(6))
            .unwrap();
        assert_eq!(store.len(), 1);

        // Used and revoked requests make room too; live ones never do.
        let t1 = Instant::now();
        let b = store.request_at(&action, "c", ttl, t1).unwrap();
        assert!(store.request_at(&action, "c", ttl, t1).is_err());
        store.approve(&b.id, "alice").unwrap();
        store.redeem_action(&b.id, &action, "c").unwrap();
        let c = store.request_at(&action, "c", ttl, t1).unwrap();
        store.approve(&c.id, "alice").unwrap();
        assert_eq!(
            store.redeem_action(&c.id, &action, "other"),
            Err(ApprovalError::ActionMismatch)
        );
        let d = store.request_at(&action, "c", ttl, t1).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.state(&d.id), Some(ApprovalState::Pending));
        assert_eq!(
            store.request_at(&action, "c", ttl, t1),
            Err(ApprovalError::StoreFull { max: 2 })
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        let store = ApprovalStore::default();
        let call = write("x");
        assert_eq!(
            store.request(&call, "c", Duration::ZERO),
            Err(ApprovalError::InvalidTtl)
        );
        let t = store.request(&call, "c", Duration::from_secs(5)).unwrap();
        assert_eq!(t.id.len(), 32);
        assert_eq!(t.binding.len(), 64);
        assert_eq!(
            store.approve(&t.id, "bob\n"),
            Err(ApprovalError::InvalidApprover)
        );
        assert_eq!(
            store.approve(&t.id, ""),
            Err(ApprovalError::InvalidApprover)
        );
        assert_eq!(store.approve("nope", "bob"), Err(ApprovalError::UnknownId));
        assert_eq!(
            ApprovalError::ActionMismatch.code(),
            ReasonCode::ApprovalInvalid
        );
    }
}
