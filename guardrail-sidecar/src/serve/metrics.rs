//! Prometheus metrics, rendered in the text exposition format on a separate port.
//!
//! Label values come from bounded sets only: RPC names, decisions, reason codes, stage names and
//! the names of allowlisted tools (a tool the policy does not know is counted as `none`), so a
//! hostile model output cannot grow the series count.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use guardrail_core::Decision;

/// The RPCs, as metric and audit labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rpc {
    /// `ScreenAction`.
    ScreenAction,
    /// `ScreenInput`.
    ScreenInput,
    /// `ScanOutput`.
    ScanOutput,
    /// `ScanOutputStream`.
    ScanOutputStream,
    /// `Approve`.
    Approve,
    /// `Deny`.
    Deny,
    /// `Redeem`.
    Redeem,
}

impl Rpc {
    /// Every RPC.
    pub const ALL: [Rpc; 7] = [
        Rpc::ScreenAction,
        Rpc::ScreenInput,
        Rpc::ScanOutput,
        Rpc::ScanOutputStream,
        Rpc::Approve,
        Rpc::Deny,
        Rpc::Redeem,
    ];

    /// The snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rpc::ScreenAction => "screen_action",
            Rpc::ScreenInput => "screen_input",
            Rpc::ScanOutput => "scan_output",
            Rpc::ScanOutputStream => "scan_output_stream",
            Rpc::Approve => "approve",
            Rpc::Deny => "deny",
            Rpc::Redeem => "redeem",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A stage whose latency is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Finding and parsing the calls in a model output.
    ActionParse,
    /// Typing and checking the calls.
    ActionChecks,
    /// The whole action screen.
    ActionTotal,
    /// Input heuristics.
    InputHeuristics,
    /// Tokenizing into classifier windows.
    InputTokenize,
    /// The first classifier tier.
    InputTier1,
    /// The transformer classifier.
    InputClassifier,
    /// The whole input screen.
    InputTotal,
    /// Secret scanning and redaction of tool output.
    OutputScan,
}

