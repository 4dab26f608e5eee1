//! Replay of the injection corpus format (`corpora/injection/*.jsonl`): `text`, `label`
//! (`injection` | `benign`), other fields ignored.
//!
//! Every row goes through the input screener as shipped. A row counts as flagged when the
//! decision is not `allow`; `tpr`/`fpr`/`precision`/`f1` describe that operating point. The
//! screener's `score` ranks rows for `auc` and `tpr_at_1pct_fpr`; `threshold` is the lowest score
//! threshold whose false-positive rate on these rows is at most 1%.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Latency, ReplayError};
use crate::classify::{InputScreener, InputSource};
use crate::verdict::Decision;

/// Largest corpus line accepted, in bytes.
pub use super::MAX_LINE_BYTES;

#[derive(Debug, Deserialize)]
struct Row {
    text: String,
    label: String,
}

/// One scored row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Which of the given files the row is from (index into the paths).
    pub file: usize,
    /// Line number in that file, from 1.
    pub line: usize,
    /// Labelled `injection`.
    pub positive: bool,
    /// The screener's score.
    pub score: f32,
    /// Decision was not `allow`.
    pub flagged: bool,
    /// Screening time, nanoseconds.
    pub ns: u64,
}

/// The last stdout line of `guardrail replay --kind input`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct InputSummary {
    /// Always `input`.
    pub kind: &'static str,
    /// Rows scored.
    pub cases: usize,
    /// Rows labelled `injection`.
    pub positives: usize,
    /// Rows labelled `benign`.
    pub negatives: usize,
    /// Area under the ROC curve of the score; null when a class is absent.
    pub auc: Option<f64>,
    /// True-positive rate at the lowest threshold with at most 1% false positives.
    pub tpr_at_1pct_fpr: Option<f64>,
    /// That threshold.
    pub threshold: Option<f64>,
    /// Flagged injections over injections.
    pub tpr: Option<f64>,
    /// Flagged benign rows over benign rows.
    pub fpr: Option<f64>,
    /// Flagged injections over flagged rows.
    pub precision: Option<f64>,
    /// Harmonic mean of precision and tpr.
    pub f1: Option<f64>,
    /// Median screening time, microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Rows that could not be read.
    pub errors: usize,
}

/// Screens every row of the given files.
pub fn replay_files(
    screener: &InputScreener,
    paths: &[impl AsRef<Path>],
) -> Result<(Vec<Scored>, usize), ReplayError> {
    let mut scored = Vec::new();
    let mut errors = 0;
    super::for_each_line(paths, |path, number, line| {
        let file = paths
            .iter()
            .position(|p| p.as_ref() == path)
            .unwrap_or_default();
        let Ok(row) = serde_json::from_slice::<Row>(line) else {
            errors += 1;
            return;
        };
        let positive = match row.label.as_str() {
            "injection" => true,
            "benign" => false,
            _ => {
                errors += 1;
                return;
            }
        };
        let start = Instant::now();
        let verdict = screener.screen_input(&row.text, InputSource::Document);
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        scored.push(Scored {
            file,
            line: number,
            positive,
            score: verdict.score,
            flagged: verdict.decision != Decision::Allow,
            ns,
        });
    })?;
    Ok((scored, errors))
}

