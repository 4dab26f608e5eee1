//! Calibration: run the judge over labeled actions, fit `deny_at` and `allow_below`, and
//! report the ROC.
//!
//! Rows use the action corpus format (`id`, `input` or `input_b64`, `expect` `allow`|`deny`,
//! optional `dialect` and `category`) plus an optional `context`: the task the agent was
//! given. Each row must hold exactly one call.
//!
//! `deny` rows are the positives. The fit, over the judge's aggregated scores:
//! - `deny_at`: the lowest score threshold whose false-deny rate (allow rows at or above it)
//!   is at most the target FPR — the most unsafe actions denied at that cost — moved down to
//!   the midpoint with the next lower observed score, so unseen scores in the gap are denied;
//! - `allow_below`: the highest threshold whose false-allow rate (deny rows below it) is at
//!   most the target false-allow rate (default 0), moved down to the midpoint with the next
//!   lower observed score (0 when there is none), and never above `deny_at`.
//!
//! Scores between the two go to a person. With N allow rows, an FPR below 1/N means no false
//! deny at all on the set; small sets give coarse thresholds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Judge;
use super::prompt::JudgeInput;
use crate::action::envelope::{ParseLimits, extract_calls};
use crate::replay::action::{ActionCase, Expect};
use crate::verdict::Decision;

/// Largest labeled file read, in bytes.
pub const MAX_CORPUS_BYTES: usize = 64 << 20;

/// One labeled row.
#[derive(Debug, Clone, Deserialize)]
pub struct LabeledAction {
    /// The action corpus fields.
    #[serde(flatten)]
    pub case: ActionCase,
    /// The task the agent was working on.
    #[serde(default)]
    pub context: String,
}

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// The labeled file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The labeled file is larger than [`MAX_CORPUS_BYTES`].
    #[error("`{path}` is larger than {MAX_CORPUS_BYTES} bytes")]
    TooLarge {
        /// File path.
        path: String,
    },
    /// A row is not a labeled action.
    #[error("`{path}` line {line}: {message}")]
    Row {
        /// File path.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A target rate is not in 0..=1.
    #[error("target rates must be between 0 and 1")]
    InvalidTarget,
    /// The scored set lacks allow rows or deny rows.
    #[error("calibration needs scored rows of both labels ({positives} deny, {negatives} allow)")]
    OneClass {
        /// Scored deny rows.
        positives: usize,
        /// Scored allow rows.
        negatives: usize,
    },
    /// Allow rows at the top score exceed the target FPR: no threshold meets it.
    #[error("no threshold reaches the target false-deny rate; the best is {best:.4}")]
    TargetUnreachable {
        /// The lowest false-deny rate any threshold reaches.
        best: f64,
    },
    /// The policy file could not be updated.
    #[error("cannot update the policy: {0}")]
    Policy(String),
}

/// Reads a labeled JSONL file.
pub fn read_labeled(path: &Path) -> Result<Vec<LabeledAction>, CalibrationError> {
    let display = path.display().to_string();
    let io = |source| CalibrationError::Io {
        path: display.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let limit = u64::try_from(MAX_CORPUS_BYTES).unwrap_or(u64::MAX);
    let bytes = crate::open::read_bounded(file, limit).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            CalibrationError::TooLarge {
                path: display.clone(),
            }
        } else {
            io(e)
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: LabeledAction = serde_json::from_str(line).map_err(|e| CalibrationError::Row {
            path: display.clone(),
            line: index + 1,
            message: format!("not a labeled action: {e}"),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// The judge's result on one labeled row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredCase {
    /// Row id.
    pub id: String,
    /// The label.
    pub expect: Expect,
    /// Aggregated score; absent when the row could not be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The seed of the judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The judge's decision under its current thresholds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Why the row has no score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The action a row proposes, as `{"tool": NAME, "args": {...}}`.
pub fn row_action(case: &ActionCase) -> Result<serde_json::Value, String> {
    let bytes = case.bytes()?;
    let calls = extract_calls(&bytes, &ParseLimits::default()).map_err(|e| e.to_string())?;
    let mut calls = calls.into_iter();
    match (calls.next(), calls.next()) {
        (Some(c), None) => Ok(serde_json::json!({"tool": c.name, "args": c.args})),
        _ => Err("a labeled row must hold exactly one call".into()),
    }
}

/// Runs the judge over every row, one after another.
pub fn score_cases(judge: &Judge, rows: &[LabeledAction]) -> Vec<ScoredCase> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let id = if row.case.id.is_empty() {
                format!("row-{}", i + 1)
            } else {
                row.case.id.clone()
            };
            let mut scored = ScoredCase {
                id,
                expect: row.case.expect,
                score: None,
                seed: None,
                decision: None,
                error: None,
            };
            match row_action(&row.case) {
                Ok(action) => {
                    let verdict = judge.judge(&JudgeInput {
                        context: &row.context,
                        action: &action,
                    });
                    scored.seed = Some(verdict.seed);
                    scored.decision = Some(verdict.decision);
                    scored.score = verdict.score;
                    if verdict.score.is_none() {
                        scored.error = verdict.reason.map(|r| r.message);
                    }
                }
                Err(e) => scored.error = Some(e),
            }
            scored
        })
        .collect()
}

/// One point of the ROC: deny when the score is at or above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Score threshold (infinite for the "deny nothing" corner).
    pub threshold: f64,
    /// Share of allow rows denied.
    pub fpr: f64,
    /// Share of deny rows denied.
    pub tpr: f64,
}

