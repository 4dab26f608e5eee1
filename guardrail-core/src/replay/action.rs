//! Replay of the action corpus format (`corpora/actions/*.jsonl`).
//!
//! Each line: `id`, `input` (the raw model output; `null` when the bytes are not UTF-8, then
//! `input_b64` holds them), `expect` (`allow`|`deny`), optional `dialect` for SQL rows, and
//! `category`. Other fields are read and ignored. Allow and review both count as "not denied".

use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Latency, ReplayError};
use crate::check::sql::Dialect;
use crate::guard::{ActionOptions, ActionVerdict, Guard};
use crate::verdict::{Decision, ReasonCode};

/// Largest corpus line accepted, in bytes.
pub use super::MAX_LINE_BYTES;

/// One corpus row, as read.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionCase {
    /// Case id.
    #[serde(default)]
    pub id: String,
    /// Raw model output.
    #[serde(default)]
    pub input: Option<String>,
    /// Raw bytes, base64, when `input` is null.
    #[serde(default)]
    pub input_b64: Option<String>,
    /// `allow` or `deny`.
    pub expect: Expect,
    /// SQL dialect for this row.
    #[serde(default)]
    pub dialect: Option<String>,
    /// `area/sub`.
    #[serde(default)]
    pub category: Option<String>,
    /// The agent's task, for a second stage that judges the action against it (judge corpora).
    #[serde(default)]
    pub context: String,
}

/// The label of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Must not be denied.
    Allow,
    /// Must be denied.
    Deny,
}

impl ActionCase {
    /// The raw bytes to screen.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.input, &self.input_b64) {
            (Some(text), _) => Ok(text.as_bytes().to_vec()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad input_b64: {e}")),
            (None, None) => Err("row has neither `input` nor `input_b64`".into()),
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Category, or `-`.
    pub category: String,
    /// The label.
    pub expect: Option<Expect>,
    /// What the guard decided (absent for rows that could not be read).
    pub decision: Option<Decision>,
    /// Whether the decision agrees with the label.
    pub correct: bool,
    /// Reason codes, in order.
    pub reasons: Vec<ReasonCode>,
    /// Screening time, microseconds.
    pub us: f64,
    /// Why the row could not be replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Summary over all cases: the last stdout line of `guardrail replay --kind action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ActionSummary {
    /// Always `action`.
    pub kind: &'static str,
    /// Rows read.
    pub cases: usize,
    /// Rows whose decision agrees with the label.
    pub correct: usize,
    /// Labeled deny, not denied.
    pub false_allow: usize,
    /// Labeled allow, denied.
    pub false_deny: usize,
    /// Rows that could not be replayed.
    pub errors: usize,
    /// Mean screening time per case (parse included), microseconds.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
}

/// Runs every case of the given files through the guard.
pub fn replay_files(
    guard: &Guard,
    paths: &[impl AsRef<Path>],
) -> Result<Vec<CaseResult>, ReplayError> {
    let results = replay_files_with(guard, paths, |_, _| ())?;
    Ok(results.into_iter().map(|(r, ())| r).collect())
}

/// [`replay_files`] with a second stage: `second` sees each verdict right after screening and
/// may change it (a judge deciding `review` calls against the row's `context`); the case is
/// scored and timed with it. What `second` returns comes back beside the case result
/// (`T::default()` for a row that could not be screened).
pub fn replay_files_with<T: Default>(
    guard: &Guard,
    paths: &[impl AsRef<Path>],
    mut second: impl FnMut(&mut ActionVerdict, &ActionCase) -> T,
) -> Result<Vec<(CaseResult, T)>, ReplayError> {
    let mut results = Vec::new();
    super::for_each_line(paths, |path, number, line| {
        results.push(replay_line(
            guard,
            line,
            &format!("{}:{number}", path.display()),
            &mut second,
        ));
    })?;
    Ok(results)
}

fn replay_line<T: Default>(
    guard: &Guard,
    line: &[u8],
    location: &str,
    second: &mut impl FnMut(&mut ActionVerdict, &ActionCase) -> T,
) -> (CaseResult, T) {
    let mut result = CaseResult {
        id: location.to_owned(),
        category: "-".into(),
        expect: None,
        decision: None,
        correct: false,
        reasons: Vec::new(),
        us: 0.0,
        error: None,
    };
    let case: ActionCase = match serde_json::from_slice(line) {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("{location}: not a corpus row: {e}"));
            return (result, T::default());
        }
    };
    if !case.id.is_empty() {
        result.id.clone_from(&case.id);
    }
    result.category = case.category.clone().unwrap_or_else(|| "-".into());
    result.expect = Some(case.expect);
    let dialect = match case
        .dialect
        .as_deref()
        .map(str::parse::<Dialect>)
        .transpose()
    {
        Ok(d) => d,
        Err(_) => {
            result.error = Some(format!("{location}: unknown dialect"));
            return (result, T::default());
        }
    };
    let bytes = match case.bytes() {
        Ok(b) => b,
        Err(e) => {
            result.error = Some(format!("{location}: {e}"));
            return (result, T::default());
        }
    };
    let options = ActionOptions {
        dialect,
        all_findings: false,
    };
    let start = Instant::now();
    let mut verdict = guard.screen_action_with(&bytes, &options);
    let extra = second(&mut verdict, &case);
    let ns = start.elapsed().as_nanos();
    #[expect(
        clippy::cast_precision_loss,
        reason = "per-case nanoseconds are far below 2^52"
    )]
    let us = ns as f64 / 1000.0;
    result.us = us;
    result.decision = Some(verdict.decision);
    result.reasons = verdict.reasons.iter().map(|r| r.code).collect();
    result.correct = match case.expect {
        Expect::Deny => verdict.decision == Decision::Deny,
        Expect::Allow => verdict.decision != Decision::Deny,
    };
    (result, extra)
}