impl Stage {
    const ALL: [Stage; 9] = [
        Stage::ActionParse,
        Stage::ActionChecks,
        Stage::ActionTotal,
        Stage::InputHeuristics,
        Stage::InputTokenize,
        Stage::InputTier1,
        Stage::InputClassifier,
        Stage::InputTotal,
        Stage::OutputScan,
    ];

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Stage::ActionParse => ("action", "parse"),
            Stage::ActionChecks => ("action", "checks"),
            Stage::ActionTotal => ("action", "total"),
            Stage::InputHeuristics => ("input", "heuristics"),
            Stage::InputTokenize => ("input", "tokenize"),
            Stage::InputTier1 => ("input", "tier1"),
            Stage::InputClassifier => ("input", "classifier"),
            Stage::InputTotal => ("input", "total"),
            Stage::OutputScan => ("output", "scan"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Bucket upper bounds in nanoseconds: 1 µs to 2.5 s.
const BUCKETS_NS: [u64; 20] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_NS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn observe_ns(&self, ns: u64) {
        if let Some(i) = BUCKETS_NS.iter().position(|&b| ns <= b)
            && let Some(bucket) = self.buckets.get(i)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (bound, bucket) in BUCKETS_NS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = *bound as f64 / 1e9;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Decision counter key: rpc, tool, decision, reason.
type DecisionKey = (Rpc, String, &'static str, &'static str);

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<DecisionKey, u64>>,
    reasons: Mutex<BTreeMap<(Rpc, &'static str), u64>>,
    findings: Mutex<BTreeMap<(Rpc, String), u64>>,
    stages: [Histogram; Stage::ALL.len()],
    requests: [Histogram; Rpc::ALL.len()],
    rejected_overload: [AtomicU64; Rpc::ALL.len()],
    errors: [AtomicU64; Rpc::ALL.len()],
    in_flight: AtomicI64,
    classifier_errors: AtomicU64,
    judge_errors: AtomicU64,
    audit_errors: AtomicU64,
    reload_ok: AtomicU64,
    reload_failed: AtomicU64,
    policy_hash: Mutex<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Metrics {
            decisions: Mutex::new(BTreeMap::new()),
            reasons: Mutex::new(BTreeMap::new()),
            findings: Mutex::new(BTreeMap::new()),
            stages: std::array::from_fn(|_| Histogram::new()),
            requests: std::array::from_fn(|_| Histogram::new()),
            rejected_overload: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicI64::new(0),
            classifier_errors: AtomicU64::new(0),
            judge_errors: AtomicU64::new(0),
            audit_errors: AtomicU64::new(0),
            reload_ok: AtomicU64::new(0),
            reload_failed: AtomicU64::new(0),
            policy_hash: Mutex::new(String::new()),
        }
    }

    /// Counts one decision, with the tool it is attributed to and its primary reason code,
    /// and every reason code it carries.
    pub fn decision(
        &self,
        rpc: Rpc,
        tool: Option<&str>,
        decision: Decision,
        codes: &[&'static str],
    ) {
        let primary = codes.first().copied().unwrap_or("none");
        let key = (
            rpc,
            tool.unwrap_or("none").to_owned(),
            decision.as_str(),
            primary,
        );
        if let Ok(mut map) = self.decisions.lock() {
            *map.entry(key).or_insert(0) += 1;
        }
        if !codes.is_empty()
            && let Ok(mut map) = self.reasons.lock()
        {
            for code in codes {
                *map.entry((rpc, *code)).or_insert(0) += 1;
            }
        }
    }

    /// Counts findings of an output scan by rule.
    pub fn findings<'a>(&self, rpc: Rpc, rules: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut map) = self.findings.lock() {
            for rule in rules {
                *map.entry((rpc, rule.to_owned())).or_insert(0) += 1;
            }
        }
    }

    /// Records a stage's latency.
    pub fn stage(&self, stage: Stage, ns: u64) {
        if let Some(h) = self.stages.get(stage.index()) {
            h.observe_ns(ns);
        }
    }

    /// Records a whole request's latency as the server saw it.
    pub fn request(&self, rpc: Rpc, elapsed: Duration) {
        if let Some(h) = self.requests.get(rpc.index()) {
            h.observe_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        }
    }

    /// Counts a request refused because the server was at its concurrency limit.
    pub fn rejected_overload(&self, rpc: Rpc) {
        if let Some(c) = self.rejected_overload.get(rpc.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request that ended in an error status.
    pub fn error(&self, rpc: Rpc) {
        if let Some(c) = self.errors.get(rpc.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adjusts the in-flight gauge.
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts a classifier failure (the input was denied, fail closed).
    pub fn classifier_error(&self) {
        self.classifier_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an audit line that could not be written.
    pub fn audit_error(&self) {
        self.audit_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a policy reload and, when it succeeded, records the new policy hash.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reload_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reload_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records the hash of the policy in force.
    pub fn set_policy_hash(&self, hash: &str) {
        if let Ok(mut h) = self.policy_hash.lock() {
            hash.clone_into(&mut h);
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str(
            "# HELP guardrail_decisions_total Verdicts by RPC, tool, decision and primary reason code.\n\
             # TYPE guardrail_decisions_total counter\n",
        );
        if let Ok(map) = self.decisions.lock() {
            for ((rpc, tool, decision, reason), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "guardrail_decisions_total{{rpc=\"{}\",tool=\"{}\",decision=\"{decision}\",reason=\"{reason}\"}} {n}",
                    rpc.as_str(),
                    escape(tool),
                );
            }
        }
        out.push_str(
            "# HELP guardrail_reasons_total Reason codes in verdicts (a verdict may carry several).\n\
             # TYPE guardrail_reasons_total counter\n",
        );
        if let Ok(map) = self.reasons.lock() {
            for ((rpc, code), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "guardrail_reasons_total{{rpc=\"{}\",reason=\"{code}\"}} {n}",
                    rpc.as_str()
                );
            }
        }
        out.push_str(
            "# HELP guardrail_output_findings_total Secrets found in tool output, by rule.\n\
             # TYPE guardrail_output_findings_total counter\n",
        );
        if let Ok(map) = self.findings.lock() {
            for ((rpc, rule), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "guardrail_output_findings_total{{rpc=\"{}\",rule=\"{}\"}} {n}",
                    rpc.as_str(),
                    escape(rule)
                );
            }
        }
        out.push_str(
            "# HELP guardrail_stage_duration_seconds Time spent in each screening stage.\n\
             # TYPE guardrail_stage_duration_seconds histogram\n",
        );
        for (stage, h) in Stage::ALL.iter().zip(&self.stages) {
            let (flow, name) = stage.labels();
            h.render(
                &mut out,
                "guardrail_stage_duration_seconds",
                &format!("flow=\"{flow}\",stage=\"{name}\""),
            );
        }
        out.push_str(
            "# HELP guardrail_request_duration_seconds Time from a request's arrival to its response, per RPC.\n\
             # TYPE guardrail_request_duration_seconds histogram\n",
        );
        for (rpc, h) in Rpc::ALL.iter().zip(&self.requests) {
            h.render(
                &mut out,
                "guardrail_request_duration_seconds",
                &format!("rpc=\"{}\"", rpc.as_str()),
            );
        }
        counter_per_rpc(
            &mut out,
            "guardrail_overload_rejections_total",
            "Requests refused with RESOURCE_EXHAUSTED at the concurrency limit.",
            &self.rejected_overload,
        );
        counter_per_rpc(
            &mut out,
            "guardrail_request_errors_total",
            "Requests that ended in an error status other than overload.",
            &self.errors,
        );
        let scalar = |out: &mut String, name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        scalar(
            &mut out,
            "guardrail_in_flight_requests",
            "gauge",
            "Requests being screened now.",
            self.in_flight.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            &mut out,
            "guardrail_classifier_errors_total",
            "counter",
            "Inputs denied because the classifier could not run (fail closed).",
            self.classifier_errors.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            &mut out,
            "guardrail_judge_errors_total",
            "counter",
            "Reviews the judge could not decide (no judge is configured in this build).",
            self.judge_errors.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            &mut out,
            "guardrail_audit_errors_total",
            "counter",
            "Audit lines that could not be written.",
            self.audit_errors.load(Ordering::Relaxed).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP guardrail_policy_reloads_total Policy reloads by result.\n\
             # TYPE guardrail_policy_reloads_total counter\n\
             guardrail_policy_reloads_total{{result=\"ok\"}} {}\n\
             guardrail_policy_reloads_total{{result=\"error\"}} {}",
            self.reload_ok.load(Ordering::Relaxed),
            self.reload_failed.load(Ordering::Relaxed),
        );
        if let Ok(hash) = self.policy_hash.lock() {
            let _ = writeln!(
                out,
                "# HELP guardrail_policy_info The policy in force.\n\
                 # TYPE guardrail_policy_info gauge\n\
                 guardrail_policy_info{{policy_hash=\"{}\"}} 1",
                escape(&hash)
            );
        }
        out
    }
}

fn counter_per_rpc(out: &mut String, name: &str, help: &str, values: &[AtomicU64]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (rpc, v) in Rpc::ALL.iter().zip(values) {
        let _ = writeln!(
            out,
            "{name}{{rpc=\"{}\"}} {}",
            rpc.as_str(),
            v.load(Ordering::Relaxed)
        );
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header::CONTENT_TYPE;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.decision(
            Rpc::ScreenAction,
            Some("read_file"),
            Decision::Deny,
            &["path_escapes_workspace"],
        );
        m.stage(Stage::ActionTotal, 3_000);
        m.set_policy_hash("abc");
        let text = m.render();
        assert!(text.contains(
            "guardrail_decisions_total{rpc=\"screen_action\",tool=\"read_file\",decision=\"deny\",reason=\"path_escapes_workspace\"} 1"
        ));
        assert!(text.contains(
            "guardrail_stage_duration_seconds_bucket{flow=\"action\",stage=\"total\",le=\"0.000005\"} 1"
        ));
        assert!(text.contains("guardrail_policy_info{policy_hash=\"abc\"} 1"));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
