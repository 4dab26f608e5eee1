//! proto ⇄ core. Requests become core inputs with `TryFrom` (every proto field is destructured,
//! so a field added to the proto is a compile error here until it is handled); verdicts become
//! proto messages with `From`, destructuring the core verdict the same way.
//!
//! Nothing is decided here: a request that cannot be converted is an `INVALID_ARGUMENT` status,
//! never a verdict.

use guardrail_core::action::json::{self, JsonLimits};
use guardrail_core::action::tools::BlastRadius;
use guardrail_core::approval;
use guardrail_core::check::sql::Dialect;
use guardrail_core::classify::{self, InputSource, InputTimings, InputVerdict};
use guardrail_core::guard::{ActionOptions, ActionVerdict, ScreenedCall, Timings};
use guardrail_core::scan::Finding;
use guardrail_core::{Decision, Reason, Span};
use tonic::Status;

use crate::proto as pb;

/// Longest goal id, task id or lane accepted, in bytes.
pub const MAX_CONTEXT_FIELD_BYTES: usize = 256;
/// Most per-request host grants.
pub const MAX_GRANTS: usize = 32;
/// Longest host grant entry, in bytes.
pub const MAX_GRANT_BYTES: usize = 256;

/// Who and what a request belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Goal id.
    pub goal_id: String,
    /// Task id.
    pub task_id: String,
    /// Dispatch lane.
    pub lane: String,
}

impl TryFrom<Option<pb::RequestContext>> for Context {
    type Error = Status;

    fn try_from(value: Option<pb::RequestContext>) -> Result<Self, Status> {
        let Some(pb::RequestContext {
            goal_id,
            task_id,
            lane,
        }) = value
        else {
            return Ok(Context::default());
        };
        for (name, v) in [
            ("goal_id", &goal_id),
            ("task_id", &task_id),
            ("lane", &lane),
        ] {
            if v.len() > MAX_CONTEXT_FIELD_BYTES {
                return Err(Status::invalid_argument(format!(
                    "context.{name} is {} bytes, the limit is {MAX_CONTEXT_FIELD_BYTES}",
                    v.len()
                )));
            }
        }
        Ok(Context {
            goal_id,
            task_id,
            lane,
        })
    }
}

/// A `ScreenAction` request in core terms.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The raw model output.
    pub model_output: Vec<u8>,
    /// Request context.
    pub context: Context,
    /// Hosts asked to be granted for this request (not yet checked against the grantable set).
    pub allow_hosts: Vec<String>,
    /// Screening options.
    pub options: ActionOptions,
}

impl TryFrom<pb::ScreenActionRequest> for ActionRequest {
    type Error = Status;

    fn try_from(value: pb::ScreenActionRequest) -> Result<Self, Status> {
        let pb::ScreenActionRequest {
            model_output,
            context,
            allow_hosts,
            all_findings,
            sql_dialect,
        } = value;
        if allow_hosts.len() > MAX_GRANTS {
            return Err(Status::invalid_argument(format!(
                "allow_hosts has {} entries, the limit is {MAX_GRANTS}",
                allow_hosts.len()
            )));
        }
        if let Some(long) = allow_hosts.iter().find(|h| h.len() > MAX_GRANT_BYTES) {
            return Err(Status::invalid_argument(format!(
                "an allow_hosts entry is {} bytes, the limit is {MAX_GRANT_BYTES}",
                long.len()
            )));
        }
        let dialect = match pb::SqlDialect::try_from(sql_dialect) {
            Ok(pb::SqlDialect::Unspecified) => None,
            Ok(pb::SqlDialect::Postgresql) => Some(Dialect::Postgresql),
            Ok(pb::SqlDialect::Mysql) => Some(Dialect::Mysql),
            Ok(pb::SqlDialect::Sqlite) => Some(Dialect::Sqlite),
            Ok(pb::SqlDialect::Mssql) => Some(Dialect::Mssql),
            Ok(pb::SqlDialect::Generic) => Some(Dialect::Generic),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "sql_dialect {sql_dialect} is not a known SqlDialect"
                )));
            }
        };
        Ok(ActionRequest {
            model_output,
            context: Context::try_from(context)?,
            allow_hosts,
            options: ActionOptions {
                dialect,
                all_findings,
            },
        })
    }
}