/// Summarizes case results.
pub fn summarize(results: &[CaseResult]) -> ActionSummary {
    let mut summary = ActionSummary {
        kind: "action",
        cases: results.len(),
        ..ActionSummary::default()
    };
    let mut nanos = Vec::with_capacity(results.len());
    for r in results {
        match (r.expect, r.decision) {
            (Some(expect), Some(decision)) => {
                if r.correct {
                    summary.correct += 1;
                } else if expect == Expect::Deny {
                    summary.false_allow += 1;
                } else if decision == Decision::Deny {
                    summary.false_deny += 1;
                }
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "per-case timings are small and non-negative"
                )]
                nanos.push((r.us * 1000.0).round() as u64);
            }
            _ => summary.errors += 1,
        }
    }
    let latency = Latency::from_nanos(&mut nanos);
    summary.mean_us = latency.mean_us;
    summary.p50_us = latency.p50_us;
    summary.p99_us = latency.p99_us;
    summary
}

/// A readable per-category table.
pub fn table(results: &[CaseResult]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    let mut by: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
    for r in results {
        let row = by.entry(r.category.as_str()).or_default();
        row[0] += 1;
        match (r.expect, r.decision, r.correct) {
            (_, None, _) | (None, _, _) => row[4] += 1,
            (_, _, true) => row[1] += 1,
            (Some(Expect::Deny), _, false) => row[2] += 1,
            (Some(Expect::Allow), _, false) => row[3] += 1,
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:>6} {:>8} {:>12} {:>11} {:>7}",
        "category", "cases", "correct", "false_allow", "false_deny", "errors"
    );
    for (cat, [n, ok, fa, fd, err]) in &by {
        let _ = writeln!(out, "{cat:<40} {n:>6} {ok:>8} {fa:>12} {fd:>11} {err:>7}");
    }
    for r in results.iter().filter(|r| !r.correct) {
        let codes: Vec<&str> = r.reasons.iter().map(|c| c.as_str()).collect();
        let what = match (&r.error, r.expect) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(Expect::Deny)) => "FALSE ALLOW".to_owned(),
            (None, _) => format!("FALSE DENY [{}]", codes.join(",")),
        };
        let _ = writeln!(out, "  {} {what}", r.id);
    }
    out
}
