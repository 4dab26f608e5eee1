//! The `guardrail.v1.Guardrail` service: converts each request, calls the guard, converts the
//! verdict back, and records metrics and one audit line. Nothing is decided here.

use std::sync::Arc;
use std::time::Instant;

use guardrail_core::approval::ApprovalError;
use guardrail_core::scan::{Redaction, StreamScanner, redact, with_pii};
use guardrail_core::{ActionVerdict, Coded, Decision, ReasonCode};
use tonic::{Request, Response, Status, Streaming};

use super::Shared;
use super::audit::{AuditRecord, now_ms};
use super::convert::{
    self, ActionRequest, Context, InputRequest, RedeemRequest, Resolution, ScanChunk, ScanOptions,
    ScanRequest,
};
use super::engine::Engine;
use super::identity::Identity;
use super::metrics::{Rpc, Stage};
use crate::proto as pb;

/// Metadata key carrying the caller's identity, set by the auth gateway.
pub const IDENTITY_HEADER: &str = "x-agent-identity";
/// Unary scans and model outputs larger than this run on the blocking pool.
const INLINE_SCAN_BYTES: usize = 64 * 1024;

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct GuardrailService {
    shared: Arc<Shared>,
}

impl GuardrailService {
    /// A service over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        GuardrailService { shared }
    }

    fn fail(&self, rpc: Rpc, status: Status) -> Status {
        self.shared.metrics.error(rpc);
        status
    }
}

/// Who called, from the connection (client certificate, address) and the request metadata.
#[derive(Debug, Clone, Default)]
struct Caller {
    identity: String,
    /// The identity comes from a client certificate or a trusted gateway's header.
    verified: bool,
    peer: Option<std::net::SocketAddr>,
}