/// A `ScreenInput` request in core terms.
#[derive(Debug, Clone)]
pub struct InputRequest {
    /// The untrusted text.
    pub text: String,
    /// Where it came from.
    pub source: InputSource,
    /// Request context.
    pub context: Context,
}

impl TryFrom<pb::ScreenInputRequest> for InputRequest {
    type Error = Status;

    fn try_from(value: pb::ScreenInputRequest) -> Result<Self, Status> {
        let pb::ScreenInputRequest {
            text,
            source,
            context,
        } = value;
        let source = match pb::InputSource::try_from(source) {
            Ok(pb::InputSource::Unspecified | pb::InputSource::Other) => InputSource::Other,
            Ok(pb::InputSource::WebPage) => InputSource::WebPage,
            Ok(pb::InputSource::Document) => InputSource::Document,
            Ok(pb::InputSource::ToolResult) => InputSource::ToolResult,
            Ok(pb::InputSource::Message) => InputSource::Message,
            Ok(pb::InputSource::User) => InputSource::User,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "source {source} is not a known InputSource"
                )));
            }
        };
        Ok(InputRequest {
            text,
            source,
            context: Context::try_from(context)?,
        })
    }
}

/// How a scan replaces secrets, and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Keyed placeholders instead of plain labels.
    pub keyed: bool,
    /// Findings only, no redacted text.
    pub findings_only: bool,
    /// PII too (unary calls).
    pub pii: bool,
}

fn redaction(value: i32) -> Result<bool, Status> {
    match pb::Redaction::try_from(value) {
        Ok(pb::Redaction::Unspecified | pb::Redaction::Label) => Ok(false),
        Ok(pb::Redaction::Keyed) => Ok(true),
        Err(_) => Err(Status::invalid_argument(format!(
            "redaction {value} is not a known Redaction"
        ))),
    }
}

/// A `ScanOutput` request in core terms.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The tool output.
    pub text: Vec<u8>,
    /// Request context.
    pub context: Context,
    /// Options.
    pub options: ScanOptions,
}

impl TryFrom<pb::ScanOutputRequest> for ScanRequest {
    type Error = Status;

    fn try_from(value: pb::ScanOutputRequest) -> Result<Self, Status> {
        let pb::ScanOutputRequest {
            text,
            context,
            redaction: how,
            findings_only,
            pii,
        } = value;
        Ok(ScanRequest {
            text,
            context: Context::try_from(context)?,
            options: ScanOptions {
                keyed: redaction(how)?,
                findings_only,
                pii,
            },
        })
    }
}

/// One chunk of a `ScanOutputStream`: the data, and the options when it is the first chunk.
#[derive(Debug, Clone)]
pub struct ScanChunk {
    /// The bytes.
    pub data: Vec<u8>,
    /// Context and options, when any was set on this chunk.
    pub header: Option<(Context, ScanOptions)>,
}

impl TryFrom<pb::ScanOutputChunk> for ScanChunk {
    type Error = Status;

    fn try_from(value: pb::ScanOutputChunk) -> Result<Self, Status> {
        let pb::ScanOutputChunk {
            data,
            context,
            redaction: how,
            findings_only,
        } = value;
        let header = if context.is_some() || how != 0 || findings_only {
            Some((
                Context::try_from(context)?,
                ScanOptions {
                    keyed: redaction(how)?,
                    findings_only,
                    pii: false,
                },
            ))
        } else {
            None
        };
        Ok(ScanChunk { data, header })
    }
}