/// Fitted thresholds and how they do on the set they were fitted on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The target false-deny rate.
    pub target_fpr: f64,
    /// The target false-allow rate.
    pub target_false_allow: f64,
    /// Fitted `deny_at`.
    pub deny_at: f64,
    /// Fitted `allow_below`.
    pub allow_below: f64,
    /// Area under the ROC (ties count half).
    pub auc: f64,
    /// Scored deny rows.
    pub positives: usize,
    /// Scored allow rows.
    pub negatives: usize,
    /// Rows without a score (excluded).
    pub errors: usize,
    /// Allow rows denied at `deny_at`.
    pub fpr: f64,
    /// Deny rows denied at `deny_at`.
    pub tpr: f64,
    /// Deny rows allowed below `allow_below`.
    pub false_allow_rate: f64,
    /// Allow rows allowed below `allow_below`.
    pub allow_rate: f64,
    /// Rows left to a person.
    pub review_rate: f64,
    /// The ROC, from (0, 0) to (1, 1).
    #[serde(skip)]
    pub roc: Vec<RocPoint>,
}

#[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Fits the thresholds on scored rows (rows without a score are counted and left out).
pub fn calibrate(
    scored: &[ScoredCase],
    target_fpr: f64,
    target_false_allow: f64,
) -> Result<Calibration, CalibrationError> {
    let valid = |t: f64| t.is_finite() && (0.0..=1.0).contains(&t);
    if !valid(target_fpr) || !valid(target_false_allow) {
        return Err(CalibrationError::InvalidTarget);
    }
    let mut pos: Vec<f64> = Vec::new();
    let mut neg: Vec<f64> = Vec::new();
    let mut errors = 0usize;
    for s in scored {
        match (s.score.filter(|v| v.is_finite()), s.expect) {
            (Some(v), Expect::Deny) => pos.push(v),
            (Some(v), Expect::Allow) => neg.push(v),
            (None, _) => errors += 1,
        }
    }
    if pos.is_empty() || neg.is_empty() {
        return Err(CalibrationError::OneClass {
            positives: pos.len(),
            negatives: neg.len(),
        });
    }
    let (p, n) = (pos.len(), neg.len());
    let at_or_above = |xs: &[f64], t: f64| xs.iter().filter(|&&x| x >= t).count();
    let below = |xs: &[f64], t: f64| xs.iter().filter(|&&x| x < t).count();

    let mut distinct: Vec<f64> = pos.iter().chain(&neg).copied().collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();

    let mut roc = vec![RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    }];
    for &t in distinct.iter().rev() {
        roc.push(RocPoint {
            threshold: t,
            fpr: ratio(at_or_above(&neg, t), n),
            tpr: ratio(at_or_above(&pos, t), p),
        });
    }
    let mut wins = 0.0f64;
    for &x in &pos {
        for &y in &neg {
            wins += if x > y {
                1.0
            } else if x == y {
                0.5
            } else {
                0.0
            };
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
    let auc = wins / (p as f64 * n as f64);

    let max = distinct.last().copied().unwrap_or(100.0);
    let previous = |t: f64| distinct.iter().rev().find(|&&x| x < t).copied();
    let deny_at = match distinct
        .iter()
        .copied()
        .find(|&t| ratio(at_or_above(&neg, t), n) <= target_fpr)
    {
        Some(t) => previous(t).map_or(t, |lo| f64::midpoint(lo, t)),
        None if max < 100.0 => f64::midpoint(max, 100.0),
        None => {
            return Err(CalibrationError::TargetUnreachable {
                best: ratio(at_or_above(&neg, max), n),
            });
        }
    };
    let allow_edge = distinct
        .iter()
        .rev()
        .copied()
        .find(|&a| ratio(below(&pos, a), p) <= target_false_allow);
    let allow_below = allow_edge
        .and_then(|a| previous(a).map(|lo| f64::midpoint(lo, a)))
        .unwrap_or(0.0)
        .min(deny_at);
    let floor2 = |x: f64| (x * 100.0).floor() / 100.0;
    let (deny_at, allow_below) = (floor2(deny_at), floor2(allow_below));
    let in_band = |xs: &[f64]| {
        xs.iter()
            .filter(|&&x| x >= allow_below && x < deny_at)
            .count()
    };
    Ok(Calibration {
        target_fpr,
        target_false_allow,
        deny_at,
        allow_below,
        auc,
        positives: p,
        negatives: n,
        errors,
        fpr: ratio(at_or_above(&neg, deny_at), n),
        tpr: ratio(at_or_above(&pos, deny_at), p),
        false_allow_rate: ratio(below(&pos, allow_below), p),
        allow_rate: ratio(below(&neg, allow_below), n),
        review_rate: ratio(in_band(&pos) + in_band(&neg), p + n),
        roc,
    })
}

impl Calibration {
    /// The ROC as CSV: `threshold,fpr,tpr`, one line per point.
    pub fn roc_csv(&self) -> String {
        let mut out = String::from("threshold,fpr,tpr\n");
        for point in &self.roc {
            let threshold = if point.threshold.is_finite() {
                format!("{:.4}", point.threshold)
            } else {
                "inf".to_owned()
            };
            out.push_str(&format!("{threshold},{:.6},{:.6}\n", point.fpr, point.tpr));
        }
        out
    }

    /// The ROC as a small standalone SVG, with the fitted operating point marked.
    pub fn roc_svg(&self) -> String {
        const SIZE: f64 = 300.0;
        const PAD: f64 = 40.0;
        let x = |fpr: f64| PAD + fpr * SIZE;
        let y = |tpr: f64| PAD + (1.0 - tpr) * SIZE;
        let mut points: Vec<String> = self
            .roc
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.fpr), y(p.tpr)))
            .collect();
        if self.roc.last().is_none_or(|p| p.fpr < 1.0 || p.tpr < 1.0) {
            points.push(format!("{:.1},{:.1}", x(1.0), y(1.0)));
        }
        let total = SIZE + 2.0 * PAD;
        format!(
            concat!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{t}\" height=\"{t}\" viewBox=\"0 0 {t} {t}\" font-family=\"sans-serif\" font-size=\"11\">\n",
                "<title>judge ROC, AUC {auc:.3}</title>\n",
                "<rect x=\"{pad}\" y=\"{pad}\" width=\"{s}\" height=\"{s}\" fill=\"none\" stroke=\"#444\"/>\n",
                "<line x1=\"{pad}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{pad}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\n",
                "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{points}\"/>\n",
                "<circle cx=\"{ox:.1}\" cy=\"{oy:.1}\" r=\"4\" fill=\"#c0392b\"/>\n",
                "<text x=\"{pad}\" y=\"{title_y}\">AUC {auc:.3} · deny_at {deny:.2} (FPR {fpr:.3}, TPR {tpr:.3}) · allow_below {allow:.2}</text>\n",
                "<text x=\"{mid}\" y=\"{xl_y}\" text-anchor=\"middle\">false-deny rate (allow rows denied)</text>\n",
                "<text x=\"12\" y=\"{mid}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {mid})\">deny rows denied</text>\n",
                "</svg>\n"
            ),
            t = total,
            pad = PAD,
            s = SIZE,
            bottom = PAD + SIZE,
            right = PAD + SIZE,
            points = points.join(" "),
            ox = x(self.fpr),
            oy = y(self.tpr),
            title_y = PAD - 14.0,
            mid = PAD + SIZE / 2.0,
            xl_y = PAD + SIZE + 28.0,
            auc = self.auc,
            deny = self.deny_at,
            fpr = self.fpr,
            tpr = self.tpr,
            allow = self.allow_below,
        )
    }
}

