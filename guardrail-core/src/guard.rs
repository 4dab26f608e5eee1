//! The compiled guard: build it once from a policy, share it across threads, call it per action.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use smallvec::SmallVec;

use crate::action::envelope::{self, Candidate, Format, ParseLimits};
use crate::action::json::JsonLimits;
use crate::action::tools::{
    ArgKind, BlastRadius, Builtin, ToolCall, ToolError, ToolRegistry, ToolSpec,
};
use crate::approval::{ApprovalError, ApprovalStore, ApprovalTicket};
use crate::check::host::HostChecker;
use crate::check::path::{Access, PathChecker};
use crate::check::secret::SecretCheck;
use crate::check::sql::{Dialect, SqlChecker};
use crate::check::text::{TextLevel, check_text};
use crate::policy::{HighBlastRadius, Policy, PolicyError, PolicyIssue};
use crate::verdict::{Coded, Decision, Reason, ReasonCode};

/// Per-call options for [`Guard::screen_action_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionOptions {
    /// SQL dialect for this call, overriding the policy's (replay sets it per corpus row).
    pub dialect: Option<Dialect>,
    /// Keep screening after the first deny and report every finding (default: stop at the first).
    pub all_findings: bool,
}

/// Time spent per stage, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Finding and parsing the calls.
    pub parse_ns: u64,
    /// Typing, schema and argument checks.
    pub checks_ns: u64,
    /// Everything.
    pub total_ns: u64,
}

/// One call found in the output, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenedCall {
    /// The tool name, when it is an allowlisted tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<Cow<'static, str>>,
    /// The envelope format it came in.
    pub format: Format,
    /// This call's decision.
    pub decision: Decision,
    /// The tool's blast radius, when the tool is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// The typed call, for the dispatcher to execute when the decision allows it.
    /// Not serialized: verdicts never echo arguments.
    #[serde(skip)]
    pub call: Option<ToolCall>,
    /// For a call in review, once [`ActionVerdict::open_reviews`] ran: the approval to obtain,
    /// bound to this exact call and its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalTicket>,
}

impl ScreenedCall {
    /// A call found in `format`, denied until its checks decide it; `spec` when its tool is
    /// known.
    fn undecided(format: Format, spec: Option<&ToolSpec>) -> ScreenedCall {
        ScreenedCall {
            tool: spec.map(ToolSpec::shared_name),
            format,
            decision: Decision::Deny,
            blast_radius: spec.map(ToolSpec::blast_radius),
            call: None,
            approval: None,
        }
    }
}

/// The reasons of a verdict: a list that holds one reason, the usual count, without an
/// allocation (it dereferences to a slice).
pub type Reasons = SmallVec<[Reason; 1]>;

/// The calls of a verdict: a list that holds one call, the usual count, without an allocation
/// (it dereferences to a slice).
pub type ScreenedCalls = SmallVec<[ScreenedCall; 1]>;

/// The verdict on one model output.
#[derive(Debug, Clone, Serialize)]
pub struct ActionVerdict {
    /// Deny if any call is denied; otherwise review if any call needs review; otherwise allow.
    pub decision: Decision,
    /// Why, in order. Empty for a plain allow.
    pub reasons: Reasons,
    /// The calls found, in order.
    pub calls: ScreenedCalls,
    /// SHA-256 of the policy that decided.
    pub policy_hash: Arc<str>,
    /// Time per stage.
    pub timings: Timings,
}

impl ActionVerdict {
    /// The first reason's code, if any.
    pub fn primary_code(&self) -> Option<ReasonCode> {
        self.reasons.first().map(|r| r.code)
    }