/// An `Approve` or `Deny` request.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The review.
    pub review_id: String,
    /// Who resolves it.
    pub approver: String,
    /// Allow (approve) or deny.
    pub decision: Decision,
}

impl TryFrom<pb::ApproveRequest> for Resolution {
    type Error = Status;

    fn try_from(value: pb::ApproveRequest) -> Result<Self, Status> {
        let pb::ApproveRequest {
            review_id,
            approver,
            note: _,
        } = value;
        resolution(review_id, approver, Decision::Allow)
    }
}

impl TryFrom<pb::DenyRequest> for Resolution {
    type Error = Status;

    fn try_from(value: pb::DenyRequest) -> Result<Self, Status> {
        let pb::DenyRequest {
            review_id,
            approver,
            reason: _,
        } = value;
        resolution(review_id, approver, Decision::Deny)
    }
}

fn resolution(
    review_id: String,
    approver: String,
    decision: Decision,
) -> Result<Resolution, Status> {
    if review_id.is_empty() {
        return Err(Status::invalid_argument("review_id is required"));
    }
    if approver.is_empty() {
        return Err(Status::invalid_argument("approver is required"));
    }
    for (name, v) in [("review_id", &review_id), ("approver", &approver)] {
        if v.len() > MAX_CONTEXT_FIELD_BYTES {
            return Err(Status::invalid_argument(format!(
                "{name} is {} bytes, the limit is {MAX_CONTEXT_FIELD_BYTES}",
                v.len()
            )));
        }
    }
    Ok(Resolution {
        review_id,
        approver,
        decision,
    })
}

/// A `Redeem` request: the review, the action presented and the binding context.
#[derive(Debug, Clone)]
pub struct RedeemRequest {
    /// The review.
    pub review_id: String,
    /// The call presented, parsed.
    pub action: serde_json::Value,
    /// Request context.
    pub context: Context,
}

impl TryFrom<pb::RedeemRequest> for RedeemRequest {
    type Error = Status;

    fn try_from(value: pb::RedeemRequest) -> Result<Self, Status> {
        let pb::RedeemRequest {
            review_id,
            call_json,
            context,
        } = value;
        if review_id.is_empty() || review_id.len() > MAX_CONTEXT_FIELD_BYTES {
            return Err(Status::invalid_argument(
                "review_id is required and at most 256 bytes",
            ));
        }
        // The strict reader of model output: a duplicate key (which a first-wins executor
        // would read differently from the last-wins binding) is refused. The length is bounded
        // by the message limit.
        let limits = JsonLimits {
            max_bytes: usize::MAX,
            max_depth: json::MAX_DEPTH,
        };
        let action = json::parse_strict(&call_json, &limits)
            .map_err(|e| Status::invalid_argument(format!("call_json is not strict JSON: {e}")))?;
        Ok(RedeemRequest {
            review_id,
            action,
            context: Context::try_from(context)?,
        })
    }
}

impl Context {
    /// What a review is bound to besides the call: the goal, the task and the lane, each
    /// prefixed with its length, so that no triple reads the same as another (`"a\ntask=b"`,
    /// `""` against `"a"`, `"b"`), and the hash of the policy that screened the call, so that a
    /// policy reload closes the reviews opened under the old one.
    pub fn binding(&self, policy_hash: &str) -> String {
        format!(
            "goal={}:{}\ntask={}:{}\nlane={}:{}\npolicy={}",
            self.goal_id.len(),
            self.goal_id,
            self.task_id.len(),
            self.task_id,
            self.lane.len(),
            self.lane,
            policy_hash
        )
    }
}

impl From<Decision> for pb::Decision {
    fn from(value: Decision) -> Self {
        match value {
            Decision::Allow => pb::Decision::Allow,
            Decision::Deny => pb::Decision::Deny,
            Decision::Review => pb::Decision::Review,
        }
    }
}

fn decision(value: Decision) -> i32 {
    pb::Decision::from(value).into()
}