impl Caller {
    fn of<T>(request: &Request<T>, trust_header: bool) -> Caller {
        let certificates = request.peer_certs();
        let certificate = certificates
            .as_deref()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref());
        let header = request
            .metadata()
            .get_all(IDENTITY_HEADER)
            .iter()
            .map(|v| v.to_str().unwrap_or(""));
        let identity = Identity::resolve(certificate, header, trust_header);
        Caller {
            identity: identity.name,
            verified: identity.verified,
            peer: request.remote_addr(),
        }
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn redaction(shared: &Shared, options: ScanOptions) -> Redaction {
    if options.keyed {
        Redaction::Keyed {
            key: shared.redaction_key.clone(),
        }
    } else {
        Redaction::Label
    }
}

/// Most findings one scan stream may report; past that it fails (`OUT_OF_RANGE`) rather than
/// hold an unbounded list.
pub const MAX_STREAM_FINDINGS: usize = 100_000;

/// What a scan stream produced.
#[derive(Debug, Default)]
struct StreamScan {
    findings: Vec<guardrail_core::scan::Finding>,
    redacted: Vec<u8>,
    scan_ns: u64,
}

/// Scans the chunks `rx` delivers until it closes (on the blocking pool).
fn scan_stream(
    scanner: &guardrail_core::scan::SecretScanner,
    redaction: Redaction,
    findings_only: bool,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<StreamScan, Status> {
    let mut stream = StreamScanner::new(scanner, redaction);
    if findings_only {
        stream.findings_only();
    }
    let mut out = StreamScan::default();
    let take = |o: guardrail_core::scan::StreamOutput, out: &mut StreamScan| {
        out.findings.extend(o.findings);
        out.redacted.extend_from_slice(&o.redacted);
        if out.findings.len() > MAX_STREAM_FINDINGS {
            return Err(Status::out_of_range(format!(
                "the stream has more than {MAX_STREAM_FINDINGS} findings"
            )));
        }
        Ok(())
    };
    while let Some(data) = rx.blocking_recv() {
        let t = Instant::now();
        let o = stream.push(&data);
        out.scan_ns += u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        take(o, &mut out)?;
    }
    let t = Instant::now();
    let o = stream.finish();
    out.scan_ns += u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
    take(o, &mut out)?;
    Ok(out)
}

/// Screens a request's output with the policy in force plus its host grants; fails only
/// when a grant is refused.
fn screen(engine: &Engine, req: &ActionRequest) -> Result<(ActionVerdict, Vec<String>), Status> {
    let (guard, granted) = engine.guard_with(&req.allow_hosts)?;
    Ok((
        guard.screen_action_with(&req.model_output, &req.options),
        granted,
    ))
}

fn is_classifier_failure(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::ClassifierUnavailable | ReasonCode::ModelHashMismatch
    )
}

#[tonic::async_trait]
impl pb::guardrail_server::Guardrail for GuardrailService {
    async fn screen_action(
        &self,
        request: Request<pb::ScreenActionRequest>,
    ) -> Result<Response<pb::ActionVerdict>, Status> {
        let started = Instant::now();
        let rpc = Rpc::ScreenAction;
        let shared = &self.shared;
        let permit = shared.limiter.try_acquire(rpc)?;
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let req = ActionRequest::try_from(request.into_inner()).map_err(|e| self.fail(rpc, e))?;
        let (req, screened, _permit) =
            if req.allow_hosts.is_empty() && req.model_output.len() <= INLINE_SCAN_BYTES {
                let screened = screen(&shared.engine.load(), &req);
                (req, screened, permit)
            } else {
                // Off the event loop: a large output, or host grants (a grant set not seen
                // before compiles a policy). The permit goes with the work, so a cancelled
                // call keeps its slot until the work is done.
                let engine = shared.engine.load_full();
                tokio::task::spawn_blocking(move || {
                    let screened = screen(&engine, &req);
                    (req, screened, permit)
                })
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "action screening task failed");
                    self.fail(rpc, Status::internal("action screening failed"))
                })?
            };
        let (mut verdict, granted) = screened.map_err(|e| {
            tracing::warn!(identity = ?caller.identity, goal_id = ?req.context.goal_id, error = ?e.message(), "host grant refused");
            self.fail(rpc, e)
        })?;
        let binding = req.context.binding(&verdict.policy_hash);
        if let Err(e) = verdict.open_reviews(&shared.approvals, &binding, shared.review_ttl) {
            review_refused(&e);
        }

        let m = &shared.metrics;
        m.stage(Stage::ActionParse, verdict.timings.parse_ns);
        m.stage(Stage::ActionChecks, verdict.timings.checks_ns);
        m.stage(Stage::ActionTotal, verdict.timings.total_ns);
        let codes: Vec<&'static str> = verdict.reasons.iter().map(|r| r.code.as_str()).collect();
        let attributed = verdict
            .reasons
            .first()
            .and_then(|r| r.call)
            .and_then(|i| verdict.calls.get(i))
            .or_else(|| verdict.calls.first())
            .and_then(|c| c.tool.as_deref());
        m.decision(rpc, attributed, verdict.decision, &codes);
        shared.audit.record(&AuditRecord {
            reasons: codes,
            tools: verdict
                .calls
                .iter()
                .filter_map(|c| c.tool.as_deref())
                .collect(),
            granted_hosts: &granted,
            reviews: verdict
                .calls
                .iter()
                .filter_map(|c| c.approval.as_ref())
                .map(|t| review_ref(&t.id))
                .collect(),
            bytes: req.model_output.len() as u64,
            ..audit_line(
                "decision",
                rpc,
                &caller,
                Some(&req.context),
                verdict.decision.as_str(),
                &verdict.policy_hash,
                started,
            )
        });
        let reply = convert::action_verdict(&verdict, granted);
        m.request(rpc, started.elapsed());
        Ok(Response::new(reply))
    }

    async fn screen_input(
        &self,
        request: Request<pb::ScreenInputRequest>,
    ) -> Result<Response<pb::InputVerdict>, Status> {
        let started = Instant::now();
        let rpc = Rpc::ScreenInput;
        let permit = self.shared.limiter.try_acquire(rpc)?;
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let req = InputRequest::try_from(request.into_inner()).map_err(|e| self.fail(rpc, e))?;
        let engine = self.shared.engine.load_full();
        let inputs = engine.inputs().clone();
        let (req, verdict) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let verdict = inputs.screen_input(&req.text, req.source);
            (req, verdict)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "input screening task failed");
            self.fail(rpc, Status::internal("input screening failed"))
        })?;

        let shared = &self.shared;
        let m = &shared.metrics;
        let t = verdict.timings;
        m.stage(Stage::InputHeuristics, t.heuristics_ns);
        if verdict.classifier_score.is_some() {
            m.stage(Stage::InputTokenize, t.tokenize_ns);
            m.stage(Stage::InputTier1, t.tier1_ns);
            m.stage(Stage::InputClassifier, t.classifier_ns);
        }
        m.stage(Stage::InputTotal, t.total_ns);
        if verdict
            .reasons
            .iter()
            .any(|r| is_classifier_failure(r.code))
        {
            m.classifier_error();
        }
        let codes: Vec<&'static str> = verdict.reasons.iter().map(|r| r.code.as_str()).collect();
        m.decision(rpc, None, verdict.decision, &codes);
        let policy_hash = engine.guard().policy_hash().to_owned();
        shared.audit.record(&AuditRecord {
            reasons: codes,
            source: Some(verdict.source.as_str()),
            bytes: req.text.len() as u64,
            model_hash: engine.model_hash(),
            ..audit_line(
                "decision",
                rpc,
                &caller,
                Some(&req.context),
                verdict.decision.as_str(),
                &policy_hash,
                started,
            )
        });
        let reply = convert::input_verdict(&verdict, &policy_hash, engine.model_hash());
        m.request(rpc, started.elapsed());
        Ok(Response::new(reply))
    }

    async fn scan_output(
        &self,
        request: Request<pb::ScanOutputRequest>,
    ) -> Result<Response<pb::ScanOutputResponse>, Status> {
        let started = Instant::now();
        let rpc = Rpc::ScanOutput;
        let permit = self.shared.limiter.try_acquire(rpc)?;
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let req = ScanRequest::try_from(request.into_inner()).map_err(|e| self.fail(rpc, e))?;
        let shared = self.shared.clone();
        let engine = shared.engine.load_full();
        // The hash of the policy that scans, even if another is loaded meanwhile.
        let policy_hash = engine.guard().policy_hash().to_owned();
        let scan = move |req: ScanRequest| {
            let _permit = permit;
            let t = Instant::now();
            let mut findings = engine.secrets().scan(&req.text);
            if req.options.pii {
                findings = with_pii(findings, engine.pii(), &req.text);
            }
            let redacted = if req.options.findings_only {
                Vec::new()
            } else {
                redact(&req.text, &findings, &redaction(&shared, req.options))
            };
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            (req, findings, redacted, ns)
        };
        let (req, findings, redacted, scan_ns) = if req.text.len() <= INLINE_SCAN_BYTES {
            scan(req)
        } else {
            tokio::task::spawn_blocking(move || scan(req))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "output scanning task failed");
                    self.fail(rpc, Status::internal("output scanning failed"))
                })?
        };
        let reply = self.finish_scan(
            rpc,
            started,
            &caller,
            &req.context,
            req.text.len() as u64,
            &findings,
            redacted,
            scan_ns,
            policy_hash,
        );
        Ok(Response::new(reply))
    }

    async fn scan_output_stream(
        &self,
        request: Request<Streaming<pb::ScanOutputChunk>>,
    ) -> Result<Response<pb::ScanOutputResponse>, Status> {
        let started = Instant::now();
        let rpc = Rpc::ScanOutputStream;
        let _permit = self.shared.limiter.try_acquire(rpc)?;
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let mut stream = request.into_inner();
        let shared = self.shared.clone();
        // The scanner of the policy in force when the stream opened, for the whole stream.
        let (secrets, policy_hash) = {
            let engine = shared.engine.load();
            (
                engine.secrets().clone(),
                engine.guard().policy_hash().to_owned(),
            )
        };
        let max = shared.limits.max_stream_bytes;
        let mut context = Context::default();
        let mut options = ScanOptions {
            keyed: false,
            findings_only: false,
            pii: false,
        };
        // The scan runs on the blocking pool, fed chunk by chunk (at most two waiting), so a
        // large stream does not hold up the event loop's other connections.
        let mut worker: Option<(
            tokio::sync::mpsc::Sender<Vec<u8>>,
            tokio::task::JoinHandle<Result<StreamScan, Status>>,
        )> = None;
        let mut total = 0usize;
        while let Some(chunk) = stream.message().await.map_err(|e| self.fail(rpc, e))? {
            let ScanChunk { data, header } =
                ScanChunk::try_from(chunk).map_err(|e| self.fail(rpc, e))?;
            if let Some((c, o)) = header {
                if worker.is_some() {
                    return Err(self.fail(
                        rpc,
                        Status::invalid_argument(
                            "context, redaction and findings_only go on the first chunk only",
                        ),
                    ));
                }
                context = c;
                options = o;
            }
            total = total.saturating_add(data.len());
            if total > max {
                return Err(self.fail(
                    rpc,
                    Status::out_of_range(format!("the stream is over its limit of {max} bytes")),
                ));
            }
            let (tx, _) = worker.get_or_insert_with(|| {
                let (tx, rx) = tokio::sync::mpsc::channel(2);
                let scanner = secrets.clone();
                let redaction = redaction(&shared, options);
                let handle = tokio::task::spawn_blocking(move || {
                    scan_stream(&scanner, redaction, options.findings_only, rx)
                });
                (tx, handle)
            });
            if tx.send(data).await.is_err() {
                // The scan stopped early (too many findings): its error is the answer.
                break;
            }
        }
        let scanned = match worker {
            None => Ok(StreamScan::default()),
            Some((tx, handle)) => {
                drop(tx);
                handle.await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "stream scan task failed");
                    Err(Status::internal("stream scan failed"))
                })
            }
        };
        let StreamScan {
            findings,
            redacted,
            scan_ns,
        } = scanned.map_err(|e| self.fail(rpc, e))?;
        let reply = self.finish_scan(
            rpc,
            started,
            &caller,
            &context,
            total as u64,
            &findings,
            redacted,
            scan_ns,
            policy_hash,
        );
        Ok(Response::new(reply))
    }

    async fn approve(
        &self,
        request: Request<pb::ApproveRequest>,
    ) -> Result<Response<pb::ReviewResolution>, Status> {
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let resolution =
            Resolution::try_from(request.into_inner()).map_err(|e| self.fail(Rpc::Approve, e))?;
        self.resolve(Rpc::Approve, &caller, &resolution)
    }

    async fn deny(
        &self,
        request: Request<pb::DenyRequest>,
    ) -> Result<Response<pb::ReviewResolution>, Status> {
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let resolution =
            Resolution::try_from(request.into_inner()).map_err(|e| self.fail(Rpc::Deny, e))?;
        self.resolve(Rpc::Deny, &caller, &resolution)
    }

    async fn redeem(
        &self,
        request: Request<pb::RedeemRequest>,
    ) -> Result<Response<pb::RedeemResponse>, Status> {
        let started = Instant::now();
        let rpc = Rpc::Redeem;
        let _permit = self.shared.limiter.try_acquire(rpc)?;
        let caller = Caller::of(&request, self.shared.trust_identity_header);
        let req = RedeemRequest::try_from(request.into_inner()).map_err(|e| self.fail(rpc, e))?;
        let shared = &self.shared;
        // Bound to the policy in force: a review opened under another policy is revoked.
        let binding = req
            .context
            .binding(shared.engine.load().guard().policy_hash());
        let outcome = shared
            .approvals
            .redeem_action(&req.review_id, &req.action, &binding);
        let (reply, approver) = match outcome {
            Ok(redeemed) => (
                pb::RedeemResponse {
                    decision: pb::Decision::Allow.into(),
                    reasons: Vec::new(),
                    approver: redeemed.approver.clone(),
                },
                Some(redeemed.approver),
            ),
            Err(e) => (
                pb::RedeemResponse {
                    decision: pb::Decision::Deny.into(),
                    reasons: vec![pb::Reason::from(&e.to_reason())],
                    approver: String::new(),
                },
                None,
            ),
        };
        let decision = if approver.is_some() {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let codes: Vec<&'static str> = if approver.is_some() {
            Vec::new()
        } else {
            vec![ReasonCode::ApprovalInvalid.as_str()]
        };
        shared.metrics.decision(rpc, None, decision, &codes);
        shared.audit.record(&AuditRecord {
            reasons: codes,
            reviews: vec![review_ref(&req.review_id)],
            approver: approver.as_deref(),
            ..audit_line(
                "review",
                rpc,
                &caller,
                Some(&req.context),
                decision.as_str(),
                shared.engine.load().guard().policy_hash(),
                started,
            )
        });
        shared.metrics.request(rpc, started.elapsed());
        Ok(Response::new(reply))
    }
}