/// ROC points `(fpr, tpr, threshold)` from the highest threshold down.
pub fn roc(scored: &[Scored]) -> Vec<(f64, f64, f64)> {
    let pos = scored.iter().filter(|s| s.positive).count();
    let neg = scored.len() - pos;
    if pos == 0 || neg == 0 {
        return Vec::new();
    }
    let mut sorted: Vec<&Scored> = scored.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut points = vec![(0.0, 0.0, f64::INFINITY)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while let Some(first) = sorted.get(i) {
        let threshold = first.score;
        while let Some(s) = sorted.get(i).filter(|s| s.score == threshold) {
            if s.positive {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
        points.push((
            fp as f64 / neg as f64,
            tp as f64 / pos as f64,
            f64::from(threshold),
        ));
    }
    points
}

/// Summarizes scored rows.
pub fn summarize(scored: &mut [Scored], errors: usize) -> InputSummary {
    let positives = scored.iter().filter(|s| s.positive).count();
    let negatives = scored.len() - positives;
    let points = roc(scored);
    let auc = (!points.is_empty()).then(|| {
        points
            .windows(2)
            .map(|w| match w {
                [a, b] => (b.0 - a.0) * (a.1 + b.1) / 2.0,
                _ => 0.0,
            })
            .sum()
    });
    let at_1pct = points.iter().rfind(|p| p.0 <= 0.01).copied();
    let tp = scored.iter().filter(|s| s.positive && s.flagged).count();
    let fp = scored.iter().filter(|s| !s.positive && s.flagged).count();
    #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let tpr = ratio(tp, positives);
    let precision = ratio(tp, tp + fp);
    let f1 = match (precision, tpr) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    let mut nanos: Vec<u64> = scored.iter().map(|s| s.ns).collect();
    let latency = Latency::from_nanos(&mut nanos);
    InputSummary {
        kind: "input",
        cases: scored.len(),
        positives,
        negatives,
        auc,
        tpr_at_1pct_fpr: at_1pct.map(|p| p.1),
        threshold: at_1pct.map(|p| p.2).filter(|t| t.is_finite()),
        tpr,
        fpr: ratio(fp, negatives),
        precision,
        f1,
        p50_us: latency.p50_us,
        p99_us: latency.p99_us,
        errors,
    }
}

/// Draws the ROC curve as a small standalone SVG.
pub fn roc_svg(points: &[(f64, f64, f64)], title: &str) -> String {
    use std::fmt::Write as _;
    let (w, h, m) = (420.0, 420.0, 40.0);
    let x = |fpr: f64| m + fpr * (w - 2.0 * m);
    let y = |tpr: f64| h - m - tpr * (h - 2.0 * m);
    let mut path = String::new();
    for (i, (fpr, tpr, _)) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(*fpr),
            y(*tpr)
        );
    }
    let title = title.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{m}\" y=\"24\">{title}</text>\n\
         <rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ccc\" stroke-dasharray=\"4\"/>\n\
         <path d=\"{path}\" fill=\"none\" stroke=\"#c33\" stroke-width=\"2\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">false positive rate</text>\n\
         <text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">true positive rate</text>\n\
         </svg>\n",
        w - 2.0 * m,
        h - 2.0 * m,
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        w / 2.0,
        h - 10.0,
        h / 2.0,
        h / 2.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(positive: bool, score: f32) -> Scored {
        Scored {
            file: 0,
            line: 1,
            positive,
            score,
            flagged: score >= 0.5,
            ns: 1000,
        }
    }

    #[test]
    fn perfect_ranking_has_auc_one() {
        let mut rows = vec![s(true, 0.9), s(true, 0.8), s(false, 0.2), s(false, 0.1)];
        let sum = summarize(&mut rows, 0);
        assert_eq!(sum.auc, Some(1.0));
        assert_eq!(sum.tpr_at_1pct_fpr, Some(1.0));
        assert_eq!(sum.threshold, Some(f64::from(0.8f32)));
        assert_eq!(sum.tpr, Some(1.0));
        assert_eq!(sum.fpr, Some(0.0));
    }

    #[test]
    fn ties_and_missing_class() {
        let mut rows = vec![s(true, 0.5), s(false, 0.5)];
        assert_eq!(summarize(&mut rows, 0).auc, Some(0.5));
        let mut only_pos = vec![s(true, 0.5)];
        let sum = summarize(&mut only_pos, 0);
        assert_eq!(sum.auc, None);
        assert_eq!(sum.tpr_at_1pct_fpr, None);
        assert_eq!(sum.fpr, None);
        assert!(roc_svg(&roc(&rows), "t<").contains("t&lt;"));
    }
}