fn u64_of(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl From<Span> for pb::Span {
    fn from(value: Span) -> Self {
        let Span { start, end } = value;
        pb::Span {
            start: u64_of(start),
            end: u64_of(end),
        }
    }
}

impl From<&Reason> for pb::Reason {
    fn from(value: &Reason) -> Self {
        let Reason {
            code,
            message,
            call,
            pointer,
            span,
        } = value;
        pb::Reason {
            code: code.as_str().to_owned(),
            message: message.clone(),
            call: call.map(u32_of),
            pointer: pointer.as_deref().map(str::to_owned),
            span: span.map(pb::Span::from),
        }
    }
}

impl From<&ScreenedCall> for pb::ScreenedCall {
    fn from(value: &ScreenedCall) -> Self {
        let ScreenedCall {
            tool,
            format,
            decision: call_decision,
            blast_radius,
            call,
            approval,
        } = value;
        let call_json = match call_decision {
            Decision::Allow | Decision::Review => call
                .as_ref()
                .map(|c| approval::canonical_json(&approval::action_value(c))),
            Decision::Deny => None,
        };
        pb::ScreenedCall {
            tool: tool.as_deref().map(str::to_owned),
            format: format.as_str().to_owned(),
            decision: decision(*call_decision),
            blast_radius: match blast_radius {
                None => pb::BlastRadius::Unspecified,
                Some(BlastRadius::Low) => pb::BlastRadius::Low,
                Some(BlastRadius::High) => pb::BlastRadius::High,
            }
            .into(),
            call_json,
            review_id: approval.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
            review_expires_at_unix_ms: approval.as_ref().map_or(0, |t| t.expires_at_unix_ms),
        }
    }
}

impl From<Timings> for pb::ActionTimings {
    fn from(value: Timings) -> Self {
        let Timings {
            parse_ns,
            checks_ns,
            total_ns,
        } = value;
        pb::ActionTimings {
            parse_ns,
            checks_ns,
            total_ns,
        }
    }
}

/// An action verdict with the hosts granted to its request.
pub fn action_verdict(verdict: &ActionVerdict, granted_hosts: Vec<String>) -> pb::ActionVerdict {
    let ActionVerdict {
        decision: d,
        reasons,
        calls,
        policy_hash,
        timings,
    } = verdict;
    pb::ActionVerdict {
        decision: decision(*d),
        reasons: reasons.iter().map(pb::Reason::from).collect(),
        calls: calls.iter().map(pb::ScreenedCall::from).collect(),
        policy_hash: policy_hash.to_string(),
        timings: Some((*timings).into()),
        granted_hosts,
    }
}

fn input_source(value: InputSource) -> pb::InputSource {
    match value {
        InputSource::WebPage => pb::InputSource::WebPage,
        InputSource::Document => pb::InputSource::Document,
        InputSource::ToolResult => pb::InputSource::ToolResult,
        InputSource::Message => pb::InputSource::Message,
        InputSource::User => pb::InputSource::User,
        _ => pb::InputSource::Other,
    }
}

impl From<&classify::Finding> for pb::InputFinding {
    fn from(value: &classify::Finding) -> Self {
        let classify::Finding {
            code,
            span,
            weight,
            detail,
            hidden,
            inside: _,
        } = value;
        pb::InputFinding {
            code: code.as_str().to_owned(),
            span: Some((*span).into()),
            weight: *weight,
            detail: detail.clone(),
            hidden: hidden.clone(),
        }
    }
}

impl From<InputTimings> for pb::InputTimings {
    fn from(value: InputTimings) -> Self {
        let InputTimings {
            heuristics_ns,
            tokenize_ns,
            tier1_ns,
            classifier_ns,
            total_ns,
        } = value;
        pb::InputTimings {
            heuristics_ns,
            tokenize_ns,
            tier1_ns,
            classifier_ns,
            total_ns,
        }
    }
}

/// An input verdict, with the hashes of the policy and model in force.
pub fn input_verdict(
    verdict: &InputVerdict,
    policy_hash: &str,
    model_hash: &str,
) -> pb::InputVerdict {
    let InputVerdict {
        decision: d,
        score,
        heuristic_score,
        classifier_score,
        reasons,
        findings,
        windows,
        windows_scored,
        top_window,
        source,
        timings,
    } = verdict;
    pb::InputVerdict {
        decision: decision(*d),
        score: *score,
        heuristic_score: *heuristic_score,
        classifier_score: *classifier_score,
        reasons: reasons.iter().map(pb::Reason::from).collect(),
        findings: findings.iter().map(pb::InputFinding::from).collect(),
        windows: u32_of(*windows),
        windows_scored: u32_of(*windows_scored),
        top_window: top_window.map(pb::Span::from),
        source: input_source(*source).into(),
        timings: Some((*timings).into()),
        policy_hash: policy_hash.to_owned(),
        model_hash: model_hash.to_owned(),
    }
}

impl From<&Finding> for pb::OutputFinding {
    fn from(value: &Finding) -> Self {
        let Finding {
            rule,
            kind,
            start,
            end,
            score,
            encoding,
        } = value;
        pb::OutputFinding {
            rule: rule.to_string(),
            kind: kind.as_str().to_owned(),
            span: Some(pb::Span {
                start: u64_of(*start),
                end: u64_of(*end),
            }),
            score: *score,
            encoding: encoding.map(|e| e.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_of_different_goal_task_pairs_differ() {
        let ctx = |goal: &str, task: &str| Context {
            goal_id: goal.into(),
            task_id: task.into(),
            lane: String::new(),
        };
        let b = |c: Context| c.binding("p");
        assert_ne!(b(ctx("a\ntask=b", "")), b(ctx("a", "b")));
        assert_ne!(b(ctx("a", "")), b(ctx("", "a")));
        assert_eq!(b(ctx("g", "t")), b(ctx("g", "t")));
        let lane = Context {
            lane: "prod".into(),
            ..ctx("g", "t")
        };
        assert_ne!(b(lane), b(ctx("g", "t")));
        assert_ne!(ctx("g", "t").binding("p1"), ctx("g", "t").binding("p2"));
    }

    #[test]
    fn context_fields_are_limited() {
        let long = "x".repeat(MAX_CONTEXT_FIELD_BYTES + 1);
        let err = Context::try_from(Some(pb::RequestContext {
            goal_id: long,
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("context.goal_id"));
    }

    #[test]
    fn unknown_enum_values_are_invalid_arguments() {
        let err = ActionRequest::try_from(pb::ScreenActionRequest {
            sql_dialect: 99,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let err = InputRequest::try_from(pb::ScreenInputRequest {
            source: -1,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn first_chunk_carries_the_header() {
        let chunk = ScanChunk::try_from(pb::ScanOutputChunk {
            data: b"abc".to_vec(),
            redaction: pb::Redaction::Keyed.into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            chunk.header.map(|(_, o)| o),
            Some(ScanOptions {
                keyed: true,
                findings_only: false,
                pii: false,
            })
        );
    }

    #[test]
    fn denied_calls_carry_no_arguments() {
        let guard = guardrail_core::Guard::builtin().unwrap();
        let v = guard.screen_action(br#"{"tool":"read_file","args":{"path":"/etc/passwd"}}"#);
        let p = action_verdict(&v, Vec::new());
        assert_eq!(p.decision, i32::from(pb::Decision::Deny));
        assert!(p.calls.iter().all(|c| c.call_json.is_none()));
        let v = guard.screen_action(br#"{"tool":"read_file","args":{"path":"/workspace/a.txt"}}"#);
        let p = action_verdict(&v, Vec::new());
        assert_eq!(p.decision, i32::from(pb::Decision::Allow));
        assert_eq!(
            p.calls[0].call_json.as_deref(),
            Some(r#"{"args":{"path":"/workspace/a.txt"},"tool":"read_file"}"#)
        );
    }
}