/// Logs that a review could not be opened, at most once a second with the number of refusals
/// since the last line: a full approval store under load must not flood the log.
fn review_refused(e: &ApprovalError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if now > last
        && LAST_SECOND
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(error = %e, suppressed, "cannot open a review; the call stays unapproved");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// An audit line with the fields every event has (time, caller, context, decision, policy,
/// duration so far); the event's own fields start empty, to be set with struct update syntax.
fn audit_line<'a>(
    event: &'static str,
    rpc: Rpc,
    caller: &'a Caller,
    context: Option<&'a Context>,
    decision: &'static str,
    policy_hash: &'a str,
    started: Instant,
) -> AuditRecord<'a> {
    let (goal_id, task_id, lane) = context.map_or(("", "", ""), |c| {
        (c.goal_id.as_str(), c.task_id.as_str(), c.lane.as_str())
    });
    AuditRecord {
        ts_ms: now_ms(),
        event,
        rpc: rpc.as_str(),
        identity: &caller.identity,
        identity_verified: caller.verified,
        peer: caller.peer,
        goal_id,
        task_id,
        lane,
        decision,
        reasons: Vec::new(),
        tools: Vec::new(),
        granted_hosts: &[],
        rules: Vec::new(),
        reviews: Vec::new(),
        approver: None,
        source: None,
        bytes: 0,
        policy_hash,
        model_hash: "",
        duration_us: micros(started),
    }
}