    /// For a verdict in review, requests an approval in `store` for every call in review,
    /// bound to the SHA-256 of the canonical call and `context` (goal, task, whatever the
    /// dispatcher will present again when it redeems), valid for `ttl`; the tickets land in
    /// [`ScreenedCall::approval`]. Nothing happens for an allow or a deny.
    ///
    /// # Errors
    ///
    /// The first [`ApprovalError`] (full store, invalid ttl); the calls without a ticket stay
    /// in review, which is not an allow: they cannot be redeemed.
    pub fn open_reviews(
        &mut self,
        store: &ApprovalStore,
        context: &str,
        ttl: std::time::Duration,
    ) -> Result<(), ApprovalError> {
        if self.decision != Decision::Review {
            return Ok(());
        }
        let mut first_error = None;
        for screened in &mut self.calls {
            if let (Some(call), Decision::Review) = (&screened.call, screened.decision) {
                match store.request(call, context, ttl) {
                    Ok(ticket) => screened.approval = Some(ticket),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A compiled guard. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    policy_hash: Arc<str>,
    parse_limits: ParseLimits,
    tools: ToolRegistry,
    /// The allowlisted tool names, which prose around a call must not write like a call.
    tool_names: Vec<String>,
    host: HostChecker,
    path: PathChecker,
    sql: SqlChecker,
    scanner: Option<SecretCheck>,
    high_blast_radius: HighBlastRadius,
    /// The clock behind every verdict's timings. A reading of the cycle counter (scaled to
    /// nanoseconds only when a verdict is finished) costs about half of `Instant::now()` here,
    /// and a verdict takes three of them; where the counter is not usable it reads the
    /// monotonic clock instead.
    clock: quanta::Clock,
}

impl Guard {
    /// Compiles a policy: every schema, regex, allowlist and automaton is built here, and every
    /// problem is reported at once.
    pub fn new(policy: Policy) -> Result<Guard, PolicyError> {
        let mut issues: Vec<PolicyIssue> = Vec::new();
        let host = HostChecker::new(&policy.http)
            .map_err(|e| issues.extend(e))
            .ok();
        let path = PathChecker::new(&policy.workspace)
            .map_err(|e| issues.extend(e))
            .ok();
        let sql = SqlChecker::new(&policy.sql)
            .map_err(|e| issues.extend(e))
            .ok();
        let tools = build_registry(&policy, &mut issues);
        let scanner = if policy.secrets.scan_arguments {
            crate::scan::SecretScanner::new(&policy.secrets.rules)
                .map(|scanner| SecretCheck::new(Box::new(scanner)))
                .map_err(|e| issues.extend(e))
                .ok()
        } else {
            None
        };
        let (Some(host), Some(path), Some(sql)) = (host, path, sql) else {
            return Err(PolicyError::new(issues));
        };
        if !issues.is_empty() {
            return Err(PolicyError::new(issues));
        }
        let limits = policy.limits;
        Ok(Guard {
            inner: Arc::new(Inner {
                policy_hash: policy.hash().into(),
                parse_limits: ParseLimits {
                    json: JsonLimits {
                        max_bytes: limits.max_input_bytes,
                        max_depth: limits.max_json_depth,
                    },
                    max_calls: limits.max_calls,
                },
                tool_names: tools.names().into_iter().map(str::to_owned).collect(),
                tools,
                host,
                path,
                sql,
                scanner,
                high_blast_radius: policy.review.high_blast_radius,
                clock: quanta::Clock::new(),
                policy,
            }),
        })
    }

    /// A guard for the embedded default policy.
    pub fn builtin() -> Result<Guard, PolicyError> {
        Guard::new(Policy::builtin())
    }

    /// The policy this guard was built from.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// SHA-256 of the policy, hex.
    pub fn policy_hash(&self) -> &str {
        &self.inner.policy_hash
    }

    /// Does now the work the checks would otherwise do on first use (compiling the secret
    /// rules' regexes): a service calls this at start so that no request pays for it.
    pub fn prepare(&self) {
        if let Some(scanner) = &self.inner.scanner {
            scanner.prepare();
        }
    }

    /// The host checker, for the dispatcher's execution-time DNS pinning.
    pub fn host_checker(&self) -> &HostChecker {
        &self.inner.host
    }

    /// The path checker, for the dispatcher's execution-time open.
    pub fn path_checker(&self) -> &PathChecker {
        &self.inner.path
    }

    /// Screens raw model output with default options.
    pub fn screen_action(&self, raw: &[u8]) -> ActionVerdict {
        self.screen_action_with(raw, &ActionOptions::default())
    }

    /// Screens raw model output: finds the calls, types them, checks every argument.
    pub fn screen_action_with(&self, raw: &[u8], options: &ActionOptions) -> ActionVerdict {
        let inner = &*self.inner;
        let start = inner.clock.raw();
        let mut verdict = ActionVerdict {
            decision: Decision::Allow,
            reasons: Reasons::new(),
            calls: ScreenedCalls::new(),
            policy_hash: inner.policy_hash.clone(),
            timings: Timings::default(),
        };
        // Most outputs are one flat or wrapper call with string arguments: read in place, with
        // no owned tree to build and tear down. The general path finds exactly this one call
        // in such an output (the `screen_action` fuzz target holds the two to that), so an
        // unknown tool is decided here as it would be there. Anything else, and any call this
        // path cannot type, goes the general way, which decides the same and says why.
        if let Some(call) = envelope::shallow_call(raw, &inner.parse_limits) {
            let parsed = inner.clock.raw();
            let screened = match inner.tools.lookup(&call.name) {
                None => Some(unknown_tool(
                    0,
                    call.format,
                    &call.name,
                    &mut verdict.reasons,
                )),
                Some(spec) => spec.type_call_shallow(call.args).map(|typed| {
                    let mut screened = ScreenedCall::undecided(call.format, Some(spec));
                    self.screen_typed(0, spec, typed, &mut screened, options, &mut verdict.reasons);
                    screened
                }),
            };
            if let Some(screened) = screened {
                verdict.timings.parse_ns = inner.clock.delta_as_nanos(start, parsed);
                verdict.decision = screened.decision;
                verdict.calls.push(screened);
                self.finish(&mut verdict, parsed);
                return verdict;
            }
        }
        let candidates =
            match envelope::extract_calls_named(raw, &inner.parse_limits, &inner.tool_names) {
                Ok(c) => c,
                Err(e) => {
                    verdict.decision = Decision::Deny;
                    verdict.reasons.push(e.to_reason());
                    self.scrub_reasons(&mut verdict.reasons);
                    verdict.timings.parse_ns = inner.clock.delta_as_nanos(start, inner.clock.raw());
                    verdict.timings.total_ns = verdict.timings.parse_ns;
                    return verdict;
                }
            };
        let parsed = inner.clock.raw();
        verdict.timings.parse_ns = inner.clock.delta_as_nanos(start, parsed);
        if candidates.len() > 1 {
            verdict.calls.reserve_exact(candidates.len());
        }
        for (index, candidate) in candidates.into_iter().enumerate() {
            let screened = self.screen_call(index, candidate, options, &mut verdict.reasons);
            verdict.decision = verdict.decision.combine(screened.decision);
            verdict.calls.push(screened);
            if verdict.decision == Decision::Deny && !options.all_findings {
                break;
            }
        }
        self.finish(&mut verdict, parsed);
        verdict
    }

    /// Replaces secrets in reason messages and pointers: they quote names from the output (a
    /// tool, a key, a function), which the model may have made of a secret.
    fn scrub_reasons(&self, reasons: &mut Reasons) {
        let Some(check) = &self.inner.scanner else {
            return;
        };
        for reason in reasons.iter_mut() {
            if reason.code == ReasonCode::SecretInArgument {
                continue;
            }
            if let Some(clean) = check.scrub(&reason.message) {
                reason.message = clean;
            }
            if let Some(clean) = reason.pointer.as_deref().and_then(|p| check.scrub(p)) {
                reason.pointer = Some(Cow::Owned(clean));
            }
        }
    }

    /// Completes a verdict whose calls are screened: scrubbed reasons, the review reason, the
    /// timings.
    fn finish(&self, verdict: &mut ActionVerdict, parsed: u64) {
        if !verdict.reasons.is_empty() {
            self.scrub_reasons(&mut verdict.reasons);
        }
        if verdict.decision == Decision::Review {
            verdict.reasons.push(Reason::new(
                ReasonCode::ReviewRequired,
                "high-blast-radius tool: a second stage must approve",
            ));
        }
        let clock = &self.inner.clock;
        verdict.timings.checks_ns = clock.delta_as_nanos(parsed, clock.raw());
        // `start`, `parsed` and this last reading are one clock's: the stages add up.
        verdict.timings.total_ns = verdict
            .timings
            .parse_ns
            .saturating_add(verdict.timings.checks_ns);
    }

    fn screen_call(
        &self,
        index: usize,
        candidate: Candidate,
        options: &ActionOptions,
        reasons: &mut Reasons,
    ) -> ScreenedCall {
        let Some(spec) = self.inner.tools.lookup(&candidate.name) else {
            return unknown_tool(index, candidate.format, &candidate.name, reasons);
        };
        let mut screened = ScreenedCall::undecided(candidate.format, Some(spec));
        match spec.type_call(candidate.args) {
            Ok(call) => self.screen_typed(index, spec, call, &mut screened, options, reasons),
            Err(e) => {
                let mut reason = e.to_reason().in_call(index);
                reason.pointer = e.pointer().map(|p| Cow::Owned(p.to_owned()));
                reasons.push(reason);
            }
        }
        screened
    }

    /// Checks the arguments of a typed call and decides it.
    fn screen_typed(
        &self,
        index: usize,
        spec: &ToolSpec,
        call: ToolCall,
        screened: &mut ScreenedCall,
        options: &ActionOptions,
        reasons: &mut Reasons,
    ) {
        let inner = &*self.inner;
        let before = reasons.len();
        let _ = spec.visit_strings(&call, |arg, pointer| {
            match self.check_argument(arg.value, arg.kind, options) {
                Ok(()) => Ok(()),
                Err(reason) => {
                    reasons.push(reason.in_call(index).at(pointer()));
                    if options.all_findings {
                        Ok(())
                    } else {
                        Err(())
                    }
                }
            }
        });
        if reasons.len() == before {
            screened.decision = match (spec.blast_radius(), inner.high_blast_radius) {
                (BlastRadius::Low, _) | (BlastRadius::High, HighBlastRadius::Allow) => {
                    Decision::Allow
                }
                (BlastRadius::High, HighBlastRadius::Review) => Decision::Review,
                (BlastRadius::High, HighBlastRadius::Deny) => {
                    reasons.push(
                        Reason::new(
                            ReasonCode::ReviewRequired,
                            "the policy denies high-blast-radius tools",
                        )
                        .in_call(index),
                    );
                    Decision::Deny
                }
            };
        }
        screened.call = Some(call);
    }

    /// Runs the checks for one string argument: invisible characters, the kind's own check,
    /// then secrets.
    fn check_argument(
        &self,
        value: &str,
        kind: ArgKind,
        options: &ActionOptions,
    ) -> Result<(), Reason> {
        let inner = &*self.inner;
        let level = if kind == ArgKind::Text {
            TextLevel::Prose
        } else {
            TextLevel::Identifier
        };
        check_text(value, level).map_err(|e| e.to_reason())?;
        match kind {
            ArgKind::Path => inner
                .path
                .verify(value, Access::Read)
                .map_err(|e| e.to_reason())?,
            ArgKind::WritePath => inner
                .path
                .verify(value, Access::Write)
                .map_err(|e| e.to_reason())?,
            ArgKind::Url => inner
                .host
                .check(value)
                .map(drop)
                .map_err(|e| e.to_reason())?,
            ArgKind::Sql => inner
                .sql
                .check(value, options.dialect)
                .map(drop)
                .map_err(|e| e.to_reason())?,
            ArgKind::Text => {}
        }
        if let Some(scanner) = &inner.scanner {
            scanner.check(value)?;
        }
        Ok(())
    }
}

/// The denied call of a tool the policy does not list, and its reason.
fn unknown_tool(index: usize, format: Format, name: &str, reasons: &mut Reasons) -> ScreenedCall {
    reasons.push(ToolError::unknown_tool(name).to_reason().in_call(index));
    ScreenedCall::undecided(format, None)
}

fn build_registry(policy: &Policy, issues: &mut Vec<PolicyIssue>) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    for builtin in Builtin::ALL {
        let config = policy.tools.get(builtin.name());
        if config.is_some_and(|c| !c.enabled) {
            continue;
        }
        match ToolSpec::builtin(builtin, policy.blast_radius(builtin.name())) {
            Ok(spec) => registry.insert(spec),
            Err(e) => issues.push(PolicyIssue::new(format!("tools.{}", builtin.name()), e)),
        }
    }
    for (name, config) in &policy.tools {
        if !config.enabled || Builtin::ALL.iter().any(|b| b.name() == name) {
            continue;
        }
        let Some(schema) = &config.loaded_schema else {
            issues.push(PolicyIssue::new(
                format!("tools.{name}.schema"),
                "schema not loaded",
            ));
            continue;
        };
        let kinds = config
            .args
            .iter()
            .filter_map(|(pattern, kind)| {
                crate::action::tools::ArgPattern::parse(pattern)
                    .ok()
                    .map(|p| (p, *kind))
            })
            .collect();
        match ToolSpec::custom(name, schema, kinds, policy.blast_radius(name)) {
            Ok(spec) => registry.insert(spec),
            Err(e) => issues.push(PolicyIssue::new(format!("tools.{name}.schema"), e)),
        }
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict's stages come from one clock: they add up, and the whole lies inside an
    /// interval the standard clock measured around the call (so the counter's scale is right).
    fn assert_timings_consistent(guard: &Guard, raw: &[u8]) -> ActionVerdict {
        let outer = std::time::Instant::now();
        let verdict = guard.screen_action(raw);
        let outer_ns = u64::try_from(outer.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let t = verdict.timings;
        assert_eq!(t.total_ns, t.parse_ns + t.checks_ns, "{t:?}");
        assert!(t.total_ns > 0, "{t:?}");
        assert!(
            t.total_ns <= outer_ns + outer_ns / 100 + 1_000,
            "{t:?} against {outer_ns} ns around the call"
        );
        verdict
    }

    /// Reasons quote names from the output (a tool, a key, a function); a secret the model
    /// put there is replaced, in the message and in the pointer.
    #[test]
    fn reasons_never_quote_a_secret() {
        let guard = Guard::new(Policy::builtin()).unwrap();
        let token = "ghp_q7Hn2xLw9Rk4Tz1Vb6Mc3Fd8Gs5Jp0Ya2Ue7";
        let chat_call =
            r#""id":"1","type":"function","function":{"name":"read_file","arguments":"{}"}"#;
        let outputs = [
            format!(r#"{{"tool":"{token}","args":{{}}}}"#),
            format!(r#"{{"tool":"read_file","args":{{"path":"/workspace/a","{token}":1}}}}"#),
            format!(r#"{{"role":"assistant","{token}":1,"tool_calls":[{{{chat_call}}}]}}"#),
            format!(r#"{{"tool":"db_query","args":{{"sql":"SELECT {token}.pg_read_file(1)"}}}}"#),
        ];
        for output in outputs {
            let verdict = guard.screen_action_with(
                output.as_bytes(),
                &ActionOptions {
                    all_findings: true,
                    ..ActionOptions::default()
                },
            );
            assert_eq!(verdict.decision, Decision::Deny, "{output}");
            for reason in &verdict.reasons {
                let shown = format!("{} {:?}", reason.message, reason.pointer);
                assert!(!shown.contains("q7Hn2xLw9Rk4"), "{output}: {shown}");
            }
            assert!(
                verdict
                    .reasons
                    .iter()
                    .any(|r| r.message.contains("[REDACTED:")
                        || r.code == ReasonCode::SecretInArgument),
                "{output}: {:?}",
                verdict.reasons
            );
        }
    }

    #[test]
    fn timings_add_up_and_stay_inside_the_call() {
        let guard = Guard::new(Policy::builtin()).unwrap();
        // The in-place path, the general path, and a parse error.
        let shallow = br#"{"tool":"read_file","args":{"path":"/workspace/README.md"}}"#;
        let general = br#"Here it is: ```json
{"tool_calls":[{"type":"function","function":{"name":"read_file","arguments":"{\"path\":\"/workspace/a\"}"}}]}
```"#;
        let broken = br#"{"tool":"read_file","args":{"path":"/workspace/a","path":"/etc/shadow"}}"#;
        assert_eq!(
            assert_timings_consistent(&guard, shallow).decision,
            Decision::Allow
        );
        assert_eq!(
            assert_timings_consistent(&guard, general).decision,
            Decision::Allow
        );
        assert_eq!(
            assert_timings_consistent(&guard, broken).decision,
            Decision::Deny
        );
        // A large write: hundreds of microseconds of checks, so a wrong scale would show.
        let content = "lorem ipsum dolor sit amet ".repeat(9_000);
        let big = format!(
            r#"{{"tool":"write_file","args":{{"path":"/workspace/notes.txt","content":"{content}"}}}}"#
        );
        let verdict = assert_timings_consistent(&guard, big.as_bytes());
        assert_eq!(verdict.decision, Decision::Review);
        assert!(verdict.timings.checks_ns > 0);
    }
}