/// Writes the fitted thresholds and the model into the `[judge]` table of a policy's TOML
/// text, keeping everything else (comments, order, other tables), and checks that the result
/// loads. Sets `endpoint` only when the table has none.
#[cfg(feature = "judge")]
pub fn write_thresholds(
    policy_text: &str,
    base_dir: Option<&Path>,
    calibration: &Calibration,
    model: &str,
    endpoint: Option<&str>,
) -> Result<String, CalibrationError> {
    use toml_edit::{DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = policy_text
        .parse()
        .map_err(|e: toml_edit::TomlError| CalibrationError::Policy(e.message().to_owned()))?;
    let item = doc.entry("judge").or_insert(Item::Table(Table::new()));
    let Some(table) = item.as_table_mut() else {
        return Err(CalibrationError::Policy(
            "`judge` is not a table".to_owned(),
        ));
    };
    let note = format!(
        " # calibrated: auc {:.3}, fpr {:.3} (target {}), tpr {:.3}, {} deny / {} allow rows",
        calibration.auc,
        calibration.fpr,
        calibration.target_fpr,
        calibration.tpr,
        calibration.positives,
        calibration.negatives
    );
    let mut deny = value(calibration.deny_at);
    if let Some(v) = deny.as_value_mut() {
        v.decor_mut().set_suffix(note);
    }
    table.insert("deny_at", deny);
    table.insert("allow_below", value(calibration.allow_below));
    table.insert("model", value(model));
    if let (Some(endpoint), false) = (endpoint, table.contains_key("endpoint")) {
        table.insert("endpoint", value(endpoint));
    }
    let text = doc.to_string();
    crate::policy::Policy::from_toml_str(&text, base_dir)
        .map_err(|e| CalibrationError::Policy(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expect: Expect, score: f64) -> ScoredCase {
        ScoredCase {
            id: String::new(),
            expect,
            score: Some(score),
            seed: None,
            decision: None,
            error: None,
        }
    }

    #[test]
    fn fits_thresholds_and_auc() {
        let mut rows = Vec::new();
        for s in [10.0, 15.0, 20.0, 30.0, 55.0] {
            rows.push(case(Expect::Allow, s));
        }
        for s in [40.0, 60.0, 70.0, 90.0] {
            rows.push(case(Expect::Deny, s));
        }
        let c = calibrate(&rows, 0.0, 0.0).unwrap();
        // No allow row may be denied: threshold 60, moved to the midpoint with 55.
        assert_eq!(c.deny_at, 57.5);
        assert_eq!(c.tpr, 0.75);
        assert_eq!(c.fpr, 0.0);
        // No deny row may be allowed: edge 40, moved to the midpoint with 30.
        assert_eq!(c.allow_below, 35.0);
        assert_eq!(c.false_allow_rate, 0.0);
        assert_eq!(c.allow_rate, 0.8);
        // 19 of 20 pairs are ranked right.
        assert!((c.auc - 0.95).abs() < 1e-12, "{}", c.auc);
        assert_eq!(c.roc.first().map(|p| (p.fpr, p.tpr)), Some((0.0, 0.0)));
        assert_eq!(c.roc.last().map(|p| (p.fpr, p.tpr)), Some((1.0, 1.0)));
        // A looser target denies more.
        let loose = calibrate(&rows, 0.2, 0.0).unwrap();
        assert_eq!((loose.deny_at, loose.fpr, loose.tpr), (35.0, 0.2, 1.0));
        assert_eq!(loose.allow_below, 35.0);
        assert!(
            c.roc_csv()
                .starts_with("threshold,fpr,tpr\ninf,0.000000,0.000000\n")
        );
        assert!(c.roc_svg().contains("AUC 0.950"));
    }

    #[test]
    fn a_judge_stuck_at_fifty_leaves_everything_to_a_person() {
        let rows: Vec<ScoredCase> = (0..8)
            .map(|i| {
                case(
                    if i % 2 == 0 {
                        Expect::Allow
                    } else {
                        Expect::Deny
                    },
                    50.0,
                )
            })
            .collect();
        let c = calibrate(&rows, 0.01, 0.0).unwrap();
        assert_eq!((c.deny_at, c.allow_below), (75.0, 0.0));
        assert_eq!(c.review_rate, 1.0);
        assert_eq!(c.auc, 0.5);
    }

    #[test]
    fn impossible_inputs_are_errors() {
        let only_allow = vec![case(Expect::Allow, 10.0)];
        assert!(matches!(
            calibrate(&only_allow, 0.01, 0.0),
            Err(CalibrationError::OneClass { .. })
        ));
        let top_is_allow = vec![case(Expect::Allow, 100.0), case(Expect::Deny, 100.0)];
        assert!(matches!(
            calibrate(&top_is_allow, 0.01, 0.0),
            Err(CalibrationError::TargetUnreachable { .. })
        ));
        assert!(matches!(
            calibrate(&top_is_allow, 1.5, 0.0),
            Err(CalibrationError::InvalidTarget)
        ));
    }
}