/// The loggable prefix of a review id.
fn review_ref(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn approval_status(e: &ApprovalError) -> Status {
    match e {
        ApprovalError::UnknownId => Status::not_found(e.to_string()),
        ApprovalError::InvalidApprover | ApprovalError::InvalidTtl => {
            Status::invalid_argument(e.to_string())
        }
        ApprovalError::StoreFull { .. } => Status::resource_exhausted(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

impl GuardrailService {
    fn resolve(
        &self,
        rpc: Rpc,
        caller: &Caller,
        resolution: &Resolution,
    ) -> Result<Response<pb::ReviewResolution>, Status> {
        let started = Instant::now();
        let _permit = self.shared.limiter.try_acquire(rpc)?;
        let shared = &self.shared;
        let policy_hash = shared.engine.load().guard().policy_hash().to_owned();
        let audit = |decision: &'static str| {
            shared.audit.record(&AuditRecord {
                reviews: vec![review_ref(&resolution.review_id)],
                approver: Some(&resolution.approver),
                ..audit_line("review", rpc, caller, None, decision, &policy_hash, started)
            });
        };
        let may_resolve = shared.approvers.is_empty()
            || (caller.verified && shared.approvers.contains(&caller.identity));
        if !may_resolve {
            audit("refused");
            let why = if caller.verified {
                format!(
                    "identity `{}` may not resolve reviews (--approver-identities)",
                    caller.identity
                )
            } else {
                "no verified identity: resolving reviews needs a client certificate, or the \
                 x-agent-identity header once behind a gateway that sets it \
                 (--trust-identity-header)"
                    .to_owned()
            };
            return Err(self.fail(rpc, Status::permission_denied(why)));
        }
        let outcome = match resolution.decision {
            Decision::Allow => shared
                .approvals
                .approve(&resolution.review_id, &resolution.approver),
            _ => shared.approvals.deny(&resolution.review_id),
        };
        outcome.map_err(|e| self.fail(rpc, approval_status(&e)))?;
        audit(resolution.decision.as_str());
        shared.metrics.request(rpc, started.elapsed());
        Ok(Response::new(pb::ReviewResolution {
            review_id: resolution.review_id.clone(),
            decision: pb::Decision::from(resolution.decision).into(),
            policy_hash,
        }))
    }

    #[expect(clippy::too_many_arguments, reason = "one call site per scan RPC")]
    fn finish_scan(
        &self,
        rpc: Rpc,
        started: Instant,
        caller: &Caller,
        context: &Context,
        bytes: u64,
        findings: &[guardrail_core::scan::Finding],
        redacted: Vec<u8>,
        scan_ns: u64,
        policy_hash: String,
    ) -> pb::ScanOutputResponse {
        let shared = &self.shared;
        let m = &shared.metrics;
        m.stage(Stage::OutputScan, scan_ns);
        m.findings(rpc, findings.iter().map(|f| &*f.rule));
        let mut rules: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        let decision = if findings.is_empty() {
            "clean"
        } else {
            "redacted"
        };
        shared.audit.record(&AuditRecord {
            rules,
            bytes,
            ..audit_line(
                "scan",
                rpc,
                caller,
                Some(context),
                decision,
                &policy_hash,
                started,
            )
        });
        m.request(rpc, started.elapsed());
        pb::ScanOutputResponse {
            findings: findings.iter().map(pb::OutputFinding::from).collect(),
            redacted,
            bytes_scanned: bytes,
            timings: Some(pb::ScanTimings { scan_ns }),
            policy_hash,
        }
    }
}
